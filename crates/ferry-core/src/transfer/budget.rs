//! The byte budget: a semaphore over bytes that every in-flight buffer must hold a share of.
//!
//! This is what bounds ferry's memory whatever the data size: a part buffer is allocated only
//! after its bytes were granted, and the grant is released when the buffer's write has
//! returned, or kept by the buffer while it waits idle in the pool ([`super::buffers`]).
//! The budget also records its peak use, so tests can assert the bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Granularity of grants: budget accounting is in KiB so that a u32 permit count covers TiBs.
const UNIT: u64 = 1024;

/// A shared budget of buffer bytes.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    semaphore: Arc<Semaphore>,
    total_units: u64,
    in_use: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
}

/// Bytes granted from a [`ByteBudget`]; returned when dropped.
#[derive(Debug)]
pub struct BudgetGrant {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    in_use: Arc<AtomicU64>,
}

impl Drop for BudgetGrant {
    fn drop(&mut self) {
        self.in_use.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

impl ByteBudget {
    /// A budget of `bytes` (at least 1 KiB).
    pub fn new(bytes: u64) -> ByteBudget {
        let total_units = (bytes / UNIT).clamp(1, u64::from(u32::MAX));
        ByteBudget {
            semaphore: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            in_use: Arc::default(),
            peak: Arc::default(),
        }
    }

    /// The budget in bytes.
    pub fn total(&self) -> u64 {
        self.total_units * UNIT
    }

    /// Waits until `bytes` can be granted. A request above the whole budget is clamped to it, so
    /// it waits for every other grant to return instead of waiting forever.
    pub async fn acquire(&self, bytes: u64) -> BudgetGrant {
        let permit = self
            .semaphore
            .clone()
            .acquire_many_owned(self.units(bytes))
            .await
            .expect("the budget semaphore is never closed");
        self.grant(permit, bytes)
    }

    /// Grants `bytes` if they are free now and nobody is waiting for budget (the semaphore
    /// hands returned bytes to waiters first).
    pub fn try_acquire(&self, bytes: u64) -> Option<BudgetGrant> {
        let permit = self
            .semaphore
            .clone()
            .try_acquire_many_owned(self.units(bytes))
            .ok()?;
        Some(self.grant(permit, bytes))
    }

    fn units(&self, bytes: u64) -> u32 {
        bytes.div_ceil(UNIT).clamp(1, self.total_units) as u32
    }

    fn grant(&self, permit: OwnedSemaphorePermit, bytes: u64) -> BudgetGrant {
        let now = self.in_use.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(now, Ordering::SeqCst);
        BudgetGrant {
            _permit: permit,
            bytes,
            in_use: self.in_use.clone(),
        }
    }

    /// The most bytes granted at once so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grants_block_beyond_the_budget() {
        let budget = ByteBudget::new(8 * 1024);
        let a = budget.acquire(6 * 1024).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.acquire(4 * 1024).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "4 KiB must wait while 6 of 8 KiB are out"
        );
        drop(a);
        let _b = waiting.await.unwrap();
        assert_eq!(budget.peak(), 6 * 1024);
    }

    #[tokio::test]
    async fn oversized_requests_are_clamped() {
        let budget = ByteBudget::new(4 * 1024);
        let grant = budget.acquire(1 << 30).await;
        drop(grant);
        let _again = budget.acquire(1024).await;
    }
}
