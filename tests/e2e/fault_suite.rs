//! `ferry cp` and `ferry migrate` through a fault-injecting proxy
//! (`ferry_conformance::fault_proxy`) in front of the real S3, GCS and HDFS test servers, with a
//! fixed seed: connection resets, 500/503/SlowDown answers, truncated bodies, stalls and slow
//! trickles (HTTP); resets, cuts, stalls and trickles of the NameNode's RPC (HDFS). Every run
//! must end identical to its source, or with a clear error (HDFS runs must end identical: a
//! rename whose reply the proxy cut is found done on retry); and whatever it ends with, every
//! file under a final name at the destination (read directly, not through the proxy) must hold
//! exactly the source's bytes.
//!
//! Also here: against a proxy that answers `503 SlowDown` above a request rate, ferry's
//! adaptive pacing finishes with default retries where a fixed-pace client does not.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_conformance::fault_proxy::{FaultProxy, Faults, Protocol};
use ferry_core::storage::read_to_bytes;
use ferry_core::{BackendOptions, Location, Storage};
use futures::TryStreamExt;

use crate::support::*;

/// The seed of every run (override with `FERRY_FAULT_SEED` to explore others).
fn seed() -> u64 {
    std::env::var("FERRY_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F00D)
}

/// Faults on ~14 % of HTTP requests, 2 % each kind; stalls of 1.5 s.
fn http_faults(salt: u64) -> Faults {
    Faults {
        stall_for: Duration::from_millis(1500),
        ..Faults::all(seed() ^ salt, 20)
    }
}

/// A small tree with a multipart file (three 5 MiB parts), small files and an empty one.
fn suite_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("big.bin".into(), bytes(11 * 1024 * 1024 + 7, 11)),
        ("empty".into(), Vec::new()),
    ];
    for i in 0..24 {
        files.push((
            format!("shared/f{i:02}.sst"),
            bytes(3_000 + i * 5_000, 100 + i as u64),
        ));
    }
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    write_tree(root, &refs);
    files.into_iter().collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every file under a final name below `root` in `store`: relative path → bytes (temp names
/// of unfinished writes are not final names and are left out).
fn final_files(store: &dyn Storage, root: &str) -> BTreeMap<String, Vec<u8>> {
    let root = Location::parse(root).unwrap();
    runtime().block_on(async {
        let entries: Vec<_> = store.list(&root).try_collect().await.unwrap();
        let mut files = BTreeMap::new();
        for entry in entries {
            let rel = entry.location.strip_prefix(&root).unwrap().to_string();
            if ferry_core::transfer::is_temp_name(&rel) {
                continue;
            }
            let content = read_to_bytes(store, &entry.location, None).await.unwrap();
            files.insert(rel, content.to_vec());
        }
        files
    })
}

/// The outcome of one run through the proxy, checked: success means identical; failure means
/// a clear error (exit 1 or 3, an `error` line, no panic). Either way every final file must
/// hold the source's bytes. Returns whether the run succeeded.
fn check_run(
    what: &str,
    output: &std::process::Output,
    expected: &BTreeMap<String, Vec<u8>>,
    at_destination: &BTreeMap<String, Vec<u8>>,
) -> bool {
    let stderr = String::from_utf8_lossy(&output.stderr);
    for (name, content) in at_destination {
        let source = expected
            .get(name)
            .unwrap_or_else(|| panic!("{what}: {name} at the destination is not in the source"));
        assert!(
            source == content,
            "{what}: {name} is corrupt at the destination"
        );
    }
    let ok = output.status.success();
    if ok {
        let names: Vec<_> = expected.keys().collect();
        let got: Vec<_> = at_destination.keys().collect();
        assert_eq!(
            names, got,
            "{what}: succeeded but the trees differ\n{stderr}"
        );
    } else {
        let code = output.status.code();
        assert!(
            matches!(code, Some(1 | 3)),
            "{what}: exit {code:?}\n{stderr}"
        );
        assert!(
            stderr.contains("error") || stderr.contains("failed: "),
            "{what}: no error message\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: panicked\n{stderr}");
    }
    eprintln!(
        "{what}: {} ({} files at the destination) {}",
        if ok { "identical" } else { "failed cleanly" },
        at_destination.len(),
        stderr.lines().next().unwrap_or("")
    );
    ok
}

struct S3Env {
    endpoint: String,
    access_key: String,
    secret_key: String,
    bucket: String,
}

fn s3_env() -> Option<S3Env> {
    let get = ferry_conformance::server_env;
    Some(S3Env {
        endpoint: get("FERRY_TEST_S3_ENDPOINT")?,
        access_key: get("FERRY_TEST_S3_ACCESS_KEY")?,
        secret_key: get("FERRY_TEST_S3_SECRET_KEY")?,
        bucket: get("FERRY_TEST_S3_BUCKET")?,
    })
}

impl S3Env {
    /// `ferry` with the credentials in the environment (the endpoint goes in as `-o`).
    fn ferry(&self, state: &Path, _through: &str) -> assert_cmd::Command {
        let mut cmd = ferry(state);
        for var in ["AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_CA_BUNDLE", "/nonexistent/ferry-test-ca.pem");
        cmd
    }

    /// The store, reached directly (not through the proxy).
    fn store(&self) -> ferry_s3::S3Storage {
        let options = BackendOptions::new()
            .with("endpoint", &self.endpoint)
            .with("access_key_id", &self.access_key)
            .with("secret_access_key", &self.secret_key);
        runtime()
            .block_on(ferry_s3::S3Storage::open(&options))
            .unwrap()
    }
}

#[test]
fn s3_cp_both_ways_through_faults() {
    let Some(env) = s3_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let expected = suite_tree(&src);
    let proxy = FaultProxy::start(&env.endpoint, Protocol::Http, http_faults(1));
    let root = format!(
        "s3://{}/{}",
        env.bucket,
        ferry_conformance::unique_prefix("faults")
    );
    let state = dir.path().join("state");
    let up = env
        .ferry(&state, &proxy.http_endpoint())
        .args([
            "cp",
            "-q",
            "--part-size",
            "5M",
            "-o",
            &endpoint_option(&proxy),
        ])
        .arg(&src)
        .arg(format!("{root}/t"))
        .output()
        .unwrap();
    let store = env.store();
    let uploaded = check_run(
        "s3 upload",
        &up,
        &expected,
        &final_files(&store, &format!("{root}/t")),
    );
    if uploaded {
        let back = dir.path().join("back");
        let down = env
            .ferry(&state, &proxy.http_endpoint())
            .args([
                "cp",
                "-q",
                "--part-size",
                "5M",
                "-o",
                &endpoint_option(&proxy),
            ])
            .arg(format!("{root}/t"))
            .arg(&back)
            .output()
            .unwrap();
        check_run("s3 download", &down, &expected, &local_final_files(&back));
    }
    let stats = proxy.stats();
    eprintln!("s3 proxy: {stats:?}");
    assert!(stats.faults > 0, "no fault was injected: {stats:?}");
}

/// `endpoint=<the proxy>`, for `-o`.
fn endpoint_option(proxy: &FaultProxy) -> String {
    format!("endpoint={}", proxy.http_endpoint())
}

/// Every file under a final name below a local directory.
fn local_final_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    read_tree(root)
        .into_iter()
        .filter(|(name, _)| !ferry_core::transfer::is_temp_name(name))
        .collect()
}

#[test]
fn s3_migrate_through_faults_writes_metadata_only_after_every_file() {
    let Some(env) = s3_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, manifest) = place_fixture(
        "2.3.0",
        "chained-incremental-checkpoint",
        &dir.path().join("old"),
    );
    let job = manifest["job_id"].as_str().unwrap();
    let proxy = FaultProxy::start(&env.endpoint, Protocol::Http, http_faults(2));
    let root = format!(
        "s3://{}/{}",
        env.bucket,
        ferry_conformance::unique_prefix("faults-migrate")
    );
    let dst = format!("{root}/{job}/chk-2");
    let out = env
        .ferry(&dir.path().join("state"), &proxy.http_endpoint())
        .args(["migrate", "-q", "-o", &endpoint_option(&proxy)])
        .arg(&snapshot)
        .arg(&dst)
        .output()
        .unwrap();
    let store = env.store();
    let landed = final_files(&store, &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let metadata_key = format!("{job}/chk-2/_metadata");
    if out.status.success() {
        assert!(landed.contains_key(&metadata_key), "{landed:?}");
    } else {
        assert!(matches!(out.status.code(), Some(1 | 3)), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Whatever happened: `_metadata`, if present, names only files that are there in full,
    // and every data file at the destination is byte for byte a file of the snapshot.
    let source_files: Vec<Vec<u8>> = read_tree(&dir.path().join("old")).into_values().collect();
    for (name, content) in &landed {
        if name.ends_with("_metadata") {
            let metadata = ferry_metadata::Metadata::from_bytes(content).unwrap();
            for path in metadata.paths() {
                let value = path.value_str();
                if !value.contains("://") {
                    continue; // a relative handle or an inline name, not a location
                }
                let rel = value
                    .strip_prefix(&format!("{root}/"))
                    .unwrap_or_else(|| panic!("{value} is not under the destination"));
                assert!(landed.contains_key(rel), "_metadata names missing {rel}");
            }
        } else {
            assert!(
                source_files.contains(content),
                "{name} at the destination is no file of the snapshot"
            );
        }
    }
    eprintln!(
        "s3 migrate: exit {:?}, {} files, proxy {:?} {}",
        out.status.code(),
        landed.len(),
        proxy.stats(),
        stderr.lines().next().unwrap_or("")
    );
}

#[test]
fn gcs_cp_both_ways_through_faults() {
    let get = ferry_conformance::server_env;
    let (Some(endpoint), Some(bucket)) =
        (get("FERRY_TEST_GCS_ENDPOINT"), get("FERRY_TEST_GCS_BUCKET"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let expected = suite_tree(&src);
    let proxy = FaultProxy::start(&endpoint, Protocol::Http, http_faults(3));
    let root = format!(
        "gs://{bucket}/{}",
        ferry_conformance::unique_prefix("faults")
    );
    let state = dir.path().join("state");
    let gcs_ferry = |through: &str| {
        let mut cmd = ferry(&state);
        cmd.env("STORAGE_EMULATOR_HOST", through)
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env("HOME", &state);
        cmd
    };
    let up = gcs_ferry(&proxy.http_endpoint())
        .args(["cp", "-q", "--part-size", "5M"])
        .arg(&src)
        .arg(format!("{root}/t"))
        .output()
        .unwrap();
    let store =
        ferry_gcs::GcsStorage::open(&BackendOptions::new().with("endpoint", &endpoint)).unwrap();
    let uploaded = check_run(
        "gcs upload",
        &up,
        &expected,
        &final_files(&store, &format!("{root}/t")),
    );
    if uploaded {
        let back = dir.path().join("back");
        let down = gcs_ferry(&proxy.http_endpoint())
            .args(["cp", "-q", "--part-size", "5M"])
            .arg(format!("{root}/t"))
            .arg(&back)
            .output()
            .unwrap();
        check_run("gcs download", &down, &expected, &local_final_files(&back));
    }
    let stats = proxy.stats();
    eprintln!("gcs proxy: {stats:?}");
    assert!(stats.faults > 0, "no fault was injected: {stats:?}");
}

#[test]
fn hdfs_cp_both_ways_through_namenode_faults() {
    let Some(url) = ferry_conformance::server_env("FERRY_TEST_HDFS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let expected = suite_tree(&src);
    // Per chunk of the NameNode's answers: resets and cuts 1 %, stalls and trickles 2 %.
    let faults = Faults {
        reset: 10,
        truncate: 10,
        stall: 20,
        trickle: 20,
        stall_for: Duration::from_millis(800),
        ..Faults::none(seed() ^ 4)
    };
    let proxy = FaultProxy::start(&url, Protocol::Tcp, faults);
    let prefix = ferry_conformance::unique_prefix("faults");
    let through = format!("hdfs://{}/{prefix}/t", proxy.address());
    let direct = format!("{}/{prefix}/t", url.trim_end_matches('/'));
    let state = dir.path().join("state");
    let up = ferry(&state)
        .args(["cp", "-q", "--part-size", "4M"])
        .arg(&src)
        .arg(&through)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let store =
        ferry_hdfs::open(&Location::parse(&direct).unwrap(), &BackendOptions::new()).unwrap();
    let uploaded = check_run("hdfs upload", &up, &expected, &final_files(&store, &direct));
    // NameNode faults are survivable: a rename performed but whose reply was lost is found
    // done on retry, so the upload must succeed, not end in a clean failure.
    assert!(
        uploaded,
        "hdfs upload failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    if uploaded {
        let back = dir.path().join("back");
        let down = ferry(&state)
            .args(["cp", "-q", "--part-size", "4M"])
            .arg(&through)
            .arg(&back)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let downloaded = check_run("hdfs download", &down, &expected, &local_final_files(&back));
        assert!(
            downloaded,
            "hdfs download failed: {}",
            String::from_utf8_lossy(&down.stderr)
        );
    }
    eprintln!("hdfs proxy: {:?}", proxy.stats());
    assert!(proxy.stats().connections > 0, "ferry bypassed the proxy");
}

/// `ferry cp` of many small files to S3 through a proxy that answers `503 SlowDown` above
/// `limit` requests a second: with adaptive pacing it finishes with default retries and
/// settles near the limit; the fixed-pace client (`FERRY_ADAPTIVE_THROTTLE=off`) fails or
/// needs far more throttled requests.
#[test]
fn throttled_s3_upload_finishes_with_adaptive_pacing() {
    let Some(env) = s3_env() else { return };
    let limit = 25.0;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let files: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| {
            (
                format!("shared/s{i:03}"),
                bytes(1_000 + i * 10, 500 + i as u64),
            )
        })
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    write_tree(&src, &refs);
    let expected: BTreeMap<String, Vec<u8>> = files.into_iter().collect();
    let run = |adaptive: bool| {
        let proxy = FaultProxy::start(
            &env.endpoint,
            Protocol::Http,
            Faults {
                rate_limit: Some(limit),
                ..Faults::none(seed())
            },
        );
        let root = format!(
            "s3://{}/{}",
            env.bucket,
            ferry_conformance::unique_prefix("throttle")
        );
        let started = Instant::now();
        let out = env
            .ferry(
                &dir.path().join(format!("state-{adaptive}")),
                &proxy.http_endpoint(),
            )
            .env(
                "FERRY_ADAPTIVE_THROTTLE",
                if adaptive { "on" } else { "off" },
            )
            .args(["cp", "-q", "-o", &endpoint_option(&proxy)])
            .arg(&src)
            .arg(&root)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let took = started.elapsed().as_secs_f64();
        let stats = proxy.stats();
        let landed = final_files(&env.store(), &root);
        (out, stats, took, landed)
    };
    let (out, stats, took, landed) = run(true);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "adaptive run failed: {stderr}");
    assert!(landed == expected, "adaptive run: trees differ");
    let rate = stats.forwarded as f64 / took;
    eprintln!(
        "adaptive: {} requests passed in {took:.1}s = {rate:.1}/s against a limit of {limit}/s, \
         {} throttled",
        stats.forwarded, stats.throttled
    );
    let (fixed_out, fixed, fixed_took, _) = run(false);
    eprintln!(
        "fixed pace: exit {:?}, {} requests passed in {fixed_took:.1}s, {} throttled",
        fixed_out.status.code(),
        fixed.forwarded,
        fixed.throttled
    );
    assert!(
        !fixed_out.status.success() || fixed.throttled >= 2 * stats.throttled.max(1),
        "the fixed-pace client did as well: {fixed:?} against {stats:?}"
    );
}
