//! Where log lines go: standard error, or the `--log-file` instead (appended, never coloured).
//!
//! Log lines are tracing's records (`FERRY_LOG`, `-v`) and the progress stats records. A fatal
//! error is printed on standard error and, with `--log-file`, also appended there, so the file
//! tells the whole story of an unattended run.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

static LOG_FILE: OnceLock<Arc<File>> = OnceLock::new();

/// Opens (creates, appends to) the log file; call once, before logging starts.
pub fn open(path: &Path) -> std::io::Result<Arc<File>> {
    let file = Arc::new(File::options().create(true).append(true).open(path)?);
    let _ = LOG_FILE.set(file.clone());
    Ok(file)
}

/// Writes one log line: to the log file if there is one, else to standard error.
pub fn line(text: &str) {
    match LOG_FILE.get() {
        Some(file) => {
            let _ = writeln!(&**file, "{text}");
        }
        None => crate::exit::note!("{text}"),
    }
}

/// Appends one line to the log file, if there is one (standard error has it already).
pub fn also_to_file(text: &str) {
    if let Some(file) = LOG_FILE.get() {
        let _ = writeln!(&**file, "{text}");
    }
}
