//! A deterministic fault-injection layer: wraps any [`Storage`] and fails, slows down or
//! corrupts chosen operations, so failure handling is tested exactly rather than by luck.
//!
//! The CLI enables it from the `FERRY_FAULTS` environment variable, a `;`-separated list of
//! rules (a test hook, documented in `docs/architecture.md`, never needed by users):
//! * `fail=OP@N` — the N-th call (1-based) of operation OP fails with a temporary error;
//! * `fail-always=OP` — every call of OP fails permanently;
//! * `corrupt-write=TEXT` — data written to paths containing TEXT has one byte flipped;
//! * `corrupt-read=TEXT` — data read from paths containing TEXT has one byte flipped;
//! * `delay=OP:MS` — every call of OP sleeps MS milliseconds first;
//! * `lose-reply=rename@N` — the N-th rename is done, then reported as a temporary failure
//!   (the store performed it but its reply was lost).
//!
//! Operations: `stat`, `list`, `read`, `write`, `put`, `put_part`, `complete`, `rename`,
//! `delete`, `copy`.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::checksum::{Checksum, ChecksumKind};
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::storage::{
    ByteStream, Capabilities, Entry, ListStream, MultipartUpload, ObjectWriter, PartReceipt,
    Storage, WriteOptions, WriteReceipt,
};

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The N-th call (1-based) of the operation fails with a temporary error.
    FailNth {
        /// Operation name.
        op: String,
        /// Which call.
        nth: usize,
    },
    /// Every call of the operation fails with a permanent error.
    FailAlways {
        /// Operation name.
        op: String,
    },
    /// Data written to matching paths has its first byte flipped.
    CorruptWrite {
        /// Substring of the path.
        path_contains: String,
    },
    /// Data read from matching paths has its first byte flipped.
    CorruptRead {
        /// Substring of the path.
        path_contains: String,
    },
    /// The N-th call of the operation (only `rename`) is performed, then fails with a
    /// temporary error, as when a store's reply is lost.
    LoseReply {
        /// Operation name.
        op: String,
        /// Which call.
        nth: usize,
    },
    /// Every call of the operation sleeps first.
    Delay {
        /// Operation name.
        op: String,
        /// How long.
        millis: u64,
    },
}

/// Parses a `FERRY_FAULTS` specification.
pub fn parse_faults(spec: &str) -> Result<Vec<Fault>> {
    let bad = |item: &str| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("bad fault rule {item:?} in FERRY_FAULTS"),
        )
    };
    spec.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, value) = item.split_once('=').ok_or_else(|| bad(item))?;
            Ok(match name {
                "fail" => {
                    let (op, nth) = value.split_once('@').ok_or_else(|| bad(item))?;
                    Fault::FailNth {
                        op: op.into(),
                        nth: nth.parse().map_err(|_| bad(item))?,
                    }
                }
                "fail-always" => Fault::FailAlways { op: value.into() },
                "lose-reply" => {
                    let (op, nth) = value.split_once('@').ok_or_else(|| bad(item))?;
                    Fault::LoseReply {
                        op: op.into(),
                        nth: nth.parse().map_err(|_| bad(item))?,
                    }
                }
                "corrupt-write" => Fault::CorruptWrite {
                    path_contains: value.into(),
                },
                "corrupt-read" => Fault::CorruptRead {
                    path_contains: value.into(),
                },
                "delay" => {
                    let (op, ms) = value.split_once(':').ok_or_else(|| bad(item))?;
                    Fault::Delay {
                        op: op.into(),
                        millis: ms.parse().map_err(|_| bad(item))?,
                    }
                }
                _ => return Err(bad(item)),
            })
        })
        .collect()
}

#[derive(Debug)]
struct Rules {
    faults: Vec<Fault>,
    calls: Vec<(String, AtomicUsize)>,
}

impl Rules {
    /// Applies the rules to a call of `op`; `Ok(true)` when the call is to be performed and
    /// its reply lost.
    async fn enter(&self, op: &str, location: &Location) -> Result<bool> {
        let n = self
            .calls
            .iter()
            .find(|(o, _)| o == op)
            .map_or(0, |(_, c)| c.fetch_add(1, Ordering::SeqCst) + 1);
        for fault in &self.faults {
            match fault {
                Fault::Delay { op: o, millis } if o == op => {
                    tokio::time::sleep(Duration::from_millis(*millis)).await;
                }
                Fault::FailNth { op: o, nth } if o == op && *nth == n => {
                    return Err(injected(op, location).temporary());
                }
                Fault::FailAlways { op: o } if o == op => return Err(injected(op, location)),
                _ => {}
            }
        }
        Ok(self
            .faults
            .iter()
            .any(|f| matches!(f, Fault::LoseReply { op: o, nth } if o == op && *nth == n)))
    }

    fn corrupts(&self, write: bool, location: &Location) -> bool {
        let text = location.to_string();
        self.faults.iter().any(|f| match f {
            Fault::CorruptWrite { path_contains } => write && text.contains(path_contains),
            Fault::CorruptRead { path_contains } => !write && text.contains(path_contains),
            _ => false,
        })
    }
}

fn injected(op: &str, location: &Location) -> Error {
    Error::new(ErrorKind::Unexpected, format!("injected fault in {op}"))
        .with_context("path", location)
}

fn flip_first_byte(data: Bytes) -> Bytes {
    if data.is_empty() {
        return data;
    }
    let mut copy = BytesMut::from(&data[..]);
    copy[0] ^= 0xff;
    copy.freeze()
}

/// A [`Storage`] wrapped with fault rules.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    rules: Arc<Rules>,
}

impl FaultyStorage {
    /// Wraps `inner` with `faults`.
    pub fn new(inner: Arc<dyn Storage>, faults: Vec<Fault>) -> FaultyStorage {
        let ops = [
            "stat", "list", "read", "write", "put", "put_part", "complete", "rename", "delete",
            "copy",
        ];
        FaultyStorage {
            inner,
            rules: Arc::new(Rules {
                faults,
                calls: ops
                    .iter()
                    .map(|o| (o.to_string(), AtomicUsize::new(0)))
                    .collect(),
            }),
        }
    }
}

#[async_trait]
impl Storage for FaultyStorage {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn identity(&self) -> &str {
        self.inner.identity()
    }
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }
    async fn stat(&self, location: &Location) -> Result<Entry> {
        self.rules.enter("stat", location).await?;
        self.inner.stat(location).await
    }
    fn list(&self, prefix: &Location) -> ListStream {
        self.inner.list(prefix)
    }
    fn list_dir(&self, dir: &Location) -> ListStream {
        self.inner.list_dir(dir)
    }
    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        self.rules.enter("read", location).await?;
        let stream = self.inner.read(location, range.clone()).await?;
        if self.rules.corrupts(false, location) && range.is_none_or(|r| r.start == 0) {
            let mut first = true;
            return Ok(stream
                .map(move |chunk| {
                    chunk.map(|c| {
                        if std::mem::take(&mut first) {
                            flip_first_byte(c)
                        } else {
                            c
                        }
                    })
                })
                .boxed());
        }
        Ok(stream)
    }
    async fn write(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Box<dyn ObjectWriter>> {
        self.rules.enter("write", location).await?;
        let inner = self.inner.write(location, options).await?;
        Ok(Box::new(FaultyWriter {
            inner,
            corrupt: self.rules.corrupts(true, location),
        }))
    }
    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        self.rules.enter("put", location).await?;
        let data = if self.rules.corrupts(true, location) {
            flip_first_byte(data)
        } else {
            data
        };
        self.inner.put(location, data, options).await
    }
    async fn start_multipart(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let inner = self.inner.start_multipart(location, options).await?;
        Ok(self.wrap_upload(inner, location))
    }
    async fn resume_multipart(
        &self,
        location: &Location,
        token: &str,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let inner = self
            .inner
            .resume_multipart(location, token, options)
            .await?;
        Ok(self.wrap_upload(inner, location))
    }
    async fn delete(&self, location: &Location) -> Result<()> {
        self.rules.enter("delete", location).await?;
        self.inner.delete(location).await
    }
    async fn remove_empty_dir(&self, dir: &Location) -> Result<()> {
        self.rules.enter("delete", dir).await?;
        self.inner.remove_empty_dir(dir).await
    }
    async fn mkdirs(&self, location: &Location) -> Result<()> {
        self.inner.mkdirs(location).await
    }
    async fn copy(&self, from: &Entry, to: &Location) -> Result<WriteReceipt> {
        self.rules.enter("copy", to).await?;
        self.inner.copy(from, to).await
    }
    async fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        let lose_reply = self.rules.enter("rename", to).await?;
        self.inner.rename(from, to).await?;
        if lose_reply {
            return Err(injected("rename (reply lost)", to).temporary());
        }
        Ok(())
    }
    async fn checksum(&self, location: &Location, kind: ChecksumKind) -> Result<Option<Checksum>> {
        self.inner.checksum(location, kind).await
    }
    async fn set_modified(&self, location: &Location, modified: SystemTime) -> Result<()> {
        self.inner.set_modified(location, modified).await
    }
    async fn confirm_unchanged(&self, entry: &Entry) -> Result<()> {
        self.inner.confirm_unchanged(entry).await
    }
    async fn check_container(&self, location: &Location) -> Result<()> {
        self.inner.check_container(location).await
    }
}

impl FaultyStorage {
    fn wrap_upload(
        &self,
        inner: Arc<dyn MultipartUpload>,
        location: &Location,
    ) -> Arc<dyn MultipartUpload> {
        Arc::new(FaultyUpload {
            inner,
            rules: self.rules.clone(),
            location: location.clone(),
            corrupt: self.rules.corrupts(true, location),
        })
    }
}

struct FaultyWriter {
    inner: Box<dyn ObjectWriter>,
    corrupt: bool,
}

#[async_trait]
impl ObjectWriter for FaultyWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let data = if std::mem::take(&mut self.corrupt) {
            flip_first_byte(data)
        } else {
            data
        };
        self.inner.write(data).await
    }
    async fn commit(self: Box<Self>) -> Result<WriteReceipt> {
        self.inner.commit().await
    }
    async fn abort(self: Box<Self>) -> Result<()> {
        self.inner.abort().await
    }
}

struct FaultyUpload {
    inner: Arc<dyn MultipartUpload>,
    rules: Arc<Rules>,
    location: Location,
    corrupt: bool,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn token(&self) -> &str {
        self.inner.token()
    }
    async fn put_part(
        &self,
        index: u32,
        offset: u64,
        data: Bytes,
        crc32c: u32,
    ) -> Result<PartReceipt> {
        self.rules.enter("put_part", &self.location).await?;
        // Corrupt the first part after its checksum was computed, as a bad wire or disk would.
        let data = if self.corrupt && index == 0 {
            flip_first_byte(data)
        } else {
            data
        };
        self.inner.put_part(index, offset, data, crc32c).await
    }
    async fn complete(&self, parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
        self.rules.enter("complete", &self.location).await?;
        self.inner.complete(parts).await
    }
    async fn abort(&self) -> Result<()> {
        self.inner.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let faults = parse_faults("fail=put_part@3; corrupt-write=big;delay=read:5").unwrap();
        assert_eq!(
            faults,
            vec![
                Fault::FailNth {
                    op: "put_part".into(),
                    nth: 3
                },
                Fault::CorruptWrite {
                    path_contains: "big".into()
                },
                Fault::Delay {
                    op: "read".into(),
                    millis: 5
                },
            ]
        );
        assert!(parse_faults("explode=now").is_err());
        assert!(parse_faults("fail=put").is_err());
    }
}
