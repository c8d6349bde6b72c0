//! A server that accepts requests and never answers: an Azure request gives up after
//! `read_timeout`, once, with an error naming the endpoint that marks the store unreachable,
//! instead of hanging a copy forever. Needs no emulator: the silent one is a socket.

use std::time::Duration;

use ferry_azure::AzureStorage;
use ferry_conformance::{silent_server, stat_gives_up_on_silent_server};
use ferry_core::{BackendOptions, Location};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out_instead_of_hanging() {
    let endpoint = silent_server().await;
    let at = Location::parse("wasb://c@acct.blob.core.windows.net/dir/key.bin").unwrap();
    let options = BackendOptions::new()
        .with("endpoint", &endpoint)
        .with("account_key", "c2VjcmV0")
        .with("read_timeout", "0.5");
    let store = AzureStorage::open(&at, &options).unwrap();
    let (err, took) = stat_gives_up_on_silent_server(&store, &at, &endpoint).await;
    // One attempt of 0.5 s: a request never answered is not sent again.
    assert!(err.is_no_answer(), "{err}");
    assert!(err.is_store_unreachable(), "{err}");
    assert!(took >= Duration::from_millis(500), "gave up after {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
}
