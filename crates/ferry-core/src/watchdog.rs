//! Bounded waits on the network: every backend wraps what it waits for from a server (an
//! answer, the next chunk of a body, the server taking the next chunk of an upload) in an
//! **idle** timeout, so a server that accepts a connection and goes silent fails the request
//! in bounded time, while a slow transfer that keeps flowing never does.
//!
//! The timer measures silence, not total time: it restarts on every sign of progress — an
//! [`Activity::touch`] (an upload body handing the next chunk to the connection) or, for
//! [`idle_stream`], every chunk that arrives. After a few seconds of silence a one-time
//! warning says what is being waited for and from where (`still waiting for … from … (N s)`);
//! once the idle timeout passes the wait fails with a temporary error naming the endpoint, so
//! the engine's retries apply.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::StreamExt;

use crate::error::{Error, ErrorKind};
use crate::storage::ByteStream;

/// The longest silence before the one-time "still waiting" warning.
pub const WARN_AFTER: Duration = Duration::from_secs(5);

/// Progress of one request, shared between the waiter and whatever sees progress (an upload
/// body). Cheap to touch from any thread.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    last_ms: AtomicU64,
    extra_ms: AtomicU64,
}

impl Activity {
    /// A new tracker; now counts as the last activity.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            extra_ms: AtomicU64::new(0),
        })
    }

    /// Allows `extra` silence on top of the idle timeout from now on: for an upload whose last
    /// bytes were handed to the connection but may still sit in the kernel's send buffer, which
    /// drains at the link's pace without the client seeing it.
    pub fn allow_extra(&self, extra: Duration) {
        self.extra_ms
            .store(extra.as_millis() as u64, Ordering::Relaxed);
    }

    fn extra(&self) -> Duration {
        Duration::from_millis(self.extra_ms.load(Ordering::Relaxed))
    }

    /// Records progress now: the idle timer restarts.
    pub fn touch(&self) {
        let now = self.base.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// How long since the last progress.
    pub fn idle(&self) -> Duration {
        self.base
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// What is being waited for, from where, and for how long silence is allowed.
#[derive(Debug, Clone)]
pub struct Wait {
    /// What is awaited, for messages (`the answer to HEAD s3://b/k`).
    pub what: String,
    /// The server (`http://host:port`, `hdfs://nn:8020`).
    pub endpoint: String,
    /// The idle timeout; `None`: no limit (the warning is still given).
    pub idle: Option<Duration>,
    /// The option that sets [`Wait::idle`], named in the error (`read_timeout`).
    pub option: &'static str,
}

impl Wait {
    /// The error of a wait that saw `silent` of silence.
    pub fn stalled(&self, silent: Duration) -> Error {
        Error::new(
            ErrorKind::Unexpected,
            format!(
                "no answer from {} for {:.0} s while waiting for {} (the connection stalled; \
                 for a slow store raise -o {}=SECONDS)",
                self.endpoint,
                silent.as_secs_f64(),
                self.what,
                self.option
            ),
        )
        .temporary()
    }

    fn warn_after(&self) -> Duration {
        match self.idle {
            Some(idle) if idle < 2 * WARN_AFTER => idle / 2,
            _ => WARN_AFTER,
        }
    }

    /// Runs `fut`, failing with [`Wait::stalled`] once `activity` (or, without one, the
    /// whole wait) has been silent for the idle timeout.
    pub async fn run<T>(
        &self,
        activity: Option<&Activity>,
        fut: impl Future<Output = crate::Result<T>>,
    ) -> crate::Result<T> {
        let own;
        let activity = match activity {
            Some(a) => a,
            None => {
                own = Activity::new();
                &own
            }
        };
        let warn_after = self.warn_after();
        let mut warned = false;
        tokio::pin!(fut);
        loop {
            let idle = activity.idle();
            let limit = self.idle.map(|limit| limit + activity.extra());
            if let Some(limit) = limit {
                if idle >= limit {
                    return Err(self.stalled(idle));
                }
            }
            if !warned && idle >= warn_after {
                warned = true;
                tracing::warn!(
                    "still waiting for {} from {} ({} s)",
                    self.what,
                    self.endpoint,
                    idle.as_secs()
                );
            }
            let next_check = match limit {
                Some(limit) if warned => limit - idle,
                Some(limit) => (limit - idle).min(warn_after.saturating_sub(idle)),
                None if warned => Duration::from_secs(3600),
                None => warn_after.saturating_sub(idle),
            }
            .max(Duration::from_millis(10));
            tokio::select! {
                out = &mut fut => return out,
                _ = tokio::time::sleep(next_check) => {}
            }
        }
    }
}

/// `stream` with every wait for its next chunk bounded by `wait` (the timer restarts on each
/// chunk): a stalled body fails, a slow one flows on.
pub fn idle_stream(stream: ByteStream, wait: Wait) -> ByteStream {
    idle_items(stream, wait)
}

/// [`idle_stream`] for a stream of anything (a listing's entries).
pub fn idle_items<T: Send + 'static>(
    stream: BoxStream<'static, crate::Result<T>>,
    wait: Wait,
) -> BoxStream<'static, crate::Result<T>> {
    futures::stream::unfold(Some((stream, wait)), |state| async move {
        let (mut stream, wait) = state?;
        let next = wait.run(None, async { Ok(stream.next().await) }).await;
        match next {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some((stream, wait)))),
            Ok(Some(Err(err))) => Some((Err(err), None)),
            Ok(None) => None,
            Err(stalled) => Some((Err(stalled), None)),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn wait(idle_ms: u64) -> Wait {
        Wait {
            what: "a test answer".into(),
            endpoint: "http://127.0.0.1:1".into(),
            idle: Some(Duration::from_millis(idle_ms)),
            option: "read_timeout",
        }
    }

    #[tokio::test]
    async fn silence_fails_and_progress_keeps_it_alive() {
        let started = Instant::now();
        let err = wait(200)
            .run(None, std::future::pending::<crate::Result<()>>())
            .await
            .unwrap_err();
        assert!(err.is_temporary());
        assert!(err.to_string().contains("http://127.0.0.1:1"), "{err}");
        assert!(err.to_string().contains("read_timeout"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));

        // 1 s of work, touched every 50 ms, under a 200 ms idle timeout: finishes.
        let activity = Activity::new();
        let toucher = activity.clone();
        let work = async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                toucher.touch();
            }
            Ok(7)
        };
        assert_eq!(wait(200).run(Some(&activity), work).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_trickling_stream_flows_and_a_stalled_one_fails() {
        let slow = futures::stream::unfold(0, |n| async move {
            (n < 10)
                .then_some(n)
                .map(|n| (Ok(Bytes::from_static(b"x")), n + 1))
        })
        .then(|chunk| async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            chunk
        })
        .boxed();
        let got: Vec<_> = idle_stream(slow, wait(200)).collect().await;
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|c| c.is_ok()));

        let stalled = futures::stream::once(async { Ok(Bytes::from_static(b"x")) })
            .chain(futures::stream::pending())
            .boxed();
        let got: Vec<_> = idle_stream(stalled, wait(200)).collect().await;
        assert_eq!(got.len(), 2);
        assert!(got[1].as_ref().unwrap_err().is_temporary());
    }
}
