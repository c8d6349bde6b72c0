//! `ferry migrate SRC DST`: the mission's main job — move a snapshot, rewrite its paths,
//! verify it, and print how to restore from the new place (`flink run -s`, the configuration
//! key, the claim mode for checkpoints). With `--flink URL --job JOB (--stop | --savepoint |
//! --latest-checkpoint) DST` the snapshot is first taken from the running job (see
//! [`super::flink`]) and the guidance is the one for the cluster's Flink release.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use ferry_core::relocate::closure::ExternalSource;
use ferry_core::relocate::migrate::{self, MigrateOptions, MigratePlan, MigrateReport};
use ferry_core::relocate::snapshot;
use ferry_core::Location;
use ferry_flink::restore::{self, RestoreGuide, SnapshotKind};
use ferry_flink::{FlinkVersion, SavepointFormat, Trigger};

use crate::backends;
use crate::cli::{
    EmitArg, ExternalSourceArg, FlinkArgs, FormatArg, GlobalArgs, MigrateArgs, WaitArgs,
};
use crate::exit;
use crate::progress::{self, CopyProgress, PlanListing, ProgressConfig};
use crate::units::human_bytes;

/// The snapshot `--job` took, and the cluster's release.
struct FromJob {
    /// The snapshot's location (a Flink URI).
    location: String,
    /// The cluster's release.
    version: FlinkVersion,
    /// What was asked of Flink, for the JSON report.
    json: serde_json::Value,
}

/// SRC and DST from the positionals: `SRC DST`, or `DST` alone with `--job`.
fn positionals(args: &MigrateArgs) -> anyhow::Result<(Option<String>, String)> {
    match (&args.job, &args.dst) {
        (Some(_), None) => Ok((None, args.src.clone())),
        (Some(_), Some(_)) => Err(exit::usage_error(
            "with --job, give only DST (the snapshot is taken from the job)",
        )),
        (None, Some(dst)) => Ok((Some(args.src.clone()), dst.clone())),
        (None, None) => Err(exit::usage_error(
            "missing DST: ferry migrate SRC DST (or --flink URL --job JOB --stop DST)",
        )),
    }
}

/// Takes the snapshot `--job` asks for; `Err(code)` when interrupted.
async fn from_job(
    args: &MigrateArgs,
    job: &str,
    global: &GlobalArgs,
) -> anyhow::Result<Result<FromJob, i32>> {
    let flink = FlinkArgs {
        flink: args.flink.clone().unwrap_or_default(),
        flink_ca: args.flink_ca.clone(),
        flink_header: args.flink_header.clone(),
    };
    let client = super::flink::client(&flink)?;
    if args.latest_checkpoint {
        let version = client.version().await?;
        let job = client.resolve_job(job).await?;
        let history = client.checkpoints(&job.id).await?;
        let newest = history.into_iter().find(|c| {
            c.status == "COMPLETED"
                && !c.is_savepoint
                && c.external_path
                    .as_deref()
                    .is_some_and(|p| !p.starts_with('<'))
        });
        let Some(newest) = newest else {
            anyhow::bail!(
                "job {} at {} has no completed checkpoint with a path in Flink's checkpoint \
                 history (is checkpointing on, with a file-system checkpoint storage?)",
                job.id,
                client.url()
            );
        };
        if job.state == "RUNNING" && !global.quiet {
            exit::note!(
                "ferry: warning: job {} is still running: Flink deletes checkpoint {} once newer \
                 ones complete (state.checkpoints.num-retained); stop the job or migrate a \
                 savepoint if the copy fails with missing files",
                job.id,
                newest.id
            );
        }
        let location = newest.external_path.clone().unwrap_or_default();
        return Ok(Ok(FromJob {
            json: serde_json::json!({
                "flink": client.url(),
                "flink_version": version.text,
                "job": job.id,
                "operation": "latest-checkpoint",
                "checkpoint_id": newest.id,
                "location": location,
            }),
            location,
            version,
        }));
    }
    let format = args.format.map(|f| match f {
        FormatArg::Canonical => SavepointFormat::Canonical,
        FormatArg::Native => SavepointFormat::Native,
    });
    let trigger = if args.stop {
        Trigger::Stop {
            target: args.savepoint_path.clone(),
            drain: false,
            format,
        }
    } else {
        Trigger::Savepoint {
            target: args.savepoint_path.clone(),
            format,
        }
    };
    let wait = WaitArgs {
        timeout: args.flink_timeout,
        state_dir: args.transfer.state_dir.clone(),
        json: args.json,
    };
    let taken = match super::flink::take(&client, job, trigger, &wait, false, global).await? {
        Ok(taken) => taken,
        Err(code) => return Ok(Err(code)),
    };
    let location = taken.report.location.clone().unwrap_or_default();
    Ok(Ok(FromJob {
        json: serde_json::to_value(&taken.report)?,
        location,
        version: taken.version,
    }))
}

/// Runs `ferry migrate`.
pub async fn run(args: MigrateArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    let (src, dst) = positionals(&args)?;
    let mut taken = None;
    let src = match (src, &args.job) {
        (Some(src), _) => src,
        (None, Some(job)) => {
            if args.dry_run && !args.latest_checkpoint {
                return Err(exit::usage_error(
                    "--dry-run with --stop or --savepoint would still take a savepoint; use \
                     --latest-checkpoint, or take it first with ferry savepoint",
                ));
            }
            // Bad options or an unusable destination are found before the job is touched.
            backends::check_options(&registry, &args.backend, &dst, Some(&dst), true)?;
            backends::endpoint(&registry, &dst, &args.backend.side(false))
                .await
                .with_context(|| format!("destination {dst}"))?;
            let from = match from_job(&args, job, global).await? {
                Ok(from) => from,
                Err(code) => return Ok(code),
            };
            if !global.quiet && !args.json {
                exit::note!("ferry: migrating {} to {dst}", from.location);
            }
            let location = from.location.clone();
            taken = Some(from);
            location
        }
        (None, None) => unreachable!("positionals() requires DST or --job"),
    };
    backends::check_options(&registry, &args.backend, &src, Some(&dst), true)?;
    let src_options = args.backend.side(true);
    let mut source = backends::endpoint(&registry, &src, &src_options)
        .await
        .with_context(|| format!("source {src}"))?;
    if args.latest {
        let newest = snapshot::latest(source.storage.as_ref(), &source.location).await?;
        if !global.quiet {
            crate::exit::note!("newest complete snapshot: {}", newest.location);
        }
        source.location = newest.location;
    }
    let destination = backends::endpoint(&registry, &dst, &args.backend.side(false))
        .await
        .with_context(|| format!("destination {dst}"))?;
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
    let guide = restore::guide(
        &report.plan.restore_path,
        SnapshotKind::of_path(&report.plan.source.to_string()),
        taken.as_ref().map(|t| &t.version),
    );
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["restore"] = serde_json::to_value(&guide)?;
        if let Some(taken) = &taken {
            value["taken"] = taken.json.clone();
        }
        if let (Some(EmitArg::K8s), true) = (args.emit, report.complete) {
            let hand_off = super::flink::hand_off(&report.plan.restore_path, &args.k8s);
            value["k8s"] = super::flink::hand_off_json(&hand_off);
        }
        crate::json::print(&value)?;
    } else {
        if !global.quiet || !report.complete {
            print_outcome(&mut out, &report, &guide)?;
        }
        if let (Some(EmitArg::K8s), true) = (args.emit, report.complete) {
            let hand_off = super::flink::hand_off(&report.plan.restore_path, &args.k8s);
            writeln!(out, "---")?;
            write!(out, "{}", hand_off.yaml())?;
        }
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
fn print_outcome(
    out: &mut impl Write,
    report: &MigrateReport,
    guide: &RestoreGuide,
) -> std::io::Result<()> {
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
        print_guide(out, guide)?;
    } else if report.complete {
        writeln!(
            out,
            "verified    _metadata written last and read back; all {} referenced files present",
            report.verified_files
        )?;
        print_guide(out, guide)?;
    } else {
        writeln!(out, "INCOMPLETE: the destination has no _metadata")?;
    }
    Ok(())
}

/// How to restore: the `flink run` line, the configuration keys, the notes.
fn print_guide(out: &mut impl Write, guide: &RestoreGuide) -> std::io::Result<()> {
    writeln!(out, "restore with:\n  {}", guide.command)?;
    for (key, value) in &guide.config {
        writeln!(out, "  or set {key}: {value}")?;
    }
    for note in &guide.notes {
        writeln!(out, "  note: {note}")?;
    }
    Ok(())
}
