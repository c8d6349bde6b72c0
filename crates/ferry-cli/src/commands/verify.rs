//! `ferry verify SNAPSHOT [--deep] [--json]`: is the snapshot complete where it lies?

use std::io::Write;

use ferry_core::relocate::{closure, verify};

use crate::backends;
use crate::cli::{GlobalArgs, VerifyArgs};
use crate::exit;
use crate::units::human_bytes;

/// Runs `ferry verify`.
pub async fn run(args: VerifyArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    backends::check_options(&registry, &args.backend, &args.snapshot, None, true)?;
    let options = args.backend.side(true);
    let snapshot = backends::endpoint(&registry, &args.snapshot, &options).await?;
    let report = verify::verify(
        &registry,
        &options,
        snapshot.storage,
        &snapshot.location,
        args.deep,
    )
    .await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        /// The report and its verdict.
        #[derive(serde::Serialize)]
        struct WithVerdict<'a, T: serde::Serialize> {
            #[serde(flatten)]
            report: &'a T,
            ok: bool,
        }
        crate::json::print(&WithVerdict {
            report: &report,
            ok: report.ok(),
        })?;
    } else if !global.quiet {
        writeln!(
            out,
            "snapshot {} (format v{}, checkpoint {})",
            report.snapshot, report.format_version, report.checkpoint_id
        )?;
        writeln!(
            out,
            "{} referenced files, {}{}",
            report.files,
            human_bytes(report.bytes),
            if args.deep {
                format!(", {} read to the end", report.deep_checked)
            } else {
                String::new()
            }
        )?;
        for warning in &report.warnings {
            writeln!(out, "warning: {warning}")?;
        }
        for problem in &report.problems {
            writeln!(
                out,
                "problem: {}: {} ({})",
                problem.path, problem.problem, problem.referenced_by
            )?;
        }
        if let Some(missing) = &report.missing_relative {
            print_missing_relative(&mut out, missing)?;
        }
        let depends = (!report.self_contained).then(|| {
            format!(
                "depends on {} files ({}) outside its directory, under {}",
                report.external_files,
                human_bytes(report.external_bytes),
                closure::describe_roots(&report.external_roots)
            )
        });
        match (report.ok(), depends) {
            (true, None) => writeln!(
                out,
                "ok: every referenced file is present with its recorded size"
            )?,
            (true, Some(depends)) => writeln!(
                out,
                "ok: every referenced file is present with its recorded size, but the \
                 snapshot {depends} — moving or deleting those breaks it; to move it, use \
                 ferry migrate"
            )?,
            (false, depends) => {
                if let Some(depends) = depends {
                    writeln!(out, "note: the snapshot {depends}")?;
                }
                writeln!(out, "NOT RESTORABLE: fix the problems above")?;
            }
        }
    }
    Ok(if report.ok() { exit::OK } else { exit::PARTIAL })
}

/// The FLINK-39964 pattern in words: relative files missing from the snapshot directory, where
/// files of those names and sizes are, the likely cause and the repairing command.
fn print_missing_relative(
    out: &mut impl Write,
    missing: &verify::MissingRelative,
) -> std::io::Result<()> {
    let roots: Vec<String> = missing
        .search
        .roots
        .iter()
        .map(ToString::to_string)
        .collect();
    writeln!(
        out,
        "note: {} relative references name files missing from the snapshot directory; \
         searched {} for files of those names and recorded sizes: {} found, {} not",
        missing.files,
        if roots.is_empty() {
            "no default root".to_string()
        } else {
            roots.join(", ")
        },
        missing.search.found.len(),
        missing.search.unresolved.len()
    )?;
    for (dir, n) in &missing.found_in {
        writeln!(out, "note: {n} of them are in {dir}")?;
    }
    for unresolved in missing.search.unresolved.iter().take(3) {
        writeln!(
            out,
            "note: {} ({}): {}",
            unresolved.name, unresolved.breadcrumb, unresolved.reason
        )?;
    }
    if let Some(cause) = &missing.likely_cause {
        writeln!(out, "likely cause: {cause}")?;
    }
    if let Some(command) = &missing.repair_command {
        writeln!(out, "repair in place with:\n  {command}")?;
    }
    if let Some(command) = &missing.migrate_command {
        writeln!(
            out,
            "or migrate to a self-contained copy with:\n  {command}"
        )?;
    }
    Ok(())
}
