//! Exit codes, and printing a fatal error as one line.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also when stdout was closed early: a broken pipe is not an error) |
//! | 1 | error: nothing or not everything was done (bad input, missing source, …) |
//! | 2 | usage error: from clap (unknown flag, missing argument), or a command line ferry cannot run as written ([`Usage`]: unknown option key, value out of range, a location such as `file://otherhost/x` or `s3://b/a/../k`) |
//! | 3 | partial failure: the run finished but some files failed |
//! | 130 | interrupted (Ctrl-C); re-run the same command to resume |

/// Success.
pub const OK: i32 = 0;
/// A fatal error.
pub const ERROR: i32 = 1;
/// A usage error: a command line that parses but asks for something invalid.
pub const USAGE: i32 = 2;
/// Some files failed.
pub const PARTIAL: i32 = 3;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

/// A command line clap accepted but ferry cannot: an unknown option key, a value out of range.
/// [`report`] exits 2 for it, as clap does for its own usage errors.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A [`Usage`] error as an `anyhow::Error`.
pub fn usage_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Formats an error chain on one line. ferry's own errors already include their sources, so
/// the chain stops at the first of them.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in err.chain() {
        parts.push(cause.to_string().replace(['\n', '\r'], " "));
        if cause.is::<ferry_core::Error>() {
            break;
        }
    }
    let line = parts.join(": ");
    // An unclassified core error reads `error: …`; after `ferry: error: ` once is enough.
    let mut text = line.as_str();
    while let Some(rest) = text.strip_prefix("error: ") {
        text = rest;
    }
    text.to_string()
}

/// `eprintln!` that never panics: with standard error closed (`ferry … 2>&1 | head`), the
/// line is lost instead of the process dying in the middle of a copy. The line is redacted
/// ([`ferry_core::redact`]): no secret reaches standard error.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let _ = writeln!(std::io::stderr(), "{}", ferry_core::redact::redact(&text));
        $crate::logs::also_to_file(&text);
    }};
}
pub(crate) use note;

/// Prints `ferry: error: …` and returns [`ERROR`] ([`USAGE`] for a [`Usage`] error, [`OK`] for
/// a broken pipe). With
/// `json` (the command's `--json`), also prints the error as a JSON object on stdout.
pub fn report(err: &anyhow::Error, json: bool) -> i32 {
    let broken_pipe = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return OK;
    }
    let message = ferry_core::redact::redact(&one_line(err)).into_owned();
    let line = format!("ferry: error: {message}");
    note!("{line}");
    let code = if err.chain().any(|c| c.is::<Usage>()) {
        USAGE
    } else {
        ERROR
    };
    if json {
        let kind = err
            .chain()
            .find_map(|c| c.downcast_ref::<ferry_core::Error>())
            .map(ferry_core::Error::kind);
        crate::json::print_error(message, kind, code);
    }
    code
}

/// Prints the error and exits.
pub fn fail(err: &anyhow::Error, json: bool) -> ! {
    std::process::exit(report(err, json))
}

/// A command line clap rejected (or `--help`/`--version`): clap prints it in its own format and
/// exits 2 (0 for help). With `--json` among the arguments, a usage error also prints the JSON
/// error object on stdout.
pub fn usage(err: clap::Error) -> ! {
    if err.use_stderr() && std::env::args_os().any(|a| a == "--json") {
        let message = err
            .kind()
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "invalid command line".to_string());
        let detail = err.to_string();
        let first = detail
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        let message = if first.is_empty() {
            message
        } else {
            first.to_string()
        };
        crate::json::print_error(message, None, err.exit_code());
    }
    err.exit()
}
