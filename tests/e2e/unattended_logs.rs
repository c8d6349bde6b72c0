//! Runs without a terminal (a Kubernetes Job, a CI step, cron): progress records at an
//! interval, the migration plan before the copy, dry runs summarised by directory, no colour
//! escapes, no SDK dumps, one `ferry: error:` line, `--log-file`, and JSON with
//! `schema_version` everywhere (errors included). Every command here runs with its output
//! piped, so standard error is never a terminal.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use crate::support::*;

/// The JSON stats records among stderr's lines.
fn stats_records(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Four 1 MiB files: a copy throttled to 2 MiB/s takes about two seconds.
fn four_mib(root: &Path) {
    write_tree(
        root,
        &[
            ("a/1.bin", bytes(1 << 20, 11)),
            ("a/2.bin", bytes(1 << 20, 12)),
            ("b/3.bin", bytes(1 << 20, 13)),
            ("4.bin", bytes(1 << 20, 14)),
        ],
    );
}

#[test]
fn a_throttled_copy_prints_json_stats_records_with_growing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    four_mib(&dir.path().join("src"));
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--bwlimit", "2M", "--stats", "200ms", "--stats-json"])
        .arg(dir.path().join("src"))
        .arg(dir.path().join("dst"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let records = stats_records(&stderr);
    let progress: Vec<_> = records
        .iter()
        .filter(|r| r["event"] == "progress")
        .collect();
    assert!(progress.len() >= 2, "want ≥ 2 progress records: {stderr}");
    let done: Vec<u64> = progress
        .iter()
        .map(|r| r["bytes_done"].as_u64().unwrap())
        .collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert!(done.first() < done.last(), "bytes never grew: {done:?}");
    for record in &records {
        assert_eq!(record["schema_version"], 1, "{record}");
        for field in [
            "elapsed_seconds",
            "bytes_per_second",
            "files_done",
            "errors",
        ] {
            assert!(record.get(field).is_some(), "{field} missing: {record}");
        }
    }
    let last = records.last().unwrap();
    assert_eq!(
        last["event"], "done",
        "the final record comes last: {stderr}"
    );
    assert_eq!(last["bytes_done"], 4 << 20, "{last}");
    assert_eq!(last["bytes_total"], 4 << 20, "{last}");
    assert_eq!(last["files_done"], 4, "{last}");
    assert_eq!(last["files_total"], 4, "{last}");
    assert_eq!(last["total_known"], true, "{last}");
    assert_same_tree(&dir.path().join("src"), &dir.path().join("dst"));
}

#[test]
fn text_stats_records_by_default_and_none_with_stats_0() {
    let dir = tempfile::tempdir().unwrap();
    four_mib(&dir.path().join("src"));
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--bwlimit", "2M", "--stats", "200ms"])
        .arg(dir.path().join("src"))
        .arg(dir.path().join("dst"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let progress = stderr
        .lines()
        .filter(|l| l.starts_with("ferry: progress: "))
        .count();
    assert!(progress >= 2, "{stderr}");
    assert!(
        stderr.contains("ferry: done: 4.00 MiB/4.00 MiB (100%), files 4/4, "),
        "{stderr}"
    );
    assert!(stderr.contains("errors 0, elapsed "), "{stderr}");

    // No --stats: a short run still ends with the final record (the 30 s interval never came).
    let out = ferry(&dir.path().join("state"))
        .args(["cp"])
        .arg(dir.path().join("src"))
        .arg(dir.path().join("dst2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("ferry: done: "), "{stderr}");
    assert!(!stderr.contains("ferry: progress: "), "{stderr}");

    // --stats 0 turns them off.
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--stats", "0"])
        .arg(dir.path().join("src"))
        .arg(dir.path().join("dst3"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("ferry: done"), "{stderr}");
    assert!(stderr.starts_with("copied 4 files"), "{stderr}");
}

#[test]
fn migrate_prints_its_plan_before_it_copies() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, _) = place_fixture(
        "2.3.0",
        "chained-incremental-checkpoint",
        &dir.path().join("old"),
    );
    // Both streams into one file, so the order of lines is the order they were written in.
    let log = dir.path().join("out.log");
    let file = std::fs::File::create(&log).unwrap();
    let status = std::process::Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", dir.path().join("state"))
        .args(["migrate", "--bwlimit", "64K", "--stats", "200ms"])
        .arg(&snapshot)
        .arg(dir.path().join("new/job/chk-2"))
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    let position = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"))
    };
    let first_progress = position("ferry: progress: ");
    for plan_line in [
        "snapshot    ",
        "destination ",
        "files       ",
        "rewrite     ",
    ] {
        assert!(
            position(plan_line) < first_progress,
            "{plan_line:?} comes after the copy started:\n{text}"
        );
    }
    assert!(first_progress < position("copied      "), "{text}");
    assert!(
        position("ferry: done: ") < position("verified    "),
        "{text}"
    );
}

#[test]
fn dry_runs_summarise_by_directory_and_list_every_file_with_v() {
    let dir = tempfile::tempdir().unwrap();
    mixed_tree(&dir.path().join("src"));
    let dry = |verbose: bool| {
        let mut cmd = ferry(&dir.path().join("state"));
        cmd.args(["cp", "--dry-run"]);
        if verbose {
            cmd.arg("-v");
        }
        let out = cmd
            .arg(dir.path().join("src"))
            .arg(dir.path().join("dst"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let summary = dry(false);
    assert!(
        !summary.contains("big.bin"),
        "one line per file:\n{summary}"
    );
    let shared = summary
        .lines()
        .find(|l| l.ends_with("  shared/"))
        .unwrap_or_else(|| panic!("no shared/ line:\n{summary}"));
    assert!(shared.trim_start().starts_with("2 files "), "{shared}");
    assert!(summary.lines().any(|l| l.ends_with("  ./")), "{summary}");
    assert!(
        summary.lines().any(|l| l.ends_with("  chk-1/a/")),
        "{summary}"
    );
    assert!(!dir.path().join("dst").exists());
    let every = dry(true);
    assert!(
        every.contains("big.bin") && every.contains("deep.sst"),
        "{every}"
    );

    let (snapshot, _) = place_fixture(
        "2.3.0",
        "chained-incremental-checkpoint",
        &dir.path().join("old"),
    );
    let migrate = |verbose: bool| {
        let mut cmd = ferry(&dir.path().join("state"));
        cmd.args(["migrate", "--dry-run"]);
        if verbose {
            cmd.arg("-v");
        }
        let out = cmd
            .arg(&snapshot)
            .arg(dir.path().join("new/job/chk-2"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // `-v` lines: `  <size>  <from> -> <to>`.
    let file_lines = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("  ") && l.contains(" -> "))
            .count()
    };
    let summary = migrate(false);
    assert_eq!(file_lines(&summary), 0, "one line per file:\n{summary}");
    assert!(
        summary.lines().any(|l| l.ends_with("/new/job/shared/")),
        "{summary}"
    );
    assert!(summary.contains("dry run: nothing written"), "{summary}");
    let every = migrate(true);
    assert_eq!(file_lines(&every), 30, "{every}");
}

#[test]
fn no_colour_escapes_without_a_terminal_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    mixed_tree(&dir.path().join("src"));
    // An injected temporary read error makes the engine log a retry warning.
    let run = |dst: &str, force: bool| {
        let mut cmd = ferry(&dir.path().join("state"));
        cmd.env("FERRY_FAULTS", "fail=read@1")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR");
        if force {
            cmd.env("CLICOLOR_FORCE", "1");
        } else {
            cmd.env_remove("CLICOLOR_FORCE");
        }
        let out = cmd
            .arg("cp")
            .arg(dir.path().join("src"))
            .arg(dir.path().join(dst))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let plain = run("dst", false);
    assert!(plain.contains("WARN retrying"), "{plain}");
    assert!(
        !plain.contains('\x1b'),
        "colour escapes in a pipe: {plain:?}"
    );
    let forced = run("dst2", true);
    assert!(
        forced.contains('\x1b'),
        "CLICOLOR_FORCE=1 ignored: {forced:?}"
    );
}

#[test]
fn an_unclassified_error_reads_ferry_error_once() {
    let dir = tempfile::tempdir().unwrap();
    mixed_tree(&dir.path().join("src"));
    let out = ferry(&dir.path().join("state"))
        .env("FERRY_FAULTS", "fail=stat@1")
        .arg("cp")
        .arg(dir.path().join("src/big.bin"))
        .arg(dir.path().join("big.bin"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ferry: error: injected fault in stat"),
        "{stderr}"
    );
}

/// Answers every HTTP request with 403, as an instance metadata service refusing access does.
fn refusing_http_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\
                  Connection: close\r\n\r\ndenied",
            );
        }
    });
    format!("http://{address}")
}

#[test]
fn missing_aws_credentials_are_one_line_without_an_sdk_dump() {
    let dir = tempfile::tempdir().unwrap();
    let imds = refusing_http_server();
    let mut cmd = ferry(&dir.path().join("state"));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "FERRY_LOG",
    ] {
        cmd.env_remove(var);
    }
    // No server is contacted but the metadata service: credentials are resolved at open.
    let out = cmd
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)
        .args(["ls", "s3://b/x", "-o", "endpoint=http://127.0.0.1:9"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ferry: error: ") && stderr.contains("AWS credentials"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("StatusCode"),
        "an SDK Debug dump: {stderr}"
    );
}

#[test]
fn log_file_takes_the_logs_and_the_stats_records() {
    let dir = tempfile::tempdir().unwrap();
    mixed_tree(&dir.path().join("src"));
    let log = dir.path().join("ferry.log");
    let out = ferry(&dir.path().join("state"))
        .env("FERRY_FAULTS", "fail=read@1")
        .args(["cp", "--stats-json", "--log-file"])
        .arg(&log)
        .arg(dir.path().join("src"))
        .arg(dir.path().join("dst"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("WARN retrying"), "{logged}");
    assert!(logged.contains("\"event\":\"done\""), "{logged}");
    assert!(!logged.contains('\x1b'), "{logged:?}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(stderr.starts_with("copied 6 files"), "{stderr}");

    // A fatal error is on stderr and in the file.
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--log-file"])
        .arg(&log)
        .arg(dir.path().join("nope"))
        .arg(dir.path().join("dst2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("ferry: error: "));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.lines().last().unwrap().starts_with("ferry: error: "),
        "{logged}"
    );
}

#[test]
fn errors_before_the_run_still_print_a_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry(&dir.path().join("state"))
        .args(["cp", "--json"])
        .arg(dir.path().join("nope"))
        .arg(dir.path().join("dst"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let report = json_report(&out.stdout);
    assert_eq!(report["schema_version"], 1, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["error"]["kind"], "not_found", "{report}");
    assert_eq!(report["error"]["exit_code"], 1, "{report}");
    assert!(
        stderr.contains(report["error"]["message"].as_str().unwrap()),
        "{report} vs {stderr}"
    );

    // A usage error keeps clap's message and exit code 2, and still answers in JSON.
    let out = ferry(&dir.path().join("state"))
        .args(["verify", "--json", "--no-such-flag", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    let report = json_report(&out.stdout);
    assert_eq!(report["error"]["exit_code"], 2, "{report}");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag"),
        "{report}"
    );
}

#[test]
fn every_json_report_carries_schema_version_and_ls_times_are_rfc3339() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, _) = place_fixture("2.3.0", "rocksdb-savepoint", &dir.path().join("old"));
    let state = dir.path().join("state");
    let json = |args: &[&str], paths: &[&Path]| {
        let out = ferry(&state)
            .args(args)
            .args(paths)
            .arg("--json")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = json_report(&out.stdout);
        assert_eq!(report["schema_version"], 1, "{args:?}: {report}");
        report
    };
    json(&["cp"], &[&snapshot, &dir.path().join("copy")]);
    let moved = dir.path().join("moved/savepoint-0a1b2c-3d4e5f6a7b8c");
    json(&["migrate"], &[&snapshot, &moved]);
    json(&["verify"], &[&moved]);
    let repair = json(&["repair"], &[&moved]);
    assert_eq!(repair["missing"], 0, "{repair}");
    json(&["inspect"], &[&moved]);
    let rewritten = dir.path().join("_metadata.out");
    json(
        &["rewrite", "-o", rewritten.to_str().unwrap()],
        &[&moved.join("_metadata")],
    );
    let listing = json(&["ls"], &[&dir.path().join("moved")]);
    let snapshots = listing["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "{listing}");
    let modified = snapshots[0]["modified"].as_str().unwrap();
    // 2026-12-05T13:05:40Z or with a fraction: RFC 3339 in UTC.
    let bytes = modified.as_bytes();
    assert!(
        modified.len() >= 20
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[10] == b'T'
            && bytes[13] == b':'
            && modified.ends_with('Z'),
        "{modified}"
    );
}
