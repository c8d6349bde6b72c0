//! A server that accepts requests and never answers (SeaweedFS did this under load): every
//! request gives up after `response_timeout` with a temporary error naming the endpoint, so a
//! copy retries it instead of hanging forever. Needs no S3 server: the silent one is a socket.

use std::time::Duration;

use ferry_conformance::{silent_server, stat_gives_up_on_silent_server};
use ferry_core::{BackendOptions, Location};
use ferry_s3::S3Storage;

fn options(endpoint: &str) -> BackendOptions {
    BackendOptions::new()
        .with("endpoint", endpoint)
        .with("region", "us-east-1")
        .with("access_key_id", "FERRYSILENT")
        .with("secret_access_key", "not-a-secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out_instead_of_hanging() {
    let endpoint = silent_server().await;
    let store = S3Storage::open(&options(&endpoint).with("response_timeout", "0.5"))
        .await
        .unwrap();
    let at = Location::parse("s3://bucket/dir/key.bin").unwrap();
    let (err, took) = stat_gives_up_on_silent_server(&store, &at, &endpoint).await;
    let text = err.to_string();
    assert!(text.contains("no answer"), "{text}");
    assert!(!text.contains("not-a-secret"), "{text}");
    // Three attempts of 0.5 s and two short back-offs.
    assert!(
        took >= Duration::from_millis(1500),
        "gave up after {took:?}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[tokio::test]
async fn response_timeouts_parse_and_zero_means_none() {
    let endpoint = "http://127.0.0.1:9";
    for (given, ok) in [
        ("300", true),
        ("2.5s", true),
        ("0", true),
        ("-1", false),
        ("soon", false),
    ] {
        let opened = S3Storage::open(&options(endpoint).with("response_timeout", given)).await;
        assert_eq!(opened.is_ok(), ok, "response_timeout={given}");
    }
}
