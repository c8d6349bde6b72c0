//! ferry's HDFS backend: `hdfs://` and `viewfs://` locations, on the native Rust client
//! [hdfs-native](https://crates.io/crates/hdfs-native) (no JVM, no libhdfs).
//!
//! * **Clusters.** The NameNode comes from the URI (`hdfs://nn:8020/p`). HA nameservices
//!   (`hdfs://ns1/p`) and viewfs mount tables (`viewfs://cluster/p`) come from the Hadoop
//!   client configuration — `core-site.xml` and `hdfs-site.xml` in `$HADOOP_CONF_DIR` (or
//!   `$HADOOP_HOME/etc/hadoop`, or `-o config_dir=DIR`) — read the way hdfs-native reads them.
//!   `hdfs:///p` means `fs.defaultFS`.
//! * **User.** `$HADOOP_USER_NAME` (or `-o user=NAME`), else the OS user.
//! * **Kerberos** is behind the cargo feature `kerberos` (see [`Kerberos`]); without it a
//!   secure cluster's configuration is refused with a message saying so.
//! * **Reads** are positional: each part of a large file is one ranged read, several at once.
//! * **Writes** use one pipeline per file, many files in flight (the engine's `-j`); block size
//!   and replication are options. The engine writes each file under a temp name and renames it
//!   over the final name (rename with overwrite).
//! * **Checksums.** hdfs-native has no `getFileChecksum`: [`block_checksum`] asks the
//!   DataNodes for block checksums with the DataTransferProtocol op `BLOCK_CHECKSUM` and builds
//!   Hadoop's MD5-of-MD5-of-CRC32C file checksum, equal to `hadoop fs -checksum`'s. Every write
//!   computes the same value from the bytes it sends
//!   ([`crate::checksum::HdfsHasher`]) and compares it with the DataNodes' once the
//!   file is closed, so copies into HDFS are verified without reading anything back; reads are
//!   checked by hdfs-native against the DataNodes' stored chunk CRCs as they arrive.
//!   [`HdfsStorage::checksum_params`] tells other callers how to compute the value themselves.
//! * **Errors** map onto ferry's kinds in one table ([`error`]); temporary ones (safe mode,
//!   lease recovery, a dead DataNode in the pipeline, …) are retried by the engine.
//!
//! Options (`-o KEY=VALUE`, or `--src-option`/`--dst-option`): `block_size` (e.g. `256M`),
//! `replication`, `user`, `config_dir`, `checksum` (`true`/`false`), `large_writes` (files over
//! 16 MiB written at once, default 2: bounds the client's packet buffers), `use_datanode_hostname`
//! (`true` when DataNodes are reachable by name only, e.g. behind NAT), and with the `kerberos`
//! feature `kerberos_principal`, `kerberos_keytab`, `kerberos_cache`.

mod backend;
pub mod block_checksum;
pub mod checksum;
pub mod conf;
pub mod config;
pub mod error;
pub mod proto;
pub mod rpc;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::registry::{BackendFactory, BackendOptions, Registry};
use ferry_core::{Error, ErrorKind, Location, OptionKey, Result, Storage};

pub use backend::HdfsStorage;
pub use conf::HadoopConf;
use config::kerberos_missing;
pub use config::{
    parse_size, HdfsSettings, Kerberos, DEFAULT_LARGE_WRITES, DEFAULT_READ_TIMEOUT, LARGE_WRITE,
    OPTIONS,
};

/// Opens HDFS clusters for `hdfs` and `viewfs` locations.
#[derive(Debug, Default)]
pub struct HdfsFactory;

#[async_trait]
impl BackendFactory for HdfsFactory {
    fn name(&self) -> &'static str {
        "hdfs"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["hdfs", "viewfs"]
    }

    fn option_keys(&self) -> &'static [OptionKey] {
        OPTIONS
    }

    fn store_key(&self, location: &Location, _: &BackendOptions) -> String {
        format!(
            "{}://{}",
            location.scheme(),
            location.authority().unwrap_or_default()
        )
    }

    async fn open(
        &self,
        location: &Location,
        options: &BackendOptions,
    ) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(open(location, options)?))
    }
}

/// Opens the cluster serving `location` with `options` (the factory's work, for callers that
/// want the concrete type, e.g. for [`HdfsStorage::checksum_params`]).
pub fn open(location: &Location, options: &BackendOptions) -> Result<HdfsStorage> {
    let settings = HdfsSettings::from_options(options)?;
    let kerberos = Kerberos::from_options(options)?;
    let mut conf = HadoopConf::load(options.get("config_dir").map(Path::new))?;
    let mut overrides = Vec::new();
    if let Some(value) = options.get("use_datanode_hostname") {
        overrides.push((
            "dfs.client.use.datanode.hostname".to_string(),
            value.trim().to_string(),
        ));
    }
    // hdfs-native retries an unreachable NameNode like an HA failover: 15 attempts with
    // sleeps up to 15 s, three minutes per call before a wrong port or a dead NameNode is an
    // error (and the engine retries on top). A single NameNode gets two quick attempts; the
    // engine's backoff does the rest. HA nameservices keep Hadoop's failover settings.
    let single = location.scheme() == "hdfs"
        && conf
            .namenodes(location.authority().unwrap_or_default())
            .is_ok_and(|addresses| addresses.len() == 1);
    if single {
        for (key, value) in [
            ("dfs.client.failover.max.attempts", "1"),
            ("dfs.client.failover.sleep.base.millis", "200"),
            ("dfs.client.failover.sleep.max.millis", "1000"),
        ] {
            if conf.get(key).is_none() {
                overrides.push((key.to_string(), value.to_string()));
            }
        }
    }
    for (key, value) in &overrides {
        conf.set(key.clone(), value.clone());
    }
    if conf.security_enabled() && !cfg!(feature = "kerberos") {
        return Err(kerberos_missing().with_context("path", location));
    }
    if location.scheme() == "viewfs" && location.authority().is_none_or(str::is_empty) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{location} names no viewfs cluster; write viewfs://cluster/path"),
        ));
    }
    HdfsStorage::open(location, conf, overrides, settings, kerberos)
}

/// Registers the `hdfs` and `viewfs` schemes.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(HdfsFactory));
}
