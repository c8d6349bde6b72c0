//! `ferry cp` against a real GCS emulator (fake-gcs-server from `cargo xtask test`): local→GCS
//! (a multi-part composite upload), GCS→local (parallel ranged reads), GCS→GCS (server-side
//! rewrite, across buckets), GCS↔S3, names with spaces and unicode, a corrupted transfer
//! detected by the object's crc32c — and never a temporary part left behind.
//!
//! The emulator is reached the way GCP users point tools at one: `STORAGE_EMULATOR_HOST`.
//! Each test keeps its composite-upload parts under a prefix of its own (`temp_prefix`), so
//! that "nothing left behind" is checked exactly even with tests running at once.

use ferry_core::{BackendOptions, Location, Storage};
use ferry_gcs::GcsStorage;
use futures::TryStreamExt;

use crate::support::*;

struct Gcs {
    endpoint: String,
    bucket: String,
    bucket2: String,
    /// A fresh prefix for this test.
    prefix: String,
}

fn gcs(name: &str) -> Option<Gcs> {
    let get = ferry_conformance::server_env;
    Some(Gcs {
        endpoint: get("FERRY_TEST_GCS_ENDPOINT")?,
        bucket: get("FERRY_TEST_GCS_BUCKET")?,
        bucket2: get("FERRY_TEST_GCS_BUCKET2")?,
        prefix: ferry_conformance::unique_prefix(name),
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A small tree with a multi-part file (3 MiB + 7 bytes: four 1 MiB parts), odd names and an
/// empty file.
fn tree(root: &std::path::Path) {
    write_tree(
        root,
        &[
            ("big.bin", bytes(3 * 1024 * 1024 + 7, 1)),
            ("chk-1/_metadata", bytes(4_000, 2)),
            ("chk-1/a/b/deep.sst", bytes(300_000, 3)),
            ("shared/with space.sst", bytes(70_000, 4)),
            ("shared/ünïcödé 文件+plus.sst", bytes(1, 5)),
            ("empty", Vec::new()),
        ],
    );
}

impl Gcs {
    /// `gs://bucket/<prefix>/<rel>` (or in the second bucket).
    fn uri(&self, second_bucket: bool, rel: &str) -> String {
        let bucket = if second_bucket {
            &self.bucket2
        } else {
            &self.bucket
        };
        format!("gs://{bucket}/{}/{rel}", self.prefix)
    }

    fn temp_prefix(&self) -> String {
        format!(".ferry-tmp/{}/", self.prefix)
    }

    /// `ferry` pointed at the emulator by `STORAGE_EMULATOR_HOST`, with no Google credentials
    /// in reach.
    fn ferry(&self, state: &std::path::Path) -> assert_cmd::Command {
        let mut cmd = ferry(state);
        cmd.env("STORAGE_EMULATOR_HOST", &self.endpoint)
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env("HOME", state);
        cmd
    }

    fn store(&self) -> GcsStorage {
        let options = BackendOptions::new()
            .with("endpoint", &self.endpoint)
            .with("temp_prefix", self.temp_prefix());
        GcsStorage::open(&options).unwrap()
    }

    /// Temporary composite-upload objects of this test, in both buckets.
    fn pending_parts(&self) -> Vec<String> {
        let store = self.store();
        runtime().block_on(async {
            let mut all = Vec::new();
            for second in [false, true] {
                let root = Location::parse(&self.uri(second, "")).unwrap();
                all.extend(store.pending_parts(&root).await.unwrap());
            }
            all
        })
    }

    fn exists(&self, uri: &str) -> bool {
        runtime()
            .block_on(self.store().stat(&Location::parse(uri).unwrap()))
            .is_ok()
    }

    fn clean(&self) {
        let store = self.store();
        runtime().block_on(async {
            for second in [false, true] {
                let root = Location::parse(&self.uri(second, "")).unwrap();
                store.delete_prefix(&root).await.unwrap();
            }
        });
    }
}

#[test]
fn local_to_gcs_and_back_and_gcs_to_gcs_server_side() {
    let Some(gcs) = gcs("cp-gcs") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, back, state) = (
        dir.path().join("src"),
        dir.path().join("back"),
        dir.path().join("state"),
    );
    tree(&src);
    let up = gcs.uri(false, "up");
    let temp = format!("temp_prefix={}", gcs.temp_prefix());

    // local → GCS: big.bin as a composite of four 1 MiB parts.
    let out = gcs
        .ferry(&state)
        .args(["cp", "--json", "--part-size", "1M", "-o", &temp])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 6, "{report}");
    assert!(gcs.pending_parts().is_empty(), "{:?}", gcs.pending_parts());
    // The composite object's crc32c is the CRC32C of the whole file.
    let big = Location::parse(&format!("{up}/big.bin")).unwrap();
    let entry = runtime().block_on(gcs.store().stat(&big)).unwrap();
    let want = ferry_core::checksum::crc32c(&std::fs::read(src.join("big.bin")).unwrap());
    assert_eq!(entry.checksum, Some(ferry_core::Checksum::Crc32c(want)));

    // The same command again: everything is there and verified.
    let out = gcs
        .ferry(&state)
        .args(["cp", "--json", "--part-size", "1M", "-o", &temp])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    assert_eq!(json_report(&out.get_output().stdout)["files_skipped"], 6);

    // --checksum compares the stores' crc32c without re-reading: all unchanged.
    let out = gcs
        .ferry(&dir.path().join("state-update"))
        .args(["cp", "--json", "--checksum"])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    assert_eq!(json_report(&out.get_output().stdout)["files_skipped"], 6);

    // GCS → local in parallel ranged reads that do not align with the upload's parts.
    gcs.ferry(&state)
        .args(["cp", "--part-size", "1536K", "--verify", "full"])
        .arg(&up)
        .arg(&back)
        .assert()
        .success();
    assert_same_tree(&src, &back);

    // GCS → GCS into the other bucket: server-side.
    let copy = gcs.uri(true, "copy");
    let out = gcs
        .ferry(&state)
        .args(["cp", "--json"])
        .arg(&up)
        .arg(&copy)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["server_side_copies"], 6, "{report}");
    let again = dir.path().join("again");
    gcs.ferry(&state)
        .args(["cp", "--verify", "full"])
        .arg(&copy)
        .arg(&again)
        .assert()
        .success();
    assert_same_tree(&src, &again);
    assert!(gcs.pending_parts().is_empty());
    gcs.clean();
}

#[test]
fn gcs_to_s3_and_back() {
    let Some(gcs) = gcs("cp-gcs-s3") else { return };
    let get = ferry_conformance::server_env;
    let (Some(s3_endpoint), Some(access), Some(secret), Some(s3_bucket)) = (
        get("FERRY_TEST_S3_ENDPOINT"),
        get("FERRY_TEST_S3_ACCESS_KEY"),
        get("FERRY_TEST_S3_SECRET_KEY"),
        get("FERRY_TEST_S3_BUCKET"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (src, back, state) = (
        dir.path().join("src"),
        dir.path().join("back"),
        dir.path().join("state"),
    );
    tree(&src);
    let on_gcs = gcs.uri(false, "a");
    let on_s3 = format!("s3a://{s3_bucket}/{}/b", gcs.prefix);
    let back_on_gcs = gcs.uri(true, "c");
    let s3_endpoint = format!("endpoint={s3_endpoint}");
    let temp = format!("temp_prefix={}", gcs.temp_prefix());
    let ferry = |state: &std::path::Path| {
        let mut cmd = gcs.ferry(state);
        cmd.env("AWS_ACCESS_KEY_ID", &access)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    };
    ferry(&state)
        .args(["cp", "--part-size", "1M", "-o", &temp])
        .arg(&src)
        .arg(&on_gcs)
        .assert()
        .success();
    // GCS → S3: the S3 side gets its endpoint per side (GCS has its own, from the env).
    ferry(&state)
        .args(["cp", "--part-size", "5M", "--dst-option", &s3_endpoint])
        .arg(&on_gcs)
        .arg(&on_s3)
        .assert()
        .success();
    // S3 → GCS: a multi-part composite upload on the way back.
    let out = ferry(&state)
        .args(["cp", "--json", "--part-size", "1M"])
        .args(["--src-option", &s3_endpoint, "--dst-option", &temp])
        .arg(&on_s3)
        .arg(&back_on_gcs)
        .assert()
        .success();
    assert_eq!(json_report(&out.get_output().stdout)["files_copied"], 6);
    ferry(&state)
        .args(["cp", "--verify", "full"])
        .arg(&back_on_gcs)
        .arg(&back)
        .assert()
        .success();
    assert_same_tree(&src, &back);
    assert!(gcs.pending_parts().is_empty());
    let options = BackendOptions::new()
        .with("endpoint", s3_endpoint.trim_start_matches("endpoint="))
        .with("access_key_id", &access)
        .with("secret_access_key", &secret)
        .with("region", "us-east-1");
    runtime().block_on(async {
        let s3 = ferry_s3::S3Storage::open(&options).await.unwrap();
        s3.delete_prefix(&Location::parse(&on_s3).unwrap())
            .await
            .unwrap();
    });
    gcs.clean();
}

#[test]
fn a_corrupted_transfer_to_gcs_is_detected_by_crc32c_and_leaves_nothing() {
    let Some(gcs) = gcs("cp-gcs-corrupt") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    let up = gcs.uri(false, "up");
    let temp = format!("temp_prefix={}", gcs.temp_prefix());
    // Both the composite upload (big.bin) and a one-request upload (deep.sst) are corrupted
    // on their way to GCS; the default verification (the store's crc32c) must catch both.
    let out = gcs
        .ferry(&dir.path().join("state"))
        .env(
            "FERRY_FAULTS",
            "corrupt-write=big.bin;corrupt-write=deep.sst",
        )
        .args([
            "cp",
            "--json",
            "--retries",
            "1",
            "--part-size",
            "1M",
            "-o",
            &temp,
        ])
        .arg(&src)
        .arg(&up)
        .assert()
        .code(3);
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_failed"], 2, "{report}");
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.iter().all(|f| f["kind"] == "corrupted"),
        "{report}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f["error"].as_str().unwrap_or("").contains("crc32c")),
        "{report}"
    );
    assert!(!gcs.exists(&format!("{up}/big.bin")), "corrupt object left");
    assert!(!gcs.exists(&format!("{up}/chk-1/a/b/deep.sst")));
    assert!(gcs.exists(&format!("{up}/shared/ünïcödé 文件+plus.sst")));
    assert!(gcs.pending_parts().is_empty(), "{:?}", gcs.pending_parts());
    // The listing shows the odd names exactly.
    let store = gcs.store();
    let listed: Vec<String> = runtime().block_on(async {
        let root = Location::parse(&up).unwrap();
        store
            .list(&root)
            .map_ok(|e| e.location.strip_prefix(&root).unwrap().to_string())
            .try_collect()
            .await
            .unwrap()
    });
    assert!(
        listed.contains(&"shared/with space.sst".to_string()),
        "{listed:?}"
    );
    gcs.clean();
}

#[test]
fn a_missing_bucket_is_a_one_line_error_naming_it() {
    let Some(gcs) = gcs("cp-gcs-nobucket") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    let out = gcs
        .ferry(&dir.path().join("state"))
        .args(["cp"])
        .arg(&src)
        .arg("gs://ferry-no-such-bucket-4711/x")
        .assert()
        .code(1);
    // Checked once before any file: not the same error for every file of the tree.
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no such bucket ferry-no-such-bucket-4711"),
        "{stderr}"
    );
}
