//! `ferry cp` against Azurite (from `cargo xtask test`), reached as Azure users point tools at
//! an emulator: `AZURE_STORAGE_CONNECTION_STRING` with a `BlobEndpoint`, locations written as
//! Hadoop writes them (`wasb://container@account.blob.core.windows.net/…`). local → wasb →
//! local byte-identical (block uploads, ranged reads across blocks), `--update` comparing the
//! CRC32C kept in blob metadata, wasb → abfs within the account server-side, and a missing
//! container as one line naming it. (`flink_restore` bounces a real Flink checkpoint through
//! `abfss://` on the same Azurite.)

use ferry_azure::AzureStorage;
use ferry_core::{BackendOptions, Location};

use crate::support::*;

pub(crate) struct Azure {
    pub(crate) connection: String,
    account: String,
    pub(crate) container: String,
    container2: String,
    prefix: String,
}

/// The Azurite of `cargo xtask test`, its containers created, and a fresh prefix.
pub(crate) fn azure(name: &str) -> Option<Azure> {
    let get = ferry_conformance::server_env;
    let azure = Azure {
        connection: get("FERRY_TEST_AZURE_CONNECTION_STRING")?,
        account: get("FERRY_TEST_AZURE_ACCOUNT")?,
        container: get("FERRY_TEST_AZURE_CONTAINER")?,
        container2: get("FERRY_TEST_AZURE_CONTAINER2")?,
        prefix: ferry_conformance::unique_prefix(name),
    };
    let store = azure.store();
    runtime().block_on(async {
        for c in [&azure.container, &azure.container2] {
            let at = Location::parse(&azure.uri_in(c, "wasb", "x")).unwrap();
            store.create_container(&at).await.unwrap();
        }
    });
    Some(azure)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl Azure {
    pub(crate) fn uri_in(&self, container: &str, scheme: &str, rel: &str) -> String {
        let host = if scheme.starts_with("abfs") {
            "dfs"
        } else {
            "blob"
        };
        format!(
            "{scheme}://{container}@{}.{host}.core.windows.net/{}/{rel}",
            self.account, self.prefix
        )
    }

    fn store(&self) -> AzureStorage {
        let at = Location::parse(&self.uri_in(&self.container, "wasb", "")).unwrap();
        AzureStorage::open(
            &at,
            &BackendOptions::new().with("connection_string", &self.connection),
        )
        .unwrap()
    }

    /// `ferry` pointed at Azurite by the connection string alone.
    pub fn ferry(&self, state: &std::path::Path) -> assert_cmd::Command {
        let mut cmd = ferry(state);
        cmd.env("AZURE_STORAGE_CONNECTION_STRING", &self.connection);
        cmd
    }

    fn clean(&self) {
        let store = self.store();
        runtime().block_on(async {
            for c in [&self.container, &self.container2] {
                let root = Location::parse(&self.uri_in(c, "wasb", "")).unwrap();
                store.delete_prefix(&root).await.unwrap();
            }
        });
    }
}

#[test]
fn local_to_wasb_and_back_and_wasb_to_abfs_server_side() {
    let Some(az) = azure("cp-azure") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (src, back, state) = (
        dir.path().join("src"),
        dir.path().join("back"),
        dir.path().join("state"),
    );
    write_tree(
        &src,
        &[
            ("big.bin", bytes(3 * 1024 * 1024 + 7, 1)),
            ("chk-1/_metadata", bytes(4_000, 2)),
            ("shared/with space.sst", bytes(70_000, 4)),
            ("shared/ünïcödé 文件+plus.sst", bytes(1, 5)),
            ("empty", Vec::new()),
        ],
    );
    let up = az.uri_in(&az.container, "wasb", "up");
    let out = az
        .ferry(&state)
        .args(["cp", "--json", "--part-size", "1M"])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 5, "{report}");
    let big = Location::parse(&format!("{up}/big.bin")).unwrap();
    let entry = runtime()
        .block_on(ferry_core::Storage::stat(&az.store(), &big))
        .unwrap();
    let want = ferry_core::checksum::crc32c(&std::fs::read(src.join("big.bin")).unwrap());
    assert_eq!(entry.checksum, Some(ferry_core::Checksum::Crc32c(want)));

    // --update compares the CRC32C in the blobs' metadata without re-reading: all unchanged.
    let out = az
        .ferry(&dir.path().join("state-update"))
        .args(["cp", "--json", "--update"])
        .arg(&src)
        .arg(&up)
        .assert()
        .success();
    assert_eq!(json_report(&out.get_output().stdout)["files_skipped"], 5);

    // wasb → local in ranged reads that do not align with the blocks.
    az.ferry(&state)
        .args(["cp", "--part-size", "1536K", "--verify", "full"])
        .arg(&up)
        .arg(&back)
        .assert()
        .success();
    assert_same_tree(&src, &back);

    // wasb → abfs (the same account, another container): server-side.
    let copy = az.uri_in(&az.container2, "abfss", "copy");
    let out = az
        .ferry(&state)
        .args(["cp", "--json"])
        .arg(&up)
        .arg(&copy)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["server_side_copies"], 5, "{report}");
    let again = dir.path().join("again");
    az.ferry(&state)
        .args(["cp", "--verify", "full"])
        .arg(&copy)
        .arg(&again)
        .assert()
        .success();
    assert_same_tree(&src, &again);

    // A missing container: one line naming it, nothing written.
    let missing = format!(
        "wasb://ferry-no-such-container@{}.blob.core.windows.net/x",
        az.account
    );
    let out = az
        .ferry(&state)
        .args(["cp"])
        .arg(&src)
        .arg(&missing)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("no such container ferry-no-such-container"),
        "{stderr}"
    );
    assert!(!stderr.contains("AccountKey"), "{stderr}");
    az.clean();
}
