//! A pool of part buffers, so a copy allocates its buffers once and reuses them, and the one
//! door through which the engine asks the byte budget for memory.
//!
//! Without the pool, every part allocated a fresh multi-MiB buffer on whichever thread read
//! it, and the allocator's per-thread caches kept the freed ones: RSS drifted to 3–4× the byte
//! budget (measured: 230 MiB with a 64 MiB budget). Pooled buffers are handed to backends as
//! [`Bytes`] whose owner returns the memory to the pool when the last reference drops.
//!
//! **Every buffer holds budget, idle ones too.** [`BufferPool::take`] grants a buffer's
//! footprint (a whole pooled buffer for pooled sizes, however little of it is used). The
//! engine holds the grant until the write of the buffer returns; a pooled buffer the store has
//! let go of by then goes back to the pool with the grant, and an idle buffer keeps it. So buffers in use, idle buffers and small unpooled buffers together
//! stay within the budget. (Before, idle buffers were outside it, and a mix of large and
//! small files could hold the budget plus a budget's worth of idle buffers.) A request that
//! finds the budget short first frees idle buffers, and while a request for unpooled memory
//! waits no returned buffer is kept; a request for a pooled buffer takes the first one that
//! comes back, or new budget, whichever comes first. So budget never sits idle while a copy
//! waits for it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use tokio::sync::Notify;

use super::budget::{BudgetGrant, ByteBudget};

/// Buffers smaller than this are allocated normally (allocators handle them well).
const MIN_POOLED: usize = 1024 * 1024;

/// A pool of equally sized buffers over a byte budget.
#[derive(Debug, Clone)]
pub struct BufferPool {
    shared: Arc<Mutex<Idle>>,
    /// Signalled when a buffer goes idle, for requests waiting for a pooled buffer.
    returned: Arc<Notify>,
    budget: ByteBudget,
    capacity: usize,
    max_idle: usize,
}

/// Idle buffers with their grants, and how many requests for unpooled memory wait for budget.
#[derive(Debug, Default)]
struct Idle {
    buffers: Vec<(Vec<u8>, BudgetGrant)>,
    starving: usize,
}

impl BufferPool {
    /// A pool of buffers of `capacity` bytes within `budget`, keeping at most `max_idle` idle.
    pub fn new(budget: ByteBudget, capacity: usize, max_idle: usize) -> BufferPool {
        BufferPool {
            shared: Arc::default(),
            returned: Arc::default(),
            budget,
            capacity,
            max_idle,
        }
    }

    /// The budget this pool draws on.
    pub fn budget(&self) -> &ByteBudget {
        &self.budget
    }

    fn pooled(&self, len: usize) -> bool {
        (MIN_POOLED..=self.capacity).contains(&len)
    }

    /// Waits until `bytes` of the budget are granted; frees idle buffers first if it is short.
    pub async fn grant(&self, bytes: u64) -> BudgetGrant {
        loop {
            if let Some(grant) = self.budget.try_acquire(bytes) {
                return grant;
            }
            // Free idle buffers one at a time: each frees a buffer's worth of budget.
            let Some(freed) = self.lock().buffers.pop() else {
                break;
            };
            drop(freed);
        }
        let freed = {
            let mut idle = self.lock();
            idle.starving += 1;
            std::mem::take(&mut idle.buffers)
        };
        drop(freed);
        // Counted out again even if this wait is cancelled.
        let _starving = Starving(self);
        self.budget.acquire(bytes).await
    }

    /// A buffer with room for `len` bytes (its length and contents unspecified: a reused
    /// buffer keeps what it held, so it is never zeroed again) with the budget it takes: a
    /// whole pooled buffer's worth for pooled sizes (an idle one is reused with its grant), else
    /// `len`. Waits for budget.
    pub async fn take(&self, len: usize) -> PartBuffer {
        if !self.pooled(len) {
            let grant = self.grant(len as u64).await;
            return PartBuffer {
                buffer: Vec::with_capacity(len),
                grant,
            };
        }
        // An idle buffer (with its grant), else a new one once its budget is free, whichever
        // comes first: waiting for budget alone would let returned buffers sit idle.
        let capacity = self.capacity;
        let (buffer, grant) = loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(idle) = self.lock().buffers.pop() {
                break idle;
            }
            tokio::select! {
                grant = self.budget.acquire(capacity as u64) => {
                    break (Vec::with_capacity(capacity), grant);
                }
                () = &mut returned => {}
            }
        };
        PartBuffer { buffer, grant }
    }

    /// Wraps a filled buffer as `Bytes` for a write, and returns the guard of its grant, which
    /// the caller holds until the write returns. A pooled buffer returns to the pool when its
    /// last reference drops: with the grant, if the guard is still held then (the store was
    /// done with the data before the write returned, the usual case); if the store keeps the
    /// data longer, the guard's drop releases the grant, so no store can hold budget.
    pub fn freeze(&self, buffer: Vec<u8>, grant: BudgetGrant) -> (Bytes, GrantGuard) {
        let slot = Arc::new(Mutex::new(Some(grant)));
        let guard = GrantGuard { slot: slot.clone() };
        if buffer.capacity() != self.capacity {
            return (Bytes::from(buffer), guard);
        }
        let bytes = Bytes::from_owner(Pooled {
            buffer,
            slot,
            pool: self.clone(),
        });
        (bytes, guard)
    }

    /// Idle buffers held now.
    pub fn idle(&self) -> usize {
        self.lock().buffers.len()
    }

    /// Keeps a returned buffer idle, with a grant for it (its own, or one taken now if the
    /// budget has room), unless the pool is full or someone waits for budget; otherwise frees it.
    fn give_back(&self, buffer: Vec<u8>, grant: Option<BudgetGrant>) {
        let mut idle = self.lock();
        if idle.starving > 0 || idle.buffers.len() >= self.max_idle {
            return;
        }
        let grant = grant.or_else(|| self.budget.try_acquire(self.capacity as u64));
        if let Some(grant) = grant {
            idle.buffers.push((buffer, grant));
            drop(idle);
            self.returned.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request for unpooled memory waiting for budget; counted out when dropped.
struct Starving<'a>(&'a BufferPool);

impl Drop for Starving<'_> {
    fn drop(&mut self) {
        self.0.lock().starving -= 1;
    }
}

/// A buffer and the budget granted for it.
#[derive(Debug)]
pub struct PartBuffer {
    /// The buffer: room for the bytes asked for, any length and contents.
    pub buffer: Vec<u8>,
    /// The budget it holds.
    pub grant: BudgetGrant,
}

/// Holds a buffer's grant while a write uses the buffer; see [`BufferPool::freeze`].
#[derive(Debug)]
pub struct GrantGuard {
    slot: Arc<Mutex<Option<BudgetGrant>>>,
}

impl Drop for GrantGuard {
    fn drop(&mut self) {
        drop(take_grant(&self.slot));
    }
}

fn take_grant(slot: &Mutex<Option<BudgetGrant>>) -> Option<BudgetGrant> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

struct Pooled {
    buffer: Vec<u8>,
    slot: Arc<Mutex<Option<BudgetGrant>>>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let grant = take_grant(&self.slot);
        self.pool.give_back(std::mem::take(&mut self.buffer), grant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIB: usize = 1 << 20;

    fn pool(budget_mib: u64, capacity: usize, max_idle: usize) -> BufferPool {
        BufferPool::new(ByteBudget::new(budget_mib << 20), capacity, max_idle)
    }

    /// `part` written by a store that is done with the data when the write returns: the data
    /// drops first, then the guard.
    fn written(pool: &BufferPool, part: PartBuffer) {
        let (data, guard) = pool.freeze(part.buffer, part.grant);
        drop(data);
        drop(guard);
    }

    /// Asks for `len` bytes while `held` takes the whole budget, checks that the request waits,
    /// writes `held` and returns what the request then got.
    async fn take_after(pool: &BufferPool, held: PartBuffer, len: usize) -> PartBuffer {
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.take(len).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the budget is all out");
        written(pool, held);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the returned buffer's budget goes to the waiter")
            .unwrap()
    }

    #[tokio::test]
    async fn buffers_return_with_their_grant_and_are_reused() {
        let pool = pool(8, 2 * MIB, 2);
        let PartBuffer { mut buffer, grant } = pool.take(2 * MIB).await;
        assert!(buffer.capacity() >= 2 * MIB);
        buffer.resize(2 * MIB, 7); // as a read fills it
        let ptr = buffer.as_ptr();
        let (data, guard) = pool.freeze(buffer, grant);
        let clone = data.clone();
        drop(data);
        assert_eq!(pool.idle(), 0, "still referenced");
        drop(clone);
        drop(guard);
        assert_eq!(pool.idle(), 1);
        let again = pool.take(MIB).await;
        assert_eq!(again.buffer.as_ptr(), ptr, "the same memory is reused");
        assert!(
            again.buffer.len() == 2 * MIB && again.buffer.iter().all(|&b| b == 7),
            "a reused buffer is handed out as it was, not zeroed again"
        );
        assert_eq!(pool.budget().peak(), 2 << 20, "reuse takes no new budget");
    }

    #[tokio::test]
    async fn small_buffers_bypass_the_pool_but_hold_budget() {
        let pool = pool(8, 2 * MIB, 2);
        let small = pool.take(1000).await;
        assert_eq!(pool.budget().peak(), 1000);
        drop(small);
        written(&pool, pool.take(1000).await);
        assert_eq!(pool.idle(), 0);
        // A pooled size takes a whole buffer's worth of budget, whatever its length.
        let _mid = pool.take(MIB + 1).await;
        assert_eq!(pool.budget().peak(), 2 << 20);
    }

    #[tokio::test]
    async fn idle_buffers_are_capped() {
        let pool = pool(8, MIB, 1);
        let (a, b) = (pool.take(MIB).await, pool.take(MIB).await);
        written(&pool, a);
        written(&pool, b);
        assert_eq!(pool.idle(), 1);
        assert!(
            pool.budget().try_acquire(7 << 20).is_some(),
            "the freed buffer gave its budget back"
        );
    }

    #[tokio::test]
    async fn idle_buffers_hold_budget_and_give_it_up_on_demand() {
        // 4 MiB of budget: two 2 MiB buffers in use, then idle.
        let pool = pool(4, 2 * MIB, 4);
        let (a, b) = (pool.take(2 * MIB).await, pool.take(2 * MIB).await);
        written(&pool, a);
        written(&pool, b);
        assert_eq!(pool.idle(), 2);
        assert!(
            pool.budget().try_acquire(1024).is_none(),
            "idle buffers hold the whole budget"
        );
        // A small buffer frees just enough idle buffers, at once.
        let small = tokio::time::timeout(Duration::from_secs(5), pool.take(4096))
            .await
            .expect("idle buffers give their budget up");
        assert_eq!(pool.idle(), 1);
        assert_eq!(pool.budget().peak(), 4 << 20, "never more than the budget");
        drop(small);
    }

    #[tokio::test]
    async fn a_store_keeping_the_data_keeps_no_budget() {
        let pool = pool(2, 2 * MIB, 4);
        let PartBuffer { buffer, grant } = pool.take(2 * MIB).await;
        let (kept_by_store, guard) = pool.freeze(buffer, grant);
        drop(guard);
        let next = tokio::time::timeout(Duration::from_secs(5), pool.take(2 * MIB))
            .await
            .expect("the write returned: its grant is free though the store keeps the data");
        drop(next);
        drop(kept_by_store);
        assert!(pool.idle() <= 1);
    }

    #[tokio::test]
    async fn no_buffer_is_kept_idle_while_someone_waits() {
        let pool = pool(2, 2 * MIB, 4);
        let held = pool.take(2 * MIB).await;
        let served = take_after(&pool, held, MIB / 2).await;
        assert_eq!(pool.idle(), 0);
        assert!(served.buffer.capacity() >= MIB / 2);
    }

    #[tokio::test]
    async fn a_request_for_a_pooled_buffer_gets_the_first_one_back() {
        let pool = pool(2, 2 * MIB, 4);
        let held = pool.take(2 * MIB).await;
        let ptr = held.buffer.as_ptr() as usize;
        let served = take_after(&pool, held, 2 * MIB).await;
        assert_eq!(
            served.buffer.as_ptr() as usize,
            ptr,
            "handed on, not freed and allocated again"
        );
        assert_eq!(pool.budget().peak(), 2 << 20);
    }

    #[tokio::test]
    async fn a_cancelled_wait_stops_counting_as_waiting() {
        let pool = pool(2, 2 * MIB, 4);
        let held = pool.take(2 * MIB).await;
        let cancelled = tokio::time::timeout(Duration::from_millis(20), pool.take(MIB / 2)).await;
        assert!(cancelled.is_err(), "the budget is all out");
        written(&pool, held);
        assert_eq!(pool.idle(), 1, "nobody waits any more: the buffer is kept");
    }
}
