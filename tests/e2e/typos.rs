//! Typos are errors (issue 16): an option key no backend of the command's stores declares, and
//! an out-of-range transfer setting, are usage errors (exit 2) that name what was wrong — never
//! silently ignored. `ferry options` lists every backend's keys.

use predicates::prelude::*;

use crate::support::*;

/// A local source tree and a state directory for one test.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_tree(&src, &[("a.bin", bytes(1000, 1))]);
    (tmp, src)
}

#[test]
fn misspelt_shared_option_key_is_a_usage_error_suggesting_the_key() {
    let (tmp, src) = setup();
    // Checked before any store is opened: no server is needed to see the typo.
    ferry(&tmp.path().join("state"))
        .args(["cp", src.to_str().unwrap(), "s3://bucket/x/", "-o"])
        .arg("endpint=http://127.0.0.1:1")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "ferry: error: unknown option key \"endpint\"",
        ))
        .stderr(predicate::str::contains("s3"))
        .stderr(predicate::str::contains("did you mean \"endpoint\"?"));
}

#[test]
fn misspelt_per_side_option_key_names_the_flag_and_backend() {
    let (tmp, src) = setup();
    ferry(&tmp.path().join("state"))
        .args(["cp", src.to_str().unwrap(), "s3://bucket/x/"])
        .args(["--dst-option", "pathstyle=true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dst-option"))
        .stderr(predicate::str::contains("the s3 backend"))
        .stderr(predicate::str::contains("did you mean \"path_style\"?"));
    ferry(&tmp.path().join("state"))
        .args(["ls", "hdfs://nn:8020/flink/cp", "-o", "blocksize=128M"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the hdfs backend"))
        .stderr(predicate::str::contains("did you mean \"block_size\"?"));
}

#[test]
fn source_option_of_another_backend_is_rejected() {
    let (tmp, src) = setup();
    // `endpoint` is an S3 key, but the source is the local disk.
    ferry(&tmp.path().join("state"))
        .args(["cp", src.to_str().unwrap(), "s3://bucket/x/"])
        .args(["--src-option", "endpoint=http://127.0.0.1:1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "\"endpoint\" (--src-option) for the local backend",
        ));
}

#[test]
fn valid_keys_of_either_side_are_accepted() {
    let (tmp, src) = setup();
    let dst = tmp.path().join("dst");
    ferry(&tmp.path().join("state"))
        .args(["cp", src.to_str().unwrap(), dst.to_str().unwrap()])
        .args(["-o", "direct_io=false"])
        .assert()
        .success();
    assert_same_tree(&src, &dst);
}

#[test]
fn ferry_options_lists_every_backend_key_with_meaning_and_default() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [&["options"][..], &["help", "options"][..]] {
        let out = ferry(tmp.path()).args(args).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        for needle in [
            "local (file://)",
            "s3 (s3://, s3a://, s3n://, s3p://)",
            "hdfs (hdfs://, viewfs://)",
            "gcs (gs://)",
            "azure (wasb://, wasbs://, abfs://, abfss://)",
            "connection_string",
            "direct_io",
            "path_style",
            "connect_timeout",
            "read_timeout",
            "copy_timeout",
            "block_size",
            "credential_path",
            "[default: 600]",
        ] {
            assert!(text.contains(needle), "{args:?} lacks {needle:?}:\n{text}");
        }
    }
}

#[test]
fn out_of_range_transfer_settings_are_usage_errors_naming_flag_and_range() {
    let (tmp, src) = setup();
    let dst = tmp.path().join("dst");
    let cases: &[(&[&str], &str)] = &[
        (&["-j", "0"], "--concurrency must be from 1 to 4096"),
        (&["-j", "5000"], "--concurrency must be from 1 to 4096"),
        (&["--part-size", "8k"], "--part-size must be from 64K to 5G"),
        (&["--part-size", "6G"], "--part-size must be from 64K to 5G"),
        (
            &["--part-size", "16M", "--buffer-memory", "8M"],
            "--buffer-memory must be at least one part (--part-size, 16.00 MiB)",
        ),
        (&["--retries", "101"], "--retries must be from 0 to 100"),
    ];
    for (args, message) in cases {
        ferry(&tmp.path().join("state"))
            .args(["cp", src.to_str().unwrap(), dst.to_str().unwrap()])
            .args(*args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("ferry: error: {message}")));
        assert!(!dst.exists(), "{args:?} wrote something");
    }
}

#[test]
fn flink_conf_s3_keys_that_are_not_understood_are_warned_about_one_line_each() {
    let (tmp, src) = setup();
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("config.yaml"),
        "s3.path-stlye-access: true\nfs.s3.endpoint: http://h:1\ns3.path-style-access: true\n\
         s3.entropy.key: _e_\nstate.backend.type: rocksdb\n",
    )
    .unwrap();
    let out = ferry(&tmp.path().join("state"))
        .args(["ls", "--flink-conf"])
        .arg(&conf)
        .arg(&src)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ferry: warning: --flink-conf"))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("fs.s3.endpoint looks like an S3 setting"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("s3.path-stlye-access looks like an S3 setting"),
        "{stderr}"
    );
}

#[test]
fn flink_conf_with_presto_spellings_reaches_the_s3_server() {
    let get = ferry_conformance::server_env;
    let (Some(endpoint), Some(access), Some(secret), Some(bucket)) = (
        get("FERRY_TEST_S3_ENDPOINT"),
        get("FERRY_TEST_S3_ACCESS_KEY"),
        get("FERRY_TEST_S3_SECRET_KEY"),
        get("FERRY_TEST_S3_BUCKET"),
    ) else {
        return;
    };
    let (tmp, src) = setup();
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    // Only the Presto plugin's spellings: today's ferry read none of them.
    std::fs::write(
        conf.join("flink-conf.yaml"),
        format!(
            "presto.s3.endpoint: {endpoint}\npresto.s3.path-style-access: true\n\
             presto.s3.access-key: {access}\npresto.s3.secret-key: {secret}\n"
        ),
    )
    .unwrap();
    let dst = format!(
        "s3p://{bucket}/{}/",
        ferry_conformance::unique_prefix("flink-presto")
    );
    let out = ferry(&tmp.path().join("state"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .args(["cp", "--json", "--flink-conf"])
        .arg(&conf)
        .arg(&src)
        .arg(&dst)
        .assert()
        .success();
    let report = json_report(&out.get_output().stdout);
    assert_eq!(report["files_copied"], 1, "{report}");
}
