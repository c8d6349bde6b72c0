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
//! * [`writer`] is ferry-core's [`PartWriter`] on a [`GcsTarget`]: small objects become one
//!   upload at `commit`, larger ones a composite upload written part by part (8 MiB parts,
//!   grown to fit 1024). Dropping it uncommitted removes the parts.
//!
//! Limits: a composite object has at most 1024 components, hence at most 1024 parts.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::checksum::Checksum;
use ferry_core::storage::multipart::{PartSizing, PartWriter, UploadTarget};
use ferry_core::storage::{MultipartUpload, PartReceipt, WriteReceipt};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};

use crate::compose;
use crate::config::{MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::core::{bucket_name, GcsCore};

/// How the streaming writer sizes parts: 8 MiB, more when the size hint needs it to stay
/// within 1024 parts, and doubling every 256 parts when the size is unknown.
const SIZING: PartSizing = PartSizing {
    base: 8 * 1024 * 1024,
    min: MIN_PART_SIZE,
    max: MAX_PART_SIZE,
    parts_for_hint: MAX_PARTS,
    double_every: 256,
    max_doublings: 12,
};
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

/// What [`PartWriter`] needs of GCS: one upload for a whole small object, and composite
/// uploads.
pub(crate) struct GcsTarget {
    core: Arc<GcsCore>,
    location: Location,
    temp_prefix: String,
}

#[async_trait]
impl UploadTarget for GcsTarget {
    async fn put_whole(&self, data: Bytes) -> Result<WriteReceipt> {
        let size = data.len() as u64;
        let stored = self.core.gcs_put(&self.location, data).await?;
        Ok(WriteReceipt {
            size,
            stored_size: Some(stored),
            checksum: None,
        })
    }

    async fn start(&self) -> Result<Arc<dyn MultipartUpload>> {
        let upload = GcsUpload::start(self.core.clone(), &self.location, &self.temp_prefix).await?;
        Ok(Arc::new(upload))
    }
}

/// The streaming writer of `location`.
pub(crate) fn writer(
    core: Arc<GcsCore>,
    location: Location,
    temp_prefix: String,
    size_hint: Option<u64>,
) -> PartWriter {
    let target = GcsTarget {
        core,
        location,
        temp_prefix,
    };
    PartWriter::new(target, SIZING, size_hint)
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
