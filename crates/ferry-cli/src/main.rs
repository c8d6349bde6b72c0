//! The `ferry` binary: parses the command line, runs one subcommand, and maps the outcome to
//! an exit code (see [`exit`]). Errors print as one line on stderr: `ferry: error: …`.

mod backends;
mod cli;
mod commands;
mod exit;
mod progress;
mod units;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    init_tracing(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => exit::fail(&anyhow::Error::new(err).context("cannot start the async runtime")),
    };
    let code = runtime.block_on(commands::run(cli));
    // Do not wait for blocking filesystem tasks of an interrupted copy.
    runtime.shutdown_background();
    std::process::exit(code);
}

fn init_tracing(global: &cli::GlobalArgs) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
