//! Golden files: every `tests/fixtures/**/_metadata` (real files written by Flink, added by the
//! fixture generator) must decode and re-encode byte-identically. With no fixtures present the
//! test passes and says so; set `FERRY_REQUIRE_FIXTURES=1` to make a missing fixture set fail.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.file_name().is_some_and(|n| n == "_metadata") {
            out.push(p);
        }
    }
}

#[test]
fn golden_fixtures_roundtrip_byte_exactly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    collect(&root, &mut files);
    let required = std::env::var("FERRY_REQUIRE_FIXTURES").is_ok_and(|v| v == "1");
    if files.is_empty() {
        assert!(
            !required,
            "FERRY_REQUIRE_FIXTURES=1 but no _metadata files under {}",
            root.display()
        );
        eprintln!(
            "golden: no _metadata fixtures under {} yet; nothing was checked \
             (set FERRY_REQUIRE_FIXTURES=1 to make this an error)",
            root.display()
        );
        return;
    }
    let mut failures = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        match ferry_metadata::decode(&bytes) {
            Err(e) => failures.push(format!("{}: decode: {e}", f.display())),
            Ok(md) => {
                match ferry_metadata::encode(&md) {
                    Ok(out) if out == bytes => {}
                    Ok(out) => failures.push(format!(
                        "{}: re-encoding differs ({} vs {} bytes, first difference at {:?})",
                        f.display(),
                        out.len(),
                        bytes.len(),
                        out.iter().zip(&bytes).position(|(a, b)| a != b)
                    )),
                    Err(e) => failures.push(format!("{}: encode: {e}", f.display())),
                }
                // The path API must work on real files too.
                let _ = md.paths();
                let _ = md.summary();
            }
        }
    }
    eprintln!("golden: checked {} _metadata fixtures", files.len());
    assert!(
        failures.is_empty(),
        "golden failures:\n{}",
        failures.join("\n")
    );
}
