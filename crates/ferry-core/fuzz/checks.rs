//! The checks of the `journal` fuzz target, in one file shared by the target
//! (`fuzz_targets/journal.rs`) and the regression tests (`tests/fuzz_regressions.rs`), so a
//! plain `cargo test` replays saved inputs against exactly what the fuzzer checked.

use std::path::Path;

use ferry_core::transfer::journal::{self, Journal, Record};

/// `journal::parse` on arbitrary bytes: no panic; every file's state is one the engine can act
/// on; a record appended after the bytes (as `Journal::open` does after a torn line) is read.
pub fn journal(data: &[u8]) {
    let prior = journal::parse(data);
    for (rel, state) in &prior {
        if state.done.is_some() {
            assert!(
                state.upload.is_none() && state.parts.is_empty(),
                "{rel:?}: done but an upload is pending"
            );
        }
        if !state.parts.is_empty() {
            assert!(state.upload.is_some(), "{rel:?}: parts without an upload");
        }
        let mut indexes: Vec<u32> = state.parts.iter().map(|(p, _)| p.index).collect();
        indexes.sort_unstable();
        indexes.dedup();
        assert_eq!(indexes.len(), state.parts.len(), "{rel:?}: a part twice");
    }

    let mut more = data.to_vec();
    if !more.is_empty() && !more.ends_with(b"\n") {
        more.push(b'\n');
    }
    let probe = Record::Done {
        rel: "fuzz-probe/ü".into(),
        size: 7,
        mtime_ns: None,
        crc32c: 9,
        dst_mtime_ns: None,
    };
    more.extend(serde_json::to_vec(&probe).expect("a record encodes"));
    more.push(b'\n');
    let state = journal::parse(&more).remove("fuzz-probe/ü");
    assert_eq!(
        state.and_then(|s| s.done),
        Some((7, None, 9)),
        "a record after the input was lost"
    );
}

/// The same bytes as a journal file in `dir`: opening it (read-only) succeeds and loads what
/// `parse` does.
pub fn journal_file(data: &[u8], dir: &Path) {
    let path = dir.join(format!("ferry-journal-fuzz-{}.jsonl", std::process::id()));
    std::fs::write(&path, data).expect("cannot write the scratch journal");
    let opened = Journal::read_only(&path).expect("a journal file must always open");
    for (rel, state) in journal::parse(data) {
        assert_eq!(opened.prior(&rel), Some(&state), "{rel:?}");
    }
    let _ = std::fs::remove_file(&path);
}
