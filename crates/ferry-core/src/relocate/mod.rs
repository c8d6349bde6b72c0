//! Relocating Flink snapshots: find everything a savepoint or checkpoint needs, copy it to a
//! new place, rewrite the paths inside `_metadata`, write `_metadata` last, and prove the result
//! complete.
//!
//! * [`snapshot`] — open a snapshot (directory, `chk-N`, or `_metadata` path), decode its
//!   metadata; list the snapshots under a root (`ferry ls`).
//! * [`closure`] — every file the metadata references, with the sizes it records.
//! * [`layout`] — where each source location goes at the destination, mirroring Flink's layout
//!   (`chk-N/`, the job's `shared/` and `taskowned/`, other jobs' directories, entropy keys).
//! * [`migrate`] — the pipeline: plan, copy and verify data, write `_metadata`, read it back.
//! * [`verify`] — the pre-flight check before `flink run -s`.
//! * [`repair`] — relative handles whose files lie outside the snapshot directory
//!   (FLINK-39964): find them by name and size, copy them where Flink looks.
//!
//! Invariant: `_metadata` is written at the destination only after every file it references
//! was copied and verified there; if anything fails afterwards it is removed again.

pub mod closure;
pub mod layout;
pub mod migrate;
pub mod repair;
pub mod snapshot;
pub mod verify;

use crate::error::{Error, ErrorKind};
use crate::location::Location;

/// The completion marker Flink writes last in every snapshot directory.
pub const METADATA_FILE: &str = "_metadata";

/// Parses a path string as Flink stores it (`file:/x`, `hdfs://nn:8020/x`, `s3a://b/k`). A
/// string without a scheme is a path on the store of `context` (Flink's default file system).
pub fn parse_flink_path(text: &str, context: &Location) -> crate::Result<Location> {
    if text.starts_with('/') {
        return Ok(context.with_path(text));
    }
    Location::parse(text).map_err(|e| {
        Error::new(
            ErrorKind::Corrupted,
            format!(
                "the metadata holds a path ferry cannot parse: {text:?} ({})",
                e.message()
            ),
        )
    })
}

/// Formats a location as Flink writes paths (`Path.toString()`): no empty authority, no
/// trailing slash.
pub fn flink_path(location: &Location) -> String {
    location.to_string()
}

fn metadata_error(location: &Location, err: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Corrupted,
        format!("cannot decode {location}: {err}"),
    )
}

#[cfg(test)]
mod tests;
