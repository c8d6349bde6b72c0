//! What every bucket store (S3, GCS, Azure containers) does the same way with locations: the
//! authority is the bucket and the path the object key, a "directory" is a key prefix ending
//! in `/`, keys that ferry's normalised paths cannot express are refused, and a missing bucket
//! is found with one `stat` of its root before any write.

use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::storage::{Entry, EntryKind, Storage};

/// The bucket and key of `location` (the authority is the bucket). `example` is how a
/// location of the store is written (`s3://bucket/key`), for the error.
pub fn bucket_and_key<'a>(location: &'a Location, example: &str) -> Result<(&'a str, &'a str)> {
    match location.authority() {
        Some(bucket) if !bucket.is_empty() => Ok((bucket, location.key())),
        _ => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{location} names no bucket; write {example}"),
        )),
    }
}

/// The key prefix that lists what is below `location`: its key and a `/` (empty at the root).
pub fn list_prefix(location: &Location) -> String {
    match location.key() {
        "" => String::new(),
        key => format!("{key}/"),
    }
}

/// Whether an object key maps onto a location and back unchanged (no `//`, `.`/`..`
/// segments or a leading `/`, which ferry's normalised paths cannot express).
pub fn representable(key: &str) -> bool {
    !key.starts_with('/')
        && !key.contains("//")
        && key
            .split('/')
            .all(|segment| segment != "." && segment != "..")
}

/// The error for a listed key that is not [`representable`], found while listing `root`.
pub fn unrepresentable(what: &str, key: &str, root: &Location) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{what} {key:?} has empty, '.' or '..' path segments, which ferry cannot copy faithfully"
        ),
    )
    .with_operation("list")
    .with_context("path", root)
}

/// The entry of a prefix that has objects below it (a bucket root, a "directory").
pub fn directory(location: &Location) -> Entry {
    Entry {
        location: location.clone(),
        kind: EntryKind::Directory,
        size: 0,
        modified: None,
        checksum: None,
        version: None,
    }
}

/// [`Storage::check_container`] for bucket stores, whose `stat` of a bucket's root says whether
/// the bucket exists: `NotFound` (no such bucket) and `InvalidInput` (a name the store
/// rejects) fail, and so does an unreachable store; anything else is left for the writes to
/// report.
pub async fn check_bucket_of<S: Storage + ?Sized>(store: &S, location: &Location) -> Result<()> {
    match store.stat(&location.with_path("")).await {
        Err(err)
            if err.is_store_unreachable()
                || matches!(err.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput) =>
        {
            Err(err)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Location {
        Location::parse(text).unwrap()
    }

    #[test]
    fn the_authority_is_the_bucket_and_prefixes_end_on_a_segment() {
        assert_eq!(
            bucket_and_key(&at("s3a://b/dir/k"), "s3://bucket/key").unwrap(),
            ("b", "dir/k")
        );
        assert_eq!(list_prefix(&at("gs://b/dir")), "dir/");
        assert_eq!(list_prefix(&at("gs://b/")), "");
        assert_eq!(list_prefix(&at("gs://b")), "");
    }

    #[test]
    fn keys_with_empty_or_dot_segments_are_not_representable() {
        assert!(representable("a/b c/ü"));
        for key in ["/a", "a//b", "a/./b", "a/../b", ".."] {
            assert!(!representable(key), "{key}");
        }
        let err = unrepresentable("object key", "a//b", &at("s3://b/p"));
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("\"a//b\""), "{err}");
    }
}
