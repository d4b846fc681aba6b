//! The bounded job queue: per-key FIFOs and the scheduler that picks across them
//! ([`Sched`]) under a mutex, with the room of each queue counted by a weir-core
//! [`Latch`] (FIFO, cancel-safe, resizable waiting for submitters; the unkeyed
//! queues share the pool's) and a list of idle workers to wake.
//!
//! # Invariants
//!
//! - A latch's count is the number of slots taken: queued entries, plus
//!   submitters between winning a slot and pushing (no await in between for
//!   unkeyed jobs; a keyed submitter that waited for room pins its key's state
//!   until it pushes), plus jobs a worker has just taken and whose room it gives
//!   back right after releasing the lock (see [`Room`](crate::sched::Room)). So no slot is ever
//!   reserved but unused across an await (tower#408).
//! - A worker takes a job only together with its weight from the budget (see
//!   [`Sched::pick`]), so a job is either queued or running, never held by a
//!   worker that waits.
//! - Each key's entries are in increasing id order (ids are assigned under the
//!   lock at push time), which lets a cancelled job be found by binary search.
//! - An idle worker is registered at most once. Pushes from a task wake workers
//!   the way tokio's scheduler batches wake-ups: a push notifies an idle worker
//!   only if none is *notified* (woken and not yet back). So a burst of pushes
//!   from a task costs the submitter one wake-up, not one per job: the woken
//!   worker waits in the pushing thread's LIFO slot, and a second wake-up would
//!   only push it out and unpark another runtime thread, on the submitter's
//!   time. The workers fan the wake-ups out instead: a worker that takes a job
//!   and leaves more jobs queued than there are workers on their way (with
//!   budget free) notifies another idle one ([`Inner::wants_another`]), so the
//!   wake-ups grow with the backlog and cost the workers, not the one
//!   submitter. A push from outside any task (a thread in `block_on`, such as
//!   `#[tokio::main]`'s body) has no LIFO slot: its wake-ups go to the
//!   runtime's shared queue, and batching them would only bring the workers up
//!   one after another while jobs wait, so it notifies an idle worker whenever
//!   there is one ([`in_a_task`]). A job is never left queued while every
//!   worker sleeps with budget free: budget comes back only when a worker
//!   releases a job's weight (it then looks for work itself, or passes the
//!   wake-up on when it retires) or when the budget is resized (which wakes a
//!   worker). Once the queue is closed, whoever takes or removes its last job
//!   wakes every idle worker, so that they exit.
//! - A worker that finds no job looks again after a yield before it registers as
//!   idle, up to [`IDLE_YIELDS`] times in a row, when the last push that found
//!   an idle worker came from outside any task: the next push from there is
//!   likely on its way, and a worker asleep costs it a wake-up through the
//!   runtime's shared queue and a thread unpark. Pushes from tasks wake a worker
//!   on the pushing thread cheaply, so there the worker registers at once.

use std::{
    hash::Hash,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use weir_core::{Latch, Permit, Semaphore};

use crate::{
    hosted::Job,
    job::JobId,
    sched::{ClassSpec, Sched},
    stats::Counters,
    tenant::{AnyKey, KeyHasher, KeyStats, key_hash},
};

/// A queued job with what the worker needs to schedule it.
/// Kept small (the run timeout, the span and the queue time live in the job's
/// own allocation, see [`Meta`](crate::task::Meta)): entries are moved in and
/// out of the queue.
pub(crate) struct Entry {
    pub(crate) id: JobId,
    pub(crate) weight: usize,
    pub(crate) task: Job,
    /// Its key's slot and its class; set by the scheduler at push time. (The class
    /// index is stored in 32 bits, beside the slot, so that an entry is six words.)
    pub(crate) slot: u32,
    pub(crate) class: u32,
}

impl Entry {
    /// The job's class index.
    pub(crate) fn class(&self) -> usize {
        self.class as usize
    }
}

/// Where an accepted job went: its id, and its key's slot (for `cancel`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admitted {
    pub(crate) id: JobId,
    pub(crate) slot: u32,
}

pub(crate) struct Queue {
    slots: Arc<Latch>,
    /// The scheduler's per-class running weight (see [`release`](Self::release));
    /// empty when the pool has one class.
    in_use: Arc<[AtomicUsize]>,
    /// The number of classes: slots below it are the unkeyed queues.
    classes: usize,
    /// Whether no class reserves weight.
    unreserved: bool,
    /// Seeds the hashes of keys (see [`key_hash`]), which are computed before the
    /// lock is taken.
    hasher: KeyHasher,
    inner: Mutex<Inner>,
}

struct Inner {
    sched: Sched,
    next_id: u64,
    closed: bool,
    /// Workers waiting for a job, by worker id.
    idle: Vec<(usize, Waker)>,
    /// Workers woken for a job and not yet back.
    notified: Vec<usize>,
    /// Whether the last push that found an idle worker came from outside any
    /// task (see [`IDLE_YIELDS`]).
    pushed_from_thread: bool,
}

/// How many times in a row a worker that finds no job yields and looks again
/// before it registers as idle, when jobs come from outside any task (see the
/// module docs). With trivial jobs submitted from a thread of its own
/// (`block_on`), two cut the time per job to 0.87-0.95x of none (paired runs),
/// and one caught fewer of the pushes; with the submitter in a task, a worker
/// that yielded before idling made the pool slower (1.2-1.6x), hence the
/// condition.
pub(crate) const IDLE_YIELDS: u32 = 2;

/// What [`Queue::poll_pop`] found.
pub(crate) enum Popped<'a> {
    /// The next job, with its weight from the budget.
    Job(Entry, Permit<'a>),
    /// No job now; look again after a yield (see [`IDLE_YIELDS`]).
    LookAgain,
    /// The queue is closed and empty.
    Closed,
}

/// Whether the caller is a task, which decides how a push wakes workers (see the
/// module docs); otherwise it is a thread outside any task, such as the future
/// `block_on` drives.
///
/// Told apart by whether tokio has a current task id, which is all it exposes
/// without `tokio_unstable`. So a task of another runtime, or a `spawn_blocking`
/// closure, counts as a task, though its wake-ups go through the shared queue as
/// a thread's do: its pushes are batched, which is correct, only slower there.
#[inline]
fn in_a_task() -> bool {
    tokio::task::try_id().is_some()
}

/// Why a push without free room could not evict.
pub(crate) enum EvictError {
    Closed,
    /// Nothing queued to evict (the slots are held by jobs in transit).
    Empty,
}

/// What a keyed submitter does when its key's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    Refuse,
    Evict,
    Wait,
}

/// What [`Queue::push_keyed`] did.
pub(crate) enum KeyedPush {
    Pushed(Admitted),
    /// Pushed, evicting the key's oldest job.
    Evicted(Admitted, Entry),
    Full,
    Closed,
    /// Full; the key's state is pinned for a submitter that waits on the latch, then
    /// calls [`Queue::push_pinned`] or [`Queue::unpin`].
    Wait(u32, Arc<Latch>),
}

impl Queue {
    pub(crate) fn new(capacity: usize, classes: &[ClassSpec], key_capacity: usize) -> Self {
        let slots = Arc::new(Latch::new(capacity));
        let sched = Sched::new(classes, key_capacity, &slots);
        Self {
            in_use: sched.in_use().clone(),
            classes: classes.len(),
            unreserved: classes.iter().all(|spec| spec.reserved == 0),
            hasher: KeyHasher::default(),
            inner: Mutex::new(Inner {
                sched,
                next_id: 0,
                closed: false,
                idle: Vec::new(),
                notified: Vec::new(),
                pushed_from_thread: false,
            }),
            slots,
        }
    }

    #[inline]
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No user code runs under this lock (entries are dropped and wakers woken
        // after it is released), so poisoning cannot leave it inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The room of the unkeyed queues.
    pub(crate) fn slots(&self) -> &Latch {
        &self.slots
    }

    /// Pushes the unkeyed entry `make` builds into `class`, unless the queue is
    /// closed (then `make` is not called). The caller holds a slot, which passes to
    /// the entry.
    pub(crate) fn push(
        &self,
        counters: &Counters,
        class: usize,
        make: impl FnOnce(JobId) -> Entry,
    ) -> Option<Admitted> {
        let (admitted, waker) = {
            let mut inner = self.lock();
            if inner.closed {
                return None;
            }
            let admitted = inner.push(counters, class as u32, make);
            (admitted, inner.notify_pushed())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Some(admitted)
    }

    /// Without a free slot: evicts the oldest queued unkeyed entry and pushes the
    /// new one in its slot, in one step.
    pub(crate) fn push_evicting(
        &self,
        counters: &Counters,
        class: usize,
        make: impl FnOnce(JobId) -> Entry,
    ) -> Result<(Admitted, Entry), EvictError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(EvictError::Closed);
        }
        let evicted = inner
            .sched
            .oldest_unkeyed()
            .and_then(|slot| inner.sched.evict(slot))
            .ok_or(EvictError::Empty)?;
        let admitted = inner.push(counters, class as u32, make);
        // Evicting frees no slot and takes none: no worker needs waking for it
        // (the queue was not empty, so no worker is idle for lack of jobs).
        drop(inner);
        Ok((admitted, evicted))
    }

    /// Pushes a job for `key` in `class` if its queue has room; otherwise does what
    /// `when_full` says. `make` is called only to push.
    pub(crate) fn push_keyed<K: Hash + Eq + Send + Sync + 'static>(
        &self,
        counters: &Counters,
        class: usize,
        key: K,
        when_full: WhenFull,
        make: impl FnOnce(JobId) -> Entry,
    ) -> KeyedPush {
        let hash = key_hash(&self.hasher, &key);
        let (pushed, waker) = {
            let mut inner = self.lock();
            if inner.closed {
                return KeyedPush::Closed;
            }
            let slot = inner.sched.slot_for(class, key, hash);
            if inner.sched.try_room(slot) {
                let admitted = inner.push(counters, slot, make);
                (KeyedPush::Pushed(admitted), inner.notify_pushed())
            } else {
                let pushed = match when_full {
                    WhenFull::Wait => KeyedPush::Wait(slot, inner.sched.pin(slot)),
                    WhenFull::Evict => match inner.sched.evict(slot) {
                        Some(evicted) => {
                            KeyedPush::Evicted(inner.push(counters, slot, make), evicted)
                        }
                        None => KeyedPush::Full,
                    },
                    WhenFull::Refuse => KeyedPush::Full,
                };
                if matches!(pushed, KeyedPush::Full) {
                    inner.sched.refused(slot);
                }
                (pushed, None)
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        pushed
    }

    /// A submitter that waited for room in pinned `slot` got it: pushes, unless the
    /// queue closed meanwhile (then the room is freed, the refusal counted, and
    /// `make` not called).
    pub(crate) fn push_pinned(
        &self,
        counters: &Counters,
        slot: u32,
        make: impl FnOnce(JobId) -> Entry,
    ) -> Option<Admitted> {
        let (admitted, waker) = {
            let mut inner = self.lock();
            if inner.closed {
                inner.sched.refused(slot);
                inner.sched.unpin(slot, true);
                return None;
            }
            let id = inner.take_id();
            counters.submitted();
            inner.sched.push_pinned(slot, make(id));
            (Admitted { id, slot }, inner.notify_pushed())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Some(admitted)
    }

    /// A submitter waiting on pinned `slot` gave up without room.
    pub(crate) fn unpin(&self, slot: u32, refused: bool) {
        let mut inner = self.lock();
        if refused {
            inner.sched.refused(slot);
        }
        inner.sched.unpin(slot, false);
    }

    /// Takes the next job that may start, with its weight from `budget`, for worker
    /// `worker`; or, with none queued, has it look again if it has `yields_left`
    /// and jobs come from outside any task (see [`IDLE_YIELDS`]); or registers it
    /// as idle.
    pub(crate) fn poll_pop<'a>(
        &self,
        budget: &'a Semaphore,
        worker: usize,
        yields_left: &mut u32,
        cx: &mut Context<'_>,
    ) -> Poll<Popped<'a>> {
        let mut inner = self.lock();
        inner.back(worker);
        let mut inner = match self.take(inner, budget) {
            Ok((entry, permit)) => return Poll::Ready(Popped::Job(entry, permit)),
            Err(inner) => inner,
        };
        let empty = inner.sched.queued() == 0;
        if inner.closed && empty {
            return Poll::Ready(Popped::Closed);
        }
        if empty && inner.pushed_from_thread && *yields_left > 0 {
            *yields_left -= 1;
            return Poll::Ready(Popped::LookAgain);
        }
        let waker = cx.waker();
        match inner.idle.iter_mut().find(|(id, _)| *id == worker) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => w.clone_from(waker),
            None => inner.idle.push((worker, waker.clone())),
        }
        Poll::Pending
    }

    /// Picks a job under the lock `inner`; if there is one, releases the lock,
    /// gives its queue room back and does the wake-ups it calls for. Otherwise
    /// hands the lock back.
    // Forced: passing the guard and the entry through a `Result` out of line
    // costs ~30 instructions a job (callgrind).
    #[inline(always)]
    fn take<'a, 'q>(
        &'q self,
        mut inner: MutexGuard<'q, Inner>,
        budget: &'a Semaphore,
    ) -> Result<(Entry, Permit<'a>), MutexGuard<'q, Inner>> {
        let Some((entry, permit, room)) = inner.sched.pick(budget) else {
            return Err(inner);
        };
        // More work left than workers on their way, and budget to run it: wake
        // another worker. Closed and now empty: every idle worker can exit.
        // (Whether a worker could be woken is checked first: the budget's count
        // is a line every worker writes, not worth reading under the lock for
        // nothing.)
        if inner.sched.queued() == 0 {
            let exit = inner.exit_idle();
            drop(inner);
            room.give_back(&self.slots);
            exit.into_iter().for_each(Waker::wake);
            return Ok((entry, permit));
        }
        let next = if inner.wants_another() && budget.available() > 0 {
            inner.notify_another()
        } else {
            None
        };
        drop(inner);
        room.give_back(&self.slots);
        if let Some(next) = next {
            next.wake();
        }
        Ok((entry, permit))
    }

    /// Whether [`release`](Self::release) of a job in `slot` skips the lock.
    #[inline]
    pub(crate) fn releases_lock_free(&self, slot: u32) -> bool {
        self.unreserved && (slot as usize) < self.classes
    }

    /// Gives a taken job's weight back to the budget and its class (`ran`: it
    /// started; otherwise it was discarded first).
    ///
    /// An unkeyed job in a pool where no class reserves weight skips the lock: it
    /// has no key state to update, and the scheduler reads a class's running
    /// weight only to honour reservations (the budget's own count is what limits
    /// the jobs). No worker needs waking either way: the releasing worker looks
    /// for work next.
    // Forced: it is a few instructions for an unkeyed job, and was left a call.
    #[inline(always)]
    pub(crate) fn release(&self, slot: u32, class: usize, permit: Permit<'_>, ran: bool) {
        if self.releases_lock_free(slot) {
            if let Some(in_use) = self.in_use.get(class) {
                in_use.fetch_sub(permit.num_permits(), Ordering::Relaxed);
            }
            drop(permit);
            return;
        }
        self.lock().sched.release(slot, class, permit, ran);
    }

    /// [`release`](Self::release) of a job that ran, under the lock, and in the
    /// same hold the worker's next job, if one may start: one lock per keyed job on
    /// the worker's side rather than two.
    pub(crate) fn release_and_take<'a>(
        &self,
        slot: u32,
        class: usize,
        permit: Permit<'_>,
        budget: &'a Semaphore,
    ) -> Option<(Entry, Permit<'a>)> {
        let mut inner = self.lock();
        inner.sched.release(slot, class, permit, true);
        self.take(inner, budget).ok()
    }

    /// The budget was resized: wakes a worker if jobs wait, so it re-checks.
    pub(crate) fn budget_changed(&self) {
        let waker = {
            let mut inner = self.lock();
            if inner.sched.queued() == 0 {
                return;
            }
            inner.notify_one()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
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
            let next = if inner.sched.queued() == 0 {
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

    /// Removes a queued entry by id (in key slot `slot`), freeing its slot.
    pub(crate) fn remove(&self, id: JobId, slot: u32) -> Option<Entry> {
        let (entry, next, exit) = {
            let mut inner = self.lock();
            let entry = inner.sched.remove(slot, id);
            // The removed job may have held others back (a heavy head, or its
            // class's reservation): let a worker look again.
            let next = if entry.is_some() && inner.sched.queued() > 0 {
                inner.notify_one()
            } else {
                None
            };
            (entry, next, inner.exit_idle())
        };
        next.into_iter().chain(exit).for_each(Waker::wake);
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
            inner.sched.close_keys();
            std::mem::take(&mut inner.idle)
        };
        self.slots.close();
        for (_, waker) in idle {
            waker.wake();
        }
        true
    }

    /// Takes every queued entry out, freeing their slots.
    pub(crate) fn drain(&self) -> Vec<Entry> {
        let (entries, exit) = {
            let mut inner = self.lock();
            let entries = inner.sched.drain();
            (entries, inner.exit_idle())
        };
        exit.into_iter().for_each(Waker::wake);
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

    pub(crate) fn live_keys(&self) -> usize {
        self.lock().sched.live_keys()
    }

    pub(crate) fn key_stats(&self, key: &dyn AnyKey) -> Option<KeyStats> {
        let hash = key.table_hash(&self.hasher);
        self.lock().sched.key_stats(key, hash)
    }

    pub(crate) fn set_share(&self, key: Arc<dyn AnyKey>, share: u32) {
        let hash = key.table_hash(&self.hasher);
        self.lock().sched.set_share(key, hash, share);
    }

    /// `None` when the pool has one class: its running weight is the budget's.
    pub(crate) fn class_in_use(&self, class: usize) -> Option<usize> {
        self.lock().sched.class_in_use(class)
    }
}

impl Inner {
    fn push(
        &mut self,
        counters: &Counters,
        slot: u32,
        make: impl FnOnce(JobId) -> Entry,
    ) -> Admitted {
        let id = self.take_id();
        counters.submitted();
        self.sched.push_with(slot, || make(id));
        Admitted { id, slot }
    }

    /// Once the queue is closed and empty, every idle worker (idle because the
    /// queued jobs did not fit the budget) must wake to exit.
    fn exit_idle(&mut self) -> Vec<Waker> {
        if self.closed && self.sched.queued() == 0 {
            self.idle.drain(..).map(|(_, waker)| waker).collect()
        } else {
            Vec::new()
        }
    }

    /// Whether a worker that has just taken a job should wake another: one is
    /// idle, and more jobs are queued than workers are on their way to take. (A
    /// worker woken when none is on its way, the rule for pushes from a task,
    /// held the pool back by ~7 % a job in a task: see the module docs.)
    fn wants_another(&self) -> bool {
        !self.idle.is_empty() && self.sched.queued() > self.notified.len()
    }

    /// Picks an idle worker to wake, unless one is already on its way.
    #[inline]
    fn notify_one(&mut self) -> Option<Waker> {
        if !self.notified.is_empty() {
            return None;
        }
        self.notify_another()
    }

    /// Picks an idle worker to wake for a job just pushed: as
    /// [`notify_one`](Self::notify_one) does for a push from a task, and even if
    /// another is on its way for a push from outside any task (see the module
    /// docs). Where the push comes from is looked up only when a worker is idle,
    /// and kept for idle workers to come (see [`IDLE_YIELDS`]).
    #[inline]
    fn notify_pushed(&mut self) -> Option<Waker> {
        if self.idle.is_empty() {
            return None;
        }
        let from_task = in_a_task();
        self.pushed_from_thread = !from_task;
        if from_task && !self.notified.is_empty() {
            return None;
        }
        self.notify_another()
    }

    /// Picks an idle worker to wake, even if another is on its way.
    #[inline]
    fn notify_another(&mut self) -> Option<Waker> {
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
            .field("len", &inner.sched.queued())
            .field("capacity", &self.slots.max())
            .field("keys", &inner.sched.live_keys())
            .field("closed", &inner.closed)
            .field("idle_workers", &inner.idle.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Weak,
            atomic::{AtomicUsize, Ordering},
        },
        task::Wake,
    };

    use super::*;
    use crate::{hosted::Hosted, task::Cell};

    struct WakeCount(AtomicUsize);

    impl Wake for WakeCount {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An unkeyed queue with `workers` workers and as much budget, each worker with
    /// a waker that counts its wakes.
    struct Fixture {
        queue: Queue,
        budget: Semaphore,
        counters: Counters,
        wakes: Vec<Arc<WakeCount>>,
    }

    impl Fixture {
        fn new() -> Self {
            Self::with_workers(2)
        }

        fn with_workers(workers: usize) -> Self {
            let default = ClassSpec {
                name: "default",
                reserved: 0,
            };
            Self {
                queue: Queue::new(8, &[default], 8),
                budget: Semaphore::new(workers),
                counters: Counters::default(),
                wakes: (0..workers)
                    .map(|_| Arc::new(WakeCount(AtomicUsize::new(0))))
                    .collect(),
            }
        }

        /// Worker `worker` looks for a job.
        fn pop(&self, worker: usize, yields_left: &mut u32) -> Poll<Popped<'_>> {
            let waker = Waker::from(self.wakes[worker].clone());
            let mut cx = Context::from_waker(&waker);
            self.queue
                .poll_pop(&self.budget, worker, yields_left, &mut cx)
        }

        /// Worker `worker` finds no job and registers as idle.
        fn idle(&self, worker: usize) {
            assert!(self.pop(worker, &mut 0).is_pending(), "the queue is empty");
        }

        fn push(&self) {
            // A submitter takes its slot before it pushes.
            self.queue.slots().try_increment().unwrap();
            let cell = Arc::new(Cell::<u64>::new(Weak::new(), None));
            let pushed = self.queue.push(&self.counters, 0, |id| Entry {
                id,
                weight: 1,
                task: Job::Hosted(Hosted::new(cell)),
                slot: 0,
                class: 0,
            });
            assert!(pushed.is_some(), "the queue is open");
        }

        fn woken(&self) -> usize {
            self.wakes.iter().map(|w| w.0.load(Ordering::Relaxed)).sum()
        }

        fn woken_worker(&self, worker: usize) -> usize {
            self.wakes[worker].0.load(Ordering::Relaxed)
        }
    }

    /// Workers 1 and 2 are idle and worker 0 is busy when a task pushes `jobs`
    /// jobs, which wakes one idle worker (2); before it is back, worker 0 takes a
    /// job. Returns whether that woke worker 1 too.
    async fn taking_a_job_wakes_another(jobs: usize) -> bool {
        tokio::spawn(async move {
            let fixture = Fixture::with_workers(3);
            fixture.idle(1);
            fixture.idle(2);
            for _ in 0..jobs {
                fixture.push();
            }
            assert_eq!(fixture.woken_worker(2), 1, "the push woke the last idle");
            assert_eq!(fixture.woken(), 1, "pushes from a task are batched");
            assert!(matches!(
                fixture.pop(0, &mut 0),
                Poll::Ready(Popped::Job(..))
            ));
            fixture.woken_worker(1) == 1
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_worker_leaving_more_jobs_than_workers_on_their_way_wakes_another() {
        // Three left for one worker on its way.
        assert!(taking_a_job_wakes_another(4).await);
    }

    #[tokio::test]
    async fn a_worker_leaving_no_more_jobs_than_workers_on_their_way_wakes_none() {
        // One left, for the worker on its way.
        assert!(!taking_a_job_wakes_another(2).await);
    }

    /// Registers both workers as idle, pushes two jobs, and returns how many of
    /// the workers the pushes woke.
    fn workers_woken_by_two_pushes() -> usize {
        let fixture = Fixture::new();
        fixture.idle(0);
        fixture.idle(1);
        fixture.push();
        fixture.push();
        fixture.woken()
    }

    #[test]
    fn pushes_from_outside_any_task_wake_an_idle_worker_each() {
        assert_eq!(workers_woken_by_two_pushes(), 2);
    }

    #[tokio::test]
    async fn pushes_from_a_task_wake_one_idle_worker_at_a_time() {
        let woken = tokio::spawn(async { workers_woken_by_two_pushes() });
        assert_eq!(woken.await.unwrap(), 1);
    }

    /// A worker registers as idle, is woken by a push and takes the job; then,
    /// with the queue empty again, looks for the next: how many times it is told
    /// to look again before it registers as idle.
    fn looks_before_idling_again() -> u32 {
        let fixture = Fixture::new();
        fixture.idle(0);
        fixture.push();
        assert_eq!(fixture.woken(), 1);
        let mut yields_left = IDLE_YIELDS;
        assert!(matches!(
            fixture.pop(0, &mut yields_left),
            Poll::Ready(Popped::Job(..))
        ));
        let mut looks = 0;
        loop {
            match fixture.pop(0, &mut yields_left) {
                Poll::Ready(Popped::LookAgain) => looks += 1,
                Poll::Pending => return looks,
                Poll::Ready(_) => panic!("the queue is open and empty"),
            }
            assert!(looks <= IDLE_YIELDS, "looked again without end");
        }
    }

    #[test]
    fn with_jobs_from_outside_any_task_an_idle_worker_looks_again_first() {
        assert_eq!(looks_before_idling_again(), IDLE_YIELDS);
    }

    #[tokio::test]
    async fn with_jobs_from_a_task_an_idle_worker_registers_at_once() {
        let looks = tokio::spawn(async { looks_before_idling_again() });
        assert_eq!(looks.await.unwrap(), 0);
    }
}
