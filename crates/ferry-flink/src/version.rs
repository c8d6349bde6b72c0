//! The Flink release a cluster runs (`GET /config`'s `flink-version`) and what each release's
//! REST API and restore settings offer. Gates (see docs/flink-operations.md):
//!
//! | feature | first release |
//! |---|---|
//! | client-supplied `triggerId` (idempotent triggers), `formatType` (canonical/native) | 1.15 |
//! | claim mode on restore (`--restoreMode`, `execution.savepoint-restore-mode`) | 1.15 |
//! | REST checkpoint trigger (`POST /jobs/:id/checkpoints`) | 1.17 |
//! | `execution.state-recovery.path` / `.claim-mode` instead of `execution.savepoint.path` | 2.0 |

use std::fmt;

/// A Flink release, `major.minor.patch` (a suffix such as `-SNAPSHOT` is kept in `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlinkVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch (0 when absent).
    pub patch: u32,
    /// As Flink reported it.
    pub text: String,
}

impl FlinkVersion {
    /// Parses `2.3.0`, `1.20.3`, `1.18-SNAPSHOT`; `None` if it does not start with
    /// `major.minor`.
    pub fn parse(text: &str) -> Option<FlinkVersion> {
        let core = text.trim().split(['-', ' ']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(FlinkVersion {
            major,
            minor,
            patch,
            text: text.trim().to_string(),
        })
    }

    /// At least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Accepts a client-supplied `triggerId` and a `formatType` (1.15+).
    pub fn has_trigger_ids(&self) -> bool {
        self.at_least(1, 15)
    }

    /// Has a claim mode for restores (1.15+; before, every restore was LEGACY).
    pub fn has_claim_mode(&self) -> bool {
        self.at_least(1, 15)
    }

    /// Can trigger a checkpoint over REST (1.17+).
    pub fn has_rest_checkpoint_trigger(&self) -> bool {
        self.at_least(1, 17)
    }

    /// The configuration key that names the snapshot to restore from.
    pub fn restore_path_key(&self) -> &'static str {
        if self.major >= 2 {
            "execution.state-recovery.path"
        } else {
            "execution.savepoint.path"
        }
    }

    /// The configuration key of the claim mode (None before 1.15).
    pub fn claim_mode_key(&self) -> Option<&'static str> {
        if self.major >= 2 {
            Some("execution.state-recovery.claim-mode")
        } else if self.has_claim_mode() {
            Some("execution.savepoint-restore-mode")
        } else {
            None
        }
    }

    /// The `flink run` option of the claim mode (None before 1.15): `--claimMode` from 1.20
    /// (where `--restoreMode` became deprecated), `--restoreMode` in 1.15 to 1.19.
    pub fn claim_mode_flag(&self) -> Option<&'static str> {
        if self.at_least(1, 20) {
            Some("--claimMode")
        } else if self.has_claim_mode() {
            Some("--restoreMode")
        } else {
            None
        }
    }
}

impl fmt::Display for FlinkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_releases_and_snapshots() {
        let v = FlinkVersion::parse("1.20.3").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 20, 3));
        let v = FlinkVersion::parse("1.18-SNAPSHOT").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 18, 0));
        assert_eq!(v.to_string(), "1.18-SNAPSHOT");
        assert!(FlinkVersion::parse("x.y").is_none());
        assert!(FlinkVersion::parse("2").is_none());
    }

    #[test]
    fn gates_follow_the_releases() {
        let v = |t| FlinkVersion::parse(t).unwrap();
        assert!(!v("1.14.6").has_trigger_ids());
        assert!(v("1.15.0").has_trigger_ids());
        assert!(!v("1.16.3").has_rest_checkpoint_trigger());
        assert!(v("1.17.0").has_rest_checkpoint_trigger());
        assert_eq!(v("1.20.3").restore_path_key(), "execution.savepoint.path");
        assert_eq!(
            v("2.3.0").restore_path_key(),
            "execution.state-recovery.path"
        );
        assert_eq!(v("1.14.0").claim_mode_key(), None);
        assert_eq!(
            v("1.19.1").claim_mode_key(),
            Some("execution.savepoint-restore-mode")
        );
        assert_eq!(v("1.19.1").claim_mode_flag(), Some("--restoreMode"));
        assert_eq!(v("2.0.0").claim_mode_flag(), Some("--claimMode"));
    }
}
