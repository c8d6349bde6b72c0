//! Where log lines go: standard error, or the `--log-file` instead (appended, never coloured).
//!
//! Log lines are tracing's records (`FERRY_LOG`, `-v`) and the progress stats records. A fatal
//! error is printed on standard error and, with `--log-file`, also appended there, so the file
//! tells the whole story of an unattended run.
//!
//! Every line, whoever wrote it (ferry, an SDK's trace of a signed request), passes through
//! [`ferry_core::redact`] on its way out: no secret ferry was given, and no signature, token or
//! key header, reaches standard error or the log file at any verbosity.

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
            let _ = writeln!(&**file, "{}", ferry_core::redact::redact(text));
        }
        None => crate::exit::note!("{text}"),
    }
}

/// Appends one line to the log file, if there is one (standard error has it already).
pub fn also_to_file(text: &str) {
    if let Some(file) = LOG_FILE.get() {
        let _ = writeln!(&**file, "{}", ferry_core::redact::redact(text));
    }
}

/// Where tracing's records go: standard error or the log file.
#[derive(Clone)]
pub enum Sink {
    /// Standard error.
    Stderr,
    /// The `--log-file`.
    File(Arc<File>),
}

/// A tracing writer that collects one record and writes it redacted, in one piece, when the
/// record is done (so a secret split across two writes is still seen whole).
pub struct Redacting {
    sink: Sink,
    record: Vec<u8>,
}

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.record.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Redacting {
    fn drop(&mut self) {
        if self.record.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.record);
        let clean = ferry_core::redact::redact(&text);
        let _ = match &self.sink {
            Sink::Stderr => std::io::stderr().write_all(clean.as_bytes()),
            Sink::File(file) => (&**file).write_all(clean.as_bytes()),
        };
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Redacting;

    fn make_writer(&'a self) -> Redacting {
        Redacting {
            sink: self.clone(),
            record: Vec::new(),
        }
    }
}

/// Registers the secrets of this run with [`ferry_core::redact`]: the values of secret keys
/// given with `-o`/`--option`/`--src-option`/`--dst-option` (read from the raw arguments, so
/// every command is covered), and the credentials in the environment (AWS keys and session
/// token, the GCS credential file's private key, Azure keys, SAS tokens and connection
/// strings). Backends add what they read from files (a Flink configuration's secret key).
pub fn register_secrets() {
    use ferry_core::redact;
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut next_is_option = false;
    let mut next_is_header = false;
    for arg in &args {
        // --flink-header 'Name: value': the value is a secret.
        let header = if next_is_header {
            next_is_header = false;
            Some(arg.as_str())
        } else if arg == "--flink-header" {
            next_is_header = true;
            None
        } else {
            arg.strip_prefix("--flink-header=")
        };
        if let Some((_, value)) = header.and_then(|h| h.split_once(':')) {
            if !value.trim().is_empty() {
                redact::add_secret(value.trim());
            }
        }
        let pair = if next_is_option {
            next_is_option = false;
            Some(arg.as_str())
        } else if ["-o", "--option", "--src-option", "--dst-option"].contains(&arg.as_str()) {
            next_is_option = true;
            None
        } else {
            ["--option=", "--src-option=", "--dst-option="]
                .iter()
                .find_map(|p| arg.strip_prefix(p))
                .or_else(|| arg.strip_prefix("-o").filter(|rest| rest.contains('=')))
        };
        if let Some((key, value)) = pair.and_then(|p| p.split_once('=')) {
            if redact::is_secret_key(key.trim()) {
                redact::add_secret(value);
            }
            if key.trim() == "credential_path" {
                if let Ok(text) = std::fs::read_to_string(value.trim()) {
                    redact::add_secrets_of_json(&text);
                }
            }
        }
    }
    for name in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
        "AZURE_CLIENT_SECRET",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "HADOOP_TOKEN",
    ] {
        if let Ok(value) = std::env::var(name) {
            redact::add_secret(&value);
        }
    }
    if let Ok(text) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
        redact::add_secrets_of_connection_string(&text);
    }
    if let Ok(path) = std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
        if let Ok(text) = std::fs::read_to_string(path) {
            redact::add_secrets_of_json(&text);
        }
    }
}
