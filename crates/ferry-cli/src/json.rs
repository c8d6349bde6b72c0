//! The `--json` outputs: every object carries `schema_version` (documented in docs/json.md),
//! and an error that ends a run before its report still prints a JSON object on stdout.

use std::io::Write;

use serde::Serialize;

/// Version of the `--json` schemas of cp, migrate, verify, ls and rewrite, and of the error
/// object. Fields are only ever added within a version.
pub const SCHEMA_VERSION: u32 = 1;

/// A report with `schema_version` first.
#[derive(Debug, Serialize)]
struct Versioned<'a, T: Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// Prints `body`, with `schema_version`, as pretty JSON on stdout.
pub fn print<T: Serialize>(body: &T) -> anyhow::Result<()> {
    print_raw(&Versioned {
        schema_version: SCHEMA_VERSION,
        body,
    })
}

/// Prints `value` as it is (it carries its own `schema_version`) as pretty JSON on stdout.
pub fn print_raw<T: Serialize>(value: &T) -> anyhow::Result<()> {
    // Redacted like every other output: error messages inside a report may quote a request.
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", ferry_core::redact::redact(&text))?;
    Ok(())
}

/// The object printed instead of a report when the run fails before it has one.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    /// Always `false`.
    pub ok: bool,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The error of an [`ErrorReport`].
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// The one-line message, as printed after `ferry: error: `.
    pub message: String,
    /// The kind of ferry error (`not_found`, `config_invalid`, …), when known.
    pub kind: Option<ferry_core::ErrorKind>,
    /// The exit code (1 error, 2 usage).
    pub exit_code: i32,
}

/// Prints the error object on stdout; a closed stdout is ignored (the error is on stderr).
pub fn print_error(message: String, kind: Option<ferry_core::ErrorKind>, exit_code: i32) {
    let _ = print(&ErrorReport {
        ok: false,
        error: ErrorBody {
            message,
            kind,
            exit_code,
        },
    });
}
