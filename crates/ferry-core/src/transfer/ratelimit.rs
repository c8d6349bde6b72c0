//! `--bwlimit`: one token bucket shared by every transfer of a run.
//!
//! Each grant reserves `bytes / rate` seconds of a virtual clock and sleeps until its slot;
//! a small burst (100 ms worth) is allowed so that idle time is not lost entirely.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A byte-rate limiter.
#[derive(Debug)]
pub struct RateLimiter {
    bytes_per_second: f64,
    next_free: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter at `bytes_per_second` (must be > 0: the engine treats a limit of 0 as no
    /// limit and never builds a limiter for it).
    pub fn new(bytes_per_second: u64) -> RateLimiter {
        RateLimiter {
            bytes_per_second: bytes_per_second.max(1) as f64,
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `bytes` may be sent.
    pub async fn acquire(&self, bytes: u64) {
        let wait = {
            let mut next = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let burst = Duration::from_millis(100);
            let start = (*next).max(now.checked_sub(burst).unwrap_or(now));
            *next = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
            start.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_to_the_rate() {
        let limiter = RateLimiter::new(1000);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire(1000).await;
        }
        // 5000 bytes at 1000 B/s: the fifth grant starts after ~4 s (less the 100 ms burst).
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(3800), "{elapsed:?}");
    }
}
