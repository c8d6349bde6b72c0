//! `cargo xtask bench cp`: local→local `ferry cp` against `cp -r` on the same generated tree,
//! in the same run, alternating, several runs each; medians, the ratio, and ferry's peak RSS
//! (from `/usr/bin/time -v`). Results also go to `target/bench/cp.json`.
//!
//! It also holds what every bench shares: [`measure`] (a `sync` and [`warm_memory`] before
//! each timed run) and the rule that each run's local output is **kept until the bench ends**,
//! in its own directory, instead of being deleted before the next run. On ext4 without a
//! journal (as on the machine these benchmarks were written on), creating a file right after
//! thousands were deleted scans the inodes freed in the last minute, one by one, on every
//! create. That scan took ~40 % of a download's CPU samples, and it landed on whichever tool
//! ran next, not on the tool that deleted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{treegen, util};

/// Dispatches `bench <what>`.
pub fn run(args: &[&str]) -> Result<()> {
    let runs = args
        .windows(2)
        .find(|w| w[0] == "--runs")
        .map(|w| w[1].parse())
        .transpose()
        .context("--runs takes a number")?
        .unwrap_or(3usize);
    match args.first() {
        Some(&"cp") => bench_cp(runs),
        Some(&"s3") => crate::bench_s3::run(&args[1..]),
        Some(&"gcs") => crate::bench_gcs::run(&args[1..]),
        Some(&"azure") => crate::bench_azure::run(&args[1..]),
        Some(&"hdfs") => crate::bench_hdfs::run(&args[1..]),
        Some(&"migrate") => crate::bench_migrate::run(&args[1..]),
        Some(&"gc") => crate::bench_gc::run(&args[1..]),
        _ => bail!("usage: cargo xtask bench cp|s3|gcs|azure|hdfs|migrate|gc [--runs N]"),
    }
}

fn ferry_release() -> Result<PathBuf> {
    util::cargo(&["build", "--release", "-p", "ferry-cli"])?;
    Ok(util::root().join("target/release/ferry"))
}

/// One timed run: wall seconds and peak RSS in KiB.
pub fn timed(command: &mut Command) -> Result<(f64, u64)> {
    let report = std::env::temp_dir().join(format!("ferry-bench-time-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(command.get_program())
        .args(command.get_args());
    for (k, v) in command.get_envs() {
        if let Some(v) = v {
            timed.env(k, v);
        }
    }
    measure(&mut timed, &report, &util::describe(command))
}

/// Memory touched and freed right before every timed run (see [`warm_memory`]).
const WARM_BYTES: usize = 3 << 30;

/// Touches [`WARM_BYTES`] of fresh memory and frees it, so that the timed run's page-cache
/// and heap allocations find pages the hypervisor has already backed.
///
/// On a VM whose balloon driver reports free pages to the host (as on the machine these
/// benchmarks were written on), a page that stayed free for a few seconds is handed back, and
/// touching it again costs a fault in the host: writing 1 GiB into the page cache took 6.3 s of
/// system CPU after 20 s of idling, and 0.17 s right after a 3 GiB touch. Without this step a
/// run's speed depended on how long the machine had idled before it and on how much memory
/// the previous tool had freed, not on the tool; a server-side copy of the tree cost SeaweedFS
/// 8–10 s of CPU cold and 4–5 s warm. On hardware without the balloon it costs ~0.3 s a run.
pub fn warm_memory() {
    let mut block = vec![0u8; WARM_BYTES];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&block);
}

/// Runs `time_command` (a `/usr/bin/time -v -o REPORT …` command) after a `sync` and
/// [`warm_memory`]; returns wall seconds and the peak RSS in KiB that `/usr/bin/time` wrote to
/// `report`.
pub fn measure(time_command: &mut Command, report: &Path, what: &str) -> Result<(f64, u64)> {
    util::run(&mut Command::new("sync"))?;
    warm_memory();
    let start = Instant::now();
    let output = time_command
        .output()
        .context("run /usr/bin/time (Debian package `time`)")?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(report)?;
    let kib = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((seconds, kib))
}

/// The median of `values` (the mean of the middle two for an even count); `NaN` for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn bench_cp(runs: usize) -> Result<()> {
    let ferry = ferry_release()?;
    let base = util::cache_dir().join("bench");
    let tree = base.join("tree-1g");
    let total = treegen::ensure(&tree)?;
    let scratch = base.join("scratch");
    let clean = |p: &Path| {
        let _ = std::fs::remove_dir_all(p);
    };
    let (mut cp_times, mut ferry_times, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    clean(&scratch);
    for run in 0..runs {
        // Kept until the bench ends (see the module docs).
        let out = scratch.join(format!("run-{run}"));
        std::fs::create_dir_all(&out)?;
        let (t, _) = timed(Command::new("cp").arg("-r").arg(&tree).arg(out.join("cp")))?;
        cp_times.push(t);
        let (t, kib) = timed(
            Command::new(&ferry)
                .env("FERRY_STATE_DIR", scratch.join("state"))
                .args(["cp", "-q"])
                .arg(&tree)
                .arg(out.join("ferry")),
        )?;
        ferry_times.push(t);
        rss.push(kib);
        if run == 0 {
            verify_same(&tree, &out.join("ferry"))?;
        }
        eprintln!(
            "run {}: cp -r {:.2}s, ferry {:.2}s ({} MiB RSS)",
            run + 1,
            cp_times[run],
            ferry_times[run],
            kib / 1024
        );
    }
    clean(&scratch);
    let (cp, fe) = (median(&cp_times), median(&ferry_times));
    let mb = total as f64 / 1e6;
    let peak_rss_mib = rss.iter().max().copied().unwrap_or(0) / 1024;
    let ratio = cp / fe;
    println!("local→local, {:.0} MB, median of {runs}:", mb);
    println!("  cp -r      {cp:.2}s  {:.0} MB/s", mb / cp);
    println!("  ferry cp   {fe:.2}s  {:.0} MB/s", mb / fe);
    println!("  ratio (ferry speed / cp speed): {ratio:.2}   peak RSS: {peak_rss_mib} MiB");
    let json = format!(
        "{{\"bench\":\"cp\",\"bytes\":{total},\"runs\":{runs},\"cp_seconds\":{cp:.3},\"ferry_seconds\":{fe:.3},\"ratio\":{ratio:.3},\"ferry_peak_rss_mib\":{peak_rss_mib}}}\n"
    );
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("cp.json"), json)?;
    Ok(())
}

/// Compares the copy with the original (names and sizes everywhere, bytes of a sample).
fn verify_same(a: &Path, b: &Path) -> Result<()> {
    treegen::check_sizes(b)?;
    for rel in ["_metadata", "op-0/state-0.bin", "shared/07/0007.sst"] {
        if std::fs::read(a.join(rel))? != std::fs::read(b.join(rel))? {
            bail!("{rel} differs after ferry cp");
        }
    }
    Ok(())
}
