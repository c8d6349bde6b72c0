//! Locations: the URIs ferry reads and writes (`file:///p`, `/p`, `hdfs://nn:8020/p`,
//! `s3a://bucket/key`, `gs://bucket/key`, …), parsed once and manipulated without string games.
//!
//! A [`Location`] is `scheme`, an optional `authority` (host:port, bucket, nameservice) and an
//! absolute, `/`-separated `path`. Paths are normalised lexically: repeated slashes collapse,
//! `.` segments vanish and `..` pops a segment (never above the root). Object keys (S3, GCS)
//! given by the user are not paths: a `.` or `..` segment in one is refused when parsed, never
//! resolved to another key. A trailing slash is not
//! part of the location; callers that care (the CLI's "copy into this directory") look at the raw
//! text. Nothing here touches a store.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{Error, ErrorKind, Result};

/// Everything but RFC 3986's unreserved characters (`A–Z a–z 0–9 - _ . ~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes every byte of `text` but RFC 3986's unreserved characters, as one URL path
/// segment or query value (GCS object names in URLs; SigV4 query strings).
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, RESERVED).to_string()
}

/// The schemes ferry knows about, with the store family each belongs to.
///
/// `s3`, `s3a`, `s3n` and `s3p` are Hadoop's and Flink's spellings of one store; `viewfs` is a
/// client-side mount table over HDFS.
pub const KNOWN_SCHEMES: &[(&str, &str)] = &[
    ("file", "local"),
    ("hdfs", "hdfs"),
    ("viewfs", "hdfs"),
    ("s3", "s3"),
    ("s3a", "s3"),
    ("s3n", "s3"),
    ("s3p", "s3"),
    ("gs", "gcs"),
    ("wasb", "azure"),
    ("wasbs", "azure"),
    ("abfs", "azure"),
    ("abfss", "azure"),
    ("mem", "memory"),
];

/// Returns the store family of a scheme (`"s3"` for `s3a`), or `None` for an unknown scheme.
pub fn scheme_family(scheme: &str) -> Option<&'static str> {
    KNOWN_SCHEMES
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(scheme))
        .map(|(_, family)| *family)
}

/// A parsed storage location.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    scheme: String,
    authority: Option<String>,
    path: String,
}

impl Location {
    /// Parses a URI or a plain local path.
    ///
    /// * `scheme://authority/path` and `scheme:/path` (Flink's `file:/tmp/x` form) are URIs.
    /// * Anything else is a local path; a relative one is resolved against the current
    ///   directory.
    ///
    /// Errors (kind `InvalidInput`): an empty string, a bucket store without a bucket
    /// (`s3:///key`), a URI whose path is not absolute, a `file` URI naming a host other than
    /// `localhost` (`file://otherhost/x` is not on this machine), or a `.` or `..` segment in
    /// an object key (`s3://b/a/../b`): keys are not paths, and rewriting one would name
    /// another object.
    pub fn parse(text: &str) -> Result<Location> {
        if text.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, "empty location"));
        }
        match split_scheme(text) {
            Some((scheme, rest)) => Self::parse_uri(text, scheme, rest),
            None => Self::local(text),
        }
    }

    /// A `file` location for a local path, made absolute against the current directory.
    pub fn local(path: impl AsRef<std::path::Path>) -> Result<Location> {
        let path = path.as_ref();
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| {
                    Error::new(ErrorKind::Unexpected, "cannot read the current directory")
                        .with_source(e)
                })?
                .join(path)
        };
        let text = absolute.to_str().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("local path is not valid UTF-8: {}", absolute.display()),
            )
        })?;
        Ok(Location {
            scheme: "file".into(),
            authority: None,
            path: normalize_path(text),
        })
    }

    fn parse_uri(text: &str, scheme: &str, rest: &str) -> Result<Location> {
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = match rest.strip_prefix("//") {
            Some(after) => match after.find('/') {
                Some(i) => (Some(after[..i].to_string()), &after[i..]),
                None => (Some(after.to_string()), "/"),
            },
            None => (None, rest),
        };
        // Like Flink's `Path`, an empty authority is no authority: `file:///p` is `file:/p`.
        let mut authority = authority.filter(|a| !a.is_empty());
        if scheme == "file" {
            // `file://localhost/p` is `/p` (RFC 8089); any other host is not this machine, and
            // ferry must not write its path locally.
            match authority.as_deref() {
                None => {}
                Some(host) if host.eq_ignore_ascii_case("localhost") => authority = None,
                Some(host) => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "location {text:?} names the host {host:?}: file URIs name this \
                             machine only (write file:///path or file://localhost/path)"
                        ),
                    ))
                }
            }
        }
        if !path.starts_with('/') {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("location {text:?} has a relative path; write {scheme}:///absolute/path"),
            ));
        }
        let needs_bucket = matches!(scheme_family(&scheme), Some("s3" | "gcs" | "azure"));
        if needs_bucket && authority.as_deref().is_none_or(str::is_empty) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("location {text:?} names no bucket; write {scheme}://bucket/key"),
            ));
        }
        // Object stores (S3, GCS, and any added later, Azure Blob included) hold keys, not
        // paths; only file systems resolve `.` and `..`.
        let object_keys = !matches!(
            scheme_family(&scheme),
            Some("local" | "hdfs" | "memory") | None
        );
        if object_keys {
            if let Some(segment) = path.split('/').find(|s| matches!(*s, "." | "..")) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "location {text:?} has a {segment:?} segment: object keys are not paths, \
                         and ferry neither resolves it nor writes such a key; write the key \
                         without it"
                    ),
                ));
            }
        }
        Ok(Location {
            scheme,
            authority,
            path: normalize_path(path),
        })
    }

    /// Builds a location from parts; `path` is normalised and made absolute.
    pub fn from_parts(scheme: &str, authority: Option<&str>, path: &str) -> Location {
        Location {
            scheme: scheme.to_ascii_lowercase(),
            authority: authority.filter(|a| !a.is_empty()).map(str::to_string),
            path: normalize_path(&format!("/{path}")),
        }
    }

    /// The scheme, lower-case (`s3a`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The authority (`nn:8020`, a bucket), if the URI had a non-empty one (`file:///p` has
    /// none, as in Flink).
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// The absolute path, always starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path without its leading `/`: an object key for bucket stores (`""` for the root).
    pub fn key(&self) -> &str {
        &self.path[1..]
    }

    /// Whether this is the root of its store (path `/`).
    pub fn is_root(&self) -> bool {
        self.path == "/"
    }

    /// The last path segment, or `None` at the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.path.rsplit('/').next()
        }
    }

    /// The parent location, or `None` at the root.
    pub fn parent(&self) -> Option<Location> {
        if self.is_root() {
            return None;
        }
        let cut = self.path.rfind('/').unwrap_or(0);
        Some(Location {
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            path: if cut == 0 {
                "/".into()
            } else {
                self.path[..cut].into()
            },
        })
    }

    /// Appends a relative `/`-separated path. `..` cannot climb above `self`'s root, and an
    /// empty `relative` returns a copy of `self`.
    pub fn join(&self, relative: &str) -> Location {
        let joined = format!("{}/{}", self.path, relative);
        Location {
            scheme: self.scheme.clone(),
            authority: self.authority.clone(),
            path: normalize_path(&joined),
        }
    }

    /// Whether `self` and `other` are on the same store (same scheme and authority).
    pub fn same_store(&self, other: &Location) -> bool {
        self.scheme == other.scheme && self.authority == other.authority
    }

    /// The path of `self` relative to `base`, if `self` is `base` or lies below it (on a
    /// segment boundary: `/a/bc` is not below `/a/b`). `Some("")` when equal.
    pub fn strip_prefix(&self, base: &Location) -> Option<&str> {
        if !self.same_store(base) {
            return None;
        }
        if base.is_root() {
            return Some(self.key());
        }
        let rest = self.path.strip_prefix(base.path.as_str())?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }

    /// Replaces the prefix `from` with `to`: `s3a://old/x/y` with `from = s3a://old/x`,
    /// `to = hdfs://nn/z` gives `hdfs://nn/z/y`. `None` if `self` is not below `from`.
    pub fn replace_prefix(&self, from: &Location, to: &Location) -> Option<Location> {
        self.strip_prefix(from).map(|rest| to.join(rest))
    }

    /// The same location under another scheme (`s3p` → `s3a`). Azure's two spellings also
    /// name different hosts of one account: `wasb[s]` its `.blob.` host, `abfs[s]` its `.dfs.`
    /// host, so between them the authority changes too.
    pub fn with_scheme(&self, scheme: &str) -> Location {
        let scheme = scheme.to_ascii_lowercase();
        let host = match scheme.as_str() {
            "wasb" | "wasbs" => Some((".dfs.", ".blob.")),
            "abfs" | "abfss" => Some((".blob.", ".dfs.")),
            _ => None,
        };
        let authority = match (host, &self.authority) {
            (Some((from, to)), Some(authority)) if scheme_family(&self.scheme) == Some("azure") => {
                Some(match authority.split_once('@') {
                    Some((container, host)) => {
                        format!("{container}@{}", host.replacen(from, to, 1))
                    }
                    None => authority.clone(),
                })
            }
            _ => self.authority.clone(),
        };
        Location {
            scheme,
            authority,
            path: self.path.clone(),
        }
    }

    /// The same location with another authority.
    pub fn with_authority(&self, authority: Option<&str>) -> Location {
        Location {
            authority: authority.filter(|a| !a.is_empty()).map(str::to_string),
            ..self.clone()
        }
    }

    /// The same store with another path.
    pub fn with_path(&self, path: &str) -> Location {
        Location {
            path: normalize_path(&format!("/{path}")),
            ..self.clone()
        }
    }

    /// For `file` locations, the local filesystem path.
    pub fn to_local_path(&self) -> Option<std::path::PathBuf> {
        (self.scheme == "file").then(|| std::path::PathBuf::from(&self.path))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.authority {
            Some(authority) => write!(f, "{}://{}{}", self.scheme, authority, self.path),
            None => write!(f, "{}:{}", self.scheme, self.path),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl std::str::FromStr for Location {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Location::parse(s)
    }
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Splits `scheme:rest` when `text` starts with a URI scheme (RFC 3986 characters, at least two
/// of them so that a Windows drive letter is never taken for one).
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(':')?;
    let scheme = &text[..colon];
    let valid = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| (scheme, &text[colon + 1..]))
}

/// Lexical normalisation of an absolute path: collapse `//`, drop `.`, apply `..`.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        Location::parse(s).unwrap()
    }

    #[test]
    fn parses_every_supported_scheme() {
        for (text, scheme, authority, path) in [
            ("file:///data/x", "file", None, "/data/x"),
            ("file:/tmp/sp", "file", None, "/tmp/sp"),
            ("/data/x", "file", None, "/data/x"),
            (
                "hdfs://nn:8020/flink/sp",
                "hdfs",
                Some("nn:8020"),
                "/flink/sp",
            ),
            ("hdfs:///flink", "hdfs", None, "/flink"),
            ("viewfs://cluster/a", "viewfs", Some("cluster"), "/a"),
            ("s3://b/k", "s3", Some("b"), "/k"),
            ("S3A://b/k/", "s3a", Some("b"), "/k"),
            ("s3n://b", "s3n", Some("b"), "/"),
            ("s3p://b/x/y", "s3p", Some("b"), "/x/y"),
            ("gs://b/a b/ü+c", "gs", Some("b"), "/a b/ü+c"),
        ] {
            let l = loc(text);
            assert_eq!(l.scheme(), scheme, "{text}");
            assert_eq!(l.authority(), authority, "{text}");
            assert_eq!(l.path(), path, "{text}");
        }
    }

    #[test]
    fn relative_local_paths_become_absolute() {
        let l = loc("./x/../y");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(l.path(), format!("{}/y", cwd.display()));
        assert_eq!(l.scheme(), "file");
    }

    #[test]
    fn display_round_trips() {
        assert_eq!(loc("file:///data/x").to_string(), "file:/data/x");
        assert_eq!(loc("file:///data/x"), loc("/data/x"));
        for text in [
            "file:/tmp/sp",
            "hdfs://nn:8020/flink/sp",
            "s3a://b/k/l",
            "gs://b/",
        ] {
            assert_eq!(loc(text).to_string(), text);
            assert_eq!(loc(&loc(text).to_string()), loc(text));
        }
    }

    #[test]
    fn rejects_bad_uris() {
        assert_eq!(
            Location::parse("").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(Location::parse("s3:///key").is_err());
        assert!(Location::parse("gs:relative").is_err());
    }

    #[test]
    fn file_uris_name_this_machine_only() {
        assert_eq!(loc("file://localhost/data/x"), loc("/data/x"));
        assert_eq!(loc("file://LOCALHOST/data/x").authority(), None);
        let err = Location::parse("file://otherhost/x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("file://otherhost/x"), "{err}");
        assert!(err.to_string().contains("otherhost"), "{err}");
    }

    #[test]
    fn object_keys_with_dot_segments_are_refused_not_rewritten() {
        for text in [
            "s3://bucket/a/../b",
            "s3a://bucket/./b",
            "gs://bucket/a/..",
            "s3p://bucket/a/./b/",
        ] {
            let err = Location::parse(text).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{text}");
            assert!(err.to_string().contains(text), "{err}");
        }
        // Dots inside a segment are ordinary characters; paths on file systems still resolve.
        assert_eq!(loc("s3://b/a..b/.c").path(), "/a..b/.c");
        assert_eq!(loc("hdfs://nn/a/../b").path(), "/b");
        assert_eq!(loc("file:///a/./b").path(), "/a/b");
    }

    #[test]
    fn join_parent_and_name() {
        let base = loc("s3a://b/root");
        let child = base.join("chk-42/_metadata");
        assert_eq!(child.to_string(), "s3a://b/root/chk-42/_metadata");
        assert_eq!(child.file_name(), Some("_metadata"));
        assert_eq!(child.parent().unwrap().to_string(), "s3a://b/root/chk-42");
        assert_eq!(loc("s3a://b/").parent(), None);
        assert_eq!(base.join("../../../x").to_string(), "s3a://b/x");
        assert_eq!(base.join(""), base);
    }

    #[test]
    fn strip_prefix_respects_segment_boundaries() {
        let base = loc("hdfs://nn/a/b");
        assert_eq!(loc("hdfs://nn/a/b/c/d").strip_prefix(&base), Some("c/d"));
        assert_eq!(loc("hdfs://nn/a/b").strip_prefix(&base), Some(""));
        assert_eq!(loc("hdfs://nn/a/bc").strip_prefix(&base), None);
        assert_eq!(loc("hdfs://other/a/b/c").strip_prefix(&base), None);
        assert_eq!(loc("s3://b/x/y").strip_prefix(&loc("s3://b/")), Some("x/y"));
    }

    #[test]
    fn replace_prefix_changes_scheme_and_authority() {
        let from = loc("hdfs://nn-a:8020/flink/cp");
        let to = loc("s3a://bucket/flink/cp");
        let moved = loc("hdfs://nn-a:8020/flink/cp/job/shared/x.sst")
            .replace_prefix(&from, &to)
            .unwrap();
        assert_eq!(moved.to_string(), "s3a://bucket/flink/cp/job/shared/x.sst");
        assert_eq!(moved.with_scheme("s3p").scheme(), "s3p");
        let wasb = loc("wasbs://c@acct.blob.core.windows.net/cp/x");
        let abfs = wasb.with_scheme("abfss");
        assert_eq!(abfs.to_string(), "abfss://c@acct.dfs.core.windows.net/cp/x");
        assert_eq!(
            abfs.with_scheme("wasb").to_string(),
            "wasb://c@acct.blob.core.windows.net/cp/x"
        );
        assert_eq!(
            loc("hdfs://nn-b/flink/cp/x").replace_prefix(&from, &to),
            None
        );
    }

    #[test]
    fn families() {
        assert_eq!(scheme_family("s3p"), Some("s3"));
        assert_eq!(scheme_family("VIEWFS"), Some("hdfs"));
        assert_eq!(scheme_family("ftp"), None);
    }

    proptest::proptest! {
        #[test]
        fn join_then_strip_is_identity(segs in proptest::collection::vec("[a-z0-9 _+.-]{1,8}", 0..6)) {
            let segs: Vec<_> = segs.into_iter().filter(|s| s != "." && s != "..").collect();
            let rel = segs.join("/");
            let base = loc("s3://bucket/base");
            let joined = base.join(&rel);
            proptest::prop_assert_eq!(joined.strip_prefix(&base), Some(rel.as_str()));
            proptest::prop_assert_eq!(Location::parse(&joined.to_string()).unwrap(), joined);
        }
    }
}
