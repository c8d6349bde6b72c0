//! `GcsCore`: the one place that talks to GCS. Every request ferry makes is a method here
//! (`gcs_stat`, `gcs_put`, `gcs_compose`, `gcs_rewrite`, …) taking ferry's types and returning
//! ferry's errors (mapped by [`crate::error`]); the backend, reader, upload and copy modules
//! only orchestrate.
//!
//! Most requests go through Apache OpenDAL's public `Operator` API (one operator per bucket,
//! built on first use): reads, single-request writes, listings, deletes and composes. OpenDAL
//! does not expose an object's crc32c nor copy across buckets, so two JSON API calls are
//! ferry's own, sent with the reqwest client OpenDAL itself depends on and signed by the same
//! reqsign credential chain OpenDAL uses: the object resource (`GET /storage/v1/b/B/o/NAME`:
//! size, crc32c, generation, updated) and `rewriteTo` (server-side copy, any buckets). A bucket
//! check (`GET /storage/v1/b/B`) backs `stat` of a bucket root.
//!
//! Both paths share one reqwest client (handed to each operator as its HTTP transport): TLS is
//! rustls with the ring provider, as the S3 backend's client (installed as the process default
//! when a store opens unless one is already installed). Emulators and `anonymous=true` get
//! unsigned requests.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ferry_core::retry::RetryPolicy;
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};
use opendal::Operator;
use reqsign_core::{Context, HttpSend, OsEnv, ProvideCredentialChain, Signer, StaticEnv};
use reqsign_google::{
    Credential, DefaultCredentialProvider, FileCredentialProvider, RequestSigner,
    TokenCredentialProvider, VmMetadataCredentialProvider,
};

use crate::config::{Auth, GcsSettings};
use crate::error::{from_opendal, from_response, from_transport, Site};
use ferry_core::checksum::crc32c_from_base64;

/// The OAuth2 scope ferry asks for: read and write objects.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";

/// How one request that failed for a temporary reason (a dropped or refused connection, 408,
/// 429, a 5xx) is sent again before its error goes up: 3 times, after 0.2, 0.4 and 0.8 s (plus
/// jitter). Every GCS request ferry sends is safe to repeat (reads, whole-object writes,
/// deletes, composes and rewrites name their result). The error keeps its retry status, so
/// the engine may still retry the whole part later, as Google's client libraries advise.
const RESEND: RetryPolicy = RetryPolicy {
    retries: 3,
    base_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(1),
};

/// Runs one request until it succeeds, fails for good, or [`RESEND`]'s retries run out.
pub(crate) async fn resend<T, F, Fut>(what: &str, attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    RESEND.run_when(what, Error::is_temporary, attempt).await
}

/// What GCS reports about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectInfo {
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// The object's generation (its version; pins copies and composes).
    pub generation: Option<String>,
    /// The CRC32C of the whole content (composite objects included).
    pub crc32c: Option<u32>,
}

/// One object of a listing.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// A sub-directory of a one-level listing (its name ends in `/`).
    pub is_dir: bool,
    pub name: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub generation: Option<String>,
}

/// The clients of one store, and how to name its endpoint in messages.
pub(crate) struct GcsCore {
    settings: GcsSettings,
    operators: Mutex<HashMap<String, Operator>>,
    http: reqwest::Client,
    signer: Option<Signer<Credential>>,
    /// `http://127.0.0.1:4443` or `https://storage.googleapis.com`.
    pub endpoint_label: String,
}

impl std::fmt::Debug for GcsCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsCore")
            .field("endpoint", &self.endpoint_label)
            .field("auth", &self.settings.auth.label())
            .finish_non_exhaustive()
    }
}

/// The bucket and object name of a location (the authority is the bucket).
pub(crate) fn bucket_name(location: &Location) -> Result<(&str, &str)> {
    ferry_core::storage::bucket::bucket_and_key(location, "gs://bucket/name")
}

/// Percent-encodes an object or bucket name for a URL path segment (all but unreserved).
pub(crate) fn encode_segment(name: &str) -> String {
    ferry_core::location::percent_encode(name)
}

/// reqsign's HTTP hook (token requests to Google's OAuth endpoints) on our reqwest client.
#[derive(Debug, Clone)]
struct ReqwestSend(reqwest::Client);

impl HttpSend for ReqwestSend {
    async fn http_send(
        &self,
        req: http::Request<Bytes>,
    ) -> reqsign_core::Result<http::Response<Bytes>> {
        let unexpected = |what: &str, e: reqwest::Error| {
            reqsign_core::Error::new(reqsign_core::ErrorKind::Unexpected, what.to_string())
                .with_source(e)
                .set_retryable(true)
        };
        let req = reqwest::Request::try_from(req)
            .map_err(|e| unexpected("cannot build a token request", e))?;
        let resp = self
            .0
            .execute(req)
            .await
            .map_err(|e| unexpected("token request failed", e))?;
        let mut builder = http::Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            builder = builder.header(name, value);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| unexpected("token response broke off", e))?;
        builder.body(body).map_err(|e| {
            reqsign_core::Error::new(reqsign_core::ErrorKind::Unexpected, e.to_string())
        })
    }
}

impl GcsCore {
    /// Sets up the clients. Nothing is sent yet: credentials are resolved by the first
    /// request (ferry's first request on a store is a `stat`).
    pub fn connect(settings: &GcsSettings) -> Result<GcsCore> {
        // OpenDAL's and our reqwest are built without a crypto provider: use ring, as the S3
        // client does. An already installed provider is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder();
        if let Some(timeout) = settings.connect_timeout {
            http = http.connect_timeout(timeout);
        }
        if let Some(timeout) = settings.response_timeout {
            http = http.read_timeout(timeout);
        }
        let http = http.build().map_err(|e| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("cannot build the HTTP client: {e}"),
            )
            .with_context("backend", "gcs")
        })?;
        let signer = match &settings.auth {
            Auth::Anonymous => None,
            auth => Some(build_signer(auth, http.clone())),
        };
        Ok(GcsCore {
            endpoint_label: settings.endpoint.clone(),
            settings: settings.clone(),
            operators: Mutex::new(HashMap::new()),
            http,
            signer,
        })
    }

    fn site<'a>(&'a self, op: &'static str, bucket: &'a str, path: &'a Location) -> Site<'a> {
        Site {
            op,
            bucket,
            path,
            endpoint: &self.endpoint_label,
        }
    }

    /// The OpenDAL operator of `bucket` (built once per bucket).
    fn operator(&self, bucket: &str) -> Result<Operator> {
        let mut operators = self.operators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(op) = operators.get(bucket) {
            return Ok(op.clone());
        }
        let mut builder = opendal::services::Gcs::default()
            .bucket(bucket)
            .root("/")
            .endpoint(&self.settings.endpoint)
            .scope(SCOPE);
        builder = match &self.settings.auth {
            Auth::Anonymous => builder
                .skip_signature()
                .disable_vm_metadata()
                .disable_config_load(),
            Auth::Token(token) => builder
                .token(token.0.clone())
                .disable_vm_metadata()
                .disable_config_load(),
            Auth::File(path) => builder
                .credential_path(&path.to_string_lossy())
                .disable_vm_metadata(),
            Auth::Default {
                service_account: Some(account),
            } => builder.service_account(account),
            Auth::Default {
                service_account: None,
            } => builder,
        };
        let op = Operator::new(builder).map_err(|e| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("cannot set up GCS bucket {bucket}: {}", e.message()),
            )
            .with_context("backend", "gcs")
        })?;
        // OpenDAL sends through ferry's client: one connection pool, one TLS set-up.
        let transport = opendal::HttpTransporter::new(
            opendal_http_transport_reqwest::ReqwestTransport::new(self.http.clone()),
        );
        let context = op.context().with_http_transport(transport);
        let op = op.with_context(context);
        operators.insert(bucket.to_string(), op.clone());
        Ok(op)
    }

    /// Sends one of ferry's own JSON API requests (signed unless anonymous), again after a
    /// dropped connection, 408, 429 or 5xx while [`RESEND`] allows; returns the status and
    /// body of any other answer.
    async fn send_json(
        &self,
        method: http::Method,
        url: String,
        body: Option<serde_json::Value>,
        site: Site<'_>,
    ) -> Result<(u16, Bytes)> {
        resend(site.op, || async {
            let (status, body) = self
                .send_json_once(method.clone(), url.clone(), body.clone(), site)
                .await?;
            if status == 408 || status == 429 || status >= 500 {
                return Err(from_response(status, &body, site).temporary());
            }
            Ok((status, body))
        })
        .await
    }

    /// One attempt of [`GcsCore::send_json`].
    async fn send_json_once(
        &self,
        method: http::Method,
        url: String,
        body: Option<serde_json::Value>,
        site: Site<'_>,
    ) -> Result<(u16, Bytes)> {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let mut request = http::Request::builder().method(method).uri(&url);
        if !body.is_empty() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(project) = &self.settings.project {
            request = request.header("x-goog-user-project", project.as_str());
        }
        let request = request.body(body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("bad request URL {url}: {e}"),
            )
            .with_context("backend", "gcs")
        })?;
        let (mut parts, body) = request.into_parts();
        if let Some(signer) = &self.signer {
            signer.sign(&mut parts, None).await.map_err(|e| {
                let kind = match e.kind() {
                    reqsign_core::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                    _ => ErrorKind::ConfigInvalid,
                };
                let error = Error::new(
                    kind,
                    format!(
                        "no usable Google credentials ({}): set GOOGLE_APPLICATION_CREDENTIALS or -o credential_path=FILE, run `gcloud auth application-default login`, or -o anonymous=true for public buckets",
                        e.kind_str()
                    ),
                )
                .with_operation(site.op)
                .with_context("path", site.path)
                .with_context("backend", "gcs");
                if e.is_retryable() {
                    error.temporary()
                } else {
                    error
                }
            })?;
            parts.headers.remove(http::header::HOST);
        }
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| from_transport(e, site))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| from_transport(e, site))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| from_transport(e, site))?;
        Ok((status, body))
    }

    fn object_url(&self, bucket: &str, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.settings.endpoint,
            encode_segment(bucket),
            encode_segment(name)
        )
    }

    /// Whether the bucket of `location` exists (`GET /storage/v1/b/B`).
    pub async fn gcs_bucket_exists(&self, location: &Location) -> Result<bool> {
        let (bucket, _) = bucket_name(location)?;
        let site = self.site("stat", bucket, location);
        let url = format!(
            "{}/storage/v1/b/{}",
            self.settings.endpoint,
            encode_segment(bucket)
        );
        match self.send_json(http::Method::GET, url, None, site).await? {
            (200, _) => Ok(true),
            (404, _) => Ok(false),
            (status, body) => Err(from_response(status, &body, site)),
        }
    }

    /// The object resource (size, crc32c, generation); `None` when there is no such object.
    pub async fn gcs_stat(&self, location: &Location) -> Result<Option<ObjectInfo>> {
        let (bucket, name) = bucket_name(location)?;
        let site = self.site("stat", bucket, location);
        let url = self.object_url(bucket, name);
        match self.send_json(http::Method::GET, url, None, site).await? {
            (200, body) => parse_object(&body)
                .map(Some)
                .map_err(|e| site_error(e, site)),
            (404, _) => Ok(None),
            (status, body) => Err(from_response(status, &body, site)),
        }
    }

    /// Copies `from` to `to` (any buckets of this store) server-side with `rewriteTo`, pinned
    /// to `generation` when given; returns the new object.
    pub async fn gcs_rewrite(
        &self,
        from: &Location,
        generation: Option<&str>,
        to: &Location,
    ) -> Result<ObjectInfo> {
        let (src_bucket, src_name) = bucket_name(from)?;
        let (dst_bucket, dst_name) = bucket_name(to)?;
        let site = self.site("copy", src_bucket, from);
        let mut token: Option<String> = None;
        // Large objects across locations or storage classes take several calls; each one
        // returns a token to continue with. Bounded, in case a server never finishes.
        for _ in 0..10_000 {
            let mut url = format!(
                "{}/rewriteTo/b/{}/o/{}",
                self.object_url(src_bucket, src_name),
                encode_segment(dst_bucket),
                encode_segment(dst_name)
            );
            let mut query = Vec::new();
            if let Some(generation) = generation {
                // Both: GCS fails a changed source with 412 (`ifSourceGenerationMatch`);
                // servers that only know `sourceGeneration` (fake-gcs-server) answer 404.
                query.push(format!("sourceGeneration={generation}"));
                query.push(format!("ifSourceGenerationMatch={generation}"));
            }
            if let Some(token) = &token {
                query.push(format!("rewriteToken={}", encode_segment(token)));
            }
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let (status, body) = self
                .send_json(http::Method::POST, url, Some(serde_json::json!({})), site)
                .await?;
            if status != 200 {
                return Err(from_response(status, &body, site));
            }
            let json: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| site_error(format!("unreadable rewrite response: {e}"), site))?;
            if json["done"].as_bool().unwrap_or(false) {
                let resource = serde_json::to_vec(&json["resource"]).unwrap_or_default();
                return parse_object(&resource).map_err(|e| site_error(e, site));
            }
            token = json["rewriteToken"].as_str().map(str::to_string);
            if token.is_none() {
                return Err(site_error(
                    "rewrite neither done nor continuable".into(),
                    site,
                ));
            }
        }
        Err(site_error("rewrite did not finish".into(), site))
    }

    /// Writes `data` as one object in one request (OpenDAL, no chunking); returns the stored
    /// size the server reported.
    pub async fn gcs_put(&self, location: &Location, data: Bytes) -> Result<u64> {
        let (bucket, name) = bucket_name(location)?;
        self.gcs_put_name(bucket, name, data, location).await
    }

    /// [`GcsCore::gcs_put`] of an object named directly (temporary parts), reporting errors
    /// against `reported` (the destination the user named).
    pub async fn gcs_put_name(
        &self,
        bucket: &str,
        name: &str,
        data: Bytes,
        reported: &Location,
    ) -> Result<u64> {
        let site = self.site("put", bucket, reported);
        let op = self.operator(bucket)?;
        let len = data.len() as u64;
        let meta = resend("write", || async {
            op.write(name, data.clone())
                .await
                .map_err(|e| from_opendal(e, site))
        })
        .await?;
        let stored = meta.content_length();
        // Some servers answer without the resource: trust the length we sent then, the engine
        // still checks size and crc32c against a separate read of the metadata.
        Ok(if stored == 0 { len } else { stored })
    }

    /// A stream of the bytes of `range` (or all) of `location`. A range starting at or past
    /// the end yields nothing; a missing object fails here, before the stream is returned.
    pub async fn gcs_read(
        &self,
        location: &Location,
        range: Option<Range<u64>>,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes>>> {
        let (bucket, name) = bucket_name(location)?;
        let op = self.operator(bucket)?;
        let site = self.site("read", bucket, location);
        // OpenDAL sends the request on the stream's first poll, so the first answer is taken
        // here, inside `resend`: a request that gets none (a pooled connection the server had
        // dropped: "connection reset") is sent again. A stream that breaks later fails its
        // part, which the engine retries.
        let opened = resend("read", || async {
            let reader = op.reader(name).await.map_err(|e| from_opendal(e, site))?;
            let opened = match &range {
                Some(r) => reader.into_stream(r.clone()).await,
                None => reader.into_stream(..).await,
            };
            let mut stream = match opened {
                Ok(stream) => stream,
                Err(e) if past_end(&e) => return Ok(None),
                Err(e) => return Err(from_opendal(e, site)),
            };
            match stream.next().await {
                None => Ok(None),
                Some(Ok(first)) => Ok(Some((first, stream))),
                Some(Err(e)) if past_end(&e) => Ok(None),
                Some(Err(e)) => Err(from_opendal(e, site)),
            }
        })
        .await?;
        let Some((first, rest)) = opened else {
            return Ok(futures::stream::empty().boxed());
        };
        let stream = futures::stream::once(futures::future::ready(Ok(first))).chain(rest);
        let (bucket, location) = (bucket.to_string(), location.clone());
        let endpoint = self.endpoint_label.clone();
        Ok(stream
            .take_while(|item| futures::future::ready(!matches!(item, Err(e) if past_end(e))))
            .map(move |item| match item {
                Ok(buffer) => Ok(futures::stream::iter(Iterator::map(
                    buffer,
                    Ok::<Bytes, Error>,
                ))),
                Err(e) => Err(from_opendal(
                    e,
                    Site {
                        op: "read",
                        bucket: &bucket,
                        path: &location,
                        endpoint: &endpoint,
                    },
                )),
            })
            .try_flatten()
            .boxed())
    }

    /// Deletes an object; a missing one is not an error.
    pub async fn gcs_delete(&self, location: &Location) -> Result<()> {
        let (bucket, name) = bucket_name(location)?;
        self.gcs_delete_name(bucket, name, location).await
    }

    /// [`GcsCore::gcs_delete`] of an object named directly.
    pub async fn gcs_delete_name(
        &self,
        bucket: &str,
        name: &str,
        reported: &Location,
    ) -> Result<()> {
        let op = self.operator(bucket)?;
        resend("delete", || async {
            match op.delete(name).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(from_opendal(e, self.site("delete", bucket, reported))),
            }
        })
        .await
    }

    /// Every object whose name starts with `prefix` (`""` for the whole bucket), recursively,
    /// page by page. Names ending in `/` (folder placeholders) are skipped.
    pub fn gcs_list(
        self: &Arc<Self>,
        location: &Location,
        prefix: String,
    ) -> futures::stream::BoxStream<'static, Result<Listed>> {
        self.lister(location, prefix, true)
    }

    /// The objects directly below `prefix` (which ends in `/`) and its sub-directories
    /// (`is_dir`, names ending in `/`): one delimiter listing, page by page.
    pub fn gcs_list_dir(
        self: &Arc<Self>,
        location: &Location,
        prefix: String,
    ) -> futures::stream::BoxStream<'static, Result<Listed>> {
        self.lister(location, prefix, false)
    }

    fn lister(
        self: &Arc<Self>,
        location: &Location,
        prefix: String,
        recursive: bool,
    ) -> futures::stream::BoxStream<'static, Result<Listed>> {
        let core = self.clone();
        let location = location.clone();
        let opened = async move {
            let (bucket, _) = bucket_name(&location)?;
            let site_of = |core: &GcsCore| {
                (
                    core.endpoint_label.clone(),
                    bucket.to_string(),
                    location.clone(),
                )
            };
            let op = core.operator(bucket)?;
            let path = if prefix.is_empty() {
                "/".to_string()
            } else {
                prefix
            };
            let (endpoint, bucket, location) = site_of(&core);
            let site = Site {
                op: "list",
                bucket: &bucket,
                path: &location,
                endpoint: &endpoint,
            };
            let listed_dir = path.clone();
            let lister = resend("list", || async {
                op.lister_with(&path)
                    .recursive(recursive)
                    .await
                    .map_err(|e| from_opendal(e, site))
            })
            .await?;
            Ok::<_, Error>(lister.filter_map(move |entry| {
                let result = match entry {
                    // The listed directory itself; folder placeholders in a full listing.
                    Ok(entry) if entry.path() == listed_dir => None,
                    Ok(entry) if recursive && entry.path().ends_with('/') => None,
                    Ok(entry) => {
                        let meta = entry.metadata();
                        Some(Ok(Listed {
                            is_dir: entry.path().ends_with('/'),
                            name: entry.path().trim_start_matches('/').to_string(),
                            size: meta.content_length(),
                            modified: meta.last_modified().map(SystemTime::from),
                            generation: meta.version().map(str::to_string),
                        }))
                    }
                    Err(e) if e.kind() == opendal::ErrorKind::NotFound => None,
                    Err(e) => Some(Err(from_opendal(
                        e,
                        Site {
                            op: "list",
                            bucket: &bucket,
                            path: &location,
                            endpoint: &endpoint,
                        },
                    ))),
                };
                futures::future::ready(result)
            }))
        };
        futures::stream::once(opened).try_flatten().boxed()
    }

    /// Composes `sources` (object names in `bucket`, at most 32, in order) into `to`.
    pub async fn gcs_compose(
        &self,
        bucket: &str,
        sources: &[String],
        to: &str,
        reported: &Location,
    ) -> Result<()> {
        let op = self.operator(bucket)?;
        resend("compose", || async {
            op.compose(sources.iter().map(String::as_str), to)
                .await
                .map(|_| ())
                .map_err(|e| from_opendal(e, self.site("compose", bucket, reported)))
        })
        .await
    }

    /// Reads a small object whole (upload markers).
    pub async fn gcs_read_small(
        &self,
        bucket: &str,
        name: &str,
        reported: &Location,
    ) -> Result<Option<Bytes>> {
        let op = self.operator(bucket)?;
        resend("read", || async {
            match op.read(name).await {
                Ok(buffer) => Ok(Some(buffer.to_bytes())),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(from_opendal(e, self.site("read", bucket, reported))),
            }
        })
        .await
    }
}

/// Whether OpenDAL's error means "the object ends before the range does": the range starts
/// past the end (416), or the server's complete, well-framed answer to a range was shorter
/// than asked (OpenDAL checks lengths against the range, ferry against the object's size).
fn past_end(err: &opendal::Error) -> bool {
    err.kind() == opendal::ErrorKind::RangeNotSatisfied
        || (err.kind() == opendal::ErrorKind::Unexpected
            && (err.message().contains("got too little data")
                || crate::error::opendal_status(err) == Some(416)))
}

fn site_error(message: String, site: Site<'_>) -> Error {
    Error::new(ErrorKind::Unexpected, message)
        .with_operation(site.op)
        .with_context("path", site.path)
        .with_context("backend", "gcs")
}

/// Parses an object resource (JSON API `Object`): `size`, `crc32c`, `generation`, `updated`.
pub(crate) fn parse_object(body: &[u8]) -> std::result::Result<ObjectInfo, String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("unreadable object resource: {e}"))?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let size = text(&json["size"])
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("the object resource has no size")?;
    Ok(ObjectInfo {
        size,
        modified: json["updated"].as_str().and_then(parse_rfc3339),
        generation: text(&json["generation"]),
        crc32c: json["crc32c"].as_str().and_then(crc32c_from_base64),
    })
}

/// Parses the RFC 3339 timestamps GCS writes (`2024-05-01T12:34:56.789Z`).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(SystemTime::from)
}

fn build_signer(auth: &Auth, http: reqwest::Client) -> Signer<Credential> {
    let mut envs = std::env::vars().collect::<HashMap<_, _>>();
    envs.insert("GOOGLE_SCOPE".into(), SCOPE.into());
    let ctx = Context::new()
        .with_file_read(reqsign_file_read_tokio::TokioFileRead)
        .with_http_send(ReqwestSend(http))
        .with_env(StaticEnv {
            home_dir: reqsign_core::Env::home_dir(&OsEnv),
            envs,
        });
    let chain = match auth {
        Auth::Token(token) => {
            ProvideCredentialChain::new().push(TokenCredentialProvider::new(token.0.clone()))
        }
        Auth::File(path) => ProvideCredentialChain::new()
            .push(FileCredentialProvider::new(path.to_string_lossy()).with_scope(SCOPE)),
        Auth::Default {
            service_account: Some(account),
        } => ProvideCredentialChain::new()
            .push(
                DefaultCredentialProvider::builder()
                    .no_vm_metadata()
                    .build(),
            )
            .push(
                VmMetadataCredentialProvider::new()
                    .with_scope(SCOPE)
                    .with_service_account(account),
            ),
        Auth::Default {
            service_account: None,
        }
        | Auth::Anonymous => ProvideCredentialChain::new().push(DefaultCredentialProvider::new()),
    };
    Signer::new(ctx, chain, RequestSigner::new("storage").with_scope(SCOPE))
}

/// reqsign's error kind, named for a message (never its text, which may quote a file).
trait KindStr {
    fn kind_str(&self) -> &'static str;
}

impl KindStr for reqsign_core::Error {
    fn kind_str(&self) -> &'static str {
        match self.kind() {
            reqsign_core::ErrorKind::CredentialInvalid => "credentials invalid or missing",
            reqsign_core::ErrorKind::PermissionDenied => "permission denied",
            reqsign_core::ErrorKind::ConfigInvalid => "configuration invalid",
            reqsign_core::ErrorKind::RequestInvalid => "request invalid",
            reqsign_core::ErrorKind::RateLimited => "rate limited",
            _ => "token request failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_resources_parse_with_crc32c_and_generation() {
        let body = br#"{"kind":"storage#object","name":"a b/\u00fc","bucket":"b",
            "generation":"1700000000123456","size":"9","crc32c":"4waSgw==",
            "md5Hash":"JfnnlDI7RTiF9RgfG2JNCw==","updated":"2024-05-01T12:34:56.789Z"}"#;
        let info = parse_object(body).unwrap();
        assert_eq!(info.size, 9);
        assert_eq!(info.crc32c, Some(0xE306_9283));
        assert_eq!(info.generation.as_deref(), Some("1700000000123456"));
        let when = info.modified.unwrap();
        let secs = when.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(secs.as_secs(), 1_714_566_896);
        assert_eq!(secs.subsec_millis(), 789);
        assert!(parse_object(br#"{"name":"x"}"#).is_err());
        // fake-gcs-server writes numbers where GCS writes strings.
        let info = parse_object(br#"{"size":3,"generation":7}"#).unwrap();
        assert_eq!(
            (info.size, info.generation.as_deref(), info.crc32c),
            (3, Some("7"), None)
        );
    }

    #[test]
    fn timestamps_parse_with_offsets_and_reject_garbage() {
        let utc = parse_rfc3339("1970-01-02T00:00:00Z").unwrap();
        assert_eq!(utc, SystemTime::UNIX_EPOCH + Duration::from_secs(86_400));
        let offset = parse_rfc3339("1970-01-02T01:00:00+01:00").unwrap();
        assert_eq!(offset, utc);
        assert!(parse_rfc3339("2024-13-01T00:00:00Z").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn names_are_encoded_as_one_path_segment() {
        assert_eq!(encode_segment("a b/ü+%#?"), "a%20b%2F%C3%BC%2B%25%23%3F");
        assert_eq!(encode_segment("plain-name_1.txt~"), "plain-name_1.txt~");
    }
}
