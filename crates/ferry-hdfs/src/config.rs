//! The settings of one HDFS store, from `BackendOptions` (`-o`, `--src-option`,
//! `--dst-option`): the declared option keys ([`OPTIONS`]), their parsing and checks, Kerberos
//! credentials, and the limits that follow from them. The Hadoop client configuration itself
//! (`core-site.xml`, `hdfs-site.xml`) is read by [`crate::conf`].

use std::time::Duration;

use ferry_core::registry::BackendOptions;
use ferry_core::{Error, ErrorKind, OptionKey, Result};

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
    pub(crate) fn from_options(options: &BackendOptions) -> Result<Kerberos> {
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
    pub(crate) fn apply(
        self,
        mut builder: hdfs_native::ClientBuilder,
    ) -> hdfs_native::ClientBuilder {
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
    pub(crate) fn apply(self, builder: hdfs_native::ClientBuilder) -> hdfs_native::ClientBuilder {
        builder
    }
}

pub(crate) fn kerberos_missing() -> Error {
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

impl HdfsSettings {
    /// The settings `options` give (every key checked; see [`OPTIONS`]).
    pub fn from_options(options: &BackendOptions) -> Result<HdfsSettings> {
        settings(options)
    }
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
        .timeout("read_timeout", Some(DEFAULT_READ_TIMEOUT))
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

/// Settings of one opened store (parsed from `BackendOptions` by the factory).
#[derive(Debug, Clone, Default)]
pub struct HdfsSettings {
    /// Block size of new files; `None`: the client configuration's `dfs.blocksize`, else the
    /// NameNode's default.
    pub block_size: Option<u64>,
    /// Replication of new files; `None`: `dfs.replication`, else the NameNode's default.
    pub replication: Option<u32>,
    /// The user ferry acts as (`HADOOP_USER_NAME` when unset).
    pub user: Option<String>,
    /// Ask DataNodes for file checksums (`BLOCK_CHECKSUM`).
    pub checksums: bool,
    /// Large files (over [`LARGE_WRITE`]) written at once; more wait. Bounds the client's
    /// packet buffers, which ferry's memory budget does not see. One DataNode pipeline takes
    /// a file at a few hundred MB/s; small files are not limited.
    pub large_writes: usize,
    /// How long any wait on a NameNode or DataNode (an answer, the next bytes of a read, the
    /// acknowledgement of a write, a close) may be silent before it fails as temporary;
    /// `None`: forever.
    pub read_timeout: Option<Duration>,
}

/// The default [`HdfsSettings::read_timeout`]: a NameNode that accepted the connection and
/// went silent fails a request within half a minute; a busy one still answers in time.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Files above this size count as large writes: hdfs-native may hold up to ~13 MiB of packets
/// (200 × 64 KiB, queued and awaiting acks) for each of them, outside ferry's buffer budget.
pub const LARGE_WRITE: u64 = 16 << 20;

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
