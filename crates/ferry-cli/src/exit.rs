//! Exit codes, and printing a fatal error as one line.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also when stdout was closed early: a broken pipe is not an error) |
//! | 1 | error: nothing or not everything was done (bad input, missing source, …) |
//! | 2 | usage error (unknown flag, missing argument) — from clap |
//! | 3 | partial failure: the run finished but some files failed |
//! | 130 | interrupted (Ctrl-C); re-run the same command to resume |

/// Success.
pub const OK: i32 = 0;
/// A fatal error.
pub const ERROR: i32 = 1;
/// Some files failed.
pub const PARTIAL: i32 = 3;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

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
    parts.join(": ")
}

/// `eprintln!` that never panics: with standard error closed (`ferry … 2>&1 | head`), the
/// line is lost instead of the process dying in the middle of a copy.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use note;

/// Prints `ferry: error: …` and returns [`ERROR`] (or [`OK`] for a broken pipe).
pub fn report(err: &anyhow::Error) -> i32 {
    let broken_pipe = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return OK;
    }
    note!("ferry: error: {}", one_line(err));
    ERROR
}

/// Prints the error and exits.
pub fn fail(err: &anyhow::Error) -> ! {
    std::process::exit(report(err))
}
