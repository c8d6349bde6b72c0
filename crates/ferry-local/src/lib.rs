//! ferry's local-filesystem backend: `file://` URIs and plain paths.
//!
//! All I/O runs on tokio's blocking pool; each read has its own file handle and writes are
//! positional (`pwrite`), so one large file is read by several parts at once and its parts are
//! written as they arrive. Writes create missing parent directories. Multipart uploads write
//! parts straight into a pre-sized file at their offsets; the file's path is the upload token,
//! so a later process can resume it. The engine writes under a temp name and renames (atomic on
//! POSIX), so a file never appears under its final name half-written. Modification times can
//! be set. How data and names reach the kernel (slices, one writer per file, one name change
//! per directory at a time) is [`write`]'s job.
//!
//! One option: `direct_io` (`true` by default) lets parts of large files bypass the page cache
//! (`O_DIRECT`) where the filesystem allows it; `direct_io=false` keeps every write buffered,
//! for filesystems where direct writes are slow (NFS turns each into a synchronous RPC).
//!
//! Errors map `std::io::Error` kinds onto ferry's ([`ferry_core::Error::from_io`]).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::registry::{BackendFactory, BackendOptions, Registry};
use ferry_core::storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, MultipartUpload, ObjectWriter,
    PartReceipt, SpecialKind, Storage, WriteOptions, WriteReceipt,
};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::StreamExt;

mod write;

/// Chunk size of streaming reads.
const READ_CHUNK: usize = 1024 * 1024;

/// The option key that turns direct writes off (`direct_io=false`).
pub const DIRECT_IO_KEY: &str = "direct_io";

/// Every option key this backend accepts, with its meaning and default (`ferry options`);
/// any other key given for a local path is a usage error.
pub const OPTIONS: &[ferry_core::OptionKey] = &[ferry_core::OptionKey::new(
    DIRECT_IO_KEY,
    "write large parts straight to the file, bypassing the page cache where it helps: true or false",
    "true",
)];

/// The local filesystem.
#[derive(Debug)]
pub struct LocalStorage {
    capabilities: Capabilities,
    /// Whether parts of large files may be written with `O_DIRECT`.
    direct_io: bool,
}

impl LocalStorage {
    /// A local store whose multipart writes use `O_DIRECT` where they can (`direct_io`) or
    /// always go through the page cache.
    pub fn with_direct_io(direct_io: bool) -> LocalStorage {
        LocalStorage {
            direct_io,
            ..LocalStorage::default()
        }
    }
}

impl Default for LocalStorage {
    fn default() -> Self {
        LocalStorage {
            direct_io: true,
            capabilities: Capabilities {
                ranged_reads: true,
                parallel_part_writes: true,
                resumable_multipart: true,
                server_side_copy: false,
                atomic_rename: true,
                atomic_writes: false,
                directories: true,
                set_modified: true,
                native_checksums: Vec::new(),
                min_part_size: 1,
                max_part_size: u64::MAX,
                max_parts: u32::MAX,
                preferred_concurrency: 0,
            },
        }
    }
}

/// Runs blocking filesystem work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::new(ErrorKind::Unexpected, "filesystem task failed").with_source(e))?
}

fn local_path(location: &Location) -> Result<PathBuf> {
    location.to_local_path().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("the local backend cannot serve {location}"),
        )
    })
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> Error + 'a {
    move |e| Error::from_io(e, op, path.display()).with_context("backend", "local")
}

/// What the file type of `meta` is, as ferry lists it: regular files and directories, and
/// everything else as a special entry that is reported and never read.
fn kind_of(meta: &std::fs::Metadata) -> EntryKind {
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

fn entry_of(location: Location, meta: &std::fs::Metadata) -> Entry {
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
fn pread(file: &File, path: &Path, offset: u64, len: usize) -> Result<Bytes> {
    let mut buffer = Vec::new();
    read_at_into(file, path, offset, len, &mut buffer)?;
    Ok(Bytes::from(buffer))
}

/// Replaces the contents of `buffer` with up to `len` bytes of `file` from `offset` (fewer
/// only at end of file). It reads into the buffer's spare capacity, so unlike `pread` into a
/// slice nothing is zeroed first. Seeks the handle: callers give each reader its own `File`.
fn read_at_into(
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
fn open_for_read(path: &Path) -> Result<(File, std::fs::Metadata)> {
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
fn open_nonblocking(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error("read", path))
}

/// Creates `path` for writing, creating missing parent directories on demand.
fn create_file(path: &Path, truncate: bool) -> Result<File> {
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

#[async_trait]
impl Storage for LocalStorage {
    fn name(&self) -> &'static str {
        "local"
    }

    fn identity(&self) -> &str {
        "local"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn stat(&self, location: &Location) -> Result<Entry> {
        let path = local_path(location)?;
        let location = location.clone();
        blocking(move || {
            let meta = std::fs::metadata(&path).map_err(io_error("stat", &path))?;
            Ok(entry_of(location, &meta))
        })
        .await
    }

    fn list(&self, prefix: &Location) -> ListStream {
        listing(prefix, Depth::All)
    }

    fn list_dir(&self, dir: &Location) -> ListStream {
        listing(dir, Depth::Children)
    }

    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        let path = local_path(location)?;
        let file = {
            let path = path.clone();
            blocking(move || {
                let (file, meta) = open_for_read(&path)?;
                Ok((file, meta.len()))
            })
            .await?
        };
        let (file, len) = file;
        let range = range.unwrap_or(0..len);
        let (start, end) = (range.start.min(len), range.end.min(len));
        let file = Arc::new(file);
        let stream = futures::stream::unfold(start, move |offset| {
            let (file, path) = (file.clone(), path.clone());
            async move {
                if offset >= end {
                    return None;
                }
                let want = ((end - offset) as usize).min(READ_CHUNK);
                let chunk = blocking(move || pread(&file, &path, offset, want)).await;
                match chunk {
                    Ok(chunk) if chunk.is_empty() => None,
                    Ok(chunk) => {
                        let next = offset + chunk.len() as u64;
                        Some((Ok(chunk), next))
                    }
                    Err(e) => Some((Err(e), end)),
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn read_into(
        &self,
        location: &Location,
        offset: u64,
        len: usize,
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let path = local_path(location)?;
        blocking(move || {
            // Non-blocking, without the type check of `open_for_read` (one `fstat` less per
            // part): the engine reads only entries listed as regular files, and a file swapped
            // for a FIFO since then reads as empty or fails, never waits.
            let file = open_nonblocking(&path)?;
            read_at_into(&file, &path, offset, len, &mut buffer)?;
            Ok(buffer)
        })
        .await
    }

    async fn confirm_unchanged(&self, entry: &Entry) -> Result<()> {
        let path = local_path(&entry.location)?;
        let (size, modified) = (entry.size, entry.modified);
        blocking(move || {
            let (file, meta) = open_for_read(&path)?;
            let changed = |what: String| {
                Error::new(
                    ErrorKind::Corrupted,
                    format!("changed while being copied: {what}"),
                )
                .with_operation("read")
                .with_context("path", path.display())
            };
            if meta.len() != size {
                return Err(changed(format!(
                    "listed with {size} bytes, now {} bytes",
                    meta.len()
                )));
            }
            if modified.is_some() && meta.modified().ok() != modified {
                return Err(changed("its modification time moved".to_string()));
            }
            // A file can hold more than its size says (`/proc`, `/sys`): one byte past the
            // listed end tells.
            let mut beyond = Vec::new();
            read_at_into(&file, &path, size, 1, &mut beyond)?;
            if !beyond.is_empty() {
                return Err(changed(format!(
                    "it has more bytes than the {size} its size reports (a file whose size \
                     is not its content, as in /proc, or one still being written)"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn write(&self, location: &Location, _: &WriteOptions) -> Result<Box<dyn ObjectWriter>> {
        let path = local_path(location)?;
        let file = {
            let path = path.clone();
            blocking(move || create_file(&path, true)).await?
        };
        Ok(Box::new(LocalWriter {
            file: Some(file),
            path,
            written: 0,
        }))
    }

    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        _: &WriteOptions,
    ) -> Result<WriteReceipt> {
        let path = local_path(location)?;
        blocking(move || {
            let mut file = create_file(&path, true)?;
            write::write_all(&mut file, &data).map_err(io_error("write", &path))?;
            let stored = file.metadata().map_err(io_error("write", &path))?.len();
            Ok(WriteReceipt {
                size: data.len() as u64,
                stored_size: Some(stored),
                checksum: None,
            })
        })
        .await
    }

    async fn start_multipart(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let path = local_path(location)?;
        let size = options.size_hint;
        let direct_io = self.direct_io;
        let upload = {
            let path = path.clone();
            blocking(move || {
                let file = create_file(&path, true)?;
                if let Some(size) = size {
                    file.set_len(size).map_err(io_error("allocate", &path))?;
                }
                Ok(LocalUpload::new(file, path, direct_io))
            })
            .await?
        };
        Ok(Arc::new(upload))
    }

    async fn resume_multipart(
        &self,
        location: &Location,
        token: &str,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let path = local_path(location)?;
        if path.to_str() != Some(token) {
            return Err(Error::new(
                ErrorKind::ConditionNotMatch,
                "upload token is for another file",
            )
            .with_context("path", path.display()));
        }
        let size = options.size_hint;
        let direct_io = self.direct_io;
        let upload = {
            let path = path.clone();
            blocking(move || {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_error("resume", &path))?;
                let len = file.metadata().map_err(io_error("resume", &path))?.len();
                if size.is_some_and(|s| s != len) {
                    return Err(Error::new(
                        ErrorKind::ConditionNotMatch,
                        "partial file has the wrong size",
                    )
                    .with_context("path", path.display()));
                }
                Ok(LocalUpload::new(file, path, direct_io))
            })
            .await?
        };
        Ok(Arc::new(upload))
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        let path = local_path(location)?;
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() == IoKind::NotFound => Ok(()),
            other => other.map_err(io_error("delete", &path)),
        })
        .await
    }

    async fn remove_empty_dir(&self, dir: &Location) -> Result<()> {
        let path = local_path(dir)?;
        blocking(move || match std::fs::remove_dir(&path) {
            Err(e)
                if matches!(
                    e.kind(),
                    IoKind::NotFound | IoKind::DirectoryNotEmpty | IoKind::NotADirectory
                ) =>
            {
                Ok(())
            }
            other => other.map_err(io_error("remove_dir", &path)),
        })
        .await
    }

    async fn mkdirs(&self, location: &Location) -> Result<()> {
        let path = local_path(location)?;
        blocking(move || std::fs::create_dir_all(&path).map_err(io_error("mkdirs", &path))).await
    }

    async fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        let (from, to) = (local_path(from)?, local_path(to)?);
        blocking(move || {
            let _directory = write::lock_parent_of(&to);
            match std::fs::rename(&from, &to) {
                Err(e) if e.kind() == IoKind::NotFound && from.exists() => {
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(io_error("mkdirs", parent))?;
                    }
                    std::fs::rename(&from, &to).map_err(io_error("rename", &to))
                }
                other => other.map_err(io_error("rename", &to)),
            }
        })
        .await
    }

    async fn set_modified(&self, location: &Location, modified: SystemTime) -> Result<()> {
        let path = local_path(location)?;
        blocking(move || {
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_error("set_modified", &path))?;
            file.set_modified(modified)
                .map_err(io_error("set_modified", &path))
        })
        .await
    }
}

/// Walks `root` depth-first, sending every file. Errors are sent and end the walk, except
/// for files that vanish mid-walk.
/// [`walk`] below `prefix` on the blocking pool. A walker thread feeds a bounded channel:
/// memory holds one directory's names plus the channel, not the whole tree.
fn listing(prefix: &Location, depth: Depth) -> ListStream {
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
enum Depth {
    /// Every file below, recursively (`list`).
    All,
    /// The direct children, sub-directories reported as such (`list_dir`).
    Children,
}

fn walk(
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

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Result<Entry>>) -> ListStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

struct LocalWriter {
    file: Option<File>,
    path: PathBuf,
    written: u64,
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Unexpected, "writer used after a failed write"))?;
        let path = self.path.clone();
        let len = data.len() as u64;
        let file = blocking(move || {
            write::write_all(&mut file, &data).map_err(io_error("write", &path))?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        self.written += len;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<WriteReceipt> {
        Ok(WriteReceipt {
            size: self.written,
            ..WriteReceipt::default()
        })
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        drop(self.file);
        let path = self.path;
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != IoKind::NotFound => Err(io_error("delete", &path)(e)),
            _ => Ok(()),
        })
        .await
    }
}

/// Parts written at their offsets into one file; the path is the token.
struct LocalUpload {
    /// Held (through [`write::hold`]) around each part's write: one writer at a time.
    write_lock: Arc<std::sync::Mutex<()>>,
    /// Direct writes of whole blocks, where the filesystem has them.
    direct: Option<Arc<write::DirectFile>>,
    file: Arc<File>,
    path: PathBuf,
    token: String,
}

impl LocalUpload {
    /// Blocks (it opens the direct-write handle, unless `direct_io` is off): call on the
    /// blocking pool.
    fn new(file: File, path: PathBuf, direct_io: bool) -> LocalUpload {
        LocalUpload {
            token: path.to_string_lossy().into_owned(),
            write_lock: Arc::default(),
            direct: direct_io
                .then(|| write::DirectFile::open(&path))
                .flatten()
                .map(Arc::new),
            file: Arc::new(file),
            path,
        }
    }
}

#[async_trait]
impl MultipartUpload for LocalUpload {
    fn token(&self) -> &str {
        &self.token
    }

    async fn put_part(
        &self,
        index: u32,
        offset: u64,
        data: Bytes,
        _crc32c: u32,
    ) -> Result<PartReceipt> {
        let (file, path) = (self.file.clone(), self.path.clone());
        let lock = self.write_lock.clone();
        let direct = self.direct.clone();
        let size = data.len() as u64;
        blocking(move || {
            let _one_writer = write::hold(&lock);
            match direct.as_deref() {
                Some(direct) => direct.write_all_at(&file, &data, offset),
                None => write::write_all_at(&file, &data, offset),
            }
            .map_err(io_error("write", &path))
        })
        .await?;
        Ok(PartReceipt {
            index,
            offset,
            size,
            tag: None,
        })
    }

    async fn complete(&self, parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
        let size = parts.iter().map(|p| p.offset + p.size).max().unwrap_or(0);
        let (file, path) = (self.file.clone(), self.path.clone());
        let stored = blocking(move || {
            // Parts may end before a pre-sized file does if the source shrank: trim to fit.
            let len = file.metadata().map_err(io_error("complete", &path))?.len();
            if len != size {
                file.set_len(size).map_err(io_error("complete", &path))?;
            }
            file.metadata()
                .map_err(io_error("complete", &path))
                .map(|m| m.len())
        })
        .await?;
        Ok(WriteReceipt {
            size,
            stored_size: Some(stored),
            checksum: None,
        })
    }

    async fn abort(&self) -> Result<()> {
        let path = self.path.clone();
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != IoKind::NotFound => Err(io_error("delete", &path)(e)),
            _ => Ok(()),
        })
        .await
    }
}

/// Opens the local filesystem for `file` locations.
#[derive(Debug, Default)]
pub struct LocalFactory;

#[async_trait]
impl BackendFactory for LocalFactory {
    fn name(&self) -> &'static str {
        "local"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["file"]
    }

    fn option_keys(&self) -> &'static [ferry_core::OptionKey] {
        OPTIONS
    }

    fn store_key(&self, _: &Location, options: &BackendOptions) -> String {
        // Two settings, two stores (the registry caches stores by this key); a bad value
        // fails in `open`.
        format!(
            "{DIRECT_IO_KEY}={:?}",
            options.flag(DIRECT_IO_KEY, true).ok()
        )
    }

    async fn open(
        &self,
        location: &Location,
        options: &BackendOptions,
    ) -> Result<Arc<dyn Storage>> {
        let direct_io = options
            .flag(DIRECT_IO_KEY, true)
            .map_err(|message| Error::new(ErrorKind::ConfigInvalid, format!("option {message}")))?;
        match location.authority() {
            None | Some("") | Some("localhost") => {
                Ok(Arc::new(LocalStorage::with_direct_io(direct_io)))
            }
            Some(host) => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("file URIs name no host; {location} names {host:?} (write file:///path)"),
            )),
        }
    }
}

/// Registers the `file` scheme.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(LocalFactory));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_io_off_never_opens_a_direct_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-file");
        let file = File::create(&path).unwrap();
        let off = LocalUpload::new(file.try_clone().unwrap(), path.clone(), false);
        assert!(off.direct.is_none());
        // On, it opens one exactly where the filesystem allows O_DIRECT.
        let on = LocalUpload::new(file, path.clone(), true);
        assert_eq!(
            on.direct.is_some(),
            write::DirectFile::open(&path).is_some()
        );
    }

    async fn listed(root: &Path) -> Vec<(String, EntryKind)> {
        use futures::TryStreamExt;
        let prefix = Location::parse(root.to_str().unwrap()).unwrap();
        let mut entries: Vec<_> = LocalStorage::default()
            .list(&prefix)
            .map_ok(|e| {
                (
                    e.location.strip_prefix(&prefix).unwrap().to_string(),
                    e.kind,
                )
            })
            .try_collect()
            .await
            .unwrap();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    #[tokio::test]
    async fn special_files_and_loops_are_listed_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"x").unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(root.join("pipe"))
            .status()
            .unwrap();
        assert!(made.success());
        let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        std::os::unix::fs::symlink("..", root.join("d/up")).unwrap();
        std::os::unix::fs::symlink("/dev/null", root.join("null")).unwrap();
        assert_eq!(
            listed(root).await,
            [
                ("d/f".to_string(), EntryKind::File),
                (
                    "d/up".to_string(),
                    EntryKind::Special(SpecialKind::DirectoryLoop)
                ),
                ("null".to_string(), EntryKind::Special(SpecialKind::Device)),
                ("pipe".to_string(), EntryKind::Special(SpecialKind::Fifo)),
                ("sock".to_string(), EntryKind::Special(SpecialKind::Socket)),
            ]
        );
        // Reading a FIFO is refused at once instead of waiting for a writer; a part read of
        // one returns at once, empty.
        let pipe = Location::parse(root.join("pipe").to_str().unwrap()).unwrap();
        let store = LocalStorage::default();
        let part = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.read_into(&pipe, 0, 10, Vec::new()),
        )
        .await
        .expect("a read of a FIFO must not wait for a writer");
        assert!(part.map_or(true, |bytes| bytes.is_empty()));
        let err = store.read(&pipe, None).await.err().unwrap();
        assert!(
            err.to_string().contains("not a regular file (a FIFO)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn confirm_unchanged_catches_growth_rewrites_and_size_lies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let store = LocalStorage::default();
        let at = Location::parse(path.to_str().unwrap()).unwrap();
        let entry = store.stat(&at).await.unwrap();
        store.confirm_unchanged(&entry).await.unwrap();
        // Grown.
        std::fs::write(&path, b"hello, world").unwrap();
        let err = store.confirm_unchanged(&entry).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupted);
        assert!(
            err.to_string().contains("changed while being copied"),
            "{err}"
        );
        // Same size, rewritten later.
        let entry = store.stat(&at).await.unwrap();
        let later = entry.modified.unwrap() + std::time::Duration::from_secs(5);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(store.confirm_unchanged(&entry).await.is_err());
        // Lists as 0 bytes, reads as more.
        let version = Location::parse("/proc/version").unwrap();
        let entry = store.stat(&version).await.unwrap();
        assert_eq!(entry.size, 0);
        let err = store.confirm_unchanged(&entry).await.unwrap_err();
        assert!(err.to_string().contains("more bytes than the 0"), "{err}");
    }

    #[tokio::test]
    async fn the_direct_io_option_is_checked_and_keys_the_store() {
        let factory = LocalFactory;
        let here = Location::parse("/tmp").unwrap();
        let bad = BackendOptions::new().with(DIRECT_IO_KEY, "maybe");
        let err = factory.open(&here, &bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert!(err.to_string().contains("direct_io"), "{err}");
        let off = BackendOptions::new().with(DIRECT_IO_KEY, "false");
        assert!(factory.open(&here, &off).await.is_ok());
        assert_ne!(
            factory.store_key(&here, &off),
            factory.store_key(&here, &BackendOptions::new()),
            "stores with different settings must not be shared"
        );
    }
}
