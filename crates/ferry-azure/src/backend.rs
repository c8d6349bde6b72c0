//! `AzureStorage`, the [`Storage`] of one storage account with one set of credentials, and the
//! factory that opens it for `wasb[s]://` and `abfs[s]://` locations.
//!
//! One store serves every container of its account, so copies between two locations of one
//! account run server-side (Copy Blob, pinned to the ETag the listing saw). Blob storage has
//! no directories: `stat` of a name prefix with blobs below it is a `Directory`, listing is
//! by prefix, and Hadoop's folder markers (`hdi_isfolder=true`) and names ending in `/` are
//! not listed.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::checksum::{Checksum, ChecksumKind};
use ferry_core::registry::{BackendFactory, BackendOptions, Registry};
use ferry_core::storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, MultipartUpload, ObjectWriter, Storage,
    WriteOptions, WriteReceipt,
};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::config::{azure_path, AzureSettings};
use crate::core::{AzureCore, BlobInfo};
use crate::upload::{AzureUpload, AzureWriter, MAX_BLOCKS};

/// One storage account with one set of credentials.
#[derive(Debug)]
pub struct AzureStorage {
    core: Arc<AzureCore>,
    identity: String,
    capabilities: Capabilities,
}

impl AzureStorage {
    /// Opens the store of `location`'s account (see [`crate::config`] for the options). No
    /// request is sent yet.
    pub fn open(location: &Location, options: &BackendOptions) -> Result<AzureStorage> {
        let settings = AzureSettings::from_options(location, options)?;
        let identity = format!("azure|{}|{}", settings.endpoint, settings.auth.label());
        Ok(AzureStorage {
            core: Arc::new(AzureCore::connect(settings)?),
            identity,
            capabilities: Capabilities {
                ranged_reads: true,
                parallel_part_writes: true,
                resumable_multipart: true,
                server_side_copy: true,
                atomic_writes: true,
                native_checksums: vec![ChecksumKind::Crc32c],
                min_part_size: 1024 * 1024,
                max_part_size: 4000 * 1024 * 1024,
                max_parts: MAX_BLOCKS,
                ..Capabilities::default()
            },
        })
    }

    /// Creates the container of `location` if it does not exist (tests, benches).
    pub async fn create_container(&self, location: &Location) -> Result<()> {
        self.core.create_container(location).await
    }

    /// Deletes every blob below `prefix`; returns how many.
    pub async fn delete_prefix(&self, prefix: &Location) -> Result<u64> {
        let entries: Vec<Entry> = self.list(prefix).try_collect().await?;
        futures::stream::iter(&entries)
            .map(|entry| self.core.delete(&entry.location))
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(entries.len() as u64)
    }

    fn listing(&self, dir: &Location, delimiter: bool) -> BoxStream<'static, Result<BlobInfo>> {
        let core = self.core.clone();
        let root = dir.clone();
        let prefix = match dir.key() {
            "" => String::new(),
            key => format!("{key}/"),
        };
        futures::stream::try_unfold(Some(None), move |marker: Option<Option<String>>| {
            let (core, root, prefix) = (core.clone(), root.clone(), prefix.clone());
            async move {
                let Some(marker) = marker else {
                    return Ok(None);
                };
                let page = core
                    .list_page(&root, &prefix, delimiter, marker.as_deref())
                    .await?;
                let next = page.next.map(Some);
                Ok::<_, Error>(Some((
                    futures::stream::iter(page.blobs.into_iter().map(Ok)),
                    next,
                )))
            }
        })
        .try_flatten()
        .try_filter_map(move |blob: BlobInfo| {
            let name = blob.name.trim_end_matches('/');
            let keep = !name.is_empty()
                && if blob.is_dir {
                    delimiter && blob.name.ends_with('/') // a prefix, not a folder marker
                } else {
                    !blob.name.ends_with('/')
                }
                && !name.starts_with('/')
                && !name
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == "..");
            futures::future::ready(Ok(keep.then_some(blob)))
        })
        .boxed()
    }
}

fn entry(location: Location, blob: &BlobInfo) -> Entry {
    Entry {
        location,
        kind: if blob.is_dir {
            EntryKind::Directory
        } else {
            EntryKind::File
        },
        size: if blob.is_dir { 0 } else { blob.size },
        modified: blob.modified,
        checksum: blob.crc32c.map(Checksum::Crc32c),
        version: if blob.is_dir { None } else { blob.etag.clone() },
    }
}

fn not_found(op: &'static str, location: &Location, what: String) -> Error {
    Error::new(ErrorKind::NotFound, what)
        .with_operation(op)
        .with_context("path", location)
        .with_context("backend", "azure")
}

#[async_trait]
impl Storage for AzureStorage {
    fn name(&self) -> &'static str {
        "azure"
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
        let path = azure_path(location)?;
        let directory = || Entry {
            location: location.clone(),
            kind: EntryKind::Directory,
            size: 0,
            modified: None,
            checksum: None,
            version: None,
        };
        if location.is_root() {
            return if self.core.container_exists(location).await? {
                Ok(directory())
            } else {
                Err(not_found("stat", location, format!(
                    "no such container {} in account {} at {}: check the container name and the endpoint",
                    path.container, path.account, self.core.settings.endpoint
                )))
            };
        }
        if let Some(blob) = self.core.head(location).await? {
            return Ok(entry(location.clone(), &blob));
        }
        let mut below = self.listing(location, true);
        match below.try_next().await? {
            Some(_) => Ok(directory()),
            None => Err(not_found("stat", location, "no such blob or prefix".into())),
        }
    }

    fn list(&self, prefix: &Location) -> ListStream {
        let root = prefix.clone();
        self.listing(prefix, false)
            .map_ok(move |blob| entry(root.with_path(&blob.name), &blob))
            .boxed()
    }

    fn list_dir(&self, dir: &Location) -> ListStream {
        let root = dir.clone();
        self.listing(dir, true)
            .map_ok(move |blob| entry(root.with_path(blob.name.trim_end_matches('/')), &blob))
            .boxed()
    }

    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        if range.as_ref().is_some_and(|r| r.start >= r.end) {
            self.stat(location).await?; // a missing blob is still `NotFound`
            return Ok(futures::stream::empty().boxed());
        }
        self.core.get(location, range).await
    }

    async fn write(&self, location: &Location, _: &WriteOptions) -> Result<Box<dyn ObjectWriter>> {
        azure_path(location)?;
        Ok(Box::new(AzureWriter::new(
            self.core.clone(),
            location.clone(),
        )))
    }

    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        _: &WriteOptions,
    ) -> Result<WriteReceipt> {
        let size = data.len() as u64;
        let crc = ferry_core::checksum::crc32c(&data);
        self.core.put_blob(location, data, crc).await?;
        Ok(WriteReceipt {
            size,
            stored_size: None,
            checksum: None,
        })
    }

    async fn start_multipart(
        &self,
        location: &Location,
        _: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        azure_path(location)?;
        Ok(Arc::new(AzureUpload::start(self.core.clone(), location)))
    }

    async fn resume_multipart(
        &self,
        location: &Location,
        token: &str,
        _: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        Ok(Arc::new(
            AzureUpload::resume(self.core.clone(), location, token).await?,
        ))
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        if location.is_root() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{location} is a container, not a blob"),
            ));
        }
        self.core.delete(location).await
    }

    async fn copy(&self, from: &Entry, to: &Location) -> Result<WriteReceipt> {
        // A listed blob's ETag is known: pin the copy to it. Otherwise ask.
        let (size, etag) = match &from.version {
            Some(etag) => (from.size, etag.clone()),
            None => {
                let blob = self
                    .core
                    .head(&from.location)
                    .await?
                    .ok_or_else(|| not_found("copy", &from.location, "no such blob".into()))?;
                (blob.size, blob.etag.unwrap_or_default())
            }
        };
        let from = &from.location;
        let etag = (!etag.is_empty()).then_some(etag.as_str());
        self.core.copy(from, etag, to).await?;
        let copied = self
            .core
            .head(to)
            .await?
            .ok_or_else(|| not_found("copy", to, "the copy is missing".into()))?;
        if copied.size != size {
            let _ = self.core.delete(to).await;
            return Err(Error::new(
                ErrorKind::ConditionNotMatch,
                "the source changed since it was listed",
            )
            .with_operation("copy")
            .with_context("path", from));
        }
        Ok(WriteReceipt {
            size,
            stored_size: Some(copied.size),
            checksum: copied.crc32c.map(Checksum::Crc32c),
        })
    }

    async fn checksum(&self, location: &Location, kind: ChecksumKind) -> Result<Option<Checksum>> {
        if kind != ChecksumKind::Crc32c {
            return Ok(None);
        }
        match self.core.head(location).await? {
            Some(blob) => Ok(blob.crc32c.map(Checksum::Crc32c)),
            None => Err(not_found("checksum", location, "no such blob".into())),
        }
    }
}

/// Opens [`AzureStorage`]s for `wasb`, `wasbs`, `abfs` and `abfss`.
#[derive(Debug, Default)]
pub struct AzureFactory;

#[async_trait]
impl BackendFactory for AzureFactory {
    fn name(&self) -> &'static str {
        "azure"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["wasb", "wasbs", "abfs", "abfss"]
    }

    fn option_keys(&self) -> &'static [ferry_core::OptionKey] {
        crate::config::OPTIONS
    }

    /// One store per account (credentials are per account), whatever the container.
    fn store_key(&self, location: &Location, _: &BackendOptions) -> String {
        azure_path(location)
            .map(|p| format!("{}.{}", p.account, p.suffix))
            .unwrap_or_default()
    }

    async fn open(
        &self,
        location: &Location,
        options: &BackendOptions,
    ) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(AzureStorage::open(location, options)?))
    }
}

/// Registers the Azure schemes.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(AzureFactory));
}
