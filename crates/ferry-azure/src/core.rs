//! `AzureCore`: the one place that talks to Azure. Every Blob REST request ferry makes is a
//! method here, signed by `reqsign-azure-storage` (shared key, SAS, or an Entra ID bearer
//! token) and sent with one reqwest client (rustls with ring, as the other backends), with
//! bounded waits: connecting (`connect_timeout`, 10 s) and every silence of an answer
//! (`read_timeout`, 30 s). Requests that fail for a temporary reason are sent again up to 3
//! times; a request the server never answered is not.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use ferry_core::retry::RetryPolicy;
use ferry_core::{ByteStream, Error, ErrorKind, Location, Result};
use futures::{StreamExt, TryStreamExt};
use http::header::HeaderMap;
use http::Method;
use reqsign_azure_storage::{
    ClientSecretCredentialProvider, Credential, DefaultCredentialProvider, RequestSigner,
    StaticCredentialProvider,
};
use reqsign_core::{Context, HttpSend, OsEnv, ProvideCredentialChain, Signer};

use crate::config::{azure_path, Auth, AzureSettings};
use crate::error::{from_response, from_transport, Site};

/// The Blob REST API version ferry speaks.
const API_VERSION: &str = "2021-12-02";
/// The blob metadata key holding ferry's CRC32C of the content (8 hex digits).
pub(crate) const CRC_KEY: &str = "ferrycrc32c";

const RESEND: RetryPolicy = RetryPolicy {
    retries: 3,
    base_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(1),
};

/// What a HEAD or a listing says about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobInfo {
    pub name: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub etag: Option<String>,
    /// ferry's CRC32C, from the blob's metadata.
    pub crc32c: Option<u32>,
    /// A prefix of a delimiter listing, or a Hadoop folder marker (`hdi_isfolder`).
    pub is_dir: bool,
}

/// One page of a listing.
pub(crate) struct Page {
    pub blobs: Vec<BlobInfo>,
    pub next: Option<String>,
}

/// The client and signer of one account.
pub(crate) struct AzureCore {
    http: reqwest::Client,
    signer: Option<Signer<Credential>>,
    /// The SAS token, appended to copy sources.
    sas: Option<String>,
    pub settings: AzureSettings,
}

impl std::fmt::Debug for AzureCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureCore")
            .field("endpoint", &self.settings.endpoint)
            .field("auth", &self.settings.auth.label())
            .finish_non_exhaustive()
    }
}

/// reqsign's HTTP hook (Entra ID token requests) on our client.
#[derive(Debug, Clone)]
struct Send(reqwest::Client);

impl HttpSend for Send {
    async fn http_send(
        &self,
        req: http::Request<Bytes>,
    ) -> reqsign_core::Result<http::Response<Bytes>> {
        let fail = |e: reqwest::Error| {
            reqsign_core::Error::new(reqsign_core::ErrorKind::Unexpected, "token request failed")
                .with_source(e)
                .set_retryable(true)
        };
        let resp = self
            .0
            .execute(reqwest::Request::try_from(req).map_err(fail)?)
            .await
            .map_err(fail)?;
        let mut builder = http::Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            builder = builder.header(name, value);
        }
        let body = resp.bytes().await.map_err(fail)?;
        builder.body(body).map_err(|e| {
            reqsign_core::Error::new(reqsign_core::ErrorKind::Unexpected, e.to_string())
        })
    }
}

/// Percent-encodes each segment of a blob name, keeping the `/`s.
fn encode_name(name: &str) -> String {
    name.split('/')
        .map(ferry_core::location::percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse_time(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(SystemTime::from)
}

fn parse_crc(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim(), 16).ok()
}

/// The base64 MD5 of `data`, for `Content-MD5`.
pub(crate) fn md5_b64(data: &[u8]) -> String {
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

impl AzureCore {
    /// Builds the client; nothing is sent yet.
    pub fn connect(settings: AzureSettings) -> Result<AzureCore> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder();
        if let Some(t) = settings.connect_timeout {
            http = http.connect_timeout(t);
        }
        if let Some(t) = settings.read_timeout {
            http = http.read_timeout(t);
        }
        let http = http.build().map_err(|e| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("cannot build the HTTP client: {e}"),
            )
        })?;
        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_http_send(Send(http.clone()))
            .with_env(OsEnv);
        let account = settings.account.clone();
        let signer = |loader: ProvideCredentialChain<Credential>| {
            Some(Signer::new(ctx.clone(), loader, RequestSigner::new()))
        };
        let chain = ProvideCredentialChain::new;
        let (signer, sas) = match &settings.auth {
            Auth::Anonymous => (None, None),
            Auth::Key(key) => (
                signer(chain().push(StaticCredentialProvider::new_shared_key(&account, &key.0))),
                None,
            ),
            Auth::Sas(sas) => (None, Some(sas.0.clone())),
            Auth::ClientSecret {
                tenant,
                client,
                secret,
            } => (
                signer(
                    chain().push(
                        ClientSecretCredentialProvider::new()
                            .with_tenant_id(tenant)
                            .with_client_id(client)
                            .with_client_secret(&secret.0),
                    ),
                ),
                None,
            ),
            Auth::Default => (signer(chain().push(DefaultCredentialProvider::new())), None),
        };
        Ok(AzureCore {
            http,
            signer,
            sas,
            settings,
        })
    }

    pub fn site<'a>(&'a self, op: &'static str, location: &'a Location) -> Site<'a> {
        let container = azure_path(location).map(|p| p.container).unwrap_or("");
        Site {
            op,
            container,
            account: &self.settings.account,
            path: location,
            endpoint: &self.settings.endpoint,
        }
    }

    /// The URL of a blob (or of the container, for an empty name), with `query`.
    pub fn url(&self, location: &Location, query: &str) -> Result<String> {
        let path = azure_path(location)?;
        let mut url = format!(
            "{}/{}",
            self.settings.endpoint,
            ferry_core::location::percent_encode(path.container)
        );
        if !path.name.is_empty() {
            url = format!("{url}/{}", encode_name(path.name));
        }
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        Ok(url)
    }

    /// The URL a Copy Blob names as its source (with the SAS token, when that signs requests).
    pub fn source_url(&self, location: &Location) -> Result<String> {
        let url = self.url(location, "")?;
        Ok(match &self.sas {
            Some(sas) => format!("{url}?{sas}"),
            None => url,
        })
    }

    /// Sends one request (again, while it fails for a temporary reason) and returns the answer
    /// when its status is one of `ok`; other statuses become errors.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        ok: &[u16],
        site: Site<'_>,
    ) -> Result<reqwest::Response> {
        RESEND
            .run_when(site.op, Error::is_temporary, || async {
                let resp = self
                    .send_once(method.clone(), url, headers, body.clone(), site)
                    .await?;
                let status = resp.status().as_u16();
                if ok.contains(&status) {
                    return Ok(resp);
                }
                let code = header(resp.headers(), "x-ms-error-code").map(str::to_string);
                let body = resp.bytes().await.unwrap_or_default();
                Err(from_response(status, code.as_deref(), &body, site))
            })
            .await
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        site: Site<'_>,
    ) -> Result<reqwest::Response> {
        let url = match &self.sas {
            Some(sas) if url.contains('?') => format!("{url}&{sas}"),
            Some(sas) => format!("{url}?{sas}"),
            None => url.to_string(),
        };
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-ms-version", API_VERSION)
            .header("content-length", body.len());
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let (mut parts, ()) = builder
            .body(())
            .map_err(|e| {
                site.finish(Error::new(
                    ErrorKind::InvalidInput,
                    format!("bad request: {e}"),
                ))
            })?
            .into_parts();
        if let Some(signer) = &self.signer {
            signer.sign(&mut parts, None).await.map_err(|e| {
                let kind = match e.kind() {
                    reqsign_core::ErrorKind::CredentialInvalid
                    | reqsign_core::ErrorKind::ConfigInvalid => ErrorKind::ConfigInvalid,
                    _ => ErrorKind::PermissionDenied,
                };
                // reqsign's message, never its sources (which may quote a secret).
                site.finish(Error::new(
                    kind,
                    format!(
                        "no usable Azure credentials for account {} ({}): {}",
                        self.settings.account,
                        self.settings.auth.label(),
                        e.to_string().lines().next().unwrap_or("")
                    ),
                ))
            })?;
        }
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| from_transport(e, site))?;
        self.http
            .execute(request)
            .await
            .map_err(|e| from_transport(e, site))
    }

    /// HEAD of a blob: `None` when it does not exist.
    pub async fn head(&self, location: &Location) -> Result<Option<BlobInfo>> {
        let site = self.site("stat", location);
        let url = self.url(location, "")?;
        let resp = match self
            .send(Method::HEAD, &url, &[], Bytes::new(), &[200], site)
            .await
        {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        let h = resp.headers();
        Ok(Some(BlobInfo {
            name: location.key().to_string(),
            size: header(h, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            modified: header(h, "last-modified").and_then(parse_time),
            etag: header(h, "etag").map(str::to_string),
            crc32c: header(h, &format!("x-ms-meta-{CRC_KEY}")).and_then(parse_crc),
            is_dir: header(h, "x-ms-meta-hdi_isfolder").is_some_and(|v| v == "true"),
        }))
    }

    /// Whether the container of `location` exists.
    pub async fn container_exists(&self, location: &Location) -> Result<bool> {
        let root = location.with_path("");
        let url = self.url(&root, "restype=container")?;
        let site = self.site("stat", location);
        match self
            .send(Method::HEAD, &url, &[], Bytes::new(), &[200], site)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the container of `location` (an existing one is fine).
    pub async fn create_container(&self, location: &Location) -> Result<()> {
        let root = location.with_path("");
        let url = self.url(&root, "restype=container")?;
        let site = self.site("create container", location);
        self.send(Method::PUT, &url, &[], Bytes::new(), &[201, 409], site)
            .await?;
        Ok(())
    }

    /// The bytes of a blob, or of `range` of it.
    pub async fn get(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        let site = self.site("read", location);
        let url = self.url(location, "")?;
        let headers: Vec<(&str, String)> = range
            .map(|r| ("x-ms-range", format!("bytes={}-{}", r.start, r.end - 1)))
            .into_iter()
            .collect();
        let resp = match self
            .send(Method::GET, &url, &headers, Bytes::new(), &[200, 206], site)
            .await
        {
            // A range starting at or past the end: nothing, unless the blob is missing.
            Err(e) if e.message().contains("InvalidRange") => {
                return Ok(futures::stream::empty().boxed())
            }
            other => other?,
        };
        let (location, endpoint, account) = (
            location.clone(),
            self.settings.endpoint.clone(),
            self.settings.account.clone(),
        );
        Ok(resp
            .bytes_stream()
            .map_err(move |e| {
                let site = Site {
                    op: "read",
                    container: "",
                    account: &account,
                    path: &location,
                    endpoint: &endpoint,
                };
                from_transport(e, site)
            })
            .boxed())
    }

    /// Put Blob: the whole blob in one request, its MD5 checked by Azure, ferry's CRC32C in
    /// its metadata.
    pub async fn put_blob(&self, location: &Location, data: Bytes, crc: u32) -> Result<()> {
        let site = self.site("write", location);
        let url = self.url(location, "")?;
        let headers = [
            ("x-ms-blob-type", "BlockBlob".to_string()),
            ("content-md5", md5_b64(&data)),
            ("x-ms-meta-ferrycrc32c", format!("{crc:08x}")),
        ];
        self.send(Method::PUT, &url, &headers, data, &[201], site)
            .await?;
        Ok(())
    }

    /// Put Block: one uncommitted block, its MD5 checked by Azure.
    pub async fn put_block(&self, location: &Location, id: &str, data: Bytes) -> Result<()> {
        let site = self.site("write part", location);
        let query = format!(
            "comp=block&blockid={}",
            ferry_core::location::percent_encode(id)
        );
        let url = self.url(location, &query)?;
        let headers = [("content-md5", md5_b64(&data))];
        self.send(Method::PUT, &url, &headers, data, &[201], site)
            .await?;
        Ok(())
    }

    /// Put Block List: commits `ids` (uncommitted blocks, in order) as the blob, with ferry's
    /// CRC32C in its metadata.
    pub async fn put_block_list(
        &self,
        location: &Location,
        ids: &[String],
        crc: u32,
    ) -> Result<()> {
        let site = self.site("complete upload", location);
        let url = self.url(location, "comp=blocklist")?;
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in ids {
            xml.push_str(&format!("<Uncommitted>{id}</Uncommitted>"));
        }
        xml.push_str("</BlockList>");
        let body = Bytes::from(xml);
        let headers = [
            ("content-md5", md5_b64(&body)),
            ("x-ms-meta-ferrycrc32c", format!("{crc:08x}")),
        ];
        self.send(Method::PUT, &url, &headers, body, &[201], site)
            .await?;
        Ok(())
    }

    /// The uncommitted block ids of a blob.
    pub async fn uncommitted_blocks(&self, location: &Location) -> Result<Vec<String>> {
        let site = self.site("resume upload", location);
        let url = self.url(location, "comp=blocklist&blocklisttype=uncommitted")?;
        let body = match self
            .send(Method::GET, &url, &[], Bytes::new(), &[200], site)
            .await
        {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?.bytes().await.map_err(|e| from_transport(e, site))?,
        };
        let text = String::from_utf8_lossy(&body);
        let doc = roxmltree::Document::parse(&text).map_err(|e| bad_xml(e, site))?;
        Ok(doc
            .descendants()
            .filter(|n| n.has_tag_name("Name"))
            .filter_map(|n| n.text().map(str::to_string))
            .collect())
    }

    /// Deletes a blob; a missing one is fine.
    pub async fn delete(&self, location: &Location) -> Result<()> {
        let site = self.site("delete", location);
        let url = self.url(location, "")?;
        self.send(Method::DELETE, &url, &[], Bytes::new(), &[202, 404], site)
            .await?;
        Ok(())
    }

    /// One page of List Blobs below `prefix` (with `/` as delimiter: one level).
    pub async fn list_page(
        &self,
        location: &Location,
        prefix: &str,
        delimiter: bool,
        marker: Option<&str>,
    ) -> Result<Page> {
        let site = self.site("list", location);
        let enc = ferry_core::location::percent_encode;
        let mut query = format!(
            "restype=container&comp=list&include=metadata&prefix={}",
            enc(prefix)
        );
        if delimiter {
            query.push_str("&delimiter=%2F");
        }
        if let Some(marker) = marker {
            query.push_str(&format!("&marker={}", enc(marker)));
        }
        let url = self.url(&location.with_path(""), &query)?;
        let resp = match self
            .send(Method::GET, &url, &[], Bytes::new(), &[200], site)
            .await
        {
            // A missing container holds nothing.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Page {
                    blobs: Vec::new(),
                    next: None,
                })
            }
            other => other?,
        };
        let body = resp.bytes().await.map_err(|e| from_transport(e, site))?;
        parse_list(&String::from_utf8_lossy(&body)).map_err(|e| bad_xml(e, site))
    }

    /// Copy Blob within the account, pinned to the source's `etag`; waits (bounded) until a
    /// pending copy finishes.
    pub async fn copy(&self, from: &Location, etag: Option<&str>, to: &Location) -> Result<()> {
        let site = self.site("copy", from);
        let url = self.url(to, "")?;
        let mut headers = vec![("x-ms-copy-source", self.source_url(from)?)];
        if let Some(etag) = etag {
            headers.push(("x-ms-source-if-match", etag.to_string()));
        }
        let resp = self
            .send(Method::PUT, &url, &headers, Bytes::new(), &[202, 201], site)
            .await?;
        let mut status = header(resp.headers(), "x-ms-copy-status").map(str::to_string);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        while status.as_deref() == Some("pending") {
            if tokio::time::Instant::now() > deadline {
                return Err(site.finish(
                    Error::new(
                        ErrorKind::Unexpected,
                        "server-side copy still pending after an hour",
                    )
                    .temporary(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let resp = self
                .send(
                    Method::HEAD,
                    &url,
                    &[],
                    Bytes::new(),
                    &[200],
                    self.site("copy", to),
                )
                .await?;
            status = header(resp.headers(), "x-ms-copy-status").map(str::to_string);
        }
        match status.as_deref() {
            None | Some("success") => Ok(()),
            Some(other) => Err(site.finish(
                Error::new(
                    ErrorKind::Unexpected,
                    format!("server-side copy ended {other}"),
                )
                .temporary(),
            )),
        }
    }
}

fn bad_xml(e: roxmltree::Error, site: Site<'_>) -> Error {
    site.finish(
        Error::new(
            ErrorKind::Unexpected,
            format!("unreadable answer from {}: {e}", site.endpoint),
        )
        .temporary(),
    )
}

/// Parses a List Blobs answer.
fn parse_list(text: &str) -> std::result::Result<Page, roxmltree::Error> {
    let doc = roxmltree::Document::parse(text)?;
    let child = |n: roxmltree::Node<'_, '_>, tag: &str| {
        n.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .map(str::to_string)
    };
    let mut blobs = Vec::new();
    for node in doc.descendants() {
        if node.has_tag_name("BlobPrefix") {
            let name = child(node, "Name").unwrap_or_default();
            blobs.push(BlobInfo {
                name,
                size: 0,
                modified: None,
                etag: None,
                crc32c: None,
                is_dir: true,
            });
        } else if node.has_tag_name("Blob") {
            let props = node.children().find(|c| c.has_tag_name("Properties"));
            let meta = node.children().find(|c| c.has_tag_name("Metadata"));
            let prop = |tag| props.and_then(|p| child(p, tag));
            let meta = |tag| meta.and_then(|m| child(m, tag));
            blobs.push(BlobInfo {
                name: child(node, "Name").unwrap_or_default(),
                size: prop("Content-Length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                modified: prop("Last-Modified").as_deref().and_then(parse_time),
                etag: prop("Etag"),
                crc32c: meta(CRC_KEY).as_deref().and_then(parse_crc),
                is_dir: meta("hdi_isfolder").is_some_and(|v| v == "true"),
            });
        }
    }
    let next = doc
        .descendants()
        .find(|n| n.has_tag_name("NextMarker"))
        .and_then(|n| n.text())
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(Page { blobs, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_carry_size_etag_crc_and_prefixes() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>
            <Blob><Name>d/a b</Name><Properties><Last-Modified>Sun, 06 Dec 2026 08:00:00 GMT</Last-Modified><Etag>"0x1"</Etag><Content-Length>12</Content-Length></Properties><Metadata><ferrycrc32c>0000abcd</ferrycrc32c></Metadata></Blob>
            <Blob><Name>d/dir</Name><Properties><Content-Length>0</Content-Length></Properties><Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>
            <BlobPrefix><Name>d/sub/</Name></BlobPrefix>
            </Blobs><NextMarker>m2</NextMarker></EnumerationResults>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(page.next.as_deref(), Some("m2"));
        let a = &page.blobs[0];
        assert_eq!(
            (a.name.as_str(), a.size, a.crc32c),
            ("d/a b", 12, Some(0xabcd))
        );
        assert_eq!(a.etag.as_deref(), Some("\"0x1\""));
        assert!(a.modified.is_some() && !a.is_dir);
        assert!(page.blobs[1].is_dir && page.blobs[2].is_dir);
        assert_eq!(page.blobs[2].name, "d/sub/");
    }

    #[test]
    fn names_are_encoded_per_segment() {
        assert_eq!(encode_name("a b/ü+x"), "a%20b/%C3%BC%2Bx");
        assert_eq!(md5_b64(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}
