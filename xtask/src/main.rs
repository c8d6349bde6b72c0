//! `cargo xtask …`: project automation in Rust, so it runs wherever cargo does.
//!
//! * `cargo xtask test` — everything CI checks: formatting, clippy, tidy rules, and every test
//!   of the workspace (starting the test servers the tests need, and stopping them after).
//! * `cargo xtask bench cp [--runs N]` — `ferry cp` against `cp -r` on a generated ~1 GiB
//!   savepoint-shaped tree; medians, ratio, peak RSS.
//! * `cargo xtask bench s3|gcs|azure|hdfs [--runs N]` — ferry against peer tools (rclone, …) on the
//!   same tree against the test server of that store, in the same run.
//! * `cargo xtask bench gc` — `ferry gc` plan time, files/s and peak RSS on a synthetic
//!   checkpoint base of 10⁶ shared files and 20 retained checkpoints (local; S3 with the
//!   servers' environment).
//! * `cargo xtask bench metadata` — decode + rewrite-all-paths + encode of a large synthetic
//!   `_metadata`; MB/s and peak memory.
//! * `cargo xtask dist [--check]` — the release artifact in `target/dist/` (a stripped LTO
//!   binary for glibc ≥ 2.17, completions, man pages), measured (see `dist.rs`).
//! * `cargo xtask fixtures` — regenerate the real-Flink `_metadata` fixtures (see
//!   `fixtures.rs`); `cargo xtask oracle` — check the codec against Flink's own loader.
//! * `cargo xtask fuzz decode|rewrite|journal [--runs N]` — one libFuzzer target on stable
//!   (see `fuzz.rs`, `docs/fuzzing.md`); not part of `test`.
//! * `cargo xtask servers` — start every test server, print the environment the tests read,
//!   and keep them up until Enter is pressed.

mod bench;
mod bench_azure;
mod bench_gc;
mod bench_gcs;
mod bench_hdfs;
mod bench_migrate;
mod bench_s3;
mod dist;
mod fixtures;
mod flink;
mod fuzz;
mod oracle;
mod servers;
mod tidy;
mod treegen;
mod util;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&rest),
        Some("bench") if rest.first() == Some(&"metadata") => bench_metadata(&rest[1..]),
        Some("bench") => bench::run(&rest),
        Some("dist") => dist::run(&rest),
        Some("fixtures") => fixtures::run(&rest),
        Some("fuzz") => fuzz::run(&rest),
        Some("oracle") => oracle::run(&rest),
        Some("tidy") => tidy::run(),
        Some("servers") => serve(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test [--no-lint] | bench cp|s3|gcs|azure|hdfs|migrate [--runs N] | \
                 bench metadata | dist [--check] | \
                 fixtures [--versions V,..] [--variants A,..] | oracle [--versions V,..] | \
                 servers | tidy | fuzz decode|rewrite|journal [--runs N]>"
            );
            bail!("unknown or missing task")
        }
    }
}

/// `cargo xtask test [--no-lint]`.
fn test(args: &[&str]) -> Result<()> {
    let lint = !args.contains(&"--no-lint");
    if lint {
        util::step("format", util::cargo(&["fmt", "--all", "--", "--check"]))?;
        util::step(
            "clippy",
            util::cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
        util::step("tidy", tidy::run())?;
    }
    // The release artifact's profile and tool chain (the artifact itself: `cargo xtask dist`).
    util::step("dist", dist::run(&["--check"]))?;
    let servers = servers::start_all()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command
        .args(["test", "--workspace", "--no-fail-fast"])
        .current_dir(util::root())
        .env("FERRY_REQUIRE_SERVERS", "1")
        .env("FERRY_REQUIRE_FIXTURES", "1");
    for server in &servers {
        command.envs(server.env.iter().map(|(k, v)| (k, v)));
    }
    let result = util::step("tests", util::run(&mut command));
    // Flink's own loader against ferry's codec, on this version's real fixtures (~10 s).
    let oracle = util::step("oracle", oracle::run(&["--versions", flink::CI_VERSION]));
    drop(servers);
    result.and(oracle)
}

/// `cargo xtask bench metadata`: the codec benchmark (an optimised build of
/// `crates/ferry-metadata/benches/codec.rs`).
fn bench_metadata(args: &[&str]) -> Result<()> {
    let mut cargo_args = vec!["bench", "-p", "ferry-metadata", "--bench", "codec", "--"];
    cargo_args.extend_from_slice(args);
    util::cargo(&cargo_args)
}

/// `cargo xtask servers`: start them, print their environment, wait for Enter.
fn serve() -> Result<()> {
    let servers = servers::start_all()?;
    for server in &servers {
        for (k, v) in &server.env {
            // Quoted: Azurite's connection string holds `;`.
            println!("export {k}='{v}'");
        }
    }
    println!("export FERRY_REQUIRE_SERVERS=1");
    eprintln!("xtask: servers are up; press Enter to stop them");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(servers);
    Ok(())
}
