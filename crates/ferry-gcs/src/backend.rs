//! `GcsStorage`, the [`Storage`] of one GCS endpoint with one set of credentials: the trait's
//! methods, each one or a few requests of [`crate::core`].
//!
//! One store serves every bucket (the location's authority is the bucket), so two locations
//! with the same endpoint and credentials share an identity, and copies between them — across
//! buckets too — run server-side (`rewriteTo`). GCS has no directories: `stat` of a name
//! prefix with objects below it is a `Directory` entry, listing is recursive by prefix, and
//! folder placeholders (names ending in `/`) and ferry's own in-flight upload parts (under
//! `temp_prefix`) are not listed.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::checksum::{Checksum, ChecksumKind};
use ferry_core::registry::BackendOptions;
use ferry_core::storage::bucket::{list_prefix, representable, unrepresentable};
use ferry_core::storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, MultipartUpload, ObjectWriter, Storage,
    WriteOptions, WriteReceipt,
};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};

use crate::config::{GcsSettings, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::core::{bucket_name, GcsCore};
use crate::upload::GcsUpload;

/// One GCS endpoint with one set of credentials.
#[derive(Debug)]
pub struct GcsStorage {
    pub(crate) core: Arc<GcsCore>,
    pub(crate) settings: GcsSettings,
    identity: String,
    capabilities: Capabilities,
}

impl GcsStorage {
    /// Opens the store described by `options` (see the crate docs for the keys). No request
    /// is sent yet; credentials are resolved by the first one.
    pub fn open(options: &BackendOptions) -> Result<GcsStorage> {
        let settings = GcsSettings::from_options(options)?;
        let core = GcsCore::connect(&settings)?;
        let identity = format!(
            "gcs|{}|{}|{}",
            core.endpoint_label,
            settings.auth.label(),
            settings.project.as_deref().unwrap_or("")
        );
        Ok(GcsStorage {
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

    /// The endpoint as shown in messages.
    pub fn endpoint(&self) -> &str {
        &self.core.endpoint_label
    }

    /// Temporary objects of composite uploads in the bucket of `location` (under
    /// `temp_prefix`): an interrupted copy leaves them for a resume; a finished or aborted one
    /// leaves none. Tests and users check with this.
    pub async fn pending_parts(&self, location: &Location) -> Result<Vec<String>> {
        self.core
            .gcs_list(location, self.settings.temp_prefix.clone())
            .map_ok(|listed| listed.name)
            .try_collect()
            .await
    }

    /// Deletes every object below `prefix`; returns how many.
    pub async fn delete_prefix(&self, prefix: &Location) -> Result<u64> {
        let entries: Vec<Entry> = self.list(prefix).try_collect().await?;
        let count = entries.len() as u64;
        futures::stream::iter(entries)
            .map(|entry| async move { self.core.gcs_delete(&entry.location).await })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(count)
    }
}

#[async_trait]
impl Storage for GcsStorage {
    fn name(&self) -> &'static str {
        "gcs"
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
        let directory = |location: &Location| Entry {
            location: location.clone(),
            kind: EntryKind::Directory,
            size: 0,
            modified: None,
            checksum: None,
            version: None,
        };
        let not_found = |what: String| {
            Error::new(ErrorKind::NotFound, what)
                .with_operation("stat")
                .with_context("path", location)
                .with_context("backend", "gcs")
        };
        let (bucket, _) = bucket_name(location)?;
        if location.is_root() {
            return if self.core.gcs_bucket_exists(location).await? {
                Ok(directory(location))
            } else {
                Err(not_found(format!(
                    "no such bucket {bucket} at {}: check the bucket name and the endpoint",
                    self.core.endpoint_label
                )))
            };
        }
        if let Some(info) = self.core.gcs_stat(location).await? {
            return Ok(Entry {
                location: location.clone(),
                kind: EntryKind::File,
                size: info.size,
                modified: info.modified,
                checksum: info.crc32c.map(Checksum::Crc32c),
                version: info.generation,
            });
        }
        let first = self
            .core
            .gcs_list(location, list_prefix(location))
            .try_next()
            .await?;
        match first {
            Some(_) => Ok(directory(location)),
            None => Err(not_found("no such object or prefix".into())),
        }
    }

    fn list(&self, prefix: &Location) -> ListStream {
        let root = prefix.clone();
        let temp_prefix = self.settings.temp_prefix.clone();
        self.core
            .gcs_list(prefix, list_prefix(prefix))
            .try_filter_map(move |object| {
                let result = if object.name.starts_with(&temp_prefix) {
                    Ok(None) // ferry's own upload parts in flight
                } else if !representable(&object.name) {
                    Err(unrepresentable("object name", &object.name, &root))
                } else {
                    Ok(Some(Entry {
                        location: root.with_path(&object.name),
                        kind: EntryKind::File,
                        size: object.size,
                        modified: object.modified,
                        checksum: None,
                        version: object.generation,
                    }))
                };
                futures::future::ready(result)
            })
            .boxed()
    }

    fn list_dir(&self, dir: &Location) -> ListStream {
        let root = dir.clone();
        let temp_prefix = self.settings.temp_prefix.clone();
        self.core
            .gcs_list_dir(dir, list_prefix(dir))
            .try_filter_map(move |object| {
                let name = object.name.trim_end_matches('/');
                let entry = (!object.name.starts_with(&temp_prefix)
                    && !name.is_empty()
                    && representable(name))
                .then(|| Entry {
                    location: root.with_path(name),
                    kind: if object.is_dir {
                        EntryKind::Directory
                    } else {
                        EntryKind::File
                    },
                    size: if object.is_dir { 0 } else { object.size },
                    modified: object.modified,
                    checksum: None,
                    version: if object.is_dir {
                        None
                    } else {
                        object.generation
                    },
                });
                futures::future::ready(Ok(entry))
            })
            .boxed()
    }

    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        if let Some(r) = &range {
            if r.start >= r.end {
                // Nothing to read, but a missing object is still `NotFound`.
                self.stat(location).await?;
                return Ok(futures::stream::empty().boxed());
            }
        }
        // A missing object fails here, not at the stream's first poll.
        self.core.gcs_read(location, range).await
    }

    async fn write(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Box<dyn ObjectWriter>> {
        bucket_name(location)?;
        Ok(Box::new(crate::upload::writer(
            self.core.clone(),
            location.clone(),
            self.settings.temp_prefix.clone(),
            options.size_hint,
        )))
    }

    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        _options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        if data.len() as u64 > MAX_PART_SIZE {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a single upload is limited to 5 GiB here; use a multipart upload",
            )
            .with_context("path", location));
        }
        let size = data.len() as u64;
        let stored = self.core.gcs_put(location, data).await?;
        // No checksum in the receipt: the engine reads the object's crc32c (one metadata
        // request) and compares it with the CRC32C it computed.
        Ok(WriteReceipt {
            size,
            stored_size: Some(stored),
            checksum: None,
        })
    }

    async fn start_multipart(
        &self,
        location: &Location,
        _options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let upload =
            GcsUpload::start(self.core.clone(), location, &self.settings.temp_prefix).await?;
        Ok(Arc::new(upload))
    }

    async fn resume_multipart(
        &self,
        location: &Location,
        token: &str,
        _options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let upload = GcsUpload::resume(
            self.core.clone(),
            location,
            &self.settings.temp_prefix,
            token,
        )
        .await?;
        Ok(Arc::new(upload))
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        if location.is_root() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{location} is a bucket, not an object"),
            ));
        }
        self.core.gcs_delete(location).await
    }

    async fn copy(&self, from: &Entry, to: &Location) -> Result<WriteReceipt> {
        // A listed object's generation is known: pin the copy to it. Otherwise ask (which
        // also gives its crc32c to check the copy against).
        let known_crc = match from.checksum {
            Some(Checksum::Crc32c(crc)) => Some(crc),
            _ => None,
        };
        let (size, generation, source_crc) = match &from.version {
            Some(generation) => (from.size, generation.clone(), known_crc),
            None => {
                let info = self.core.gcs_stat(&from.location).await?.ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, "no such object")
                        .with_operation("copy")
                        .with_context("path", &from.location)
                        .with_context("backend", "gcs")
                })?;
                let generation = info.generation.clone().unwrap_or_default();
                (info.size, generation, info.crc32c)
            }
        };
        let from = &from.location;
        let generation = (!generation.is_empty()).then_some(generation.as_str());
        let changed = || {
            Error::new(
                ErrorKind::ConditionNotMatch,
                "the source changed or disappeared since it was listed",
            )
            .with_operation("copy")
            .with_context("path", from)
            .with_context("backend", "gcs")
        };
        let copied = match self.core.gcs_rewrite(from, generation, to).await {
            Err(e) if generation.is_some() && e.kind() == ErrorKind::NotFound => {
                return Err(changed())
            }
            other => other?,
        };
        if copied.size != size {
            // A server that ignored the pin copied another version.
            let _ = self.core.gcs_delete(to).await;
            return Err(changed());
        }
        if let (Some(want), Some(got)) = (source_crc, copied.crc32c) {
            if want != got {
                let _ = self.core.gcs_delete(to).await;
                return Err(Error::new(
                    ErrorKind::Corrupted,
                    format!("server-side copy has crc32c {got:08x}, the source {want:08x}"),
                )
                .with_operation("copy")
                .with_context("path", to)
                .temporary());
            }
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
        match self.core.gcs_stat(location).await? {
            Some(info) => Ok(info.crc32c.map(Checksum::Crc32c)),
            None => Err(Error::new(ErrorKind::NotFound, "no such object")
                .with_operation("checksum")
                .with_context("path", location)
                .with_context("backend", "gcs")),
        }
    }
}
