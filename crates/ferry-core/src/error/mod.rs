//! The one error type of ferry's libraries: a kind, a retry status and context.
//!
//! Every backend maps its provider's errors onto [`ErrorKind`] in one table, and says whether a
//! failure is worth retrying ([`Retry`]). The transfer engine retries only `Temporary` errors and
//! marks the final failure `Persistent`, so that no outer layer retries it again. `Display` is a
//! single line: `kind: message (op=…, backend=…, path=…): source`.

pub mod table;

use std::fmt;
use std::sync::Arc;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The file, object, bucket or directory does not exist.
    NotFound,
    /// The destination exists and the operation must not replace it.
    AlreadyExists,
    /// Credentials are missing or wrong, or the principal may not do this.
    PermissionDenied,
    /// The store cannot do this operation; callers fall back.
    Unsupported,
    /// The configuration (endpoint, credentials, options) is invalid.
    ConfigInvalid,
    /// The user's input is wrong (bad URI, bad option, file where a directory is needed).
    InvalidInput,
    /// The store asks us to slow down.
    RateLimited,
    /// A precondition (if-match, expected size) did not hold.
    ConditionNotMatch,
    /// Data did not match its size or checksum.
    Corrupted,
    /// The operation was cancelled (Ctrl-C).
    Interrupted,
    /// Anything else: I/O errors, protocol errors, bugs.
    Unexpected,
}

impl ErrorKind {
    /// A short human name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::ConfigInvalid => "invalid configuration",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::ConditionNotMatch => "condition not met",
            ErrorKind::Corrupted => "corrupted data",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Unexpected => "error",
        }
    }
}

/// Whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Retrying will not help (not found, permission, bad input).
    Permanent,
    /// A transient failure (timeout, 503, connection reset): retry with backoff.
    Temporary,
    /// A temporary failure whose retries are exhausted; do not retry again.
    Persistent,
}

/// The error type of every ferry library crate.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    retry: Retry,
    message: String,
    operation: Option<&'static str>,
    context: Vec<(&'static str, String)>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    unreachable: bool,
    no_answer: bool,
}

/// `Result` with ferry's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new permanent error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        let retry = match kind {
            ErrorKind::RateLimited => Retry::Temporary,
            _ => Retry::Permanent,
        };
        Error {
            kind,
            retry,
            message: message.into(),
            operation: None,
            context: Vec::new(),
            source: None,
            unreachable: false,
            no_answer: false,
        }
    }

    /// Shorthand for an `Unsupported` error naming the operation.
    pub fn unsupported(operation: &'static str) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            format!("{operation} is not supported here"),
        )
        .with_operation(operation)
    }

    /// Marks the error temporary (worth retrying).
    pub fn temporary(mut self) -> Error {
        self.retry = Retry::Temporary;
        self
    }

    /// Marks an error that says the store itself cannot be used — it cannot be reached
    /// (connection refused, name not resolved, no answer in time) or refuses the credentials —
    /// rather than something about one file. Callers checking many files stop at the first
    /// such error instead of paying for it once per file.
    pub fn store_unreachable(mut self) -> Error {
        self.unreachable = true;
        self
    }

    /// Whether the error is about the store as a whole ([`Error::store_unreachable`]).
    pub fn is_store_unreachable(&self) -> bool {
        self.unreachable
    }

    /// Marks an error of a request the server took but never answered within the backend's
    /// timeout, after the backend's own client already re-sent it: the store is unreachable
    /// ([`Error::store_unreachable`]), and no retry loop sends the request again — each try
    /// would cost the whole timeout again (a silent server would hold a run for many minutes).
    /// A stream that stalls after its answer began is not this: it stays retryable.
    pub fn no_answer(mut self) -> Error {
        self.unreachable = true;
        self.no_answer = true;
        self
    }

    /// Whether the server never answered ([`Error::no_answer`]).
    pub fn is_no_answer(&self) -> bool {
        self.no_answer
    }

    /// Marks a temporary error whose retries ran out.
    pub fn persistent(mut self) -> Error {
        if self.retry == Retry::Temporary {
            self.retry = Retry::Persistent;
        }
        self
    }

    /// Sets the operation (`stat`, `read`, `write`, …) unless one is already set.
    pub fn with_operation(mut self, operation: &'static str) -> Error {
        self.operation.get_or_insert(operation);
        self
    }

    /// Replaces `from` by `to` in the message and the context: the engine names the file the
    /// user asked for, not the hidden temp name it was being written under.
    pub fn renamed(mut self, from: &str, to: &str) -> Error {
        if from.is_empty() || from == to {
            return self;
        }
        self.message = self.message.replace(from, to);
        for (_, value) in &mut self.context {
            *value = value.replace(from, to);
        }
        self
    }

    /// Adds a key–value pair of context (`backend`, `path`, `range`, …).
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Error {
        if !self.context.iter().any(|(k, _)| *k == key) {
            self.context.push((key, value.to_string()));
        }
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Arc::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The retry status.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// Whether retrying may help.
    pub fn is_temporary(&self) -> bool {
        self.retry == Retry::Temporary
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The operation, if set.
    pub fn operation(&self) -> Option<&'static str> {
        self.operation
    }

    /// A context value by key.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Maps a `std::io::Error` onto a kind and retry status, with context.
    pub fn from_io(
        error: std::io::Error,
        operation: &'static str,
        path: impl fmt::Display,
    ) -> Error {
        use std::io::ErrorKind as Io;
        let (kind, temporary) = match error.kind() {
            Io::NotFound => (ErrorKind::NotFound, false),
            Io::PermissionDenied => (ErrorKind::PermissionDenied, false),
            Io::AlreadyExists => (ErrorKind::AlreadyExists, false),
            Io::InvalidInput | Io::InvalidData => (ErrorKind::InvalidInput, false),
            Io::Unsupported => (ErrorKind::Unsupported, false),
            Io::Interrupted | Io::TimedOut | Io::WouldBlock => (ErrorKind::Unexpected, true),
            Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe => {
                (ErrorKind::Unexpected, true)
            }
            Io::UnexpectedEof => (ErrorKind::Corrupted, false),
            _ => match error.raw_os_error() {
                Some(20) => (ErrorKind::InvalidInput, false), // ENOTDIR
                Some(21) => (ErrorKind::InvalidInput, false), // EISDIR
                Some(28) => (ErrorKind::Unexpected, false),   // ENOSPC
                _ => (ErrorKind::Unexpected, false),
            },
        };
        let message = match error.raw_os_error() {
            Some(20) => "a path component is a file, not a directory".to_string(),
            Some(21) => "is a directory".to_string(),
            _ => kind.as_str().to_string(),
        };
        let err = Error::new(kind, message)
            .with_operation(operation)
            .with_context("path", path)
            .with_source(error);
        if temporary {
            err.temporary()
        } else {
            err
        }
    }
}

/// An error and its sources on one line, `outer: inner: …`, each text once (a source whose text
/// an earlier part already contains is left out) and line breaks flattened: the form every
/// backend uses to quote a client library's error.
pub fn chain_on_one_line(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        let text = e.to_string().replace(['\n', '\r'], " ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::new();
        use fmt::Write;
        let kind = self.kind.as_str();
        if self.message == kind || self.message.starts_with(kind) {
            line.push_str(&self.message);
        } else {
            let _ = write!(line, "{kind}: {}", self.message);
        }
        if let Some(path) = self.context("path") {
            let _ = write!(line, ": {path}");
        }
        let rest: Vec<String> = self
            .operation
            .map(|op| format!("op={op}"))
            .into_iter()
            .chain(
                self.context
                    .iter()
                    .filter(|(k, _)| *k != "path")
                    .map(|(k, v)| format!("{k}={v}")),
            )
            .collect();
        if !rest.is_empty() {
            let _ = write!(line, " [{}]", rest.join(" "));
        }
        if let Some(source) = &self.source {
            let _ = write!(line, ": {source}");
        }
        // One line, always: sources from SDKs sometimes carry newlines.
        f.write_str(&line.replace(['\n', '\r'], " "))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}, {:?}, {self})", self.kind, self.retry)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_read_on_one_line_each_text_once() {
        /// A test error with a message and an optional source.
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl fmt::Display for Layer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1
                    .as_deref()
                    .map(|l| l as &(dyn std::error::Error + 'static))
            }
        }
        let cut = Layer(
            "dispatch failure",
            Some(Box::new(Layer("connection reset\nby peer", None))),
        );
        assert_eq!(
            chain_on_one_line(&cut),
            "dispatch failure: connection reset by peer"
        );
        let repeated = Layer(
            "timed out: deadline",
            Some(Box::new(Layer("deadline", None))),
        );
        assert_eq!(chain_on_one_line(&repeated), "timed out: deadline");
    }

    #[test]
    fn display_is_one_line_with_context() {
        let err = Error::new(ErrorKind::NotFound, "no such file")
            .with_operation("stat")
            .with_context("backend", "local")
            .with_context("path", "file:/x")
            .with_source(std::io::Error::other("line one\nline two"));
        let text = err.to_string();
        assert_eq!(
            text,
            "not found: no such file: file:/x [op=stat backend=local]: line one line two"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn retry_status_transitions() {
        let err = Error::new(ErrorKind::Unexpected, "reset").temporary();
        assert!(err.is_temporary());
        let err = err.persistent();
        assert_eq!(err.retry(), Retry::Persistent);
        assert!(!err.is_temporary());
        assert_eq!(
            Error::new(ErrorKind::NotFound, "x").persistent().retry(),
            Retry::Permanent
        );
        assert!(Error::new(ErrorKind::RateLimited, "slow down").is_temporary());
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let nf = Error::from_io(
            std::io::Error::from(std::io::ErrorKind::NotFound),
            "open",
            "/x",
        );
        assert_eq!(nf.kind(), ErrorKind::NotFound);
        assert_eq!(nf.context("path"), Some("/x"));
        let pd = Error::from_io(
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            "open",
            "/x",
        );
        assert_eq!(pd.kind(), ErrorKind::PermissionDenied);
        let reset = Error::from_io(
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            "read",
            "/x",
        );
        assert!(reset.is_temporary());
    }
}
