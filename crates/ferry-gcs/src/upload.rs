//! Large objects: parallel composite uploads behind the trait's multipart API, and the
//! streaming writer on top of them.
//!
//! * [`GcsUpload`] writes part `index` as a temporary object `<temp_prefix><id>/part-<index>`
//!   in the destination bucket (one single-request upload each, concurrently — the engine
//!   drives them within its memory budget), then `complete` composes the parts in order into
//!   the destination (a tree of composes for more than 32 parts, see [`crate::compose`]) and
//!   deletes every temporary object. `abort` deletes them too. The token is the upload id; a
//!   small marker object `<id>/upload` names the destination, so `resume_multipart` can check
//!   that the upload still exists and is for this object. A composite object's crc32c is the
//!   CRC32C of its whole content: `complete` reports it, and the engine compares it with the
//!   CRC it combined from the parts it read.
//! * [`GcsWriter`] buffers at most one part: small objects become one upload at `commit`,
//!   larger ones a composite upload written part by part. Dropping it uncommitted removes the
//!   parts.
//!
//! Limits: a composite object has at most 1024 components, hence at most 1024 parts.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ferry_core::checksum::{crc32c, Checksum};
use ferry_core::storage::{MultipartUpload, ObjectWriter, PartReceipt, WriteReceipt};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};

use crate::compose;
use crate::core::{bucket_name, GcsCore};

/// Most parts of one upload: GCS's limit of 1024 components per composite object.
pub const MAX_PARTS: u32 = 1024;
/// The streaming writer's default part size.
const WRITER_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Compose and delete requests in flight while assembling or cleaning up.
const CONCURRENCY: usize = 16;

/// A fresh upload id: 16 hex digits from a per-process random seed, the time and a counter.
fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// A parallel composite upload; the token is its id.
pub struct GcsUpload {
    core: Arc<GcsCore>,
    location: Location,
    bucket: String,
    name: String,
    id: String,
    /// `<temp_prefix><id>/`: where the parts live.
    dir: String,
}

impl GcsUpload {
    fn new(core: Arc<GcsCore>, location: &Location, temp_prefix: &str, id: String) -> Result<Self> {
        let (bucket, name) = bucket_name(location)?;
        if name.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{location} is a bucket, not an object"),
            ));
        }
        Ok(GcsUpload {
            dir: format!("{temp_prefix}{id}/"),
            bucket: bucket.to_string(),
            name: name.to_string(),
            core,
            location: location.clone(),
            id,
        })
    }

    /// What the marker object holds: the destination it belongs to.
    fn marker_content(&self) -> Bytes {
        Bytes::from(format!("gs://{}/{}", self.bucket, self.name))
    }

    /// Starts an upload to `location`: writes its marker object.
    pub(crate) async fn start(
        core: Arc<GcsCore>,
        location: &Location,
        temp_prefix: &str,
    ) -> Result<GcsUpload> {
        let upload = GcsUpload::new(core, location, temp_prefix, new_id())?;
        upload
            .core
            .gcs_put_name(
                &upload.bucket,
                &format!("{}upload", upload.dir),
                upload.marker_content(),
                location,
            )
            .await?;
        Ok(upload)
    }

    /// Reopens the upload `token` for `location`: its marker must exist and name `location`.
    pub(crate) async fn resume(
        core: Arc<GcsCore>,
        location: &Location,
        temp_prefix: &str,
        token: &str,
    ) -> Result<GcsUpload> {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{token:?} is not a GCS upload id"),
            )
            .with_context("path", location));
        }
        let upload = GcsUpload::new(core, location, temp_prefix, token.to_string())?;
        let marker = upload
            .core
            .gcs_read_small(&upload.bucket, &format!("{}upload", upload.dir), location)
            .await?;
        match marker {
            Some(content) if content == upload.marker_content() => Ok(upload),
            Some(_) => Err(Error::new(
                ErrorKind::ConditionNotMatch,
                format!("upload {token} belongs to another object"),
            )
            .with_operation("resume_multipart")
            .with_context("path", location)),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("upload {token} no longer exists (completed or aborted)"),
            )
            .with_operation("resume_multipart")
            .with_context("path", location)),
        }
    }

    fn part_name(&self, index: u32) -> String {
        format!("{}part-{index:05}", self.dir)
    }

    /// The temporary objects this upload left (parts, intermediates, marker).
    pub(crate) async fn leftovers(&self) -> Result<Vec<String>> {
        self.core
            .gcs_list(&self.location, self.dir.clone())
            .map_ok(|listed| listed.name)
            .try_collect()
            .await
    }

    /// Deletes every temporary object of this upload.
    async fn cleanup(&self) -> Result<()> {
        let names = self.leftovers().await?;
        futures::stream::iter(names)
            .map(|name| async move {
                self.core
                    .gcs_delete_name(&self.bucket, &name, &self.location)
                    .await
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    async fn assemble(&self, parts: &[PartReceipt]) -> Result<WriteReceipt> {
        let size: u64 = parts.iter().map(|p| p.size).sum();
        let sources: Vec<String> = parts.iter().map(|p| self.part_name(p.index)).collect();
        if sources.is_empty() {
            self.core.gcs_put(&self.location, Bytes::new()).await?;
        }
        let levels = compose::plan(&sources, &self.name, |level, index| {
            format!("{}compose-{level}-{index:04}", self.dir)
        });
        for level in &levels {
            futures::stream::iter(level.iter().cloned())
                .map(|step| async move {
                    self.core
                        .gcs_compose(&self.bucket, &step.sources, &step.target, &self.location)
                        .await
                })
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
        }
        let info = self.core.gcs_stat(&self.location).await?.ok_or_else(|| {
            Error::new(ErrorKind::Unexpected, "the composed object is missing")
                .with_operation("complete")
                .with_context("path", &self.location)
                .temporary()
        })?;
        Ok(WriteReceipt {
            size,
            stored_size: Some(info.size),
            checksum: info.crc32c.map(Checksum::Crc32c),
        })
    }
}

#[async_trait]
impl MultipartUpload for GcsUpload {
    fn token(&self) -> &str {
        &self.id
    }

    async fn put_part(
        &self,
        index: u32,
        offset: u64,
        data: Bytes,
        _crc32c: u32,
    ) -> Result<PartReceipt> {
        if index >= MAX_PARTS {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("part index {index}: a GCS composite object has at most {MAX_PARTS} parts"),
            )
            .with_context("path", &self.location));
        }
        let size = data.len() as u64;
        self.core
            .gcs_put_name(&self.bucket, &self.part_name(index), data, &self.location)
            .await?;
        Ok(PartReceipt {
            index,
            offset,
            size,
            tag: None,
        })
    }

    async fn complete(&self, mut parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
        parts.sort_by_key(|p| p.index);
        if let Some((i, p)) = parts
            .iter()
            .enumerate()
            .find(|(i, p)| p.index as usize != *i)
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("part {i} is missing (next part has index {})", p.index),
            )
            .with_operation("complete")
            .with_context("path", &self.location));
        }
        let receipt = self.assemble(&parts).await?;
        // The object is complete: the parts are garbage now. A failed clean-up is reported
        // but does not fail the copy.
        if let Err(err) = self.cleanup().await {
            tracing::warn!(%err, "cannot remove the temporary parts of a composite upload");
        }
        Ok(receipt)
    }

    async fn abort(&self) -> Result<()> {
        self.cleanup().await
    }
}

/// The streaming writer: buffers up to one part, then uploads it as a composite part.
pub struct GcsWriter {
    core: Arc<GcsCore>,
    location: Location,
    temp_prefix: String,
    size_hint: Option<u64>,
    buffer: BytesMut,
    upload: Option<Arc<GcsUpload>>,
    receipts: Vec<PartReceipt>,
    offset: u64,
    finished: bool,
}

impl GcsWriter {
    pub(crate) fn new(
        core: Arc<GcsCore>,
        location: Location,
        temp_prefix: String,
        size_hint: Option<u64>,
    ) -> GcsWriter {
        GcsWriter {
            core,
            location,
            temp_prefix,
            size_hint,
            buffer: BytesMut::new(),
            upload: None,
            receipts: Vec::new(),
            offset: 0,
            finished: false,
        }
    }

    /// 8 MiB, more when the size hint needs it to stay within 1024 parts, and doubling every
    /// 256 parts when the size is unknown.
    fn part_size(&self) -> u64 {
        match self.size_hint {
            Some(size) => WRITER_PART_SIZE.max(size.div_ceil(u64::from(MAX_PARTS))),
            None => WRITER_PART_SIZE << (self.receipts.len() / 256).min(12),
        }
    }

    async fn send_part(&mut self, data: Bytes) -> Result<()> {
        let upload = match &self.upload {
            Some(upload) => upload.clone(),
            None => {
                let upload = Arc::new(
                    GcsUpload::start(self.core.clone(), &self.location, &self.temp_prefix).await?,
                );
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
impl ObjectWriter for GcsWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if self.buffer.is_empty() && data.len() as u64 >= self.part_size() {
            return self.send_part(data).await; // a whole part already: no copy
        }
        self.buffer.extend_from_slice(&data);
        while self.buffer.len() as u64 >= self.part_size() {
            let part = self.buffer.split_to(self.part_size() as usize).freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteReceipt> {
        self.finished = true;
        let rest = std::mem::take(&mut self.buffer).freeze();
        if self.upload.is_none() {
            let size = rest.len() as u64;
            let stored = self.core.gcs_put(&self.location, rest).await?;
            return Ok(WriteReceipt {
                size,
                stored_size: Some(stored),
                checksum: None,
            });
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

impl Drop for GcsWriter {
    fn drop(&mut self) {
        // Dropped uncommitted (a cancelled task): remove the parts written so far.
        if let (false, Some(upload)) = (self.finished, self.upload.take()) {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = upload.abort().await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_hex_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())));
    }
}
