//! `S3Storage`, the [`Storage`] of one S3 endpoint with one set of credentials: the trait's
//! methods, on the requests of [`crate::core`] and the `reader`, `writer` and `copy` modules.
//!
//! One store serves every bucket of its endpoint (the location's authority is the bucket), so
//! two locations on the same endpoint with the same credentials share an identity, and copies
//! between them — across buckets too — run server-side. Listings yield locations with the
//! scheme of the listed prefix, so the user's spelling (`s3a`, `s3p`, …) is kept.
//!
//! Object stores have no directories: `stat` of a key prefix with objects below it is a
//! `Directory` entry, listing is recursive by prefix, and directory-marker objects (keys ending
//! in `/`) are skipped.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::checksum::{Checksum, ChecksumKind};
use ferry_core::registry::BackendOptions;
use ferry_core::storage::bucket::{directory, list_prefix, representable, unrepresentable};
use ferry_core::storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, MultipartUpload, ObjectWriter, Storage,
    WriteOptions, WriteReceipt,
};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};

use crate::config::{S3Settings, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::core::{bucket_key, ListPage, S3Core};
use crate::writer::S3Upload;

/// One S3 endpoint with one set of credentials.
#[derive(Debug)]
pub struct S3Storage {
    pub(crate) core: Arc<S3Core>,
    pub(crate) settings: S3Settings,
    identity: String,
    capabilities: Capabilities,
}

impl S3Storage {
    /// Opens the store described by `options` (see the crate docs for the keys). Resolves the
    /// credentials at once: missing or unusable ones are a `ConfigInvalid` error here.
    pub async fn open(options: &BackendOptions) -> Result<S3Storage> {
        let settings = S3Settings::from_options(options)?;
        let (core, access_key) = S3Core::connect(&settings).await?;
        let identity = format!(
            "s3|{}|{}",
            core.endpoint_label,
            access_key.as_deref().unwrap_or("anonymous")
        );
        Ok(S3Storage {
            core: Arc::new(core),
            settings,
            identity,
            capabilities: Capabilities {
                ranged_reads: true,
                parallel_part_writes: true,
                resumable_multipart: true,
                server_side_copy: true,
                atomic_rename: false,
                atomic_writes: true,
                directories: false,
                set_modified: false,
                native_checksums: vec![ChecksumKind::Crc32c],
                min_part_size: MIN_PART_SIZE,
                max_part_size: MAX_PART_SIZE,
                max_parts: MAX_PARTS,
                preferred_concurrency: 0,
            },
        })
    }

    /// The endpoint as shown in messages (`http://127.0.0.1:8333`, `AWS S3 (us-east-1)`).
    pub fn endpoint(&self) -> &str {
        &self.core.endpoint_label
    }

    /// Multipart uploads in progress at or below `prefix`: (location, upload id). A failed or
    /// interrupted copy should leave none; this is how tests and users check.
    pub async fn pending_uploads(&self, prefix: &Location) -> Result<Vec<(Location, String)>> {
        let uploads = self.core.s3_list_uploads(prefix, prefix.key()).await?;
        Ok(uploads
            .into_iter()
            .map(|(key, id)| (prefix.with_path(&key), id))
            .collect())
    }

    /// Aborts every multipart upload at or below `prefix`; returns how many.
    pub async fn abort_uploads(&self, prefix: &Location) -> Result<usize> {
        let uploads = self.pending_uploads(prefix).await?;
        for (location, id) in &uploads {
            self.core.s3_abort(location, id).await?;
        }
        Ok(uploads.len())
    }

    /// Deletes every object below `prefix` with batched DeleteObjects requests (1000 keys
    /// each); returns how many.
    pub async fn delete_prefix(&self, prefix: &Location) -> Result<u64> {
        let mut listing = self.list(prefix).chunks(1000);
        let mut deleted = 0;
        while let Some(page) = listing.next().await {
            let keys = page
                .into_iter()
                .map(|entry| entry.map(|e| e.location.key().to_string()))
                .collect::<Result<Vec<_>>>()?;
            deleted += keys.len() as u64;
            self.core.s3_delete_batch(prefix, keys).await?;
        }
        Ok(deleted)
    }
}

/// The pages of a listing below `location` (delimited: one level), each fetched when the
/// stream reaches it.
fn pages(
    core: Arc<S3Core>,
    location: &Location,
    delimited: bool,
) -> futures::stream::BoxStream<'static, Result<ListPage>> {
    let (root, key_prefix) = (location.clone(), list_prefix(location));
    // State: `None` when done, else the continuation token (`None` for the first page).
    futures::stream::try_unfold(Some(None), move |state: Option<Option<String>>| {
        let (core, root, key_prefix) = (core.clone(), root.clone(), key_prefix.clone());
        async move {
            let Some(token) = state else {
                return Ok(None);
            };
            let page = core
                .s3_list_page(&root, &key_prefix, token, None, delimited)
                .await?;
            let next = page.next.clone().map(Some);
            Ok(Some((page, next)))
        }
    })
    .boxed()
}

#[async_trait]
impl Storage for S3Storage {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn identity(&self) -> &str {
        &self.identity
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn check_container(&self, location: &Location) -> Result<()> {
        ferry_core::storage::check_bucket_of(self, location).await
    }

    async fn stat(&self, location: &Location) -> Result<Entry> {
        let not_found = |what: &str| {
            Error::new(ErrorKind::NotFound, what.to_string())
                .with_operation("stat")
                .with_context("path", location)
                .with_context("backend", "s3")
        };
        if location.is_root() {
            return if self.core.s3_head_bucket(location).await? {
                Ok(directory(location))
            } else {
                let (bucket, _) = bucket_key(location)?;
                Err(not_found(&format!(
                    "no such bucket {bucket} at {}: check the bucket name, the endpoint and the region",
                    self.core.endpoint_label
                )))
            };
        }
        if let Some(info) = self.core.s3_head(location).await? {
            return Ok(Entry {
                location: location.clone(),
                kind: EntryKind::File,
                size: info.size,
                modified: info.modified,
                checksum: info.crc32c.map(Checksum::Crc32c),
                version: info.etag,
            });
        }
        let page = self
            .core
            .s3_list_page(location, &list_prefix(location), None, Some(1), false)
            .await?;
        if page.objects.is_empty() {
            Err(not_found("no such object or prefix"))
        } else {
            Ok(directory(location))
        }
    }

    fn list(&self, prefix: &Location) -> ListStream {
        let root = prefix.clone();
        pages(self.core.clone(), prefix, false)
            .and_then(move |page| {
                let mut entries = Vec::with_capacity(page.objects.len());
                for object in page.objects {
                    if object.key.ends_with('/') {
                        continue; // a directory marker, not data
                    }
                    if !representable(&object.key) {
                        return futures::future::ready(Err(unrepresentable(
                            "object key",
                            &object.key,
                            &root,
                        )));
                    }
                    entries.push(Ok(Entry {
                        location: root.with_path(&object.key),
                        kind: EntryKind::File,
                        size: object.size,
                        modified: object.modified,
                        checksum: None,
                        version: object.etag,
                    }));
                }
                futures::future::ready(Ok(futures::stream::iter(entries)))
            })
            .try_flatten()
            .boxed()
    }

    fn list_dir(&self, dir: &Location) -> ListStream {
        let root = dir.clone();
        let key_prefix = list_prefix(dir);
        pages(self.core.clone(), dir, true)
            .map_ok(move |page| {
                let files = page
                    .objects
                    .into_iter()
                    .filter(|o| !o.key.ends_with('/') && representable(&o.key))
                    .map(|o| Entry {
                        location: root.with_path(&o.key),
                        kind: EntryKind::File,
                        size: o.size,
                        modified: o.modified,
                        checksum: None,
                        version: o.etag,
                    });
                // `a//b` lists a common prefix `a/` + `/`: not a directory ferry can name.
                let dirs = page
                    .prefixes
                    .into_iter()
                    .filter_map(|p| p.strip_suffix('/').map(str::to_string))
                    .filter(|p| p.len() > key_prefix.len() && representable(p))
                    .map(|p| directory(&root.with_path(&p)));
                let entries: Vec<Result<Entry>> = files.chain(dirs).map(Ok).collect();
                futures::stream::iter(entries)
            })
            .try_flatten()
            .boxed()
    }

    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        if range.as_ref().is_some_and(|r| r.start >= r.end) {
            // Nothing to read, but a missing object is still `NotFound`.
            self.stat(location).await?;
            return Ok(futures::stream::empty().boxed());
        }
        crate::reader::read(&self.core, location, range).await
    }

    async fn read_into(
        &self,
        location: &Location,
        offset: u64,
        len: usize,
        buffer: Vec<u8>,
    ) -> Result<Vec<u8>> {
        crate::reader::read_into(&self.core, location, offset, len, buffer).await
    }

    async fn write(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Box<dyn ObjectWriter>> {
        bucket_key(location)?;
        Ok(Box::new(crate::writer::writer(
            self.core.clone(),
            location.clone(),
            options.size_hint,
        )))
    }

    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        crate::writer::put(&self.core, location, data, options.crc32c).await
    }

    async fn start_multipart(
        &self,
        location: &Location,
        _options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let upload_id = self.core.s3_create_multipart(location).await?;
        Ok(Arc::new(S3Upload::new(
            self.core.clone(),
            location.clone(),
            upload_id,
            Vec::new(),
        )))
    }

    async fn resume_multipart(
        &self,
        location: &Location,
        token: &str,
        _options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        // ListParts proves the upload still exists for this key, and gives the CRC32C of each
        // part already written, so the whole object's checksum can still be sent at completion.
        let parts = self.core.s3_list_parts(location, token).await?;
        Ok(Arc::new(S3Upload::new(
            self.core.clone(),
            location.clone(),
            token.to_string(),
            parts,
        )))
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        if location.is_root() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{location} is a bucket, not an object"),
            ));
        }
        self.core.s3_delete(location).await
    }

    /// DeleteObjects: up to 1000 keys of one bucket per request.
    async fn delete_many(&self, locations: &[Location]) -> Result<()> {
        let mut rest = locations;
        while let Some(first) = rest.first() {
            let bucket = first.with_path("");
            let same = rest
                .iter()
                .take(ferry_core::storage::DELETE_BATCH)
                .take_while(|l| l.authority() == first.authority())
                .count();
            let (batch, tail) = rest.split_at(same);
            if let Some(root) = batch.iter().find(|l| l.is_root()) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{root} is a bucket, not an object"),
                ));
            }
            let keys = batch.iter().map(|l| l.key().to_string()).collect();
            self.core.s3_delete_batch(&bucket, keys).await?;
            rest = tail;
        }
        Ok(())
    }

    async fn copy(&self, from: &Entry, to: &Location) -> Result<WriteReceipt> {
        crate::copy::copy(&self.core, &self.settings, from, to).await
    }

    async fn checksum(&self, location: &Location, kind: ChecksumKind) -> Result<Option<Checksum>> {
        if kind != ChecksumKind::Crc32c {
            return Ok(None);
        }
        match self.core.s3_head(location).await? {
            Some(info) => Ok(info.crc32c.map(Checksum::Crc32c)),
            None => Err(Error::new(ErrorKind::NotFound, "no such object")
                .with_operation("checksum")
                .with_context("path", location)),
        }
    }
}
