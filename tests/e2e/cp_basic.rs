//! `ferry cp` happy paths: byte-identical trees, single files, filters, dry runs, --checksum, --size-only.

use crate::support::*;
use predicates::prelude::*;

#[test]
fn copies_a_mixed_tree_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--json", "--part-size", "1M"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    assert_same_tree(&src, &dst);
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 6);
    assert_eq!(report["files_failed"], 0);
    assert_eq!(
        report["bytes_copied"],
        read_tree(&src).values().map(|v| v.len()).sum::<usize>()
    );
    // Nothing but the copied files: no temp names left behind.
    assert_eq!(read_tree(&dst).len(), 6);
}

#[test]
fn accepts_file_uris_and_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    mixed_tree(&dir.path().join("src"));
    let uri = format!("file://{}/dst", dir.path().display());
    ferry(&dir.path().join("state"))
        .current_dir(dir.path())
        .args(["cp", "-q", "./src", &uri])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    assert_same_tree(&dir.path().join("src"), &dir.path().join("dst"));
}

#[test]
fn single_file_to_a_name_and_into_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("one.bin");
    std::fs::write(&src, bytes(3_000_000, 9)).unwrap();
    let state = dir.path().join("state");
    ferry(&state)
        .arg("cp")
        .arg(&src)
        .arg(dir.path().join("copy.bin"))
        .assert()
        .success();
    assert_eq!(
        std::fs::read(dir.path().join("copy.bin")).unwrap(),
        bytes(3_000_000, 9)
    );
    let into = format!("{}/into/", dir.path().display());
    ferry(&state)
        .arg("cp")
        .arg(&src)
        .arg(&into)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(dir.path().join("into/one.bin")).unwrap(),
        bytes(3_000_000, 9)
    );
}

#[test]
fn filters_choose_files() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    ferry(&dir.path().join("state"))
        .args(["cp", "--include", "**/*.sst", "--exclude", "shared/with*"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let copied: Vec<String> = read_tree(&dst).into_keys().collect();
    assert_eq!(copied, ["chk-1/a/b/c/deep.sst", "shared/ünïcödé+plus.sst"]);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    let state = dir.path().join("state");
    // -v lists every file (without it: per directory, see unattended_logs).
    ferry(&state)
        .args(["cp", "--dry-run", "-v", "--part-size", "1M"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success()
        .stdout(predicate::str::contains("parallel parts"))
        .stdout(predicate::str::contains("big.bin"))
        .stdout(predicate::str::contains("shared/with space.sst"))
        .stderr(predicate::str::contains("nothing written"));
    assert!(!dst.exists(), "dry run created the destination");
    assert!(!state.exists(), "dry run wrote a journal");
}

#[test]
fn checksum_skips_unchanged_and_recopies_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    let state = dir.path().join("state");
    ferry(&state)
        .args(["cp", "--no-resume"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    // Same size, one byte different: only a checksum comparison can tell.
    let mut changed = std::fs::read(src.join("chk-1/_metadata")).unwrap();
    changed[100] ^= 1;
    std::fs::write(src.join("chk-1/_metadata"), &changed).unwrap();
    let out = ferry(&state)
        .args(["cp", "--no-resume", "--checksum", "--json"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_eq!(report["files_skipped"], 5, "{report}");
    assert_same_tree(&src, &dst);
}

#[test]
fn size_only_compares_sizes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    let state = dir.path().join("state");
    ferry(&state)
        .args(["cp", "--no-resume"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    // Same size, other bytes: --size-only cannot tell, and does not read them.
    let mut changed = std::fs::read(src.join("chk-1/_metadata")).unwrap();
    changed[100] ^= 1;
    std::fs::write(src.join("chk-1/_metadata"), &changed).unwrap();
    std::fs::write(src.join("empty"), b"now longer").unwrap();
    let out = ferry(&state)
        .args(["cp", "--no-resume", "--size-only", "--json"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(
        report["files_copied"], 1,
        "only the file of another size: {report}"
    );
    assert_eq!(std::fs::read(dst.join("empty")).unwrap(), b"now longer");
    assert_ne!(std::fs::read(dst.join("chk-1/_metadata")).unwrap(), changed);
}

#[test]
fn overwrite_replaces_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    write_tree(&dst, &[("big.bin", b"stale".to_vec())]);
    ferry(&dir.path().join("state"))
        .args(["cp", "--overwrite"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    assert_same_tree(&src, &dst);
}

#[test]
fn help_states_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    ferry(dir.path())
        .args(["cp", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Memory:"))
        .stdout(predicate::str::contains("64 MiB"));
}

#[test]
fn direct_io_off_copies_the_same_bytes_and_a_bad_value_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    // 1 MiB parts: the 20 MiB file is a multipart write, through the page cache only.
    ferry(&dir.path().join("state"))
        .args(["cp", "-q", "--part-size", "1M", "-o", "direct_io=false"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    assert_same_tree(&src, &dst);

    let other = dir.path().join("other");
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "-q", "--dst-option", "direct_io=sometimes"])
        .arg(&src)
        .arg(&other)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("direct_io"), "{stderr}");
    assert!(!other.exists(), "nothing written on a bad option");
}
