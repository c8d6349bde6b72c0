//! The errors of the Flink control plane: each names what failed and where (the cluster's
//! URL, the job, the trigger) in one line, and says which ones a retry may cure.

use std::path::PathBuf;

/// A control-plane error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The REST endpoint could not be reached (connection refused, DNS, TLS, timeout).
    #[error("cannot reach Flink at {url} ({what}): {reason}")]
    Unreachable {
        /// The cluster's URL.
        url: String,
        /// The request, e.g. `GET /jobs/overview`.
        what: String,
        /// Why.
        reason: String,
    },
    /// Flink answered with an HTTP error.
    #[error("Flink at {url} answered {status} to {what}: {message}")]
    Http {
        /// The cluster's URL.
        url: String,
        /// The request, e.g. `POST /jobs/…/savepoints`.
        what: String,
        /// The HTTP status.
        status: u16,
        /// Flink's message (its first `errors` entry, first line).
        message: String,
    },
    /// No job with that id (or name) on the cluster.
    #[error("no job {job} at {url}")]
    JobNotFound {
        /// The cluster's URL.
        url: String,
        /// The id or name asked for.
        job: String,
    },
    /// The job exists but is not running.
    #[error("job {job} at {url} is {state}, not RUNNING")]
    NotRunning {
        /// The cluster's URL.
        url: String,
        /// The job id.
        job: String,
        /// Its state.
        state: String,
    },
    /// A job name that matches several running jobs.
    #[error("job name {name:?} matches {count} jobs at {url}; give the job id")]
    Ambiguous {
        /// The cluster's URL.
        url: String,
        /// The name.
        name: String,
        /// How many.
        count: usize,
    },
    /// The cluster's Flink version lacks what was asked for.
    #[error("{what} is not supported by Flink {version} at {url} (needs Flink {needs} or later)")]
    Unsupported {
        /// The cluster's URL.
        url: String,
        /// The feature.
        what: String,
        /// The cluster's version.
        version: String,
        /// The first version that has it.
        needs: String,
    },
    /// Flink reported the savepoint/checkpoint as failed.
    #[error("the {what} of job {job} at {url} failed: {cause}")]
    OperationFailed {
        /// The cluster's URL.
        url: String,
        /// `savepoint`, `stop-with-savepoint` or `checkpoint`.
        what: String,
        /// The job id.
        job: String,
        /// Flink's failure cause, on one line.
        cause: String,
    },
    /// The overall `--timeout` passed while Flink was still working.
    #[error("timed out after {seconds}s waiting for the {what} of job {job} at {url} (trigger {trigger}); Flink may still complete it: run the same command again to pick up its result")]
    Timeout {
        /// The cluster's URL.
        url: String,
        /// The operation.
        what: String,
        /// The job id.
        job: String,
        /// The trigger id.
        trigger: String,
        /// The timeout.
        seconds: u64,
    },
    /// Flink answered something ferry cannot read.
    #[error("unexpected answer from Flink at {url} to {what}: {reason}")]
    BadAnswer {
        /// The cluster's URL.
        url: String,
        /// The request.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A client setting is invalid (URL, CA file, header).
    #[error("{0}")]
    Config(String),
    /// The trigger state file could not be read or written.
    #[error("trigger state {}: {source}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Error {
    /// Whether sending the same safe request again may succeed.
    pub fn is_temporary(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }

    /// The HTTP status, for an HTTP error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
