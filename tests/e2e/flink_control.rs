//! The Flink control plane against real Flink: the test job runs in a MiniCluster that serves
//! Flink's REST API (`ferry.FerryJob serve`, see xtask/flink-job), and the real `ferry`
//! lists its jobs, takes savepoints (canonical and native), a checkpoint, stops it with a
//! savepoint, and restores from what it took; errors (unreachable cluster, unknown job, a job
//! no longer running, a savepoint directory Flink cannot write) end with one line and exit 1.
//! A `ferry savepoint` killed while Flink works and run again takes no second savepoint.
//!
//! Needs the xtask "flink" setup (FERRY_TEST_FLINK_CLASSPATH, FERRY_TEST_FLINK_JAVA_OPTS).
//! Each served cluster holds the JVM lock of `flink_restore` while it lives.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use crate::flink_restore::{flink, Flink, JVM, KEYS, RECORDS};
use crate::support::*;

/// A running `ferry.FerryJob serve`: the REST URL and the job id; dropping it closes the
/// job's stdin (the cluster shuts down) and waits for the JVM.
pub(crate) struct Served {
    child: Child,
    stdin: Option<ChildStdin>,
    pub(crate) url: String,
    pub(crate) job: String,
    _jvm: MutexGuard<'static, ()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the test job (RECORDS records, KEYS keys) in a MiniCluster serving REST; returns
/// once every record is processed.
pub(crate) fn serve(flink: &Flink, args: &[&str], work: &Path) -> Served {
    let jvm = JVM.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::create_dir_all(work).unwrap();
    let log = std::fs::File::create(work.join("serve.log")).unwrap();
    let mut child = Command::new("java")
        .args(flink.java_opts.split_whitespace())
        .arg("-cp")
        .arg(&flink.classpath)
        .args([
            "ferry.FerryJob",
            "serve",
            "--records",
            &RECORDS.to_string(),
            "--keys",
            &KEYS.to_string(),
            "--timeout-seconds",
            "600",
            "--report",
        ])
        .arg(work.join("serve.json"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("java runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut url, mut job) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(180);
    while url.is_none() || job.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            let log = std::fs::read_to_string(work.join("serve.log")).unwrap_or_default();
            panic!("the served job did not come up:\n{log}")
        });
        if let Some(u) = line.strip_prefix("FERRY_REST=") {
            url = Some(u.to_string());
        } else if let Some(j) = line.strip_prefix("FERRY_JOB=") {
            job = Some(j.to_string());
        }
    }
    Served {
        stdin: child.stdin.take(),
        child,
        url: url.unwrap(),
        job: job.unwrap(),
        _jvm: jvm,
    }
}

/// The directories directly under `dir`.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn local(uri: &str) -> PathBuf {
    PathBuf::from(uri.trim_start_matches("file:").trim_start_matches("//"))
}

fn stdout_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn jobs_savepoints_checkpoint_and_stop_against_real_flink_then_restore() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sp = dir.path().join("sp");
    let cp = dir.path().join("cp");
    let state = dir.path().join("state");
    let served = serve(
        &flink,
        &[
            "--savepoint-dir",
            &format!("file:{}", sp.display()),
            "--checkpoint-dir",
            &format!("file:{}", cp.display()),
            // Only the checkpoint ferry asks for.
            "--checkpoint-interval",
            "3600000",
        ],
        &dir.path().join("flink"),
    );
    let url = served.url.as_str();
    let job = served.job.as_str();

    // jobs: the running job, by id, name and state.
    let out = ferry(&state)
        .args(["jobs", "--flink", url, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    if let Ok(version) = std::env::var("FERRY_TEST_FLINK_VERSION") {
        assert_eq!(report["flink_version"], version.as_str());
    }
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{report}");
    assert_eq!(jobs[0]["id"], job);
    assert_eq!(jobs[0]["name"], "ferry-job");
    assert_eq!(jobs[0]["state"], "RUNNING");
    let out = ferry(&state)
        .args(["jobs", "--flink", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(job) && text.contains("RUNNING"), "{text}");

    // savepoint by job name, into the cluster's state.savepoints.dir.
    let out = ferry(&state)
        .args(["savepoint", "--flink", url, "ferry-job"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let first = local(&stdout_line(&out));
    assert!(first.starts_with(&sp), "{first:?} not under {sp:?}");
    assert!(first.join("_metadata").is_file());
    let guidance = String::from_utf8_lossy(&out.stderr);
    assert!(guidance.contains("flink run -s"), "{guidance}");
    assert!(
        guidance.contains("execution.state-recovery.path")
            || guidance.contains("execution.savepoint.path"),
        "{guidance}"
    );
    // Nothing left pending once read.
    assert_eq!(
        std::fs::read_dir(state.join("flink-triggers"))
            .unwrap()
            .count(),
        0
    );

    // A native savepoint into a directory of our choice, as JSON.
    let native_dir = dir.path().join("native");
    let out = ferry(&state)
        .args([
            "savepoint",
            "--json",
            "--format",
            "native",
            "--flink",
            url,
            job,
        ])
        .arg(format!("file:{}", native_dir.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    assert_eq!(report["operation"], "savepoint");
    assert_eq!(report["resumed"], false);
    let native = local(report["location"].as_str().unwrap());
    assert!(native.starts_with(&native_dir) && native.join("_metadata").is_file());
    ferry(&state).arg("verify").arg(&native).assert().success();

    // A full checkpoint: id and path under the checkpoint base.
    let out = ferry(&state)
        .args(["checkpoint", "--full", "--json", "--flink", url, job])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    let id = report["checkpoint_id"].as_u64().unwrap();
    let chk = local(report["location"].as_str().unwrap());
    assert_eq!(chk, cp.join(job).join(format!("chk-{id}")));
    assert!(chk.join("_metadata").is_file());
    assert!(
        report["restore"]["command"]
            .as_str()
            .unwrap()
            .contains("--claimMode no_claim"),
        "{report}"
    );

    // A savepoint directory Flink cannot write: Flink's cause on one line, exit 1.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"a file").unwrap();
    let out = ferry(&state)
        .args(["savepoint", "-q", "--flink", url, job])
        .arg(format!("file:{}/sp", blocked.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("failed: java.nio.file.FileAlreadyExistsException") && err.contains(job),
        "{err}"
    );

    // An unknown job.
    let out = ferry(&state)
        .args([
            "savepoint",
            "--flink",
            url,
            "00000000000000000000000000000000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no job 00000000000000000000000000000000 at") && err.contains(url),
        "{err}"
    );

    // stop with a savepoint.
    let stop_dir = dir.path().join("stopped");
    let out = ferry(&state)
        .args(["stop", "--flink", url, job, "--savepoint-path"])
        .arg(format!("file:{}", stop_dir.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stopped = local(&stdout_line(&out));
    assert!(stopped.starts_with(&stop_dir) && stopped.join("_metadata").is_file());
    let out = ferry(&state)
        .args(["jobs", "--json", "--flink", url])
        .output()
        .unwrap();
    assert_eq!(json_report(&out.stdout)["jobs"][0]["state"], "FINISHED");
    // The job is no longer running.
    let out = ferry(&state)
        .args(["savepoint", "--flink", url, job])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is FINISHED, not RUNNING"), "{err}");
    drop(served);

    // Flink restores from the stop's savepoint, every count continued.
    flink.assert_restores_counts("hashmap", &stopped, dir.path(), RECORDS / KEYS);
}

#[test]
fn an_unreachable_cluster_is_one_line_naming_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = ferry(dir.path())
        .args(["jobs", "--flink", &url, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot reach Flink at {url}")),
        "{err}"
    );
    assert_eq!(json_report(&out.stdout)["ok"], false);
    // The retries of a GET are bounded (5, backoff up to 5 s).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // A header value never shows, even in a usage error.
    let out = ferry(dir.path())
        .args([
            "jobs",
            "--flink",
            &url,
            "--flink-header",
            "Authorization: Bearer s3cr3t-t0ken",
            "-v",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cr3t-t0ken"), "{all}");
    let out = ferry(dir.path())
        .args(["jobs", "--flink", "ftp://x", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_killed_savepoint_run_again_takes_no_second_savepoint() {
    let Some(flink) = flink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Each source subtask takes 4 s to snapshot: the savepoint is still running when ferry
    // is killed.
    let served = serve(
        &flink,
        &["--slow-snapshot-ms", "4000"],
        &dir.path().join("flink"),
    );
    let target = dir.path().join("sp");
    let target_uri = format!("file:{}", target.display());
    let mut child = Command::new(ferry_bin())
        .env("FERRY_STATE_DIR", &state)
        .args([
            "savepoint",
            "-q",
            "--flink",
            &served.url,
            &served.job,
            &target_uri,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pending = state.join("flink-triggers");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pending.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        assert!(Instant::now() < deadline, "no trigger was recorded");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "finished before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let out = ferry(&state)
        .args([
            "savepoint",
            "--json",
            "--flink",
            &served.url,
            &served.job,
            &target_uri,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    assert_eq!(report["resumed"], true, "{report}");
    let location = local(report["location"].as_str().unwrap());
    // Exactly one savepoint under the target: the one the first run triggered.
    assert_eq!(subdirs(&target), vec![location.clone()]);
    assert!(location.join("_metadata").is_file());
    drop(served);
    assert_eq!(subdirs(&target).len(), 1);
}

/// `migrate --flink URL --job JOB …`: a savepoint to another local directory, the newest
/// checkpoint, and a stop-with-savepoint to S3 and HDFS (each original removed); the copies
/// are brought back and Flink restores from them with every count intact.
#[test]
fn migrate_from_a_running_job_to_local_s3_and_hdfs_then_restore() {
    let Some(flink) = flink() else { return };
    let (Some(s3), Some(hdfs)) = (
        crate::flink_restore::s3_remote("flink-job-s3"),
        crate::flink_restore::hdfs_remote("flink-job-hdfs"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sp = dir.path().join("sp");
    let cp = dir.path().join("cp");
    let state = dir.path().join("state");
    let served = serve(
        &flink,
        &[
            "--savepoint-dir",
            &format!("file:{}", sp.display()),
            "--checkpoint-dir",
            &format!("file:{}", cp.display()),
            "--checkpoint-interval",
            "3600000",
        ],
        &dir.path().join("flink"),
    );
    let (url, job) = (served.url.clone(), served.job.clone());
    let run = |remote: Option<&crate::flink_restore::Remote>, args: &[&str]| {
        let mut cmd = ferry(&state);
        cmd.args(args);
        if let Some(r) = remote {
            cmd.envs(r.env.iter().map(|(k, v)| (k, v))).args(&r.options);
        }
        cmd.output().unwrap()
    };

    // Usage: with --job only DST; a mode is required; --dry-run would still take a savepoint.
    let local_dst = dir.path().join("moved/savepoint");
    let local_dst = local_dst.to_str().unwrap();
    for bad in [
        vec![
            "migrate",
            "--flink",
            &url,
            "--job",
            &job,
            "--savepoint",
            "x",
            local_dst,
        ],
        vec!["migrate", "--flink", &url, "--job", &job, local_dst],
        vec![
            "migrate", "--flink", &url, "--job", &job, "--stop", "-n", local_dst,
        ],
        vec!["migrate", "--stop", local_dst],
    ] {
        let out = run(None, &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
    }
    assert!(!Path::new(local_dst).exists());

    // A savepoint, to another local directory.
    let out = run(
        None,
        &[
            "migrate",
            "--json",
            "--flink",
            &url,
            "--job",
            "ferry-job",
            "--savepoint",
            local_dst,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["taken"]["operation"], "savepoint");
    let taken = local(report["taken"]["location"].as_str().unwrap());
    assert!(taken.starts_with(&sp), "{taken:?}");
    assert_eq!(
        report["restore"]["config"][0][1],
        format!("file:{local_dst}")
    );
    assert!(Path::new(local_dst).join("_metadata").is_file());

    // The newest checkpoint (taken on demand: the job checkpoints only when asked).
    let out = run(None, &["checkpoint", "-q", "--flink", &url, &job]);
    assert!(out.status.success(), "{out:?}");
    let chk = local(&stdout_line(&out));
    let chk_dst = dir
        .path()
        .join("moved")
        .join(&job)
        .join(chk.file_name().unwrap());
    let out = run(
        None,
        &[
            "migrate",
            "--flink",
            &url,
            "--job",
            &job,
            "--latest-checkpoint",
            chk_dst.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--claimMode no_claim") || text.contains("--restoreMode no_claim"),
        "{text}"
    );
    assert!(chk_dst.join("_metadata").is_file());

    // Stop with a savepoint, straight to S3.
    let s3_dst = format!("{}/savepoints/stopped", s3.root);
    let out = run(
        Some(&s3),
        &[
            "migrate", "--json", "--flink", &url, "--job", &job, "--stop", &s3_dst,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    assert_eq!(report["complete"], true, "{report}");
    let stopped = local(report["taken"]["location"].as_str().unwrap());
    let out = run(None, &["jobs", "--json", "--flink", &url]);
    assert_eq!(json_report(&out.stdout)["jobs"][0]["state"], "FINISHED");
    drop(served);
    // The original goes; S3 → HDFS → local, then Flink restores.
    std::fs::remove_dir_all(&stopped).unwrap();
    let hdfs_dst = format!("{}/savepoints/stopped", hdfs.root);
    let s3_source = crate::flink_restore::Remote {
        root: String::new(),
        env: s3.env.clone(),
        options: s3
            .options
            .iter()
            .map(|o| {
                if o == "-o" {
                    "--src-option".to_string()
                } else {
                    o.clone()
                }
            })
            .collect(),
    };
    let out = run(Some(&s3_source), &["migrate", "-q", &s3_dst, &hdfs_dst]);
    assert!(out.status.success(), "{out:?}");
    let back = dir.path().join("back/savepoint");
    let out = run(None, &["migrate", "-q", &hdfs_dst, back.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    flink.assert_restores_counts("hashmap", &back, dir.path(), RECORDS / KEYS);
}

/// The operator hand-off: `k8s-snapshot` and `migrate --emit k8s` print a FlinkStateSnapshot
/// for the migrated path (alreadyExists, never disposed) and the FlinkDeployment patch.
#[test]
fn the_kubernetes_hand_off_names_the_migrated_path() {
    let out = ferry(Path::new("/nonexistent-state"))
        .args([
            "k8s-snapshot",
            "--json",
            "--k8s-deployment",
            "orders",
            "--k8s-namespace",
            "flink",
            "s3://bucket/sp/savepoint-ab12-cd34",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = json_report(&out.stdout);
    let snap = &report["flink_state_snapshot"];
    assert_eq!(snap["kind"], "FlinkStateSnapshot");
    assert_eq!(snap["metadata"]["name"], "ferry-savepoint-ab12-cd34");
    assert_eq!(snap["metadata"]["namespace"], "flink");
    assert_eq!(
        snap["spec"]["savepoint"]["path"],
        "s3://bucket/sp/savepoint-ab12-cd34"
    );
    assert_eq!(snap["spec"]["savepoint"]["alreadyExists"], true);
    assert_eq!(snap["spec"]["savepoint"]["disposeOnDelete"], false);
    assert_eq!(snap["spec"]["jobReference"]["name"], "orders");
    let patch = &report["deployment_patch"]["spec"]["job"];
    assert_eq!(
        patch["initialSavepointPath"],
        "s3://bucket/sp/savepoint-ab12-cd34"
    );
    assert!(patch["savepointRedeployNonce"].as_u64().unwrap() > 0);

    let dir = tempfile::tempdir().unwrap();
    let (snapshot, _) = place_fixture("2.3.0", "rocksdb-savepoint", &dir.path().join("old"));
    let dst = dir.path().join("new/savepoint-moved");
    let out = ferry(&dir.path().join("state"))
        .args([
            "migrate",
            "-q",
            "--emit",
            "k8s",
            "--k8s-deployment",
            "orders",
        ])
        .arg(&snapshot)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.starts_with("---\n"), "{yaml}");
    assert!(yaml.contains("kind: \"FlinkStateSnapshot\""), "{yaml}");
    assert!(
        yaml.contains(&format!("path: \"file:{}\"", dst.display())),
        "{yaml}"
    );
    assert!(
        yaml.contains("kubectl patch flinkdeployment orders --type merge"),
        "{yaml}"
    );
}
