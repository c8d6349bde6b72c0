//! `ferry inspect` and `ferry rewrite` on the real-Flink fixtures
//! (`crates/ferry-metadata/tests/fixtures/flink-<version>/<variant>/`, see `cargo xtask
//! fixtures`): golden `--json` output per fixture, the human summary, error reporting, and
//! metadata-only rewrites.
//!
//! Golden files: `<fixture>/inspect.json`, with the fixture's absolute location replaced by
//! `<FIXTURE>`. `FERRY_BLESS=1 cargo test -p ferry-cli --test e2e inspect::golden` rewrites
//! them.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::support::ferry;

/// A fixture: its directory and `manifest.json`.
struct Fixture {
    dir: PathBuf,
    manifest: serde_json::Value,
}

impl Fixture {
    fn name(&self) -> String {
        format!(
            "flink-{}/{}",
            self.manifest["flink_version"].as_str().unwrap(),
            self.manifest["variant"].as_str().unwrap()
        )
    }

    fn snapshot_dir(&self) -> PathBuf {
        self.dir
            .join(self.manifest["snapshot_dir"].as_str().unwrap())
    }

    fn metadata(&self) -> PathBuf {
        self.snapshot_dir().join("_metadata")
    }

    fn original_root(&self) -> &str {
        self.manifest["original_root"].as_str().unwrap()
    }
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ferry-metadata/tests/fixtures")
}

fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let Ok(versions) = std::fs::read_dir(fixtures_root()) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = versions
        .filter_map(|v| v.ok().map(|v| v.path()))
        .filter(|p| p.is_dir())
        .flat_map(|v| {
            std::fs::read_dir(v)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
        })
        .collect();
    dirs.sort();
    for dir in dirs {
        if let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) {
            let manifest = serde_json::from_str(&text).unwrap();
            out.push(Fixture { dir, manifest });
        }
    }
    out
}

/// The fixture named `flink-<version>/<variant>` (newest version when `version` is empty).
fn fixture(version: &str, variant: &str) -> Option<Fixture> {
    fixtures().into_iter().rev().find(|f| {
        f.manifest["variant"] == variant
            && (version.is_empty() || f.manifest["flink_version"] == version)
    })
}

fn state() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs `ferry inspect --json PATH` and parses the output.
fn inspect_json(path: &Path) -> serde_json::Value {
    let out = ferry(state().path())
        .args(["inspect", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inspect {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Replaces the machine-specific fixture location with `<FIXTURE>`.
fn normalize(json: &str, fixture_dir: &Path) -> String {
    let abs = std::fs::canonicalize(fixture_dir).unwrap();
    json.replace(&format!("file:{}", abs.display()), "file:<FIXTURE>")
}

#[test]
fn golden_inspect_json_for_every_fixture() {
    let all = fixtures();
    let bless = std::env::var("FERRY_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for f in &all {
        let value = inspect_json(&std::fs::canonicalize(f.snapshot_dir()).unwrap());
        let text = normalize(&serde_json::to_string_pretty(&value).unwrap(), &f.dir) + "\n";
        let golden = f.dir.join("inspect.json");
        if bless {
            std::fs::write(&golden, &text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == text => {}
            Ok(_) => failures.push(format!(
                "{}: inspect --json differs from {} (FERRY_BLESS=1 to accept)",
                f.name(),
                golden.display()
            )),
            Err(_) => failures.push(format!("{}: no {}", f.name(), golden.display())),
        }
        // The expectations the issue names, checked on every fixture.
        assert_eq!(
            value["format_version"],
            f.manifest["format_version"],
            "{}",
            f.name()
        );
        assert!(value["checkpoint_id"].as_i64().unwrap() >= 1);
        for op in value["operators"].as_array().unwrap() {
            let id = op["id"].as_str().unwrap();
            assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(op["parallelism"], 2);
        }
        let files = value["files"].as_array().unwrap();
        assert!(!files.is_empty(), "{}: no files (threshold 0)", f.name());
        for file in files {
            let path = file["path"].as_str().unwrap();
            assert!(path.starts_with("file:/"), "{path}");
            assert!(file["size"].is_u64() || file["size"].is_null());
            assert!(file["relative"].is_boolean());
            if file["relative"] == true {
                assert_eq!(file["inside"], true, "{path}");
            }
        }
    }
    eprintln!("inspect golden: {} fixtures", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_verdicts_match_the_variants() {
    for f in fixtures() {
        let value = inspect_json(&f.snapshot_dir());
        let variant = f.manifest["variant"].as_str().unwrap();
        let v1x_10 = f.manifest["format_version"] == 2;
        let verdict = value["relocation"]["verdict"].as_str().unwrap();
        let expected = if variant.ends_with("savepoint") && !v1x_10 {
            "movable"
        } else if variant == "hashmap-full-checkpoint" && !v1x_10 {
            // Exclusive checkpoint files are relative since Flink 1.11.
            "movable"
        } else {
            "needs-migrate"
        };
        // Unaligned heap checkpoints hold only chk-N files; other checkpoints may too.
        if variant == "unaligned-checkpoint" || variant == "changelog-checkpoint" {
            continue;
        }
        assert_eq!(verdict, expected, "{}", f.name());
        if variant == "chained-incremental-checkpoint" {
            let prev = f.manifest["previous_job_id"].as_str().unwrap();
            let roots: Vec<&str> = value["external_roots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["root"].as_str().unwrap())
                .collect();
            assert!(
                roots
                    .iter()
                    .any(|r| r.ends_with(&format!("{prev}/shared/"))),
                "{}: {roots:?}",
                f.name()
            );
        }
    }
}

#[test]
fn inspect_directory_and_metadata_path_agree() {
    let Some(f) = fixture("", "rocksdb-incremental-checkpoint") else {
        return;
    };
    let by_dir = inspect_json(&f.snapshot_dir());
    let by_file = inspect_json(&f.metadata());
    assert_eq!(by_dir, by_file);
    // A file:// URI names the same snapshot.
    let abs = std::fs::canonicalize(f.snapshot_dir()).unwrap();
    let by_uri = inspect_json(Path::new(&format!("file://{}", abs.display())));
    assert_eq!(by_dir, by_uri);
}

#[test]
fn inspect_human_summary() {
    let Some(f) = fixture("", "rocksdb-incremental-checkpoint") else {
        return;
    };
    let out = ferry(state().path())
        .arg("inspect")
        .arg(f.snapshot_dir())
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let version = f.manifest["format_version"].as_i64().unwrap();
    assert!(text.contains(&format!("format      version {version}: written by Flink")));
    assert!(text.contains("snapshot    id "));
    assert!(text.contains("ferry-counter") || version < 5);
    assert!(text.contains("1a066c2a3ea2252c9e6e3760c9acbee0"), "{text}");
    assert!(
        text.contains("outside     file:/tmp/ferry-fixtures/"),
        "{text}"
    );
    assert!(text.contains("/shared/"), "{text}");
    assert!(text.contains("needs `ferry migrate`"), "{text}");

    let Some(sp) = fixture("", "rocksdb-native-savepoint") else {
        return;
    };
    let out = ferry(state().path())
        .arg("inspect")
        .arg(sp.metadata())
        .arg("--files")
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("savepoint, native format"), "{text}");
    assert!(text.contains("movable as a directory"), "{text}");
    assert!(text.contains("inside   relative"), "{text}");
}

/// Copies a fixture's `_metadata` into a fresh directory, transformed by `f`.
fn broken_copy(transform: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Option<(tempfile::TempDir, PathBuf)> {
    let f = fixture("", "hashmap-full-checkpoint")?;
    let bytes = std::fs::read(f.metadata()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chk-1");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("_metadata"), transform(bytes)).unwrap();
    Some((dir, path))
}

#[test]
fn inspect_truncated_metadata_names_offset_and_field() {
    let Some((_tmp, dir)) = broken_copy(|mut b| {
        b.truncate(b.len() / 2);
        b
    }) else {
        return;
    };
    let out = ferry(state().path())
        .arg("inspect")
        .arg(&dir)
        .assert()
        .code(1)
        .stdout("");
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("ferry: error: "), "{err}");
    assert!(err.contains("cannot decode"), "{err}");
    assert!(err.contains("at byte 0x"), "{err}");
    assert!(err.contains("(operator["), "{err}");
}

#[test]
fn inspect_corrupt_tag_and_unknown_version() {
    let Some((_tmp, dir)) = broken_copy(|mut b| {
        b[4..8].copy_from_slice(&9i32.to_be_bytes());
        b
    }) else {
        return;
    };
    ferry(state().path())
        .args(["inspect", "--json"])
        .arg(&dir)
        .assert()
        .code(1)
        // With --json the error is also a JSON object on stdout (docs/json.md).
        .stdout(predicate::str::contains("\"ok\": false"))
        .stderr(predicate::str::contains(
            "unknown metadata format version 9 at byte 0x4",
        ));

    let Some((_tmp, dir)) = broken_copy(|mut b| {
        b[0] = 0;
        b
    }) else {
        return;
    };
    ferry(state().path())
        .arg("inspect")
        .arg(dir.join("_metadata"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a Flink _metadata file"));
}

#[test]
fn inspect_missing_path() {
    let tmp = tempfile::tempdir().unwrap();
    ferry(state().path())
        .arg("inspect")
        .arg(tmp.path().join("nope"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
    // A directory without _metadata is not a snapshot.
    ferry(state().path())
        .arg("inspect")
        .arg(tmp.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has no _metadata"));
}

#[test]
fn rewrite_without_maps_is_byte_identical_for_every_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, f) in fixtures().iter().enumerate() {
        let out = tmp.path().join(format!("{i}"));
        ferry(state().path())
            .arg("rewrite")
            .arg(f.metadata())
            .arg("-o")
            .arg(&out)
            .arg("--quiet")
            .assert()
            .success();
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(f.metadata()).unwrap(),
            "{}: rewrite without maps changed bytes",
            f.name()
        );
    }
}

#[test]
fn rewrite_with_maps_counts_and_rewrites() {
    let Some(f) = fixture("", "chained-incremental-checkpoint") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("chk");
    std::fs::create_dir_all(&dest).unwrap();
    let root = f.original_root();
    let prev = f.manifest["previous_job_id"].as_str().unwrap();
    let out = ferry(state().path())
        .arg("rewrite")
        .arg(f.snapshot_dir())
        .arg("-o")
        .arg(&dest)
        .arg("--map")
        .arg(format!("{root}=s3://bucket/flink"))
        .arg("--map")
        .arg(format!("{root}/checkpoints/{prev}=hdfs://nn:8020/old-job"))
        .arg("--map")
        .arg("file:/nowhere=s3://x/y")
        .arg("--allow-unmatched")
        .arg("--json")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "--map file:/nowhere=s3://x/y matched no path",
        ));
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let maps = report["maps"].as_array().unwrap();
    let fields: Vec<u64> = maps.iter().map(|m| m["fields"].as_u64().unwrap()).collect();
    assert!(fields[0] > 0 && fields[1] > 0 && fields[2] == 0, "{report}");
    assert_eq!(
        report["fields_changed"].as_u64().unwrap(),
        fields.iter().sum::<u64>()
    );
    assert_eq!(report["identical"], false);

    // The rewritten file decodes and shows the new locations only.
    let value = inspect_json(&dest);
    let paths: Vec<&str> = value["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths
        .iter()
        .any(|p| p.starts_with("s3://bucket/flink/checkpoints/")));
    assert!(paths
        .iter()
        .any(|p| p.starts_with("hdfs://nn:8020/old-job/shared/")));
    assert!(!paths.iter().any(|p| p.starts_with(root)), "{paths:?}");

    // Never over an existing file without --force, never over the input without --in-place.
    ferry(state().path())
        .arg("rewrite")
        .arg(f.metadata())
        .arg("-o")
        .arg(&dest)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("exists; pass --force"));
    ferry(state().path())
        .arg("rewrite")
        .arg(f.metadata())
        .arg("-o")
        .arg(&dest)
        .arg("--force")
        .arg("--quiet")
        .assert()
        .success();
    assert!(std::fs::read(dest.join("_metadata")).unwrap() == std::fs::read(f.metadata()).unwrap());
    ferry(state().path())
        .arg("rewrite")
        .arg(f.metadata())
        .arg("-o")
        .arg(f.metadata())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is the input; pass --in-place"));
    ferry(state().path())
        .arg("rewrite")
        .arg(f.metadata())
        .assert()
        .code(2);
}

#[test]
fn rewrite_in_place_and_human_report() {
    let Some(f) = fixture("", "rocksdb-incremental-checkpoint") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let meta = tmp.path().join("_metadata");
    std::fs::copy(f.metadata(), &meta).unwrap();
    // Plain local paths are taken in Flink's form (file:/…).
    let root = f.original_root().strip_prefix("file:").unwrap().to_string();
    ferry(state().path())
        .arg("rewrite")
        .arg(&meta)
        .arg("--in-place")
        .arg("--map")
        .arg(format!("{root}/=/data/moved/"))
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "file:{root}/ -> file:/data/moved/: "
        )))
        .stdout(predicate::str::contains("path fields changed"));
    let value = inspect_json(&meta);
    assert!(value["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["relative"] == false)
        .all(|f| f["path"].as_str().unwrap().starts_with("file:/data/moved/")));
}
