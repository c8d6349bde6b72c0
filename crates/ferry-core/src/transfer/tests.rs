//! Engine unit tests against the in-memory store: planning, every copy method, verification,
//! resume, filters, dry runs and the memory bound.

use std::sync::Arc;

use super::report::{Action, NoopObserver};
use super::*;
use crate::fault::{Fault, FaultyStorage};
use crate::memory::MemoryStorage;
use crate::storage::Capabilities;

fn loc(s: &str) -> Location {
    Location::parse(s).unwrap()
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn endpoint(store: &MemoryStorage, at: &str) -> Endpoint {
    Endpoint {
        storage: Arc::new(store.clone()),
        location: loc(at),
    }
}

fn small_parts() -> CopyOptions {
    CopyOptions {
        part_size: 64 * 1024,
        memory_budget: 256 * 1024,
        concurrency: 4,
        retry: crate::retry::RetryPolicy {
            retries: 2,
            base_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(2),
        },
        ..CopyOptions::default()
    }
}

/// A source tree: one big file (several parts), some small ones, one empty.
fn source_tree(store: &MemoryStorage) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("big.bin".to_string(), data(1_000_003, 1)),
        ("dir/a.txt".to_string(), data(1000, 2)),
        ("dir/sub/b.txt".to_string(), data(70_000, 3)),
        ("empty".to_string(), Vec::new()),
    ];
    for (rel, bytes) in &files {
        store.insert(&loc(&format!("mem://src/tree/{rel}")), bytes.clone());
    }
    files
}

async fn run(src: Endpoint, dst: Endpoint, opts: CopyOptions) -> report::CopyReport {
    copy(src, dst, opts, Arc::new(NoopObserver)).await.unwrap()
}

#[tokio::test]
async fn copies_a_tree_byte_for_byte_across_stores() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    let files = source_tree(&src);
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://dst/out"),
        small_parts(),
    )
    .await;
    assert_eq!(report.files_copied, 4, "{report:?}");
    assert_eq!(report.files_failed, 0);
    assert_eq!(
        report.bytes_copied,
        files.iter().map(|f| f.1.len() as u64).sum::<u64>()
    );
    for (rel, bytes) in files {
        assert_eq!(
            dst.get(&loc(&format!("mem://dst/out/{rel}"))).unwrap(),
            bytes,
            "{rel}"
        );
    }
    assert!(
        report.peak_buffered_bytes <= 256 * 1024,
        "{}",
        report.peak_buffered_bytes
    );
}

#[tokio::test]
async fn plans_follow_capabilities() {
    let src = MemoryStorage::new("a");
    source_tree(&src);
    let mut seen = Vec::new();
    for (caps, expected) in [
        (
            MemoryStorage::new("b").capabilities().clone(),
            Action::ParallelParts,
        ),
        (
            Capabilities {
                ranged_reads: true,
                ..Capabilities::default()
            },
            Action::Stream,
        ),
    ] {
        let dst = MemoryStorage::new("b").with_capabilities(caps);
        let src_ep = endpoint(&src, "mem://src/tree");
        let ctx_dst = endpoint(&dst, "mem://dst/out");
        let report = run(src_ep, ctx_dst, small_parts()).await;
        assert_eq!(report.files_copied, 4);
        assert_eq!(
            dst.get(&loc("mem://dst/out/big.bin")).unwrap(),
            data(1_000_003, 1)
        );
        seen.push(expected);
    }
    // Same store identity: server-side copy.
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&src, "mem://src/copy"),
        small_parts(),
    )
    .await;
    assert_eq!(report.server_side_copies, 4);
    assert_eq!(
        src.get(&loc("mem://src/copy/dir/a.txt")).unwrap(),
        data(1000, 2)
    );
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn method_choice() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    let ctx = context(&src, &dst);
    assert_eq!(ctx.method(10), Action::Single);
    assert_eq!(ctx.method(64 * 1024), Action::Single);
    assert_eq!(ctx.method(64 * 1024 + 1), Action::ParallelParts);
    let no_parts = MemoryStorage::new("b").with_capabilities(Capabilities::default());
    assert_eq!(context(&src, &no_parts).method(1 << 20), Action::Stream);
    assert_eq!(context(&src, &src).method(1 << 20), Action::ServerSideCopy);
}

fn context(src: &MemoryStorage, dst: &MemoryStorage) -> Context {
    let opts = small_parts();
    Context {
        src: endpoint(src, "mem://s/"),
        dst: endpoint(dst, "mem://d/"),
        buffers: buffers::BufferPool::new(
            budget::ByteBudget::new(opts.memory_budget),
            opts.part_size as usize,
            4,
        ),
        limiter: None,
        journal: None,
        observer: Arc::new(NoopObserver),
        temp_tag: "t".into(),
        dst_fresh: true,
        opts,
    }
}

#[tokio::test]
async fn part_size_grows_to_respect_max_parts() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b").with_capabilities(Capabilities {
        parallel_part_writes: true,
        min_part_size: 5 << 20,
        max_part_size: 5 << 30,
        max_parts: 10_000,
        ..Capabilities::default()
    });
    let ctx = context(&src, &dst);
    assert_eq!(ctx.part_size_for(1), 5 << 20, "raised to the minimum");
    let huge = 100u64 << 30; // 100 GiB at 5 MiB parts would be 20 480 parts
    let part = ctx.part_size_for(huge);
    assert!(huge.div_ceil(part) <= 10_000, "{part}");
}

#[tokio::test]
async fn single_file_to_file_and_into_directory() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    src.insert(&loc("mem://s/x/one.bin"), data(5000, 9));
    run(
        endpoint(&src, "mem://s/x/one.bin"),
        endpoint(&dst, "mem://d/renamed.bin"),
        small_parts(),
    )
    .await;
    assert_eq!(dst.get(&loc("mem://d/renamed.bin")).unwrap(), data(5000, 9));
    let opts = CopyOptions {
        destination_is_dir: true,
        ..small_parts()
    };
    run(
        endpoint(&src, "mem://s/x/one.bin"),
        endpoint(&dst, "mem://d/into"),
        opts,
    )
    .await;
    assert_eq!(
        dst.get(&loc("mem://d/into/one.bin")).unwrap(),
        data(5000, 9)
    );
}

#[tokio::test]
async fn missing_source_and_file_destination_are_errors() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    let err = copy(
        endpoint(&src, "mem://s/nope"),
        endpoint(&dst, "mem://d/x"),
        small_parts(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("mem://s/nope"), "{err}");

    source_tree(&src);
    dst.insert(&loc("mem://d/file"), b"x".to_vec());
    let err = copy(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d/file"),
        small_parts(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("is a file"), "{err}");
}

#[tokio::test]
async fn existing_files_conflict_unless_update_or_overwrite() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    source_tree(&src);
    dst.insert(&loc("mem://d/dir/a.txt"), b"old".to_vec());
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        small_parts(),
    )
    .await;
    assert_eq!(report.files_failed, 1);
    assert_eq!(report.failures[0].kind, ErrorKind::AlreadyExists);
    assert_eq!(
        dst.get(&loc("mem://d/dir/a.txt")).unwrap(),
        &b"old"[..],
        "left as it was"
    );

    let update = CopyOptions {
        compare: super::Compare {
            mode: super::CompareMode::Checksum,
            ..Default::default()
        },
        ..small_parts()
    };
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        update.clone(),
    )
    .await;
    assert_eq!(report.files_failed, 0);
    assert_eq!(
        dst.get(&loc("mem://d/dir/a.txt")).unwrap(),
        data(1000, 2),
        "changed file replaced"
    );
    let again = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        update,
    )
    .await;
    assert_eq!(again.files_skipped, 4, "{again:?}");
    assert_eq!(again.files_copied, 0);

    let overwrite = CopyOptions {
        overwrite: true,
        ..small_parts()
    };
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        overwrite,
    )
    .await;
    assert_eq!(report.files_copied, 4);
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    source_tree(&src);
    let opts = CopyOptions {
        dry_run: true,
        ..small_parts()
    };
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        opts,
    )
    .await;
    assert_eq!(report.files_total, 4);
    assert!(report.dry_run);
    assert!(dst.locations().is_empty());
}

#[tokio::test]
async fn filters_select_files() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    source_tree(&src);
    let opts = CopyOptions {
        filter: filter::Filter::new(&["dir/**".into()], &["*.txt".into()]).unwrap(),
        ..small_parts()
    };
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        opts,
    )
    .await;
    assert_eq!(report.files_total, 0);
    let opts = CopyOptions {
        filter: filter::Filter::new(&["dir/**".into()], &["**/b.txt".into()]).unwrap(),
        ..small_parts()
    };
    let report = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        opts,
    )
    .await;
    assert_eq!(report.files_copied, 1);
    assert_eq!(dst.locations(), vec![loc("mem://d/dir/a.txt")]);
}

#[tokio::test]
async fn corruption_is_detected_retried_and_reported() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    source_tree(&src);
    // Every write to big.bin is corrupted: every attempt fails verification.
    let faulty = FaultyStorage::new(
        Arc::new(dst.clone()),
        vec![Fault::CorruptWrite {
            path_contains: "big.bin".into(),
        }],
    );
    let report = run(
        endpoint(&src, "mem://src/tree"),
        Endpoint {
            storage: Arc::new(faulty),
            location: loc("mem://d"),
        },
        small_parts(),
    )
    .await;
    assert_eq!(report.files_failed, 1, "{report:?}");
    assert_eq!(report.failures[0].path, "big.bin");
    assert_eq!(report.failures[0].kind, ErrorKind::Corrupted);
    assert!(
        dst.get(&loc("mem://d/big.bin")).is_none(),
        "no corrupt output left"
    );
    assert_eq!(report.files_copied, 3);
}

#[tokio::test]
async fn full_verification_catches_what_size_cannot() {
    let src = MemoryStorage::new("a");
    // A destination that reports no checksum: only a re-read can see a flipped byte.
    let dst = MemoryStorage::new("b").with_capabilities(Capabilities {
        ranged_reads: true,
        ..Capabilities::default()
    });
    src.insert(&loc("mem://s/f"), data(1000, 4));
    let faulty = |dst: &MemoryStorage| Endpoint {
        storage: Arc::new(FaultyStorage::new(
            Arc::new(Tweaked {
                inner: dst.clone(),
                no_checksums: true,
                ..Tweaked::default()
            }),
            vec![Fault::CorruptWrite {
                path_contains: "/f".into(),
            }],
        )),
        location: loc("mem://d/f"),
    };
    let report = run(endpoint(&src, "mem://s/f"), faulty(&dst), small_parts()).await;
    assert_eq!(report.files_failed, 0, "size-only checks cannot see it");
    let opts = CopyOptions {
        verify: VerifyMode::Full,
        overwrite: true,
        ..small_parts()
    };
    let report = run(endpoint(&src, "mem://s/f"), faulty(&dst), opts).await;
    assert_eq!(report.files_failed, 1);
    assert_eq!(report.failures[0].kind, ErrorKind::Corrupted);
}

#[tokio::test]
async fn temporary_failures_are_retried() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    source_tree(&src);
    let faulty = FaultyStorage::new(
        Arc::new(dst.clone()),
        vec![
            Fault::FailNth {
                op: "put_part".into(),
                nth: 2,
            },
            Fault::FailNth {
                op: "put".into(),
                nth: 1,
            },
        ],
    );
    let report = run(
        endpoint(&src, "mem://src/tree"),
        Endpoint {
            storage: Arc::new(faulty),
            location: loc("mem://d"),
        },
        small_parts(),
    )
    .await;
    assert_eq!(report.files_failed, 0, "{report:?}");
    assert_eq!(
        dst.get(&loc("mem://d/big.bin")).unwrap(),
        data(1_000_003, 1)
    );
}

#[tokio::test]
async fn journal_resumes_and_skips_verified_files() {
    let state = tempfile::tempdir().unwrap();
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    source_tree(&src);
    let opts = CopyOptions {
        journal_dir: Some(state.path().to_path_buf()),
        ..small_parts()
    };
    let first = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        opts.clone(),
    )
    .await;
    assert_eq!(first.files_copied, 4);
    let again = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        opts.clone(),
    )
    .await;
    assert_eq!(again.files_skipped, 4, "{again:?}");
    // A deleted destination file is copied again, even though the journal lists it.
    dst.delete(&loc("mem://d/dir/a.txt")).await.unwrap();
    let third = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://d"),
        opts,
    )
    .await;
    assert_eq!((third.files_copied, third.files_skipped), (1, 3));
}

#[tokio::test]
async fn memory_stays_within_budget_for_many_large_files() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    for i in 0..8 {
        src.insert(&loc(&format!("mem://s/t/f{i}")), data(600_000, i));
    }
    let opts = CopyOptions {
        concurrency: 8,
        ..small_parts()
    };
    let report = run(endpoint(&src, "mem://s/t"), endpoint(&dst, "mem://d"), opts).await;
    assert_eq!(report.files_copied, 8);
    assert!(
        report.peak_buffered_bytes <= 256 * 1024,
        "peak {}",
        report.peak_buffered_bytes
    );
    assert!(
        report.peak_buffered_bytes >= 64 * 1024,
        "parts really were buffered"
    );
}

#[tokio::test]
async fn unset_concurrency_takes_the_stores_preference() {
    let src = MemoryStorage::new("a");
    let eager = MemoryStorage::new("b").with_capabilities(Capabilities {
        preferred_concurrency: 100,
        ..Capabilities::default()
    });
    let in_flight = |dst: &MemoryStorage, concurrency: usize| {
        let opts = CopyOptions {
            concurrency,
            ..CopyOptions::default()
        };
        let src = endpoint(&src, "mem://s/");
        let dst = endpoint(dst, "mem://d/");
        Context::new(src, dst, opts, Arc::new(NoopObserver), "job")
            .unwrap()
            .files_in_flight()
    };
    assert_eq!(in_flight(&eager, 0), 100);
    assert_eq!(in_flight(&eager, 3), 3, "the user's -j wins");
    assert_eq!(in_flight(&MemoryStorage::new("c"), 0), DEFAULT_CONCURRENCY);
    // The source's preference counts too (reading many small files out of HDFS).
    let opts = CopyOptions::default();
    let (from, to) = (endpoint(&eager, "mem://s/"), endpoint(&src, "mem://d/"));
    let context = Context::new(from, to, opts, Arc::new(NoopObserver), "job").unwrap();
    assert_eq!(context.files_in_flight(), 100);
}

#[tokio::test]
async fn a_failed_write_names_the_file_not_its_temp_name() {
    let src = MemoryStorage::new("a");
    src.insert(&loc("mem://s/f"), data(1000, 9));
    // A store that renames atomically, so ferry writes under a hidden temp name first.
    let dst = MemoryStorage::new("b").with_capabilities(Capabilities {
        ranged_reads: true,
        atomic_rename: true,
        ..Capabilities::default()
    });
    let failing = Endpoint {
        storage: Arc::new(FaultyStorage::new(
            Arc::new(dst.clone()),
            vec![Fault::FailAlways { op: "put".into() }],
        )),
        location: loc("mem://d/f"),
    };
    let report = run(endpoint(&src, "mem://s/f"), failing, small_parts()).await;
    assert_eq!(report.files_failed, 1);
    let error = &report.failures[0].error;
    assert!(error.contains("mem://d/f"), "{error}");
    assert!(!error.contains(TEMP_PREFIX), "{error}");
}

/// A memory store that behaves unlike the plain one in one way or another.
#[derive(Debug, Default)]
struct Tweaked {
    inner: MemoryStorage,
    /// Entries and receipts carry no checksum.
    no_checksums: bool,
    /// "Buckets" (authorities) exist only once they hold an object, checked like S3's.
    buckets: bool,
}

#[async_trait::async_trait]
impl Storage for Tweaked {
    fn name(&self) -> &'static str {
        "tweaked"
    }
    fn identity(&self) -> &str {
        "tweaked"
    }
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }
    async fn stat(&self, l: &Location) -> Result<Entry> {
        let entry = self.inner.stat(l).await?;
        Ok(match self.no_checksums {
            true => Entry {
                checksum: None,
                ..entry
            },
            false => entry,
        })
    }
    fn list(&self, p: &Location) -> crate::storage::ListStream {
        self.inner.list(p)
    }
    async fn read(
        &self,
        l: &Location,
        r: Option<std::ops::Range<u64>>,
    ) -> Result<crate::storage::ByteStream> {
        self.inner.read(l, r).await
    }
    async fn write(
        &self,
        l: &Location,
        o: &crate::storage::WriteOptions,
    ) -> Result<Box<dyn crate::storage::ObjectWriter>> {
        self.inner.write(l, o).await
    }
    async fn put(
        &self,
        l: &Location,
        d: bytes::Bytes,
        o: &crate::storage::WriteOptions,
    ) -> Result<crate::storage::WriteReceipt> {
        let receipt = self.inner.put(l, d, o).await?;
        Ok(match self.no_checksums {
            true => crate::storage::WriteReceipt {
                checksum: None,
                ..receipt
            },
            false => receipt,
        })
    }
    async fn start_multipart(
        &self,
        l: &Location,
        o: &crate::storage::WriteOptions,
    ) -> Result<Arc<dyn crate::storage::MultipartUpload>> {
        self.inner.start_multipart(l, o).await
    }
    async fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        self.inner.rename(from, to).await
    }
    async fn delete(&self, l: &Location) -> Result<()> {
        self.inner.delete(l).await
    }
    async fn check_container(&self, l: &Location) -> Result<()> {
        match self.buckets {
            true => crate::storage::check_bucket_of(self, l).await,
            false => Ok(()),
        }
    }
}

#[tokio::test]
async fn a_missing_destination_bucket_fails_the_copy_before_any_file() {
    let src = MemoryStorage::new("a");
    source_tree(&src);
    let dst = MemoryStorage::new("b");
    let bucketed = || Endpoint {
        storage: Arc::new(Tweaked {
            inner: dst.clone(),
            buckets: true,
            ..Tweaked::default()
        }),
        location: loc("mem://nobucket/out"),
    };
    let err = copy(
        endpoint(&src, "mem://src/tree"),
        bucketed(),
        small_parts(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // The explicit file list `ferry migrate` copies goes through the same check.
    let one = FileCopy {
        source: src.stat(&loc("mem://src/tree/dir/a.txt")).await.unwrap(),
        target: loc("mem://nobucket/out/a.txt"),
        key: "a.txt".into(),
    };
    let err = copy_files(
        endpoint(&src, "mem://src/tree"),
        bucketed(),
        vec![one],
        "job",
        small_parts(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(dst.locations().is_empty(), "nothing may be written");
    // A dry run writes nothing anyway and still plans.
    let opts = CopyOptions {
        dry_run: true,
        ..small_parts()
    };
    let report = run(endpoint(&src, "mem://src/tree"), bucketed(), opts).await;
    assert_eq!(report.files_failed, 0);
    // Once the bucket exists, the same copy goes through.
    dst.insert(&loc("mem://nobucket/marker"), b"x".to_vec());
    let report = run(endpoint(&src, "mem://src/tree"), bucketed(), small_parts()).await;
    assert_eq!(report.files_copied, 4, "{report:?}");
}

#[tokio::test]
async fn special_entries_are_skipped_and_reported_never_read() {
    let (src, dst) = (MemoryStorage::new("a"), MemoryStorage::new("b"));
    src.insert(&loc("mem://s/plain"), data(100, 1));
    // Neither special entry exists in the store: any attempt to read one would fail the file.
    let special = |path: &str, kind| FileCopy {
        source: Entry {
            kind: crate::storage::EntryKind::Special(kind),
            ..Entry::file(loc(&format!("mem://s/{path}")), 7)
        },
        target: loc(&format!("mem://d/{path}")),
        key: path.to_string(),
    };
    let files = vec![
        FileCopy {
            source: Entry::file(loc("mem://s/plain"), 100),
            target: loc("mem://d/plain"),
            key: "plain".into(),
        },
        special("pipe", SpecialKind::Fifo),
        special("loop", SpecialKind::DirectoryLoop),
    ];
    let report = copy_files(
        endpoint(&src, "mem://s/"),
        endpoint(&dst, "mem://d/"),
        files,
        "job",
        small_parts(),
        Arc::new(NoopObserver),
    )
    .await
    .unwrap();
    assert_eq!(report.files_copied, 1);
    assert_eq!(report.files_failed, 0, "{:?}", report.failures);
    assert_eq!(report.files_skipped, 2);
    assert_eq!(report.bytes_skipped, 0, "special entries hold no data");
    let reasons: Vec<_> = report
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        reasons.contains(&("pipe", "not a regular file (a FIFO)")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(p, r)| *p == "loop" && r.contains("directory symlink loop")),
        "{reasons:?}"
    );
    assert!(dst.get(&loc("mem://d/pipe")).is_none());
}

#[test]
fn a_late_listing_failure_says_how_many_files_were_written() {
    let err = Error::new(ErrorKind::InvalidInput, "file name is not valid UTF-8");
    let mut report = report::CopyReport {
        destination: "file:/dst".into(),
        ..Default::default()
    };
    assert_eq!(
        listing_failed(err.clone(), &report).to_string(),
        err.to_string(),
        "nothing written, nothing to say"
    );
    report.files_copied = 900;
    let said = listing_failed(err.clone(), &report);
    assert_eq!(said.kind(), ErrorKind::InvalidInput);
    assert!(
        said.to_string()
            .contains("900 files were written to file:/dst before the listing failed: "),
        "{said}"
    );
    assert!(
        said.to_string().ends_with("file name is not valid UTF-8"),
        "{said}"
    );
    report.files_copied = 1;
    assert!(listing_failed(err, &report)
        .to_string()
        .contains("1 file was written"));
}

/// `--bwlimit 0` once paced at 1 B/s (a hang after the first file); 0 means unlimited.
#[tokio::test]
async fn bwlimit_zero_means_unlimited() {
    let src = MemoryStorage::new("a");
    let dst = MemoryStorage::new("b");
    let files = source_tree(&src);
    let copy = run(
        endpoint(&src, "mem://src/tree"),
        endpoint(&dst, "mem://dst/out"),
        CopyOptions {
            bwlimit: Some(0),
            ..small_parts()
        },
    );
    let report = tokio::time::timeout(std::time::Duration::from_secs(10), copy)
        .await
        .expect("a copy with --bwlimit 0 must not be paced");
    assert_eq!(report.files_copied, files.len() as u64, "{report:?}");
}

/// A rename the store performed but whose reply was lost (HDFS over a cut connection) is
/// retried; the retry finds the temp name gone and the file in place: done, not a failure.
#[tokio::test]
async fn a_rename_whose_reply_was_lost_is_not_a_failure() {
    let src = MemoryStorage::new("a");
    let files = source_tree(&src);
    let renaming = MemoryStorage::new("b").with_capabilities(Capabilities {
        atomic_writes: false,
        atomic_rename: true,
        ..Capabilities::default()
    });
    let dst = Endpoint {
        storage: Arc::new(FaultyStorage::new(
            Arc::new(renaming.clone()),
            vec![Fault::LoseReply {
                op: "rename".into(),
                nth: 2,
            }],
        )),
        location: loc("mem://dst/out"),
    };
    let report = run(endpoint(&src, "mem://src/tree"), dst, small_parts()).await;
    assert_eq!(report.files_failed, 0, "{report:?}");
    assert_eq!(report.files_copied, files.len() as u64);
    for (rel, bytes) in files {
        assert_eq!(
            renaming.get(&loc(&format!("mem://dst/out/{rel}"))).unwrap(),
            bytes
        );
    }
}
