//! Small helpers: running commands, locating the workspace and the cache directory.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// `~/.cache/ferry` (or `$FERRY_CACHE_DIR`): downloads and generated data reused across runs.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FERRY_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ferry")))
        .unwrap_or_else(|| root().join("target/ferry-cache"))
}

/// Runs `cargo ARGS` in the workspace root.
pub fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).args(args).current_dir(root()))
}

/// Runs a command, failing on a non-zero exit.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Prints a step's name and duration around its result.
pub fn step(name: &str, result: Result<()>) -> Result<()> {
    let _ = Instant::now();
    match &result {
        Ok(()) => eprintln!("xtask: {name}: ok"),
        Err(err) => eprintln!("xtask: {name}: FAILED: {err:#}"),
    }
    result.with_context(|| format!("step {name}"))
}
