//! The resume journal: an append-only JSON-lines file on the local disk, one per
//! (source, destination) pair, recording every file copied *and verified* and every part of an
//! unfinished multipart upload.
//!
//! Why local and append-only: it works whatever the destination is (object stores cannot
//! append), a `kill -9` loses at most the line being written (a torn last line is ignored on
//! load), and no lock or server is needed. A record is written only after the data it describes
//! is durable at the destination as far as the store told us, so trusting it never skips a file
//! that is not there: on resume the engine still checks the destination's size before skipping.
//!
//! Records:
//! * `job` — the source and destination, for humans reading the file;
//! * `done` — a file copied and verified: relative path, size, source mtime, CRC32C, and the
//!   destination's mtime right after the write (so a later run can tell it was changed);
//! * `upload` — a multipart upload started: its token (upload id / temp path) and part size;
//! * `part` — one part of that upload written, with its CRC32C and the store's tag.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::storage::PartReceipt;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Record {
    /// The job this journal belongs to.
    Job {
        /// Source root.
        source: String,
        /// Destination root.
        destination: String,
    },
    /// A file copied and verified.
    Done {
        /// Path relative to the roots.
        rel: String,
        /// Bytes.
        size: u64,
        /// Source mtime in nanoseconds since the epoch, if known.
        mtime_ns: Option<u64>,
        /// CRC32C of the content.
        crc32c: u32,
        /// The destination's mtime (nanoseconds since the epoch) as the store reported it
        /// right after the write: a later run skips the file only if it is unchanged. Absent
        /// in journals of older versions and when the store reports none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dst_mtime_ns: Option<u64>,
    },
    /// A multipart upload started.
    Upload {
        /// Path relative to the roots.
        rel: String,
        /// Source size.
        size: u64,
        /// Source mtime in nanoseconds since the epoch, if known.
        mtime_ns: Option<u64>,
        /// Part size used.
        part_size: u64,
        /// The backend's upload token.
        token: String,
    },
    /// One part of an upload written.
    Part {
        /// Path relative to the roots.
        rel: String,
        /// The upload's token.
        token: String,
        /// The store's receipt.
        receipt: PartReceipt,
        /// CRC32C of the part.
        crc32c: u32,
    },
}

/// What an earlier run left for one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriorState {
    /// The file was finished: (size, mtime_ns, crc32c).
    pub done: Option<(u64, Option<u64>, u32)>,
    /// With `done`: the destination's mtime right after the write, if recorded.
    pub dst_mtime_ns: Option<u64>,
    /// An unfinished upload: (size, mtime_ns, part_size, token).
    pub upload: Option<(u64, Option<u64>, u64, String)>,
    /// Parts of that upload written, with their CRC32C.
    pub parts: Vec<(PartReceipt, u32)>,
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Option<Mutex<std::fs::File>>,
    prior: HashMap<String, PriorState>,
}

impl Journal {
    /// Opens (creating) the journal at `path` and loads what earlier runs recorded.
    pub fn open(path: &Path, source: &str, destination: &str) -> Result<Journal> {
        Journal::open_mode(path, source, destination, false)
    }

    /// Loads the journal at `path`, if any, without creating or changing anything (dry runs);
    /// appends are then ignored.
    pub fn read_only(path: &Path) -> Result<Journal> {
        Journal::open_mode(path, "", "", true)
    }

    fn open_mode(path: &Path, source: &str, destination: &str, read_only: bool) -> Result<Journal> {
        let io = |e: std::io::Error| Error::from_io(e, "journal", path.display());
        let (prior, torn) = match std::fs::read(path) {
            Ok(bytes) => (parse(&bytes), !bytes.is_empty() && !bytes.ends_with(b"\n")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (HashMap::new(), false),
            Err(e) => return Err(io(e)),
        };
        if read_only {
            return Ok(Journal {
                path: path.to_path_buf(),
                file: None,
                prior,
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if torn {
            // End the torn line so the next record starts on a line of its own.
            file.write_all(b"\n").map_err(io)?;
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file: Some(Mutex::new(file)),
            prior,
        };
        if journal.prior.is_empty() {
            journal.append(&Record::Job {
                source: source.into(),
                destination: destination.into(),
            })?;
        }
        Ok(journal)
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether earlier runs recorded anything.
    pub fn has_prior(&self) -> bool {
        !self.prior.is_empty()
    }

    /// What earlier runs recorded for `rel`.
    pub fn prior(&self, rel: &str) -> Option<&PriorState> {
        self.prior.get(rel)
    }

    /// Appends a record (one `write` of one line, so a crash tears at most this line).
    pub fn append(&self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(|e| {
            Error::new(ErrorKind::Unexpected, "cannot encode journal record").with_source(e)
        })?;
        line.push(b'\n');
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)
            .map_err(|e| Error::from_io(e, "journal", self.path.display()))
    }
}

/// What a journal's bytes record, per relative path: the reader behind [`Journal::open`],
/// public for the `journal` fuzz target. Any line that is not a record is skipped — a torn last
/// line (even one cut inside a multi-byte character), bytes that are not UTF-8, an unknown
/// record — so this never fails, whatever the bytes.
pub fn parse(bytes: &[u8]) -> HashMap<String, PriorState> {
    let mut prior: HashMap<String, PriorState> = HashMap::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let record: Record = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(err) => {
                // A torn last line is expected after a crash; anything else is worth a warning.
                tracing::debug!(line = number + 1, %err, "ignoring unreadable journal line");
                continue;
            }
        };
        match record {
            Record::Job { .. } => {}
            Record::Done {
                rel,
                size,
                mtime_ns,
                crc32c,
                dst_mtime_ns,
            } => {
                let state = prior.entry(rel).or_default();
                state.done = Some((size, mtime_ns, crc32c));
                state.dst_mtime_ns = dst_mtime_ns;
                state.upload = None;
                state.parts.clear();
            }
            Record::Upload {
                rel,
                size,
                mtime_ns,
                part_size,
                token,
            } => {
                let state = prior.entry(rel).or_default();
                state.done = None;
                state.dst_mtime_ns = None;
                state.upload = Some((size, mtime_ns, part_size, token));
                state.parts.clear();
            }
            Record::Part {
                rel,
                token,
                receipt,
                crc32c,
            } => {
                if let Some(state) = prior.get_mut(&rel) {
                    if state.upload.as_ref().is_some_and(|u| u.3 == token) {
                        state.parts.retain(|(p, _)| p.index != receipt.index);
                        state.parts.push((receipt, crc32c));
                    }
                }
            }
        }
    }
    prior
}

/// The stable hash that names journal files (shared with temp-name tags).
pub use crate::storage::temp::fnv1a64;
