//! Lifecycle tests on synthetic snapshot graphs in the in-memory store: the rules pinned on
//! hand-made cases, and a property test over generated graphs (shared files, chains across
//! jobs, files inside other snapshots' directories, unreadable metadata, listings and deletes
//! failing midway): nothing a kept snapshot references is ever deleted. Real Flink snapshots
//! are exercised by the end-to-end tests.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry_metadata::{
    IncrementalHandle, IncrementalKind, JavaString, KeyGroupRange, KeyedHandle, Metadata,
    NamedStreamHandle, OperatorId, OperatorState, StreamHandle, SubtaskEntry, SubtaskState,
    SubtaskStates,
};
use futures::StreamExt;
use proptest::prelude::*;

use super::*;
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::memory::MemoryStorage;
use crate::storage::{ByteStream, Entry, ListStream, ObjectWriter, Storage, WriteOptions};
use crate::transfer::Endpoint;

fn loc(s: &str) -> Location {
    Location::parse(s).unwrap()
}

fn js(s: &str) -> JavaString {
    JavaString::new(s).unwrap()
}

/// A checkpoint `_metadata` whose one keyed handle references `files` (absolute) and the
/// relative `private` file in its own directory.
fn metadata(id: i64, files: &[Location]) -> Vec<u8> {
    let keyed = KeyedHandle::Incremental(IncrementalHandle {
        kind: IncrementalKind::V2,
        checkpoint_id: id,
        backend_identifier: js("00000000-0000-0000-0000-000000000001"),
        range: KeyGroupRange {
            start: 0,
            count: 128,
        },
        checkpointed_size: Some(1),
        meta_state: Some(StreamHandle::RelativeFile(
            ferry_metadata::RelativeFileHandle {
                relative_path: js("private"),
                state_size: 7,
            },
        )),
        shared_state: files
            .iter()
            .enumerate()
            .map(|(i, f)| NamedStreamHandle {
                local_name: js(&format!("{i:06}.sst")),
                handle: Some(StreamHandle::File(ferry_metadata::FileHandle {
                    state_size: 5,
                    path: js(&f.to_string()),
                })),
            })
            .collect(),
        private_state: vec![],
        state_handle_id: Some(js("handle-1")),
    });
    let state = SubtaskState {
        managed_keyed_state: Some(Box::new(keyed)),
        ..SubtaskState::default()
    };
    Metadata {
        version: 6,
        checkpoint_id: id,
        master_states: vec![],
        operators: vec![OperatorState {
            name: Some(js("Counter")),
            uid: Some(js("counter")),
            id: OperatorId([7; 16]),
            parallelism: 1,
            max_parallelism: 128,
            chain_length: None,
            coordinator_state: None,
            subtasks: SubtaskStates::Entries(vec![SubtaskEntry {
                raw_index: 0,
                state: Some(state),
            }]),
        }],
        layout: Default::default(),
        trailer: ferry_metadata::NULL_PROPERTIES_TRAILER.to_vec(),
    }
    .to_bytes()
    .unwrap()
}

/// Writes a complete snapshot directory: `private`, the referenced files that do not exist
/// yet, and `_metadata` last (or garbage for an unreadable one).
fn snapshot(store: &MemoryStorage, dir: &str, id: i64, files: &[&str], readable: bool) {
    let dir = loc(dir);
    store.insert(&dir.join("private"), vec![1u8; 7]);
    let files: Vec<Location> = files.iter().map(|f| loc(f)).collect();
    for f in &files {
        if store.get(f).is_none() {
            store.insert(f, vec![2u8; 5]);
        }
    }
    let bytes = if readable {
        metadata(id, &files)
    } else {
        b"not a metadata file".to_vec()
    };
    store.insert(&dir.join("_metadata"), bytes);
}

fn endpoint(store: &MemoryStorage, at: &str) -> Endpoint {
    Endpoint {
        storage: Arc::new(store.clone()),
        location: loc(at),
    }
}

/// Options with the clock two hours ahead: everything written now is past the grace period.
fn later() -> PlanOptions {
    PlanOptions {
        grace: Duration::from_secs(3600),
        now: SystemTime::now() + Duration::from_secs(7200),
    }
}

fn keep_latest(n: usize) -> Scope {
    Scope::Gc(Policy {
        keep_latest: Some(n),
        ..Policy::default()
    })
}

fn present(store: &MemoryStorage) -> BTreeSet<String> {
    store.locations().iter().map(|l| l.to_string()).collect()
}

/// job1: chk-1 → {a}, chk-2 → {a, b}, chk-3 → {b, c}, chk-4 → {b, d}; an orphan and an old
/// incomplete chk-0 directory.
fn base() -> MemoryStorage {
    let store = MemoryStorage::new("lifecycle");
    let s = |n: &str| format!("mem://m/cp/job1/shared/{n}");
    snapshot(&store, "mem://m/cp/job1/chk-1", 1, &[&s("a")], true);
    snapshot(
        &store,
        "mem://m/cp/job1/chk-2",
        2,
        &[&s("a"), &s("b")],
        true,
    );
    snapshot(
        &store,
        "mem://m/cp/job1/chk-3",
        3,
        &[&s("b"), &s("c")],
        true,
    );
    snapshot(
        &store,
        "mem://m/cp/job1/chk-4",
        4,
        &[&s("b"), &s("d")],
        true,
    );
    store.insert(&loc(&s("orphan")), vec![0u8; 9]);
    store.insert(&loc("mem://m/cp/job1/taskowned/t"), vec![0u8; 3]);
    store.insert(&loc("mem://m/cp/job1/chk-0/partial"), vec![0u8; 3]);
    store.insert(&loc("mem://m/cp/README"), vec![0u8; 3]);
    store
}

#[tokio::test]
async fn gc_keeps_what_kept_snapshots_need_and_collects_the_rest() {
    let store = base();
    let plan = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        keep_latest(2),
        later(),
    )
    .await
    .unwrap();
    let fates: Vec<(String, bool)> = plan
        .snapshots
        .iter()
        .map(|s| (s.location.to_string(), s.keep))
        .collect();
    assert!(fates.contains(&("mem://m/cp/job1/chk-0".into(), false)));
    assert!(fates.contains(&("mem://m/cp/job1/chk-1".into(), false)));
    assert!(fates.contains(&("mem://m/cp/job1/chk-2".into(), false)));
    assert!(fates.contains(&("mem://m/cp/job1/chk-3".into(), true)));
    let summary = plan.survey(|_, _| {}).await.unwrap();
    // chk-0 (1 file), chk-1 and chk-2 (2 each), shared a, orphan, taskowned t.
    assert_eq!(summary.delete.files, 8);
    // b and d: chk-4 is the newest that references them; c: chk-3.
    assert_eq!(summary.needed["mem://m/cp/job1/chk-4"].files, 2);
    assert_eq!(summary.needed["mem://m/cp/job1/chk-3"].files, 1);
    let before = present(&store);
    let done = execute(&plan, None, |_, _| {}).await.unwrap();
    assert_eq!(done.delete.files, 8);
    let after = present(&store);
    let gone: BTreeSet<_> = before.difference(&after).cloned().collect();
    let expected: BTreeSet<String> = [
        "mem://m/cp/job1/chk-0/partial",
        "mem://m/cp/job1/chk-1/_metadata",
        "mem://m/cp/job1/chk-1/private",
        "mem://m/cp/job1/chk-2/_metadata",
        "mem://m/cp/job1/chk-2/private",
        "mem://m/cp/job1/shared/a",
        "mem://m/cp/job1/shared/orphan",
        "mem://m/cp/job1/taskowned/t",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(gone, expected);
    // Run again: nothing more to do.
    let again = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        keep_latest(2),
        later(),
    )
    .await
    .unwrap();
    assert_eq!(again.survey(|_, _| {}).await.unwrap().delete.files, 0);
}

#[tokio::test]
async fn grace_period_protects_young_orphans_and_incomplete_directories() {
    let store = base();
    let plan = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        keep_latest(2),
        PlanOptions::default(),
    )
    .await
    .unwrap();
    let summary = plan.survey(|_, _| {}).await.unwrap();
    // Only chk-1 and chk-2 (complete, outside the policy); a (referenced by them only), the
    // orphan and t are young; so is the incomplete chk-0.
    assert_eq!(summary.delete.files, 4);
    assert_eq!(summary.young.files, 3);
    let chk0 = plan.snapshots.iter().find(|s| s.id == Some(0)).unwrap();
    assert!(
        chk0.keep && chk0.reason.contains("grace"),
        "{}",
        chk0.reason
    );
}

#[tokio::test]
async fn an_unreadable_snapshot_blocks_every_deletion_unless_disposed_by_name() {
    let store = base();
    snapshot(&store, "mem://m/cp/job0/chk-9", 9, &[], false);
    let plan = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        keep_latest(1),
        later(),
    )
    .await
    .unwrap();
    assert!(plan.blocked.as_deref().unwrap().contains("chk-9"));
    let before = present(&store);
    let err = execute(&plan, None, |_, _| {}).await.unwrap_err();
    assert!(err.to_string().contains("nothing deleted"), "{err}");
    assert_eq!(present(&store), before);
    // Named, it goes (its own directory only).
    let disposed = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        Scope::Dispose(loc("mem://m/cp/job0/chk-9")),
        later(),
    )
    .await;
    // chk-9 is the newest of job0 and was just written: refused.
    assert!(disposed.unwrap_err().to_string().contains("newest"));
}

#[tokio::test]
async fn dispose_removes_the_snapshot_and_only_its_exclusive_files() {
    let store = base();
    let plan = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        Scope::Dispose(loc("mem://m/cp/job1/chk-3")),
        later(),
    )
    .await
    .unwrap();
    let before = present(&store);
    execute(&plan, None, |_, _| {}).await.unwrap();
    let gone: BTreeSet<_> = before.difference(&present(&store)).cloned().collect();
    let expected: BTreeSet<String> = [
        "mem://m/cp/job1/chk-3/_metadata",
        "mem://m/cp/job1/chk-3/private",
        "mem://m/cp/job1/shared/c",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(gone, expected);
}

#[tokio::test]
async fn cross_job_and_claim_references_are_kept() {
    let store = MemoryStorage::new("claim");
    // A savepoint whose files a later checkpoint of another job reuses (CLAIM), and a chained
    // job referencing job1's shared file.
    snapshot(&store, "mem://c/sp/savepoint-aaaaaa-1", 1, &[], true);
    store.insert(&loc("mem://c/sp/savepoint-aaaaaa-1/sst-1"), vec![3u8; 5]);
    snapshot(&store, "mem://c/sp/savepoint-aaaaaa-2", 2, &[], true);
    snapshot(
        &store,
        "mem://c/cp/job1/chk-5",
        5,
        &["mem://c/cp/job1/shared/x"],
        true,
    );
    snapshot(
        &store,
        "mem://c/cp/job1/chk-6",
        6,
        &["mem://c/cp/job1/shared/y"],
        true,
    );
    snapshot(
        &store,
        "mem://c/cp/job2/chk-7",
        7,
        &[
            "mem://c/cp/job1/shared/x",
            "mem://c/sp/savepoint-aaaaaa-1/sst-1",
        ],
        true,
    );
    let plan = plan::plan(
        vec![
            endpoint(&store, "mem://c/cp"),
            endpoint(&store, "mem://c/sp"),
        ],
        keep_latest(1),
        later(),
    )
    .await
    .unwrap();
    execute(&plan, None, |_, _| {}).await.unwrap();
    let after = present(&store);
    assert!(
        after.contains("mem://c/cp/job1/shared/x"),
        "chained: {after:?}"
    );
    assert!(
        after.contains("mem://c/sp/savepoint-aaaaaa-1/sst-1"),
        "claim"
    );
    assert!(!after.contains("mem://c/sp/savepoint-aaaaaa-1/_metadata"));
    assert!(!after.contains("mem://c/cp/job1/chk-5/_metadata"));
}

#[tokio::test]
async fn bad_input_is_an_error_and_deletes_nothing() {
    let store = base();
    let before = present(&store);
    let cases: Vec<(Vec<&str>, Scope, &str)> = vec![
        (vec!["mem://m/nope"], keep_latest(1), "does not exist"),
        (
            vec!["mem://m/cp/job1/shared"],
            keep_latest(1),
            "holds no complete snapshot",
        ),
        (vec!["mem://m/cp"], keep_latest(0), "at least 1"),
        (
            vec!["mem://m/cp"],
            Scope::Gc(Policy::default()),
            "needs a retention policy",
        ),
        (
            vec!["mem://m/cp", "mem://m/cp/job1"],
            keep_latest(1),
            "overlap",
        ),
        (
            vec!["mem://m/cp"],
            Scope::Dispose(loc("mem://m/cp/job1/shared")),
            "not a snapshot",
        ),
        (
            vec!["mem://m/cp"],
            Scope::Dispose(loc("mem://m/cp/job1/chk-77")),
            "does not exist",
        ),
    ];
    for (roots, scope, message) in cases {
        let roots = roots.iter().map(|r| endpoint(&store, r)).collect();
        let err = plan::plan(roots, scope, later()).await.unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
    }
    assert_eq!(present(&store), before);
}

/// A store whose listings fail after a number of entries and whose deletes fail after a
/// number of files, to stand for a flaky server or a killed run.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStorage,
    list_budget: Arc<AtomicUsize>,
    delete_budget: AtomicUsize,
}

fn take(budget: &AtomicUsize) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl Flaky {
    fn limit(&self, stream: ListStream) -> ListStream {
        let budget = self.list_budget.clone();
        stream
            .map(move |entry| {
                if take(&budget) {
                    entry
                } else {
                    Err(Error::new(ErrorKind::Unexpected, "listing failed midway"))
                }
            })
            .boxed()
    }
}

#[async_trait::async_trait]
impl Storage for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn identity(&self) -> &str {
        "flaky"
    }
    fn capabilities(&self) -> &crate::storage::Capabilities {
        self.inner.capabilities()
    }
    async fn stat(&self, l: &Location) -> Result<Entry> {
        self.inner.stat(l).await
    }
    fn list(&self, p: &Location) -> ListStream {
        self.limit(self.inner.list(p))
    }
    fn list_dir(&self, d: &Location) -> ListStream {
        self.limit(self.inner.list_dir(d))
    }
    async fn read(&self, l: &Location, r: Option<std::ops::Range<u64>>) -> Result<ByteStream> {
        self.inner.read(l, r).await
    }
    async fn write(&self, l: &Location, o: &WriteOptions) -> Result<Box<dyn ObjectWriter>> {
        self.inner.write(l, o).await
    }
    async fn delete(&self, l: &Location) -> Result<()> {
        if !take(&self.delete_budget) {
            return Err(Error::new(ErrorKind::Unexpected, "killed"));
        }
        self.inner.delete(l).await
    }
}

/// One generated snapshot: job (0..3), referenced pool files, references into an earlier
/// snapshot's directory, readable or not.
#[derive(Debug, Clone)]
struct Gen {
    job: usize,
    shared: Vec<usize>,
    claim: Option<usize>,
    readable: bool,
}

fn graph() -> impl Strategy<Value = Vec<Gen>> {
    prop::collection::vec(
        (
            0usize..3,
            prop::collection::vec(0usize..12, 0..5),
            prop::option::of(0usize..8),
            prop::bool::weighted(0.9),
        )
            .prop_map(|(job, shared, claim, readable)| Gen {
                job,
                shared,
                claim,
                readable,
            }),
        1..8,
    )
}

/// Builds the graph: snapshot i is `mem://g/cp/job<j>/chk-<i+1>`; pool file k lives in
/// job (k % 3)'s `shared/`; a claim reference names `extra` in an earlier snapshot's
/// directory. Returns, per snapshot, its directory and the files it references.
fn build(store: &MemoryStorage, graph: &[Gen]) -> Vec<(String, Vec<String>)> {
    let mut built: Vec<(String, Vec<String>)> = Vec::new();
    for (i, g) in graph.iter().enumerate() {
        let dir = format!("mem://g/cp/job{}/chk-{}", g.job, i + 1);
        let mut files: Vec<String> = g
            .shared
            .iter()
            .map(|k| format!("mem://g/cp/job{}/shared/f{k}", k % 3))
            .collect();
        if let Some(c) = g.claim.filter(|c| *c < i) {
            let extra = format!("{}/extra", built[c].0);
            store.insert(&loc(&extra), vec![4u8; 5]);
            files.push(extra);
        }
        files.sort();
        files.dedup();
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        snapshot(store, &dir, i as i64 + 1, &refs, g.readable);
        built.push((dir, files));
    }
    store.insert(&loc("mem://g/cp/job0/shared/orphan"), vec![0u8; 1]);
    built
}

async fn property(
    graph: Vec<Gen>,
    keep: usize,
    list_budget: usize,
    delete_budget: usize,
) -> std::result::Result<(), TestCaseError> {
    let memory = MemoryStorage::new("gen");
    let built = build(&memory, &graph);
    let flaky = Arc::new(Flaky {
        inner: memory.clone(),
        list_budget: Arc::new(AtomicUsize::new(list_budget)),
        delete_budget: AtomicUsize::new(delete_budget),
    });
    let root = Endpoint {
        storage: flaky.clone(),
        location: loc("mem://g/cp"),
    };
    let before = present(&memory);
    let planned = plan::plan(vec![root.clone()], keep_latest(keep), later()).await;
    let Ok(planned) = planned else {
        // A failed listing: nothing may have been deleted.
        prop_assert_eq!(present(&memory), before);
        return Ok(());
    };
    flaky.list_budget.store(usize::MAX, Ordering::SeqCst);
    let outcome = execute(&planned, None, |_, _| {}).await;
    let after = present(&memory);
    if planned.blocked.is_some() {
        prop_assert!(outcome.is_err());
        prop_assert_eq!(&after, &before);
    }
    for s in planned.snapshots.iter().filter(|s| s.keep && s.complete) {
        let dir = s.location.to_string();
        let (_, refs) = built.iter().find(|(d, _)| *d == dir).unwrap();
        for file in refs.iter().chain([&format!("{dir}/_metadata")]) {
            prop_assert!(after.contains(file), "{} of kept {} deleted", file, dir);
        }
    }
    // Re-run after a kill: finishes, and still keeps what kept snapshots need.
    flaky.delete_budget.store(usize::MAX, Ordering::SeqCst);
    if let Ok(again) = plan::plan(vec![root], keep_latest(keep), later()).await {
        let _ = execute(&again, None, |_, _| {}).await;
        let after = present(&memory);
        for s in again.snapshots.iter().filter(|s| s.keep && s.complete) {
            let dir = s.location.to_string();
            let (_, refs) = built.iter().find(|(d, _)| *d == dir).unwrap();
            for file in refs {
                prop_assert!(
                    after.contains(file),
                    "re-run: {} of kept {} deleted",
                    file,
                    dir
                );
            }
        }
        if again.blocked.is_none() {
            let third = plan::plan(
                vec![Endpoint {
                    storage: Arc::new(memory.clone()),
                    location: loc("mem://g/cp"),
                }],
                keep_latest(keep),
                later(),
            )
            .await
            .unwrap();
            prop_assert_eq!(third.survey(|_, _| {}).await.unwrap().delete.files, 0);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn nothing_a_kept_snapshot_references_is_ever_deleted(
        graph in graph(),
        keep in 1usize..3,
        list_budget in prop_oneof![Just(usize::MAX), 0usize..60],
        delete_budget in prop_oneof![Just(usize::MAX), 0usize..20],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(property(graph, keep, list_budget, delete_budget))?;
    }
}

#[tokio::test]
async fn a_kept_snapshot_missing_a_relative_file_blocks_every_deletion() {
    let store = base();
    // chk-4's private file (a relative reference) is not in its directory: FLINK-39964.
    store
        .delete(&loc("mem://m/cp/job1/chk-4/private"))
        .await
        .unwrap();
    let plan = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        keep_latest(1),
        later(),
    )
    .await
    .unwrap();
    let why = plan.blocked.as_deref().unwrap();
    assert!(
        why.contains("FLINK-39964") && why.contains("chk-4"),
        "{why}"
    );
    let before = present(&store);
    assert!(execute(&plan, None, |_, _| {}).await.is_err());
    assert_eq!(present(&store), before);
}

#[tokio::test]
async fn trash_moves_instead_of_deleting() {
    let store = base();
    let plan = plan::plan(
        vec![endpoint(&store, "mem://m/cp")],
        Scope::Dispose(loc("mem://m/cp/job1/chk-3")),
        later(),
    )
    .await
    .unwrap();
    let trash = endpoint(&store, "mem://m/trash");
    execute(&plan, Some(&trash), |_, _| {}).await.unwrap();
    let after = present(&store);
    for moved in [
        "cp/job1/chk-3/_metadata",
        "cp/job1/chk-3/private",
        "cp/job1/shared/c",
    ] {
        assert!(!after.contains(&format!("mem://m/{moved}")), "{moved}");
        assert!(after.contains(&format!("mem://m/trash/{moved}")), "{moved}");
    }
}
