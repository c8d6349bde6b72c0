//! Replays saved fuzz inputs — `tests/fuzz-regressions/<target>/*` (inputs that once broke the
//! `decode` or `rewrite` target), the earlier `tests/regressions/*` — and every real-Flink
//! fixture (the fuzzers' seeds) through the targets' own checks (`fuzz/checks.rs`, shared with
//! them), so a plain `cargo test` keeps them passing on stable Rust. To keep a crash, drop the
//! file the fuzzer wrote (`target/fuzz/artifacts/<target>/crash-…`) into the target's directory
//! under a name that says what it is.

use std::path::{Path, PathBuf};

#[path = "../fuzz/checks.rs"]
mod checks;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (recursively) accepted by `keep`, sorted.
fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
    out.sort();
}

fn replay(files: &[PathBuf], check: fn(&[u8])) {
    assert!(!files.is_empty(), "no inputs to replay");
    for path in files {
        eprintln!("replaying {}", path.display());
        check(&std::fs::read(path).unwrap());
    }
}

fn saved(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let dir = manifest_dir().join("tests/fuzz-regressions").join(target);
    files_under(&dir, &|p| !p.ends_with(".gitkeep"), &mut files);
    files_under(
        &manifest_dir().join("tests/regressions"),
        &|_| true,
        &mut files,
    );
    files
}

fn fixtures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let dir = manifest_dir().join("tests/fixtures");
    files_under(&dir, &|p| p.ends_with("_metadata"), &mut files);
    files
}

#[test]
fn decode_regressions_pass_the_fuzz_checks() {
    replay(&saved("decode"), checks::decode);
}

#[test]
fn rewrite_regressions_pass_the_fuzz_checks() {
    replay(&saved("rewrite"), checks::rewrite);
}

#[test]
fn fixtures_pass_the_decode_fuzz_checks() {
    replay(&fixtures(), checks::decode);
}

#[test]
fn fixtures_pass_the_rewrite_fuzz_checks() {
    replay(&fixtures(), checks::rewrite);
}
