//! Replays `tests/fuzz-regressions/journal/*` — inputs that broke the resume-journal reader —
//! through the checks of the `journal` fuzz target (`fuzz/checks.rs`, shared with it), so a
//! plain `cargo test` keeps them fixed on stable Rust. Add a crashing input by dropping the file
//! the fuzzer wrote (`target/fuzz/artifacts/journal/crash-…`) into that directory under a name
//! that says what it is.

use std::path::{Path, PathBuf};

use ferry_core::transfer::journal::Journal;

#[path = "../fuzz/checks.rs"]
mod checks;

fn regressions() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions/journal");
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn journal_regressions_pass_the_fuzz_checks() {
    let files = regressions();
    assert!(!files.is_empty(), "no regression inputs found");
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in files {
        eprintln!("replaying {}", path.display());
        checks::journal(&bytes);
        checks::journal_file(&bytes, dir.path());
    }
}

/// A crash can tear the last journal line inside a multi-byte character (a non-ASCII file
/// name). The reader used to load the whole file as UTF-8 text, so resuming failed outright
/// instead of skipping the torn line as documented.
#[test]
fn a_line_torn_inside_a_character_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let torn = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions/journal/torn-inside-utf8-char.jsonl");
    std::fs::copy(torn, &path).unwrap();
    let journal = Journal::open(&path, "file:/src", "s3://b/dst").expect("journal opens");
    assert_eq!(journal.prior("a").unwrap().done, Some((3, Some(9), 1)));
    assert_eq!(journal.prior("ü/b"), None);
    // The torn line was ended, so the next record is read back on its own line.
    journal
        .append(&ferry_core::transfer::journal::Record::Done {
            rel: "ü/b".into(),
            size: 3,
            mtime_ns: None,
            crc32c: 2,
            dst_mtime_ns: None,
        })
        .unwrap();
    drop(journal);
    let again = Journal::read_only(&path).expect("journal reads");
    assert_eq!(again.prior("ü/b").unwrap().done, Some((3, None, 2)));
}
