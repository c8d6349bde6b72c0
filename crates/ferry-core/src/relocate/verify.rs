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
use super::repair;
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
    /// Relative handles whose files are missing from the snapshot directory, and where files
    /// of those names and recorded sizes were found (the FLINK-39964 pattern); `None` when no
    /// relative file is missing.
    pub missing_relative: Option<MissingRelative>,
}

/// Relative references missing from the snapshot directory, searched for under the default
/// roots ([`repair::default_roots`]).
#[derive(Debug, Clone, Serialize)]
pub struct MissingRelative {
    /// How many relative references are missing.
    pub files: usize,
    /// The search: the roots listed, the references resolved (with where) and not.
    pub search: repair::Search,
    /// Directories holding the found files, with counts.
    pub found_in: BTreeMap<String, usize>,
    /// The likely cause, when every missing file was found elsewhere.
    pub likely_cause: Option<String>,
    /// The command that copies the found files where Flink looks for them.
    pub repair_command: Option<String>,
    /// The command that migrates the snapshot to a self-contained copy instead.
    pub migrate_command: Option<String>,
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
    let mut report = check(registry, options, storage.clone(), &snapshot, deep).await?;
    let references = closure::references(&snapshot)?;
    let missing: Vec<Reference> = references
        .into_iter()
        .filter(|r| {
            r.relative
                && report
                    .problems
                    .iter()
                    .any(|p| p.path == r.location && p.problem == "missing")
        })
        .collect();
    if missing.is_empty() {
        return Ok(report);
    }
    let searched = async {
        let roots = repair::default_roots(storage.as_ref(), &snapshot.dir).await?;
        repair::search(
            registry,
            options,
            storage.clone(),
            &snapshot.dir,
            &missing,
            &roots,
        )
        .await
    }
    .await;
    match searched {
        Ok(search) => {
            let found_in = search.found_in();
            let all_found = search.unresolved.is_empty();
            let roots: Vec<String> = found_in
                .keys()
                .map(|r| format!(" --search {}", shell_word(r)))
                .collect();
            let dir = shell_word(&snapshot.dir.to_string());
            report.missing_relative = Some(MissingRelative {
                files: missing.len(),
                likely_cause: all_found.then(|| repair::LIKELY_CAUSE.to_string()),
                repair_command: all_found
                    .then(|| format!("ferry repair {dir}{} --in-place", roots.concat())),
                migrate_command: all_found
                    .then(|| format!("ferry migrate {dir} DESTINATION{}", roots.concat())),
                found_in,
                search,
            });
        }
        Err(err) => report.warnings.push(format!(
            "{} relative references are missing from the snapshot directory; searching for \
             them failed: {err}",
            missing.len()
        )),
    }
    Ok(report)
}

/// `text` quoted for a POSIX shell when it holds anything but safe characters.
fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/:._-=@%+,".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
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
        missing_relative: None,
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
