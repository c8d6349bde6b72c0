//! The options rclone users reach for, with rclone's meanings (issue 21), on local disk and on
//! S3 (SeaweedFS): `--checksum`, `--size-only`, `--update`, `--ignore-existing`,
//! `--ignore-size`; filters (`*` within a level, `**`, a trailing `/` for directories,
//! `--include-from`, `--exclude-from`, `--files-from`, sizes, ages); `--transfers`,
//! `-P/--progress`, `--no-progress`, `--endpoint-url`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use predicates::prelude::*;

use crate::support::*;

/// Where the copies go: a local directory or an S3 prefix, and how ferry reaches it.
struct Side {
    /// The destination root (URI or path).
    root: String,
    /// The S3 settings (`--endpoint-url` and credentials), if S3.
    s3: Option<S3>,
}

struct S3 {
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl Side {
    fn local(dir: &Path) -> Side {
        Side {
            root: dir.join("dst").display().to_string(),
            s3: None,
        }
    }

    fn s3(name: &str) -> Option<Side> {
        let get = ferry_conformance::server_env;
        let s3 = S3 {
            endpoint: get("FERRY_TEST_S3_ENDPOINT")?,
            access_key: get("FERRY_TEST_S3_ACCESS_KEY")?,
            secret_key: get("FERRY_TEST_S3_SECRET_KEY")?,
        };
        let bucket = get("FERRY_TEST_S3_BUCKET")?;
        Some(Side {
            root: format!("s3://{bucket}/{}", ferry_conformance::unique_prefix(name)),
            s3: Some(s3),
        })
    }

    /// `ferry` able to reach this side (the S3 endpoint through `--endpoint-url`).
    fn ferry(&self, state: &Path, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = ferry(state);
        cmd.args(args);
        if let Some(s3) = &self.s3 {
            cmd.args(["--endpoint-url", &s3.endpoint])
                .env("AWS_ACCESS_KEY_ID", &s3.access_key)
                .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", "/dev/null")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                .env_remove("AWS_ENDPOINT_URL")
                .env_remove("AWS_PROFILE");
        }
        cmd
    }

    /// `ferry cp --json --no-resume [flags] SRC DST`: the report, after a success.
    fn cp(&self, state: &Path, flags: &[&str], src: &str, dst: &str) -> serde_json::Value {
        let mut args = vec!["cp", "--json", "--no-resume"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[src, dst]);
        let out = self.ferry(state, &args).assert().success();
        json_report(&out.get_output().stdout)
    }

    /// What the destination holds, copied back to a fresh local directory.
    fn contents(
        &self,
        state: &Path,
        scratch: &Path,
    ) -> std::collections::BTreeMap<String, Vec<u8>> {
        let back = scratch.join(format!("back-{}", unique()));
        self.cp(state, &[], &self.root, back.to_str().unwrap());
        read_tree(&back)
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Sets a local file's modification time `offset_secs` from now.
fn set_mtime(path: &Path, offset_secs: i64) {
    let now = SystemTime::now();
    let time = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    };
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn write(path: &Path, data: &[u8], offset_secs: i64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    set_mtime(path, offset_secs);
}

/// Every comparison option, in a sequence whose each step could only pass with rclone's
/// meaning.
fn comparisons(side: &Side) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let src = dir.path().join("src");
    let s = src.to_str().unwrap();
    // Sources an hour old: the copies are newer.
    write(&src.join("a.txt"), b"aaaa", -3600);
    write(&src.join("b.txt"), b"bbbb", -3600);
    write(&src.join("c/c.txt"), b"cccc", -3600);
    side.cp(&state, &[], s, &side.root);

    // Same size, other bytes (a); another size (b); both still older than the copies.
    write(&src.join("a.txt"), b"AAAA", -3600);
    write(&src.join("b.txt"), b"bbbbbb", -3600);
    // ferry's default refuses to replace what differs.
    side.ferry(&state, &["cp", "--no-resume", s, &side.root])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--checksum"));

    // --update: every copy is newer than its source: nothing is replaced.
    let out = side
        .ferry(
            &state,
            &["cp", "--json", "--no-resume", "-u", s, &side.root],
        )
        .assert()
        .success()
        .stderr(predicate::str::contains("rclone's meaning"));
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 0, "{report}");
    assert_eq!(report["files_skipped"], 3, "{report}");

    // --size-only: b (another size) is replaced, a (same size) is not.
    let report = side.cp(&state, &["--size-only"], s, &side.root);
    assert_eq!(report["files_copied"], 1, "{report}");
    let got = side.contents(&state, dir.path());
    assert_eq!(got["a.txt"], b"aaaa");
    assert_eq!(got["b.txt"], b"bbbbbb");

    // --ignore-existing: only the new file.
    write(&src.join("d.txt"), b"dd", -3600);
    let report = side.cp(&state, &["--ignore-existing"], s, &side.root);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_eq!(side.contents(&state, dir.path())["a.txt"], b"aaaa");

    // --checksum: a's bytes differ: replaced; the rest is skipped.
    let report = side.cp(&state, &["--checksum"], s, &side.root);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_eq!(report["files_skipped"], 3, "{report}");
    assert_eq!(side.contents(&state, dir.path()), read_tree(&src));

    // --update with a source newer than its copy: replaced.
    write(&src.join("c/c.txt"), b"zzzz", 120);
    let report = side.cp(&state, &["-u"], s, &side.root);
    assert_eq!(report["files_copied"], 1, "{report}");
    assert_eq!(side.contents(&state, dir.path()), read_tree(&src));

    // --ignore-size alone compares nothing: a usage error.
    side.ferry(&state, &["cp", "--ignore-size", s, &side.root])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--ignore-size needs"));
}

#[test]
fn comparison_options_have_rclones_meanings_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    comparisons(&Side::local(dir.path()));
}

#[test]
fn comparison_options_have_rclones_meanings_on_s3() {
    let Some(side) = Side::s3("rclone-compare") else {
        return;
    };
    comparisons(&side);
}

/// A tree for the filters, with one file two days old.
fn filter_tree(root: &Path) {
    for (rel, len) in [
        ("top.sst", 10),
        ("a/x.sst", 10),
        ("a/b/y.sst", 10),
        ("tmp/t.sst", 10),
        ("a/tmp/u.log", 10),
        ("big.bin", 4000),
        ("keep/list.txt", 10),
    ] {
        write(&root.join(rel), &bytes(len, len as u64), -60);
    }
    set_mtime(&root.join("keep/list.txt"), -2 * 86_400);
}

/// The files a copy with these flags takes from `src`.
fn taken(side: &Side, state: &Path, scratch: &Path, src: &str, flags: &[&str]) -> Vec<String> {
    let out = scratch.join(format!("out-{}", unique()));
    side.cp(state, flags, src, out.to_str().unwrap());
    read_tree(&out).into_keys().collect()
}

fn filters(side: &Side, src: &str, ages: bool) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let lists = dir.path().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    let list = |name: &str, text: &str| {
        let path = lists.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let take = |flags: &[&str]| taken(side, &state, dir.path(), src, flags);
    // `*` stays within a level; a trailing `/` is a directory anywhere.
    assert_eq!(
        take(&["--include", "*.sst", "--exclude", "tmp/"]),
        ["a/b/y.sst", "a/x.sst", "top.sst"]
    );
    assert_eq!(take(&["--include", "/a/*"]), ["a/x.sst"]);
    assert_eq!(
        take(&["--include", "/a/**"]),
        ["a/b/y.sst", "a/tmp/u.log", "a/x.sst"]
    );
    let files = list("files", "# the two wanted\na/b/y.sst\n/big.bin\n");
    assert_eq!(take(&["--files-from", &files]), ["a/b/y.sst", "big.bin"]);
    let include = list("include", "; root only\n/top.sst\n");
    assert_eq!(take(&["--include-from", &include]), ["top.sst"]);
    let exclude = list("exclude", "*.sst\n*.log\n");
    assert_eq!(
        take(&["--exclude-from", &exclude]),
        ["big.bin", "keep/list.txt"]
    );
    assert_eq!(take(&["--min-size", "1K"]), ["big.bin"]);
    assert_eq!(take(&["--max-size", "10"]).len(), 6);
    if ages {
        assert_eq!(take(&["--min-age", "1d"]), ["keep/list.txt"]);
        assert_eq!(take(&["--max-age", "1h"]).len(), 6);
    }
    side.ferry(
        &state,
        &["cp", "--files-from", "/nonexistent/list", src, "x"],
    )
    .assert()
    .code(1)
    .stderr(predicate::str::contains(
        "--files-from: cannot read /nonexistent/list",
    ));
    side.ferry(&state, &["cp", "--max-age", "soon", src, "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--max-age"));
}

#[test]
fn filters_follow_rclones_rules_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    filter_tree(&src);
    filters(&Side::local(dir.path()), src.to_str().unwrap(), true);
}

#[test]
fn filters_follow_rclones_rules_from_s3() {
    let Some(side) = Side::s3("rclone-filters") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    filter_tree(&src);
    side.cp(
        &dir.path().join("state"),
        &[],
        src.to_str().unwrap(),
        &side.root,
    );
    // S3 keeps upload times, not the files' own: the ages are checked on local disk.
    filters(&side, &side.root.clone(), false);
}

#[test]
fn transfers_progress_and_no_progress() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_tree(
        &src,
        &[("a.bin", bytes(100_000, 1)), ("b.bin", bytes(100_000, 2))],
    );
    let state = dir.path().join("state");
    // -P where no bar can be drawn: a record every second while the copy runs (~4 s at 25K/s).
    let out = ferry(&state)
        .args([
            "cp",
            "--no-resume",
            "-P",
            "--transfers",
            "2",
            "--bwlimit",
            "25K",
        ])
        .arg(&src)
        .arg(dir.path().join("d1"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let records = stderr
        .lines()
        .filter(|l| l.starts_with("ferry: ") && !l.contains("done"))
        .count();
    assert!(records >= 2, "{stderr}");
    // --no-progress: no records at all, only the summary.
    let out = ferry(&state)
        .args(["cp", "--no-resume", "--no-progress"])
        .arg(&src)
        .arg(dir.path().join("d2"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(!stderr.contains("ferry: done"), "{stderr}");
    assert!(stderr.contains("copied 2 files"), "{stderr}");
    assert_same_tree(&src, &dir.path().join("d2"));
}
