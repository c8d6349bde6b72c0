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
