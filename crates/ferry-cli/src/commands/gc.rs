//! `ferry gc ROOT… [--keep-latest N] [--keep-newer-than DUR] [--keep SNAPSHOT…] [--grace DUR]
//! [--delete] [--trash URI] [--json]`: a retention policy over savepoint directories and
//! checkpoint bases, and the removal of what no kept snapshot references. Also the report both
//! `gc` and `dispose` print ([`report`]).

use std::io::Write;

use ferry_core::lifecycle::{self, Plan, PlanOptions, Policy, Scope, Summary, Verdict};
use ferry_core::transfer::Endpoint;
use ferry_core::{Entry, Location};

use crate::backends;
use crate::cli::{GcArgs, GlobalArgs};
use crate::exit;
use crate::units::human_bytes;

/// Runs `ferry gc`.
pub async fn run(args: GcArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    for root in &args.roots {
        backends::check_options(&registry, &args.backend, root, None, true)?;
    }
    let options = args.backend.side(true);
    let mut roots = Vec::new();
    for root in &args.roots {
        roots.push(backends::endpoint(&registry, root, &options).await?);
    }
    let mut keep = Vec::new();
    for named in &args.keep {
        let location =
            Location::parse(named).map_err(|e| exit::usage_error(format!("--keep: {e}")))?;
        keep.push(snapshot_dir(location));
    }
    let policy = Policy {
        keep_latest: args.keep_latest,
        keep_newer_than: args.keep_newer_than,
        keep,
    };
    policy
        .validate()
        .map_err(|e| exit::usage_error(e.to_string()))?;
    let trash = trash(&registry, args.trash.as_deref(), &roots, &options).await?;
    let plan = lifecycle::plan(
        roots,
        Scope::Gc(policy),
        PlanOptions {
            grace: args.grace,
            ..PlanOptions::default()
        },
    )
    .await?;
    report(
        "gc",
        &plan,
        args.delete,
        trash.as_ref(),
        args.json,
        global.verbose,
    )
    .await
}

/// A snapshot named by its `_metadata` path is its directory.
pub fn snapshot_dir(location: Location) -> Location {
    if location.file_name() == Some("_metadata") {
        location.parent().unwrap_or(location)
    } else {
        location
    }
}

/// Opens `--trash`: on the same store as every root, and inside none of them (it would be
/// collected itself).
pub async fn trash(
    registry: &ferry_core::Registry,
    trash: Option<&str>,
    roots: &[Endpoint],
    options: &ferry_core::BackendOptions,
) -> anyhow::Result<Option<Endpoint>> {
    let Some(text) = trash else {
        return Ok(None);
    };
    let trash = backends::endpoint(registry, text, options).await?;
    for root in roots {
        if !trash.location.same_store(&root.location) {
            return Err(exit::usage_error(format!(
                "--trash {} is not on the store of {}: files are moved within one store",
                trash.location, root.location
            )));
        }
        if trash.location.strip_prefix(&root.location).is_some()
            || root.location.strip_prefix(&trash.location).is_some()
        {
            return Err(exit::usage_error(format!(
                "--trash {} overlaps the root {}: use a directory outside it",
                trash.location, root.location
            )));
        }
    }
    let caps = trash.storage.capabilities();
    if !caps.atomic_rename && !caps.server_side_copy {
        return Err(exit::usage_error(format!(
            "--trash: the {} store can neither rename nor copy in place",
            trash.storage.name()
        )));
    }
    Ok(Some(trash))
}

/// The JSON report of `gc` and `dispose`.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    command: &'a str,
    dry_run: bool,
    snapshots: &'a [lifecycle::SnapshotRecord],
    blocked: Option<&'a str>,
    plan: &'a Summary,
    deleted: Option<&'a Summary>,
    trash: Option<String>,
}

/// Surveys the plan, prints it (and each file with -v), and with `delete` carries it out.
pub async fn report(
    command: &str,
    plan: &Plan,
    delete: bool,
    trash: Option<&Endpoint>,
    json: bool,
    verbose: u8,
) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    let show_files = verbose > 0 && !json;
    let print_file = |entry: &Entry, verdict: Verdict| {
        if !show_files {
            return;
        }
        let why = match verdict {
            Verdict::Snapshot(i) => format!("go    {}", plan.snapshots[i].location),
            Verdict::Exclusive => "go    only the disposed snapshot references it".to_string(),
            Verdict::Orphan => "go    orphan: no kept snapshot references it".to_string(),
            Verdict::Needed(i) => format!("keep  needed by {}", plan.snapshots[i].location),
            Verdict::Young => "keep  younger than the grace period".to_string(),
            Verdict::Blocked => "keep  blocked by an unreadable snapshot".to_string(),
            Verdict::InKept(_) | Verdict::Unrelated => return,
        };
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}  {}  ({why})",
            human_bytes(entry.size),
            entry.location
        );
    };
    let summary = plan.survey(print_file).await?;
    if !json {
        print_plan(&mut out, command, plan, &summary, delete)?;
    }
    drop(out);
    let deleted = if delete {
        Some(lifecycle::execute(plan, trash, |_, _| {}).await?)
    } else {
        None
    };
    if json {
        crate::json::print(&JsonReport {
            command,
            dry_run: !delete,
            snapshots: &plan.snapshots,
            blocked: plan.blocked.as_deref(),
            plan: &summary,
            deleted: deleted.as_ref(),
            trash: trash.map(|t| t.location.to_string()),
        })?;
    } else if let Some(done) = &deleted {
        let verb = if trash.is_some() { "moved" } else { "deleted" };
        writeln!(
            std::io::stdout().lock(),
            "{verb} {} files, {}{}",
            done.delete.files,
            human_bytes(done.delete.bytes),
            trash.map_or(String::new(), |t| format!(" to {}", t.location))
        )?;
    }
    Ok(exit::OK)
}

fn print_plan(
    out: &mut impl Write,
    command: &str,
    plan: &Plan,
    summary: &Summary,
    delete: bool,
) -> anyhow::Result<()> {
    if !delete {
        writeln!(
            out,
            "ferry {command}: dry run, nothing is deleted (--delete to delete)"
        )?;
    }
    let going = plan.snapshots.iter().filter(|s| !s.keep).count();
    writeln!(
        out,
        "{} snapshot directories: {} kept, {} go",
        plan.snapshots.len(),
        plan.snapshots.len() - going,
        going
    )?;
    for s in &plan.snapshots {
        writeln!(
            out,
            "  {:<4}  {:<10}  {:>6}  {}  ({}{})",
            if s.keep { "keep" } else { "go" },
            s.kind,
            s.id.map_or("-".to_string(), |i| i.to_string()),
            s.location,
            s.reason,
            match (&s.problem, s.complete) {
                (Some(p), true) => format!("; {p}"),
                _ => String::new(),
            }
        )?;
    }
    writeln!(
        out,
        "{} {} files, {}",
        if delete { "deleting" } else { "would delete" },
        summary.delete.files,
        human_bytes(summary.delete.bytes)
    )?;
    for (job, kinds) in &summary.per_job {
        let parts: Vec<String> = kinds
            .iter()
            .map(|(kind, t)| format!("{kind} {} files {}", t.files, human_bytes(t.bytes)))
            .collect();
        writeln!(out, "  {job}: {}", parts.join(", "))?;
    }
    for (snapshot, t) in &summary.needed {
        writeln!(
            out,
            "kept: {} files ({}) outside kept snapshot directories, needed by {snapshot}",
            t.files,
            human_bytes(t.bytes)
        )?;
    }
    if summary.young.files > 0 {
        writeln!(
            out,
            "kept: {} unreferenced files ({}) written within the grace period",
            summary.young.files,
            human_bytes(summary.young.bytes)
        )?;
    }
    if let Some(why) = &plan.blocked {
        writeln!(out, "blocked: {why}")?;
    }
    Ok(())
}
