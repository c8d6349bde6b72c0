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
/// answering, after a "still waiting" warning.
fn assert_gives_up(mut cmd: assert_cmd::Command, address: &str, bound: Duration) {
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
    assert!(stderr.contains("still waiting for"), "no warning: {stderr}");
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
    assert_gives_up(cmd, &address, Duration::from_secs(20));
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
