//! Opening a snapshot and listing the snapshots under a root.
//!
//! A snapshot is a directory holding `_metadata` (Flink writes it last, so a directory without
//! it is incomplete). Users may name the directory, a `chk-N` directory, or the `_metadata`
//! file itself.

use std::time::SystemTime;

use bytes::Bytes;
use ferry_metadata::Metadata;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::{closure, metadata_error, METADATA_FILE};
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::storage::{read_to_bytes, Storage};

/// A decoded snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The snapshot directory (Flink's "exclusive directory").
    pub dir: Location,
    /// Its `_metadata`.
    pub metadata_location: Location,
    /// The raw `_metadata` bytes.
    pub raw: Bytes,
    /// The decoded metadata.
    pub metadata: Metadata,
}

/// Where the snapshot directory and `_metadata` are for what the user named.
pub async fn locate(storage: &dyn Storage, named: &Location) -> Result<(Location, Location)> {
    if named.file_name() == Some(METADATA_FILE) {
        let dir = named.parent().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("{named} has no parent directory"),
            )
        })?;
        return Ok((dir, named.clone()));
    }
    let metadata = named.join(METADATA_FILE);
    match storage.stat(&metadata).await {
        Ok(_) => Ok((named.clone(), metadata)),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            let what = match storage.stat(named).await {
                Ok(_) => {
                    "has no _metadata: it is not a snapshot, or an incomplete one \
                          (Flink writes _metadata last)"
                }
                Err(_) => "does not exist",
            };
            Err(Error::new(
                ErrorKind::NotFound,
                format!("snapshot {named} {what}"),
            ))
        }
        Err(err) => Err(err),
    }
}

/// Opens the snapshot in `dir` if `dir` holds a `_metadata`; `None` when it does not.
pub async fn probe(storage: &dyn Storage, dir: &Location) -> Result<Option<Snapshot>> {
    match storage.stat(&dir.join(METADATA_FILE)).await {
        Ok(entry) if !entry.is_dir() => open(storage, dir).await.map(Some),
        Ok(_) => Ok(None),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Opens and decodes the snapshot the user named.
pub async fn open(storage: &dyn Storage, named: &Location) -> Result<Snapshot> {
    let (dir, metadata_location) = locate(storage, named).await?;
    let raw = read_to_bytes(storage, &metadata_location, None).await?;
    let metadata = Metadata::from_bytes(&raw).map_err(|e| metadata_error(&metadata_location, e))?;
    Ok(Snapshot {
        dir,
        metadata_location,
        raw,
        metadata,
    })
}

/// One snapshot found under a root, as `ferry ls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    /// The snapshot directory.
    pub location: Location,
    /// The checkpoint id (from `_metadata`, else from a `chk-N` name).
    pub id: Option<i64>,
    /// `savepoint` or `checkpoint`.
    pub kind: &'static str,
    /// Whether `_metadata` is present (and decodes).
    pub complete: bool,
    /// Bytes the snapshot needs: `own_size` + `external_size`.
    pub size: u64,
    /// Bytes of the files inside the directory.
    pub own_size: u64,
    /// Files inside the directory.
    pub files: u64,
    /// Bytes of the files `_metadata` references outside the directory (as it records them;
    /// an incremental checkpoint's `shared/`, a previous job's files).
    pub external_size: u64,
    /// Files `_metadata` references outside the directory.
    pub external_files: usize,
    /// When `_metadata` (or, if incomplete, the newest file) was written.
    #[serde(serialize_with = "serialize_time")]
    pub modified: Option<SystemTime>,
    /// Why the snapshot is not complete, if it is not (no `_metadata`, or one that does not
    /// decode).
    pub problem: Option<String>,
}

fn serialize_time<S: serde::Serializer>(
    time: &Option<SystemTime>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match time.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()) {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Whether a directory name is a snapshot directory Flink creates.
pub(crate) fn snapshot_kind(name: &str) -> Option<&'static str> {
    if name.starts_with("savepoint-") {
        Some("savepoint")
    } else if name
        .strip_prefix("chk-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("checkpoint")
    } else {
        None
    }
}

/// Directories of a job's checkpoint directory that hold state files and never snapshots:
/// the search does not enter them (a `shared/` may hold millions of files).
const STATE_DIRS: [&str; 2] = ["shared", "taskowned"];

/// How many snapshot directories are listed at once.
pub(crate) const LISTINGS_IN_FLIGHT: usize = 8;

/// Lists the snapshots under `root` (a savepoint directory, a checkpoint base, a job directory,
/// or a snapshot itself), oldest first. A `root` that does not exist is a `NotFound` error.
///
/// Directories are searched one level at a time ([`Storage::list_dir`]) for `chk-N` and
/// `savepoint-*` names, and for directories of any other name that hold a `_metadata` (seen in
/// the same one-level listing, so finding them costs nothing extra), never entering `shared/` or
/// `taskowned/`; only the snapshot directories themselves are listed in full, to count their
/// files and find `_metadata`.
pub async fn list(storage: &dyn Storage, root: &Location) -> Result<Vec<SnapshotInfo>> {
    let dirs = find_dirs(storage, root).await?;
    let found: Vec<SnapshotInfo> = futures::stream::iter(dirs)
        .map(|(dir, kind)| survey(storage, dir, kind))
        .buffered(LISTINGS_IN_FLIGHT)
        .try_collect()
        .await?;
    finish(storage, found).await
}

/// The snapshot directories under `root` (complete or not), each with the kind its name says
/// (`checkpoint` for names that say nothing), found as [`list`] finds them. A `root` that does
/// not exist is a `NotFound` error; any listing error is returned as it is.
pub(crate) async fn find_dirs(
    storage: &dyn Storage,
    root: &Location,
) -> Result<Vec<(Location, &'static str)>> {
    let mut dirs: Vec<(Location, &'static str)> = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let mut subdirs = Vec::new();
        let mut has_metadata = false;
        let mut empty = true;
        let mut children = storage.list_dir(&dir);
        while let Some(child) = children.try_next().await? {
            empty = false;
            match child.location.file_name() {
                Some(name) if child.is_dir() => {
                    subdirs.push((child.location.clone(), name.to_string()))
                }
                Some(METADATA_FILE) => has_metadata = true,
                _ => {}
            }
        }
        if dir == *root && empty {
            storage.stat(root).await.map_err(|err| match err.kind() {
                ErrorKind::NotFound => {
                    Error::new(ErrorKind::NotFound, format!("{root} does not exist"))
                }
                _ => err,
            })?;
        }
        let named = dir.file_name().and_then(snapshot_kind);
        if has_metadata || (dir == *root && named.is_some()) {
            dirs.push((dir, named.unwrap_or("checkpoint")));
            continue;
        }
        for (child, name) in subdirs {
            match snapshot_kind(&name) {
                Some(kind) => dirs.push((child, kind)),
                None if STATE_DIRS.contains(&name.as_str()) => {}
                None => pending.push(child),
            }
        }
    }
    Ok(dirs)
}

/// What the listing of one snapshot directory shows: its files, their bytes, and whether
/// `_metadata` is there.
pub(crate) async fn survey(
    storage: &dyn Storage,
    dir: Location,
    kind: &'static str,
) -> Result<SnapshotInfo> {
    let mut info = SnapshotInfo {
        id: dir
            .file_name()
            .and_then(|n| n.strip_prefix("chk-"))
            .and_then(|n| n.parse().ok()),
        location: dir.clone(),
        kind,
        complete: false,
        size: 0,
        own_size: 0,
        files: 0,
        external_size: 0,
        external_files: 0,
        modified: None,
        problem: None,
    };
    let mut listing = storage.list(&dir);
    while let Some(entry) = listing.try_next().await? {
        info.own_size += entry.size;
        info.files += 1;
        if entry.location.strip_prefix(&dir) == Some(METADATA_FILE) {
            info.complete = true;
            info.modified = entry.modified;
        } else if !info.complete {
            info.modified = info.modified.max(entry.modified);
        }
    }
    info.size = info.own_size;
    if !info.complete {
        info.problem = Some(if info.files == 0 {
            "empty: no files and no _metadata".to_string()
        } else {
            "no _metadata: Flink writes it last, so this snapshot is still being written, \
             failed or was abandoned"
                .to_string()
        });
    }
    Ok(info)
}

/// Reads the `_metadata` of every complete snapshot (ids, savepoint or not, usable or not, the
/// files it references outside its directory) and sorts them oldest first.
async fn finish(
    storage: &dyn Storage,
    mut snapshots: Vec<SnapshotInfo>,
) -> Result<Vec<SnapshotInfo>> {
    for info in snapshots.iter_mut().filter(|i| i.complete) {
        match open(storage, &info.location).await {
            Ok(snapshot) => {
                info.id = Some(snapshot.metadata.checkpoint_id);
                if let Some(props) = snapshot.metadata.properties() {
                    match props.kind {
                        Some(ferry_metadata::SnapshotKind::Savepoint) => info.kind = "savepoint",
                        Some(ferry_metadata::SnapshotKind::Checkpoint) => info.kind = "checkpoint",
                        None => {}
                    }
                }
                match closure::references(&snapshot) {
                    Ok(references) => {
                        let outside = closure::outside(&snapshot.dir, &references);
                        info.external_files = outside.files;
                        info.external_size = outside.bytes;
                        info.size = info.own_size + outside.bytes;
                    }
                    Err(err) => {
                        info.complete = false;
                        info.problem = Some(err.to_string());
                    }
                }
            }
            Err(err) => {
                info.complete = false;
                info.problem = Some(err.to_string());
            }
        }
    }
    snapshots.sort_by_key(|s| (s.modified, s.id));
    Ok(snapshots)
}

/// The newest complete snapshot under `root`.
pub async fn latest(storage: &dyn Storage, root: &Location) -> Result<SnapshotInfo> {
    list(storage, root)
        .await?
        .into_iter()
        .rev()
        .find(|s| s.complete)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("no complete snapshot under {root}"),
            )
        })
}
