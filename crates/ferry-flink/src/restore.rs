//! How to restore a job from a snapshot, right for the Flink release and the kind of
//! snapshot: the `flink run -s` line (with the claim mode where it matters) and the
//! configuration keys (`execution.savepoint.path` in 1.x, `execution.state-recovery.path` in
//! 2.x) for deployments configured by file or by the Kubernetes operator.
//!
//! A savepoint is restored the same way in every claim mode (Flink never deletes it). A
//! retained checkpoint is different: with CLAIM, Flink owns it and deletes its files once later
//! checkpoints subsume it — the migrated copy is consumed; with NO_CLAIM (the default since
//! 1.15) Flink leaves it alone and its first checkpoint is a full one. ferry proposes NO_CLAIM
//! for checkpoints, so the copy stays a valid fallback.

use serde::Serialize;

use crate::version::FlinkVersion;

/// The kind of snapshot restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// A savepoint (canonical or native).
    Savepoint,
    /// A retained checkpoint (`chk-N`).
    Checkpoint,
}

impl SnapshotKind {
    /// Guesses from the directory name: `chk-N` is a checkpoint, anything else a savepoint.
    pub fn of_path(path: &str) -> SnapshotKind {
        let name = path
            .trim_end_matches('/')
            .trim_end_matches("/_metadata")
            .rsplit('/')
            .next()
            .unwrap_or("");
        if name
            .strip_prefix("chk-")
            .is_some_and(|n| n.parse::<u64>().is_ok())
        {
            SnapshotKind::Checkpoint
        } else {
            SnapshotKind::Savepoint
        }
    }
}

/// Restore instructions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreGuide {
    /// The `flink run` command line.
    pub command: String,
    /// Configuration entries (key, value) for the same restore from a config file or the
    /// operator's `flinkConfiguration`.
    pub config: Vec<(String, String)>,
    /// What to know (claim mode, version differences), one sentence each.
    pub notes: Vec<String>,
}

/// The instructions to restore from `path` (a Flink URI), for `version` when known (else
/// both the 1.x and the 2.x keys are given).
pub fn guide(path: &str, kind: SnapshotKind, version: Option<&FlinkVersion>) -> RestoreGuide {
    let mut notes = Vec::new();
    let mut config = Vec::new();
    let claim = match kind {
        SnapshotKind::Checkpoint => Some("NO_CLAIM"),
        SnapshotKind::Savepoint => None,
    };
    let mut command = format!("flink run -s {path}");
    match version {
        Some(v) => {
            config.push((v.restore_path_key().to_string(), path.to_string()));
            if let (Some(mode), Some(flag), Some(key)) =
                (claim, v.claim_mode_flag(), v.claim_mode_key())
            {
                command.push_str(&format!(" {flag} {}", mode.to_ascii_lowercase()));
                config.push((key.to_string(), mode.to_string()));
            }
            if kind == SnapshotKind::Checkpoint && !v.has_claim_mode() {
                notes.push(format!(
                    "Flink {v} has no claim mode: the restored job may share (and later delete) \
                     the checkpoint's files; keep a second copy if you need a fallback"
                ));
            }
        }
        None => {
            config.push(("execution.state-recovery.path (2.x)".into(), path.into()));
            config.push(("execution.savepoint.path (1.x)".into(), path.into()));
            if let Some(mode) = claim {
                command.push_str(&format!(" --claimMode {}", mode.to_ascii_lowercase()));
                notes.push(
                    "--claimMode is Flink 1.20+'s option; 1.15 to 1.19 spell it --restoreMode"
                        .into(),
                );
            }
        }
    }
    command.push_str(" <your-job.jar> [args]");
    if kind == SnapshotKind::Checkpoint {
        notes.push(
            "NO_CLAIM keeps this copy intact (the first checkpoint after the restore is a full \
             one); CLAIM makes Flink own it and delete its files once later checkpoints \
             subsume it"
                .into(),
        );
    }
    RestoreGuide {
        command,
        config,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_directory_name() {
        assert_eq!(
            SnapshotKind::of_path("s3://b/cp/abc/chk-12"),
            SnapshotKind::Checkpoint
        );
        assert_eq!(
            SnapshotKind::of_path("s3://b/cp/abc/chk-12/_metadata"),
            SnapshotKind::Checkpoint
        );
        assert_eq!(
            SnapshotKind::of_path("s3://b/sp/savepoint-1a2b-3c4d5e"),
            SnapshotKind::Savepoint
        );
        assert_eq!(SnapshotKind::of_path("/x/chk-x"), SnapshotKind::Savepoint);
    }

    #[test]
    fn guidance_per_version_and_kind() {
        let v2 = FlinkVersion::parse("2.3.0").unwrap();
        let g = guide("s3://b/j/chk-3", SnapshotKind::Checkpoint, Some(&v2));
        assert_eq!(
            g.command,
            "flink run -s s3://b/j/chk-3 --claimMode no_claim <your-job.jar> [args]"
        );
        assert_eq!(
            g.config,
            vec![
                (
                    "execution.state-recovery.path".to_string(),
                    "s3://b/j/chk-3".to_string()
                ),
                (
                    "execution.state-recovery.claim-mode".to_string(),
                    "NO_CLAIM".to_string()
                )
            ]
        );
        let v1 = FlinkVersion::parse("1.18.1").unwrap();
        let g = guide("s3://b/sp/savepoint-1", SnapshotKind::Savepoint, Some(&v1));
        assert_eq!(
            g.command,
            "flink run -s s3://b/sp/savepoint-1 <your-job.jar> [args]"
        );
        assert_eq!(g.config[0].0, "execution.savepoint.path");
        let g = guide("s3://b/j/chk-3", SnapshotKind::Checkpoint, Some(&v1));
        assert!(
            g.command.contains("--restoreMode no_claim"),
            "{}",
            g.command
        );
        let old = FlinkVersion::parse("1.14.6").unwrap();
        let g = guide("s3://b/j/chk-3", SnapshotKind::Checkpoint, Some(&old));
        assert!(!g.command.contains("claim"));
        assert!(g.notes[0].contains("no claim mode"));
    }
}
