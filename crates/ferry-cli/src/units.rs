//! Parsing and printing sizes and rates: `8M`, `64MiB`, `1.5G`, `50M` (bytes per second).
//! Suffixes are binary: K = 1024, M = 1024², G = 1024³, T = 1024⁴; `B`, `iB` are optional.

/// Parses a size such as `8M`, `512k`, `64MiB`, `1.5G`, or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits_end);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (try 8M, 64MiB, 1G)"))?;
    let suffix = suffix.trim().to_ascii_lowercase();
    let suffix = suffix.trim_end_matches("/s");
    let multiplier: u64 = match suffix.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("{text:?} has an unknown unit (use K, M, G or T)")),
    };
    Ok((value * multiplier as f64) as u64)
}

/// Formats bytes for people: `1.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("10MB/s"), Ok(10 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
    }
}
