//! ferry's storage-agnostic core.
//!
//! * [`location`] — URIs for every scheme ferry serves, parsed and manipulated.
//! * [`error`] — the one error type: kind, retry status, context.
//! * [`storage`] — the async [`Storage`] trait every backend implements, and its
//!   [`Capabilities`].
//! * [`registry`] — scheme → backend factory; backends register themselves.
//! * [`checksum`] — CRC32C computed while streaming, and checksums stores report.
//! * [`retry`] — retries with backoff of temporary errors, for the engine and the backends.
//! * [`redact`] — secrets kept out of every output; [`watchdog`] — bounded network waits.
//! * [`transfer`] — the copy engine: parallel, verified, resumable, bounded memory.
//! * [`relocate`] — Flink snapshot relocation: closure, layout, migrate, verify, ls.
//! * [`lifecycle`] — disposing snapshots and collecting garbage under a retention policy.
//! * [`memory`] — an in-memory store for tests; [`fault`] — a fault-injection layer.
//!
//! This crate depends on no cloud SDK; backends live in their own crates.

pub mod checksum;
pub mod error;
pub mod fault;
pub mod lifecycle;
pub mod location;
pub mod memory;
pub mod redact;
pub mod registry;
pub mod relocate;
pub mod retry;
pub mod storage;
pub mod transfer;
pub mod watchdog;

pub use checksum::{Checksum, ChecksumKind};
pub use error::{Error, ErrorKind, Result, Retry};
pub use location::Location;
pub use registry::{BackendFactory, BackendOptions, OptionKey, Registry};
pub use storage::{
    ByteStream, Capabilities, Entry, EntryKind, ListStream, MultipartUpload, ObjectWriter,
    PartReceipt, SpecialKind, Storage, WriteOptions, WriteReceipt,
};
