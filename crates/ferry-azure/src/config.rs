//! Where an Azure location lives and how requests to it are signed: the account and container
//! of a `wasb[s]://` / `abfs[s]://` URI, the Blob endpoint, and the credentials, from
//! `BackendOptions` and the environment.
//!
//! * **URIs** as Hadoop and Flink write them: `wasb[s]://CONTAINER@ACCOUNT.blob.core.windows.net/path`
//!   and `abfs[s]://CONTAINER@ACCOUNT.dfs.core.windows.net/path`. Both are served through the
//!   Blob endpoint of the account (`https://ACCOUNT.blob.<suffix>`): Data Lake Gen2 accounts
//!   answer the Blob API too.
//! * **Endpoint override**: `endpoint=URL` or a connection string's `BlobEndpoint` (Azurite's
//!   `http://127.0.0.1:10000/devstoreaccount1`) replaces the account's endpoint, as the Azure
//!   SDKs do; the location still names the account, which must be the connection string's.
//! * **Credentials**, first found wins: `account_key=` (or the connection string's
//!   `AccountKey`, `AZURE_STORAGE_KEY`, or Hadoop's `fs.azure.account.key.ACCOUNT.blob.…` in
//!   `--flink-conf`), `sas_token=` (or `SharedAccessSignature`, `AZURE_STORAGE_SAS_TOKEN`),
//!   `client_secret=` with `tenant_id=` and `client_id=` (a service principal), else the
//!   default chain of `reqsign-azure-storage`: the `AZURE_*` environment (service principal,
//!   workload identity on Kubernetes), the Azure CLI, then the VM's managed identity.
//!   `anonymous=true` sends unsigned requests (public containers).
//!
//! Secrets are registered with ferry's redaction and never appear in `Debug` output.

use std::time::Duration;

use ferry_core::{BackendOptions, Error, ErrorKind, Location, OptionKey, Result};

/// Every option key this backend accepts (`ferry options`).
pub const OPTIONS: &[OptionKey] = &[
    OptionKey::new(
        "connection_string",
        "an Azure Storage connection string",
        "AZURE_STORAGE_CONNECTION_STRING",
    ),
    OptionKey::new(
        "endpoint",
        "the account's Blob service URL (an emulator)",
        "the connection string's BlobEndpoint, else https://ACCOUNT.blob.core.windows.net",
    ),
    OptionKey::new(
        "account_key",
        "the storage account key",
        "AZURE_STORAGE_KEY",
    ),
    OptionKey::new("sas_token", "a SAS token", "AZURE_STORAGE_SAS_TOKEN"),
    OptionKey::new(
        "tenant_id",
        "Entra ID tenant of a service principal",
        "AZURE_TENANT_ID",
    ),
    OptionKey::new(
        "client_id",
        "client id of a service principal",
        "AZURE_CLIENT_ID",
    ),
    OptionKey::new(
        "client_secret",
        "secret of a service principal",
        "AZURE_CLIENT_SECRET",
    ),
    OptionKey::new(
        "anonymous",
        "unsigned requests (public containers): true or false",
        "false",
    ),
    OptionKey::new(
        "flink_conf_dir",
        "Flink configuration directory (fs.azure.account.key.* keys)",
        "--flink-conf",
    ),
    OptionKey::new(
        "connect_timeout",
        "seconds to open a connection (0: no limit)",
        "10",
    ),
    OptionKey::new(
        "read_timeout",
        "seconds an answer may stall (0: no limit)",
        "30",
    ),
];

/// The default bound on connecting.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default bound on a silent answer.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A secret string: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How requests are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Unsigned (`anonymous=true`).
    Anonymous,
    /// Shared key of the account.
    Key(Secret),
    /// A SAS token (without the leading `?`).
    Sas(Secret),
    /// A service principal with a client secret.
    ClientSecret {
        /// Tenant.
        tenant: String,
        /// Application (client) id.
        client: String,
        /// Its secret.
        secret: Secret,
    },
    /// reqsign's default chain: environment, workload identity, Azure CLI, managed identity.
    Default,
}

impl Auth {
    /// How the credentials are named in messages and identities (never a secret).
    pub fn label(&self) -> &'static str {
        match self {
            Auth::Anonymous => "anonymous",
            Auth::Key(_) => "account-key",
            Auth::Sas(_) => "sas",
            Auth::ClientSecret { .. } => "service-principal",
            Auth::Default => "default-chain",
        }
    }
}

/// The container, account and blob name of an Azure location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzurePath<'a> {
    /// The container.
    pub container: &'a str,
    /// The storage account.
    pub account: &'a str,
    /// The DNS suffix after `.blob.` / `.dfs.` (`core.windows.net`).
    pub suffix: &'a str,
    /// The blob name (no leading `/`).
    pub name: &'a str,
}

/// Splits `container@account.blob.core.windows.net` (or `.dfs.`) and the path of `location`.
pub fn azure_path(location: &Location) -> Result<AzurePath<'_>> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{location} is not an Azure Blob location: write {}://CONTAINER@ACCOUNT.{}.core.windows.net/path",
                location.scheme(),
                if location.scheme().starts_with("abfs") { "dfs" } else { "blob" }
            ),
        )
    };
    let authority = location.authority().ok_or_else(bad)?;
    let (container, host) = authority.split_once('@').ok_or_else(bad)?;
    let host = host.split(':').next().unwrap_or(host);
    let (account, rest) = host.split_once('.').ok_or_else(bad)?;
    let suffix = rest
        .strip_prefix("blob.")
        .or_else(|| rest.strip_prefix("dfs."))
        .ok_or_else(bad)?;
    if container.is_empty() || account.is_empty() || suffix.is_empty() {
        return Err(bad());
    }
    Ok(AzurePath {
        container,
        account,
        suffix,
        name: location.key(),
    })
}

/// What the user configured for the stores of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    /// The account.
    pub account: String,
    /// The Blob service URL of the account, without a trailing `/`.
    pub endpoint: String,
    /// How requests are signed.
    pub auth: Auth,
    /// Bound on connecting.
    pub connect_timeout: Option<Duration>,
    /// Bound on a silent answer.
    pub read_timeout: Option<Duration>,
}

/// The `Key=Value;…` pairs of a connection string.
fn connection_pairs(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

impl AzureSettings {
    /// The settings for `location` from `options` and the process environment.
    pub fn from_options(location: &Location, options: &BackendOptions) -> Result<AzureSettings> {
        Self::from_options_and_env(location, options, &|key| std::env::var(key).ok())
    }

    /// The settings for `location` from `options` and `env` (injectable for tests).
    pub fn from_options_and_env(
        location: &Location,
        options: &BackendOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AzureSettings> {
        let path = azure_path(location)?;
        let opt = |key: &str| {
            options
                .get(key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let env = |key: &str| env(key).filter(|v| !v.trim().is_empty());
        let conn = opt("connection_string").or_else(|| env("AZURE_STORAGE_CONNECTION_STRING"));
        let pairs = conn.as_deref().map(connection_pairs).unwrap_or_default();
        if let Some(text) = &conn {
            ferry_core::redact::add_secret(text);
        }
        let from_conn = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if let Some(named) = from_conn("accountname") {
            if named != path.account {
                return Err(invalid(&format!(
                    "the connection string is for account {named}, but {location} names account {}",
                    path.account
                )));
            }
        }
        let hadoop_key = match opt("flink_conf_dir") {
            Some(dir) => flink_account_key(std::path::Path::new(&dir), path.account)?,
            None => None,
        };
        let endpoint = opt("endpoint")
            .or_else(|| from_conn("blobendpoint"))
            .unwrap_or_else(|| {
                let protocol = from_conn("defaultendpointsprotocol").unwrap_or("https".into());
                let suffix = from_conn("endpointsuffix").unwrap_or_else(|| path.suffix.into());
                format!("{protocol}://{}.blob.{suffix}", path.account)
            })
            .trim_end_matches('/')
            .to_string();
        let secret = |s: String| {
            ferry_core::redact::add_secret(&s);
            Secret(s)
        };
        let anonymous = options.flag("anonymous", false).map_err(|e| invalid(&e))?;
        let auth = if anonymous {
            Auth::Anonymous
        } else if let Some(key) = opt("account_key")
            .or_else(|| from_conn("accountkey"))
            .or(hadoop_key)
            .or_else(|| env("AZURE_STORAGE_KEY"))
            .or_else(|| env("AZURE_STORAGE_ACCOUNT_KEY"))
        {
            Auth::Key(secret(key))
        } else if let Some(sas) = opt("sas_token")
            .or_else(|| from_conn("sharedaccesssignature"))
            .or_else(|| env("AZURE_STORAGE_SAS_TOKEN"))
        {
            Auth::Sas(secret(sas.trim_start_matches('?').to_string()))
        } else if let Some(client_secret) = opt("client_secret") {
            let need = |key: &str, var: &str| {
                opt(key).or_else(|| env(var)).ok_or_else(|| {
                    invalid(&format!("client_secret needs {key} (or {var}) as well"))
                })
            };
            Auth::ClientSecret {
                tenant: need("tenant_id", "AZURE_TENANT_ID")?,
                client: need("client_id", "AZURE_CLIENT_ID")?,
                secret: secret(client_secret),
            }
        } else {
            Auth::Default
        };
        let timeout = |key: &str, default: Duration| {
            options.timeout(key, Some(default)).map_err(|e| invalid(&e))
        };
        Ok(AzureSettings {
            account: path.account.to_string(),
            endpoint,
            auth,
            connect_timeout: timeout("connect_timeout", DEFAULT_CONNECT_TIMEOUT)?,
            read_timeout: timeout("read_timeout", DEFAULT_READ_TIMEOUT)?,
        })
    }
}

/// Hadoop's `fs.azure.account.key.ACCOUNT.blob.…` (or `.dfs.…`) from a Flink configuration
/// directory's `config.yaml` / `flink-conf.yaml` (flat `key: value` lines).
fn flink_account_key(dir: &std::path::Path, account: &str) -> Result<Option<String>> {
    let prefix = format!("fs.azure.account.key.{account}.");
    for name in ["config.yaml", "flink-conf.yaml"] {
        let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
            continue;
        };
        let found = text.lines().find_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            key.trim()
                .starts_with(&prefix)
                .then(|| value.trim().trim_matches(['"', '\'']).to_string())
        });
        return Ok(found.filter(|v| !v.is_empty()));
    }
    Ok(None)
}

fn invalid(message: &str) -> Error {
    Error::new(ErrorKind::ConfigInvalid, format!("Azure option: {message}"))
        .with_context("backend", "azure")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(text: &str) -> Location {
        Location::parse(text).unwrap()
    }

    #[test]
    fn hadoop_uris_name_container_account_and_blob() {
        let l = loc("wasbs://cont@acct.blob.core.windows.net/a/b c");
        let p = azure_path(&l).unwrap();
        assert_eq!(
            (p.container, p.account, p.suffix, p.name),
            ("cont", "acct", "core.windows.net", "a/b c")
        );
        let l = loc("abfss://c@a.dfs.core.chinacloudapi.cn/x");
        assert_eq!(azure_path(&l).unwrap().suffix, "core.chinacloudapi.cn");
        for bad in [
            "wasb://acct.blob.core.windows.net/x",
            "wasb://@acct.blob.core.windows.net/x",
            "wasb://c@acct/x",
            "wasb://c@acct.file.core.windows.net/x",
        ] {
            let err = azure_path(&loc(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(err.to_string().contains("CONTAINER@ACCOUNT"), "{err}");
        }
    }

    const AZURITE: &str = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=S3CR3T==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;";

    #[test]
    fn connection_strings_set_endpoint_and_key_and_must_match_the_account() {
        let env = |k: &str| (k == "AZURE_STORAGE_CONNECTION_STRING").then(|| AZURITE.to_string());
        let at = loc("wasb://c@devstoreaccount1.blob.core.windows.net/x");
        let s = AzureSettings::from_options_and_env(&at, &BackendOptions::new(), &env).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(s.auth, Auth::Key(Secret("S3CR3T==".into())));
        assert!(!format!("{s:?}").contains("S3CR3T"));
        let other = loc("wasb://c@other.blob.core.windows.net/x");
        let err =
            AzureSettings::from_options_and_env(&other, &BackendOptions::new(), &env).unwrap_err();
        assert!(
            err.to_string().contains("account devstoreaccount1"),
            "{err}"
        );
        assert!(!err.to_string().contains("S3CR3T"), "{err}");
    }

    #[test]
    fn credentials_in_order_and_the_default_endpoint() {
        let none = |_: &str| None;
        let at = loc("abfss://c@acct.dfs.core.windows.net/x");
        let open = |o: BackendOptions| AzureSettings::from_options_and_env(&at, &o, &none);
        let s = open(BackendOptions::new()).unwrap();
        assert_eq!(s.endpoint, "https://acct.blob.core.windows.net");
        assert_eq!(s.auth, Auth::Default);
        assert_eq!(s.read_timeout, Some(DEFAULT_READ_TIMEOUT));
        let s = open(BackendOptions::new().with("sas_token", "?sv=1&sig=x")).unwrap();
        assert_eq!(s.auth, Auth::Sas(Secret("sv=1&sig=x".into())));
        let err = open(BackendOptions::new().with("client_secret", "s")).unwrap_err();
        assert!(err.to_string().contains("tenant_id"), "{err}");
        let dir = std::env::temp_dir().join(format!("ferry-azure-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.yaml"),
            "fs.azure.account.key.acct.dfs.core.windows.net: \"K3Y\"\n",
        )
        .unwrap();
        let s =
            open(BackendOptions::new().with("flink_conf_dir", dir.display().to_string())).unwrap();
        assert_eq!(s.auth, Auth::Key(Secret("K3Y".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
