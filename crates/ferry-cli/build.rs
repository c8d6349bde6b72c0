//! Build information for `ferry --version` and `ferry version --json`: the git commit, the
//! build date, the target triple and the optional features compiled in, as compile-time
//! environment variables (`FERRY_GIT_COMMIT`, `FERRY_BUILD_DATE`, `FERRY_TARGET`,
//! `FERRY_FEATURES`, `FERRY_FEATURES_OR_NONE`).
//!
//! The date honours `SOURCE_DATE_EPOCH` (reproducible builds); a source tree outside git (a
//! crate tarball) reports the commit as `unknown`.

use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FERRY_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves (a new commit, another branch), not on every build.
    for name in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(chrono::Utc::now);
    println!(
        "cargo:rustc-env=FERRY_BUILD_DATE={}",
        date.format("%Y-%m-%d")
    );

    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=FERRY_TARGET={target}");

    // Cargo sets CARGO_FEATURE_<NAME> for each enabled feature of this package.
    let features: Vec<&str> = ["kerberos"]
        .into_iter()
        .filter(|f| std::env::var_os(format!("CARGO_FEATURE_{}", f.to_uppercase())).is_some())
        .collect();
    println!("cargo:rustc-env=FERRY_FEATURES={}", features.join(","));
    let shown = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    println!("cargo:rustc-env=FERRY_FEATURES_OR_NONE={shown}");
}

/// `git ARGS` in the package directory, its trimmed output if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}
