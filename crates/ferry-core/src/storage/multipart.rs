//! The one streaming writer of object stores: [`PartWriter`] turns a stream of writes into
//! either one whole-object upload (small objects) or a multipart upload written part by part,
//! on top of a store's [`UploadTarget`] (its one-shot upload and its [`MultipartUpload`]).
//!
//! * Memory: the writer buffers at most one part (a write that is already a whole part is sent
//!   as it is, without a copy), so a writer holds at most `part_size` bytes whatever the size
//!   of the object.
//! * Part sizes come from the store's [`PartSizing`]: the base size, grown to fit the store's
//!   part limit when the final size is known, and doubling every so many parts when it is not.
//! * Part `index` (0, 1, …) is sent with its offset and CRC32C; the store's upload names it as
//!   it needs (an S3 part number `index + 1`, a GCS temporary object, an Azure block id) and
//!   verifies it on arrival where it can (S3's CRC32C, an Azure block's MD5).
//! * A failed `commit` and an `abort` abort the upload; dropping the writer uncommitted (a
//!   cancelled task) aborts it in the background, so no parts linger.
//!
//! [`PartChecksums`] is the bookkeeping an upload needs to give the assembled object its
//! CRC32C: each part's CRC and size by index (written or found again on resume), combined in
//! index order at `complete`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use crate::checksum::{combine_crc32c, crc32c};
use crate::error::Result;
use crate::storage::{MultipartUpload, ObjectWriter, PartReceipt, WriteReceipt};

/// How a store sizes the parts of a streamed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSizing {
    /// The part size when neither the size hint nor the part count asks for more.
    pub base: u64,
    /// The smallest part the store accepts (except the last).
    pub min: u64,
    /// The largest part the store accepts.
    pub max: u64,
    /// With a size hint, parts grow so that the object fits in this many.
    pub parts_for_hint: u32,
    /// Without a size hint, the part size doubles after every this many parts …
    pub double_every: u32,
    /// … at most this many times.
    pub max_doublings: u32,
}

impl PartSizing {
    /// The size of the next part, when `written` parts are already sent of an object whose
    /// final size is `size_hint` (if known): the base, grown to fit `parts_for_hint` parts for
    /// a known size or doubled every `double_every` parts for an unknown one, within
    /// `min..=max`.
    pub fn part_size(&self, size_hint: Option<u64>, written: usize) -> u64 {
        let size = match size_hint {
            Some(total) => self
                .base
                .max(total.div_ceil(u64::from(self.parts_for_hint.max(1)))),
            None => {
                let doublings =
                    (written / self.double_every.max(1) as usize).min(self.max_doublings as usize);
                self.base.checked_shl(doublings as u32).unwrap_or(self.max)
            }
        };
        size.clamp(self.min, self.max.max(self.min))
    }
}

/// What a store gives [`PartWriter`]: its one-shot upload, and its multipart upload.
#[async_trait]
pub trait UploadTarget: Send + Sync {
    /// Uploads a whole object that fits in one part, in one request.
    async fn put_whole(&self, data: Bytes) -> Result<WriteReceipt>;

    /// Starts the multipart upload the parts of a larger object go to.
    async fn start(&self) -> Result<Arc<dyn MultipartUpload>>;
}

/// The streaming writer of object stores (see the module docs).
pub struct PartWriter {
    target: Box<dyn UploadTarget>,
    sizing: PartSizing,
    size_hint: Option<u64>,
    buffer: BytesMut,
    /// The multipart upload, once the data outgrew one part.
    upload: Option<Arc<dyn MultipartUpload>>,
    receipts: Vec<PartReceipt>,
    offset: u64,
    finished: bool,
}

impl PartWriter {
    /// A writer of one object through `target`, with parts sized by `sizing`.
    pub fn new(
        target: impl UploadTarget + 'static,
        sizing: PartSizing,
        size_hint: Option<u64>,
    ) -> PartWriter {
        PartWriter {
            target: Box::new(target),
            sizing,
            size_hint,
            buffer: BytesMut::new(),
            upload: None,
            receipts: Vec::new(),
            offset: 0,
            finished: false,
        }
    }

    fn part_size(&self) -> usize {
        usize::try_from(self.sizing.part_size(self.size_hint, self.receipts.len()))
            .unwrap_or(usize::MAX)
    }

    async fn send_part(&mut self, data: Bytes) -> Result<()> {
        let upload = match &self.upload {
            Some(upload) => upload.clone(),
            None => {
                let upload = self.target.start().await?;
                self.upload = Some(upload.clone());
                upload
            }
        };
        let index = u32::try_from(self.receipts.len()).unwrap_or(u32::MAX);
        let len = data.len() as u64;
        let crc = crc32c(&data);
        let receipt = upload.put_part(index, self.offset, data, crc).await?;
        self.offset += len;
        self.receipts.push(receipt);
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for PartWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if self.buffer.is_empty() && data.len() >= self.part_size() {
            return self.send_part(data).await; // a whole part already: no copy
        }
        self.buffer.extend_from_slice(&data);
        while self.buffer.len() >= self.part_size() {
            let part = self.buffer.split_to(self.part_size()).freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<WriteReceipt> {
        self.finished = true;
        let rest = std::mem::take(&mut self.buffer).freeze();
        if self.upload.is_none() {
            return self.target.put_whole(rest).await;
        }
        let result = async {
            if !rest.is_empty() {
                self.send_part(rest).await?;
            }
            let upload = self.upload.clone().expect("started above");
            upload.complete(std::mem::take(&mut self.receipts)).await
        }
        .await;
        if result.is_err() {
            if let Some(upload) = &self.upload {
                let _ = upload.abort().await;
            }
        }
        result
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.finished = true;
        match self.upload.take() {
            Some(upload) => upload.abort().await,
            None => Ok(()),
        }
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        // Dropped uncommitted (a cancelled task): abort the upload so no parts linger.
        if let (false, Some(upload)) = (self.finished, self.upload.take()) {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = upload.abort().await;
                });
            }
        }
    }
}

/// The CRC32C and size of each part of an upload, by index: recorded as parts are written
/// (or found again when an upload is resumed), combined into the whole object's CRC32C.
#[derive(Debug, Default)]
pub struct PartChecksums {
    parts: Mutex<BTreeMap<u32, (u32, u64)>>,
}

impl PartChecksums {
    /// Checksums of parts already there (a resumed upload): `(index, crc32c, size)`.
    pub fn from_parts(parts: impl IntoIterator<Item = (u32, u32, u64)>) -> PartChecksums {
        PartChecksums {
            parts: Mutex::new(
                parts
                    .into_iter()
                    .map(|(index, crc, size)| (index, (crc, size)))
                    .collect(),
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, (u32, u64)>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records part `index`, replacing an earlier attempt at it.
    pub fn record(&self, index: u32, crc32c: u32, size: u64) {
        self.lock().insert(index, (crc32c, size));
    }

    /// The CRC32C recorded for part `index`.
    pub fn get(&self, index: u32) -> Option<u32> {
        self.lock().get(&index).map(|(crc, _)| *crc)
    }

    /// The CRC32C of the object `parts` assemble (in index order), when every part's CRC is
    /// recorded and its recorded size is the receipt's.
    pub fn combined(&self, parts: &[PartReceipt]) -> Option<u32> {
        let known = self.lock();
        let mut sorted: Vec<&PartReceipt> = parts.iter().collect();
        sorted.sort_by_key(|p| p.index);
        sorted
            .iter()
            .try_fold(0u32, |acc, p| match known.get(&p.index) {
                Some((crc, len)) if *len == p.size => Some(combine_crc32c(acc, *crc, p.size)),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};

    const MIB: u64 = 1024 * 1024;

    fn s3_like() -> PartSizing {
        PartSizing {
            base: 8 * MIB,
            min: 5 * MIB,
            max: 5 * 1024 * MIB,
            parts_for_hint: 9_999,
            double_every: 1000,
            max_doublings: 9,
        }
    }

    #[test]
    fn parts_grow_to_fit_the_limit_or_double_when_the_size_is_unknown() {
        let sizing = s3_like();
        assert_eq!(sizing.part_size(Some(1), 0), 8 * MIB);
        let huge = 4 * 1024 * 1024 * MIB; // 4 TiB
        let part = sizing.part_size(Some(huge), 0);
        assert!(huge.div_ceil(part) <= 9_999 && part > 8 * MIB, "{part}");
        assert_eq!(sizing.part_size(None, 999), 8 * MIB);
        assert_eq!(sizing.part_size(None, 1000), 16 * MIB);
        assert_eq!(sizing.part_size(None, 1_000_000), (8 * MIB) << 9);
        let tiny = PartSizing { base: 1, ..sizing };
        assert_eq!(tiny.part_size(None, 0), 5 * MIB, "clamped to the minimum");
    }

    #[derive(Default)]
    struct Recorder {
        whole: Mutex<Vec<Bytes>>,
        parts: Mutex<Vec<(u32, u64, Bytes, u32)>>,
        completed: Mutex<Option<Vec<PartReceipt>>>,
        aborted: Mutex<bool>,
        fail_part: Option<u32>,
    }

    struct Target(Arc<Recorder>);
    struct Upload(Arc<Recorder>);

    #[async_trait]
    impl UploadTarget for Target {
        async fn put_whole(&self, data: Bytes) -> Result<WriteReceipt> {
            let size = data.len() as u64;
            self.0.whole.lock().unwrap().push(data);
            Ok(WriteReceipt {
                size,
                ..WriteReceipt::default()
            })
        }
        async fn start(&self) -> Result<Arc<dyn MultipartUpload>> {
            Ok(Arc::new(Upload(self.0.clone())))
        }
    }

    #[async_trait]
    impl MultipartUpload for Upload {
        fn token(&self) -> &str {
            "t"
        }
        async fn put_part(
            &self,
            index: u32,
            offset: u64,
            data: Bytes,
            crc: u32,
        ) -> Result<PartReceipt> {
            if self.0.fail_part == Some(index) {
                return Err(Error::new(ErrorKind::Unexpected, "injected"));
            }
            let size = data.len() as u64;
            self.0
                .parts
                .lock()
                .unwrap()
                .push((index, offset, data, crc));
            Ok(PartReceipt {
                index,
                offset,
                size,
                tag: None,
            })
        }
        async fn complete(&self, parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
            let size = parts.iter().map(|p| p.size).sum();
            *self.0.completed.lock().unwrap() = Some(parts);
            Ok(WriteReceipt {
                size,
                ..WriteReceipt::default()
            })
        }
        async fn abort(&self) -> Result<()> {
            *self.0.aborted.lock().unwrap() = true;
            Ok(())
        }
    }

    fn small() -> PartSizing {
        PartSizing {
            base: 10,
            min: 10,
            max: 10,
            parts_for_hint: 100,
            double_every: 100,
            max_doublings: 0,
        }
    }

    #[tokio::test]
    async fn a_small_object_is_one_whole_upload() {
        let recorder = Arc::new(Recorder::default());
        let mut writer = Box::new(PartWriter::new(Target(recorder.clone()), small(), None));
        writer.write(Bytes::from_static(b"abc")).await.unwrap();
        writer.write(Bytes::from_static(b"def")).await.unwrap();
        assert_eq!(writer.commit().await.unwrap().size, 6);
        assert_eq!(
            *recorder.whole.lock().unwrap(),
            vec![Bytes::from_static(b"abcdef")]
        );
        assert!(recorder.parts.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_larger_object_is_parts_in_order_with_offsets_and_crcs() {
        let recorder = Arc::new(Recorder::default());
        let mut writer = Box::new(PartWriter::new(Target(recorder.clone()), small(), None));
        let data: Vec<u8> = (0..35u8).collect();
        writer
            .write(Bytes::copy_from_slice(&data[..7]))
            .await
            .unwrap();
        writer
            .write(Bytes::copy_from_slice(&data[7..]))
            .await
            .unwrap();
        assert_eq!(writer.commit().await.unwrap().size, 35);
        let parts = recorder.parts.lock().unwrap().clone();
        let shape: Vec<(u32, u64, usize)> = parts.iter().map(|p| (p.0, p.1, p.2.len())).collect();
        assert_eq!(
            shape,
            vec![(0, 0, 10), (1, 10, 10), (2, 20, 10), (3, 30, 5)]
        );
        assert!(parts.iter().all(|p| p.3 == crc32c(&p.2)));
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.2.to_vec()).collect();
        assert_eq!(joined, data);
        assert_eq!(
            recorder.completed.lock().unwrap().as_ref().map(Vec::len),
            Some(4)
        );
        assert!(recorder.whole.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_part_aborts_the_upload_at_commit() {
        let recorder = Arc::new(Recorder {
            fail_part: Some(1),
            ..Recorder::default()
        });
        let mut writer = Box::new(PartWriter::new(Target(recorder.clone()), small(), None));
        writer.write(Bytes::from(vec![1u8; 10])).await.unwrap();
        writer.write(Bytes::from(vec![2u8; 5])).await.unwrap();
        assert!(writer.commit().await.is_err());
        assert!(*recorder.aborted.lock().unwrap());
        assert!(recorder.completed.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn dropping_an_uncommitted_writer_aborts_its_upload() {
        let recorder = Arc::new(Recorder::default());
        let mut writer = PartWriter::new(Target(recorder.clone()), small(), None);
        writer.write(Bytes::from(vec![1u8; 25])).await.unwrap();
        drop(writer);
        for _ in 0..100 {
            if *recorder.aborted.lock().unwrap() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the dropped writer's upload was not aborted");
    }

    #[test]
    fn part_checksums_combine_in_index_order_only_when_complete() {
        let (a, b) = (b"hello ".as_slice(), b"world".as_slice());
        let sums = PartChecksums::from_parts([(1, crc32c(b), 5)]);
        sums.record(0, crc32c(a), 6);
        let receipt = |index, offset, size| PartReceipt {
            index,
            offset,
            size,
            tag: None,
        };
        let parts = [receipt(1, 6, 5), receipt(0, 0, 6)];
        assert_eq!(sums.combined(&parts), Some(crc32c(b"hello world")));
        assert_eq!(sums.get(1), Some(crc32c(b)));
        assert_eq!(sums.combined(&[receipt(0, 0, 6), receipt(2, 6, 5)]), None);
        assert_eq!(sums.combined(&[receipt(0, 0, 7)]), None, "size differs");
    }
}
