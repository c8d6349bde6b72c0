//! Fuzz target `journal`: the resume-journal reader (`ferry_core::transfer::journal::parse`,
//! and `Journal::read_only` on the same bytes in a file) never fails or panics on any bytes,
//! keeps its per-file state consistent, and a torn or unreadable line never hides the record
//! after it. The checks live in `../checks.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::journal(data);
    checks::journal_file(data, &std::env::temp_dir());
});
