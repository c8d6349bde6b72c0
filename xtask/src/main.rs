//! `cargo xtask …`: project automation in Rust, so it runs wherever cargo does.
//!
//! * `cargo xtask test` — everything CI checks: formatting, clippy, tidy rules, and every test
//!   of the workspace (starting the test servers the tests need, and stopping them after).
//! * `cargo xtask bench cp [--runs N]` — `ferry cp` against `cp -r` on a generated ~1 GiB
//!   savepoint-shaped tree; medians, ratio, peak RSS.

mod bench;
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
        Some("tidy") => tidy::run(),
        _ => {
            eprintln!("usage: cargo xtask <test [--no-lint] | bench cp [--runs N] | tidy>");
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
    util::step(
        "tests",
        util::cargo(&["test", "--workspace", "--no-fail-fast"]),
    )
}
