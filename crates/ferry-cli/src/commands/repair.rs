//! `ferry repair SNAPSHOT [--search ROOT]… [--in-place]`: copy the files a snapshot's relative
//! handles name, found elsewhere by name and size, into its directory (FLINK-39964). A dry run
//! unless `--in-place`; `_metadata` is never written.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use ferry_core::relocate::repair::{self, RepairReport};
use ferry_core::Location;

use crate::backends;
use crate::cli::{GlobalArgs, RepairArgs};
use crate::exit;
use crate::progress::{CopyProgress, PlanListing, ProgressConfig};
use crate::units::human_bytes;

/// The `--search` roots, parsed (a root that does not parse is a usage error).
pub fn search_roots(texts: &[String]) -> anyhow::Result<Vec<Location>> {
    texts
        .iter()
        .map(|text| {
            Location::parse(text)
                .map_err(|e| exit::usage_error(e.to_string()))
                .with_context(|| format!("--search {text}"))
        })
        .collect()
}

/// Runs `ferry repair`.
pub async fn run(args: RepairArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    backends::check_options(&registry, &args.backend, &args.snapshot, None, true)?;
    let options = args.backend.side(true);
    let roots = search_roots(&args.search)?;
    let snapshot = backends::endpoint(&registry, &args.snapshot, &options).await?;
    let mut config = ProgressConfig::for_run(
        global,
        args.transfer.stats,
        args.transfer.stats_json,
        args.json,
        !args.in_place,
    );
    config.plan = PlanListing::Off;
    let progress = Arc::new(CopyProgress::new(config));
    let report = repair::repair(
        &registry,
        &options,
        snapshot.storage,
        &snapshot.location,
        (!roots.is_empty()).then_some(roots),
        args.in_place,
        super::transfer_options(&args.transfer, !args.in_place)?,
        progress.clone(),
    )
    .await
    .inspect_err(|_| progress.abandon())?;
    progress.finish();
    let ok = report.problems.is_empty();
    if args.json {
        /// The report and its verdict.
        #[derive(serde::Serialize)]
        struct WithVerdict<'a> {
            #[serde(flatten)]
            report: &'a RepairReport,
            ok: bool,
        }
        crate::json::print(&WithVerdict {
            report: &report,
            ok,
        })?;
    } else if !global.quiet || !ok {
        print(&mut std::io::stdout().lock(), &report)?;
    }
    Ok(if ok { exit::OK } else { exit::PARTIAL })
}

fn print(out: &mut impl Write, report: &RepairReport) -> std::io::Result<()> {
    writeln!(out, "snapshot    {}", report.snapshot)?;
    let roots: Vec<String> = report
        .search
        .roots
        .iter()
        .map(ToString::to_string)
        .collect();
    writeln!(out, "searched    {}", roots.join(", "))?;
    if report.missing == 0 {
        writeln!(
            out,
            "ok: no relative reference is missing from the snapshot directory; nothing to repair"
        )?;
        return Ok(());
    }
    let verb = if report.in_place {
        "copied"
    } else {
        "would copy"
    };
    for found in &report.search.found {
        writeln!(
            out,
            "{verb:<11} {} ({}, {}) <- {}",
            found.name,
            found.breadcrumb,
            human_bytes(found.size),
            found.found
        )?;
    }
    if !report.in_place {
        writeln!(
            out,
            "dry run: nothing written; {} files would be copied into {} (its _metadata stays \
             as it is); pass --in-place to do it",
            report.search.found.len(),
            report.snapshot
        )?;
        return Ok(());
    }
    for problem in &report.problems {
        writeln!(out, "problem     {problem}")?;
    }
    if report.problems.is_empty() {
        writeln!(
            out,
            "repaired: {} files copied into the snapshot directory, _metadata unchanged; \
             every referenced file is present with its recorded size",
            report.search.found.len()
        )?;
    } else {
        writeln!(out, "NOT RESTORABLE: fix the problems above")?;
    }
    Ok(())
}
