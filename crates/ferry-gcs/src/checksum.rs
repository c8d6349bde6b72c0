//! CRC32C values as GCS reports them in object metadata: the four big-endian bytes of the CRC,
//! base64-encoded (`"crc32c": "4waSgw=="`). Composite objects report the CRC32C of their whole
//! content, so one comparison covers a composed upload too.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The metadata value of a CRC32C (what GCS would report for it).
#[cfg(test)]
pub fn crc_to_b64(crc: u32) -> String {
    let bits = u64::from(crc) << 4; // 36 bits: six sextets, the last 4 bits zero padding
    let mut out: String = (0..6)
        .rev()
        .map(|i| ALPHABET[((bits >> (6 * i)) & 63) as usize] as char)
        .collect();
    out.push_str("==");
    out
}

/// Parses a metadata `crc32c` value; `None` unless it is exactly 4 base64-encoded bytes.
pub fn crc_from_b64(text: &str) -> Option<u32> {
    let text = text.trim();
    let body = text.strip_suffix("==").unwrap_or(text);
    if body.len() != 6 {
        return None;
    }
    let mut bits: u64 = 0;
    for c in body.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u64;
        bits = bits << 6 | v;
    }
    if bits & 0xF != 0 {
        return None; // non-zero padding bits: not a canonical encoding of 4 bytes
    }
    Some((bits >> 4) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_values_gcs_documents_and_round_trips() {
        // CRC32C("123456789") = 0xE3069283.
        assert_eq!(crc_to_b64(0xE306_9283), "4waSgw==");
        assert_eq!(crc_from_b64("4waSgw=="), Some(0xE306_9283));
        // The empty object's crc32c as GCS reports it.
        assert_eq!(crc_from_b64("AAAAAA=="), Some(0));
        // A value from the JSON API reference's example object.
        assert_eq!(crc_from_b64("j/un9g=="), Some(0x8FFB_A7F6));
        for v in [0, 1, u32::MAX, 0x1234_5678, 0x8000_0000, 0x0000_00FF] {
            assert_eq!(crc_from_b64(&crc_to_b64(v)), Some(v), "{v:08x}");
        }
    }

    #[test]
    fn rejects_what_is_not_four_bytes() {
        for bad in ["", "nope", "AAAAAAAA", "4waSgw=", "4waSg!==", "4waSgx=="] {
            assert_eq!(crc_from_b64(bad), None, "{bad:?}");
        }
    }
}
