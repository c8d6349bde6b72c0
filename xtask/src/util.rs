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
        .with_context(|| format!("cannot run {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed with {status}", describe(command));
    }
    Ok(())
}

/// A command as a shell line for messages, with the values of secret-looking variables
/// (`*SECRET*`, `*PASSWORD*`, `*TOKEN*`) hidden: even a test server's keys stay out of logs.
pub fn describe(command: &Command) -> String {
    let mut line = String::new();
    if let Some(dir) = command.get_current_dir() {
        line.push_str(&format!("cd {dir:?} && "));
    }
    for (key, value) in command.get_envs() {
        let key = key.to_string_lossy();
        let Some(value) = value else { continue };
        let secret = ["SECRET", "PASSWORD", "TOKEN"]
            .iter()
            .any(|word| key.to_ascii_uppercase().contains(word));
        let shown = if secret {
            "***".into()
        } else {
            value.to_string_lossy()
        };
        line.push_str(&format!("{key}={shown:?} "));
    }
    line.push_str(&format!("{:?}", command.get_program()));
    for arg in command.get_args() {
        line.push_str(&format!(" {arg:?}"));
    }
    line
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_described_without_their_secrets() {
        let mut command = Command::new("cargo");
        command
            .arg("test")
            .env("FERRY_TEST_S3_SECRET_KEY", "s3cr3t-value")
            .env("FERRY_TEST_S3_ACCESS_KEY", "AKIDVISIBLE");
        let line = describe(&command);
        assert!(!line.contains("s3cr3t-value"), "{line}");
        assert!(line.contains("FERRY_TEST_S3_SECRET_KEY=\"***\""), "{line}");
        assert!(
            line.contains("AKIDVISIBLE") && line.ends_with("\"cargo\" \"test\""),
            "{line}"
        );
    }
}
