//! Error types: [`DecodeError`] (kind + byte offset + breadcrumb), [`EncodeError`] and
//! [`RewriteError`].

use std::fmt;

/// The four handle contexts of the format (doc §4), plus the two channel-state collections,
/// each with its own tag space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum HandleContext {
    /// "S": stream handles (files, inline bytes, delegates).
    Stream,
    /// "K": keyed-state handles.
    Keyed,
    /// "O": operator-state handles.
    Operator,
    /// "C": input-channel handles (V6+ type byte).
    InputChannel,
    /// "C": result-subpartition handles (V6+ type byte).
    ResultSubpartition,
}

impl HandleContext {
    /// Human-readable name used in error messages, e.g. `keyed-state`.
    pub fn name(self) -> &'static str {
        match self {
            HandleContext::Stream => "stream-state",
            HandleContext::Keyed => "keyed-state",
            HandleContext::Operator => "operator-state",
            HandleContext::InputChannel => "input-channel-state",
            HandleContext::ResultSubpartition => "result-subpartition-state",
        }
    }
}

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before a field of `needed` bytes could be read.
    UnexpectedEof {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The first four bytes are not the metadata magic `0x4960672D`.
    BadMagic {
        /// The value found.
        found: u32,
    },
    /// A format version this crate does not know (known: 1–7).
    UnknownVersion {
        /// The value found.
        version: i32,
    },
    /// A handle tag not defined in the given context.
    UnknownHandleTag {
        /// The tag byte.
        tag: u8,
        /// The context the tag was read in.
        context: HandleContext,
    },
    /// A count or length that is negative or larger than the remaining input can hold.
    InvalidLength {
        /// The value read.
        len: i64,
        /// Bytes remaining after the length field.
        remaining: usize,
    },
    /// A string that Java's `readUTF` would reject.
    InvalidModifiedUtf8 {
        /// Offset of the bad byte inside the string's bytes.
        offset_in_string: usize,
    },
    /// Checkpoint id < 0 (Flink rejects it, V2+).
    NegativeCheckpointId {
        /// The value read.
        id: i64,
    },
    /// A master-state record does not start with `0xC96B1696`.
    BadMasterStateMagic {
        /// The value found.
        found: u32,
    },
    /// A master-state record's inner length does not match its content.
    MasterStateLengthMismatch {
        /// The declared inner length.
        declared: i32,
        /// The length of the fields it holds.
        actual: usize,
    },
    /// The V4+ CheckpointProperties trailer does not start with the Java serialization magic.
    BadPropertiesTrailer,
    /// Handles nest deeper than the decoder allows.
    DepthLimitExceeded {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::UnexpectedEof { needed, remaining } => write!(
                f,
                "unexpected end of input (needed {needed} bytes, {remaining} left)"
            ),
            DecodeErrorKind::BadMagic { found } => write!(
                f,
                "bad magic number 0x{found:08x} (expected 0x4960672d): not a Flink _metadata file"
            ),
            DecodeErrorKind::UnknownVersion { version } => {
                write!(f, "unknown metadata format version {version}")
            }
            DecodeErrorKind::UnknownHandleTag { tag, context } => {
                write!(f, "unknown {} handle tag {tag}", context.name())
            }
            DecodeErrorKind::InvalidLength { len, remaining } => {
                write!(f, "invalid length {len} ({remaining} bytes remaining)")
            }
            DecodeErrorKind::InvalidModifiedUtf8 { offset_in_string } => write!(
                f,
                "invalid modified UTF-8 (bad byte at offset {offset_in_string} of the string)"
            ),
            DecodeErrorKind::NegativeCheckpointId { id } => {
                write!(f, "invalid negative checkpoint id {id}")
            }
            DecodeErrorKind::BadMasterStateMagic { found } => write!(
                f,
                "bad master-state magic 0x{found:08x} (expected 0xc96b1696)"
            ),
            DecodeErrorKind::MasterStateLengthMismatch { declared, actual } => write!(
                f,
                "master-state length {declared} does not match its content ({actual} bytes)"
            ),
            DecodeErrorKind::BadPropertiesTrailer => write!(
                f,
                "checkpoint-properties trailer does not start with Java serialization magic AC ED 00 05"
            ),
            DecodeErrorKind::DepthLimitExceeded { limit } => {
                write!(f, "handles nested deeper than {limit} levels")
            }
        }
    }
}

/// A decoding error: what, where (byte offset) and in which field (breadcrumb such as
/// `operator[3].subtask[1].managed_keyed_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Byte offset in the input where the offending field starts.
    pub offset: usize,
    /// Breadcrumb of the field being decoded (empty at top level).
    pub path: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte 0x{:x}", self.kind, self.offset)?;
        if self.path.is_empty() {
            Ok(())
        } else {
            write!(f, " ({})", self.path)
        }
    }
}

impl std::error::Error for DecodeError {}

/// What went wrong while encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// A string is longer than Java's 65 535-byte `writeUTF` limit.
    StringTooLong {
        /// Encoded length in bytes.
        len: usize,
    },
    /// A collection or byte array has more than `i32::MAX` entries.
    TooManyElements {
        /// Number of entries.
        len: usize,
    },
    /// The format version cannot be written by this crate.
    UnsupportedVersion {
        /// The version.
        version: i32,
    },
    /// The model holds a field combination the chosen version/tag/layout cannot express
    /// (e.g. a K-12 handle without a state-handle id), so writing it would lose data.
    Inconsistent {
        /// Explanation.
        reason: &'static str,
    },
}

impl fmt::Display for EncodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeErrorKind::StringTooLong { len } => write!(
                f,
                "string of {len} bytes exceeds the 65535-byte modified UTF-8 limit"
            ),
            EncodeErrorKind::TooManyElements { len } => {
                write!(f, "{len} elements do not fit in a Java int count")
            }
            EncodeErrorKind::UnsupportedVersion { version } => {
                write!(f, "cannot encode metadata format version {version}")
            }
            EncodeErrorKind::Inconsistent { reason } => write!(f, "inconsistent model: {reason}"),
        }
    }
}

/// An encoding error with the breadcrumb of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// What went wrong.
    pub kind: EncodeErrorKind,
    /// Breadcrumb of the field being encoded.
    pub path: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.path.is_empty() {
            write!(f, " ({})", self.path)?;
        }
        Ok(())
    }
}

impl std::error::Error for EncodeError {}

/// A path rewrite was rejected; the metadata is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The replacement string is longer than Java's 65 535-byte `writeUTF` limit.
    #[error("new value for {breadcrumb} is {len} bytes of modified UTF-8, more than the 65535-byte limit")]
    StringTooLong {
        /// Breadcrumb of the field.
        breadcrumb: String,
        /// Encoded length of the replacement.
        len: usize,
    },
}
