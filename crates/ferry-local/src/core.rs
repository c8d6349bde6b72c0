//! The local backend's "requests": the system calls behind every trait method — paths from
//! locations, opening files (non-blocking, regular files only), positional reads, creating
//! files with their parent directories, the depth-first directory walk of `list` and
//! `list_dir` — and the blocking pool they run on. How written bytes and names reach the
//! kernel is [`crate::write`]'s.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use ferry_core::storage::{Entry, EntryKind, ListStream, SpecialKind};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::StreamExt;

use crate::write;

/// Chunk size of streaming reads.
pub(crate) const READ_CHUNK: usize = 1024 * 1024;

/// Runs blocking filesystem work on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::new(ErrorKind::Unexpected, "filesystem task failed").with_source(e))?
}

pub(crate) fn local_path(location: &Location) -> Result<PathBuf> {
    location.to_local_path().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("the local backend cannot serve {location}"),
        )
    })
}

pub(crate) fn io_error<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl Fn(std::io::Error) -> Error + 'a {
    move |e| Error::from_io(e, op, path.display()).with_context("backend", "local")
}

/// What the file type of `meta` is, as ferry lists it: regular files and directories, and
/// everything else as a special entry that is reported and never read.
pub(crate) fn kind_of(meta: &std::fs::Metadata) -> EntryKind {
    use std::os::unix::fs::FileTypeExt;
    let file_type = meta.file_type();
    if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else if file_type.is_fifo() {
        EntryKind::Special(SpecialKind::Fifo)
    } else if file_type.is_socket() {
        EntryKind::Special(SpecialKind::Socket)
    } else if file_type.is_block_device() || file_type.is_char_device() {
        EntryKind::Special(SpecialKind::Device)
    } else {
        EntryKind::Special(SpecialKind::Other)
    }
}

pub(crate) fn entry_of(location: Location, meta: &std::fs::Metadata) -> Entry {
    let kind = kind_of(meta);
    Entry {
        location,
        kind,
        size: if kind == EntryKind::File {
            meta.len()
        } else {
            0
        },
        modified: meta.modified().ok(),
        checksum: None,
        version: None,
    }
}

/// Reads up to `len` bytes at `offset` into a new buffer (short only at end of file).
pub(crate) fn pread(file: &File, path: &Path, offset: u64, len: usize) -> Result<Bytes> {
    let mut buffer = Vec::new();
    read_at_into(file, path, offset, len, &mut buffer)?;
    Ok(Bytes::from(buffer))
}

/// Replaces the contents of `buffer` with up to `len` bytes of `file` from `offset` (fewer
/// only at end of file). It reads into the buffer's spare capacity, so unlike `pread` into a
/// slice nothing is zeroed first. Seeks the handle: callers give each reader its own `File`.
pub(crate) fn read_at_into(
    file: &File,
    path: &Path,
    offset: u64,
    len: usize,
    buffer: &mut Vec<u8>,
) -> Result<()> {
    buffer.clear();
    buffer.reserve_exact(len);
    let mut handle = file;
    handle
        .seek(SeekFrom::Start(offset))
        .and_then(|_| handle.take(len as u64).read_to_end(buffer))
        .map_err(io_error("read", path))?;
    Ok(())
}

/// Opens `path` for reading, non-blocking (`O_NONBLOCK`: opening a FIFO never waits for a
/// writer), and checks that it is a regular file: nothing else is ever read. Returns the file
/// and its metadata.
pub(crate) fn open_for_read(path: &Path) -> Result<(File, std::fs::Metadata)> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata().map_err(io_error("read", path))?;
    match kind_of(&meta) {
        EntryKind::File => Ok((file, meta)),
        EntryKind::Directory => Err(Error::new(ErrorKind::InvalidInput, "is a directory")
            .with_operation("read")
            .with_context("path", path.display())),
        EntryKind::Special(kind) => Err(Error::new(ErrorKind::InvalidInput, kind.reason())
            .with_operation("read")
            .with_context("path", path.display())),
    }
}

/// Opens `path` for reading with `O_NONBLOCK`: opening (and reading) a FIFO never waits.
pub(crate) fn open_nonblocking(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error("read", path))
}

/// Creates `path` for writing, creating missing parent directories on demand.
pub(crate) fn create_file(path: &Path, truncate: bool) -> Result<File> {
    let _directory = write::lock_parent_of(path);
    let open = || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == IoKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_error("mkdirs", parent))?;
            }
            open().map_err(io_error("create", path))
        }
        other => other.map_err(io_error("create", path)),
    }
}

/// [`walk`] below `prefix` on the blocking pool. A walker thread feeds a bounded channel:
/// memory holds one directory's names plus the channel, not the whole tree.
pub(crate) fn listing(prefix: &Location, depth: Depth) -> ListStream {
    let root = match local_path(prefix) {
        Ok(root) => root,
        Err(e) => return futures::stream::once(async { Err(e) }).boxed(),
    };
    let prefix = prefix.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Entry>>(1024);
    tokio::task::spawn_blocking(move || walk(&root, &prefix, depth, &tx));
    tokio_stream_from(rx)
}

/// How far [`walk`] goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Every file below, recursively (`list`).
    All,
    /// The direct children, sub-directories reported as such (`list_dir`).
    Children,
}

/// Walks `root` depth-first, sending every entry to `tx`. Errors are sent and end the walk,
/// except for files that vanish mid-walk.
pub(crate) fn walk(
    root: &Path,
    prefix: &Location,
    depth: Depth,
    tx: &tokio::sync::mpsc::Sender<Result<Entry>>,
) {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => meta,
        _ => return, // missing prefix or a plain file: nothing below it
    };
    // Each directory to walk carries the (device, inode) of itself and its ancestors: a
    // directory (through a symlink) that is one of them is a loop, reported and not entered.
    let mut stack = vec![(
        root.to_path_buf(),
        String::new(),
        Arc::new(vec![(meta.dev(), meta.ino())]),
    )];
    while let Some((dir, rel, ancestors)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                let _ = tx.blocking_send(Err(io_error("list", &dir)(e)));
                return;
            }
        };
        let mut names: Vec<(String, std::fs::FileType)> = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let _ = tx.blocking_send(Err(io_error("list", &dir)(e)));
                    return;
                }
            };
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            match entry.file_name().into_string() {
                Ok(name) => names.push((name, file_type)),
                Err(name) => {
                    let path = dir.join(&name);
                    let err = Error::new(ErrorKind::InvalidInput, "file name is not valid UTF-8")
                        .with_operation("list")
                        .with_context("path", path.display());
                    let _ = tx.blocking_send(Err(err));
                    return;
                }
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, file_type) in names.into_iter().rev() {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let path = dir.join(&name);
            let is_dir = if file_type.is_symlink() {
                std::fs::metadata(&path)
                    .map(|m| m.is_dir())
                    .unwrap_or(false)
            } else {
                file_type.is_dir()
            };
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == IoKind::NotFound && file_type.is_symlink() => {
                    // Reported (skipped with its reason), never silently left out.
                    let Ok(link) = std::fs::symlink_metadata(&path) else {
                        continue;
                    };
                    let mut entry = entry_of(prefix.join(&child_rel), &link);
                    entry.kind = EntryKind::Special(SpecialKind::DanglingSymlink);
                    entry.size = 0;
                    if tx.blocking_send(Ok(entry)).is_err() {
                        return;
                    }
                    continue;
                }
                // Deleted between the directory read and this stat: no longer in the tree.
                Err(e) if e.kind() == IoKind::NotFound => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(io_error("list", &path)(e)));
                    return;
                }
            };
            let mut entry = entry_of(prefix.join(&child_rel), &meta);
            if is_dir && depth == Depth::All {
                let id = (meta.dev(), meta.ino());
                if !ancestors.contains(&id) {
                    let mut below = Vec::with_capacity(ancestors.len() + 1);
                    below.extend_from_slice(&ancestors);
                    below.push(id);
                    stack.push((path, child_rel, Arc::new(below)));
                    continue;
                }
                entry.kind = EntryKind::Special(SpecialKind::DirectoryLoop);
            }
            if tx.blocking_send(Ok(entry)).is_err() {
                return; // the consumer went away
            }
        }
    }
}

pub(crate) fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Result<Entry>>) -> ListStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
