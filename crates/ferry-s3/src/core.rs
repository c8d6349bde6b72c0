//! `S3Core`: the one place that talks to aws-sdk-s3. Every S3 request ferry makes is a method
//! here (`s3_head`, `s3_put`, `s3_upload_part`, …) taking ferry's types and returning ferry's
//! errors (mapped by [`crate::error`]); the backend, reader, writer and copy modules only
//! orchestrate.
//!
//! Client set-up: ferry builds its own HTTP client (rustls with the ring provider, system roots
//! plus `AWS_CA_BUNDLE`/`ca_bundle` for https endpoints only — a plain-http endpoint never reads
//! the bundle), resolves the region without probing instance metadata, and uses the SDK's
//! standard credential chain unless the options give static keys. Retries: the transfer engine
//! retries data requests itself, so PUT/UploadPart/GET/copy requests are sent once by the SDK;
//! metadata requests (HEAD, list, create/complete/abort, delete) get up to 3 SDK attempts.
//! The SDK's own CRC32 request checksums and response validation are off: ferry sends the
//! CRC32C it computed while streaming and asks for full-object CRC32C checksums.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, ProvideCredentials, Region, RequestChecksumCalculation,
    ResponseChecksumValidation, SharedHttpClient,
};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, Delete,
    ObjectIdentifier,
};
use aws_sdk_s3::Client;
use bytes::Bytes;
use ferry_core::watchdog::{Activity, Wait};
use ferry_core::{Error, ErrorKind, Location, Result};

use crate::config::S3Settings;
use crate::error::{map_sdk, Site};
use ferry_core::checksum::{crc32c_from_base64, crc32c_to_base64};

/// What HEAD reports about an object.
#[derive(Debug, Clone)]
pub(crate) struct ObjectInfo {
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub etag: Option<String>,
    /// The full-object CRC32C, when the store keeps one.
    pub crc32c: Option<u32>,
}

/// One object of a listing page.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub key: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub etag: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub(crate) struct ListPage {
    pub objects: Vec<Listed>,
    /// Common prefixes (delimited listings only).
    pub prefixes: Vec<String>,
    /// The continuation token of the next page.
    pub next: Option<String>,
}

/// A part of a multipart upload, as ListParts reports it.
#[derive(Debug, Clone)]
pub(crate) struct ListedPart {
    pub number: i32,
    pub size: u64,
    pub crc32c: Option<u32>,
}

/// The SDK clients of one store, and how to name its endpoint in messages.
#[derive(Debug, Clone)]
pub(crate) struct S3Core {
    /// Retries by the SDK's standard policy: for calls the engine does not retry itself.
    client: Client,
    /// One attempt per call: for reads and writes, which the engine retries. No SDK read
    /// timeout: ferry's idle watchdog ([`S3Core::wait`]) bounds their silences instead, so a
    /// slow upload that keeps flowing is not cut.
    single_attempt: Client,
    /// One attempt per call, with the long `copy_timeout`: for server-side copies, which
    /// answer only when done.
    copy_client: Client,
    /// The idle timeout of reads and writes (`read_timeout`).
    read_timeout: Option<Duration>,
    /// `http://127.0.0.1:8333` or `AWS S3 (us-east-1)`: for messages and the identity.
    pub endpoint_label: String,
}

/// The bucket and key of a location (the authority is the bucket).
pub(crate) fn bucket_key(location: &Location) -> Result<(&str, &str)> {
    ferry_core::storage::bucket::bucket_and_key(location, "s3://bucket/key")
}

fn size_of(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

fn time_of(value: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<SystemTime> {
    let t = value?;
    let secs = u64::try_from(t.secs()).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, t.subsec_nanos()))
}

/// A full-object CRC32C from a response: composite (per-part) values are ignored.
fn full_crc(value: Option<&str>, kind: Option<&ChecksumType>) -> Option<u32> {
    if matches!(kind, Some(ChecksumType::Composite)) {
        return None;
    }
    value.and_then(crc32c_from_base64)
}

/// Percent-encodes a key for `x-amz-copy-source` (everything but unreserved characters and `/`).
fn encode_copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    out.push_str(bucket);
    out.push('/');
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl S3Core {
    /// Builds the client and resolves credentials (so that missing credentials fail at once,
    /// with one clear message). Returns the core and the access key id in use (`None` when
    /// anonymous), for the store's identity.
    pub async fn connect(settings: &S3Settings) -> Result<(S3Core, Option<String>)> {
        let http = http_client(settings)?;
        let region = match &settings.region {
            Some(region) => Region::new(region.clone()),
            None => {
                // Environment, then the profile's region; never instance metadata (a network
                // probe that hangs off EC2). Default us-east-1, which S3-compatible stores accept.
                let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
                if let Some(name) = &settings.profile {
                    profile = profile.profile_name(name);
                }
                RegionProviderChain::first_try(
                    aws_config::environment::EnvironmentVariableRegionProvider::new(),
                )
                .or_else(profile.build())
                .or_else(Region::from_static("us-east-1"))
                .region()
                .await
                .unwrap_or_else(|| Region::from_static("us-east-1"))
            }
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(region.clone())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config({
                let mut timeouts = TimeoutConfig::builder();
                timeouts.set_connect_timeout(settings.connect_timeout);
                timeouts.set_read_timeout(settings.read_timeout);
                timeouts.build()
            });
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if settings.anonymous {
            loader = loader.no_credentials();
        } else if let (Some(id), Some(secret)) =
            (&settings.access_key_id, &settings.secret_access_key)
        {
            let token = settings.session_token.as_ref().map(|t| t.0.clone());
            loader = loader.credentials_provider(Credentials::new(
                id.clone(),
                secret.0.clone(),
                token,
                None,
                "ferry-options",
            ));
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        let sdk = loader.load().await;
        let endpoint_label = match sdk.endpoint_url() {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("AWS S3 ({region})"),
        };
        let path_style = settings.path_style.unwrap_or_else(|| {
            S3Settings {
                endpoint: sdk.endpoint_url().map(str::to_string),
                ..S3Settings::default()
            }
            .path_style()
        });
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let access_key = match sdk.credentials_provider() {
            Some(provider) if !settings.anonymous => {
                let credentials = provider.provide_credentials().await.map_err(|e| {
                    Error::new(
                        ErrorKind::ConfigInvalid,
                        format!(
                            "no usable AWS credentials for {endpoint_label}: set AWS_ACCESS_KEY_ID and \
                             AWS_SECRET_ACCESS_KEY, use a profile (AWS_PROFILE or -o profile=NAME), \
                             give --flink-conf with s3.access-key/s3.secret-key, or -o anonymous=true \
                             for public buckets ({})",
                            one_line(&e)
                        ),
                    )
                    .with_context("backend", "s3")
                })?;
                Some(credentials.access_key_id().to_string())
            }
            _ => None,
        };
        Ok((
            S3Core {
                // Built once: a per-request config override would rebuild the SDK's runtime
                // components on every call.
                single_attempt: Client::from_conf(
                    config
                        .to_builder()
                        .retry_config(RetryConfig::disabled())
                        .timeout_config({
                            // Explicitly off: an unset value would inherit the read timeout.
                            let mut timeouts = TimeoutConfig::builder().disable_read_timeout();
                            timeouts.set_connect_timeout(settings.connect_timeout);
                            timeouts.build()
                        })
                        .build(),
                ),
                copy_client: Client::from_conf(
                    config
                        .to_builder()
                        .retry_config(RetryConfig::disabled())
                        .timeout_config({
                            let mut timeouts = TimeoutConfig::builder();
                            timeouts.set_connect_timeout(settings.connect_timeout);
                            timeouts.set_read_timeout(settings.copy_timeout);
                            timeouts.build()
                        })
                        .build(),
                ),
                read_timeout: settings.read_timeout,
                client: Client::from_conf(config),
                endpoint_label,
            },
            access_key,
        ))
    }

    /// The wait for `what` from this store, bounded by `read_timeout` of silence.
    pub fn wait(&self, what: String) -> Wait {
        Wait {
            what,
            endpoint: self.endpoint_label.clone(),
            idle: self.read_timeout,
            option: "read_timeout",
        }
    }

    /// Where a request of `client` (which re-sends failed attempts itself) went.
    fn site<'a>(&'a self, op: &'static str, bucket: &'a str, path: &'a Location) -> Site<'a> {
        Site {
            op,
            bucket,
            path,
            endpoint: &self.endpoint_label,
            resent: true,
        }
    }

    /// Where a request of `single_attempt` or `copy_client` (sent once) went.
    fn site_once<'a>(&'a self, op: &'static str, bucket: &'a str, path: &'a Location) -> Site<'a> {
        Site {
            resent: false,
            ..self.site(op, bucket, path)
        }
    }

    /// HEAD of an object; `None` when it does not exist.
    pub async fn s3_head(&self, location: &Location) -> Result<Option<ObjectInfo>> {
        let (bucket, key) = bucket_key(location)?;
        let result = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(ObjectInfo {
                size: size_of(out.content_length()),
                modified: time_of(out.last_modified()),
                etag: out.e_tag().map(str::to_string),
                crc32c: full_crc(out.checksum_crc32_c(), out.checksum_type()),
            })),
            Err(err) => {
                let codeless = err.code().is_none();
                let mapped = map_sdk(err, self.site("stat", bucket, location));
                match mapped.kind() {
                    ErrorKind::NotFound => Ok(None),
                    ErrorKind::PermissionDenied if codeless => {
                        Err(self.diagnose(location, key, mapped).await)
                    }
                    _ => Err(mapped),
                }
            }
        }
    }

    /// HEAD responses carry no body, so a 403 does not say whether the key id is unknown, the
    /// secret wrong, or a policy denies. A one-key listing (which has a body) tells; its error
    /// replaces the vague one. Only on the error path.
    async fn diagnose(&self, location: &Location, key: &str, vague: Error) -> Error {
        match self.s3_list_page(location, key, None, Some(1), false).await {
            Err(precise) if precise.kind() == ErrorKind::PermissionDenied => precise,
            _ => vague,
        }
    }

    /// Whether the bucket exists (HEAD bucket).
    pub async fn s3_head_bucket(&self, location: &Location) -> Result<bool> {
        let (bucket, _) = bucket_key(location)?;
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(err) => {
                let codeless = err.code().is_none();
                let mapped = map_sdk(err, self.site("stat", bucket, location));
                match mapped.kind() {
                    ErrorKind::NotFound => Ok(false),
                    ErrorKind::PermissionDenied if codeless => {
                        Err(self.diagnose(location, "", mapped).await)
                    }
                    _ => Err(mapped),
                }
            }
        }
    }

    /// One page of ListObjectsV2 below `prefix` (a key prefix, `""` for the bucket): every key
    /// below it, or with `delimited` only those directly under it plus the common prefixes
    /// (each ending in `/`) that stand for its sub-directories.
    pub async fn s3_list_page(
        &self,
        location: &Location,
        prefix: &str,
        token: Option<String>,
        max_keys: Option<i32>,
        delimited: bool,
    ) -> Result<ListPage> {
        let (bucket, _) = bucket_key(location)?;
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimited.then(|| "/".to_string()))
            .set_continuation_token(token)
            .set_max_keys(max_keys)
            .send()
            .await
            .map_err(|e| map_sdk(e, self.site("list", bucket, location)))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_string(),
                    size: size_of(o.size()),
                    modified: time_of(o.last_modified()),
                    etag: o.e_tag().map(str::to_string),
                })
            })
            .collect();
        let prefixes = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(str::to_string))
            .collect();
        let next = match out.is_truncated() {
            Some(true) => out.next_continuation_token().map(str::to_string),
            _ => None,
        };
        Ok(ListPage {
            objects,
            prefixes,
            next,
        })
    }

    /// GET of `range` (or all): the body, or `None` when the range starts at or after the end
    /// (HTTP 416).
    pub async fn s3_get(
        &self,
        location: &Location,
        range: Option<Range<u64>>,
    ) -> Result<Option<ByteStream>> {
        let (bucket, key) = bucket_key(location)?;
        let send = self
            .single_attempt
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end - 1)))
            .send();
        let result = self
            .wait(format!("the answer to GET {location}"))
            .run(None, async { Ok(send.await) })
            .await
            .map_err(|e| e.with_operation("read").with_context("backend", "s3"))?;
        match result {
            Ok(out) => Ok(Some(out.body)),
            Err(err) if err.code() == Some("InvalidRange") => Ok(None),
            Err(err) => Err(map_sdk(err, self.site_once("read", bucket, location))),
        }
    }

    /// PutObject with the data's CRC32C, which the server verifies. Returns the CRC32C the
    /// server reports for the stored object.
    pub async fn s3_put(&self, location: &Location, data: Bytes, crc: u32) -> Result<Option<u32>> {
        let (bucket, key) = bucket_key(location)?;
        let len = data.len() as i64;
        let activity = Activity::new();
        let send = self
            .single_attempt
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_length(len)
            .checksum_crc32_c(crc32c_to_base64(crc))
            .body(progress_body(data, &activity))
            .customize()
            .disable_payload_signing()
            .send();
        let out = self
            .wait(format!("PUT {location}"))
            .run(Some(&activity), async { Ok(send.await) })
            .await
            .map_err(|e| e.with_operation("put").with_context("backend", "s3"))?
            .map_err(|e| map_sdk(e, self.site_once("put", bucket, location)))?;
        Ok(full_crc(out.checksum_crc32_c(), out.checksum_type()))
    }

    /// CreateMultipartUpload with full-object CRC32C checksums. Returns the upload id.
    pub async fn s3_create_multipart(&self, location: &Location) -> Result<String> {
        let (bucket, key) = bucket_key(location)?;
        let out = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .map_err(|e| map_sdk(e, self.site("start_multipart", bucket, location)))?;
        out.upload_id().map(str::to_string).ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                "CreateMultipartUpload returned no upload id",
            )
            .with_context("path", location)
        })
    }

    /// UploadPart (number = index + 1) with its CRC32C. Returns the ETag.
    pub async fn s3_upload_part(
        &self,
        location: &Location,
        upload_id: &str,
        number: i32,
        data: Bytes,
        crc: u32,
    ) -> Result<String> {
        let (bucket, key) = bucket_key(location)?;
        let len = data.len() as i64;
        let activity = Activity::new();
        let send = self
            .single_attempt
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(len)
            .checksum_crc32_c(crc32c_to_base64(crc))
            .body(progress_body(data, &activity))
            .customize()
            .disable_payload_signing()
            .send();
        let out = self
            .wait(format!("part {number} of {location}"))
            .run(Some(&activity), async { Ok(send.await) })
            .await
            .map_err(|e| e.with_operation("put_part").with_context("backend", "s3"))?
            .map_err(|e| {
                map_sdk(e, self.site_once("put_part", bucket, location))
                    .with_context("part", number)
            })?;
        if let Some(returned) = out.checksum_crc32_c().and_then(crc32c_from_base64) {
            if returned != crc {
                return Err(Error::new(
                    ErrorKind::Corrupted,
                    format!("part {number}: the server stored crc32c {returned:08x}, ferry sent {crc:08x}"),
                )
                .with_context("path", location)
                .temporary());
            }
        }
        out.e_tag().map(str::to_string).ok_or_else(|| {
            Error::new(ErrorKind::Unexpected, "UploadPart returned no ETag")
                .with_context("path", location)
        })
    }

    /// UploadPartCopy of `range` of `source` (pinned to `etag`) as part `number`. Returns the
    /// ETag and the part's CRC32C if the server reports it.
    pub async fn s3_upload_part_copy(
        &self,
        source: &Location,
        etag: Option<&str>,
        target: &Location,
        upload_id: &str,
        number: i32,
        range: Range<u64>,
    ) -> Result<(String, Option<u32>)> {
        let (src_bucket, src_key) = bucket_key(source)?;
        let (bucket, key) = bucket_key(target)?;
        let out = self
            .copy_client
            .upload_part_copy()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(encode_copy_source(src_bucket, src_key))
            .copy_source_range(format!("bytes={}-{}", range.start, range.end - 1))
            .set_copy_source_if_match(etag.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                map_sdk(e, self.site_once("copy", bucket, target)).with_context("part", number)
            })?;
        let result = out.copy_part_result();
        let etag = result.and_then(|r| r.e_tag()).map(str::to_string);
        let crc = result
            .and_then(|r| r.checksum_crc32_c())
            .and_then(crc32c_from_base64);
        let etag = etag.ok_or_else(|| {
            Error::new(ErrorKind::Unexpected, "UploadPartCopy returned no ETag")
                .with_context("path", target)
        })?;
        Ok((etag, crc))
    }

    /// ListParts of an upload (every page). `NotFound` when the upload is gone.
    pub async fn s3_list_parts(
        &self,
        location: &Location,
        upload_id: &str,
    ) -> Result<Vec<ListedPart>> {
        let (bucket, key) = bucket_key(location)?;
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| map_sdk(e, self.site("resume_multipart", bucket, location)))?;
            for part in out.parts() {
                if let Some(number) = part.part_number() {
                    parts.push(ListedPart {
                        number,
                        size: size_of(part.size()),
                        crc32c: part.checksum_crc32_c().and_then(crc32c_from_base64),
                    });
                }
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_string()),
                _ => return Ok(parts),
            }
        }
    }

    /// CompleteMultipartUpload. `full_crc`, when known, is the whole object's CRC32C, which
    /// the server checks. Returns the full-object CRC32C the server reports.
    pub async fn s3_complete(
        &self,
        location: &Location,
        upload_id: &str,
        parts: Vec<(i32, String, Option<u32>)>,
        full_crc: Option<u32>,
    ) -> Result<Option<u32>> {
        let (bucket, key) = bucket_key(location)?;
        let parts = parts
            .into_iter()
            .map(|(number, etag, crc)| {
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .set_checksum_crc32_c(crc.map(crc32c_to_base64))
                    .build()
            })
            .collect();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .set_checksum_crc32_c(full_crc.map(crc32c_to_base64))
            .set_checksum_type(full_crc.map(|_| ChecksumType::FullObject))
            .send()
            .await
            .map_err(|e| map_sdk(e, self.site("complete", bucket, location)))?;
        Ok(full_crc_of_complete(
            out.checksum_crc32_c(),
            out.checksum_type(),
        ))
    }

    /// AbortMultipartUpload; an upload that is already gone is not an error.
    pub async fn s3_abort(&self, location: &Location, upload_id: &str) -> Result<()> {
        let (bucket, key) = bucket_key(location)?;
        match self
            .client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => {
                let mapped = map_sdk(err, self.site("abort", bucket, location));
                if mapped.kind() == ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(mapped)
                }
            }
        }
    }

    /// Multipart uploads in progress below a key prefix: (key, upload id).
    pub async fn s3_list_uploads(
        &self,
        location: &Location,
        prefix: &str,
    ) -> Result<Vec<(String, String)>> {
        let (bucket, _) = bucket_key(location)?;
        let mut uploads = Vec::new();
        let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| map_sdk(e, self.site("list_uploads", bucket, location)))?;
            for upload in out.uploads() {
                if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                    uploads.push((key.to_string(), id.to_string()));
                }
            }
            if out.is_truncated() != Some(true) {
                return Ok(uploads);
            }
            key_marker = out.next_key_marker().map(str::to_string);
            id_marker = out.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() {
                return Ok(uploads);
            }
        }
    }

    /// DeleteObject (a missing key succeeds on S3).
    pub async fn s3_delete(&self, location: &Location) -> Result<()> {
        let (bucket, key) = bucket_key(location)?;
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk(e, self.site("delete", bucket, location)))
    }

    /// DeleteObjects of up to 1000 keys of one bucket. Fails on the first key it could not
    /// delete.
    pub async fn s3_delete_batch(&self, location: &Location, keys: Vec<String>) -> Result<()> {
        let (bucket, _) = bucket_key(location)?;
        if keys.is_empty() {
            return Ok(());
        }
        let objects = keys
            .into_iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let out = self
            .client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| map_sdk(e, self.site("delete", bucket, location)))?;
        match out.errors().first() {
            None => Ok(()),
            Some(failed) => {
                let at = location.with_path(failed.key().unwrap_or_default());
                Err(crate::error::from_response(
                    0,
                    failed.code(),
                    failed.message(),
                    None,
                    self.site("delete", bucket, &at),
                ))
            }
        }
    }

    /// CopyObject of `source` (pinned to `etag`) to `target`, asking for a CRC32C on the copy.
    /// Returns the copy's CRC32C if the server reports it.
    pub async fn s3_copy(
        &self,
        source: &Location,
        etag: Option<&str>,
        target: &Location,
    ) -> Result<Option<u32>> {
        let (src_bucket, src_key) = bucket_key(source)?;
        let (bucket, key) = bucket_key(target)?;
        let out = self
            .copy_client
            .copy_object()
            .bucket(bucket)
            .key(key)
            .copy_source(encode_copy_source(src_bucket, src_key))
            .set_copy_source_if_match(etag.map(str::to_string))
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .send()
            .await
            .map_err(|e| map_sdk(e, self.site_once("copy", bucket, target)))?;
        let result = out.copy_object_result();
        Ok(full_crc(
            result.and_then(|r| r.checksum_crc32_c()),
            result.and_then(|r| r.checksum_type()),
        ))
    }
}

/// A CompleteMultipartUpload checksum is full-object unless it is marked composite or has the
/// `-N` part-count suffix of composite checksums.
fn full_crc_of_complete(value: Option<&str>, kind: Option<&ChecksumType>) -> Option<u32> {
    if value.is_some_and(|v| v.contains('-')) {
        return None;
    }
    full_crc(value, kind)
}

/// ferry's HTTP client: rustls with ring. The trust store is the system's roots, plus the
/// PEM bundle of `ca_bundle` or `AWS_CA_BUNDLE` — read only when the endpoint is https, so a
/// bundle variable meant for other tools never breaks a plain-http (loopback) endpoint.
/// An upload body that hands the data to the connection in 64 KiB frames and records each
/// hand-over in `activity`: the idle watchdog of the request sees a slow upload progress, and
/// a server that stopped taking bytes go silent. Rebuilt from the same bytes if the SDK needs
/// the body again.
fn progress_body(data: Bytes, activity: &Arc<Activity>) -> ByteStream {
    let activity = activity.clone();
    ByteStream::new(SdkBody::retryable(move || {
        SdkBody::from_body_1_x(ProgressBody {
            total: data.len(),
            data: data.clone(),
            activity: activity.clone(),
        })
    }))
}

struct ProgressBody {
    data: Bytes,
    total: usize,
    activity: Arc<Activity>,
}

/// Bytes an upload may still have in the kernel's send buffer when its last frame was handed
/// over (Linux grows it up to 4 MiB by default).
const SEND_BUFFER: usize = 4 << 20;
/// The slowest link the defaults allow for draining that buffer.
const DRAIN_FLOOR: usize = 256 << 10;

/// Extra silence allowed after the last frame of a `total`-byte upload: its buffered tail
/// draining at [`DRAIN_FLOOR`] (at most 16 s).
fn drain_time(total: usize) -> Duration {
    Duration::from_secs_f64(total.min(SEND_BUFFER) as f64 / DRAIN_FLOOR as f64)
}

impl http_body::Body for ProgressBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.activity.touch();
        if self.data.is_empty() {
            return std::task::Poll::Ready(None);
        }
        if self.data.len() <= 64 * 1024 {
            // The last frame: what is still in the send buffer drains unseen.
            self.activity.allow_extra(drain_time(self.total));
        }
        let n = self.data.len().min(64 * 1024);
        let frame = self.data.split_to(n);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.len() as u64)
    }
}

fn http_client(settings: &S3Settings) -> Result<SharedHttpClient> {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let mut trust = TrustStore::empty().with_native_roots(true);
    if !settings.is_plain_http() {
        let bundle = settings.ca_bundle.clone().or_else(|| {
            std::env::var_os("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
        });
        if let Some(path) = bundle {
            let pem = std::fs::read(&path).map_err(|e| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!(
                        "cannot read the CA bundle {} (AWS_CA_BUNDLE or -o ca_bundle): {e}",
                        path.display()
                    ),
                )
            })?;
            trust = trust.with_pem_certificate(pem);
        }
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!("invalid TLS settings: {}", one_line(&e)),
            )
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https())
}

fn one_line(err: &dyn std::error::Error) -> String {
    ferry_core::error::chain_on_one_line(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(
            encode_copy_source("b", "dir/with space+ü"),
            "b/dir/with%20space%2B%C3%BC"
        );
    }

    #[test]
    fn composite_checksums_are_not_full_object_ones() {
        assert_eq!(full_crc_of_complete(Some("AAAAAA==-3"), None), None);
        assert_eq!(
            full_crc(Some("AAAAAQ=="), Some(&ChecksumType::FullObject)),
            Some(1)
        );
        assert_eq!(
            full_crc(Some("AAAAAQ=="), Some(&ChecksumType::Composite)),
            None
        );
    }
}
