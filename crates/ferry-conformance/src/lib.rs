//! The conformance suite every ferry backend runs: the "# Behavior" bullets of
//! [`ferry_core::storage`], checked against a real store.
//!
//! A backend's test calls [`run_all`] with an opened [`Storage`] and a fresh, empty root
//! location (a random prefix per run, so runs never collide). Checks of optional operations are
//! gated on the backend's declared [`Capabilities`](ferry_core::Capabilities): a backend that
//! declares a capability must honour it; one that does not must answer `Unsupported` rather
//! than misbehave. Every check returns `Err(String)` describing the first broken expectation.
//! [`run_all`] runs them all and panics with the list of failures.

pub mod fault_proxy;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ferry_core::storage::{read_to_bytes, Entry, Storage, WriteOptions};
use ferry_core::{Error, ErrorKind, Location};
use futures::TryStreamExt;

/// The outcome of one check.
pub type CheckResult = Result<(), String>;

type Check = for<'a> fn(
    &'a dyn Storage,
    &'a Location,
) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// Every check, by name.
        pub const CHECKS: &[(&str, Check)] = &[$((stringify!($name), {
            fn boxed<'a>(
                s: &'a dyn Storage,
                r: &'a Location,
            ) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
                Box::pin($name(s, r))
            }
            boxed as Check
        })),*];
    };
}

checks!(
    stat_missing_is_not_found,
    put_then_stat_and_read,
    empty_object,
    overwrite_replaces,
    ranged_reads,
    read_into_lent_buffers,
    read_missing_is_not_found,
    streaming_writer,
    abort_leaves_nothing,
    list_is_recursive_and_exact,
    list_missing_prefix_is_empty,
    list_dir_is_one_level,
    list_paginates_many_entries,
    delete_is_idempotent,
    delete_many_removes_each,
    remove_empty_dir_only_when_empty,
    odd_names,
    multipart_upload,
    multipart_abort,
    multipart_resume,
    server_side_copy,
    rename_replaces,
    set_modified,
    native_checksum,
    large_object_chunked_reads,
    mkdirs_makes_directories_or_nothing,
    check_container_fails_only_for_missing_containers,
);

/// Runs every check under `root`, which must be empty. Panics listing every failure.
pub async fn run_all(storage: Arc<dyn Storage>, root: &Location) {
    let mut failures = Vec::new();
    for (name, check) in CHECKS {
        let scratch = root.join(name);
        if let Err(message) = check(storage.as_ref(), &scratch).await {
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance checks failed for backend {:?}:\n{}",
        failures.len(),
        CHECKS.len(),
        storage.name(),
        failures.join("\n")
    );
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect()
}

fn ensure(condition: bool, message: impl FnOnce() -> String) -> CheckResult {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

fn err(context: &str) -> impl Fn(ferry_core::Error) -> String + '_ {
    move |e| format!("{context}: {e}")
}

async fn put(storage: &dyn Storage, at: &Location, data: &[u8]) -> CheckResult {
    storage
        .put(at, Bytes::copy_from_slice(data), &WriteOptions::default())
        .await
        .map(|_| ())
        .map_err(err(&format!("put {at}")))
}

async fn read_all(storage: &dyn Storage, at: &Location) -> Result<Vec<u8>, String> {
    read_to_bytes(storage, at, None)
        .await
        .map(|b| b.to_vec())
        .map_err(err(&format!("read {at}")))
}

async fn list_rel(storage: &dyn Storage, root: &Location) -> Result<Vec<String>, String> {
    let entries: Vec<_> = storage
        .list(root)
        .try_collect()
        .await
        .map_err(err(&format!("list {root}")))?;
    let mut rels: Vec<String> = entries
        .iter()
        .map(|e| {
            e.location
                .strip_prefix(root)
                .map(str::to_string)
                .ok_or_else(|| format!("listed {} outside {root}", e.location))
        })
        .collect::<Result<_, _>>()?;
    rels.sort();
    Ok(rels)
}

/// `stat` of a missing path is `NotFound`.
pub async fn stat_missing_is_not_found(s: &dyn Storage, root: &Location) -> CheckResult {
    match s.stat(&root.join("missing")).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!("expected NotFound, got {other:?}")),
    }
}

/// What was put reads back identically, and `stat` reports its size.
pub async fn put_then_stat_and_read(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("dir/file.bin");
    let data = pattern(100_000, 1);
    put(s, &at, &data).await?;
    let entry = s.stat(&at).await.map_err(err("stat"))?;
    ensure(!entry.is_dir(), || "a file stat'ed as a directory".into())?;
    ensure(entry.size == data.len() as u64, || {
        format!("size {} != {}", entry.size, data.len())
    })?;
    ensure(read_all(s, &at).await? == data, || "content differs".into())
}

/// A zero-byte object is stored, listed and read.
pub async fn empty_object(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("empty");
    put(s, &at, b"").await?;
    let entry = s.stat(&at).await.map_err(err("stat"))?;
    ensure(entry.size == 0, || format!("size {}", entry.size))?;
    ensure(read_all(s, &at).await?.is_empty(), || {
        "non-empty read".into()
    })?;
    ensure(list_rel(s, root).await? == ["empty"], || {
        "not listed".into()
    })
}

/// A second write replaces the first.
pub async fn overwrite_replaces(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("f");
    put(s, &at, &pattern(5000, 1)).await?;
    put(s, &at, &pattern(10, 2)).await?;
    ensure(read_all(s, &at).await? == pattern(10, 2), || {
        "old content survived".into()
    })
}

/// Ranges read exactly their bytes, clamped at the end.
pub async fn ranged_reads(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("r");
    let data = pattern(300_000, 3);
    put(s, &at, &data).await?;
    for (start, end) in [
        (0u64, 1u64),
        (1, 65_537),
        (123_456, 300_000),
        (299_999, 300_000),
        (200_000, 400_000),
    ] {
        let got = read_to_bytes(s, &at, Some(start..end))
            .await
            .map_err(err("ranged read"))?;
        let want = &data[start as usize..(end as usize).min(data.len())];
        ensure(got == want, || {
            format!(
                "range {start}..{end}: {} bytes differ from {}",
                got.len(),
                want.len()
            )
        })?;
    }
    Ok(())
}

/// `read_into` replaces whatever a lent buffer held, whatever its length: the engine hands out
/// pooled buffers with their last contents, never zeroed. Reads past the end come back short.
pub async fn read_into_lent_buffers(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("r");
    let data = pattern(300_000, 5);
    put(s, &at, &data).await?;
    for (offset, len, stale) in [
        (0u64, 300_000usize, vec![0xEE; 400_000]), // longer than asked
        (1, 65_537, vec![0xEE; 10]),               // shorter than asked
        (123_456, 100_000, Vec::with_capacity(100_000)),
        (250_000, 100_000, vec![0xEE; 100_000]), // runs past the end
        (300_000, 10, vec![0xEE; 10]),           // at the end
    ] {
        let got = s
            .read_into(&at, offset, len, stale)
            .await
            .map_err(err("read_into"))?;
        let want =
            &data[(offset as usize).min(data.len())..(offset as usize + len).min(data.len())];
        ensure(got == want, || {
            format!(
                "read_into {len} at {offset}: {} bytes, want {}",
                got.len(),
                want.len()
            )
        })?;
    }
    Ok(())
}

/// Reading a missing object is `NotFound`.
pub async fn read_missing_is_not_found(s: &dyn Storage, root: &Location) -> CheckResult {
    let result = match s.read(&root.join("nope"), None).await {
        Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!("expected NotFound, got {other:?}")),
    }
}

/// A streaming writer assembles its chunks in order.
pub async fn streaming_writer(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("streamed");
    let data = pattern(3 * 1024 * 1024 + 17, 4);
    let mut writer = s
        .write(&at, &WriteOptions::default())
        .await
        .map_err(err("open writer"))?;
    for chunk in data.chunks(700_001) {
        writer
            .write(Bytes::copy_from_slice(chunk))
            .await
            .map_err(err("write"))?;
    }
    let receipt = writer.commit().await.map_err(err("commit"))?;
    ensure(receipt.size == data.len() as u64, || {
        format!("receipt size {}", receipt.size)
    })?;
    ensure(read_all(s, &at).await? == data, || "content differs".into())
}

/// An aborted writer leaves no object behind.
pub async fn abort_leaves_nothing(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("aborted");
    let mut writer = s
        .write(&at, &WriteOptions::default())
        .await
        .map_err(err("open writer"))?;
    writer
        .write(Bytes::from_static(b"partial"))
        .await
        .map_err(err("write"))?;
    writer.abort().await.map_err(err("abort"))?;
    match s.stat(&at).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!("object exists after abort: {other:?}")),
    }
}

/// Listing is recursive, lists files only, each once, and nothing outside the prefix.
pub async fn list_is_recursive_and_exact(s: &dyn Storage, root: &Location) -> CheckResult {
    for rel in ["a", "b/c", "b/d/e", "bb"] {
        put(s, &root.join(&format!("in/{rel}")), rel.as_bytes()).await?;
    }
    put(s, &root.join("inside-not"), b"x").await?;
    let listed = list_rel(s, &root.join("in")).await?;
    ensure(listed == ["a", "b/c", "b/d/e", "bb"], || {
        format!("listed {listed:?}")
    })?;
    let sub = list_rel(s, &root.join("in/b")).await?;
    ensure(sub == ["c", "d/e"], || {
        format!("sub-listing {sub:?} (a prefix must end on a segment)")
    })?;
    let entry = s.stat(&root.join("in/b/c")).await.map_err(err("stat"))?;
    ensure(entry.size == 3, || format!("size {}", entry.size))
}

/// `list_dir` gives each direct child once: files with their sizes, sub-directories as
/// directories (not their contents); a prefix must end on a segment; a missing directory lists
/// nothing.
pub async fn list_dir_is_one_level(s: &dyn Storage, root: &Location) -> CheckResult {
    for rel in ["f", "sub/a", "sub/b", "sub/deep/c", "subway", "other/x y"] {
        put(s, &root.join(&format!("d/{rel}")), rel.as_bytes()).await?;
    }
    // Lists `dir` one level and compares (name, is a directory, size) with `want`, sorted.
    let expect = |dir: Location, want: &'static [(&'static str, bool, u64)]| async move {
        let entries: Vec<_> = s
            .list_dir(&dir)
            .try_collect()
            .await
            .map_err(err(&format!("list_dir {dir}")))?;
        let mut got: Vec<(&str, bool, u64)> = entries
            .iter()
            .map(|e| {
                e.location
                    .strip_prefix(&dir)
                    .map(|rel| (rel, e.is_dir(), e.size))
                    .ok_or_else(|| format!("listed {} outside {dir}", e.location))
            })
            .collect::<Result<_, _>>()?;
        got.sort();
        ensure(got == want, || format!("list_dir {dir} gave {got:?}"))
    };
    expect(
        root.join("d"),
        &[
            ("f", false, 1),
            ("other", true, 0),
            ("sub", true, 0),
            ("subway", false, 6),
        ],
    )
    .await?;
    expect(
        root.join("d/sub"),
        &[("a", false, 5), ("b", false, 5), ("deep", true, 0)],
    )
    .await?;
    expect(root.join("d/nothing"), &[]).await
}

/// A missing prefix lists nothing (no error).
pub async fn list_missing_prefix_is_empty(s: &dyn Storage, root: &Location) -> CheckResult {
    let listed = list_rel(s, &root.join("nothing/here")).await?;
    ensure(listed.is_empty(), || format!("listed {listed:?}"))
}

/// Listing more entries than one page holds (1000 on object stores) returns every one.
pub async fn list_paginates_many_entries(s: &dyn Storage, root: &Location) -> CheckResult {
    let count = 1100;
    futures::stream::iter(0..count)
        .map(|i| async move { put(s, &root.join(&format!("p/{i:05}")), b"").await })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let listed = list_rel(s, &root.join("p")).await?;
    ensure(listed.len() == count, || {
        format!("listed {} of {count}", listed.len())
    })?;
    let expected: Vec<String> = (0..count).map(|i| format!("{i:05}")).collect();
    ensure(listed == expected, || "wrong names listed".into())
}

/// Deleting removes; deleting a missing object succeeds.
pub async fn delete_is_idempotent(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("d");
    put(s, &at, b"x").await?;
    s.delete(&at).await.map_err(err("delete"))?;
    ensure(
        matches!(s.stat(&at).await, Err(e) if e.kind() == ErrorKind::NotFound),
        || "still there".into(),
    )?;
    s.delete(&at)
        .await
        .map_err(err("delete of a missing object"))
}

/// `delete_many` removes every object given (more than one S3 batch), missing ones included,
/// and nothing else.
pub async fn delete_many_removes_each(s: &dyn Storage, root: &Location) -> CheckResult {
    let count = 1005;
    futures::stream::iter(0..count)
        .map(|i| async move { put(s, &root.join(&format!("m/{i:05}")), b"x").await })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let mut doomed: Vec<Location> = (1..count)
        .map(|i| root.join(&format!("m/{i:05}")))
        .collect();
    doomed.push(root.join("m/missing"));
    s.delete_many(&doomed).await.map_err(err("delete_many"))?;
    let listed = list_rel(s, &root.join("m")).await?;
    ensure(listed == ["00000"], || {
        format!("left after delete_many: {} objects", listed.len())
    })
}

/// `remove_empty_dir` leaves a directory that holds a file (and the file), and removes it once
/// empty where the store has directories; a missing one is no error.
pub async fn remove_empty_dir_only_when_empty(s: &dyn Storage, root: &Location) -> CheckResult {
    let dir = root.join("e");
    let file = dir.join("f");
    put(s, &file, b"x").await?;
    s.remove_empty_dir(&dir)
        .await
        .map_err(err("remove_empty_dir of a non-empty directory"))?;
    ensure(read_all(s, &file).await? == b"x", || "the file went".into())?;
    s.delete(&file).await.map_err(err("delete"))?;
    s.remove_empty_dir(&dir)
        .await
        .map_err(err("remove_empty_dir"))?;
    if s.capabilities().directories {
        ensure(
            matches!(s.stat(&dir).await, Err(e) if e.kind() == ErrorKind::NotFound),
            || "the empty directory is still there".into(),
        )?;
    }
    s.remove_empty_dir(&root.join("never"))
        .await
        .map_err(err("remove_empty_dir of a missing directory"))
}

/// Spaces, unicode, `+`, `%`, `=` and `#` in names survive a round trip and a listing.
pub async fn odd_names(s: &dyn Storage, root: &Location) -> CheckResult {
    let names = [
        "with space.txt",
        "ünïcödé-文件",
        "plus+sign",
        "percent%20x",
        "eq=and&amp",
        "hash#tag",
    ];
    for name in names {
        put(s, &root.join(&format!("odd/{name}")), name.as_bytes()).await?;
    }
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    let listed = list_rel(s, &root.join("odd")).await?;
    ensure(listed == expected, || format!("listed {listed:?}"))?;
    for name in names {
        let got = read_all(s, &root.join(&format!("odd/{name}"))).await?;
        ensure(got == name.as_bytes(), || {
            format!("content of {name:?} differs")
        })?;
    }
    Ok(())
}

/// Parts written concurrently and out of order assemble by index, including a short last part.
pub async fn multipart_upload(s: &dyn Storage, root: &Location) -> CheckResult {
    let caps = s.capabilities();
    let at = root.join("mp");
    if !caps.parallel_part_writes {
        return expect_unsupported(
            s.start_multipart(&at, &WriteOptions::default())
                .await
                .map(|_| ()),
        );
    }
    let part = caps.min_part_size.max(1024 * 1024) as usize;
    let data = pattern(part * 3 + 12_345, 5);
    let options = WriteOptions {
        size_hint: Some(data.len() as u64),
        crc32c: None,
    };
    let upload = s
        .start_multipart(&at, &options)
        .await
        .map_err(err("start"))?;
    let chunks: Vec<(u32, usize, Bytes)> = data
        .chunks(part)
        .enumerate()
        .map(|(i, c)| (i as u32, i * part, Bytes::copy_from_slice(c)))
        .collect();
    let mut receipts = futures::stream::iter(chunks.into_iter().rev())
        .map(|(i, offset, c)| {
            let upload = upload.clone();
            async move {
                let crc = ferry_core::checksum::crc32c(&c);
                upload.put_part(i, offset as u64, c, crc).await
            }
        })
        .buffer_unordered(4)
        .try_collect::<Vec<_>>()
        .await
        .map_err(err("put_part"))?;
    receipts.sort_by_key(|r| r.index);
    let receipt = upload.complete(receipts).await.map_err(err("complete"))?;
    ensure(receipt.size == data.len() as u64, || {
        format!("receipt size {}", receipt.size)
    })?;
    ensure(read_all(s, &at).await? == data, || {
        "assembled content differs".into()
    })
}

/// An aborted multipart upload leaves no object.
pub async fn multipart_abort(s: &dyn Storage, root: &Location) -> CheckResult {
    if !s.capabilities().parallel_part_writes {
        return Ok(());
    }
    let at = root.join("mp-aborted");
    let part = s.capabilities().min_part_size.max(1024) as usize;
    let upload = s
        .start_multipart(
            &at,
            &WriteOptions {
                size_hint: Some(2 * part as u64),
                crc32c: None,
            },
        )
        .await
        .map_err(err("start"))?;
    let data = pattern(part, 6);
    upload
        .put_part(
            0,
            0,
            Bytes::from(data.clone()),
            ferry_core::checksum::crc32c(&data),
        )
        .await
        .map_err(err("put_part"))?;
    upload.abort().await.map_err(err("abort"))?;
    match s.stat(&at).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!("object exists after abort: {other:?}")),
    }
}

/// An upload reopened from its token (as another process would) keeps the parts written
/// before, takes the rest, and completes into the whole object; a token that does not exist
/// is an error. Without `resumable_multipart`, `resume_multipart` answers `Unsupported`.
pub async fn multipart_resume(s: &dyn Storage, root: &Location) -> CheckResult {
    let caps = s.capabilities();
    let at = root.join("mp-resumed");
    if !caps.resumable_multipart || !caps.parallel_part_writes {
        return expect_unsupported(
            s.resume_multipart(&at, "no-such-upload", &WriteOptions::default())
                .await
                .map(|_| ()),
        );
    }
    let part = caps.min_part_size.max(1024 * 1024) as usize;
    let data = pattern(part + 777, 9);
    let options = WriteOptions {
        size_hint: Some(data.len() as u64),
        crc32c: None,
    };
    let (first, rest) = data.split_at(part);
    let put =
        |upload: Arc<dyn ferry_core::MultipartUpload>, index: u32, offset: usize, chunk: &[u8]| {
            let chunk = Bytes::copy_from_slice(chunk);
            async move {
                let crc = ferry_core::checksum::crc32c(&chunk);
                upload.put_part(index, offset as u64, chunk, crc).await
            }
        };
    let started = s
        .start_multipart(&at, &options)
        .await
        .map_err(err("start"))?;
    let token = started.token().to_string();
    let receipt0 = put(started.clone(), 0, 0, first)
        .await
        .map_err(err("put_part 0"))?;
    drop(started); // the first "process" goes away without completing
    let resumed = s
        .resume_multipart(&at, &token, &options)
        .await
        .map_err(err("resume"))?;
    ensure(resumed.token() == token, || {
        format!("resumed token {:?}, started {token:?}", resumed.token())
    })?;
    let receipt1 = put(resumed.clone(), 1, part, rest)
        .await
        .map_err(err("put_part 1"))?;
    let receipt = resumed
        .complete(vec![receipt0, receipt1])
        .await
        .map_err(err("complete"))?;
    ensure(receipt.size == data.len() as u64, || {
        format!("receipt size {}", receipt.size)
    })?;
    ensure(read_all(s, &at).await? == data, || {
        "resumed upload's content differs".into()
    })?;
    // A completed upload's token, or one never issued, no longer opens an upload.
    let stale = s
        .resume_multipart(&root.join("mp-never"), "0123456789abcdef", &options)
        .await;
    ensure(stale.is_err(), || {
        "resume_multipart of a token never issued succeeded".into()
    })
}

/// Server-side copy duplicates the listed object, or answers `Unsupported`. A listed entry
/// carries the object's version, and a copy of it after the object was replaced fails
/// (`ConditionNotMatch` or `NotFound`) rather than copying the new content.
pub async fn server_side_copy(s: &dyn Storage, root: &Location) -> CheckResult {
    let (from, to) = (root.join("copy-src"), root.join("copy/dst"));
    let data = pattern(70_000, 7);
    put(s, &from, &data).await?;
    let listed: Vec<Entry> = s
        .list(root)
        .try_collect()
        .await
        .map_err(err(&format!("list {root}")))?;
    let entry = listed
        .into_iter()
        .find(|e| e.location == from)
        .ok_or_else(|| format!("{from} not listed"))?;
    let result = s.copy(&entry, &to).await;
    if !s.capabilities().server_side_copy {
        return expect_unsupported(result.map(|_| ()));
    }
    result.map_err(err("copy"))?;
    ensure(read_all(s, &to).await? == data, || "copy differs".into())?;
    ensure(read_all(s, &from).await? == data, || {
        "source changed".into()
    })?;
    ensure(entry.version.is_some(), || {
        format!("a store with server-side copy listed {from} without its version")
    })?;
    put(s, &from, b"replaced").await?;
    match s.copy(&entry, &root.join("copy/stale")).await {
        Err(e) if matches!(e.kind(), ErrorKind::ConditionNotMatch | ErrorKind::NotFound) => {}
        other => return Err(format!("copy of a replaced listed version: {other:?}")),
    }
    match s.stat(&root.join("copy/stale")).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!("a failed pinned copy left an object: {other:?}")),
    }
}

/// Rename moves and replaces an existing destination, or answers `Unsupported`.
pub async fn rename_replaces(s: &dyn Storage, root: &Location) -> CheckResult {
    let (from, to) = (root.join("ren/a"), root.join("ren/b"));
    put(s, &from, b"new").await?;
    put(s, &to, b"old-content").await?;
    let result = s.rename(&from, &to).await;
    if !s.capabilities().atomic_rename {
        return expect_unsupported(result);
    }
    result.map_err(err("rename"))?;
    ensure(read_all(s, &to).await? == b"new", || {
        "destination not replaced".into()
    })?;
    ensure(
        matches!(s.stat(&from).await, Err(e) if e.kind() == ErrorKind::NotFound),
        || "source still there".into(),
    )
}

/// `set_modified` sets the mtime `stat` reports, or answers `Unsupported`.
pub async fn set_modified(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("mtime");
    put(s, &at, b"x").await?;
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let result = s.set_modified(&at, when).await;
    if !s.capabilities().set_modified {
        return expect_unsupported(result);
    }
    result.map_err(err("set_modified"))?;
    let got = s.stat(&at).await.map_err(err("stat"))?.modified;
    ensure(got == Some(when), || format!("mtime {got:?}"))
}

/// A declared native checksum matches the data.
pub async fn native_checksum(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("sum");
    let data = pattern(123_457, 8);
    put(s, &at, &data).await?;
    for kind in s.capabilities().native_checksums.clone() {
        let got = s.checksum(&at, kind).await.map_err(err("checksum"))?;
        if kind == ferry_core::ChecksumKind::Crc32c {
            let want = ferry_core::Checksum::Crc32c(ferry_core::checksum::crc32c(&data));
            ensure(got.as_ref() == Some(&want), || {
                format!("checksum {got:?}, want {want}")
            })?;
        } else {
            ensure(got.is_some(), || {
                format!("declared {kind:?} but reported none")
            })?;
        }
    }
    Ok(())
}

/// A multi-MiB object reads back through the stream in order.
pub async fn large_object_chunked_reads(s: &dyn Storage, root: &Location) -> CheckResult {
    let at = root.join("large");
    let data = pattern(9 * 1024 * 1024 + 3, 9);
    put(s, &at, &data).await?;
    let mut stream = s.read(&at, None).await.map_err(err("read"))?;
    let mut offset = 0usize;
    while let Some(chunk) = stream.try_next().await.map_err(err("read chunk"))? {
        ensure(data[offset..offset + chunk.len()] == chunk[..], || {
            format!("chunk at {offset} differs")
        })?;
        offset += chunk.len();
    }
    ensure(offset == data.len(), || {
        format!("read {offset} of {} bytes", data.len())
    })
}

/// `mkdirs` makes a directory (and its parents) where the store has directories, and nothing
/// where it has not: no marker object appears in a listing or a `stat`.
pub async fn mkdirs_makes_directories_or_nothing(s: &dyn Storage, root: &Location) -> CheckResult {
    let dir = root.join("made/deeper");
    s.mkdirs(&dir).await.map_err(err("mkdirs"))?;
    s.mkdirs(&dir).await.map_err(err("mkdirs again"))?;
    let stat = s.stat(&dir).await;
    if s.capabilities().directories {
        match stat {
            Ok(entry) if entry.is_dir() => {}
            other => return Err(format!("after mkdirs, stat says {other:?}")),
        }
        match s.stat(&root.join("made")).await {
            Ok(entry) if entry.is_dir() => {}
            other => return Err(format!("mkdirs made no parent: {other:?}")),
        }
    } else {
        match stat {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            other => {
                return Err(format!(
                    "a store without directories made something: {other:?}"
                ))
            }
        }
    }
    let listed = list_rel(s, root).await?;
    ensure(listed.is_empty(), || {
        format!("mkdirs left files: {listed:?}")
    })
}

/// `check_container` accepts a location whose container exists, however much of its path does
/// not exist yet; on bucket stores (an authority, no directories) it fails with `NotFound` for
/// a bucket that does not exist.
pub async fn check_container_fails_only_for_missing_containers(
    s: &dyn Storage,
    root: &Location,
) -> CheckResult {
    s.check_container(&root.join("not/written/yet"))
        .await
        .map_err(err(
            "check_container of a new path in an existing container",
        ))?;
    let bucket_store = !s.capabilities().directories && root.authority().is_some();
    if !bucket_store {
        return Ok(());
    }
    // The bucket is the authority, or its part before `@` (Azure's `container@account`).
    let authority = root.authority().unwrap_or_default();
    let missing_authority = match authority.split_once('@') {
        Some((_, account)) => format!("ferry-no-such-bucket-7f3a9c@{account}"),
        None => "ferry-no-such-bucket-7f3a9c".to_string(),
    };
    let missing = Location::from_parts(
        root.scheme(),
        Some(&missing_authority),
        &format!("{}/x", root.key()),
    );
    match s.check_container(&missing).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!(
            "check_container of {missing} (no such bucket): {other:?}"
        )),
    }
}

fn expect_unsupported(result: ferry_core::Result<()>) -> CheckResult {
    match result {
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(()),
        other => Err(format!(
            "not declared, so expected Unsupported, got {other:?}"
        )),
    }
}

use futures::StreamExt;

/// Reads a test server's setting from the environment (`FERRY_TEST_S3_ENDPOINT`, …).
///
/// `cargo xtask test` starts the servers and sets `FERRY_REQUIRE_SERVERS=1`: then a missing
/// variable fails the test, so CI never skips silently. In a plain `cargo test` without
/// servers, the test prints why it does nothing and returns `None`.
pub fn server_env(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("FERRY_REQUIRE_SERVERS").is_ok_and(|v| v == "1") => {
            panic!(
                "{variable} is not set, but FERRY_REQUIRE_SERVERS=1: the test server did not start"
            )
        }
        _ => {
            eprintln!("{variable} is not set: skipping (run `cargo xtask test` to start the test servers)");
            None
        }
    }
}

/// A fresh, unique prefix for one test run (`ferry-test-<pid>-<nanos>`), so runs never collide.
pub fn unique_prefix(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("ferry-test-{name}-{}-{nanos}", std::process::id())
}

/// A server on 127.0.0.1 that accepts connections, reads whatever comes and never answers
/// (what a stalled store looks like to a client); returns its `http://` endpoint. For tests
/// that a backend gives up on a silent server instead of hanging.
pub async fn silent_server() -> String {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {}
            });
        }
    });
    endpoint
}

/// `stat`s `at` on `store`, which must point at [`silent_server`] `endpoint`, and checks that
/// it gives up rather than hangs: a temporary error naming the endpoint and the object's path.
/// Returns the error and how long it took, for the backend's own checks (attempts, wording).
pub async fn stat_gives_up_on_silent_server(
    store: &dyn Storage,
    at: &Location,
    endpoint: &str,
) -> (Error, std::time::Duration) {
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(std::time::Duration::from_secs(60), store.stat(at))
        .await
        .expect("stat hung on a silent server")
        .expect_err("a silent server answered");
    let took = started.elapsed();
    assert!(err.is_temporary(), "{err}");
    let text = err.to_string();
    assert!(text.contains(endpoint), "{text}");
    assert!(text.contains(at.path().trim_start_matches('/')), "{text}");
    (err, took)
}
