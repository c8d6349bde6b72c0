//! The filter flags (`--include`, `--exclude`, `--include-from`, `--exclude-from`,
//! `--files-from`, `--min-size`, `--max-size`, `--min-age`, `--max-age`) as the core's
//! [`Filter`]; reading the files they name and parsing ages.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use ferry_core::transfer::filter::{self, Filter};

use crate::cli::FilterArgs;
use crate::exit::usage_error;

/// The filter the flags describe. A file that cannot be read is an error naming it; a bad
/// pattern or age is a usage error.
pub fn filter(args: &FilterArgs) -> anyhow::Result<Filter> {
    let mut include = args.include.clone();
    for path in &args.include_from {
        include.extend(filter::patterns_from(&read(path, "--include-from")?));
    }
    let mut exclude = args.exclude.clone();
    for path in &args.exclude_from {
        exclude.extend(filter::patterns_from(&read(path, "--exclude-from")?));
    }
    let mut filter = Filter::new(&include, &exclude).map_err(|e| usage_error(e.to_string()))?;
    if !args.files_from.is_empty() {
        let mut paths = Vec::new();
        for path in &args.files_from {
            paths.extend(filter::paths_from(&read(path, "--files-from")?));
        }
        filter = filter.with_files_from(paths);
    }
    if let (Some(min), Some(max)) = (args.min_size, args.max_size) {
        if min > max {
            return Err(usage_error(format!(
                "--min-size ({min} bytes) is larger than --max-size ({max} bytes): no file fits"
            )));
        }
    }
    let now = SystemTime::now();
    let bound = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<SystemTime>> {
        text.as_deref()
            .map(|t| parse_age(t, now).map_err(|e| usage_error(format!("{flag}: {e}"))))
            .transpose()
    };
    let modified_after = bound("--max-age", &args.max_age)?;
    let modified_before = bound("--min-age", &args.min_age)?;
    Ok(filter
        .with_size(args.min_size, args.max_size)
        .with_modified(modified_after, modified_before))
}

fn read(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
}

/// An rclone age as the point in time it names: a duration back from `now` (`90s`, `15m`,
/// `2h`, `3d`, `1w`, `2M` (30 days), `1y` (365 days); a plain number is days, as in rclone) or
/// a date (`2026-01-31`, `2026-01-31 12:00:00`, RFC 3339), read as UTC.
pub fn parse_age(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let t = text.trim();
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(time.into());
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(time) = chrono::NaiveDateTime::parse_from_str(t, format) {
            return Ok(time.and_utc().into());
        }
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc().into());
    }
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let value: f64 = number.parse().map_err(|_| {
        format!("{text:?} is neither an age (e.g. 2h, 3d, 1w) nor a date (2026-01-31)")
    })?;
    let unit_seconds = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "" | "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        "M" => 30.0 * 86_400.0,
        "y" => 365.0 * 86_400.0,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (ms, s, m, h, d, w, M, y)"
            ))
        }
    };
    let age = Duration::try_from_secs_f64(value * unit_seconds)
        .map_err(|_| format!("{text:?} is out of range"))?;
    now.checked_sub(age)
        .ok_or_else(|| format!("{text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_durations_back_from_now_or_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 86_400);
        let back = |secs: u64| now - Duration::from_secs(secs);
        assert_eq!(parse_age("90s", now).unwrap(), back(90));
        assert_eq!(parse_age("15m", now).unwrap(), back(900));
        assert_eq!(parse_age("2h", now).unwrap(), back(7200));
        assert_eq!(parse_age("3d", now).unwrap(), back(3 * 86_400));
        assert_eq!(parse_age("3", now).unwrap(), back(3 * 86_400));
        assert_eq!(parse_age("1w", now).unwrap(), back(7 * 86_400));
        assert_eq!(
            parse_age("1970-01-02", now).unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_age("1970-01-01T00:01:00Z", now).unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(60)
        );
        assert!(parse_age("soon", now).unwrap_err().contains("soon"));
        assert!(parse_age("3x", now).unwrap_err().contains("unknown unit"));
        assert_eq!(parse_age("2M", now).unwrap(), back(60 * 86_400));
    }
}
