//! `cargo xtask bench migrate [--runs N] [--legs local,s3,hdfs-s3]`: `ferry migrate` of a
//! ~1 GiB checkpoint-shaped snapshot against what users do today — copy the job's files with
//! the best tool, then patch `_metadata` in a separate step (`ferry rewrite` stands in for the
//! one-off jar, and runs where the copy landed).
//!
//! Legs, each in the same run against the same servers:
//! - `local`: local→local, against `cp -r` + rewrite;
//! - `s3`: local→S3 (SeaweedFS on 127.0.0.1), against s5cmd and rclone, each + rewrite on S3;
//! - `hdfs-s3`: HDFS→S3 (a one-DataNode HDFS on 127.0.0.1), against rclone's hdfs→s3 copy
//!   + rewrite on S3. (`hadoop distcp` needs `hadoop-aws`, which the test cluster's jars lack.)
//!
//! The snapshot is a retained incremental RocksDB checkpoint of a 4-subtask job: `chk-42/`
//! holds the exclusive files (2 × 256 MiB of state, 4 small meta files) referenced relatively,
//! `shared/` holds 4 × 64 MiB and 2000 × 128 KiB SST files referenced by absolute path, as
//! Flink writes them. Its `_metadata` is built with `ferry-metadata`; the HDFS copy's is
//! rewritten to name HDFS. Every run's result, ferry's and the peers', is checked with
//! `ferry verify` once. Results go to `target/bench/migrate.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use ferry_metadata::{
    FileHandle, IncrementalHandle, IncrementalKind, JavaString, KeyGroupRange, KeyedHandle,
    Metadata, NamedStreamHandle, OperatorId, OperatorState, RelativeFileHandle, StreamHandle,
    SubtaskEntry, SubtaskState, SubtaskStates,
};

use crate::bench::{median, timed};
use crate::bench_s3::{cleanup, env_of, install_peers, RCLONE_FLAGS};
use crate::servers::{self, Paths};
use crate::{treegen, util};

const MIB: usize = 1024 * 1024;
const JOB: &str = "7f3a0c1d2e4b5a69788796a5b4c3d2e1";
const SUBTASKS: usize = 4;

fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1])
}

/// One way to do the migration: the commands it runs, in order, for run number `run`.
struct Way {
    name: &'static str,
    /// Is this ferry migrate (its peak RSS is reported)?
    ferry: bool,
    commands: Box<dyn Fn(usize) -> Vec<Command>>,
    /// Where run `run` put the snapshot (checked with `ferry verify` after the first run).
    result: Box<dyn Fn(usize) -> String>,
    /// What to delete after each run (S3 prefixes, or a local directory).
    cleanup: Box<dyn Fn(usize)>,
}

/// One leg's outcome: seconds per way per run, and ferry's peak RSS.
struct LegResult {
    leg: &'static str,
    times: BTreeMap<&'static str, Vec<f64>>,
    ferry_rss_kib: u64,
}

/// Runs the benchmark.
pub fn run(args: &[&str]) -> Result<()> {
    let runs: usize = flag(args, "--runs").map_or(Ok(3), str::parse)?;
    let legs: Vec<&str> = flag(args, "--legs")
        .unwrap_or("local,s3,hdfs-s3")
        .split(',')
        .collect();
    if let Some(bad) = legs
        .iter()
        .find(|l| !["local", "s3", "hdfs-s3"].contains(l))
    {
        bail!("unknown leg {bad}: use local, s3, hdfs-s3");
    }
    util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
    let ferry = util::root().join("target/release/ferry");
    let base = util::cache_dir().join("bench");
    let source = base.join("migrate-src");
    let total = generate(&source)?;
    let scratch = base.join("migrate-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let state = scratch.join("state");
    let ferry_cmd = |args: &[&str]| {
        let mut c = Command::new(&ferry);
        c.env("FERRY_STATE_DIR", &state).args(args);
        c
    };
    let mut results = Vec::new();

    if legs.contains(&"local") {
        let (src, dst_root) = (source.clone(), scratch.join("local"));
        let peer_root = dst_root.clone();
        let (f1, f2, f3) = (ferry.clone(), ferry.clone(), state.clone());
        let ways = vec![
            Way {
                name: "cp -r + ferry rewrite",
                ferry: false,
                commands: Box::new(move |run| {
                    let dst = peer_root.join(format!("peer-{run}"));
                    let _ = std::fs::create_dir_all(&dst);
                    let mut copy = Command::new("cp");
                    copy.arg("-r").arg(src.join(format!("cp/{JOB}"))).arg(&dst);
                    let mut rewrite = Command::new(&f1);
                    rewrite
                        .args(["rewrite", "-q", "--in-place", "--map"])
                        .arg(format!(
                            "file:{}=file:{}",
                            src.join("cp").display(),
                            dst.display()
                        ))
                        .arg(dst.join(format!("{JOB}/chk-42/_metadata")));
                    vec![copy, rewrite]
                }),
                result: {
                    let r = dst_root.clone();
                    Box::new(move |run| {
                        r.join(format!("peer-{run}/{JOB}/chk-42"))
                            .display()
                            .to_string()
                    })
                },
                // Kept until the leg ends (see below).
                cleanup: Box::new(|_| {}),
            },
            Way {
                name: "ferry migrate",
                ferry: true,
                commands: {
                    let (src, r) = (source.clone(), dst_root.clone());
                    Box::new(move |run| {
                        let mut c = Command::new(&f2);
                        c.env("FERRY_STATE_DIR", &f3)
                            .args(["migrate", "-q"])
                            .arg(src.join(format!("cp/{JOB}/chk-42")))
                            .arg(r.join(format!("ferry-{run}/{JOB}/chk-42")));
                        vec![c]
                    })
                },
                result: {
                    let r = dst_root.clone();
                    Box::new(move |run| {
                        r.join(format!("ferry-{run}/{JOB}/chk-42"))
                            .display()
                            .to_string()
                    })
                },
                // Kept until the leg ends (see below).
                cleanup: Box::new(|_| {}),
            },
        ];
        results.push(run_leg("local→local", &ways, runs, &|_| {
            ferry_cmd(&["verify", "-q"])
        })?);
        // Deleted only now, when the leg ends (see the `bench` module docs).
        let _ = std::fs::remove_dir_all(&dst_root);
    }

    if legs.iter().any(|l| l.contains("s3")) {
        let paths = Paths {
            cache: util::cache_dir(),
            work: util::root().join("target/bench-servers"),
        };
        std::fs::create_dir_all(&paths.work)?;
        let s3 = servers::s3::start_named(&paths, "bench-migrate-s3")?;
        let endpoint = env_of(&s3, "FERRY_TEST_S3_ENDPOINT")?;
        let aws_env: Vec<(String, String)> = vec![
            (
                "AWS_ACCESS_KEY_ID".into(),
                env_of(&s3, "FERRY_TEST_S3_ACCESS_KEY")?,
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                env_of(&s3, "FERRY_TEST_S3_SECRET_KEY")?,
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ];
        let rclone_s3: Vec<(String, String)> = [
            ("RCLONE_CONFIG_BENCH_TYPE", "s3"),
            ("RCLONE_CONFIG_BENCH_PROVIDER", "Other"),
            ("RCLONE_CONFIG_BENCH_ENDPOINT", endpoint.as_str()),
            ("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", aws_env[0].1.as_str()),
            (
                "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY",
                aws_env[1].1.as_str(),
            ),
            ("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true"),
            ("RCLONE_CONFIG_BENCH_REGION", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let peers = install_peers(&util::cache_dir())?;
        let bucket = servers::s3::BUCKETS[0];
        let s3_ctx = S3Ctx {
            ferry: ferry.clone(),
            state: state.clone(),
            endpoint: endpoint.clone(),
            master: env_of(&s3, "FERRY_TEST_S3_MASTER")?,
            aws_env: aws_env.clone(),
            aws: peers.aws.clone(),
            bucket,
        };
        let verify_cmd = |_: &str| {
            let mut c = s3_ctx.ferry_cmd();
            c.args(["verify", "-q", "-o", &format!("endpoint={endpoint}")]);
            c
        };

        if legs.contains(&"s3") {
            let src_root = format!("file:{}", source.join("cp").display());
            let job_dir = source.join(format!("cp/{JOB}"));
            let mut ways = Vec::new();
            {
                let (c, s5cmd, job_dir, src_root) = (
                    s3_ctx.clone(),
                    peers.s5cmd.clone(),
                    job_dir.clone(),
                    src_root.clone(),
                );
                ways.push(s3_way(
                    &s3_ctx,
                    "s5cmd + ferry rewrite",
                    "s5cmd",
                    false,
                    move |run| {
                        let prefix = c.prefix("s5cmd", run);
                        let mut copy = Command::new(&s5cmd);
                        copy.envs(c.aws_env.iter().map(|(k, v)| (k, v)))
                            .env_remove("AWS_CA_BUNDLE")
                            .args(["--endpoint-url", &c.endpoint, "cp"])
                            .arg(format!("{}/*", job_dir.display()))
                            .arg(format!("{prefix}/{JOB}/"));
                        vec![copy, c.rewrite(&src_root, &prefix)]
                    },
                ));
            }
            {
                let (c, rclone, env, job_dir, src_root) = (
                    s3_ctx.clone(),
                    peers.rclone.clone(),
                    rclone_s3.clone(),
                    job_dir.clone(),
                    src_root.clone(),
                );
                ways.push(s3_way(
                    &s3_ctx,
                    "rclone + ferry rewrite",
                    "rclone",
                    false,
                    move |run| {
                        let prefix = c.prefix("rclone", run);
                        let mut copy = Command::new(&rclone);
                        copy.envs(env.iter().map(|(k, v)| (k, v)))
                            .args(RCLONE_FLAGS)
                            .arg(&job_dir)
                            .arg(format!(
                                "bench:{}/{JOB}",
                                prefix.trim_start_matches("s3://")
                            ));
                        vec![copy, c.rewrite(&src_root, &prefix)]
                    },
                ));
            }
            let snapshot = source.join(format!("cp/{JOB}/chk-42"));
            ways.push(s3_ctx.migrate_way(snapshot.display().to_string(), "ferry"));
            results.push(run_leg("local→S3", &ways, runs, &verify_cmd)?);
        }

        if legs.contains(&"hdfs-s3") {
            let hdfs = servers::hdfs::start_cluster(&paths, "bench-migrate-hdfs", 128 << 20)?;
            let url = env_of(&hdfs, "FERRY_TEST_HDFS_URL")?;
            let namenode = url.trim_start_matches("hdfs://").to_string();
            // Seed HDFS with the snapshot (ferry cp, verified), then point its _metadata there.
            let hdfs_root = format!("{url}/bench/cp");
            util::run(
                s3_ctx
                    .ferry_cmd()
                    .args(["cp", "-q", "--no-resume", "--overwrite"])
                    .arg(source.join(format!("cp/{JOB}")))
                    .arg(format!("{hdfs_root}/{JOB}")),
            )?;
            util::run(
                s3_ctx
                    .ferry_cmd()
                    .args(["rewrite", "-q", "--in-place", "--map"])
                    .arg(format!("file:{}={hdfs_root}", source.join("cp").display()))
                    .arg(format!("{hdfs_root}/{JOB}/chk-42/_metadata")),
            )?;
            let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
            let rclone_env: Vec<(String, String)> = rclone_s3
                .iter()
                .cloned()
                .chain([
                    ("RCLONE_CONFIG_H_TYPE".to_string(), "hdfs".to_string()),
                    ("RCLONE_CONFIG_H_NAMENODE".to_string(), namenode.clone()),
                    ("RCLONE_CONFIG_H_USERNAME".to_string(), user),
                ])
                .collect();
            let mut ways = Vec::new();
            {
                let (c, rclone, hdfs_root) =
                    (s3_ctx.clone(), peers.rclone.clone(), hdfs_root.clone());
                ways.push(s3_way(
                    &s3_ctx,
                    "rclone hdfs→s3 + ferry rewrite",
                    "rclone-h",
                    false,
                    move |run| {
                        let prefix = c.prefix("rclone-h", run);
                        let mut copy = Command::new(&rclone);
                        copy.envs(rclone_env.iter().map(|(k, v)| (k, v)))
                            .args(RCLONE_FLAGS)
                            .arg(format!("h:/bench/cp/{JOB}"))
                            .arg(format!(
                                "bench:{}/{JOB}",
                                prefix.trim_start_matches("s3://")
                            ));
                        vec![copy, c.rewrite(&hdfs_root, &prefix)]
                    },
                ));
            }
            ways.push(s3_ctx.migrate_way(format!("{hdfs_root}/{JOB}/chk-42"), "ferry-h"));
            results.push(run_leg("HDFS→S3", &ways, runs, &verify_cmd)?);
            drop(hdfs);
        }
        drop(s3);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    report(&results, total, runs)
}

/// What the S3 legs' command lines share.
#[derive(Clone)]
struct S3Ctx {
    ferry: PathBuf,
    state: PathBuf,
    endpoint: String,
    master: String,
    aws_env: Vec<(String, String)>,
    aws: PathBuf,
    bucket: &'static str,
}

impl S3Ctx {
    fn ferry_cmd(&self) -> Command {
        let mut c = Command::new(&self.ferry);
        c.env("FERRY_STATE_DIR", &self.state)
            .envs(self.aws_env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Where `tag`'s run `run` writes: `s3://bucket/<tag>-<run>` (the job directory goes below).
    fn prefix(&self, tag: &str, run: usize) -> String {
        format!("s3://{}/{tag}-{run}", self.bucket)
    }

    /// `ferry migrate` of `snapshot` into `s3://bucket/<tag>-<run>/`.
    fn migrate_way(&self, snapshot: String, tag: &'static str) -> Way {
        let c = self.clone();
        s3_way(self, "ferry migrate", tag, true, move |run| {
            let mut m = c.ferry_cmd();
            m.args(["migrate", "-q", "--dst-option"])
                .arg(format!("endpoint={}", c.endpoint))
                .arg(&snapshot)
                .arg(format!("{}/{JOB}/chk-42", c.prefix(tag, run)));
            vec![m]
        })
    }

    /// `ferry rewrite --in-place` of the copied `_metadata` on S3: `old_root` → `new_root`.
    fn rewrite(&self, old_root: &str, new_root: &str) -> Command {
        let mut c = self.ferry_cmd();
        c.args(["rewrite", "-q", "--in-place", "--option"])
            .arg(format!("endpoint={}", self.endpoint))
            .arg("--map")
            .arg(format!("{old_root}={new_root}"))
            .arg(format!("{new_root}/{JOB}/chk-42/_metadata"));
        c
    }
}

/// A way whose result lands under `s3://bucket/<tag>-<run>/`.
fn s3_way(
    ctx: &S3Ctx,
    name: &'static str,
    tag: &'static str,
    ferry: bool,
    commands: impl Fn(usize) -> Vec<Command> + 'static,
) -> Way {
    let (c1, c2) = (ctx.clone(), ctx.clone());
    Way {
        name,
        ferry,
        commands: Box::new(commands),
        result: Box::new(move |run| format!("{}/{JOB}/chk-42", c1.prefix(tag, run))),
        cleanup: Box::new(move |run| {
            cleanup(
                &c2.aws,
                &c2.aws_env,
                &c2.endpoint,
                &c2.master,
                &[c2.prefix(tag, run)],
            );
        }),
    }
}

/// Runs every way `runs` times, alternating; verifies each way's first result with
/// `verify(result)`: a `ferry verify` command missing only the location.
fn run_leg(
    leg: &'static str,
    ways: &[Way],
    runs: usize,
    verify: &dyn Fn(&str) -> Command,
) -> Result<LegResult> {
    let mut result = LegResult {
        leg,
        times: BTreeMap::new(),
        ferry_rss_kib: 0,
    };
    for run in 0..runs {
        for way in ways {
            let (mut seconds, mut peak) = (0.0, 0);
            for mut command in (way.commands)(run) {
                let (s, kib) = timed(&mut command)?;
                seconds += s;
                peak = peak.max(kib);
            }
            if run == 0 {
                let target = (way.result)(run);
                util::run(verify(&target).arg(&target))
                    .with_context(|| format!("{leg}: {}'s result does not verify", way.name))?;
            }
            (way.cleanup)(run);
            if way.ferry {
                result.ferry_rss_kib = result.ferry_rss_kib.max(peak);
            }
            eprintln!(
                "{leg} run {}: {:<32} {seconds:6.2}s{}",
                run + 1,
                way.name,
                if way.ferry {
                    format!("  ({} MiB RSS)", peak / 1024)
                } else {
                    String::new()
                }
            );
            result.times.entry(way.name).or_default().push(seconds);
        }
    }
    Ok(result)
}

/// Prints each leg's medians and the ratio of ferry's speed to the best peer's; writes JSON.
fn report(results: &[LegResult], total: u64, runs: usize) -> Result<()> {
    let mb = total as f64 / 1e6;
    let mut json = Vec::new();
    for leg in results {
        println!(
            "migrate {}, {mb:.0} MB checkpoint, median of {runs}:",
            leg.leg
        );
        let mut best_peer = f64::INFINITY;
        let mut ferry = f64::NAN;
        for (name, times) in &leg.times {
            let m = median(times);
            println!("  {name:<32} {m:6.2}s  {:5.0} MB/s", mb / m);
            if *name == "ferry migrate" {
                ferry = m;
            } else {
                best_peer = best_peer.min(m);
            }
        }
        let ratio = best_peer / ferry;
        let rss = leg.ferry_rss_kib / 1024;
        println!("  ratio (ferry speed / best of today's): {ratio:.2}   ferry peak RSS: {rss} MiB");
        let ways: Vec<String> = leg
            .times
            .iter()
            .map(|(n, t)| format!("{{\"way\":\"{n}\",\"seconds\":{:.3}}}", median(t)))
            .collect();
        json.push(format!(
            "{{\"leg\":\"{}\",\"bytes\":{total},\"runs\":{runs},\"ways\":[{}],\"ratio\":{ratio:.3},\"ferry_peak_rss_mib\":{rss}}}",
            leg.leg,
            ways.join(",")
        ));
    }
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("migrate.json"),
        format!("{{\"bench\":\"migrate\",\"legs\":[{}]}}\n", json.join(",")),
    )?;
    Ok(())
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
                managed_keyed_state: Some(Box::new(keyed)),
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
