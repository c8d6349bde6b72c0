//! Reading store settings from a Flink configuration directory (`--flink-conf DIR`).
//!
//! Flink 1.19+ writes `config.yaml` (standard YAML, keys flat `s3.endpoint: …` or nested
//! `s3: {endpoint: …}`); older releases write `flink-conf.yaml`, a flat `key: value` list. Both
//! are read by one small parser that understands what these files hold: comments, flat and
//! nested (indented) keys, and plain or quoted scalar values. Lists are ignored; no S3 key is
//! a list. `config.yaml` wins when both exist, as in Flink.

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
