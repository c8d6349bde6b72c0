//! Reading store settings from a Flink configuration directory (`--flink-conf DIR`).
//!
//! Flink 1.19+ writes `config.yaml` (standard YAML, keys flat `s3.endpoint: …` or nested
//! `s3: {endpoint: …}`); older releases write `flink-conf.yaml`, a flat `key: value` list. Both
//! are read by one small parser that understands what these files hold: comments, flat and
//! nested (indented) keys, and plain or quoted scalar values. Lists are ignored; no S3 key is
//! a list. `config.yaml` wins when both exist, as in Flink.
//!
//! S3 keys are recognised in every spelling Flink's two S3 filesystems accept: the prefixes
//! `s3.`, `s3a.`, `fs.s3a.` (flink-s3-fs-hadoop, which hands `fs.s3a.*` to Hadoop's S3A),
//! `presto.s3.` (flink-s3-fs-presto) and `hive.s3.` (Presto's own), each with dotted or
//! dashed words (`path.style.access` = `path-style-access`, `access.key` = `access-key`,
//! Presto's `aws-access-key`). When several spellings of one setting are present, the first
//! prefix in that order wins. Other keys that look like S3 settings (those prefixes, or `fs.`
//! keys naming s3) are not understood: [`unrecognised_s3_keys`] lists them for a warning.

use std::collections::BTreeMap;
use std::path::Path;

use ferry_core::{Error, ErrorKind, Result};

/// The flattened `key → value` pairs of the Flink configuration in `dir`.
pub fn read(dir: &Path) -> Result<BTreeMap<String, String>> {
    for name in ["config.yaml", "flink-conf.yaml"] {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok(parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::from_io(
                    e,
                    "read flink configuration",
                    path.display(),
                ))
            }
        }
    }
    Err(Error::new(
        ErrorKind::ConfigInvalid,
        format!(
            "--flink-conf {}: neither config.yaml nor flink-conf.yaml is there",
            dir.display()
        ),
    ))
}

/// The prefixes under which Flink's S3 filesystems read S3 settings, in precedence order.
const S3_PREFIXES: &[&str] = &["s3.", "s3a.", "fs.s3a.", "presto.s3.", "hive.s3."];

/// One S3 setting ferry reads from a Flink configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlinkS3Key {
    /// `…endpoint`.
    Endpoint,
    /// `…region`, `…endpoint.region`.
    Region,
    /// `…path.style.access`.
    PathStyle,
    /// `…access.key`, `…aws.access.key`.
    AccessKey,
    /// `…secret.key`, `…aws.secret.key`.
    SecretKey,
    /// `…session.token`.
    SessionToken,
}

/// What an S3-looking key means: `Some(Some(setting))` understood, `Some(None)` known and not
/// needed (entropy injection, which ferry reads from `_metadata`), `None` not understood.
fn classify(key: &str) -> Option<Option<FlinkS3Key>> {
    let rest = S3_PREFIXES.iter().find_map(|p| key.strip_prefix(p))?;
    let words = rest.to_ascii_lowercase().replace('-', ".");
    Some(Some(match words.as_str() {
        "endpoint" => FlinkS3Key::Endpoint,
        "region" | "endpoint.region" => FlinkS3Key::Region,
        "path.style.access" => FlinkS3Key::PathStyle,
        "access.key" | "aws.access.key" => FlinkS3Key::AccessKey,
        "secret.key" | "aws.secret.key" => FlinkS3Key::SecretKey,
        "session.token" => FlinkS3Key::SessionToken,
        w if w.starts_with("entropy.") => return Some(None),
        _ => return None,
    }))
}

/// The value of `setting` in `conf`, under whichever spelling is present (see the module doc
/// for precedence), with the key it was found under.
pub fn s3_value(conf: &BTreeMap<String, String>, setting: FlinkS3Key) -> Option<(&str, &str)> {
    S3_PREFIXES.iter().find_map(|prefix| {
        conf.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .find(|(k, _)| classify(k) == Some(Some(setting)))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    })
}

/// Keys of `conf` that look like S3 settings but that ferry does not understand (a typo, or
/// a setting ferry has no use for): those under an S3 prefix that no rule above reads, and
/// `fs.` keys naming s3 outside those prefixes (`fs.s3.endpoint`, `fs.s3n.…`).
pub fn unrecognised_s3_keys(conf: &BTreeMap<String, String>) -> Vec<String> {
    conf.keys()
        .filter(|key| {
            let s3_prefixed = S3_PREFIXES.iter().any(|p| key.starts_with(p));
            if s3_prefixed {
                classify(key).is_none()
            } else {
                key.starts_with("fs.") && key.to_ascii_lowercase().contains("s3")
            }
        })
        .cloned()
        .collect()
}

/// Parses Flink's YAML subset into flattened dotted keys.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    // (indent, key) of the enclosing mappings.
    let mut parents: Vec<(usize, String)> = Vec::new();
    for raw in text.lines() {
        let line = strip_comment(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('-') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        while parents.last().is_some_and(|(i, _)| *i >= indent) {
            parents.pop();
        }
        let key = unquote(key.trim());
        let full = parents
            .iter()
            .map(|(_, k)| k.as_str())
            .chain([key.as_str()])
            .collect::<Vec<_>>()
            .join(".");
        let value = value.trim();
        if value.is_empty() {
            parents.push((indent, key));
        } else {
            values.insert(full, unquote(value));
        }
    }
    values
}

/// Removes a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('#', None) if i == 0 || line[..i].ends_with(char::is_whitespace) => {
                return &line[..i];
            }
            _ => {}
        }
    }
    line
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_legacy_file() {
        let conf = parse(
            "# Flink\ns3.endpoint: http://minio:9000\ns3.path.style.access: true\n\
             s3.access-key: AK # inline comment\ns3.secret-key: \"s#k\"\nstate.backend: rocksdb\n",
        );
        assert_eq!(conf["s3.endpoint"], "http://minio:9000");
        assert_eq!(conf["s3.path.style.access"], "true");
        assert_eq!(conf["s3.access-key"], "AK");
        assert_eq!(conf["s3.secret-key"], "s#k");
    }

    #[test]
    fn nested_yaml_is_flattened() {
        let conf = parse(
            "jobmanager:\n  rpc:\n    port: 6123\ns3:\n  endpoint: 'http://h:1'\n  path:\n    style:\n      access: true\n  region: eu-west-1\nenv:\n  java:\n    opts:\n      all:\n        - --add-opens\ntaskmanager.numberOfTaskSlots: 2\n",
        );
        assert_eq!(conf["s3.endpoint"], "http://h:1");
        assert_eq!(conf["s3.path.style.access"], "true");
        assert_eq!(conf["s3.region"], "eu-west-1");
        assert_eq!(conf["jobmanager.rpc.port"], "6123");
        assert_eq!(conf["taskmanager.numberOfTaskSlots"], "2");
    }

    #[test]
    fn every_flink_spelling_of_an_s3_key_is_recognised() {
        for (key, setting) in [
            ("s3.endpoint", FlinkS3Key::Endpoint),
            ("fs.s3a.endpoint", FlinkS3Key::Endpoint),
            ("presto.s3.endpoint", FlinkS3Key::Endpoint),
            ("hive.s3.endpoint", FlinkS3Key::Endpoint),
            ("s3.path-style-access", FlinkS3Key::PathStyle),
            ("s3.path.style.access", FlinkS3Key::PathStyle),
            ("fs.s3a.path.style.access", FlinkS3Key::PathStyle),
            ("presto.s3.path-style-access", FlinkS3Key::PathStyle),
            ("hive.s3.path-style-access", FlinkS3Key::PathStyle),
            ("s3a.access-key", FlinkS3Key::AccessKey),
            ("s3.access.key", FlinkS3Key::AccessKey),
            ("hive.s3.aws-access-key", FlinkS3Key::AccessKey),
            ("s3.secret-key", FlinkS3Key::SecretKey),
            ("fs.s3a.secret.key", FlinkS3Key::SecretKey),
            ("fs.s3a.session.token", FlinkS3Key::SessionToken),
            ("s3.endpoint.region", FlinkS3Key::Region),
            ("fs.s3a.endpoint.region", FlinkS3Key::Region),
        ] {
            let conf = BTreeMap::from([(key.to_string(), "v".to_string())]);
            assert_eq!(s3_value(&conf, setting), Some((key, "v")), "{key}");
            assert!(unrecognised_s3_keys(&conf).is_empty(), "{key}");
        }
    }

    #[test]
    fn s3_looking_keys_that_are_not_understood_are_listed() {
        let conf = parse(
            "s3.path-stlye-access: true\nfs.s3.endpoint: http://h\ns3.entropy.key: _e_\n\
             fs.default-scheme: hdfs://nn\nstate.backend: rocksdb\ns3.endpoint: http://h\n",
        );
        assert_eq!(
            unrecognised_s3_keys(&conf),
            ["fs.s3.endpoint", "s3.path-stlye-access"]
        );
    }

    #[test]
    fn config_yaml_wins_and_a_missing_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read(dir.path()).unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );
        std::fs::write(dir.path().join("flink-conf.yaml"), "s3.region: old\n").unwrap();
        assert_eq!(read(dir.path()).unwrap()["s3.region"], "old");
        std::fs::write(dir.path().join("config.yaml"), "s3:\n  region: new\n").unwrap();
        assert_eq!(read(dir.path()).unwrap()["s3.region"], "new");
    }
}
