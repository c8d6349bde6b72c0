//! Checkpoints Flink itself cannot restore (FLINK-39964), made by real Flink and repaired by
//! ferry: job 1 (RocksDB, incremental checkpoints) takes a NATIVE savepoint; job 2 starts from
//! it in claim mode CLAIM and retains an incremental checkpoint whose `_metadata` names SST
//! files still in the savepoint's directory by relative name only. Flink fails to restore that
//! checkpoint where it lies (asserted: the day a Flink release fixes the bug, this test says
//! so); `ferry verify` explains it; `ferry repair --in-place` and `ferry migrate --search` (to
//! local disk, S3 and HDFS) produce snapshots Flink restores with the state checked. The
//! NO_CLAIM control restores as is. Ambiguity and absence are refused with nothing written.

use std::path::{Path, PathBuf};

use crate::flink_restore::{flink, hdfs_remote, s3_remote, Flink, KEYS, RECORDS};
use crate::support::*;
use predicates::prelude::*;

/// Per key after job 2: job 1's records plus job 2's.
const AFTER_TWO_JOBS: u64 = 2 * RECORDS / KEYS;

/// The case on local disk under `root`: `root/cp` (checkpoint base of both jobs),
/// `root/savepoints` (job 1's native savepoint). Returns (savepoint dir, job 2's chk-N).
pub(crate) fn claim_case(flink: &Flink, root: &Path, claim: &str) -> (PathBuf, PathBuf) {
    claim_case_at(
        flink,
        &format!("file:{}", root.join("cp").display()),
        &format!("file:{}", root.join("savepoints").display()),
        root,
        claim,
    )
}

/// The case with its checkpoint base `cp` and savepoint directory `sp` (Flink URIs); `work`
/// receives the jobs' reports. Returns (savepoint dir, job 2's chk-N) as Flink names them
/// (`file:` stripped).
fn claim_case_at(
    flink: &Flink,
    cp: &str,
    sp: &str,
    work: &Path,
    claim: &str,
) -> (PathBuf, PathBuf) {
    let state = [
        "--backend",
        "rocksdb",
        "--incremental",
        "--inline-threshold",
        "0",
        "--checkpoint-dir",
        cp,
    ];
    let one = work.join("job1");
    std::fs::create_dir_all(&one).unwrap();
    let mut args = state.to_vec();
    args.extend(["--savepoint-dir", sp, "--take", "native-savepoint"]);
    let savepoint = flink.snapshot(&args, &one);
    let two = work.join("job2");
    std::fs::create_dir_all(&two).unwrap();
    let restore = savepoint.to_str().unwrap().to_string();
    let mut args = state.to_vec();
    args.extend([
        "--restore",
        &restore,
        "--claim-mode",
        claim,
        "--take",
        "checkpoint",
    ]);
    let checkpoint = flink.snapshot(&args, &two);
    (savepoint, checkpoint)
}

/// Every file under `dir`, with its bytes (to prove nothing was written).
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn verify_json(state: &Path, snapshot: &Path) -> serde_json::Value {
    let out = ferry(state)
        .args(["verify", "--json"])
        .arg(snapshot)
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn a_claim_restore_from_a_native_savepoint_is_recognised_and_repaired_in_place() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (savepoint, checkpoint) = claim_case(&flink, dir.path(), "claim");
    let state = dir.path().join("state");

    // Flink itself cannot restore it where it lies (FLINK-39964).
    let (ok, _, output) = flink.run(
        &[
            "--backend",
            "rocksdb",
            "--restore",
            checkpoint.to_str().unwrap(),
            "--timeout-seconds",
            "60",
        ],
        &dir.path().join("flink-fails.json"),
    );
    assert!(
        !ok,
        "Flink restored a CLAIM checkpoint of a native savepoint: FLINK-39964 is fixed in this \
         release; update docs/user-guide.md and this test"
    );
    let expected_dir = format!("{}/", checkpoint.display());
    assert!(
        output.contains("FileNotFoundException") && output.contains(&expected_dir),
        "{output}"
    );

    // verify explains it: where the files are, the cause, the command.
    ferry(&state)
        .arg("verify")
        .arg(&checkpoint)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("FLINK-39964"))
        .stdout(predicate::str::contains("ferry repair"))
        .stdout(predicate::str::contains(
            savepoint.file_name().unwrap().to_str().unwrap(),
        ));
    let report = verify_json(&state, &checkpoint);
    let missing = &report["missing_relative"];
    let files = missing["files"].as_u64().unwrap();
    assert!(files > 0, "{report}");
    assert_eq!(
        missing["search"]["found"].as_array().unwrap().len() as u64,
        files
    );
    assert!(missing["search"]["unresolved"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(missing["likely_cause"].as_str().unwrap().contains("CLAIM"));
    let found_in: Vec<&String> = missing["found_in"].as_object().unwrap().keys().collect();
    assert_eq!(
        found_in,
        [&format!("file:{}", savepoint.display())],
        "{report}"
    );

    // The dry run (default roots) says what it would copy and writes nothing.
    let before = tree(dir.path());
    ferry(&state)
        .arg("repair")
        .arg(&checkpoint)
        .assert()
        .success()
        .stdout(predicate::str::contains("would copy"))
        .stdout(predicate::str::contains("dry run: nothing written"));
    assert!(tree(dir.path()) == before, "the dry run wrote something");

    let metadata = std::fs::read(checkpoint.join("_metadata")).unwrap();
    let out = ferry(&state)
        .args(["repair", "--in-place", "--json"])
        .arg(&checkpoint)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let repaired: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        repaired["search"]["found"].as_array().unwrap().len() as u64,
        files
    );
    assert_eq!(repaired["ok"], true);
    assert_eq!(
        std::fs::read(checkpoint.join("_metadata")).unwrap(),
        metadata,
        "repair changed _metadata"
    );
    ferry(&state)
        .args(["verify", "--deep"])
        .arg(&checkpoint)
        .assert()
        .success();
    // The savepoint may go now: the checkpoint has its own copies.
    std::fs::remove_dir_all(&savepoint).unwrap();
    flink.assert_restores_counts("rocksdb", &checkpoint, dir.path(), AFTER_TWO_JOBS);
}

#[test]
fn migrate_search_makes_self_contained_copies_that_restore_from_local_s3_and_hdfs() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (savepoint, checkpoint) = claim_case(&flink, dir.path(), "claim");
    let state = dir.path().join("state");
    let job = checkpoint
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let chk = checkpoint.file_name().unwrap().to_str().unwrap();
    let search = savepoint.parent().unwrap().to_str().unwrap().to_string();

    // Without --search: refused as before, pointing at --search.
    let local = dir.path().join("local").join(job).join(chk);
    ferry(&state)
        .args(["migrate", "-q"])
        .arg(&checkpoint)
        .arg(&local)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--search"));
    assert!(!local.exists());

    let out = ferry(&state)
        .args(["migrate", "--json", "--search", &search])
        .arg(&checkpoint)
        .arg(&local)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let repaired = report["plan"]["repaired"].as_array().unwrap();
    assert!(!repaired.is_empty(), "{report}");
    for r in repaired {
        let name = r["name"].as_str().unwrap();
        assert!(r["found"].as_str().unwrap().ends_with(&format!(
            "{}/{name}",
            savepoint.file_name().unwrap().to_str().unwrap()
        )));
        assert!(local.join(name).is_file(), "{name} not copied into DST");
    }

    let remotes: Vec<_> = [s3_remote("claim-s3"), hdfs_remote("claim-hdfs")]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(remotes.len(), 2, "S3 and HDFS test servers are required");
    let mut remote_copies = Vec::new();
    for remote in &remotes {
        let dst = format!("{}/{job}/{chk}", remote.root);
        ferry(&state)
            .envs(remote.env.iter().map(|(k, v)| (k, v)))
            .args(["migrate", "-q", "--search", &search])
            .arg(&checkpoint)
            .arg(&dst)
            .args(&remote.options)
            .assert()
            .success();
        remote_copies.push((remote, dst));
    }

    // The originals go: the checkpoint base and the savepoint directory.
    std::fs::remove_dir_all(dir.path().join("cp")).unwrap();
    std::fs::remove_dir_all(dir.path().join("savepoints")).unwrap();
    ferry(&state)
        .args(["verify", "--deep"])
        .arg(&local)
        .assert()
        .success();
    flink.assert_restores_counts("rocksdb", &local, dir.path(), AFTER_TWO_JOBS);

    // Flink here reads local files only: bring each remote copy back, then restore.
    for (i, (remote, dst)) in remote_copies.iter().enumerate() {
        let run = |args: &[&str]| {
            let mut cmd = ferry(&state);
            cmd.envs(remote.env.iter().map(|(k, v)| (k, v)))
                .args(args)
                .args(&remote.options);
            cmd
        };
        run(&["verify", "--deep", dst]).assert().success();
        let back = dir.path().join(format!("back{i}")).join(job).join(chk);
        run(&["migrate", "-q", dst, back.to_str().unwrap()])
            .assert()
            .success();
        flink.assert_restores_counts("rocksdb", &back, dir.path(), AFTER_TWO_JOBS);
    }
}

#[test]
fn the_no_claim_control_restores_as_is() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_, checkpoint) = claim_case(&flink, dir.path(), "no-claim");
    let state = dir.path().join("state");
    let out = ferry(&state)
        .args(["verify", "--json"])
        .arg(&checkpoint)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(report["missing_relative"].is_null(), "{report}");
    ferry(&state)
        .arg("repair")
        .arg(&checkpoint)
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to repair"));
    flink.assert_restores_counts("rocksdb", &checkpoint, dir.path(), AFTER_TWO_JOBS);
}

#[test]
fn ambiguity_and_absence_are_refused_with_nothing_written() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (savepoint, checkpoint) = claim_case(&flink, dir.path(), "claim");
    let state = dir.path().join("state");
    let report = verify_json(&state, &checkpoint);
    let found = report["missing_relative"]["search"]["found"]
        .as_array()
        .unwrap()
        .clone();
    let name = found[0]["name"].as_str().unwrap().to_string();
    let job = checkpoint
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let dst = dir.path().join("dst").join(job).join("chk-1");
    let both = |extra: &Path, expect: &str, code: i32| {
        let before = tree(dir.path());
        for args in [
            vec!["repair", "--in-place"],
            vec!["migrate", "-q", dst.to_str().unwrap()],
        ] {
            let mut cmd = ferry(&state);
            cmd.args(&args[..1]).arg(&checkpoint).args(&args[1..]);
            cmd.arg("--search")
                .arg(savepoint.parent().unwrap())
                .arg("--search")
                .arg(extra)
                .assert()
                .code(code)
                .stderr(predicate::str::contains(expect))
                .stderr(predicate::str::contains(&name))
                .stderr(predicate::str::contains("nothing was written"));
        }
        assert!(tree(dir.path()) == before, "a refused run wrote something");
        assert!(!dst.exists());
    };

    // A second file of the same name and size elsewhere: which one? Refused.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(savepoint.join(&name), other.join(&name)).unwrap();
    both(&other, "2 files of that name and size", 1);
    std::fs::remove_dir_all(&other).unwrap();

    // The only file of that name has another size.
    std::fs::create_dir_all(&other).unwrap();
    let original = std::fs::read(savepoint.join(&name)).unwrap();
    std::fs::remove_file(savepoint.join(&name)).unwrap();
    std::fs::write(other.join(&name), &original[..original.len() - 1]).unwrap();
    both(&other, "but", 1);
    std::fs::remove_dir_all(&other).unwrap();

    // No file of that name at all.
    std::fs::create_dir_all(&other).unwrap();
    both(&other, "no file of that name", 1);
    // verify says it could not find it, and gives no repair command.
    let report = verify_json(&state, &checkpoint);
    let missing = &report["missing_relative"];
    assert_eq!(missing["search"]["unresolved"][0]["name"], name.as_str());
    assert!(missing["repair_command"].is_null(), "{report}");
}

#[test]
fn a_claim_checkpoint_flink_wrote_to_hdfs_is_repaired_in_place_there() {
    let Some(flink) = flink() else { return };
    let get = ferry_conformance::server_env;
    let (Some(hadoop), Some(url)) = (
        get("FERRY_TEST_HADOOP_CLASSPATH"),
        get("FERRY_TEST_HDFS_URL"),
    ) else {
        return;
    };
    // Flink reads and writes hdfs:// through the Hadoop 2.7.3 jars on its classpath.
    let flink = Flink {
        classpath: format!("{}:{hadoop}", flink.classpath),
        java_opts: flink.java_opts,
    };
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "{}/{}/flink",
        url.trim_end_matches('/'),
        ferry_conformance::unique_prefix("claim-on-hdfs")
    );
    let (savepoint, checkpoint) = claim_case_at(
        &flink,
        &format!("{base}/cp"),
        &format!("{base}/savepoints"),
        dir.path(),
        "claim",
    );
    let checkpoint = checkpoint.to_str().unwrap().to_string();
    assert!(checkpoint.starts_with("hdfs://"), "{checkpoint}");
    let state = dir.path().join("state");
    // verify finds the files under the default roots (the savepoints directory beside cp).
    let report = verify_json(&state, Path::new(&checkpoint));
    let missing = &report["missing_relative"];
    assert!(missing["files"].as_u64().unwrap() > 0, "{report}");
    assert!(missing["search"]["unresolved"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(missing["found_in"]
        .as_object()
        .unwrap()
        .contains_key(savepoint.to_str().unwrap()));
    ferry(&state)
        .args(["repair", "-q", "--in-place", &checkpoint])
        .assert()
        .success();
    ferry(&state)
        .args(["verify", "--deep", &checkpoint])
        .assert()
        .success();
    flink.assert_restores_counts(
        "rocksdb",
        Path::new(&checkpoint),
        dir.path(),
        AFTER_TWO_JOBS,
    );
}

#[test]
fn repair_search_roots_that_do_not_parse_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        vec!["repair", "snap", "--search", "s3://b/a/../k"],
        vec!["migrate", "snap", "dst", "--search", "s3://b/a/../k"],
    ] {
        ferry(&dir.path().join("state"))
            .args(&cmd)
            .assert()
            .code(2)
            .stderr(predicate::str::starts_with("ferry: error: "))
            .stderr(predicate::str::contains("--search"));
    }
}

#[test]
fn a_claim_case_copied_to_s3_is_found_and_repaired_in_place_on_s3() {
    let Some(flink) = flink() else { return };
    let remote = s3_remote("claim-on-s3").expect("the S3 test server is required");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("flink");
    let (savepoint, checkpoint) = claim_case(&flink, &root, "claim");
    std::fs::remove_dir_all(root.join("job1")).unwrap();
    std::fs::remove_dir_all(root.join("job2")).unwrap();
    let state = dir.path().join("state");
    let run = |args: &[&str]| {
        let mut cmd = ferry(&state);
        cmd.envs(remote.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .args(&remote.options);
        cmd
    };
    // The checkpoint base and the savepoints directory, copied to S3 as plain trees (the
    // checkpoint's absolute references still name the local shared/ files, which stay).
    let base = format!("{}/flink", remote.root);
    run(&["cp", "-q", root.to_str().unwrap(), &base])
        .assert()
        .success();
    let rel = checkpoint.strip_prefix(&root).unwrap().to_str().unwrap();
    let on_s3 = format!("{base}/{rel}");
    let sp_rel = savepoint.strip_prefix(&root).unwrap().to_str().unwrap();
    let out = run(&["verify", "--json", &on_s3])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let missing = &report["missing_relative"];
    assert!(
        missing["found_in"]
            .as_object()
            .unwrap()
            .contains_key(&format!("{base}/{sp_rel}")),
        "{report}"
    );
    run(&["repair", "-q", "--in-place", &on_s3])
        .assert()
        .success();
    run(&["verify", "--deep", &on_s3]).assert().success();
    // Back to local disk from the repaired S3 copy, every original removed, and restored.
    let job = checkpoint.parent().unwrap().file_name().unwrap();
    let back = dir
        .path()
        .join("back")
        .join(job)
        .join(checkpoint.file_name().unwrap());
    run(&["migrate", "-q", &on_s3, back.to_str().unwrap()])
        .assert()
        .success();
    std::fs::remove_dir_all(&root).unwrap();
    flink.assert_restores_counts("rocksdb", &back, dir.path(), AFTER_TWO_JOBS);
}
