//! The shared conformance suite against the real local filesystem, plus local specifics.

use std::sync::Arc;

use ferry_core::{Location, Storage};
use ferry_local::LocalStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let root = Location::local(dir.path()).unwrap();
    ferry_conformance::run_all(Arc::new(LocalStorage::default()), &root).await;
}

#[tokio::test]
async fn resumed_upload_keeps_parts_already_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStorage::default();
    let at = Location::local(dir.path().join("f")).unwrap();
    let options = ferry_core::WriteOptions {
        size_hint: Some(8),
        crc32c: None,
    };
    let upload = store.start_multipart(&at, &options).await.unwrap();
    let first = upload
        .put_part(0, 0, bytes::Bytes::from_static(b"abcd"), 0)
        .await
        .unwrap();
    let token = upload.token().to_string();
    drop(upload); // the process "dies"
    let resumed = store.resume_multipart(&at, &token, &options).await.unwrap();
    let second = resumed
        .put_part(1, 4, bytes::Bytes::from_static(b"efgh"), 0)
        .await
        .unwrap();
    resumed.complete(vec![first, second]).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"abcdefgh");
    // A token for another file is refused.
    let other = Location::local(dir.path().join("g")).unwrap();
    assert!(store
        .resume_multipart(&other, &token, &options)
        .await
        .is_err());
}

#[test]
fn file_uris_with_a_host_are_refused() {
    // Refused where the location is parsed, before any store could be opened on it.
    let err = Location::parse("file://otherhost/x").unwrap_err();
    assert!(err.to_string().contains("otherhost"), "{err}");
    assert!(!err.to_string().contains("  "), "{err}");
    assert!(Location::parse("file://localhost/x").is_ok());
}
