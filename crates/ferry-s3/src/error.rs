//! The one table that maps S3's errors onto ferry's [`ErrorKind`]s, retry status and a
//! one-line, actionable message.
//!
//! Each row cites a code from the S3 API reference ("Error responses", `ErrorCode` list). Codes
//! the table does not know fall back on the HTTP status (HEAD responses carry no body, hence no
//! code). Transport failures (connect refused, reset, timeouts) are temporary. Messages never
//! contain credentials: they name the endpoint, the bucket and the settings to check.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use ferry_core::error::table::{self, row, Row};
use ferry_core::{Error, ErrorKind};

use ErrorKind::*;

/// S3 error codes (API reference, "List of error codes") → ferry's kinds. `{bucket}` and
/// `{endpoint}` in hints are filled in.
const TABLE: &[Row] = &[
    // 404
    row("NoSuchKey", NotFound, false, "no such object"),
    row("NotFound", NotFound, false, "not found"),
    row(
        "NoSuchBucket",
        NotFound,
        false,
        "no such bucket {bucket} at {endpoint}: check the bucket name, the endpoint and the region",
    ),
    row(
        "NoSuchUpload",
        NotFound,
        false,
        "the multipart upload no longer exists (aborted, completed or expired)",
    ),
    // 403: credentials and permissions
    row(
        "InvalidAccessKeyId",
        PermissionDenied,
        false,
        "the access key id is unknown to {endpoint}: check AWS_ACCESS_KEY_ID, the profile, or -o access_key_id",
    ),
    row(
        "SignatureDoesNotMatch",
        PermissionDenied,
        false,
        "the secret key does not match the access key id: check AWS_SECRET_ACCESS_KEY, the profile, or -o secret_access_key",
    ),
    row(
        "AccessDenied",
        PermissionDenied,
        false,
        "access denied: the credentials may not do this on bucket {bucket}; check the IAM and bucket policies",
    ),
    row(
        "AllAccessDisabled",
        PermissionDenied,
        false,
        "all access to bucket {bucket} is disabled",
    ),
    row(
        "AccountProblem",
        PermissionDenied,
        false,
        "the account has a problem that prevents this operation",
    ),
    row(
        "ExpiredToken",
        PermissionDenied,
        false,
        "the session token has expired: refresh the credentials",
    ),
    row(
        "InvalidToken",
        PermissionDenied,
        false,
        "the session token is invalid: refresh the credentials",
    ),
    row(
        "TokenRefreshRequired",
        PermissionDenied,
        false,
        "the session token must be refreshed",
    ),
    row(
        "InvalidSecurity",
        PermissionDenied,
        false,
        "the security credentials are invalid",
    ),
    row(
        "RequestTimeTooSkewed",
        ConfigInvalid,
        false,
        "this machine's clock differs from the server's by more than 15 minutes: fix the clock",
    ),
    // 301/400: wrong region or addressing
    row(
        "PermanentRedirect",
        ConfigInvalid,
        false,
        "bucket {bucket} is in another region or needs another endpoint: set -o region=… (or AWS_REGION)",
    ),
    row(
        "AuthorizationHeaderMalformed",
        ConfigInvalid,
        false,
        "the request was signed for the wrong region: set -o region=… (or AWS_REGION) to bucket {bucket}'s region",
    ),
    row(
        "IllegalLocationConstraintException",
        ConfigInvalid,
        false,
        "bucket {bucket} is in another region: set -o region=…",
    ),
    row(
        "InvalidBucketName",
        InvalidInput,
        false,
        "{bucket} is not a valid bucket name",
    ),
    row(
        "KeyTooLongError",
        InvalidInput,
        false,
        "the object key is longer than 1024 bytes",
    ),
    row(
        "EntityTooSmall",
        InvalidInput,
        false,
        "a multipart part is smaller than the 5 MiB minimum",
    ),
    row(
        "EntityTooLarge",
        InvalidInput,
        false,
        "the object or part is larger than S3 allows (5 GiB per request)",
    ),
    row("InvalidArgument", InvalidInput, false, "invalid argument"),
    row("InvalidRequest", InvalidInput, false, "invalid request"),
    row("InvalidRange", InvalidInput, false, "the range is not satisfiable"),
    // Integrity: the server computed another checksum than the one ferry sent.
    row(
        "BadDigest",
        Corrupted,
        true,
        "the server received different bytes than ferry sent (checksum mismatch)",
    ),
    row(
        "InvalidDigest",
        Corrupted,
        true,
        "the server received different bytes than ferry sent (checksum mismatch)",
    ),
    row(
        "XAmzContentChecksumMismatch",
        Corrupted,
        true,
        "the server received different bytes than ferry sent (checksum mismatch)",
    ),
    row(
        "XAmzContentSHA256Mismatch",
        Corrupted,
        true,
        "the server received different bytes than ferry sent (payload hash mismatch)",
    ),
    row(
        "IncompleteBody",
        Unexpected,
        true,
        "the server received fewer bytes than announced",
    ),
    // Multipart assembly: a part is missing or its ETag differs (e.g. a stale resume).
    row(
        "InvalidPart",
        ConditionNotMatch,
        true,
        "a part of the multipart upload is missing or differs",
    ),
    row(
        "InvalidPartOrder",
        InvalidInput,
        false,
        "multipart parts were not in ascending order",
    ),
    row(
        "PreconditionFailed",
        ConditionNotMatch,
        false,
        "the object changed while it was being copied",
    ),
    // Throttling and server trouble: retried with backoff.
    row("SlowDown", RateLimited, true, "the server asks to slow down"),
    row(
        "ServiceUnavailable",
        RateLimited,
        true,
        "the service is unavailable (503)",
    ),
    row(
        "Throttling",
        RateLimited,
        true,
        "the server throttles requests",
    ),
    row(
        "RequestLimitExceeded",
        RateLimited,
        true,
        "the request rate limit is exceeded",
    ),
    row(
        "InternalError",
        Unexpected,
        true,
        "the server had an internal error",
    ),
    row(
        "RequestTimeout",
        Unexpected,
        true,
        "the connection idled too long (request timeout)",
    ),
    row(
        "OperationAborted",
        Unexpected,
        true,
        "a conflicting operation is in progress",
    ),
    row(
        "NotImplemented",
        Unsupported,
        false,
        "the server does not implement this operation",
    ),
    row(
        "MethodNotAllowed",
        Unsupported,
        false,
        "the server does not allow this operation here",
    ),
];

/// Where an error happened, for its message.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    /// `stat`, `read`, `put`, …
    pub op: &'static str,
    /// The bucket.
    pub bucket: &'a str,
    /// The location, as the user wrote it (`s3a://bucket/key`).
    pub path: &'a dyn std::fmt::Display,
    /// The endpoint, for messages (`http://127.0.0.1:8333`, `AWS S3 (eu-west-1)`).
    pub endpoint: &'a str,
    /// The SDK client already re-sent the request after failed attempts: a timeout then means
    /// the server never answered ([`Error::no_answer`]), not one lost attempt.
    pub resent: bool,
}

/// Maps an SDK error onto ferry's error.
pub(crate) fn map_sdk<E>(
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    site: Site<'_>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let region = err
        .raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_string);
    let error = match &err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let code = err.code().map(str::to_string);
            let detail = err.message().map(str::to_string);
            from_response(
                status.unwrap_or(0),
                code.as_deref(),
                detail.as_deref(),
                region,
                site,
            )
        }
        SdkError::TimeoutError(_) => Error::new(
            Unexpected,
            format!("timed out talking to {}", site.endpoint),
        )
        .temporary()
        .store_unreachable(),
        SdkError::DispatchFailure(failure) => {
            let chain = chain(&err);
            if failure.is_timeout() {
                let error = Error::new(
                    Unexpected,
                    format!(
                        "no answer from {} in time: {chain} (for a slow store, raise -o read_timeout=SECONDS, or copy_timeout for server-side copies)",
                        site.endpoint
                    ),
                )
                .temporary();
                if site.resent {
                    error.no_answer()
                } else {
                    error.store_unreachable()
                }
            } else if failure.is_io() {
                Error::new(
                    Unexpected,
                    format!("cannot reach {}: {chain}", site.endpoint),
                )
                .temporary()
                .store_unreachable()
            } else {
                Error::new(
                    ConfigInvalid,
                    format!("request to {} failed: {chain}", site.endpoint),
                )
                .store_unreachable()
            }
        }
        _ => Error::new(Unexpected, format!("S3 request failed: {}", chain(&err))),
    };
    error
        .with_operation(site.op)
        .with_context("path", site.path)
        .with_context("backend", "s3")
}

/// Codes that are about the credentials or the bucket, not one object: every request to the
/// bucket will fail the same way ([`Error::store_unreachable`]).
const STORE_WIDE: &[&str] = &[
    "NoSuchBucket",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
    "AccountProblem",
];

/// Maps an HTTP error response (status, S3 error code and message) onto ferry's error.
pub(crate) fn from_response(
    status: u16,
    code: Option<&str>,
    detail: Option<&str>,
    region: Option<String>,
    site: Site<'_>,
) -> Error {
    let fill = |hint: &str| table::fill(hint, site.bucket, site.endpoint);
    let known = code.and_then(|c| table::lookup(TABLE, c));
    let (kind, temporary, mut message) = match known {
        Some(row) => (row.kind, row.temporary, fill(row.hint)),
        None => by_status(status, site, &fill),
    };
    if let Some(region) = region.filter(|_| matches!(kind, ConfigInvalid | PermissionDenied)) {
        message.push_str(&format!(" (the bucket's region is {region})"));
    }
    message.push_str(&table::suffix(code, detail, status));
    let mut error = Error::new(kind, message);
    if code.is_some_and(|c| STORE_WIDE.contains(&c)) {
        error = error.store_unreachable();
    }
    if temporary || (table::temporary_status(status) && kind != Unsupported) {
        error.temporary()
    } else {
        error
    }
}

fn by_status(
    status: u16,
    site: Site<'_>,
    fill: &dyn Fn(&str) -> String,
) -> (ErrorKind, bool, String) {
    match status {
        301 | 307 => (
            ConfigInvalid,
            false,
            fill("bucket {bucket} needs another region or endpoint: set -o region=… (or AWS_REGION)"),
        ),
        400 => (InvalidInput, false, "bad request".into()),
        401 | 403 => (
            PermissionDenied,
            false,
            fill("access denied by {endpoint}: check the credentials (access key, secret key, profile) and the policies of bucket {bucket}"),
        ),
        404 => (NotFound, false, "not found".into()),
        409 => (ConditionNotMatch, true, "conflict".into()),
        412 => (ConditionNotMatch, false, "precondition failed".into()),
        416 => (InvalidInput, false, "range not satisfiable".into()),
        429 => (RateLimited, true, "too many requests".into()),
        501 => (Unsupported, false, fill("{endpoint} does not implement this operation")),
        503 => (RateLimited, true, "service unavailable (503)".into()),
        500..=599 => (Unexpected, true, format!("server error (HTTP {status})")),
        _ => (
            Unexpected,
            false,
            format!("unexpected response from {} during {}", site.endpoint, site.op),
        ),
    }
}

/// The error's source chain on one line, without repeats.
fn chain(err: &dyn std::error::Error) -> String {
    ferry_core::error::chain_on_one_line(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_unique_codes_and_one_line_hints() {
        table::check(TABLE).unwrap();
    }

    fn site() -> Site<'static> {
        Site {
            op: "put",
            bucket: "bkt",
            path: &"s3a://bkt/k",
            endpoint: "http://127.0.0.1:1",
            resent: true,
        }
    }

    #[test]
    fn codes_map_to_kinds_with_actionable_messages() {
        let e = from_response(403, Some("InvalidAccessKeyId"), Some("nope"), None, site());
        assert_eq!(e.kind(), PermissionDenied);
        assert!(!e.is_temporary());
        assert!(e.message().contains("AWS_ACCESS_KEY_ID"), "{e}");
        assert!(e.is_store_unreachable());
        let e = from_response(404, Some("NoSuchBucket"), None, None, site());
        assert_eq!(e.kind(), NotFound);
        assert!(e.is_store_unreachable());
        assert!(
            !from_response(403, Some("AccessDenied"), None, None, site()).is_store_unreachable()
        );
        assert!(
            e.message()
                .contains("no such bucket bkt at http://127.0.0.1:1"),
            "{e}"
        );
        let e = from_response(503, Some("SlowDown"), None, None, site());
        assert_eq!(e.kind(), RateLimited);
        assert!(e.is_temporary());
        let e = from_response(400, Some("BadDigest"), None, None, site());
        assert_eq!(e.kind(), Corrupted);
        let e = from_response(
            400,
            Some("AuthorizationHeaderMalformed"),
            None,
            Some("eu-west-1".into()),
            site(),
        );
        assert_eq!(e.kind(), ConfigInvalid);
        assert!(e.message().contains("eu-west-1"), "{e}");
    }

    #[test]
    fn unknown_codes_fall_back_on_the_status() {
        assert!(from_response(500, Some("Weird"), None, None, site()).is_temporary());
        assert_eq!(
            from_response(403, None, None, None, site()).kind(),
            PermissionDenied
        );
        assert_eq!(
            from_response(404, None, None, None, site()).kind(),
            NotFound
        );
        assert!(!from_response(404, None, None, None, site()).is_temporary());
    }
}
