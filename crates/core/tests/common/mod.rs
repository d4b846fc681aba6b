//! Helpers shared by weir-core's integration tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::future::Future;

use tokio_test::{assert_pending, task::Spawn};
use weir_core::Semaphore;

/// `(capacity, in_use, available)` in one tuple, for compact assertions.
pub(crate) fn counts(sem: &Semaphore) -> (usize, usize, usize) {
    (sem.capacity(), sem.in_use(), sem.available())
}

/// `(waiters, waiting_permits)`.
pub(crate) fn queue(sem: &Semaphore) -> (usize, usize) {
    (sem.waiters(), sem.waiting_permits())
}

/// Spawns `fut` on a mock task and asserts its first poll is pending.
#[track_caller]
pub(crate) fn pending<F: Future>(fut: F) -> Spawn<F>
where
    F::Output: std::fmt::Debug,
{
    let mut task = tokio_test::task::spawn(fut);
    assert_pending!(task.poll());
    task
}

/// Asserts which of `tasks` were woken since their last poll.
#[track_caller]
pub(crate) fn assert_woken<F: Future>(tasks: &[&Spawn<F>], expected: &[bool]) {
    let woken: Vec<bool> = tasks.iter().map(|t| t.is_woken()).collect();
    assert_eq!(woken, expected, "which tasks were woken");
}

/// A tiny deterministic xorshift64* generator, so randomized tests need no extra
/// dependency and replay from their seed.
#[derive(Debug, Clone)]
pub(crate) struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0 is mapped to a fixed non-zero seed).
    pub(crate) fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// `true` with probability `1/n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n == 0
    }
}
