//! Copying one planned file: the four methods of the copy ladder, verification, and the
//! journal-then-rename commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::buffers::{GrantGuard, PartBuffer};
use super::journal::Record;
use super::plan::read_crc;
use super::report::Action;
use super::{mtime_ns, temp_name_for, Context, SourceFile, VerifyMode};
use crate::checksum::{combine_crc32c, crc32c, crc32c_append, Checksum, ChecksumKind};
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::storage::{MultipartUpload, PartReceipt, WriteOptions, WriteReceipt};

impl Context {
    /// Copies, verifies and commits `file`; returns the CRC32C when ferry saw the bytes.
    pub(super) async fn copy_file(&self, file: &SourceFile, action: Action) -> Result<Option<u32>> {
        let staging = self.staging_location(&file.target);
        let result = self
            .opts
            .retry
            .run("verified copy", || async {
                let (crc, receipt) = match action {
                    Action::ServerSideCopy => self.server_side_copy(file, &staging).await?,
                    Action::ParallelParts => self.parallel_parts(file, &staging).await?,
                    Action::Stream => self.stream(file, &staging).await?,
                    Action::Single | Action::Skip(_) => self.single(file, &staging).await?,
                };
                if action != Action::ServerSideCopy {
                    // What was read must be the whole file as listed, unchanged since: a file
                    // that grew, shrank, was rewritten, or lists a size smaller than its
                    // content (`/proc`) is never passed off as a verified copy.
                    self.src.storage.confirm_unchanged(&file.entry).await?;
                }
                let written = self.verify(file, &staging, crc, &receipt).await?;
                Ok((crc, written))
            })
            .await;
        let (crc, written) = match result {
            Ok(done) => done,
            Err(err) => {
                if staging != file.target || !self.dst.storage.capabilities().atomic_writes {
                    let _ = self.dst.storage.delete(&staging).await;
                }
                let (temp, target) = (&staging, &file.target);
                return Err(err
                    .renamed(&temp.to_string(), &target.to_string())
                    .renamed(temp.path(), target.path()));
            }
        };
        // Verification's stat is stale once the mtime is set: the journal then stats again.
        let mut written = written;
        if self.opts.preserve_mtime {
            if let Some(modified) = file.entry.modified {
                match self.dst.storage.set_modified(&staging, modified).await {
                    Err(err) if err.kind() != ErrorKind::Unsupported => return Err(err),
                    _ => written = None,
                }
            }
        }
        // Journal first: a crash between the two then costs a re-copy, never a wrong skip.
        if let (Some(journal), Some(crc)) = (&self.journal, crc) {
            // The destination's mtime as written (a rename keeps it): a later run that finds
            // another one knows the file was changed behind ferry's back (`plan`). Known
            // without a request when verification stat'ed the file; else one stat. A store
            // that cannot say leaves it unrecorded, and a later run then compares content.
            let modified = match written {
                Some(modified) => modified,
                None => match self.dst.storage.stat(&staging).await {
                    Ok(entry) => entry.modified,
                    Err(_) => None,
                },
            };
            let dst_mtime_ns = mtime_ns(modified);
            journal.append(&Record::Done {
                rel: file.rel.clone(),
                size: file.entry.size,
                mtime_ns: mtime_ns(file.entry.modified),
                crc32c: crc,
                dst_mtime_ns,
            })?;
        }
        if staging != file.target {
            self.opts
                .retry
                .run("rename", || self.commit_rename(file, &staging))
                .await?;
        }
        Ok(crc)
    }

    /// Renames the verified temp file to its final name. A rename that fails because its
    /// source is gone while the target is there with the file's size was done already: the
    /// store performed an earlier attempt whose reply was lost (HDFS over a cut connection),
    /// and the retry must not turn a finished file into a failure.
    async fn commit_rename(&self, file: &SourceFile, staging: &Location) -> Result<()> {
        let storage = self.dst.storage.as_ref();
        match storage.rename(staging, &file.target).await {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                let staging_gone = matches!(
                    storage.stat(staging).await,
                    Err(e) if e.kind() == ErrorKind::NotFound
                );
                let target_done = storage
                    .stat(&file.target)
                    .await
                    .is_ok_and(|entry| !entry.is_dir() && entry.size == file.entry.size);
                if staging_gone && target_done {
                    Ok(())
                } else {
                    Err(err)
                }
            }
            other => other,
        }
    }

    /// Where a file is written before it is verified: the final name on stores whose writes
    /// are atomic, a hidden sibling temp name on stores that rename atomically.
    fn staging_location(&self, target: &Location) -> Location {
        let caps = self.dst.storage.capabilities();
        if caps.atomic_writes || !caps.atomic_rename {
            return target.clone();
        }
        let name = target.file_name().unwrap_or("file");
        let temp = temp_name_for(&self.temp_tag, name);
        target
            .parent()
            .map_or_else(|| target.with_path(&temp), |p| p.join(&temp))
    }

    async fn write_options(&self, file: &SourceFile, crc: Option<u32>) -> WriteOptions {
        WriteOptions {
            size_hint: Some(file.entry.size),
            crc32c: crc,
        }
    }

    async fn pace(&self, bytes: u64) {
        if let Some(limiter) = &self.limiter {
            limiter.acquire(bytes).await;
        }
    }

    /// Reads `len` bytes at `offset` of the source into one buffer, checking the length.
    /// Returns the data and the guard of its budget grant, to hold until the write of the data
    /// returns ([`BufferPool::freeze`](super::buffers::BufferPool::freeze)).
    async fn read_part(
        &self,
        file: &SourceFile,
        offset: u64,
        len: u64,
    ) -> Result<(Bytes, GrantGuard)> {
        let PartBuffer { buffer, grant } = self.buffers.take(len as usize).await;
        let buffer = self
            .src
            .storage
            .read_into(&file.entry.location, offset, len as usize, buffer)
            .await?;
        let filled = buffer.len();
        if filled as u64 != len {
            return Err(Error::new(
                ErrorKind::Corrupted,
                format!(
                    "source changed while copying: expected {len} bytes at offset {offset}, read {filled}"
                ),
            )
            .with_context("path", &file.entry.location));
        }
        Ok(self.buffers.freeze(buffer, grant))
    }

    async fn single(
        &self,
        file: &SourceFile,
        staging: &Location,
    ) -> Result<(Option<u32>, WriteReceipt)> {
        let size = file.entry.size;
        let (data, grant) = self
            .opts
            .retry
            .run("read", || self.read_part(file, 0, size))
            .await?;
        let crc = crc32c(&data);
        self.pace(size).await;
        let options = self.write_options(file, Some(crc)).await;
        let receipt = self
            .opts
            .retry
            .run("write", || {
                self.dst.storage.put(staging, data.clone(), &options)
            })
            .await?;
        // The data first, so that its buffer goes back to the pool with the grant.
        drop(data);
        drop(grant);
        self.observer.transferred(size);
        Ok((Some(crc), receipt))
    }

    async fn stream(
        &self,
        file: &SourceFile,
        staging: &Location,
    ) -> Result<(Option<u32>, WriteReceipt)> {
        let size = file.entry.size;
        let part_size = self.part_size_for(size);
        let options = self.write_options(file, None).await;
        let mut writer = self.dst.storage.write(staging, &options).await?;
        let mut crc = 0u32;
        let mut written = 0u64;
        let result: Result<()> = async {
            if self.src.storage.capabilities().ranged_reads {
                while written < size {
                    let len = part_size.min(size - written);
                    let (data, _grant) = self
                        .opts
                        .retry
                        .run("read", || self.read_part(file, written, len))
                        .await?;
                    crc = crc32c_append(crc, &data);
                    self.pace(len).await;
                    writer.write(data).await?;
                    written += len;
                    self.observer.transferred(len);
                }
            } else {
                let mut source = self.src.storage.read(&file.entry.location, None).await?;
                while let Some(chunk) = source.try_next().await? {
                    let len = chunk.len() as u64;
                    let _grant = self.buffers.grant(len).await;
                    crc = crc32c_append(crc, &chunk);
                    self.pace(len).await;
                    writer.write(chunk).await?;
                    written += len;
                    self.observer.transferred(len);
                }
            }
            Ok(())
        }
        .await;
        if let Err(err) = result {
            let _ = writer.abort().await;
            return Err(err);
        }
        if written != size {
            let _ = writer.abort().await;
            return Err(Error::new(
                ErrorKind::Corrupted,
                format!("source changed while copying: expected {size} bytes, read {written}"),
            )
            .with_context("path", &file.entry.location));
        }
        Ok((Some(crc), writer.commit().await?))
    }

    async fn parallel_parts(
        &self,
        file: &SourceFile,
        staging: &Location,
    ) -> Result<(Option<u32>, WriteReceipt)> {
        let size = file.entry.size;
        let part_size = self.part_size_for(size);
        let parts = size.div_ceil(part_size) as u32;
        let (upload, done) = self.open_upload(file, staging, part_size).await?;
        let part_concurrency = (self.buffers.budget().total() / part_size).max(1) as usize;
        let done = &done;
        let upload_ref = &upload;
        let results: Result<Vec<(PartReceipt, u32)>> = futures::stream::iter(0..parts)
            .map(|index| async move {
                if let Some(done) = done.get(&index) {
                    return Ok(done.clone());
                }
                let offset = u64::from(index) * part_size;
                let len = part_size.min(size - offset);
                let (receipt, crc) = self
                    .opts
                    .retry
                    .run("part", || async {
                        let (data, _grant) = self.read_part(file, offset, len).await?;
                        let crc = crc32c(&data);
                        self.pace(len).await;
                        let receipt = upload_ref.put_part(index, offset, data, crc).await?;
                        Ok((receipt, crc))
                    })
                    .await?;
                self.observer.transferred(len);
                if let Some(journal) = &self.journal {
                    journal.append(&Record::Part {
                        rel: file.rel.clone(),
                        token: upload_ref.token().to_string(),
                        receipt: receipt.clone(),
                        crc32c: crc,
                    })?;
                }
                Ok((receipt, crc))
            })
            .buffered(part_concurrency)
            .try_collect()
            .await;
        let results = match results {
            Ok(results) => results,
            Err(err) => {
                let _ = upload.abort().await;
                return Err(err);
            }
        };
        let crc = results.iter().fold(0u32, |acc, (receipt, crc)| {
            combine_crc32c(acc, *crc, receipt.size)
        });
        let receipts = results.into_iter().map(|(receipt, _)| receipt).collect();
        match upload.complete(receipts).await {
            Ok(receipt) => Ok((Some(crc), receipt)),
            Err(err) => {
                let _ = upload.abort().await;
                Err(err)
            }
        }
    }

    /// Resumes the upload an earlier run journaled for this file, if the file is unchanged
    /// and the store can; otherwise starts a new one.
    async fn open_upload(
        &self,
        file: &SourceFile,
        staging: &Location,
        part_size: u64,
    ) -> Result<(Arc<dyn MultipartUpload>, HashMap<u32, (PartReceipt, u32)>)> {
        let options = self.write_options(file, None).await;
        let dst = self.dst.storage.as_ref();
        let prior = self.journal.as_ref().and_then(|j| j.prior(&file.rel));
        if let Some(prior) = prior.filter(|_| dst.capabilities().resumable_multipart) {
            if let Some((size, mtime, prior_part, token)) = &prior.upload {
                let unchanged = *size == file.entry.size
                    && *mtime == mtime_ns(file.entry.modified)
                    && *prior_part == part_size;
                if unchanged {
                    match dst.resume_multipart(staging, token, &options).await {
                        Ok(upload) => {
                            let done = prior
                                .parts
                                .iter()
                                .map(|(receipt, crc)| (receipt.index, (receipt.clone(), *crc)))
                                .collect();
                            tracing::info!(file = %file.rel, parts = prior.parts.len(), "resuming upload");
                            return Ok((upload, done));
                        }
                        Err(err) => {
                            tracing::info!(%err, file = %file.rel, "cannot resume; starting over")
                        }
                    }
                }
            }
        }
        let upload = dst.start_multipart(staging, &options).await?;
        if let Some(journal) = &self.journal {
            journal.append(&Record::Upload {
                rel: file.rel.clone(),
                size: file.entry.size,
                mtime_ns: mtime_ns(file.entry.modified),
                part_size,
                token: upload.token().to_string(),
            })?;
        }
        Ok((upload, HashMap::new()))
    }

    async fn server_side_copy(
        &self,
        file: &SourceFile,
        staging: &Location,
    ) -> Result<(Option<u32>, WriteReceipt)> {
        let receipt = self
            .opts
            .retry
            .run("copy", || self.dst.storage.copy(&file.entry, staging))
            .await?;
        self.observer.transferred(file.entry.size);
        // The bytes never passed through ferry: the CRC is the source's own, if it has one.
        let crc = match &file.entry.checksum {
            Some(Checksum::Crc32c(crc)) => Some(*crc),
            _ => None,
        };
        Ok((crc, receipt))
    }

    /// Checks the written file: size always, the store's checksum where it has one, and a
    /// full re-read with `--verify full`. On mismatch the output is deleted and a temporary
    /// `Corrupted` error returned, so the file is copied again. Returns the written file's
    /// modification time when it had to stat it (`None` when the write receipt sufficed).
    async fn verify(
        &self,
        file: &SourceFile,
        staging: &Location,
        crc: Option<u32>,
        receipt: &WriteReceipt,
    ) -> Result<Option<Option<SystemTime>>> {
        let dst = self.dst.storage.as_ref();
        let expected = file.entry.size;
        let (stored_size, listed_checksum, stated) = match receipt.stored_size {
            Some(size) => (size, None, None),
            None => {
                let written = dst.stat(staging).await?;
                (written.size, written.checksum, Some(written.modified))
            }
        };
        let mut problem = (stored_size != expected).then(|| {
            format!("size mismatch: source has {expected} bytes, destination {stored_size}")
        });
        if problem.is_none() && self.opts.verify != VerifyMode::Size {
            if let Some(crc) = crc {
                let native = match (&receipt.checksum, &listed_checksum) {
                    (Some(Checksum::Crc32c(v)), _) | (_, Some(Checksum::Crc32c(v))) => Some(*v),
                    _ if dst
                        .capabilities()
                        .native_checksums
                        .contains(&ChecksumKind::Crc32c) =>
                    {
                        match dst.checksum(staging, ChecksumKind::Crc32c).await? {
                            Some(Checksum::Crc32c(v)) => Some(v),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let Some(native) = native.filter(|v| *v != crc) {
                    problem = Some(format!(
                        "checksum mismatch: source crc32c {crc:08x}, destination reports {native:08x}"
                    ));
                }
            }
        }
        if problem.is_none() && self.opts.verify == VerifyMode::Full {
            let expected_crc = match crc {
                Some(crc) => crc,
                None => {
                    read_crc(self.src.storage.as_ref(), &file.entry.location)
                        .await?
                        .0
                }
            };
            let (actual, len) = read_crc(dst, staging).await?;
            if actual != expected_crc || len != expected {
                problem = Some(format!(
                    "re-read mismatch: source crc32c {expected_crc:08x} ({expected} bytes), \
                     destination {actual:08x} ({len} bytes)"
                ));
            }
        }
        match problem {
            None => Ok(stated),
            Some(problem) => {
                let _ = dst.delete(staging).await;
                Err(Error::new(ErrorKind::Corrupted, problem)
                    .with_operation("verify")
                    .with_context("path", &file.target)
                    .temporary())
            }
        }
    }
}
