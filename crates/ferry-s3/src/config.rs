//! The settings of one S3 store, from `BackendOptions` (`-o`, `--src-option`, `--dst-option`)
//! and a Flink configuration directory, and what they resolve to.
//!
//! Precedence, highest first: per-side options, shared `-o` options (the CLI merges those two),
//! the Flink configuration (`s3.endpoint`, `s3.path.style.access`, `s3.access-key`,
//! `s3.secret-key`, `s3.region`), then the AWS SDK's standard chain (environment, shared
//! profile, web identity, container and instance metadata). Secrets are kept out of `Debug`.

use std::path::PathBuf;
use std::time::Duration;

use ferry_core::registry::parse_flag;
use ferry_core::{BackendOptions, Error, ErrorKind, OptionKey, Result};

use crate::flink_conf::{self, FlinkS3Key};

/// S3's multipart limits: the smallest part (except the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The largest part (and the largest single PUT).
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts per upload.
pub const MAX_PARTS: u32 = 10_000;
/// Default size above which a server-side copy uses parallel `UploadPartCopy` requests. One
/// `CopyObject` is one request and, on stores that share data between copies, nearly free;
/// parallel part copies pay off for objects of gigabytes.
pub const DEFAULT_COPY_THRESHOLD: u64 = 1024 * 1024 * 1024;
/// Default part size of a parallel server-side copy.
pub const DEFAULT_COPY_PART_SIZE: u64 = 64 * 1024 * 1024;
/// Default number of `UploadPartCopy` requests in flight per object.
pub const DEFAULT_COPY_CONCURRENCY: usize = 8;
/// The largest object `CopyObject` copies in one request (S3's limit).
pub const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// Every option key this backend accepts, with its meaning and default (`ferry options`);
/// any other key given for an S3 store is a usage error.
pub const OPTIONS: &[OptionKey] = &[
    OptionKey::new(
        "endpoint",
        "URL of an S3-compatible store (MinIO, Ceph, …)",
        "AWS (or AWS_ENDPOINT_URL)",
    ),
    OptionKey::new(
        "region",
        "the bucket's region",
        "AWS_REGION or the profile's, else us-east-1",
    ),
    OptionKey::new(
        "profile",
        "AWS shared-config profile (also --profile)",
        "AWS_PROFILE, else default",
    ),
    OptionKey::new(
        "path_style",
        "path-style requests (http://host/bucket/key): true or false",
        "true for IP and localhost endpoints",
    ),
    OptionKey::new(
        "access_key_id",
        "static access key id (with secret_access_key)",
        "the AWS credential chain",
    ),
    OptionKey::new(
        "secret_access_key",
        "static secret access key (with access_key_id)",
        "the AWS credential chain",
    ),
    OptionKey::new(
        "session_token",
        "session token of temporary credentials",
        "unset",
    ),
    OptionKey::new(
        "anonymous",
        "unsigned requests (public buckets): true or false",
        "false",
    ),
    OptionKey::new(
        "ca_bundle",
        "PEM file of extra trusted CA certificates",
        "AWS_CA_BUNDLE",
    ),
    OptionKey::new(
        "copy_threshold",
        "server-side copies above this size use parallel part copies",
        "1G",
    ),
    OptionKey::new(
        "copy_part_size",
        "part size of parallel server-side copies, 5M to 5G",
        "64M",
    ),
    OptionKey::new("copy_concurrency", "part copies in flight per object", "8"),
    OptionKey::new(
        "response_timeout",
        "older name of read_timeout",
        "read_timeout's",
    ),
    OptionKey::new(
        "connect_timeout",
        "seconds to open a connection (0: no limit)",
        "10",
    ),
    OptionKey::new(
        "read_timeout",
        "seconds an answer may stall: no byte of its head or body, or of an upload (0: no limit)",
        "15",
    ),
    OptionKey::new(
        "copy_timeout",
        "seconds one server-side copy request may take (0: no limit)",
        "600",
    ),
    OptionKey::new(
        "flink_conf_dir",
        "Flink configuration directory to read s3.* keys from (also --flink-conf)",
        "unset",
    ),
];

/// A secret string: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the user configured for one S3 store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// Custom endpoint URL (S3-compatible stores); `None` means AWS (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Region; `None` means the SDK chain (`AWS_REGION`, profile), else `us-east-1`.
    pub region: Option<String>,
    /// Shared-config profile; `None` means `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Path-style addressing; `None` means "yes for IP or localhost endpoints".
    pub path_style: Option<bool>,
    /// Static access key id.
    pub access_key_id: Option<String>,
    /// Static secret access key.
    pub secret_access_key: Option<Secret>,
    /// Static session token.
    pub session_token: Option<Secret>,
    /// Send unsigned requests (public buckets).
    pub anonymous: bool,
    /// Extra trusted CA certificates (PEM) for https endpoints; default `AWS_CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
    /// Server-side copies above this size use parallel `UploadPartCopy`.
    pub copy_threshold: u64,
    /// Part size of parallel server-side copies.
    pub copy_part_size: u64,
    /// `UploadPartCopy` requests in flight per object.
    pub copy_concurrency: usize,
    /// How long connecting may take; `None`: forever.
    pub connect_timeout: Option<Duration>,
    /// How long a request may be silent — no answer, no next bytes of the answer's body, the
    /// server taking none of an upload's body — before it fails (temporary, so it is
    /// retried); the timer restarts on every progress. `None`: forever. (`response_timeout`
    /// is an older name of it.)
    pub read_timeout: Option<Duration>,
    /// How long one server-side copy request (`CopyObject`, `UploadPartCopy`, which answer
    /// only when the copy is done) may take; `None`: forever.
    pub copy_timeout: Option<Duration>,
}

/// The default [`S3Settings::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`S3Settings::read_timeout`]: a server that took the request and went silent
/// fails it within seconds (three attempts of metadata requests: under a minute), while a slow
/// transfer that keeps flowing never times out.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// The default [`S3Settings::copy_timeout`]: a server-side copy of a 5 GiB object (or part)
/// on a slow S3-compatible store must still have time.
pub const DEFAULT_COPY_TIMEOUT: Duration = Duration::from_secs(600);

impl S3Settings {
    /// Reads the settings from backend options (and the Flink configuration they name).
    pub fn from_options(options: &BackendOptions) -> Result<S3Settings> {
        let mut settings = S3Settings {
            copy_threshold: DEFAULT_COPY_THRESHOLD,
            copy_part_size: DEFAULT_COPY_PART_SIZE,
            copy_concurrency: DEFAULT_COPY_CONCURRENCY,
            ..S3Settings::default()
        };
        if let Some(dir) = options.get("flink_conf_dir") {
            let flink = flink_conf::read(std::path::Path::new(dir))?;
            let get = |setting| flink_conf::s3_value(&flink, setting).map(|(_, v)| v.to_string());
            settings.endpoint = get(FlinkS3Key::Endpoint);
            settings.region = get(FlinkS3Key::Region);
            if let Some((key, v)) = flink_conf::s3_value(&flink, FlinkS3Key::PathStyle) {
                settings.path_style = Some(parse_bool(key, v)?);
            }
            settings.access_key_id = get(FlinkS3Key::AccessKey);
            settings.secret_access_key = get(FlinkS3Key::SecretKey).map(Secret);
            settings.session_token = get(FlinkS3Key::SessionToken).map(Secret);
        }
        let opt = |key: &str| options.get(key).map(str::to_string);
        if let Some(v) = opt("endpoint") {
            settings.endpoint = Some(v);
        }
        if let Some(v) = opt("region") {
            settings.region = Some(v);
        }
        if let Some(v) = opt("profile") {
            settings.profile = Some(v);
        }
        if let Some(v) = opt("path_style") {
            settings.path_style = Some(parse_bool("path_style", &v)?);
        }
        if let Some(v) = opt("access_key_id") {
            settings.access_key_id = Some(v);
        }
        if let Some(v) = opt("secret_access_key") {
            settings.secret_access_key = Some(Secret(v));
        }
        if let Some(v) = opt("session_token") {
            settings.session_token = Some(Secret(v));
        }
        if let Some(v) = opt("anonymous") {
            settings.anonymous = parse_bool("anonymous", &v)?;
        }
        if let Some(v) = opt("ca_bundle") {
            settings.ca_bundle = Some(PathBuf::from(v));
        }
        if let Some(v) = opt("copy_threshold") {
            settings.copy_threshold = parse_size("copy_threshold", &v)?;
        }
        if let Some(v) = opt("copy_part_size") {
            settings.copy_part_size = parse_size("copy_part_size", &v)?;
            if !(5 << 20..=5 << 30).contains(&settings.copy_part_size) {
                return Err(invalid("copy_part_size must be between 5M and 5G"));
            }
        }
        if let Some(v) = opt("copy_concurrency") {
            settings.copy_concurrency = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("copy_concurrency must be a positive number"))?;
        }
        settings.connect_timeout = options
            .timeout("connect_timeout", Some(DEFAULT_CONNECT_TIMEOUT))
            .map_err(|e| invalid(&e))?;
        let key =
            if options.get("read_timeout").is_none() && options.get("response_timeout").is_some() {
                "response_timeout"
            } else {
                "read_timeout"
            };
        settings.read_timeout = options
            .timeout(key, Some(DEFAULT_READ_TIMEOUT))
            .map_err(|e| invalid(&e))?;
        settings.copy_timeout = options
            .timeout("copy_timeout", Some(DEFAULT_COPY_TIMEOUT))
            .map_err(|e| invalid(&e))?;
        settings.endpoint = settings.endpoint.map(|e| normalize_endpoint(&e));
        // Whatever the source (options, the Flink configuration), no output may show them.
        for secret in [&settings.secret_access_key, &settings.session_token]
            .into_iter()
            .flatten()
        {
            ferry_core::redact::add_secret(&secret.0);
        }
        if settings.access_key_id.is_some() != settings.secret_access_key.is_some() {
            return Err(invalid(
                "access_key_id and secret_access_key (s3.access-key and s3.secret-key) go together: set both or neither",
            ));
        }
        Ok(settings)
    }

    /// Whether requests use path-style addressing (`http://host/bucket/key`).
    pub fn path_style(&self) -> bool {
        self.path_style.unwrap_or_else(|| {
            self.endpoint
                .as_deref()
                .and_then(endpoint_host)
                .is_some_and(|host| {
                    host == "localhost"
                        || host.parse::<std::net::IpAddr>().is_ok()
                        || host.starts_with('[')
                })
        })
    }

    /// Whether the endpoint is plain http (then no TLS settings are consulted).
    pub fn is_plain_http(&self) -> bool {
        self.endpoint
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().starts_with("http://"))
    }
}

fn invalid(message: &str) -> Error {
    Error::new(ErrorKind::ConfigInvalid, format!("S3 option: {message}"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    parse_flag(key, value).map_err(|message| invalid(&message))
}

/// Parses `64M`, `1G`, `1048576` (binary units).
fn parse_size(key: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(invalid(&format!("{key}: bad size {value:?} (e.g. 64M)"))),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| invalid(&format!("{key}: bad size {value:?} (e.g. 64M)")))
}

/// Adds `https://` to an endpoint given without a scheme (Hadoop's `fs.s3a.endpoint` style).
fn normalize_endpoint(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_string()
    } else {
        format!("https://{e}")
    }
}

/// The host of an endpoint URL.
fn endpoint_host(endpoint: &str) -> Option<&str> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map(|(h, _)| &authority[..h.len() + 1]);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_flink_conf() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "s3:\n  endpoint: 127.0.0.1:9000\n  access-key: AK\n  secret-key: SK\n  region: r1\n",
        )
        .unwrap();
        let options = BackendOptions::new()
            .with("flink_conf_dir", dir.path().display().to_string())
            .with("region", "r2");
        let s = S3Settings::from_options(&options).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://127.0.0.1:9000"));
        assert_eq!(s.region.as_deref(), Some("r2"));
        assert_eq!(s.access_key_id.as_deref(), Some("AK"));
        assert!(s.path_style(), "IP endpoints default to path style");
        let debug = format!("{s:?}");
        assert!(!debug.contains("SK"), "{debug}");
    }

    #[test]
    fn presto_and_hadoop_spellings_in_flink_conf_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("flink-conf.yaml"),
            "presto.s3.endpoint: http://127.0.0.1:9000\npresto.s3.path-style-access: false\n\
             hive.s3.aws-access-key: AK\nfs.s3a.secret.key: SK\nfs.s3a.session.token: ST\n\
             fs.s3a.endpoint.region: r3\n",
        )
        .unwrap();
        let options =
            BackendOptions::new().with("flink_conf_dir", dir.path().display().to_string());
        let s = S3Settings::from_options(&options).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        // Explicitly off, although IP endpoints default to path style.
        assert!(!s.path_style());
        assert_eq!(s.access_key_id.as_deref(), Some("AK"));
        assert_eq!(s.secret_access_key, Some(Secret("SK".into())));
        assert_eq!(s.session_token, Some(Secret("ST".into())));
        assert_eq!(s.region.as_deref(), Some("r3"));
    }

    #[test]
    fn bad_values_are_config_errors() {
        let bad = BackendOptions::new().with("path_style", "maybe");
        assert_eq!(
            S3Settings::from_options(&bad).unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );
        let half = BackendOptions::new().with("access_key_id", "AK");
        assert!(S3Settings::from_options(&half).is_err());
        let sizes = BackendOptions::new()
            .with("copy_threshold", "1G")
            .with("copy_part_size", "16MiB");
        let s = S3Settings::from_options(&sizes).unwrap();
        assert_eq!((s.copy_threshold, s.copy_part_size), (1 << 30, 16 << 20));
    }

    #[test]
    fn path_style_defaults() {
        let s = |e: &str| S3Settings {
            endpoint: Some(e.into()),
            ..S3Settings::default()
        };
        assert!(s("http://localhost:9000").path_style());
        assert!(s("http://[::1]:9000").path_style());
        assert!(!s("https://s3.eu-west-1.amazonaws.com").path_style());
        assert!(!S3Settings::default().path_style());
    }
}
