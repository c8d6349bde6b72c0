//! Resume after a really killed run: `kill -9` mid-copy, then the same command again.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn journal_lines(state: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(state.join("journals")) else {
        return 0;
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("\"done\"") || l.contains("\"part\""))
                .count()
        })
        .sum()
}

#[test]
fn killed_copy_resumes_without_recopying_verified_files() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, state) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("state"),
    );
    let mut files: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| (format!("small/{i:03}.bin"), bytes(256 * 1024, i)))
        .collect();
    files.push(("large.bin".into(), bytes(24 * 1024 * 1024, 99)));
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_tree(&src, &refs);
    let total: u64 = files.iter().map(|f| f.1.len() as u64).sum();

    // ~40 MiB at 8 MiB/s takes ~5 s: kill it once some files and parts are journaled.
    let mut child = std::process::Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", &state)
        .args(["cp", "-j", "4", "--part-size", "1M", "--bwlimit", "8M"])
        .arg(&src)
        .arg(&dst)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal_lines(&state) < 12 {
        assert!(Instant::now() < deadline, "nothing was journaled");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Whatever is under a final name is complete and correct.
    let partial = read_tree(&dst);
    let expected = read_tree(&src);
    let finals: Vec<_> = partial
        .keys()
        .filter(|k| !ferry_core::transfer::is_temp_name(k))
        .collect();
    assert!(finals.len() < expected.len(), "the run was not interrupted");
    for name in finals {
        assert!(
            partial[name] == expected[name],
            "{name} is under its final name but incomplete"
        );
    }

    let out = ferry(&state)
        .args(["cp", "--json", "--part-size", "1M"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_same_tree(&src, &dst);
    let skipped = report["files_skipped"].as_u64().unwrap();
    let copied_bytes = report["bytes_copied"].as_u64().unwrap();
    assert!(skipped > 0, "nothing was resumed: {report}");
    assert!(
        copied_bytes < total,
        "everything was copied again: {report}"
    );
}

#[test]
fn interrupted_large_file_resumes_from_its_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, state) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("state"),
    );
    write_tree(&src, &[("huge.bin", bytes(32 * 1024 * 1024, 7))]);
    let mut child = std::process::Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", &state)
        .args(["cp", "--part-size", "1M", "--bwlimit", "6M"])
        .arg(&src)
        .arg(&dst)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal_lines(&state) < 8 {
        assert!(Instant::now() < deadline, "no part was journaled");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dst.join("huge.bin").exists(),
        "a partial file took its final name"
    );

    let out = ferry(&state)
        .args(["cp", "--json", "--part-size", "1M"])
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_same_tree(&src, &dst);
    // The file counts as copied, but the journal log shows that parts were reused: the
    // resumed run's journal records fewer new parts than the file has.
    assert_eq!(report["files_copied"], 1);
    let journal = std::fs::read_dir(state.join("journals"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(journal).unwrap();
    let parts = text.lines().filter(|l| l.contains("\"part\"")).count();
    let uploads = text.lines().filter(|l| l.contains("\"upload\"")).count();
    assert_eq!(uploads, 1, "the upload was restarted instead of resumed");
    assert_eq!(
        parts, 32,
        "each of the 32 parts is written exactly once across both runs"
    );
}
