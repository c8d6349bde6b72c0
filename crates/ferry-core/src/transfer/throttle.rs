//! Adaptive request pacing per endpoint: when a store says "slow down", ferry sends fewer
//! requests a second to it, then creeps back up (AIMD, as TCP does with its window).
//!
//! - [`AdaptiveLimiter`] paces requests to one endpoint. Until the endpoint first answers
//!   [`ErrorKind::RateLimited`] (S3's `SlowDown`/503, GCS's 429/503) it does not pace at all.
//!   Then it allows [`DECREASE`] × the rate the requests were being sent at, cuts again by
//!   [`DECREASE`] at each further throttled answer to a request sent *after* the last cut (the
//!   answers to requests already in flight tell nothing new) and at least [`CUT_INTERVAL`]
//!   after it, and adds [`INCREASE`] of the rate at the last cut per second of successful
//!   requests.
//! - [`ThrottledStorage`] wraps a [`Storage`]: every request-making call (and every part of a
//!   multipart upload) first waits for its turn, then reports how it went. One limiter per
//!   store identity, for the whole process ([`limiter_for`]): both sides of an S3→S3 copy and
//!   every copy of a migration share it.
//! - A backend's own inner retries ([`crate::retry::RetryPolicy::run_when`], used by GCS for
//!   each request) wait for their turn and report throttled answers too, through the limiter
//!   of the call they run in (a task-local set by [`ThrottledStorage`]).
//!
//! The engine wraps both endpoints of a copy unless [`super::CopyOptions::adaptive_throttle`]
//! is off (the CLI's `FERRY_ADAPTIVE_THROTTLE=off` test hook, to show what a fixed-concurrency
//! client does). Memory: one small state per endpoint.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::Instant;

use crate::checksum::{Checksum, ChecksumKind};
use crate::error::{ErrorKind, Result};
use crate::location::Location;
use crate::storage::{
    ByteStream, Capabilities, Entry, ListStream, MultipartUpload, ObjectWriter, PartReceipt,
    Storage, WriteOptions, WriteReceipt,
};

/// The factor a throttled answer cuts the allowed rate by.
pub const DECREASE: f64 = 0.7;
/// The allowed rate grows by this share of the rate at the last cut per second of successes.
pub const INCREASE: f64 = 0.1;
/// At most one cut per this long: a store's throttling reacts to a rate over about a second
/// (token buckets), so answers within this of a cut still reflect the rate before it.
pub const CUT_INTERVAL: Duration = Duration::from_millis(200);
/// The allowed rate never drops below this many requests a second.
pub const MIN_RATE: f64 = 1.0;

/// When a request was allowed to start: a throttled answer to it cuts the rate only if it
/// was sent after the last cut.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Instant);

impl Ticket {
    /// A ticket for a request starting now without waiting (the first attempt of a request
    /// whose turn was already taken by the caller).
    pub fn now() -> Ticket {
        Ticket(Instant::now())
    }
}

/// Paces the requests to one endpoint (see the module doc).
#[derive(Debug)]
pub struct AdaptiveLimiter {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests a second allowed; `None` until the first throttled answer.
    rate: Option<f64>,
    /// The earliest start of the next request, when pacing.
    next: Instant,
    /// When the rate was last cut, and to what.
    last_cut: Option<(Instant, f64)>,
    /// Requests started in the current measuring window, and its start.
    window: (Instant, u32),
    /// The send rate measured over the last full window.
    measured: Option<f64>,
    /// Throttled answers seen, and cuts made.
    throttled: u64,
    cuts: u64,
}

impl Default for AdaptiveLimiter {
    fn default() -> Self {
        AdaptiveLimiter::new()
    }
}

impl AdaptiveLimiter {
    /// A limiter that does not pace until the endpoint first throttles.
    pub fn new() -> AdaptiveLimiter {
        let now = Instant::now();
        AdaptiveLimiter {
            state: Mutex::new(State {
                rate: None,
                next: now,
                last_cut: None,
                window: (now, 0),
                measured: None,
                throttled: 0,
                cuts: 0,
            }),
        }
    }

    /// Waits for the next request's turn.
    pub async fn acquire(&self) -> Ticket {
        let start = {
            let mut state = self.state.lock().expect("limiter state");
            let now = Instant::now();
            state.count_send(now);
            match state.rate {
                None => now,
                Some(rate) => {
                    let start = state.next.max(now);
                    state.next = start + Duration::from_secs_f64(1.0 / rate);
                    start
                }
            }
        };
        tokio::time::sleep_until(start).await;
        Ticket(start)
    }

    /// Learns from the outcome of the request `ticket` let start.
    pub fn record<T>(&self, ticket: Ticket, outcome: &Result<T>) {
        match outcome {
            Ok(_) => self.succeeded(),
            Err(err) if err.kind() == ErrorKind::RateLimited => self.throttled(ticket),
            Err(_) => {}
        }
    }

    fn succeeded(&self) {
        let mut state = self.state.lock().expect("limiter state");
        if let (Some(rate), Some((_, at_cut))) = (state.rate, state.last_cut) {
            // INCREASE × rate-at-cut per second of requests at the current rate.
            state.rate = Some(rate + INCREASE * at_cut.max(MIN_RATE) / rate);
        }
    }

    fn throttled(&self, ticket: Ticket) {
        let mut state = self.state.lock().expect("limiter state");
        state.throttled += 1;
        let now = Instant::now();
        if state
            .last_cut
            .is_some_and(|(at, _)| ticket.0 < at || now.duration_since(at) < CUT_INTERVAL)
        {
            return; // sent before the last cut, or too soon after it: already accounted for
        }
        let sending = state.measured_rate(now);
        let base = match state.rate {
            Some(rate) => rate.min(sending.max(MIN_RATE)),
            None => sending,
        };
        let rate = (base * DECREASE).max(MIN_RATE);
        tracing::debug!(rate, "the store throttles: pacing requests");
        state.rate = Some(rate);
        state.last_cut = Some((now, rate));
        state.next = state.next.max(now);
        state.cuts += 1;
    }

    /// The requests a second currently allowed (`None`: not pacing).
    pub fn rate(&self) -> Option<f64> {
        self.state.lock().expect("limiter state").rate
    }

    /// Throttled answers seen and rate cuts made so far.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.state.lock().expect("limiter state");
        (state.throttled, state.cuts)
    }
}

impl State {
    fn count_send(&mut self, now: Instant) {
        let (start, count) = self.window;
        let elapsed = now.duration_since(start).as_secs_f64();
        if elapsed >= 1.0 {
            self.measured = Some(f64::from(count) / elapsed);
            self.window = (now, 1);
        } else {
            self.window.1 += 1;
        }
    }

    /// Requests a second sent lately.
    fn measured_rate(&self, now: Instant) -> f64 {
        let (start, count) = self.window;
        let elapsed = now.duration_since(start).as_secs_f64();
        let current = f64::from(count) / elapsed.max(0.25);
        match self.measured {
            Some(last) if elapsed < 0.25 => last,
            _ => current,
        }
        .max(MIN_RATE)
    }
}

/// The limiter of the endpoint with this store identity, shared by the whole process.
pub fn limiter_for(identity: &str) -> Arc<AdaptiveLimiter> {
    static LIMITERS: OnceLock<Mutex<HashMap<String, Arc<AdaptiveLimiter>>>> = OnceLock::new();
    let mut limiters = LIMITERS
        .get_or_init(Default::default)
        .lock()
        .expect("limiters");
    limiters.entry(identity.to_string()).or_default().clone()
}

tokio::task_local! {
    /// The limiter of the storage call running in this task, for the backend's inner retries.
    static CURRENT: Arc<AdaptiveLimiter>;
}

/// The limiter of the storage call this task runs in, if any (see [`ThrottledStorage`]).
pub fn current() -> Option<Arc<AdaptiveLimiter>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// A [`Storage`] whose requests are paced by its endpoint's [`AdaptiveLimiter`].
#[derive(Debug)]
pub struct ThrottledStorage {
    inner: Arc<dyn Storage>,
    limiter: Arc<AdaptiveLimiter>,
}

impl ThrottledStorage {
    /// Wraps `inner` with the limiter of its identity ([`limiter_for`]).
    pub fn wrap(inner: Arc<dyn Storage>) -> Arc<dyn Storage> {
        let limiter = limiter_for(inner.identity());
        Arc::new(ThrottledStorage { inner, limiter })
    }

    /// The limiter pacing this store.
    pub fn limiter(&self) -> &Arc<AdaptiveLimiter> {
        &self.limiter
    }
}

/// Runs one request: waits for its turn, runs it with `limiter` as the task's current one,
/// and reports the outcome.
async fn paced<T>(
    limiter: &Arc<AdaptiveLimiter>,
    request: impl Future<Output = Result<T>>,
) -> Result<T> {
    let ticket = limiter.acquire().await;
    let outcome = CURRENT.scope(limiter.clone(), request).await;
    limiter.record(ticket, &outcome);
    outcome
}

#[async_trait]
impl Storage for ThrottledStorage {
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
        paced(&self.limiter, self.inner.stat(location)).await
    }
    fn list(&self, prefix: &Location) -> ListStream {
        self.inner.list(prefix)
    }
    fn list_dir(&self, dir: &Location) -> ListStream {
        self.inner.list_dir(dir)
    }
    async fn read(&self, location: &Location, range: Option<Range<u64>>) -> Result<ByteStream> {
        paced(&self.limiter, self.inner.read(location, range)).await
    }
    async fn read_into(
        &self,
        location: &Location,
        offset: u64,
        len: usize,
        buffer: Vec<u8>,
    ) -> Result<Vec<u8>> {
        paced(
            &self.limiter,
            self.inner.read_into(location, offset, len, buffer),
        )
        .await
    }
    async fn write(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Box<dyn ObjectWriter>> {
        let writer = paced(&self.limiter, self.inner.write(location, options)).await?;
        Ok(Box::new(ThrottledWriter {
            inner: writer,
            limiter: self.limiter.clone(),
        }))
    }
    async fn put(
        &self,
        location: &Location,
        data: Bytes,
        options: &WriteOptions,
    ) -> Result<WriteReceipt> {
        paced(&self.limiter, self.inner.put(location, data, options)).await
    }
    async fn start_multipart(
        &self,
        location: &Location,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let upload = paced(&self.limiter, self.inner.start_multipart(location, options)).await?;
        Ok(Arc::new(ThrottledUpload {
            inner: upload,
            limiter: self.limiter.clone(),
        }))
    }
    async fn resume_multipart(
        &self,
        location: &Location,
        token: &str,
        options: &WriteOptions,
    ) -> Result<Arc<dyn MultipartUpload>> {
        let upload = paced(
            &self.limiter,
            self.inner.resume_multipart(location, token, options),
        )
        .await?;
        Ok(Arc::new(ThrottledUpload {
            inner: upload,
            limiter: self.limiter.clone(),
        }))
    }
    async fn delete(&self, location: &Location) -> Result<()> {
        paced(&self.limiter, self.inner.delete(location)).await
    }
    async fn mkdirs(&self, location: &Location) -> Result<()> {
        paced(&self.limiter, self.inner.mkdirs(location)).await
    }
    async fn copy(&self, from: &Entry, to: &Location) -> Result<WriteReceipt> {
        paced(&self.limiter, self.inner.copy(from, to)).await
    }
    async fn rename(&self, from: &Location, to: &Location) -> Result<()> {
        paced(&self.limiter, self.inner.rename(from, to)).await
    }
    async fn checksum(&self, location: &Location, kind: ChecksumKind) -> Result<Option<Checksum>> {
        paced(&self.limiter, self.inner.checksum(location, kind)).await
    }
    async fn set_modified(&self, location: &Location, modified: SystemTime) -> Result<()> {
        paced(&self.limiter, self.inner.set_modified(location, modified)).await
    }
    async fn confirm_unchanged(&self, entry: &Entry) -> Result<()> {
        paced(&self.limiter, self.inner.confirm_unchanged(entry)).await
    }
    async fn check_container(&self, location: &Location) -> Result<()> {
        paced(&self.limiter, self.inner.check_container(location)).await
    }
}

/// A streaming writer whose commit is paced; its writes report throttling.
struct ThrottledWriter {
    inner: Box<dyn ObjectWriter>,
    limiter: Arc<AdaptiveLimiter>,
}

#[async_trait]
impl ObjectWriter for ThrottledWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        // Most writes only buffer: report, but do not wait for a turn.
        let ticket = Ticket::now();
        let outcome = CURRENT
            .scope(self.limiter.clone(), self.inner.write(data))
            .await;
        if outcome.is_err() {
            self.limiter.record(ticket, &outcome);
        }
        outcome
    }
    async fn commit(self: Box<Self>) -> Result<WriteReceipt> {
        let ThrottledWriter { inner, limiter } = *self;
        paced(&limiter, inner.commit()).await
    }
    async fn abort(self: Box<Self>) -> Result<()> {
        self.inner.abort().await
    }
}

/// A multipart upload whose parts and completion are paced.
struct ThrottledUpload {
    inner: Arc<dyn MultipartUpload>,
    limiter: Arc<AdaptiveLimiter>,
}

#[async_trait]
impl MultipartUpload for ThrottledUpload {
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
        paced(
            &self.limiter,
            self.inner.put_part(index, offset, data, crc32c),
        )
        .await
    }
    async fn complete(&self, parts: Vec<PartReceipt>) -> Result<WriteReceipt> {
        paced(&self.limiter, self.inner.complete(parts)).await
    }
    async fn abort(&self) -> Result<()> {
        paced(&self.limiter, self.inner.abort()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn slow_down() -> Result<()> {
        Err(Error::new(ErrorKind::RateLimited, "slow down"))
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_pace_until_throttled() {
        let limiter = AdaptiveLimiter::new();
        let started = tokio::time::Instant::now();
        for _ in 0..1000 {
            let ticket = limiter.acquire().await;
            limiter.record(ticket, &Ok(()));
        }
        assert_eq!(limiter.rate(), None);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_answer_cuts_the_rate_once_per_round() {
        let limiter = AdaptiveLimiter::new();
        // 100 requests in flight at once, all throttled: one cut, not a hundred.
        let mut tickets = Vec::new();
        for _ in 0..100 {
            tickets.push(limiter.acquire().await);
        }
        tokio::time::advance(Duration::from_millis(500)).await;
        for ticket in tickets {
            limiter.record(ticket, &slow_down());
        }
        let first = limiter.rate().expect("pacing after a throttled answer");
        // 100 requests in 0.5 s: 200 a second, cut to 140.
        assert!((first - 200.0 * DECREASE).abs() < 1.0, "{first}");
        assert_eq!(limiter.counts(), (100, 1));
        // A request sent after the cut but too soon does not cut again; one later does.
        tokio::time::advance(Duration::from_millis(1)).await;
        let ticket = limiter.acquire().await;
        limiter.record(ticket, &slow_down());
        assert_eq!(limiter.rate(), Some(first));
        tokio::time::advance(CUT_INTERVAL).await;
        let ticket = limiter.acquire().await;
        limiter.record(ticket, &slow_down());
        let second = limiter.rate().unwrap();
        assert_eq!(limiter.counts(), (102, 2));
        assert!(second <= first * DECREASE + 1.0, "{second}");
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_spaces_requests_and_successes_raise_the_rate() {
        let limiter = AdaptiveLimiter::new();
        let ticket = limiter.acquire().await;
        tokio::time::advance(Duration::from_millis(100)).await;
        limiter.record(ticket, &slow_down());
        let rate = limiter.rate().unwrap();
        let started = tokio::time::Instant::now();
        for _ in 0..20 {
            let ticket = limiter.acquire().await;
            limiter.record(ticket, &Ok(()));
        }
        // 20 paced requests take about 19 intervals at a rate no lower than the cut one.
        let took = started.elapsed().as_secs_f64();
        assert!(took > 10.0 / rate, "{took} s at {rate}/s");
        assert!(limiter.rate().unwrap() > rate);
    }

    #[tokio::test]
    async fn inner_calls_see_the_current_limiter() {
        let limiter = Arc::new(AdaptiveLimiter::new());
        assert!(current().is_none());
        let seen = paced(&limiter, async { Ok(current().is_some()) })
            .await
            .unwrap();
        assert!(seen);
    }

    #[test]
    fn one_limiter_per_identity() {
        assert!(Arc::ptr_eq(&limiter_for("s3:a"), &limiter_for("s3:a")));
        assert!(!Arc::ptr_eq(&limiter_for("s3:a"), &limiter_for("s3:b")));
    }
}
