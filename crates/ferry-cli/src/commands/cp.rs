//! `ferry cp SRC DST`: validated options → the core's transfer engine → summary, JSON report
//! and exit code. Ctrl-C stops at once; the journal lets the same command resume.
//!
//! When SRC itself holds a Flink `_metadata` that names files outside SRC (or its own files by
//! absolute path), a plain copy would still depend on the original place: cp warns and points
//! to `ferry migrate` (SRC only; snapshots deeper in the tree are copied without a word).

use std::sync::Arc;

use anyhow::Context as _;
use ferry_core::relocate::{closure, snapshot};
use ferry_core::transfer::report::CopyReport;
use ferry_core::transfer::{self, CopyOptions, Endpoint};

use crate::backends;
use crate::cli::{CpArgs, GlobalArgs};
use crate::exit;
use crate::progress::{CopyProgress, ProgressConfig};
use crate::units::human_bytes;

/// Runs `ferry cp`.
pub async fn run(args: CpArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let options = copy_options(&args)?;
    if args.compare.update && !global.quiet {
        super::update_note();
    }
    let registry = backends::registry();
    backends::check_options(&registry, &args.backend, &args.src, Some(&args.dst), false)?;
    let source = backends::endpoint(&registry, &args.src, &args.backend.side(true))
        .await
        .with_context(|| format!("source {}", args.src))?;
    let destination = backends::endpoint(&registry, &args.dst, &args.backend.side(false))
        .await
        .with_context(|| format!("destination {}", args.dst))?;

    if !global.quiet {
        if let Some(trap) = snapshot_trap(&source, &args).await {
            crate::exit::note!("ferry: warning: {trap}");
        }
    }

    let progress = Arc::new(CopyProgress::new(ProgressConfig::for_run(
        global,
        args.transfer.stats,
        args.transfer.stats_json,
        args.json,
        args.dry_run,
    )));
    progress.start();
    let copy = transfer::copy(source, destination, options, progress.clone());
    let report = tokio::select! {
        report = copy => report.inspect_err(|_| progress.abandon())?,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            crate::exit::note!("ferry: interrupted; run the same command again to resume");
            return Ok(exit::INTERRUPTED);
        }
    };
    progress.finish();
    if args.json {
        crate::json::print(&report)?;
    } else if !global.quiet {
        crate::exit::note!("{}", summary(&report));
    }
    Ok(if report.files_failed > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    })
}

/// The warning for a source that is a Flink snapshot whose plain copy would still depend on
/// files at the original place; `None` for anything else (errors included: cp copies any tree).
async fn snapshot_trap(source: &Endpoint, args: &CpArgs) -> Option<String> {
    let snapshot = snapshot::probe(source.storage.as_ref(), &source.location)
        .await
        .ok()??;
    let references = closure::references(&snapshot).ok()?;
    let pinned = closure::pinned(&snapshot.dir, &references);
    (!pinned.is_empty()).then(|| {
        format!(
            "{} is a Flink snapshot whose _metadata names {} files ({}) by absolute path outside \
             the copy, under {}: the copy depends on them and breaks when they move or go; to \
             move a snapshot, use `ferry migrate {} {}`",
            snapshot.dir,
            pinned.files,
            human_bytes(pinned.bytes),
            pinned.describe_roots(),
            args.src,
            args.dst
        )
    })
}

fn copy_options(args: &CpArgs) -> anyhow::Result<CopyOptions> {
    Ok(CopyOptions {
        compare: super::compare(&args.compare)?,
        overwrite: args.compare.overwrite,
        dry_run: args.dry_run,
        filter: super::filters::filter(&args.filter)?,
        preserve_mtime: args.preserve_mtime,
        destination_is_dir: args.dst.ends_with('/'),
        ..super::transfer_options(&args.transfer, args.dry_run)?
    })
}

fn summary(report: &CopyReport) -> String {
    let verb = if report.dry_run {
        "would copy"
    } else {
        "copied"
    };
    let special = match report.files_special {
        0 => String::new(),
        n => format!("; {n} not regular files or loops"),
    };
    let mut text = format!(
        "{verb} {} files ({}), skipped {} ({}; {} already there{special}), failed {} in {:.1}s",
        report.files_copied,
        human_bytes(report.bytes_copied),
        report.files_skipped,
        human_bytes(report.bytes_skipped),
        report.files_already_there,
        report.files_failed,
        report.duration_seconds,
    );
    if report.dry_run {
        text = format!(
            "dry run: {} files, {} to copy; {} files already there; nothing written",
            report.files_total - report.files_special,
            human_bytes(report.bytes_total - report.bytes_skipped),
            report.files_skipped - report.files_special
        );
    } else if report.bytes_copied > 0 {
        text.push_str(&format!(
            ", {}/s",
            human_bytes(report.throughput_bytes_per_second as u64)
        ));
    }
    text
}
