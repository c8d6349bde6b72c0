//! An in-memory store (`mem://name/path`) for engine unit tests and examples.
//!
//! It implements the whole trait, including multipart uploads and server-side copy, so the
//! engine's every plan can be exercised without a server. It is never evidence that a real
//! backend works: those run the conformance suite against real servers.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::checksum::{crc32c, Checksum, ChecksumKind};
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::registry::{BackendFactory, BackendOptions, OptionKey, Registry};
use crate::storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, MultipartUpload, ObjectWriter,
    PartReceipt, Storage, WriteOptions, WriteReceipt,
};

type Objects = Arc<Mutex<BTreeMap<Location, (Bytes, SystemTime)>>>;

/// An in-memory object store. Cloning shares the data.
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    objects: Objects,
    capabilities: Capabilities,
    identity: String,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        MemoryStorage::new("memory")
    }
}

impl MemoryStorage {
    /// A new, empty store with the given identity.
    pub fn new(identity: &str) -> MemoryStorage {
        MemoryStorage {
            objects: Objects::default(),
            capabilities: Capabilities {
                ranged_reads: true,
                parallel_part_writes: true,
                server_side_copy: true,
                atomic_writes: true,
                set_modified: true,
                native_checksums: vec![ChecksumKind::Crc32c],
                ..Capabilities::default()
            },
            identity: identity.to_string(),
        }
    }

    /// The same data with other declared capabilities (to steer the engine's planner in tests).
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> MemoryStorage {
        self.capabilities = capabilities;
        self
    }

    /// Stores an object directly.
    pub fn insert(&self, location: &Location, data: impl Into<Bytes>) {
        self.lock()
            .insert(location.clone(), (data.into(), SystemTime::now()));
    }

    /// An object's bytes, if present.
    pub fn get(&self, location: &Location) -> Option<Bytes> {
        self.lock().get(location).map(|(b, _)| b.clone())
    }

    /// Every stored location, sorted.
    pub fn locations(&self) -> Vec<Location> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Location, (Bytes, SystemTime)>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn not_found(location: &Location, op: &'static str) -> Error {
        Error::new(ErrorKind::NotFound, "no such object")
            .with_operation(op)
            .with_context("path", location)
            .with_context("backend", "memory")
    }

    fn entry(location: &Location, data: &Bytes, modified: SystemTime) -> Entry {
        let crc = crc32c(data);
        Entry {
            location: location.clone(),
            kind: EntryKind::File,
            size: data.len() as u64,
            modified: Some(modified),
            checksum: Some(Checksum::Crc32c(crc)),
            version: Some(Self::version(crc, modified)),
        }
    }

    /// An object's version: its CRC and the time it was stored, so a replaced object has
    /// another one (as an S3 ETag or a GCS generation changes).
    fn version(crc: u32, modified: SystemTime) -> String {
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{crc:08x}-{nanos}")
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn identity(&self) -> &str {
        &self.identity
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn stat(&self, location: &Location) -> Result<Entry> {
        let objects = self.lock();
        if let Some((data, modified)) = objects.get(location) {
            return Ok(Self::entry(location, data, *modified));
        }
        let below = objects
            .keys()
            .any(|k| k.strip_prefix(location).is_some_and(|r| !r.is_empty()));
        if below {
            return Ok(Entry {
                location: location.clone(),
                kind: EntryKind::Directory,
                size: 0,
                modified: None,
                checksum: None,
                version: None,
            });
        }
        Err(Self::not_found(location, "stat"))
    }

    fn list(&self, prefix: &Location) -> ListStream {
        let entries: Vec<Result<Entry>> = self
            .lock()
            .iter()
            .filter(|(k, _)| k.strip_prefix(prefix).is_some_and(|r| !r.is_empty()))
            .map(|(k, (data, modified))| Ok(Self::entry(k, data, *modified)))
            .collect();
        futures::stream::iter(entries).boxed()
    }

    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        let data = self
            .get(location)
            .ok_or_else(|| Self::not_found(location, "read"))?;
        let len = data.len() as u64;
        let range = range.unwrap_or(0..len);
        let slice = data.slice(range.start.min(len) as usize..range.end.min(len) as usize);
        // Yield in small chunks so consumers see a real stream.
        let chunks: Vec<Result<Bytes>> = (0..slice.len())
            .step_by(64 * 1024)
            .map(|i| Ok(slice.slice(i..(i + 64 * 1024).min(slice.len()))))
            .collect();
        Ok(futures::stream::iter(chunks).boxed())
    }

    async fn write(&self, location: &Location, _: &WriteOptions) -> Result<Box<dyn ObjectWriter>> {
        Ok(Box::new(MemoryWriter {
            store: self.clone(),
            location: location.clone(),
            buffer: BytesMut::new(),
        }))
    }

    async fn start_multipart(
        &self,
        location: &Location,
        _: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        Ok(Arc::new(MemoryUpload {
            store: self.clone(),
            location: location.clone(),
            parts: Mutex::default(),
        }))
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        self.lock().remove(location);
        Ok(())
    }

    async fn copy(&self, from: &Entry, to: &Location) -> Result<WriteReceipt> {
        let (data, modified) = self
            .lock()
            .get(&from.location)
            .cloned()
            .ok_or_else(|| Self::not_found(&from.location, "copy"))?;
        if let Some(version) = &from.version {
            if *version != Self::version(crc32c(&data), modified) {
                return Err(Error::new(
                    ErrorKind::ConditionNotMatch,
                    "the source changed since it was listed",
                )
                .with_operation("copy")
                .with_context("path", &from.location)
                .with_context("backend", "memory"));
            }
        }
        self.insert(to, data.clone());
        Ok(WriteReceipt {
            size: data.len() as u64,
            checksum: Some(Checksum::Crc32c(crc32c(&data))),
            stored_size: None,
        })
    }

    async fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        let mut objects = self.lock();
        let value = objects
            .remove(from)
            .ok_or_else(|| Self::not_found(from, "rename"))?;
        objects.insert(to.clone(), value);
        Ok(())
    }

    async fn checksum(&self, location: &Location, kind: ChecksumKind) -> Result<Option<Checksum>> {
        let data = self
            .get(location)
            .ok_or_else(|| Self::not_found(location, "checksum"))?;
        Ok((kind == ChecksumKind::Crc32c).then(|| Checksum::Crc32c(crc32c(&data))))
    }

    async fn set_modified(&self, location: &Location, modified: SystemTime) -> Result<()> {
        match self.lock().get_mut(location) {
            Some(entry) => {
                entry.1 = modified;
                Ok(())
            }
            None => Err(Self::not_found(location, "set_modified")),
        }
    }
}

struct MemoryWriter {
    store: MemoryStorage,
    location: Location,
    buffer: BytesMut,
}

#[async_trait]
impl ObjectWriter for MemoryWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.buffer.extend_from_slice(&data);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<WriteReceipt> {
        let data = self.buffer.freeze();
        let receipt = WriteReceipt {
            size: data.len() as u64,
            checksum: Some(Checksum::Crc32c(crc32c(&data))),
            stored_size: None,
        };
        self.store.insert(&self.location, data);
        Ok(receipt)
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

struct MemoryUpload {
    store: MemoryStorage,
    location: Location,
    parts: Mutex<BTreeMap<u32, Bytes>>,
}

#[async_trait]
impl MultipartUpload for MemoryUpload {
    fn token(&self) -> &str {
        "memory"
    }

    async fn put_part(
        &self,
        index: u32,
        offset: u64,
        data: Bytes,
        crc: u32,
    ) -> Result<PartReceipt> {
        if crc32c(&data) != crc {
            return Err(Error::new(ErrorKind::Corrupted, "part checksum mismatch"));
        }
        let size = data.len() as u64;
        self.parts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(index, data);
        Ok(PartReceipt {
            index,
            offset,
            size,
            tag: None,
        })
    }

    async fn complete(&self, parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
        let stored = std::mem::take(&mut *self.parts.lock().unwrap_or_else(|p| p.into_inner()));
        let mut data = BytesMut::new();
        for part in &parts {
            let bytes = stored.get(&part.index).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("part {} was never uploaded", part.index),
                )
            })?;
            data.extend_from_slice(bytes);
        }
        let data = data.freeze();
        let receipt = WriteReceipt {
            size: data.len() as u64,
            checksum: Some(Checksum::Crc32c(crc32c(&data))),
            stored_size: None,
        };
        self.store.insert(&self.location, data);
        Ok(receipt)
    }

    async fn abort(&self) -> Result<()> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }
}

/// Opens `mem://` stores; each authority is one store for the life of the factory.
#[derive(Debug, Default)]
pub struct MemoryFactory {
    stores: Mutex<BTreeMap<String, MemoryStorage>>,
}

#[async_trait]
impl BackendFactory for MemoryFactory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["mem"]
    }

    fn option_keys(&self) -> &'static [OptionKey] {
        &[]
    }

    async fn open(&self, location: &Location, _: &BackendOptions) -> Result<Arc<dyn Storage>> {
        let name = location.authority().unwrap_or_default().to_string();
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let store = stores
            .entry(name.clone())
            .or_insert_with(|| MemoryStorage::new(&format!("memory:{name}")));
        Ok(Arc::new(store.clone()))
    }
}

/// Registers the `mem` scheme.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(MemoryFactory::default()));
}
