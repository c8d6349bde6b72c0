//! Planning one file: skip it, or pick the rung of the copy ladder (server-side copy →
//! parallel parts → stream → single piece) that both stores support.

use futures::TryStreamExt;

use super::compare::{Compare, Verdict};
use super::report::{Action, SkipReason};
use super::{mtime_ns, Context, SourceFile};
use crate::checksum::{crc32c_append, Checksum, ChecksumKind};
use crate::error::{Error, ErrorKind, Result};
use crate::location::Location;
use crate::storage::{Entry, Storage};

impl Context {
    /// Decides what to do with `file`.
    pub(super) async fn plan(&self, file: &SourceFile) -> Result<Action> {
        let prior = self.journal.as_ref().and_then(|j| j.prior(&file.rel));
        let resumed = self.journal.as_ref().is_some_and(|j| j.has_prior());
        if !self.dst_fresh {
            let existing = match self.dst.storage.stat(&file.target).await {
                Ok(entry) => Some(entry),
                Err(err) if err.kind() == ErrorKind::NotFound => None,
                Err(err) => return Err(err),
            };
            if let Some(existing) = existing {
                if existing.is_dir() {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!("destination {} is a directory, not a file", file.target),
                    ));
                }
                let compare = self.opts.compare;
                if compare != Compare::default() {
                    return self.compared(file, &existing).await;
                }
                // A plain re-run trusts the journal — if the destination is unchanged since it
                // was written.
                let done = prior.and_then(|p| p.done.map(|d| (d, p.dst_mtime_ns)));
                if done.is_some_and(|((size, mtime, crc), dst_mtime)| {
                    size == file.entry.size
                        && mtime == mtime_ns(file.entry.modified)
                        && existing.size == size
                        && unchanged_since_written(&existing, crc, dst_mtime)
                }) {
                    return Ok(Action::Skip(SkipReason::AlreadyCopied));
                }
                if (resumed || self.opts.skip_identical || !self.opts.overwrite)
                    && existing.size == file.entry.size
                    && self.same_content(file, &existing).await?
                {
                    // An earlier run of this job wrote it but died before journaling it;
                    // (relocation) an identical immutable file is already there; or a run
                    // from another host or state directory copied it: a re-run is a resume.
                    return Ok(Action::Skip(if resumed {
                        SkipReason::AlreadyCopied
                    } else if self.opts.skip_identical {
                        SkipReason::UpToDate
                    } else {
                        SkipReason::AlreadyThere
                    }));
                } else if !self.opts.overwrite {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        "destination exists with other content (pass --overwrite to replace \
                         it, --checksum to copy only changed files)",
                    )
                    .with_context("path", &file.target));
                }
            }
        }
        Ok(self.method(file.entry.size))
    }

    /// The copy method for a file of `size` bytes.
    pub(super) fn method(&self, size: u64) -> Action {
        let (src, dst) = (self.src.storage.as_ref(), self.dst.storage.as_ref());
        if src.identity() == dst.identity() && dst.capabilities().server_side_copy {
            Action::ServerSideCopy
        } else if size <= self.part_size_for(size) {
            Action::Single
        } else if src.capabilities().ranged_reads && dst.capabilities().parallel_part_writes {
            Action::ParallelParts
        } else {
            Action::Stream
        }
    }

    /// The part size for a file: the configured size, within the destination's limits, grown
    /// until the file fits in the destination's maximum number of parts.
    pub(super) fn part_size_for(&self, size: u64) -> u64 {
        let caps = self.dst.storage.capabilities();
        let mut part = self.opts.part_size.clamp(
            caps.min_part_size,
            caps.max_part_size.max(caps.min_part_size),
        );
        while size.div_ceil(part) > u64::from(caps.max_parts) && part < caps.max_part_size {
            part = (part * 2).min(caps.max_part_size);
        }
        part
    }

    /// An existing destination file under an rclone-style comparison ([`Compare`]): skipped
    /// when it counts as the same file, else replaced.
    async fn compared(&self, file: &SourceFile, existing: &Entry) -> Result<Action> {
        let verdict = self.opts.compare.judge(
            file.entry.size,
            file.entry.modified,
            existing.size,
            existing.modified,
        );
        Ok(match verdict {
            Verdict::Existing => Action::Skip(SkipReason::Existing),
            Verdict::Newer => Action::Skip(SkipReason::DestinationNewer),
            Verdict::Same => Action::Skip(SkipReason::UpToDate),
            Verdict::Differs => self.method(file.entry.size),
            Verdict::CompareContent if self.same_content(file, existing).await? => {
                Action::Skip(SkipReason::UpToDate)
            }
            Verdict::CompareContent => self.method(file.entry.size),
        })
    }

    /// Whether source and destination hold the same bytes (sizes already equal): the same
    /// whole-object checksum where both listings carry one of one kind (CRC32C, MD5), else by
    /// CRC32C — the stores' own values where they report them, otherwise computed by reading.
    async fn same_content(&self, file: &SourceFile, existing: &Entry) -> Result<bool> {
        if let (Some(src), Some(dst)) = (&file.entry.checksum, &existing.checksum) {
            if src.kind() == dst.kind() && src.kind() != ChecksumKind::HdfsMd5Md5Crc32c {
                return Ok(src == dst);
            }
        }
        let src = crc_of(self.src.storage.as_ref(), &file.entry).await?;
        let dst = crc_of(self.dst.storage.as_ref(), existing).await?;
        Ok(src == dst)
    }
}

/// Whether a journaled destination file is still what ferry wrote, as far as the store tells
/// cheaply: its listed CRC32C against the journal's, else its mtime against the one recorded
/// right after the write. Neither known: `false`, and the caller compares content.
fn unchanged_since_written(existing: &Entry, crc: u32, dst_mtime: Option<u64>) -> bool {
    if let Some(Checksum::Crc32c(listed)) = existing.checksum {
        return listed == crc;
    }
    match (dst_mtime, mtime_ns(existing.modified)) {
        (Some(written), Some(now)) => written == now,
        _ => false,
    }
}

/// The CRC32C of an entry: from the listing, from the store, or by reading it.
async fn crc_of(storage: &dyn Storage, entry: &Entry) -> Result<u32> {
    if let Some(Checksum::Crc32c(crc)) = entry.checksum {
        return Ok(crc);
    }
    if storage
        .capabilities()
        .native_checksums
        .contains(&ChecksumKind::Crc32c)
    {
        if let Some(Checksum::Crc32c(crc)) = storage
            .checksum(&entry.location, ChecksumKind::Crc32c)
            .await?
        {
            return Ok(crc);
        }
    }
    read_crc(storage, &entry.location).await.map(|(crc, _)| crc)
}

/// Reads a whole object, returning its CRC32C and length.
pub(super) async fn read_crc(storage: &dyn Storage, location: &Location) -> Result<(u32, u64)> {
    let mut stream = storage.read(location, None).await?;
    let (mut crc, mut len) = (0u32, 0u64);
    while let Some(chunk) = stream.try_next().await? {
        crc = crc32c_append(crc, &chunk);
        len += chunk.len() as u64;
    }
    Ok((crc, len))
}
