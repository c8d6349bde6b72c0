//! `cargo xtask …`: project automation in Rust, so it runs wherever cargo does.
//!
//! * `cargo xtask test` — everything CI checks: formatting, clippy, tidy rules, and every test
//!   of the workspace (starting the test servers the tests need, and stopping them after).
//! * `cargo xtask bench cp [--runs N]` — `ferry cp` against `cp -r` on a generated ~1 GiB
//!   savepoint-shaped tree; medians, ratio, peak RSS.
//! * `cargo xtask servers` — start every test server, print the environment the tests read,
//!   and keep them up until Enter is pressed.

mod bench;
mod bench_s3;
mod fixtures;
mod flink;
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
        Some("bench") => bench::run(&rest),
        Some("fixtures") => fixtures::run(&rest),
        Some("tidy") => tidy::run(),
        Some("servers") => serve(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test [--no-lint] | bench cp [--runs N] | servers | tidy>"
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
    let servers = servers::start_all()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command
        .args(["test", "--workspace", "--no-fail-fast"])
        .current_dir(util::root())
        .env("FERRY_REQUIRE_SERVERS", "1");
    for server in &servers {
        command.envs(server.env.iter().map(|(k, v)| (k, v)));
    }
    let result = util::step("tests", util::run(&mut command));
    drop(servers);
    result
}

/// `cargo xtask servers`: start them, print their environment, wait for Enter.
fn serve() -> Result<()> {
    let servers = servers::start_all()?;
    for server in &servers {
        for (k, v) in &server.env {
            println!("export {k}={v}");
        }
    }
    println!("export FERRY_REQUIRE_SERVERS=1");
    eprintln!("xtask: servers are up; press Enter to stop them");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(servers);
    Ok(())
}
