//! `ferry verify`: the pre-flight check before `flink run -s`. Decodes `_metadata`, checks that
//! every referenced file is present with the size the metadata records (`deep`: and readable to
//! the last byte, matching the store's checksum where it reports one), and warns about
//! references outside the snapshot directory. Files are checked 32 at a time; an error saying a
//! store cannot be used at all (unreachable, credentials refused) ends the check at once with
//! that one error, rather than being reported per file.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use super::closure::{self, Reference};
use super::snapshot::{self, Snapshot};
use crate::checksum::{crc32c_append, Checksum, ChecksumKind};
use crate::error::{ErrorKind, Result};
use crate::location::Location;
use crate::registry::{BackendOptions, Registry};
use crate::storage::Storage;

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The file.
    pub path: Location,
    /// What is wrong.
    pub problem: String,
    /// The first metadata field that references it.
    pub referenced_by: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The snapshot directory.
    pub snapshot: Location,
    /// Metadata format version.
    pub format_version: i32,
    /// Checkpoint id.
    pub checkpoint_id: i64,
    /// Referenced files.
    pub files: usize,
    /// Their recorded bytes.
    pub bytes: u64,
    /// Files checked to the last byte (`deep`).
    pub deep_checked: usize,
    /// Files outside the snapshot directory, by external root.
    pub external_roots: BTreeMap<String, usize>,
    /// Referenced files outside the snapshot directory: moving or deleting them breaks the
    /// snapshot, and moving its directory alone does too.
    pub external_files: usize,
    /// Their recorded bytes.
    pub external_bytes: u64,
    /// Whether every referenced file lies inside the snapshot directory.
    pub self_contained: bool,
    /// Everything wrong; empty means restorable as far as files go.
    pub problems: Vec<Problem>,
    /// Warnings (not failures).
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the snapshot `named` (directory, `chk-N` or `_metadata`) on `storage`. Referenced
/// files on other stores are opened through `registry` with `options`.
pub async fn verify(
    registry: &Registry,
    options: &BackendOptions,
    storage: Arc<dyn Storage>,
    named: &Location,
    deep: bool,
) -> Result<VerifyReport> {
    let snapshot = snapshot::open(storage.as_ref(), named).await?;
    check(registry, options, storage, &snapshot, deep).await
}

/// Verifies an opened snapshot.
pub async fn check(
    registry: &Registry,
    options: &BackendOptions,
    storage: Arc<dyn Storage>,
    snapshot: &Snapshot,
    deep: bool,
) -> Result<VerifyReport> {
    let references = closure::references(snapshot)?;
    let mut report = VerifyReport {
        snapshot: snapshot.dir.clone(),
        format_version: snapshot.metadata.version,
        checkpoint_id: snapshot.metadata.checkpoint_id,
        files: references.len(),
        bytes: references.iter().filter_map(|r| r.size).sum(),
        deep_checked: 0,
        external_roots: BTreeMap::new(),
        external_files: 0,
        external_bytes: 0,
        self_contained: true,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    // Reported as data (`external_*`, `self_contained`); the CLI words it with the verdict.
    let outside = closure::outside(&snapshot.dir, &references);
    report.external_files = outside.files;
    report.external_bytes = outside.bytes;
    report.self_contained = outside.is_empty();
    report.external_roots = outside.roots;
    // At most CHECKS_IN_FLIGHT files at once; the first error that says a store cannot be
    // used at all (unreachable, credentials refused) ends the check, reported once, instead of
    // being paid for and printed once per file.
    let mut checks = futures::stream::iter(references.iter())
        .map(|reference| {
            let storage = storage.clone();
            async move {
                let store = if reference.location.same_store(&snapshot.dir) {
                    storage
                } else {
                    match registry.open(&reference.location, options).await {
                        Ok(store) => store,
                        Err(err) if err.is_store_unreachable() => return Err(err),
                        Err(err) => return Ok((Some(problem(reference, err.to_string())), false)),
                    }
                };
                check_file(store.as_ref(), reference, deep).await
            }
        })
        .buffer_unordered(CHECKS_IN_FLIGHT);
    while let Some(checked) = checks.next().await {
        let (problem, deep_checked) = checked?;
        report.deep_checked += usize::from(deep_checked);
        report.problems.extend(problem);
    }
    drop(checks);
    report.problems.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some((old, new)) = closure::moved_base(&snapshot.dir, &references) {
        let missing_there = report
            .problems
            .iter()
            .filter_map(|p| p.path.replace_prefix(&old, &new))
            .next();
        if let Some(current) = missing_there {
            if storage.stat(&current).await.is_ok() {
                report.warnings.push(format!(
                    "the snapshot was copied from {old} without rewriting its paths; its files \
                     are under {new}: run `ferry migrate` from here, or `ferry rewrite --map \
                     {old}={new}`"
                ));
            }
        }
    }
    Ok(report)
}

fn problem(reference: &Reference, text: String) -> Problem {
    Problem {
        path: reference.location.clone(),
        problem: text,
        referenced_by: reference.breadcrumb.clone(),
    }
}

/// Files checked at once.
const CHECKS_IN_FLIGHT: usize = 32;

/// Checks one file; returns the problem, if any, and whether it was read to the end. `Err`
/// only for an error about the store as a whole ([`crate::Error::is_store_unreachable`]).
async fn check_file(
    storage: &dyn Storage,
    reference: &Reference,
    deep: bool,
) -> Result<(Option<Problem>, bool)> {
    let entry = match storage.stat(&reference.location).await {
        Ok(entry) => entry,
        Err(err) if err.is_store_unreachable() => return Err(err),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Ok((Some(problem(reference, "missing".into())), false))
        }
        Err(err) => return Ok((Some(problem(reference, err.to_string())), false)),
    };
    Ok(check_entry(storage, reference, entry, deep).await)
}

/// [`check_file`] once the file's entry is known.
async fn check_entry(
    storage: &dyn Storage,
    reference: &Reference,
    entry: crate::storage::Entry,
    deep: bool,
) -> (Option<Problem>, bool) {
    match reference.size {
        Some(size) if reference.exact_size && entry.size != size => {
            let text = format!("has {} bytes, the metadata records {size}", entry.size);
            return (Some(problem(reference, text)), false);
        }
        Some(size) if entry.size < size => {
            let text = format!(
                "has {} bytes, less than the {size} the metadata records",
                entry.size
            );
            return (Some(problem(reference, text)), false);
        }
        _ => {}
    }
    if !deep {
        return (None, false);
    }
    let mut crc = 0u32;
    let mut len = 0u64;
    let read: Result<()> = async {
        let mut stream = storage.read(&reference.location, None).await?;
        while let Some(chunk) = futures::TryStreamExt::try_next(&mut stream).await? {
            crc = crc32c_append(crc, &chunk);
            len += chunk.len() as u64;
        }
        Ok(())
    }
    .await;
    if let Err(err) = read {
        return (
            Some(problem(reference, format!("unreadable: {err}"))),
            false,
        );
    }
    if len != entry.size {
        let text = format!("read {len} bytes of {}", entry.size);
        return (Some(problem(reference, text)), true);
    }
    let native = match entry.checksum {
        Some(Checksum::Crc32c(v)) => Some(v),
        _ if storage
            .capabilities()
            .native_checksums
            .contains(&ChecksumKind::Crc32c) =>
        {
            match storage
                .checksum(&reference.location, ChecksumKind::Crc32c)
                .await
            {
                Ok(Some(Checksum::Crc32c(v))) => Some(v),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(native) = native.filter(|v| *v != crc) {
        let text = format!("content crc32c {crc:08x} differs from the store's {native:08x}");
        return (Some(problem(reference, text)), true);
    }
    (None, true)
}
