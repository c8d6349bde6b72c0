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
    let root = backends::endpoint(&registry, &args.root, &args.backend.side(true)).await?;
    let snapshots = snapshot::list(root.storage.as_ref(), &root.location).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &snapshots)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
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

/// UTC time as `YYYY-MM-DD HH:MM:SS` (no time-zone database needed).
fn format_time(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert_eq!(format_time(t), "2026-11-18 11:06:40");
        assert_eq!(format_time(SystemTime::UNIX_EPOCH), "1970-01-01 00:00:00");
    }
}
