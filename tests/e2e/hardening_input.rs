//! Bad input that once hung, wrote where it should not, or failed a finished job (issue 15):
//! `--bwlimit 0`, `file://otherhost/…`, `.`/`..` in object keys, copies onto or into
//! themselves, a `migrate` re-run over its own complete result, and `verify` against a store
//! that cannot be reached. Each test pins what the user sees: exit code, one error line, and a
//! destination (or source) left as it was.

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_metadata::{
    IncrementalHandle, IncrementalKind, JavaString, KeyGroupRange, KeyedHandle, Metadata,
    NamedStreamHandle, OperatorId, OperatorState, StreamHandle, SubtaskEntry, SubtaskState,
    SubtaskStates,
};

use crate::support::*;

/// The one `ferry: error: …` line of a failed run (asserting there is exactly one).
fn one_error_line(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ferry: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "expected one error line:\n{stderr}");
    errors[0].to_string()
}

#[test]
fn bwlimit_zero_means_unlimited_and_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    let dst = dir.path().join("dst");
    let started = Instant::now();
    ferry(&dir.path().join("state"))
        .args(["cp", "-q", "--bwlimit", "0"])
        .arg(&src)
        .arg(&dst)
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_same_tree(&src, &dst);
}

#[test]
fn a_file_uri_naming_another_host_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    let local = dir.path().join("x");
    let uri = format!("file://otherhost{}", local.display());
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "-q"])
        .arg(&src)
        .arg(&uri)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let line = one_error_line(&out);
    assert!(line.contains(&uri), "{line}");
    assert!(!local.exists(), "wrote the host's path locally");
    // `localhost` is this machine.
    let uri = format!("file://localhost{}", local.display());
    ferry(&dir.path().join("state"))
        .args(["cp", "-q"])
        .arg(&src)
        .arg(&uri)
        .assert()
        .success();
    assert_same_tree(&src, &local);
}

#[test]
fn dot_segments_in_object_keys_are_refused_not_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    for uri in [
        "s3://bucket/a/../b",
        "s3a://bucket/./b",
        "gs://bucket/a/b/..",
    ] {
        let out = ferry(&dir.path().join("state"))
            .args(["cp", "-q", "--json"])
            .arg(&src)
            .arg(uri)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{uri}: {out:?}");
        let line = one_error_line(&out);
        assert!(line.contains(uri) && line.contains("not paths"), "{line}");
        let report = json_report(&out.stdout);
        assert_eq!(report["error"]["exit_code"], 2, "{report}");
        // Nor as a source.
        let out = ferry(&dir.path().join("state"))
            .args(["verify", uri])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{uri}: {out:?}");
    }
}

#[test]
fn cp_refuses_a_destination_inside_the_source_even_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    let before = read_tree(&src);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    for dst in [
        src.join("sub/inner"),
        link.join("sub/inner"),
        src.join("chk-1"),
    ] {
        for dry_run in [false, true] {
            let mut cmd = ferry(&dir.path().join("state"));
            cmd.args(["cp", "-q"]);
            if dry_run {
                cmd.arg("--dry-run");
            }
            let out = cmd.arg(&src).arg(&dst).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{}: {out:?}", dst.display());
            let line = one_error_line(&out);
            assert!(line.contains("destination is inside the source"), "{line}");
        }
    }
    assert!(read_tree(&src) == before, "the source tree changed");
}

#[test]
fn cp_refuses_copying_a_tree_or_a_file_onto_itself() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    let before = read_tree(&src);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let file = src.join("big.bin");
    let cases: Vec<(String, String)> = vec![
        (src.display().to_string(), src.display().to_string()),
        (src.display().to_string(), format!("{}/", link.display())),
        (file.display().to_string(), file.display().to_string()),
        // A file copied "into" its own directory.
        (file.display().to_string(), format!("{}/", src.display())),
    ];
    for (from, to) in cases {
        let out = ferry(&dir.path().join("state"))
            .args(["cp", "-q", "--overwrite", &from, &to])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{from} -> {to}: {out:?}");
        let line = one_error_line(&out);
        assert!(
            line.contains("source and destination are the same"),
            "{line}"
        );
    }
    assert!(read_tree(&src) == before, "the source tree changed");
}

#[test]
fn migrate_refuses_a_destination_inside_or_around_the_snapshot_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, _) = place_fixture(
        "2.3.0",
        "chained-incremental-checkpoint",
        &dir.path().join("old"),
    );
    let before = read_tree(&dir.path().join("old"));
    for (dst, why) in [
        (
            snapshot.join("copy"),
            "destination is inside the source snapshot",
        ),
        (snapshot.clone(), "source and destination are the same"),
        (
            snapshot.parent().unwrap().to_path_buf(),
            "the source snapshot is inside the destination",
        ),
    ] {
        let out = ferry(&dir.path().join("state"))
            .args(["migrate", "-q", "--force"])
            .arg(&snapshot)
            .arg(&dst)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}: {out:?}", dst.display());
        let line = one_error_line(&out);
        assert!(line.contains(why), "{line}");
    }
    assert!(
        read_tree(&dir.path().join("old")) == before,
        "files were written into the source"
    );
}

#[test]
fn migrate_rerun_over_its_own_complete_result_succeeds_as_already_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(
        "2.3.0",
        "chained-incremental-checkpoint",
        &dir.path().join("old"),
    );
    let job = manifest["job_id"].as_str().unwrap();
    let dst = dir.path().join(format!("new/{job}/chk-2"));
    let state = dir.path().join("state");
    let migrate = || {
        ferry(&state)
            .args(["migrate", "--json"])
            .arg(&snapshot)
            .arg(&dst)
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(first.status.success(), "{first:?}");
    let report = json_report(&first.stdout);
    assert_eq!(report["already_complete"], false, "{report}");
    // As after a kill during the read-back: `_metadata` is there, every file too.
    let written = read_tree(&dir.path().join("new"));
    let again = migrate();
    assert!(again.status.success(), "{again:?}");
    let report = json_report(&again.stdout);
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["already_complete"], true, "{report}");
    assert!(report["copy"].is_null(), "{report}");
    assert!(read_tree(&dir.path().join("new")) == written);
    // Human output says so.
    let human = ferry(&state)
        .args(["migrate"])
        .arg(&snapshot)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("already complete"));
    // Another `_metadata` there is still refused without --force.
    let mut other = std::fs::read(dst.join("_metadata")).unwrap();
    other.push(0);
    std::fs::write(dst.join("_metadata"), &other).unwrap();
    let refused = migrate();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(one_error_line(&refused).contains("--force"));
    assert_eq!(std::fs::read(dst.join("_metadata")).unwrap(), other);
}

fn js(s: &str) -> JavaString {
    JavaString::new(s).unwrap()
}

/// A V6 incremental checkpoint `_metadata` whose shared state names `count` files under
/// `shared` (a URI prefix), each of 100 bytes.
fn metadata_with_shared_files(shared: &str, count: usize) -> Vec<u8> {
    let keyed = KeyedHandle::Incremental(IncrementalHandle {
        kind: IncrementalKind::V2,
        checkpoint_id: 3,
        backend_identifier: js("00000000-0000-0000-0000-000000000001"),
        range: KeyGroupRange {
            start: 0,
            count: 128,
        },
        checkpointed_size: Some(100 * count as i64),
        meta_state: None,
        shared_state: (0..count)
            .map(|i| NamedStreamHandle {
                local_name: js(&format!("{i:06}.sst")),
                handle: Some(StreamHandle::File(ferry_metadata::FileHandle {
                    state_size: 100,
                    path: js(&format!("{shared}/f{i:04}.sst")),
                })),
            })
            .collect(),
        private_state: vec![],
        state_handle_id: Some(js("handle-1")),
    });
    let metadata = Metadata {
        version: 6,
        checkpoint_id: 3,
        master_states: vec![],
        operators: vec![OperatorState {
            name: Some(js("Counter")),
            uid: Some(js("counter")),
            id: OperatorId([7; 16]),
            parallelism: 1,
            max_parallelism: 128,
            chain_length: None,
            coordinator_state: None,
            subtasks: SubtaskStates::Entries(vec![SubtaskEntry {
                raw_index: 0,
                state: Some(SubtaskState {
                    managed_keyed_state: Some(Box::new(keyed)),
                    ..SubtaskState::default()
                }),
            }]),
        }],
        layout: Default::default(),
        trailer: ferry_metadata::NULL_PROPERTIES_TRAILER.to_vec(),
    };
    metadata.to_bytes().unwrap()
}

/// Writes `chk-3/_metadata` under `root` naming `count` files under `shared` (a URI prefix);
/// returns the snapshot dir.
fn snapshot_naming(root: &Path, shared: &str, count: usize) -> std::path::PathBuf {
    let snapshot = root.join("job/chk-3");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::write(
        snapshot.join("_metadata"),
        metadata_with_shared_files(shared, count),
    )
    .unwrap();
    snapshot
}

#[test]
fn verify_against_an_unreachable_store_fails_fast_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot_naming(dir.path(), "s3://ferry-unreachable/cp/job/shared", 200);
    let started = Instant::now();
    let out = ferry(&dir.path().join("state"))
        .args(["verify", "-o", "endpoint=http://127.0.0.1:1"])
        .arg(&snapshot)
        .env("AWS_ACCESS_KEY_ID", "ferry-test")
        .env("AWS_SECRET_ACCESS_KEY", "ferry-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    eprintln!("verify of 200 references against a dead endpoint: {elapsed:?}");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let line = one_error_line(&out);
    assert!(line.contains("127.0.0.1:1"), "{line}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("problem:"),
        "the store's failure was reported per file:\n{stdout}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

/// The NameNode performed a rename whose reply was lost (injected: the rename is done, then
/// reported as a cut connection): the engine's retry finds the temp name gone and the file in
/// place with its size, and counts it done instead of failing "rename source not found".
#[test]
fn hdfs_rename_whose_reply_was_lost_counts_as_done() {
    let Some(url) = ferry_conformance::server_env("FERRY_TEST_HDFS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    let root = format!("{url}/{}", ferry_conformance::unique_prefix("lost-reply"));
    let state = dir.path().join("state");
    let out = ferry(&state)
        .args(["cp", "-q", "--json"])
        .arg(&src)
        .arg(&root)
        .env("FERRY_FAULTS", "lose-reply=rename@1;lose-reply=rename@4")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    assert_eq!(report["files_failed"], 0, "{report}");
    let back = dir.path().join("back");
    ferry(&state)
        .args(["cp", "-q"])
        .arg(&root)
        .arg(&back)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    assert_same_tree(&src, &back);
}

#[test]
fn verify_against_an_unreachable_gcs_endpoint_fails_fast_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot_naming(dir.path(), "gs://ferry-unreachable/cp/job/shared", 200);
    let started = Instant::now();
    let out = ferry(&dir.path().join("state"))
        .args(["verify"])
        .arg(&snapshot)
        .env("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("HOME", dir.path())
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    eprintln!("verify of 200 GCS references against a dead endpoint: {elapsed:?}");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let line = one_error_line(&out);
    assert!(line.contains("127.0.0.1:1"), "{line}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("problem:"));
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}
