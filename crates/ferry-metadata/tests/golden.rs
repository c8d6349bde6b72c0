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

/// A fixture directory written by `cargo xtask fixtures`: its `manifest.json`.
struct Fixture {
    dir: PathBuf,
    manifest: serde_json::Value,
}

fn fixtures() -> Vec<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let Ok(versions) = std::fs::read_dir(&root) else {
        return out;
    };
    let mut versions: Vec<PathBuf> = versions.filter_map(|e| e.ok().map(|e| e.path())).collect();
    versions.sort();
    for v in versions {
        let Ok(variants) = std::fs::read_dir(&v) else {
            continue;
        };
        let mut variants: Vec<PathBuf> =
            variants.filter_map(|e| e.ok().map(|e| e.path())).collect();
        variants.sort();
        for dir in variants {
            let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
                continue;
            };
            let manifest = serde_json::from_str(&text).expect("manifest.json is JSON");
            out.push(Fixture { dir, manifest });
        }
    }
    out
}

/// ferry's view of each fixture equals what Flink's own loader saw when the fixture was
/// generated (`flink-view.txt`, written by the `ferry.Oracle` program): the same operators,
/// the same handles, the same resolved paths and sizes.
#[test]
fn golden_fixtures_match_flinks_view() {
    let all = fixtures();
    let mut failures = Vec::new();
    for f in &all {
        let m = &f.manifest;
        let rel = m["metadata"].as_str().unwrap();
        let bytes = std::fs::read(f.dir.join(rel)).unwrap();
        let md = ferry_metadata::decode(&bytes).unwrap();
        assert_eq!(
            i64::from(md.version),
            m["format_version"].as_i64().unwrap(),
            "{}: format version",
            f.dir.display()
        );
        let exclusive = format!(
            "{}/{}",
            m["original_root"].as_str().unwrap(),
            m["snapshot_dir"].as_str().unwrap()
        );
        let mut ours = ferry_metadata::flink_view(&md, &exclusive);
        ours.sort();
        let flink: Vec<String> = std::fs::read_to_string(f.dir.join("flink-view.txt"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        if ours != flink {
            let only_ours: Vec<_> = ours.iter().filter(|l| !flink.contains(l)).take(5).collect();
            let only_flink: Vec<_> = flink.iter().filter(|l| !ours.contains(l)).take(5).collect();
            failures.push(format!(
                "{}: ferry and Flink disagree ({} vs {} lines)\n  only ferry: {only_ours:?}\n  only Flink: {only_flink:?}",
                f.dir.display(),
                ours.len(),
                flink.len()
            ));
        }
    }
    eprintln!("golden: compared {} fixtures with Flink's view", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
