//! The proof that matters: real Flink (a MiniCluster from PyPI's jars, started by
//! `cargo xtask test`) writes snapshots, ferry migrates them, the originals are deleted, and
//! Flink restores from the copies with its state intact — counts continue, not from zero.
//!
//! Needs `FERRY_TEST_FLINK_CLASSPATH` and `FERRY_TEST_FLINK_JAVA_OPTS` (exported by the xtask
//! "flink" setup). The JVM runs are serialised: each MiniCluster wants most of a core.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use crate::support::*;
use predicates::prelude::*;

pub(crate) static JVM: Mutex<()> = Mutex::new(());

pub(crate) const RECORDS: u64 = 1000;
pub(crate) const KEYS: u64 = 10;

pub(crate) struct Flink {
    pub(crate) classpath: String,
    pub(crate) java_opts: String,
}

pub(crate) fn flink() -> Option<Flink> {
    Some(Flink {
        classpath: ferry_conformance::server_env("FERRY_TEST_FLINK_CLASSPATH")?,
        java_opts: ferry_conformance::server_env("FERRY_TEST_FLINK_JAVA_OPTS")?,
    })
}

impl Flink {
    /// Runs `ferry.FerryJob run ARGS`; returns (success, report, output).
    pub(crate) fn run(&self, args: &[&str], report: &Path) -> (bool, serde_json::Value, String) {
        let _jvm = JVM.lock().unwrap_or_else(|p| p.into_inner());
        let output = Command::new("java")
            .args(self.java_opts.split_whitespace())
            .arg("-cp")
            .arg(&self.classpath)
            .args([
                "ferry.FerryJob",
                "run",
                "--records",
                &RECORDS.to_string(),
                "--keys",
                &KEYS.to_string(),
            ])
            .args(args)
            .arg("--report")
            .arg(report)
            .output()
            .expect("java runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let json = std::fs::read(report)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null);
        (output.status.success(), json, text)
    }

    /// Takes a snapshot; returns its directory.
    pub(crate) fn snapshot(&self, args: &[&str], work: &Path) -> std::path::PathBuf {
        let (ok, report, output) = self.run(args, &work.join("take.json"));
        assert!(ok, "Flink failed to take the snapshot:\n{output}");
        let snapshot = report["snapshot"].as_str().expect("a snapshot was taken");
        std::path::PathBuf::from(snapshot.trim_start_matches("file:"))
    }

    /// Takes a retained incremental RocksDB checkpoint with every state in a file, so its
    /// `_metadata` references the job's `shared/` by absolute path; returns its directory.
    fn incremental_checkpoint(&self, checkpoint_dir: &str, work: &Path) -> std::path::PathBuf {
        self.snapshot(
            &[
                "--backend",
                "rocksdb",
                "--incremental",
                "--inline-threshold",
                "0",
                "--checkpoint-dir",
                checkpoint_dir,
                "--take",
                "checkpoint",
            ],
            work,
        )
    }

    /// Restores from `snapshot` and asserts every key's count continued from RECORDS / KEYS.
    fn assert_restores(&self, backend: &str, snapshot: &Path, work: &Path) {
        self.assert_restores_counts(backend, snapshot, work, RECORDS / KEYS);
    }

    /// Restores from `snapshot` and asserts every key's restored count is `expected`.
    pub(crate) fn assert_restores_counts(
        &self,
        backend: &str,
        snapshot: &Path,
        work: &Path,
        expected: u64,
    ) {
        let restore = snapshot.to_str().unwrap();
        let (ok, report, output) = self.run(
            &["--backend", backend, "--restore", restore],
            &work.join("restore.json"),
        );
        assert!(ok, "Flink failed to restore from {restore}:\n{output}");
        let counts = report["restored_counts"]
            .as_object()
            .expect("restored counts");
        assert_eq!(counts.len() as u64, KEYS, "{report}");
        for (key, count) in counts {
            assert_eq!(
                count.as_u64(),
                Some(expected),
                "key {key} restored {count}: {report}"
            );
        }
    }
}

/// Migrates `snapshot` to `dst`, then deletes everything under `original_root`.
fn migrate_and_delete_original(state: &Path, snapshot: &Path, dst: &Path, original_root: &Path) {
    ferry(state)
        .args(["migrate", "-q"])
        .arg(snapshot)
        .arg(dst)
        .assert()
        .success();
    std::fs::remove_dir_all(original_root).unwrap();
    ferry(state)
        .args(["verify", "--deep"])
        .arg(dst)
        .assert()
        .success();
}

#[test]
fn retained_incremental_rocksdb_checkpoint_restores_after_migration() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp");
    let checkpoint = flink.incremental_checkpoint(&format!("file:{}", cp.display()), dir.path());
    // The original references its job's shared/ by absolute path: not movable as a directory.
    ferry(&dir.path().join("state"))
        .arg("verify")
        .arg(&checkpoint)
        .assert()
        .success()
        .stdout(predicate::str::contains("outside its directory"));
    let job = checkpoint.parent().unwrap().file_name().unwrap();
    let dst = dir
        .path()
        .join("moved")
        .join(job)
        .join(checkpoint.file_name().unwrap());
    migrate_and_delete_original(&dir.path().join("state"), &checkpoint, &dst, &cp);
    flink.assert_restores("rocksdb", &dst, dir.path());
}

#[test]
fn canonical_savepoint_restores_after_migration() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sp = dir.path().join("sp");
    let savepoint = flink.snapshot(
        &[
            "--backend",
            "hashmap",
            "--savepoint-dir",
            &format!("file:{}", sp.display()),
            "--take",
            "savepoint",
        ],
        dir.path(),
    );
    let dst = dir.path().join("elsewhere/savepoints/restored-here");
    migrate_and_delete_original(&dir.path().join("state"), &savepoint, &dst, &sp);
    flink.assert_restores("hashmap", &dst, dir.path());
}

#[test]
fn a_migrated_checkpoint_missing_a_file_fails_verify_and_fails_to_restore() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp");
    let checkpoint = flink.incremental_checkpoint(&format!("file:{}", cp.display()), dir.path());
    let job = checkpoint.parent().unwrap().file_name().unwrap();
    let dst = dir
        .path()
        .join("moved")
        .join(job)
        .join(checkpoint.file_name().unwrap());
    let state = dir.path().join("state");
    migrate_and_delete_original(&state, &checkpoint, &dst, &cp);
    let shared = dst.parent().unwrap().join("shared");
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
        .stdout(predicate::str::contains(
            victim.file_name().unwrap().to_str().unwrap(),
        ));
    let (ok, _, _) = flink.run(
        &[
            "--backend",
            "rocksdb",
            "--restore",
            dst.to_str().unwrap(),
            "--timeout-seconds",
            "60",
        ],
        &dir.path().join("restore.json"),
    );
    assert!(!ok, "Flink restored from a snapshot with a missing file");
}

#[test]
fn a_copy_patched_with_ferry_rewrite_restores() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp");
    let checkpoint = flink.incremental_checkpoint(&format!("file:{}", cp.display()), dir.path());
    // Another tool moved the data (here: cp -r of the whole checkpoint base) …
    let copied = dir.path().join("copied");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&cp)
        .arg(&copied)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&cp).unwrap();
    let rel = checkpoint.strip_prefix(&cp).unwrap();
    let moved = copied.join(rel);
    let state = dir.path().join("state");
    // … so Flink cannot restore from it until its _metadata is patched.
    ferry(&state).arg("verify").arg(&moved).assert().code(3);
    ferry(&state)
        .args(["rewrite", "--in-place", "--map"])
        .arg(format!("file:{}=file:{}", cp.display(), copied.display()))
        .arg(moved.join("_metadata"))
        .assert()
        .success();
    ferry(&state)
        .args(["verify", "--deep"])
        .arg(&moved)
        .assert()
        .success();
    flink.assert_restores("rocksdb", &moved, dir.path());
}

/// A store to bounce a snapshot through: a URI root and how to run ferry against it.
pub(crate) struct Remote {
    pub(crate) root: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) options: Vec<String>,
}

pub(crate) fn s3_remote(name: &str) -> Option<Remote> {
    let get = ferry_conformance::server_env;
    let (endpoint, key, secret, bucket) = (
        get("FERRY_TEST_S3_ENDPOINT")?,
        get("FERRY_TEST_S3_ACCESS_KEY")?,
        get("FERRY_TEST_S3_SECRET_KEY")?,
        get("FERRY_TEST_S3_BUCKET")?,
    );
    Some(Remote {
        root: format!("s3a://{bucket}/{}", ferry_conformance::unique_prefix(name)),
        env: vec![
            ("AWS_ACCESS_KEY_ID".into(), key),
            ("AWS_SECRET_ACCESS_KEY".into(), secret),
            ("AWS_REGION".into(), "us-east-1".into()),
        ],
        options: vec!["-o".into(), format!("endpoint={endpoint}")],
    })
}

/// Azurite, reached by its connection string; the root is written as ABFS writes it.
pub(crate) fn azure_remote(name: &str) -> Option<Remote> {
    let azure = crate::cp_azure::azure(name)?;
    Some(Remote {
        root: azure.uri_in(&azure.container, "abfss", "cp"),
        env: vec![(
            "AZURE_STORAGE_CONNECTION_STRING".into(),
            azure.connection.clone(),
        )],
        options: Vec::new(),
    })
}

pub(crate) fn hdfs_remote(name: &str) -> Option<Remote> {
    let url = ferry_conformance::server_env("FERRY_TEST_HDFS_URL")?;
    Some(Remote {
        root: format!(
            "{}/{}",
            url.trim_end_matches('/'),
            ferry_conformance::unique_prefix(name)
        ),
        env: Vec::new(),
        options: Vec::new(),
    })
}

/// Local checkpoint → `remote` → a second local place (the original deleted after the first
/// hop): the snapshot survives two migrations across stores and Flink restores from the end.
fn bounce_through(flink: &Flink, remote: Remote) {
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp");
    let checkpoint = flink.incremental_checkpoint(&format!("file:{}", cp.display()), dir.path());
    let job = checkpoint
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let chk = checkpoint.file_name().unwrap().to_str().unwrap();
    let remote_dst = format!("{}/{job}/{chk}", remote.root);
    let state = dir.path().join("state");
    let run = |args: &[&str]| {
        let mut cmd = ferry(&state);
        cmd.envs(remote.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .args(&remote.options);
        cmd
    };
    run(&["migrate", "-q", checkpoint.to_str().unwrap(), &remote_dst])
        .assert()
        .success();
    std::fs::remove_dir_all(&cp).unwrap();
    run(&["verify", "--deep", &remote_dst]).assert().success();
    let back = dir.path().join("back").join(job).join(chk);
    run(&["migrate", "-q", &remote_dst, back.to_str().unwrap()])
        .assert()
        .success();
    flink.assert_restores("rocksdb", &back, dir.path());
}

#[test]
fn incremental_checkpoint_restores_after_a_round_trip_through_s3() {
    let Some(flink) = flink() else { return };
    let Some(remote) = s3_remote("flink-s3") else {
        return;
    };
    bounce_through(&flink, remote);
}

#[test]
fn incremental_checkpoint_restores_after_a_round_trip_through_azure() {
    let Some(flink) = flink() else { return };
    let Some(remote) = azure_remote("flink-azure") else {
        return;
    };
    bounce_through(&flink, remote);
}

#[test]
fn incremental_checkpoint_restores_after_a_round_trip_through_hdfs() {
    let Some(flink) = flink() else { return };
    let Some(remote) = hdfs_remote("flink-hdfs") else {
        return;
    };
    bounce_through(&flink, remote);
}

#[test]
fn a_migration_killed_midway_and_run_again_completes_and_restores() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp");
    let checkpoint = flink.incremental_checkpoint(&format!("file:{}", cp.display()), dir.path());
    // Pad the snapshot directory (an unreferenced file is copied too) so the run can be
    // killed while data is still moving.
    std::fs::write(checkpoint.join("padding.bin"), bytes(16 * 1024 * 1024, 5)).unwrap();
    let job = checkpoint.parent().unwrap().file_name().unwrap();
    let dst = dir
        .path()
        .join("moved")
        .join(job)
        .join(checkpoint.file_name().unwrap());
    let state = dir.path().join("state");
    let mut child = Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", &state)
        .args(["migrate", "-q", "--part-size", "1M", "--bwlimit", "4M"])
        .arg(&checkpoint)
        .arg(&dst)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !dst.join("padding.bin").exists() && !dst.read_dir().is_ok_and(|d| d.count() > 2) {
        assert!(std::time::Instant::now() < deadline, "nothing was copied");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "finished before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dst.join("_metadata").exists(),
        "_metadata written before the data"
    );
    ferry(&state)
        .args(["migrate", "-q"])
        .arg(&checkpoint)
        .arg(&dst)
        .assert()
        .success();
    std::fs::remove_dir_all(&cp).unwrap();
    flink.assert_restores("rocksdb", &dst, dir.path());
}

#[test]
fn a_checkpoint_flink_wrote_to_hdfs_migrates_and_restores_from_hdfs() {
    let Some(flink) = flink() else { return };
    let get = ferry_conformance::server_env;
    let (Some(hadoop), Some(url), Some(shell)) = (
        get("FERRY_TEST_HADOOP_CLASSPATH"),
        get("FERRY_TEST_HDFS_URL"),
        get("FERRY_TEST_HDFS_SHELL"),
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
        "{}/{}",
        url.trim_end_matches('/'),
        ferry_conformance::unique_prefix("flink-on-hdfs")
    );
    let checkpoint = flink.incremental_checkpoint(&format!("{base}/cluster-a/cp"), dir.path());
    let checkpoint = checkpoint.to_str().unwrap().to_string();
    assert!(checkpoint.starts_with("hdfs://"), "{checkpoint}");
    let (job_dir, chk) = checkpoint.rsplit_once('/').unwrap();
    let job = job_dir.rsplit_once('/').unwrap().1;
    let dst = format!("{base}/cluster-b/cp/{job}/{chk}");
    let state = dir.path().join("state");
    ferry(&state)
        .args(["migrate", "-q", &checkpoint, &dst])
        .assert()
        .success();
    let removed = Command::new(&shell)
        .args(["-rm", "-r", "-skipTrash", &format!("{base}/cluster-a")])
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    ferry(&state)
        .args(["verify", "--deep", &dst])
        .assert()
        .success();
    flink.assert_restores("rocksdb", Path::new(&dst), dir.path());
}
