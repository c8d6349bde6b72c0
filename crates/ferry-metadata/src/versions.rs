//! Static table of metadata format versions: which Flink releases write and read each version
//! (format doc §1.2), for the CLI to print.

use serde::Serialize;

/// Facts about one metadata format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// The version number in the header.
    pub version: i32,
    /// Flink releases that write this version.
    pub written_by: &'static str,
    /// Flink releases that can read this version.
    pub readable_by: &'static str,
    /// What the version adds or changes.
    pub notes: &'static str,
    /// Whether the version exists in a released Flink (7 does not).
    pub released: bool,
}

/// All known versions, ascending.
pub static VERSIONS: &[VersionInfo] = &[
    VersionInfo {
        version: 1,
        written_by: "Flink 1.2.x",
        readable_by: "Flink 1.2 – 1.10 (1.11+ reject it)",
        notes: "task-level layout (job vertex ids), no master states",
        released: true,
    },
    VersionInfo {
        version: 2,
        written_by: "Flink 1.3 – 1.10",
        readable_by: "Flink 1.3 – 2.3",
        notes: "operator-level ids, master states; all file references absolute",
        released: true,
    },
    VersionInfo {
        version: 3,
        written_by: "Flink 1.11 – 1.15",
        readable_by: "Flink 1.11 – 2.3",
        notes: "coordinator state, channel state, relative file handles; channel layout \
                changed in 1.12 and changelog layout in 1.15 without a version bump",
        released: true,
    },
    VersionInfo {
        version: 4,
        written_by: "Flink 1.16 – 1.20",
        readable_by: "Flink 1.16 – 2.3",
        notes: "adds the Java-serialized CheckpointProperties trailer",
        released: true,
    },
    VersionInfo {
        version: 5,
        written_by: "Flink 2.0.x",
        readable_by: "Flink 2.0 – 2.3",
        notes: "adds operator name and uid",
        released: true,
    },
    VersionInfo {
        version: 6,
        written_by: "Flink 2.1 – 2.3",
        readable_by: "Flink 2.1 – 2.3",
        notes: "typed channel-state handles, merged channel handles",
        released: true,
    },
    VersionInfo {
        version: 7,
        written_by: "no release (post-2.3 development sources only)",
        readable_by: "no release",
        notes: "optional per-subtask reference checkpoint id; may still change",
        released: false,
    },
];

/// Looks up a version.
pub fn version_info(version: i32) -> Option<&'static VersionInfo> {
    VERSIONS.iter().find(|v| v.version == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_ordered() {
        let nums: Vec<i32> = VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(
            nums,
            (crate::MIN_VERSION..=crate::MAX_VERSION).collect::<Vec<_>>()
        );
        assert!(version_info(6).unwrap().written_by.contains("2.3"));
        assert!(!version_info(7).unwrap().released);
        assert!(version_info(8).is_none());
    }
}
