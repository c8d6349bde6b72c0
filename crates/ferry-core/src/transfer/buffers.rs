//! A pool of part buffers, so a copy allocates its buffers once and reuses them.
//!
//! Without it, every part allocated a fresh multi-MiB buffer on whichever thread read it, and
//! the allocator's per-thread caches kept the freed ones: RSS drifted to 3–4× the byte budget
//! (measured: 230 MiB with a 64 MiB budget). Pooled buffers are handed to backends as
//! [`Bytes`] whose owner returns the memory to the pool when the last reference drops. The pool
//! keeps at most `budget / part_size` idle buffers, so its memory is part of the budget.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Buffers smaller than this are allocated normally (allocators handle them well).
const MIN_POOLED: usize = 1024 * 1024;

/// A pool of equally sized buffers.
#[derive(Debug, Clone)]
pub struct BufferPool {
    idle: Arc<Mutex<Vec<Vec<u8>>>>,
    capacity: usize,
    max_idle: usize,
}

impl BufferPool {
    /// A pool of buffers of `capacity` bytes keeping at most `max_idle` idle ones.
    pub fn new(capacity: usize, max_idle: usize) -> BufferPool {
        BufferPool {
            idle: Arc::default(),
            capacity,
            max_idle,
        }
    }

    /// A buffer of exactly `len` bytes (contents unspecified).
    pub fn take(&self, len: usize) -> Vec<u8> {
        if len < MIN_POOLED || len > self.capacity {
            return vec![0; len];
        }
        let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut buffer = reused.unwrap_or_else(|| Vec::with_capacity(self.capacity));
        buffer.resize(len, 0);
        buffer
    }

    /// Wraps a filled buffer as `Bytes` that returns to the pool when dropped.
    pub fn freeze(&self, buffer: Vec<u8>) -> Bytes {
        if buffer.capacity() != self.capacity {
            return Bytes::from(buffer);
        }
        Bytes::from_owner(Pooled {
            buffer,
            pool: self.clone(),
        })
    }

    /// Idle buffers held now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

struct Pooled {
    buffer: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.pool.max_idle {
            idle.push(std::mem::take(&mut self.buffer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_return_and_are_reused() {
        let pool = BufferPool::new(2 << 20, 2);
        let a = pool.take(2 << 20);
        let ptr = a.as_ptr();
        let bytes = pool.freeze(a);
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(pool.idle(), 0, "still referenced");
        drop(clone);
        assert_eq!(pool.idle(), 1);
        let again = pool.take(1 << 20);
        assert_eq!(again.as_ptr(), ptr, "the same memory is reused");
        assert_eq!(again.len(), 1 << 20);
    }

    #[test]
    fn small_and_odd_buffers_bypass_the_pool() {
        let pool = BufferPool::new(2 << 20, 2);
        drop(pool.freeze(pool.take(1000)));
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn idle_buffers_are_capped() {
        let pool = BufferPool::new(1 << 20, 1);
        let (a, b) = (pool.take(1 << 20), pool.take(1 << 20));
        drop(pool.freeze(a));
        drop(pool.freeze(b));
        assert_eq!(pool.idle(), 1);
    }
}
