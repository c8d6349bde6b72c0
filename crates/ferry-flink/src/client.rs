//! The HTTP side: one reqwest client on rustls (ring provider, as the S3 and GCS backends;
//! no OpenSSL) with an optional extra CA (`--flink-ca`), extra headers for proxies and
//! gateways (`--flink-header`, values registered as secrets so no output shows them), a
//! connect timeout and a per-request timeout. Safe requests (GET) are retried with backoff
//! and jitter on temporary errors; POSTs (triggers) are sent once — their idempotency comes
//! from the client-supplied trigger id (see [`crate::trigger`]).

use std::path::PathBuf;
use std::time::Duration;

use ferry_core::retry::RetryPolicy;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// How to reach a cluster.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The REST endpoint, e.g. `http://jobmanager:8081` or `https://gateway/flink/`.
    pub url: String,
    /// A PEM file of extra CA certificates (added to the platform's roots).
    pub ca_file: Option<PathBuf>,
    /// Extra request headers (`Name`, `value`); values are secrets.
    pub headers: Vec<(String, String)>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Retries of safe (GET) requests.
    pub retries: u32,
}

impl ClientConfig {
    /// The defaults: connect 10 s, request 60 s, 5 retries of GETs.
    pub fn new(url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            ca_file: None,
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retries: 5,
        }
    }
}

/// Parses `Name: value` (as curl's `-H`). The value is never echoed in an error.
pub fn parse_header(text: &str) -> Result<(String, String)> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(Error::Config(
            "--flink-header must be 'Name: value' (the text given is not shown: it may hold a secret)"
                .into(),
        ));
    };
    let name = name.trim();
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(Error::Config(format!(
            "--flink-header: {name:?} is not a valid header name"
        )));
    }
    let value = value.trim();
    if http::HeaderValue::from_str(value).is_err() {
        return Err(Error::Config(format!(
            "--flink-header {name}: the value is not a valid header value (not shown)"
        )));
    }
    Ok((name.to_string(), value.to_string()))
}

/// A client of one Flink REST endpoint.
#[derive(Debug, Clone)]
pub struct FlinkClient {
    http: reqwest::Client,
    base: String,
    label: String,
    retry: RetryPolicy,
}

impl FlinkClient {
    /// Builds the client; nothing is sent yet.
    pub fn new(config: &ClientConfig) -> Result<FlinkClient> {
        let base = config.url.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| Error::Config(format!("--flink {base:?}: not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "--flink {base:?}: the URL must start with http:// or https://"
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::Config(
                "--flink: credentials in the URL are not accepted; use --flink-header 'Authorization: …'"
                    .into(),
            ));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = http::HeaderMap::new();
        for (name, value) in &config.headers {
            ferry_core::redact::add_secret(value);
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::Config(format!("--flink-header: bad name {name:?}")))?;
            let mut value = http::HeaderValue::from_str(value).map_err(|_| {
                Error::Config(format!("--flink-header {name}: bad value (not shown)"))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .default_headers(headers);
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Config(format!("--flink-ca {}: cannot read: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Config(format!(
                    "--flink-ca {}: not PEM certificates: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "--flink-ca {}: holds no certificate",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(FlinkClient {
            http,
            label: base.clone(),
            base,
            retry: RetryPolicy {
                retries: config.retries,
                base_delay: Duration::from_millis(250),
                max_delay: Duration::from_secs(5),
            },
        })
    }

    /// The cluster's URL, as shown in messages.
    pub fn url(&self) -> &str {
        &self.label
    }

    /// `GET path`, retried on temporary errors.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let mut attempt = 0;
        loop {
            match self.send(reqwest::Method::GET, path, None).await {
                Err(e) if e.is_temporary() && attempt < self.retry.retries => {
                    tracing::debug!("GET {path}: {e}; retrying");
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// `POST path` with a JSON body, sent once.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        let what = format!("{method} {path}");
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| Error::Unreachable {
            url: self.label.clone(),
            what: what.clone(),
            reason: transport_reason(&e),
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Error::Unreachable {
            url: self.label.clone(),
            what: what.clone(),
            reason: transport_reason(&e),
        })?;
        if !status.is_success() {
            return Err(Error::Http {
                url: self.label.clone(),
                what,
                status: status.as_u16(),
                message: error_message(&bytes),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::BadAnswer {
            url: self.label.clone(),
            what,
            reason: format!("{e} (is this Flink's REST endpoint?)"),
        })
    }
}

/// A transport error on one line, with its innermost cause (e.g. "Connection refused").
fn transport_reason(err: &reqwest::Error) -> String {
    let mut parts = vec![if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    }];
    let mut source = std::error::Error::source(err);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    parts.extend(last);
    parts.join(": ").replace(['\n', '\r'], " ")
}

/// Flink's error body is `{"errors": ["message", "stack trace…"]}`: its first entry's most
/// telling line; else the body's first line.
pub(crate) fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().and_then(|a| {
                a.iter()
                    .filter_map(|e| e.as_str())
                    .next()
                    .map(one_line_cause)
            })
        });
    let message = from_json.unwrap_or_else(|| text.lines().next().unwrap_or("").trim().to_string());
    if message.is_empty() {
        "(no message)".to_string()
    } else {
        truncate(&message, 400)
    }
}

/// The most telling line of a Java exception text: the last `Caused by:` if there is one,
/// else the first line; on one line.
pub(crate) fn one_line_cause(text: &str) -> String {
    let caused = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Caused by: "));
    let line = caused.unwrap_or_else(|| text.lines().next().unwrap_or("").trim());
    truncate(line.trim(), 400)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_never_echo_their_value() {
        assert_eq!(
            parse_header("X-Token:  s3cr3t ").unwrap(),
            ("X-Token".to_string(), "s3cr3t".to_string())
        );
        let err = parse_header("no-colon-s3cr3t").unwrap_err().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        let err = parse_header("Bad Name: s3cr3t").unwrap_err().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        let err = parse_header("X: s3\ncr3t").unwrap_err().to_string();
        assert!(!err.contains("cr3t"), "{err}");
    }

    #[test]
    fn flink_errors_read_as_one_line() {
        let body = br#"{"errors":["org.apache.flink.runtime.rest.handler.RestHandlerException: Job not found.\n\tat x\nCaused by: java.io.IOException: boom\n\tat y"]}"#;
        assert_eq!(error_message(body), "java.io.IOException: boom");
        assert_eq!(
            error_message(br#"{"errors":["Not found: /x"]}"#),
            "Not found: /x"
        );
        assert_eq!(error_message(b"<html>\nbad"), "<html>");
        assert_eq!(error_message(b""), "(no message)");
    }

    #[test]
    fn urls_are_checked() {
        assert!(FlinkClient::new(&ClientConfig::new("ftp://x")).is_err());
        assert!(FlinkClient::new(&ClientConfig::new("not a url")).is_err());
        let err = FlinkClient::new(&ClientConfig::new("http://u:pw@host:8081"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("pw"), "{err}");
        let c = FlinkClient::new(&ClientConfig::new("http://127.0.0.1:8081/")).unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:8081");
    }
}
