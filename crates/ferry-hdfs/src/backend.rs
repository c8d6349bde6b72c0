//! [`HdfsStorage`]: the [`Storage`] trait on hdfs-native, the one place that calls it.
//!
//! * Reads are positional (`read_range`): every part of a large file is its own ranged read,
//!   so the engine reads one file with several streams.
//! * Writes open one pipeline per file (`create` → packets → `complete`) with the configured
//!   block size and replication; the engine runs many files at once and commits each by
//!   temp name + [`Storage::rename`] (with overwrite, so an existing destination is replaced).
//! * Every write is verified without reading it back: the writer computes the HDFS checksum
//!   of the bytes it is given ([`HdfsHasher`]) and, once the file is closed, compares it and
//!   the length with what the NameNode and the DataNodes report ([`crate::block_checksum`]).
//!   The receipt carries the NameNode's length, so the engine needs no extra `stat`. Reads are
//!   verified by hdfs-native against the DataNodes' stored chunk CRCs, packet by packet.
//! * [`HdfsStorage::checksum_params`] gives what a copy needs to compute the same file
//!   checksum itself while streaming.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::checksum::{HdfsChecksumParams, HdfsFileChecksum, HdfsHasher};
use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::retry::RetryPolicy;
use ferry_core::storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, ObjectWriter, Storage, WriteOptions,
    WriteReceipt,
};
use ferry_core::watchdog::{idle_items, idle_stream, Wait};
use ferry_core::{Checksum, ChecksumKind, Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};
use hdfs_native::client::FileStatus;
use hdfs_native::file::FileWriter;
use hdfs_native::{Client, HdfsError};
use tokio::sync::OnceCell;

use crate::conf::HadoopConf;
use crate::config::{HdfsSettings, LARGE_WRITE};
use crate::error::map;
use crate::rpc::NameNodeClient;
use crate::{block_checksum, proto};

/// How many times [`Storage::put`] writes a file again after `NotReplicatedYetException`.
const PUT_RETRIES: u32 = 4;

/// Whether the NameNode refused a write's next block because the previous one is not
/// reported yet (the exception class [`crate::error::map`] records).
fn not_replicated_yet(err: &Error) -> bool {
    err.context("exception") == Some("NotReplicatedYetException")
}

/// Asks NameNodes and DataNodes for what hdfs-native does not expose.
#[derive(Debug)]
struct Checksummer {
    conf: HadoopConf,
    user: String,
    scheme: String,
    authority: String,
    clients: std::sync::Mutex<std::collections::HashMap<String, Arc<NameNodeClient>>>,
}

impl Checksummer {
    /// Checks a file ferry just wrote and closed against what ferry sent: the NameNode's
    /// length and the DataNodes' checksum (`BLOCK_CHECKSUM`: the DataNodes read their own
    /// block metadata, no data moves). Returns the receipt, or a temporary `Corrupted` error.
    async fn verify_written(
        &self,
        location: &Location,
        sent: u64,
        expected: HdfsFileChecksum,
    ) -> Result<WriteReceipt> {
        let (client, path) = self.route(location)?;
        let stored = block_checksum::stored_file(&client, &path, self.conf.use_datanode_hostname())
            .await
            .map_err(|e| {
                e.with_operation("verify")
                    .with_context("path", location)
                    .with_context("backend", "hdfs")
            })?;
        let corrupted = |what: String| {
            Err(Error::new(ErrorKind::Corrupted, what)
                .with_operation("verify")
                .with_context("path", location)
                .with_context("backend", "hdfs")
                .temporary())
        };
        if stored.length != sent {
            return corrupted(format!(
                "HDFS stored {} bytes, ferry sent {sent}",
                stored.length
            ));
        }
        match stored.checksum {
            Some(reported) if reported.comparable(&expected) && reported != expected => {
                return corrupted(format!(
                    "the DataNodes' checksum {} differs from the bytes ferry sent ({})",
                    reported.to_hex(),
                    expected.to_hex()
                ));
            }
            Some(reported) if !reported.comparable(&expected) => tracing::debug!(
                %location, %reported, %expected,
                "written with other checksum parameters than expected; size checked only"
            ),
            _ => {}
        }
        Ok(WriteReceipt {
            size: sent,
            stored_size: Some(stored.length),
            checksum: stored
                .checksum
                .filter(|c| *c == expected)
                .map(|c| c.to_checksum()),
        })
    }

    /// The NameNode client and NameNode path for a location (viewfs resolved).
    fn route(&self, location: &Location) -> Result<(Arc<NameNodeClient>, String)> {
        let (authority, path) = if self.scheme == "viewfs" {
            self.conf.resolve_viewfs(&self.authority, location.path())?
        } else {
            (self.authority.clone(), location.path().to_string())
        };
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&authority) {
            return Ok((client.clone(), path));
        }
        let client = Arc::new(NameNodeClient::new(
            self.conf.namenodes(&authority)?,
            self.user.clone(),
        ));
        clients.insert(authority, client.clone());
        Ok((client, path))
    }
}

/// An HDFS cluster (one `hdfs://` authority, or a `viewfs://` mount table).
#[derive(Debug)]
pub struct HdfsStorage {
    client: Client,
    scheme: String,
    authority: String,
    identity: String,
    capabilities: Capabilities,
    settings: HdfsSettings,
    conf: HadoopConf,
    checksummer: Option<Arc<Checksummer>>,
    defaults: OnceCell<proto::FsServerDefaultsProto>,
    /// Streaming writes of large files at once (see [`HdfsSettings::large_writes`]).
    large_writes: Arc<tokio::sync::Semaphore>,
}

/// The NameNode path of a location.
fn path_of(location: &Location) -> &str {
    location.path()
}

/// What the NameNode reports about a path, as an [`Entry`] of `scheme://authority`.
fn entry_of(scheme: &str, authority: &str, status: &FileStatus) -> Entry {
    Entry {
        location: Location::from_parts(scheme, Some(authority), &status.path),
        kind: if status.isdir {
            EntryKind::Directory
        } else {
            EntryKind::File
        },
        size: if status.isdir {
            0
        } else {
            status.length as u64
        },
        modified: Some(UNIX_EPOCH + Duration::from_millis(status.modification_time)),
        checksum: None,
        version: None,
    }
}

/// The wait for `op` on `path` of the cluster `scheme://authority`.
fn wait_of(scheme: &str, authority: &str, idle: Option<Duration>, op: &str, path: &str) -> Wait {
    Wait {
        what: format!("{op} of {path}"),
        endpoint: format!("{scheme}://{authority}"),
        idle,
        option: "read_timeout",
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl HdfsStorage {
    /// `list` (every file below, `recursive`) or `list_dir` (the direct children, directories
    /// included) of `prefix`, from the NameNode's paged `getListing`.
    fn listing(&self, prefix: &Location, recursive: bool) -> ListStream {
        let path = path_of(prefix).to_string();
        let client = self.client.clone();
        let wait = wait_of(
            &self.scheme,
            &self.authority,
            self.settings.read_timeout,
            "list",
            &path,
        );
        let (scheme, authority) = (self.scheme.clone(), self.authority.clone());
        let to_entry = move |status: FileStatus| entry_of(&scheme, &authority, &status);
        let listing = async move {
            // Below a file or a missing path there is nothing to list.
            let info = wait.run(None, async { Ok(client.get_file_info(&path).await) });
            match info.await? {
                Ok(status) if status.isdir => {}
                Ok(_) | Err(HdfsError::FileNotFound(_)) => {
                    return Ok(futures::stream::empty().boxed())
                }
                Err(e) => return Err(map(e, "list", &path)),
            }
            let error_path = path.clone();
            let stream = client
                .list_status_iter(&path, recursive)
                .into_stream()
                .try_filter(move |status| futures::future::ready(!(recursive && status.isdir)))
                .map_ok(to_entry)
                .map_err(move |e| map(e, "list", &error_path))
                .boxed();
            Ok::<ListStream, Error>(idle_items(stream, wait))
        };
        futures::stream::once(listing).try_flatten().boxed()
    }

    /// Opens the store serving `location` (`hdfs://authority` or `viewfs://cluster`).
    pub(crate) fn open(
        location: &Location,
        conf: HadoopConf,
        overrides: Vec<(String, String)>,
        settings: HdfsSettings,
        kerberos: crate::config::Kerberos,
    ) -> Result<HdfsStorage> {
        let scheme = location.scheme().to_string();
        let authority = location.authority().unwrap_or_default().to_string();
        let url = format!("{scheme}://{authority}");
        let mut builder = hdfs_native::ClientBuilder::new()
            .with_url(url.clone())
            .with_config(overrides);
        if let Some(dir) = &conf.dir {
            builder = builder.with_config_dir(dir.display().to_string());
        }
        if let Some(user) = &settings.user {
            builder = builder.with_user(user.clone());
        }
        builder = kerberos.apply(builder);
        let client = builder.build().map_err(|e| {
            let mapped = map(e, "open", &url);
            Error::new(
                ErrorKind::ConfigInvalid,
                format!(
                    "cannot set up an HDFS client for {url}: {}",
                    mapped.message()
                ),
            )
            .with_source(mapped)
        })?;
        let user = settings
            .user
            .clone()
            .or_else(|| std::env::var("HADOOP_USER_NAME").ok())
            .unwrap_or_else(crate::config::os_user);
        // The checksum client speaks SIMPLE authentication and plain DataNode connections
        // only; secure clusters keep size verification.
        let checksummer =
            (settings.checksums && !conf.security_enabled() && !conf.data_transfer_protected())
                .then(|| {
                    Arc::new(Checksummer {
                        conf: conf.clone(),
                        user: user.clone(),
                        scheme: scheme.clone(),
                        authority: authority.clone(),
                        clients: Default::default(),
                    })
                });
        let capabilities = Capabilities {
            ranged_reads: true,
            // One write pipeline per file: HDFS has no parallel parts (concat aside).
            parallel_part_writes: false,
            resumable_multipart: false,
            server_side_copy: false,
            atomic_rename: true,
            atomic_writes: false,
            directories: true,
            set_modified: true,
            native_checksums: if checksummer.is_some() {
                vec![ChecksumKind::HdfsMd5Md5Crc32c]
            } else {
                Vec::new()
            },
            min_part_size: 1,
            max_part_size: u64::MAX,
            // Small files spend most of their time waiting, not moving data: on reads for the
            // NameNode's block locations, on writes for `complete`, which the client polls from
            // 500 ms up until the NameNode has heard of the last block. On the 1 GiB bench
            // tree, 16 in flight: 19 MB/s up, 254 down; 128: 127 up, 445 down (quiet machine).
            preferred_concurrency: 128,
            max_parts: u32::MAX,
        };
        Ok(HdfsStorage {
            client,
            identity: format!("hdfs:{url}:{user}"),
            scheme,
            authority,
            capabilities,
            conf,
            checksummer,
            defaults: OnceCell::new(),
            large_writes: Arc::new(tokio::sync::Semaphore::new(settings.large_writes.max(1))),
            settings,
        })
    }

    /// What is being waited for, bounded by [`HdfsSettings::read_timeout`].
    fn wait(&self, op: &str, path: &str) -> Wait {
        wait_of(
            &self.scheme,
            &self.authority,
            self.settings.read_timeout,
            op,
            path,
        )
    }

    /// `fut` (one hdfs-native call), failing once the cluster has been silent for the
    /// read timeout.
    async fn bounded<T>(
        &self,
        op: &'static str,
        path: &str,
        fut: impl Future<Output = T>,
    ) -> Result<T> {
        self.wait(op, path)
            .run(None, async { Ok(fut.await) })
            .await
            .map_err(|e| e.with_operation(op).with_context("backend", "hdfs"))
    }

    fn entry(&self, status: &FileStatus) -> Entry {
        entry_of(&self.scheme, &self.authority, status)
    }

    /// The NameNode's defaults for new files (block size, bytes per checksum), asked once.
    async fn server_defaults(&self, location: &Location) -> Result<&proto::FsServerDefaultsProto> {
        let checksummer = self.checksummer.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "HDFS checksums are off (secure cluster, or -o checksum=false)",
            )
        })?;
        self.defaults
            .get_or_try_init(|| async {
                let (client, _) = checksummer.route(location)?;
                let response: proto::GetServerDefaultsResponseProto = client
                    .call(
                        "getServerDefaults",
                        &proto::GetServerDefaultsRequestProto {},
                    )
                    .await?;
                response.server_defaults.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unexpected,
                        "the NameNode sent no server defaults",
                    )
                })
            })
            .await
    }

    /// The block size of files ferry creates: the `block_size` option, else the client
    /// configuration's `dfs.blocksize`, else (`None`) the NameNode's default.
    pub fn write_block_size(&self) -> Option<u64> {
        self.settings.block_size.or_else(|| {
            self.conf
                .get("dfs.blocksize")
                .and_then(|v| crate::config::parse_size(v).ok())
        })
    }

    fn write_replication(&self) -> Option<u32> {
        self.settings.replication.or_else(|| {
            self.conf
                .get("dfs.replication")
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// What the HDFS checksum of `location` depends on besides its bytes, so that a copy can
    /// compute the same value while streaming ([`crate::checksum::HdfsHasher`]): for
    /// an existing file its own block size, for a file about to be written the block size
    /// ferry will write it with; bytes per checksum from the NameNode's defaults (every
    /// client, hdfs-native included, writes with those). `Ok(None)` when this store has no
    /// checksums (secure cluster, `-o checksum=false`).
    pub async fn checksum_params(&self, location: &Location) -> Result<Option<HdfsChecksumParams>> {
        if self.checksummer.is_none() {
            return Ok(None);
        }
        let defaults = self.server_defaults(location).await?.clone();
        let block_size = match self.client.get_file_info(path_of(location)).await {
            Ok(status) if !status.isdir => status.blocksize.unwrap_or(defaults.block_size),
            Ok(_) => {
                return Err(Error::new(ErrorKind::InvalidInput, "is a directory")
                    .with_context("path", location))
            }
            Err(HdfsError::FileNotFound(_)) => {
                self.write_block_size().unwrap_or(defaults.block_size)
            }
            Err(e) => return Err(map(e, "checksum", location.path())),
        };
        HdfsChecksumParams {
            bytes_per_crc: defaults.bytes_per_checksum,
            block_size,
        }
        .validate()
        .map(Some)
    }

    /// The HDFS file checksum of `location`, from its DataNodes.
    pub async fn file_checksum(&self, location: &Location) -> Result<Option<HdfsFileChecksum>> {
        let Some(checksummer) = &self.checksummer else {
            return Ok(None);
        };
        let (client, path) = checksummer.route(location)?;
        block_checksum::file_checksum(&client, &path, self.conf.use_datanode_hostname())
            .await
            .map_err(|e| {
                e.with_operation("checksum")
                    .with_context("path", location)
                    .with_context("backend", "hdfs")
            })
    }

    /// A hasher for a file about to be written, when checksums are on. A NameNode that cannot
    /// say its defaults costs the check, not the write.
    async fn write_hasher(&self, location: &Location) -> Option<HdfsHasher> {
        self.checksummer.as_ref()?;
        match self.server_defaults(location).await {
            Ok(defaults) => HdfsHasher::new(HdfsChecksumParams {
                bytes_per_crc: defaults.bytes_per_checksum,
                block_size: self.write_block_size().unwrap_or(defaults.block_size),
            })
            .ok(),
            Err(err) => {
                tracing::warn!(%err, "no HDFS checksum check of writes: no server defaults");
                None
            }
        }
    }

    /// Checks a closed file against the length and HDFS checksum of the bytes it should hold,
    /// without reading it (what every write does before it returns). Errors: `Corrupted`
    /// (temporary) on a mismatch; `Unsupported` when checksums are off.
    pub async fn verify_stored(
        &self,
        location: &Location,
        size: u64,
        expected: HdfsFileChecksum,
    ) -> Result<WriteReceipt> {
        match &self.checksummer {
            Some(checksummer) => checksummer.verify_written(location, size, expected).await,
            None => Err(Error::unsupported("verify_stored")),
        }
    }

    async fn create(&self, location: &Location) -> Result<FileWriter> {
        let path = path_of(location);
        let mut options = hdfs_native::WriteOptions::default()
            .overwrite(true)
            .create_parent(true);
        if let Some(block_size) = self.write_block_size() {
            options = options.block_size(block_size);
        }
        if let Some(replication) = self.write_replication() {
            options = options.replication(replication);
        }
        match self
            .bounded("create", path, self.client.create(path, &options))
            .await?
        {
            // A temp file of an earlier ferry run that died mid-write still holds its lease:
            // it is ours, so remove it (which drops the lease) and create it afresh.
            Err(HdfsError::AlreadyExists(message))
                if location
                    .file_name()
                    .is_some_and(ferry_core::transfer::is_temp_name) =>
            {
                tracing::info!(%location, %message, "replacing an abandoned temp file");
                self.bounded("delete", path, self.client.delete(path, false))
                    .await?
                    .map_err(|e| map(e, "write", path))?;
                self.bounded("create", path, self.client.create(path, &options))
                    .await?
                    .map_err(|e| map(e, "write", path))
            }
            other => other.map_err(|e| map(e, "write", path)),
        }
    }

    /// One attempt of [`Storage::put`]: create (replacing), write, close, verify.
    async fn put_once(&self, location: &Location, data: Bytes) -> Result<WriteReceipt> {
        let path = path_of(location);
        let size = data.len() as u64;
        let hasher = self.write_hasher(location).await;
        let mut writer = self.create(location).await?;
        let expected = hasher.map(|mut h| {
            h.update(&data);
            h.finish()
        });
        let wait = self.wait("write", path);
        let result = wait
            .run(None, async {
                if !data.is_empty() {
                    writer
                        .write_bytes(data)
                        .await
                        .map_err(|e| map(e, "write", path))?;
                }
                Ok(())
            })
            .await;
        let result = match result {
            Ok(()) => {
                self.wait("close", path)
                    .run(None, async {
                        writer.close().await.map_err(|e| map(e, "write", path))
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            drop(writer);
            self.delete_quietly(path).await;
            return Err(e);
        }
        match (&self.checksummer, expected) {
            (Some(checksummer), Some(expected)) => {
                let verified = checksummer.verify_written(location, size, expected).await;
                if verified.is_err() {
                    self.delete_quietly(path).await;
                }
                verified
            }
            _ => Ok(WriteReceipt {
                size,
                stored_size: None,
                checksum: None,
            }),
        }
    }

    async fn delete_quietly(&self, path: &str) {
        match self
            .bounded("delete", path, self.client.delete(path, false))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::debug!(%err, path, "cleanup delete failed"),
            Err(err) => tracing::debug!(%err, path, "cleanup delete failed"),
        }
    }
}

#[async_trait]
impl Storage for HdfsStorage {
    fn name(&self) -> &'static str {
        "hdfs"
    }

    fn identity(&self) -> &str {
        &self.identity
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn stat(&self, location: &Location) -> Result<Entry> {
        let path = path_of(location);
        let status = self
            .bounded("stat", path, self.client.get_file_info(path))
            .await?
            .map_err(|e| map(e, "stat", path))?;
        Ok(Entry {
            location: location.clone(),
            ..self.entry(&status)
        })
    }

    fn list(&self, prefix: &Location) -> ListStream {
        self.listing(prefix, true)
    }

    fn list_dir(&self, dir: &Location) -> ListStream {
        self.listing(dir, false)
    }

    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        let path = path_of(location).to_string();
        let reader = self
            .bounded("open", &path, self.client.read(&path))
            .await?
            .map_err(|e| map(e, "read", &path))?;
        let len = reader.file_length() as u64;
        let range = range.unwrap_or(0..len);
        let (start, end) = (range.start.min(len), range.end.min(len));
        if start >= end {
            return Ok(futures::stream::empty().boxed());
        }
        let wait = self.wait("read", &path);
        let stream = reader
            .read_range_stream(start as usize, (end - start) as usize)
            .map_err(move |e| map(e, "read", &path));
        Ok(idle_stream(stream.boxed(), wait))
    }

    async fn read_into(
        &self,
        location: &Location,
        offset: u64,
        len: usize,
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let path = path_of(location);
        let reader = self
            .bounded("open", path, self.client.read(path))
            .await?
            .map_err(|e| map(e, "read", path))?;
        let file_length = reader.file_length() as u64;
        let filled = file_length.saturating_sub(offset).min(len as u64) as usize;
        // hdfs-native reads into a slice: this zeroes only bytes the buffer never held.
        buffer.resize(filled, 0);
        if filled > 0 {
            // One wait for the whole range (hdfs-native reads it into the slice at once):
            // bounded by the read timeout, so a part must not take longer than that.
            self.bounded(
                "read",
                path,
                reader.read_range_buf(&mut buffer, offset as usize),
            )
            .await?
            .map_err(|e| map(e, "read", path))?;
        }
        Ok(buffer)
    }

    async fn write(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Box<dyn ObjectWriter>> {
        let permit = match options.size_hint {
            Some(size) if size <= LARGE_WRITE => None,
            _ => Some(
                self.large_writes
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::new(ErrorKind::Interrupted, "the store is closing"))?,
            ),
        };
        let hasher = self.write_hasher(location).await;
        let writer = self.create(location).await?;
        Ok(Box::new(HdfsWriter {
            writer: Some(writer),
            client: self.client.clone(),
            location: location.clone(),
            path: path_of(location).to_string(),
            written: 0,
            wait: self.wait("write", path_of(location)),
            verifier: self.checksummer.clone().zip(hasher),
            _permit: permit,
        }))
    }

    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        _: &WriteOptions,
    ) -> Result<WriteReceipt> {
        // `NotReplicatedYetException` (the NameNode will not add a file's next block until a
        // DataNode has reported the previous one) fails hdfs-native's pipeline; the bytes are
        // at hand, so write the file again, as Hadoop's client retries `addBlock` (0.4 s,
        // doubling). Other temporary errors go up at once: the engine retries those.
        RetryPolicy {
            retries: PUT_RETRIES,
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(10),
        }
        .run_when("write", not_replicated_yet, || {
            self.put_once(location, data.clone())
        })
        .await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        let path = path_of(location);
        match self
            .bounded("delete", path, self.client.delete(path, false))
            .await?
        {
            Ok(_) | Err(HdfsError::FileNotFound(_)) => Ok(()),
            Err(e) => Err(map(e, "delete", path)),
        }
    }
    async fn remove_empty_dir(&self, dir: &Location) -> Result<()> {
        let path = path_of(dir);
        match self
            .bounded("stat", path, self.client.get_file_info(path))
            .await?
        {
            Ok(status) if status.isdir => {}
            Ok(_) | Err(HdfsError::FileNotFound(_)) => return Ok(()),
            Err(e) => return Err(map(e, "stat", path)),
        }
        // Non-recursive: the NameNode refuses a directory that still holds anything.
        match self
            .bounded("delete", path, self.client.delete(path, false))
            .await?
        {
            Ok(_) | Err(HdfsError::FileNotFound(_)) => Ok(()),
            Err(HdfsError::RPCError(class, _)) | Err(HdfsError::FatalRPCError(class, _))
                if class.ends_with("PathIsNotEmptyDirectoryException") =>
            {
                Ok(())
            }
            Err(e) => Err(map(e, "delete", path)),
        }
    }

    async fn mkdirs(&self, location: &Location) -> Result<()> {
        let path = path_of(location);
        self.bounded("mkdirs", path, self.client.mkdirs(path, 0o755, true))
            .await?
            .map_err(|e| map(e, "mkdirs", path))
    }

    async fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        let (src, dst) = (path_of(from), path_of(to));
        match self
            .bounded("rename", src, self.client.rename(src, dst, true))
            .await?
        {
            // HDFS does not create the destination's parent.
            Err(HdfsError::RPCError(class, _)) | Err(HdfsError::FatalRPCError(class, _))
                if class == "java.io.FileNotFoundException"
                    && to.parent().is_some()
                    && self.client.get_file_info(src).await.is_ok() =>
            {
                let parent = to.parent().expect("checked above");
                self.mkdirs(&parent).await?;
                self.bounded("rename", src, self.client.rename(src, dst, true))
                    .await?
                    .map_err(|e| map(e, "rename", dst))
            }
            other => other.map_err(|e| map(e, "rename", dst)),
        }
    }

    async fn checksum(&self, location: &Location, kind: ChecksumKind) -> Result<Option<Checksum>> {
        if kind != ChecksumKind::HdfsMd5Md5Crc32c {
            return Ok(None);
        }
        Ok(self
            .file_checksum(location)
            .await?
            .map(|sum| sum.to_checksum()))
    }

    async fn set_modified(&self, location: &Location, modified: SystemTime) -> Result<()> {
        let path = path_of(location);
        // An access time of -1 leaves it unchanged.
        self.bounded(
            "set_times",
            path,
            self.client.set_times(path, millis(modified), u64::MAX),
        )
        .await?
        .map_err(|e| map(e, "set_modified", path))
    }
}

/// One file being written: one hdfs-native pipeline, and the HDFS checksum of what went in.
struct HdfsWriter {
    writer: Option<FileWriter>,
    client: Client,
    location: Location,
    path: String,
    written: u64,
    /// Bounds every wait of a write or close by the read timeout.
    wait: Wait,
    verifier: Option<(Arc<Checksummer>, HdfsHasher)>,
    /// A large-write slot, held until the writer is done.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

#[async_trait]
impl ObjectWriter for HdfsWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Unexpected, "HDFS writer used after it failed"))?;
        let len = data.len() as u64;
        if let Some((_, hasher)) = &mut self.verifier {
            hasher.update(&data);
        }
        let path = &self.path;
        let written = self
            .wait
            .run(None, async {
                writer
                    .write_bytes(data)
                    .await
                    .map_err(|e| map(e, "write", path))
            })
            .await;
        if let Err(e) = written {
            self.writer = None;
            return Err(e);
        }
        self.written += len;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteReceipt> {
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Unexpected, "HDFS writer used after it failed"))?;
        let path = &self.path;
        let mut close = self.wait.clone();
        close.what = format!("close of {path}");
        close
            .run(None, async {
                writer.close().await.map_err(|e| map(e, "write", path))
            })
            .await?;
        match self.verifier.take() {
            Some((checksummer, hasher)) => {
                let verified = checksummer
                    .verify_written(&self.location, self.written, hasher.finish())
                    .await;
                if verified.is_err() {
                    let _ = self.client.delete(&self.path, false).await;
                }
                verified
            }
            None => Ok(WriteReceipt {
                size: self.written,
                stored_size: None,
                checksum: None,
            }),
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.writer = None;
        let mut wait = self.wait.clone();
        wait.what = format!("delete of {}", self.path);
        let deleted = wait
            .run(None, async {
                Ok(self.client.delete(&self.path, false).await)
            })
            .await?;
        match deleted {
            Ok(_) | Err(HdfsError::FileNotFound(_)) => Ok(()),
            Err(e) => Err(map(e, "abort", &self.path)),
        }
    }
}

impl Drop for HdfsWriter {
    fn drop(&mut self) {
        // Neither committed nor aborted (a cancelled task): remove the partial file, which
        // also releases its lease.
        if self.writer.take().is_some() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let (client, path) = (self.client.clone(), std::mem::take(&mut self.path));
                handle.spawn(async move {
                    let _ = client.delete(&path, false).await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_not_replicated_yet_is_written_again() {
        let refused = crate::error::remote(
            "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException",
            "Not replicated yet: /a",
        );
        assert!(not_replicated_yet(&refused));
        let other = crate::error::remote("org.apache.hadoop.ipc.RetriableException", "later");
        assert!(other.is_temporary() && !not_replicated_yet(&other));
    }
}
