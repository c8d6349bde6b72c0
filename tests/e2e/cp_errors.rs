//! Bad input: one-line errors naming what and where, non-zero exits, and nothing half-written.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;
use predicates::prelude::*;

/// The error is one line, starts with `ferry: error:` and names `what`.
fn one_line_error(what: &str) -> impl Predicate<str> + '_ {
    predicate::function(move |stderr: &str| {
        let lines: Vec<&str> = stderr.lines().collect();
        lines.len() == 1 && lines[0].starts_with("ferry: error: ") && lines[0].contains(what)
    })
}

#[test]
fn missing_source() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    ferry(&dir.path().join("state"))
        .arg("cp")
        .arg(&missing)
        .arg(dir.path().join("dst"))
        .assert()
        .code(1)
        .stderr(one_line_error("does not exist"))
        .stderr(predicate::str::contains(missing.to_str().unwrap()));
    assert!(!dir.path().join("dst").exists());
}

#[test]
fn destination_is_a_file_where_a_directory_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    mixed_tree(&dir.path().join("src"));
    std::fs::write(dir.path().join("file"), b"keep me").unwrap();
    ferry(&dir.path().join("state"))
        .arg("cp")
        .arg(dir.path().join("src"))
        .arg(dir.path().join("file"))
        .assert()
        .code(1)
        .stderr(one_line_error("is a file"));
    assert_eq!(std::fs::read(dir.path().join("file")).unwrap(), b"keep me");
}

#[test]
fn unknown_scheme() {
    let dir = tempfile::tempdir().unwrap();
    mixed_tree(&dir.path().join("src"));
    ferry(&dir.path().join("state"))
        .arg("cp")
        .arg(dir.path().join("src"))
        .arg("ftp://host/x")
        .assert()
        .code(1)
        .stderr(one_line_error("unknown scheme \"ftp\""));
}

#[test]
fn existing_destination_file_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    write_tree(&dst, &[("chk-1/_metadata", b"theirs".to_vec())]);
    ferry(&dir.path().join("state"))
        .arg("cp")
        .arg(&src)
        .arg(&dst)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("already exists"))
        .stderr(predicate::str::contains("chk-1/_metadata"));
    assert_eq!(
        std::fs::read(dst.join("chk-1/_metadata")).unwrap(),
        b"theirs"
    );
}

#[test]
fn bad_option_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    ferry(dir.path())
        .args(["cp", "--part-size", "lots", "a", "b"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--part-size"));
    ferry(dir.path())
        .args(["cp", "--include", "a[", "a", "b"])
        .assert()
        .code(2)
        .stderr(one_line_error("bad glob pattern"));
}

/// Permission problems need a non-root user: as root, run ferry as `nobody` via setpriv.
fn as_unprivileged(cmd: &mut std::process::Command) -> Option<std::process::Command> {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !root {
        return None;
    }
    let mut wrapped = std::process::Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    wrapped.arg(cmd.get_program());
    wrapped.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    Some(wrapped)
}

fn world_readable(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = if path.is_dir() { 0o777 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        if path.is_dir() {
            world_readable(&path);
        }
    }
}

#[test]
fn unreadable_source_file_and_unwritable_destination() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    mixed_tree(&src);
    world_readable(dir.path());
    std::fs::set_permissions(
        src.join("chk-1/_metadata"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();

    let mut cmd = std::process::Command::new(ferry_bin());
    cmd.env("FERRY_STATE_DIR", dir.path().join("state"))
        .arg("cp")
        .arg(&src)
        .arg(&dst);
    let mut cmd = as_unprivileged(&mut cmd).unwrap_or(cmd);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("permission denied") && stderr.contains("chk-1/_metadata"),
        "{stderr}"
    );
    // Everything else was copied; nothing half-written or temporary is left.
    let copied = read_tree(&dst);
    assert_eq!(copied.len(), 5, "{:?}", copied.keys());
    assert!(!copied
        .keys()
        .any(|k| k.contains("ferry-tmp") || k.contains("_metadata")));

    // A destination directory nobody may write to.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut cmd = std::process::Command::new(ferry_bin());
    cmd.env("FERRY_STATE_DIR", dir.path().join("state"))
        .arg("cp")
        .arg(src.join("big.bin"))
        .arg(locked.join("big.bin"));
    let mut cmd = as_unprivileged(&mut cmd).unwrap_or(cmd);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 0);
}

#[test]
fn a_closed_standard_error_loses_lines_not_the_copy() {
    // `ferry cp … 2>&1 | head -1`: the reader goes away; ferry must finish, not panic.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let files: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| (format!("d/f{i:03}"), bytes(100, i)))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_tree(&src, &refs);
    let mut child = std::process::Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", dir.path().join("state"))
        .env_remove("FERRY_FAULTS")
        .args(["cp", "-v"])
        .arg(&src)
        .arg(dir.path().join("dst"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    assert_same_tree(&src, &dir.path().join("dst"));
}
