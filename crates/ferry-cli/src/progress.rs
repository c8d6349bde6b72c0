//! The live progress display (indicatif) and per-file lines for `-v` and `--dry-run`.
//!
//! The bar shows bytes, rate, ETA and files done/found; it is drawn only when stderr is a
//! terminal and `-q`/`--json` were not given. Totals grow while the source is still listed.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_core::transfer::report::{Action, FileOutcome, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::units::human_bytes;

/// Prints progress for `ferry cp`.
pub struct CopyProgress {
    bar: Option<ProgressBar>,
    listed: AtomicU64,
    done: AtomicU64,
    print_plan: bool,
    verbose: bool,
}

impl CopyProgress {
    /// `show_bar` is honoured only on a terminal; `print_plan` prints one line per planned file
    /// on stdout (dry runs); `verbose` prints one line per finished file on stderr.
    pub fn new(show_bar: bool, print_plan: bool, verbose: bool) -> CopyProgress {
        let bar = (show_bar && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        CopyProgress {
            bar,
            listed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            print_plan,
            verbose,
        }
    }

    fn update_message(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "files {}/{}",
                self.done.load(Ordering::Relaxed),
                self.listed.load(Ordering::Relaxed)
            ));
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => crate::exit::note!("{text}"),
        }
    }
}

impl Observer for CopyProgress {
    fn planned(&self, rel: &str, size: u64, action: Action) {
        self.listed.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            if !matches!(action, Action::Skip(_)) {
                bar.inc_length(size);
            }
        }
        self.update_message();
        if self.print_plan {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{:<22} {:>12}  {rel}",
                action.as_str(),
                human_bytes(size)
            );
        }
    }

    fn transferred(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finished(&self, outcome: &FileOutcome) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.update_message();
        if let Some(err) = &outcome.error {
            self.line(&format!("failed: {}: {err}", outcome.rel));
        } else if self.verbose && !self.print_plan {
            self.line(&format!(
                "{}: {} -> {}",
                outcome.action.as_str(),
                outcome.rel,
                outcome.destination
            ));
        }
    }
}
