//! `ferry ls ROOT [--json]`: the snapshots under a savepoint directory or checkpoint base, with
//! their own size and the size of what they reference outside their directory, and why an
//! incomplete one is incomplete. A ROOT that does not exist is an error.

use std::io::Write;
use std::time::SystemTime;

use ferry_core::relocate::snapshot;

use crate::backends;
use crate::cli::LsArgs;
use crate::exit;
use crate::units::human_bytes;

/// Runs `ferry ls`.
pub async fn run(args: LsArgs) -> anyhow::Result<i32> {
    let registry = backends::registry();
    backends::check_options(&registry, &args.backend, &args.root, None, false)?;
    let root = backends::endpoint(&registry, &args.root, &args.backend.side(true)).await?;
    let snapshots = snapshot::list(root.storage.as_ref(), &root.location).await?;
    if args.json {
        let mut listed = Vec::with_capacity(snapshots.len());
        for s in &snapshots {
            let mut value = serde_json::to_value(s)?;
            value["modified"] = s.modified.map(rfc3339).into();
            listed.push(value);
        }
        crate::json::print(&serde_json::json!({
            "root": root.location.to_string(),
            "snapshots": listed,
        }))?;
        return Ok(exit::OK);
    }
    let mut out = std::io::stdout().lock();
    if snapshots.is_empty() {
        writeln!(out, "no snapshots under {}", root.location)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{:>8}  {:<10}  {:<8}  {:>10}  {:>10}  {:<20}  location",
        "id", "kind", "complete", "own", "external", "time"
    )?;
    for s in &snapshots {
        writeln!(
            out,
            "{:>8}  {:<10}  {:<8}  {:>10}  {:>10}  {:<20}  {}{}",
            s.id.map_or("-".to_string(), |i| i.to_string()),
            s.kind,
            if s.complete { "yes" } else { "NO" },
            human_bytes(s.own_size),
            if s.external_files > 0 {
                format!("+{}", human_bytes(s.external_size))
            } else {
                "-".to_string()
            },
            s.modified.map_or("-".to_string(), format_time),
            s.location,
            s.problem
                .as_ref()
                .map_or(String::new(), |why| format!("  ({why})")),
        )?;
    }
    if snapshots.iter().any(|s| s.external_files > 0) {
        writeln!(
            out,
            "external: files _metadata references outside the snapshot's directory (sizes as \
             recorded); the snapshot needs them, so moving its directory alone breaks it"
        )?;
    }
    Ok(exit::OK)
}

/// UTC time as `YYYY-MM-DD HH:MM:SS`, for the table.
fn format_time(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// UTC time in RFC 3339, for `--json`: `2026-11-18T11:06:40Z` (with fractions when not whole).
fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert_eq!(format_time(t), "2026-11-18 11:06:40");
        assert_eq!(format_time(SystemTime::UNIX_EPOCH), "1970-01-01 00:00:00");
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40Z");
        let t = t + std::time::Duration::from_millis(250);
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40.250Z");
    }
}
