//! The bounded job queue: a `VecDeque` under a mutex, with its room counted by a
//! weir-core [`Latch`] (FIFO, cancel-safe, resizable waiting for submitters) and a
//! list of idle workers to wake.
//!
//! # Invariants
//!
//! - The latch's count is the number of slots taken: queued entries, plus
//!   submitters between winning a slot and pushing (no await in between), plus
//!   workers between popping and releasing the slot (no await in between either).
//!   So no slot is ever reserved but unused across an await (tower#408).
//! - Entries are in increasing id order (ids are assigned under the lock at push
//!   time), which lets a cancelled job be found by binary search.
//! - An idle worker is registered at most once. Wake-ups are batched the way
//!   tokio's scheduler batches them: at most one worker is *notified* (woken and
//!   not yet back) at a time. A push notifies an idle worker only if none is
//!   notified; a worker that takes a job and leaves more behind notifies the next
//!   idle one. So a burst of pushes costs one wake-up, not one per job, and a job
//!   is never left queued while every worker sleeps.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio::time::Instant;
use tracing::Span;
use weir_core::Latch;

use crate::{job::JobId, stats::Counters, task::Runnable};

/// A queued job with what the worker needs to schedule it.
pub(crate) struct Entry {
    pub(crate) id: JobId,
    pub(crate) weight: usize,
    pub(crate) timeout: Option<Duration>,
    /// When it was accepted; only measured when an observer is installed.
    pub(crate) enqueued_at: Option<Instant>,
    /// The submitter's span, the parent of the job's span.
    pub(crate) span: Span,
    pub(crate) task: Pin<Box<dyn Runnable>>,
}

pub(crate) struct Queue {
    slots: Latch,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: VecDeque<Entry>,
    next_id: u64,
    closed: bool,
    /// Workers waiting for a job, by worker id.
    idle: Vec<(usize, Waker)>,
    /// Workers woken for a job and not yet back (at most one, except after
    /// `wake_idle`).
    notified: Vec<usize>,
}

/// Why [`Queue::push_evicting`] could not push.
pub(crate) enum EvictError {
    Closed,
    /// Nothing queued to evict (the slots are held by jobs in transit).
    Empty,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: Latch::new(capacity),
            inner: Mutex::new(Inner {
                entries: VecDeque::with_capacity(capacity.min(1024)),
                next_id: 0,
                closed: false,
                idle: Vec::new(),
                notified: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No user code runs under this lock (entries are dropped and wakers woken
        // after it is released), so poisoning cannot leave it inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue's room.
    pub(crate) fn slots(&self) -> &Latch {
        &self.slots
    }

    /// Pushes the entry `make` builds, unless the queue is closed (then `make` is
    /// not called). The caller holds a slot, which passes to the entry.
    pub(crate) fn push(
        &self,
        counters: &Counters,
        make: impl FnOnce(JobId) -> Entry,
    ) -> Option<JobId> {
        let (id, waker) = {
            let mut inner = self.lock();
            if inner.closed {
                return None;
            }
            let id = inner.take_id();
            counters.submitted();
            inner.entries.push_back(make(id));
            (id, inner.notify_one())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Some(id)
    }

    /// Without a free slot: evicts the oldest queued entry and pushes the new one in
    /// its slot, in one step.
    pub(crate) fn push_evicting(
        &self,
        counters: &Counters,
        make: impl FnOnce(JobId) -> Entry,
    ) -> Result<(JobId, Entry), EvictError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(EvictError::Closed);
        }
        let Some(evicted) = inner.entries.pop_front() else {
            return Err(EvictError::Empty);
        };
        let id = inner.take_id();
        counters.submitted();
        inner.entries.push_back(make(id));
        // Evicting frees no slot and takes none: no worker needs waking for it
        // (the queue was not empty, so no worker is idle for lack of jobs).
        drop(inner);
        Ok((id, evicted))
    }

    /// Takes the oldest entry for worker `worker`, or registers it as idle.
    /// `Ready(None)` once the queue is closed and empty.
    pub(crate) fn poll_pop(&self, worker: usize, cx: &mut Context<'_>) -> Poll<Option<Entry>> {
        let mut inner = self.lock();
        inner.back(worker);
        if let Some(entry) = inner.entries.pop_front() {
            // More work left and nobody on the way: pass the wake-up on.
            let next = if inner.entries.is_empty() {
                None
            } else {
                inner.notify_one()
            };
            drop(inner);
            if let Some(next) = next {
                next.wake();
            }
            self.release_slots(1);
            return Poll::Ready(Some(entry));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        let waker = cx.waker();
        match inner.idle.iter_mut().find(|(id, _)| *id == worker) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => w.clone_from(waker),
            None => inner.idle.push((worker, waker.clone())),
        }
        Poll::Pending
    }

    /// Forgets a retiring worker's idle registration. If the push that woke it left
    /// a job queued, passes the wake-up on to another idle worker, so the job is not
    /// stranded.
    pub(crate) fn retire(&self, worker: usize) {
        let (mine, next) = {
            let mut inner = self.lock();
            inner.back(worker);
            let at = inner.idle.iter().position(|(id, _)| *id == worker);
            let mine = at.map(|at| inner.idle.swap_remove(at).1);
            let next = if inner.entries.is_empty() {
                None
            } else {
                inner.notify_one()
            };
            (mine, next)
        };
        drop(mine);
        if let Some(next) = next {
            next.wake();
        }
    }

    /// Removes a queued entry by id, freeing its slot.
    pub(crate) fn remove(&self, id: JobId) -> Option<Entry> {
        let entry = {
            let mut inner = self.lock();
            let at = inner.entries.binary_search_by_key(&id, |e| e.id).ok()?;
            inner.entries.remove(at)
        };
        self.release_slots(1);
        entry
    }

    /// Stops admission: later pushes fail, blocked submitters fail, idle workers
    /// wake (to drain, then exit). Returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        let idle = {
            let mut inner = self.lock();
            if inner.closed {
                return false;
            }
            inner.closed = true;
            std::mem::take(&mut inner.idle)
        };
        self.slots.close();
        for (_, waker) in idle {
            waker.wake();
        }
        true
    }

    /// Takes every queued entry out, freeing their slots.
    pub(crate) fn drain(&self) -> VecDeque<Entry> {
        let entries = std::mem::take(&mut self.lock().entries);
        self.release_slots(entries.len());
        entries
    }

    /// Wakes every idle worker (they re-check whether to retire).
    pub(crate) fn wake_idle(&self) {
        let idle = {
            let mut inner = self.lock();
            let idle = std::mem::take(&mut inner.idle);
            inner.notified.extend(idle.iter().map(|(id, _)| *id));
            idle
        };
        for (_, waker) in idle {
            waker.wake();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn release_slots(&self, n: usize) {
        if n > 0 {
            let released = self.slots.decrement_many(n);
            debug_assert!(
                released.is_ok(),
                "queue slot count out of step: {released:?}"
            );
        }
    }
}

impl Inner {
    /// Picks an idle worker to wake, unless one is already on its way.
    fn notify_one(&mut self) -> Option<Waker> {
        if !self.notified.is_empty() {
            return None;
        }
        let (id, waker) = self.idle.pop()?;
        self.notified.push(id);
        Some(waker)
    }

    /// A worker is back looking for work: it is no longer "on its way".
    fn back(&mut self, worker: usize) {
        if let Some(at) = self.notified.iter().position(|&id| id == worker) {
            self.notified.swap_remove(at);
        }
    }

    fn take_id(&mut self) -> JobId {
        let id = JobId(self.next_id);
        self.next_id += 1;
        id
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Queue")
            .field("len", &inner.entries.len())
            .field("capacity", &self.slots.max())
            .field("closed", &inner.closed)
            .field("idle_workers", &inner.idle.len())
            .finish()
    }
}
