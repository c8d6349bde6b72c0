//! The Azure Blob test server: Azurite (npm `azurite`, Microsoft's emulator) on 127.0.0.1.
//!
//! Installs the pinned Azurite with npm into `~/.cache/ferry/azurite-<version>` (Node is on
//! these machines), starts its Blob service alone on a free loopback port in a fresh
//! directory, with an account whose key is generated for this run (`AZURITE_ACCOUNTS`), and
//! waits until it answers. Containers are created by the tests (a signed request needs the
//! key). Tests read `FERRY_TEST_AZURE_CONNECTION_STRING` (Azurite's form: `BlobEndpoint`
//! names the emulator), `FERRY_TEST_AZURE_ACCOUNT`, `FERRY_TEST_AZURE_KEY`,
//! `FERRY_TEST_AZURE_CONTAINER` and `FERRY_TEST_AZURE_CONTAINER2`.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::{free_port, wait_for_port, Paths, Server};
use crate::util;

/// The Azurite release the tests run against.
pub const VERSION: &str = "3.37.0";
/// The account the emulator serves.
pub const ACCOUNT: &str = "ferrytest";
/// The containers the tests use.
pub const CONTAINERS: [&str; 2] = ["ferry-test", "ferry-test-2"];

/// Installs Azurite (once) and returns its `azurite-blob` launcher.
pub fn install(paths: &Paths) -> Result<std::path::PathBuf> {
    let dir = paths.cache.join(format!("azurite-{VERSION}"));
    let bin = dir.join("node_modules/.bin/azurite-blob");
    if !bin.exists() {
        std::fs::create_dir_all(&dir)?;
        util::run(
            Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(&dir)
                .arg(format!("azurite@{VERSION}")),
        )
        .context("installing Azurite with npm (needs Node.js and npm)")?;
    }
    Ok(bin)
}

/// Starts Azurite's Blob service under `paths.work/azure`.
pub fn start(paths: &Paths) -> Result<Server> {
    let bin = install(paths)?;
    let workdir = paths.work.join("azure");
    let _ = std::fs::remove_dir_all(&workdir);
    std::fs::create_dir_all(workdir.join("data"))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // 64 hex digits: valid base64 (of 48 bytes), as an account key must be.
    let key = format!(
        "{:032x}{:032x}",
        nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835),
        nanos.rotate_left(64) ^ 0x5851_F42D_4C95_7F2D_1405_7B7E_F767_814F
    );
    let port = free_port()?;
    let log = workdir.join("azurite.log");
    let child = Command::new(&bin)
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .arg("--location")
        .arg(workdir.join("data"))
        .args([
            "--silent",
            "--skipApiVersionCheck",
            "--disableProductStyleUrl",
        ])
        .env("AZURITE_ACCOUNTS", format!("{ACCOUNT}:{key}"))
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(File::create(workdir.join("azurite.err"))?)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let endpoint = format!("http://127.0.0.1:{port}/{ACCOUNT}");
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={endpoint};"
    );
    let server = Server {
        name: "azure",
        env: vec![
            ("FERRY_TEST_AZURE_CONNECTION_STRING".into(), connection),
            ("FERRY_TEST_AZURE_ACCOUNT".into(), ACCOUNT.into()),
            ("FERRY_TEST_AZURE_KEY".into(), key),
            ("FERRY_TEST_AZURE_ENDPOINT".into(), endpoint),
            ("FERRY_TEST_AZURE_CONTAINER".into(), CONTAINERS[0].into()),
            ("FERRY_TEST_AZURE_CONTAINER2".into(), CONTAINERS[1].into()),
        ],
        processes: vec![child],
        workdir,
    };
    wait_for_port(port, Duration::from_secs(60), &log)?;
    Ok(server)
}
