//! Planning a `dispose` or `gc`: every snapshot under the roots and its fate, the files the
//! kept ones reference, and the verdict on every listed file.
//!
//! Planning reads and lists; it never writes. It fails on the first listing or read error, so
//! an incomplete view of the roots never reaches [`super::delete`]. Files are decided one by
//! one as a listing streams ([`Plan::decide`]): the plan holds the referenced set, never the
//! listing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::policy::{self, Candidate, Policy};
use crate::error::{Error, ErrorKind, Result};
use crate::location::{scheme_family, Location};
use crate::relocate::snapshot::{self, find_dirs, survey, LISTINGS_IN_FLIGHT};
use crate::relocate::{closure, METADATA_FILE};
use crate::storage::{Entry, Storage};
use crate::transfer::Endpoint;

/// What to plan.
#[derive(Debug, Clone)]
pub enum Scope {
    /// `ferry gc`: apply the policy to every job under the roots and collect the garbage.
    Gc(Policy),
    /// `ferry dispose`: remove this snapshot directory and the files outside it that no other
    /// snapshot under the roots references.
    Dispose(Location),
}

/// Settings of a plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions {
    /// Files outside kept snapshots written within this long are kept (default 1 h).
    pub grace: Duration,
    /// The time ages are measured from.
    pub now: SystemTime,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            grace: Duration::from_secs(3600),
            now: SystemTime::now(),
        }
    }
}

/// One snapshot directory found under the roots, and its fate.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRecord {
    /// The snapshot directory.
    pub location: Location,
    /// The job it belongs to (its checkpoint job directory or savepoint directory).
    pub job: String,
    /// `checkpoint` or `savepoint`.
    pub kind: &'static str,
    /// The checkpoint id.
    pub id: Option<i64>,
    /// When `_metadata` (or, if incomplete, the newest file) was written, in seconds since the
    /// epoch.
    #[serde(serialize_with = "seconds")]
    pub modified: Option<SystemTime>,
    /// `_metadata` is present.
    pub complete: bool,
    /// What is wrong with it: no `_metadata`, or one that cannot be decoded.
    pub problem: Option<String>,
    /// Files in its directory.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Whether it is kept.
    pub keep: bool,
    /// Why it is kept or goes.
    pub reason: String,
    /// The index of the root it was found under.
    #[serde(skip)]
    pub root: usize,
    /// Whether its `_metadata` decodes (meaningful when complete).
    #[serde(skip)]
    pub readable: bool,
}

fn seconds<S: serde::Serializer>(
    time: &Option<SystemTime>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match time.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()) {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// What happens to one listed file, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It goes: part of the snapshot (index) that goes.
    Snapshot(usize),
    /// It goes: part of the disposed snapshot's closure outside its directory.
    Exclusive,
    /// It goes: in a `shared/` or `taskowned/` directory, referenced by no kept snapshot,
    /// older than the grace period.
    Orphan,
    /// Kept: the kept snapshot (index) references it.
    Needed(usize),
    /// Kept: it lies in the directory of a kept snapshot (index).
    InKept(usize),
    /// Kept: it would be an orphan but is younger than the grace period (or of unknown age).
    Young,
    /// Kept: it would go, but a kept snapshot's `_metadata` cannot be read.
    Blocked,
    /// Not this run's business: not a Flink state file, or (dispose) not part of the
    /// disposed snapshot.
    Unrelated,
}

impl Verdict {
    /// Whether the file goes.
    pub fn deletes(self) -> bool {
        matches!(
            self,
            Verdict::Snapshot(_) | Verdict::Exclusive | Verdict::Orphan
        )
    }

    /// The kind of deletion, for the per-job tallies.
    pub fn kind(self) -> Option<&'static str> {
        match self {
            Verdict::Snapshot(_) => Some("snapshot"),
            Verdict::Exclusive => Some("exclusive"),
            Verdict::Orphan => Some("orphan"),
            _ => None,
        }
    }
}

/// A count of files and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Tally {
    /// Counts one file.
    pub fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// What a plan (or a run) deletes and keeps, in totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Files that go (with `--delete`: that went).
    pub delete: Tally,
    /// Per job, per kind (`snapshot`, `exclusive`, `orphan`).
    pub per_job: BTreeMap<String, BTreeMap<&'static str, Tally>>,
    /// Files that would go but a kept snapshot needs, per kept snapshot.
    pub needed: BTreeMap<String, Tally>,
    /// Orphans kept for the grace period.
    pub young: Tally,
    /// Files kept only because an unreadable snapshot blocks every deletion.
    pub blocked: Tally,
}

impl Summary {
    /// Counts one decided file.
    pub fn count(&mut self, plan: &Plan, entry: &Entry, verdict: Verdict) {
        match verdict {
            Verdict::Needed(i) => self
                .needed
                .entry(plan.snapshots[i].location.to_string())
                .or_default()
                .add(entry.size),
            Verdict::Young => self.young.add(entry.size),
            Verdict::Blocked => self.blocked.add(entry.size),
            Verdict::InKept(_) | Verdict::Unrelated => {}
            Verdict::Snapshot(_) | Verdict::Exclusive | Verdict::Orphan => {
                self.delete.add(entry.size);
                let job = plan.job_of_file(&entry.location, verdict);
                let kind = verdict.kind().unwrap_or("other");
                self.per_job
                    .entry(job)
                    .or_default()
                    .entry(kind)
                    .or_default()
                    .add(entry.size);
            }
        }
    }
}

/// A decided `gc` or `dispose`.
#[derive(Debug)]
pub struct Plan {
    /// Every snapshot directory under the roots, oldest first per root.
    pub snapshots: Vec<SnapshotRecord>,
    /// Why nothing may be deleted, if something forbids it.
    pub blocked: Option<String>,
    /// What is listed and decided: (root index, location).
    pub scans: Vec<(usize, Location)>,
    roots: Vec<Endpoint>,
    dirs: HashMap<Location, usize>,
    referenced: HashMap<u64, u32>,
    exclusive: Option<HashSet<u64>>,
    options: PlanOptions,
}

/// The identity of a location for the referenced set: a hash of its store family, authority
/// and path (`s3a://b/k` and `s3://b/k` are one object).
fn key(location: &Location) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    scheme_family(location.scheme())
        .unwrap_or(location.scheme())
        .hash(&mut hasher);
    location.authority().hash(&mut hasher);
    location.path().hash(&mut hasher);
    hasher.finish()
}

/// Whether `a` lies in `b` (or is it), across schemes of one store family.
fn inside(a: &Location, b: &Location) -> bool {
    let family = |l: &Location| scheme_family(l.scheme()).unwrap_or(l.scheme()).to_string();
    family(a) == family(b) && a.with_scheme(b.scheme()).strip_prefix(b).is_some()
}

/// Plans a `gc` or `dispose` over `roots`. For `dispose`, `roots` are the snapshot's checkpoint
/// base or savepoint directory and the `--keep-root`s (see [`dispose_roots`]); for `gc`, the
/// user's roots, which must not overlap.
pub async fn plan(roots: Vec<Endpoint>, scope: Scope, options: PlanOptions) -> Result<Plan> {
    if let Scope::Gc(policy) = &scope {
        policy.validate()?;
    }
    for (i, a) in roots.iter().enumerate() {
        for b in roots.iter().skip(i + 1) {
            if inside(&a.location, &b.location) || inside(&b.location, &a.location) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "the roots {} and {} overlap: name each directory once",
                        a.location, b.location
                    ),
                ));
            }
        }
    }
    let named = match &scope {
        Scope::Dispose(dir) => Some(check_disposable(&roots, dir).await?),
        Scope::Gc(_) => None,
    };
    let mut snapshots = Vec::new();
    for (r, root) in roots.iter().enumerate() {
        let found = find(root, r).await?;
        if matches!(scope, Scope::Gc(_)) && !found.iter().any(|s| s.complete) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "{} holds no complete snapshot: nothing to keep, so nothing is collected \
                     (an empty or failed listing is never taken to mean everything is garbage)",
                    root.location
                ),
            ));
        }
        snapshots.extend(found);
    }
    if let Some((r, dir)) = &named {
        if !snapshots.iter().any(|s| s.location == *dir) {
            let info = survey(roots[*r].storage.as_ref(), dir.clone(), "checkpoint").await?;
            let mut record = record(*r, info);
            if record.complete {
                read_header(roots[*r].storage.as_ref(), &mut record).await?;
            }
            snapshots.push(record);
        }
    }
    let fates = match &scope {
        Scope::Gc(policy) => {
            for named in &policy.keep {
                if !snapshots.iter().any(|s| s.location == *named) {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "--keep {named}: no snapshot directory of that name under the roots"
                        ),
                    ));
                }
            }
            let candidates: Vec<Candidate> = snapshots
                .iter()
                .map(|s| Candidate {
                    location: s.location.clone(),
                    job: s.job.clone(),
                    chk: policy::chk_number(&s.location),
                    id: s.id,
                    modified: s.modified,
                    complete: s.complete,
                    readable: s.readable,
                })
                .collect();
            policy::decide(policy, &candidates, options.now, options.grace)
        }
        Scope::Dispose(_) => {
            let dir = named.as_ref().map(|(_, d)| d);
            snapshots
                .iter()
                .map(|s| {
                    if Some(&s.location) == dir {
                        policy::Fate {
                            keep: false,
                            reason: "named to be disposed".to_string(),
                        }
                    } else if s.complete && !s.readable {
                        policy::Fate {
                            keep: true,
                            reason: "its _metadata cannot be decoded: kept, and nothing is \
                                     deleted while it is"
                                .to_string(),
                        }
                    } else {
                        policy::Fate {
                            keep: true,
                            reason: "another snapshot under the roots".to_string(),
                        }
                    }
                })
                .collect()
        }
    };
    for (s, fate) in snapshots.iter_mut().zip(fates) {
        s.keep = fate.keep;
        s.reason = fate.reason;
    }
    let blocked = snapshots
        .iter()
        .find(|s| s.keep && s.complete && !s.readable)
        .map(|s| {
            format!(
                "the _metadata of {} cannot be decoded ({}), so what it references is unknown: \
                 nothing is deleted while it is kept (dispose it by name, or move it away)",
                s.location,
                s.problem.as_deref().unwrap_or("unreadable")
            )
        });
    let (referenced, missing) = referenced_set(&roots, &snapshots).await?;
    let blocked = blocked.or(missing);
    let dirs = snapshots
        .iter()
        .enumerate()
        .map(|(i, s)| (s.location.clone(), i))
        .collect();
    let (scans, exclusive) = match &named {
        None => (
            roots
                .iter()
                .enumerate()
                .map(|(r, e)| (r, e.location.clone()))
                .collect(),
            None,
        ),
        Some((r, dir)) => {
            let (scans, exclusive) = dispose_scans(&roots[*r], *r, dir, &snapshots).await?;
            (scans, Some(exclusive))
        }
    };
    Ok(Plan {
        snapshots,
        blocked,
        scans,
        roots,
        dirs,
        referenced,
        exclusive,
        options,
    })
}

/// The roots of `ferry dispose SNAPSHOT`: the snapshot's checkpoint base (`<base>` of
/// `<base>/<job>/chk-N`) or savepoint directory (the parent of `savepoint-*` and other names),
/// where other snapshots that may share its files live.
pub fn dispose_root(dir: &Location) -> Location {
    let parent = dir.parent().unwrap_or_else(|| dir.clone());
    let is_chk = policy::chk_number(dir).is_some();
    match parent.parent() {
        Some(base) if is_chk && !base.is_root() => base,
        _ => parent,
    }
}

/// Drops roots that lie inside another root (`dispose`'s own root and the `--keep-root`s may
/// overlap); the order is kept.
pub fn dedupe_roots(roots: Vec<Endpoint>) -> Vec<Endpoint> {
    let mut kept: Vec<Endpoint> = Vec::new();
    for root in roots {
        if kept.iter().any(|k| inside(&root.location, &k.location)) {
            continue;
        }
        kept.retain(|k| !inside(&k.location, &root.location));
        kept.push(root);
    }
    kept
}

/// Checks the named snapshot can be disposed and returns (root index, its directory): it
/// exists, lies under the first root, and is a snapshot (has `_metadata`, or is named `chk-N`
/// or `savepoint-*`: an incomplete or partly disposed one). The newest `chk-N` of a job
/// written within the last hour may belong to a running job: refused.
async fn check_disposable(roots: &[Endpoint], named: &Location) -> Result<(usize, Location)> {
    let root = roots
        .first()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "dispose needs the snapshot's root"))?;
    let storage = root.storage.as_ref();
    let dir = if named.file_name() == Some(METADATA_FILE) {
        named.parent().unwrap_or_else(|| named.clone())
    } else {
        named.clone()
    };
    let has_metadata = match storage.stat(&dir.join(METADATA_FILE)).await {
        Ok(entry) => !entry.is_dir(),
        Err(err) if err.kind() == ErrorKind::NotFound => false,
        Err(err) => return Err(err),
    };
    if !has_metadata {
        let exists = match storage.stat(&dir).await {
            Ok(_) => true,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                // Object stores have no directories: a prefix exists if it lists anything.
                storage.list(&dir).try_next().await?.is_some()
            }
            Err(err) => return Err(err),
        };
        if !exists {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("snapshot {dir} does not exist"),
            ));
        }
        let name = dir.file_name().unwrap_or_default();
        if snapshot::snapshot_kind(name).is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{dir} is not a snapshot: it has no _metadata and is not named chk-N or \
                     savepoint-*"
                ),
            ));
        }
    }
    if !inside(&dir, &root.location) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{dir} does not lie under its root {}", root.location),
        ));
    }
    if let Some(n) = policy::chk_number(&dir) {
        refuse_if_in_use(storage, &dir, n).await?;
    }
    Ok((0, dir))
}

/// Refuses to dispose checkpoint `chk-n` when a running job may still need it: it is the newest
/// complete checkpoint of its job directory and either a newer `chk-M` is being written (it
/// builds on this one's files) or it was written within the last hour.
async fn refuse_if_in_use(storage: &dyn Storage, dir: &Location, n: i64) -> Result<()> {
    let Some(job) = dir.parent() else {
        return Ok(());
    };
    let newer: Vec<Location> = storage
        .list_dir(&job)
        .try_filter(|e| {
            futures::future::ready(
                e.is_dir() && policy::chk_number(&e.location).is_some_and(|m| m > n),
            )
        })
        .map_ok(|e| e.location)
        .try_collect()
        .await?;
    let mut writing = None;
    for other in &newer {
        match storage.stat(&other.join(METADATA_FILE)).await {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == ErrorKind::NotFound => writing = Some(other),
            Err(err) => return Err(err),
        }
    }
    let why = match writing {
        Some(other) => format!("{other} is being written and may build on its files"),
        None => {
            let info = survey(storage, dir.clone(), "checkpoint").await?;
            if !policy::within(info.modified, SystemTime::now(), Duration::from_secs(3600)) {
                return Ok(());
            }
            "it was written within the last hour".to_string()
        }
    };
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{dir} is the newest complete checkpoint of its job and {why}: a running job may \
             still need it; not disposed"
        ),
    ))
}

/// Every snapshot directory under one root, listed and with its `_metadata` header read.
async fn find(root: &Endpoint, r: usize) -> Result<Vec<SnapshotRecord>> {
    let storage = root.storage.as_ref();
    let dirs = find_dirs(storage, &root.location).await?;
    let infos: Vec<_> = futures::stream::iter(dirs)
        .map(|(dir, kind)| survey(storage, dir, kind))
        .buffered(LISTINGS_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut records = Vec::with_capacity(infos.len());
    for info in infos {
        let mut record = record(r, info);
        if record.complete {
            read_header(storage, &mut record).await?;
        }
        records.push(record);
    }
    records.sort_by_key(|s| (s.modified, s.id));
    Ok(records)
}

fn record(root: usize, info: snapshot::SnapshotInfo) -> SnapshotRecord {
    SnapshotRecord {
        job: policy::job_of(&info.location),
        location: info.location,
        kind: info.kind,
        id: info.id,
        modified: info.modified,
        complete: info.complete,
        problem: info.problem,
        files: info.files,
        bytes: info.own_size,
        keep: true,
        reason: String::new(),
        root,
        readable: info.complete,
    }
}

/// Reads a complete snapshot's `_metadata`: its id and kind, or why it cannot be decoded
/// (then it is unreadable, not incomplete). Errors other than a decode failure end the plan.
async fn read_header(storage: &dyn Storage, record: &mut SnapshotRecord) -> Result<()> {
    match snapshot::open(storage, &record.location).await {
        Ok(snapshot) => {
            record.id = Some(snapshot.metadata.checkpoint_id);
            if let Some(props) = snapshot.metadata.properties() {
                match props.kind {
                    Some(ferry_metadata::SnapshotKind::Savepoint) => record.kind = "savepoint",
                    Some(ferry_metadata::SnapshotKind::Checkpoint) => record.kind = "checkpoint",
                    None => {}
                }
            }
            if let Err(err) = closure::references(&snapshot) {
                record.readable = false;
                record.problem = Some(err.to_string());
            }
            Ok(())
        }
        Err(err) if err.kind() == ErrorKind::Corrupted => {
            record.readable = false;
            record.problem = Some(err.to_string());
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// The files every kept, readable snapshot references, each with the newest such snapshot.
/// One `_metadata` is decoded at a time. Also says why nothing may be deleted when a kept
/// snapshot names a file by relative name that is not in its directory: after a CLAIM
/// restore from a native savepoint (FLINK-39964) that file lies in the savepoint's directory
/// under that name, and no path says so.
async fn referenced_set(
    roots: &[Endpoint],
    snapshots: &[SnapshotRecord],
) -> Result<(HashMap<u64, u32>, Option<String>)> {
    let mut order: Vec<usize> = (0..snapshots.len())
        .filter(|&i| snapshots[i].keep && snapshots[i].complete && snapshots[i].readable)
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse((snapshots[i].modified, snapshots[i].id)));
    let mut referenced: HashMap<u64, u32> = HashMap::new();
    let mut missing = None;
    for i in order {
        let s = &snapshots[i];
        let storage = roots[s.root].storage.as_ref();
        let snapshot = snapshot::open(storage, &s.location).await?;
        let mut relative = HashSet::new();
        for reference in closure::references(&snapshot)? {
            if reference.relative {
                relative.insert(key(&reference.location));
            }
            referenced
                .entry(key(&reference.location))
                .or_insert(i as u32);
        }
        if !relative.is_empty() && missing.is_none() {
            let mut listing = storage.list(&s.location);
            while let Some(entry) = listing.try_next().await? {
                relative.remove(&key(&entry.location));
            }
            if !relative.is_empty() {
                missing = Some(format!(
                    "{} names {} files by relative name that are not in its directory (after a \
                     CLAIM restore from a native savepoint, FLINK-39964, they lie in the \
                     savepoint's directory, and no path says which): nothing is deleted; run \
                     ferry repair --in-place on it first",
                    s.location,
                    relative.len()
                ));
            }
        }
    }
    referenced.shrink_to_fit();
    Ok((referenced, missing))
}

/// What `dispose` lists: the snapshot directory and each directory outside it holding files
/// it references on the same store (`<job>/shared`, `<job>/taskowned`, …), and the set of
/// those referenced files.
async fn dispose_scans(
    root: &Endpoint,
    r: usize,
    dir: &Location,
    snapshots: &[SnapshotRecord],
) -> Result<(Vec<(usize, Location)>, HashSet<u64>)> {
    let mut scans = vec![(r, dir.clone())];
    let mut exclusive = HashSet::new();
    let readable = snapshots
        .iter()
        .any(|s| s.location == *dir && s.complete && s.readable);
    if !readable {
        return Ok((scans, exclusive));
    }
    let snapshot = snapshot::open(root.storage.as_ref(), dir).await?;
    let mut outside: Vec<Location> = Vec::new();
    for reference in closure::references(&snapshot)? {
        if reference.inside || !inside(&reference.location, &root.location.with_path("/")) {
            continue;
        }
        exclusive.insert(key(&reference.location));
        let place = closure::external_root(dir, &reference.location);
        if !outside.contains(&place) {
            outside.push(place);
        }
    }
    for place in outside {
        let place = place.with_scheme(root.location.scheme());
        let covered = scans
            .iter()
            .any(|(_, s)| inside(&place, s) || inside(s, &place));
        if !covered {
            scans.push((r, place));
        }
    }
    Ok((scans, exclusive))
}

impl Plan {
    /// The roots, as given.
    pub fn roots(&self) -> &[Endpoint] {
        &self.roots
    }

    /// The store of root `r`.
    pub fn storage(&self, r: usize) -> &Arc<dyn Storage> {
        &self.roots[r].storage
    }

    /// The snapshot directory `location` lies in, if it lies in one found under the roots.
    fn snapshot_of(&self, location: &Location) -> Option<usize> {
        let mut dir = location.parent();
        while let Some(d) = dir {
            if let Some(&i) = self.dirs.get(&d) {
                return Some(i);
            }
            if d.is_root() {
                break;
            }
            dir = d.parent();
        }
        None
    }

    /// Decides one file listed under scan root `scan`.
    pub fn decide(&self, scan: &Location, entry: &Entry) -> Verdict {
        let location = &entry.location;
        let base = match self.snapshot_of(location) {
            Some(i) if self.snapshots[i].keep => return Verdict::InKept(i),
            Some(i) => Verdict::Snapshot(i),
            None => match &self.exclusive {
                Some(exclusive) if exclusive.contains(&key(location)) => Verdict::Exclusive,
                Some(_) => return Verdict::Unrelated,
                None if !in_state_dir(scan, location) => return Verdict::Unrelated,
                None if policy::within(entry.modified, self.options.now, self.options.grace) => {
                    if let Some(&i) = self.referenced.get(&key(location)) {
                        return Verdict::Needed(i as usize);
                    }
                    return Verdict::Young;
                }
                None => Verdict::Orphan,
            },
        };
        if let Some(&i) = self.referenced.get(&key(location)) {
            return Verdict::Needed(i as usize);
        }
        if self.blocked.is_some() {
            return Verdict::Blocked;
        }
        base
    }

    /// The job a deleted file is counted under.
    fn job_of_file(&self, location: &Location, verdict: Verdict) -> String {
        if let Verdict::Snapshot(i) = verdict {
            return self.snapshots[i].job.clone();
        }
        let segments: Vec<&str> = location.path().split('/').collect();
        match segments[..segments.len().saturating_sub(1)]
            .iter()
            .rposition(|s| *s == "shared" || *s == "taskowned")
        {
            Some(at) => location.with_path(&segments[..at].join("/")).to_string(),
            None => location
                .parent()
                .map_or_else(|| location.to_string(), |p| p.to_string()),
        }
    }

    /// Lists every scan root and decides each file, calling `each` with it, and returns the
    /// totals. Any listing error ends the survey.
    pub async fn survey(&self, mut each: impl FnMut(&Entry, Verdict)) -> Result<Summary> {
        let mut summary = Summary::default();
        for (r, scan) in &self.scans {
            let mut listing = self.roots[*r].storage.list(scan);
            while let Some(entry) = listing.try_next().await? {
                let verdict = self.decide(scan, &entry);
                summary.count(self, &entry, verdict);
                each(&entry, verdict);
            }
        }
        Ok(summary)
    }
}

/// Whether `location` lies in a `shared/` or `taskowned/` directory below `scan`.
fn in_state_dir(scan: &Location, location: &Location) -> bool {
    let Some(rel) = location.strip_prefix(scan) else {
        return false;
    };
    let mut segments: Vec<&str> = rel.split('/').collect();
    segments.pop();
    segments.iter().any(|s| *s == "shared" || *s == "taskowned")
}
