//! `cargo xtask fixtures`: regenerates the real-Flink `_metadata` fixtures under
//! `crates/ferry-metadata/tests/fixtures/flink-<version>/<variant>/`.
//!
//! For each Flink version and variant it runs ferry's test job (see [`crate::flink`]) in a
//! MiniCluster under a fixed generation root, `/tmp/ferry-fixtures/flink-<version>/<variant>`
//! (so absolute paths inside `_metadata` are stable and recorded), checks the snapshot has the
//! shape the variant promises (decoding it with ferry-metadata), copies the whole root (every
//! non-empty directory: the snapshot, and for checkpoints the referenced `shared/`,
//! `taskowned/` and changelog files) into the fixture directory, and writes:
//!
//! * `manifest.json` — Flink version, variant, the generation root (`original_root`, a Flink
//!   URI), the snapshot directory and `_metadata` relative to the fixture directory, the format
//!   version, and the per-key counts the job had when the snapshot was taken;
//! * `flink-view.txt` — what Flink's own loader sees in `_metadata` (the `ferry.Oracle`
//!   dump, sorted), which the golden tests compare with ferry's decoder without Java.
//!
//! Finally it re-blesses the golden `inspect --json` expectations (`FERRY_BLESS=1`).
//!
//! Usage: `cargo xtask fixtures [--versions 1.10.3,2.3.0] [--variants a,b] [--no-bless]`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ferry_metadata::PathKind;

use crate::flink::{Flink, JobSpec};
use crate::util;

/// One Flink release per metadata format version 2–6.
pub const VERSIONS: &[&str] = &["1.10.3", "1.15.4", "1.20.3", "2.0.1", "2.3.0"];

/// Where snapshots are generated (their absolute paths end up inside `_metadata`).
pub const GENERATION_ROOT: &str = "/tmp/ferry-fixtures";

/// A fixture variant.
pub struct Variant {
    /// Directory name.
    pub name: &'static str,
    /// First Flink release (major, minor) that can produce it.
    pub since: (u32, u32),
    /// What it is, for the manifest.
    pub description: &'static str,
}

/// Every variant, in generation order.
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "hashmap-savepoint",
        since: (1, 10),
        description: "canonical savepoint, heap (hashmap; FsStateBackend before 1.13) backend",
    },
    Variant {
        name: "rocksdb-savepoint",
        since: (1, 10),
        description: "canonical savepoint, RocksDB backend",
    },
    Variant {
        name: "rocksdb-native-savepoint",
        since: (1, 15),
        description: "native-format savepoint, RocksDB backend",
    },
    Variant {
        name: "hashmap-full-checkpoint",
        since: (1, 10),
        description: "retained full checkpoint, heap backend, memory threshold 0",
    },
    Variant {
        name: "rocksdb-incremental-checkpoint",
        since: (1, 10),
        description: "retained incremental checkpoint, RocksDB, memory threshold 0 (shared/ files)",
    },
    Variant {
        name: "unaligned-checkpoint",
        since: (1, 11),
        description: "retained unaligned checkpoint with channel state (backpressured job)",
    },
    Variant {
        name: "changelog-checkpoint",
        since: (1, 15),
        description: "retained checkpoint of the changelog state backend (DSTL files)",
    },
    Variant {
        name: "file-merging-checkpoint",
        since: (1, 20),
        description: "retained incremental RocksDB checkpoint with file merging",
    },
    Variant {
        name: "chained-incremental-checkpoint",
        since: (1, 10),
        description: "incremental checkpoint of a job restored (CLAIM mode where it exists) from \
                      another job's incremental checkpoint, referencing that job's shared/ files",
    },
];

/// The metadata format version each release writes.
pub fn format_version(flink: (u32, u32)) -> i32 {
    match flink {
        (1, m) if m <= 10 => 2,
        (1, m) if m <= 15 => 3,
        (1, _) => 4,
        (2, 0) => 5,
        _ => 6,
    }
}

/// The fixtures directory.
pub fn fixtures_dir() -> PathBuf {
    util::root().join("crates/ferry-metadata/tests/fixtures")
}

/// `cargo xtask fixtures …`.
pub fn run(args: &[&str]) -> Result<()> {
    let mut versions: Vec<String> = VERSIONS.iter().map(|v| v.to_string()).collect();
    let mut only: Option<Vec<String>> = None;
    let mut bless = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--versions" => {
                versions = it
                    .next()
                    .context("--versions needs a value")?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--variants" => {
                only = Some(
                    it.next()
                        .context("--variants needs a value")?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                )
            }
            "--no-bless" => bless = false,
            other => bail!("unknown option {other}"),
        }
    }
    let mut failures = Vec::new();
    for version in &versions {
        let flink = Flink::install(version)?;
        for variant in VARIANTS {
            if only
                .as_ref()
                .is_some_and(|o| !o.iter().any(|n| n == variant.name))
            {
                continue;
            }
            if flink.major_minor() < variant.since {
                continue;
            }
            let started = std::time::Instant::now();
            let mut attempt = 0;
            loop {
                attempt += 1;
                match generate(&flink, variant) {
                    Ok(size) => {
                        eprintln!(
                            "xtask: fixture flink-{version}/{}: ok ({} KiB, {:.0}s)",
                            variant.name,
                            size / 1024,
                            started.elapsed().as_secs_f64()
                        );
                        break;
                    }
                    Err(err) if attempt < 3 => {
                        eprintln!(
                            "xtask: fixture flink-{version}/{}: attempt {attempt} failed, retrying: {err:#}",
                            variant.name
                        );
                    }
                    Err(err) => {
                        eprintln!(
                            "xtask: fixture flink-{version}/{}: FAILED: {err:#}",
                            variant.name
                        );
                        failures.push(format!("flink-{version}/{}", variant.name));
                        break;
                    }
                }
            }
        }
    }
    let total = dir_size(&fixtures_dir());
    eprintln!(
        "xtask: fixtures total {:.2} MiB under {}",
        total as f64 / (1024.0 * 1024.0),
        fixtures_dir().display()
    );
    if bless {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        util::step(
            "bless inspect expectations",
            util::run(
                std::process::Command::new(cargo)
                    .args([
                        "test",
                        "-p",
                        "ferry-cli",
                        "--test",
                        "e2e",
                        "inspect::golden",
                    ])
                    .env("FERRY_BLESS", "1")
                    .current_dir(util::root()),
            ),
        )?;
    }
    if !failures.is_empty() {
        bail!("fixtures failed: {}", failures.join(", "));
    }
    Ok(())
}

fn uri(p: &Path) -> String {
    format!("file:{}", p.display())
}

/// Generates one fixture; returns its size in bytes.
fn generate(flink: &Flink, variant: &Variant) -> Result<u64> {
    let version = &flink.version;
    let (major, minor) = flink.major_minor();
    let root = PathBuf::from(GENERATION_ROOT)
        .join(format!("flink-{version}"))
        .join(variant.name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let work = util::root()
        .join("target/fixture-runs")
        .join(format!("flink-{version}"))
        .join(variant.name);
    let _ = std::fs::remove_dir_all(&work);
    let checkpoints = uri(&root.join("checkpoints"));
    let savepoints = uri(&root.join("savepoints"));
    let base = JobSpec {
        records: 1000,
        keys: 10,
        parallelism: 2,
        inline_threshold: Some(0),
        ..JobSpec::default()
    };
    let checkpointed = |backend: &'static str, incremental: bool| JobSpec {
        backend,
        incremental,
        checkpoint_dir: Some(checkpoints.clone()),
        take: "checkpoint",
        ..base.clone()
    };
    let mut previous_job = None;
    let report = match variant.name {
        "hashmap-savepoint" | "rocksdb-savepoint" | "rocksdb-native-savepoint" => {
            let spec = JobSpec {
                backend: if variant.name.starts_with("hashmap") {
                    "hashmap"
                } else {
                    "rocksdb"
                },
                savepoint_dir: Some(savepoints.clone()),
                take: if variant.name.contains("native") {
                    "native-savepoint"
                } else {
                    "savepoint"
                },
                ..base.clone()
            };
            flink.run_job(&spec, &work)?
        }
        "hashmap-full-checkpoint" => flink.run_job(&checkpointed("hashmap", false), &work)?,
        "rocksdb-incremental-checkpoint" => flink.run_job(&checkpointed("rocksdb", true), &work)?,
        "unaligned-checkpoint" => {
            let spec = JobSpec {
                records: 1_000_000,
                unaligned: true,
                slow_micros: 500,
                take: "checkpoint-early",
                checkpoint_interval_ms: 500,
                ..checkpointed("hashmap", false)
            };
            flink.run_job(&spec, &work)?
        }
        "changelog-checkpoint" => {
            let spec = JobSpec {
                records: 2000,
                slow_micros: 1000,
                changelog_dir: Some(uri(&root.join("changelog"))),
                ..checkpointed("hashmap", false)
            };
            flink.run_job(&spec, &work)?
        }
        "file-merging-checkpoint" => {
            let spec = JobSpec {
                file_merging: true,
                ..checkpointed("rocksdb", true)
            };
            flink.run_job(&spec, &work)?
        }
        "chained-incremental-checkpoint" => {
            let first = flink.run_job(&checkpointed("rocksdb", true), &work)?;
            let from = first
                .snapshot
                .clone()
                .context("the first job took no checkpoint")?;
            previous_job = Some(first.job_id.clone());
            let spec = JobSpec {
                restore: Some(from),
                claim_mode: if (major, minor) >= (1, 15) {
                    Some("claim")
                } else {
                    None
                },
                ..checkpointed("rocksdb", true)
            };
            let second = flink.run_job(&spec, &work)?;
            let restored: u64 = second.restored_counts.values().sum();
            if restored != 1000 {
                bail!("the chained job restored {restored} records, expected 1000");
            }
            second
        }
        other => bail!("unknown variant {other}"),
    };
    let snapshot = report.snapshot.clone().context("no snapshot was taken")?;
    let snapshot_path = PathBuf::from(
        snapshot
            .strip_prefix("file:")
            .context("snapshot is not a file: URI")?,
    );
    let snapshot_rel = snapshot_path
        .strip_prefix(&root)
        .context("snapshot outside the generation root")?
        .to_path_buf();
    let metadata = std::fs::read(snapshot_path.join("_metadata"))?;
    check_shape(
        variant.name,
        (major, minor),
        &metadata,
        &report.job_id,
        previous_job.as_deref(),
    )?;

    // Flink's view of the original, before anything moves.
    let view = flink
        .oracle(std::slice::from_ref(&snapshot_path))?
        .pop()
        .context("no oracle answer")?
        .map_err(|e| anyhow::anyhow!("Flink cannot load its own snapshot: {e}"))?;
    let mut view_sorted = view.clone();
    view_sorted.sort();

    let dest = fixtures_dir()
        .join(format!("flink-{version}"))
        .join(variant.name);
    let _ = std::fs::remove_dir_all(&dest);
    copy_tree(&root, &dest)?;
    let mut counts = serde_json::Map::new();
    for (k, v) in &report.final_counts {
        counts.insert(k.clone(), (*v).into());
    }
    let manifest = serde_json::json!({
        "flink_version": version,
        "variant": variant.name,
        "description": variant.description,
        "format_version": format_version((major, minor)),
        "original_root": uri(&root),
        "snapshot_dir": snapshot_rel.display().to_string(),
        "metadata": snapshot_rel.join("_metadata").display().to_string(),
        "job_id": report.job_id,
        "previous_job_id": previous_job,
        "parallelism": base.parallelism,
        "keys": base.keys,
        "key_counts": counts,
    });
    std::fs::write(
        dest.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    std::fs::write(dest.join("flink-view.txt"), view_sorted.join("\n") + "\n")?;
    Ok(dir_size(&dest))
}

/// Checks that a generated snapshot has the shape its variant promises.
fn check_shape(
    variant: &str,
    flink: (u32, u32),
    bytes: &[u8],
    job_id: &str,
    previous_job: Option<&str>,
) -> Result<()> {
    let md = ferry_metadata::decode(bytes).context("ferry cannot decode it")?;
    let again = ferry_metadata::encode(&md)?;
    if again != bytes {
        bail!("ferry does not re-encode it byte-identically");
    }
    if md.version != format_version(flink) {
        bail!(
            "format version {} (expected {})",
            md.version,
            format_version(flink)
        );
    }
    let summary = md.summary();
    let has = |label: &str| summary.handles.keys().any(|k| k.starts_with(label));
    let paths = md.paths();
    let absolute: Vec<String> = paths
        .iter()
        .filter(|p| p.kind() == PathKind::Absolute)
        .map(|p| p.value_str().into_owned())
        .collect();
    match variant {
        "unaligned-checkpoint" if !(has("C ")) => bail!("no channel state"),
        "changelog-checkpoint"
            if !(has("K-13") || has("K-10") || has("K-14") || has("K-8") || has("K-9")) =>
        {
            bail!("no changelog handles")
        }
        "file-merging-checkpoint" if !has("S-15") => bail!("no file-merging segments"),
        "rocksdb-incremental-checkpoint" if !absolute.iter().any(|p| p.contains("/shared/")) => {
            bail!("no shared/ files")
        }
        "chained-incremental-checkpoint" => {
            let prev = previous_job.unwrap_or_default();
            if !absolute.iter().any(|p| p.contains(prev)) {
                bail!("no reference into the previous job's ({prev}) files");
            }
            if !absolute.iter().any(|p| p.contains(job_id)) {
                bail!("no files of its own job");
            }
        }
        _ => {}
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut stack = vec![from.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(from)?;
                let dest = to.join(rel);
                std::fs::create_dir_all(dest.parent().context("no parent")?)?;
                std::fs::copy(&p, &dest)?;
            }
        }
    }
    Ok(())
}

/// Total bytes of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}
