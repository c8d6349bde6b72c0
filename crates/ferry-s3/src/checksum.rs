//! CRC32C values as S3 writes them: the big-endian bytes of the CRC, base64-encoded
//! (`x-amz-checksum-crc32c: yZRlqg==`).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The header value of a CRC32C.
pub fn crc_to_b64(crc: u32) -> String {
    let b = crc.to_be_bytes();
    let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    let m = u32::from(b[3]) << 16;
    let sextet = |v: u32, shift: u32| ALPHABET[((v >> shift) & 63) as usize] as char;
    [
        sextet(n, 18),
        sextet(n, 12),
        sextet(n, 6),
        sextet(n, 0),
        sextet(m, 18),
        sextet(m, 12),
        '=',
        '=',
    ]
    .iter()
    .collect()
}

/// Parses a CRC32C header value; `None` if it is not 4 base64-encoded bytes.
pub fn crc_from_b64(text: &str) -> Option<u32> {
    let text = text.trim().trim_end_matches('=');
    if text.len() != 6 {
        return None;
    }
    let mut bits: u64 = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u64;
        bits = bits << 6 | v;
    }
    // 36 bits: the top 32 are the CRC, the low 4 must be zero padding.
    if bits & 0xF != 0 {
        return None;
    }
    Some((bits >> 4) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_known_values() {
        // CRC32C("123456789") = 0xE3069283, which S3 writes as "4waSgw==".
        assert_eq!(crc_to_b64(0xE306_9283), "4waSgw==");
        assert_eq!(crc_from_b64("4waSgw=="), Some(0xE306_9283));
        for v in [0, 1, u32::MAX, 0x1234_5678, 0x8000_0000] {
            assert_eq!(crc_from_b64(&crc_to_b64(v)), Some(v));
        }
        assert_eq!(crc_from_b64("AAAAAA==-2"), None);
        assert_eq!(crc_from_b64("nope"), None);
    }
}
