//! How the local backend hands data and names to the kernel, shaped by what was measured
//! (`docs/architecture.md`, "Writing local files"):
//!
//! * **Writes in slices.** Data is written [`WRITE_SLICE`] bytes per `write`/`pwrite` call,
//!   however large the engine's part buffer. One 8 MiB `pwrite` per part cost 3.6 s of system
//!   CPU for the 1 GiB benchmark download against 2.2–2.4 s in 16–128 KiB slices (the kernel
//!   sizes page-cache folios after the write, and filling the large ones was far slower).
//! * **One writer per file.** The kernel runs buffered writes to one file one at a time (the
//!   inode lock); parts written at once from several threads made the waiters spin on that
//!   lock, burning a core that the source's server or the next read could use. A userspace
//!   mutex per file makes them sleep instead.
//! * **One name change per directory at a time.** Creating and renaming files in a directory
//!   holds the directory's lock in the kernel, so they never run in parallel anyway; waiting
//!   for a striped userspace lock (keyed by the parent directory) sleeps where the kernel's
//!   waiters spun. Together with the above: 1.0 s less CPU on the benchmark download.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Bytes per write system call.
pub(crate) const WRITE_SLICE: usize = 64 * 1024;

/// Writes all of `data` at `offset`, in slices.
pub(crate) fn write_all_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    let mut at = offset;
    for slice in data.chunks(WRITE_SLICE) {
        file.write_all_at(slice, at)?;
        at += slice.len() as u64;
    }
    Ok(())
}

/// Writes all of `data` at the file's position, in slices.
pub(crate) fn write_all(file: &mut File, data: &[u8]) -> std::io::Result<()> {
    for slice in data.chunks(WRITE_SLICE) {
        file.write_all(slice)?;
    }
    Ok(())
}

/// Stripes of the directory locks: directories hashing to one stripe share it.
const STRIPES: usize = 64;

static DIRECTORY_LOCKS: [Mutex<()>; STRIPES] = [const { Mutex::new(()) }; STRIPES];

/// Holds the lock of `path`'s parent directory: take it around creating or renaming `path`.
pub(crate) fn lock_parent_of(path: &Path) -> MutexGuard<'static, ()> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.parent().hash(&mut hasher);
    let stripe = (hasher.finish() % STRIPES as u64) as usize;
    // The guarded data is `()`: a panic while holding it leaves nothing inconsistent.
    DIRECTORY_LOCKS[stripe]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serialises the writes into one file (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct FileWriteLock(Mutex<()>);

impl FileWriteLock {
    /// Waits for the file's other writers, sleeping.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliced_positional_writes_put_every_byte_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let data: Vec<u8> = (0..(3 * WRITE_SLICE + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        write_all_at(&file, &data, 10).unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), data.len() + 10);
        assert_eq!(&written[10..], &data[..]);
        assert!(written[..10].iter().all(|b| *b == 0));
    }

    #[test]
    fn sliced_sequential_writes_append_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        let data: Vec<u8> = (0..(2 * WRITE_SLICE + 7)).map(|i| (i % 13) as u8).collect();
        write_all(&mut file, &data[..WRITE_SLICE + 1]).unwrap();
        write_all(&mut file, &data[WRITE_SLICE + 1..]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn files_of_one_directory_share_a_lock() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let held = lock_parent_of(Path::new("/x/y/a"));
        let released = Arc::new(AtomicBool::new(false));
        let sibling = std::thread::spawn({
            let released = released.clone();
            move || {
                let _guard = lock_parent_of(Path::new("/x/y/b"));
                released.load(Ordering::SeqCst)
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        released.store(true, Ordering::SeqCst);
        drop(held);
        assert!(
            sibling.join().unwrap(),
            "a file of the same directory got the lock while it was held"
        );
    }
}
