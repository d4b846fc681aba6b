//! A fixed-size batch of wakers, filled under a lock and woken after it is released.

use std::{mem::ManuallyDrop, task::Waker};

/// How many wakers are collected before the lock is dropped to wake them.
const CAPACITY: usize = 32;

/// Wakers to call once the lock is released (waking under the lock would let a woken
/// task on another core spin on that lock).
///
/// Slots at and past `len` are always `None`, so the array needs no drop glue of its
/// own: `Drop` releases the first `len` slots and skips the other (empty) ones.
#[derive(Debug)]
pub(crate) struct WakeList {
    wakers: ManuallyDrop<[Option<Waker>; CAPACITY]>,
    len: usize,
}

impl WakeList {
    pub(crate) fn new() -> Self {
        Self {
            wakers: ManuallyDrop::new([const { None }; CAPACITY]),
            len: 0,
        }
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

impl Drop for WakeList {
    fn drop(&mut self) {
        // Normally empty (callers wake before dropping); on unwind, drop what is left.
        for slot in &mut self.wakers[..self.len] {
            drop(slot.take());
        }
    }
}
