//! `cargo xtask dist [--check]`: the release artifact, a binary that runs on any x86_64 Linux
//! host with glibc 2.17 or later (RHEL/CentOS 7 and up).
//!
//! The binary is built with the `dist` profile (Cargo.toml: stripped, fat LTO, one codegen
//! unit) by `cargo-zigbuild`, which links with Zig's toolchain against glibc 2.17's symbol
//! versions. Both tools come from PyPI (`ziglang`, `cargo-zigbuild`, pinned below) into a venv
//! under the cache directory, so nothing beyond python3 and the stable Rust toolchain is needed.
//! Into `target/dist/`: `ferry`, `completions/` (bash, zsh, fish, PowerShell) and `man/`
//! (written by the binary itself). The artifact is then measured and checked: its size
//! (≤ [`MAX_SIZE`]), its dynamic dependencies (only glibc's own libraries) and the newest
//! glibc symbol version it needs (≤ 2.17).
//!
//! `--check` (run by `cargo xtask test`, which cannot afford the ~12 CPU-minute build): the
//! `dist` profile is defined (cargo resolves it), the pinned tools install and run, and a
//! small program built with them for the same target needs nothing newer than glibc 2.17.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use crate::{servers, util};

/// The pinned tool chain: Zig (as a C compiler and linker) and the cargo wrapper that uses it.
const TOOLS: &[&str] = &["ziglang==0.17.1", "cargo-zigbuild==0.24.1"];
/// The target: x86_64 Linux, linked against glibc 2.17's symbol versions.
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The oldest glibc the binary must start on.
const GLIBC: (u32, u32) = (2, 17);
/// The size goal of issue 21.
const MAX_SIZE: u64 = 30 << 20;
/// The only libraries the binary may load: glibc's own.
const ALLOWED_NEEDED: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libgcc_s.so.1",
    "ld-linux-x86-64.so.2",
];

/// `cargo xtask dist [--check]`.
pub fn run(args: &[&str]) -> Result<()> {
    match args {
        [] => build(),
        ["--check"] => check(),
        _ => bail!("usage: cargo xtask dist [--check]"),
    }
}

/// cargo's target directory (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                util::root().join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| util::root().join("target"))
}

/// The target triple with the glibc version cargo-zigbuild links against.
fn zig_target() -> String {
    format!("{TARGET}.{}.{}", GLIBC.0, GLIBC.1)
}

/// The venv holding Zig and cargo-zigbuild; its `bin/` must be on PATH for cargo-zigbuild
/// to find `python -m ziglang`.
fn tools() -> Result<PathBuf> {
    let venv = servers::venv(&util::cache_dir(), "dist-tools", TOOLS)?;
    let bin = venv.join("bin");
    ensure!(
        bin.join("cargo-zigbuild").exists(),
        "cargo-zigbuild is missing from {}",
        bin.display()
    );
    Ok(bin)
}

/// `cargo-zigbuild ARGS` with the venv first on PATH.
fn zigbuild(bin: &Path, dir: &Path, args: &[&str]) -> Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let mut command = Command::new(bin.join("cargo-zigbuild"));
    command.args(args).current_dir(dir).env(
        "PATH",
        std::env::join_paths(paths).expect("PATH entries join"),
    );
    command
}

/// The full build into `target/dist/`, then the checks.
fn build() -> Result<()> {
    let bin = tools()?;
    let root = util::root();
    let started = Instant::now();
    let target = zig_target();
    util::run(&mut zigbuild(
        &bin,
        &root,
        &[
            "build",
            "--locked",
            "--profile",
            "dist",
            "--package",
            "ferry-cli",
            "--bin",
            "ferry",
            "--target",
            &target,
        ],
    ))?;
    let build_time = started.elapsed();
    let built = target_dir().join(TARGET).join("dist").join("ferry");
    let out = target_dir().join("dist");
    for old in ["completions", "man"] {
        if out.join(old).exists() {
            std::fs::remove_dir_all(out.join(old))
                .with_context(|| format!("cannot clear {}", out.join(old).display()))?;
        }
    }
    std::fs::create_dir_all(out.join("completions"))?;
    let ferry = out.join("ferry");
    std::fs::copy(&built, &ferry)
        .with_context(|| format!("cannot copy {} to {}", built.display(), ferry.display()))?;
    for (shell, file) in [
        ("bash", "ferry.bash"),
        ("zsh", "_ferry"),
        ("fish", "ferry.fish"),
        ("powershell", "_ferry.ps1"),
    ] {
        let output = Command::new(&ferry)
            .args(["completions", shell])
            .output()
            .context("cannot run the built ferry")?;
        ensure!(
            output.status.success() && !output.stdout.is_empty(),
            "ferry completions {shell} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(out.join("completions").join(file), &output.stdout)?;
    }
    util::run(Command::new(&ferry).arg("manpages").arg(out.join("man")))?;
    let report = inspect(&ferry)?;
    eprintln!(
        "xtask: dist: {} — {:.1} MiB, needs {} and glibc ≤ {}.{}; built in {:.0} s",
        ferry.display(),
        report.size as f64 / (1 << 20) as f64,
        report.needed.join(" "),
        report.max_glibc.0,
        report.max_glibc.1,
        build_time.as_secs_f64()
    );
    let version = Command::new(&ferry).arg("--version").output()?;
    eprint!("xtask: dist: {}", String::from_utf8_lossy(&version.stdout));
    Ok(())
}

/// What the checks found in a binary.
struct Linkage {
    size: u64,
    needed: Vec<String>,
    max_glibc: (u32, u32),
}

/// Measures a binary and fails unless it is within [`MAX_SIZE`], loads only glibc's
/// libraries and needs no glibc symbol newer than [`GLIBC`].
fn inspect(binary: &Path) -> Result<Linkage> {
    let size = std::fs::metadata(binary)?.len();
    let dynamic = readelf(binary, "--dynamic")?;
    let needed = needed_libraries(&dynamic);
    let versions = readelf(binary, "--version-info")?;
    let max_glibc = max_glibc(&versions);
    ensure!(
        size <= MAX_SIZE,
        "{} is {size} bytes, over the {MAX_SIZE}-byte goal",
        binary.display()
    );
    if let Some(lib) = needed
        .iter()
        .find(|lib| !ALLOWED_NEEDED.contains(&lib.as_str()))
    {
        bail!(
            "{} needs {lib}, which is not part of glibc",
            binary.display()
        );
    }
    ensure!(
        max_glibc <= GLIBC,
        "{} needs glibc {}.{}, newer than {}.{}",
        binary.display(),
        max_glibc.0,
        max_glibc.1,
        GLIBC.0,
        GLIBC.1
    );
    Ok(Linkage {
        size,
        needed,
        max_glibc,
    })
}

fn readelf(binary: &Path, flag: &str) -> Result<String> {
    let output = Command::new("readelf")
        .arg(flag)
        .arg(binary)
        .output()
        .context("cannot run readelf (binutils)")?;
    ensure!(
        output.status.success(),
        "readelf {flag} {} failed",
        binary.display()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The `NEEDED` entries of `readelf --dynamic` output.
fn needed_libraries(dynamic: &str) -> Vec<String> {
    dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| {
            let start = line.find('[')? + 1;
            let end = line[start..].find(']')? + start;
            Some(line[start..end].to_string())
        })
        .collect()
}

/// The newest `GLIBC_x.y[.z]` version named in `readelf --version-info` output ((0, 0): none).
fn max_glibc(versions: &str) -> (u32, u32) {
    versions
        .split(|c: char| c.is_whitespace())
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .max()
        .unwrap_or((0, 0))
}

/// The cheap check for CI: the profile resolves, the tools install and link a small program
/// for glibc 2.17.
fn check() -> Result<()> {
    // Cargo rejects an unknown or malformed profile before doing anything else.
    util::cargo(&["clean", "--profile", "dist", "--dry-run", "--quiet"])
        .context("the dist profile does not resolve")?;
    let bin = tools()?;
    let scratch = target_dir().join("dist-check");
    std::fs::create_dir_all(scratch.join("src"))?;
    std::fs::write(
        scratch.join("Cargo.toml"),
        "[package]\nname = \"dist-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [workspace]\n\n[profile.dist]\ninherits = \"release\"\nstrip = true\nlto = \"fat\"\n\
         codegen-units = 1\n",
    )?;
    std::fs::write(
        scratch.join("src/main.rs"),
        "fn main() {\n    let threads: Vec<_> = (0..2).map(|i| std::thread::spawn(move || i)).collect();\n    \
         let sum: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();\n    \
         println!(\"dist-check {sum}\");\n}\n",
    )?;
    let target = zig_target();
    util::run(&mut zigbuild(
        &bin,
        &scratch,
        &["build", "--quiet", "--profile", "dist", "--target", &target],
    ))?;
    let binary = scratch.join("target").join(TARGET).join("dist/dist-check");
    let report = inspect(&binary)?;
    let output = Command::new(&binary).output()?;
    ensure!(
        String::from_utf8_lossy(&output.stdout).trim() == "dist-check 1",
        "the program built for {target} did not run"
    );
    eprintln!(
        "xtask: dist --check: profile resolves; zig + cargo-zigbuild link for {target} \
         (needs {}, glibc ≤ {}.{})",
        report.needed.join(" "),
        report.max_glibc.0,
        report.max_glibc.1
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_libraries_are_read_from_readelf() {
        let text = " 0x0000000000000001 (NEEDED)             Shared library: [libm.so.6]\n \
                    0x000000000000000c (INIT)               0x1000\n \
                    0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n";
        assert_eq!(needed_libraries(text), ["libm.so.6", "libc.so.6"]);
    }

    #[test]
    fn the_newest_glibc_version_wins() {
        let text = "  0x0010:   Name: GLIBC_2.2.5  Flags: none  Version: 3\n\
                    0x0020:   Name: GLIBC_2.17  Flags: none\n  Name: GLIBC_2.3.4\n\
                    Name: GLIBC_PRIVATE\n";
        assert_eq!(max_glibc(text), (2, 17));
        assert_eq!(max_glibc("nothing"), (0, 0));
    }

    /// The profile's settings are the ones docs/dist.md measured.
    #[test]
    fn the_dist_profile_strips_and_optimises_the_whole_program() {
        let manifest = std::fs::read_to_string(util::root().join("Cargo.toml")).unwrap();
        let section: String = manifest
            .split("[profile.dist]")
            .nth(1)
            .expect("Cargo.toml has [profile.dist]")
            .lines()
            .take_while(|l| !l.starts_with('['))
            .collect::<Vec<_>>()
            .join("\n");
        for setting in [
            "inherits = \"release\"",
            "strip = true",
            "lto = \"fat\"",
            "codegen-units = 1",
            "debug = false",
        ] {
            assert!(section.contains(setting), "missing {setting}: {section}");
        }
    }
}
