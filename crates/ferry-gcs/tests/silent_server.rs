//! A server that accepts requests and never answers: every GCS request gives up after
//! `response_timeout` (and its few quick re-sends) with a temporary error naming the
//! endpoint, instead of hanging a copy forever. Needs no emulator: the silent one is a socket.

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
    let (_, took) = stat_gives_up_on_silent_server(&store, &at, &endpoint).await;
    // Four attempts of 0.5 s and pauses of 0.2, 0.4 and 0.8 s.
    assert!(took >= Duration::from_secs(3), "gave up after {took:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
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
