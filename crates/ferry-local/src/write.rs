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
//! * **Parts of large files bypass the page cache** ([`DirectFile`], `O_DIRECT`) where the
//!   filesystem allows: filling freshly allocated page-cache pages was most of the kernel's
//!   work for large files on this VM (0.2–1.9 s of system CPU per 768 MiB, varying with the
//!   host's memory), while direct writes cost 0.05 s and ran at 2.4 GB/s. Another 1.3 s less
//!   CPU on the benchmark download. Small files and streamed writes keep the page cache.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Alignment of direct writes: of the memory, the file offset and the length (covers every
/// logical block size up to 4 KiB).
const DIRECT_ALIGN: usize = 4096;

/// Bytes per direct write, through one bounce buffer of this size.
const DIRECT_CHUNK: usize = 1 << 20;

/// A second handle on a file written part by part, opened with `O_DIRECT`: whole aligned
/// blocks of a part go to the device without passing through the page cache. Parts arrive in
/// the engine's pooled buffers, whose addresses are not block-aligned, so they are copied
/// through a 1 MiB aligned bounce buffer (one user-space copy of warm memory, instead of the
/// kernel's copy into freshly allocated page-cache pages). A filesystem that refuses direct
/// I/O (tmpfs at open, others at the first write) is written through the page cache instead.
#[derive(Debug)]
pub(crate) struct DirectFile {
    file: File,
    usable: AtomicBool,
}

impl DirectFile {
    /// Opens `path` for direct writes; `None` where the filesystem or platform has none.
    pub(crate) fn open(path: &Path) -> Option<DirectFile> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .ok()
                .map(|file| DirectFile {
                    file,
                    usable: AtomicBool::new(true),
                })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = path;
            None
        }
    }

    /// Writes `data` at `offset`: its whole aligned blocks directly, an unaligned tail (the
    /// file's last part) through `buffered`. An offset that is not aligned (a part size that
    /// is not a multiple of 4 KiB) goes through `buffered` whole.
    pub(crate) fn write_all_at(
        &self,
        buffered: &File,
        data: &[u8],
        offset: u64,
    ) -> std::io::Result<()> {
        if !self.usable.load(Ordering::Relaxed) || !offset.is_multiple_of(DIRECT_ALIGN as u64) {
            return write_all_at(buffered, data, offset);
        }
        let direct_len = data.len() / DIRECT_ALIGN * DIRECT_ALIGN;
        let mut bounce = vec![0u8; DIRECT_CHUNK.min(direct_len) + DIRECT_ALIGN];
        let start = bounce.as_ptr().align_offset(DIRECT_ALIGN);
        if start >= DIRECT_ALIGN {
            return write_all_at(buffered, data, offset);
        }
        let mut done = 0;
        while done < direct_len {
            let len = (direct_len - done).min(DIRECT_CHUNK);
            let aligned = &mut bounce[start..start + len];
            aligned.copy_from_slice(&data[done..done + len]);
            match self.file.write_all_at(aligned, offset + done as u64) {
                Ok(()) => done += len,
                Err(err) if err.kind() == std::io::ErrorKind::InvalidInput => {
                    // No direct I/O here after all: this and every later write go through
                    // the page cache (rewriting this chunk whole, if part of it was written).
                    self.usable.store(false, Ordering::Relaxed);
                    return write_all_at(buffered, &data[done..], offset + done as u64);
                }
                Err(err) => return Err(err),
            }
        }
        write_all_at(buffered, &data[direct_len..], offset + direct_len as u64)
    }
}

/// Stripes of the directory locks: directories hashing to one stripe share it.
const STRIPES: usize = 64;

static DIRECTORY_LOCKS: [Mutex<()>; STRIPES] = [const { Mutex::new(()) }; STRIPES];

/// Holds the lock of `path`'s parent directory: take it around creating or renaming `path`.
pub(crate) fn lock_parent_of(path: &Path) -> MutexGuard<'static, ()> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.parent().hash(&mut hasher);
    let stripe = (hasher.finish() % STRIPES as u64) as usize;
    hold(&DIRECTORY_LOCKS[stripe])
}

/// Waits for `lock` (a directory's, or one file's writers': see the module doc), sleeping.
pub(crate) fn hold(lock: &Mutex<()>) -> MutexGuard<'_, ()> {
    // The guarded data is `()`: a panic while holding it leaves nothing inconsistent.
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

    /// The filesystem type of `dir`, as `stat -f` names it (`tmpfs`, `ext2/ext3`, …).
    fn filesystem_of(dir: &Path) -> String {
        let out = std::process::Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A part of `len` bytes at `offset` through a `DirectFile` (when `dir` has direct I/O)
    /// lands byte for byte, with the rest of the file untouched. Returns whether the direct
    /// handle opened and is still in use afterwards.
    fn direct_part_round_trip(dir: &Path, offset: u64, len: usize) -> bool {
        let path = dir.join(format!("direct-{offset}-{len}"));
        let buffered = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap();
        buffered.set_len(offset + len as u64 + 100).unwrap();
        let direct = DirectFile::open(&path);
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8 ^ 0x5a).collect();
        match &direct {
            Some(direct) => direct.write_all_at(&buffered, &data, offset).unwrap(),
            None => write_all_at(&buffered, &data, offset).unwrap(),
        }
        let written = std::fs::read(&path).unwrap();
        let at = offset as usize;
        assert_eq!(written.len(), at + len + 100);
        assert!(written[..at].iter().all(|b| *b == 0), "before the part");
        assert!(
            written[at..at + len] == data[..],
            "the part at {offset}, {len} bytes"
        );
        assert!(
            written[at + len..].iter().all(|b| *b == 0),
            "after the part"
        );
        direct.is_some_and(|d| d.usable.load(Ordering::Relaxed))
    }

    #[test]
    fn direct_writes_put_aligned_blocks_and_tails_in_place() {
        let dir = tempfile::tempdir().unwrap();
        // Aligned whole blocks over several bounce chunks; an unaligned tail; an unaligned
        // offset (written through the page cache); a part smaller than a block.
        let direct = [
            direct_part_round_trip(dir.path(), 8 << 20, 3 * DIRECT_CHUNK),
            direct_part_round_trip(dir.path(), 4096, DIRECT_CHUNK + 4096 * 3 + 17),
            direct_part_round_trip(dir.path(), 5000, 2 * DIRECT_CHUNK),
            direct_part_round_trip(dir.path(), 0, 100),
        ];
        // On filesystems known to have direct I/O (ext4 on CI's machines), the direct path ran.
        let filesystem = filesystem_of(dir.path());
        if cfg!(target_os = "linux") && ["ext2/ext3", "xfs", "btrfs"].contains(&filesystem.as_str())
        {
            assert_eq!(direct, [true; 4], "on {filesystem}");
        }
    }

    #[test]
    fn direct_writes_fall_back_where_the_filesystem_has_none() {
        // tmpfs refuses O_DIRECT: the data must land all the same.
        let shm = Path::new("/dev/shm");
        let dir = tempfile::tempdir_in(if shm.is_dir() { shm } else { Path::new(".") }).unwrap();
        direct_part_round_trip(dir.path(), 8 << 20, DIRECT_CHUNK + 4096);
        direct_part_round_trip(dir.path(), 0, 3 * 4096 + 1);
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
