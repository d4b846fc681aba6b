//! A fixed-size batch of wakers, filled under a lock and woken after it is released.

use std::task::Waker;

/// How many wakers are collected before the lock is dropped to wake them.
const CAPACITY: usize = 32;

/// Wakers to call once the lock is released (waking under the lock would let a woken
/// task on another core spin on that lock).
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    wakers: [Option<Waker>; CAPACITY],
    len: usize,
}

impl WakeList {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether another waker can be pushed.
    pub(crate) fn can_push(&self) -> bool {
        self.len < CAPACITY
    }

    /// Adds a waker; `None` (a waiter that never registered one) is skipped.
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        debug_assert!(self.can_push());
        if let Some(waker) = waker {
            self.wakers[self.len] = Some(waker);
            self.len += 1;
        }
    }

    /// Wakes and clears every collected waker.
    pub(crate) fn wake_all(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
        self.len = 0;
    }
}
