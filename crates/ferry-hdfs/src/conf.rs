//! The Hadoop client configuration ferry reads itself: `core-site.xml` and `hdfs-site.xml` from
//! the `config_dir` option, `$HADOOP_CONF_DIR` or `$HADOOP_HOME/etc/hadoop` — the same files,
//! in the same order, as hdfs-native — plus `-o hadoop.KEY=VALUE` overrides.
//!
//! hdfs-native resolves NameNodes itself for reads and writes. ferry needs the configuration
//! for what hdfs-native does not expose: which NameNodes serve a URI (a host:port, an HA
//! nameservice, a viewfs mount) for the checksum client, whether the cluster is secure, and the
//! client-side write settings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferry_core::{Error, ErrorKind, Result};

/// The default NameNode RPC port.
pub const DEFAULT_RPC_PORT: u16 = 8020;

/// Hadoop configuration properties, later files and overrides winning.
#[derive(Debug, Clone, Default)]
pub struct HadoopConf {
    values: HashMap<String, String>,
    /// The directory the files came from, for messages.
    pub dir: Option<PathBuf>,
}

impl HadoopConf {
    /// Loads `core-site.xml` and `hdfs-site.xml` from `dir`, or from `$HADOOP_CONF_DIR` /
    /// `$HADOOP_HOME/etc/hadoop` when `dir` is `None`; missing files are skipped.
    ///
    /// Errors (`ConfigInvalid`): a file that exists but is not valid XML.
    pub fn load(dir: Option<&Path>) -> Result<HadoopConf> {
        let dir = dir.map(Path::to_path_buf).or_else(|| {
            std::env::var_os("HADOOP_CONF_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HADOOP_HOME").map(|h| PathBuf::from(h).join("etc/hadoop"))
                })
        });
        let mut conf = HadoopConf {
            values: HashMap::new(),
            dir: dir.clone(),
        };
        if let Some(dir) = &dir {
            for name in ["core-site.xml", "hdfs-site.xml"] {
                let path = dir.join(name);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    conf.values.extend(parse_properties(&text).map_err(|e| {
                        Error::new(
                            ErrorKind::ConfigInvalid,
                            format!("cannot parse {}: {e}", path.display()),
                        )
                    })?);
                }
            }
        }
        Ok(conf)
    }

    /// Sets a property (an override).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.values.insert(key.into(), value.into());
    }

    /// A property's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Every property, for handing to hdfs-native.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the cluster uses Kerberos (`hadoop.security.authentication` other than simple).
    pub fn security_enabled(&self) -> bool {
        self.get("hadoop.security.authentication")
            .is_some_and(|v| !v.eq_ignore_ascii_case("simple"))
    }

    /// Whether DataNode connections need SASL or encryption (secure clusters).
    pub fn data_transfer_protected(&self) -> bool {
        self.get("dfs.data.transfer.protection").is_some()
            || self
                .get("dfs.encrypt.data.transfer")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Whether clients reach DataNodes by host name rather than IP.
    pub fn use_datanode_hostname(&self) -> bool {
        self.get("dfs.client.use.datanode.hostname")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The RPC addresses (`host:port`) that may serve `authority` of an `hdfs://` URI: the HA
    /// NameNodes of a nameservice, or the authority itself (port 8020 when it has none). An
    /// empty authority means `fs.defaultFS`.
    pub fn namenodes(&self, authority: &str) -> Result<Vec<String>> {
        let authority = if authority.is_empty() {
            let default = self.get("fs.defaultFS").ok_or_else(|| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    "hdfs:/// names no NameNode and fs.defaultFS is not set \
                     (set HADOOP_CONF_DIR or write hdfs://namenode:8020/path)",
                )
            })?;
            default
                .strip_prefix("hdfs://")
                .map(|rest| rest.split('/').next().unwrap_or_default().to_string())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::ConfigInvalid,
                        format!("fs.defaultFS is {default:?}, not an hdfs:// URI"),
                    )
                })?
        } else {
            authority.to_string()
        };
        if let Some(ids) = self.get(&format!("dfs.ha.namenodes.{authority}")) {
            let addresses: Vec<String> = ids
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .filter_map(|id| self.get(&format!("dfs.namenode.rpc-address.{authority}.{id}")))
                .map(str::to_string)
                .collect();
            if addresses.is_empty() {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!(
                        "nameservice {authority}: dfs.ha.namenodes.{authority} lists no NameNode \
                         with a dfs.namenode.rpc-address.{authority}.<id>"
                    ),
                ));
            }
            return Ok(addresses);
        }
        if authority.contains(':') {
            Ok(vec![authority])
        } else {
            Ok(vec![format!("{authority}:{DEFAULT_RPC_PORT}")])
        }
    }

    /// Resolves a `viewfs://cluster/path` to the `hdfs://` authority and path behind it, by
    /// the mount table (`fs.viewfs.mounttable.<cluster>.link.<prefix>`, longest prefix first,
    /// then `linkFallback`).
    pub fn resolve_viewfs(&self, cluster: &str, path: &str) -> Result<(String, String)> {
        let prefix = format!("fs.viewfs.mounttable.{cluster}.link.");
        let mut best: Option<(&str, &str)> = None;
        for (key, target) in &self.values {
            if let Some(mount) = key.strip_prefix(&prefix) {
                let mount = mount.trim_end_matches('/');
                let below = path == mount
                    || path
                        .strip_prefix(mount)
                        .is_some_and(|rest| rest.starts_with('/'));
                if below && best.is_none_or(|(m, _)| mount.len() > m.len()) {
                    best = Some((mount, target));
                }
            }
        }
        let (mount, target) = match best {
            Some(found) => found,
            None => match self.get(&format!("fs.viewfs.mounttable.{cluster}.linkFallback")) {
                Some(target) => ("", target),
                None => {
                    return Err(Error::new(
                        ErrorKind::ConfigInvalid,
                        format!("viewfs://{cluster}{path} matches no mount link of {cluster}"),
                    ))
                }
            },
        };
        let rest = target.strip_prefix("hdfs://").ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("viewfs mount target {target:?} is not an hdfs:// URI"),
            )
        })?;
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let tail = &path[mount.len()..];
        let resolved = format!("{}{}", base.trim_end_matches('/'), tail);
        let resolved = if resolved.is_empty() {
            "/".to_string()
        } else {
            resolved
        };
        Ok((authority.to_string(), resolved))
    }
}

/// The `<property><name/><value/></property>` pairs of a Hadoop configuration file.
fn parse_properties(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let document =
        roxmltree::Document::parse_with_options(text, options).map_err(|e| e.to_string())?;
    let pairs = document
        .descendants()
        .filter(|n| n.has_tag_name("property"))
        .filter_map(|property| {
            let child = |name: &str| {
                property
                    .children()
                    .find(|c| c.has_tag_name(name))
                    .map(|c| c.text().unwrap_or_default().trim().to_string())
            };
            Some((child("name")?, child("value")?))
        })
        .collect();
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> HadoopConf {
        let mut conf = HadoopConf::default();
        pairs.iter().for_each(|(k, v)| conf.set(*k, *v));
        conf
    }

    #[test]
    fn parses_hadoop_xml() {
        let pairs = parse_properties(
            "<?xml version=\"1.0\"?>\n<configuration>\n \
             <property><name>fs.defaultFS</name><value> hdfs://nn:9000 </value></property>\n \
             <property><name>empty</name><value/></property>\n</configuration>",
        )
        .unwrap();
        assert_eq!(
            pairs,
            [
                ("fs.defaultFS".to_string(), "hdfs://nn:9000".to_string()),
                ("empty".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn namenodes_of_plain_ha_and_default_uris() {
        let c = conf(&[
            ("fs.defaultFS", "hdfs://ns1"),
            ("dfs.ha.namenodes.ns1", "nn1, nn2"),
            ("dfs.namenode.rpc-address.ns1.nn1", "a:8020"),
            ("dfs.namenode.rpc-address.ns1.nn2", "b:8020"),
        ]);
        assert_eq!(c.namenodes("nn:9000").unwrap(), ["nn:9000"]);
        assert_eq!(c.namenodes("nn").unwrap(), ["nn:8020"]);
        assert_eq!(c.namenodes("ns1").unwrap(), ["a:8020", "b:8020"]);
        assert_eq!(c.namenodes("").unwrap(), ["a:8020", "b:8020"]);
        let err = HadoopConf::default().namenodes("").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
    }

    #[test]
    fn viewfs_resolves_longest_mount_then_fallback() {
        let c = conf(&[
            ("fs.viewfs.mounttable.c.link./data", "hdfs://ns1/warehouse"),
            ("fs.viewfs.mounttable.c.link./data/hot", "hdfs://ns2/"),
            ("fs.viewfs.mounttable.c.linkFallback", "hdfs://ns3/fb"),
        ]);
        let r = |p: &str| c.resolve_viewfs("c", p).unwrap();
        assert_eq!(r("/data/x"), ("ns1".into(), "/warehouse/x".into()));
        assert_eq!(r("/data/hot/y"), ("ns2".into(), "/y".into()));
        assert_eq!(
            r("/data/hotter"),
            ("ns1".into(), "/warehouse/hotter".into())
        );
        assert_eq!(r("/other"), ("ns3".into(), "/fb/other".into()));
        assert!(conf(&[]).resolve_viewfs("c", "/x").is_err());
    }
}
