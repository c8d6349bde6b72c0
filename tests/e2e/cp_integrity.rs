//! Corruption is detected: a flipped byte on the way to the destination fails the file, the
//! output is removed, and the failure is reported.

use crate::support::*;
use predicates::prelude::*;

#[test]
fn corrupted_write_is_caught_by_full_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    let out = ferry(&dir.path().join("state"))
        .env("FERRY_FAULTS", "corrupt-write=big.bin")
        .args([
            "cp",
            "--verify",
            "full",
            "--retries",
            "1",
            "--json",
            "--part-size",
            "1M",
        ])
        .arg(&src)
        .arg(&dst)
        .assert()
        .code(3);
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_failed"], 1, "{report}");
    assert_eq!(report["failures"][0]["path"], "big.bin");
    assert_eq!(report["failures"][0]["kind"], "corrupted");
    let files = read_tree(&dst);
    assert!(
        !files.contains_key("big.bin"),
        "corrupt file left under its final name"
    );
    assert!(
        !files.keys().any(|k| k.contains("ferry-tmp")),
        "{:?}",
        files.keys()
    );
    assert_eq!(files.len(), 5);
}

#[test]
fn a_corrupted_single_piece_file_is_caught_too() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    ferry(&dir.path().join("state"))
        .env("FERRY_FAULTS", "corrupt-write=deep.sst")
        .args(["cp", "--verify", "full", "--retries", "0"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("deep.sst"))
        .stderr(predicate::str::contains("mismatch"));
    assert!(!dst.join("chk-1/a/b/c/deep.sst").exists());
}

#[test]
fn a_transient_corruption_is_retried_and_heals() {
    // The first write of the file fails; the retry succeeds: exit 0, identical tree.
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    ferry(&dir.path().join("state"))
        .env("FERRY_FAULTS", "fail=put@1;fail=put_part@2")
        .args(["cp", "--part-size", "1M"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    assert_same_tree(&src, &dst);
}

#[test]
fn checksum_detects_a_corrupted_destination_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    let state = dir.path().join("state");
    ferry(&state)
        .arg("cp")
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let mut rotten = std::fs::read(dst.join("big.bin")).unwrap();
    rotten[7_000_000] ^= 0x40;
    std::fs::write(dst.join("big.bin"), rotten).unwrap();
    let out = ferry(&state)
        .args(["cp", "--checksum", "--json"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_same_tree(&src, &dst);
}
