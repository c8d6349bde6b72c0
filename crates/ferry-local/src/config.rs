//! The local backend's settings: its one option key, declared for `ferry options` and the
//! unknown-key check.

use ferry_core::OptionKey;

/// The option key that turns direct writes off (`direct_io=false`).
pub const DIRECT_IO_KEY: &str = "direct_io";

/// Every option key this backend accepts, with its meaning and default (`ferry options`);
/// any other key given for a local path is a usage error.
pub const OPTIONS: &[OptionKey] = &[OptionKey::new(
    DIRECT_IO_KEY,
    "write large parts straight to the file, bypassing the page cache where it helps: true or false",
    "true",
)];
