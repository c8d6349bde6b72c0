//! Relative handles whose files are not in the snapshot directory, and where they really are.
//!
//! After a job is started from a **native** savepoint in claim mode CLAIM, its first
//! incremental checkpoints reuse SST files that still lie in the savepoint's directory but
//! record them as **relative** handles (file name only, FLINK-39964, Flink 1.15 – 2.3). Flink
//! then looks for them in `chk-N/` and fails with `FileNotFoundException …/chk-N/<uuid>`. The
//! data is intact: files of those names and sizes are in the savepoint's directory.
//!
//! * [`missing_relative`] — the relative references whose file is absent from the snapshot
//!   directory.
//! * [`default_roots`] — where ferry looks when the user names no root.
//! * [`search`] — resolves each missing reference by a file of the **same name and recorded
//!   size** under the roots. Never guesses: no size recorded, no candidate, a candidate of
//!   another size, or two candidates that are not provably identical (same store checksum)
//!   leave the reference unresolved, with the candidates listed.
//! * [`repair`] — `ferry repair`: copies the found files into the snapshot directory (its
//!   `_metadata` is not touched), or says what it would copy.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::closure::{self, Reference};
use super::snapshot::{self, Snapshot};
use super::verify;
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::registry::{BackendOptions, Registry};
use crate::storage::{Entry, Storage};
use crate::transfer::report::{CopyReport, Observer};
use crate::transfer::{self, CopyOptions, Endpoint, FileCopy};

/// The likely cause, in words, for reports.
pub const LIKELY_CAUSE: &str = "the job was restored in claim mode CLAIM from a native \
     savepoint: its incremental checkpoints name files that are still in the savepoint's \
     directory by relative name only (FLINK-39964), so Flink looks for them in the checkpoint \
     directory and fails with FileNotFoundException";

/// A file found for a missing relative reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The first metadata field that references it.
    pub breadcrumb: String,
    /// The file name the handle records.
    pub name: String,
    /// Where Flink looks for it (the snapshot directory).
    pub expected: Location,
    /// Where a file of that name and size was found.
    pub found: Location,
    /// Its size, equal to the recorded size.
    pub size: u64,
}

/// A file of the right name found under a root, for error reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Where.
    pub location: Location,
    /// Its size.
    pub size: u64,
}

/// A missing relative reference ferry could not resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    /// The first metadata field that references it.
    pub breadcrumb: String,
    /// The file name the handle records.
    pub name: String,
    /// Where Flink looks for it.
    pub expected: Location,
    /// The size the metadata records (`None`: unknown).
    pub size: Option<u64>,
    /// Files of that name under the roots.
    pub candidates: Vec<Candidate>,
    /// Why it is not resolved.
    pub reason: String,
}

/// The outcome of a [`search`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Search {
    /// The roots searched (recursively).
    pub roots: Vec<Location>,
    /// Resolved references.
    pub found: Vec<Found>,
    /// Unresolved references.
    pub unresolved: Vec<Unresolved>,
}

impl Search {
    /// The directories the found files are in, with how many each: the `--search` roots that
    /// repair exactly these files.
    pub fn found_in(&self) -> BTreeMap<String, usize> {
        let mut dirs = BTreeMap::new();
        for found in &self.found {
            let dir = found.found.parent().unwrap_or_else(|| found.found.clone());
            *dirs.entry(dir.to_string()).or_default() += 1;
        }
        dirs
    }

    /// An error describing every unresolved reference (the first three with their
    /// candidates), or `None` when all were resolved.
    pub fn error(&self) -> Option<Error> {
        let first = self.unresolved.first()?;
        let mut text = format!(
            "{} of {} relative references whose files are missing from the snapshot directory \
             cannot be resolved by a file of the same name and recorded size under {}: ",
            self.unresolved.len(),
            self.unresolved.len() + self.found.len(),
            describe(&self.roots)
        );
        let details: Vec<String> = self
            .unresolved
            .iter()
            .take(3)
            .map(|u| format!("{} ({}): {}", u.name, u.breadcrumb, u.reason))
            .collect();
        text.push_str(&details.join("; "));
        if self.unresolved.len() > 3 {
            text.push_str(&format!("; and {} more", self.unresolved.len() - 3));
        }
        text.push_str(" (nothing was written)");
        let kind = if first.candidates.is_empty() {
            ErrorKind::NotFound
        } else {
            ErrorKind::InvalidInput
        };
        Some(Error::new(kind, text))
    }
}

fn describe(roots: &[Location]) -> String {
    if roots.is_empty() {
        return "no root".into();
    }
    roots
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The relative references of `references` whose file is absent from the snapshot directory
/// on `storage` (relative handles always resolve on the snapshot's own store).
pub async fn missing_relative(
    storage: &dyn Storage,
    references: &[Reference],
) -> Result<Vec<Reference>> {
    let checks: Vec<(Result<Entry>, &Reference)> =
        futures::stream::iter(references.iter().filter(|r| r.relative))
            .map(|r| async move { (storage.stat(&r.location).await, r) })
            .buffered(32)
            .collect()
            .await;
    let mut missing = Vec::new();
    for (entry, reference) in checks {
        match entry {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::NotFound && !err.is_store_unreachable() => {
                missing.push(reference.clone())
            }
            Err(err) => return Err(err),
        }
    }
    Ok(missing)
}

/// Where ferry looks for missing relative files when no root is named:
///
/// * for a checkpoint `<base>/<job-id>/chk-N`: the checkpoint base `<base>` (every job
///   directory beside the snapshot's, and a `savepoints` directory inside the base), and
///   each directory beside the base whose name contains `savepoint` (`<base>/../savepoints`:
///   Flink's usual `state.savepoints.dir` next to `state.checkpoints.dir`);
/// * for any other snapshot directory: its parent (the snapshots beside it).
///
/// A root that is the top of its store is never searched.
pub async fn default_roots(
    storage: &dyn Storage,
    snapshot_dir: &Location,
) -> Result<Vec<Location>> {
    let usable = |l: &Location| !l.is_root() && !l.path().trim_matches('/').is_empty();
    let is_checkpoint = snapshot_dir
        .file_name()
        .and_then(|n| n.strip_prefix("chk-"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let mut roots = Vec::new();
    if !is_checkpoint {
        roots.extend(snapshot_dir.parent().filter(usable));
        return Ok(roots);
    }
    let Some(base) = snapshot_dir
        .parent()
        .and_then(|job| job.parent())
        .filter(usable)
    else {
        return Ok(roots);
    };
    roots.push(base.clone());
    if let Some(above) = base.parent().filter(usable) {
        let mut children: Vec<Location> = storage
            .list_dir(&above)
            .try_filter_map(|e| async move {
                let named = e
                    .location
                    .file_name()
                    .is_some_and(|n| n.to_ascii_lowercase().contains("savepoint"));
                Ok((e.is_dir() && named).then_some(e.location))
            })
            .try_collect()
            .await?;
        children.sort();
        roots.extend(children.into_iter().filter(|c| *c != base));
    }
    Ok(roots)
}

/// Resolves each of `missing` (relative references absent from `snapshot_dir`) by a file of
/// the same name and recorded size under `roots` (listed recursively; files inside the
/// snapshot directory are not candidates). Roots on other stores than `storage`'s are opened
/// through `registry` with `options`.
pub async fn search(
    registry: &Registry,
    options: &BackendOptions,
    storage: Arc<dyn Storage>,
    snapshot_dir: &Location,
    missing: &[Reference],
    roots: &[Location],
) -> Result<Search> {
    let wanted: HashSet<&str> = missing
        .iter()
        .filter_map(|r| r.location.file_name())
        .collect();
    let mut candidates: HashMap<String, BTreeMap<Location, Entry>> = HashMap::new();
    for root in roots {
        let store = if root.same_store(snapshot_dir) {
            storage.clone()
        } else {
            registry.open(root, options).await?
        };
        let mut listing = store.list(root);
        loop {
            let entry = match listing.try_next().await {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                // A root that does not exist holds no candidate.
                Err(err) if err.kind() == ErrorKind::NotFound => break,
                Err(err) => return Err(err),
            };
            if entry.is_dir() || entry.location.strip_prefix(snapshot_dir).is_some() {
                continue;
            }
            let Some(name) = entry.location.file_name() else {
                continue;
            };
            if wanted.contains(name) {
                candidates
                    .entry(name.to_string())
                    .or_default()
                    .insert(entry.location.clone(), entry);
            }
        }
    }
    let mut result = Search {
        roots: roots.to_vec(),
        ..Search::default()
    };
    for reference in missing {
        let name = reference
            .location
            .file_name()
            .unwrap_or_default()
            .to_string();
        let all: Vec<&Entry> = candidates
            .get(&name)
            .map(|c| c.values().collect())
            .unwrap_or_default();
        let listed = || {
            all.iter()
                .map(|e| Candidate {
                    location: e.location.clone(),
                    size: e.size,
                })
                .collect::<Vec<_>>()
        };
        let unresolved = |reason: String, candidates: Vec<Candidate>| Unresolved {
            breadcrumb: reference.breadcrumb.clone(),
            name: name.clone(),
            expected: reference.location.clone(),
            size: reference.size,
            candidates,
            reason,
        };
        let Some(size) = reference.size else {
            result.unresolved.push(unresolved(
                "the metadata records no size, and ferry repairs only by name and size".into(),
                listed(),
            ));
            continue;
        };
        let matching: Vec<&&Entry> = all.iter().filter(|e| e.size == size).collect();
        let identical = matching.len() > 1
            && matching[0].checksum.is_some()
            && matching.iter().all(|e| e.checksum == matching[0].checksum);
        match matching.len() {
            1 => {}
            _ if identical => {}
            0 if all.is_empty() => {
                result.unresolved.push(unresolved(
                    format!("no file of that name under {}", describe(roots)),
                    Vec::new(),
                ));
                continue;
            }
            0 => {
                let sizes: Vec<String> = all
                    .iter()
                    .map(|e| format!("{} has {} bytes", e.location, e.size))
                    .collect();
                result.unresolved.push(unresolved(
                    format!(
                        "the metadata records {size} bytes, but {}",
                        sizes.join(", ")
                    ),
                    listed(),
                ));
                continue;
            }
            n => {
                let places: Vec<String> = matching.iter().map(|e| e.location.to_string()).collect();
                result.unresolved.push(unresolved(
                    format!(
                        "{n} files of that name and size, not known to be identical: {}",
                        places.join(", ")
                    ),
                    listed(),
                ));
                continue;
            }
        }
        result.found.push(Found {
            breadcrumb: reference.breadcrumb.clone(),
            name,
            expected: reference.location.clone(),
            found: matching[0].location.clone(),
            size,
        });
    }
    Ok(result)
}

/// What `ferry repair` did or would do.
#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    /// The snapshot directory.
    pub snapshot: Location,
    /// Relative references whose files were missing from it.
    pub missing: usize,
    /// The search: roots, and each repaired reference with where its file was found.
    pub search: Search,
    /// Whether files were copied into the snapshot directory (`--in-place`); otherwise a dry
    /// run.
    pub in_place: bool,
    /// The copy (with `in_place`).
    pub copy: Option<CopyReport>,
    /// After the copy: what `ferry verify` still finds wrong (empty: restorable).
    pub problems: Vec<String>,
}

/// `ferry repair`: finds the files of `named`'s missing relative references under `roots`
/// ([`default_roots`] when `None`) and, with `in_place`, copies them into the snapshot
/// directory under the names the handles record, then verifies the snapshot. `_metadata` is
/// never written. Fails, writing nothing, when any missing reference cannot be resolved.
#[allow(clippy::too_many_arguments)]
pub async fn repair(
    registry: &Registry,
    options: &BackendOptions,
    storage: Arc<dyn Storage>,
    named: &Location,
    roots: Option<Vec<Location>>,
    in_place: bool,
    copy_options: CopyOptions,
    observer: Arc<dyn Observer>,
) -> Result<RepairReport> {
    let snapshot: Snapshot = snapshot::open(storage.as_ref(), named).await?;
    let references = closure::references(&snapshot)?;
    let missing = missing_relative(storage.as_ref(), &references).await?;
    let roots = match roots {
        Some(roots) => roots,
        None => default_roots(storage.as_ref(), &snapshot.dir).await?,
    };
    let found = if missing.is_empty() {
        Search {
            roots: roots.clone(),
            ..Search::default()
        }
    } else {
        search(
            registry,
            options,
            storage.clone(),
            &snapshot.dir,
            &missing,
            &roots,
        )
        .await?
    };
    if let Some(err) = found.error() {
        return Err(err);
    }
    let mut report = RepairReport {
        snapshot: snapshot.dir.clone(),
        missing: missing.len(),
        search: found,
        in_place,
        copy: None,
        problems: Vec::new(),
    };
    if !in_place || report.search.found.is_empty() {
        return Ok(report);
    }
    // Group by the store the found files are on.
    let mut groups: Vec<(Arc<dyn Storage>, Location, Vec<FileCopy>)> = Vec::new();
    for found in &report.search.found {
        let store = if found.found.same_store(&snapshot.dir) {
            storage.clone()
        } else {
            registry.open(&found.found, options).await?
        };
        let entry = store.stat(&found.found).await?;
        let copy = FileCopy {
            source: entry,
            target: found.expected.clone(),
            key: found.name.clone(),
        };
        match groups.iter_mut().find(|(s, _, _)| Arc::ptr_eq(s, &store)) {
            Some((_, _, files)) => files.push(copy),
            None => groups.push((store, found.found.clone(), vec![copy])),
        }
    }
    let job = format!("repair\n{}", snapshot.dir);
    let mut total = CopyReport::default();
    for (store, any, files) in groups {
        let from = Endpoint {
            storage: store,
            location: any.parent().unwrap_or(any),
        };
        let to = Endpoint {
            storage: storage.clone(),
            location: snapshot.dir.clone(),
        };
        let part = transfer::copy_files(
            from,
            to,
            files,
            &job,
            copy_options.clone(),
            observer.clone(),
        )
        .await?;
        super::migrate::merge(&mut total, part);
    }
    total.destination = snapshot.dir.to_string();
    let failed = total.files_failed;
    report.copy = Some(total);
    if failed > 0 {
        report.problems.push(format!(
            "{failed} files failed to copy (run the same command again)"
        ));
        return Ok(report);
    }
    let verified = verify::check(registry, options, storage, &snapshot, false).await?;
    report.problems = verified
        .problems
        .iter()
        .map(|p| format!("{}: {} ({})", p.path, p.problem, p.referenced_by))
        .collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;

    fn loc(s: &str) -> Location {
        Location::parse(s).unwrap()
    }

    fn missing(dir: &str, name: &str, size: Option<u64>) -> Reference {
        Reference {
            location: loc(dir).join(name),
            size,
            exact_size: true,
            relative: true,
            inside: true,
            handles: 1,
            breadcrumb: format!("operator[0].subtask[0].managed_keyed_state.shared[{name}]"),
        }
    }

    const DIR: &str = "mem://t/cp/job2/chk-3";

    async fn run(store: &MemoryStorage, refs: &[Reference], roots: &[&str]) -> Search {
        let registry = Registry::new().with(crate::memory::register);
        let roots: Vec<Location> = roots.iter().map(|r| loc(r)).collect();
        search(
            &registry,
            &BackendOptions::new(),
            Arc::new(store.clone()),
            &loc(DIR),
            refs,
            &roots,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn resolves_by_name_and_size_only() {
        let store = MemoryStorage::new("t");
        store.insert(&loc("mem://t/savepoints/sp-1/a"), vec![1u8; 10]);
        store.insert(&loc("mem://t/savepoints/sp-1/b"), vec![2u8; 7]);
        // Inside the snapshot directory: never a candidate.
        store.insert(&loc("mem://t/cp/job2/chk-3/sub/c"), vec![3u8; 4]);
        let refs = [
            missing(DIR, "a", Some(10)),
            missing(DIR, "b", Some(8)),
            missing(DIR, "c", Some(4)),
            missing(DIR, "a", None),
        ];
        let found = run(&store, &refs, &["mem://t/savepoints", "mem://t/cp"]).await;
        assert_eq!(found.found.len(), 1);
        assert_eq!(found.found[0].found, loc("mem://t/savepoints/sp-1/a"));
        assert_eq!(found.found[0].expected, loc(DIR).join("a"));
        let reasons: Vec<&str> = found.unresolved.iter().map(|u| u.reason.as_str()).collect();
        assert!(reasons[0].contains("records 8 bytes"), "{reasons:?}");
        assert_eq!(found.unresolved[0].candidates.len(), 1);
        assert!(
            reasons[1].starts_with("no file of that name"),
            "{reasons:?}"
        );
        assert!(reasons[2].contains("records no size"), "{reasons:?}");
        let err = found.error().unwrap();
        assert!(err.message().contains("3 of 4"), "{}", err.message());
        assert!(err.message().contains("nothing was written"));
        assert_eq!(
            found.found_in().into_iter().collect::<Vec<_>>(),
            [("mem://t/savepoints/sp-1".to_string(), 1)]
        );
    }

    #[tokio::test]
    async fn two_candidates_resolve_only_when_the_store_reports_them_identical() {
        let store = MemoryStorage::new("t");
        store.insert(&loc("mem://t/savepoints/sp-1/a"), vec![1u8; 10]);
        store.insert(&loc("mem://t/backup/sp-1/a"), vec![1u8; 10]);
        store.insert(&loc("mem://t/savepoints/sp-1/b"), vec![1u8; 10]);
        store.insert(&loc("mem://t/backup/sp-1/b"), vec![9u8; 10]);
        let refs = [missing(DIR, "a", Some(10)), missing(DIR, "b", Some(10))];
        let found = run(&store, &refs, &["mem://t/savepoints", "mem://t/backup"]).await;
        assert_eq!(found.found.len(), 1, "{found:?}");
        assert_eq!(found.found[0].name, "a");
        assert_eq!(found.unresolved.len(), 1);
        assert!(found.unresolved[0]
            .reason
            .starts_with("2 files of that name and size"));
        assert_eq!(found.unresolved[0].candidates.len(), 2);
        // Overlapping roots list a file once.
        let once = run(&store, &refs[..1], &["mem://t/savepoints", "mem://t"]).await;
        assert_eq!(once.found.len(), 1);
    }

    #[tokio::test]
    async fn default_roots_are_the_checkpoint_base_and_savepoint_directories_beside_it() {
        let store = MemoryStorage::new("t");
        store.insert(&loc("mem://t/flink/cp/job2/chk-3/_metadata"), vec![0u8; 1]);
        store.insert(&loc("mem://t/flink/savepoints/sp-1/x"), vec![0u8; 1]);
        store.insert(&loc("mem://t/flink/my-savepoint-dir/sp-2/x"), vec![0u8; 1]);
        store.insert(&loc("mem://t/flink/other/x"), vec![0u8; 1]);
        let roots = default_roots(&store, &loc("mem://t/flink/cp/job2/chk-3"))
            .await
            .unwrap();
        let roots: Vec<String> = roots.iter().map(ToString::to_string).collect();
        assert_eq!(
            roots,
            [
                "mem://t/flink/cp",
                "mem://t/flink/my-savepoint-dir",
                "mem://t/flink/savepoints"
            ]
        );
        let roots = default_roots(&store, &loc("mem://t/flink/savepoints/sp-1"))
            .await
            .unwrap();
        assert_eq!(roots, [loc("mem://t/flink/savepoints")]);
        // Never the top of a store.
        let roots = default_roots(&store, &loc("mem://t/job2/chk-3"))
            .await
            .unwrap();
        assert!(roots.is_empty(), "{roots:?}");
    }
}
