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

/// The committed real-Flink fixture `flink-<version>/<variant>`.
pub fn fixture_dir(version: &str, variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ferry-metadata/tests/fixtures")
        .join(format!("flink-{version}"))
        .join(variant)
}

/// Copies a fixture under `into` and rewrites the absolute paths of its `_metadata` files
/// from the machine that generated it to `into`, as if Flink had written it there. Returns the
/// snapshot directory and the fixture's manifest.
pub fn place_fixture(version: &str, variant: &str, into: &Path) -> (PathBuf, serde_json::Value) {
    place_fixture_as_if_from(version, variant, into, &format!("file:{}", into.display()))
}

/// Like [`place_fixture`], but the `_metadata` files name `written_at` as their root: the
/// snapshot looks copied from there (`distcp` of a whole checkpoint base) without rewriting.
pub fn place_fixture_as_if_from(
    version: &str,
    variant: &str,
    into: &Path,
    written_at: &str,
) -> (PathBuf, serde_json::Value) {
    let dir = fixture_dir(version, variant);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let original = manifest["original_root"].as_str().unwrap().to_string();
    let new_root = written_at.to_string();
    for (rel, content) in read_tree(&dir) {
        let target = into.join(&rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let content = if rel.ends_with("_metadata") {
            let mut metadata = ferry_metadata::Metadata::from_bytes(&content).unwrap();
            let maps = ferry_metadata::PrefixMaps::new(vec![ferry_metadata::PrefixMap::new(
                original.clone(),
                new_root.clone(),
            )]);
            let options = ferry_metadata::PrefixRewriteOptions {
                include_inline_names: true,
            };
            metadata.apply_prefix_maps(&maps, options).unwrap();
            metadata.to_bytes().unwrap()
        } else {
            content
        };
        std::fs::write(target, content).unwrap();
    }
    let snapshot = into.join(manifest["snapshot_dir"].as_str().unwrap());
    (snapshot, manifest)
}

/// Every absolute path string a `_metadata` file holds.
pub fn metadata_paths(metadata: &Path) -> Vec<String> {
    let bytes = std::fs::read(metadata).unwrap();
    ferry_metadata::Metadata::from_bytes(&bytes)
        .unwrap()
        .paths()
        .iter()
        .map(|p| p.value_str().into_owned())
        .collect()
}
