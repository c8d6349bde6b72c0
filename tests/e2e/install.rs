//! What an installer and a new user see first (issue 21): `--version` and `ferry version
//! --json` name the build, `ferry completions` prints a script each shell accepts, and
//! `ferry manpages` writes a page per command.

use std::process::Command;

use predicates::prelude::*;

use crate::support::*;

#[test]
fn version_names_commit_date_target_and_features() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ferry(tmp.path())
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    let json = ferry(tmp.path())
        .args(["version", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let info = json_report(&json);
    let commit = info["git_commit"].as_str().unwrap();
    let date = info["build_date"].as_str().unwrap();
    let target = info["target"].as_str().unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "built from a git checkout: {commit}"
    );
    assert_eq!(date.len(), 10, "{date}");
    assert!(target.contains("linux"), "{target}");
    assert!(info["features"].is_array(), "{info}");
    for part in [commit, date, target, "features: "] {
        assert!(line.contains(part), "{line:?} lacks {part}");
    }
    assert!(line.starts_with(&format!("ferry {} (", env!("CARGO_PKG_VERSION"))));
    // `ferry version` prints the same line.
    ferry(tmp.path())
        .arg("version")
        .assert()
        .success()
        .stdout(line);
}

#[test]
fn completions_are_scripts_each_shell_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = ferry(tmp.path())
            .args(["completions", shell])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let script = String::from_utf8(out).unwrap();
        for word in ["migrate", "--part-size", "completions"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
        if shell == "bash" {
            // Parsed (not run) by bash itself.
            let path = tmp.path().join("ferry.bash");
            std::fs::write(&path, &script).unwrap();
            let status = Command::new("bash").arg("-n").arg(&path).status().unwrap();
            assert!(status.success(), "bash -n rejects the completion script");
        }
    }
    ferry(tmp.path())
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tcsh"));
}

#[test]
fn completions_into_a_closed_pipe_are_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(ferry_bin())
        .args(["completions", "zsh"])
        .env("FERRY_STATE_DIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn manpages_write_one_page_per_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man/man1");
    ferry(tmp.path())
        .arg("manpages")
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicate::str::contains("wrote"));
    for command in [
        "cp", "migrate", "verify", "ls", "inspect", "rewrite", "repair",
    ] {
        let page = std::fs::read_to_string(dir.join(format!("ferry-{command}.1")))
            .unwrap_or_else(|e| panic!("no page for {command}: {e}"));
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "roff: {command}"
        );
        assert!(
            page.contains(&format!("ferry {command}")),
            "synopsis names `ferry {command}`"
        );
    }
    let main = std::fs::read_to_string(dir.join("ferry.1")).unwrap();
    assert!(
        main.contains(".TH ferry 1"),
        "{}",
        &main[..200.min(main.len())]
    );
    assert!(main.contains("migrate"));
}
