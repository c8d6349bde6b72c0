//! Where each source location goes at the destination.
//!
//! The snapshot directory `S` moves to the destination `D`. External files keep the place they
//! had relative to the snapshot, so the result looks like what Flink writes:
//!
//! | source location | destination |
//! |---|---|
//! | inside `S` (`chk-42/…`, `savepoint-…/…`) | `D/…` |
//! | inside `S`'s parent `J` — the job directory (`J/shared/…`, `J/taskowned/…`) | `D`'s parent (or `--external-root`) `/…` |
//! | inside `J`'s parent `B` — the checkpoint base (`B/<older-job>/shared/…`, chained incremental checkpoints) | `D`'s grandparent (or the external root's parent) `/…` |
//! | an entropy-injected key: one path segment away from one of the above (`s3://b/ab12/cp/job/chk-42/f`) | as if the segment were not there |
//! | anywhere else (a changelog base elsewhere, another store) | `<D's parent or external root>/external/<scheme>/<authority>/<path>` |
//!
//! `--scheme` replaces the scheme of every rewritten location (clusters that read the same store
//! through another plugin: `s3p` → `s3a`; `wasbs` → `abfss`, which changes the account's host
//! from `.blob.` to `.dfs.` too).

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;

/// Which rule placed a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Inside the snapshot directory.
    Snapshot,
    /// Inside the job directory (`shared/`, `taskowned/`).
    Job,
    /// Inside the checkpoint base (other jobs' directories).
    Base,
    /// Elsewhere: mirrored under `external/`.
    External,
}

/// The source → destination mapping of one migration.
#[derive(Debug, Clone)]
pub struct Layout {
    anchors: Vec<(Anchor, Location, Location)>,
    external: Location,
    scheme: Option<String>,
}

/// A mapped location and how it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The destination location.
    pub location: Location,
    /// The rule that placed it.
    pub anchor: Anchor,
    /// The source prefix that was replaced (for reports), and its replacement.
    pub from_prefix: Location,
    /// The destination prefix.
    pub to_prefix: Location,
}

impl Layout {
    /// The layout for moving snapshot directory `source` to `destination`.
    ///
    /// Errors: the destination is a store root (it needs a parent for `shared/`), or equals the
    /// source.
    pub fn new(
        source: &Location,
        destination: &Location,
        external_root: Option<&Location>,
        scheme: Option<&str>,
    ) -> Result<Layout> {
        if source == destination {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("source and destination are the same: {source}"),
            ));
        }
        let dst_job = match external_root {
            Some(root) => root.clone(),
            None => destination
                .parent()
                .filter(|p| !p.is_root())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "destination {destination} needs a parent directory for the job's \
                         shared files (or pass --external-root)"
                        ),
                    )
                })?,
        };
        let mut anchors = vec![(Anchor::Snapshot, source.clone(), destination.clone())];
        let src_job = source.parent().filter(|p| !p.is_root());
        if let Some(src_job) = &src_job {
            anchors.push((Anchor::Job, src_job.clone(), dst_job.clone()));
            let src_base = src_job.parent().filter(|p| !p.is_root());
            let dst_base = dst_job.parent().filter(|p| !p.is_root());
            if let (Some(src_base), Some(dst_base)) = (src_base, dst_base) {
                anchors.push((Anchor::Base, src_base, dst_base));
            }
        }
        Ok(Layout {
            anchors,
            external: dst_job.join("external"),
            scheme: scheme.map(str::to_ascii_lowercase),
        })
    }

    /// Where `location` goes.
    pub fn place(&self, location: &Location) -> Placement {
        let placed = self
            .by_anchor(location)
            .or_else(|| self.without_entropy(location));
        let placement = placed.unwrap_or_else(|| {
            let root = location.with_path("/");
            let to = self
                .external
                .join(location.scheme())
                .join(location.authority().unwrap_or("_"));
            Placement {
                location: to.join(location.key()),
                anchor: Anchor::External,
                from_prefix: root,
                to_prefix: to,
            }
        });
        Placement {
            location: self.publish(&placement.location),
            to_prefix: self.publish(&placement.to_prefix),
            ..placement
        }
    }

    fn by_anchor(&self, location: &Location) -> Option<Placement> {
        self.anchors.iter().find_map(|(anchor, from, to)| {
            location.strip_prefix(from).map(|rel| Placement {
                location: to.join(rel),
                anchor: *anchor,
                from_prefix: from.clone(),
                to_prefix: to.clone(),
            })
        })
    }

    /// Entropy injection replaces a marker segment of the checkpoint path with random
    /// characters in data-file paths only: drop one segment and see if an anchor matches.
    fn without_entropy(&self, location: &Location) -> Option<Placement> {
        let segments: Vec<&str> = location.key().split('/').collect();
        (0..segments.len().saturating_sub(1)).find_map(|skip| {
            let path: Vec<&str> = segments
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, s)| *s)
                .collect();
            let candidate = location.with_path(&path.join("/"));
            self.by_anchor(&candidate).map(|p| Placement {
                from_prefix: location.with_path(&segments[..=skip].join("/")),
                ..p
            })
        })
    }

    /// The location as written into the metadata: with the `--scheme` override, if any.
    pub fn publish(&self, location: &Location) -> Location {
        match &self.scheme {
            Some(scheme) => location.with_scheme(scheme),
            None => location.clone(),
        }
    }

    /// The location on the destination store for a published one: undoes the `--scheme`
    /// override for locations on the destination's store.
    pub fn physical(&self, location: &Location, destination: &Location) -> Location {
        let back = location.with_scheme(destination.scheme());
        if self.scheme.is_some() && back.authority() == destination.authority() {
            back
        } else {
            location.clone()
        }
    }

    /// Whether `location` lies in one of the source areas this layout moves away from.
    pub fn is_source(&self, location: &Location) -> bool {
        self.anchors.iter().any(|(_, from, to)| {
            location.strip_prefix(from).is_some() && location.strip_prefix(to).is_none()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        Location::parse(s).unwrap()
    }

    #[test]
    fn mirrors_flink_layout() {
        let layout = Layout::new(
            &loc("hdfs://nn:8020/flink/cp/job1/chk-42"),
            &loc("s3a://bucket/new/job1/chk-42"),
            None,
            None,
        )
        .unwrap();
        let cases = [
            (
                "hdfs://nn:8020/flink/cp/job1/chk-42/abc",
                "s3a://bucket/new/job1/chk-42/abc",
                Anchor::Snapshot,
            ),
            (
                "hdfs://nn:8020/flink/cp/job1/shared/x.sst",
                "s3a://bucket/new/job1/shared/x.sst",
                Anchor::Job,
            ),
            (
                "hdfs://nn:8020/flink/cp/job1/taskowned/t",
                "s3a://bucket/new/job1/taskowned/t",
                Anchor::Job,
            ),
            (
                "hdfs://nn:8020/flink/cp/job0/shared/y",
                "s3a://bucket/new/job0/shared/y",
                Anchor::Base,
            ),
            (
                "hdfs://other:8020/dstl/job1/dstl/z",
                "s3a://bucket/new/job1/external/hdfs/other:8020/dstl/job1/dstl/z",
                Anchor::External,
            ),
        ];
        for (from, to, anchor) in cases {
            let placed = layout.place(&loc(from));
            assert_eq!(placed.location.to_string(), to, "{from}");
            assert_eq!(placed.anchor, anchor, "{from}");
        }
        assert!(layout.is_source(&loc("hdfs://nn:8020/flink/cp/job1/shared/x.sst")));
        assert!(!layout.is_source(&loc("s3a://bucket/new/job1/shared/x.sst")));
    }

    #[test]
    fn entropy_segments_are_dropped() {
        let layout = Layout::new(
            &loc("s3://b/checkpoints/job/chk-7"),
            &loc("s3://c/cp/job/chk-7"),
            None,
            None,
        )
        .unwrap();
        let placed = layout.place(&loc("s3://b/f3a9/checkpoints/job/chk-7/data"));
        assert_eq!(placed.location.to_string(), "s3://c/cp/job/chk-7/data");
        let placed = layout.place(&loc("s3://b/f3a9/checkpoints/job/shared/s1"));
        assert_eq!(placed.location.to_string(), "s3://c/cp/job/shared/s1");
        assert_eq!(placed.from_prefix.to_string(), "s3://b/f3a9");
    }

    #[test]
    fn scheme_override_and_external_root() {
        let layout = Layout::new(
            &loc("s3p://b/cp/job/chk-1"),
            &loc("s3p://b2/cp/job/chk-1"),
            Some(&loc("s3p://b2/elsewhere/job")),
            Some("s3a"),
        )
        .unwrap();
        assert_eq!(
            layout
                .place(&loc("s3p://b/cp/job/chk-1/f"))
                .location
                .to_string(),
            "s3a://b2/cp/job/chk-1/f"
        );
        assert_eq!(
            layout
                .place(&loc("s3p://b/cp/job/shared/f"))
                .location
                .to_string(),
            "s3a://b2/elsewhere/job/shared/f"
        );
    }

    #[test]
    fn wasb_to_abfs_changes_the_host_and_maps_back() {
        let dst = loc("wasbs://c@acct.blob.core.windows.net/cp/job/chk-1");
        let layout = Layout::new(&loc("/data/cp/job/chk-1"), &dst, None, Some("abfss")).unwrap();
        let published = layout.place(&loc("/data/cp/job/shared/f")).location;
        assert_eq!(
            published.to_string(),
            "abfss://c@acct.dfs.core.windows.net/cp/job/shared/f"
        );
        assert_eq!(
            layout.physical(&published, &dst).to_string(),
            "wasbs://c@acct.blob.core.windows.net/cp/job/shared/f"
        );
    }

    #[test]
    fn rejects_root_and_identical_destinations() {
        assert!(Layout::new(&loc("/a/b"), &loc("/a/b"), None, None).is_err());
        assert!(Layout::new(&loc("/a/b"), &loc("/c"), None, None).is_err());
        assert!(Layout::new(&loc("/a/b"), &loc("/c"), Some(&loc("/ext")), None).is_ok());
    }
}
