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

pub mod block_checksum;
pub mod checksum;
pub mod conf;
pub mod error;
pub mod proto;
pub mod rpc;
mod storage;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::registry::{BackendFactory, BackendOptions, Registry};
use ferry_core::{Error, ErrorKind, Location, OptionKey, Result, Storage};

pub use conf::HadoopConf;
pub use storage::{HdfsSettings, HdfsStorage, LARGE_WRITE};

/// Every option key this backend accepts, with its meaning and default (`ferry options`);
/// any other key given for an HDFS store is a usage error.
pub const OPTIONS: &[OptionKey] = &[
    OptionKey::new(
        "config_dir",
        "Hadoop client configuration directory (core-site.xml, hdfs-site.xml)",
        "HADOOP_CONF_DIR, else $HADOOP_HOME/etc/hadoop",
    ),
    OptionKey::new(
        "user",
        "the HDFS user",
        "HADOOP_USER_NAME, else the OS user",
    ),
    OptionKey::new(
        "block_size",
        "block size of written files, at least 1M (e.g. 256M)",
        "the cluster's dfs.blocksize",
    ),
    OptionKey::new(
        "replication",
        "replication of written files, 1 to 512",
        "the cluster's dfs.replication",
    ),
    OptionKey::new(
        "checksum",
        "compare HDFS file checksums after writes: true or false",
        "true",
    ),
    OptionKey::new(
        "large_writes",
        "files over 16 MiB written at once, 1 to 1024",
        "2",
    ),
    OptionKey::new(
        "use_datanode_hostname",
        "reach DataNodes by hostname (behind NAT): true or false",
        "the configuration's, else false",
    ),
    OptionKey::new(
        "read_timeout",
        "seconds any NameNode or DataNode answer may take, e.g. 30 or 2.5s (0: no limit)",
        "30",
    ),
    OptionKey::new(
        "kerberos_principal",
        "Kerberos principal (cargo feature kerberos)",
        "the ticket cache's",
    ),
    OptionKey::new(
        "kerberos_keytab",
        "Kerberos keytab file (cargo feature kerberos)",
        "unset",
    ),
    OptionKey::new(
        "kerberos_cache",
        "Kerberos ticket cache (cargo feature kerberos)",
        "KRB5CCNAME",
    ),
];

/// Large files written at once by default (`-o large_writes=N`).
pub const DEFAULT_LARGE_WRITES: usize = 2;

/// Kerberos credentials for a secure cluster (cargo feature `kerberos`).
///
/// With the feature, a cluster whose configuration says
/// `hadoop.security.authentication=kerberos` is reached through SASL/GSSAPI with the system's
/// MIT Kerberos library (`libgssapi_krb5.so.2`, loaded at run time): from the ticket cache of
/// `kinit` by default, or from `-o kerberos_principal=… -o kerberos_keytab=…` (or
/// `kerberos_cache=…`). HDFS checksums are then off (ferry's checksum client speaks SIMPLE
/// authentication only), so copies are verified by size, or fully with `--verify full`.
#[derive(Debug, Clone, Default)]
pub struct Kerberos {
    principal: Option<String>,
    keytab: Option<String>,
    cache: Option<String>,
}

impl Kerberos {
    fn from_options(options: &BackendOptions) -> Result<Kerberos> {
        let kerberos = Kerberos {
            principal: options.get("kerberos_principal").map(str::to_string),
            keytab: options.get("kerberos_keytab").map(str::to_string),
            cache: options.get("kerberos_cache").map(str::to_string),
        };
        let any =
            kerberos.principal.is_some() || kerberos.keytab.is_some() || kerberos.cache.is_some();
        if any && !cfg!(feature = "kerberos") {
            return Err(kerberos_missing());
        }
        Ok(kerberos)
    }

    #[cfg(feature = "kerberos")]
    fn apply(self, mut builder: hdfs_native::ClientBuilder) -> hdfs_native::ClientBuilder {
        if let Some(principal) = self.principal {
            builder = builder.with_kerberos_principal(principal);
        }
        if let Some(keytab) = self.keytab {
            builder = builder.with_kerberos_keytab(keytab);
        }
        if let Some(cache) = self.cache {
            builder = builder.with_kerberos_cache(cache);
        }
        builder
    }

    #[cfg(not(feature = "kerberos"))]
    fn apply(self, builder: hdfs_native::ClientBuilder) -> hdfs_native::ClientBuilder {
        builder
    }
}

fn kerberos_missing() -> Error {
    Error::new(
        ErrorKind::ConfigInvalid,
        "this HDFS cluster needs Kerberos, but this ferry was built without it \
         (rebuild with `cargo build --features kerberos`)",
    )
}

/// Parses a size: bytes, or a number with `k`, `m`, `g` or `t` (powers of 1024), as Hadoop
/// writes `dfs.blocksize`.
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => u32::MAX,
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|_| shift != u32::MAX)
        .and_then(|n| n.checked_mul(1u64 << shift.min(63)))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("{text:?} is not a size (e.g. 128M)"),
            )
        })
}

/// The operating-system user, as hdfs-native finds it when `HADOOP_USER_NAME` is unset.
pub(crate) fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

fn settings(options: &BackendOptions) -> Result<HdfsSettings> {
    let invalid = |key: &str, value: &str, what: &str| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("HDFS option {key}={value:?}: {what}"),
        )
    };
    let block_size = options
        .get("block_size")
        .map(|v| {
            parse_size(v)
                .ok()
                .filter(|n| *n >= 1024 * 1024 && n % 512 == 0)
                .ok_or_else(|| {
                    invalid("block_size", v, "expected a size of at least 1M, e.g. 128M")
                })
        })
        .transpose()?;
    let replication = options
        .get("replication")
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=512).contains(n))
                .ok_or_else(|| invalid("replication", v, "expected a number from 1 to 512"))
        })
        .transpose()?;
    let checksums = options
        .flag("checksum", true)
        .map_err(|message| Error::new(ErrorKind::InvalidInput, format!("HDFS option {message}")))?;
    let large_writes = options
        .get("large_writes")
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| invalid("large_writes", v, "expected a number from 1 to 1024"))
        })
        .transpose()?
        .unwrap_or(DEFAULT_LARGE_WRITES);
    let read_timeout = options
        .timeout("read_timeout", Some(storage::DEFAULT_READ_TIMEOUT))
        .map_err(|message| Error::new(ErrorKind::InvalidInput, format!("HDFS option {message}")))?;
    Ok(HdfsSettings {
        read_timeout,
        block_size,
        replication,
        user: options.get("user").map(str::to_string),
        checksums,
        large_writes,
    })
}

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
    let settings = settings(options)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_hadoop() {
        assert_eq!(parse_size("134217728").unwrap(), 128 << 20);
        assert_eq!(parse_size("128m").unwrap(), 128 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert!(parse_size("12x").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn options_are_validated() {
        let opts = |k: &str, v: &str| BackendOptions::new().with(k, v);
        assert_eq!(
            settings(&opts("block_size", "2M")).unwrap().block_size,
            Some(2 << 20)
        );
        assert!(settings(&opts("block_size", "1000")).is_err());
        assert!(settings(&opts("replication", "0")).is_err());
        assert!(!settings(&opts("checksum", "false")).unwrap().checksums);
        assert_eq!(
            settings(&BackendOptions::new()).unwrap().large_writes,
            DEFAULT_LARGE_WRITES
        );
        assert_eq!(
            settings(&opts("large_writes", "8")).unwrap().large_writes,
            8
        );
        assert!(settings(&opts("large_writes", "0")).is_err());
        let err = settings(&opts("checksum", "maybe")).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn kerberos_options_need_the_feature() {
        let options = BackendOptions::new().with("kerberos_principal", "me@REALM");
        let result = Kerberos::from_options(&options);
        assert_eq!(result.is_ok(), cfg!(feature = "kerberos"));
    }
}
