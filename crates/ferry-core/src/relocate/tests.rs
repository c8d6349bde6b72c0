//! Relocation tests on a synthetic incremental checkpoint in the in-memory store. Real-Flink
//! snapshots are exercised by the end-to-end tests; these pin the pipeline's rules exactly.

use std::sync::Arc;

use ferry_metadata::{
    IncrementalHandle, IncrementalKind, JavaString, KeyGroupRange, KeyedHandle, Metadata,
    NamedStreamHandle, OperatorHandle, OperatorId, OperatorState, OperatorStateMeta,
    OperatorStateSlot, OperatorStreamHandle, StreamHandle, SubtaskEntry, SubtaskState,
    SubtaskStates,
};

use super::migrate::{migrate, MigrateOptions};
use super::{snapshot, verify};
use crate::location::Location;
use crate::memory::MemoryStorage;
use crate::registry::{BackendOptions, Registry};
use crate::storage::{read_to_bytes, Storage};
use crate::transfer::report::NoopObserver;
use crate::transfer::Endpoint;

fn loc(s: &str) -> Location {
    Location::parse(s).unwrap()
}

fn js(s: &str) -> JavaString {
    JavaString::new(s).unwrap()
}

fn file(size: usize, path: &str) -> Option<StreamHandle> {
    Some(StreamHandle::File(ferry_metadata::FileHandle {
        state_size: size as i64,
        path: js(path),
    }))
}

fn relative(size: usize, name: &str) -> Option<StreamHandle> {
    Some(StreamHandle::RelativeFile(
        ferry_metadata::RelativeFileHandle {
            relative_path: js(name),
            state_size: size as i64,
        },
    ))
}

/// Files of the synthetic checkpoint: (path, size).
const FILES: &[(&str, usize)] = &[
    ("mem://src/cp/job1/chk-3/meta-1", 100),
    ("mem://src/cp/job1/chk-3/opstate-1", 50),
    ("mem://src/cp/job1/shared/a.sst", 3000),
    ("mem://src/cp/job1/shared/misc", 10),
    ("mem://src/cp/job0/shared/old.sst", 2000),
];

/// A V6 incremental RocksDB checkpoint `mem://src/cp/job1/chk-3` whose shared list points at
/// its job's `shared/` and at a previous job's, with operator state in `chk-3`, and an inline
/// handle named after a path in `chk-3`.
fn synthetic(store: &MemoryStorage) -> Metadata {
    for (i, (path, size)) in FILES.iter().enumerate() {
        store.insert(&loc(path), vec![i as u8; *size]);
    }
    store.insert(
        &loc("mem://src/cp/job1/chk-3/unreferenced"),
        b"stray".to_vec(),
    );
    let keyed = KeyedHandle::Incremental(IncrementalHandle {
        kind: IncrementalKind::V2,
        checkpoint_id: 3,
        backend_identifier: js("00000000-0000-0000-0000-000000000001"),
        range: KeyGroupRange {
            start: 0,
            count: 128,
        },
        checkpointed_size: Some(5010),
        meta_state: relative(100, "meta-1"),
        shared_state: vec![
            NamedStreamHandle {
                local_name: js("000001.sst"),
                handle: file(3000, "mem://src/cp/job1/shared/a.sst"),
            },
            NamedStreamHandle {
                local_name: js("000000.sst"),
                handle: file(2000, "mem://src/cp/job0/shared/old.sst"),
            },
        ],
        private_state: vec![NamedStreamHandle {
            local_name: js("MANIFEST"),
            handle: file(10, "mem://src/cp/job1/shared/misc"),
        }],
        state_handle_id: Some(js("handle-1")),
    });
    let operator_state = OperatorHandle::Stream(OperatorStreamHandle {
        states: vec![OperatorStateMeta {
            name: js("offsets"),
            mode: 0,
            offsets: vec![0],
        }],
        delegate: relative(50, "opstate-1"),
    });
    let inline = StreamHandle::ByteStream(ferry_metadata::ByteStreamHandle {
        name: js("mem://src/cp/job1/chk-3/inline-1"),
        data: vec![1, 2, 3],
    });
    let state = SubtaskState {
        managed_keyed_state: Some(Box::new(keyed)),
        managed_operator_state: OperatorStateSlot::single(operator_state),
        raw_operator_state: OperatorStateSlot {
            raw_count: 1,
            handles: vec![Some(OperatorHandle::Stream(OperatorStreamHandle {
                states: vec![],
                delegate: Some(inline),
            }))],
        },
        ..SubtaskState::default()
    };
    Metadata {
        version: 6,
        checkpoint_id: 3,
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
}

struct World {
    registry: Registry,
    src: Arc<dyn Storage>,
    dst: Arc<dyn Storage>,
}

async fn world() -> World {
    let registry = Registry::new().with(crate::memory::register);
    let src = registry
        .open(&loc("mem://src/"), &BackendOptions::new())
        .await
        .unwrap();
    let dst = registry
        .open(&loc("mem://dst/"), &BackendOptions::new())
        .await
        .unwrap();
    World { registry, src, dst }
}

/// Builds the snapshot in a scratch store and puts it into the registry's source store.
async fn install(world: &World) -> Metadata {
    let scratch = MemoryStorage::new("scratch");
    let metadata = synthetic(&scratch);
    for location in scratch.locations() {
        let data = scratch.get(&location).unwrap();
        world
            .src
            .put(&location, data, &Default::default())
            .await
            .unwrap();
    }
    let bytes = metadata.to_bytes().unwrap();
    world
        .src
        .put(
            &loc("mem://src/cp/job1/chk-3/_metadata"),
            bytes.into(),
            &Default::default(),
        )
        .await
        .unwrap();
    metadata
}

fn endpoint(storage: &Arc<dyn Storage>, at: &str) -> Endpoint {
    Endpoint {
        storage: storage.clone(),
        location: loc(at),
    }
}

#[tokio::test]
async fn migrates_closure_rewrites_paths_and_verifies() {
    let w = world().await;
    install(&w).await;
    let report = migrate(
        &w.registry,
        endpoint(&w.src, "mem://src/cp/job1/chk-3"),
        &BackendOptions::new(),
        endpoint(&w.dst, "mem://dst/new/job1/chk-3"),
        MigrateOptions::default(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap();
    assert!(report.complete, "{:?}", report.problems);
    assert_eq!(report.verified_files, 5);
    // Every file landed where the layout says, byte for byte.
    for (i, (path, size)) in FILES.iter().enumerate() {
        let moved = path.replace("mem://src/cp/", "mem://dst/new/");
        let data = read_to_bytes(w.dst.as_ref(), &loc(&moved), None)
            .await
            .unwrap();
        assert_eq!(data.to_vec(), vec![i as u8; *size], "{moved}");
    }
    // The unreferenced file came along, and is reported.
    assert_eq!(
        report.plan.unreferenced,
        vec![loc("mem://src/cp/job1/chk-3/unreferenced")]
    );
    assert!(w
        .dst
        .stat(&loc("mem://dst/new/job1/chk-3/unreferenced"))
        .await
        .is_ok());
    // The written metadata references only the destination; relative handles stay relative.
    let moved = snapshot::open(w.dst.as_ref(), &loc("mem://dst/new/job1/chk-3"))
        .await
        .unwrap();
    let paths = moved.metadata.paths();
    for path in &paths {
        let text = path.value_str();
        assert!(
            !text.contains("mem://src"),
            "{} still says {text}",
            path.breadcrumb
        );
    }
    let relative: Vec<_> = paths
        .iter()
        .filter(|p| p.kind() == ferry_metadata::PathKind::Relative)
        .map(|p| p.value_str().into_owned())
        .collect();
    assert_eq!(relative, ["opstate-1", "meta-1"]);
    assert!(paths
        .iter()
        .any(|p| p.value_str() == "mem://dst/new/job0/shared/old.sst"));
    assert!(paths
        .iter()
        .any(|p| p.value_str() == "mem://dst/new/job1/chk-3/inline-1"));
    // The plan names the rewrites with their counts.
    let rewrites: Vec<(String, String, usize)> = report
        .plan
        .rewrites
        .iter()
        .map(|r| (r.from.clone(), r.to.clone(), r.count))
        .collect();
    assert!(
        rewrites.contains(&("mem://src/cp/job1".into(), "mem://dst/new/job1".into(), 2)),
        "{rewrites:?}"
    );
    assert!(
        rewrites.contains(&("mem://src/cp".into(), "mem://dst/new".into(), 1)),
        "{rewrites:?}"
    );
    assert_eq!(
        report.plan.restore_command,
        "flink run -s mem://dst/new/job1/chk-3 <your-job.jar> [args]"
    );
    // And the destination verifies on its own.
    let verified = verify::verify(
        &w.registry,
        &BackendOptions::new(),
        w.dst.clone(),
        &loc("mem://dst/new/job1/chk-3"),
        true,
    )
    .await
    .unwrap();
    assert!(verified.ok(), "{:?}", verified.problems);
    assert_eq!(verified.deep_checked, 5);
}

#[tokio::test]
async fn a_missing_source_file_fails_before_anything_is_written() {
    let w = world().await;
    install(&w).await;
    w.src
        .delete(&loc("mem://src/cp/job0/shared/old.sst"))
        .await
        .unwrap();
    let err = migrate(
        &w.registry,
        endpoint(&w.src, "mem://src/cp/job1/chk-3"),
        &BackendOptions::new(),
        endpoint(&w.dst, "mem://dst/new/job1/chk-3"),
        MigrateOptions::default(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("old.sst is missing"), "{err}");
    let mut listing = w.dst.list(&loc("mem://dst/"));
    assert!(
        futures::StreamExt::next(&mut listing).await.is_none(),
        "something was written"
    );
}

#[tokio::test]
async fn existing_complete_destination_needs_force() {
    let w = world().await;
    install(&w).await;
    let none = BackendOptions::new();
    let run = |force| {
        migrate(
            &w.registry,
            endpoint(&w.src, "mem://src/cp/job1/chk-3"),
            &none,
            endpoint(&w.dst, "mem://dst/new/job1/chk-3"),
            MigrateOptions {
                force,
                ..MigrateOptions::default()
            },
            Arc::new(NoopObserver),
        )
    };
    let first = run(false).await.unwrap();
    assert!(first.complete && !first.already_complete);
    // The same command again (e.g. after a kill during the read-back): the destination holds
    // exactly what it would write, complete: reported so, nothing copied.
    let rerun = run(false).await.unwrap();
    assert!(rerun.complete && rerun.already_complete, "{rerun:?}");
    assert!(rerun.copy.is_none());
    assert_eq!(rerun.verified_files, first.verified_files);
    // A referenced file gone: not complete, and not silently re-copied without --force.
    let shared = loc("mem://dst/new/job1/shared/a.sst");
    let kept = read_to_bytes(w.dst.as_ref(), &shared, None).await.unwrap();
    w.dst.delete(&shared).await.unwrap();
    let err = run(false).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("a.sst"), "{err}");
    crate::storage::put_atomic(w.dst.as_ref(), &shared, kept)
        .await
        .unwrap();
    // A different _metadata at the destination needs --force.
    let metadata = loc("mem://dst/new/job1/chk-3/_metadata");
    let mut other = read_to_bytes(w.dst.as_ref(), &metadata, None)
        .await
        .unwrap()
        .to_vec();
    other.push(0);
    crate::storage::put_atomic(w.dst.as_ref(), &metadata, other.into())
        .await
        .unwrap();
    let err = run(false).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("--force"), "{err}");
    let again = run(true).await.unwrap();
    assert!(again.complete);
    assert_eq!(
        again.copy.unwrap().files_skipped,
        6,
        "identical files are not copied again"
    );
}

/// `migrate` into the snapshot itself (or a destination containing it) once wrote files into
/// the source before failing: refused before anything is written.
#[tokio::test]
async fn destination_inside_or_around_the_snapshot_is_refused_up_front() {
    let w = world().await;
    install(&w).await;
    let before: Vec<Location> = futures::TryStreamExt::try_collect(w.src.list(&loc("mem://src/")))
        .await
        .map(|entries: Vec<crate::storage::Entry>| {
            entries.into_iter().map(|e| e.location).collect()
        })
        .unwrap();
    for (dst, why) in [
        (
            "mem://src/cp/job1/chk-3/copy",
            "destination is inside the source snapshot",
        ),
        (
            "mem://src/cp/job1/chk-3",
            "source and destination are the same",
        ),
        (
            "mem://src/cp/job1",
            "the source snapshot is inside the destination",
        ),
    ] {
        let err = migrate(
            &w.registry,
            endpoint(&w.src, "mem://src/cp/job1/chk-3"),
            &BackendOptions::new(),
            endpoint(&w.src, dst),
            MigrateOptions::default(),
            Arc::new(NoopObserver),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains(why), "{dst}: {err}");
    }
    let after: Vec<Location> = futures::TryStreamExt::try_collect(w.src.list(&loc("mem://src/")))
        .await
        .map(|entries: Vec<crate::storage::Entry>| {
            entries.into_iter().map(|e| e.location).collect()
        })
        .unwrap();
    assert_eq!(before, after, "something was written");
}

#[tokio::test]
async fn dry_run_plans_and_writes_nothing() {
    let w = world().await;
    install(&w).await;
    let report = migrate(
        &w.registry,
        endpoint(&w.src, "mem://src/cp/job1/chk-3"),
        &BackendOptions::new(),
        endpoint(&w.dst, "mem://dst/new/job1/chk-3"),
        MigrateOptions {
            copy: crate::transfer::CopyOptions {
                dry_run: true,
                ..Default::default()
            },
            ..Default::default()
        },
        Arc::new(NoopObserver),
    )
    .await
    .unwrap();
    assert!(report.dry_run && !report.complete);
    assert_eq!(report.plan.files.len(), 6);
    assert_eq!(report.plan.bytes, 100 + 50 + 3000 + 10 + 2000 + 5);
    assert_eq!(
        report.plan.external_roots.len(),
        2,
        "{:?}",
        report.plan.external_roots
    );
    let mut listing = w.dst.list(&loc("mem://dst/"));
    assert!(futures::StreamExt::next(&mut listing).await.is_none());
}

#[tokio::test]
async fn verify_reports_missing_and_truncated_files() {
    let w = world().await;
    install(&w).await;
    let snapshot = loc("mem://src/cp/job1/chk-3");
    let report = verify::verify(
        &w.registry,
        &BackendOptions::new(),
        w.src.clone(),
        &snapshot,
        false,
    )
    .await
    .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.files, 5);
    assert_eq!(report.external_roots.len(), 2);
    assert!(!report.self_contained);
    assert_eq!(
        report.external_files,
        report.external_roots.values().sum::<usize>()
    );
    w.src
        .delete(&loc("mem://src/cp/job1/shared/a.sst"))
        .await
        .unwrap();
    w.src
        .put(
            &loc("mem://src/cp/job1/chk-3/meta-1"),
            vec![0u8; 99].into(),
            &Default::default(),
        )
        .await
        .unwrap();
    let report = verify::verify(
        &w.registry,
        &BackendOptions::new(),
        w.src.clone(),
        &snapshot,
        false,
    )
    .await
    .unwrap();
    assert!(!report.ok());
    let problems: Vec<String> = report
        .problems
        .iter()
        .map(|p| format!("{} {}", p.path, p.problem))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("a.sst missing")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("meta-1 has 99 bytes")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn overlong_paths_fail_before_writing() {
    let w = world().await;
    install(&w).await;
    let long = format!("mem://dst/{}/job1/chk-3", "x".repeat(70_000));
    let err = migrate(
        &w.registry,
        endpoint(&w.src, "mem://src/cp/job1/chk-3"),
        &BackendOptions::new(),
        endpoint(&w.dst, &long),
        MigrateOptions::default(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("65"), "{err}");
    let mut listing = w.dst.list(&loc("mem://dst/"));
    assert!(futures::StreamExt::next(&mut listing).await.is_none());
}

#[tokio::test]
async fn ls_finds_snapshots_and_the_latest_complete_one() {
    let w = world().await;
    install(&w).await;
    w.src
        .put(
            &loc("mem://src/cp/job1/chk-4/partial"),
            vec![1; 10].into(),
            &Default::default(),
        )
        .await
        .unwrap();
    let found = snapshot::list(w.src.as_ref(), &loc("mem://src/cp"))
        .await
        .unwrap();
    let mut summary: Vec<(String, bool, Option<i64>)> = found
        .iter()
        .map(|s| (s.location.to_string(), s.complete, s.id))
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        vec![
            ("mem://src/cp/job1/chk-3".to_string(), true, Some(3)),
            ("mem://src/cp/job1/chk-4".to_string(), false, Some(4)),
        ]
    );
    let latest = snapshot::latest(w.src.as_ref(), &loc("mem://src/cp"))
        .await
        .unwrap();
    assert_eq!(latest.location, loc("mem://src/cp/job1/chk-3"));
}

/// A store that records which prefixes are listed in full and which directories one level.
#[derive(Debug)]
struct ListingRecorder {
    inner: Arc<dyn Storage>,
    listed: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Storage for ListingRecorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn identity(&self) -> &str {
        "recorder"
    }
    fn capabilities(&self) -> &crate::storage::Capabilities {
        self.inner.capabilities()
    }
    async fn stat(&self, l: &Location) -> crate::error::Result<crate::storage::Entry> {
        self.inner.stat(l).await
    }
    fn list(&self, p: &Location) -> crate::storage::ListStream {
        self.listed.lock().unwrap().push(format!("list {p}"));
        self.inner.list(p)
    }
    fn list_dir(&self, d: &Location) -> crate::storage::ListStream {
        self.listed.lock().unwrap().push(format!("dir {d}"));
        self.inner.list_dir(d)
    }
    async fn read(
        &self,
        l: &Location,
        r: Option<std::ops::Range<u64>>,
    ) -> crate::error::Result<crate::storage::ByteStream> {
        self.inner.read(l, r).await
    }
    async fn write(
        &self,
        l: &Location,
        o: &crate::storage::WriteOptions,
    ) -> crate::error::Result<Box<dyn crate::storage::ObjectWriter>> {
        self.inner.write(l, o).await
    }
    async fn put(
        &self,
        l: &Location,
        d: bytes::Bytes,
        o: &crate::storage::WriteOptions,
    ) -> crate::error::Result<crate::storage::WriteReceipt> {
        self.inner.put(l, d, o).await
    }
    async fn delete(&self, l: &Location) -> crate::error::Result<()> {
        self.inner.delete(l).await
    }
}

#[tokio::test]
async fn ls_lists_only_snapshot_directories_in_full_and_never_enters_shared() {
    let w = world().await;
    install(&w).await;
    for extra in [
        "mem://src/cp/job1/chk-4/partial",
        "mem://src/cp/job1/taskowned/x",
        "mem://src/cp/job1/shared/chk-9/not-a-snapshot",
        "mem://src/cp/other/deeper/savepoint-ab12cd-0123456789ab/_metadata",
    ] {
        w.src
            .put(&loc(extra), vec![1; 10].into(), &Default::default())
            .await
            .unwrap();
    }
    let recorder = ListingRecorder {
        inner: w.src.clone(),
        listed: Default::default(),
    };
    let found = snapshot::list(&recorder, &loc("mem://src/cp"))
        .await
        .unwrap();
    let mut dirs: Vec<(String, bool, u64)> = found
        .iter()
        .map(|s| (s.location.to_string(), s.complete, s.files))
        .collect();
    dirs.sort();
    assert_eq!(
        dirs,
        vec![
            // meta-1, opstate-1, unreferenced, _metadata
            ("mem://src/cp/job1/chk-3".to_string(), true, 4),
            ("mem://src/cp/job1/chk-4".to_string(), false, 1),
            // Its `_metadata` is 10 bytes of junk: found, listed, but unusable.
            (
                "mem://src/cp/other/deeper/savepoint-ab12cd-0123456789ab".to_string(),
                false,
                1
            ),
        ]
    );
    let mut listed = recorder.listed.lock().unwrap().clone();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "dir mem://src/cp",
            "dir mem://src/cp/job0",
            "dir mem://src/cp/job1",
            "dir mem://src/cp/other",
            "dir mem://src/cp/other/deeper",
            "list mem://src/cp/job1/chk-3",
            "list mem://src/cp/job1/chk-4",
            "list mem://src/cp/other/deeper/savepoint-ab12cd-0123456789ab",
        ]
    );
}
