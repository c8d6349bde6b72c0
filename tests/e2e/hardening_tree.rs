//! Local trees that used to be copied wrongly in silence (issue 15): user files that look like
//! temp names, names too long for the old temp names, special files and directory symlink
//! loops, files whose size lies or that change while being copied, and a listing that fails
//! after files were written.

use std::path::Path;

use crate::support::*;

/// Runs `ferry cp --json SRC DST` with `state` as its state directory.
fn cp(state: &Path, src: &Path, dst: &Path) -> assert_cmd::assert::Assert {
    ferry(state)
        .args(["cp", "--json"])
        .arg(src)
        .arg(dst)
        .assert()
}

#[test]
fn a_user_file_named_like_an_old_temp_name_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write_tree(
        &src,
        &[
            ("x.ferry-tmp", bytes(100, 1)),
            ("sub/.y.0123abcd.ferry-tmp", bytes(200, 2)),
            (".ferry-tmp-notes", bytes(300, 3)),
            ("plain", bytes(400, 4)),
        ],
    );
    let out = cp(&dir.path().join("state"), &src, &dst).success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 4, "{report}");
    assert_same_tree(&src, &dst);
}

#[test]
fn a_name_of_255_bytes_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let long = "n".repeat(255);
    // 127 two-byte characters and one byte: 255 bytes, cut inside a character at 64.
    let accented = format!("{}z", "é".repeat(127));
    assert_eq!(accented.len(), 255);
    write_tree(
        &src,
        &[
            (long.as_str(), bytes(5000, 5)),
            (accented.as_str(), bytes(70_000, 6)),
        ],
    );
    let out = cp(&dir.path().join("state"), &src, &dst).success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 2, "{report}");
    assert_same_tree(&src, &dst);
}

#[test]
fn temp_files_of_a_failed_run_are_ignored_downstream_and_replaced_by_the_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, state) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("state"),
    );
    write_tree(
        &src,
        &[("a", bytes(1000, 7)), ("deep/b", bytes(3 << 20, 8))],
    );
    // Every rename fails: each file stays under its temp name, as after a kill.
    ferry(&state)
        .env("FERRY_FAULTS", "fail-always=rename")
        .args(["cp", "-q"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .code(3);
    let left = read_tree(&dst);
    assert_eq!(left.len(), 2, "{:?}", left.keys());
    for name in left.keys() {
        let file = name.rsplit('/').next().unwrap();
        assert!(file.starts_with(".ferry-tmp-"), "{name}");
        assert!(ferry_core::transfer::is_temp_name(name), "{name}");
    }
    // Copying the half-done tree onwards does not carry the temp files along.
    let onward = dir.path().join("onward");
    let out = cp(&state, &dst, &onward).success();
    assert_eq!(json_report(&out.get_output().stdout)["files_total"], 0);
    assert!(read_tree(&onward).is_empty());
    // The same command again replaces them: the final tree, and nothing else.
    ferry(&state)
        .args(["cp", "-q"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    assert_same_tree(&src, &dst);
}

/// Long enough for a debug build on a busy machine, short of "hangs forever".
const NO_HANG: std::time::Duration = std::time::Duration::from_secs(120);

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn special_files_in_a_tree_are_skipped_with_a_warning_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write_tree(
        &src,
        &[("a.txt", bytes(100, 9)), ("sub/b", bytes(2000, 10))],
    );
    mkfifo(&src.join("pipe"));
    mkfifo(&src.join("sub/pipe2"));
    let _socket = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--json"])
        .arg(&src)
        .arg(&dst)
        .timeout(NO_HANG)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 2, "{report}");
    assert_eq!(report["files_skipped"], 3, "{report}");
    assert_eq!(report["files_special"], 3, "{report}");
    assert_eq!(report["files_failed"], 0, "{report}");
    let skipped: std::collections::BTreeMap<String, String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped.keys().collect::<Vec<_>>(),
        ["pipe", "sock", "sub/pipe2"],
        "{report}"
    );
    assert_eq!(skipped["pipe"], "not a regular file (a FIFO)");
    assert_eq!(skipped["sock"], "not a regular file (a socket)");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        stderr.contains("ferry: warning: skipped pipe: not a regular file (a FIFO)"),
        "{stderr}"
    );
    // Without --json, the summary says what the skips were.
    let again = ferry(&dir.path().join("state2"))
        .arg("cp")
        .arg(&src)
        .arg(dir.path().join("dst2"))
        .timeout(NO_HANG)
        .assert()
        .success();
    let summary = String::from_utf8_lossy(&again.get_output().stderr);
    assert!(
        summary.contains("skipped 3 (0 B; 0 already there; 3 not regular files or loops)"),
        "{summary}"
    );
    let copied = read_tree(&dst);
    assert_eq!(copied.keys().collect::<Vec<_>>(), ["a.txt", "sub/b"]);
    assert_eq!(copied["sub/b"], bytes(2000, 10));
}

#[test]
fn a_fifo_given_as_the_source_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let out = ferry(&dir.path().join("state"))
        .arg("cp")
        .arg(&fifo)
        .arg(dir.path().join("dst"))
        .timeout(NO_HANG)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("ferry: error: "), "{stderr}");
    assert!(stderr.contains("not a regular file (a FIFO)"), "{stderr}");
    assert!(!dir.path().join("dst").exists());
}

#[test]
fn directory_symlink_loops_are_skipped_not_walked() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write_tree(&src, &[("a", bytes(10, 11)), ("d/b", bytes(20, 12))]);
    std::os::unix::fs::symlink(".", src.join("self")).unwrap();
    std::os::unix::fs::symlink("..", src.join("d/up")).unwrap();
    // A symlink to a directory that is no ancestor is an ordinary directory to copy.
    std::os::unix::fs::symlink("d", src.join("alias")).unwrap();
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--json"])
        .arg(&src)
        .arg(&dst)
        .timeout(NO_HANG)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 3, "{report}");
    let loops: Vec<_> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    // `alias/up` leads back to the root too (through `alias`, a directory walked as itself).
    assert_eq!(loops.len(), 3, "{report}");
    for entry in ["self", "d/up", "alias/up"] {
        assert!(loops.contains(&entry), "{entry}: {report}");
    }
    assert_eq!(report["files_skipped"], 3, "{report}");
    assert!(report["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("directory symlink loop"));
    let copied = read_tree(&dst);
    assert_eq!(
        copied.keys().collect::<Vec<_>>(),
        ["a", "alias/b", "d/b"],
        "never a nested copy"
    );
}

#[test]
fn a_file_whose_size_lies_is_an_error_not_an_empty_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write_tree(&src, &[("ok", bytes(10, 13))]);
    // /proc/version lists as 0 bytes but reads as a line of text.
    std::os::unix::fs::symlink("/proc/version", src.join("version")).unwrap();
    assert_eq!(std::fs::metadata(src.join("version")).unwrap().len(), 0);
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--json"])
        .arg(&src)
        .arg(&dst)
        .timeout(NO_HANG)
        .assert()
        .code(3);
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_eq!(report["failures"][0]["path"], "version", "{report}");
    assert_eq!(report["failures"][0]["kind"], "corrupted", "{report}");
    let error = report["failures"][0]["error"].as_str().unwrap();
    assert!(error.contains("changed while being copied"), "{error}");
    let copied = read_tree(&dst);
    assert_eq!(copied.keys().collect::<Vec<_>>(), ["ok"], "no empty copy");
}

#[test]
fn a_file_that_grows_during_the_copy_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let size = 3 << 20;
    write_tree(&src, &[("growing.log", bytes(size, 14))]);
    // 3 MiB at 1 MiB/s: the copy takes seconds; the file grows after half of one.
    let child = std::process::Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", dir.path().join("state"))
        .args(["cp", "--json", "--bwlimit", "1M", "--part-size", "1M"])
        .arg(&src)
        .arg(&dst)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(src.join("growing.log"))
        .unwrap()
        .write_all(b"one more line\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let report = json_report(&out.stdout);
    let error = report["failures"][0]["error"].as_str().unwrap();
    assert!(error.contains("changed while being copied"), "{error}");
    assert!(
        read_tree(&dst).is_empty(),
        "a prefix of the file was left as if copied"
    );
}

#[test]
fn a_listing_that_fails_late_says_what_it_left() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("a/f{i:02}"), bytes(1000 + i, i as u64)))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_tree(&src, &refs);
    std::fs::create_dir_all(src.join("z")).unwrap();
    std::fs::write(
        src.join("z")
            .join(std::ffi::OsStr::from_bytes(b"bad-\xff-name")),
        b"x",
    )
    .unwrap();
    let out = ferry(&dir.path().join("state"))
        .arg("cp")
        .arg(&src)
        .arg(&dst)
        .timeout(NO_HANG)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("ferry: error: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    let (head, _) = line
        .split_once(" before the listing failed: ")
        .unwrap_or_else(|| panic!("{line}"));
    assert!(head.contains("40 files were written to "), "{line}");
    assert!(head.ends_with(&dst.display().to_string()), "{line}");
    assert!(line.contains("not valid UTF-8"), "{line}");
    // What it says it left is what is there: 40 complete files, nothing else.
    let left = read_tree(&dst);
    assert_eq!(left.len(), 40, "{:?}", left.keys());
    for (name, content) in &files {
        assert_eq!(&left[name], content, "{name}");
    }
}

#[test]
fn migrate_skips_a_fifo_in_the_snapshot_directory_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, _) = place_fixture("2.3.0", "rocksdb-savepoint", &dir.path().join("old"));
    mkfifo(&snapshot.join("pipe"));
    let dst = dir.path().join("moved/sp");
    let out = ferry(&dir.path().join("state"))
        .arg("migrate")
        .arg(&snapshot)
        .arg(&dst)
        .timeout(NO_HANG)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        stdout.contains(", 0 already there, 1 not regular files skipped,"),
        "{stdout}"
    );
    assert!(
        stderr.contains("ferry: warning: skipped pipe: not a regular file (a FIFO)"),
        "{stderr}"
    );
    assert!(dst.join("_metadata").is_file());
    assert!(!dst.join("pipe").exists());
}

#[test]
fn a_dangling_symlink_is_reported_not_silently_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    write_tree(&src, &[("a.txt", bytes(100, 9))]);
    std::os::unix::fs::symlink(dir.path().join("nowhere"), src.join("gone")).unwrap();
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--json"])
        .arg(&src)
        .arg(&dst)
        .timeout(NO_HANG)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_eq!(report["files_special"], 1, "{report}");
    assert_eq!(report["skipped"][0]["path"], "gone", "{report}");
    assert_eq!(
        report["skipped"][0]["reason"], "dangling symlink (its target does not exist)",
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        stderr.contains("skipped gone: dangling symlink"),
        "{stderr}"
    );
    assert!(!dst.join("gone").exists());
}
