//! One module per subcommand, each with a `run` that returns an exit code, and the
//! translation of shared flags into the core's options.

mod completions;
mod cp;
mod dispose;
mod filters;
mod flink;
mod gc;
mod inspect;
mod ls;
mod migrate;
mod repair;
mod rewrite;
mod verify;
mod version;

use std::path::PathBuf;

use ferry_core::retry::RetryPolicy;
use ferry_core::transfer::{Compare, CompareMode, CopyOptions, VerifyMode};

use crate::cli::{Cli, Command, CompareArgs, TransferArgs, VerifyArg};

/// Runs the chosen command and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let json = cli.command.json();
    let result = match cli.command {
        Command::Cp(args) => cp::run(args, &cli.global).await,
        Command::Migrate(args) => migrate::run(args, &cli.global).await,
        Command::Verify(args) => verify::run(args, &cli.global).await,
        Command::Ls(args) => ls::run(args).await,
        Command::Inspect(args) => inspect::run(args, &cli.global).await,
        Command::Rewrite(args) => rewrite::run(args, &cli.global).await,
        Command::Repair(args) => repair::run(args, &cli.global).await,
        Command::Jobs(args) => flink::jobs(args).await,
        Command::Savepoint(args) => flink::savepoint(args, &cli.global).await,
        Command::Stop(args) => flink::stop(args, &cli.global).await,
        Command::Checkpoint(args) => flink::checkpoint(args, &cli.global).await,
        Command::K8sSnapshot(args) => flink::k8s_snapshot(args),
        Command::Dispose(args) => dispose::run(args, &cli.global).await,
        Command::Gc(args) => gc::run(args, &cli.global).await,
        Command::Options => {
            print!(
                "{}",
                crate::backends::options_text(&crate::backends::registry())
            );
            Ok(crate::exit::OK)
        }
        Command::Version(args) => version::run(&args),
        Command::Completions(args) => completions::completions(&args),
        Command::Manpages(args) => completions::manpages(&args),
    };
    result.unwrap_or_else(|err| crate::exit::report(&err, json))
}

/// The core's copy options from the shared transfer flags.
/// `dry_run`: nothing may be written, not even the state directory.
pub fn transfer_options(args: &TransferArgs, dry_run: bool) -> anyhow::Result<CopyOptions> {
    check_ranges(args)?;
    Ok(CopyOptions {
        concurrency: args.concurrency.unwrap_or(0),
        part_size: args.part_size,
        memory_budget: args
            .buffer_memory
            .unwrap_or(DEFAULT_BUFFER_MEMORY)
            .max(args.part_size),
        bwlimit: args.bwlimit,
        retry: RetryPolicy {
            retries: args.retries,
            ..RetryPolicy::default()
        },
        verify: match args.verify {
            VerifyArg::Size => VerifyMode::Size,
            VerifyArg::Checksum => VerifyMode::Checksum,
            VerifyArg::Full => VerifyMode::Full,
        },
        journal_dir: (!args.no_resume)
            .then(|| journal_dir(args, dry_run))
            .flatten(),
        // A test hook (docs/architecture.md): a fixed-pace client, to compare against.
        adaptive_throttle: std::env::var("FERRY_ADAPTIVE_THROTTLE").map_or(true, |v| v != "off"),
        ..CopyOptions::default()
    })
}

/// The core's comparison from --checksum/--size-only/--update/--ignore-existing/--ignore-size.
pub fn compare(args: &CompareArgs) -> anyhow::Result<Compare> {
    if args.ignore_size && !(args.checksum || args.update) {
        return Err(crate::exit::usage_error(
            "--ignore-size needs --checksum or --update (it leaves sizes out of their comparison)",
        ));
    }
    Ok(Compare {
        mode: if args.checksum {
            CompareMode::Checksum
        } else if args.size_only {
            CompareMode::SizeOnly
        } else {
            CompareMode::Identical
        },
        update: args.update,
        ignore_existing: args.ignore_existing,
        ignore_size: args.ignore_size,
    })
}

/// The deprecation note of `-u/--update`, whose meaning changed (shown for one release).
pub fn update_note() {
    crate::exit::note!(
        "ferry: note: -u/--update now has rclone's meaning: files newer at the destination are \
         skipped; to compare every file by size and checksum as --update did until now, use \
         -c/--checksum (this note goes away in the next release)"
    );
}

/// `--buffer-memory`'s default.
const DEFAULT_BUFFER_MEMORY: u64 = 64 << 20;
/// `--part-size`'s range: Flink's parts are never smaller, and S3's largest part.
const PART_SIZE_RANGE: std::ops::RangeInclusive<u64> = 64 << 10..=5 << 30;
/// `-j`'s range.
const CONCURRENCY_RANGE: std::ops::RangeInclusive<usize> = 1..=4096;
/// `--retries`' range.
const RETRIES_RANGE: std::ops::RangeInclusive<u32> = 0..=100;

/// Out-of-range transfer settings are usage errors (exit 2) naming the flag and its range.
fn check_ranges(args: &TransferArgs) -> anyhow::Result<()> {
    use crate::exit::usage_error;
    use crate::units::human_bytes;
    if let Some(n) = args.concurrency.filter(|n| !CONCURRENCY_RANGE.contains(n)) {
        return Err(usage_error(format!(
            "--concurrency must be from 1 to 4096, not {n}"
        )));
    }
    if !PART_SIZE_RANGE.contains(&args.part_size) {
        return Err(usage_error(format!(
            "--part-size must be from 64K to 5G, not {}",
            human_bytes(args.part_size)
        )));
    }
    if let Some(memory) = args.buffer_memory.filter(|m| *m < args.part_size) {
        return Err(usage_error(format!(
            "--buffer-memory must be at least one part (--part-size, {}), not {}",
            human_bytes(args.part_size),
            human_bytes(memory)
        )));
    }
    if !RETRIES_RANGE.contains(&args.retries) {
        return Err(usage_error(format!(
            "--retries must be from 0 to 100, not {}",
            args.retries
        )));
    }
    Ok(())
}

/// `--state-dir`/`FERRY_STATE_DIR`, else `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`;
/// journals go in its `journals/` folder. A folder ferry cannot create or write to (a
/// read-only HOME in a container) means no journal, with a warning — not a failed copy: a
/// re-run still skips the files already at the destination with the same bytes.
fn journal_dir(args: &TransferArgs, dry_run: bool) -> Option<PathBuf> {
    let base = state_base(args.state_dir.clone())?;
    let dir = base.join("journals");
    if dry_run {
        // Only read: a journal that cannot be read is no journal (the engine says why).
        return Some(dir);
    }
    match writable(&dir) {
        Ok(()) => Some(dir),
        Err(err) => {
            crate::exit::note!(
                "ferry: warning: cannot keep a resume journal in {}: {err}; copying without one \
                 (a re-run still skips files already there with the same bytes; --state-dir \
                 DIR to choose another place)",
                dir.display()
            );
            None
        }
    }
}

/// ferry's state directory: `given` (`--state-dir`/`FERRY_STATE_DIR`), else
/// `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`.
pub fn state_base(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        std::env::var_os("XDG_STATE_HOME")
            .map(|d| PathBuf::from(d).join("ferry"))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/ferry"))
            })
    })
}

/// Creates `dir` if needed and checks that a file can be created in it.
fn writable(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".ferry-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}
