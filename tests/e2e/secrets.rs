//! No secret in any output at any verbosity: `cp -vvvv` against S3 (a session token given via
//! `AWS_SESSION_TOKEN` and via `-o session_token=`), GCS (a bearer token), HDFS and local disk,
//! with stdout, stderr and the `--log-file` captured. Each run must really have traced its
//! requests (the test would pass vacuously on an empty log), and no secret it was given — nor
//! its percent-encoded form — may appear anywhere. Also the error path: a wrong secret gives one
//! error line that does not show it.

use std::path::Path;

use crate::support::*;

/// Tokens shaped like real STS session tokens: base64 with `/`, `+` and `=`, so their
/// percent-encoded forms differ.
const ENV_TOKEN: &str = "IQoJb3JpZ2luX2VjEFERRYENV/session+token/AbCdEf==";
const OPTION_TOKEN: &str = "IQoJb3JpZ2luX2VjEFERRYOPT/session+token/GhIjKl==";

/// What one run printed.
struct Outputs {
    stdout: String,
    stderr: String,
    log: String,
}

impl Outputs {
    fn all(&self) -> String {
        format!("{}\n{}\n{}", self.stdout, self.stderr, self.log)
    }
}

fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `cmd`, with `--log-file` when `log` is given, and returns what it printed.
fn run(mut cmd: assert_cmd::Command, log: Option<&Path>, success: bool) -> Outputs {
    if let Some(log) = log {
        cmd.arg("--log-file").arg(log);
    }
    let output = cmd.output().unwrap();
    let outputs = Outputs {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        log: log
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .unwrap_or_default(),
    };
    assert_eq!(
        output.status.success(),
        success,
        "exit {:?}\nstderr tail: {}",
        output.status,
        tail(&outputs.stderr)
    );
    outputs
}

fn tail(text: &str) -> &str {
    &text[text.len().saturating_sub(3000)..]
}

/// The trace is really there (a `-vvvv` run of a backend logs its requests: at least
/// `min_len` bytes, naming the server) and none of `secrets` is anywhere in any output.
fn assert_traced_and_clean(
    outputs: &Outputs,
    traced_in_log: bool,
    min_len: usize,
    marker: &str,
    secrets: &[&str],
) {
    let trace = if traced_in_log {
        &outputs.log
    } else {
        &outputs.stderr
    };
    assert!(
        trace.len() >= min_len,
        "expected a long trace, got {} bytes",
        trace.len()
    );
    assert!(
        trace.contains(marker),
        "the trace names no {marker:?}: {}",
        tail(trace)
    );
    let all = outputs.all();
    for secret in secrets {
        for form in [secret.to_string(), percent_encoded(secret)] {
            if let Some(at) = all.find(&form) {
                let from = at.saturating_sub(200);
                panic!(
                    "secret {form:?} printed: …{}…",
                    &all[from..(at + form.len() + 100).min(all.len())]
                );
            }
        }
    }
}

fn s3_env() -> Option<(String, String, String, String)> {
    let get = ferry_conformance::server_env;
    Some((
        get("FERRY_TEST_S3_ENDPOINT")?,
        get("FERRY_TEST_S3_ACCESS_KEY")?,
        get("FERRY_TEST_S3_SECRET_KEY")?,
        get("FERRY_TEST_S3_BUCKET")?,
    ))
}

/// `ferry -vvvv` with an isolated AWS environment.
fn s3_ferry(state: &Path) -> assert_cmd::Command {
    let mut cmd = ferry(state);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "FERRY_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CA_BUNDLE", "/nonexistent/ferry-test-ca.pem")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_REGION", "us-east-1");
    cmd
}

fn small_tree(root: &Path) {
    write_tree(
        root,
        &[
            ("a.bin", bytes(300_000, 1)),
            ("sub/b.bin", bytes(2_500_000, 2)),
            ("sub/c.txt", b"hello".to_vec()),
        ],
    );
}

#[test]
fn s3_session_tokens_and_keys_never_printed_at_vvvv() {
    let Some((endpoint, access, secret, bucket)) = s3_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    small_tree(&src);
    let prefix = ferry_conformance::unique_prefix("secrets");
    let up = format!("s3://{bucket}/{prefix}/up");
    let endpoint_option = format!("endpoint={endpoint}");

    // Keys from the environment, the trace on standard error: an upload in multipart parts
    // (--part-size 1M), so every kind of signed request is traced.
    let mut cmd = s3_ferry(&dir.path().join("state1"));
    cmd.env("AWS_ACCESS_KEY_ID", &access)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .args(["cp", "-vvvv", "--part-size", "1M", "-o", &endpoint_option])
        .arg(&src)
        .arg(&up);
    let outputs = run(cmd, None, true);
    assert_traced_and_clean(&outputs, false, 50_000, &endpoint, &[&secret]);
    assert!(
        outputs.stderr.contains("authorization"),
        "no signed request traced"
    );

    // Keys as options, the trace in the log file, --json on stdout: a download.
    let back = dir.path().join("back");
    let log = dir.path().join("run2.log");
    let mut cmd = s3_ferry(&dir.path().join("state2"));
    cmd.args([
        "cp",
        "-vvvv",
        "--json",
        "--part-size",
        "1M",
        "-o",
        &endpoint_option,
    ])
    .args(["-o", &format!("access_key_id={access}")])
    .args(["--src-option", &format!("secret_access_key={secret}")])
    .arg(&up)
    .arg(&back);
    let outputs = run(cmd, Some(&log), true);
    assert_traced_and_clean(&outputs, true, 20_000, &endpoint, &[&secret]);
    assert!(outputs.log.contains("[redacted]"), "nothing was redacted");
    assert_same_tree(&src, &back);

    // A session token from AWS_SESSION_TOKEN. SeaweedFS knows no session tokens and refuses
    // the request, but only after ferry signed it with the token and traced it: the trace
    // holds the request, with the token redacted.
    let mut cmd = s3_ferry(&dir.path().join("state3"));
    cmd.env("AWS_ACCESS_KEY_ID", &access)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env("AWS_SESSION_TOKEN", ENV_TOKEN)
        .args(["cp", "-vvvv", "--retries", "0", "-o", &endpoint_option])
        .arg(&src)
        .arg(format!("{up}-env-token"));
    let outputs = run(cmd, None, false);
    assert_traced_and_clean(
        &outputs,
        false,
        5_000,
        "x-amz-security-token",
        &[&secret, ENV_TOKEN],
    );
    assert!(
        outputs.stderr.contains("[redacted]"),
        "the token was not traced"
    );

    // A session token as an option (another in the environment), the trace in the log file.
    let log = dir.path().join("run4.log");
    let mut cmd = s3_ferry(&dir.path().join("state4"));
    cmd.env("AWS_SESSION_TOKEN", ENV_TOKEN)
        .args(["cp", "-vvvv", "--retries", "0", "-o", &endpoint_option])
        .args(["-o", &format!("access_key_id={access}")])
        .args(["-o", &format!("secret_access_key={secret}")])
        .args(["--dst-option", &format!("session_token={OPTION_TOKEN}")])
        .arg(&src)
        .arg(format!("{up}-option-token"));
    let outputs = run(cmd, Some(&log), false);
    assert_traced_and_clean(
        &outputs,
        true,
        5_000,
        "x-amz-security-token",
        &[&secret, ENV_TOKEN, OPTION_TOKEN],
    );
    assert!(
        outputs.log.contains("[redacted]"),
        "the token was not traced"
    );

    // A wrong secret: one error line, without the secret.
    let wrong = "WRONGsecretKEY/does+not=match0123456789";
    let mut cmd = s3_ferry(&dir.path().join("state5"));
    cmd.args(["cp", "-vvvv", "--retries", "0", "-o", &endpoint_option])
        .args(["-o", &format!("access_key_id={access}")])
        .args(["-o", &format!("secret_access_key={wrong}")])
        .arg(&src)
        .arg(format!("{up}-wrong"));
    let outputs = run(cmd, None, false);
    let error_line = outputs
        .stderr
        .lines()
        .find(|l| l.starts_with("ferry: error: "))
        .unwrap_or_else(|| panic!("no error line: {}", tail(&outputs.stderr)));
    assert!(!error_line.contains(wrong), "{error_line}");
    assert_traced_and_clean(&outputs, false, 5_000, &endpoint, &[wrong, &secret]);
}

#[test]
fn gcs_token_never_printed_at_vvvv() {
    let get = ferry_conformance::server_env;
    let (Some(endpoint), Some(bucket)) =
        (get("FERRY_TEST_GCS_ENDPOINT"), get("FERRY_TEST_GCS_BUCKET"))
    else {
        return;
    };
    let token = "ya29.a0FERRYgcs-access_token.AbCdEfGhIjKlMnOp";
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    small_tree(&src);
    let prefix = ferry_conformance::unique_prefix("secrets");
    let log = dir.path().join("gcs.log");
    let mut cmd = ferry(&dir.path().join("state"));
    cmd.env_remove("FERRY_LOG")
        .env("HOME", dir.path())
        .args(["cp", "-vvvv", "--part-size", "1M"])
        .args(["-o", &format!("endpoint={endpoint}")])
        .args(["-o", &format!("token={token}")])
        .arg(&src)
        .arg(format!("gs://{bucket}/{prefix}/up"));
    let outputs = run(cmd, Some(&log), true);
    assert_traced_and_clean(&outputs, true, 4_000, "127.0.0.1", &[token]);
    // The wrong-token error path: the emulator accepts any token, so a token on a closed
    // port gives the error line instead.
    let mut cmd = ferry(&dir.path().join("state2"));
    cmd.env_remove("FERRY_LOG")
        .env("HOME", dir.path())
        .args(["cp", "-vvvv", "--retries", "0"])
        .args([
            "-o",
            "endpoint=http://127.0.0.1:9",
            "-o",
            "response_timeout=2",
        ])
        .args(["-o", &format!("token={token}")])
        .arg(&src)
        .arg(format!("gs://{bucket}/{prefix}/closed"));
    let outputs = run(cmd, None, false);
    assert!(
        outputs.stderr.contains("ferry: error: "),
        "{}",
        tail(&outputs.stderr)
    );
    assert!(!outputs.all().contains(token));
}

#[test]
fn hdfs_and_local_runs_print_no_secret_at_vvvv() {
    let Some(url) = ferry_conformance::server_env("FERRY_TEST_HDFS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    small_tree(&src);
    let root = format!("{url}/{}", ferry_conformance::unique_prefix("secrets"));
    // Credentials of other stores in the environment: HDFS ignores them, and no output may
    // show them anyway.
    let aws_secret = "AwsSecretKEY/in+the=environment0123";
    let log = dir.path().join("hdfs.log");
    let mut cmd = ferry(&dir.path().join("state"));
    cmd.env_remove("FERRY_LOG")
        .env("AWS_SECRET_ACCESS_KEY", aws_secret)
        .args(["cp", "-vvvv", "--part-size", "1M"])
        .arg(&src)
        .arg(format!("{root}/up"));
    // hdfs-native logs through the `log` crate, which ferry does not collect: the output is
    // ferry's own (the per-file lines and the summary).
    let outputs = run(cmd, Some(&log), true);
    assert_traced_and_clean(&outputs, false, 100, "copy: ", &[aws_secret]);

    // A secret given under a key no store takes (`sas_token` is Azure's since ferry-azure) is a
    // usage error that names the key, never its value.
    let option_secret = "SasToken-sv=2022&sig=FERRYsig0123456789";
    let mut cmd = ferry(&dir.path().join("state"));
    cmd.env_remove("FERRY_LOG")
        .args(["cp", "-vvvv"])
        .args(["-o", &format!("api_token={option_secret}")])
        .arg(&src)
        .arg(format!("{root}/refused"));
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("api_token"), "{printed}");
    assert!(!printed.contains(option_secret), "{printed}");

    let back = dir.path().join("back");
    let mut cmd = ferry(&dir.path().join("state2"));
    cmd.env_remove("FERRY_LOG")
        .env("AWS_SECRET_ACCESS_KEY", aws_secret)
        .args(["cp", "-vvvv"])
        .arg(format!("{root}/up"))
        .arg(&back);
    let outputs = run(cmd, None, true);
    assert_traced_and_clean(&outputs, false, 100, "copy: ", &[aws_secret]);
    assert_same_tree(&src, &back);

    // Local to local: the trace is ferry's own.
    let local = dir.path().join("local");
    let log = dir.path().join("local.log");
    let mut cmd = ferry(&dir.path().join("state3"));
    cmd.env_remove("FERRY_LOG")
        .env("AWS_SESSION_TOKEN", ENV_TOKEN)
        .env("AWS_SECRET_ACCESS_KEY", aws_secret)
        .args(["cp", "-vvvv", "--json"])
        .arg(&src)
        .arg(&local);
    let outputs = run(cmd, Some(&log), true);
    assert!(!outputs.log.is_empty());
    let all = outputs.all();
    for secret in [aws_secret, ENV_TOKEN] {
        assert!(!all.contains(secret), "{secret} printed");
    }
    assert_same_tree(&src, &local);
}
