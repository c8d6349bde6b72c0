//! A server that accepts requests and never answers: a GCS request gives up after
//! `response_timeout`, once, with an error naming the endpoint that marks the store unreachable
//! and is not sent again, instead of hanging a copy forever. Needs no emulator: the silent one
//! is a socket.

use std::time::Duration;

use ferry_conformance::{silent_server, stat_gives_up_on_silent_server};
use ferry_core::{BackendOptions, Location};
use ferry_gcs::GcsStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out_instead_of_hanging() {
    let endpoint = silent_server().await;
    let options = BackendOptions::new()
        .with("endpoint", &endpoint)
        .with("response_timeout", "0.5");
    let store = GcsStorage::open(&options).unwrap();
    let at = Location::parse("gs://bucket/dir/key.bin").unwrap();
    let (err, took) = stat_gives_up_on_silent_server(&store, &at, &endpoint).await;
    // One attempt of 0.5 s: a request never answered is not sent again.
    assert!(err.is_no_answer(), "{err}");
    assert!(err.is_store_unreachable(), "{err}");
    assert!(took >= Duration::from_millis(500), "gave up after {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn response_timeouts_parse_and_zero_means_none() {
    for (given, ok) in [
        ("300", true),
        ("2.5s", true),
        ("0", true),
        ("-1", false),
        ("soon", false),
    ] {
        let options = BackendOptions::new()
            .with("endpoint", "http://127.0.0.1:9")
            .with("response_timeout", given);
        assert_eq!(
            GcsStorage::open(&options).is_ok(),
            ok,
            "response_timeout={given}"
        );
    }
}
