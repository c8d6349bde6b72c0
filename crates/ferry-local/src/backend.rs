//! [`LocalStorage`]: the [`Storage`] trait on the local filesystem. Each method runs its
//! system calls ([`crate::core`]) on tokio's blocking pool; writers and uploads are
//! [`crate::upload`]'s.

use std::fs::OpenOptions;
use std::io::ErrorKind as IoKind;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::storage::{
    ByteStream, Capabilities, Entry, ListStream, MultipartUpload, ObjectWriter, Storage,
    WriteOptions, WriteReceipt,
};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::StreamExt;

use crate::core::{
    blocking, create_file, entry_of, io_error, listing, local_path, open_for_read,
    open_nonblocking, pread, read_at_into, Depth, READ_CHUNK,
};
use crate::upload::{LocalUpload, LocalWriter};
use crate::write;

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

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::storage::{EntryKind, SpecialKind};
    use std::fs::File;
    use std::path::Path;

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
}
