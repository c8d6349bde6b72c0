//! `ferry migrate`, `ferry verify` and `ferry ls` on real Flink snapshots (committed fixtures
//! written by Flink 2.3.0, re-rooted into a temp directory), without a JVM.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;
use predicates::prelude::*;

const CHAINED: (&str, &str) = ("2.3.0", "chained-incremental-checkpoint");

#[test]
fn migrates_a_chained_incremental_checkpoint_and_leaves_no_reference_to_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let previous = manifest["previous_job_id"].as_str().unwrap();
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    let out = ferry(&dir.path().join("state"))
        .args(["migrate", "--json"])
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["complete"], true, "{report}");
    // Shared files of this job and of the job it was restored from, placed as Flink would.
    assert!(dir.path().join(format!("new/{job}/shared")).is_dir());
    assert!(dir.path().join(format!("new/{previous}/shared")).is_dir());
    assert_eq!(
        report["plan"]["external_roots"].as_array().unwrap().len(),
        2,
        "{report}"
    );
    // Remove the original: the copy must stand on its own.
    std::fs::remove_dir_all(dir.path().join("old")).unwrap();
    let old_root = format!("file:{}", dir.path().join("old").display());
    for path in metadata_paths(&dst.join("_metadata")) {
        assert!(!path.starts_with(&old_root), "stale reference {path}");
    }
    ferry(&dir.path().join("state"))
        .args(["verify", "--deep"])
        .arg(&dst)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok: every referenced file is present",
        ));
    let restore = report["plan"]["restore_command"].as_str().unwrap();
    assert!(
        restore.starts_with(&format!("flink run -s file:{}", dst.display())),
        "{restore}"
    );
}

#[test]
fn savepoints_keep_relative_handles_and_move_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, _) = place_fixture("2.3.0", "rocksdb-savepoint", &dir.path().join("old"));
    let dst = dir.path().join("moved/sp");
    ferry(&dir.path().join("state"))
        .arg("migrate")
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success()
        .stdout(predicate::str::contains("restore with:"));
    assert_same_tree(&snapshot, &dst);
    // Byte-identical _metadata: a relative-only savepoint needs no rewrite… except inline names.
    let before = metadata_paths(&snapshot.join("_metadata"));
    let after = metadata_paths(&dst.join("_metadata"));
    assert_eq!(before.len(), after.len());
}

#[test]
fn a_migrated_snapshot_missing_a_file_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    let state = dir.path().join("state");
    ferry(&state)
        .arg("migrate")
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success();
    let shared = dir.path().join(format!("new/{job}/shared"));
    let victim = std::fs::read_dir(&shared)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&victim).unwrap();
    ferry(&state)
        .arg("verify")
        .arg(&dst)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("missing"))
        .stdout(predicate::str::contains(
            victim.file_name().unwrap().to_str().unwrap(),
        ))
        .stdout(predicate::str::contains("NOT RESTORABLE"));
}

#[test]
fn existing_complete_destination_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, _) = place_fixture("2.3.0", "hashmap-savepoint", &dir.path().join("old"));
    let dst = dir.path().join("moved/sp");
    let state = dir.path().join("state");
    ferry(&state)
        .arg("migrate")
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success();
    // The same migration again finds its own complete result: success, nothing copied.
    ferry(&state)
        .arg("migrate")
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success()
        .stdout(predicate::str::contains("already complete"));
    // Another snapshot's `_metadata` there (another savepoint of the same place) needs --force.
    let (other, _) = place_fixture(
        "2.3.0",
        "hashmap-full-checkpoint",
        &dir.path().join("other"),
    );
    ferry(&state)
        .arg("migrate")
        .arg(&other)
        .arg(&dst)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already at the destination"))
        .stderr(predicate::str::contains("--force"));
    ferry(&state)
        .args(["migrate", "--force"])
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success();
}

#[test]
fn dry_run_plans_rewrites_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    ferry(&dir.path().join("state"))
        .args(["migrate", "--dry-run"])
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success()
        .stdout(predicate::str::contains("rewrite"))
        .stdout(predicate::str::contains("fields)"))
        .stdout(predicate::str::contains("external"))
        .stdout(predicate::str::contains("dry run: nothing written"));
    assert!(!dir.path().join("new").exists());
}

#[test]
fn bad_sources_fail_cleanly_and_leave_the_destination_alone() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    // A referenced shared file is gone.
    let shared = dir.path().join(format!("old/checkpoints/{job}/shared"));
    let victim = std::fs::read_dir(&shared)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&victim).unwrap();
    ferry(&state)
        .arg("migrate")
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("incomplete"))
        .stderr(predicate::str::contains(
            victim.file_name().unwrap().to_str().unwrap(),
        ));
    assert!(!dir.path().join("new").exists());
    // Truncated _metadata: one line naming the byte offset.
    let metadata = snapshot.join("_metadata");
    let bytes = std::fs::read(&metadata).unwrap();
    std::fs::write(&metadata, &bytes[..bytes.len() / 2]).unwrap();
    ferry(&state)
        .arg("migrate")
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .code(1)
        .stderr(predicate::function(|s: &str| s.lines().count() == 1))
        .stderr(predicate::str::contains("cannot decode"))
        .stderr(predicate::str::contains("_metadata"));
    // Not a snapshot at all.
    ferry(&state)
        .arg("migrate")
        .arg(dir.path().join("old/checkpoints"))
        .arg(&dst)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has no _metadata"));
    assert!(!dir.path().join("new").exists());
}

#[test]
fn killed_migration_resumes_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    // Make it big enough to be killed midway: pad the snapshot with an unreferenced file.
    std::fs::write(snapshot.join("zz-padding.bin"), bytes(24 * 1024 * 1024, 3)).unwrap();
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    let state = dir.path().join("state");
    let mut child = std::process::Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", &state)
        .args(["migrate", "-q", "--part-size", "1M", "--bwlimit", "6M"])
        .arg(&snapshot)
        .arg(&dst)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dst.exists() || std::fs::read_dir(&dst).unwrap().count() < 3 {
        assert!(Instant::now() < deadline, "nothing was copied");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dst.join("_metadata").exists(),
        "_metadata written before the data"
    );
    let out = ferry(&state)
        .args(["migrate", "--json"])
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["complete"], true, "{report}");
    assert!(
        report["copy"]["files_skipped"].as_u64().unwrap() > 0,
        "nothing resumed: {report}"
    );
    ferry(&state).arg("verify").arg(&dst).assert().success();
}

#[test]
fn ls_lists_snapshots_and_migrate_latest_takes_the_newest_complete_one() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(CHAINED.0, CHAINED.1, &dir.path().join("old"));
    let job = manifest["job_id"].as_str().unwrap();
    let base = dir.path().join("old/checkpoints");
    // An incomplete, newer checkpoint directory (no _metadata).
    std::fs::create_dir_all(base.join(format!("{job}/chk-3"))).unwrap();
    std::fs::write(base.join(format!("{job}/chk-3/partial")), b"x").unwrap();
    let state = dir.path().join("state");
    let out = ferry(&state)
        .args(["ls", "--json"])
        .arg(&base)
        .assert()
        .success();
    let listed = json_report(&out.get_output().stdout);
    let rows: Vec<(String, bool)> = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["location"].as_str().unwrap().to_string(),
                s["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        rows.contains(&(format!("file:{}", snapshot.display()), true)),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|(l, c)| l.ends_with("chk-3") && !c),
        "{rows:?}"
    );
    ferry(&state)
        .arg("ls")
        .arg(&base)
        .assert()
        .success()
        .stdout(predicate::str::contains("NO"))
        .stdout(predicate::str::contains("chk-2"));
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    ferry(&state)
        .args(["migrate", "--latest"])
        .arg(&base)
        .arg(&dst)
        .assert()
        .success()
        .stderr(predicate::str::contains("newest complete snapshot"));
    assert!(dst.join("_metadata").exists());
}

#[test]
fn a_checkpoint_base_copied_without_rewriting_is_detected_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let gone = format!("file:/ferry-gone-{}/cluster-a", std::process::id());
    let (snapshot, manifest) =
        place_fixture_as_if_from(CHAINED.0, CHAINED.1, &dir.path().join("copy"), &gone);
    let state = dir.path().join("state");
    // Where it lies, the copy is not restorable: verify says so, and says how to fix it.
    ferry(&state)
        .arg("verify")
        .arg(&snapshot)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("missing"))
        .stdout(predicate::str::contains("copied from"))
        .stdout(predicate::str::contains("ferry migrate"));
    let job = manifest["job_id"].as_str().unwrap();
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    let out = ferry(&state)
        .args(["migrate", "--json"])
        .arg(&snapshot)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(
        report["plan"]["source_moved"]["from"],
        format!("{gone}/checkpoints"),
        "{report}"
    );
    assert!(
        dir.path().join(format!("new/{job}/shared")).is_dir(),
        "shared/ placed as Flink would"
    );
    for path in metadata_paths(&dst.join("_metadata")) {
        assert!(!path.contains("ferry-gone"), "stale reference {path}");
    }
    ferry(&state).arg("verify").arg(&dst).assert().success();
}

#[test]
fn every_real_flink_fixture_migrates_and_verifies_on_its_own() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ferry-metadata/tests/fixtures");
    let mut migrated = 0;
    for version_dir in std::fs::read_dir(&root).unwrap() {
        let version_dir = version_dir.unwrap().path();
        let Some(version) = version_dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("flink-")
            .map(str::to_string)
        else {
            continue;
        };
        for variant in std::fs::read_dir(&version_dir).unwrap() {
            let variant = variant.unwrap().file_name().into_string().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let (snapshot, manifest) = place_fixture(&version, &variant, &dir.path().join("old"));
            let rel = manifest["snapshot_dir"].as_str().unwrap();
            let dst = dir.path().join("new").join(rel);
            let state = dir.path().join("state");
            let out = ferry(&state)
                .args(["migrate", "--json"])
                .arg(&snapshot)
                .arg(&dst)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{version}/{variant}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report = json_report(&out.stdout);
            assert_eq!(report["complete"], true, "{version}/{variant}: {report}");
            std::fs::remove_dir_all(dir.path().join("old")).unwrap();
            let old_root = format!("file:{}", dir.path().join("old").display());
            for path in metadata_paths(&dst.join("_metadata")) {
                assert!(
                    !path.starts_with(&old_root),
                    "{version}/{variant}: stale {path}"
                );
            }
            let verify = ferry(&state)
                .args(["verify", "--deep"])
                .arg(&dst)
                .output()
                .unwrap();
            assert!(
                verify.status.success(),
                "{version}/{variant}: {}",
                String::from_utf8_lossy(&verify.stdout)
            );
            migrated += 1;
        }
    }
    assert!(migrated >= 40, "only {migrated} fixtures found");
}
