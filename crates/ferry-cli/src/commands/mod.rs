//! One module per subcommand, each with a `run` that returns an exit code.

mod cp;

use crate::cli::{Cli, Command};

/// Runs the chosen command and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Cp(args) => cp::run(args, &cli.global).await,
    };
    result.unwrap_or_else(|err| crate::exit::report(&err))
}
