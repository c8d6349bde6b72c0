//! Retries with exponential backoff, for temporary errors only: a storage concern, used by
//! the copy engine around whole files and by backends around their own requests.
//!
//! The delay doubles from `base_delay` up to `max_delay`, with up to 25 % jitter. When the
//! retries run out the error is marked `Persistent` so that no outer layer retries it again.
//!
//! Inside a paced storage call ([`crate::transfer::throttle`]), a backend's own retries take their turn
//! from the endpoint's limiter before each attempt again, and report throttled answers to it,
//! so a store that says "slow down" sees fewer requests, not just later ones.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::transfer::throttle::{self, Ticket};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max_delay);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        capped + capped.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the retries run out; then the
    /// error is marked `Persistent`, so that no outer layer retries it again.
    pub async fn run<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.run_when(what, Error::is_temporary, attempt)
            .await
            .map_err(Error::persistent)
    }

    /// Runs `attempt` again while it fails with an error `retryable` accepts and retries
    /// remain (never one the server did not answer at all: [`Error::no_answer`]); the last
    /// error is returned as it is. For a backend's own, inner retries: its
    /// temporary errors stay temporary, so the engine may still retry the whole file.
    pub async fn run_when<T, F, Fut>(
        &self,
        what: &str,
        retryable: impl Fn(&Error) -> bool,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut tries = 0;
        let limiter = throttle::current();
        let mut ticket = Ticket::now();
        loop {
            let outcome = attempt().await;
            if let (Some(limiter), Err(err)) = (&limiter, &outcome) {
                if err.kind() == ErrorKind::RateLimited {
                    limiter.record(ticket, &outcome);
                }
            }
            match outcome {
                Err(err) if retryable(&err) && !err.is_no_answer() && tries < self.retries => {
                    let delay = self.delay(tries);
                    tracing::warn!(%err, attempt = tries + 1, ?delay, "retrying {what}");
                    tries += 1;
                    tokio::time::sleep(delay).await;
                    if let Some(limiter) = &limiter {
                        ticket = limiter.acquire().await;
                    }
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Retry;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn retries_temporary_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let value = fast(3)
            .run("op", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::new(ErrorKind::Unexpected, "flaky").temporary())
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!((value, calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test]
    async fn gives_up_and_marks_persistent() {
        let calls = AtomicU32::new(0);
        let err = fast(2)
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Unexpected, "down").temporary())
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(err.retry(), Retry::Persistent);
    }

    #[tokio::test]
    async fn run_when_retries_what_it_is_told_and_keeps_the_last_error_as_is() {
        // Attempts made, and the error returned, when every attempt fails with `kind`.
        let attempts = |kind: ErrorKind| async move {
            let calls = AtomicU32::new(0);
            let err = fast(2)
                .run_when(
                    "op",
                    |e| e.kind() == ErrorKind::ConditionNotMatch,
                    || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Err::<(), _>(Error::new(kind, "failed").temporary())
                    },
                )
                .await
                .unwrap_err();
            (calls.load(Ordering::SeqCst), err)
        };
        let (calls, err) = attempts(ErrorKind::ConditionNotMatch).await;
        assert_eq!(calls, 3);
        assert_eq!(err.retry(), Retry::Temporary);
        let (calls, _) = attempts(ErrorKind::Unexpected).await;
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let err = fast(5)
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::NotFound, "gone"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn requests_never_answered_are_not_sent_again_but_cut_streams_are() {
        let count = |error: fn() -> Error| async move {
            let calls = AtomicU32::new(0);
            let err = fast(5)
                .run("op", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(error())
                })
                .await
                .unwrap_err();
            (calls.load(Ordering::SeqCst), err)
        };
        let (calls, err) = count(|| {
            Error::new(ErrorKind::Unexpected, "no answer")
                .temporary()
                .no_answer()
        })
        .await;
        assert_eq!(calls, 1);
        assert!(err.is_store_unreachable());
        let (calls, _) = count(|| Error::new(ErrorKind::Unexpected, "stalled").temporary()).await;
        assert_eq!(calls, 6);
    }

    #[test]
    fn delays_grow_and_cap() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(0) >= Duration::from_millis(200));
        assert!(policy.delay(3) >= Duration::from_millis(1600));
        assert!(policy.delay(30) <= Duration::from_millis(12_500));
    }
}
