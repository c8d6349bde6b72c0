//! The closure of a snapshot: every file its `_metadata` references, once each, with the size
//! the metadata records for it.
//!
//! Relative handles (S-6) resolve against the snapshot directory; absolute ones (S-2 files,
//! S-15 file-merging segments) are used as written. Directory fields (O-17) and inline-handle
//! names (S-1) name no file to copy; the layout rewrites them like any other path.

use std::collections::HashMap;

use ferry_metadata::{PathField, PathKind};
use serde::Serialize;

use super::parse_flink_path;
use super::snapshot::Snapshot;
use crate::error::Result;
use crate::location::Location;

/// One referenced file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// Where it is.
    pub location: Location,
    /// The size the metadata records (`None` when unknown, Flink's `-1`).
    pub size: Option<u64>,
    /// Whether `size` is the whole file's size (files) or a lower bound (file-merging
    /// segments, which are ranges of a larger physical file).
    pub exact_size: bool,
    /// Whether the metadata refers to it by a relative name (S-6).
    pub relative: bool,
    /// Whether it lies inside the snapshot directory.
    pub inside: bool,
    /// How many handles refer to it.
    pub handles: usize,
    /// The first referring field, e.g. `operator[1].subtask[0].managed_keyed_state.shared[3]`.
    pub breadcrumb: String,
}

/// Every file `snapshot` references, in first-reference order.
pub fn references(snapshot: &Snapshot) -> Result<Vec<Reference>> {
    let mut order: Vec<Reference> = Vec::new();
    let mut index: HashMap<Location, usize> = HashMap::new();
    for path in snapshot.metadata.paths() {
        let (location, exact_size) = match (path.kind(), path.field) {
            (PathKind::Relative, _) => (snapshot.dir.join(&path.value_str()), true),
            (PathKind::Absolute, PathField::SegmentFilePath) => {
                (parse_flink_path(&path.value_str(), &snapshot.dir)?, false)
            }
            (PathKind::Absolute, _) => (
                parse_flink_path(&path.value_str(), &snapshot.dir)?,
                records_whole_file(&path.breadcrumb),
            ),
            (PathKind::Directory | PathKind::InlineHandleName, _) => continue,
        };
        match index.get(&location) {
            Some(&i) => {
                let existing = &mut order[i];
                existing.handles += 1;
                if !existing.exact_size {
                    existing.size = existing.size.max(path.size);
                }
            }
            None => {
                index.insert(location.clone(), order.len());
                order.push(Reference {
                    inside: location.strip_prefix(&snapshot.dir).is_some(),
                    relative: path.kind() == PathKind::Relative,
                    size: path.size,
                    exact_size,
                    handles: 1,
                    breadcrumb: path.breadcrumb.clone(),
                    location,
                });
            }
        }
    }
    Ok(order)
}

/// Whether a file handle at `breadcrumb` records its whole file's size. Changelog (DSTL) file
/// entries (`….handles[i]` of K-10/K-13) address a range of a file that several handles share
/// and that grows after the handle was taken: their size is only a lower bound (seen with
/// Flink 2.0.1: a 69 097-byte DSTL file recorded as 69 096).
fn records_whole_file(breadcrumb: &str) -> bool {
    !breadcrumb
        .rsplit('.')
        .next()
        .is_some_and(|last| last.starts_with("handles["))
}

/// A snapshot whose checkpoint base was copied somewhere else as a whole (distcp, `aws s3
/// sync`) still names its external files under the old base. When the snapshot's own job
/// directory (`…/<job-id>/chk-N`) appears in its references under another prefix, this returns
/// `(old base, current base)`: e.g. (`hdfs://nn/cp`, `s3a://b/cp`) for a reference
/// `hdfs://nn/cp/<job-id>/shared/x` of the snapshot now at `s3a://b/cp/<job-id>/chk-N`. Callers
/// apply it only where the old location is really gone.
pub fn moved_base(
    snapshot_dir: &Location,
    references: &[Reference],
) -> Option<(Location, Location)> {
    let job = snapshot_dir.parent().filter(|p| !p.is_root())?;
    let base = job.parent()?;
    let job_name = job.file_name()?;
    references.iter().filter(|r| !r.inside).find_map(|r| {
        let path = r.location.path();
        let needle = format!("/{job_name}/");
        let at = path.find(&needle)?;
        let old_base = r.location.with_path(&path[..at]);
        (old_base != base).then(|| (old_base, base.clone()))
    })
}

/// The external root a file outside the snapshot directory belongs to, for reports: the first
/// directory below the snapshot's parent (`…/<job>/shared`, `…/<job>/taskowned`), the first two
/// below its grandparent (`…/<other-job>/shared`), else the file's own directory.
pub fn external_root(snapshot_dir: &Location, file: &Location) -> Location {
    let job = snapshot_dir.parent().filter(|p| !p.is_root());
    let base = job
        .as_ref()
        .and_then(Location::parent)
        .filter(|p| !p.is_root());
    for (anchor, depth) in [(job, 1usize), (base, 2)] {
        let Some(anchor) = anchor else { continue };
        if let Some(rel) = file.strip_prefix(&anchor) {
            let segments: Vec<&str> = rel.split('/').collect();
            if segments.len() > depth {
                return anchor.join(&segments[..depth].join("/"));
            }
        }
    }
    file.parent().unwrap_or_else(|| file.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_a_moved_base() {
        let dir = Location::parse("s3a://b/copy/job1/chk-4").unwrap();
        let reference = |p: &str| Reference {
            location: Location::parse(p).unwrap(),
            size: None,
            exact_size: true,
            relative: false,
            inside: false,
            handles: 1,
            breadcrumb: String::new(),
        };
        let moved = moved_base(&dir, &[reference("hdfs://nn/cp/job1/shared/x")]).unwrap();
        assert_eq!(moved.0.to_string(), "hdfs://nn/cp");
        assert_eq!(moved.1.to_string(), "s3a://b/copy");
        assert_eq!(
            moved_base(&dir, &[reference("s3a://b/copy/job1/shared/x")]),
            None
        );
        assert_eq!(moved_base(&dir, &[reference("hdfs://nn/other/x")]), None);
    }

    #[test]
    fn external_roots() {
        let dir = Location::parse("s3://b/cp/job1/chk-4").unwrap();
        let root = |f: &str| external_root(&dir, &Location::parse(f).unwrap()).to_string();
        assert_eq!(root("s3://b/cp/job1/shared/a.sst"), "s3://b/cp/job1/shared");
        assert_eq!(
            root("s3://b/cp/job1/shared/op_1/seg"),
            "s3://b/cp/job1/shared"
        );
        assert_eq!(root("s3://b/cp/job0/shared/a.sst"), "s3://b/cp/job0/shared");
        assert_eq!(root("s3://b/dstl/x/y"), "s3://b/dstl/x");
    }
}
