//! Real Apache Flink for tests: installs a release's jars from PyPI (cached under
//! `~/.cache/ferry/flink/<version>/lib`), compiles ferry's test job and oracle
//! (`xtask/flink-job/`) against them, and runs them in a local MiniCluster on the machine's
//! Java 17.
//!
//! * [`Flink::install`] — jars + compiled classes for one version (idempotent, cached).
//! * [`Flink::run_job`] — run the stateful job ([`JobSpec`]): emit N records, then take a
//!   savepoint or a retained checkpoint, or restore from one; returns the job's [`JobReport`]
//!   (restored per-key counts, the snapshot path).
//! * [`Flink::oracle`] — load `_metadata` files with Flink's own loader and print what Flink
//!   sees (see `ferry.Oracle`).
//! * [`server`] — the `flink` entry of `cargo xtask test`'s server list: prepares Flink
//!   [`CI_VERSION`] and exports `FERRY_TEST_FLINK_CLASSPATH`, `FERRY_TEST_FLINK_JAVA_OPTS`,
//!   `FERRY_TEST_FLINK_VERSION` so Rust tests can run `java $OPTS -cp $CLASSPATH ferry.FerryJob
//!   run …` themselves (the CLI is documented in `xtask/flink-job/src/common/ferry/FerryJob.java`).
//!
//! Where the jars are: `apache-flink-libraries==<v>` (sdist, `*/deps/lib/`) for 1.13.6 and
//! later, `apache-flink==<v>` (sdist, same layout) before that. Only `flink-dist*`, ZooKeeper
//! (1.15 keeps its shaded curator there) and the logging jars are unpacked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util;

/// The one Flink version `cargo xtask test` downloads (CI).
pub const CI_VERSION: &str = "2.3.0";

/// The JVM flags Flink's own `config.yaml` sets for Java 17 (needed by 1.x and 2.x alike).
pub const JAVA_OPTS: &[&str] = &[
    "-XX:+IgnoreUnrecognizedVMOptions",
    "-Xmx1g",
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
];

/// One installed Flink version with ferry's job compiled against it.
#[derive(Debug, Clone)]
pub struct Flink {
    /// The release, e.g. `2.3.0`.
    pub version: String,
    /// Directory of its jars.
    pub lib: PathBuf,
    /// Directory of ferry's compiled job and oracle classes.
    pub classes: PathBuf,
}

/// What a job run should do (mirrors `ferry.FerryJob run`'s options).
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Records emitted in this run.
    pub records: u64,
    /// Distinct keys.
    pub keys: u32,
    /// Parallelism.
    pub parallelism: u32,
    /// `hashmap` or `rocksdb`.
    pub backend: &'static str,
    /// Incremental checkpoints.
    pub incremental: bool,
    /// Retained checkpoints go under `<dir>/<job id>/chk-N` (a Flink URI or local path).
    pub checkpoint_dir: Option<String>,
    /// Checkpoint interval in milliseconds.
    pub checkpoint_interval_ms: u64,
    /// Savepoint target directory.
    pub savepoint_dir: Option<String>,
    /// Flink's memory threshold: state below it is inlined into `_metadata`.
    pub inline_threshold: Option<u64>,
    /// What to take: `none`, `savepoint`, `native-savepoint`, `checkpoint`, `checkpoint-early`.
    pub take: &'static str,
    /// Unaligned checkpoints.
    pub unaligned: bool,
    /// Changelog backend with DSTL files under this URI.
    pub changelog_dir: Option<String>,
    /// File merging (1.20+).
    pub file_merging: bool,
    /// Busy-wait per record in the counter (µs), for backpressure.
    pub slow_micros: u64,
    /// Restore from this snapshot pointer.
    pub restore: Option<String>,
    /// `claim`, `no-claim` or `legacy`.
    pub claim_mode: Option<&'static str>,
    /// Extra Flink configuration.
    pub extra: Vec<(String, String)>,
    /// Give up after this many seconds.
    pub timeout_secs: u64,
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            records: 1000,
            keys: 10,
            parallelism: 2,
            backend: "hashmap",
            incremental: false,
            checkpoint_dir: None,
            checkpoint_interval_ms: 200,
            savepoint_dir: None,
            inline_threshold: None,
            take: "none",
            unaligned: false,
            changelog_dir: None,
            file_merging: false,
            slow_micros: 0,
            restore: None,
            claim_mode: None,
            extra: Vec::new(),
            timeout_secs: 180,
        }
    }
}

impl JobSpec {
    /// The `ferry.FerryJob run …` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into()];
        let mut opt = |k: &str, v: String| {
            a.push(k.into());
            a.push(v);
        };
        opt("--records", self.records.to_string());
        opt("--keys", self.keys.to_string());
        opt("--parallelism", self.parallelism.to_string());
        opt("--backend", self.backend.into());
        opt(
            "--checkpoint-interval",
            self.checkpoint_interval_ms.to_string(),
        );
        opt("--take", self.take.into());
        opt("--timeout-seconds", self.timeout_secs.to_string());
        if let Some(d) = &self.checkpoint_dir {
            opt("--checkpoint-dir", d.clone());
        }
        if let Some(d) = &self.savepoint_dir {
            opt("--savepoint-dir", d.clone());
        }
        if let Some(t) = self.inline_threshold {
            opt("--inline-threshold", t.to_string());
        }
        if let Some(d) = &self.changelog_dir {
            opt("--changelog", d.clone());
        }
        if self.slow_micros > 0 {
            opt("--slow-micros", self.slow_micros.to_string());
        }
        if let Some(r) = &self.restore {
            opt("--restore", r.clone());
        }
        if let Some(m) = self.claim_mode {
            opt("--claim-mode", m.into());
        }
        for (k, v) in &self.extra {
            opt("-D", format!("{k}={v}"));
        }
        if self.incremental {
            a.push("--incremental".into());
        }
        if self.unaligned {
            a.push("--unaligned".into());
        }
        if self.file_merging {
            a.push("--file-merging".into());
        }
        a
    }
}

/// What `ferry.FerryJob` reported.
#[derive(Debug, Clone, Default)]
#[allow(dead_code)] // harness API: not every caller reads every field
pub struct JobReport {
    /// The snapshot taken (savepoint or `chk-N` directory as a Flink URI), if any.
    pub snapshot: Option<String>,
    /// The job id.
    pub job_id: String,
    /// Records processed in this run.
    pub processed: u64,
    /// Per key: the count found in restored state (0 when not restored).
    pub restored_counts: BTreeMap<String, u64>,
    /// Per key: the count at the end of the run.
    pub final_counts: BTreeMap<String, u64>,
    /// Per source lane: the restored offset.
    pub restored_offsets: BTreeMap<String, u64>,
    /// The whole report.
    pub raw: serde_json::Value,
}

impl Flink {
    /// Installs `version` (cached) and compiles the job against it.
    pub fn install(version: &str) -> Result<Flink> {
        let lib = install_jars(version)?;
        let classes = compile_job(version, &lib)?;
        Ok(Flink {
            version: version.to_string(),
            lib,
            classes,
        })
    }

    /// `major.minor` as numbers.
    pub fn major_minor(&self) -> (u32, u32) {
        major_minor(&self.version)
    }

    /// The Java classpath: the jars, then ferry's classes.
    pub fn classpath(&self) -> String {
        format!("{}/*:{}", self.lib.display(), self.classes.display())
    }

    /// `java` with the Java 17 flags and the classpath, running `main_class`.
    pub fn java(&self, main_class: &str) -> Command {
        let mut c = Command::new("java");
        c.args(JAVA_OPTS)
            .arg("-Dlog4j2.level=ERROR")
            .arg("-cp")
            .arg(self.classpath())
            .arg(main_class);
        c
    }

    /// Runs the job; `workdir` receives its log and report. Fails if the job fails.
    pub fn run_job(&self, spec: &JobSpec, workdir: &Path) -> Result<JobReport> {
        std::fs::create_dir_all(workdir)?;
        let n = std::fs::read_dir(workdir)?.count();
        let report = workdir.join(format!("report-{n}.json"));
        let log = workdir.join(format!("job-{n}.log"));
        let mut cmd = self.java("ferry.FerryJob");
        cmd.args(spec.args())
            .arg("--report")
            .arg(&report)
            .current_dir(workdir);
        let log_file = std::fs::File::create(&log)?;
        cmd.stdout(log_file.try_clone()?).stderr(log_file);
        let status = cmd.status().context("cannot run java")?;
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let interesting: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("ferry-job") || l.contains("Exception"))
                .take(12)
                .collect();
            bail!(
                "Flink {} job failed ({status}); log {}:\n{}",
                self.version,
                log.display(),
                interesting.join("\n")
            );
        }
        let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)
            .with_context(|| format!("bad report {}", report.display()))?;
        let map = |k: &str| -> BTreeMap<String, u64> {
            raw[k]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(JobReport {
            snapshot: raw["snapshot"].as_str().map(str::to_string),
            job_id: raw["job_id"].as_str().unwrap_or_default().to_string(),
            processed: raw["processed"].as_u64().unwrap_or_default(),
            restored_counts: map("restored_counts"),
            final_counts: map("final_counts"),
            restored_offsets: map("restored_offsets"),
            raw,
        })
    }

    /// Loads each directory's `_metadata` with Flink's loader (the directory is the external
    /// pointer) and returns the oracle's output per directory (lines, or `Err(message)`).
    pub fn oracle(&self, dirs: &[PathBuf]) -> Result<Vec<Result<Vec<String>, String>>> {
        let out = self
            .java("ferry.Oracle")
            .args(dirs)
            .output()
            .context("cannot run the oracle")?;
        if !out.status.success() {
            bail!(
                "the oracle failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut results = Vec::new();
        let mut current: Option<Result<Vec<String>, String>> = None;
        for line in text.lines() {
            if line == "== end" {
                results.extend(current.take());
            } else if line.starts_with("== ") {
                current = Some(Ok(Vec::new()));
            } else if let Some(msg) = line.strip_prefix("!! error ") {
                current = Some(Err(msg.to_string()));
            } else if let Some(Ok(lines)) = current.as_mut() {
                lines.push(line.to_string());
            }
        }
        if results.len() != dirs.len() {
            bail!(
                "the oracle answered for {} of {} directories",
                results.len(),
                dirs.len()
            );
        }
        Ok(results)
    }
}

/// `major.minor` of a version string.
pub fn major_minor(version: &str) -> (u32, u32) {
    let mut it = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn flink_dir(version: &str) -> PathBuf {
    util::cache_dir().join("flink").join(version)
}

/// The PyPI package holding a version's jars.
fn package(version: &str) -> String {
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let libraries = parts.as_slice() >= [1, 13, 6].as_slice();
    if libraries {
        format!("apache-flink-libraries=={version}")
    } else {
        format!("apache-flink=={version}")
    }
}

/// Downloads and unpacks the jars of `version`; returns the `lib` directory.
pub fn install_jars(version: &str) -> Result<PathBuf> {
    let dir = flink_dir(version);
    let lib = dir.join("lib");
    if lib.join(".installed").exists() {
        return Ok(lib);
    }
    let downloads = util::cache_dir().join("flink/downloads").join(version);
    std::fs::create_dir_all(&downloads)?;
    let archive = find_archive(&downloads);
    let archive = match archive {
        Some(a) => a,
        None => {
            eprintln!(
                "xtask: downloading Flink {version} jars from PyPI ({})",
                package(version)
            );
            util::run(
                Command::new("python3")
                    .args([
                        "-m",
                        "pip",
                        "download",
                        "-q",
                        "--no-deps",
                        "--no-binary",
                        ":all:",
                    ])
                    .arg(package(version))
                    .arg("-d")
                    .arg(&downloads),
            )?;
            find_archive(&downloads).context("pip downloaded no .tar.gz")?
        }
    };
    let listing = Command::new("tar")
        .arg("tzf")
        .arg(&archive)
        .output()
        .context("cannot run tar")?;
    let members: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|m| {
            let Some((_, name)) = m.split_once("/deps/lib/") else {
                return false;
            };
            !name.contains('/')
                && name.ends_with(".jar")
                && ["flink-dist", "flink-shaded-zookeeper", "log4j", "slf4j"]
                    .iter()
                    .any(|p| name.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    if !members.iter().any(|m| m.contains("flink-dist")) {
        bail!("{} holds no deps/lib/flink-dist jar", archive.display());
    }
    let unpack = dir.join("unpack");
    let _ = std::fs::remove_dir_all(&unpack);
    std::fs::create_dir_all(&unpack)?;
    util::run(
        Command::new("tar")
            .arg("xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&unpack)
            .args(&members),
    )?;
    let _ = std::fs::remove_dir_all(&lib);
    std::fs::create_dir_all(&lib)?;
    for m in &members {
        let name = m.rsplit('/').next().unwrap_or(m);
        std::fs::rename(unpack.join(m), lib.join(name))?;
    }
    let _ = std::fs::remove_dir_all(&unpack);
    std::fs::write(lib.join(".installed"), b"")?;
    Ok(lib)
}

fn find_archive(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
}

fn job_sources(major: u32) -> Result<Vec<PathBuf>> {
    let base = util::root().join("xtask/flink-job/src");
    let mut out = Vec::new();
    for sub in ["common", if major >= 2 { "v2" } else { "v1" }] {
        let dir = base.join(sub).join("ferry");
        for e in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "java") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Compiles the job and oracle against `lib` (cached by a hash of the sources).
pub fn compile_job(version: &str, lib: &Path) -> Result<PathBuf> {
    let (major, _) = major_minor(version);
    let sources = job_sources(major)?;
    // FNV-1a over names and contents: recompile whenever a source changes.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for s in &sources {
        let mut feed = s
            .file_name()
            .unwrap_or_default()
            .as_encoded_bytes()
            .to_vec();
        feed.extend(std::fs::read(s)?);
        for b in feed {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let classes = flink_dir(version).join(format!("classes-{hash:016x}"));
    if classes.join(".compiled").exists() {
        return Ok(classes);
    }
    // Older builds stay (a few KiB each): a running test may still use one.
    let _ = std::fs::remove_dir_all(&classes);
    std::fs::create_dir_all(&classes)?;
    let release = if major >= 2 { "11" } else { "8" };
    util::run(
        Command::new("javac")
            .args([
                "-nowarn",
                "-Xlint:-options",
                "-encoding",
                "UTF-8",
                "--release",
                release,
            ])
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg("-d")
            .arg(&classes)
            .args(&sources),
    )
    .with_context(|| format!("compiling the Flink test job against {version}"))?;
    std::fs::write(classes.join(".compiled"), b"")?;
    Ok(classes)
}

/// The `flink` test "server": nothing runs, but Flink [`CI_VERSION`] is installed and the job
/// compiled, and the tests get `FERRY_TEST_FLINK_CLASSPATH`, `FERRY_TEST_FLINK_JAVA_OPTS`
/// (space-separated) and `FERRY_TEST_FLINK_VERSION`.
pub fn server(paths: &crate::servers::Paths) -> Result<crate::servers::Server> {
    let flink = Flink::install(CI_VERSION)?;
    let workdir = paths.work.join("flink");
    std::fs::create_dir_all(&workdir)?;
    Ok(crate::servers::Server {
        name: "flink",
        env: vec![
            ("FERRY_TEST_FLINK_CLASSPATH".into(), flink.classpath()),
            ("FERRY_TEST_FLINK_JAVA_OPTS".into(), JAVA_OPTS.join(" ")),
            ("FERRY_TEST_FLINK_VERSION".into(), flink.version.clone()),
        ],
        processes: Vec::new(),
        workdir,
    })
}
