//! The storage trait every backend implements, and the types it speaks.
//!
//! The trait is small, async and object-safe: the engine holds backends as `Arc<dyn Storage>`.
//! Required: [`Storage::stat`], [`Storage::list`], [`Storage::read`], [`Storage::write`],
//! [`Storage::delete`]. Optional operations (parallel part uploads, server-side copy, rename,
//! native checksums, mtime) have defaults that answer `Unsupported`; the engine falls back, so an
//! unsupported optional operation is never a user-visible error. What a backend can do is
//! declared up front in [`Capabilities`], not discovered by trial.
//!
//! # Behavior (the spec the conformance suite checks)
//! * `name`, `identity` and `capabilities` are constant for the store's life; `identity` never
//!   holds a secret. Two stores with one identity reach the same data with the same rights.
//! * `stat` of a missing path is a `NotFound` error; of a directory (where the store has them,
//!   or a prefix with objects below it on object stores) an entry of kind `Directory`. A file's
//!   entry carries its version where the store has versions, as `list` gives it.
//! * `list(prefix)` yields every file below `prefix` recursively (never directories), each
//!   exactly once, in no particular order, and nothing for a missing prefix. Listing a file's own
//!   location yields nothing: it lists *below*. Entries carry the object's version (an S3 ETag,
//!   a GCS generation) where the store has one.
//! * `list_dir(dir)` yields the direct children of `dir`: files as `list` reports them and
//!   sub-directories as `Directory` entries, each once; nothing for a missing `dir`.
//! * `read(loc, Some(range))` yields exactly the bytes of `range` clamped to the object's end;
//!   a missing object is `NotFound`. `read_into` gives the same bytes in a lent buffer.
//! * `write` creates missing parent directories where the store has directories, and replaces an
//!   existing object. Data becomes visible under `loc` no earlier than `commit` (object stores) or
//!   as it is written (filesystems; the engine adds temp-name + rename on top). `abort`, and a
//!   writer dropped uncommitted, leave no object behind. `put` is `write` of one buffer.
//! * Multipart uploads accept parts in any order and concurrently; `complete` assembles them by
//!   index; `abort` leaves nothing behind. `resume_multipart` reopens an upload from its token
//!   (in another process too), keeping the parts already written; a token that no longer exists
//!   or belongs to another object is an error. Without `parallel_part_writes` (or
//!   `resumable_multipart`) they answer `Unsupported`.
//! * `delete` of a missing object succeeds; `delete_many` is `delete` of each.
//! * `remove_empty_dir` removes only an empty directory; a non-empty or missing one stays
//!   as it is, without error.
//! * `mkdirs` creates the directory and its parents where the store has directories (`stat`
//!   then says `Directory`), and creates nothing where it has not (no marker objects).
//! * `copy` of an entry copies that object server-side, pinned to the entry's version where it
//!   carries one: a source replaced since fails (`ConditionNotMatch` or `NotFound`) and leaves
//!   no destination. Without `server_side_copy` it answers `Unsupported`.
//! * `rename` replaces an existing destination; without `atomic_rename` it is `Unsupported`.
//! * `checksum` gives a checksum the store keeps without ferry reading the data, or `None`.
//! * `set_modified` sets the mtime `stat` reports; without the capability, `Unsupported`.
//! * `confirm_unchanged` fails with `Corrupted` when a file changed since it was listed.
//! * `check_container` fails (`NotFound`) only when the container — the bucket — is missing or
//!   the store is unreachable, never because the path inside it does not exist yet.
//!
//! Submodules: [`multipart`] (the streaming multipart writer every object store uses),
//! [`temp`] (temp names for stores that write under one and rename), [`bucket`] (bucket
//! stores' location helpers).

pub mod bucket;
pub mod multipart;
pub mod temp;

pub use bucket::check_bucket_of;

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::checksum::{Checksum, ChecksumKind};
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;

/// A stream of byte chunks, as returned by [`Storage::read`].
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A stream of listing entries, as returned by [`Storage::list`].
pub type ListStream = BoxStream<'static, Result<Entry>>;

/// Whether an entry is a file, a directory, or something ferry does not copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A file or object.
    File,
    /// A directory (filesystems) or a common prefix (object stores, from `stat` only).
    Directory,
    /// Not a regular file (a FIFO, socket or device), or a directory already being walked (a
    /// symlink loop): listed so that it can be reported, never read. Only filesystems have
    /// them.
    Special(SpecialKind),
}

/// What a [`EntryKind::Special`] entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialKind {
    /// A named pipe: reading it waits for a writer, maybe forever.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block or character device.
    Device,
    /// A directory (reached through a symlink) that is also one of its own ancestors: walking
    /// it would never end.
    DirectoryLoop,
    /// A symlink whose target does not exist: nothing to copy.
    DanglingSymlink,
    /// Anything else that is not a regular file.
    Other,
}

impl SpecialKind {
    /// Why such an entry is not copied, for messages and reports.
    pub fn reason(self) -> &'static str {
        match self {
            SpecialKind::Fifo => "not a regular file (a FIFO)",
            SpecialKind::Socket => "not a regular file (a socket)",
            SpecialKind::Device => "not a regular file (a device)",
            SpecialKind::DirectoryLoop => {
                "directory symlink loop (it leads back to a directory above it)"
            }
            SpecialKind::DanglingSymlink => "dangling symlink (its target does not exist)",
            SpecialKind::Other => "not a regular file",
        }
    }
}

/// What `stat` and `list` report about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it is.
    pub location: Location,
    /// File or directory.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Last modification time, if the store keeps one.
    pub modified: Option<SystemTime>,
    /// A checksum the store keeps for the object, if it reports one cheaply.
    pub checksum: Option<Checksum>,
    /// The version of the object the store listed (an S3 ETag, a GCS generation), where it
    /// has one: [`Storage::copy`] pins a server-side copy to it, so that a source replaced
    /// since the listing fails the copy instead of being copied. `None` on filesystems.
    pub version: Option<String>,
}

impl Entry {
    /// A file entry with no mtime or checksum.
    pub fn file(location: Location, size: u64) -> Entry {
        Entry {
            location,
            kind: EntryKind::File,
            size,
            modified: None,
            checksum: None,
            version: None,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Directory
    }

    /// What this is when it is neither a file nor a directory.
    pub fn special(&self) -> Option<SpecialKind> {
        match self.kind {
            EntryKind::Special(kind) => Some(kind),
            _ => None,
        }
    }
}

/// What a backend can do. The engine plans copies from this; nothing is assumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `read` honours byte ranges efficiently (positional reads, HTTP Range).
    pub ranged_reads: bool,
    /// `start_multipart` works: parts of one object can be written concurrently.
    pub parallel_part_writes: bool,
    /// `resume_multipart` can reopen an upload started by an earlier process.
    pub resumable_multipart: bool,
    /// `copy` can copy between two locations of this store without moving the bytes through us.
    pub server_side_copy: bool,
    /// `rename` is atomic (filesystems, HDFS).
    pub atomic_rename: bool,
    /// Written data becomes visible only at `commit` (object stores): no temp name needed.
    pub atomic_writes: bool,
    /// The store has real directories, so `mkdirs` means something.
    pub directories: bool,
    /// `set_modified` works.
    pub set_modified: bool,
    /// Checksums the store reports without re-reading the data.
    pub native_checksums: Vec<ChecksumKind>,
    /// Smallest part a multipart upload accepts (except the last part).
    pub min_part_size: u64,
    /// Largest part a multipart upload accepts.
    pub max_part_size: u64,
    /// Most parts one multipart upload may have.
    pub max_parts: u32,
    /// Files in flight this store wants, as source or destination, when the user leaves it to
    /// ferry (0: no preference, the engine's default). Stores where each file costs a slow but
    /// cheap round trip — HDFS: a NameNode lookup per read, and on writes a `complete` the
    /// client polls for up to seconds until the new file's last block is reported — want many
    /// more in flight than the default; memory stays bounded by the byte budget whatever this
    /// says.
    pub preferred_concurrency: usize,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            ranged_reads: false,
            parallel_part_writes: false,
            resumable_multipart: false,
            server_side_copy: false,
            atomic_rename: false,
            atomic_writes: false,
            directories: false,
            set_modified: false,
            native_checksums: Vec::new(),
            min_part_size: 1,
            max_part_size: u64::MAX,
            max_parts: u32::MAX,
            preferred_concurrency: 0,
        }
    }
}

/// Appends a ranged read of `location` at `offset` to `buffer` (emptied first), up to `len`
/// bytes. More bytes than `len` is an error: the store answered a range it was not asked for.
/// Appending, rather than copying into a slice, means a lent buffer is never zeroed first.
pub async fn fill_from(
    mut stream: ByteStream,
    buffer: &mut Vec<u8>,
    len: usize,
    location: &Location,
    offset: u64,
) -> Result<()> {
    use futures::TryStreamExt;
    buffer.clear();
    while let Some(chunk) = stream.try_next().await? {
        if chunk.len() > len - buffer.len() {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("the server sent more than the {len} bytes asked for at offset {offset}"),
            )
            .with_operation("read")
            .with_context("path", location));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(())
}

/// Options for writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The final size, when known in advance (lets stores pre-allocate or pick an upload API).
    pub size_hint: Option<u64>,
    /// The CRC32C of the whole object, when known before the write starts.
    pub crc32c: Option<u32>,
}

/// What a completed write reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReceipt {
    /// Bytes written.
    pub size: u64,
    /// The size the store itself reports for what it stored, when it learns it as part of the
    /// write (an `fstat` of the written file). The engine checks it instead of a separate
    /// `stat`; `None` makes the engine `stat` the object.
    pub stored_size: Option<u64>,
    /// A checksum the store computed on its side, if it returned one.
    pub checksum: Option<Checksum>,
}

/// A part written by a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartReceipt {
    /// Zero-based index of the part.
    pub index: u32,
    /// Offset of the part in the object.
    pub offset: u64,
    /// Bytes in the part.
    pub size: u64,
    /// The store's receipt for the part (an S3 ETag), if it has one.
    pub tag: Option<String>,
}

/// A streaming writer for one object. Dropping it without `commit` must not publish the data;
/// call `abort` to clean up eagerly.
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends bytes.
    async fn write(&mut self, data: Bytes) -> Result<()>;
    /// Finishes the object and makes it visible.
    async fn commit(self: Box<Self>) -> Result<WriteReceipt>;
    /// Discards what was written.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// A multipart upload: parts written concurrently, then assembled by `complete`.
#[async_trait]
pub trait MultipartUpload: Send + Sync {
    /// A token that identifies the upload across processes (an S3 upload id, a temp path); the
    /// engine's journal stores it so a later run can `resume_multipart`.
    fn token(&self) -> &str;
    /// Writes one part. `crc32c` is the part's checksum, for stores that verify it on arrival.
    async fn put_part(
        &self,
        index: u32,
        offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> Result<PartReceipt>;
    /// Assembles the parts (sorted by index) into the object.
    async fn complete(&self, parts: Vec<PartReceipt>) -> Result<WriteReceipt>;
    /// Abandons the upload and removes what it wrote.
    async fn abort(&self) -> Result<()>;
}

/// A storage backend: one store (a local filesystem, an HDFS cluster, an S3 endpoint with its
/// credentials, …), addressed by [`Location`]s.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// The backend's name (`local`, `s3`, `hdfs`, `gcs`, `memory`), for messages.
    fn name(&self) -> &'static str;

    /// Identifies the store instance: two `Storage`s with the same identity reach the same data
    /// with the same credentials, so a server-side copy between them is possible.
    fn identity(&self) -> &str;

    /// What this backend can do.
    fn capabilities(&self) -> &Capabilities;

    /// Metadata of one path. `NotFound` if absent.
    async fn stat(&self, location: &Location) -> Result<Entry>;

    /// Every file below `prefix`, recursively, streamed page by page.
    fn list(&self, prefix: &Location) -> ListStream;

    /// The direct children of `dir`, one level down: its files (as [`Storage::list`] reports
    /// them) and its sub-directories (kind `Directory`, size 0), each once, in no particular
    /// order; nothing when `dir` does not exist. Backends answer from one directory read or a
    /// delimiter listing, so a sub-directory's contents are never enumerated: `ferry ls` steps
    /// over a `shared/` of a million files this way. The default derives the children from the
    /// recursive [`Storage::list`] ([`children_of`]): right, but as costly as that listing.
    fn list_dir(&self, dir: &Location) -> ListStream {
        children_of(self.list(dir), dir.clone())
    }

    /// The bytes of `location`, or of `range` of it.
    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream>;

    /// Reads up to `len` bytes of `location` from `offset` into `buffer`, replacing what it
    /// held, and returns it: its length is the number of bytes read (less than `len` only at
    /// the end of the object). `buffer` arrives with room for `len` bytes and arbitrary
    /// contents: the engine lends pooled buffers this way, so memory is reused and never
    /// zeroed again. A backend that reads into a slice resizes it to `len` first (which zeroes
    /// only bytes the buffer has never held); one that receives chunks appends them. Backends
    /// that can read straight into it (one `pread`) override the default, which appends the
    /// chunks of [`Storage::read`].
    async fn read_into(
        &self,
        location: &Location,
        offset: u64,
        len: usize,
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>> {
        if len == 0 {
            buffer.clear();
            return Ok(buffer);
        }
        let end = offset + len as u64;
        let stream = self.read(location, Some(offset..end)).await?;
        fill_from(stream, &mut buffer, len, location, offset).await?;
        Ok(buffer)
    }

    /// Opens a streaming writer that creates or replaces `location`.
    async fn write(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Box<dyn ObjectWriter>>;

    /// Writes a whole object from one buffer. Backends with a one-shot upload override this.
    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        let mut writer = self.write(location, options).await?;
        if let Err(err) = writer.write(data).await {
            let _ = writer.abort().await;
            return Err(err);
        }
        writer.commit().await
    }

    /// Starts a multipart upload (see [`Capabilities::parallel_part_writes`]).
    async fn start_multipart(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let _ = (location, options);
        Err(Error::unsupported("start_multipart"))
    }

    /// Reopens an upload started earlier, from its token. Parts already written stay.
    async fn resume_multipart(
        &self,
        location: &Location,
        token: &str,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let _ = (location, token, options);
        Err(Error::unsupported("resume_multipart"))
    }

    /// Removes a file or object. A missing one is not an error.
    async fn delete(&self, location: &Location) -> Result<()>;

    /// Removes several files or objects, as [`Storage::delete`] would one by one; stores with a
    /// batch request (S3 DeleteObjects, up to [`DELETE_BATCH`] keys) override this. Stops at the
    /// first failure: the files before it are gone, the failed one and those after it may
    /// remain. The default deletes up to 16 at a time.
    async fn delete_many(&self, locations: &[Location]) -> Result<()> {
        for chunk in locations.chunks(16) {
            let deletes: Vec<_> = chunk.iter().map(|location| self.delete(location)).collect();
            futures::future::try_join_all(deletes).await?;
        }
        Ok(())
    }

    /// Removes the directory `dir` if it exists and is empty, where the store has directories;
    /// a directory that still holds anything, or is missing, is left as it is (not an error).
    /// Never recursive. Stores without directories keep this default, which does nothing.
    async fn remove_empty_dir(&self, dir: &Location) -> Result<()> {
        let _ = dir;
        Ok(())
    }

    /// Creates a directory and its parents where the store has directories; a no-op elsewhere.
    async fn mkdirs(&self, location: &Location) -> Result<()> {
        let _ = location;
        Ok(())
    }

    /// Copies the object `from` (as listed or stated) to `to` within the store without moving
    /// bytes through ferry. Where `from.version` is set the copy is pinned to that version: a
    /// source replaced or removed since it was listed fails with `ConditionNotMatch` (or
    /// `NotFound`), never copies the newer content. Without a version the backend looks the
    /// source up itself.
    async fn copy(&self, from: &Entry, to: &Location) -> Result<WriteReceipt> {
        let _ = (from, to);
        Err(Error::unsupported("copy"))
    }

    /// Renames, replacing an existing destination.
    async fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        let _ = (from, to);
        Err(Error::unsupported("rename"))
    }

    /// A checksum the store keeps or computes for the object without ferry reading it.
    /// `Ok(None)` when it has none of that kind.
    async fn checksum(&self, location: &Location, kind: ChecksumKind) -> Result<Option<Checksum>> {
        let _ = (location, kind);
        Ok(None)
    }

    /// Checks, after a copy read `entry.size` bytes of `entry`, that the file still is what
    /// its listing said: the same size and modification time, and (where the store can tell
    /// cheaply) no bytes beyond the listed size — a `/proc`-style file that lists as 0 bytes
    /// has content. Fails with `Corrupted` ("changed while being copied") otherwise. Stores
    /// whose objects cannot change in place keep this default, which checks nothing.
    async fn confirm_unchanged(&self, entry: &Entry) -> Result<()> {
        let _ = entry;
        Ok(())
    }

    /// Sets the modification time.
    async fn set_modified(&self, location: &Location, modified: SystemTime) -> Result<()> {
        let _ = (location, modified);
        Err(Error::unsupported("set_modified"))
    }

    /// Fails with `NotFound` when the container `location` lives in is missing: the bucket,
    /// for stores that have them. The engine asks before writing, so that a mistyped bucket is
    /// one error rather than the same error for every file. Answers it cannot give (no right
    /// to look at the bucket, say) are `Ok`: the writes then tell. Stores whose root always
    /// exists keep this default.
    async fn check_container(&self, location: &Location) -> Result<()> {
        let _ = location;
        Ok(())
    }
}

/// Most locations one [`Storage::delete_many`] call is given by the engine (S3's DeleteObjects
/// limit).
pub const DELETE_BATCH: usize = 1000;

/// The direct children of `dir` in a recursive `listing` of it: files one level down as they
/// are, deeper paths folded into one `Directory` entry for their first segment. Memory holds
/// the names of the sub-directories seen.
pub fn children_of(listing: ListStream, dir: Location) -> ListStream {
    use futures::{StreamExt, TryStreamExt};
    let mut seen = std::collections::HashSet::new();
    listing
        .try_filter_map(move |entry| {
            let child = match entry.location.strip_prefix(&dir) {
                Some(rel) if !rel.is_empty() => match rel.split_once('/') {
                    None => Some(entry),
                    Some((first, _)) if seen.insert(first.to_string()) => Some(Entry {
                        location: dir.join(first),
                        kind: EntryKind::Directory,
                        size: 0,
                        modified: None,
                        checksum: None,
                        version: None,
                    }),
                    Some(_) => None,
                },
                _ => None,
            };
            futures::future::ready(Ok(child))
        })
        .boxed()
}

/// Reads `range` (or all) of `location` into one buffer. The range is clamped to the object's
/// end by the backend.
pub async fn read_to_bytes(
    storage: &dyn Storage,
    location: &Location,
    range: Option<Range<u64>>,
) -> Result<Bytes> {
    collect(storage.read(location, range).await?).await
}

/// Collects a byte stream into one buffer (without copying when it has one chunk).
pub async fn collect(mut stream: ByteStream) -> Result<Bytes> {
    use futures::TryStreamExt;
    let mut chunks: Vec<Bytes> = Vec::new();
    while let Some(chunk) = stream.try_next().await? {
        chunks.push(chunk);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let total = chunks.iter().map(Bytes::len).sum();
            let mut buffer = bytes::BytesMut::with_capacity(total);
            chunks.iter().for_each(|c| buffer.extend_from_slice(c));
            buffer.freeze()
        }
    })
}

/// Writes a whole object so that it appears complete or not at all: directly on stores whose
/// writes commit atomically, else under a hidden temp name and renamed into place.
pub async fn put_atomic(storage: &dyn Storage, location: &Location, data: Bytes) -> Result<()> {
    let caps = storage.capabilities();
    let options = WriteOptions {
        size_hint: Some(data.len() as u64),
        crc32c: Some(crate::checksum::crc32c(&data)),
    };
    if caps.atomic_writes || !caps.atomic_rename {
        storage.put(location, data, &options).await?;
        return Ok(());
    }
    let name = location.file_name().unwrap_or("file");
    let temp = location
        .parent()
        .unwrap_or_else(|| location.clone())
        .join(&temp::temp_name(name));
    storage.put(&temp, data, &options).await?;
    if let Err(err) = storage.rename(&temp, location).await {
        let _ = storage.delete(&temp).await;
        return Err(err);
    }
    Ok(())
}
