//! `ferry migrate SRC DST`: the mission's main job — move a snapshot, rewrite its paths,
//! verify it, and print the `flink run -s` that restores from the new place.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use ferry_core::relocate::closure::ExternalSource;
use ferry_core::relocate::migrate::{self, MigrateOptions, MigratePlan, MigrateReport};
use ferry_core::relocate::snapshot;
use ferry_core::Location;

use crate::backends;
use crate::cli::{ExternalSourceArg, GlobalArgs, MigrateArgs};
use crate::exit;
use crate::progress::{self, CopyProgress, PlanListing, ProgressConfig};
use crate::units::human_bytes;

/// Runs `ferry migrate`.
pub async fn run(args: MigrateArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    backends::check_options(&registry, &args.backend, &args.src, Some(&args.dst), true)?;
    let src_options = args.backend.side(true);
    let mut source = backends::endpoint(&registry, &args.src, &src_options)
        .await
        .with_context(|| format!("source {}", args.src))?;
    if args.latest {
        let newest = snapshot::latest(source.storage.as_ref(), &source.location).await?;
        if !global.quiet {
            crate::exit::note!("newest complete snapshot: {}", newest.location);
        }
        source.location = newest.location;
    }
    let destination = backends::endpoint(&registry, &args.dst, &args.backend.side(false))
        .await
        .with_context(|| format!("destination {}", args.dst))?;
    let options = MigrateOptions {
        copy: ferry_core::transfer::CopyOptions {
            dry_run: args.dry_run,
            ..super::transfer_options(&args.transfer, args.dry_run)?
        },
        external_root: args
            .external_root
            .as_deref()
            .map(|text| Location::parse(text).map_err(|e| exit::usage_error(e.to_string())))
            .transpose()
            .context("--external-root")?,
        scheme: args.scheme.clone(),
        referenced_only: args.referenced_only,
        force: args.force,
        keep_inline_names: args.keep_inline_names,
        external_source: match args.external_source {
            ExternalSourceArg::Auto => ExternalSource::Auto,
            ExternalSourceArg::Beside => ExternalSource::Beside,
            ExternalSourceArg::Original => ExternalSource::Original,
        },
        search: super::repair::search_roots(&args.search)?,
    };
    let mut config = ProgressConfig::for_run(
        global,
        args.transfer.stats,
        args.transfer.stats_json,
        args.json,
        args.dry_run,
    );
    // A migration's dry run prints the plan it gets whole (below), not file by file.
    config.plan = PlanListing::Off;
    let progress = Arc::new(CopyProgress::new(config));
    let show_plan = !args.json && (!global.quiet || args.dry_run);
    let verbose = global.verbose > 0;
    let announced = progress.clone();
    let on_plan = move |plan: &MigratePlan| {
        if show_plan {
            let mut out = std::io::stdout().lock();
            let _ = print_plan(&mut out, plan, args.dry_run, verbose);
        }
        announced.set_totals(plan.files.len() as u64, plan.bytes);
        announced.start();
    };
    let run = migrate::migrate_announcing_plan(
        &registry,
        source,
        &src_options,
        destination,
        options,
        progress.clone(),
        on_plan,
    );
    let report = tokio::select! {
        report = run => report.inspect_err(|_| progress.abandon())?,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            crate::exit::note!("ferry: interrupted; the destination has no _metadata; run the same command again to resume");
            return Ok(exit::INTERRUPTED);
        }
    };
    progress.finish();
    let mut out = std::io::stdout().lock();
    if args.json {
        crate::json::print(&report)?;
    } else if !global.quiet || !report.complete {
        print_outcome(&mut out, &report)?;
    }
    Ok(if report.complete || report.dry_run {
        exit::OK
    } else {
        exit::PARTIAL
    })
}

/// The plan, printed before anything is copied: what, where, how much, which rewrites. A dry
/// run (or `-v`) adds the files: per destination directory, or each one with `-v`.
fn print_plan(
    out: &mut impl Write,
    plan: &MigratePlan,
    dry_run: bool,
    verbose: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "snapshot    {} (format v{}, checkpoint {})",
        plan.source, plan.format_version, plan.checkpoint_id
    )?;
    writeln!(out, "destination {}", plan.destination)?;
    if let Some(moved) = &plan.source_moved {
        writeln!(out, "note        _metadata names {}, the snapshot lies under {} (the checkpoint base was copied without rewriting); files are placed as if read beside it", moved.from, moved.to)?;
    }
    for choice in &plan.external_sources {
        writeln!(
            out,
            "source      {} read from {} ({} files: {})",
            choice.named, choice.read_from, choice.files, choice.reason
        )?;
    }
    if !plan.searched.is_empty() {
        let roots: Vec<String> = plan.searched.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "search      {}: {} missing relative files found by name and size",
            roots.join(", "),
            plan.repaired.len()
        )?;
    }
    for found in &plan.repaired {
        writeln!(
            out,
            "repaired    {} ({}) <- {}",
            found.name, found.breadcrumb, found.found
        )?;
    }
    let referenced = plan.files.iter().filter(|f| f.referenced).count();
    writeln!(
        out,
        "files       {} ({}): {referenced} referenced, {} unreferenced in the snapshot directory",
        plan.files.len(),
        human_bytes(plan.bytes),
        plan.unreferenced.len()
    )?;
    for root in &plan.external_roots {
        writeln!(
            out,
            "external    {} -> {} ({} files)",
            root.from, root.to, root.count
        )?;
    }
    for rewrite in &plan.rewrites {
        writeln!(
            out,
            "rewrite     {} -> {} ({} fields)",
            rewrite.from, rewrite.to, rewrite.count
        )?;
    }
    if verbose {
        for file in &plan.files {
            writeln!(
                out,
                "  {:>10}  {} -> {}",
                human_bytes(file.size),
                file.from,
                file.to
            )?;
        }
    } else if dry_run {
        let mut dirs = BTreeMap::new();
        for file in &plan.files {
            let to = file.to.to_string();
            let dir = to.rsplit_once('/').map_or(to.as_str(), |(dir, _)| dir);
            progress::add_to_summary(&mut dirs, format!("{dir}/"), file.size, false);
        }
        progress::print_summary(out, &dirs)?;
    }
    if dry_run {
        writeln!(out, "dry run: nothing written")?;
    }
    Ok(())
}

/// What the run did, after the plan: the copy, problems, the verdict and the restore command.
fn print_outcome(out: &mut impl Write, report: &MigrateReport) -> std::io::Result<()> {
    let plan = &report.plan;
    if report.dry_run {
        return Ok(());
    }
    if let Some(copy) = &report.copy {
        let special = match copy.files_special {
            0 => String::new(),
            n => format!(", {n} not regular files skipped"),
        };
        writeln!(
            out,
            "copied      {} files ({}), {} already there{special}, {} failed, in {:.1}s",
            copy.files_copied,
            human_bytes(copy.bytes_copied),
            copy.files_skipped - copy.files_special,
            copy.files_failed,
            copy.duration_seconds
        )?;
        for failure in &copy.failures {
            writeln!(out, "failed      {}: {}", failure.path, failure.error)?;
        }
    }
    for problem in &report.problems {
        writeln!(out, "problem     {problem}")?;
    }
    if report.already_complete {
        writeln!(
            out,
            "already complete: the destination's _metadata is the one this migration writes, \
             and all {} referenced files are present; nothing copied",
            report.verified_files
        )?;
        writeln!(out, "restore with:\n  {}", plan.restore_command)?;
    } else if report.complete {
        writeln!(
            out,
            "verified    _metadata written last and read back; all {} referenced files present",
            report.verified_files
        )?;
        writeln!(out, "restore with:\n  {}", plan.restore_command)?;
    } else {
        writeln!(out, "INCOMPLETE: the destination has no _metadata")?;
    }
    Ok(())
}
