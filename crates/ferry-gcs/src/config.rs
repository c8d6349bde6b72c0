//! The settings of one GCS store, from `BackendOptions` (`-o`, `--src-option`, `--dst-option`)
//! and the environment, and what they resolve to.
//!
//! * **Endpoint.** `endpoint=URL`, else `STORAGE_EMULATOR_HOST` (as Google's client libraries
//!   read it: `host:port` means plain http), else `https://storage.googleapis.com`. A custom
//!   endpoint (an emulator) gets unsigned requests unless credentials are given explicitly.
//! * **Credentials** (real GCS): `credential_path=FILE` (a service-account or
//!   authorized-user JSON), `token` (an OAuth2 access token), else Application Default
//!   Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
//!   `~/.config/gcloud/application_default_credentials.json`, then the VM metadata server
//!   (`service_account=` picks the VM's account). `anonymous=true` sends unsigned requests
//!   (public buckets).
//! * **Project.** `project=` (or `GOOGLE_CLOUD_PROJECT`) is the project billed for
//!   requests to requester-pays buckets and the quota project of user credentials; see
//!   `docs/backends/gcs.md` for where it is sent.
//! * **Uploads.** `temp_prefix=` is where parallel composite uploads keep their parts
//!   (default `.ferry-tmp/`, in the destination bucket).
//!
//! Secrets never appear in `Debug` output or messages.

use std::path::PathBuf;
use std::time::Duration;

use ferry_core::registry::parse_flag;
use ferry_core::{BackendOptions, Error, ErrorKind, OptionKey, Result};

/// Google's JSON API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Where parallel composite uploads keep their parts, in the destination bucket.
pub const DEFAULT_TEMP_PREFIX: &str = ".ferry-tmp/";

/// Smallest part ferry uses for composite uploads (GCS itself has no minimum).
pub const MIN_PART_SIZE: u64 = 1024 * 1024;
/// Largest part: each part is one single-request upload held in memory.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts of one upload: GCS's limit of 1024 components per composite object.
pub const MAX_PARTS: u32 = 1024;

/// Every option key this backend accepts, with its meaning and default (`ferry options`);
/// any other key given for a GCS store is a usage error.
pub const OPTIONS: &[OptionKey] = &[
    OptionKey::new(
        "endpoint",
        "URL of the JSON API (an emulator)",
        "STORAGE_EMULATOR_HOST, else https://storage.googleapis.com",
    ),
    OptionKey::new(
        "credential_path",
        "service-account or authorized-user JSON file",
        "Application Default Credentials",
    ),
    OptionKey::new("token", "an OAuth2 access token", "unset"),
    OptionKey::new(
        "service_account",
        "the VM service account to ask the metadata server for",
        "the VM's default",
    ),
    OptionKey::new(
        "anonymous",
        "unsigned requests (public buckets): true or false",
        "false (true for emulators)",
    ),
    OptionKey::new(
        "project",
        "project billed for requester-pays buckets",
        "GOOGLE_CLOUD_PROJECT",
    ),
    OptionKey::new(
        "temp_prefix",
        "where parallel composite uploads keep their parts",
        ".ferry-tmp/",
    ),
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
        "30",
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

/// Where requests go and how they are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Unsigned requests: an emulator, or a public bucket (`anonymous=true`).
    Anonymous,
    /// A static OAuth2 access token.
    Token(Secret),
    /// A credentials file (service account, authorized user, external account).
    File(PathBuf),
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file,
    /// the VM metadata server (with `service_account`, that VM account).
    Default {
        /// The VM service account to ask the metadata server for.
        service_account: Option<String>,
    },
}

impl Auth {
    /// How the credentials are named in messages and the store's identity (never a secret).
    pub fn label(&self) -> String {
        match self {
            Auth::Anonymous => "anonymous".into(),
            Auth::Token(_) => "token".into(),
            Auth::File(path) => format!("file:{}", path.display()),
            Auth::Default {
                service_account: None,
            } => "adc".into(),
            Auth::Default {
                service_account: Some(account),
            } => format!("vm:{account}"),
        }
    }
}

/// What the user configured for one GCS store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsSettings {
    /// The JSON API endpoint, without a trailing `/`.
    pub endpoint: String,
    /// Whether the endpoint is not Google's (an emulator or a proxy).
    pub custom_endpoint: bool,
    /// How requests are signed.
    pub auth: Auth,
    /// The project billed for requester-pays buckets / the quota project.
    pub project: Option<String>,
    /// Prefix (in the destination bucket) of parallel composite upload parts; ends in `/`.
    pub temp_prefix: String,
    /// How long the client waits for the next bytes of an answer (its head included) before
    /// the request fails as temporary; `None`: forever. The wait for the head counts from the
    /// start of the request (reqwest's read timeout), so it also bounds the upload of one
    /// part. `read_timeout`, or its older name `response_timeout`.
    pub response_timeout: Option<Duration>,
    /// How long connecting may take; `None`: forever.
    pub connect_timeout: Option<Duration>,
}

/// The default [`GcsSettings::response_timeout`]: a server that never answers fails a request
/// of ferry's own JSON API calls within half a minute (it is not sent again: see
/// `Error::no_answer`), and a part of 8 MiB still goes up on a link of 300 KB/s.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`GcsSettings::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl GcsSettings {
    /// Reads the settings from backend options and the process environment.
    pub fn from_options(options: &BackendOptions) -> Result<GcsSettings> {
        Self::from_options_and_env(options, &|key| std::env::var(key).ok())
    }

    /// Reads the settings from backend options and `env` (the environment, injectable for
    /// tests).
    pub fn from_options_and_env(
        options: &BackendOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GcsSettings> {
        let opt = |key: &str| {
            options
                .get(key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let env = |key: &str| env(key).filter(|v| !v.trim().is_empty());
        let endpoint = match (opt("endpoint"), env("STORAGE_EMULATOR_HOST")) {
            (Some(e), _) => Some(normalize_endpoint(&e, "https")),
            (None, Some(e)) => Some(normalize_endpoint(&e, "http")),
            (None, None) => None,
        };
        let anonymous = match opt("anonymous") {
            Some(v) => Some(parse_bool("anonymous", &v)?),
            None => None,
        };
        let explicit = if let Some(token) = opt("token") {
            Some(Auth::Token(Secret(token)))
        } else {
            opt("credential_path").map(|p| Auth::File(PathBuf::from(p)))
        };
        if opt("token").is_some() && opt("credential_path").is_some() {
            return Err(invalid("give token or credential_path, not both"));
        }
        let auth = match (anonymous, explicit) {
            (Some(true), Some(_)) => return Err(invalid(
                "anonymous=true sends unsigned requests: drop token/credential_path or anonymous",
            )),
            (Some(true), None) => Auth::Anonymous,
            (_, Some(auth)) => auth,
            // An emulator takes no credentials unless asked to.
            (None, None) if endpoint.is_some() => Auth::Anonymous,
            (_, None) => Auth::Default {
                service_account: opt("service_account"),
            },
        };
        let mut temp_prefix = opt("temp_prefix").unwrap_or_else(|| DEFAULT_TEMP_PREFIX.into());
        temp_prefix = temp_prefix.trim_start_matches('/').to_string();
        if temp_prefix.is_empty() || temp_prefix.split('/').any(|s| s == "." || s == "..") {
            return Err(invalid(
                "temp_prefix must be a non-empty object-name prefix",
            ));
        }
        if !temp_prefix.ends_with('/') {
            temp_prefix.push('/');
        }
        // No output may show a token or the secrets of a credentials file.
        match &auth {
            Auth::Token(token) => ferry_core::redact::add_secret(&token.0),
            Auth::File(path) => {
                if let Ok(text) = std::fs::read_to_string(path) {
                    ferry_core::redact::add_secrets_of_json(&text);
                }
            }
            Auth::Anonymous | Auth::Default { .. } => {}
        }
        let key =
            if options.get("read_timeout").is_none() && options.get("response_timeout").is_some() {
                "response_timeout"
            } else {
                "read_timeout"
            };
        let response_timeout = options
            .timeout(key, Some(DEFAULT_RESPONSE_TIMEOUT))
            .map_err(|e| invalid(&e))?;
        let connect_timeout = options
            .timeout("connect_timeout", Some(DEFAULT_CONNECT_TIMEOUT))
            .map_err(|e| invalid(&e))?;
        Ok(GcsSettings {
            response_timeout,
            connect_timeout,
            custom_endpoint: endpoint.is_some(),
            endpoint: endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.into()),
            auth,
            project: opt("project").or_else(|| env("GOOGLE_CLOUD_PROJECT")),
            temp_prefix,
        })
    }
}

fn invalid(message: &str) -> Error {
    Error::new(ErrorKind::ConfigInvalid, format!("GCS option: {message}"))
        .with_context("backend", "gcs")
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    parse_flag(key, value).map_err(|message| invalid(&message))
}

/// Adds `scheme://` to an endpoint given as `host:port`, drops a trailing `/`.
fn normalize_endpoint(endpoint: &str, scheme: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_string()
    } else {
        format!("{scheme}://{e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(options: BackendOptions, env: &[(&str, &str)]) -> Result<GcsSettings> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GcsSettings::from_options_and_env(&options, &move |key| {
            env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn real_gcs_uses_application_default_credentials() {
        let s = settings(BackendOptions::new(), &[]).unwrap();
        assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
        assert!(!s.custom_endpoint);
        assert_eq!(
            s.auth,
            Auth::Default {
                service_account: None
            }
        );
        assert_eq!(s.temp_prefix, ".ferry-tmp/");
        let s = settings(
            BackendOptions::new()
                .with("credential_path", "/etc/sa.json")
                .with("project", "p1"),
            &[("GOOGLE_CLOUD_PROJECT", "p0")],
        )
        .unwrap();
        assert_eq!(s.auth, Auth::File("/etc/sa.json".into()));
        assert_eq!(s.project.as_deref(), Some("p1"));
    }

    #[test]
    fn emulators_come_from_the_environment_or_the_endpoint_option() {
        let s = settings(
            BackendOptions::new(),
            &[("STORAGE_EMULATOR_HOST", "localhost:4443")],
        )
        .unwrap();
        assert_eq!(s.endpoint, "http://localhost:4443");
        assert_eq!(s.auth, Auth::Anonymous);
        let s = settings(
            BackendOptions::new().with("endpoint", "http://127.0.0.1:9/"),
            &[("STORAGE_EMULATOR_HOST", "localhost:4443")],
        )
        .unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        assert!(s.custom_endpoint);
        // Explicit credentials still sign requests to a custom endpoint (a proxy).
        let s = settings(
            BackendOptions::new()
                .with("endpoint", "gcs.internal:443")
                .with("token", "ya29.secret"),
            &[],
        )
        .unwrap();
        assert_eq!(s.endpoint, "https://gcs.internal:443");
        assert!(matches!(s.auth, Auth::Token(_)));
        assert!(!format!("{s:?}").contains("ya29"), "{s:?}");
        assert_eq!(s.auth.label(), "token");
    }

    #[test]
    fn bad_values_are_config_errors() {
        for bad in [
            BackendOptions::new().with("anonymous", "maybe"),
            BackendOptions::new()
                .with("anonymous", "true")
                .with("token", "t"),
            BackendOptions::new()
                .with("token", "t")
                .with("credential_path", "/x"),
            BackendOptions::new().with("temp_prefix", "../x"),
        ] {
            let err = settings(bad, &[]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
            assert!(!err.to_string().contains("\n"));
        }
        let s = settings(BackendOptions::new().with("temp_prefix", "/tmp/x"), &[]).unwrap();
        assert_eq!(s.temp_prefix, "tmp/x/");
    }
}
