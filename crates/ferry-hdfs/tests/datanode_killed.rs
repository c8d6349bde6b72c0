//! The DataNode killed (`kill -9`) in the middle of a copy into HDFS: the copy fails with a
//! clear one-line error, and nothing is left under the final name (nor under the temp name).
//!
//! This is its own test binary, so that no other test uses the cluster while its only
//! DataNode is down (cargo runs test binaries one after another). The test cluster's
//! supervisor restarts the DataNode; the test waits until HDFS takes writes again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_core::transfer::report::NoopObserver;
use ferry_core::transfer::{copy, CopyOptions, Endpoint};
use ferry_core::{BackendOptions, ErrorKind, Location, Storage, WriteOptions};

fn datanode_pid() -> u32 {
    let file = std::env::var("FERRY_TEST_HDFS_DATANODE_PID_FILE").unwrap();
    std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits until a small write succeeds (the restarted DataNode took a block).
async fn wait_for_writes(storage: &dyn Storage, at: &Location) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match storage
            .put(at, Bytes::from_static(b"ok"), &WriteOptions::default())
            .await
        {
            Ok(_) => return,
            Err(err) if Instant::now() < deadline => {
                eprintln!("waiting for the DataNode to come back: {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => panic!("HDFS takes no writes 2 minutes after the DataNode restart: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanode_killed_mid_write_fails_clearly_and_leaves_no_file() {
    let Some(url) = ferry_conformance::server_env("FERRY_TEST_HDFS_URL") else {
        return;
    };
    let root = Location::parse(&format!(
        "{url}/{}",
        ferry_conformance::unique_prefix("dn-killed")
    ))
    .unwrap();
    let hdfs: Arc<dyn Storage> = Arc::new(ferry_hdfs::open(&root, &BackendOptions::new()).unwrap());

    let local = std::env::temp_dir().join(format!("ferry-dn-killed-{}", std::process::id()));
    std::fs::create_dir_all(&local).unwrap();
    let source = local.join("big.bin");
    std::fs::write(&source, ferry_conformance::pattern(48 << 20, 9)).unwrap();
    let target = root.join("big.bin");

    let before = datanode_pid();
    let copying = tokio::spawn(copy(
        Endpoint {
            storage: Arc::new(ferry_local::LocalStorage::default()),
            location: Location::local(&source).unwrap(),
        },
        Endpoint {
            storage: hdfs.clone(),
            location: target.clone(),
        },
        CopyOptions {
            // ~3 s of writing: the kill lands mid-file. No retries: the supervisor restarts the
            // DataNode within seconds, and a retry would (rightly) succeed.
            bwlimit: Some(16 << 20),
            retry: ferry_core::retry::RetryPolicy {
                retries: 0,
                ..Default::default()
            },
            ..CopyOptions::default()
        },
        Arc::new(NoopObserver),
    ));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!copying.is_finished(), "the copy ended before the kill");
    let status = std::process::Command::new("kill")
        .args(["-9", &before.to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let report = tokio::time::timeout(Duration::from_secs(120), copying)
        .await
        .expect("the copy hangs after the DataNode died")
        .unwrap()
        .unwrap();
    assert_eq!(report.files_failed, 1, "{report:?}");
    let failure = &report.failures[0];
    eprintln!("the error a user sees: {}", failure.error);
    assert!(!failure.error.contains('\n'));
    assert!(
        failure.error.contains("DataNode") || failure.error.contains("cannot connect"),
        "not a clear error: {}",
        failure.error
    );
    assert!(failure.error.contains("big.bin"), "{}", failure.error);

    // Nothing under the final name, and no temp file left behind either.
    match hdfs.stat(&target).await {
        Err(err) => assert_eq!(err.kind(), ErrorKind::NotFound, "{err}"),
        Ok(entry) => panic!("a file of {} bytes under the final name", entry.size),
    }
    let left: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(hdfs.list(&root))
        .await
        .unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");

    wait_for_writes(hdfs.as_ref(), &root.join("after-restart")).await;
    assert_ne!(datanode_pid(), before, "the DataNode was not restarted");
    let _ = std::fs::remove_dir_all(&local);
}
