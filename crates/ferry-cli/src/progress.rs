//! How `cp` and `migrate` report progress while they run.
//!
//! - On a terminal: a live bar (indicatif) that fits 80 columns: bytes, rate, files, elapsed
//!   time, and an ETA once the total is known ("listing…" while it still grows).
//! - Without a terminal (a Kubernetes Job, a CI step, cron): a one-line stats record every
//!   `--stats` interval (30 s by default) and a final one, as text or as JSON lines
//!   (`--stats-json`, or `--json`; schema in docs/json.md). They go where logs go: stderr, or
//!   the `--log-file`.
//! - Dry runs: the plan, summarised by directory on stdout (every file with `-v`).
//!
//! The engine reports through [`Observer`]; one ticker task turns the counters into bar
//! updates and records, so the copy's own tasks only add to atomics.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferry_core::transfer::report::{Action, FileOutcome, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::units::{human_bytes, human_duration};

/// Version of the stats record's JSON schema (docs/json.md).
pub const STATS_SCHEMA_VERSION: u32 = 1;

/// Width the bar line must fit in (one column spare: terminals wrap on the last one).
const LINE_WIDTH: usize = 79;
/// Columns of the bar itself.
const BAR_WIDTH: usize = 14;
/// How often the bar is redrawn.
const BAR_TICK: Duration = Duration::from_millis(250);

/// How a dry run prints its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanListing {
    /// Not at all (a real run, or `--json`).
    Off,
    /// Files and bytes per directory.
    ByDirectory,
    /// One line per file (`-v`).
    EveryFile,
}

/// What to show.
#[derive(Debug, Clone)]
pub struct ProgressConfig {
    /// Draw the bar (only ever on a terminal).
    pub bar: bool,
    /// Print a stats record at this interval, and a final one.
    pub stats_every: Option<Duration>,
    /// Stats records as JSON lines instead of text.
    pub stats_json: bool,
    /// The plan of a dry run.
    pub plan: PlanListing,
    /// One line per finished file.
    pub verbose: bool,
    /// Colour the bar.
    pub colour: bool,
    /// `-q`: no warnings (failures are still printed).
    pub quiet: bool,
}

impl ProgressConfig {
    /// The usual choice for `cp`/`migrate`: `stats` is `--stats` (None when not given), `json`
    /// is `--json`, `stats_json` is `--stats-json`.
    pub fn for_run(
        global: &crate::cli::GlobalArgs,
        stats: Option<Duration>,
        stats_json: bool,
        json: bool,
        dry_run: bool,
    ) -> ProgressConfig {
        let terminal = crate::terminal::stderr_is_terminal();
        // -P/--progress where no bar can be drawn: a record every second; --no-progress: none.
        let default_stats = match (global.progress, global.no_progress) {
            (_, true) => None,
            (true, false) if !terminal => Some(Duration::from_secs(1)),
            _ => (!terminal && !global.quiet).then_some(Duration::from_secs(30)),
        };
        let stats_every = match stats {
            Some(every) if every.is_zero() => None,
            Some(every) => Some(every),
            None => default_stats,
        };
        ProgressConfig {
            bar: terminal && !global.quiet && !global.no_progress && !json && !dry_run,
            stats_every: stats_every.filter(|_| !dry_run),
            stats_json: stats_json || json,
            plan: match (dry_run && !json, global.verbose > 0) {
                (false, _) => PlanListing::Off,
                (true, false) => PlanListing::ByDirectory,
                (true, true) => PlanListing::EveryFile,
            },
            verbose: global.verbose > 0,
            colour: crate::terminal::colour_on_stderr(),
            quiet: global.quiet,
        }
    }
}

/// Files and bytes of one directory of a dry run's plan.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DirTotals {
    /// Files to copy.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files already at the destination.
    pub skipped: u64,
}

/// Progress of one `cp` or `migrate` run.
pub struct CopyProgress {
    config: ProgressConfig,
    bar: Option<ProgressBar>,
    started: Instant,
    first_byte: OnceLock<Instant>,
    files_seen: AtomicU64,
    bytes_seen: AtomicU64,
    total_known: AtomicBool,
    files_total: AtomicU64,
    bytes_total: AtomicU64,
    files_done: AtomicU64,
    bytes_moved: AtomicU64,
    bytes_skipped: AtomicU64,
    errors: AtomicU64,
    plan_dirs: Mutex<BTreeMap<String, DirTotals>>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl CopyProgress {
    /// A progress display; call [`start`](Self::start) when the copy begins.
    pub fn new(config: ProgressConfig) -> CopyProgress {
        let bar = config.bar.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let template = if config.colour {
                format!("{{bar:{BAR_WIDTH}.cyan/blue}} {{msg}}")
            } else {
                format!("{{bar:{BAR_WIDTH}}} {{msg}}")
            };
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        CopyProgress {
            config,
            bar,
            started: Instant::now(),
            first_byte: OnceLock::new(),
            files_seen: AtomicU64::new(0),
            bytes_seen: AtomicU64::new(0),
            total_known: AtomicBool::new(false),
            files_total: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            bytes_moved: AtomicU64::new(0),
            bytes_skipped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            plan_dirs: Mutex::new(BTreeMap::new()),
            ticker: Mutex::new(None),
        }
    }

    /// Starts redrawing the bar and printing stats records (needs the tokio runtime).
    pub fn start(self: &std::sync::Arc<Self>) {
        if self.bar.is_none() && self.config.stats_every.is_none() {
            return;
        }
        let this = self.clone();
        let task = tokio::spawn(async move {
            let tick = match (&this.bar, this.config.stats_every) {
                (Some(_), Some(every)) => every.min(BAR_TICK),
                (Some(_), None) => BAR_TICK,
                (None, Some(every)) => every,
                (None, None) => return,
            };
            let mut last_record = Instant::now();
            let mut interval = tokio::time::interval(tick);
            interval.tick().await;
            loop {
                interval.tick().await;
                this.redraw();
                if let Some(every) = this.config.stats_every {
                    if last_record.elapsed() + tick / 2 >= every {
                        last_record = Instant::now();
                        this.record("progress");
                    }
                }
            }
        });
        if let Ok(mut ticker) = self.ticker.lock() {
            *ticker = Some(task);
        }
    }

    /// The totals are final (a migration's plan): `files` files of `bytes` bytes.
    pub fn set_totals(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
        self.total_known.store(true, Ordering::Relaxed);
    }

    /// Stops the display: removes the bar, prints the final stats record and a dry run's plan
    /// summary. Call once, before the summary.
    pub fn finish(&self) {
        if let Some(task) = self.ticker.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.config.stats_every.is_some() {
            self.record("done");
        }
        if self.config.plan == PlanListing::ByDirectory {
            let dirs = self.plan_dirs.lock().map(|d| d.clone()).unwrap_or_default();
            let mut out = std::io::stdout().lock();
            for (dir, totals) in &dirs {
                let _ = writeln!(out, "{}", dir_line(dir, totals));
            }
        }
    }

    /// Stops the display of a run that ended in an error: stops the periodic records and removes
    /// the bar, so the error line that follows stands alone.
    pub fn abandon(&self) {
        if let Some(task) = self.ticker.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> Stats {
        let known = self.total_known.load(Ordering::Relaxed);
        let seen_files = self.files_seen.load(Ordering::Relaxed);
        let seen_bytes = self.bytes_seen.load(Ordering::Relaxed);
        let (files_total, bytes_total) = if known {
            (
                self.files_total.load(Ordering::Relaxed).max(seen_files),
                self.bytes_total.load(Ordering::Relaxed).max(seen_bytes),
            )
        } else {
            (seen_files, seen_bytes)
        };
        let moved = self.bytes_moved.load(Ordering::Relaxed);
        let bytes_done =
            (moved + self.bytes_skipped.load(Ordering::Relaxed)).min(bytes_total.max(moved));
        let now = Instant::now();
        let rate = self.first_byte.get().map_or(0.0, |first| {
            let secs = now.duration_since(*first).as_secs_f64();
            if secs > 0.0 {
                moved as f64 / secs
            } else {
                0.0
            }
        });
        Stats {
            elapsed: now.duration_since(self.started),
            bytes_done,
            bytes_total,
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total,
            total_known: known,
            bytes_per_second: rate,
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    fn redraw(&self) {
        if let Some(bar) = &self.bar {
            let stats = self.snapshot();
            bar.set_length(stats.bytes_total.max(1));
            bar.set_position(stats.bytes_done);
            bar.set_message(bar_text(&stats, LINE_WIDTH - BAR_WIDTH - 1));
        }
    }

    /// Prints one stats record (`event`: `progress` or `done`).
    fn record(&self, event: &'static str) {
        let stats = self.snapshot();
        let text = if self.config.stats_json {
            serde_json::to_string(&stats.record(event)).unwrap_or_default()
        } else {
            format!("ferry: {event}: {}", stats.text())
        };
        match &self.bar {
            Some(bar) => bar.println(&text),
            None => crate::logs::line(&text),
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(ferry_core::redact::redact(text));
                crate::logs::also_to_file(text);
            }
            None => crate::exit::note!("{text}"),
        }
    }
}

/// The counters of a run at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Since the run started.
    pub elapsed: Duration,
    /// Bytes copied, plus those of files skipped as already there.
    pub bytes_done: u64,
    /// Bytes found so far (final once `total_known`).
    pub bytes_total: u64,
    /// Files finished (copied, skipped or failed).
    pub files_done: u64,
    /// Files found so far.
    pub files_total: u64,
    /// Whether the listing ended, so the totals are final.
    pub total_known: bool,
    /// Average rate since the first byte moved.
    pub bytes_per_second: f64,
    /// Files failed so far.
    pub errors: u64,
}

/// A stats record as `--stats-json` prints it (one JSON object per line).
#[derive(Debug, Serialize)]
pub struct StatsRecord {
    schema_version: u32,
    event: &'static str,
    elapsed_seconds: f64,
    bytes_done: u64,
    bytes_total: u64,
    files_done: u64,
    files_total: u64,
    total_known: bool,
    bytes_per_second: f64,
    eta_seconds: Option<f64>,
    errors: u64,
}

impl Stats {
    /// Time left at the current rate; none until the total is known and bytes move.
    pub fn eta(&self) -> Option<Duration> {
        if !self.total_known || self.bytes_per_second <= 0.0 {
            return None;
        }
        let left = self.bytes_total.saturating_sub(self.bytes_done) as f64;
        Duration::try_from_secs_f64(left / self.bytes_per_second).ok()
    }

    fn record(&self, event: &'static str) -> StatsRecord {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        StatsRecord {
            schema_version: STATS_SCHEMA_VERSION,
            event,
            elapsed_seconds: round(self.elapsed.as_secs_f64()),
            bytes_done: self.bytes_done,
            bytes_total: self.bytes_total,
            files_done: self.files_done,
            files_total: self.files_total,
            total_known: self.total_known,
            bytes_per_second: self.bytes_per_second.round(),
            eta_seconds: self.eta().map(|d| round(d.as_secs_f64())),
            errors: self.errors,
        }
    }

    /// The one-line text record.
    pub fn text(&self) -> String {
        let more = if self.total_known { "" } else { "+" };
        let eta = match self.eta() {
            Some(eta) => format!("ETA {}", human_duration(eta)),
            None if !self.total_known => "ETA unknown (listing)".to_string(),
            None => "ETA unknown".to_string(),
        };
        format!(
            "{}/{}{more} ({}), files {}/{}{more}, {}/s, {eta}, errors {}, elapsed {}",
            human_bytes(self.bytes_done),
            human_bytes(self.bytes_total),
            percent(self.bytes_done, self.bytes_total),
            self.files_done,
            self.files_total,
            human_bytes(self.bytes_per_second as u64),
            self.errors,
            human_duration(self.elapsed)
        )
    }
}

fn percent(done: u64, total: u64) -> String {
    match done.saturating_mul(100).checked_div(total) {
        Some(percent) => format!("{percent}%"),
        None => "0%".to_string(),
    }
}

/// The text right of the bar, at most `width` columns: the most useful parts that fit.
pub fn bar_text(stats: &Stats, width: usize) -> String {
    let bytes = format!(
        "{}/{}",
        human_bytes(stats.bytes_done),
        human_bytes(stats.bytes_total)
    );
    let tail = match stats.eta() {
        Some(eta) => format!("ETA {}", human_duration(eta)),
        None if !stats.total_known => "listing…".to_string(),
        None => String::new(),
    };
    let rate = format!("{}/s", human_bytes(stats.bytes_per_second as u64));
    let files = format!("{}/{} files", stats.files_done, stats.files_total);
    let elapsed = human_duration(stats.elapsed);
    let errors = (stats.errors > 0).then(|| format!("{} failed", stats.errors));
    // Dropped from the end of this list first when the line is too long.
    let optional = [Some(elapsed), errors, Some(rate), Some(files)];
    for keep in (0..=optional.len()).rev() {
        let mut parts = vec![bytes.clone()];
        parts.extend(optional[..keep].iter().flatten().cloned());
        parts.push(tail.clone());
        let text = parts
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if text.chars().count() <= width {
            return text;
        }
    }
    bytes
}

/// One line of a dry run's per-directory summary.
fn dir_line(dir: &str, totals: &DirTotals) -> String {
    let mut line = format!(
        "{:>8} files {:>11}  {dir}",
        totals.files,
        human_bytes(totals.bytes)
    );
    if totals.skipped > 0 {
        line.push_str(&format!("  ({} already there)", totals.skipped));
    }
    line
}

/// The directory a dry run's summary counts `rel` under: its parent, at most two levels deep.
pub fn summary_dir(rel: &str) -> String {
    let parent = rel.rsplit_once('/').map_or("", |(dir, _)| dir);
    if parent.is_empty() {
        return "./".to_string();
    }
    let mut levels = parent.splitn(3, '/');
    let mut dir = String::new();
    for level in levels.by_ref().take(2) {
        dir.push_str(level);
        dir.push('/');
    }
    dir
}

/// Adds one file to a per-directory plan summary.
pub fn add_to_summary(
    dirs: &mut BTreeMap<String, DirTotals>,
    dir: String,
    size: u64,
    skipped: bool,
) {
    let totals = dirs.entry(dir).or_default();
    if skipped {
        totals.skipped += 1;
    } else {
        totals.files += 1;
        totals.bytes += size;
    }
}

/// Prints a per-directory plan summary (for `migrate --dry-run`, whose plan comes whole).
pub fn print_summary(
    out: &mut impl Write,
    dirs: &BTreeMap<String, DirTotals>,
) -> std::io::Result<()> {
    for (dir, totals) in dirs {
        writeln!(out, "{}", dir_line(dir, totals))?;
    }
    Ok(())
}

impl Observer for CopyProgress {
    fn planned(&self, rel: &str, size: u64, action: Action) {
        self.files_seen.fetch_add(1, Ordering::Relaxed);
        self.bytes_seen.fetch_add(size, Ordering::Relaxed);
        let skipped = matches!(action, Action::Skip(_));
        if skipped {
            self.bytes_skipped.fetch_add(size, Ordering::Relaxed);
        }
        match self.config.plan {
            PlanListing::Off => {}
            PlanListing::ByDirectory => {
                if let Ok(mut dirs) = self.plan_dirs.lock() {
                    add_to_summary(&mut dirs, summary_dir(rel), size, skipped);
                }
            }
            PlanListing::EveryFile => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "{:<22} {:>12}  {rel}",
                    action.as_str(),
                    human_bytes(size)
                );
            }
        }
    }

    fn transferred(&self, bytes: u64) {
        self.first_byte.get_or_init(Instant::now);
        self.bytes_moved.fetch_add(bytes, Ordering::Relaxed);
    }

    fn finished(&self, outcome: &FileOutcome) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        if let Some(err) = &outcome.error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            self.line(&format!("failed: {}: {err}", outcome.rel));
        } else if let (Some(note), false) = (&outcome.note, self.config.quiet) {
            self.line(&format!("ferry: warning: skipped {}: {note}", outcome.rel));
        } else if self.config.verbose && self.config.plan == PlanListing::Off {
            self.line(&format!(
                "{}: {} -> {}",
                outcome.action.as_str(),
                outcome.rel,
                outcome.destination
            ));
        }
    }

    fn listed(&self, files: u64, bytes: u64) {
        self.set_totals(files, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(done: u64, total: u64, known: bool, rate: f64) -> Stats {
        Stats {
            elapsed: Duration::from_secs(187),
            bytes_done: done,
            bytes_total: total,
            files_done: 12,
            files_total: 40,
            total_known: known,
            bytes_per_second: rate,
            errors: 0,
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn no_eta_while_the_total_grows() {
        let growing = stats(10 * MIB, 300 * MIB, false, MIB as f64);
        assert_eq!(growing.eta(), None);
        let text = bar_text(&growing, LINE_WIDTH - BAR_WIDTH - 1);
        assert!(text.contains("listing…"), "{text}");
        assert!(!text.contains("ETA"), "{text}");
        assert!(growing.text().contains("ETA unknown (listing)"));
        assert!(growing.text().contains("300.00 MiB+"), "{}", growing.text());
    }

    #[test]
    fn eta_once_the_total_is_known() {
        let known = stats(10 * MIB, 300 * MIB, true, MIB as f64);
        assert_eq!(known.eta(), Some(Duration::from_secs(290)));
        let text = bar_text(&known, LINE_WIDTH - BAR_WIDTH - 1);
        assert!(text.contains("ETA 4m50s"), "{text}");
        assert!(!text.contains("listing"), "{text}");
        // Known total but nothing moved yet: no ETA rather than a made-up one.
        assert_eq!(stats(0, 300 * MIB, true, 0.0).eta(), None);
    }

    #[test]
    fn bar_line_fits_80_columns_and_keeps_elapsed() {
        let typical = stats(290 * MIB, 1200 * MIB, true, 45.0 * MIB as f64);
        let text = bar_text(&typical, LINE_WIDTH - BAR_WIDTH - 1);
        assert!(BAR_WIDTH + 1 + text.chars().count() <= 79, "{text}");
        for part in [
            "290.00 MiB/1.17 GiB",
            "45.00 MiB/s",
            "12/40 files",
            "3m07s",
            "ETA",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        let huge = Stats {
            elapsed: Duration::from_secs(359_999),
            bytes_done: 1023 * (1 << 40),
            bytes_total: 1023 * (1 << 40),
            files_done: 123_456_789,
            files_total: 123_456_789,
            total_known: false,
            bytes_per_second: 1023.0 * MIB as f64,
            errors: 99_999,
        };
        let text = bar_text(&huge, LINE_WIDTH - BAR_WIDTH - 1);
        assert!(BAR_WIDTH + 1 + text.chars().count() <= 79, "{text}");
        assert!(text.contains("listing…"), "{text}");
    }

    #[test]
    fn dry_run_summary_groups_by_directory() {
        assert_eq!(summary_dir("a.bin"), "./");
        assert_eq!(summary_dir("shared/x.sst"), "shared/");
        assert_eq!(summary_dir("chk-1/a/b/c/deep.sst"), "chk-1/a/");
        let mut dirs = BTreeMap::new();
        add_to_summary(&mut dirs, summary_dir("shared/x"), 10, false);
        add_to_summary(&mut dirs, summary_dir("shared/y"), 5, false);
        add_to_summary(&mut dirs, summary_dir("shared/z"), 7, true);
        assert_eq!(
            dirs["shared/"],
            DirTotals {
                files: 2,
                bytes: 15,
                skipped: 1
            }
        );
    }
}
