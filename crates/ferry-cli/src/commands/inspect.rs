//! `ferry inspect PATH [--json] [--files]`: what a Flink snapshot's `_metadata` holds, and
//! whether the snapshot can be moved as a directory. Reads only `_metadata`, from any store.
//! The human summary and the JSON (schema in `docs/inspect-json.md`) are both rendered from
//! one [`InspectReport`].

use std::io::Write;

use ferry_core::relocate::snapshot;
use ferry_metadata::InspectReport;

use crate::backends;
use crate::cli::{GlobalArgs, InspectArgs};
use crate::exit;
use crate::units::human_bytes;

/// Runs `ferry inspect`.
pub async fn run(args: InspectArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    backends::check_options(&registry, &args.backend, &args.path, None, false)?;
    let target = backends::endpoint(&registry, &args.path, &args.backend.side(true)).await?;
    let snap = snapshot::open(target.storage.as_ref(), &target.location).await?;
    let report = InspectReport::new(
        &snap.metadata,
        &snap.metadata_location.to_string(),
        &snap.dir.to_string(),
        snap.raw.len() as u64,
    );
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else if !global.quiet {
        out.write_all(render(&report, args.files).as_bytes())?;
    }
    Ok(exit::OK)
}

/// The human summary.
pub fn render(r: &InspectReport, list_files: bool) -> String {
    let mut s = String::new();
    let mut line = |label: &str, text: String| {
        s.push_str(&format!("{label:<11} {text}\n"));
    };
    line(
        "metadata",
        format!("{} ({})", r.metadata, human_bytes(r.metadata_size)),
    );
    line(
        "format",
        format!(
            "version {}: written by {}, readable by {}",
            r.format_version, r.format.written_by, r.format.readable_by
        ),
    );
    let kind = match (r.kind, r.savepoint_format) {
        (Some("savepoint"), Some(f)) => format!("savepoint, {f} format"),
        (Some(k), _) => k.to_string(),
        (None, _) => "checkpoint or savepoint (format versions before 4 do not say)".into(),
    };
    line("snapshot", format!("id {}, {kind}", r.checkpoint_id));
    if r.master_states > 0 {
        line("masters", format!("{} master states", r.master_states));
    }
    line("operators", r.operators.len().to_string());
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let uid_w = r
        .operators
        .iter()
        .map(|o| dash(&o.uid).chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let name_w = r
        .operators
        .iter()
        .map(|o| dash(&o.name).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 40);
    s.push_str(&format!(
        "  {:<32}  {:<uid_w$}  {:<name_w$}  {:>11}  {:>7}  {:>10}\n",
        "ID", "UID", "NAME", "PARALLELISM", "MAX", "STATE"
    ));
    for o in &r.operators {
        let mut name = dash(&o.name);
        if name.chars().count() > name_w {
            name = name.chars().take(name_w - 1).collect::<String>() + "…";
        }
        let mut state = human_bytes(o.state_size);
        if o.fully_finished {
            state = "finished".into();
        } else if o.finished_subtasks > 0 {
            state = format!("{state} ({} finished)", o.finished_subtasks);
        }
        s.push_str(&format!(
            "  {:<32}  {:<uid_w$}  {:<name_w$}  {:>11}  {:>7}  {:>10}\n",
            o.id,
            dash(&o.uid),
            name,
            o.parallelism,
            o.max_parallelism,
            state
        ));
    }
    let mut line = |label: &str, text: String| {
        s.push_str(&format!("{label:<11} {text}\n"));
    };
    let handles: Vec<String> = r.handles.iter().map(|(k, n)| format!("{n}× {k}")).collect();
    line(
        "handles",
        if handles.is_empty() {
            "none".into()
        } else {
            handles.join(", ")
        },
    );
    let t = &r.totals;
    line(
        "files",
        format!(
            "{} ({}): {} inside the snapshot directory ({}), {} outside ({})",
            t.files,
            human_bytes(t.file_bytes),
            t.files_inside,
            human_bytes(t.bytes_inside),
            t.files_outside,
            human_bytes(t.bytes_outside)
        ),
    );
    line(
        "references",
        format!(
            "{} relative, {} absolute; {} inline in _metadata",
            t.relative_references,
            t.absolute_references,
            human_bytes(t.inline_bytes)
        ),
    );
    for (i, root) in r.external_roots.iter().enumerate() {
        line(
            if i == 0 { "outside" } else { "" },
            format!(
                "{}  ({} files, {})",
                root.root,
                root.files,
                human_bytes(root.bytes)
            ),
        );
    }
    for (i, d) in r.directories.iter().enumerate() {
        line(if i == 0 { "managed" } else { "" }, d.clone());
    }
    if list_files {
        for (i, f) in r.files.iter().enumerate() {
            line(
                if i == 0 { "file list" } else { "" },
                format!(
                    "{:<7}  {:<8}  {:>10}  {}",
                    if f.inside { "inside" } else { "outside" },
                    if f.relative { "relative" } else { "absolute" },
                    f.size.map_or("?".to_string(), human_bytes),
                    f.path
                ),
            );
        }
    }
    line(
        "verdict",
        match r.relocation.verdict {
            "movable" => "movable as a directory".to_string(),
            _ => "needs `ferry migrate` (paths must be rewritten)".to_string(),
        },
    );
    for reason in &r.relocation.reasons {
        line("", format!("- {reason}"));
    }
    s
}
