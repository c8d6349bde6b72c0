//! The shared conformance suite against a real S3 server (SeaweedFS, started by
//! `cargo xtask test`), plus S3 specifics: credentials errors, checksum rejection, no
//! orphaned multipart uploads, resume, unaligned ranged reads, server-side copies, schemes.

use std::sync::Arc;

use bytes::Bytes;
use ferry_conformance::{pattern, server_env, unique_prefix};
use ferry_core::checksum::crc32c;
use ferry_core::storage::read_to_bytes;
use ferry_core::{BackendOptions, Checksum, Entry, ErrorKind, Location, Storage, WriteOptions};
use ferry_s3::S3Storage;
use futures::TryStreamExt;

const MIB: usize = 1024 * 1024;

struct Env {
    endpoint: String,
    access_key: String,
    secret_key: String,
    bucket: String,
    bucket2: String,
}

fn env() -> Option<Env> {
    Some(Env {
        endpoint: server_env("FERRY_TEST_S3_ENDPOINT")?,
        access_key: server_env("FERRY_TEST_S3_ACCESS_KEY")?,
        secret_key: server_env("FERRY_TEST_S3_SECRET_KEY")?,
        bucket: server_env("FERRY_TEST_S3_BUCKET")?,
        bucket2: server_env("FERRY_TEST_S3_BUCKET2")?,
    })
}

impl Env {
    fn options(&self) -> BackendOptions {
        BackendOptions::new()
            .with("endpoint", &self.endpoint)
            .with("access_key_id", &self.access_key)
            .with("secret_access_key", &self.secret_key)
            .with("region", "us-east-1")
    }

    async fn store(&self) -> Arc<S3Storage> {
        Arc::new(
            S3Storage::open(&self.options())
                .await
                .expect("open the test S3 store"),
        )
    }

    fn root(&self, scheme: &str, name: &str) -> Location {
        Location::parse(&format!(
            "{scheme}://{}/{}",
            self.bucket,
            unique_prefix(name)
        ))
        .unwrap()
    }
}

/// Removes what a test wrote and checks it left no multipart upload behind.
async fn cleanup(store: &S3Storage, root: &Location) {
    let pending = store.pending_uploads(root).await.unwrap();
    store.abort_uploads(root).await.unwrap();
    store.delete_prefix(root).await.unwrap();
    assert!(
        pending.is_empty(),
        "multipart uploads left behind: {pending:?}"
    );
}

fn data(len: usize, seed: u8) -> Bytes {
    Bytes::from(pattern(len, seed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_passes_the_conformance_suite() {
    let Some(env) = env() else { return };
    let store = env.store().await;
    let root = env.root("s3a", "conformance");
    ferry_conformance::run_all(store.clone(), &root).await;
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_is_served_and_listings_keep_the_users_scheme() {
    let Some(env) = env() else { return };
    let registry = ferry_core::Registry::new().with(ferry_s3::register);
    let mut stores = Vec::new();
    for scheme in ["s3", "s3a", "s3n", "s3p"] {
        let root = env.root(scheme, "schemes");
        stores.push(registry.open(&root, &env.options()).await.unwrap());
    }
    // One store per endpoint and settings, whatever the scheme or bucket.
    let other_bucket = Location::parse(&format!("s3://{}/x", env.bucket2)).unwrap();
    let also = registry.open(&other_bucket, &env.options()).await.unwrap();
    assert!(stores.iter().all(|s| Arc::ptr_eq(s, &also)));

    let store = env.store().await;
    let root = env.root("s3p", "schemes");
    store
        .put(&root.join("a/b.bin"), data(10, 1), &WriteOptions::default())
        .await
        .unwrap();
    let listed: Vec<_> = store.list(&root).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].location.scheme(), "s3p");
    assert_eq!(listed[0].location, root.join("a/b.bin"));
    let dir = store.stat(&root.join("a")).await.unwrap();
    assert!(dir.is_dir(), "a prefix with objects stats as a directory");
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_clear_permission_error_without_the_secret() {
    let Some(env) = env() else { return };
    let root = env.root("s3a", "creds");
    for (key, secret, hint) in [
        ("NOSUCHKEY123", env.secret_key.as_str(), "access key id"),
        (env.access_key.as_str(), "wrong-secret-Zq9", "secret key"),
    ] {
        let options = env
            .options()
            .with("access_key_id", key)
            .with("secret_access_key", secret);
        let store = S3Storage::open(&options).await.unwrap();
        let err = store
            .put(&root.join("f"), data(10, 1), &WriteOptions::default())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{text}");
        assert!(!err.is_temporary(), "{text}");
        assert!(text.contains(hint), "{text}");
        assert!(!text.contains(secret), "the secret leaked: {text}");
        assert!(!text.contains('\n'));
        let err = store.stat(&root.join("f")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_not_found_with_its_name() {
    let Some(env) = env() else { return };
    let store = env.store().await;
    let at = Location::parse("s3a://ferry-no-such-bucket-4711/x").unwrap();
    let err = store
        .put(&at, data(10, 1), &WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains("ferry-no-such-bucket-4711"),
        "{err}"
    );
    let root = Location::parse("s3a://ferry-no-such-bucket-4711/").unwrap();
    let err = store.stat(&root).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_data_is_rejected_by_the_server() {
    let Some(env) = env() else { return };
    let store = env.store().await;
    let root = env.root("s3a", "corrupt");

    // A part whose bytes differ from the CRC32C computed when they were read.
    let at = root.join("mp");
    let upload = store
        .start_multipart(&at, &WriteOptions::default())
        .await
        .unwrap();
    let part = data(5 * MIB, 1);
    let wrong = crc32c(&part) ^ 1;
    let err = upload.put_part(0, 0, part, wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert!(err.is_temporary(), "a re-read may heal it: {err}");
    upload.abort().await.unwrap();

    // A one-shot PUT whose CRC32C does not match.
    let single = root.join("single");
    let body = data(1000, 2);
    let options = WriteOptions {
        size_hint: Some(1000),
        crc32c: Some(crc32c(&body) ^ 0x100),
    };
    let err = store.put(&single, body, &options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    for gone in [&at, &single] {
        assert_eq!(
            store.stat(gone).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_and_dropped_uploads_leave_no_multipart_upload() {
    let Some(env) = env() else { return };
    let store = env.store().await;
    let root = env.root("s3a", "abort");
    let upload = store
        .start_multipart(&root.join("u"), &WriteOptions::default())
        .await
        .unwrap();
    let part = data(5 * MIB, 3);
    upload
        .put_part(0, 0, part.clone(), crc32c(&part))
        .await
        .unwrap();
    assert_eq!(store.pending_uploads(&root).await.unwrap().len(), 1);
    upload.abort().await.unwrap();
    assert!(store.pending_uploads(&root).await.unwrap().is_empty());

    // The streaming writer switches to multipart past one part; abort and drop clean up.
    for drop_it in [false, true] {
        let mut writer = store
            .write(&root.join("w"), &WriteOptions::default())
            .await
            .unwrap();
        writer.write(data(9 * MIB, 4)).await.unwrap();
        assert_eq!(store.pending_uploads(&root).await.unwrap().len(), 1);
        if drop_it {
            drop(writer);
            for _ in 0..50 {
                if store.pending_uploads(&root).await.unwrap().is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        } else {
            writer.abort().await.unwrap();
        }
        assert!(store.pending_uploads(&root).await.unwrap().is_empty());
    }
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_objects_read_back_across_unaligned_part_boundaries() {
    let Some(env) = env() else { return };
    let store = env.store().await;
    let root = env.root("s3a", "unaligned");
    let at = root.join("big.bin");
    let part = 5 * MIB + 12_345;
    let whole = pattern(3 * part + 777, 5);
    let upload = store
        .start_multipart(&at, &WriteOptions::default())
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for (i, chunk) in whole.chunks(part).enumerate() {
        let chunk = Bytes::copy_from_slice(chunk);
        let crc = crc32c(&chunk);
        receipts.push(
            upload
                .put_part(i as u32, (i * part) as u64, chunk, crc)
                .await
                .unwrap(),
        );
    }
    let receipt = upload.complete(receipts).await.unwrap();
    // The server reports the full-object CRC32C of the assembled object.
    assert_eq!(receipt.checksum, Some(Checksum::Crc32c(crc32c(&whole))));
    assert_eq!(receipt.stored_size, Some(whole.len() as u64));
    let entry = store.stat(&at).await.unwrap();
    assert_eq!(entry.checksum, Some(Checksum::Crc32c(crc32c(&whole))));

    // Windows of 1 MiB + 7 bytes straddle every part boundary.
    let window = MIB + 7;
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
async fn a_resumed_upload_keeps_its_parts_and_full_checksum() {
    let Some(env) = env() else { return };
    let store = env.store().await;
    let root = env.root("s3a", "resume");
    let at = root.join("f");
    let (a, b) = (data(5 * MIB, 6), data(1234, 7));
    let upload = store
        .start_multipart(&at, &WriteOptions::default())
        .await
        .unwrap();
    let first = upload.put_part(0, 0, a.clone(), crc32c(&a)).await.unwrap();
    let token = upload.token().to_string();
    drop(upload); // the process "dies"; the upload stays on the server
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
    // The upload is gone after completion: resuming it again fails.
    let err = store
        .resume_multipart(&at, &token, &WriteOptions::default())
        .await
        .err()
        .expect("a completed upload cannot be resumed");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    cleanup(&store, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_copies_across_buckets_single_and_in_parallel_parts() {
    let Some(env) = env() else { return };
    let options = env
        .options()
        .with("copy_threshold", "6M")
        .with("copy_part_size", "5M");
    let store = Arc::new(S3Storage::open(&options).await.unwrap());
    let root = env.root("s3a", "copy");
    let other = Location::parse(&format!("s3p://{}/{}", env.bucket2, root.key())).unwrap();
    for (name, len) in [
        ("small with space+ü", 70_000),
        ("large+odd ü", 13 * MIB + 5),
    ] {
        let from = root.join(name);
        let body = data(len, 8);
        let options = WriteOptions {
            size_hint: Some(len as u64),
            crc32c: Some(crc32c(&body)),
        };
        store.put(&from, body.clone(), &options).await.unwrap();
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

    // A copy is pinned to the version the listing saw: replaced since, it fails.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_come_from_a_flink_configuration_and_a_ca_bundle_does_not_break_http() {
    let Some(env) = env() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flink-conf.yaml"),
        format!(
            "s3.endpoint: {}\ns3.path.style.access: true\ns3.access-key: {}\ns3.secret-key: {}\n",
            env.endpoint, env.access_key, env.secret_key
        ),
    )
    .unwrap();
    let options = BackendOptions::new()
        .with("flink_conf_dir", dir.path().display().to_string())
        .with("ca_bundle", "/nonexistent/ca-bundle.pem");
    let store = S3Storage::open(&options).await.unwrap();
    let root = env.root("s3", "flinkconf");
    store
        .put(&root.join("x"), data(5, 9), &WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(store.stat(&root.join("x")).await.unwrap().size, 5);
    cleanup(&store, &root).await;
}
