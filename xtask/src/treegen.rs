//! Generates the benchmark's savepoint-shaped tree of random bytes: 2 × 256 MiB and
//! 4 × 64 MiB state files, 2000 × 128 KiB `shared/` files and a small `_metadata` (~1 GiB).
//! The tree is reused across runs (a marker file records that it is complete).

use std::io::Write;
use std::path::Path;

use anyhow::Result;

const MIB: usize = 1024 * 1024;

/// The files of the tree: (relative path, size).
pub fn savepoint_shape() -> Vec<(String, usize)> {
    let mut files = vec![("_metadata".to_string(), 64 * 1024)];
    files.extend((0..2).map(|i| (format!("op-{i}/state-{i}.bin"), 256 * MIB)));
    files.extend((0..4).map(|i| (format!("op-big/part-{i}.sst"), 64 * MIB)));
    files.extend((0..2000).map(|i| (format!("shared/{:02}/{i:04}.sst", i % 20), 128 * 1024)));
    files
}

/// Creates the tree under `root` unless it is already complete.
pub fn ensure(root: &Path) -> Result<u64> {
    ensure_files(root, &savepoint_shape())
}

/// Creates `files` (relative path, size) of random bytes under `root` unless a marker says an
/// earlier run finished them; returns their total size.
pub fn ensure_files(root: &Path, files: &[(String, usize)]) -> Result<u64> {
    let total: u64 = files.iter().map(|(_, s)| *s as u64).sum();
    let marker = root.join(".complete");
    if marker.exists() {
        return Ok(total);
    }
    eprintln!(
        "xtask: generating {} MiB benchmark tree in {}",
        total >> 20,
        root.display()
    );
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut buffer = vec![0u8; MIB];
    for (rel, size) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("files have parents"))?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut left = *size;
        while left > 0 {
            for word in buffer.chunks_exact_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                word.copy_from_slice(&state.to_le_bytes());
            }
            let n = left.min(MIB);
            out.write_all(&buffer[..n])?;
            left -= n;
        }
        out.flush()?;
    }
    std::fs::write(marker, b"")?;
    Ok(total)
}

/// Checks that every file of the savepoint-shaped tree is under `root` with its size.
pub fn check_sizes(root: &Path) -> Result<()> {
    for (rel, size) in savepoint_shape() {
        let got = std::fs::metadata(root.join(&rel))
            .map_err(|e| anyhow::anyhow!("{rel} missing in {}: {e}", root.display()))?;
        if got.len() != size as u64 {
            anyhow::bail!("{rel}: {} bytes, expected {size}", got.len());
        }
    }
    Ok(())
}
