//! The traps of treating a Flink snapshot as a plain directory, flagged: `cp` of a snapshot
//! that depends on files outside it, `verify` of such a copy, `migrate` of a snapshot whose
//! checkpoint base was copied without rewriting (whether or not the old place still exists),
//! `ls` sizes and reasons, and `rewrite --map` that matches nothing. Real-Flink fixtures,
//! re-rooted into temp directories.

use std::path::Path;

use crate::support::*;
use predicates::prelude::*;

const CHAINED: (&str, &str) = ("2.3.0", "chained-incremental-checkpoint");

/// Total bytes of the files under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    read_tree(dir).values().map(|c| c.len() as u64).sum()
}

/// On-disk bytes of the distinct files the snapshot's `_metadata` names in a `shared/`
/// directory (shared/ also holds files of older checkpoints that nothing references).
fn referenced_shared_bytes(snapshot: &Path) -> u64 {
    let paths: std::collections::BTreeSet<String> = metadata_paths(&snapshot.join("_metadata"))
        .into_iter()
        .filter(|p| p.contains("/shared/"))
        .collect();
    assert_eq!(paths.len(), 24, "{paths:?}");
    paths
        .iter()
        .map(|p| {
            std::fs::metadata(p.strip_prefix("file:").unwrap())
                .unwrap()
                .len()
        })
        .sum()
}

/// Copies a directory tree byte for byte, as distcp or `aws s3 sync` would.
fn copy_tree(from: &Path, to: &Path) {
    let files: Vec<(String, Vec<u8>)> = read_tree(from).into_iter().collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    write_tree(to, &refs);
}

#[test]
fn cp_of_an_incremental_checkpoint_warns_and_points_to_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let previous = manifest["previous_job_id"].as_str().unwrap();
    let out = ferry(&state)
        .arg("cp")
        .arg(&snapshot)
        .arg(dir.path().join("copy/chk-2"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let warning = warnings[0];
    assert!(warning.contains("24 files"), "{warning}");
    assert!(warning.contains("ferry migrate"), "{warning}");
    for root in [job, previous] {
        let shared = format!("old/checkpoints/{root}/shared (12 files)");
        assert!(warning.contains(&shared), "{warning}");
    }
    // The data was still copied: the warning does not change what cp does.
    assert_same_tree(&snapshot, &dir.path().join("copy/chk-2"));

    // A savepoint of relative handles moves as a directory: no warning.
    let (savepoint, _) = place_fixture("2.3.0", "rocksdb-savepoint", &dir.path().join("sp"));
    ferry(&state)
        .arg("cp")
        .arg(&savepoint)
        .arg(dir.path().join("sp-copy"))
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());

    // Flink 1.10 savepoints name their own files by absolute path: a copy still points back.
    let (old_savepoint, _) = place_fixture("1.10.3", "hashmap-savepoint", &dir.path().join("sp1"));
    ferry(&state)
        .arg("cp")
        .arg(&old_savepoint)
        .arg(dir.path().join("sp1-copy"))
        .assert()
        .success()
        .stderr(predicate::str::contains("6 files"))
        .stderr(predicate::str::contains(format!(
            "{} (6 files)",
            old_savepoint.display()
        )));
}

#[test]
fn verify_of_a_plain_copy_says_what_it_still_depends_on() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let copy = dir.path().join("copy/chk-2");
    ferry(&state)
        .args(["cp", "-q"])
        .arg(&snapshot)
        .arg(&copy)
        .assert()
        .success();
    let out = ferry(&state).arg("verify").arg(&copy).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let verdict = stdout.lines().last().unwrap();
    assert!(
        verdict.starts_with("ok: every referenced file is present")
            && verdict.contains("but the snapshot depends on 24 files"),
        "{stdout}"
    );
    assert!(
        verdict.contains(&format!("old/checkpoints/{job}/shared (12 files)")),
        "{verdict}"
    );
    assert!(verdict.contains("ferry migrate"), "{verdict}");
    let out = ferry(&state)
        .args(["verify", "--json"])
        .arg(&copy)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["self_contained"], false, "{report}");
    assert_eq!(report["external_files"], 24, "{report}");
    let shared_bytes = referenced_shared_bytes(&snapshot);
    assert_eq!(report["external_bytes"], shared_bytes, "{report}");

    // Once the original's shared/ goes, the copy is broken, and verify says where it looked.
    std::fs::remove_dir_all(dir.path().join("old")).unwrap();
    ferry(&state)
        .arg("verify")
        .arg(&copy)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("depends on 24 files"))
        .stdout(predicate::str::contains("NOT RESTORABLE"));

    // A savepoint of relative handles is self-contained.
    let (savepoint, _) = place_fixture("2.3.0", "rocksdb-savepoint", &dir.path().join("sp"));
    let out = ferry(&state)
        .args(["verify", "--json"])
        .arg(&savepoint)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["self_contained"], true, "{report}");
    assert_eq!(report["external_files"], 0, "{report}");
}

/// Runs `ferry migrate --json` with extra arguments; returns the report.
fn migrate_json(state: &Path, src: &Path, dst: &Path, extra: &[&str]) -> serde_json::Value {
    let out = ferry(state)
        .args(["migrate", "--json"])
        .args(extra)
        .arg(src)
        .arg(dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["complete"], true, "{report}");
    report
}

/// `(named, read_from)` of each external root of a migration plan, sorted.
fn sources(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut sources: Vec<(String, String)> = report["plan"]["external_sources"]
        .as_array()
        .unwrap_or_else(|| panic!("no external_sources: {report}"))
        .iter()
        .map(|s| {
            (
                s["named"].as_str().unwrap().to_string(),
                s["read_from"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sources.sort();
    sources
}

#[test]
fn migrate_of_a_base_copied_without_rewriting_lays_out_the_same_whether_or_not_the_original_exists()
{
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (_, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("orig"));
    let job = manifest["job_id"].as_str().unwrap();
    let previous = manifest["previous_job_id"].as_str().unwrap();
    // The whole checkpoint base copied without rewriting: its _metadata names orig/.
    copy_tree(&dir.path().join("orig"), &dir.path().join("copy"));
    let snapshot = dir.path().join(format!("copy/checkpoints/{job}/chk-2"));
    let orig = format!("file:{}/checkpoints", dir.path().join("orig").display());
    let copy = format!("file:{}/checkpoints", dir.path().join("copy").display());
    let dst = |name: &str| dir.path().join(format!("{name}/{job}/chk-2"));
    let layout =
        |name: &str| -> Vec<String> { read_tree(&dir.path().join(name)).into_keys().collect() };

    // The original still exists: read beside the snapshot, placed as Flink lays it out.
    let report = migrate_json(&state, &snapshot, &dst("a"), &[]);
    assert_eq!(report["plan"]["source_moved"]["from"], orig, "{report}");
    assert_eq!(report["plan"]["source_moved"]["count"], 24, "{report}");
    let beside = vec![
        (
            format!("{orig}/{job}/shared"),
            format!("{copy}/{job}/shared"),
        ),
        (
            format!("{orig}/{previous}/shared"),
            format!("{copy}/{previous}/shared"),
        ),
    ];
    assert_eq!(sources(&report), beside, "{report}");
    assert!(dir.path().join(format!("a/{job}/shared")).is_dir());
    assert!(dir.path().join(format!("a/{previous}/shared")).is_dir());
    assert!(!dir.path().join(format!("a/{job}/external")).exists());

    // Asked to read the original: read there, the same layout.
    let report = migrate_json(
        &state,
        &snapshot,
        &dst("b"),
        &["--external-source", "original"],
    );
    let original: Vec<(String, String)> =
        beside.iter().map(|(n, _)| (n.clone(), n.clone())).collect();
    assert_eq!(sources(&report), original, "{report}");
    assert_eq!(layout("a"), layout("b"));

    // One file missing beside: that root alone is read from the original, the same layout.
    let victim = std::fs::read_dir(dir.path().join(format!("copy/checkpoints/{job}/shared")))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = std::fs::read(&victim).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let report = migrate_json(&state, &snapshot, &dst("c"), &[]);
    assert_eq!(
        sources(&report),
        vec![original[0].clone(), beside[1].clone()],
        "{report}"
    );
    let reason = report["plan"]["external_sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["named"] == original[0].0)
        .unwrap()["reason"]
        .to_string();
    assert!(reason.contains("missing"), "{reason}");
    assert_eq!(layout("a"), layout("c"));
    // Insisting on beside fails before anything is written.
    ferry(&state)
        .args(["migrate", "--external-source", "beside"])
        .arg(&snapshot)
        .arg(dst("d"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--external-source beside"))
        .stderr(predicate::str::contains(
            victim.file_name().unwrap().to_str().unwrap(),
        ));
    assert!(!dir.path().join("d").exists());
    std::fs::write(&victim, kept).unwrap();

    // The original gone: read beside, the same layout; asking for the original fails.
    std::fs::remove_dir_all(dir.path().join("orig")).unwrap();
    let report = migrate_json(&state, &snapshot, &dst("e"), &[]);
    assert_eq!(sources(&report), beside, "{report}");
    assert_eq!(layout("a"), layout("e"));
    ferry(&state)
        .args(["migrate", "--external-source", "original"])
        .arg(&snapshot)
        .arg(dst("f"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing"));
    assert!(!dir.path().join("f").exists());
    // Every result stands on its own.
    for name in ["a", "b", "c", "e"] {
        ferry(&state)
            .arg("verify")
            .arg(dst(name))
            .assert()
            .success()
            .stdout(predicate::str::contains("ok"));
    }
}

#[test]
fn ls_reports_own_and_external_sizes_reasons_any_snapshot_name_and_missing_roots() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let base = dir.path().join("old/checkpoints");
    std::fs::create_dir_all(base.join(format!("{job}/chk-3"))).unwrap();
    std::fs::write(base.join(format!("{job}/chk-3/partial")), b"x").unwrap();
    // A savepoint kept under a name of the user's choosing.
    let (savepoint, _) = place_fixture("2.3.0", "rocksdb-savepoint", &dir.path().join("sp"));
    let renamed = base.join("backups/before-upgrade");
    std::fs::create_dir_all(renamed.parent().unwrap()).unwrap();
    std::fs::rename(&savepoint, &renamed).unwrap();

    let out = ferry(&state)
        .args(["ls", "--json"])
        .arg(&base)
        .assert()
        .success();
    let listed = json_report(&out.get_output().stdout);
    let row = |suffix: &str| {
        listed["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["location"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in {listed}"))
            .clone()
    };
    let chk2 = row(&format!("{job}/chk-2"));
    let own = tree_bytes(&snapshot);
    let external = referenced_shared_bytes(&snapshot);
    assert_eq!(chk2["own_size"], own, "{chk2}");
    assert_eq!(chk2["external_size"], external, "{chk2}");
    assert_eq!(chk2["external_files"], 24, "{chk2}");
    assert_eq!(chk2["size"], own + external, "{chk2}");
    let chk3 = row(&format!("{job}/chk-3"));
    assert_eq!(chk3["complete"], false, "{chk3}");
    assert!(
        chk3["problem"].as_str().unwrap().contains("no _metadata"),
        "{chk3}"
    );
    let kept = row("backups/before-upgrade");
    assert_eq!(kept["complete"], true, "{kept}");
    assert_eq!(kept["kind"], "savepoint", "{kept}");
    assert_eq!(kept["external_files"], 0, "{kept}");

    ferry(&state)
        .arg("ls")
        .arg(&base)
        .assert()
        .success()
        .stdout(predicate::str::contains("external"))
        .stdout(predicate::str::contains("before-upgrade"))
        .stdout(predicate::function(|s: &str| {
            s.lines()
                .any(|l| l.contains("chk-3") && l.contains("NO") && l.contains("no _metadata"))
        }));

    // A root that does not exist is an error, not an empty listing.
    ferry(&state)
        .arg("ls")
        .arg(dir.path().join("no-such-dir"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
    // An existing directory without snapshots is an empty listing.
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    ferry(&state)
        .arg("ls")
        .arg(dir.path().join("empty"))
        .assert()
        .success()
        .stdout(predicate::str::contains("no snapshots"));
}

#[test]
fn rewrite_with_a_map_that_matches_nothing_fails_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (snapshot, _) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let out = dir.path().join("out/_metadata");
    let old_root = format!("file:{}", dir.path().join("old").display());
    ferry(&state)
        .arg("rewrite")
        .arg(&snapshot)
        .arg("-o")
        .arg(&out)
        .arg("--map")
        .arg(format!("{old_root}=file:/new"))
        .args(["--map", "hdfs://typo:8020/flink=file:/elsewhere"])
        .assert()
        .code(1)
        .stderr(predicate::function(|s: &str| s.lines().count() == 1))
        .stderr(predicate::str::contains("hdfs://typo:8020/flink"))
        .stderr(predicate::str::contains("matched no path"))
        .stderr(predicate::str::contains("--allow-unmatched"));
    assert!(!out.exists(), "written despite the error");
    ferry(&state)
        .arg("rewrite")
        .arg(&snapshot)
        .arg("-o")
        .arg(&out)
        .args(["--map", "hdfs://typo:8020/flink=file:/elsewhere"])
        .arg("--allow-unmatched")
        .assert()
        .success()
        .stderr(predicate::str::contains("matched no path"));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(snapshot.join("_metadata")).unwrap()
    );
}
