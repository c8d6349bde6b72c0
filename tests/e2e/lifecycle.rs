//! `ferry gc` and `ferry dispose` on local disk, on the real-Flink chained incremental
//! checkpoint fixture (a job restored from another job's checkpoint, referencing that job's
//! `shared/`, whose `shared/` also holds files nothing references any more): dry runs delete
//! nothing, `--delete` removes exactly the unreferenced files, the kept checkpoint still
//! verifies, and bad input is a one-line error that deletes nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::*;

const CHAINED: (&str, &str) = ("2.3.0", "chained-incremental-checkpoint");
const OLD_JOB: &str = "checkpoints/ffccbdd66f07bee567ddc49ad8467567";
const NEW_JOB: &str = "checkpoints/f65c6dc1c21a873b2a79658f2c9cc879";

/// Places the fixture under `root` with every file two hours old (past the grace period).
fn place(root: &Path) {
    place_fixture(CHAINED.0, CHAINED.1, root);
    let old = SystemTime::now() - Duration::from_secs(7200);
    for rel in read_tree(root).keys() {
        let file = std::fs::File::options()
            .write(true)
            .open(root.join(rel))
            .unwrap();
        file.set_modified(old).unwrap();
    }
}

fn files(root: &Path) -> BTreeSet<String> {
    read_tree(root).into_keys().collect()
}

/// The files (relative to `root`) the snapshot's `_metadata` names, plus its directory's own.
fn needed(root: &Path, snapshot: &str) -> BTreeSet<String> {
    let prefix = format!("file:{}/", root.display());
    let mut needed: BTreeSet<String> = metadata_paths(&root.join(snapshot).join("_metadata"))
        .into_iter()
        .filter_map(|p| p.strip_prefix(&prefix).map(str::to_string))
        .collect();
    needed.extend(
        files(root)
            .into_iter()
            .filter(|f| f.starts_with(&format!("{snapshot}/"))),
    );
    needed
}

#[test]
fn gc_removes_orphans_and_keeps_what_the_chained_checkpoint_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cp");
    place(&root);
    let base = root.join("checkpoints");
    let before = files(&root);
    let keep = needed(&root, &format!("{NEW_JOB}/chk-2"));
    assert!(
        keep.iter()
            .any(|f| f.starts_with(&format!("{OLD_JOB}/shared/"))),
        "the chained checkpoint references the older job's shared/"
    );

    // Dry run: a report, nothing deleted.
    let out = ferry(tmp.path())
        .args(["gc", base.to_str().unwrap(), "--keep-latest", "1", "--json"])
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["dry_run"], true);
    assert_eq!(files(&root), before);
    let orphans: BTreeSet<String> = before
        .iter()
        .filter(|f| f.contains("/shared/") && !keep.contains(*f))
        .cloned()
        .collect();
    assert!(!orphans.is_empty(), "the fixture's shared/ holds orphans");
    assert_eq!(
        report["plan"]["delete"]["files"].as_u64().unwrap(),
        orphans.len() as u64,
        "{report:#}"
    );

    // Delete: exactly the orphans go.
    ferry(tmp.path())
        .args([
            "gc",
            base.to_str().unwrap(),
            "--keep-latest",
            "1",
            "--delete",
        ])
        .assert()
        .success();
    let gone: BTreeSet<String> = before.difference(&files(&root)).cloned().collect();
    assert_eq!(gone, orphans);
    ferry(tmp.path())
        .args(["verify", root.join(NEW_JOB).join("chk-2").to_str().unwrap()])
        .assert()
        .success();
}

#[test]
fn dispose_keeps_the_shared_files_another_snapshot_references() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cp");
    place(&root);
    // chk-1: a copy of chk-2 (its private files are relative, so they move with it; both
    // reference the same shared/ files of both jobs), written a minute earlier.
    let chk2 = root.join(NEW_JOB).join("chk-2");
    let chk1 = root.join(NEW_JOB).join("chk-1");
    std::fs::create_dir_all(&chk1).unwrap();
    let old = SystemTime::now() - Duration::from_secs(7260);
    for entry in std::fs::read_dir(&chk2).unwrap() {
        let from = entry.unwrap().path();
        let to = chk1.join(from.file_name().unwrap());
        std::fs::copy(&from, &to).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let before = files(&root);
    let needed_by_1 = needed(&root, &format!("{NEW_JOB}/chk-1"));
    let needed_by_2 = needed(&root, &format!("{NEW_JOB}/chk-2"));

    let out = ferry(tmp.path())
        .args(["dispose", chk2.to_str().unwrap()])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("dry run"), "{text}");
    assert!(text.contains("needed by"), "{text}");
    assert_eq!(files(&root), before);

    ferry(tmp.path())
        .args(["dispose", chk2.to_str().unwrap(), "--delete"])
        .assert()
        .success();
    let gone: BTreeSet<String> = before.difference(&files(&root)).cloned().collect();
    let expected: BTreeSet<String> = needed_by_2.difference(&needed_by_1).cloned().collect();
    assert_eq!(gone, expected);
    assert!(expected
        .iter()
        .all(|f| f.starts_with(&format!("{NEW_JOB}/chk-2/"))));
    assert!(!chk2.exists(), "the emptied directory is removed");
    ferry(tmp.path())
        .args(["verify", chk1.to_str().unwrap()])
        .assert()
        .success();

    // The last snapshot: everything it needed goes, the emptied directories too.
    ferry(tmp.path())
        .args(["dispose", chk1.to_str().unwrap(), "--delete"])
        .assert()
        .success();
    let left = files(&root);
    assert!(left.is_disjoint(&needed_by_1), "{left:?}");
    assert!(!chk1.exists());
}

#[test]
fn bad_input_is_one_line_and_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cp");
    place(&root);
    let base = root.join("checkpoints");
    let before = files(&root);
    let base_arg = base.to_str().unwrap().to_string();
    let missing = tmp.path().join("nope").display().to_string();
    let shared = root.join(OLD_JOB).join("shared").display().to_string();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["gc", &missing, "--keep-latest", "1", "--delete"],
            1,
            "does not exist",
        ),
        (
            vec!["gc", &base_arg, "--keep-latest", "0", "--delete"],
            2,
            "at least 1",
        ),
        (
            vec!["gc", &base_arg, "--delete"],
            2,
            "needs a retention policy",
        ),
        (
            vec!["gc", &shared, "--keep-latest", "1", "--delete"],
            1,
            "no complete snapshot",
        ),
        (vec!["dispose", &shared, "--delete"], 1, "is not a snapshot"),
        (vec!["dispose", &missing, "--delete"], 1, "does not exist"),
    ];
    for (args, code, message) in cases {
        let out = ferry(tmp.path()).args(&args).assert().code(code);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    assert_eq!(files(&root), before);
}

/// Places the fixture with a second retained checkpoint (chk-1, a copy of chk-2 written a
/// minute earlier) so that `gc --keep-latest 1` disposes a snapshot as well as orphans.
fn place_with_two_checkpoints(root: &Path) {
    place(root);
    let chk2 = root.join(NEW_JOB).join("chk-2");
    let chk1 = root.join(NEW_JOB).join("chk-1");
    std::fs::create_dir_all(&chk1).unwrap();
    let old = SystemTime::now() - Duration::from_secs(7260);
    for entry in std::fs::read_dir(&chk2).unwrap() {
        let from = entry.unwrap().path();
        let to = chk1.join(from.file_name().unwrap());
        std::fs::copy(&from, &to).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
}

#[test]
fn a_killed_gc_leaves_kept_snapshots_restorable_and_a_rerun_finishes() {
    // The state an uninterrupted run leaves.
    let reference = tempfile::tempdir().unwrap();
    let root = reference.path().join("cp");
    place_with_two_checkpoints(&root);
    let base = root.join("checkpoints");
    ferry(reference.path())
        .args([
            "gc",
            base.to_str().unwrap(),
            "--keep-latest",
            "1",
            "--delete",
        ])
        .assert()
        .success();
    let expected = files(&root);
    assert!(!expected.iter().any(|f| f.contains("/chk-1/")));

    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    for trial in 0..4u64 {
        let at = 20 + (seed.wrapping_mul(trial + 7) ^ (trial * 7919)) % 400;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cp");
        place_with_two_checkpoints(&root);
        let base = root.join("checkpoints");
        let mut child = std::process::Command::new(ferry_bin())
            .args([
                "gc",
                base.to_str().unwrap(),
                "--keep-latest",
                "1",
                "--delete",
            ])
            .env("FERRY_STATE_DIR", tmp.path())
            .env("FERRY_FAULTS", "delay=delete:30")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(at));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever was deleted, the kept checkpoint still verifies.
        ferry(tmp.path())
            .args(["verify", root.join(NEW_JOB).join("chk-2").to_str().unwrap()])
            .assert()
            .success();
        ferry(tmp.path())
            .args([
                "gc",
                base.to_str().unwrap(),
                "--keep-latest",
                "1",
                "--delete",
            ])
            .assert()
            .success();
        assert_eq!(files(&root), expected, "killed after {at} ms (seed {seed})");
    }
}

#[test]
fn gc_on_s3_deletes_orphans_in_batches_and_the_migrated_checkpoint_still_verifies() {
    let Some(s3) = crate::cp_s3::s3("gc") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cp");
    place(&root);
    let endpoint = s3.endpoint_option();
    let snapshot = s3.uri("s3", false, "cp/job/chk-2");
    s3.ferry(tmp.path())
        .args([
            "migrate",
            root.join(NEW_JOB).join("chk-2").to_str().unwrap(),
        ])
        .args([&snapshot, "-o", &endpoint, "-q"])
        .assert()
        .success();
    let orphans = tmp.path().join("orphans");
    write_tree(
        &orphans,
        &[
            ("o1", bytes(10, 1)),
            ("o2", bytes(20, 2)),
            ("sub/o3", bytes(30, 3)),
        ],
    );
    s3.ferry(tmp.path())
        .args(["cp", orphans.to_str().unwrap()])
        .args([&s3.uri("s3", false, "cp/job/shared"), "-o", &endpoint, "-q"])
        .assert()
        .success();
    let base = s3.uri("s3a", false, "cp");
    let gc = |extra: &[&str]| {
        let mut cmd = s3.ferry(tmp.path());
        cmd.args([
            "gc",
            &base,
            "--keep-latest",
            "1",
            "--grace",
            "0s",
            "-o",
            &endpoint,
        ])
        .args(extra);
        cmd
    };
    // Default grace: the orphans were just written, so they stay.
    let out = s3
        .ferry(tmp.path())
        .args(["gc", &base, "--keep-latest", "1", "--json", "-o", &endpoint])
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["plan"]["delete"]["files"], 0, "{report:#}");
    assert_eq!(report["plan"]["young"]["files"], 3, "{report:#}");
    let out = gc(&["--json"]).assert().success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["plan"]["delete"]["files"], 3, "{report:#}");
    assert!(
        s3.exists(&s3.uri("s3", false, "cp/job/shared/o1")),
        "dry run"
    );
    let out = gc(&["--delete", "--json"]).assert().success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["deleted"]["delete"]["files"], 3, "{report:#}");
    for orphan in ["o1", "o2", "sub/o3"] {
        assert!(!s3.exists(&s3.uri("s3", false, &format!("cp/job/shared/{orphan}"))));
    }
    s3.ferry(tmp.path())
        .args(["verify", &snapshot, "-o", &endpoint])
        .assert()
        .success();
}

/// Real Flink: job 1 takes a native savepoint, job 2 restores it in CLAIM mode and takes an
/// incremental checkpoint whose relative handles name files still in the savepoint's directory
/// (FLINK-39964). gc refuses to delete anything while that is so; once `ferry repair` copied
/// them into the checkpoint, disposing the savepoint and collecting the checkpoint base leave a
/// checkpoint Flink restores with its state.
#[test]
fn real_flink_claim_checkpoint_blocks_gc_until_repaired_then_survives_dispose_and_gc() {
    let Some(flink) = crate::flink_restore::flink() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (savepoint, checkpoint) = crate::flink_claim::claim_case(&flink, dir.path(), "CLAIM");
    let (cp, sp) = (dir.path().join("cp"), dir.path().join("savepoints"));
    let before = files(dir.path());
    let out = ferry(dir.path())
        .args(["gc", cp.to_str().unwrap(), sp.to_str().unwrap()])
        .args(["--keep-latest", "1", "--grace", "0s", "--delete"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("FLINK-39964"), "{stderr}");
    assert_eq!(files(dir.path()), before, "nothing deleted");

    ferry(dir.path())
        .args(["repair", checkpoint.to_str().unwrap(), "--in-place", "-q"])
        .assert()
        .success();
    ferry(dir.path())
        .args(["dispose", savepoint.to_str().unwrap(), "--delete"])
        .args(["--keep-root", cp.to_str().unwrap()])
        .assert()
        .success();
    assert!(!savepoint.join("_metadata").exists());
    ferry(dir.path())
        .args([
            "gc",
            cp.to_str().unwrap(),
            "--keep-latest",
            "1",
            "--grace",
            "0s",
        ])
        .arg("--delete")
        .assert()
        .success();
    flink.assert_restores_counts(
        "rocksdb",
        &checkpoint,
        dir.path(),
        2 * crate::flink_restore::RECORDS / crate::flink_restore::KEYS,
    );
}
