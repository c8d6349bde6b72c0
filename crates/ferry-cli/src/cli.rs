//! The command-line grammar (clap). Raw flags live here; each subcommand's `run` turns them
//! into the validated options the core understands. clap types never leave this crate.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::units::{parse_duration, parse_size};

/// ferry moves Flink savepoints and checkpoints — and any large directory tree — between
/// HDFS, S3, GCS and local disk, fast and verified.
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version = crate::build_info::VERSION_LINE,
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
    /// Append log lines (FERRY_LOG/-v records and --stats records) to FILE instead of
    /// standard error; warnings, errors and summaries go to both.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Show progress: the bar on a terminal, else a progress record every second (as with
    /// --stats 1s).
    #[arg(short = 'P', long, global = true, conflicts_with = "no_progress")]
    pub progress: bool,
    /// No progress bar and no periodic progress records (unless --stats asks for them).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

/// ferry's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy a file or a directory tree, in parallel, verified and resumable.
    #[command(long_about = CP_ABOUT)]
    Cp(CpArgs),
    /// Move a savepoint or checkpoint to another place, rewrite its paths, verify it.
    #[command(long_about = MIGRATE_ABOUT)]
    Migrate(MigrateArgs),
    /// Check that a snapshot is complete where it lies: the pre-flight before `flink run -s`.
    Verify(VerifyArgs),
    /// List the snapshots under a savepoint directory or checkpoint base.
    Ls(LsArgs),
    /// Show what a Flink savepoint or checkpoint holds and whether it can be moved as is.
    #[command(long_about = INSPECT_ABOUT)]
    Inspect(InspectArgs),
    /// Rewrite the paths inside a Flink `_metadata` file (metadata only; no data is copied).
    #[command(long_about = REWRITE_ABOUT)]
    Rewrite(RewriteArgs),
    /// Copy the files a checkpoint's relative handles name, found elsewhere by name and size,
    /// into its directory (FLINK-39964: checkpoints after a CLAIM restore from a native
    /// savepoint).
    #[command(long_about = REPAIR_ABOUT)]
    Repair(RepairArgs),
    /// Remove a savepoint or retained checkpoint and the files outside it that no other
    /// snapshot under its roots references (a dry run unless --delete).
    #[command(long_about = DISPOSE_ABOUT)]
    Dispose(DisposeArgs),
    /// Apply a retention policy to savepoint directories and checkpoint bases and remove what
    /// no kept snapshot references (a dry run unless --delete).
    #[command(long_about = GC_ABOUT)]
    Gc(GcArgs),
    /// List every backend's option keys (-o KEY=VALUE) with their meaning and default.
    Options,
    /// List the jobs of a Flink cluster (over its REST API): id, state, start time, name.
    Jobs(JobsArgs),
    /// Take a savepoint of a running job, wait for it, print its path.
    #[command(long_about = SAVEPOINT_ABOUT)]
    Savepoint(SavepointArgs),
    /// Stop a job with a savepoint, wait for it, print the savepoint's path.
    #[command(long_about = STOP_ABOUT)]
    Stop(StopArgs),
    /// Trigger a checkpoint of a running job (Flink 1.17+), wait, print its id and path.
    Checkpoint(CheckpointArgs),
    /// Print the Flink Kubernetes Operator resources that restart a deployment from PATH.
    #[command(name = "k8s-snapshot")]
    K8sSnapshot(K8sSnapshotArgs),
    /// Print the version, git commit, build date, target and optional features.
    Version(VersionArgs),
    /// Print a shell completion script on stdout (e.g. `ferry completions bash >
    /// /etc/bash_completion.d/ferry`).
    Completions(CompletionsArgs),
    /// Write man pages (ferry.1 and one per command) into DIR.
    Manpages(ManpagesArgs),
}

/// `ferry version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print JSON on stdout (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,
}

/// `ferry completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `ferry manpages`.
#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// The directory to write into (created if missing).
    pub dir: PathBuf,
}

impl Command {
    /// Whether `--json` was given (errors then also print a JSON object on stdout).
    pub fn json(&self) -> bool {
        match self {
            Command::Cp(args) => args.json,
            Command::Migrate(args) => args.json,
            Command::Verify(args) => args.json,
            Command::Ls(args) => args.json,
            Command::Inspect(args) => args.json,
            Command::Rewrite(args) => args.json,
            Command::Repair(args) => args.json,
            Command::Jobs(args) => args.json,
            Command::Savepoint(args) => args.wait.json,
            Command::Stop(args) => args.wait.json,
            Command::Checkpoint(args) => args.wait.json,
            Command::K8sSnapshot(args) => args.json,
            Command::Version(args) => args.json,
            Command::Dispose(args) => args.json,
            Command::Gc(args) => args.json,
            Command::Options | Command::Completions(_) | Command::Manpages(_) => false,
        }
    }
}

const INSPECT_ABOUT: &str = "\
Show what a Flink savepoint or checkpoint holds and whether it can be moved as is.

PATH is a `_metadata` file or the snapshot directory holding it (chk-N or savepoint-…), as a
URI (file:///…, hdfs://nn:8020/…, s3a://bucket/…, gs://bucket/…) or a plain local path. ferry
reads only `_metadata`; sizes are the ones Flink recorded. The summary lists the format version
and the Flink releases that write and read it, the checkpoint id and kind, the operators, the
handle kinds, the referenced files (inside vs outside the snapshot directory, by external root)
and a relocatability verdict. --json prints the same data in the stable schema documented in
docs/inspect-json.md.";

const REWRITE_ABOUT: &str = "\
Rewrite the paths inside a Flink `_metadata` file, for snapshots whose data files another tool
already moved. No data file is read, copied or checked.

Each --map OLD=NEW replaces the prefix OLD of every absolute path (file handles, file-merging
segments and directories, and the path-like names of inline state) with NEW; the longest
matching OLD wins, and matching is by whole path components. Locations are compared in Flink's form (file:///x and /x are file:/x).
Relative references (savepoints since Flink 1.11) follow the directory and are never changed.
Without any --map the output is byte-identical to the input.

The result goes to -o OUT (a file, or a directory to hold `_metadata`); an existing OUT is
replaced only with --force, and the input only with --in-place.";

const REPAIR_ABOUT: &str = "\
Make restorable a snapshot whose relative handles name files that are not in its directory.

After a job is started in claim mode CLAIM from a native savepoint, its first incremental
checkpoints record SST files that still lie in the savepoint's directory by file name only
(FLINK-39964, Flink 1.15 to 2.3); Flink then fails with FileNotFoundException …/chk-N/<uuid>.
`ferry verify` recognises this. `ferry repair` resolves each missing relative file by a file of
the same name AND the recorded size under the --search roots (default: the checkpoint base
<base> of <base>/<job>/chk-N and each directory beside it whose name contains `savepoint`; for
another snapshot directory, its parent). Ambiguity (two candidates of that name and size not
known identical, a candidate of another size) or absence is an error: nothing is written.

Without --in-place it prints what it would copy. With --in-place it copies the found files into
the snapshot directory under the recorded names (its _metadata is not touched) and verifies the
snapshot. To get a self-contained copy elsewhere instead: ferry migrate SNAPSHOT DST --search ROOT.";

/// How to reach a Flink cluster's REST API.
#[derive(Debug, Args, Clone)]
pub struct FlinkArgs {
    /// Flink's REST endpoint: the JobManager's (http://jobmanager:8081) or a gateway's.
    #[arg(long, value_name = "URL")]
    pub flink: String,
    /// A PEM file of CA certificates to trust for an https:// --flink, besides the system's.
    #[arg(long, value_name = "FILE")]
    pub flink_ca: Option<PathBuf>,
    /// An extra request header, 'Name: value' (e.g. a proxy's or gateway's token); repeatable.
    /// Values never appear in any output.
    #[arg(long, value_name = "NAME: VALUE")]
    pub flink_header: Vec<String>,
}

/// Waiting for a trigger, and where pending triggers are kept.
#[derive(Debug, Args, Clone)]
pub struct WaitArgs {
    /// Give up waiting after DUR (Flink goes on; a re-run picks the result up).
    #[arg(long, default_value = "30m", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
    /// Where pending triggers are kept (flink-triggers/), so that a re-run waits for the same
    /// savepoint instead of taking another [default: $XDG_STATE_HOME/ferry, else
    /// ~/.local/state/ferry].
    #[arg(long, env = "FERRY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ferry jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The cluster.
    #[command(flatten)]
    pub flink: FlinkArgs,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Flink's canonical format (any state backend can restore it).
    Canonical,
    /// The state backend's native format (faster to take; Flink 1.15+).
    Native,
}

const SAVEPOINT_ABOUT: &str = "\
Take a savepoint of a running job over Flink's REST API, wait for it, and print its path on
stdout (progress and restore guidance on stderr).

JOB is a job id or the name of one running job. Without TARGET_DIR, Flink writes the savepoint
under its configured state.savepoints.dir (as `flink savepoint` does).

The trigger is idempotent: its id is chosen by ferry and kept under the state directory before
it is sent (Flink 1.15+), so running the same command again after a crash, a lost connection,
Ctrl-C or --timeout waits for the same savepoint instead of taking a second one.";

/// `ferry savepoint`.
#[derive(Debug, Args)]
pub struct SavepointArgs {
    /// The job: its id, or the name of one running job.
    pub job: String,
    /// Where the savepoint goes (default: Flink's state.savepoints.dir).
    pub target_dir: Option<String>,
    /// The savepoint format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Trigger and print the trigger id without waiting; the same command without --detach
    /// picks the result up.
    #[arg(long)]
    pub detach: bool,
    /// The cluster.
    #[command(flatten)]
    pub flink: FlinkArgs,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

const STOP_ABOUT: &str = "\
Stop a job with a savepoint over Flink's REST API (as `flink stop --savepointPath DIR JOB`),
wait for it, and print the savepoint's path on stdout. The trigger is idempotent as for
`ferry savepoint`: a re-run of the same command after an interruption waits for the same stop.";

/// `ferry stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The job: its id, or the name of one running job.
    pub job: String,
    /// Where the savepoint goes (default: Flink's state.savepoints.dir).
    #[arg(long, value_name = "DIR")]
    pub savepoint_path: Option<String>,
    /// Emit MAX_WATERMARK before stopping (flushes event-time windows and timers).
    #[arg(long)]
    pub drain: bool,
    /// The savepoint format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// The cluster.
    #[command(flatten)]
    pub flink: FlinkArgs,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Where the Kubernetes hand-off goes.
#[derive(Debug, Args, Clone, Default)]
pub struct K8sArgs {
    /// The FlinkDeployment to restart from the snapshot (default: a placeholder in the patch).
    #[arg(long, value_name = "NAME")]
    pub k8s_deployment: Option<String>,
    /// The namespace of the resources (default: kubectl's current one).
    #[arg(long, value_name = "NS")]
    pub k8s_namespace: Option<String>,
    /// The FlinkStateSnapshot's name (default: ferry-<snapshot directory name>).
    #[arg(long, value_name = "NAME")]
    pub k8s_name: Option<String>,
}

/// `ferry k8s-snapshot`.
#[derive(Debug, Args)]
pub struct K8sSnapshotArgs {
    /// The snapshot (a Flink URI, e.g. s3://bucket/sp/savepoint-…); check it first with
    /// `ferry verify`.
    pub path: String,
    /// The resources.
    #[command(flatten)]
    pub k8s: K8sArgs,
    /// Print the two objects as JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
}

/// `--emit` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmitArg {
    /// The Flink Kubernetes Operator hand-off (FlinkStateSnapshot + FlinkDeployment patch).
    K8s,
}

/// `ferry checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The job: its id, or the name of one running job.
    pub job: String,
    /// A full checkpoint, even if the job takes incremental ones.
    #[arg(long)]
    pub full: bool,
    /// The cluster.
    #[command(flatten)]
    pub flink: FlinkArgs,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

const DISPOSE_ABOUT: &str = "\
Remove a savepoint or retained checkpoint: its directory, and the files outside it (the job's
shared/ and taskowned/, file-merging segments) that no other complete snapshot under the same
roots references. The roots are the snapshot's checkpoint base (<base> of <base>/<job>/chk-N) or
savepoint directory, plus every --keep-root (where a migrated copy or a restored job lives).

A dry run unless --delete: it prints what would go and why the rest is kept. A snapshot under the
roots whose _metadata cannot be decoded stops every deletion (it may reference anything). The
newest checkpoint of a job is refused while a newer chk-N is being written or within an hour of
being written. _metadata goes first, so a killed run leaves an incomplete directory, never a
complete-looking snapshot with files missing; run the same command again to finish.";

const GC_ABOUT: &str = "\
Apply a retention policy to savepoint directories and checkpoint bases, then remove what no kept
snapshot references: snapshots outside the policy, their exclusive files, orphaned files in
shared/ and taskowned/, and incomplete chk-N directories older than the grace period.

The policy is per job (a checkpoint job directory, or a savepoint directory): --keep-latest N
keeps the N newest complete snapshots, --keep-newer-than DUR those written within DUR; with both,
a snapshot is kept only if it satisfies both (the Flink Kubernetes Operator's
savepoint.history.max.count and max.age). Always kept: the newest complete snapshot and the
newest chk-N of every job, snapshots named with --keep, snapshots whose _metadata cannot be
decoded (and while one is kept, nothing is deleted), and files written within --grace.

A dry run unless --delete. Any listing or read error ends the run before anything is deleted; a
root holding no complete snapshot is an error. Files referenced by snapshots outside the roots
are not seen: name every root whose snapshots may share files.";

/// `ferry dispose`.
#[derive(Debug, Args)]
pub struct DisposeArgs {
    /// The snapshot: a savepoint directory, a chk-N directory or a _metadata path.
    pub snapshot: String,
    /// Another directory whose snapshots must stay restorable (a migrated copy, a restored
    /// job's checkpoints); repeatable.
    #[arg(long, value_name = "URI")]
    pub keep_root: Vec<String>,
    /// Delete (default: a dry run that prints what would go).
    #[arg(long)]
    pub delete: bool,
    /// Move the files under URI (same store, same paths below it) instead of deleting them.
    #[arg(long, value_name = "URI", requires = "delete")]
    pub trash: Option<String>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Settings of the store.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ferry gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Savepoint directories and checkpoint bases (URIs or local paths); they must not overlap.
    #[arg(required = true, value_name = "ROOT")]
    pub roots: Vec<String>,
    /// Keep the N newest complete snapshots of each job (at least 1).
    #[arg(long, value_name = "N")]
    pub keep_latest: Option<usize>,
    /// Keep the snapshots written within DUR (e.g. 7d, 12h).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub keep_newer_than: Option<Duration>,
    /// Keep this snapshot whatever the policy says; repeatable.
    #[arg(long, value_name = "SNAPSHOT")]
    pub keep: Vec<String>,
    /// Files outside kept snapshots written within DUR are kept (checkpoints in progress).
    #[arg(long, value_parser = parse_duration, default_value = "1h", value_name = "DUR")]
    pub grace: Duration,
    /// Delete (default: a dry run that prints what would go).
    #[arg(long)]
    pub delete: bool,
    /// Move the files under URI (same store, same paths below it) instead of deleting them.
    #[arg(long, value_name = "URI", requires = "delete")]
    pub trash: Option<String>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Settings of the stores.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ferry repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The snapshot: a directory, a chk-N directory or a _metadata path.
    pub snapshot: String,
    /// Where to look for the missing files (recursively; repeatable). Default: see above.
    #[arg(long, value_name = "ROOT")]
    pub search: Vec<String>,
    /// Copy the found files into the snapshot directory (default: a dry run).
    #[arg(long)]
    pub in_place: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Transfer settings.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Settings of the stores.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ferry inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A `_metadata` file or the snapshot directory holding it (URI or local path).
    pub path: String,
    /// Print the report as JSON on stdout (schema: docs/inspect-json.md).
    #[arg(long)]
    pub json: bool,
    /// Also list every referenced file.
    #[arg(long)]
    pub files: bool,
    /// Settings of the store.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ferry rewrite`.
#[derive(Debug, Args)]
pub struct RewriteArgs {
    /// The `_metadata` file (or the snapshot directory holding it) to rewrite.
    pub metadata: String,
    /// Where to write the result: a file, or a directory that receives `_metadata`.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUT",
        required_unless_present = "in_place"
    )]
    pub output: Option<String>,
    /// Replace the input file.
    #[arg(long, conflicts_with = "output")]
    pub in_place: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Replace the path prefix OLD with NEW; repeatable (the longest matching OLD wins).
    #[arg(long = "map", value_name = "OLD=NEW")]
    pub maps: Vec<String>,
    /// Leave the names of inline state handles as they are (path-like labels Flink never
    /// opens; rewritten by default, as `ferry migrate` does).
    #[arg(long)]
    pub keep_inline_names: bool,
    /// Write the output even if a --map matches no path (otherwise an error, nothing written).
    #[arg(long)]
    pub allow_unmatched: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// A store setting, KEY=VALUE, for both input and output; repeatable.
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
    /// A Flink configuration directory whose store settings apply.
    #[arg(long, value_name = "DIR")]
    pub flink_conf: Option<PathBuf>,
}

impl RewriteArgs {
    /// The store settings.
    pub fn backend(&self) -> BackendArgs {
        BackendArgs {
            options: self.options.clone(),
            flink_conf: self.flink_conf.clone(),
            ..BackendArgs::default()
        }
    }
}

const MIGRATE_ABOUT: &str = "\
Move a savepoint or checkpoint to another place (any store), rewrite the paths inside its
_metadata, and verify the result, so that `flink run -s DST` restores from DST even after SRC is
deleted.

SRC is a savepoint directory, a chk-N directory or a _metadata path (with --latest: a savepoint
directory or checkpoint base, whose newest complete snapshot is taken). DST is the directory the
snapshot lives in afterwards.

Everything the snapshot needs is copied: files in its directory, and the files outside it that
its _metadata references (the job's shared/ and taskowned/, a previous job's shared/ for chained
incremental checkpoints, changelog and file-merging files, entropy-injected keys). External files
keep their place relative to the snapshot: migrating …/<job>/chk-42 to …/new/<job>/chk-42 puts
the job's shared files in …/new/<job>/shared/ (--external-root overrides that place).

Data is copied and verified first; _metadata is written last (it is Flink's completion marker),
then read back and checked: every file it references must exist at DST with the recorded size.
If anything fails, DST has no _metadata. Re-running after a crash resumes.";

/// `ferry migrate`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("take").args(["stop", "savepoint", "latest_checkpoint"]).requires("job")))]
pub struct MigrateArgs {
    /// The snapshot: a savepoint directory, a chk-N directory or a _metadata path (with --job:
    /// give DST only).
    #[arg(value_name = "SRC")]
    pub src: String,
    /// The directory the snapshot should live in afterwards.
    #[arg(value_name = "DST")]
    pub dst: Option<String>,
    /// Take the snapshot from this job of the --flink cluster first (its id, or the name of
    /// one running job), with --stop, --savepoint or --latest-checkpoint; then migrate it to DST.
    #[arg(long, value_name = "JOB", requires = "flink", requires = "take")]
    pub job: Option<String>,
    /// With --job: stop the job with a savepoint and migrate that savepoint.
    #[arg(long)]
    pub stop: bool,
    /// With --job: take a savepoint (the job keeps running) and migrate it.
    #[arg(long)]
    pub savepoint: bool,
    /// With --job: migrate the job's newest completed checkpoint (from its checkpoint history).
    #[arg(long)]
    pub latest_checkpoint: bool,
    /// With --stop/--savepoint: where Flink writes the savepoint (default: its
    /// state.savepoints.dir).
    #[arg(long, value_name = "DIR", requires = "job")]
    pub savepoint_path: Option<String>,
    /// With --stop/--savepoint: the savepoint format.
    #[arg(long, value_enum, value_name = "FORMAT", requires = "job")]
    pub format: Option<FormatArg>,
    /// With --stop/--savepoint: how long to wait for Flink.
    #[arg(long, default_value = "30m", value_parser = parse_duration, value_name = "DUR")]
    pub flink_timeout: Duration,
    /// Flink's REST endpoint, for --job.
    #[arg(long, value_name = "URL")]
    pub flink: Option<String>,
    /// A PEM file of CA certificates to trust for an https:// --flink.
    #[arg(long, value_name = "FILE", requires = "flink")]
    pub flink_ca: Option<PathBuf>,
    /// An extra request header for --flink, 'Name: value'; repeatable; never shown.
    #[arg(long, value_name = "NAME: VALUE", requires = "flink")]
    pub flink_header: Vec<String>,
    /// After a complete migration, also print the Flink Kubernetes Operator resources that
    /// restart a deployment from DST (docs/flink-operations.md).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub emit: Option<EmitArg>,
    /// The Kubernetes hand-off (with --emit k8s).
    #[command(flatten)]
    pub k8s: K8sArgs,
    /// SRC is a savepoint directory or checkpoint base: migrate its newest complete snapshot.
    #[arg(long)]
    pub latest: bool,
    /// Where files outside the snapshot directory go (default: DST's parent, as Flink lays
    /// them out).
    #[arg(long, value_name = "URI")]
    pub external_root: Option<String>,
    /// The scheme to write into _metadata (e.g. s3a when DST is written as s3p://…).
    #[arg(long, value_name = "SCHEME")]
    pub scheme: Option<String>,
    /// Copy only the files _metadata references, not the other files of the snapshot directory.
    #[arg(long)]
    pub referenced_only: bool,
    /// Replace a complete snapshot already at DST.
    #[arg(long)]
    pub force: bool,
    /// Leave the names of inline state handles as they are (they are never opened).
    #[arg(long)]
    pub keep_inline_names: bool,
    /// When SRC's checkpoint base was copied without rewriting (its _metadata names the old
    /// base): read each external root from beside SRC if all its files are there, else from
    /// the old base (auto); always beside SRC; or always from the old base (original).
    #[arg(long, value_enum, default_value_t = ExternalSourceArg::Auto, value_name = "WHERE")]
    pub external_source: ExternalSourceArg,
    /// Repair while migrating: each relative handle whose file is missing from SRC's directory
    /// (a checkpoint of a job restored in CLAIM mode from a native savepoint, FLINK-39964) is
    /// resolved by a file of the same name and recorded size under ROOT (searched
    /// recursively; repeatable) and copied into DST as an ordinary relative file. Ambiguity
    /// (two candidates, another size) or absence is an error; nothing is written.
    #[arg(long, value_name = "ROOT")]
    pub search: Vec<String>,
    /// Print the plan (files and bytes per directory, external roots, path rewrites; each
    /// file with -v) and write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Transfer settings.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Settings of the stores on each side.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ferry verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The snapshot: a directory, a chk-N directory or a _metadata path.
    pub snapshot: String,
    /// Also read every file to the end, and compare the store's checksum where it has one.
    #[arg(long)]
    pub deep: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Settings of the store.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `ferry ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// A savepoint directory, a checkpoint base, a job directory, or a snapshot.
    pub root: String,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Settings of the store.
    #[command(flatten)]
    pub backend: BackendArgs,
}

const CP_ABOUT: &str = "\
Copy a file or a directory tree, in parallel, verified and resumable.

SRC and DST are URIs (file:///data/x, hdfs://nn:8020/p, s3a://bucket/p, gs://bucket/p) or plain
local paths. A directory SRC is copied so that DST holds its contents (DST/<relative path>); a
file SRC is copied to DST, or into DST when DST is a directory or ends with '/'.

Every byte is CRC32C-checked while it streams; each file is checked for size (and against the
store's own checksum where it reports one) before it takes its final name. Interrupted runs
(Ctrl-C, kill -9, crash) resume: run the same command again and verified files are skipped.
A destination file that already holds the same bytes (size and CRC32C, or the same store
checksum) is skipped as \"already there\", so a re-run from any host is a resume; one that differs
is an error unless --checksum, --size-only, --update, --ignore-existing or --overwrite says
what to do with it (rclone's meanings; see docs/user-guide.md).

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

    /// Transfer settings.
    #[command(flatten)]
    pub transfer: TransferArgs,

    /// How existing destination files are compared.
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Print the plan (files and bytes per directory; each file with -v) and write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Which files of SRC are copied.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Copy modification times.
    #[arg(long)]
    pub preserve_mtime: bool,

    /// Print a JSON report on stdout at the end.
    #[arg(long)]
    pub json: bool,

    /// Settings of the stores on each side.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Which files of a tree are taken, with rclone's rules (docs/user-guide.md, "Filters"):
/// patterns on the path relative to SRC, where `*` stays within one directory level, `**`
/// crosses levels, a leading `/` anchors at SRC and a trailing `/` names a directory.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Take only files matching this pattern; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Leave out files matching this pattern; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Read include patterns from FILE (one a line; `#` and `;` start comments); repeatable.
    #[arg(long, value_name = "FILE")]
    pub include_from: Vec<PathBuf>,
    /// Read exclude patterns from FILE; repeatable.
    #[arg(long, value_name = "FILE")]
    pub exclude_from: Vec<PathBuf>,
    /// Take only the files listed in FILE (paths relative to SRC, one a line); repeatable.
    #[arg(long, value_name = "FILE")]
    pub files_from: Vec<PathBuf>,
    /// Leave out files smaller than SIZE (e.g. 1M).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub min_size: Option<u64>,
    /// Leave out files larger than SIZE.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub max_size: Option<u64>,
    /// Leave out files modified less than AGE ago (e.g. 1h, 2d, 1w; or a date, 2026-01-31).
    #[arg(long, value_name = "AGE")]
    pub min_age: Option<String>,
    /// Leave out files modified more than AGE ago.
    #[arg(long, value_name = "AGE")]
    pub max_age: Option<String>,
}

/// How existing destination files are compared, with rclone's meanings (docs/user-guide.md,
/// "Which files are copied"). Without any of these, a destination file with the same bytes is
/// skipped and one with other bytes is an error (--overwrite replaces it).
#[derive(Debug, Args, Clone, Default)]
pub struct CompareArgs {
    /// Skip files whose destination has the same size and checksum; replace the others.
    #[arg(short = 'c', long)]
    pub checksum: bool,
    /// Skip files whose destination has the same size (contents are not compared); replace
    /// the others.
    #[arg(long, conflicts_with = "checksum")]
    pub size_only: bool,
    /// Skip files that are newer at the destination; replace the others unless they have the
    /// same size and checksum (same size and time: skipped).
    #[arg(short = 'u', long)]
    pub update: bool,
    /// Skip every file that exists at the destination, without comparing.
    #[arg(long, conflicts_with_all = ["checksum", "size_only", "update"])]
    pub ignore_existing: bool,
    /// Leave sizes out of the comparison (with --checksum or --update).
    #[arg(long, conflicts_with = "size_only")]
    pub ignore_size: bool,
    /// Replace existing destination files without comparing.
    #[arg(long, conflicts_with_all = ["checksum", "size_only", "update", "ignore_existing", "ignore_size"])]
    pub overwrite: bool,
}

/// Store settings, for both sides or per side (different accounts, endpoints or clusters).
///
/// Each backend declares the keys it accepts (e.g. S3: `endpoint`, `region`, `profile`,
/// `path_style`; `ferry options` lists them all); any other key is a usage error. Per-side
/// values win over `--option`.
#[derive(Debug, Args, Default, Clone)]
pub struct BackendArgs {
    /// A store setting for both sides, KEY=VALUE; repeatable (`ferry options` lists the keys).
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
    /// The AWS shared-config profile for both sides (like AWS_PROFILE; per side:
    /// --src-option profile=… / --dst-option profile=…).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The store's endpoint URL for both sides, as in `aws --endpoint-url` (the same as
    /// -o endpoint=URL: S3, GCS).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl BackendArgs {
    /// The options for one side: shared ones, then that side's.
    pub fn side(&self, source: bool) -> ferry_core::BackendOptions {
        let mut options = ferry_core::BackendOptions::new();
        if let Some(dir) = &self.flink_conf {
            options.set("flink_conf_dir", dir.display().to_string());
        }
        if let Some(profile) = &self.profile {
            options.set("profile", profile.clone());
        }
        if let Some(endpoint) = &self.endpoint_url {
            options.set("endpoint", endpoint.clone());
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
        // The text itself is not shown: `secret_access_key:…` would print the secret.
        _ => Err("expected KEY=VALUE (the value given is not shown: it may hold a secret)".into()),
    }
}

/// How data moves: parallelism, parts, memory, bandwidth, retries, verification, resume.
#[derive(Debug, Args, Clone)]
pub struct TransferArgs {
    /// Files copied at once, 1 to 4096 [default: 16, or what a store on either side asks for:
    /// 128 with HDFS; server-side copies, which buffer nothing: at least 64].
    #[arg(short = 'j', long, visible_alias = "transfers", value_name = "N")]
    pub concurrency: Option<usize>,
    /// Part size for ranged reads and multipart writes, 64K to 5G; larger files are copied in
    /// parallel parts.
    #[arg(long, default_value = "8M", value_parser = parse_size, value_name = "SIZE")]
    pub part_size: u64,
    /// Most file data buffered at once (the memory bound), at least one part [default: 64M, or
    /// one part if --part-size is larger].
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub buffer_memory: Option<u64>,

    /// Limit the transfer rate across all files, in bytes per second (e.g. 50M; 0 = no limit).
    #[arg(long, value_parser = parse_size, value_name = "RATE")]
    pub bwlimit: Option<u64>,
    /// Retries of temporary errors, with exponential backoff, 0 to 100.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,
    /// How to verify each file: its size; also the store's checksum where it reports one
    /// (default); or a full re-read of the destination.
    #[arg(long, value_enum, default_value_t = VerifyArg::Checksum)]
    pub verify: VerifyArg,
    /// Do not keep a resume journal.
    #[arg(long)]
    pub no_resume: bool,
    /// Where resume journals are kept (one ferry cannot write: a warning, no journal)
    /// [default: $XDG_STATE_HOME/ferry, else ~/.local/state/ferry].
    #[arg(long, env = "FERRY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print a one-line progress record every DUR (e.g. 30s, 200ms; 0 = never) and a final
    /// one [default: 30s when standard error is not a terminal, else never: the bar shows].
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub stats: Option<Duration>,
    /// Progress records as JSON lines (schema: docs/json.md); implied by --json.
    #[arg(long)]
    pub stats_json: bool,
}

/// `--external-source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExternalSourceArg {
    /// Beside SRC where complete, else where _metadata names the files.
    Auto,
    /// Beside SRC, under its current checkpoint base.
    Beside,
    /// Where _metadata names the files.
    Original,
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
