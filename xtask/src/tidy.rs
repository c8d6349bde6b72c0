//! Tidy rules checked by `cargo xtask test`: every Rust file opens with a `//!` doc saying what
//! it owns, and no `dbg!` is left behind.

use std::path::Path;

use anyhow::{bail, Result};

/// Checks every `.rs` file under `crates/`, `tests/` and `xtask/`.
pub fn run() -> Result<()> {
    let root = super::util::root();
    let mut problems = Vec::new();
    for dir in ["crates", "tests", "xtask"] {
        visit(&root.join(dir), &mut |path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let rel = path.strip_prefix(&root).unwrap_or(path).display();
            if !first.starts_with("//!") && !first.starts_with("#![") {
                problems.push(format!("{rel}: missing a //! module doc at the top"));
            }
            if text.contains(concat!("dbg", "!(")) {
                problems.push(format!("{rel}: contains dbg!"));
            }
        });
    }
    if !problems.is_empty() {
        bail!("tidy:\n{}", problems.join("\n"));
    }
    Ok(())
}

fn visit(dir: &Path, check: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "fixtures" {
                visit(&path, check);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            check(&path);
        }
    }
}
