//! ferry's Flink control plane: a small client of Flink's REST API (the JobManager's, or a
//! gateway's in front of it) to list jobs, take savepoints, stop with a savepoint, trigger
//! checkpoints and read a job's checkpoint history — the steps before and after moving a
//! snapshot.
//!
//! * [`client`] — HTTP: rustls, extra CA, extra headers (secret), timeouts, retried GETs.
//! * [`api`] — the REST resources and each Flink release's request shapes.
//! * [`version`] — which release offers what (trigger ids, formats, REST checkpoints, the
//!   restore keys).
//! * [`trigger`] — idempotent triggers kept in the state directory, and waiting for them.
//! * [`restore`] — how to restore from a snapshot, per release and snapshot kind.
//! * [`k8s`] — the hand-off to the Flink Kubernetes Operator (FlinkStateSnapshot + patch).
//!
//! Kerberos/SPNEGO authentication is out of scope (see docs/flink-operations.md).

pub mod api;
pub mod client;
pub mod error;
pub mod k8s;
pub mod restore;
pub mod trigger;
pub mod version;

pub use api::{CheckpointEntry, Job, OperationStatus, SavepointFormat, Trigger};
pub use client::{parse_header, ClientConfig, FlinkClient};
pub use error::{Error, Result};
pub use trigger::{Pending, Started, TriggerStore};
pub use version::FlinkVersion;
