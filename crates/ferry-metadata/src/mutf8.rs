//! Java "modified UTF-8" (the encoding of `DataOutput.writeUTF`) and [`JavaString`], the
//! raw-bytes string type used for every string field of the metadata format.
//!
//! Rules (format doc §2.1): every UTF-16 code unit is encoded separately; U+0001–U+007F take one
//! byte, U+0000 and U+0080–U+07FF two bytes (so NUL is `C0 80`), U+0800–U+FFFF three bytes.
//! Supplementary characters are written as their two surrogates (3 + 3 bytes, CESU-8 style).
//! The encoded form is preceded by an unsigned 16-bit length in the file, so at most
//! [`MAX_ENCODED_LEN`] bytes are allowed.
//!
//! Validation follows Java's `DataInputStream.readUTF` exactly: it accepts a raw `00` byte and
//! overlong 2/3-byte forms, and rejects bytes `80`–`BF` and `F0`–`FF` as lead bytes, bad
//! continuation bytes and truncated sequences.

use std::borrow::Cow;
use std::fmt;

/// The largest number of encoded bytes a `writeUTF` string may have (2-byte unsigned length).
pub const MAX_ENCODED_LEN: usize = 65_535;

/// Errors of modified-UTF-8 encoding and decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mutf8Error {
    /// The encoded form would exceed [`MAX_ENCODED_LEN`] bytes.
    #[error(
        "modified UTF-8 string of {len} bytes exceeds the 65535-byte limit of Java's writeUTF"
    )]
    TooLong {
        /// Encoded length in bytes.
        len: usize,
    },
    /// The bytes are not valid modified UTF-8 (as judged by Java's `readUTF`).
    #[error("malformed modified UTF-8 at byte {offset} of the string")]
    Malformed {
        /// Offset inside the string's bytes of the first bad byte.
        offset: usize,
    },
    /// The string is valid Java text but holds an unpaired surrogate that Rust cannot represent.
    #[error("unpaired UTF-16 surrogate 0x{unit:04x} cannot be represented as a Rust string")]
    UnpairedSurrogate {
        /// The offending UTF-16 code unit.
        unit: u16,
    },
}

/// Number of modified-UTF-8 bytes needed for `s` (no limit applied).
pub fn encoded_len(s: &str) -> usize {
    if is_plain_ascii(s.as_bytes()) {
        return s.len();
    }
    s.encode_utf16()
        .map(|u| match u {
            0x0001..=0x007F => 1,
            0x0000 | 0x0080..=0x07FF => 2,
            _ => 3,
        })
        .sum()
}

/// Encodes `s` as modified UTF-8 without applying the length limit.
pub fn encode_unchecked(s: &str) -> Vec<u8> {
    if is_plain_ascii(s.as_bytes()) {
        // U+0001..U+007F encode as themselves (paths, ids, names: the common case).
        return s.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    for u in s.encode_utf16() {
        match u {
            0x0001..=0x007F => out.push(u as u8),
            0x0000 | 0x0080..=0x07FF => {
                out.push(0xC0 | ((u >> 6) & 0x1F) as u8);
                out.push(0x80 | (u & 0x3F) as u8);
            }
            _ => {
                out.push(0xE0 | ((u >> 12) & 0x0F) as u8);
                out.push(0x80 | ((u >> 6) & 0x3F) as u8);
                out.push(0x80 | (u & 0x3F) as u8);
            }
        }
    }
    out
}

/// Encodes `s` as modified UTF-8, failing if the result exceeds [`MAX_ENCODED_LEN`] bytes.
pub fn encode(s: &str) -> Result<Vec<u8>, Mutf8Error> {
    let len = encoded_len(s);
    if len > MAX_ENCODED_LEN {
        return Err(Mutf8Error::TooLong { len });
    }
    Ok(encode_unchecked(s))
}

/// Checks `bytes` the way Java's `readUTF` does; returns the offset of the first bad byte.
pub fn validate(bytes: &[u8]) -> Result<(), Mutf8Error> {
    if is_plain_ascii(bytes) {
        return Ok(());
    }
    decode_units_with(bytes, |_| {})
}

/// Decodes `bytes` into UTF-16 code units, with Java's `readUTF` acceptance rules.
pub fn decode_utf16(bytes: &[u8]) -> Result<Vec<u16>, Mutf8Error> {
    let mut units = Vec::with_capacity(bytes.len());
    decode_units_with(bytes, |u| units.push(u))?;
    Ok(units)
}

fn decode_units_with(bytes: &[u8], mut sink: impl FnMut(u16)) -> Result<(), Mutf8Error> {
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c >> 4 {
            0..=7 => {
                sink(u16::from(c));
                i += 1;
            }
            12 | 13 => {
                let c2 = *bytes
                    .get(i + 1)
                    .ok_or(Mutf8Error::Malformed { offset: i })?;
                if c2 & 0xC0 != 0x80 {
                    return Err(Mutf8Error::Malformed { offset: i + 1 });
                }
                sink((u16::from(c & 0x1F) << 6) | u16::from(c2 & 0x3F));
                i += 2;
            }
            14 => {
                if i + 2 >= bytes.len() {
                    return Err(Mutf8Error::Malformed { offset: i });
                }
                let (c2, c3) = (bytes[i + 1], bytes[i + 2]);
                if c2 & 0xC0 != 0x80 {
                    return Err(Mutf8Error::Malformed { offset: i + 1 });
                }
                if c3 & 0xC0 != 0x80 {
                    return Err(Mutf8Error::Malformed { offset: i + 2 });
                }
                sink(
                    (u16::from(c & 0x0F) << 12)
                        | (u16::from(c2 & 0x3F) << 6)
                        | u16::from(c3 & 0x3F),
                );
                i += 3;
            }
            _ => return Err(Mutf8Error::Malformed { offset: i }),
        }
    }
    Ok(())
}

/// Decodes `bytes` into a Rust string; fails on malformed input and on unpaired surrogates.
pub fn decode(bytes: &[u8]) -> Result<String, Mutf8Error> {
    if is_plain_ascii(bytes) {
        // Modified UTF-8 equals ASCII for U+0001..U+007F.
        if let Ok(s) = std::str::from_utf8(bytes) {
            return Ok(s.to_owned());
        }
    }
    let units = decode_utf16(bytes)?;
    char::decode_utf16(units.iter().copied())
        .map(|r| {
            r.map_err(|e| Mutf8Error::UnpairedSurrogate {
                unit: e.unpaired_surrogate(),
            })
        })
        .collect()
}

/// Decodes `bytes`, replacing malformed parts and unpaired surrogates with U+FFFD.
pub fn decode_lossy(bytes: &[u8]) -> Cow<'_, str> {
    if is_plain_ascii(bytes) {
        // All bytes are 0x01..=0x7F, hence valid UTF-8 (borrowed, no copy).
        if let Ok(s) = std::str::from_utf8(bytes) {
            return Cow::Borrowed(s);
        }
    }
    match decode_utf16(bytes) {
        Ok(units) => Cow::Owned(
            char::decode_utf16(units)
                .map(|r| r.unwrap_or('\u{FFFD}'))
                .collect(),
        ),
        Err(_) => {
            // Fall back to a byte-wise best effort: decode the valid prefix of each sequence.
            let mut out = String::new();
            let mut i = 0;
            while i < bytes.len() {
                let step = match bytes[i] >> 4 {
                    0..=7 => 1,
                    12 | 13 => 2,
                    14 => 3,
                    _ => 0,
                };
                let chunk = if step == 0 {
                    None
                } else {
                    bytes.get(i..i + step)
                };
                match chunk.map(decode_utf16) {
                    Some(Ok(units)) => {
                        out.extend(char::decode_utf16(units).map(|r| r.unwrap_or('\u{FFFD}')));
                        i += step;
                    }
                    _ => {
                        out.push('\u{FFFD}');
                        i += 1;
                    }
                }
            }
            Cow::Owned(out)
        }
    }
}

/// Bytes 0x01–0x7F only: text that is the same in UTF-8 and modified UTF-8.
pub(crate) fn is_plain_ascii(bytes: &[u8]) -> bool {
    bytes.is_ascii() && !bytes.contains(&0)
}

/// A string field exactly as stored in the file: the raw modified-UTF-8 bytes (without the
/// 2-byte length). Decoding to Rust text is lazy, so strings that Rust cannot represent (unpaired
/// surrogates) and non-canonical encodings survive a round trip unchanged.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JavaString(Vec<u8>);

impl JavaString {
    /// Encodes a Rust string; fails if the encoded form exceeds 65 535 bytes.
    pub fn new(s: &str) -> Result<Self, Mutf8Error> {
        encode(s).map(JavaString)
    }

    /// [`JavaString::new`] of an owned string: plain ASCII (paths, ids — the common case) is
    /// already modified UTF-8, so its buffer is kept instead of copied.
    pub fn from_string(s: String) -> Result<Self, Mutf8Error> {
        if !is_plain_ascii(s.as_bytes()) {
            return Self::new(&s);
        }
        if s.len() > MAX_ENCODED_LEN {
            return Err(Mutf8Error::TooLong { len: s.len() });
        }
        Ok(JavaString(s.into_bytes()))
    }

    /// Replaces the first `cut` bytes with `with` in place (`with` must be modified UTF-8 and
    /// `cut` a character boundary; the caller checks the length limit).
    pub(crate) fn replace_prefix(&mut self, cut: usize, with: &[u8]) {
        // Grow exactly (splice alone may double the capacity of every rewritten path).
        self.0.reserve_exact(with.len().saturating_sub(cut));
        self.0.splice(..cut, with.iter().copied());
    }

    /// Wraps raw modified-UTF-8 bytes without checking them. The encoder still enforces the
    /// 65 535-byte limit.
    pub fn from_raw(bytes: Vec<u8>) -> Self {
        JavaString(bytes)
    }

    /// The raw encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the string and returns its raw encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Encoded length in bytes (what the 2-byte length prefix holds).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decodes to a Rust string; fails on malformed bytes or unpaired surrogates.
    pub fn to_string_strict(&self) -> Result<String, Mutf8Error> {
        decode(&self.0)
    }

    /// Decodes to a Rust string, replacing anything unrepresentable with U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        decode_lossy(&self.0)
    }

    /// Whether the bytes equal the modified-UTF-8 encoding of `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        encoded_len(s) == self.0.len() && encode_unchecked(s) == self.0
    }
}

impl fmt::Display for JavaString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl fmt::Debug for JavaString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl TryFrom<&str> for JavaString {
    type Error = Mutf8Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        JavaString::new(s)
    }
}

impl serde::Serialize for JavaString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_identity() {
        assert_eq!(encode("s3://bucket/x").unwrap(), b"s3://bucket/x".to_vec());
        assert_eq!(decode(b"abc").unwrap(), "abc");
    }

    #[test]
    fn nul_is_c0_80() {
        assert_eq!(encode("a\0b").unwrap(), vec![b'a', 0xC0, 0x80, b'b']);
        assert_eq!(decode(&[b'a', 0xC0, 0x80, b'b']).unwrap(), "a\0b");
        assert_eq!(encoded_len("\0"), 2);
    }

    #[test]
    fn raw_zero_byte_is_accepted_like_java() {
        // Java's readUTF decodes a raw 0x00 byte as U+0000.
        assert_eq!(decode(&[0x00]).unwrap(), "\0");
    }

    #[test]
    fn two_and_three_byte_forms() {
        assert_eq!(encode("é").unwrap(), vec![0xC3, 0xA9]);
        assert_eq!(encode("€").unwrap(), vec![0xE2, 0x82, 0xAC]);
        assert_eq!(decode(&[0xC3, 0xA9, 0xE2, 0x82, 0xAC]).unwrap(), "é€");
    }

    #[test]
    fn supplementary_chars_are_surrogate_pairs() {
        // U+1F600 = D83D DE00 -> ED A0 BD ED B8 80 (never the 4-byte UTF-8 form F0 9F 98 80).
        let enc = encode("😀").unwrap();
        assert_eq!(enc, vec![0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]);
        assert_eq!(decode(&enc).unwrap(), "😀");
        assert!(validate(&[0xF0, 0x9F, 0x98, 0x80]).is_err());
    }

    #[test]
    fn unpaired_surrogate_roundtrips_raw_but_not_strict() {
        let raw = vec![0xED, 0xA0, 0xBD]; // lone high surrogate D83D
        assert!(validate(&raw).is_ok());
        let js = JavaString::from_raw(raw.clone());
        assert_eq!(
            js.to_string_strict(),
            Err(Mutf8Error::UnpairedSurrogate { unit: 0xD83D })
        );
        assert_eq!(js.to_string_lossy(), "\u{FFFD}");
        assert_eq!(js.as_bytes(), &raw[..]);
    }

    #[test]
    fn malformed_inputs() {
        assert_eq!(validate(&[0x80]), Err(Mutf8Error::Malformed { offset: 0 }));
        assert_eq!(
            validate(&[b'a', 0xC3]),
            Err(Mutf8Error::Malformed { offset: 1 })
        );
        assert_eq!(
            validate(&[0xC3, 0x41]),
            Err(Mutf8Error::Malformed { offset: 1 })
        );
        assert_eq!(
            validate(&[0xE2, 0x82]),
            Err(Mutf8Error::Malformed { offset: 0 })
        );
        assert_eq!(
            validate(&[0xE2, 0x82, 0x41]),
            Err(Mutf8Error::Malformed { offset: 2 })
        );
        assert_eq!(validate(&[0xFF]), Err(Mutf8Error::Malformed { offset: 0 }));
        assert_eq!(decode_lossy(&[b'a', 0xFF, b'b']), "a\u{FFFD}b");
    }

    #[test]
    fn length_limit() {
        let ok = "x".repeat(MAX_ENCODED_LEN);
        assert_eq!(encode(&ok).unwrap().len(), MAX_ENCODED_LEN);
        let too_long = "x".repeat(MAX_ENCODED_LEN + 1);
        assert_eq!(encode(&too_long), Err(Mutf8Error::TooLong { len: 65_536 }));
        // 21 846 three-byte chars = 65 538 bytes although only 21 846 chars.
        let wide = "€".repeat(21_846);
        assert_eq!(
            JavaString::new(&wide),
            Err(Mutf8Error::TooLong { len: 65_538 })
        );
        // NUL counts as two bytes.
        let nuls = "\0".repeat(32_768);
        assert!(matches!(
            encode(&nuls),
            Err(Mutf8Error::TooLong { len: 65_536 })
        ));
    }

    #[test]
    fn eq_str_compares_encoded_forms() {
        let js = JavaString::new("a\0").unwrap();
        assert!(js.eq_str("a\0"));
        assert!(!js.eq_str("a"));
        assert!(!JavaString::from_raw(vec![b'a', 0]).eq_str("a\0"));
    }
}
