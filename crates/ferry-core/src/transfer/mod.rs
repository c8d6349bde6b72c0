//! The transfer engine: copies a file or a tree from one [`Storage`] to another, in parallel,
//! verified, resumable, within a fixed memory budget.
//!
//! # How a copy runs
//! 1. **Resolve.** `stat` the source: a file is copied to the destination (or into it, when the
//!    destination is a directory); anything else is a tree, listed as a stream.
//! 2. **Plan each file** as it is listed ([`plan`]): skip it (the journal says an earlier run
//!    copied it, or the comparison [`compare`] asked for finds it unchanged), copy it server-side, copy it in parallel
//!    parts (ranged reads + multipart writes), stream it part by part, or copy it in one piece.
//! 3. **Copy** ([`copy_file`]): at most `concurrency` files at once, and within them at most
//!    `memory_budget` bytes of buffers at once ([`budget`], asked through [`buffers`], whose
//!    idle buffers hold budget too). Every byte read is CRC32C'd.
//! 4. **Verify** every file before it takes its final name: the destination's size always, the
//!    store's own checksum where it reports one, and a full re-read with `--verify full`. A
//!    mismatch deletes the output and retries the file.
//! 5. **Commit**: record the file in the [`journal`], then rename the temp name to the final
//!    name (stores with atomic writes need no temp name).
//!
//! # Memory bound
//! Buffered file data never exceeds `max(memory_budget, part_size)`. Besides that a run holds
//! one listing page of the source, `concurrency` planned files, and the journal's record of
//! earlier runs (about 100 bytes per file). With the defaults (64 MiB budget, 8 MiB parts,
//! 16 files) peak RSS stays under 128 MiB whatever the data size.

pub mod budget;
pub mod buffers;
pub mod compare;
mod copy_file;
pub mod filter;
pub mod journal;
pub mod overlap;
mod plan;
pub mod ratelimit;
pub mod report;
pub mod throttle;

pub use crate::storage::temp::{
    is_temp_name, temp_name, temp_name_for, TEMP_NAME_KEEP, TEMP_PREFIX,
};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::retry::RetryPolicy;
use crate::storage::{Entry, SpecialKind, Storage};
use budget::ByteBudget;
use buffers::BufferPool;
pub use compare::{Compare, CompareMode};
use filter::Filter;
use journal::Journal;
use ratelimit::RateLimiter;
use report::{CopyReport, FileOutcome, Observer};

/// Default number of files in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default number of files in flight when every copy is server-side.
pub const DEFAULT_SERVER_SIDE_CONCURRENCY: usize = 64;
/// Default part size for ranged reads and multipart writes.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Default budget of buffered bytes.
pub const DEFAULT_MEMORY_BUDGET: u64 = 64 * 1024 * 1024;

/// One side of a copy: a store and a location in it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The store.
    pub storage: Arc<dyn Storage>,
    /// The location.
    pub location: Location,
}

/// How thoroughly to verify each copied file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// The destination's size only.
    Size,
    /// Size, and the store's own checksum where it reports one without re-reading (default).
    #[default]
    Checksum,
    /// Size, native checksum, and a full re-read of the destination.
    Full,
}

/// Options of a copy. `Default` gives ferry's defaults.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Files in flight; 0 lets ferry choose: [`DEFAULT_CONCURRENCY`], or more where the source
    /// or the destination asks for it ([`crate::Capabilities::preferred_concurrency`]).
    pub concurrency: usize,
    /// Part size for ranged reads and multipart writes; files up to this size go in one piece.
    pub part_size: u64,
    /// Most bytes of file data buffered at once.
    pub memory_budget: u64,
    /// How existing destination files are compared (rclone's `--checksum`, `--size-only`,
    /// `--update`, `--ignore-existing`, `--ignore-size`; see [`compare`]).
    pub compare: Compare,
    /// Replace existing destination files.
    pub overwrite: bool,
    /// Plan only; write nothing.
    pub dry_run: bool,
    /// Include/exclude filters.
    pub filter: Filter,
    /// Bytes per second across the whole run; `None` or `Some(0)` is unlimited (as in rclone).
    pub bwlimit: Option<u64>,
    /// Retries of temporary errors.
    pub retry: RetryPolicy,
    /// Verification level.
    pub verify: VerifyMode,
    /// Copy source modification times to the destination.
    pub preserve_mtime: bool,
    /// Where resume journals live; `None` disables resume.
    pub journal_dir: Option<PathBuf>,
    /// For a single-file source: the destination is a directory to copy into, even if it does
    /// not exist yet (the user wrote a trailing `/`).
    pub destination_is_dir: bool,
    /// An existing destination file with the same size and CRC32C is skipped rather than a
    /// conflict (relocation: `shared/` files are immutable and shared between snapshots).
    pub skip_identical: bool,
    /// Files in flight when the store copies them itself (server-side copy): such copies hold
    /// no buffers, so more of them run at once than `concurrency` allows for data copies.
    pub server_side_concurrency: usize,
    /// Pace requests to an endpoint that answers "slow down" ([`throttle`]); on by default.
    pub adaptive_throttle: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            concurrency: 0,
            part_size: DEFAULT_PART_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            compare: Compare::default(),
            overwrite: false,
            dry_run: false,
            filter: Filter::default(),
            bwlimit: None,
            retry: RetryPolicy::default(),
            verify: VerifyMode::default(),
            preserve_mtime: false,
            journal_dir: None,
            destination_is_dir: false,
            skip_identical: false,
            server_side_concurrency: DEFAULT_SERVER_SIDE_CONCURRENCY,
            adaptive_throttle: true,
        }
    }
}

/// A file to copy: where it comes from and where it goes.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub rel: String,
    pub entry: Entry,
    pub target: Location,
}

/// Shared state of one copy run.
pub(crate) struct Context {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub opts: CopyOptions,
    /// Part buffers, and the byte budget every buffer is granted from.
    pub buffers: BufferPool,
    pub limiter: Option<RateLimiter>,
    pub journal: Option<Journal>,
    pub observer: Arc<dyn Observer>,
    /// Seeds this job's temp names ([`temp_name_for`]): stable across runs, distinct between
    /// jobs.
    pub temp_tag: String,
    /// The destination was empty and no earlier run exists: no need to stat each target.
    pub dst_fresh: bool,
}

/// Copies `source` to `destination`.
///
/// Returns the report even when files failed (`files_failed > 0`); returns `Err` only when the
/// copy could not start (missing source, a source that is not a regular file or directory,
/// destination of the wrong kind, a destination that is the source or lies inside a source
/// tree ([`overlap`]), unreadable journal) or the listing failed. A listing that fails after
/// files were written lets the files in flight finish, then says how many were written ("N
/// files were written to DST before the listing failed: …"). Special entries of a tree
/// (FIFOs, sockets, devices, directory symlink loops) are skipped, never opened, and listed in
/// [`CopyReport::skipped`].
pub async fn copy(
    source: Endpoint,
    destination: Endpoint,
    options: CopyOptions,
    observer: Arc<dyn Observer>,
) -> Result<CopyReport> {
    let started = Instant::now();
    let source_entry = match source.storage.stat(&source.location).await {
        Ok(entry) => Some(entry),
        Err(err) if err.kind() == ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    // A tree copied onto or into itself: refused before anything is written.
    if source_entry.as_ref().is_none_or(Entry::is_dir) {
        overlap::refuse_self_copy(&source, &destination)?;
    }
    check_destination(&destination, &options).await?;
    let job_key = format!("{}\n{}", source.location, destination.location);
    let mut context = Context::new(source, destination, options, observer, &job_key)?;
    let source_exists = source_entry.is_some();
    if let Some(kind) = source_entry.as_ref().and_then(Entry::special) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "source {} is {}; ferry copies regular files and directories",
                context.src.location,
                kind.reason()
            ),
        ));
    }
    let files = match source_entry.filter(|e| !e.is_dir()) {
        Some(file) => single_file(&context, file).await?,
        None => {
            let (files, fresh) = tree(&context, source_exists).await?;
            context.dst_fresh = fresh && !context.journal.as_ref().is_some_and(Journal::has_prior);
            files
        }
    };
    let files = announce_end_of_listing(files, context.observer.clone());
    run(context, files, started).await
}

/// Counts the files the listing yields and tells the observer the totals once it ends.
fn announce_end_of_listing(files: FileStream, observer: Arc<dyn Observer>) -> FileStream {
    let counted = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let counter = counted.clone();
    let end = futures::stream::once(async move {
        let (count, bytes) = &*counted;
        observer.listed(count.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
    })
    .filter_map(|()| futures::future::ready(None));
    files
        .inspect_ok(move |file| {
            counter.0.fetch_add(1, Ordering::Relaxed);
            counter.1.fetch_add(file.entry.size, Ordering::Relaxed);
        })
        .chain(end)
        .boxed()
}

/// One file of an explicit copy list (see [`copy_files`]).
#[derive(Debug, Clone)]
pub struct FileCopy {
    /// The source file, as `stat` or `list` reported it.
    pub source: Entry,
    /// Where it goes.
    pub target: Location,
    /// A stable, unique name for reports and the resume journal (e.g. the target's path
    /// relative to the destination root).
    pub key: String,
}

/// Fails at once when the destination's container (its bucket) is missing, instead of every
/// file failing with that error; a dry run writes nothing and is not asked to.
async fn check_destination(destination: &Endpoint, options: &CopyOptions) -> Result<()> {
    if options.dry_run {
        return Ok(());
    }
    destination
        .storage
        .check_container(&destination.location)
        .await
}

/// Copies an explicit list of files, each to its own target, from one store to another.
/// `source` and `destination` name the roots for reports; `job` names the resume journal
/// (the same job resumes the same journal). Same guarantees as [`copy`].
pub async fn copy_files(
    source: Endpoint,
    destination: Endpoint,
    files: Vec<FileCopy>,
    job: &str,
    options: CopyOptions,
    observer: Arc<dyn Observer>,
) -> Result<CopyReport> {
    let started = Instant::now();
    check_destination(&destination, &options).await?;
    let context = Context::new(source, destination, options, observer, job)?;
    let files = futures::stream::iter(files.into_iter().map(|f| {
        Ok(SourceFile {
            rel: f.key,
            entry: f.source,
            target: f.target,
        })
    }))
    .boxed();
    run(context, files, started).await
}

impl Context {
    /// Files copied at once: `concurrency`, or more when the store copies every file itself.
    fn files_in_flight(&self) -> usize {
        let (src, dst) = (self.src.storage.as_ref(), self.dst.storage.as_ref());
        if src.identity() == dst.identity() && dst.capabilities().server_side_copy {
            self.opts.concurrency.max(self.opts.server_side_concurrency)
        } else {
            self.opts.concurrency
        }
    }

    fn new(
        src: Endpoint,
        dst: Endpoint,
        mut opts: CopyOptions,
        observer: Arc<dyn Observer>,
        job_key: &str,
    ) -> Result<Context> {
        let (mut src, mut dst) = (src, dst);
        if opts.adaptive_throttle {
            src.storage = throttle::ThrottledStorage::wrap(src.storage);
            dst.storage = throttle::ThrottledStorage::wrap(dst.storage);
        }
        if opts.concurrency == 0 {
            let preferred = |e: &Endpoint| e.storage.capabilities().preferred_concurrency;
            opts.concurrency = DEFAULT_CONCURRENCY.max(preferred(&src).max(preferred(&dst)));
        }
        opts.part_size = opts.part_size.max(64 * 1024);
        opts.memory_budget = opts.memory_budget.max(opts.part_size);
        let journal = open_journal(&opts, job_key, &src, &dst)?;
        Ok(Context {
            buffers: BufferPool::new(
                ByteBudget::new(opts.memory_budget),
                opts.part_size as usize,
                (opts.memory_budget / opts.part_size) as usize,
            ),
            // 0 means unlimited: a zero rate would pace every byte forever.
            limiter: opts.bwlimit.filter(|&rate| rate > 0).map(RateLimiter::new),
            temp_tag: format!("{:016x}", journal::fnv1a64(job_key)),
            dst_fresh: false,
            journal,
            observer,
            opts,
            src,
            dst,
        })
    }
}

/// Runs the planned-file stream to completion and builds the report.
async fn run(context: Context, files: FileStream, started: Instant) -> Result<CopyReport> {
    let mut report = CopyReport {
        source: context.src.location.to_string(),
        destination: context.dst.location.to_string(),
        dry_run: context.opts.dry_run,
        journal: context
            .journal
            .as_ref()
            .filter(|_| !context.opts.dry_run)
            .map(|j| j.path().display().to_string()),
        ..CopyReport::default()
    };
    let context = Arc::new(context);
    // A listing error ends the listing, not the copy: the files already handed out finish
    // (written and verified, or failed), so the error can say exactly what was left.
    let listing_error = Arc::new(std::sync::Mutex::new(None::<Error>));
    let slot = listing_error.clone();
    let files = files.scan((), move |(), file| {
        futures::future::ready(match file {
            Ok(file) => Some(file),
            Err(err) => {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                None
            }
        })
    });
    let mut outcomes = files
        .map(|file| {
            let context = context.clone();
            async move {
                tokio::spawn(async move { context.transfer(file).await })
                    .await
                    .map_err(|e| {
                        Error::new(ErrorKind::Unexpected, "copy task failed").with_source(e)
                    })
            }
        })
        .buffer_unordered(context.files_in_flight());
    while let Some(outcome) = outcomes.next().await {
        let outcome = outcome?;
        context.observer.finished(&outcome);
        report.record(&outcome);
    }
    let listing_error = listing_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(err) = listing_error {
        return Err(listing_failed(err, &report));
    }
    report.peak_buffered_bytes = context.buffers.budget().peak();
    report.finish(started.elapsed());
    Ok(report)
}

type FileStream = futures::stream::BoxStream<'static, Result<SourceFile>>;

/// The error of a listing that failed part-way: as it is when nothing was written, else
/// prefixed with what the run left at the destination (the files it wrote there are complete
/// and verified; a re-run of the same command skips them once the cause is fixed).
fn listing_failed(err: Error, report: &CopyReport) -> Error {
    if report.files_copied == 0 || report.dry_run {
        return err;
    }
    let files = match report.files_copied {
        1 => "1 file was".to_string(),
        n => format!("{n} files were"),
    };
    Error::new(
        err.kind(),
        format!(
            "{files} written to {} before the listing failed: {err}",
            report.destination
        ),
    )
}

fn open_journal(
    options: &CopyOptions,
    job_key: &str,
    source: &Endpoint,
    destination: &Endpoint,
) -> Result<Option<Journal>> {
    let Some(dir) = &options.journal_dir else {
        return Ok(None);
    };
    let path = dir.join(format!("{:016x}.jsonl", journal::fnv1a64(job_key)));
    let journal = if options.dry_run {
        Journal::read_only(&path)
    } else {
        Journal::open(
            &path,
            &source.location.to_string(),
            &destination.location.to_string(),
        )
    };
    // A journal that cannot be kept costs resumability, not the copy: a re-run still skips
    // files already at the destination with the same bytes (`plan`).
    match journal {
        Ok(journal) => Ok(Some(journal)),
        Err(err) => {
            tracing::warn!("no resume journal: {err}");
            Ok(None)
        }
    }
}

/// The one-file case: `ferry cp a.bin dst` writes `dst`, or `dst/a.bin` when `dst` is a
/// directory.
async fn single_file(context: &Context, entry: Entry) -> Result<FileStream> {
    let name = context
        .src
        .location
        .file_name()
        .unwrap_or_default()
        .to_string();
    let into_dir = context.opts.destination_is_dir
        || match context.dst.storage.stat(&context.dst.location).await {
            Ok(existing) => existing.is_dir(),
            Err(err) if err.kind() == ErrorKind::NotFound => false,
            Err(err) => return Err(err),
        };
    let target = if into_dir {
        context.dst.location.join(&name)
    } else {
        context.dst.location.clone()
    };
    let target_endpoint = Endpoint {
        storage: context.dst.storage.clone(),
        location: target.clone(),
    };
    if overlap::overlap(&context.src, &target_endpoint) == Some(overlap::Overlap::Same) {
        return Err(overlap::same(&context.src, &target_endpoint));
    }
    let file = SourceFile {
        rel: name,
        entry,
        target,
    };
    Ok(futures::stream::once(async { Ok(file) }).boxed())
}

/// The tree case: stream the listing, filtered, mapped to destinations. Also says whether the
/// destination was empty.
async fn tree(context: &Context, source_exists: bool) -> Result<(FileStream, bool)> {
    let (src, dst) = (&context.src.location, &context.dst.location);
    match context.dst.storage.stat(dst).await {
        Ok(existing) if !existing.is_dir() => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("destination {dst} is a file, but the source {src} is a directory"),
            ))
        }
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut listing = context.src.storage.list(src).peekable();
    if std::pin::Pin::new(&mut listing).peek().await.is_none() && !source_exists {
        return Err(Error::new(ErrorKind::NotFound, "source does not exist")
            .with_operation("stat")
            .with_context("path", src));
    }
    let fresh = context.dst.storage.list(dst).next().await.is_none();
    let (src_root, dst_root, filter) = (src.clone(), dst.clone(), context.opts.filter.clone());
    let files = listing
        .try_filter_map(move |entry| {
            let file = entry
                .location
                .strip_prefix(&src_root)
                .map(str::to_string)
                .filter(|rel| !is_temp_name(rel) && filter.accepts_entry(rel, &entry))
                .map(|rel| SourceFile {
                    target: dst_root.join(&rel),
                    rel,
                    entry,
                });
            futures::future::ready(Ok(file))
        })
        .boxed();
    Ok((files, fresh))
}

impl Context {
    /// Plans and (unless a dry run) copies one file; never fails, the outcome carries errors.
    async fn transfer(&self, file: SourceFile) -> FileOutcome {
        let mut outcome = FileOutcome {
            rel: file.rel.clone(),
            destination: file.target.clone(),
            size: file.entry.size,
            action: report::Action::Single,
            crc32c: None,
            error: None,
            note: None,
        };
        if let Some(kind) = file.entry.special() {
            // Never opened: a FIFO would block a read forever, a loop never ends.
            let reason = match kind {
                SpecialKind::DirectoryLoop => report::SkipReason::DirectoryLoop,
                _ => report::SkipReason::NotRegularFile,
            };
            tracing::debug!(file = %file.rel, reason = kind.reason(), "skipped");
            outcome.size = 0;
            outcome.action = report::Action::Skip(reason);
            outcome.note = Some(kind.reason().to_string());
            self.observer.planned(&file.rel, 0, outcome.action);
            return outcome;
        }
        match self.plan(&file).await {
            Ok(action) => {
                outcome.action = action;
                self.observer.planned(&file.rel, file.entry.size, action);
                if self.opts.dry_run || matches!(action, report::Action::Skip(_)) {
                    return outcome;
                }
                match self.copy_file(&file, action).await {
                    Ok(crc) => outcome.crc32c = crc,
                    Err(err) => outcome.error = Some(err),
                }
            }
            Err(err) => outcome.error = Some(err),
        }
        outcome
    }
}

/// Nanoseconds since the epoch, for journal records.
pub(crate) fn mtime_ns(time: Option<SystemTime>) -> Option<u64> {
    time.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests;
