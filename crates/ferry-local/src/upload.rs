//! Writes: the streaming writer ([`LocalWriter`], one file written in order) and multipart
//! uploads ([`LocalUpload`]: parts written at their offsets into one pre-sized file, with
//! `O_DIRECT` for whole blocks where the filesystem allows it; the file's path is the token,
//! so another process can resume it).

use std::fs::File;
use std::io::ErrorKind as IoKind;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::storage::{MultipartUpload, ObjectWriter, PartReceipt, WriteReceipt};
use ferry_core::{Error, ErrorKind, Result};

use crate::core::{blocking, io_error};
use crate::write;

/// The streaming writer: sequential writes to one file (the engine gives it a temp name).
pub(crate) struct LocalWriter {
    pub(crate) file: Option<File>,
    pub(crate) path: PathBuf,
    pub(crate) written: u64,
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
pub(crate) struct LocalUpload {
    /// Held (through [`write::hold`]) around each part's write: one writer at a time.
    write_lock: Arc<std::sync::Mutex<()>>,
    /// Direct writes of whole blocks, where the filesystem has them.
    pub(crate) direct: Option<Arc<write::DirectFile>>,
    file: Arc<File>,
    path: PathBuf,
    token: String,
}

impl LocalUpload {
    /// Blocks (it opens the direct-write handle, unless `direct_io` is off): call on the
    /// blocking pool.
    pub(crate) fn new(file: File, path: PathBuf, direct_io: bool) -> LocalUpload {
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
