//! `ferry cp` against a real S3 server (SeaweedFS from `cargo xtask test`): local→S3, S3→local
//! and S3→S3 (server-side), credentials from the environment as AWS users set them, Flink's
//! configuration and per-side options, wrong credentials, corruption, failures midway and
//! `kill -9` — and never a multipart upload left behind.
//!
//! Every run sets `AWS_CA_BUNDLE` to a missing file (it must not matter for a plain-http
//! endpoint), disables instance metadata, and hides `~/.aws`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_core::{BackendOptions, ErrorKind, Location, Storage};
use ferry_s3::S3Storage;
use predicates::prelude::*;

use crate::support::*;

pub(crate) struct S3 {
    endpoint: String,
    access_key: String,
    secret_key: String,
    access_key2: String,
    secret_key2: String,
    bucket: String,
    bucket2: String,
    /// A fresh prefix for this test.
    prefix: String,
}

pub(crate) fn s3(name: &str) -> Option<S3> {
    let get = ferry_conformance::server_env;
    Some(S3 {
        endpoint: get("FERRY_TEST_S3_ENDPOINT")?,
        access_key: get("FERRY_TEST_S3_ACCESS_KEY")?,
        secret_key: get("FERRY_TEST_S3_SECRET_KEY")?,
        access_key2: get("FERRY_TEST_S3_ACCESS_KEY2")?,
        secret_key2: get("FERRY_TEST_S3_SECRET_KEY2")?,
        bucket: get("FERRY_TEST_S3_BUCKET")?,
        bucket2: get("FERRY_TEST_S3_BUCKET2")?,
        prefix: ferry_conformance::unique_prefix(name),
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl S3 {
    /// `s3a://bucket/<prefix>/<rel>` (or another scheme / the second bucket).
    pub(crate) fn uri(&self, scheme: &str, second_bucket: bool, rel: &str) -> String {
        let bucket = if second_bucket {
            &self.bucket2
        } else {
            &self.bucket
        };
        format!("{scheme}://{bucket}/{}/{rel}", self.prefix)
    }

    /// `ferry` with the endpoint as an option and the credentials in the environment.
    pub(crate) fn ferry(&self, state: &std::path::Path) -> assert_cmd::Command {
        let mut cmd = ferry(state);
        self.isolate(&mut cmd);
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    fn isolate(&self, cmd: &mut assert_cmd::Command) {
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CA_BUNDLE", "/nonexistent/ferry-test-ca.pem")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    }

    pub(crate) fn endpoint_option(&self) -> String {
        format!("endpoint={}", self.endpoint)
    }

    fn store(&self) -> S3Storage {
        let options = BackendOptions::new()
            .with("endpoint", &self.endpoint)
            .with("access_key_id", &self.access_key)
            .with("secret_access_key", &self.secret_key);
        runtime().block_on(S3Storage::open(&options)).unwrap()
    }

    /// Multipart uploads in progress under this test's prefix, in both buckets.
    fn pending_uploads(&self) -> Vec<(Location, String)> {
        let store = self.store();
        runtime().block_on(async {
            let mut all = Vec::new();
            for second in [false, true] {
                let root = Location::parse(&self.uri("s3", second, "")).unwrap();
                all.extend(store.pending_uploads(&root).await.unwrap());
            }
            all
        })
    }

    pub(crate) fn exists(&self, uri: &str) -> bool {
        let store = self.store();
        match runtime().block_on(store.stat(&Location::parse(uri).unwrap())) {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => panic!("stat {uri}: {e}"),
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let store = self.store();
        runtime().block_on(async {
            for second in [false, true] {
                let root = Location::parse(&self.uri("s3", second, "")).unwrap();
                let _ = store.abort_uploads(&root).await;
                let _ = store.delete_prefix(&root).await;
            }
        });
    }
}

#[test]
fn local_to_s3_to_local_and_s3_to_s3_round_trip() {
    let Some(s3) = s3("cp-roundtrip") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, back, state) = (
        dir.path().join("src"),
        dir.path().join("back"),
        dir.path().join("state"),
    );
    mixed_tree(&src); // includes a 20 MiB file, "with space", "ünïcödé+plus", an empty file
    let up = s3.uri("s3a", false, "up");

    // local → S3: the big file in 5 MiB parts.
    let out = s3
        .ferry(&state)
        .args([
            "cp",
            "--json",
            "--part-size",
            "5M",
            "-o",
            &s3.endpoint_option(),
        ])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 6, "{report}");
    assert_eq!(report["destination"], up.as_str());
    assert!(s3.pending_uploads().is_empty());

    // The same command again: everything is already there and verified.
    let out = s3
        .ferry(&state)
        .args([
            "cp",
            "--json",
            "--part-size",
            "5M",
            "-o",
            &s3.endpoint_option(),
        ])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    assert_eq!(json_report(&out.get_output().stdout)["files_skipped"], 6);

    // S3 → local with parts that do not align with the upload's (7 MiB vs 5 MiB).
    s3.ferry(&state)
        .args(["cp", "--part-size", "7M", "-o", &s3.endpoint_option()])
        .arg(&up)
        .arg(&back)
        .assert()
        .success();
    assert_same_tree(&src, &back);

    // S3 → S3 on the same endpoint, into the other bucket, under another scheme: server-side.
    let copy = s3.uri("s3p", true, "copy");
    let out = s3
        .ferry(&state)
        .args(["cp", "--json", "-o", &s3.endpoint_option()])
        .arg(&up)
        .arg(&copy)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["server_side_copies"], 6, "{report}");
    let again = dir.path().join("again");
    s3.ferry(&state)
        .args(["cp", "--verify", "full", "-o", &s3.endpoint_option()])
        .arg(&copy)
        .arg(&again)
        .assert()
        .success();
    assert_same_tree(&src, &again);
    assert!(s3.pending_uploads().is_empty());
}

#[test]
fn s3_to_s3_across_accounts_streams_through_ferry() {
    // Another account on the destination side: the copy streams through ferry.
    let Some(s3) = s3("cp-per-side") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    let up = s3.uri("s3", false, "a");
    s3.ferry(&dir.path().join("state"))
        .args(["cp", "-o", &s3.endpoint_option()])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    let out = s3
        .ferry(&dir.path().join("state2"))
        .args(["cp", "--json", "-o", &s3.endpoint_option()])
        .args(["--dst-option", &format!("access_key_id={}", s3.access_key2)])
        .args([
            "--dst-option",
            &format!("secret_access_key={}", s3.secret_key2),
        ])
        .arg(&up)
        .arg(s3.uri("s3n", true, "b"))
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 6, "{report}");
    assert_eq!(report["server_side_copies"], 0, "{report}");
    let back = dir.path().join("back");
    s3.ferry(&dir.path().join("state3"))
        .args(["cp", "-o", &s3.endpoint_option()])
        .arg(s3.uri("s3n", true, "b"))
        .arg(&back)
        .assert()
        .success();
    assert_same_tree(&src, &back);
}

#[test]
fn flink_configuration_supplies_endpoint_and_credentials() {
    let Some(s3) = s3("cp-flink-conf") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, conf) = (dir.path().join("src"), dir.path().join("conf"));
    write_tree(
        &src,
        &[
            ("_metadata", bytes(3000, 1)),
            ("x/y.sst", bytes(100_000, 2)),
        ],
    );
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("config.yaml"),
        format!(
            "s3:\n  endpoint: {}\n  path.style.access: true\n  access-key: {}\n  secret-key: \"{}\"\n",
            s3.endpoint, s3.access_key, s3.secret_key
        ),
    )
    .unwrap();
    let mut cmd = ferry(&dir.path().join("state"));
    s3.isolate(&mut cmd);
    cmd.args(["cp", "--flink-conf"])
        .arg(&conf)
        .arg(&src)
        .arg(s3.uri("s3p", false, "sp"))
        .assert()
        .success();
    assert!(s3.exists(&s3.uri("s3", false, "sp/x/y.sst")));
}

#[test]
fn wrong_credentials_fail_with_one_clear_line() {
    let Some(s3) = s3("cp-creds") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(&src, &[("f", bytes(10, 1))]);
    let secret = "not-the-secret-7Qx";
    s3.ferry(&dir.path().join("state"))
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .args(["cp", "-o", &s3.endpoint_option()])
        .arg(&src)
        .arg(s3.uri("s3a", false, "d"))
        .assert()
        .code(1)
        .stderr(predicate::function(|err: &str| {
            err.lines().count() == 1
                && err.starts_with("ferry: error: permission denied")
                && err.contains("secret key")
                && err.contains("AWS_SECRET_ACCESS_KEY")
        }))
        .stderr(predicate::str::contains(secret).not());
    // Only the destination side is wrong: the message names the destination's bucket, whose
    // check before the copy fails at once.
    s3.ferry(&dir.path().join("state"))
        .args(["cp", "-o", &s3.endpoint_option()])
        .args(["--dst-option", "access_key_id=NOSUCHKEY", "--dst-option"])
        .arg(format!("secret_access_key={secret}"))
        .arg(&src)
        .arg(s3.uri("s3a", false, "d"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("access key id is unknown"))
        .stderr(predicate::str::contains(format!("s3a://{}/ ", s3.bucket)))
        .stderr(predicate::str::contains(secret).not());
}

#[test]
fn a_missing_or_invalid_bucket_is_one_line_before_any_file() {
    let Some(s3) = s3("cp-nobucket") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    for bucket in ["ferry-no-such-bucket-4711", "ab"] {
        s3.ferry(&dir.path().join("state"))
            .args(["cp", "-o", &s3.endpoint_option()])
            .arg(&src)
            .arg(format!("s3a://{bucket}/sp"))
            .assert()
            .code(1)
            .stderr(predicate::function(|err: &str| {
                err.lines().count() == 1
                    && err.starts_with("ferry: error: not found: no such bucket")
                    && err.contains(&format!("s3a://{bucket}/"))
                    && err.contains("check the bucket name")
            }));
    }
}

#[test]
fn a_corrupted_part_fails_the_file_and_leaves_no_object_or_upload() {
    let Some(s3) = s3("cp-corrupt") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mixed_tree(&src);
    let dst = s3.uri("s3a", false, "d");
    // A byte flipped after ferry computed the part's CRC32C: the server rejects the part.
    let out = s3
        .ferry(&dir.path().join("state"))
        .env(
            "FERRY_FAULTS",
            "corrupt-write=big.bin;corrupt-write=deep.sst",
        )
        .args(["cp", "--json", "--retries", "1", "--part-size", "5M"])
        .args(["-o", &s3.endpoint_option()])
        .arg(&src)
        .arg(&dst)
        .assert()
        .code(3);
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_failed"], 2, "{report}");
    for failure in report["failures"].as_array().unwrap() {
        assert_eq!(failure["kind"], "corrupted", "{report}");
    }
    assert!(!s3.exists(&format!("{dst}/big.bin")));
    assert!(!s3.exists(&format!("{dst}/chk-1/a/b/c/deep.sst")));
    assert!(s3.exists(&format!("{dst}/shared/with space.sst")));
    assert!(
        s3.pending_uploads().is_empty(),
        "{:?}",
        s3.pending_uploads()
    );
}

#[test]
fn an_upload_failing_midway_leaves_no_multipart_upload() {
    let Some(s3) = s3("cp-midway") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(&src, &[("big.bin", bytes(26 * 1024 * 1024, 3))]);
    let dst = s3.uri("s3a", false, "d");
    s3.ferry(&dir.path().join("state"))
        .env("FERRY_FAULTS", "fail=put_part@3")
        .args(["cp", "--retries", "0", "--part-size", "5M"])
        .args(["-o", &s3.endpoint_option()])
        .arg(&src)
        .arg(&dst)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("big.bin"));
    assert!(!s3.exists(&format!("{dst}/big.bin")));
    assert!(
        s3.pending_uploads().is_empty(),
        "{:?}",
        s3.pending_uploads()
    );
}

#[test]
fn a_killed_upload_resumes_from_its_parts() {
    let Some(s3) = s3("cp-kill") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, state) = (dir.path().join("src"), dir.path().join("state"));
    write_tree(&src, &[("huge.bin", bytes(40 * 1024 * 1024, 4))]);
    let dst = s3.uri("s3a", false, "d");
    let mut cmd = std::process::Command::new(ferry_bin());
    cmd.env("FERRY_STATE_DIR", &state)
        .env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CA_BUNDLE", "/nonexistent/ferry-test-ca.pem")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("FERRY_FAULTS")
        .args([
            "cp",
            "--part-size",
            "5M",
            "--bwlimit",
            "8M",
            "-o",
            &s3.endpoint_option(),
        ])
        .arg(&src)
        .arg(&dst)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let journal_parts = || {
        std::fs::read_dir(state.join("journals"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map_or(0, |t| t.lines().filter(|l| l.contains("\"part\"")).count())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_parts() < 3 {
        assert!(Instant::now() < deadline, "no part was journaled");
        assert!(child.try_wait().unwrap().is_none(), "finished too early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: the upload stays open on the server
    child.wait().unwrap();
    assert!(!s3.exists(&format!("{dst}/huge.bin")));
    assert_eq!(s3.pending_uploads().len(), 1);

    s3.ferry(&state)
        .args(["cp", "--part-size", "5M", "-o", &s3.endpoint_option()])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let journal = std::fs::read_dir(state.join("journals"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(journal).unwrap();
    let uploads = text.lines().filter(|l| l.contains("\"upload\"")).count();
    let parts = text.lines().filter(|l| l.contains("\"part\"")).count();
    assert_eq!(uploads, 1, "the upload was restarted instead of resumed");
    assert_eq!(
        parts, 8,
        "each of the 8 parts is written exactly once across both runs"
    );
    assert!(s3.pending_uploads().is_empty());
    let back = dir.path().join("back");
    s3.ferry(&dir.path().join("state-back"))
        .args(["cp", "-o", &s3.endpoint_option()])
        .arg(&dst)
        .arg(&back)
        .assert()
        .success();
    assert_same_tree(&src, &back);
}

/// `cp` onto or into itself on S3, with the scheme spelled differently on each side (`s3` and
/// `s3a` are one store): refused before anything is written (issue 15).
#[test]
fn a_copy_onto_or_into_itself_is_refused_across_scheme_spellings() {
    let Some(s3) = s3("cp-self") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(
        &src,
        &[("a.bin", bytes(10_000, 1)), ("d/b.bin", bytes(20, 2))],
    );
    let state = dir.path().join("state");
    let tree = s3.uri("s3", false, "t");
    s3.ferry(&state)
        .args(["cp", "-q", "-o", &s3.endpoint_option()])
        .arg(&src)
        .arg(&tree)
        .assert()
        .success();
    for (to, why) in [
        (
            s3.uri("s3a", false, "t/sub"),
            "destination is inside the source",
        ),
        (
            s3.uri("s3a", false, "t/"),
            "source and destination are the same",
        ),
    ] {
        s3.ferry(&state)
            .args(["cp", "-q", "--overwrite", "-o", &s3.endpoint_option()])
            .arg(&tree)
            .arg(&to)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(why));
    }
    assert!(!s3.exists(&s3.uri("s3", false, "t/sub/a.bin")));
    // Another bucket is another place.
    s3.ferry(&state)
        .args(["cp", "-q", "-o", &s3.endpoint_option()])
        .arg(&tree)
        .arg(s3.uri("s3a", true, "t"))
        .assert()
        .success();
    assert!(s3.exists(&s3.uri("s3", true, "t/d/b.bin")));
}
