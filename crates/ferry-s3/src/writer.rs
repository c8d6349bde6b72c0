//! Writes: one-shot PUTs, the streaming writer, and multipart uploads — each carrying the
//! CRC32C ferry computed while reading, which the server verifies on arrival.
//!
//! * [`put`] sends the engine's CRC32C of the whole object; the server rejects the PUT if the
//!   bytes it received differ (`BadDigest` → `Corrupted`).
//! * [`S3Upload`] is a multipart upload whose token is the upload id. Part `index` is S3 part
//!   number `index + 1` and carries its CRC32C; the upload asks for a full-object CRC32C, and
//!   `complete` sends the combination of the parts' CRCs so that the server checks the
//!   assembled object too. Resuming re-reads the parts' CRCs with ListParts.
//! * [`S3Writer`] buffers at most one part: small objects become one PUT at `commit`, larger
//!   ones a multipart upload written part by part. Dropping it uncommitted aborts the upload.
//!
//! A receipt's `stored_size` is set only when the server returned the CRC32C ferry sent (so it
//! verified exactly those bytes); otherwise the engine asks the store with `stat`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ferry_core::checksum::{combine_crc32c, crc32c, Checksum};
use ferry_core::storage::{MultipartUpload, ObjectWriter, PartReceipt, WriteReceipt};
use ferry_core::{Error, ErrorKind, Location, Result};

use crate::backend::{crc_or_compute, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::core::{ListedPart, S3Core};

/// The streaming writer's default part size.
const WRITER_PART_SIZE: u64 = 8 * 1024 * 1024;

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
    let crc = crc_or_compute(crc, &data);
    let stored = core.s3_put(location, data, crc).await?;
    Ok(receipt(size, Some(crc), stored))
}

/// A multipart upload; the token is the S3 upload id.
pub struct S3Upload {
    core: Arc<S3Core>,
    location: Location,
    upload_id: String,
    /// CRC32C and size of each part written (or found by ListParts), by index.
    parts: Mutex<BTreeMap<u32, (u32, u64)>>,
}

impl S3Upload {
    pub(crate) fn new(
        core: Arc<S3Core>,
        location: Location,
        upload_id: String,
        listed: Vec<ListedPart>,
    ) -> S3Upload {
        let parts = listed
            .into_iter()
            .filter_map(|p| Some(((p.number - 1).try_into().ok()?, (p.crc32c?, p.size))))
            .collect();
        S3Upload {
            core,
            location,
            upload_id,
            parts: Mutex::new(parts),
        }
    }

    fn parts(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, (u32, u64)>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
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
        self.parts().insert(index, (crc32c, size));
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
        let known = self.parts().clone();
        // The whole object's CRC32C, when every part's CRC is known and sizes agree.
        let full = parts
            .iter()
            .try_fold(0u32, |acc, p| match known.get(&p.index) {
                Some((crc, len)) if *len == p.size => Some(combine_crc32c(acc, *crc, p.size)),
                _ => None,
            });
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
                Ok((
                    self.number(p.index)?,
                    etag,
                    known.get(&p.index).map(|(c, _)| *c),
                ))
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

/// The streaming writer: buffers up to one part, then uploads it.
pub struct S3Writer {
    core: Arc<S3Core>,
    location: Location,
    size_hint: Option<u64>,
    buffer: BytesMut,
    /// The multipart upload, once the data outgrew one part.
    upload: Option<Arc<S3Upload>>,
    receipts: Vec<PartReceipt>,
    offset: u64,
    finished: bool,
}

impl S3Writer {
    pub(crate) fn new(core: Arc<S3Core>, location: Location, size_hint: Option<u64>) -> S3Writer {
        S3Writer {
            core,
            location,
            size_hint,
            buffer: BytesMut::new(),
            upload: None,
            receipts: Vec::new(),
            offset: 0,
            finished: false,
        }
    }

    /// The size of the next part: 8 MiB, more when the size hint needs it to stay within
    /// 10 000 parts, and doubling every 1000 parts when the size is unknown.
    fn part_size(&self) -> u64 {
        let base = match self.size_hint {
            Some(size) => WRITER_PART_SIZE.max(size.div_ceil(u64::from(MAX_PARTS) - 1)),
            None => WRITER_PART_SIZE << (self.receipts.len() / 1000).min(9),
        };
        base.clamp(MIN_PART_SIZE, MAX_PART_SIZE)
    }

    async fn send_part(&mut self, data: Bytes) -> Result<()> {
        let upload = match &self.upload {
            Some(upload) => upload.clone(),
            None => {
                let id = self.core.s3_create_multipart(&self.location).await?;
                let upload = Arc::new(S3Upload::new(
                    self.core.clone(),
                    self.location.clone(),
                    id,
                    Vec::new(),
                ));
                self.upload = Some(upload.clone());
                upload
            }
        };
        let index = self.receipts.len() as u32;
        let len = data.len() as u64;
        let crc = crc32c(&data);
        let receipt = upload.put_part(index, self.offset, data, crc).await?;
        self.offset += len;
        self.receipts.push(receipt);
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let part = self.part_size() as usize;
        if self.buffer.is_empty() && data.len() >= part {
            return self.send_part(data).await; // a whole part already: no copy
        }
        self.buffer.extend_from_slice(&data);
        while self.buffer.len() >= self.part_size() as usize {
            let part = self.buffer.split_to(self.part_size() as usize).freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteReceipt> {
        self.finished = true;
        let rest = std::mem::take(&mut self.buffer).freeze();
        if self.upload.is_none() {
            return put(&self.core, &self.location, rest, None).await;
        }
        let result = async {
            if !rest.is_empty() {
                self.send_part(rest).await?;
            }
            let upload = self.upload.clone().expect("started above");
            upload.complete(std::mem::take(&mut self.receipts)).await
        }
        .await;
        if result.is_err() {
            if let Some(upload) = &self.upload {
                let _ = upload.abort().await;
            }
        }
        result
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.finished = true;
        match self.upload.take() {
            Some(upload) => upload.abort().await,
            None => Ok(()),
        }
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Dropped uncommitted (a cancelled task): abort the upload so no parts linger.
        if let (false, Some(upload)) = (self.finished, self.upload.take()) {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = upload.abort().await;
                });
            }
        }
    }
}
