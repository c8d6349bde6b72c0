//! A server that accepts the connection and never answers must not hang a copy: `cp` to or
//! from a silent S3, GCS or HDFS endpoint ends, with one clear error line naming the endpoint,
//! within the idle timeout set by `-o read_timeout=` (short here; the defaults are documented),
//! and a "still waiting" warning is printed while it waits. A slow but flowing transfer through
//! a stalling proxy (slower in total than the idle timeout) still succeeds.

use std::io::Read;
use std::time::{Duration, Instant};

use ferry_conformance::fault_proxy::{FaultProxy, Faults, Protocol};

use crate::support::*;

/// A server on 127.0.0.1 that accepts connections, reads whatever comes and never answers.
/// Returns its `host:port`; it lives as long as the test process.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
            });
        }
    });
    address
}

/// Runs `cmd`, which must fail within `bound` with one error line about `address` not
/// answering (after a "still waiting" warning, with `warned`).
fn assert_gives_up(mut cmd: assert_cmd::Command, address: &str, bound: Duration, warned: bool) {
    let started = Instant::now();
    let output = cmd.timeout(bound * 3).output().unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(took < bound, "gave up only after {took:?}: {stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("ferry: error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(error.contains(address), "{error}");
    assert!(
        error.contains("no answer") || error.contains("timed out"),
        "{error}"
    );
    if warned {
        assert!(stderr.contains("still waiting for"), "no warning: {stderr}");
    }
}

fn small_source(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("src");
    write_tree(&src, &[("a.bin", bytes(100_000, 3))]);
    src
}

#[test]
fn cp_to_a_silent_hdfs_namenode_fails_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    let address = silent_server();
    let mut cmd = ferry(&dir.path().join("state"));
    cmd.env_remove("FERRY_LOG")
        .args(["cp", "-v", "--retries", "0", "-o", "read_timeout=2"])
        .arg(&src)
        .arg(format!("hdfs://{address}/ferry/dst"));
    assert_gives_up(cmd, &address, Duration::from_secs(20), true);
}

#[test]
fn cp_through_a_stalling_namenode_proxy_finishes() {
    let Some(url) = ferry_conformance::server_env("FERRY_TEST_HDFS_URL") else {
        return;
    };
    // Every answer of the NameNode is held back 0.4 s: no single wait reaches the 4 s idle
    // timeout, but the whole copy takes longer than that.
    let proxy = FaultProxy::start(
        &url,
        Protocol::Tcp,
        Faults {
            stall: 1000,
            stall_for: Duration::from_millis(400),
            ..Faults::none(15)
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(
        &src,
        &[
            ("a.bin", bytes(300_000, 4)),
            ("sub/b.bin", bytes(1_500_000, 5)),
        ],
    );
    let root = format!(
        "hdfs://{}/{}",
        proxy.address(),
        ferry_conformance::unique_prefix("stall")
    );
    let started = Instant::now();
    ferry(&dir.path().join("state"))
        .env_remove("FERRY_LOG")
        .args(["cp", "-q", "-j", "1", "-o", "read_timeout=4"])
        .arg(&src)
        .arg(format!("{root}/up"))
        .assert()
        .success();
    let back = dir.path().join("back");
    ferry(&dir.path().join("state2"))
        .env_remove("FERRY_LOG")
        .args(["cp", "-q", "-j", "1", "-o", "read_timeout=4"])
        .arg(format!("{root}/up"))
        .arg(&back)
        .assert()
        .success();
    let took = started.elapsed();
    assert_same_tree(&src, &back);
    assert!(proxy.stats().faults > 10, "{:?}", proxy.stats());
    assert!(
        took > Duration::from_secs(4),
        "the copies took {took:?}: the proxy did not slow them below the idle timeout"
    );
}

/// A TCP relay on 127.0.0.1 to `upstream` (`host:port`) that passes at most `rate` bytes per
/// second in each direction of each connection, in small pieces: a slow link that never goes
/// silent. Returns its `host:port`; it lives as long as the test process.
fn slow_relay(upstream: String, rate: usize) -> String {
    use std::io::Write;
    use std::net::{Shutdown, TcpListener, TcpStream};
    fn pump(mut from: TcpStream, mut to: TcpStream, rate: usize) {
        let piece = (rate / 20).max(1);
        let mut buffer = vec![0u8; piece];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
        }
        let _ = to.shutdown(Shutdown::Write);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client, server, rate));
            std::thread::spawn(move || pump(s2, c2, rate));
        }
    });
    address
}

fn s3_ferry(state: &std::path::Path) -> Option<assert_cmd::Command> {
    let get = ferry_conformance::server_env;
    let mut cmd = ferry(state);
    for var in [
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "FERRY_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ACCESS_KEY_ID", get("FERRY_TEST_S3_ACCESS_KEY")?)
        .env("AWS_SECRET_ACCESS_KEY", get("FERRY_TEST_S3_SECRET_KEY")?)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_CA_BUNDLE", "/nonexistent/ferry-test-ca.pem");
    Some(cmd)
}

#[test]
fn cp_to_a_silent_s3_endpoint_fails_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    let address = silent_server();
    let mut cmd = ferry(&dir.path().join("state"));
    cmd.env_remove("FERRY_LOG")
        .env("AWS_ACCESS_KEY_ID", "FERRYSILENT")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["cp", "-v", "-o", "read_timeout=2", "-o"])
        .arg(format!("endpoint=http://{address}"))
        .arg(&src)
        .arg("s3://bucket/ferry/dst");
    // The bucket check: 3 SDK attempts of 2 s and short back-offs, each bounded by the SDK's
    // own timer (no "still waiting" warning: the SDK gives up first). A request never answered
    // is not sent again by ferry's own retries (default --retries 5, which would take six
    // times as long), and the failed bucket check ends the run.
    assert_gives_up(cmd, &address, Duration::from_secs(12), false);
}

#[test]
fn s3_upload_and_download_through_a_slow_link_finish() {
    let (Some(endpoint), Some(bucket)) = (
        ferry_conformance::server_env("FERRY_TEST_S3_ENDPOINT"),
        ferry_conformance::server_env("FERRY_TEST_S3_BUCKET"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(&src, &[("big.bin", bytes(2_500_000, 6))]);
    // 600 KB/s per connection: a 1 MiB part takes ~1.7 s to go up or come down, longer than
    // the 1 s idle timeout, but the link is never silent for that long.
    let relay = slow_relay(endpoint.trim_start_matches("http://").to_string(), 600_000);
    let uri = format!(
        "s3://{bucket}/{}/big",
        ferry_conformance::unique_prefix("slow")
    );
    let endpoint_option = format!("endpoint=http://{relay}");
    let started = Instant::now();
    let mut cmd = s3_ferry(&dir.path().join("state")).unwrap();
    cmd.args(["cp", "-q", "--part-size", "1M", "-o", "read_timeout=1"])
        .args(["-o", &endpoint_option])
        .arg(&src)
        .arg(&uri)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let back = dir.path().join("back");
    let mut cmd = s3_ferry(&dir.path().join("state2")).unwrap();
    cmd.args(["cp", "-q", "--part-size", "1M", "-o", "read_timeout=1"])
        .args(["-o", &endpoint_option])
        .arg(&uri)
        .arg(&back)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let took = started.elapsed();
    assert_same_tree(&src, &back);
    assert!(
        took > Duration::from_secs(3),
        "only {took:?}: the link was not slow"
    );
}

#[test]
fn cp_to_a_silent_gcs_endpoint_fails_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_source(dir.path());
    let address = silent_server();
    let mut cmd = ferry(&dir.path().join("state"));
    cmd.env_remove("FERRY_LOG")
        .env("HOME", dir.path())
        .args(["cp", "-v", "-o", "read_timeout=1", "-o"])
        .arg(format!("endpoint=http://{address}"))
        .arg(&src)
        .arg("gs://bucket/ferry/dst");
    // The bucket check: one request of 1 s, bounded by the HTTP client's own timer (no "still
    // waiting" warning); never sent again (neither the GCS client's re-sends nor the default
    // --retries 5), and the failed bucket check ends the run.
    assert_gives_up(cmd, &address, Duration::from_secs(8), false);
}

#[test]
fn gcs_download_through_a_slow_link_finishes() {
    let (Some(endpoint), Some(bucket)) = (
        ferry_conformance::server_env("FERRY_TEST_GCS_ENDPOINT"),
        ferry_conformance::server_env("FERRY_TEST_GCS_BUCKET"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(&src, &[("big.bin", bytes(2_500_000, 7))]);
    let relay = slow_relay(endpoint.trim_start_matches("http://").to_string(), 600_000);
    let uri = format!(
        "gs://{bucket}/{}/big",
        ferry_conformance::unique_prefix("slow")
    );
    let endpoint_option = format!("endpoint=http://{relay}");
    let gcs = |state: &str| {
        let mut cmd = ferry(&dir.path().join(state));
        cmd.env_remove("FERRY_LOG")
            .env("HOME", dir.path())
            .timeout(Duration::from_secs(120));
        cmd
    };
    // GCS's read timeout also covers sending a request (see docs/backends/gcs.md): the upload
    // of 1 MiB parts at 600 KB/s gets 5 s.
    gcs("state")
        .args(["cp", "-q", "--part-size", "1M", "-o", "read_timeout=5"])
        .args(["-o", &endpoint_option])
        .arg(&src)
        .arg(&uri)
        .assert()
        .success();
    // The download: 1 MiB parts take ~1.7 s each to come down, longer than the 1 s idle
    // timeout, but bytes keep coming.
    let back = dir.path().join("back");
    let started = Instant::now();
    gcs("state2")
        .args(["cp", "-q", "--part-size", "1M", "-o", "read_timeout=1"])
        .args(["-o", &endpoint_option])
        .arg(&uri)
        .arg(&back)
        .assert()
        .success();
    let took = started.elapsed();
    assert_same_tree(&src, &back);
    assert!(
        took > Duration::from_secs(1),
        "only {took:?}: the link was not slow"
    );
}
