//! The shared conformance suite against a real GCS emulator (fake-gcs-server, started by
//! `cargo xtask test`), plus GCS specifics: composite uploads (a compose tree, unaligned
//! reads across part boundaries, the whole-object crc32c), no temporary parts left behind
//! after complete, abort or a dropped writer, resume, server-side rewrites across buckets
//! pinned to the listed generation, a missing bucket, unusable credentials, connections the
//! server drops (sent again).

use std::sync::Arc;

use bytes::Bytes;
use ferry_conformance::{pattern, server_env, unique_prefix};
use ferry_core::checksum::crc32c;
use ferry_core::storage::read_to_bytes;
use ferry_core::{BackendOptions, Checksum, Entry, ErrorKind, Location, Storage, WriteOptions};
use ferry_gcs::GcsStorage;
use futures::TryStreamExt;

struct Env {
    endpoint: String,
    bucket: String,
    bucket2: String,
}

fn env() -> Option<Env> {
    Some(Env {
        endpoint: server_env("FERRY_TEST_GCS_ENDPOINT")?,
        bucket: server_env("FERRY_TEST_GCS_BUCKET")?,
        bucket2: server_env("FERRY_TEST_GCS_BUCKET2")?,
    })
}

impl Env {
    fn options(&self) -> BackendOptions {
        BackendOptions::new().with("endpoint", &self.endpoint)
    }

    /// A store whose composite-upload parts go to a prefix of this test's own, and the test's
    /// root, so that tests running at once never see each other's parts.
    fn open(&self, name: &str) -> (Arc<GcsStorage>, Location) {
        let unique = unique_prefix(name);
        let options = self
            .options()
            .with("temp_prefix", format!(".ferry-tmp/{unique}/"));
        let store = GcsStorage::open(&options).expect("open the test GCS store");
        let root = Location::parse(&format!("gs://{}/{unique}", self.bucket)).unwrap();
        (Arc::new(store), root)
    }

    fn root(&self, name: &str) -> Location {
        Location::parse(&format!("gs://{}/{}", self.bucket, unique_prefix(name))).unwrap()
    }
}

/// Removes what a test wrote and checks it left no composite-upload part behind.
async fn cleanup(store: &GcsStorage, root: &Location) {
    store.delete_prefix(root).await.unwrap();
    let parts = store.pending_parts(root).await.unwrap();
    assert!(
        parts.is_empty(),
        "temporary upload objects left behind: {parts:?}"
    );
}

fn data(len: usize, seed: u8) -> Bytes {
    Bytes::from(pattern(len, seed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_backend_passes_the_conformance_suite() {
    let Some(env) = env() else { return };
    let (store, root) = env.open("conformance");
    ferry_conformance::run_all(store.clone(), &root).await;
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_store_serves_every_bucket_and_prefixes_stat_as_directories() {
    let Some(env) = env() else { return };
    let registry = ferry_core::Registry::new().with(ferry_gcs::register);
    let a = registry.open(&env.root("x"), &env.options()).await.unwrap();
    let other = Location::parse(&format!("gs://{}/y", env.bucket2)).unwrap();
    let b = registry.open(&other, &env.options()).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));

    let (store, root) = env.open("dirs");
    store
        .put(&root.join("a/b.bin"), data(10, 1), &WriteOptions::default())
        .await
        .unwrap();
    assert!(store.stat(&root.join("a")).await.unwrap().is_dir());
    let bucket = Location::parse(&format!("gs://{}/", env.bucket)).unwrap();
    assert!(store.stat(&bucket).await.unwrap().is_dir());
    let entry = store.stat(&root.join("a/b.bin")).await.unwrap();
    assert_eq!(entry.size, 10);
    assert_eq!(entry.checksum, Some(Checksum::Crc32c(crc32c(&data(10, 1)))));
    assert!(entry.modified.is_some());
    cleanup(&store, &root).await;
}

/// A TCP relay in front of the emulator that closes the first `drop_first` connections after
/// reading their request, without answering (a server dropping a pooled connection as the
/// request arrives); later connections go through. Returns its endpoint and the count of
/// connections it accepted.
async fn dropping_relay(
    target: &str,
    drop_first: usize,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;
    let target = target
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            tokio::spawn(async move {
                if n < drop_first {
                    let mut head = [0u8; 512];
                    let _ = client.read(&mut head).await;
                    return; // dropped: closed without an answer
                }
                if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (endpoint, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_dropped_connections_are_sent_again() {
    use std::sync::atomic::Ordering;
    let Some(env) = env() else { return };
    let (writer, root) = env.open("dropped");
    let at = root.join("x y.bin");
    let content = data(70_000, 9);
    writer
        .put(&at, content.clone(), &WriteOptions::default())
        .await
        .unwrap();

    // Two dropped connections: within the retries of one request, so stat and read succeed.
    let (endpoint, accepted) = dropping_relay(&env.endpoint, 2).await;
    let store = GcsStorage::open(&BackendOptions::new().with("endpoint", &endpoint)).unwrap();
    let entry = store.stat(&at).await.unwrap();
    assert_eq!(entry.size, content.len() as u64);
    assert!(
        accepted.load(Ordering::SeqCst) >= 3,
        "the relay saw no retry"
    );
    assert_eq!(read_to_bytes(&store, &at, None).await.unwrap(), content);

    // Reads too: OpenDAL sends a read's request at the stream's first poll, and that request
    // is sent again like any other.
    let (endpoint, accepted) = dropping_relay(&env.endpoint, 2).await;
    let store = GcsStorage::open(&BackendOptions::new().with("endpoint", &endpoint)).unwrap();
    let range = 1000..60_000;
    assert_eq!(
        read_to_bytes(&store, &at, Some(range.clone()))
            .await
            .unwrap(),
        content[range.start as usize..range.end as usize]
    );
    assert!(
        accepted.load(Ordering::SeqCst) >= 3,
        "the relay saw no retry"
    );

    // A server that drops everything: a temporary error naming the object, not a hang.
    let (endpoint, accepted) = dropping_relay(&env.endpoint, usize::MAX).await;
    let store = GcsStorage::open(&BackendOptions::new().with("endpoint", &endpoint)).unwrap();
    let err = store.stat(&at).await.unwrap_err();
    assert!(err.is_temporary(), "{err}");
    assert!(err.to_string().contains("x y.bin"), "{err}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        4,
        "one request and three retries"
    );
    cleanup(&writer, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_not_found_with_its_name() {
    let Some(env) = env() else { return };
    let (store, _) = env.open("nobucket");
    let at = Location::parse("gs://ferry-no-such-bucket-4711/x").unwrap();
    let err = store
        .put(&at, data(10, 1), &WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains("ferry-no-such-bucket-4711"),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'), "{err}");
    let root = Location::parse("gs://ferry-no-such-bucket-4711/").unwrap();
    let err = store.stat(&root).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("no such bucket"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_credentials_are_a_clear_error_before_anything_is_written() {
    let Some(env) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("sa.json");
    std::fs::write(
        &bogus,
        r#"{"type":"service_account","private_key":"SECRET-KEY-9"}"#,
    )
    .unwrap();
    for path in [
        bogus.display().to_string(),
        "/nonexistent/sa.json".to_string(),
    ] {
        let options = env.options().with("credential_path", &path);
        let store = GcsStorage::open(&options).unwrap();
        let root = env.root("creds");
        let err = store.stat(&root.join("f")).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConfigInvalid | ErrorKind::PermissionDenied
            ),
            "{text}"
        );
        assert!(text.contains("credential"), "{text}");
        assert!(!text.contains("SECRET-KEY-9"), "the secret leaked: {text}");
        assert!(!text.contains('\n'), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_uploads_compose_a_tree_and_read_back_across_unaligned_parts() {
    let Some(env) = env() else { return };
    let (store, root) = env.open("composite");
    let at = root.join("big ü.bin");
    // 70 parts: more than 32, so the parts are composed in two levels.
    let part = 64 * 1024 + 13;
    let whole = pattern(70 * part - 1000, 5);
    let upload = store
        .start_multipart(&at, &WriteOptions::default())
        .await
        .unwrap();
    let chunks: Vec<(usize, Bytes)> = whole
        .chunks(part)
        .enumerate()
        .map(|(i, c)| (i, Bytes::copy_from_slice(c)))
        .collect();
    let mut receipts: Vec<_> = futures::stream::iter(chunks.into_iter().rev())
        .map(|(i, chunk)| {
            let upload = upload.clone();
            async move {
                let crc = crc32c(&chunk);
                upload
                    .put_part(i as u32, (i * part) as u64, chunk, crc)
                    .await
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .unwrap();
    assert!(!store.pending_parts(&at).await.unwrap().is_empty());
    receipts.sort_by_key(|r| r.index);
    let receipt = upload.complete(receipts).await.unwrap();
    // The composite's crc32c is the CRC32C of the whole content.
    assert_eq!(receipt.checksum, Some(Checksum::Crc32c(crc32c(&whole))));
    assert_eq!(receipt.stored_size, Some(whole.len() as u64));
    assert_eq!(
        store.stat(&at).await.unwrap().checksum,
        Some(Checksum::Crc32c(crc32c(&whole)))
    );
    assert!(store.pending_parts(&at).await.unwrap().is_empty());

    // Windows of 100 KiB + 7 bytes straddle part boundaries.
    let window = 100 * 1024 + 7;
    let mut offset = 0;
    while offset < whole.len() {
        // A lent buffer arrives with stale contents: they must not show through.
        let buffer = store
            .read_into(&at, offset as u64, window, vec![0xEE; 3 * window])
            .await
            .unwrap();
        let want = &whole[offset..(offset + window).min(whole.len())];
        assert_eq!(&buffer[..], want, "window at {offset}");
        offset += window;
    }
    let past_end = store
        .read_into(&at, whole.len() as u64 + 10, 10, vec![0; 10])
        .await
        .unwrap();
    assert_eq!(past_end.len(), 0);
    let range = part as u64 - 100..2 * part as u64 + 100;
    let got = read_to_bytes(store.as_ref(), &at, Some(range.clone()))
        .await
        .unwrap();
    assert_eq!(&got[..], &whole[range.start as usize..range.end as usize]);
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_and_dropped_uploads_leave_no_temporary_parts() {
    let Some(env) = env() else { return };
    let (store, root) = env.open("abort");
    let upload = store
        .start_multipart(&root.join("u"), &WriteOptions::default())
        .await
        .unwrap();
    let part = data(300_000, 3);
    upload
        .put_part(0, 0, part.clone(), crc32c(&part))
        .await
        .unwrap();
    let token = upload.token().to_string();
    assert!(store
        .pending_parts(&root)
        .await
        .unwrap()
        .iter()
        .any(|p| p.contains(&token)));
    upload.abort().await.unwrap();
    let mine = |parts: Vec<String>, token: &str| parts.iter().any(|p| p.contains(token));
    assert!(!mine(store.pending_parts(&root).await.unwrap(), &token));
    assert_eq!(
        store.stat(&root.join("u")).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // The streaming writer switches to a composite upload past one part (8 MiB); abort and
    // drop clean up.
    for drop_it in [false, true] {
        let before = store.pending_parts(&root).await.unwrap().len();
        let mut writer = store
            .write(&root.join("w"), &WriteOptions::default())
            .await
            .unwrap();
        writer.write(data(9 * 1024 * 1024, 4)).await.unwrap();
        assert!(store.pending_parts(&root).await.unwrap().len() > before);
        if drop_it {
            drop(writer);
            for _ in 0..50 {
                if store.pending_parts(&root).await.unwrap().len() == before {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        } else {
            writer.abort().await.unwrap();
        }
        assert_eq!(store.pending_parts(&root).await.unwrap().len(), before);
    }
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upload_keeps_its_parts_and_its_token_is_checked() {
    let Some(env) = env() else { return };
    let (store, root) = env.open("resume");
    let at = root.join("f");
    let (a, b) = (data(1024 * 1024, 6), data(1234, 7));
    let upload = store
        .start_multipart(&at, &WriteOptions::default())
        .await
        .unwrap();
    let first = upload.put_part(0, 0, a.clone(), crc32c(&a)).await.unwrap();
    let token = upload.token().to_string();
    drop(upload); // the process "dies"; the parts stay
                  // The token belongs to `at`, not to another object.
    let err = store
        .resume_multipart(&root.join("other"), &token, &WriteOptions::default())
        .await
        .err()
        .expect("a token of another object");
    assert_eq!(err.kind(), ErrorKind::ConditionNotMatch, "{err}");
    let resumed = store
        .resume_multipart(&at, &token, &WriteOptions::default())
        .await
        .unwrap();
    let second = resumed
        .put_part(1, a.len() as u64, b.clone(), crc32c(&b))
        .await
        .unwrap();
    let receipt = resumed.complete(vec![first, second]).await.unwrap();
    let whole = [a.as_ref(), b.as_ref()].concat();
    assert_eq!(receipt.checksum, Some(Checksum::Crc32c(crc32c(&whole))));
    assert_eq!(
        read_to_bytes(store.as_ref(), &at, None).await.unwrap(),
        whole
    );
    // Completed: the upload is gone.
    let err = store
        .resume_multipart(&at, &token, &WriteOptions::default())
        .await
        .err()
        .expect("a completed upload cannot be resumed");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_copies_across_buckets_are_pinned_to_the_listed_generation() {
    let Some(env) = env() else { return };
    let (store, root) = env.open("copy");
    let other = Location::parse(&format!("gs://{}/{}", env.bucket2, root.key())).unwrap();
    for (name, len) in [("small with space+ü", 70_000), ("larger #odd", 3 << 20)] {
        let from = root.join(name);
        let body = data(len, 8);
        store
            .put(&from, body.clone(), &WriteOptions::default())
            .await
            .unwrap();
        let to = other.join(&format!("dir/{name}"));
        // No version on the entry: the backend looks the source up itself.
        let unversioned = Entry::file(from.clone(), len as u64);
        let receipt = store.copy(&unversioned, &to).await.unwrap();
        assert_eq!(receipt.size, len as u64);
        assert_eq!(receipt.checksum, Some(Checksum::Crc32c(crc32c(&body))));
        assert_eq!(
            read_to_bytes(store.as_ref(), &to, None).await.unwrap(),
            body
        );
    }

    // A copy is pinned to the generation the listing saw: replaced since, it fails.
    let from = root.join("changing");
    store
        .put(&from, data(100, 1), &WriteOptions::default())
        .await
        .unwrap();
    let listed: Vec<Entry> = store.list(&root).try_collect().await.unwrap();
    let listed = listed.into_iter().find(|e| e.location == from).unwrap();
    assert!(listed.version.is_some(), "{listed:?}");
    store
        .put(&from, data(200, 2), &WriteOptions::default())
        .await
        .unwrap();
    let err = store
        .copy(&listed, &other.join("changed"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConditionNotMatch, "{err}");
    // Pinned to the version a `stat` sees now, the copy is of the current version.
    let current = store.stat(&from).await.unwrap();
    assert_ne!(current.version, listed.version);
    let receipt = store.copy(&current, &other.join("changed")).await.unwrap();
    assert_eq!(receipt.size, 200);
    cleanup(&store, &root).await;
    cleanup(&store, &other).await;
}

use futures::StreamExt;
