//! Fuzz target `decode`: see `checks::decode` (`../checks.rs`, shared with
//! `tests/fuzz_regressions.rs`) for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::decode(data));
