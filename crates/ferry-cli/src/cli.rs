//! The command-line grammar (clap). Raw flags live here; each subcommand's `run` turns them
//! into the validated options the core understands. clap types never leave this crate.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::units::parse_size;

/// ferry moves Flink savepoints and checkpoints — and any large directory tree — between
/// HDFS, S3, GCS and local disk, fast and verified.
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More output: -v lists each file, -vv adds debug logs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// ferry's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy a file or a directory tree, in parallel, verified and resumable.
    #[command(long_about = CP_ABOUT)]
    Cp(CpArgs),
}

const CP_ABOUT: &str = "\
Copy a file or a directory tree, in parallel, verified and resumable.

SRC and DST are URIs (file:///data/x, hdfs://nn:8020/p, s3a://bucket/p, gs://bucket/p) or plain
local paths. A directory SRC is copied so that DST holds its contents (DST/<relative path>); a
file SRC is copied to DST, or into DST when DST is a directory or ends with '/'.

Every byte is CRC32C-checked while it streams; each file is checked for size (and against the
store's own checksum where it reports one) before it takes its final name. Interrupted runs
(Ctrl-C, kill -9, crash) resume: run the same command again and verified files are skipped.
Existing destination files are an error unless --update or --overwrite is given.

Memory: file data buffered at once never exceeds max(--buffer-memory, --part-size), 64 MiB by
default, whatever the size of the data; the process as a whole stays under 128 MiB with the
defaults.";

/// `ferry cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// What to copy: a file or a directory (URI or local path).
    pub src: String,
    /// Where to copy it.
    pub dst: String,

    /// Files copied at once.
    #[arg(short = 'j', long, default_value_t = ferry_core::transfer::DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    /// Part size for ranged reads and multipart writes; larger files are copied in parallel parts.
    #[arg(long, default_value = "8M", value_parser = parse_size, value_name = "SIZE")]
    pub part_size: u64,
    /// Most file data buffered at once (the memory bound).
    #[arg(long, default_value = "64M", value_parser = parse_size, value_name = "SIZE")]
    pub buffer_memory: u64,

    /// Skip files whose destination has the same size and checksum.
    #[arg(short, long)]
    pub update: bool,
    /// With --update: compare size and modification time instead of checksums.
    #[arg(long, requires = "update")]
    pub size_only: bool,
    /// Replace existing destination files.
    #[arg(long, conflicts_with = "update")]
    pub overwrite: bool,
    /// Print the plan (files, bytes, actions) and write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Copy only files whose path (relative to SRC) matches this glob; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files whose path (relative to SRC) matches this glob; repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Limit the transfer rate across all files, in bytes per second (e.g. 50M).
    #[arg(long, value_parser = parse_size, value_name = "RATE")]
    pub bwlimit: Option<u64>,
    /// Retries of temporary errors, with exponential backoff.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,
    /// How to verify each file: its size; also the store's checksum where it reports one
    /// (default); or a full re-read of the destination.
    #[arg(long, value_enum, default_value_t = VerifyArg::Checksum)]
    pub verify: VerifyArg,
    /// Copy modification times.
    #[arg(long)]
    pub preserve_mtime: bool,

    /// Do not keep a resume journal.
    #[arg(long)]
    pub no_resume: bool,
    /// Where resume journals are kept.
    #[arg(long, env = "FERRY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print a JSON report on stdout at the end.
    #[arg(long)]
    pub json: bool,

    /// Settings of the stores on each side.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Store settings, for both sides or per side (different accounts, endpoints or clusters).
///
/// Each backend reads the keys it knows (e.g. S3: `endpoint`, `region`, `profile`,
/// `path_style`); see the user guide. Per-side values win over `--option`.
#[derive(Debug, Args, Default, Clone)]
pub struct BackendArgs {
    /// A store setting for both sides, KEY=VALUE; repeatable.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
    /// A store setting for the source only, KEY=VALUE; repeatable.
    #[arg(long = "src-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub src_options: Vec<(String, String)>,
    /// A store setting for the destination only, KEY=VALUE; repeatable.
    #[arg(long = "dst-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub dst_options: Vec<(String, String)>,
    /// A Flink configuration directory (config.yaml or flink-conf.yaml) whose store settings
    /// (s3.endpoint, s3.access-key, …) apply to both sides.
    #[arg(long, value_name = "DIR")]
    pub flink_conf: Option<PathBuf>,
}

impl BackendArgs {
    /// The options for one side: shared ones, then that side's.
    pub fn side(&self, source: bool) -> ferry_core::BackendOptions {
        let mut options = ferry_core::BackendOptions::new();
        if let Some(dir) = &self.flink_conf {
            options.set("flink_conf_dir", dir.display().to_string());
        }
        let side = if source {
            &self.src_options
        } else {
            &self.dst_options
        };
        for (key, value) in self.options.iter().chain(side) {
            options.set(key.clone(), value.clone());
        }
        options
    }
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `--verify` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyArg {
    /// Size only.
    Size,
    /// Size and the store's native checksum where available.
    Checksum,
    /// Size, native checksum and a full re-read.
    Full,
}
