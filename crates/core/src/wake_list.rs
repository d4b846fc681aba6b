//! A fixed-size batch of wakers, filled under a lock and woken after it is released.

use std::task::Waker;

use arrayvec::ArrayVec;

/// How many wakers are collected before the lock is dropped to wake them.
const CAPACITY: usize = 32;

/// Wakers to call once the lock is released (waking under the lock would let a woken
/// task on another core spin on that lock).
///
/// Backed by an `ArrayVec`: creating one writes no slots, which matters because every
/// slow release creates one and usually wakes a single waiter.
#[derive(Debug)]
pub(crate) struct WakeList {
    wakers: ArrayVec<Waker, CAPACITY>,
}

impl WakeList {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            wakers: ArrayVec::new(),
        }
    }

    /// Whether another waker can be pushed.
    #[inline]
    pub(crate) fn can_push(&self) -> bool {
        !self.wakers.is_full()
    }

    /// Adds a waker; `None` (a waiter that never registered one) is skipped.
    ///
    /// # Panics
    ///
    /// Panics if the batch is full; callers check [`can_push`](Self::can_push).
    #[inline]
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            self.wakers.push(waker);
        }
    }

    /// Wakes and clears every collected waker.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}
