//! What a copy reports: per-file outcomes (streamed to an [`Observer`]) and the final
//! [`CopyReport`] (counts, bytes, duration, throughput, failures) that `--json` prints.

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::location::Location;

/// How a file is (or would be, in a dry run) transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The store copies it itself.
    ServerSideCopy,
    /// Parts read by range and written in parallel.
    ParallelParts,
    /// Read and written as a stream, part by part.
    Stream,
    /// Read and written in one piece (small files).
    Single,
    /// Not copied.
    Skip(SkipReason),
}

/// Why a file was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// An earlier run copied and verified it (resume).
    AlreadyCopied,
    /// `--update`: the destination already matches.
    UpToDate,
    /// A FIFO, socket or device: reading it could block forever, and it holds no file data.
    NotRegularFile,
    /// A directory symlink leading back to a directory above it.
    DirectoryLoop,
    /// No record of an earlier run (another host, a fresh state directory), but the
    /// destination already holds the same bytes: same size and CRC32C (or the same store
    /// checksum on both sides).
    AlreadyThere,
    /// `--ignore-existing`: the destination file exists (not compared).
    Existing,
    /// `--update`: the destination file is newer than the source.
    DestinationNewer,
}

impl Action {
    /// A short name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ServerSideCopy => "server-side copy",
            Action::ParallelParts => "parallel parts",
            Action::Stream => "stream",
            Action::Single => "copy",
            Action::Skip(SkipReason::AlreadyCopied) => "skip (already copied)",
            Action::Skip(SkipReason::UpToDate) => "skip (up to date)",
            Action::Skip(SkipReason::NotRegularFile) => "skip (not a regular file)",
            Action::Skip(SkipReason::DirectoryLoop) => "skip (directory symlink loop)",
            Action::Skip(SkipReason::AlreadyThere) => "skip (already there)",
            Action::Skip(SkipReason::Existing) => "skip (exists)",
            Action::Skip(SkipReason::DestinationNewer) => "skip (newer at destination)",
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    /// Path relative to the source root.
    pub rel: String,
    /// The destination.
    pub destination: Location,
    /// Size in bytes.
    pub size: u64,
    /// What was (or would be) done.
    pub action: Action,
    /// The CRC32C of the data, when ferry saw the bytes.
    pub crc32c: Option<u32>,
    /// The failure, if it failed.
    pub error: Option<Error>,
    /// Why a file was passed over, for skips that need saying (special files, loops).
    pub note: Option<String>,
}

/// Receives events while a copy runs (progress bars, verbose listings). Every method has a
/// no-op default; implementations must be cheap, as they run on the copy's tasks.
pub trait Observer: Send + Sync {
    /// A file was found and planned.
    fn planned(&self, rel: &str, size: u64, action: Action) {
        let _ = (rel, size, action);
    }
    /// `bytes` more were transferred.
    fn transferred(&self, bytes: u64) {
        let _ = bytes;
    }
    /// A file finished (copied, skipped or failed).
    fn finished(&self, outcome: &FileOutcome) {
        let _ = outcome;
    }
    /// The source listing of [`copy`](crate::transfer::copy) ended: it found `files` files of
    /// `bytes` bytes (after filters), so the totals are final. Until then they grow as files
    /// are planned. Not called by `copy_files`, whose caller knows its list up front.
    fn listed(&self, files: u64, bytes: u64) {
        let _ = (files, bytes);
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {}

/// A failed file in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Path relative to the source root.
    pub path: String,
    /// The kind of error.
    pub kind: ErrorKind,
    /// The one-line error.
    pub error: String,
}

/// A source entry the copy passed over because it cannot be copied (not a regular file, a
/// directory symlink loop): never silent, it is listed in the report and warned about.
#[derive(Debug, Clone, Serialize)]
pub struct Passed {
    /// Path relative to the source root.
    pub path: String,
    /// Why it was not copied (`not a regular file (a FIFO)`, …).
    pub reason: String,
}

/// The summary of a copy, as `--json` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyReport {
    /// The source root.
    pub source: String,
    /// The destination root.
    pub destination: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Files found (after filters).
    pub files_total: u64,
    /// Files copied.
    pub files_copied: u64,
    /// Files skipped (resume, `--update`, or not copyable: see `files_special`).
    pub files_skipped: u64,
    /// Of `files_skipped`, the entries that cannot be copied (special files, directory
    /// symlink loops), listed in `skipped`.
    pub files_special: u64,
    /// Of the skipped files, those found already at the destination with the same bytes
    /// without any record of an earlier run (a re-run from another host or state directory).
    pub files_already_there: u64,
    /// Files that failed.
    pub files_failed: u64,
    /// Bytes found (after filters).
    pub bytes_total: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Bytes skipped.
    pub bytes_skipped: u64,
    /// Files copied by the store itself.
    pub server_side_copies: u64,
    /// Wall time in seconds.
    pub duration_seconds: f64,
    /// `bytes_copied / duration_seconds`.
    pub throughput_bytes_per_second: f64,
    /// The most buffer bytes in flight at once (bounded by the memory budget).
    pub peak_buffered_bytes: u64,
    /// Failed files (at most 1000 listed; `files_failed` counts all).
    pub failures: Vec<Failure>,
    /// Entries that are not copied at all — special files, directory symlink loops — with the
    /// reason (at most 1000 listed; each is also counted in `files_skipped`).
    pub skipped: Vec<Passed>,
    /// Where the resume journal is.
    pub journal: Option<String>,
}

impl CopyReport {
    /// Folds one file's outcome in.
    pub fn record(&mut self, outcome: &FileOutcome) {
        self.files_total += 1;
        self.bytes_total += outcome.size;
        match (&outcome.error, outcome.action) {
            (Some(err), _) => {
                self.files_failed += 1;
                if self.failures.len() < 1000 {
                    self.failures.push(Failure {
                        path: outcome.rel.clone(),
                        kind: err.kind(),
                        error: err.to_string(),
                    });
                }
            }
            (None, Action::Skip(reason)) => {
                self.files_skipped += 1;
                self.bytes_skipped += outcome.size;
                if matches!(
                    reason,
                    SkipReason::NotRegularFile | SkipReason::DirectoryLoop
                ) {
                    self.files_special += 1;
                    if let (Some(why), true) = (&outcome.note, self.skipped.len() < 1000) {
                        self.skipped.push(Passed {
                            path: outcome.rel.clone(),
                            reason: why.clone(),
                        });
                    }
                }
                if reason == SkipReason::AlreadyThere {
                    self.files_already_there += 1;
                }
            }
            (None, action) => {
                self.files_copied += 1;
                self.bytes_copied += outcome.size;
                if action == Action::ServerSideCopy {
                    self.server_side_copies += 1;
                }
            }
        }
    }

    /// Sets the duration and throughput.
    pub fn finish(&mut self, elapsed: Duration) {
        self.duration_seconds = elapsed.as_secs_f64();
        self.throughput_bytes_per_second = if self.duration_seconds > 0.0 {
            self.bytes_copied as f64 / self.duration_seconds
        } else {
            0.0
        };
    }
}
