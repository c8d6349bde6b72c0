//! The scaffolding of a backend's cited error table: each backend's `error.rs` is one
//! `const TABLE: &[Row]` mapping the store's documented error codes (S3 error codes, GCS JSON
//! API reasons, Java exception classes, Azure error codes) onto ferry's [`ErrorKind`], whether
//! retrying can help, and a one-line hint saying what to check. Hints may name `{bucket}` and
//! `{endpoint}` (see [`fill`]); they never hold a secret. Codes a table does not know fall back
//! on the HTTP status, which [`temporary_status`] classifies the same way for every store.

use super::ErrorKind;

/// How one documented error code maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The store's code, exactly as it sends it (`NoSuchBucket`, `rateLimitExceeded`,
    /// `java.io.FileNotFoundException`).
    pub code: &'static str,
    /// What it means to ferry.
    pub kind: ErrorKind,
    /// Whether retrying can help.
    pub temporary: bool,
    /// The one-line message: what happened and what to check.
    pub hint: &'static str,
}

/// A row (for `const` tables).
pub const fn row(code: &'static str, kind: ErrorKind, temporary: bool, hint: &'static str) -> Row {
    Row {
        code,
        kind,
        temporary,
        hint,
    }
}

/// The row of `code` in `table`, if it has one.
pub fn lookup(table: &'static [Row], code: &str) -> Option<&'static Row> {
    table.iter().find(|row| row.code == code)
}

/// A hint with `{bucket}` and `{endpoint}` filled in.
pub fn fill(hint: &str, bucket: &str, endpoint: &str) -> String {
    hint.replace("{bucket}", bucket)
        .replace("{endpoint}", endpoint)
}

/// Whether an HTTP status says the request may succeed if sent again: 429 (too many
/// requests) and every 5xx except 501 (not implemented).
pub fn temporary_status(status: u16) -> bool {
    status == 429 || (status >= 500 && status != 501)
}

/// What follows a message so that the store's own words stay visible: ` [code: detail]`,
/// ` [code]`, or ` [HTTP status]` when there is no code (nothing for status 0: no response).
pub fn suffix(code: Option<&str>, detail: Option<&str>, status: u16) -> String {
    match (code, detail) {
        (Some(code), Some(detail)) if !detail.is_empty() => format!(" [{code}: {detail}]"),
        (Some(code), _) => format!(" [{code}]"),
        (None, _) if status != 0 => format!(" [HTTP {status}]"),
        _ => String::new(),
    }
}

/// Checks a table: codes are unique and hints are one line. Backends call it in a unit test.
pub fn check(table: &[Row]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for row in table {
        if !seen.insert(row.code) {
            return Err(format!("{} appears twice", row.code));
        }
        if row.hint.is_empty() || row.hint.contains('\n') {
            return Err(format!("{}: the hint must be one non-empty line", row.code));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Row] = &[
        row(
            "NoSuchBucket",
            ErrorKind::NotFound,
            false,
            "no bucket {bucket} at {endpoint}",
        ),
        row("SlowDown", ErrorKind::RateLimited, true, "slow down"),
    ];

    #[test]
    fn rows_are_found_by_code_and_hints_filled() {
        let found = lookup(TABLE, "NoSuchBucket").unwrap();
        assert_eq!(found.kind, ErrorKind::NotFound);
        assert_eq!(fill(found.hint, "b", "http://e"), "no bucket b at http://e");
        assert!(lookup(TABLE, "nosuchbucket").is_none(), "codes are exact");
        assert_eq!(check(TABLE), Ok(()));
        let twice = [TABLE[0], TABLE[0]];
        assert!(check(&twice).unwrap_err().contains("twice"));
    }

    #[test]
    fn statuses_and_suffixes() {
        assert!(temporary_status(503) && temporary_status(429) && temporary_status(500));
        assert!(!temporary_status(501) && !temporary_status(404) && !temporary_status(412));
        assert_eq!(suffix(Some("C"), Some("d"), 400), " [C: d]");
        assert_eq!(suffix(Some("C"), Some(""), 400), " [C]");
        assert_eq!(suffix(None, Some("d"), 404), " [HTTP 404]");
        assert_eq!(suffix(None, None, 0), "");
    }
}
