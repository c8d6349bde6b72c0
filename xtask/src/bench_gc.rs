//! `cargo xtask bench gc [--files N] [--checkpoints N] [--refs N] [--s3-files N] [--debug]`: plan time,
//! files/s and peak RSS of `ferry gc` (a dry run: every file listed and decided, every kept
//! `_metadata` read) on a synthetic checkpoint base — N shared files (default 10⁶) and 20
//! retained incremental checkpoints of 10⁵ references each, overlapping like retained
//! incremental checkpoints do — on local disk, and (with the test servers' S3 environment
//! set) on S3 with `--s3-files` shared objects (default 10⁵; uploading 10⁶ objects to the
//! test server takes long). Reports the memory bound per referenced file.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use ferry_metadata::{
    IncrementalHandle, IncrementalKind, JavaString, KeyGroupRange, KeyedHandle, Metadata,
    NamedStreamHandle, OperatorId, OperatorState, StreamHandle, SubtaskEntry, SubtaskState,
    SubtaskStates,
};

use crate::util;

fn flag(args: &[&str], name: &str, default: usize) -> Result<usize> {
    match args.windows(2).find(|w| w[0] == name) {
        Some(w) => w[1]
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

fn js(s: &str) -> Result<JavaString> {
    JavaString::new(s).map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// A checkpoint `_metadata` referencing `files` as shared state of one keyed handle.
fn metadata(id: i64, files: impl Iterator<Item = String>) -> Result<Vec<u8>> {
    let shared = files
        .enumerate()
        .map(|(i, path)| {
            Ok(NamedStreamHandle {
                local_name: js(&format!("{i:07}.sst"))?,
                handle: Some(StreamHandle::File(ferry_metadata::FileHandle {
                    state_size: 1,
                    path: js(&path)?,
                })),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let keyed = KeyedHandle::Incremental(IncrementalHandle {
        kind: IncrementalKind::V2,
        checkpoint_id: id,
        backend_identifier: js("00000000-0000-0000-0000-000000000001")?,
        range: KeyGroupRange {
            start: 0,
            count: 128,
        },
        checkpointed_size: Some(1),
        meta_state: None,
        shared_state: shared,
        private_state: vec![],
        state_handle_id: Some(js("handle")?),
    });
    Metadata {
        version: 6,
        checkpoint_id: id,
        master_states: vec![],
        operators: vec![OperatorState {
            name: Some(js("Op")?),
            uid: Some(js("op")?),
            id: OperatorId([7; 16]),
            parallelism: 1,
            max_parallelism: 128,
            chain_length: None,
            coordinator_state: None,
            subtasks: SubtaskStates::Entries(vec![SubtaskEntry {
                raw_index: 0,
                state: Some(SubtaskState {
                    managed_keyed_state: Some(Box::new(keyed)),
                    ..SubtaskState::default()
                }),
            }]),
        }],
        layout: Default::default(),
        trailer: ferry_metadata::NULL_PROPERTIES_TRAILER.to_vec(),
    }
    .to_bytes()
    .map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// Writes the base under `dir`: `job/shared/f<i>` (empty files) and `job/chk-<k>/_metadata`
/// naming the shared files as `<named>/job/shared/f<i>`. Checkpoint k references files
/// [k·step, k·step + refs), so neighbours share most of their files and the tail of the pool is
/// referenced by none (orphans). Returns the distinct referenced files.
fn generate(dir: &Path, named: &str, files: usize, chks: usize, refs: usize) -> Result<usize> {
    let shared = dir.join("job/shared");
    std::fs::create_dir_all(&shared)?;
    for i in 0..files {
        std::fs::File::create(shared.join(format!("f{i}")))?;
    }
    let step = files.saturating_sub(refs) / chks.max(1);
    for k in 0..chks {
        let chk = dir.join(format!("job/chk-{}", k + 1));
        std::fs::create_dir_all(&chk)?;
        let start = k * step;
        let end = (start + refs).min(files);
        let bytes = metadata(
            k as i64 + 1,
            (start..end).map(|i| format!("{named}/job/shared/f{i}")),
        )?;
        std::fs::write(chk.join("_metadata"), bytes)?;
    }
    Ok(((chks - 1) * step + refs).min(files))
}

/// Runs `ferry gc` as a dry run, timed; prints and returns (seconds, peak RSS KiB).
fn measure(leg: &str, mut command: Command, listed: usize, referenced: usize) -> Result<()> {
    let (seconds, kib) = crate::bench::timed(&mut command)?;
    let rss = kib as f64 / 1024.0;
    println!(
        "{leg}: plan {seconds:.2} s, {:.0} files/s, peak RSS {rss:.1} MiB, {referenced} referenced \
         files: {:.1} B per referenced file (whole process)",
        listed as f64 / seconds,
        kib as f64 * 1024.0 / referenced as f64
    );
    println!(
        "{{\"leg\":\"{leg}\",\"files\":{listed},\"referenced\":{referenced},\"seconds\":{seconds:.3},\
         \"files_per_second\":{:.0},\"peak_rss_mib\":{rss:.1}}}",
        listed as f64 / seconds
    );
    Ok(())
}

/// Runs the benchmark.
pub fn run(args: &[&str]) -> Result<()> {
    let files = flag(args, "--files", 1_000_000)?;
    let chks = flag(args, "--checkpoints", 20)?;
    let refs = flag(args, "--refs", 100_000)?;
    let s3_files = flag(args, "--s3-files", 100_000)?;
    // --debug: the dev build (for a quick look; numbers worth quoting come from release).
    let ferry = if args.contains(&"--debug") {
        util::cargo(&["build", "-p", "ferry-cli"])?;
        util::root().join("target/debug/ferry")
    } else {
        util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
        util::root().join("target/release/ferry")
    };
    let scratch = util::cache_dir().join("bench-gc");
    let _ = std::fs::remove_dir_all(&scratch);
    let local = scratch.join("local");
    std::fs::create_dir_all(&local)?;
    let local = local.canonicalize()?;
    eprintln!("bench gc: generating {files} shared files and {chks} checkpoints on local disk");
    let referenced = generate(
        &local,
        &format!("file:{}", local.display()),
        files,
        chks,
        refs,
    )?;
    let mut gc = Command::new(&ferry);
    gc.arg("gc")
        .arg(&local)
        .args(["--keep-latest", &(chks / 2).max(1).to_string(), "--json"])
        .stdout(std::process::Stdio::null());
    measure("local", gc, files + chks, referenced)?;
    std::fs::remove_dir_all(&local)?;

    let Ok(endpoint) = std::env::var("FERRY_TEST_S3_ENDPOINT") else {
        eprintln!(
            "bench gc: S3 leg not run: set the test servers' environment (cargo xtask servers)"
        );
        return Ok(());
    };
    let bucket = std::env::var("FERRY_TEST_S3_BUCKET").context("FERRY_TEST_S3_BUCKET")?;
    let prefix = format!("bench-gc-{}", std::process::id());
    let named = format!("s3://{bucket}/{prefix}");
    let staged = scratch.join("s3");
    let s3_refs = refs.min(s3_files / 2).max(1);
    eprintln!("bench gc: generating {s3_files} shared objects and {chks} checkpoints on S3");
    let referenced = generate(&staged, &named, s3_files, chks, s3_refs)?;
    let endpoint_option = format!("endpoint={endpoint}");
    let s3 = |command: &mut Command| {
        for (k, v) in [
            ("FERRY_TEST_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
            ("FERRY_TEST_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
        ] {
            if let Ok(value) = std::env::var(k) {
                command.env(v, value);
            }
        }
        command
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["-o", &endpoint_option]);
    };
    let mut upload = Command::new(&ferry);
    upload
        .arg("cp")
        .arg(&staged)
        .arg(&named)
        .args(["-j", "64", "--no-resume", "-q"]);
    s3(&mut upload);
    util::run(&mut upload)?;
    let mut gc = Command::new(&ferry);
    gc.arg("gc")
        .arg(&named)
        .args(["--keep-latest", &(chks / 2).max(1).to_string(), "--json"])
        .stdout(std::process::Stdio::null());
    s3(&mut gc);
    let outcome = measure("s3", gc, s3_files + chks, referenced);
    let mut clean = Command::new(&ferry);
    clean
        .arg("gc")
        .arg(&named)
        .args(["--keep-latest", "1", "--grace", "0s", "--delete", "-q"])
        .stdout(std::process::Stdio::null());
    s3(&mut clean);
    let _ = util::run(&mut clean);
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}
