//! Refusing copies onto themselves: a destination that is the source (`cp --overwrite S S`
//! rewrites every file onto itself), lies inside it (`cp S S/sub` copies the tree into itself,
//! deeper on every run), or — for a migration — contains it.
//!
//! Two locations are compared on the same store only (same [`Storage::identity`] and the same
//! authority, so `s3://b/x` and `s3a://b/x` are one place), by their normalised paths; local
//! paths are compared after resolving symlinks (of the longest part that exists), so a link to
//! the source is the source. Nothing here writes.

use std::path::{Path, PathBuf};

use super::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;

/// How a destination lies relative to a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The same place.
    Same,
    /// The destination is below the source.
    DestinationInside,
    /// The source is below the destination.
    SourceInside,
}

/// Where `destination` lies relative to `source`, if they overlap at all.
pub fn overlap(source: &Endpoint, destination: &Endpoint) -> Option<Overlap> {
    if source.storage.identity() != destination.storage.identity()
        || source.location.authority() != destination.location.authority()
    {
        return None;
    }
    let (src, dst) = (resolved(&source.location), resolved(&destination.location));
    if src == dst {
        Some(Overlap::Same)
    } else if below(&dst, &src) {
        Some(Overlap::DestinationInside)
    } else if below(&src, &dst) {
        Some(Overlap::SourceInside)
    } else {
        None
    }
}

/// The error for a copy whose destination is its source or lies inside it (`None` otherwise;
/// a source inside the destination is a normal copy for `cp`).
pub fn refuse_self_copy(source: &Endpoint, destination: &Endpoint) -> Result<()> {
    match overlap(source, destination) {
        Some(Overlap::Same) => Err(same(source, destination)),
        Some(Overlap::DestinationInside) => Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "destination is inside the source: {} lies in {}; copying would copy the tree \
                 into itself",
                destination.location, source.location
            ),
        )),
        _ => Ok(()),
    }
}

/// "source and destination are the same".
pub fn same(source: &Endpoint, destination: &Endpoint) -> Error {
    let text = if source.location == destination.location {
        format!("source and destination are the same: {}", source.location)
    } else {
        format!(
            "source and destination are the same: {} is {}",
            destination.location, source.location
        )
    };
    Error::new(ErrorKind::InvalidInput, text)
}

/// Whether path `inner` lies strictly below path `outer` (on a segment boundary).
fn below(inner: &str, outer: &str) -> bool {
    outer == "/" && inner != "/"
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The path to compare: for a local location, with the symlinks of its longest existing
/// ancestor resolved; otherwise the normalised path.
fn resolved(location: &Location) -> String {
    let Some(path) = location.to_local_path() else {
        return location.path().to_string();
    };
    let resolved = resolve_existing_prefix(&path);
    match resolved.to_str() {
        Some(text) => Location::from_parts("file", None, text).path().to_string(),
        None => location.path().to_string(),
    }
}

fn resolve_existing_prefix(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut current = path.to_path_buf();
    loop {
        if let Ok(real) = std::fs::canonicalize(&current) {
            return missing.iter().rev().fold(real, |acc, name| acc.join(name));
        }
        match (current.file_name(), current.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name.to_os_string());
                current = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory::MemoryStorage;

    fn at(store: &MemoryStorage, text: &str) -> Endpoint {
        Endpoint {
            storage: Arc::new(store.clone()),
            location: Location::parse(text).unwrap(),
        }
    }

    #[test]
    fn same_inside_and_containing() {
        let store = MemoryStorage::new("a");
        let src = at(&store, "mem://b/sp");
        assert_eq!(
            overlap(&src, &at(&store, "mem://b/sp/")),
            Some(Overlap::Same)
        );
        assert_eq!(
            overlap(&src, &at(&store, "mem://b/sp/sub/inner")),
            Some(Overlap::DestinationInside)
        );
        assert_eq!(
            overlap(&src, &at(&store, "mem://b")),
            Some(Overlap::SourceInside)
        );
        // Segment boundaries, other buckets and other stores do not overlap.
        assert_eq!(overlap(&src, &at(&store, "mem://b/sp2")), None);
        assert_eq!(overlap(&src, &at(&store, "mem://c/sp")), None);
        assert_eq!(
            overlap(&src, &at(&MemoryStorage::new("z"), "mem://b/sp")),
            None
        );
        let err = refuse_self_copy(&src, &at(&store, "mem://b/sp/sub")).unwrap_err();
        assert!(
            err.to_string().contains("destination is inside the source"),
            "{err}"
        );
        let err = refuse_self_copy(&src, &src).unwrap_err();
        assert!(
            err.to_string()
                .contains("source and destination are the same"),
            "{err}"
        );
        assert!(refuse_self_copy(&src, &at(&store, "mem://b")).is_ok());
    }

    #[test]
    fn local_symlinks_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let store = MemoryStorage::new("local");
        let src = at(&store, real.to_str().unwrap());
        let via_link = at(&store, link.to_str().unwrap());
        assert_eq!(overlap(&src, &via_link), Some(Overlap::Same));
        let inside = at(&store, link.join("sub/new/deeper").to_str().unwrap());
        assert_eq!(overlap(&src, &inside), Some(Overlap::DestinationInside));
    }
}
