//! `ferry migrate`: move a snapshot to another place (any store), rewrite its paths, verify.
//!
//! Order, and why:
//! 1. **Plan** — decode `_metadata`, find its closure, place every file ([`Layout`]), rewrite
//!    every path in memory and encode the new `_metadata`. Anything wrong (a missing or
//!    truncated source file, a path over Java's 65 535-byte limit, a destination inside the
//!    snapshot directory or containing it, a different complete snapshot at the destination)
//!    fails here, before anything is written. A destination whose `_metadata` is exactly the
//!    one this run would write, with every referenced file present, is reported complete
//!    (`already_complete`) and left alone.
//! 2. **Copy** every file with the transfer engine (parallel, CRC32C-verified, resumable; files
//!    already identical at the destination are skipped).
//! 3. **Write `_metadata` last**, atomically: it is Flink's completion marker.
//! 4. **Read it back**, decode it, and check every file it references exists at the destination
//!    with the recorded size, and that no reference points at the source any more. If anything
//!    fails, the destination's `_metadata` is removed again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::closure::{self, Reference};
use super::layout::{Anchor, Layout};
use super::snapshot::{self, Snapshot};
use super::{flink_path, parse_flink_path, verify, METADATA_FILE};
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::registry::{BackendOptions, Registry};
use crate::storage::{put_atomic, read_to_bytes, Entry, Storage};
use crate::transfer::report::{CopyReport, Observer};
use crate::transfer::{self, is_temp_name, CopyOptions, Endpoint, FileCopy};

/// Options of a migration.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// Transfer settings (concurrency, parts, memory, retries, verification, journal).
    pub copy: CopyOptions,
    /// Where external files (the job's `shared/`, `taskowned/`, …) go instead of the
    /// destination's parent.
    pub external_root: Option<Location>,
    /// Scheme to write into the metadata instead of the destination's (`s3a` for `s3p`).
    pub scheme: Option<String>,
    /// Copy only referenced files, not the other files of the snapshot directory.
    pub referenced_only: bool,
    /// Replace a complete snapshot already at the destination.
    pub force: bool,
    /// Keep inline-handle names (S-1) as they are instead of rewriting them.
    pub keep_inline_names: bool,
    /// Where files are read from when the source's checkpoint base was copied without
    /// rewriting ([`closure::choose_sources`]).
    pub external_source: closure::ExternalSource,
    /// Roots to search for the files of relative handles missing from the snapshot directory
    /// (`--search`, see [`super::repair`]); empty: no search, a missing file is an error.
    pub search: Vec<Location>,
}

/// One file of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// Source.
    pub from: Location,
    /// Destination.
    pub to: Location,
    /// Bytes.
    pub size: u64,
    /// Whether `_metadata` references it.
    pub referenced: bool,
    /// Which layout rule placed it.
    pub anchor: Anchor,
}

/// A prefix the rewrite replaces, with how many metadata fields it changed (or files it moves).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrefixMove {
    /// Old prefix.
    pub from: String,
    /// New prefix.
    pub to: String,
    /// Metadata fields rewritten (rewrites) or files moved (external roots).
    pub count: usize,
}

/// What a migration does.
#[derive(Debug, Clone, Serialize)]
pub struct MigratePlan {
    /// The source snapshot directory.
    pub source: Location,
    /// The destination snapshot directory.
    pub destination: Location,
    /// Metadata format version.
    pub format_version: i32,
    /// Checkpoint id.
    pub checkpoint_id: i64,
    /// Every file to copy.
    pub files: Vec<PlannedFile>,
    /// Their bytes.
    pub bytes: u64,
    /// Files in the snapshot directory that nothing references (copied unless
    /// `referenced_only`).
    pub unreferenced: Vec<Location>,
    /// Roots outside the snapshot directory and where they go.
    pub external_roots: Vec<PrefixMove>,
    /// Path-prefix rewrites in `_metadata`, with field counts.
    pub rewrites: Vec<PrefixMove>,
    /// The command that restores from the destination.
    pub restore_command: String,
    /// The path to restore from (`flink run -s PATH`, `execution.state-recovery.path`): the
    /// destination in Flink's URI form.
    pub restore_path: String,
    /// When the source's checkpoint base was copied elsewhere as a whole before this run: the
    /// old base its `_metadata` still names, the snapshot's current base, and how many
    /// referenced files `_metadata` names under the old base.
    pub source_moved: Option<PrefixMove>,
    /// With `source_moved`: per external root, whether its files were read from beside the
    /// snapshot or from the old base, and why.
    pub external_sources: Vec<closure::SourceChoice>,
    /// Relative references whose files were missing from the snapshot directory and were
    /// found under the `--search` roots by name and size: copied into the destination
    /// snapshot directory as ordinary relative files.
    pub repaired: Vec<super::repair::Found>,
    /// The roots searched (`--search`).
    pub searched: Vec<Location>,
}

/// The outcome of a migration.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The plan.
    pub plan: MigratePlan,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The copy (absent in a dry run).
    pub copy: Option<CopyReport>,
    /// Whether `_metadata` was written and verified: the destination is complete.
    pub complete: bool,
    /// The destination already held exactly what this migration writes, complete and
    /// verified (a re-run after a stopped run): nothing was copied or written.
    pub already_complete: bool,
    /// Files verified at the destination after `_metadata` was written.
    pub verified_files: usize,
    /// What went wrong, if the migration is not complete.
    pub problems: Vec<String>,
}

struct Planned {
    plan: MigratePlan,
    metadata: Bytes,
    copies: Vec<(Arc<dyn Storage>, FileCopy)>,
    layout: Layout,
}

/// Migrates the snapshot `source` (directory, `chk-N`, or `_metadata`) to the directory
/// `destination`. `source_options` open stores of referenced files outside the source's own
/// store. Returns the report; `Err` only for failures before anything was written.
pub async fn migrate(
    registry: &Registry,
    source: Endpoint,
    source_options: &BackendOptions,
    destination: Endpoint,
    options: MigrateOptions,
    observer: Arc<dyn Observer>,
) -> Result<MigrateReport> {
    let no_announcement = |_: &MigratePlan| {};
    migrate_announcing_plan(
        registry,
        source,
        source_options,
        destination,
        options,
        observer,
        no_announcement,
    )
    .await
}

/// [`migrate`], calling `on_plan` with the plan once it is made, before anything is copied
/// (so that a long run says what it is about to do first).
pub async fn migrate_announcing_plan(
    registry: &Registry,
    source: Endpoint,
    source_options: &BackendOptions,
    destination: Endpoint,
    options: MigrateOptions,
    observer: Arc<dyn Observer>,
    on_plan: impl FnOnce(&MigratePlan),
) -> Result<MigrateReport> {
    let snapshot = snapshot::open(source.storage.as_ref(), &source.location).await?;
    refuse_overlap(&source, &snapshot.dir, &destination)?;
    let dst_metadata = destination.location.join(METADATA_FILE);
    let existing = match destination.storage.stat(&dst_metadata).await {
        Ok(_) => true,
        Err(err) if err.kind() == ErrorKind::NotFound => false,
        Err(err) => return Err(err),
    };
    let planned = plan(
        registry,
        &source,
        source_options,
        &snapshot,
        &destination,
        &options,
    )
    .await?;
    // The destination already holds what this run would write (an earlier run was stopped
    // after writing `_metadata`, during its read-back): check it, and report it complete.
    let already = if existing && !options.force {
        let verified = already_complete(registry, &destination, &planned, &snapshot).await?;
        Some(verified)
    } else {
        None
    };
    on_plan(&planned.plan);
    let mut report = MigrateReport {
        plan: planned.plan,
        dry_run: options.copy.dry_run,
        copy: None,
        complete: false,
        already_complete: false,
        verified_files: 0,
        problems: Vec::new(),
    };
    if let Some(verified_files) = already {
        report.complete = !report.dry_run;
        report.already_complete = true;
        report.verified_files = verified_files;
        return Ok(report);
    }
    if options.copy.dry_run {
        return Ok(report);
    }
    if existing {
        // Replacing: the destination is incomplete from now until the new _metadata is written.
        destination.storage.delete(&dst_metadata).await?;
    }

    // 2. Copy, grouped by source store.
    let job = format!("migrate\n{}\n{}", snapshot.dir, destination.location);
    let mut groups: Vec<(Arc<dyn Storage>, Vec<FileCopy>)> = Vec::new();
    for (store, copy) in planned.copies {
        match groups.iter_mut().find(|(s, _)| Arc::ptr_eq(s, &store)) {
            Some((_, files)) => files.push(copy),
            None => groups.push((store, vec![copy])),
        }
    }
    let copy_options = CopyOptions {
        skip_identical: true,
        ..options.copy.clone()
    };
    let mut total = CopyReport::default();
    for (store, files) in groups {
        let from = Endpoint {
            storage: store,
            location: snapshot.dir.clone(),
        };
        let part = transfer::copy_files(
            from,
            destination.clone(),
            files,
            &job,
            copy_options.clone(),
            observer.clone(),
        )
        .await?;
        merge(&mut total, part);
    }
    total.source = snapshot.dir.to_string();
    total.destination = destination.location.to_string();
    let failed = total.files_failed;
    report.copy = Some(total);
    if failed > 0 {
        report.problems.push(format!(
            "{failed} files failed to copy; _metadata was not written (run the same command \
             again to resume)"
        ));
        return Ok(report);
    }

    // 3. _metadata last (retried like any file: one 500 must not fail a finished copy).
    let storage = destination.storage.as_ref();
    (options.copy.retry)
        .run("write _metadata", || {
            put_atomic(storage, &dst_metadata, planned.metadata.clone())
        })
        .await?;

    // 4. Read back and verify; remove _metadata again if anything is wrong.
    let problems = check_written(
        registry,
        &destination,
        &planned.metadata,
        &planned.layout,
        snapshot.metadata.layout,
    )
    .await;
    match problems {
        Ok((files, problems)) if problems.is_empty() => {
            report.verified_files = files;
            report.complete = true;
        }
        Ok((_, problems)) => {
            let _ = destination.storage.delete(&dst_metadata).await;
            report.problems = problems;
        }
        Err(err) => {
            let _ = destination.storage.delete(&dst_metadata).await;
            report.problems.push(err.to_string());
        }
    }
    Ok(report)
}

/// Refuses a destination that is the snapshot directory, lies inside it, or contains it:
/// the copy would write into the snapshot being read (or `_metadata` over the source's).
fn refuse_overlap(source: &Endpoint, dir: &Location, destination: &Endpoint) -> Result<()> {
    use crate::transfer::overlap::{overlap, Overlap};
    let snapshot = Endpoint {
        storage: source.storage.clone(),
        location: dir.clone(),
    };
    let why = match overlap(&snapshot, destination) {
        None => return Ok(()),
        Some(Overlap::Same) => "source and destination are the same",
        Some(Overlap::DestinationInside) => "destination is inside the source snapshot",
        Some(Overlap::SourceInside) => "the source snapshot is inside the destination",
    };
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{why}: cannot migrate {dir} to {}; choose a destination outside the snapshot \
             directory (nothing was written)",
            destination.location
        ),
    ))
}

/// For a destination that already has a `_metadata` (and no `--force`): the number of files
/// verified when that `_metadata` is byte-identical to what this migration would write and
/// every file it references is there with its recorded size (the same command, re-run after
/// a run was stopped during its read-back); an `AlreadyExists` error otherwise.
async fn already_complete(
    registry: &Registry,
    destination: &Endpoint,
    planned: &Planned,
    snapshot: &Snapshot,
) -> Result<usize> {
    let dst_metadata = destination.location.join(METADATA_FILE);
    let existing = read_to_bytes(destination.storage.as_ref(), &dst_metadata, None).await?;
    let different = || {
        Error::new(
            ErrorKind::AlreadyExists,
            "a different complete snapshot is already at the destination (pass --force to \
             replace it)",
        )
        .with_context("path", &dst_metadata)
    };
    if existing != planned.metadata {
        return Err(different());
    }
    let (files, problems) = check_written(
        registry,
        destination,
        &planned.metadata,
        &planned.layout,
        snapshot.metadata.layout,
    )
    .await?;
    if let Some(first) = problems.first() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "the destination's _metadata is this migration's, but {} of its checks fail \
                 (first: {first}); pass --force to copy again",
                problems.len()
            ),
        )
        .with_context("path", &dst_metadata));
    }
    Ok(files)
}

pub(super) fn merge(total: &mut CopyReport, part: CopyReport) {
    total.files_total += part.files_total;
    total.files_copied += part.files_copied;
    total.files_skipped += part.files_skipped;
    total.files_special += part.files_special;
    total.files_already_there += part.files_already_there;
    total.files_failed += part.files_failed;
    total.bytes_total += part.bytes_total;
    total.bytes_copied += part.bytes_copied;
    total.bytes_skipped += part.bytes_skipped;
    total.server_side_copies += part.server_side_copies;
    total.duration_seconds += part.duration_seconds;
    total.peak_buffered_bytes = total.peak_buffered_bytes.max(part.peak_buffered_bytes);
    total.failures.extend(part.failures);
    total.skipped.extend(part.skipped);
    total.journal = total.journal.take().or(part.journal);
    total.throughput_bytes_per_second = if total.duration_seconds > 0.0 {
        total.bytes_copied as f64 / total.duration_seconds
    } else {
        0.0
    };
}

/// Plans the migration: closure, placement, rewrite, and a stat of every source file.
async fn plan(
    registry: &Registry,
    source: &Endpoint,
    source_options: &BackendOptions,
    snapshot: &Snapshot,
    destination: &Endpoint,
    options: &MigrateOptions,
) -> Result<Planned> {
    let layout = Layout::new(
        &snapshot.dir,
        &destination.location,
        options.external_root.as_ref(),
        options.scheme.as_deref(),
    )?;
    let mut references = closure::references(snapshot)?;
    let sources = closure::choose_sources(
        source.storage.as_ref(),
        &snapshot.dir,
        &mut references,
        options.external_source,
    )
    .await?;
    // Relative files missing from the snapshot directory: read from where --search finds them,
    // placed where the (unchanged) relative handles name them.
    let mut repaired = Vec::new();
    let mut repaired_as: HashMap<Location, Location> = HashMap::new();
    if !options.search.is_empty() {
        let missing = super::repair::missing_relative(source.storage.as_ref(), &references).await?;
        if !missing.is_empty() {
            let search = super::repair::search(
                registry,
                source_options,
                source.storage.clone(),
                &snapshot.dir,
                &missing,
                &options.search,
            )
            .await?;
            if let Some(err) = search.error() {
                return Err(err);
            }
            for found in &search.found {
                if let Some(r) = references.iter_mut().find(|r| r.location == found.expected) {
                    r.location = found.found.clone();
                }
                repaired_as.insert(found.found.clone(), found.expected.clone());
            }
            repaired = search.found;
        }
    }
    let moved = sources
        .as_ref()
        .map(|s| (s.old_base.clone(), s.current_base.clone()));
    let (metadata, rewrites) = rewrite(snapshot, &layout, options, moved.as_ref())?;

    let referenced: HashSet<&Location> = references.iter().map(|r| &r.location).collect();
    let mut unreferenced = Vec::new();
    let mut listing = source.storage.list(&snapshot.dir);
    let mut extra: Vec<Entry> = Vec::new();
    while let Some(entry) = listing.try_next().await? {
        let name = entry.location.file_name().unwrap_or_default();
        if entry.location == snapshot.metadata_location
            || is_temp_name(name)
            || referenced.contains(&entry.location)
        {
            continue;
        }
        unreferenced.push(entry.location.clone());
        if !options.referenced_only {
            extra.push(entry);
        }
    }
    unreferenced.sort();

    let entries = stat_references(registry, source, source_options, &references).await?;
    let mut copies = Vec::new();
    let mut files = Vec::new();
    let mut roots: BTreeMap<(String, String), usize> = BTreeMap::new();
    let all = entries
        .into_iter()
        .map(|(store, entry)| (store, entry, true))
        .chain(
            extra
                .into_iter()
                .map(|e| (source.storage.clone(), e, false)),
        );
    for (store, entry, is_referenced) in all {
        // Files read from a moved base's old place are placed as if read beside the snapshot.
        let placed_as = match (&sources, is_referenced) {
            _ if is_referenced && repaired_as.contains_key(&entry.location) => {
                &repaired_as[&entry.location]
            }
            (Some(sources), true) => sources.logical(&entry.location),
            _ => &entry.location,
        };
        let placement = layout.place(placed_as);
        let target = layout.physical(&placement.location, &destination.location);
        if placement.anchor != Anchor::Snapshot {
            *roots
                .entry((
                    placement.from_prefix.to_string(),
                    placement.to_prefix.to_string(),
                ))
                .or_default() += 1;
        }
        let key = target
            .strip_prefix(&destination.location)
            .map(str::to_string)
            .unwrap_or_else(|| target.to_string());
        files.push(PlannedFile {
            from: entry.location.clone(),
            to: target.clone(),
            size: entry.size,
            referenced: is_referenced,
            anchor: placement.anchor,
        });
        copies.push((
            store,
            FileCopy {
                source: entry,
                target,
                key,
            },
        ));
    }
    let published = layout.publish(&destination.location);
    let plan = MigratePlan {
        source: snapshot.dir.clone(),
        destination: destination.location.clone(),
        format_version: snapshot.metadata.version,
        checkpoint_id: snapshot.metadata.checkpoint_id,
        bytes: files.iter().map(|f| f.size).sum(),
        files,
        unreferenced,
        external_roots: roots
            .into_iter()
            .map(|((from, to), count)| PrefixMove { from, to, count })
            .collect(),
        rewrites,
        restore_command: format!(
            "flink run -s {} <your-job.jar> [args]",
            flink_path(&published)
        ),
        restore_path: flink_path(&published),
        source_moved: sources.as_ref().map(|s| PrefixMove {
            from: s.old_base.to_string(),
            to: s.current_base.to_string(),
            count: s.choices.iter().map(|c| c.files).sum(),
        }),
        external_sources: sources.map(|s| s.choices).unwrap_or_default(),
        repaired,
        searched: options.search.clone(),
    };
    Ok(Planned {
        plan,
        metadata,
        copies,
        layout,
    })
}

/// Rewrites every absolute path, directory and (unless kept) inline name in memory and
/// encodes the result. Relative handles stay relative.
fn rewrite(
    snapshot: &Snapshot,
    layout: &Layout,
    options: &MigrateOptions,
    moved: Option<&(Location, Location)>,
) -> Result<(Bytes, Vec<PrefixMove>)> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut failure: Option<Error> = None;
    let mut metadata = snapshot.metadata.clone();
    metadata
        .rewrite_paths(|path| {
            use ferry_metadata::PathKind;
            let text = path.value_str();
            let location = match path.kind() {
                PathKind::Relative => return None,
                PathKind::InlineHandleName if options.keep_inline_names => return None,
                // Inline names are free text: rewrite only those that are paths we move.
                PathKind::InlineHandleName => match Location::parse(&text) {
                    Ok(l) if text.contains(':') && layout.is_source(&l) => l,
                    _ => return None,
                },
                PathKind::Absolute | PathKind::Directory => {
                    match parse_flink_path(&text, &snapshot.dir) {
                        Ok(l) => l,
                        Err(err) => {
                            failure.get_or_insert(err);
                            return None;
                        }
                    }
                }
            };
            let location = moved
                .and_then(|(old, new)| location.replace_prefix(old, new))
                .unwrap_or(location);
            let placement = layout.place(&location);
            let new = flink_path(&placement.location);
            if new != text {
                *counts
                    .entry((
                        flink_path(&placement.from_prefix),
                        flink_path(&placement.to_prefix),
                    ))
                    .or_default() += 1;
            }
            Some(new)
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot rewrite the metadata: {e}"),
            )
        })?;
    if let Some(err) = failure {
        return Err(err);
    }
    let bytes = metadata.to_bytes().map_err(|e| {
        Error::new(
            ErrorKind::Unexpected,
            format!("cannot encode the rewritten metadata: {e}"),
        )
    })?;
    let rewrites = counts
        .into_iter()
        .map(|((from, to), count)| PrefixMove { from, to, count })
        .collect();
    Ok((Bytes::from(bytes), rewrites))
}

/// Stats every referenced file on its store; fails listing what is missing or truncated.
async fn stat_references(
    registry: &Registry,
    source: &Endpoint,
    options: &BackendOptions,
    references: &[Reference],
) -> Result<Vec<(Arc<dyn Storage>, Entry)>> {
    let mut stores: HashMap<(String, Option<String>), Arc<dyn Storage>> = HashMap::new();
    for reference in references {
        let key = (
            reference.location.scheme().to_string(),
            reference.location.authority().map(str::to_string),
        );
        if stores.contains_key(&key) {
            continue;
        }
        let store = if reference.location.same_store(&source.location) {
            source.storage.clone()
        } else {
            registry.open(&reference.location, options).await?
        };
        stores.insert(key, store);
    }
    let mut results = futures::stream::iter(references)
        .map(|reference| {
            let store = stores[&(
                reference.location.scheme().to_string(),
                reference.location.authority().map(str::to_string),
            )]
                .clone();
            async move {
                let entry = store.stat(&reference.location).await;
                (store, entry, reference)
            }
        })
        .buffered(32);
    let mut entries = Vec::with_capacity(references.len());
    let mut problems = Vec::new();
    let mut relative_missing = false;
    while let Some((store, entry, reference)) = results.next().await {
        match entry {
            Ok(entry) => {
                if let Some(size) = reference.size {
                    let wrong = if reference.exact_size {
                        entry.size != size
                    } else {
                        entry.size < size
                    };
                    if wrong {
                        problems.push(format!(
                            "{} has {} bytes but the metadata records {size} ({})",
                            reference.location, entry.size, reference.breadcrumb
                        ));
                    }
                }
                entries.push((store, entry));
            }
            Err(err) if err.kind() == ErrorKind::NotFound && !err.is_store_unreachable() => {
                relative_missing |= reference.relative;
                problems.push(format!(
                    "{} is missing ({})",
                    reference.location, reference.breadcrumb
                ))
            }
            // The first other error ends the plan (a store that cannot be reached fails the
            // migration once, not once per file).
            Err(err) => return Err(err),
        }
    }
    if let Some(first) = problems.first() {
        let hint = if relative_missing {
            " (relative files missing from the snapshot directory: `ferry verify` looks for \
             them; --search ROOT copies them from where they are)"
        } else {
            ""
        };
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "the source snapshot is incomplete: {} of {} referenced files are missing or \
                 truncated; first: {first}{hint}",
                problems.len(),
                references.len()
            ),
        ));
    }
    Ok(entries)
}

/// Reads the written `_metadata` back and checks it: same bytes, decodes, every referenced file
/// present with its size, nothing pointing at the source.
async fn check_written(
    registry: &Registry,
    destination: &Endpoint,
    expected: &Bytes,
    layout: &Layout,
    source_layout: ferry_metadata::Layout,
) -> Result<(usize, Vec<String>)> {
    let dst = destination.storage.as_ref();
    let metadata_location = destination.location.join(METADATA_FILE);
    let written = read_to_bytes(dst, &metadata_location, None).await?;
    if written != *expected {
        return Ok((
            0,
            vec!["the _metadata read back differs from what was written".into()],
        ));
    }
    // Decode with the source's layout: two V3 layouts can both parse one rewritten file.
    let metadata = ferry_metadata::decode_with_layout(&written, source_layout)
        .map_err(|e| super::metadata_error(&metadata_location, e))?;
    let snapshot = Snapshot {
        dir: destination.location.clone(),
        metadata_location,
        raw: written,
        metadata,
    };
    let mut problems = Vec::new();
    for path in snapshot.metadata.paths() {
        use ferry_metadata::PathKind;
        if matches!(path.kind(), PathKind::Absolute | PathKind::Directory) {
            let location = parse_flink_path(&path.value_str(), &snapshot.dir)?;
            let physical = layout.physical(&location, &destination.location);
            if layout.is_source(&physical) {
                problems.push(format!(
                    "{} still references the source: {location}",
                    path.breadcrumb
                ));
            }
        }
    }
    // Verify against the physical destination store (the published scheme may differ).
    let report = verify::check(
        registry,
        &BackendOptions::new(),
        destination.storage.clone(),
        &physical_snapshot(snapshot, layout, &destination.location),
        false,
    )
    .await?;
    problems.extend(
        report
            .problems
            .iter()
            .map(|p| format!("{}: {} ({})", p.path, p.problem, p.referenced_by)),
    );
    Ok((report.files, problems))
}

/// The snapshot as seen through the destination store's own scheme (when `--scheme` published
/// another spelling of the same store, references are checked on the store we wrote to).
fn physical_snapshot(mut snapshot: Snapshot, layout: &Layout, destination: &Location) -> Snapshot {
    let _ = snapshot.metadata.rewrite_paths(|path| {
        use ferry_metadata::PathKind;
        if !matches!(path.kind(), PathKind::Absolute) {
            return None;
        }
        let location = parse_flink_path(&path.value_str(), &snapshot.dir).ok()?;
        Some(flink_path(&layout.physical(&location, destination)))
    });
    snapshot
}
