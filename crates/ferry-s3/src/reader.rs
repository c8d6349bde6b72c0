//! Reads: ranged GETs streamed as they arrive, and `read_into`, which fills the engine's lent
//! (pooled) buffer straight from the response body, so a download never holds more than that
//! buffer. The engine issues parallel ranged reads of one object for large files.

use std::ops::Range;

use bytes::Bytes;
use ferry_core::storage::ByteStream;
use ferry_core::watchdog::idle_stream;
use ferry_core::{Error, ErrorKind, Location, Result};
use futures::StreamExt;

use crate::core::S3Core;

fn body_error(location: &Location, err: impl std::error::Error + Send + Sync + 'static) -> Error {
    // A body that breaks off mid-way (reset, stalled stream) is worth retrying.
    Error::new(ErrorKind::Unexpected, "the response body broke off")
        .with_operation("read")
        .with_context("path", location)
        .with_context("backend", "s3")
        .with_source(err)
        .temporary()
}

/// A stream of the bytes of `range` (or all) of `location`, clamped to the object's end. The
/// range is not empty (the backend answers an empty one without a GET).
pub(crate) async fn read(
    core: &S3Core,
    location: &Location,
    range: Option<Range<u64>>,
) -> Result<ByteStream> {
    let Some(body) = core.s3_get(location, range).await? else {
        return Ok(futures::stream::empty().boxed());
    };
    let wait = core.wait(format!("the body of {location}"));
    let location = location.clone();
    let stream = futures::stream::unfold(Some(body), move |body| {
        let location = location.clone();
        async move {
            let mut body = body?;
            match body.next().await {
                None => None,
                Some(Ok(chunk)) => Some((Ok::<Bytes, Error>(chunk), Some(body))),
                Some(Err(err)) => Some((Err(body_error(&location, err)), None)),
            }
        }
    });
    // Each wait for the next chunk is bounded by the idle timeout.
    Ok(idle_stream(stream.boxed(), wait))
}

/// Reads up to `len` bytes from `offset` into `buffer` (replacing its contents) with one
/// ranged GET, appending the body's chunks as they arrive, so the buffer is never zeroed first.
/// (Splitting a part into concurrent GETs was measured: no gain on a server that is CPU-bound,
/// and twice the requests.)
pub(crate) async fn read_into(
    core: &S3Core,
    location: &Location,
    offset: u64,
    len: usize,
    mut buffer: Vec<u8>,
) -> Result<Vec<u8>> {
    buffer.clear();
    if len == 0 {
        return Ok(buffer);
    }
    let end = offset + len as u64;
    let Some(mut body) = core.s3_get(location, Some(offset..end)).await? else {
        return Ok(buffer);
    };
    let wait = core.wait(format!("the body of {location}"));
    // Each wait for the next chunk is bounded by the idle timeout.
    while let Some(chunk) = wait.run(None, async { Ok(body.next().await) }).await? {
        let chunk = chunk.map_err(|e| body_error(location, e))?;
        if chunk.len() > len - buffer.len() {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("the server sent more than the {len} bytes asked for at offset {offset}"),
            )
            .with_operation("read")
            .with_context("path", location));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer)
}
