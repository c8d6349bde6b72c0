//! Azure's answers as ferry errors: one table from the `x-ms-error-code` Azure sends (see
//! <https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes>) to an
//! error kind, whether it is worth another try, and a one-line hint naming the container,
//! account or endpoint; unknown codes fall back to the HTTP status.

use ferry_core::{Error, ErrorKind};

use ErrorKind::*;

const CREDENTIALS: &str = "the credentials for account {account} were refused at {endpoint}: check the account key, SAS token or service principal (-o account_key, -o sas_token, AZURE_STORAGE_CONNECTION_STRING)";
const PERMISSION: &str = "permission denied in container {container} of account {account}: the SAS token or principal lacks the permission this needs (read, write, list, delete; or a Storage Blob Data role)";

const DENIED: &str = "access denied to container {container} of account {account} at {endpoint}: check the credentials (account key, SAS token, principal) and their permissions";

/// `x-ms-error-code` → kind, temporary, hint.
const TABLE: &[(&str, ErrorKind, bool, &str)] = &[
    ("AuthenticationFailed", PermissionDenied, false, CREDENTIALS),
    ("InvalidAuthenticationInfo", PermissionDenied, false, CREDENTIALS),
    ("NoAuthenticationInformation", PermissionDenied, false, CREDENTIALS),
    // Real Azure: a SAS or principal without the permission; Azurite: also a wrong key.
    ("AuthorizationFailure", PermissionDenied, false, DENIED),
    ("AuthorizationPermissionMismatch", PermissionDenied, false, PERMISSION),
    ("AuthorizationResourceTypeMismatch", PermissionDenied, false, PERMISSION),
    ("InsufficientAccountPermissions", PermissionDenied, false, PERMISSION),
    ("AccountIsDisabled", PermissionDenied, false, "account {account} is disabled"),
    ("ContainerNotFound", NotFound, false, "no such container {container} in account {account} at {endpoint}: check the container name and the endpoint"),
    ("BlobNotFound", NotFound, false, "no such blob"),
    ("ResourceNotFound", NotFound, false, "no such container {container} or account {account} at {endpoint}"),
    ("InvalidResourceName", InvalidInput, false, "invalid container or blob name"),
    ("OutOfRangeInput", InvalidInput, false, "invalid container or blob name"),
    ("InvalidBlockList", ConditionNotMatch, false, "the upload's blocks are gone (committed or discarded since)"),
    ("InvalidBlobOrBlock", InvalidInput, false, "invalid blob or block"),
    ("Md5Mismatch", Corrupted, true, "the data arrived damaged (its MD5 did not match)"),
    ("InvalidMd5", Corrupted, true, "the data arrived damaged (its MD5 did not match)"),
    ("ConditionNotMet", ConditionNotMatch, false, "the blob changed since it was listed"),
    ("SourceConditionNotMet", ConditionNotMatch, false, "the source blob changed since it was listed"),
    ("TargetConditionNotMet", ConditionNotMatch, false, "the destination blob changed"),
    ("CannotVerifyCopySource", PermissionDenied, false, "the copy source cannot be read with these credentials"),
    ("BlobAlreadyExists", AlreadyExists, false, "the blob already exists"),
    ("ServerBusy", RateLimited, true, "the account is busy (throttled)"),
    ("OperationTimedOut", Unexpected, true, "the operation timed out on the server"),
    ("InternalError", Unexpected, true, "Azure had an internal error"),
];

/// Where a request went, for messages.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    pub op: &'static str,
    pub container: &'a str,
    pub account: &'a str,
    pub path: &'a (dyn std::fmt::Display + Sync),
    pub endpoint: &'a str,
}

impl Site<'_> {
    fn fill(&self, hint: &str) -> String {
        hint.replace("{container}", self.container)
            .replace("{account}", self.account)
            .replace("{endpoint}", self.endpoint)
    }

    pub(crate) fn finish(&self, error: Error) -> Error {
        error
            .with_operation(self.op)
            .with_context("path", self.path)
            .with_context("backend", "azure")
    }
}

/// The error of an answer with `status`, `code` (`x-ms-error-code`) and XML `body`.
pub(crate) fn from_response(status: u16, code: Option<&str>, body: &[u8], site: Site<'_>) -> Error {
    let known = code.and_then(|c| TABLE.iter().find(|row| row.0 == c));
    let (kind, temporary, mut message) = match known {
        Some(&(_, kind, temporary, hint)) => (kind, temporary, site.fill(hint)),
        None => by_status(status, site),
    };
    let detail = roxmltree::Document::parse(std::str::from_utf8(body).unwrap_or(""))
        .ok()
        .and_then(|doc| {
            doc.descendants()
                .find(|n| n.has_tag_name("Message"))
                .and_then(|n| n.text())
                .map(|t| t.lines().next().unwrap_or("").trim().to_string())
        });
    message.push_str(&ferry_core::error::table::suffix(
        code,
        detail.as_deref(),
        status,
    ));
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
            site.fill("no such blob (or container {container})"),
        ),
        409 => (AlreadyExists, false, "conflict".into()),
        412 => (
            ConditionNotMatch,
            false,
            "the blob changed since it was listed".into(),
        ),
        416 => (InvalidInput, false, "range not satisfiable".into()),
        429 | 503 => (RateLimited, true, format!("throttled (HTTP {status})")),
        500..=599 => (Unexpected, true, format!("server error (HTTP {status})")),
        _ => (
            Unexpected,
            false,
            format!("unexpected answer from {}", site.endpoint),
        ),
    }
}

/// The error of a request that got no answer: unreachable, or silent past `read_timeout`.
pub(crate) fn from_transport(err: reqwest::Error, site: Site<'_>) -> Error {
    let text = ferry_core::error::chain_on_one_line(&err);
    let error = if err.is_builder() {
        Error::new(
            ConfigInvalid,
            format!("bad request to {}: {text}", site.endpoint),
        )
    } else if err.is_timeout() && !err.is_connect() {
        Error::new(
            Unexpected,
            format!(
                "no answer from {} in time: {text} (for a slow store, raise -o read_timeout=SECONDS)",
                site.endpoint
            ),
        )
        .temporary()
        .no_answer()
        .store_unreachable()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_with_names_in_the_message() {
        let path = "wasb://c@a.blob.core.windows.net/x";
        let site = Site {
            op: "stat",
            container: "c",
            account: "a",
            path: &path,
            endpoint: "http://127.0.0.1:1",
        };
        let body = b"<?xml version=\"1.0\"?><Error><Code>ContainerNotFound</Code><Message>The specified container does not exist.\nRequestId:1</Message></Error>";
        let err = from_response(404, Some("ContainerNotFound"), body, site);
        assert_eq!(err.kind(), NotFound);
        let text = err.to_string();
        assert!(text.contains("no such container c in account a"), "{text}");
        assert!(
            !text.contains('\n') && !text.contains("RequestId"),
            "{text}"
        );
        let err = from_response(403, Some("AuthenticationFailed"), b"", site);
        assert_eq!(err.kind(), PermissionDenied);
        assert!(from_response(503, Some("ServerBusy"), b"", site).is_temporary());
        assert_eq!(from_response(418, None, b"", site).kind(), Unexpected);
    }
}
