//! Block uploads: a multipart upload is a set of uncommitted blocks (Put Block, each with its
//! `Content-MD5`, which Azure checks on arrival) committed in order by Put Block List, with
//! ferry's CRC32C of the whole content (combined from the parts' CRCs) stored in the blob's
//! metadata. Block ids are deterministic — the upload's token and the part index — so a later
//! process resumes an upload from its token alone; Get Block List tells whether its blocks are
//! still there. Uncommitted blocks are never visible to readers; Azure discards them when the
//! blob is next committed, or after a week. The streaming writer sends one Put Blob when the
//! object fits in one block, else blocks of [`BLOCK`] bytes as they fill.

use std::sync::Arc;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use ferry_core::checksum::{combine_crc32c, crc32c_append};
use ferry_core::storage::{MultipartUpload, ObjectWriter, PartReceipt, WriteReceipt};
use ferry_core::{Error, ErrorKind, Location, Result};

use crate::core::AzureCore;

/// The block size of the streaming writer (memory: one block per open writer).
pub const BLOCK: usize = 8 * 1024 * 1024;
/// Azure's limit on blocks per blob.
pub const MAX_BLOCKS: u32 = 50_000;

/// One block upload, identified by its token (16 hex digits).
#[derive(Debug)]
pub struct AzureUpload {
    core: Arc<AzureCore>,
    location: Location,
    token: String,
}

/// The id of block `index` of upload `token`: base64 of a fixed-length text, as Azure wants
/// every block id of a blob to have the same length.
fn block_id(token: &str, index: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{token}-{index:08}"))
}

impl AzureUpload {
    pub(crate) fn start(core: Arc<AzureCore>, location: &Location) -> AzureUpload {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = nanos
            ^ u64::from(std::process::id()).rotate_left(40)
            ^ NEXT.fetch_add(1, Ordering::Relaxed).rotate_left(20);
        AzureUpload {
            core,
            location: location.clone(),
            token: format!("{seed:016x}"),
        }
    }

    /// Reopens upload `token` of `location`: `NotFound` when none of its blocks are left.
    pub(crate) async fn resume(
        core: Arc<AzureCore>,
        location: &Location,
        token: &str,
    ) -> Result<AzureUpload> {
        let not_found = || {
            Error::new(
                ErrorKind::NotFound,
                format!("no blocks of upload {token} are left (committed or discarded)"),
            )
            .with_operation("resume upload")
            .with_context("path", location)
        };
        if token.len() != 16 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let blocks = core.uncommitted_blocks(location).await?;
        let decode = |id: &String| base64::engine::general_purpose::STANDARD.decode(id);
        let mine = |id: &String| decode(id).is_ok_and(|d| d.starts_with(token.as_bytes()));
        if !blocks.iter().any(mine) {
            return Err(not_found());
        }
        Ok(AzureUpload {
            core,
            location: location.clone(),
            token: token.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl MultipartUpload for AzureUpload {
    fn token(&self) -> &str {
        &self.token
    }

    async fn put_part(
        &self,
        index: u32,
        offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> Result<PartReceipt> {
        let size = data.len() as u64;
        self.core
            .put_block(&self.location, &block_id(&self.token, index), data)
            .await?;
        Ok(PartReceipt {
            index,
            offset,
            size,
            tag: Some(format!("{crc32c:08x}")),
        })
    }

    async fn complete(&self, mut parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
        parts.sort_by_key(|p| p.index);
        let mut crc = 0u32;
        let mut size = 0u64;
        for part in &parts {
            let part_crc = part
                .tag
                .as_deref()
                .and_then(|t| u32::from_str_radix(t, 16).ok());
            let Some(part_crc) = part_crc.filter(|_| part.offset == size) else {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("part {} is not the next of the upload", part.index),
                )
                .with_operation("complete upload")
                .with_context("path", &self.location));
            };
            crc = combine_crc32c(crc, part_crc, part.size);
            size += part.size;
        }
        let ids: Vec<String> = parts
            .iter()
            .map(|p| block_id(&self.token, p.index))
            .collect();
        self.core.put_block_list(&self.location, &ids, crc).await?;
        Ok(WriteReceipt {
            size,
            stored_size: None,
            checksum: None,
        })
    }

    /// Nothing to remove: uncommitted blocks are invisible and Azure discards them.
    async fn abort(&self) -> Result<()> {
        Ok(())
    }
}

/// A streaming writer: Put Blob for small objects, blocks of [`BLOCK`] bytes for larger ones.
pub struct AzureWriter {
    core: Arc<AzureCore>,
    location: Location,
    buffer: BytesMut,
    upload: Option<AzureUpload>,
    parts: Vec<PartReceipt>,
    offset: u64,
    crc: u32,
}

impl AzureWriter {
    pub(crate) fn new(core: Arc<AzureCore>, location: Location) -> AzureWriter {
        AzureWriter {
            core,
            location,
            buffer: BytesMut::new(),
            upload: None,
            parts: Vec::new(),
            offset: 0,
            crc: 0,
        }
    }

    async fn flush_block(&mut self, len: usize) -> Result<()> {
        let data = self.buffer.split_to(len).freeze();
        let upload = match &self.upload {
            Some(upload) => upload,
            None => self
                .upload
                .insert(AzureUpload::start(self.core.clone(), &self.location)),
        };
        let index = self.parts.len() as u32;
        let part_crc = ferry_core::checksum::crc32c(&data);
        let receipt = upload.put_part(index, self.offset, data, part_crc).await?;
        self.offset += receipt.size;
        self.parts.push(receipt);
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectWriter for AzureWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.crc = crc32c_append(self.crc, &data);
        self.buffer.extend_from_slice(&data);
        while self.buffer.len() >= BLOCK {
            self.flush_block(BLOCK).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteReceipt> {
        if self.upload.is_none() {
            let data = self.buffer.split().freeze();
            let size = data.len() as u64;
            self.core.put_blob(&self.location, data, self.crc).await?;
            return Ok(WriteReceipt {
                size,
                stored_size: None,
                checksum: None,
            });
        }
        if !self.buffer.is_empty() {
            self.flush_block(self.buffer.len()).await?;
        }
        let parts = std::mem::take(&mut self.parts);
        match &self.upload {
            Some(upload) => upload.complete(parts).await,
            None => Err(Error::new(ErrorKind::Unexpected, "no upload")),
        }
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length_and_start_with_the_token() {
        let a = block_id("0123456789abcdef", 0);
        let b = block_id("0123456789abcdef", 49_999);
        assert_eq!(a.len(), b.len());
        assert_eq!(a[..16], b[..16]);
        assert_ne!(a, b);
    }
}
