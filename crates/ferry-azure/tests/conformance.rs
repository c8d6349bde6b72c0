//! The shared conformance suite against Azurite (started by `cargo xtask test`), plus Azure
//! specifics: the connection string's `BlobEndpoint`, block uploads (unaligned reads across
//! blocks, the CRC32C in the blob's metadata, resume by token), server-side copies across
//! containers pinned to the listed ETag, Hadoop folder markers, and bad input: a missing
//! container, another account, a wrong key, a SAS token without the permission needed.

use std::sync::Arc;

use bytes::Bytes;
use ferry_azure::AzureStorage;
use ferry_conformance::{pattern, server_env, unique_prefix};
use ferry_core::checksum::crc32c;
use ferry_core::storage::read_to_bytes;
use ferry_core::{BackendOptions, Checksum, Entry, ErrorKind, Location, Storage, WriteOptions};
use futures::{StreamExt, TryStreamExt};

struct Env {
    connection: String,
    account: String,
    container: String,
    container2: String,
}

async fn env() -> Option<Env> {
    let env = Env {
        connection: server_env("FERRY_TEST_AZURE_CONNECTION_STRING")?,
        account: server_env("FERRY_TEST_AZURE_ACCOUNT")?,
        container: server_env("FERRY_TEST_AZURE_CONTAINER")?,
        container2: server_env("FERRY_TEST_AZURE_CONTAINER2")?,
    };
    let store = env.store();
    for c in [&env.container, &env.container2] {
        let at = env.at(c, "x");
        store.create_container(&at).await.unwrap();
    }
    Some(env)
}

impl Env {
    fn options(&self) -> BackendOptions {
        BackendOptions::new().with("connection_string", &self.connection)
    }

    fn at(&self, container: &str, path: &str) -> Location {
        Location::parse(&format!(
            "wasb://{container}@{}.blob.core.windows.net/{path}",
            self.account
        ))
        .unwrap()
    }

    fn store(&self) -> AzureStorage {
        AzureStorage::open(&self.at(&self.container, ""), &self.options()).unwrap()
    }

    fn root(&self, name: &str) -> Location {
        self.at(&self.container, &unique_prefix(name))
    }
}

fn data(len: usize, seed: u8) -> Bytes {
    Bytes::from(pattern(len, seed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_backend_passes_the_conformance_suite() {
    let Some(env) = env().await else { return };
    let store = Arc::new(env.store());
    let root = env.root("conformance");
    ferry_conformance::run_all(store.clone(), &root).await;
    store.delete_prefix(&root).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abfs_and_wasb_reach_the_same_blobs_and_prefixes_are_directories() {
    let Some(env) = env().await else { return };
    let store = env.store();
    let root = env.root("schemes");
    let content = data(70_000, 1);
    store
        .put(
            &root.join("a/b c.bin"),
            content.clone(),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    let abfs = Location::parse(
        &root
            .join("a/b c.bin")
            .to_string()
            .replace("wasb://", "abfss://")
            .replace(".blob.", ".dfs."),
    )
    .unwrap();
    let registry = ferry_core::Registry::new().with(ferry_azure::register);
    let other = registry.open(&abfs, &env.options()).await.unwrap();
    let entry = other.stat(&abfs).await.unwrap();
    assert_eq!(entry.size, 70_000);
    assert_eq!(entry.checksum, Some(Checksum::Crc32c(crc32c(&content))));
    assert_eq!(
        read_to_bytes(other.as_ref(), &abfs, None).await.unwrap(),
        content
    );
    assert!(store.stat(&root.join("a")).await.unwrap().is_dir());
    assert!(store.stat(&root.with_path("")).await.unwrap().is_dir());
    // Listings carry the CRC32C from the blob's metadata: no HEAD per file.
    let listed: Vec<_> = store.list(&root).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].checksum, Some(Checksum::Crc32c(crc32c(&content))));
    store.delete_prefix(&root).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_uploads_resume_by_token_and_read_back_across_blocks() {
    let Some(env) = env().await else { return };
    let store = Arc::new(env.store());
    let root = env.root("blocks");
    let at = root.join("big ü.bin");
    let part = 256 * 1024 + 13;
    let whole = pattern(9 * part - 1000, 5);
    let chunks: Vec<(usize, Bytes)> = whole
        .chunks(part)
        .enumerate()
        .map(|(i, c)| (i, Bytes::copy_from_slice(c)))
        .collect();
    let upload = store
        .start_multipart(&at, &WriteOptions::default())
        .await
        .unwrap();
    let token = upload.token().to_string();
    // Half the parts, then the process "dies"; a later one resumes from the token.
    let mut receipts = Vec::new();
    for (i, chunk) in &chunks[..4] {
        let crc = crc32c(chunk);
        receipts.push(
            upload
                .put_part(*i as u32, (i * part) as u64, chunk.clone(), crc)
                .await
                .unwrap(),
        );
    }
    drop(upload);
    assert_eq!(
        store.stat(&at).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let err = store
        .resume_multipart(&root.join("other"), &token, &WriteOptions::default())
        .await
        .err()
        .expect("a token of another blob");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let resumed = store
        .resume_multipart(&at, &token, &WriteOptions::default())
        .await
        .unwrap();
    let rest: Vec<_> = futures::stream::iter(chunks[4..].iter().cloned().rev())
        .map(|(i, chunk)| {
            let resumed = resumed.clone();
            async move {
                let crc = crc32c(&chunk);
                resumed
                    .put_part(i as u32, (i * part) as u64, chunk, crc)
                    .await
            }
        })
        .buffer_unordered(4)
        .try_collect()
        .await
        .unwrap();
    receipts.extend::<Vec<_>>(rest);
    resumed.complete(receipts).await.unwrap();
    let entry = store.stat(&at).await.unwrap();
    assert_eq!(entry.size, whole.len() as u64);
    assert_eq!(entry.checksum, Some(Checksum::Crc32c(crc32c(&whole))));
    let window = 100 * 1024 + 7;
    let mut offset = 0;
    while offset < whole.len() {
        let buffer = store
            .read_into(&at, offset as u64, window, vec![0xEE; 3 * window])
            .await
            .unwrap();
        assert_eq!(
            &buffer[..],
            &whole[offset..(offset + window).min(whole.len())],
            "at {offset}"
        );
        offset += window;
    }
    // Committed: the upload is gone.
    let err = store
        .resume_multipart(&at, &token, &WriteOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    store.delete_prefix(&root).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_copies_across_containers_are_pinned_to_the_listed_etag() {
    let Some(env) = env().await else { return };
    let store = env.store();
    let root = env.root("copy");
    let other = env.at(&env.container2, root.key());
    let from = root.join("src #1.bin");
    let body = data(3 << 20, 8);
    store
        .put(&from, body.clone(), &WriteOptions::default())
        .await
        .unwrap();
    let to = other.join("dir/copied");
    // No version on the entry: the backend looks the source up itself.
    let unversioned = Entry::file(from.clone(), body.len() as u64);
    let receipt = store.copy(&unversioned, &to).await.unwrap();
    assert_eq!(receipt.size, body.len() as u64);
    assert_eq!(receipt.checksum, Some(Checksum::Crc32c(crc32c(&body))));
    assert_eq!(read_to_bytes(&store, &to, None).await.unwrap(), body);

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
    assert_eq!(
        store
            .copy(&current, &other.join("changed"))
            .await
            .unwrap()
            .size,
        200
    );
    store.delete_prefix(&root).await.unwrap();
    store.delete_prefix(&other).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_one_line_naming_what_and_where() {
    let Some(env) = env().await else { return };
    let store = env.store();
    // A missing container.
    let missing = env.at("ferry-no-such-container", "x");
    let err = store
        .put(&missing, data(10, 1), &WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .contains("no such container ferry-no-such-container"),
        "{err}"
    );
    let err = store.check_container(&missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Another account than the connection string's.
    let elsewhere = Location::parse("wasb://c@nosuchaccount.blob.core.windows.net/x").unwrap();
    let err = AzureStorage::open(&elsewhere, &env.options()).unwrap_err();
    assert!(err.to_string().contains("nosuchaccount"), "{err}");
    // A wrong key: refused, and the key never shown.
    let wrong = env.connection.replace("AccountKey=", "AccountKey=AAAA");
    let bad = AzureStorage::open(
        &env.root("x"),
        &BackendOptions::new().with("connection_string", &wrong),
    )
    .unwrap();
    let err = bad.stat(&env.root("x").join("f")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("account {}", env.account)),
        "{err}"
    );
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(!text.contains(&wrong), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sas_token_without_write_permission_is_refused_naming_the_container() {
    use reqsign_azure_storage::{ServiceSasResource, ServiceSharedAccessSignature};
    let Some(env) = env().await else { return };
    let key = server_env("FERRY_TEST_AZURE_KEY").unwrap();
    // A container SAS that may read and list, not write.
    let sas = ServiceSharedAccessSignature::new(
        env.account.clone(),
        key,
        ServiceSasResource::Container {
            container: env.container.clone(),
        },
        "rl".into(),
        reqsign_core::time::Timestamp::now() + std::time::Duration::from_secs(3600),
    );
    let token: Vec<String> = sas
        .token()
        .unwrap()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", ferry_core::location::percent_encode(&v)))
        .collect();
    let token = token.join("&");
    let endpoint = server_env("FERRY_TEST_AZURE_ENDPOINT").unwrap();
    let options = BackendOptions::new()
        .with("endpoint", &endpoint)
        .with("sas_token", &token);
    let root = env.root("sas");
    let store = AzureStorage::open(&root, &options).unwrap();
    let err = store
        .put(&root.join("f"), data(10, 1), &WriteOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let text = err.to_string();
    assert!(text.contains(&env.container), "{text}");
    assert!(!text.contains(&token) && !text.contains('\n'), "{text}");
    // Reading with it works: the token is used, just not allowed to write.
    let listed: Vec<_> = store.list(&root).try_collect().await.unwrap();
    assert!(listed.is_empty());
}
