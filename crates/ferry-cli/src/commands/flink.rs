//! The Flink control-plane commands, over Flink's REST API (crate `ferry-flink`): `jobs`,
//! `savepoint`, `stop`, `checkpoint`. Results (a path, an id) go to stdout, alone, so that
//! `SP=$(ferry savepoint …)` works; progress and restore guidance go to stderr (not with -q).
//! `--json` prints one report object instead. Ctrl-C while waiting exits 130 and says how to
//! pick the result up again (the trigger stays in the state directory).

use std::io::Write;

use ferry_flink::restore::{self, SnapshotKind};
use ferry_flink::{
    ClientConfig, FlinkClient, FlinkVersion, Job, OperationStatus, SavepointFormat, Trigger,
    TriggerStore,
};
use serde::Serialize;

use crate::cli::{
    CheckpointArgs, FlinkArgs, FormatArg, GlobalArgs, JobsArgs, K8sArgs, K8sSnapshotArgs,
    SavepointArgs, StopArgs, WaitArgs,
};
use crate::exit;

/// The client for `--flink`, `--flink-ca`, `--flink-header` (a bad value is a usage error).
pub fn client(args: &FlinkArgs) -> anyhow::Result<FlinkClient> {
    let mut config = ClientConfig::new(args.flink.clone());
    config.ca_file = args.flink_ca.clone();
    for header in &args.flink_header {
        config
            .headers
            .push(ferry_flink::parse_header(header).map_err(|e| exit::usage_error(e.to_string()))?);
    }
    FlinkClient::new(&config).map_err(|e| exit::usage_error(e.to_string()))
}

/// `ferry jobs`.
pub async fn jobs(args: JobsArgs) -> anyhow::Result<i32> {
    let client = client(&args.flink)?;
    let version = client.version().await?;
    let jobs = client.jobs().await?;
    if args.json {
        let listed: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "id": j.id,
                    "name": j.name,
                    "state": j.state,
                    "start_time": time(j.start_time),
                })
            })
            .collect();
        crate::json::print(&serde_json::json!({
            "flink": client.url(),
            "flink_version": version.text,
            "jobs": listed,
        }))?;
        return Ok(exit::OK);
    }
    let mut out = std::io::stdout().lock();
    if jobs.is_empty() {
        writeln!(out, "no jobs at {} (Flink {version})", client.url())?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{:<32}  {:<12}  {:<20}  name",
        "id", "state", "started"
    )?;
    for j in &jobs {
        writeln!(
            out,
            "{:<32}  {:<12}  {:<20}  {}",
            j.id,
            j.state,
            time(j.start_time).unwrap_or_else(|| "-".into()),
            j.name
        )?;
    }
    Ok(exit::OK)
}

/// An epoch-milliseconds time as RFC 3339 (UTC, seconds), or None for Flink's -1.
fn time(millis: i64) -> Option<String> {
    if millis <= 0 {
        return None;
    }
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn format(arg: Option<FormatArg>) -> Option<SavepointFormat> {
    arg.map(|f| match f {
        FormatArg::Canonical => SavepointFormat::Canonical,
        FormatArg::Native => SavepointFormat::Native,
    })
}

/// The report of a savepoint, stop or checkpoint.
#[derive(Debug, Serialize)]
pub struct TriggerReport {
    /// Always true (errors print the error object).
    pub ok: bool,
    /// `savepoint`, `stop-with-savepoint` or `checkpoint`.
    pub operation: &'static str,
    /// The cluster.
    pub flink: String,
    /// Its release.
    pub flink_version: String,
    /// The job id.
    pub job: String,
    /// The trigger id.
    pub trigger_id: String,
    /// Whether an earlier run's trigger was picked up.
    pub resumed: bool,
    /// Whether ferry returned without waiting (`--detach`).
    pub detached: bool,
    /// The checkpoint id (checkpoints).
    pub checkpoint_id: Option<u64>,
    /// Where the snapshot lies (null when detached).
    pub location: Option<String>,
    /// How to restore from it.
    pub restore: Option<restore::RestoreGuide>,
}

/// What a trigger produced, for `migrate --job` as well.
#[derive(Debug)]
pub struct Taken {
    /// The job.
    pub job: Job,
    /// The cluster's release.
    pub version: FlinkVersion,
    /// The report.
    pub report: TriggerReport,
}

/// Triggers (or picks up) `trigger` on `job` and waits for it; `Ok(Err(code))` when
/// interrupted or detached (the code to exit with).
pub async fn take(
    client: &FlinkClient,
    job: &str,
    trigger: Trigger,
    wait: &WaitArgs,
    detach: bool,
    global: &GlobalArgs,
) -> anyhow::Result<Result<Taken, i32>> {
    let version = client.version().await?;
    let job = match client.running_job(job).await {
        Ok(job) => job,
        // A stop that already happened: the job is FINISHED but the trigger is pending.
        Err(ferry_flink::Error::NotRunning { .. }) if has_pending(client, job, &trigger, wait) => {
            client.resolve_job(job).await?
        }
        Err(e) => return Err(e.into()),
    };
    let store = trigger_store(wait);
    let started =
        ferry_flink::trigger::start(client, store.as_ref(), &version, &job.id, &trigger).await?;
    let what = trigger.what();
    if !global.quiet && !wait.json {
        if started.resumed {
            exit::note!(
                "ferry: picking up the {what} of job {} triggered by an earlier run (trigger {})",
                job.id,
                started.trigger_id
            );
        } else {
            exit::note!(
                "ferry: {what} of job {} ({}) triggered on Flink {version} (trigger {})",
                job.id,
                job.name,
                started.trigger_id
            );
        }
    }
    let mut report = TriggerReport {
        ok: true,
        operation: what,
        flink: client.url().to_string(),
        flink_version: version.text.clone(),
        job: job.id.clone(),
        trigger_id: started.trigger_id.clone(),
        resumed: started.resumed,
        detached: detach,
        checkpoint_id: None,
        location: None,
        restore: None,
    };
    if detach {
        return Ok(Ok(Taken {
            job,
            version,
            report,
        }));
    }
    let waiting = ferry_flink::trigger::wait(
        client,
        store.as_ref(),
        &job.id,
        &trigger,
        &started.trigger_id,
        wait.timeout,
    );
    let status = tokio::select! {
        status = waiting => status?,
        _ = tokio::signal::ctrl_c() => {
            exit::note!(
                "ferry: interrupted; Flink goes on with the {what} of job {} (trigger {}){}; run \
                 the same command again to pick up its result",
                job.id,
                started.trigger_id,
                store.as_ref().map_or(String::new(), |s| format!(", kept in {}", s.dir().display()))
            );
            return Ok(Err(exit::INTERRUPTED));
        }
    };
    let (location, kind) = match status {
        OperationStatus::Savepoint(location) => (location, SnapshotKind::Savepoint),
        OperationStatus::Checkpoint(id) => {
            report.checkpoint_id = Some(id);
            let details = client.checkpoint(&job.id, id).await?;
            let path = details.external_path.filter(|p| !p.starts_with('<'));
            let Some(path) = path else {
                anyhow::bail!(
                    "checkpoint {id} of job {} at {} completed but is not externally addressable \
                     (the job has no file-system checkpoint storage: set \
                     execution.checkpointing.dir / state.checkpoints.dir)",
                    job.id,
                    client.url()
                );
            };
            (path, SnapshotKind::Checkpoint)
        }
        other => anyhow::bail!("unexpected outcome {other:?}"),
    };
    report.restore = Some(restore::guide(&location, kind, Some(&version)));
    report.location = Some(location);
    Ok(Ok(Taken {
        job,
        version,
        report,
    }))
}

fn trigger_store(wait: &WaitArgs) -> Option<TriggerStore> {
    super::state_base(wait.state_dir.clone()).map(|dir| TriggerStore::new(&dir))
}

fn has_pending(client: &FlinkClient, job: &str, trigger: &Trigger, wait: &WaitArgs) -> bool {
    trigger_store(wait)
        .and_then(|s| s.load(client.url(), job, trigger).ok().flatten())
        .is_some()
}

/// Prints a trigger's result: the location (or trigger id) on stdout, guidance on stderr.
fn print(taken: &Taken, wait: &WaitArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let report = &taken.report;
    if wait.json {
        crate::json::print(report)?;
        return Ok(exit::OK);
    }
    let mut out = std::io::stdout().lock();
    if report.detached {
        writeln!(out, "{}", report.trigger_id)?;
        if !global.quiet {
            exit::note!(
                "ferry: not waiting (--detach); the same command without --detach waits for it"
            );
        }
        return Ok(exit::OK);
    }
    if let Some(id) = report.checkpoint_id {
        if !global.quiet {
            exit::note!("ferry: checkpoint {id} completed");
        }
    }
    if let Some(location) = &report.location {
        writeln!(out, "{location}")?;
    }
    if let (Some(guide), false) = (&report.restore, global.quiet) {
        exit::note!(
            "restore job {} ({}) on Flink {} with:\n  {}",
            taken.job.id,
            taken.job.name,
            taken.version,
            guide.command
        );
        for (key, value) in &guide.config {
            exit::note!("  or set {key}: {value}");
        }
        for note in &guide.notes {
            exit::note!("  note: {note}");
        }
    }
    Ok(exit::OK)
}

async fn run_trigger(
    flink: &FlinkArgs,
    job: &str,
    trigger: Trigger,
    wait: &WaitArgs,
    detach: bool,
    global: &GlobalArgs,
) -> anyhow::Result<i32> {
    let client = client(flink)?;
    match take(&client, job, trigger, wait, detach, global).await? {
        Ok(taken) => print(&taken, wait, global),
        Err(code) => Ok(code),
    }
}

/// `ferry savepoint`.
pub async fn savepoint(args: SavepointArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let trigger = Trigger::Savepoint {
        target: args.target_dir.clone(),
        format: format(args.format),
    };
    run_trigger(
        &args.flink,
        &args.job,
        trigger,
        &args.wait,
        args.detach,
        global,
    )
    .await
}

/// `ferry stop`.
pub async fn stop(args: StopArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let trigger = Trigger::Stop {
        target: args.savepoint_path.clone(),
        drain: args.drain,
        format: format(args.format),
    };
    run_trigger(&args.flink, &args.job, trigger, &args.wait, false, global).await
}

/// `ferry checkpoint`.
pub async fn checkpoint(args: CheckpointArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let trigger = Trigger::Checkpoint { full: args.full };
    run_trigger(&args.flink, &args.job, trigger, &args.wait, false, global).await
}

/// The operator hand-off for `path`.
pub fn hand_off(path: &str, args: &K8sArgs) -> ferry_flink::k8s::HandOff {
    ferry_flink::k8s::HandOff {
        path: path.to_string(),
        name: args
            .k8s_name
            .clone()
            .unwrap_or_else(|| ferry_flink::k8s::resource_name(path)),
        namespace: args.k8s_namespace.clone(),
        deployment: args.k8s_deployment.clone(),
        // Any value other than the deployment's current one: seconds since the epoch.
        nonce: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
    }
}

/// The hand-off as a JSON value (`--json`).
pub fn hand_off_json(hand_off: &ferry_flink::k8s::HandOff) -> serde_json::Value {
    serde_json::json!({
        "flink_state_snapshot": hand_off.state_snapshot(),
        "deployment_patch": hand_off.deployment_patch(),
    })
}

/// `ferry k8s-snapshot`.
pub fn k8s_snapshot(args: K8sSnapshotArgs) -> anyhow::Result<i32> {
    let path = args.path.trim_end_matches('/');
    if path.is_empty() {
        return Err(exit::usage_error("k8s-snapshot: PATH is empty"));
    }
    let hand_off = hand_off(path, &args.k8s);
    if args.json {
        crate::json::print(&hand_off_json(&hand_off))?;
    } else {
        write!(std::io::stdout().lock(), "{}", hand_off.yaml())?;
    }
    Ok(exit::OK)
}
