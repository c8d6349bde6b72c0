//! `cargo xtask fuzz decode|rewrite|journal [--runs N] [--time SECS] [-- LIBFUZZER_ARGS…]`:
//! builds one coverage-guided fuzz target with libFuzzer on the stable toolchain (no nightly,
//! no cargo-fuzz) and runs it for N executions (default 1 000 000) on a corpus seeded from the
//! real fixtures. Not part of `cargo xtask test`; `docs/fuzzing.md` says how to read the output
//! and keep a crash as a regression test.
//!
//! Everything goes under `target/fuzz/`: the instrumented build (it is the cargo target dir of
//! both fuzz crates), `corpus/<target>/` (seeds plus what the fuzzer found; kept between runs)
//! and `artifacts/<target>/` (crashing inputs).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util;

/// What cargo-fuzz passes to rustc for libFuzzer, minus its nightly-only sanitizer flag (the
/// fuzzed crates forbid `unsafe`); `-Cpasses=sancov-module` and `-Cllvm-args` are stable.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// Seed inputs: (file name in the corpus, bytes).
type Seeds = Vec<(String, Vec<u8>)>;

/// A fuzz target: its name, the fuzz crate holding it, and where its seeds come from.
struct Target {
    name: &'static str,
    crate_dir: &'static str,
    seeds: fn(&Path) -> Result<Seeds>,
}

const TARGETS: &[Target] = &[
    Target {
        name: "decode",
        crate_dir: "crates/ferry-metadata/fuzz",
        seeds: metadata_seeds,
    },
    Target {
        name: "rewrite",
        crate_dir: "crates/ferry-metadata/fuzz",
        seeds: metadata_seeds,
    },
    Target {
        name: "journal",
        crate_dir: "crates/ferry-core/fuzz",
        seeds: journal_seeds,
    },
];

/// Runs `cargo xtask fuzz …`.
pub fn run(args: &[&str]) -> Result<()> {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    let usage = format!(
        "usage: cargo xtask fuzz {} [--runs N] [--time SECS] [-- LIBFUZZER_ARGS...]",
        names.join("|")
    );
    let Some((&name, rest)) = args.split_first() else {
        bail!("{usage}");
    };
    let Some(target) = TARGETS.iter().find(|t| t.name == name) else {
        bail!("unknown fuzz target {name:?}; {usage}");
    };
    let (ours, extra) = match rest.iter().position(|a| *a == "--") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut runs: u64 = 1_000_000;
    let mut time: Option<u64> = None;
    let mut it = ours.iter();
    while let Some(arg) = it.next() {
        let value = |v: Option<&&str>| -> Result<u64> {
            v.with_context(|| format!("{arg} needs a number; {usage}"))?
                .parse()
                .with_context(|| format!("{arg}: not a number"))
        };
        match *arg {
            "--runs" => runs = value(it.next())?,
            "--time" => time = Some(value(it.next())?),
            other => bail!("unknown argument {other:?}; {usage}"),
        }
    }

    let root = util::root();
    let work = root.join("target/fuzz");
    let corpus = work.join("corpus").join(target.name);
    let artifacts = work.join("artifacts").join(target.name);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let seeds = (target.seeds)(&root)?;
    for (name, bytes) in &seeds {
        std::fs::write(corpus.join(name), bytes)?;
    }
    eprintln!(
        "xtask: fuzz {}: {} seeds, corpus {}",
        target.name,
        seeds.len(),
        corpus.display()
    );

    let binary = build(&root, target, &work)?;
    let mut command = Command::new(binary);
    command
        .arg(format!("-runs={runs}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .arg("-rss_limit_mb=2048")
        .args(time.map(|t| format!("-max_total_time={t}")))
        .args(extra)
        .arg(&corpus);
    util::step(&format!("fuzz {}", target.name), util::run(&mut command))
}

/// Builds the target with libFuzzer instrumentation; returns the binary. `--target HOST` keeps
/// the flags off build scripts and proc macros.
fn build(root: &Path, target: &Target, target_dir: &Path) -> Result<PathBuf> {
    let host = host_triple()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--bin",
            target.name,
            "--target",
            &host,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(root.join(target.crate_dir))
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env_remove("CARGO_TARGET_DIR");
    util::run(&mut command)?;
    Ok(target_dir.join(host).join("release").join(target.name))
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host")
}

/// Every real-Flink `_metadata` fixture and every saved regression input of the codec.
fn metadata_seeds(root: &Path) -> Result<Seeds> {
    let tests = root.join("crates/ferry-metadata/tests");
    let mut files = Vec::new();
    walk(
        &tests.join("fixtures"),
        &mut |p| p.ends_with("_metadata"),
        &mut files,
    )?;
    walk(&tests.join("regressions"), &mut |_| true, &mut files)?;
    walk(
        &tests.join("fuzz-regressions"),
        &mut |p| !p.ends_with(".gitkeep"),
        &mut files,
    )?;
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path)?;
            let rel = path.strip_prefix(&tests).unwrap_or(path);
            Ok((format!("seed-{}", rel.display()).replace('/', "-"), bytes))
        })
        .collect()
}

/// A small journal written the way the engine writes one, the same cut mid-line, and the
/// saved regression inputs.
fn journal_seeds(root: &Path) -> Result<Seeds> {
    let lines = [
        r#"{"t":"job","source":"hdfs://nn:8020/flink/chk-7","destination":"s3://bucket/chk-7"}"#,
        r#"{"t":"done","rel":"shared/ä-1","size":3,"mtime_ns":9,"crc32c":1}"#,
        r#"{"t":"upload","rel":"big","size":100,"mtime_ns":null,"part_size":10,"token":"u1"}"#,
        r#"{"t":"part","rel":"big","token":"u1","receipt":{"index":2,"offset":20,"size":10,"tag":"\"e1\""},"crc32c":5}"#,
        r#"{"t":"done","rel":"big","size":100,"mtime_ns":null,"crc32c":7}"#,
    ];
    let whole = lines.join("\n") + "\n";
    let torn = whole[..whole.len() - 20].to_string();
    let mut seeds = vec![
        ("seed-journal".to_string(), whole.into_bytes()),
        ("seed-journal-torn".to_string(), torn.into_bytes()),
    ];
    let dir = root.join("crates/ferry-core/tests/fuzz-regressions/journal");
    let mut files = Vec::new();
    walk(&dir, &mut |_| true, &mut files)?;
    for path in files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        seeds.push((format!("seed-{name}"), std::fs::read(&path)?));
    }
    Ok(seeds)
}

/// Every file under `dir` (recursively, if it exists) accepted by `keep`.
fn walk(dir: &Path, keep: &mut dyn FnMut(&Path) -> bool, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, keep, out)?;
        } else if keep(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}
