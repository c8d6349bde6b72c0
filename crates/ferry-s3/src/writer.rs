//! Writes: one-shot PUTs, the streaming writer, and multipart uploads — each carrying the
//! CRC32C ferry computed while reading, which the server verifies on arrival.
//!
//! * [`put`] sends the engine's CRC32C of the whole object; the server rejects the PUT if the
//!   bytes it received differ (`BadDigest` → `Corrupted`).
//! * [`S3Upload`] is a multipart upload whose token is the upload id. Part `index` is S3 part
//!   number `index + 1` and carries its CRC32C; the upload asks for a full-object CRC32C, and
//!   `complete` sends the combination of the parts' CRCs so that the server checks the
//!   assembled object too. Resuming re-reads the parts' CRCs with ListParts.
//! * [`writer`] is ferry-core's [`PartWriter`] on an [`S3Target`]: small objects become one
//!   PUT at `commit`, larger ones a multipart upload written part by part (8 MiB parts, grown
//!   to fit 10 000). Dropping it uncommitted aborts the upload.
//!
//! A receipt's `stored_size` is set only when the server returned the CRC32C ferry sent (so it
//! verified exactly those bytes); otherwise the engine asks the store with `stat`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::checksum::Checksum;
use ferry_core::storage::multipart::{PartChecksums, PartSizing, PartWriter, UploadTarget};
use ferry_core::storage::{MultipartUpload, PartReceipt, WriteReceipt};
use ferry_core::{Error, ErrorKind, Location, Result};

use crate::config::{MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::core::{ListedPart, S3Core};

/// How the streaming writer sizes parts: 8 MiB, more when the size hint needs it to stay
/// within 10 000 parts, and doubling every 1000 parts when the size is unknown.
const SIZING: PartSizing = PartSizing {
    base: 8 * 1024 * 1024,
    min: MIN_PART_SIZE,
    max: MAX_PART_SIZE,
    parts_for_hint: MAX_PARTS - 1,
    double_every: 1000,
    max_doublings: 9,
};

/// A receipt for `size` bytes whose CRC32C ferry computed as `sent` and the server reported
/// as `stored`.
fn receipt(size: u64, sent: Option<u32>, stored: Option<u32>) -> WriteReceipt {
    WriteReceipt {
        size,
        stored_size: (stored.is_some() && stored == sent).then_some(size),
        checksum: stored.map(Checksum::Crc32c),
    }
}

/// PutObject of `data`, with its CRC32C (`crc`, or computed here).
pub(crate) async fn put(
    core: &S3Core,
    location: &Location,
    data: Bytes,
    crc: Option<u32>,
) -> Result<WriteReceipt> {
    if data.len() as u64 > MAX_PART_SIZE {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "a single PUT is limited to 5 GiB; use a multipart upload",
        )
        .with_context("path", location));
    }
    let size = data.len() as u64;
    // The engine always sends the CRC it computed while reading; compute it if not.
    let crc = crc.unwrap_or_else(|| ferry_core::checksum::crc32c(&data));
    let stored = core.s3_put(location, data, crc).await?;
    Ok(receipt(size, Some(crc), stored))
}

/// A multipart upload; the token is the S3 upload id.
pub struct S3Upload {
    core: Arc<S3Core>,
    location: Location,
    upload_id: String,
    /// CRC32C and size of each part written (or found by ListParts), by index.
    parts: PartChecksums,
}

impl S3Upload {
    pub(crate) fn new(
        core: Arc<S3Core>,
        location: Location,
        upload_id: String,
        listed: Vec<ListedPart>,
    ) -> S3Upload {
        let parts = PartChecksums::from_parts(
            listed
                .into_iter()
                .filter_map(|p| Some(((p.number - 1).try_into().ok()?, p.crc32c?, p.size))),
        );
        S3Upload {
            core,
            location,
            upload_id,
            parts,
        }
    }

    fn number(&self, index: u32) -> Result<i32> {
        if index >= MAX_PARTS {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("part index {index}: S3 allows at most {MAX_PARTS} parts"),
            )
            .with_context("path", &self.location));
        }
        Ok(index as i32 + 1)
    }
}

#[async_trait]
impl MultipartUpload for S3Upload {
    fn token(&self) -> &str {
        &self.upload_id
    }

    async fn put_part(
        &self,
        index: u32,
        offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> Result<PartReceipt> {
        let number = self.number(index)?;
        let size = data.len() as u64;
        let etag = self
            .core
            .s3_upload_part(&self.location, &self.upload_id, number, data, crc32c)
            .await?;
        self.parts.record(index, crc32c, size);
        Ok(PartReceipt {
            index,
            offset,
            size,
            tag: Some(etag),
        })
    }

    async fn complete(&self, mut parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
        parts.sort_by_key(|p| p.index);
        let size = parts.iter().map(|p| p.size).sum();
        // The whole object's CRC32C, when every part's CRC is known and sizes agree.
        let full = self.parts.combined(&parts);
        let completed = parts
            .iter()
            .map(|p| {
                let etag = p.tag.clone().ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        format!("part {} has no ETag", p.index),
                    )
                    .with_context("path", &self.location)
                })?;
                Ok((self.number(p.index)?, etag, self.parts.get(p.index)))
            })
            .collect::<Result<Vec<_>>>()?;
        let stored = self
            .core
            .s3_complete(&self.location, &self.upload_id, completed, full)
            .await?;
        Ok(receipt(size, full, stored))
    }

    async fn abort(&self) -> Result<()> {
        self.core.s3_abort(&self.location, &self.upload_id).await
    }
}

/// What [`PartWriter`] needs of S3: PutObject for a whole small object, and multipart uploads.
pub(crate) struct S3Target {
    core: Arc<S3Core>,
    location: Location,
}

#[async_trait]
impl UploadTarget for S3Target {
    async fn put_whole(&self, data: Bytes) -> Result<WriteReceipt> {
        put(&self.core, &self.location, data, None).await
    }

    async fn start(&self) -> Result<Arc<dyn MultipartUpload>> {
        let id = self.core.s3_create_multipart(&self.location).await?;
        Ok(Arc::new(S3Upload::new(
            self.core.clone(),
            self.location.clone(),
            id,
            Vec::new(),
        )))
    }
}

/// The streaming writer of `location`.
pub(crate) fn writer(core: Arc<S3Core>, location: Location, size_hint: Option<u64>) -> PartWriter {
    PartWriter::new(S3Target { core, location }, SIZING, size_hint)
}
