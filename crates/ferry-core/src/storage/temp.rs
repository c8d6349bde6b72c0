//! Temp names: where a file is written before it is verified and renamed to its final name,
//! on stores that need one (filesystems, HDFS).
//!
//! A temp name is `.ferry-tmp-<16 hex>-<name cut to at most 64 bytes>`: hidden, tagged, and
//! short enough that a final name of up to 255 bytes still has a temp name within the usual
//! file-name limit (11 + 16 + 1 + 64 = 92 bytes). The tag is derived from the copy job and the
//! full final name ([`temp_name_for`]), so a re-run of the same job writes (and so replaces)
//! the same temp file an interrupted run left, and two names that share their first 64 bytes
//! never share a temp name; one-off writes ([`temp_name`]) use a random tag.
//!
//! A name is a temp name only when it matches the whole pattern ([`is_temp_name`]): a user's
//! file called `x.ferry-tmp`, or `.ferry-tmp-notes`, is an ordinary file and is copied.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// What every temp name starts with.
pub const TEMP_PREFIX: &str = ".ferry-tmp-";

/// The most bytes of the final name a temp name keeps.
pub const TEMP_NAME_KEEP: usize = 64;

/// Hex digits of the tag.
const TAG_DIGITS: usize = 16;

/// The temp name of `name` (a file name, not a path) for the job whose seed is `job`: the same
/// job and name always give the same temp name.
pub fn temp_name_for(job: &str, name: &str) -> String {
    let tag = fnv1a64(&format!("{job}\n{name}"));
    tagged(tag, name)
}

/// A temp name of `name` with a random tag, for one-off writes (a `_metadata` put in place).
pub fn temp_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(name.as_bytes());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    tagged(hasher.finish(), name)
}

fn tagged(tag: u64, name: &str) -> String {
    format!("{TEMP_PREFIX}{tag:016x}-{}", cut(name, TEMP_NAME_KEEP))
}

/// The longest prefix of `name` of at most `max` bytes that ends on a character boundary.
fn cut(name: &str, max: usize) -> &str {
    if name.len() <= max {
        return name;
    }
    let mut end = max;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Whether `name` (a file name, or a path whose last segment is checked) is a temp name:
/// the prefix, 16 lowercase hex digits, `-`, and 1 to 64 bytes of a name.
pub fn is_temp_name(name: &str) -> bool {
    let name = name.rsplit('/').next().unwrap_or(name);
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let bytes = rest.as_bytes();
    bytes.len() > TAG_DIGITS + 1
        && bytes[..TAG_DIGITS]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && bytes[TAG_DIGITS] == b'-'
        && rest.len() - TAG_DIGITS - 1 <= TEMP_NAME_KEEP
}

/// FNV-1a (64 bit) of `text`: a stable hash (the same in every run and build), for temp-name
/// tags and the journal's file names.
pub fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_by_the_whole_pattern_only() {
        let temp = temp_name_for("job", "part-0");
        assert!(temp.starts_with(".ferry-tmp-"), "{temp}");
        assert!(is_temp_name(&temp), "{temp}");
        assert!(is_temp_name(&format!("a/b/{temp}")));
        assert!(is_temp_name(&temp_name("x")));
        for user in [
            "x.ferry-tmp",
            ".x.0123abcd.ferry-tmp",
            ".ferry-tmp-notes",
            ".ferry-tmp-0123456789abcdef",
            ".ferry-tmp-0123456789abcdef-",
            ".ferry-tmp-0123456789ABCDEF-x",
            ".ferry-tmp-0123456789abcdeg-x",
            "dir/.ferry-tmp-notes",
        ] {
            assert!(!is_temp_name(user), "{user} is a user's file");
        }
        let long = format!(".ferry-tmp-0123456789abcdef-{}", "n".repeat(65));
        assert!(
            !is_temp_name(&long),
            "a temp name never keeps more than 64 bytes"
        );
    }

    #[test]
    fn temp_names_fit_and_cut_on_character_boundaries() {
        let ascii = "a".repeat(255);
        let temp = temp_name_for("job", &ascii);
        assert_eq!(temp.len(), 11 + 16 + 1 + 64, "{temp}");
        assert!(is_temp_name(&temp));
        // 'é' is two bytes: 63 of them + a cut inside the 32nd would split a character.
        let accented = "é".repeat(100);
        let temp = temp_name_for("job", &accented);
        assert!(temp.len() <= 92, "{temp}");
        assert!(temp.ends_with(&"é".repeat(32)), "{temp}");
        assert!(is_temp_name(&temp));
    }

    #[test]
    fn temp_names_are_stable_per_job_and_distinct_per_name() {
        assert_eq!(temp_name_for("job", "a"), temp_name_for("job", "a"));
        assert_ne!(temp_name_for("job", "a"), temp_name_for("other", "a"));
        let (a, b) = ("p".repeat(70) + "a", "p".repeat(70) + "b");
        assert_ne!(temp_name_for("job", &a), temp_name_for("job", &b));
        assert_ne!(temp_name("a"), temp_name("a"), "one-off tags are random");
    }
}
