//! The shared conformance suite against a real HDFS (Hadoop 2.7.3 NameNode + DataNode started by
//! `cargo xtask test`), plus HDFS specifics: multi-block files, empty files and names with
//! spaces, checksums equal to Hadoop's own FsShell `-checksum`, viewfs, permission errors and
//! abandoned temp files.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use ferry_core::storage::read_to_bytes;
use ferry_core::{BackendOptions, ChecksumKind, ErrorKind, Location, Storage, WriteOptions};
use ferry_hdfs::checksum::{ChunkCrcs, HdfsFileChecksum, HdfsHasher};
use ferry_hdfs::HdfsStorage;

/// The test cluster's URL, or `None` (skip) outside `cargo xtask test`.
fn cluster() -> Option<String> {
    ferry_conformance::server_env("FERRY_TEST_HDFS_URL")
}

fn root(url: &str, name: &str) -> Location {
    Location::parse(&format!("{url}/{}", ferry_conformance::unique_prefix(name))).unwrap()
}

fn open(at: &Location, options: &BackendOptions) -> HdfsStorage {
    ferry_hdfs::open(at, options).unwrap()
}

/// Hadoop's own answer: `hadoop fs -checksum` for each location, by URI.
fn hadoop_checksums(locations: &[&Location]) -> HashMap<String, (String, String)> {
    let shell = std::env::var("FERRY_TEST_HDFS_SHELL").expect("FERRY_TEST_HDFS_SHELL");
    let output = std::process::Command::new(shell)
        .arg("-checksum")
        .args(locations.iter().map(|l| l.to_string()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "FsShell -checksum failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.rsplitn(3, '\t');
            let hex = fields.next()?;
            let algorithm = fields.next()?;
            let path = fields.next()?;
            Some((path.to_string(), (algorithm.to_string(), hex.to_string())))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdfs_backend_passes_the_conformance_suite() {
    let Some(url) = cluster() else { return };
    let root = root(&url, "conformance");
    let storage = open(&root, &BackendOptions::new());
    ferry_conformance::run_all(Arc::new(storage), &root).await;
}

/// Multi-block, empty and space-named files: stored, read back by ranges across block
/// boundaries, and checksummed three ways that must agree — the DataNodes (BLOCK_CHECKSUM),
/// ferry's streaming hasher, and Hadoop's FsShell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_equal_hadoops_for_multi_block_empty_and_spaced_files() {
    let Some(url) = cluster() else { return };
    let root = root(&url, "checksums");
    let storage = open(&root, &BackendOptions::new());
    let block: u64 = std::env::var("FERRY_TEST_HDFS_BLOCK_SIZE")
        .unwrap()
        .parse()
        .unwrap();
    let files: Vec<(Location, Vec<u8>)> = vec![
        (
            root.join("multi-block.bin"),
            ferry_conformance::pattern(3 * block as usize + 12_345, 1),
        ),
        (
            root.join("exact-two-blocks"),
            ferry_conformance::pattern(2 * block as usize, 2),
        ),
        (root.join("empty"), Vec::new()),
        (
            root.join("dir with spaces/file with spaces.sst"),
            ferry_conformance::pattern(70_000, 3),
        ),
        (root.join("one-byte"), vec![7]),
    ];
    for (at, data) in &files {
        // Before the write: the parameters the engine would hash with.
        let params = storage.checksum_params(at).await.unwrap().unwrap();
        assert_eq!(params.block_size, block);
        assert_eq!(params.bytes_per_crc, 512);
        let receipt = storage
            .put(at, Bytes::from(data.clone()), &WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(receipt.size, data.len() as u64);
        assert_eq!(storage.stat(at).await.unwrap().size, data.len() as u64);
    }
    // Ranged reads across block boundaries, as the engine's parts read them.
    let (big_at, big) = &files[0];
    for (start, end) in [
        (0, block),
        (block - 1, block + 1),
        (block / 2, 3 * block + 100),
        (3 * block, 3 * block + 12_345),
    ] {
        let got = read_to_bytes(&storage, big_at, Some(start..end))
            .await
            .unwrap();
        assert!(got == big[start as usize..end as usize], "{start}..{end}");
        // A lent buffer arrives with stale contents: they must not show through.
        let buffer = storage
            .read_into(
                big_at,
                start,
                (end - start) as usize,
                vec![0xEE; 3 * block as usize],
            )
            .await
            .unwrap();
        assert_eq!(buffer.len() as u64, end - start);
        assert!(buffer == big[start as usize..end as usize]);
    }

    let locations: Vec<&Location> = files.iter().map(|(at, _)| at).collect();
    let hadoop = hadoop_checksums(&locations);
    for (at, data) in &files {
        let params = storage.checksum_params(at).await.unwrap().unwrap();
        let mut hasher = HdfsHasher::new(params).unwrap();
        hasher.update(data);
        let streamed = hasher.finish();
        // The parallel-parts way: parts hashed independently, fed in order.
        let mut by_parts = HdfsHasher::new(params).unwrap();
        for part in data.chunks(300 * 1024) {
            by_parts
                .update_chunk_crcs(&ChunkCrcs::compute(part, params.bytes_per_crc))
                .unwrap();
        }
        assert_eq!(by_parts.finish(), streamed, "{at}");
        let reported = storage.file_checksum(at).await.unwrap().unwrap();
        assert_eq!(reported, streamed, "DataNodes vs streaming hasher for {at}");
        let via_trait = storage
            .checksum(at, ChecksumKind::HdfsMd5Md5Crc32c)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(via_trait, streamed.to_checksum());
        let (algorithm, hex) = hadoop
            .get(&at.to_string())
            .unwrap_or_else(|| panic!("FsShell printed no checksum for {at}: {hadoop:?}"));
        assert_eq!(
            (algorithm.as_str(), hex.as_str()),
            (streamed.algorithm().as_str(), streamed.to_hex().as_str()),
            "ferry vs Hadoop FsShell for {at}"
        );
    }
    assert_eq!(
        storage.file_checksum(&files[2].0).await.unwrap(),
        Some(HdfsFileChecksum::empty())
    );
}

/// The `block_size` option: files are written with it, and the checksum parameters follow,
/// both for the new file and for the existing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_size_and_replication_options_apply() {
    let Some(url) = cluster() else { return };
    let root = root(&url, "options");
    let options = BackendOptions::new()
        .with("block_size", "2M")
        .with("replication", "1");
    let storage = open(&root, &options);
    let at = root.join("two-meg-blocks");
    assert_eq!(
        storage
            .checksum_params(&at)
            .await
            .unwrap()
            .unwrap()
            .block_size,
        2 << 20
    );
    let data = ferry_conformance::pattern(5 << 20, 4);
    let mut writer = storage.write(&at, &WriteOptions::default()).await.unwrap();
    for chunk in data.chunks(777_777) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    writer.commit().await.unwrap();
    // A store with default options sees the file's own block size.
    let plain = open(&root, &BackendOptions::new());
    let params = plain.checksum_params(&at).await.unwrap().unwrap();
    assert_eq!(params.block_size, 2 << 20);
    let mut hasher = HdfsHasher::new(params).unwrap();
    hasher.update(&data);
    let expected = hasher.finish();
    assert_eq!(expected.algorithm(), "MD5-of-4096MD5-of-512CRC32C");
    assert_eq!(plain.file_checksum(&at).await.unwrap(), Some(expected));
    assert!(read_to_bytes(&plain, &at, None).await.unwrap() == data);
}

/// viewfs: a mount table in a Hadoop configuration directory routes reads, writes, listings
/// and checksums to the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewfs_mount_tables_route_to_the_cluster() {
    let Some(url) = cluster() else { return };
    let target = root(&url, "viewfs");
    let conf = std::env::temp_dir().join(format!("ferry-viewfs-{}", std::process::id()));
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("core-site.xml"),
        format!(
            "<configuration>\n\
             <property><name>fs.viewfs.mounttable.ferrytest.link./data</name>\
             <value>{target}/mounted</value></property>\n\
             <property><name>fs.viewfs.mounttable.ferrytest.linkFallback</name>\
             <value>{target}/fallback</value></property>\n\
             </configuration>\n"
        ),
    )
    .unwrap();
    let view = Location::parse("viewfs://ferrytest/data").unwrap();
    let options = BackendOptions::new().with("config_dir", conf.display().to_string());
    let storage = open(&view, &options);
    let at = view.join("sub/file.bin");
    let data = ferry_conformance::pattern(1_500_000, 5);
    storage
        .put(&at, Bytes::from(data.clone()), &WriteOptions::default())
        .await
        .unwrap();
    let direct = open(&target, &BackendOptions::new());
    let behind = target.join("mounted/sub/file.bin");
    assert!(read_to_bytes(&direct, &behind, None).await.unwrap() == data);
    assert!(read_to_bytes(&storage, &at, None).await.unwrap() == data);
    let listed: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(storage.list(&view))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].location, at);
    assert_eq!(
        storage.file_checksum(&at).await.unwrap(),
        direct.file_checksum(&behind).await.unwrap()
    );
    let _ = std::fs::remove_dir_all(&conf);
}

/// Permission errors name the user and how to change it; a missing file is NotFound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_mapped_to_kinds_with_actionable_messages() {
    let Some(url) = cluster() else { return };
    let root = root(&url, "errors");
    let owner = open(&root, &BackendOptions::new());
    owner.mkdirs(&root.join("private")).await.unwrap();
    let intruder = open(&root, &BackendOptions::new().with("user", "ferry-intruder"));
    let err = intruder
        .put(
            &root.join("private/x"),
            Bytes::from_static(b"x"),
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let text = err.to_string();
    assert!(text.contains("ferry-intruder"), "{text}");
    assert!(text.contains("HADOOP_USER_NAME"), "{text}");
    assert!(!text.contains("\tat "), "a Java stack trace leaked: {text}");
    let missing = owner.stat(&root.join("missing")).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert!(missing.to_string().contains("missing"), "{missing}");
    let not_a_size =
        ferry_hdfs::open(&root, &BackendOptions::new().with("block_size", "huge")).unwrap_err();
    assert_eq!(not_a_size.kind(), ErrorKind::InvalidInput);
}

/// A temp file left open by a ferry run that died mid-write still holds its lease; the next
/// run's write replaces it instead of failing for a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_temp_file_with_a_lease_is_replaced() {
    let Some(url) = cluster() else { return };
    let root = root(&url, "lease");
    let at = root.join(&ferry_core::transfer::temp_name_for("job", "part"));
    let raw = hdfs_native::ClientBuilder::new()
        .with_url(url.clone())
        .build()
        .unwrap();
    let mut dead = raw
        .create(at.path(), hdfs_native::WriteOptions::default())
        .await
        .unwrap();
    dead.write_bytes(Bytes::from_static(b"half")).await.unwrap();
    // `dead` is never closed: its lease stays with the other client.
    let storage = open(&root, &BackendOptions::new());
    storage
        .put(&at, Bytes::from_static(b"whole"), &WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(
        read_to_bytes(&storage, &at, None).await.unwrap(),
        &b"whole"[..]
    );
    std::mem::forget(dead);
}

/// Every write is checked against the NameNode's length and the DataNodes' checksum before it
/// returns, and a file that does not match what was sent is reported as corrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_verified_against_the_datanodes_without_reading_back() {
    let Some(url) = cluster() else { return };
    let root = root(&url, "verified");
    let storage = open(&root, &BackendOptions::new());
    let at = root.join("f.bin");
    let data = ferry_conformance::pattern(2_345_678, 6);
    let receipt = storage
        .put(&at, Bytes::from(data.clone()), &WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(receipt.stored_size, Some(data.len() as u64));
    let params = storage.checksum_params(&at).await.unwrap().unwrap();
    let hash = |bytes: &[u8]| {
        let mut hasher = HdfsHasher::new(params).unwrap();
        hasher.update(bytes);
        hasher.finish()
    };
    assert_eq!(receipt.checksum, Some(hash(&data).to_checksum()));
    let mut writer = storage.write(&at, &WriteOptions::default()).await.unwrap();
    writer.write(Bytes::from(data.clone())).await.unwrap();
    let receipt = writer.commit().await.unwrap();
    assert_eq!(receipt.checksum, Some(hash(&data).to_checksum()));

    let mut other = data.clone();
    other[1_500_000] ^= 1;
    let err = storage
        .verify_stored(&at, data.len() as u64, hash(&other))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert!(err.is_temporary());
    assert!(err.to_string().contains("DataNodes' checksum"), "{err}");
    let err = storage
        .verify_stored(&at, data.len() as u64 + 1, hash(&data))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    storage
        .verify_stored(&at, data.len() as u64, hash(&data))
        .await
        .unwrap();
}

/// Regression: a wrong port or a dead NameNode used to take hdfs-native's HA failover path,
/// three minutes per call. It is a clear error within seconds (the engine retries on top).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_namenode_is_a_clear_error_within_seconds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = Location::parse(&format!("hdfs://127.0.0.1:{port}/x")).unwrap();
    let storage = open(&root, &BackendOptions::new());
    let started = std::time::Instant::now();
    let err = storage.stat(&root).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_temporary(), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
    let err = storage
        .put(
            &root.join("f"),
            Bytes::from_static(b"x"),
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
