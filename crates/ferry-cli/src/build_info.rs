//! What this binary is: its version, git commit, build date, target and optional features
//! (set by `build.rs`), for `ferry --version` and `ferry version --json`.

use serde::Serialize;

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from (12 hex digits), or `unknown`.
pub const GIT_COMMIT: &str = env!("FERRY_GIT_COMMIT");
/// The build date, `YYYY-MM-DD` (UTC; `SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("FERRY_BUILD_DATE");
/// The target triple the binary was compiled for.
pub const TARGET: &str = env!("FERRY_TARGET");
/// The optional cargo features compiled in, comma-separated (empty: none).
const FEATURES: &str = env!("FERRY_FEATURES");

/// The text after `ferry ` in `ferry --version`, e.g.
/// `0.1.0 (commit 0123456789ab, built 2026-12-06, x86_64-unknown-linux-gnu, features: none)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FERRY_GIT_COMMIT"),
    ", built ",
    env!("FERRY_BUILD_DATE"),
    ", ",
    env!("FERRY_TARGET"),
    ", features: ",
    env!("FERRY_FEATURES_OR_NONE"),
    ")"
);

/// The optional features compiled in.
pub fn features() -> Vec<&'static str> {
    FEATURES.split(',').filter(|f| !f.is_empty()).collect()
}

/// `ferry version --json` (schema: docs/json.md).
#[derive(Debug, Serialize)]
pub struct BuildInfo {
    /// The package version.
    pub version: &'static str,
    /// The git commit, or `unknown`.
    pub git_commit: &'static str,
    /// `YYYY-MM-DD`.
    pub build_date: &'static str,
    /// The target triple.
    pub target: &'static str,
    /// Optional features compiled in (e.g. `kerberos`).
    pub features: Vec<&'static str>,
}

/// This binary's build information.
pub fn get() -> BuildInfo {
    BuildInfo {
        version: VERSION,
        git_commit: GIT_COMMIT,
        build_date: BUILD_DATE,
        target: TARGET,
        features: features(),
    }
}
