//! Helpers shared by the end-to-end tests: running the real `ferry` binary with an isolated
//! state directory, building test trees, and comparing trees byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Path of the `ferry` binary cargo built for these tests.
pub fn ferry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

/// A `ferry` command whose resume journals live under `state`.
pub fn ferry(state: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(ferry_bin());
    cmd.env("FERRY_STATE_DIR", state).env_remove("FERRY_FAULTS");
    cmd
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Writes `files` (relative path → content) under `root`.
pub fn write_tree(root: &Path, files: &[(&str, Vec<u8>)]) {
    for (rel, content) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// Every file under `root`: relative path → content.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Asserts two trees hold the same files with the same bytes.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let (a, b) = (read_tree(expected), read_tree(actual));
    let names_a: Vec<_> = a.keys().collect();
    let names_b: Vec<_> = b.keys().collect();
    assert_eq!(names_a, names_b, "file lists differ");
    for (name, content) in &a {
        assert!(b[name] == *content, "content of {name} differs");
    }
}

/// A mixed tree: a multi-part file, small files, an empty file, nested and oddly named paths.
pub fn mixed_tree(root: &Path) {
    write_tree(
        root,
        &[
            ("big.bin", bytes(20 * 1024 * 1024 + 12_345, 1)),
            ("chk-1/_metadata", bytes(4_000, 2)),
            ("chk-1/a/b/c/deep.sst", bytes(300_000, 3)),
            ("shared/with space.sst", bytes(70_000, 4)),
            ("shared/ünïcödé+plus.sst", bytes(1, 5)),
            ("empty", Vec::new()),
        ],
    );
}

/// Parses a `--json` report from stdout.
pub fn json_report(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}",
            String::from_utf8_lossy(stdout)
        )
    })
}
