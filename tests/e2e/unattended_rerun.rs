//! Re-runs from any host (issue 16): the same `ferry cp` run again from a fresh state
//! directory (a new pod, another host) is a no-op — every file already at the destination
//! with the same bytes is skipped and counted as "already there", nothing is rewritten — on
//! the local disk, S3 and HDFS; a destination file that differs is still an error. A journaled
//! destination altered behind ferry's back (same size) is not skipped. An unwritable state
//! directory or HOME costs the journal, not the copy.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use ferry_core::{BackendOptions, Location, Registry};
use futures::TryStreamExt;
use predicates::prelude::*;

use crate::support::*;

/// The tree every scenario copies: a multi-part file, small files, an empty file.
fn tree(root: &Path) {
    write_tree(
        root,
        &[
            ("big.bin", bytes(6 * 1024 * 1024 + 7, 11)),
            ("chk-1/_metadata", bytes(4_000, 12)),
            ("shared/x.sst", bytes(70_000, 13)),
            ("empty", Vec::new()),
        ],
    );
}

const FILES: u64 = 4;
/// The file a scenario alters (same size, one byte changed).
const ALTERED: &str = "shared/x.sst";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Relative path → modification time of every file under `uri`, as the store reports it.
fn mtimes(uri: &str, options: &BackendOptions) -> BTreeMap<String, Option<SystemTime>> {
    let registry = Registry::new()
        .with(ferry_local::register)
        .with(ferry_s3::register)
        .with(ferry_hdfs::register);
    let root = Location::parse(uri).unwrap();
    runtime().block_on(async {
        let store = registry.open(&root, options).await.unwrap();
        store
            .list(&root)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| !e.is_dir())
            .map(|e| {
                let rel = e.location.strip_prefix(&root).unwrap().to_string();
                (rel, e.modified)
            })
            .collect()
    })
}

/// cp, then the same cp from a fresh state directory (a no-op that rewrites nothing), then
/// one destination file altered with its size kept and the same cp again from another fresh
/// state directory (an error for that file, the others still already there).
fn rerun_from_fresh_state(
    dst: &str,
    command: &dyn Fn(&Path) -> assert_cmd::Command,
    extra: &[String],
    options: &BackendOptions,
) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    let cp = |state: &str| {
        let mut cmd = command(&dir.path().join(state));
        cmd.args(["cp", "--json", "--part-size", "5M"])
            .args(extra)
            .arg(&src)
            .arg(dst);
        cmd
    };
    let first = cp("state-a").assert().success();
    let report = json_report(&first.get_output().stdout);
    assert_eq!(report["files_copied"], FILES, "{report}");
    let written = mtimes(dst, options);
    assert_eq!(written.len() as u64, FILES, "{written:?}");

    // A new pod: no journal. Every file is already there; nothing is rewritten.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = cp("state-b").assert().success();
    let report = json_report(&again.get_output().stdout);
    assert_eq!(report["files_copied"], 0, "{report}");
    assert_eq!(report["bytes_copied"], 0, "{report}");
    assert_eq!(report["files_skipped"], FILES, "{report}");
    assert_eq!(report["files_already_there"], FILES, "{report}");
    assert_eq!(report["files_failed"], 0, "{report}");
    assert_eq!(mtimes(dst, options), written, "a file was rewritten");

    // Same size, other bytes: still an error, and the file is left alone.
    let mut altered = bytes(70_000, 13);
    altered[35_000] ^= 0xff;
    let replacement = dir.path().join("altered.sst");
    std::fs::write(&replacement, &altered).unwrap();
    command(&dir.path().join("state-c"))
        .args(["cp", "--overwrite"])
        .args(extra)
        .arg(&replacement)
        .arg(format!("{dst}/{ALTERED}"))
        .assert()
        .success();
    let before = mtimes(dst, options);
    let third = cp("state-d").assert().code(3);
    let out = third.get_output();
    let report = json_report(&out.stdout);
    assert_eq!(report["files_failed"], 1, "{report}");
    assert_eq!(report["files_already_there"], FILES - 1, "{report}");
    assert_eq!(report["failures"][0]["path"], ALTERED, "{report}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("destination exists with other content"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        mtimes(dst, options),
        before,
        "the differing file was touched"
    );
}

#[test]
fn local_rerun_from_a_fresh_state_dir_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("dst");
    rerun_from_fresh_state(
        dst.to_str().unwrap(),
        &|state: &Path| ferry(state),
        &[],
        &BackendOptions::new(),
    );
}

#[test]
fn s3_rerun_from_a_fresh_state_dir_is_a_no_op() {
    let get = ferry_conformance::server_env;
    let (Some(endpoint), Some(access), Some(secret), Some(bucket)) = (
        get("FERRY_TEST_S3_ENDPOINT"),
        get("FERRY_TEST_S3_ACCESS_KEY"),
        get("FERRY_TEST_S3_SECRET_KEY"),
        get("FERRY_TEST_S3_BUCKET"),
    ) else {
        return;
    };
    let prefix = ferry_conformance::unique_prefix("rerun");
    let dst = format!("s3://{bucket}/{prefix}/dst");
    let options = BackendOptions::new()
        .with("endpoint", &endpoint)
        .with("access_key_id", &access)
        .with("secret_access_key", &secret);
    let command = |state: &Path| {
        let mut cmd = ferry(state);
        cmd.env("AWS_ACCESS_KEY_ID", &access)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE");
        cmd
    };
    let extra = ["-o".to_string(), format!("endpoint={endpoint}")];
    rerun_from_fresh_state(&dst, &command, &extra, &options);
}

#[test]
fn hdfs_rerun_from_a_fresh_state_dir_is_a_no_op() {
    let Some(url) = ferry_conformance::server_env("FERRY_TEST_HDFS_URL") else {
        return;
    };
    let dst = format!("{url}/{}/dst", ferry_conformance::unique_prefix("rerun"));
    rerun_from_fresh_state(
        &dst,
        &|state: &Path| ferry(state),
        &[],
        &BackendOptions::new(),
    );
}

#[test]
fn journaled_file_altered_with_the_same_size_is_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, state) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("state"),
    );
    tree(&src);
    ferry(&state)
        .arg("cp")
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    // Behind ferry's back: one byte changed, size kept.
    let path = dst.join(ALTERED);
    let mut content = std::fs::read(&path).unwrap();
    content[100] ^= 0x01;
    std::fs::write(&path, &content).unwrap();

    // The same command, the same journal: the file is not silently skipped.
    ferry(&state)
        .arg("cp")
        .arg(&src)
        .arg(&dst)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "destination exists with other content",
        ))
        .stderr(predicate::str::contains(ALTERED));
    assert_eq!(std::fs::read(&path).unwrap(), content, "left alone");

    // With --overwrite it is copied again; the untouched files are still skipped.
    let out = ferry(&state)
        .args(["cp", "--json", "--overwrite"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_eq!(report["files_skipped"], FILES - 1, "{report}");
    assert_same_tree(&src, &dst);
}

#[test]
fn unwritable_state_dir_or_home_degrades_to_no_journal_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    // A regular file where the state directory should be: nothing can be created under it
    // (even as root).
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();

    let dst = dir.path().join("dst1");
    ferry(&blocker.join("state"))
        .arg("cp")
        .arg(&src)
        .arg(&dst)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "ferry: warning: cannot keep a resume journal in",
        ));
    assert_same_tree(&src, &dst);

    let dst = dir.path().join("dst2");
    assert_cmd::Command::new(ferry_bin())
        .env_remove("FERRY_STATE_DIR")
        .env_remove("XDG_STATE_HOME")
        .env_remove("FERRY_FAULTS")
        .env("HOME", &blocker)
        .arg("cp")
        .arg(&src)
        .arg(&dst)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "ferry: warning: cannot keep a resume journal in",
        ));
    assert_same_tree(&src, &dst);
}
