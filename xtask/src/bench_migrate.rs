//! `cargo xtask bench migrate [--runs N]`: `ferry migrate` of a ~1 GiB checkpoint-shaped
//! snapshot against what users do today — copy the job's files with the best tool, then patch
//! `_metadata` in a separate step (`ferry rewrite` stands in for the one-off jar).
//!
//! The snapshot is a retained incremental RocksDB checkpoint of a 4-subtask job: `chk-42/`
//! holds the exclusive files (2 × 256 MiB of state, 4 small meta files) referenced relatively,
//! `shared/` holds 4 × 64 MiB and 2000 × 128 KiB SST files referenced by absolute path, as
//! Flink writes them. Its `_metadata` is built with `ferry-metadata`. Results go to
//! `target/bench/migrate.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ferry_metadata::{
    FileHandle, IncrementalHandle, IncrementalKind, JavaString, KeyGroupRange, KeyedHandle,
    Metadata, NamedStreamHandle, OperatorId, OperatorState, RelativeFileHandle, StreamHandle,
    SubtaskEntry, SubtaskState, SubtaskStates,
};

use crate::{treegen, util};

const MIB: usize = 1024 * 1024;
const JOB: &str = "7f3a0c1d2e4b5a69788796a5b4c3d2e1";
const SUBTASKS: usize = 4;

/// Runs the benchmark.
pub fn run(args: &[&str]) -> Result<()> {
    let runs = args
        .windows(2)
        .find(|w| w[0] == "--runs")
        .map(|w| w[1].parse())
        .transpose()
        .context("--runs takes a number")?
        .unwrap_or(3usize);
    util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
    let ferry = util::root().join("target/release/ferry");
    let base = util::cache_dir().join("bench");
    let source = base.join("migrate-src");
    let total = generate(&source)?;
    let snapshot = source.join(format!("cp/{JOB}/chk-42"));
    let scratch = base.join("migrate-scratch");
    let (mut ours, mut theirs, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        // Today: copy the job directory (chk-42 and shared/), then rewrite _metadata.
        let peer_dst = scratch.join("peer");
        std::fs::create_dir_all(&peer_dst)?;
        let start = Instant::now();
        util::run(
            Command::new("cp")
                .arg("-r")
                .arg(source.join(format!("cp/{JOB}")))
                .arg(&peer_dst),
        )?;
        let metadata = peer_dst.join(format!("{JOB}/chk-42/_metadata"));
        util::run(
            Command::new(&ferry)
                .args(["rewrite", "-q", "--in-place", "--map"])
                .arg(format!(
                    "file:{}=file:{}",
                    source.join("cp").display(),
                    peer_dst.display()
                ))
                .arg(&metadata),
        )?;
        theirs.push(start.elapsed().as_secs_f64());
        // ferry migrate: copy the closure, rewrite, write _metadata last, read back, verify.
        let dst = scratch.join(format!("ferry/{JOB}/chk-42"));
        let (seconds, kib) = crate::bench::timed(
            Command::new(&ferry)
                .env("FERRY_STATE_DIR", scratch.join("state"))
                .args(["migrate", "-q"])
                .arg(&snapshot)
                .arg(&dst),
        )?;
        ours.push(seconds);
        rss.push(kib);
        if run == 0 {
            util::run(Command::new(&ferry).args(["verify", "-q"]).arg(&dst))?;
        }
        eprintln!(
            "run {}: cp -r + rewrite {:.2}s, ferry migrate {seconds:.2}s ({} MiB RSS)",
            run + 1,
            theirs[run],
            kib / 1024
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let (fe, peer) = (median(&mut ours), median(&mut theirs));
    let mb = total as f64 / 1e6;
    let rss_mib = rss.iter().max().copied().unwrap_or(0) / 1024;
    println!("migrate local→local, {mb:.0} MB checkpoint, median of {runs}:");
    println!(
        "  cp -r + ferry rewrite   {peer:.2}s  {:.0} MB/s",
        mb / peer
    );
    println!("  ferry migrate           {fe:.2}s  {:.0} MB/s", mb / fe);
    println!(
        "  ratio (ferry speed / today's speed): {:.2}   peak RSS: {rss_mib} MiB",
        peer / fe
    );
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("migrate.json"),
        format!(
            "{{\"bench\":\"migrate\",\"leg\":\"local\",\"bytes\":{total},\"ferry_seconds\":{fe:.3},\"peer_seconds\":{peer:.3},\"ratio\":{:.3},\"ferry_peak_rss_mib\":{rss_mib}}}\n",
            peer / fe
        ),
    )?;
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The snapshot's files: (relative path under `root`, size).
fn files() -> Vec<(String, usize)> {
    let mut files = Vec::new();
    for i in 0..2 {
        files.push((format!("cp/{JOB}/chk-42/state-{i}"), 256 * MIB));
    }
    for i in 0..SUBTASKS {
        files.push((format!("cp/{JOB}/chk-42/meta-{i}"), 16 * 1024));
        files.push((format!("cp/{JOB}/shared/big-{i}.sst"), 64 * MIB));
    }
    for i in 0..2000 {
        files.push((format!("cp/{JOB}/shared/{i:04}.sst"), 128 * 1024));
    }
    files
}

/// Writes the snapshot (once; cached) and its `_metadata`; returns its bytes.
fn generate(root: &Path) -> Result<u64> {
    let files = files();
    let total = treegen::ensure_files(root, &files)?;
    let shared_uri = |name: &str| format!("file:{}/cp/{JOB}/shared/{name}", root.display());
    let js = |s: &str| JavaString::new(s).map_err(|e| anyhow::anyhow!("{e}"));
    let mut entries = Vec::new();
    for subtask in 0..SUBTASKS {
        let mut shared = vec![NamedStreamHandle {
            local_name: js(&format!("{:06}.sst", 9000 + subtask))?,
            handle: Some(StreamHandle::File(FileHandle {
                state_size: (64 * MIB) as i64,
                path: js(&shared_uri(&format!("big-{subtask}.sst")))?,
            })),
        }];
        for i in (subtask..2000).step_by(SUBTASKS) {
            shared.push(NamedStreamHandle {
                local_name: js(&format!("{i:06}.sst"))?,
                handle: Some(StreamHandle::File(FileHandle {
                    state_size: 128 * 1024,
                    path: js(&shared_uri(&format!("{i:04}.sst")))?,
                })),
            });
        }
        let private = if subtask < 2 {
            vec![NamedStreamHandle {
                local_name: js("OPTIONS-000001")?,
                handle: Some(StreamHandle::RelativeFile(RelativeFileHandle {
                    relative_path: js(&format!("state-{subtask}"))?,
                    state_size: (256 * MIB) as i64,
                })),
            }]
        } else {
            Vec::new()
        };
        let keyed = KeyedHandle::Incremental(IncrementalHandle {
            kind: IncrementalKind::V2,
            checkpoint_id: 42,
            backend_identifier: js(&format!("00000000-0000-0000-0000-00000000000{subtask}"))?,
            range: KeyGroupRange {
                start: (subtask * 32) as i32,
                count: 32,
            },
            checkpointed_size: Some(0),
            meta_state: Some(StreamHandle::RelativeFile(RelativeFileHandle {
                relative_path: js(&format!("meta-{subtask}"))?,
                state_size: 16 * 1024,
            })),
            shared_state: shared,
            private_state: private,
            state_handle_id: Some(js(&format!("handle-{subtask}"))?),
        });
        entries.push(SubtaskEntry {
            raw_index: subtask as i32,
            state: Some(SubtaskState {
                managed_keyed_state: Some(keyed),
                ..SubtaskState::default()
            }),
        });
    }
    let metadata = Metadata {
        version: 6,
        checkpoint_id: 42,
        master_states: Vec::new(),
        operators: vec![OperatorState {
            name: Some(js("Counter")?),
            uid: Some(js("counter")?),
            id: OperatorId([0x42; 16]),
            parallelism: SUBTASKS as i32,
            max_parallelism: 128,
            chain_length: None,
            coordinator_state: None,
            subtasks: SubtaskStates::Entries(entries),
        }],
        layout: Default::default(),
        trailer: ferry_metadata::NULL_PROPERTIES_TRAILER.to_vec(),
    };
    let bytes = metadata.to_bytes().map_err(|e| anyhow::anyhow!("{e}"))?;
    let path: PathBuf = root.join(format!("cp/{JOB}/chk-42/_metadata"));
    std::fs::write(&path, bytes)?;
    if !path.exists() {
        bail!("cannot write {}", path.display());
    }
    Ok(total)
}
