//! `ferry cp` against a real HDFS (Hadoop 2.7.3 NameNode + DataNode from `cargo xtask test`,
//! 1 MiB blocks): local→HDFS→local byte for byte (multi-block, empty, spaced and unicode
//! names), what lands in HDFS checked against the DataNodes' own checksums, HDFS→S3→HDFS, modes
//! and times, and the errors a user meets (missing source, another user's directory).
//!
//! The DataNode-killed-mid-write test lives in `crates/ferry-hdfs/tests/datanode_killed.rs`, a
//! test binary of its own, so that no test here runs while the DataNode is down.

use std::path::Path;
use std::time::{Duration, SystemTime};

use ferry_core::{BackendOptions, Location, Storage};
use ferry_hdfs::checksum::HdfsHasher;
use ferry_hdfs::HdfsStorage;
use futures::TryStreamExt;
use predicates::prelude::*;

use crate::support::*;

/// This test's directory in the test cluster, or `None` (skip) outside `cargo xtask test`.
fn hdfs_root(name: &str) -> Option<String> {
    let url = ferry_conformance::server_env("FERRY_TEST_HDFS_URL")?;
    Some(format!("{url}/{}", ferry_conformance::unique_prefix(name)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn store(uri: &str) -> HdfsStorage {
    ferry_hdfs::open(&Location::parse(uri).unwrap(), &BackendOptions::new()).unwrap()
}

/// Every file below `uri` in HDFS (relative paths).
fn hdfs_files(uri: &str) -> Vec<String> {
    let root = Location::parse(uri).unwrap();
    let storage = store(uri);
    let mut rels: Vec<String> = runtime()
        .block_on(storage.list(&root).try_collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .map(|e| e.location.strip_prefix(&root).unwrap().to_string())
        .collect();
    rels.sort();
    rels
}

/// The DataNodes' checksum of `uri` equals the one computed from the local file's bytes.
fn assert_stored_checksum(uri: &str, local: &Path) {
    let at = Location::parse(uri).unwrap();
    let storage = store(uri);
    runtime().block_on(async {
        let params = storage.checksum_params(&at).await.unwrap().unwrap();
        let mut hasher = HdfsHasher::new(params).unwrap();
        hasher.update(&std::fs::read(local).unwrap());
        let stored = storage.file_checksum(&at).await.unwrap();
        assert_eq!(stored, Some(hasher.finish()), "{uri}");
    });
}

#[test]
fn local_to_hdfs_and_back_is_byte_identical() {
    let Some(root) = hdfs_root("cp-roundtrip") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, back) = (dir.path().join("src"), dir.path().join("back"));
    mixed_tree(&src);
    let state = dir.path().join("state");
    let up = ferry(&state)
        .args(["cp", "--json", "--part-size", "4M"])
        .arg(&src)
        .arg(format!("{root}/dst"))
        .assert()
        .success();
    let report = json_report(&up.get_output().stdout);
    assert_eq!(report["files_copied"], 6, "{report}");
    assert_eq!(report["files_failed"], 0, "{report}");
    // Exactly the six files (no temp names), the 20 MiB one over many 1 MiB blocks, stored as
    // the DataNodes confirm without ferry reading it back.
    let listed = hdfs_files(&format!("{root}/dst"));
    let expected: Vec<String> = read_tree(&src).into_keys().collect();
    assert_eq!(listed, expected);
    assert_stored_checksum(&format!("{root}/dst/big.bin"), &src.join("big.bin"));
    assert_stored_checksum(
        &format!("{root}/dst/shared/with space.sst"),
        &src.join("shared/with space.sst"),
    );

    ferry(&state)
        .args(["cp", "-q", "--part-size", "4M"])
        .arg(format!("{root}/dst"))
        .arg(&back)
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    assert_same_tree(&src, &back);

    // A second run of the same copy skips everything (the journal).
    let again = ferry(&state)
        .args(["cp", "--json", "--part-size", "4M"])
        .arg(&src)
        .arg(format!("{root}/dst"))
        .assert()
        .success();
    let report = json_report(&again.get_output().stdout);
    assert_eq!(report["files_skipped"], 6, "{report}");
}

#[test]
fn single_file_into_an_hdfs_directory_keeps_its_mtime() {
    let Some(root) = hdfs_root("cp-single") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one file.bin");
    std::fs::write(&file, bytes(2_500_000, 7)).unwrap();
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(when)
        .unwrap();
    ferry(&dir.path().join("state"))
        .args(["cp", "-q", "--preserve-mtime"])
        .arg(&file)
        .arg(format!("{root}/into/"))
        .assert()
        .success();
    let uri = format!("{root}/into/one file.bin");
    let entry = runtime()
        .block_on(store(&uri).stat(&Location::parse(&uri).unwrap()))
        .unwrap();
    assert_eq!(entry.size, 2_500_000);
    assert_eq!(entry.modified, Some(when));
    assert_stored_checksum(&uri, &file);
}

#[test]
fn hdfs_to_s3_and_back() {
    let Some(root) = hdfs_root("cp-s3") else {
        return;
    };
    let get = ferry_conformance::server_env;
    let (Some(endpoint), Some(key), Some(secret), Some(bucket)) = (
        get("FERRY_TEST_S3_ENDPOINT"),
        get("FERRY_TEST_S3_ACCESS_KEY"),
        get("FERRY_TEST_S3_SECRET_KEY"),
        get("FERRY_TEST_S3_BUCKET"),
    ) else {
        return;
    };
    let s3 = format!(
        "s3a://{bucket}/{}",
        ferry_conformance::unique_prefix("from-hdfs")
    );
    let dir = tempfile::tempdir().unwrap();
    let (src, back) = (dir.path().join("src"), dir.path().join("back"));
    mixed_tree(&src);
    let run = |from: &str, to: &str| {
        let mut cmd = ferry(&dir.path().join("state"));
        cmd.env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CA_BUNDLE", "/nonexistent/ferry-test-ca.pem")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            )
            .env_remove("AWS_PROFILE")
            .args(["cp", "--json", "--part-size", "4M", "-o"])
            .arg(format!("endpoint={endpoint}"))
            .arg(from)
            .arg(to)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    run(src.to_str().unwrap(), &format!("{root}/a"));
    let report = json_report(&run(&format!("{root}/a"), &s3));
    assert_eq!(report["files_copied"], 6, "{report}");
    run(&s3, &format!("{root}/b"));
    assert_stored_checksum(&format!("{root}/b/big.bin"), &src.join("big.bin"));
    run(&format!("{root}/b"), back.to_str().unwrap());
    assert_same_tree(&src, &back);
}

#[test]
fn a_missing_hdfs_source_is_a_clear_error() {
    let Some(root) = hdfs_root("cp-missing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ferry(&dir.path().join("state"))
        .args(["cp", &format!("{root}/nothing-here")])
        .arg(dir.path().join("out"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("not found").and(predicate::str::contains("nothing-here")),
        );
}

#[test]
fn another_users_directory_is_permission_denied_naming_the_fix() {
    let Some(root) = hdfs_root("cp-perm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bin");
    std::fs::write(&file, bytes(1000, 3)).unwrap();
    // Created by the cluster's superuser (this process's user), mode 755.
    ferry(&dir.path().join("state"))
        .args(["cp", "-q"])
        .arg(&file)
        .arg(format!("{root}/owned/f.bin"))
        .assert()
        .success();
    ferry(&dir.path().join("state2"))
        .env("HADOOP_USER_NAME", "ferry-stranger")
        .args(["cp", "-q"])
        .arg(&file)
        .arg(format!("{root}/owned/g.bin"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("permission denied")
                .and(predicate::str::contains("ferry-stranger"))
                .and(predicate::str::contains("HADOOP_USER_NAME")),
        );
}
