//! Checksums ferry computes while streaming and compares with what stores report.
//!
//! ferry always computes CRC32C (hardware-accelerated via the `crc32c` crate) over every byte it
//! copies. Parts of one file are checksummed independently and combined in order with
//! [`combine_crc32c`], so parallel part copies cost no extra pass. A store that reports a
//! checksum natively (S3 full-object CRC32C, GCS crc32c, HDFS MD5-of-MD5-of-CRC32C) lets the
//! engine verify a copy without reading it back.

use std::fmt;

/// A checksum algorithm a store may report natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumKind {
    /// CRC32C (Castagnoli) of the whole object.
    Crc32c,
    /// MD5 of the whole object.
    Md5,
    /// HDFS's MD5-of-MD5-of-CRC32C block checksum.
    HdfsMd5Md5Crc32c,
}

/// A checksum value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// CRC32C of the whole object.
    Crc32c(u32),
    /// MD5 of the whole object.
    Md5([u8; 16]),
    /// HDFS's composite checksum, as the hex string Hadoop prints.
    HdfsMd5Md5Crc32c(String),
}

impl Checksum {
    /// The algorithm.
    pub fn kind(&self) -> ChecksumKind {
        match self {
            Checksum::Crc32c(_) => ChecksumKind::Crc32c,
            Checksum::Md5(_) => ChecksumKind::Md5,
            Checksum::HdfsMd5Md5Crc32c(_) => ChecksumKind::HdfsMd5Md5Crc32c,
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checksum::Crc32c(v) => write!(f, "crc32c:{v:08x}"),
            Checksum::Md5(v) => {
                f.write_str("md5:")?;
                v.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Checksum::HdfsMd5Md5Crc32c(v) => write!(f, "hdfs-md5-md5-crc32c:{v}"),
        }
    }
}

/// CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continues a CRC32C over more data.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// CRC32C of `A‖B` from `crc(A)`, `crc(B)` and `len(B)`.
pub fn combine_crc32c(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    crc32c::crc32c_combine(crc_a, crc_b, len_b as usize)
}

/// A CRC32C as object stores write it in headers and metadata (S3's `x-amz-checksum-crc32c`,
/// GCS's `crc32c`): the four big-endian bytes, base64-encoded (`4waSgw==`).
pub fn crc32c_to_base64(crc: u32) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// Parses a [`crc32c_to_base64`] value; `None` unless it is exactly four bytes, canonically
/// encoded and padded (surrounding whitespace aside).
pub fn crc32c_from_base64(text: &str) -> Option<u32> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn combine_equals_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for cut in [0, 1, 4096, 77_777, data.len()] {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                combine_crc32c(crc32c(a), crc32c(b), b.len() as u64),
                crc32c(&data),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn display() {
        assert_eq!(Checksum::Crc32c(0xab).to_string(), "crc32c:000000ab");
        assert_eq!(
            Checksum::Md5([0; 16]).to_string(),
            format!("md5:{}", "0".repeat(32))
        );
    }

    #[test]
    fn crc32c_base64_round_trips_and_rejects_what_is_not_four_bytes() {
        // CRC32C("123456789") = 0xE3069283, which S3 and GCS write as "4waSgw==".
        assert_eq!(crc32c_to_base64(0xE306_9283), "4waSgw==");
        assert_eq!(crc32c_from_base64("4waSgw=="), Some(0xE306_9283));
        // The empty object's crc32c as GCS reports it, and the JSON API reference's example.
        assert_eq!(crc32c_from_base64("AAAAAA=="), Some(0));
        assert_eq!(crc32c_from_base64("j/un9g=="), Some(0x8FFB_A7F6));
        for v in [0, 1, u32::MAX, 0x1234_5678, 0x8000_0000, 0x0000_00FF] {
            assert_eq!(crc32c_from_base64(&crc32c_to_base64(v)), Some(v), "{v:08x}");
        }
        for bad in [
            "",
            "nope",
            "AAAAAAAA",
            "4waSgw=",
            "4waSg!==",
            "4waSgx==",
            "AAAAAA==-2",
        ] {
            assert_eq!(crc32c_from_base64(bad), None, "{bad:?}");
        }
    }
}
