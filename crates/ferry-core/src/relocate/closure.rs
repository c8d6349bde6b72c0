//! The closure of a snapshot: every file its `_metadata` references, once each, with the size
//! the metadata records for it.
//!
//! Relative handles (S-6) resolve against the snapshot directory; absolute ones (S-2 files,
//! S-15 file-merging segments) are used as written. Directory fields (O-17) and inline-handle
//! names (S-1) name no file to copy; the layout rewrites them like any other path.
//!
//! Also here: what a snapshot depends on outside its directory ([`outside`], [`pinned`]: the
//! traps of copying a snapshot as a plain directory), and where the files of a snapshot whose
//! checkpoint base was copied without rewriting are read from ([`choose_sources`]).

use std::collections::{BTreeMap, HashMap};

use ferry_metadata::{PathField, PathKind};
use futures::StreamExt;
use serde::Serialize;

use super::parse_flink_path;
use super::snapshot::Snapshot;
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::storage::Storage;

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
/// directory below the snapshot's parent (`…/<job>/shared`, `…/<job>/taskowned`), else a
/// Flink state directory on its path (`…/shared`, `…/taskowned`: another job's, or the
/// original's after the snapshot directory was copied alone), else the first two below the
/// snapshot's grandparent (`…/<other-job>/chk-1`), else the file's own directory.
pub fn external_root(snapshot_dir: &Location, file: &Location) -> Location {
    let job = snapshot_dir.parent().filter(|p| !p.is_root());
    let base = job
        .as_ref()
        .and_then(Location::parent)
        .filter(|p| !p.is_root());
    let below = |anchor: &Option<Location>, depth: usize| {
        let anchor = anchor.as_ref()?;
        let segments: Vec<&str> = file.strip_prefix(anchor)?.split('/').collect();
        (segments.len() > depth).then(|| anchor.join(&segments[..depth].join("/")))
    };
    below(&job, 1)
        .or_else(|| state_dir(file))
        .or_else(|| below(&base, 2))
        .unwrap_or_else(|| file.parent().unwrap_or_else(|| file.clone()))
}

/// The first `shared` or `taskowned` directory on `file`'s path, if any.
fn state_dir(file: &Location) -> Option<Location> {
    let segments: Vec<&str> = file.key().split('/').collect();
    let at = segments[..segments.len().saturating_sub(1)]
        .iter()
        .position(|s| ["shared", "taskowned"].contains(s))?;
    Some(file.with_path(&segments[..=at].join("/")))
}

/// Files a snapshot needs that a copy of its directory alone would not carry, by root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outside {
    /// How many files.
    pub files: usize,
    /// Their bytes as the metadata records them (unknown sizes count 0).
    pub bytes: u64,
    /// Files per root (see [`external_root`]).
    pub roots: BTreeMap<String, usize>,
}

impl Outside {
    /// Whether there is nothing outside.
    pub fn is_empty(&self) -> bool {
        self.files == 0
    }

    /// The roots for one line of text (see [`describe_roots`]).
    pub fn describe_roots(&self) -> String {
        describe_roots(&self.roots)
    }

    fn add(&mut self, root: String, size: Option<u64>) {
        self.files += 1;
        self.bytes += size.unwrap_or(0);
        *self.roots.entry(root).or_default() += 1;
    }
}

/// Files per root for one line of text: `root (n files), …`, at most three, then `and N more
/// roots`.
pub fn describe_roots(roots: &BTreeMap<String, usize>) -> String {
    let mut parts: Vec<String> = roots
        .iter()
        .take(3)
        .map(|(root, n)| format!("{root} ({n} files)"))
        .collect();
    if roots.len() > 3 {
        parts.push(format!("and {} more roots", roots.len() - 3));
    }
    parts.join(", ")
}

/// The referenced files outside `snapshot_dir` (an incremental checkpoint's `shared/`, a
/// previous job's files, changelog files), by external root: what the snapshot depends on
/// beyond its own directory.
pub fn outside(snapshot_dir: &Location, references: &[Reference]) -> Outside {
    let mut result = Outside::default();
    for reference in references.iter().filter(|r| !r.inside) {
        let root = external_root(snapshot_dir, &reference.location);
        result.add(root.to_string(), reference.size);
    }
    result
}

/// What a plain copy of `snapshot_dir` (`ferry cp`, distcp) would still depend on at the
/// original place: the files [`outside`] it, and the files inside it that `_metadata` names by
/// absolute path (the copy's `_metadata` still names the original's, counted under
/// `snapshot_dir`). Relative references alone move with the directory.
pub fn pinned(snapshot_dir: &Location, references: &[Reference]) -> Outside {
    let mut result = outside(snapshot_dir, references);
    for reference in references.iter().filter(|r| r.inside && !r.relative) {
        result.add(snapshot_dir.to_string(), reference.size);
    }
    result
}

/// Where `ferry migrate` reads the files of a snapshot whose checkpoint base was copied
/// without rewriting (see [`moved_base`]) from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExternalSource {
    /// Per external root: beside the snapshot when every file of the root is there with its
    /// recorded size, otherwise where `_metadata` names them.
    #[default]
    Auto,
    /// Beside the snapshot, under its current checkpoint base; missing files are an error.
    Beside,
    /// Where `_metadata` names them (the old base).
    Original,
}

/// Where the files of one external root are read from, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceChoice {
    /// The root as `_metadata` names it (under the old base).
    pub named: String,
    /// The root the files are read from: `named`, or the same place beside the snapshot.
    pub read_from: String,
    /// Referenced files under the root.
    pub files: usize,
    /// Why this source.
    pub reason: String,
}

/// The outcome of [`choose_sources`] for a snapshot whose checkpoint base moved.
#[derive(Debug, Clone)]
pub struct MovedSources {
    /// The old base `_metadata` names, and the snapshot's current base.
    pub old_base: Location,
    /// The current base.
    pub current_base: Location,
    /// One choice per external root under the old base.
    pub choices: Vec<SourceChoice>,
    /// For files read from the old base: their place under the current base, which is where
    /// the layout places them from (so the destination is the same whichever copy was read).
    pub logical: HashMap<Location, Location>,
}

impl MovedSources {
    /// The location the layout places `read` (a location files are read from) as.
    pub fn logical<'a>(&'a self, read: &'a Location) -> &'a Location {
        self.logical.get(read).unwrap_or(read)
    }
}

/// For a snapshot whose checkpoint base was copied elsewhere without rewriting its paths
/// ([`moved_base`]), decides per external root whether its files are read from beside the
/// snapshot (the current base, on `storage`) or from where `_metadata` names them, and points
/// each such reference at the chosen copy. Returns `None` for a snapshot whose base did not
/// move.
///
/// The rule does not depend on whether the old location still exists: in
/// [`ExternalSource::Auto`] a root is read from beside the snapshot exactly when every one of
/// its files is there with the recorded size. Either way the files are placed as if they lay
/// beside the snapshot, so the destination layout is the same whichever copy was read.
pub async fn choose_sources(
    storage: &dyn Storage,
    snapshot_dir: &Location,
    references: &mut [Reference],
    mode: ExternalSource,
) -> Result<Option<MovedSources>> {
    let Some((old, current)) = moved_base(snapshot_dir, references) else {
        return Ok(None);
    };
    let mut groups: BTreeMap<Location, Vec<(usize, Location)>> = BTreeMap::new();
    for (i, reference) in references.iter().enumerate().filter(|(_, r)| !r.inside) {
        if let Some(beside) = reference.location.replace_prefix(&old, &current) {
            let root = external_root(snapshot_dir, &beside);
            groups.entry(root).or_default().push((i, beside));
        }
    }
    let mut moved = MovedSources {
        old_base: old.clone(),
        current_base: current.clone(),
        choices: Vec::new(),
        logical: HashMap::new(),
    };
    for (root, members) in groups {
        let named = root.replace_prefix(&current, &old).unwrap_or(root.clone());
        let (beside, reason) = match mode {
            ExternalSource::Original => (false, "--external-source original".to_string()),
            ExternalSource::Beside => match first_absent(storage, references, &members).await? {
                None => (true, "--external-source beside".to_string()),
                Some(absent) => {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "--external-source beside: {absent} (_metadata names it under {old}; \
                             --external-source original reads it there)"
                        ),
                    ))
                }
            },
            ExternalSource::Auto => match first_absent(storage, references, &members).await? {
                None => (
                    true,
                    format!(
                        "all {} files are beside the snapshot, under its current checkpoint base",
                        members.len()
                    ),
                ),
                Some(absent) => (
                    false,
                    format!(
                        "not all beside the snapshot ({absent}); read where _metadata names them"
                    ),
                ),
            },
        };
        moved.choices.push(SourceChoice {
            read_from: if beside { &root } else { &named }.to_string(),
            named: named.to_string(),
            files: members.len(),
            reason,
        });
        for (i, beside_location) in members {
            if beside {
                references[i].location = beside_location;
            } else {
                moved
                    .logical
                    .insert(references[i].location.clone(), beside_location);
            }
        }
    }
    Ok(Some(moved))
}

/// The first of `members` (reference index, location beside the snapshot) that is not beside
/// the snapshot with the recorded size, described; `None` when all are.
async fn first_absent(
    storage: &dyn Storage,
    references: &[Reference],
    members: &[(usize, Location)],
) -> Result<Option<String>> {
    let mut checks = futures::stream::iter(members)
        .map(|(i, beside)| async move {
            let reference = &references[*i];
            match storage.stat(beside).await {
                Ok(entry) => Ok(match reference.size {
                    Some(size) if reference.exact_size && entry.size != size => Some(format!(
                        "{beside} has {} bytes, the metadata records {size}",
                        entry.size
                    )),
                    Some(size) if entry.size < size => Some(format!(
                        "{beside} has {} bytes, less than the {size} recorded",
                        entry.size
                    )),
                    _ => None,
                }),
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    Ok(Some(format!("{beside} is missing")))
                }
                Err(err) => Err(err),
            }
        })
        .buffered(32);
    while let Some(check) = checks.next().await {
        if let Some(absent) = check? {
            return Ok(Some(absent));
        }
    }
    Ok(None)
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
        assert_eq!(root("s3://b/cp/job0/chk-1/f"), "s3://b/cp/job0/chk-1");
        // A snapshot directory copied alone: its metadata names the original's shared/.
        let copy = Location::parse("file:/tmp/copy/chk-4").unwrap();
        let file = Location::parse("file:/data/cp/job1/shared/op_1/seg").unwrap();
        assert_eq!(
            external_root(&copy, &file).to_string(),
            "file:/data/cp/job1/shared"
        );
    }
}
