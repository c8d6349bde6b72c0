//! `GcsStorage`, the [`Storage`] of one GCS endpoint with one set of credentials, and the
//! factory that opens it for `gs://` locations.
//!
//! One store serves every bucket (the location's authority is the bucket), so two locations
//! with the same endpoint and credentials share an identity, and copies between them — across
//! buckets too — run server-side (`rewriteTo`). GCS has no directories: `stat` of a name
//! prefix with objects below it is a `Directory` entry, listing is recursive by prefix, and
//! folder placeholders (names ending in `/`) and ferry's own in-flight upload parts (under
//! `temp_prefix`) are not listed.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::checksum::{Checksum, ChecksumKind};
use ferry_core::registry::{BackendFactory, BackendOptions, Registry};
use ferry_core::storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, MultipartUpload, ObjectWriter, Storage,
    WriteOptions, WriteReceipt,
};
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};

use crate::config::GcsSettings;
use crate::core::{bucket_name, GcsCore};
use crate::upload::{GcsUpload, GcsWriter, MAX_PARTS};

/// Smallest part ferry uses for composite uploads (GCS itself has no minimum).
pub const MIN_PART_SIZE: u64 = 1024 * 1024;
/// Largest part: each part is one single-request upload held in memory.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// One GCS endpoint with one set of credentials.
#[derive(Debug)]
pub struct GcsStorage {
    pub(crate) core: Arc<GcsCore>,
    pub(crate) settings: GcsSettings,
    hints: Arc<ListingHints>,
    identity: String,
    capabilities: Capabilities,
}

/// Generations of recently listed objects, so that a server-side copy of a listed object is
/// pinned to the listed version (`ifSourceGenerationMatch`) without another request. Bounded:
/// when full it starts over, which only costs a metadata request.
#[derive(Debug, Default)]
struct ListingHints {
    map: Mutex<HashMap<Location, (u64, String)>>,
}

impl ListingHints {
    const CAPACITY: usize = 20_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Location, (u64, String)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, location: &Location, size: u64, generation: String) {
        let mut map = self.lock();
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(location.clone(), (size, generation));
    }

    fn take(&self, location: &Location) -> Option<(u64, String)> {
        self.lock().remove(location)
    }
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
            hints: Arc::default(),
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

/// The name prefix that lists below `location` (`dir/` for `gs://b/dir`, `""` at the root).
fn list_prefix(location: &Location) -> String {
    match location.key() {
        "" => String::new(),
        key => format!("{key}/"),
    }
}

/// Whether an object name maps onto a location and back unchanged (no `//`, `.`/`..`
/// segments or a leading `/`, which ferry's normalised paths cannot express).
fn representable(name: &str) -> bool {
    !name.starts_with('/')
        && !name.contains("//")
        && name
            .split('/')
            .all(|segment| segment != "." && segment != "..")
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
        let hints = self.hints.clone();
        let temp_prefix = self.settings.temp_prefix.clone();
        self.core
            .gcs_list(prefix, list_prefix(prefix))
            .try_filter_map(move |object| {
                let result = if object.name.starts_with(&temp_prefix) {
                    Ok(None) // ferry's own upload parts in flight
                } else if !representable(&object.name) {
                    Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "object name {:?} has empty, '.' or '..' path segments, which ferry cannot copy faithfully",
                            object.name
                        ),
                    )
                    .with_operation("list")
                    .with_context("path", &root))
                } else {
                    let location = root.with_path(&object.name);
                    if let Some(generation) = object.generation {
                        hints.remember(&location, object.size, generation);
                    }
                    Ok(Some(Entry {
                        location,
                        kind: EntryKind::File,
                        size: object.size,
                        modified: object.modified,
                        checksum: None,
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
        Ok(Box::new(GcsWriter::new(
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

    async fn copy(&self, from: &Location, to: &Location) -> Result<WriteReceipt> {
        // A listed object's generation is known: pin the copy to it. Otherwise ask (which
        // also gives its crc32c to check the copy against).
        let (size, generation, source_crc) = match self.hints.take(from) {
            Some((size, generation)) => (size, generation, None),
            None => {
                let info = self.core.gcs_stat(from).await?.ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, "no such object")
                        .with_operation("copy")
                        .with_context("path", from)
                        .with_context("backend", "gcs")
                })?;
                let generation = info.generation.clone().unwrap_or_default();
                (info.size, generation, info.crc32c)
            }
        };
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

/// Opens [`GcsStorage`]s for `gs://`.
#[derive(Debug, Default)]
pub struct GcsFactory;

#[async_trait]
impl BackendFactory for GcsFactory {
    fn name(&self) -> &'static str {
        "gcs"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["gs"]
    }

    fn option_keys(&self) -> &'static [ferry_core::OptionKey] {
        crate::config::OPTIONS
    }

    /// One store per endpoint and settings, whatever the bucket: the registry already keys
    /// its cache by the options, so the key itself is empty.
    fn store_key(&self, _: &Location, _: &BackendOptions) -> String {
        String::new()
    }

    async fn open(
        &self,
        location: &Location,
        options: &BackendOptions,
    ) -> Result<Arc<dyn Storage>> {
        bucket_name(location)?;
        Ok(Arc::new(GcsStorage::open(options)?))
    }
}

/// Registers the `gs` scheme.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(GcsFactory));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_locations_cannot_express_are_detected() {
        assert!(representable("a/b c/ü+x"));
        assert!(!representable("a//b"));
        assert!(!representable("/a"));
        assert!(!representable("a/./b"));
        assert!(!representable("a/../b"));
    }

    #[test]
    fn list_prefixes_end_on_a_segment() {
        let at = |t: &str| Location::parse(t).unwrap();
        assert_eq!(list_prefix(&at("gs://b/dir")), "dir/");
        assert_eq!(list_prefix(&at("gs://b/")), "");
        assert_eq!(list_prefix(&at("gs://b")), "");
    }

    #[test]
    fn options_open_a_store_without_network() {
        let store = GcsStorage::open(
            &BackendOptions::new()
                .with("endpoint", "http://127.0.0.1:9")
                .with("project", "p"),
        )
        .unwrap();
        assert_eq!(store.identity(), "gcs|http://127.0.0.1:9|anonymous|p");
        assert_eq!(store.capabilities().max_parts, 1024);
        let registry = Registry::new().with(register);
        assert_eq!(registry.schemes(), vec!["gs".to_string()]);
    }
}
