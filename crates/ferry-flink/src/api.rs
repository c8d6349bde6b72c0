//! Flink's REST resources ferry uses, and the request/response shapes of each release where
//! they differ:
//!
//! * `GET /config` — `flink-version`.
//! * `GET /jobs/overview`, `GET /jobs/:id` — jobs (`jid`, `name`, `state`, `start-time`).
//! * `POST /jobs/:id/savepoints` — body `target-directory`, `cancel-job`, and from 1.15
//!   `formatType` and `triggerId`; `POST /jobs/:id/stop` — body `targetDirectory`, `drain`,
//!   and from 1.15 `formatType`, `triggerId`. Both answer `{"request-id"}` and are polled at
//!   `GET /jobs/:id/savepoints/:trigger` (`operation.location` or `operation.failure-cause`).
//! * `POST /jobs/:id/checkpoints` (1.17+) — body `checkpointType` (`FULL` / `CONFIGURED`),
//!   `triggerId`; polled at `GET /jobs/:id/checkpoints/:trigger` (`operation.checkpointId`).
//! * `GET /jobs/:id/checkpoints` — counts, latest and history (`external_path` each);
//!   `GET /jobs/:id/checkpoints/details/:cid` — one checkpoint.

use serde::{Deserialize, Serialize};

use crate::client::{one_line_cause, FlinkClient};
use crate::error::{Error, Result};
use crate::version::FlinkVersion;

/// A job, as `flink list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The job id (32 hex digits).
    #[serde(rename = "jid")]
    pub id: String,
    /// The job name.
    pub name: String,
    /// `RUNNING`, `FINISHED`, `CANCELED`, `FAILED`, …
    pub state: String,
    /// Start time, milliseconds since the epoch.
    #[serde(rename = "start-time")]
    pub start_time: i64,
}

#[derive(Debug, Deserialize)]
struct JobsOverview {
    jobs: Vec<Job>,
}

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(rename = "flink-version")]
    flink_version: String,
}

/// The savepoint format (1.15+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SavepointFormat {
    /// Flink's canonical format: portable between state backends.
    Canonical,
    /// The state backend's own format (faster; RocksDB SST files).
    Native,
}

/// What to ask Flink for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A savepoint; the job keeps running.
    Savepoint {
        /// Target directory (None: the cluster's `state.savepoints.dir`).
        target: Option<String>,
        /// Format (None: Flink's default, canonical).
        format: Option<SavepointFormat>,
    },
    /// Stop with a savepoint.
    Stop {
        /// Target directory (None: the cluster's `state.savepoints.dir`).
        target: Option<String>,
        /// Emit MAX_WATERMARK and flush before stopping (`--drain`).
        drain: bool,
        /// Format.
        format: Option<SavepointFormat>,
    },
    /// A checkpoint (1.17+).
    Checkpoint {
        /// A full (not incremental) checkpoint.
        full: bool,
    },
}

impl Trigger {
    /// `savepoint`, `stop-with-savepoint` or `checkpoint`.
    pub fn what(&self) -> &'static str {
        match self {
            Trigger::Savepoint { .. } => "savepoint",
            Trigger::Stop { .. } => "stop-with-savepoint",
            Trigger::Checkpoint { .. } => "checkpoint",
        }
    }

    /// A stable text of the request, to recognise the same request on a re-run.
    pub fn fingerprint(&self) -> String {
        format!("{self:?}")
    }

    /// The path and body for `version`, or why that version cannot do it.
    pub fn request(
        &self,
        job: &str,
        trigger_id: Option<&str>,
        version: &FlinkVersion,
        url: &str,
    ) -> Result<(String, serde_json::Value)> {
        let unsupported = |what: &str, needs: &str| Error::Unsupported {
            url: url.to_string(),
            what: what.to_string(),
            version: version.text.clone(),
            needs: needs.to_string(),
        };
        let mut body = serde_json::Map::new();
        let format = match self {
            Trigger::Savepoint { format, .. } | Trigger::Stop { format, .. } => *format,
            Trigger::Checkpoint { .. } => None,
        };
        if let Some(format) = format {
            if !version.has_trigger_ids() {
                if format == SavepointFormat::Native {
                    return Err(unsupported(
                        "a native-format savepoint (--format native)",
                        "1.15",
                    ));
                }
            } else {
                body.insert(
                    "formatType".into(),
                    match format {
                        SavepointFormat::Canonical => "CANONICAL",
                        SavepointFormat::Native => "NATIVE",
                    }
                    .into(),
                );
            }
        }
        let path = match self {
            Trigger::Savepoint { target, .. } => {
                if let Some(t) = target {
                    body.insert("target-directory".into(), t.clone().into());
                }
                body.insert("cancel-job".into(), false.into());
                format!("/jobs/{job}/savepoints")
            }
            Trigger::Stop { target, drain, .. } => {
                if let Some(t) = target {
                    body.insert("targetDirectory".into(), t.clone().into());
                }
                body.insert("drain".into(), (*drain).into());
                format!("/jobs/{job}/stop")
            }
            Trigger::Checkpoint { full } => {
                if !version.has_rest_checkpoint_trigger() {
                    return Err(unsupported("triggering a checkpoint over REST", "1.17"));
                }
                body.insert(
                    "checkpointType".into(),
                    if *full { "FULL" } else { "CONFIGURED" }.into(),
                );
                format!("/jobs/{job}/checkpoints")
            }
        };
        if let (Some(id), true) = (trigger_id, version.has_trigger_ids()) {
            body.insert("triggerId".into(), id.into());
        }
        Ok((path, serde_json::Value::Object(body)))
    }

    /// Where its status is polled.
    pub fn status_path(&self, job: &str, trigger_id: &str) -> String {
        match self {
            Trigger::Checkpoint { .. } => format!("/jobs/{job}/checkpoints/{trigger_id}"),
            _ => format!("/jobs/{job}/savepoints/{trigger_id}"),
        }
    }
}

/// An asynchronous operation's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStatus {
    /// Still running.
    InProgress,
    /// A savepoint completed at this location.
    Savepoint(String),
    /// A checkpoint completed with this id.
    Checkpoint(u64),
    /// Failed, with Flink's cause on one line.
    Failed(String),
}

#[derive(Debug, Deserialize)]
struct TriggerResponse {
    #[serde(rename = "request-id")]
    request_id: String,
}

/// One entry of a job's checkpoint history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEntry {
    /// The checkpoint id.
    pub id: u64,
    /// `COMPLETED`, `IN_PROGRESS` or `FAILED`.
    pub status: String,
    /// Whether it is a savepoint.
    #[serde(default)]
    pub is_savepoint: bool,
    /// `CHECKPOINT`, `UNALIGNED_CHECKPOINT`, `SAVEPOINT`, `SYNC_SAVEPOINT`, … (absent in old
    /// releases).
    #[serde(default)]
    pub checkpoint_type: Option<String>,
    /// Trigger time, milliseconds since the epoch.
    #[serde(default)]
    pub trigger_timestamp: i64,
    /// Where it lies (completed ones).
    #[serde(default)]
    pub external_path: Option<String>,
    /// The state size Flink reports, in bytes.
    #[serde(default)]
    pub state_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct CheckpointingStats {
    #[serde(default)]
    history: Vec<CheckpointEntry>,
}

impl FlinkClient {
    /// The cluster's Flink release.
    pub async fn version(&self) -> Result<FlinkVersion> {
        let config: Config = self.get("/config").await?;
        FlinkVersion::parse(&config.flink_version).ok_or_else(|| Error::BadAnswer {
            url: self.url().to_string(),
            what: "GET /config".into(),
            reason: format!("flink-version {:?} is not a version", config.flink_version),
        })
    }

    /// Every job the cluster knows (running and recently finished), newest first.
    pub async fn jobs(&self) -> Result<Vec<Job>> {
        let mut overview: JobsOverview = self.get("/jobs/overview").await?;
        overview
            .jobs
            .sort_by(|a, b| b.start_time.cmp(&a.start_time).then(a.id.cmp(&b.id)));
        Ok(overview.jobs)
    }

    /// The job with this id, or the one running job with this name.
    pub async fn resolve_job(&self, id_or_name: &str) -> Result<Job> {
        let jobs = self.jobs().await?;
        if let Some(job) = jobs.iter().find(|j| j.id == id_or_name) {
            return Ok(job.clone());
        }
        let named: Vec<&Job> = jobs.iter().filter(|j| j.name == id_or_name).collect();
        let running: Vec<&&Job> = named.iter().filter(|j| j.state == "RUNNING").collect();
        match (running.len(), named.len()) {
            (1, _) => Ok((*running[0]).clone()),
            (0, 1) => Ok(named[0].clone()),
            (0, 0) => Err(Error::JobNotFound {
                url: self.url().to_string(),
                job: id_or_name.to_string(),
            }),
            (n, _) => Err(Error::Ambiguous {
                url: self.url().to_string(),
                name: id_or_name.to_string(),
                count: n.max(named.len()),
            }),
        }
    }

    /// The running job with this id or name (an error naming its state otherwise).
    pub async fn running_job(&self, id_or_name: &str) -> Result<Job> {
        let job = self.resolve_job(id_or_name).await?;
        if job.state != "RUNNING" {
            return Err(Error::NotRunning {
                url: self.url().to_string(),
                job: job.id,
                state: job.state,
            });
        }
        Ok(job)
    }

    /// Sends the trigger; returns Flink's request id (the trigger id).
    pub async fn send_trigger(
        &self,
        job: &str,
        trigger: &Trigger,
        trigger_id: Option<&str>,
        version: &FlinkVersion,
    ) -> Result<String> {
        let (path, body) = trigger.request(job, trigger_id, version, self.url())?;
        let answer: TriggerResponse = self.post(&path, &body).await?;
        Ok(answer.request_id)
    }

    /// The status of a trigger; `None` when Flink does not know it (never sent, or forgotten:
    /// Flink keeps results for `rest.async.operation.store-duration`, 5 minutes by default).
    pub async fn operation_status(
        &self,
        job: &str,
        trigger: &Trigger,
        trigger_id: &str,
    ) -> Result<Option<OperationStatus>> {
        let path = trigger.status_path(job, trigger_id);
        let value: serde_json::Value = match self.get(&path).await {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let bad = |reason: &str| Error::BadAnswer {
            url: self.url().to_string(),
            what: format!("GET {path}"),
            reason: reason.to_string(),
        };
        match value["status"]["id"].as_str() {
            Some("IN_PROGRESS") => return Ok(Some(OperationStatus::InProgress)),
            Some("COMPLETED") => {}
            other => return Err(bad(&format!("status {other:?}"))),
        }
        let operation = &value["operation"];
        if let Some(cause) = operation.get("failure-cause").filter(|c| !c.is_null()) {
            let text = cause["stack-trace"]
                .as_str()
                .map(one_line_cause)
                .or_else(|| cause["class"].as_str().map(str::to_string))
                .unwrap_or_else(|| cause.to_string());
            return Ok(Some(OperationStatus::Failed(text)));
        }
        match trigger {
            Trigger::Checkpoint { .. } => operation["checkpointId"]
                .as_u64()
                .map(|id| Some(OperationStatus::Checkpoint(id)))
                .ok_or_else(|| bad("no checkpointId in a completed operation")),
            _ => operation["location"]
                .as_str()
                .map(|l| Some(OperationStatus::Savepoint(l.to_string())))
                .ok_or_else(|| bad("no location in a completed savepoint")),
        }
    }

    /// A job's checkpoint history (completed, in progress and failed; savepoints included),
    /// newest first, as far back as Flink remembers (`web.checkpoints.history`, 10 by default).
    pub async fn checkpoints(&self, job: &str) -> Result<Vec<CheckpointEntry>> {
        let path = format!("/jobs/{job}/checkpoints");
        let stats: CheckpointingStats = match self.get(&path).await {
            Ok(s) => s,
            Err(e) if e.status() == Some(404) => {
                return Err(Error::JobNotFound {
                    url: self.url().to_string(),
                    job: job.to_string(),
                })
            }
            Err(e) => return Err(e),
        };
        let mut history = stats.history;
        history.sort_by_key(|c| std::cmp::Reverse(c.id));
        Ok(history)
    }

    /// One checkpoint's details.
    pub async fn checkpoint(&self, job: &str, id: u64) -> Result<CheckpointEntry> {
        self.get(&format!("/jobs/{job}/checkpoints/details/{id}"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(t: &str) -> FlinkVersion {
        FlinkVersion::parse(t).unwrap()
    }

    #[test]
    fn savepoint_and_stop_bodies_differ_as_flink_does() {
        let sp = Trigger::Savepoint {
            target: Some("s3://b/sp".into()),
            format: Some(SavepointFormat::Native),
        };
        let (path, body) = sp.request("j1", Some("t1"), &v("2.3.0"), "u").unwrap();
        assert_eq!(path, "/jobs/j1/savepoints");
        assert_eq!(
            body,
            serde_json::json!({"target-directory": "s3://b/sp", "cancel-job": false,
                "formatType": "NATIVE", "triggerId": "t1"})
        );
        let stop = Trigger::Stop {
            target: Some("hdfs:///sp".into()),
            drain: true,
            format: None,
        };
        let (path, body) = stop.request("j1", Some("t1"), &v("1.20.3"), "u").unwrap();
        assert_eq!(path, "/jobs/j1/stop");
        assert_eq!(
            body,
            serde_json::json!({"targetDirectory": "hdfs:///sp", "drain": true, "triggerId": "t1"})
        );
    }

    #[test]
    fn old_releases_get_no_trigger_id_and_a_clear_refusal() {
        let sp = Trigger::Savepoint {
            target: None,
            format: Some(SavepointFormat::Canonical),
        };
        let (_, body) = sp.request("j", Some("t"), &v("1.14.6"), "u").unwrap();
        assert_eq!(body, serde_json::json!({"cancel-job": false}));
        let native = Trigger::Savepoint {
            target: None,
            format: Some(SavepointFormat::Native),
        };
        let err = native
            .request("j", None, &v("1.14.6"), "http://jm")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a native-format savepoint (--format native) is not supported by Flink 1.14.6 at \
             http://jm (needs Flink 1.15 or later)"
        );
        let cp = Trigger::Checkpoint { full: true };
        assert!(cp.request("j", None, &v("1.16.3"), "u").is_err());
        let (path, body) = cp.request("j", Some("t"), &v("1.17.0"), "u").unwrap();
        assert_eq!(path, "/jobs/j/checkpoints");
        assert_eq!(
            body,
            serde_json::json!({"checkpointType": "FULL", "triggerId": "t"})
        );
    }
}
