//! Idempotent, resumable triggers.
//!
//! Before a trigger is sent, ferry generates its id (Flink accepts a client-supplied
//! `triggerId` from 1.15) and writes it to `<state dir>/flink-triggers/<job>-<kind>-<hash>.json`,
//! keyed by the cluster URL, the job and the exact request. A re-run of the same command — after
//! a crash, a killed pod, a lost connection, Ctrl-C or `--timeout` — finds the file and polls the
//! same operation instead of taking a second savepoint; if Flink has forgotten it (a restarted
//! JobManager, or the result's retention passed), the same id is sent again, which Flink treats as
//! the same request while it still runs. The file is removed once the outcome (success or
//! failure) has been read. Before 1.15 Flink chooses the id: it is written right after Flink's
//! answer, so a crash in between can still lead to a second savepoint (documented).
//!
//! Waiting polls with backoff (250 ms doubling to 5 s, with jitter) under an overall timeout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::api::{OperationStatus, Trigger};
use crate::client::FlinkClient;
use crate::error::{Error, Result};
use crate::version::FlinkVersion;

/// Where pending triggers are kept: `<state dir>/flink-triggers`.
#[derive(Debug, Clone)]
pub struct TriggerStore {
    dir: PathBuf,
}

/// A trigger sent (or about to be sent) and not yet read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The trigger id.
    pub trigger_id: String,
    /// The job id.
    pub job: String,
    /// The cluster's URL.
    pub url: String,
    /// The request ([`Trigger::fingerprint`]).
    pub request: String,
    /// When it was first sent, seconds since the epoch.
    pub created: u64,
}

impl TriggerStore {
    /// The store under `state_dir`.
    pub fn new(state_dir: &Path) -> TriggerStore {
        TriggerStore {
            dir: state_dir.join("flink-triggers"),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, url: &str, job: &str, trigger: &Trigger) -> PathBuf {
        // FNV-1a: a stable name for the (cluster, job, request) triple.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in url
            .bytes()
            .chain([0])
            .chain(job.bytes())
            .chain([0])
            .chain(trigger.fingerprint().into_bytes())
        {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let kind = match trigger {
            Trigger::Savepoint { .. } => "savepoint",
            Trigger::Stop { .. } => "stop",
            Trigger::Checkpoint { .. } => "checkpoint",
        };
        let job: String = job
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(64)
            .collect();
        self.dir.join(format!("{job}-{kind}-{hash:016x}.json"))
    }

    /// The pending trigger of this request, if a previous run left one.
    pub fn load(&self, url: &str, job: &str, trigger: &Trigger) -> Result<Option<Pending>> {
        let path = self.file(url, job, trigger);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Pending>(&bytes) {
                Ok(p) if p.request == trigger.fingerprint() && p.job == job && p.url == url => {
                    Ok(Some(p))
                }
                // A torn or foreign file: start afresh.
                _ => Ok(None),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::State { path, source }),
        }
    }

    /// Writes the pending trigger (temp file + rename: never half a file).
    pub fn save(&self, trigger: &Trigger, pending: &Pending) -> Result<PathBuf> {
        let path = self.file(&pending.url, &pending.job, trigger);
        let state = |source| Error::State {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(state)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(pending).map_err(|e| state(e.into()))?;
        std::fs::write(&tmp, bytes).map_err(state)?;
        std::fs::rename(&tmp, &path).map_err(state)?;
        Ok(path)
    }

    /// Forgets the trigger of this request.
    pub fn remove(&self, url: &str, job: &str, trigger: &Trigger) -> Result<()> {
        let path = self.file(url, job, trigger);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::State { path, source }),
        }
    }
}

/// A new trigger id: 32 lowercase hex digits, the form of Flink's `TriggerId`.
pub fn new_trigger_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What [`start`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The trigger id.
    pub trigger_id: String,
    /// Whether it is a previous run's trigger being picked up.
    pub resumed: bool,
}

/// Sends `trigger` for `job`, or picks up the pending one of an earlier run of the same
/// request. The id is kept in `store` (if any) until [`finish`].
pub async fn start(
    client: &FlinkClient,
    store: Option<&TriggerStore>,
    version: &FlinkVersion,
    job: &str,
    trigger: &Trigger,
) -> Result<Started> {
    let url = client.url().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let pending = match store {
        Some(s) => s.load(&url, job, trigger)?,
        None => None,
    };
    if let Some(p) = pending {
        match client.operation_status(job, trigger, &p.trigger_id).await? {
            Some(_) => {
                return Ok(Started {
                    trigger_id: p.trigger_id,
                    resumed: true,
                })
            }
            None if version.has_trigger_ids() => {
                // Flink does not know it (yet, or any more): the same id again.
                let id = client
                    .send_trigger(job, trigger, Some(&p.trigger_id), version)
                    .await?;
                return Ok(Started {
                    trigger_id: id,
                    resumed: true,
                });
            }
            None => {
                tracing::warn!(
                    "Flink {version} at {url} no longer knows trigger {}; triggering anew",
                    p.trigger_id
                );
            }
        }
    }
    let record = |trigger_id: &str| Pending {
        trigger_id: trigger_id.to_string(),
        job: job.to_string(),
        url: url.clone(),
        request: trigger.fingerprint(),
        created: now,
    };
    if version.has_trigger_ids() {
        let id = new_trigger_id();
        if let Some(s) = store {
            s.save(trigger, &record(&id))?;
        }
        let sent = client.send_trigger(job, trigger, Some(&id), version).await;
        let sent = match sent {
            Ok(id) => id,
            Err(e) => {
                // Flink refused it: nothing to pick up later.
                if let (Some(s), Some(_)) = (store, e.status()) {
                    let _ = s.remove(&url, job, trigger);
                }
                return Err(e);
            }
        };
        Ok(Started {
            trigger_id: sent,
            resumed: false,
        })
    } else {
        let id = client.send_trigger(job, trigger, None, version).await?;
        if let Some(s) = store {
            s.save(trigger, &record(&id))?;
        }
        Ok(Started {
            trigger_id: id,
            resumed: false,
        })
    }
}

/// Polls the trigger until it completes, fails, or `timeout` passes. A completed or failed
/// trigger is removed from `store`; one still running stays there for the next run.
pub async fn wait(
    client: &FlinkClient,
    store: Option<&TriggerStore>,
    job: &str,
    trigger: &Trigger,
    trigger_id: &str,
    timeout: Duration,
) -> Result<OperationStatus> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(250);
    let mut unknown = 0;
    loop {
        match client.operation_status(job, trigger, trigger_id).await? {
            Some(OperationStatus::InProgress) => {}
            None => {
                // Just sent and not registered yet, or forgotten: a few polls, then give up.
                unknown += 1;
                if unknown > 5 {
                    return Err(Error::BadAnswer {
                        url: client.url().to_string(),
                        what: format!("GET {}", trigger.status_path(job, trigger_id)),
                        reason: "Flink does not know this trigger".into(),
                    });
                }
            }
            Some(done) => {
                if let Some(s) = store {
                    s.remove(client.url(), job, trigger)?;
                }
                return match done {
                    OperationStatus::Failed(cause) => Err(Error::OperationFailed {
                        url: client.url().to_string(),
                        what: trigger.what().to_string(),
                        job: job.to_string(),
                        cause,
                    }),
                    done => Ok(done),
                };
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                url: client.url().to_string(),
                what: trigger.what().to_string(),
                job: job.to_string(),
                trigger: trigger_id.to_string(),
                seconds: timeout.as_secs(),
            });
        }
        let jitter = Duration::from_millis(u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_millis())
                % 100,
        ));
        tokio::time::sleep((delay + jitter).min(deadline - now)).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SavepointFormat;

    #[test]
    fn the_store_keys_by_cluster_job_and_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = TriggerStore::new(dir.path());
        let a = Trigger::Savepoint {
            target: Some("file:/sp".into()),
            format: Some(SavepointFormat::Canonical),
        };
        let b = Trigger::Savepoint {
            target: Some("file:/other".into()),
            format: Some(SavepointFormat::Canonical),
        };
        let p = Pending {
            trigger_id: new_trigger_id(),
            job: "j1".into(),
            url: "http://jm:8081".into(),
            request: a.fingerprint(),
            created: 1,
        };
        assert_eq!(p.trigger_id.len(), 32);
        assert!(p.trigger_id.chars().all(|c| c.is_ascii_hexdigit()));
        store.save(&a, &p).unwrap();
        assert_eq!(store.load("http://jm:8081", "j1", &a).unwrap(), Some(p));
        assert_eq!(store.load("http://jm:8081", "j1", &b).unwrap(), None);
        assert_eq!(store.load("http://jm:8081", "j2", &a).unwrap(), None);
        assert_eq!(store.load("http://other:8081", "j1", &a).unwrap(), None);
        store.remove("http://jm:8081", "j1", &a).unwrap();
        assert_eq!(store.load("http://jm:8081", "j1", &a).unwrap(), None);
        store.remove("http://jm:8081", "j1", &a).unwrap();
    }
}
