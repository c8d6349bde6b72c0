//! One module per subcommand, each with a `run` that returns an exit code, and the
//! translation of shared flags into the core's options.

mod cp;
mod inspect;
mod ls;
mod migrate;
mod rewrite;
mod verify;

use std::path::PathBuf;

use ferry_core::transfer::retry::RetryPolicy;
use ferry_core::transfer::{CopyOptions, VerifyMode};

use crate::cli::{Cli, Command, TransferArgs, VerifyArg};

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
    };
    result.unwrap_or_else(|err| crate::exit::report(&err, json))
}

/// The core's copy options from the shared transfer flags.
pub fn transfer_options(args: &TransferArgs) -> anyhow::Result<CopyOptions> {
    anyhow::ensure!(
        args.concurrency != Some(0),
        "--concurrency must be at least 1"
    );
    anyhow::ensure!(
        args.part_size >= 64 * 1024,
        "--part-size must be at least 64K"
    );
    Ok(CopyOptions {
        concurrency: args.concurrency.unwrap_or(0),
        part_size: args.part_size,
        memory_budget: args.buffer_memory,
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
        journal_dir: (!args.no_resume).then(|| journal_dir(args)).flatten(),
        // A test hook (docs/architecture.md): a fixed-pace client, to compare against.
        adaptive_throttle: std::env::var("FERRY_ADAPTIVE_THROTTLE").map_or(true, |v| v != "off"),
        ..CopyOptions::default()
    })
}

/// `--state-dir`/`FERRY_STATE_DIR`, else `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`;
/// journals go in its `journals/` folder.
fn journal_dir(args: &TransferArgs) -> Option<PathBuf> {
    let base = args.state_dir.clone().or_else(|| {
        std::env::var_os("XDG_STATE_HOME")
            .map(|d| PathBuf::from(d).join("ferry"))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/ferry"))
            })
    })?;
    Some(base.join("journals"))
}
