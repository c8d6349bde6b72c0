//! The one table that maps GCS's errors onto ferry's [`ErrorKind`]s, retry status and a
//! one-line, actionable message naming the object.
//!
//! Two sources feed it: errors OpenDAL returns for the requests it makes (already classified
//! by HTTP status into OpenDAL's kinds, with a temporary flag), and error responses to ferry's
//! own JSON API calls (an HTTP status and a JSON body with a `reason`). Rows cite the JSON API's
//! documented reasons ("HTTP status and error codes for JSON"); unknown reasons fall back on
//! the status. Transport failures (refused, reset, timeouts) and 5xx are temporary. Messages
//! name the endpoint, the bucket and what to check, never a credential.

use ferry_core::error::table::{self, row, Row};
use ferry_core::{Error, ErrorKind};

use ErrorKind::*;

const CREDENTIALS: &str = "no valid credentials for {endpoint}: set GOOGLE_APPLICATION_CREDENTIALS or -o credential_path=FILE (a service-account JSON), run `gcloud auth application-default login`, or -o anonymous=true for public buckets";
const PERMISSION: &str = "permission denied on bucket {bucket}: the credentials' principal needs a Storage role there (e.g. roles/storage.objectAdmin)";

/// JSON API error reasons → ferry's kinds. `{bucket}` and `{endpoint}` are filled in.
const TABLE: &[Row] = &[
    // 400
    row("invalid", InvalidInput, false, "invalid request"),
    row("invalidArgument", InvalidInput, false, "invalid argument"),
    row("badRequest", InvalidInput, false, "bad request"),
    row(
        "userProjectMissing",
        ConfigInvalid,
        false,
        "bucket {bucket} is requester-pays: set -o project=PROJECT (the project to bill)",
    ),
    // 401
    row("authError", PermissionDenied, false, CREDENTIALS),
    row("required", PermissionDenied, false, CREDENTIALS),
    row("unauthorized", PermissionDenied, false, CREDENTIALS),
    // 403
    row("forbidden", PermissionDenied, false, PERMISSION),
    row(
        "insufficientPermissions",
        PermissionDenied,
        false,
        PERMISSION,
    ),
    row(
        "accountDisabled",
        PermissionDenied,
        false,
        "the account or its billing is disabled",
    ),
    row(
        "userProjectAccessDenied",
        PermissionDenied,
        false,
        "the principal may not bill the project set with -o project",
    ),
    // 404
    row(
        "notFound",
        NotFound,
        false,
        "no such object (or no bucket {bucket} at {endpoint})",
    ),
    // 409, 412: conditions
    row(
        "conflict",
        AlreadyExists,
        false,
        "the object already exists",
    ),
    row(
        "conditionNotMet",
        ConditionNotMatch,
        false,
        "the object changed (generation precondition failed)",
    ),
    // 429, 5xx: retried with backoff
    row(
        "rateLimitExceeded",
        RateLimited,
        true,
        "rate limit exceeded (too many requests)",
    ),
    row(
        "userRateLimitExceeded",
        RateLimited,
        true,
        "per-user rate limit exceeded",
    ),
    row("backendError", Unexpected, true, "GCS had a backend error"),
    row(
        "internalError",
        Unexpected,
        true,
        "GCS had an internal error",
    ),
];

/// Where an error happened, for its message.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    /// `stat`, `read`, `put`, `compose`, …
    pub op: &'static str,
    /// The bucket.
    pub bucket: &'a str,
    /// The location, as the user wrote it (`gs://bucket/name`).
    pub path: &'a (dyn std::fmt::Display + Sync),
    /// The endpoint, for messages.
    pub endpoint: &'a str,
}

impl Site<'_> {
    fn fill(&self, hint: &str) -> String {
        table::fill(hint, self.bucket, self.endpoint)
    }

    fn finish(&self, error: Error) -> Error {
        error
            .with_operation(self.op)
            .with_context("path", self.path)
            .with_context("backend", "gcs")
    }
}

/// Maps an error response to one of ferry's own JSON API calls (status and body).
pub(crate) fn from_response(status: u16, body: &[u8], site: Site<'_>) -> Error {
    let (reason, detail) = parse_body(body);
    let known = reason.as_deref().and_then(|r| table::lookup(TABLE, r));
    let (kind, temporary, mut message) = match known {
        Some(row) => (row.kind, row.temporary, site.fill(row.hint)),
        None => by_status(status, site),
    };
    let detail = detail.as_deref().map(clip);
    message.push_str(&table::suffix(reason.as_deref(), detail.as_deref(), status));
    let error = Error::new(kind, message);
    let error = if temporary || status >= 500 || status == 429 {
        error.temporary()
    } else {
        error
    };
    site.finish(error)
}

fn by_status(status: u16, site: Site<'_>) -> (ErrorKind, bool, String) {
    match status {
        400 => (InvalidInput, false, "bad request".into()),
        401 => (PermissionDenied, false, site.fill(CREDENTIALS)),
        403 => (PermissionDenied, false, site.fill(PERMISSION)),
        404 => (
            NotFound,
            false,
            site.fill("no such object (or no bucket {bucket} at {endpoint})"),
        ),
        409 => (AlreadyExists, false, "the object already exists".into()),
        412 => (
            ConditionNotMatch,
            false,
            "the object changed (generation precondition failed)".into(),
        ),
        416 => (InvalidInput, false, "range not satisfiable".into()),
        429 => (RateLimited, true, "too many requests".into()),
        // As S3's: a busy store's answer; the engine paces the endpoint (transfer::throttle).
        503 => (RateLimited, true, "service unavailable (503)".into()),
        501 => (
            Unsupported,
            false,
            site.fill("{endpoint} does not implement this operation"),
        ),
        500..=599 => (Unexpected, true, format!("server error (HTTP {status})")),
        _ => (
            Unexpected,
            false,
            format!("unexpected response (HTTP {status}) from {}", site.endpoint),
        ),
    }
}

/// The `reason` and `message` of a JSON API error body, if it is one.
fn parse_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text = String::from_utf8_lossy(body).trim().to_string();
        return (None, (!text.is_empty()).then_some(text));
    };
    let error = &json["error"];
    let reason = error["errors"][0]["reason"]
        .as_str()
        .or_else(|| error["status"].as_str())
        .map(str::to_string);
    let message = error["message"].as_str().map(str::to_string);
    (reason, message)
}

/// Maps a transport failure of ferry's own calls (connect, reset, timeout, body).
pub(crate) fn from_transport(err: reqwest::Error, site: Site<'_>) -> Error {
    let text = chain(&err);
    let error = if err.is_builder() {
        Error::new(
            ConfigInvalid,
            format!("bad request to {}: {text}", site.endpoint),
        )
    } else if err.is_timeout() && !err.is_body() {
        Error::new(
            Unexpected,
            format!(
                "no answer from {} in time: {text} (for a slow store, raise -o read_timeout=SECONDS)",
                site.endpoint
            ),
        )
        .temporary()
        .no_answer()
    } else {
        Error::new(
            Unexpected,
            format!("cannot reach {}: {text}", site.endpoint),
        )
        .temporary()
        .store_unreachable()
    };
    site.finish(error)
}

/// Maps an error OpenDAL returned for a request it made.
pub(crate) fn from_opendal(err: opendal::Error, site: Site<'_>) -> Error {
    use opendal::ErrorKind as O;
    let detail = clip(err.message());
    let (kind, message) = match err.kind() {
        O::NotFound => (
            NotFound,
            site.fill("no such object (or no bucket {bucket} at {endpoint})"),
        ),
        O::PermissionDenied => (
            PermissionDenied,
            if detail.contains("401") || detail.to_ascii_lowercase().contains("credential") {
                site.fill(CREDENTIALS)
            } else {
                site.fill(PERMISSION)
            },
        ),
        O::ConfigInvalid if detail.to_ascii_lowercase().contains("credential") => {
            (ConfigInvalid, site.fill(CREDENTIALS))
        }
        O::ConfigInvalid => (ConfigInvalid, "invalid GCS configuration".into()),
        O::AlreadyExists | O::Conflict => (AlreadyExists, "the object already exists".into()),
        O::ConditionNotMatch => (
            ConditionNotMatch,
            "the object changed (generation precondition failed)".into(),
        ),
        O::RateLimited => (RateLimited, "too many requests".into()),
        O::RangeNotSatisfied => (InvalidInput, "range not satisfiable".into()),
        O::Unsupported => (Unsupported, "not supported by this GCS endpoint".into()),
        O::IsADirectory | O::NotADirectory | O::IsSameFile => {
            (InvalidInput, err.kind().to_string())
        }
        _ => match opendal_status(&err) {
            Some(401) => (PermissionDenied, site.fill(CREDENTIALS)),
            Some(status @ (400 | 409 | 416 | 501 | 503)) => by_status(status, site).into_message(),
            Some(status) => (
                Unexpected,
                format!("request to {} failed (HTTP {status})", site.endpoint),
            ),
            None => (
                Unexpected,
                match transport_cause(&err) {
                    Some(cause) => format!("request to {} failed ({cause})", site.endpoint),
                    None => format!("request to {} failed", site.endpoint),
                },
            ),
        },
    };
    let message = if detail.is_empty() {
        message
    } else {
        format!("{message} [{detail}]")
    };
    let mut error = Error::new(kind, message);
    if opendal_status(&err).is_none() && cannot_connect(&err) {
        error = error.store_unreachable();
    }
    let error = if err.is_temporary() || kind == RateLimited {
        error.temporary()
    } else {
        error
    };
    site.finish(error)
}

/// Whether a failure without a response is a connection that could not be made or timed out:
/// the endpoint itself is unreachable ([`Error::store_unreachable`]).
fn cannot_connect(err: &opendal::Error) -> bool {
    let mut next = std::error::Error::source(err);
    while let Some(source) = next {
        if let Some(e) = source.downcast_ref::<reqwest::Error>() {
            if e.is_connect() || e.is_timeout() {
                return true;
            }
        }
        if let Some(e) = source.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            if matches!(e.kind(), Io::ConnectionRefused | Io::TimedOut) {
                return true;
            }
        }
        next = source.source();
    }
    false
}

/// The innermost cause of a failure without a response (refused, reset, unreachable), which
/// OpenDAL's own message ("send http request") leaves out. Transport errors name no secrets.
fn transport_cause(err: &opendal::Error) -> Option<String> {
    let mut source = std::error::Error::source(err)?;
    while let Some(next) = source.source() {
        source = next;
    }
    Some(clip(&source.to_string()))
}

/// The HTTP status of the response an OpenDAL error came from (OpenDAL keeps the response's
/// head in the error's context, `status: 416`), for statuses it files under `Unexpected`.
pub(crate) fn opendal_status(err: &opendal::Error) -> Option<u16> {
    let text = err.to_string();
    let at = text.find("status: ")? + "status: ".len();
    text[at..].get(..3)?.parse().ok()
}

trait IntoMessage {
    fn into_message(self) -> (ErrorKind, String);
}

impl IntoMessage for (ErrorKind, bool, String) {
    fn into_message(self) -> (ErrorKind, String) {
        (self.0, self.2)
    }
}

/// A message shortened to one line of at most 300 characters.
fn clip(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
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
            path: &"gs://bkt/dir/f",
            endpoint: "http://127.0.0.1:1",
        }
    }

    fn body(code: u16, reason: &str) -> Vec<u8> {
        format!(
            r#"{{"error":{{"code":{code},"message":"detail text","errors":[{{"reason":"{reason}","message":"x"}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn reasons_map_to_kinds_with_actionable_messages() {
        let e = from_response(401, &body(401, "required"), site());
        assert_eq!(e.kind(), PermissionDenied);
        assert!(
            e.message().contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{e}"
        );
        assert!(e.to_string().contains("gs://bkt/dir/f"), "{e}");
        let e = from_response(403, &body(403, "forbidden"), site());
        assert_eq!(e.kind(), PermissionDenied);
        assert!(e.message().contains("bucket bkt"), "{e}");
        let e = from_response(404, &body(404, "notFound"), site());
        assert_eq!((e.kind(), e.is_temporary()), (NotFound, false));
        let e = from_response(412, &body(412, "conditionNotMet"), site());
        assert_eq!(e.kind(), ConditionNotMatch);
        let e = from_response(409, &body(409, "conflict"), site());
        assert_eq!(e.kind(), AlreadyExists);
        let e = from_response(429, &body(429, "rateLimitExceeded"), site());
        assert_eq!(e.kind(), RateLimited);
        assert!(e.is_temporary());
        let e = from_response(400, &body(400, "userProjectMissing"), site());
        assert_eq!(e.kind(), ConfigInvalid);
        assert!(e.message().contains("project"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn unknown_reasons_and_bodies_fall_back_on_the_status() {
        let e = from_response(503, b"<html>\nbusy\n</html>", site());
        assert!(e.is_temporary(), "{e}");
        assert_eq!(e.kind(), RateLimited, "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");
        assert_eq!(from_response(404, b"", site()).kind(), NotFound);
        assert_eq!(from_response(403, b"", site()).kind(), PermissionDenied);
        assert_eq!(
            from_response(500, &body(500, "weird"), site()).kind(),
            Unexpected
        );
        assert!(!from_response(400, b"", site()).is_temporary());
    }

    #[test]
    fn opendal_errors_keep_kind_and_temporariness() {
        let e = from_opendal(
            opendal::Error::new(opendal::ErrorKind::NotFound, "gone"),
            site(),
        );
        assert_eq!(e.kind(), NotFound);
        assert!(e.to_string().contains("gs://bkt/dir/f"), "{e}");
        let e = from_opendal(
            opendal::Error::new(opendal::ErrorKind::Unexpected, "reset\nby peer").set_temporary(),
            site(),
        );
        assert!(e.is_temporary());
        assert!(!e.to_string().contains('\n'));
        let e = from_opendal(
            opendal::Error::new(opendal::ErrorKind::PermissionDenied, "403 forbidden"),
            site(),
        );
        assert_eq!(e.kind(), PermissionDenied);
    }

    #[test]
    fn a_failure_without_a_response_names_its_cause() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused here");
        let e = from_opendal(
            opendal::Error::new(opendal::ErrorKind::Unexpected, "send http request")
                .set_source(refused)
                .set_temporary(),
            site(),
        );
        assert!(e.is_temporary());
        let text = e.to_string();
        assert!(
            text.contains("failed (refused here)") && text.contains("[send http request]"),
            "{text}"
        );
    }
}
