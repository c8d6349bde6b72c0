//! Retention policies: which snapshots `ferry gc` keeps, per job, and why.
//!
//! A job is a checkpoint job directory (`<base>/<job-id>/chk-N`) or a savepoint directory (all
//! `savepoint-*` directories beside each other), as the Flink Kubernetes Operator's savepoint
//! history is per deployment. Within a job the complete snapshots are ranked newest first.
//! `--keep-latest N` keeps the N newest, `--keep-newer-than DUR` those written within DUR; with
//! both, a snapshot must satisfy both (the operator's `savepoint.history.max.count` and
//! `max.age` together). Whatever the policy says, these are kept: the newest complete snapshot
//! of every job, the newest `chk-N` of every job (complete or not: a running job may be writing
//! it or restore from it), snapshots named with `--keep`, snapshots whose `_metadata` cannot be
//! decoded, and incomplete directories written within the grace period.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;

/// A retention policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Keep the N newest complete snapshots of each job (at least 1).
    pub keep_latest: Option<usize>,
    /// Keep the snapshots written within this long.
    pub keep_newer_than: Option<Duration>,
    /// Snapshots kept whatever else the policy says.
    pub keep: Vec<Location>,
}

impl Policy {
    /// Checks the policy is one `gc` can apply: at least one of `keep_latest` and
    /// `keep_newer_than`, and `keep_latest` at least 1.
    pub fn validate(&self) -> Result<()> {
        if self.keep_latest == Some(0) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "--keep-latest must be at least 1 (the newest snapshot of a job is always kept)",
            ));
        }
        if self.keep_latest.is_none() && self.keep_newer_than.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "gc needs a retention policy: --keep-latest N and/or --keep-newer-than DUR",
            ));
        }
        Ok(())
    }
}

/// What the policy needs to know of one snapshot directory.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The snapshot directory.
    pub location: Location,
    /// The job it belongs to (see the module doc).
    pub job: String,
    /// The `N` of a `chk-N` directory name.
    pub chk: Option<i64>,
    /// The checkpoint id from `_metadata`, else from the name.
    pub id: Option<i64>,
    /// When `_metadata` (or, if incomplete, the newest file) was written.
    pub modified: Option<SystemTime>,
    /// `_metadata` is present.
    pub complete: bool,
    /// `_metadata` decodes (meaningful when complete).
    pub readable: bool,
}

/// The fate of one snapshot: kept or not, and why (one phrase, for reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fate {
    /// Whether the snapshot is kept.
    pub keep: bool,
    /// Why.
    pub reason: String,
}

impl Fate {
    fn keep(reason: impl Into<String>) -> Fate {
        Fate {
            keep: true,
            reason: reason.into(),
        }
    }

    fn delete(reason: impl Into<String>) -> Fate {
        Fate {
            keep: false,
            reason: reason.into(),
        }
    }
}

/// The job a snapshot directory belongs to: its parent for `chk-N` and other names (a
/// checkpoint job directory), its parent marked as a savepoint directory for `savepoint-*`.
pub fn job_of(dir: &Location) -> String {
    let parent = dir
        .parent()
        .map_or_else(|| dir.to_string(), |p| p.to_string());
    match dir.file_name() {
        Some(name) if name.starts_with("savepoint-") => format!("{parent} (savepoints)"),
        _ => parent,
    }
}

/// The `N` of a `chk-N` name.
pub fn chk_number(dir: &Location) -> Option<i64> {
    dir.file_name()?.strip_prefix("chk-")?.parse().ok()
}

/// Decides the fate of every candidate under `policy`, at time `now`, with `grace` protecting
/// incomplete directories written recently. Returns one fate per candidate, in order.
pub fn decide(
    policy: &Policy,
    candidates: &[Candidate],
    now: SystemTime,
    grace: Duration,
) -> Vec<Fate> {
    let mut fates: Vec<Option<Fate>> = vec![None; candidates.len()];
    let mut jobs: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        jobs.entry(c.job.as_str()).or_default().push(i);
    }
    for members in jobs.values() {
        let newest_chk = members.iter().filter_map(|&i| candidates[i].chk).max();
        let mut ranked: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| candidates[i].complete && candidates[i].readable)
            .collect();
        ranked.sort_by_key(|&i| std::cmp::Reverse((candidates[i].modified, candidates[i].id)));
        for (rank, &i) in ranked.iter().enumerate() {
            fates[i] = Some(rank_fate(policy, &candidates[i], rank, now));
        }
        for &i in members {
            let c = &candidates[i];
            let fate = if policy.keep.contains(&c.location) {
                Fate::keep("named with --keep")
            } else if c.chk.is_some() && c.chk == newest_chk {
                Fate::keep("the newest chk-N of its job (a running job may be writing or using it)")
            } else if let Some(fate) = fates[i].take() {
                fate
            } else if c.complete {
                Fate::keep(
                    "its _metadata cannot be decoded: kept, and nothing is deleted while it is \
                     (dispose it by name if it is garbage)",
                )
            } else if within(c.modified, now, grace) {
                Fate::keep("incomplete, written within the grace period (may be in progress)")
            } else {
                Fate::delete("incomplete (no _metadata), older than the grace period")
            };
            fates[i] = Some(fate);
        }
    }
    fates
        .into_iter()
        .map(|f| f.unwrap_or_else(|| Fate::keep("undecided")))
        .collect()
}

/// The fate of the complete snapshot ranked `rank` (0: newest) in its job.
fn rank_fate(policy: &Policy, c: &Candidate, rank: usize, now: SystemTime) -> Fate {
    if rank == 0 {
        return Fate::keep("the newest complete snapshot of its job");
    }
    if let Some(n) = policy.keep_latest.filter(|n| rank >= *n) {
        return Fate::delete(format!(
            "outside --keep-latest {n} (number {} newest of its job)",
            rank + 1
        ));
    }
    if let Some(age) = policy.keep_newer_than {
        if !within(c.modified, now, age) {
            return Fate::delete(format!("older than --keep-newer-than {}", human_age(age)));
        }
    }
    Fate::keep("within the retention policy")
}

/// Whether `modified` lies within `span` before `now`. An unknown time, or one in the future,
/// counts as within: the safe side.
pub fn within(modified: Option<SystemTime>, now: SystemTime, span: Duration) -> bool {
    match modified {
        None => true,
        Some(m) => now.duration_since(m).map_or(true, |age| age < span),
    }
}

/// A duration as given on the command line, roughly: `90s`, `15m`, `2h`, `7d`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, id: i64, age_s: u64, now: SystemTime) -> Candidate {
        let location = Location::parse(name).unwrap();
        Candidate {
            job: job_of(&location),
            chk: chk_number(&location),
            id: Some(id),
            modified: Some(now - Duration::from_secs(age_s)),
            complete: true,
            readable: true,
            location,
        }
    }

    #[test]
    fn keeps_latest_and_newest_and_named() {
        let now = SystemTime::now();
        let c = vec![
            candidate("file:/cp/j/chk-1", 1, 500, now),
            candidate("file:/cp/j/chk-2", 2, 400, now),
            candidate("file:/cp/j/chk-3", 3, 300, now),
            candidate("file:/sp/savepoint-aaaaaa-1", 4, 900, now),
            candidate("file:/sp/savepoint-aaaaaa-2", 5, 100, now),
        ];
        let policy = Policy {
            keep_latest: Some(2),
            keep: vec![Location::parse("file:/cp/j/chk-1").unwrap()],
            ..Policy::default()
        };
        let keep: Vec<bool> = decide(&policy, &c, now, Duration::from_secs(3600))
            .iter()
            .map(|f| f.keep)
            .collect();
        assert_eq!(keep, [true, true, true, true, true]);
        let policy = Policy {
            keep_latest: Some(1),
            ..Policy::default()
        };
        let keep: Vec<bool> = decide(&policy, &c, now, Duration::from_secs(3600))
            .iter()
            .map(|f| f.keep)
            .collect();
        assert_eq!(keep, [false, false, true, false, true]);
        let policy = Policy {
            keep_newer_than: Some(Duration::from_secs(450)),
            ..Policy::default()
        };
        let keep: Vec<bool> = decide(&policy, &c, now, Duration::from_secs(3600))
            .iter()
            .map(|f| f.keep)
            .collect();
        assert_eq!(keep, [false, true, true, false, true]);
    }

    #[test]
    fn incomplete_and_unreadable() {
        let now = SystemTime::now();
        let mut c = vec![
            candidate("file:/cp/j/chk-1", 1, 9000, now),
            candidate("file:/cp/j/chk-2", 2, 9000, now),
            candidate("file:/cp/j/chk-3", 3, 10, now),
            candidate("file:/cp/j/chk-4", 4, 9000, now),
            candidate("file:/cp/j/chk-5", 5, 10, now),
        ];
        c[0].readable = false;
        c[1].complete = false;
        c[2].complete = false;
        c[4].complete = false;
        let policy = Policy {
            keep_latest: Some(1),
            ..Policy::default()
        };
        let keep: Vec<bool> = decide(&policy, &c, now, Duration::from_secs(3600))
            .iter()
            .map(|f| f.keep)
            .collect();
        // unreadable kept; old incomplete deleted; young incomplete kept; chk-4 newest
        // complete; chk-5 newest chk-N.
        assert_eq!(keep, [true, false, true, true, true]);
    }

    #[test]
    fn rejects_empty_and_zero_policies() {
        assert!(Policy::default().validate().is_err());
        let zero = Policy {
            keep_latest: Some(0),
            ..Policy::default()
        };
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
    }
}
