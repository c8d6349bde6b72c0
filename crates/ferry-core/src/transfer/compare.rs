//! Which existing destination files a copy skips, in rclone's terms (`--checksum`,
//! `--size-only`, `--update`, `--ignore-existing`, `--ignore-size`).
//!
//! | options | an existing destination file is skipped when … | otherwise |
//! |---|---|---|
//! | none (ferry's default) | it holds the same bytes (size and CRC32C or the stores' checksum) | error, unless `overwrite` |
//! | `checksum` | same size and the same checksum | replaced |
//! | `size_only` | same size | replaced |
//! | `update` | it is newer than the source; or as old (to the second) and the same size; or older with the same size and content | replaced (`checksum`/`size_only` also set: those decide for files not newer) |
//! | `ignore_existing` | always | — |
//! | `ignore_size` | sizes are left out of every comparison above | |
//!
//! `update` needs modification times on both sides: a store or file without one is never
//! "newer", so the file is compared as without `update`.

use std::time::SystemTime;

/// How existing destination files are compared with their source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compare {
    /// What "the same file" means.
    pub mode: CompareMode,
    /// rclone's `--update`: skip files whose destination is newer than the source.
    pub update: bool,
    /// Skip every file that exists at the destination, without comparing.
    pub ignore_existing: bool,
    /// Leave sizes out of the comparison.
    pub ignore_size: bool,
}

/// What "the same file" means for [`Compare`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CompareMode {
    /// The same bytes, and a file that differs is a conflict (ferry's default).
    #[default]
    Identical,
    /// rclone's `--checksum`: the same size and checksum; a file that differs is replaced.
    Checksum,
    /// rclone's `--size-only`: the same size; a file that differs is replaced.
    SizeOnly,
}

/// The first decision about an existing destination file, before any content is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Skip it: `--ignore-existing`.
    Existing,
    /// Skip it: `--update`, the destination is newer.
    Newer,
    /// Skip it: the comparison says it is the same file (no content read).
    Same,
    /// Replace it: the comparison says it differs.
    Differs,
    /// Compare the content (checksums); the mode says what a difference means.
    CompareContent,
}

impl Compare {
    /// Whether the user asked for a comparison rclone-style (a file that differs is replaced,
    /// not a conflict), instead of ferry's default.
    pub fn replaces_changed(&self) -> bool {
        self.mode != CompareMode::Identical || self.update
    }

    /// Decides from sizes and times alone; [`Verdict::CompareContent`] when checksums must
    /// tell.
    pub(crate) fn judge(
        &self,
        src_size: u64,
        src_modified: Option<SystemTime>,
        dst_size: u64,
        dst_modified: Option<SystemTime>,
    ) -> Verdict {
        if self.ignore_existing {
            return Verdict::Existing;
        }
        let same_size = self.ignore_size || src_size == dst_size;
        if self.update {
            if let (Some(src), Some(dst)) = (src_modified, dst_modified) {
                let (src, dst) = (whole_seconds(src), whole_seconds(dst));
                if dst > src {
                    return Verdict::Newer;
                }
                // As old: rclone compares sizes (and checksums with --checksum).
                if dst == src && self.mode != CompareMode::Checksum {
                    return if same_size {
                        Verdict::Same
                    } else {
                        Verdict::Differs
                    };
                }
                // Older: rclone updates it "if the size or checksum differs".
            }
        }
        match self.mode {
            CompareMode::SizeOnly if same_size => Verdict::Same,
            CompareMode::SizeOnly => Verdict::Differs,
            _ if !same_size => Verdict::Differs,
            _ => Verdict::CompareContent,
        }
    }
}

/// Seconds since the epoch: stores keep times to the second (S3, GCS listings) or finer, so
/// "newer" is judged to the second, like rclone's modify window against such stores.
fn whole_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn compare(mode: CompareMode, update: bool, ignore_size: bool) -> Compare {
        Compare {
            mode,
            update,
            ignore_existing: false,
            ignore_size,
        }
    }

    /// (options, src size, src time, dst size, dst time) → verdict, per rclone's docs.
    #[test]
    fn verdicts_follow_rclone() {
        use CompareMode::*;
        use Verdict::*;
        let cases = [
            // --checksum: sizes first, then content.
            (
                compare(Checksum, false, false),
                10,
                at(100),
                10,
                at(50),
                CompareContent,
            ),
            (
                compare(Checksum, false, false),
                10,
                at(100),
                11,
                at(50),
                Differs,
            ),
            (
                compare(Checksum, false, true),
                10,
                at(100),
                11,
                at(50),
                CompareContent,
            ),
            // --size-only: never reads content, ignores times.
            (
                compare(SizeOnly, false, false),
                10,
                at(100),
                10,
                at(500),
                Same,
            ),
            (
                compare(SizeOnly, false, false),
                10,
                at(100),
                9,
                at(50),
                Differs,
            ),
            // --update: newer at the destination is skipped whatever its size.
            (
                compare(Identical, true, false),
                10,
                at(100),
                99,
                at(101),
                Newer,
            ),
            // as old: same size is the same file; another size is replaced.
            (
                compare(Identical, true, false),
                10,
                at(100),
                10,
                at(100),
                Same,
            ),
            (
                compare(Identical, true, false),
                10,
                at(100),
                11,
                at(100),
                Differs,
            ),
            (
                compare(Identical, true, true),
                10,
                at(100),
                11,
                at(100),
                Same,
            ),
            // older: replaced if the size or the content differs.
            (
                compare(Identical, true, false),
                10,
                at(100),
                10,
                at(99),
                CompareContent,
            ),
            (
                compare(Identical, true, false),
                10,
                at(100),
                12,
                at(99),
                Differs,
            ),
            // with --checksum: older or as old, content decides.
            (
                compare(Checksum, true, false),
                10,
                at(100),
                10,
                at(99),
                CompareContent,
            ),
            (
                compare(Checksum, true, false),
                10,
                at(100),
                10,
                at(100),
                CompareContent,
            ),
            (
                compare(Checksum, true, false),
                10,
                at(100),
                10,
                at(200),
                Newer,
            ),
            // --size-only --update: older with the same size is the same file.
            (
                compare(SizeOnly, true, false),
                10,
                at(100),
                10,
                at(99),
                Same,
            ),
            // a store without times: --update cannot say "newer"; the mode decides.
            (
                compare(Identical, true, false),
                10,
                None,
                10,
                at(200),
                CompareContent,
            ),
            // ferry's default: same size means read the content; another size differs.
            (
                compare(Identical, false, false),
                10,
                at(1),
                10,
                at(2),
                CompareContent,
            ),
            (
                compare(Identical, false, false),
                10,
                at(1),
                12,
                at(2),
                Differs,
            ),
        ];
        for (i, (options, ss, st, ds, dt, want)) in cases.into_iter().enumerate() {
            assert_eq!(options.judge(ss, st, ds, dt), want, "case {i}: {options:?}");
        }
    }

    #[test]
    fn ignore_existing_skips_without_comparing() {
        let options = Compare {
            ignore_existing: true,
            ..Compare::default()
        };
        assert_eq!(options.judge(1, at(1), 2, at(0)), Verdict::Existing);
    }

    #[test]
    fn times_are_compared_to_the_second() {
        let options = compare(CompareMode::Identical, true, false);
        let src = SystemTime::UNIX_EPOCH + Duration::from_millis(100_900);
        let dst = SystemTime::UNIX_EPOCH + Duration::from_millis(100_100);
        assert_eq!(options.judge(5, Some(src), 5, Some(dst)), Verdict::Same);
    }
}
