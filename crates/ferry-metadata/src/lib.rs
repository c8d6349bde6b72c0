//! Byte-exact decoder/encoder for Apache Flink checkpoint/savepoint `_metadata` files
//! (format versions 1–7; 7 is unreleased), with a typed model and a path API for relocation.
//!
//! This crate owns the binary format only: no I/O, no async, no storage types.
//!
//! * [`decode`] / [`encode`]: `encode(&decode(bytes)?)? == bytes` for every file this crate
//!   accepts. Raw tags, raw modified-UTF-8 strings ([`JavaString`]), list order, presence ints,
//!   negative (finished) subtask indexes, V1/V2 legacy fields, the V3 sub-layouts
//!   ([`Layout`]), the V4+ `CheckpointProperties` trailer and any trailing bytes are kept.
//! * [`Metadata::paths`], [`PathRef::resolve`], [`Metadata::rewrite_paths`] and
//!   [`Metadata::apply_prefix_maps`]: enumerate, resolve and rewrite every path-bearing field.
//! * [`inspect_properties`] / [`Metadata::properties`]: best-effort checkpoint-vs-savepoint and
//!   canonical-vs-native detection from the V4+ trailer.
//! * [`VERSIONS`] / [`version_info`]: which Flink releases write/read each format version.
//! * [`Metadata::summary`]: handle counts and referenced bytes.
//! * [`InspectReport`]: everything `ferry inspect` shows (operators, distinct files inside and
//!   outside the snapshot directory, external roots, relocatability verdict); [`flink_view`]:
//!   the line dump ferry's Flink oracle prints, for comparing with Flink's own loader.
//!
//! Decoding hostile input never panics; every count and length is checked against the bytes
//! remaining before anything is allocated, and handle nesting is limited. Errors carry a kind,
//! the byte offset and a breadcrumb (see [`DecodeError`]).
//!
//! The format is described in the project's `flink-metadata-format.md` research note.
//!
//! ```
//! use ferry_metadata::{decode, encode, PrefixMap, PrefixMaps, PrefixRewriteOptions};
//! # fn demo(bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let mut md = decode(bytes)?;
//! for p in md.paths() {
//!     println!("{} {:?} {}", p.breadcrumb, p.kind(), p.value_str());
//! }
//! let maps = PrefixMaps::new(vec![PrefixMap::parse("hdfs://nn:8020/=s3a://bucket/")?]);
//! let report = md.apply_prefix_maps(&maps, PrefixRewriteOptions::default())?;
//! println!("changed {} fields", report.stats.changed);
//! let _new_bytes = encode(&md)?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod body;
mod error;
mod handles;
mod model;
pub mod mutf8;
mod paths;
mod properties;
mod read;
mod report;
mod summary;
mod versions;
mod write;

pub use body::{
    decode, decode_with_layout, encode, read_header, JAVA_SERIALIZATION_MAGIC, MASTER_STATE_MAGIC,
    MAX_VERSION, METADATA_MAGIC, MIN_VERSION, NULL_PROPERTIES_TRAILER,
};
pub use error::{
    DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, HandleContext, RewriteError,
};
pub use model::*;
pub use mutf8::{JavaString, Mutf8Error};
pub use paths::{
    exclusive_dir_of, join_relative, PathField, PathKind, PathRef, PrefixMap, PrefixMapParseError,
    PrefixMaps, PrefixRewriteOptions, PrefixRewriteReport, RewriteStats,
};
pub use properties::{inspect_properties, CheckpointPropertiesInfo, SavepointFormat, SnapshotKind};
pub use report::{
    flink_view, ExternalRoot, FileReport, FormatReport, InspectReport, OperatorReport, Relocation,
    Totals, INSPECT_SCHEMA_VERSION,
};
pub use summary::Summary;
pub use versions::{version_info, VersionInfo, VERSIONS};

impl Metadata {
    /// Best-effort facts from the V4+ properties trailer (`None` for V1–V3 or an
    /// unrecognisable trailer).
    pub fn properties(&self) -> Option<CheckpointPropertiesInfo> {
        if self.version >= 4 {
            inspect_properties(&self.trailer)
        } else {
            None
        }
    }

    /// Decodes a file (same as [`decode`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Metadata, DecodeError> {
        decode(bytes)
    }

    /// Encodes this model (same as [`encode`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        encode(self)
    }
}
