//! Server-side copies within one endpoint (any buckets): the bytes never pass through ferry.
//!
//! The source's size and ETag come from its entry (a listing's or a `stat`'s; a HEAD when the
//! entry has no version, which also gives its full-object CRC32C), and every copy request is
//! pinned to that ETag (`x-amz-copy-source-if-match`), so a source replaced mid-copy fails
//! (`ConditionNotMatch`) instead of producing a mix — and a successful copy is of exactly the
//! listed version. Objects up to `copy_threshold` (and at most 5 GiB, S3's limit) are one
//! `CopyObject`; larger ones are a multipart upload of `UploadPartCopy` requests,
//! `copy_concurrency` at a time, aborted on any failure. When the source's full-object CRC32C
//! is known, the copy must report the same one, or it is deleted and the error is `Corrupted`.

use futures::{StreamExt, TryStreamExt};

use ferry_core::checksum::Checksum;
use ferry_core::storage::{Entry, WriteReceipt};
use ferry_core::{Error, ErrorKind, Location, Result};

use crate::config::{S3Settings, MAX_PARTS, MAX_SINGLE_COPY};
use crate::core::{ObjectInfo, S3Core};

/// Copies `from` to `to` server-side.
pub(crate) async fn copy(
    core: &S3Core,
    settings: &S3Settings,
    from: &Entry,
    to: &Location,
) -> Result<WriteReceipt> {
    // A listed object's size and ETag are known: pin the copy to that ETag, no HEAD needed.
    let (source, listed) = match &from.version {
        Some(etag) => (
            ObjectInfo {
                size: from.size,
                modified: None,
                etag: Some(etag.clone()),
                crc32c: match from.checksum {
                    Some(Checksum::Crc32c(crc)) => Some(crc),
                    _ => None,
                },
            },
            true,
        ),
        None => {
            let head = core.s3_head(&from.location).await?.ok_or_else(|| {
                Error::new(ErrorKind::NotFound, "no such object")
                    .with_operation("copy")
                    .with_context("path", &from.location)
            })?;
            (head, false)
        }
    };
    let from = &from.location;
    let threshold = settings.copy_threshold.min(MAX_SINGLE_COPY);
    let copied = if source.size <= threshold {
        core.s3_copy(from, source.etag.as_deref(), to).await?
    } else {
        let part_size = part_size(source.size, settings.copy_part_size);
        copy_in_parts(
            core,
            from,
            &source,
            to,
            part_size,
            settings.copy_concurrency,
        )
        .await?
    };
    if listed && source.crc32c.is_none() {
        // The copy succeeded under `x-amz-copy-source-if-match` with the listed ETag: it is
        // that version, of the listed size.
        return Ok(WriteReceipt {
            size: source.size,
            stored_size: Some(source.size),
            checksum: copied.map(Checksum::Crc32c),
        });
    }
    // Not every store returns the copy's checksum: then ask it (one HEAD, which the engine
    // would otherwise spend on checking the size).
    let (copied, copied_size) = match copied {
        Some(crc) => (Some(crc), None),
        None if source.crc32c.is_some() => match core.s3_head(to).await? {
            Some(info) => (info.crc32c, Some(info.size)),
            None => (None, None),
        },
        None => (None, None),
    };
    if let (Some(want), Some(got)) = (source.crc32c, copied) {
        if want != got {
            let _ = core.s3_delete(to).await;
            return Err(Error::new(
                ErrorKind::Corrupted,
                format!("server-side copy has crc32c {got:08x}, the source {want:08x}"),
            )
            .with_operation("copy")
            .with_context("path", to)
            .temporary());
        }
    }
    Ok(WriteReceipt {
        size: source.size,
        stored_size: copied_size
            .or((source.crc32c.is_some() && source.crc32c == copied).then_some(source.size)),
        checksum: copied.map(Checksum::Crc32c),
    })
}

/// The part size of a parallel copy: the configured size, grown to fit 10 000 parts.
fn part_size(size: u64, configured: u64) -> u64 {
    configured.max(size.div_ceil(u64::from(MAX_PARTS)))
}

async fn copy_in_parts(
    core: &S3Core,
    from: &Location,
    source: &ObjectInfo,
    to: &Location,
    part_size: u64,
    concurrency: usize,
) -> Result<Option<u32>> {
    let upload_id = core.s3_create_multipart(to).await?;
    let parts = source.size.div_ceil(part_size);
    let etag = source.etag.as_deref();
    let result: Result<Vec<(i32, String, Option<u32>)>> = futures::stream::iter(0..parts)
        .map(|i| {
            let upload_id = upload_id.as_str();
            async move {
                let start = i * part_size;
                let end = (start + part_size).min(source.size);
                let number = i as i32 + 1;
                let (tag, crc) = core
                    .s3_upload_part_copy(from, etag, to, upload_id, number, start..end)
                    .await?;
                Ok((number, tag, crc))
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await;
    let completed = match result {
        Ok(parts) => core.s3_complete(to, &upload_id, parts, source.crc32c).await,
        Err(err) => Err(err),
    };
    if completed.is_err() {
        let _ = core.s3_abort(to, &upload_id).await;
    }
    completed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_parts_fit_in_ten_thousand() {
        assert_eq!(part_size(1 << 30, 32 << 20), 32 << 20);
        let huge = 5u64 << 40; // 5 TiB
        assert!(huge.div_ceil(part_size(huge, 32 << 20)) <= 10_000);
    }
}
