//! The semaphore's bookkeeping: the atomic state word, the locked waiter queues, and
//! the one routine ([`Semaphore::settle`]) that hands freed permits to waiters.
//!
//! # The state word
//!
//! `state` packs the number of *free* permits (shifted left by [`SHIFT`]) with three
//! flags. Free permits exist only while nothing is in debt, so
//! `held = capacity - free + debt` at every instant.
//!
//! - `CLOSED`: set once, under the lock, and never cleared.
//! - `QUEUED`: some queued acquirer fits under the ceiling, so fresh acquirers (and
//!   `try_acquire`) must not take free permits: they would barge.
//! - `SLOW_RELEASE`: a release must take the lock, because waiters may now fit, debt
//!   must be repaid first, or drain waiters must learn that nothing is held.
//!
//! The fast paths (`try_acquire_fast`, `release`) are a single CAS and never lock.
//! They are valid exactly while their flag is clear. Every locked operation ends with
//! [`Semaphore::publish`], which makes the flags exact again; in between they are only
//! ever *more* set than needed, and a flag that becomes needed is set in the same CAS
//! that makes it needed (or before). Hence, while `QUEUED` is set under the lock, no
//! other thread changes the free count, and while `SLOW_RELEASE` is set, no release
//! bypasses the lock.
//!
//! # Waiters
//!
//! Acquirers wait in one FIFO. A waiter whose request is above the current ceiling is
//! *parked in place*: it keeps its position but is skipped by grants, so it never
//! blocks the waiters behind it. When the ceiling rises to fit it, it is back in
//! contention at its original position. Drain waiters (`wait_idle`) live in their own
//! list, so a release can never wake the wrong kind.

use std::task::Waker;

use crate::{
    Semaphore,
    sync::{MutexGuard, Ordering},
    waiter_list::{Visit, WaitList},
    wake_list::WakeList,
};

pub(crate) const CLOSED: usize = 0b001;
pub(crate) const QUEUED: usize = 0b010;
pub(crate) const SLOW_RELEASE: usize = 0b100;
const FLAGS: usize = QUEUED | SLOW_RELEASE;
pub(crate) const SHIFT: usize = 3;

/// Free permits encoded in a state word.
pub(crate) fn free(state: usize) -> usize {
    state >> SHIFT
}

/// What happened to a queued acquirer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Waiting,
    Granted,
    Closed,
}

/// Payload of an acquirer's queue node.
#[derive(Debug)]
pub(crate) struct AcquireNode {
    pub(crate) need: usize,
    pub(crate) waker: Option<Waker>,
    pub(crate) outcome: Outcome,
}

impl AcquireNode {
    /// A node ready to be linked: the waker is cloned here, before the lock is taken,
    /// to keep the critical section short. The node holds only what the granting
    /// thread touches (56 bytes with its links), so a grant writes as few of the
    /// waiter's cache lines as possible.
    pub(crate) fn new(need: usize, waker: &Waker) -> Self {
        Self {
            need,
            waker: Some(waker.clone()),
            outcome: Outcome::Waiting,
        }
    }
}

/// Payload of a drain waiter's queue node.
#[derive(Debug, Default)]
pub(crate) struct IdleNode {
    pub(crate) waker: Option<Waker>,
}

/// State guarded by the semaphore's lock. The acquirer queue and `eligible` come
/// first: with the lock word in front of them they share the semaphore's hot cache
/// line (see [`Semaphore`]'s layout); the drain list is cold.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Queues {
    pub(crate) acquirers: WaitList<AcquireNode>,
    /// Queued acquirers whose request fits under the current ceiling.
    pub(crate) eligible: usize,
    pub(crate) idle: WaitList<IdleNode>,
}

impl Queues {
    pub(crate) fn new() -> Self {
        Self {
            acquirers: WaitList::new(),
            eligible: 0,
            idle: WaitList::new(),
        }
    }
}

/// Result of an acquire attempt made under the lock.
pub(crate) enum Admit {
    /// The permits were taken.
    Granted,
    /// The node was queued.
    Queued,
    /// The semaphore is closed.
    Closed,
}

impl Semaphore {
    /// Lock-free acquire; valid only while nobody eligible is queued.
    #[inline]
    pub(crate) fn try_acquire_fast(&self, n: usize) -> Result<(), Fast> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Err(Fast::Closed);
            }
            if state & QUEUED != 0 || free(state) < n {
                return Err(Fast::Short);
            }
            match self.state.compare_exchange_weak(
                state,
                state - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
    }

    /// Takes `n` permits or links `node` (built by [`AcquireNode::new`] for `n`) at
    /// the back of the queue, under the lock.
    pub(crate) fn admit_or_enqueue(
        &self,
        node: std::pin::Pin<&crate::waiter_list::Waiter<AcquireNode>>,
        n: usize,
    ) -> Admit {
        let mut queues = self.lock();
        let capacity = self.capacity.load(Ordering::Relaxed);
        let fits = n <= capacity;
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Admit::Closed;
            }
            let next = if !fits {
                // Parked in place: neither blocks others nor needs releases to lock.
                break;
            } else if queues.eligible == 0 && free(state) >= n {
                state - (n << SHIFT)
            } else if state & FLAGS == FLAGS {
                // Already flagged; with `QUEUED` set nobody else moves `free`.
                break;
            } else {
                state | QUEUED | SLOW_RELEASE
            };
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if free(next) < free(state) => return Admit::Granted,
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        queues.acquirers.push_back(node);
        self.add_waiting_weight(&queues, n);
        tracing::trace!(
            need = n,
            waiters = queues.acquirers.len(),
            parked_above_ceiling = !fits,
            "acquire queued"
        );
        if fits {
            queues.eligible += 1;
        }
        self.publish(&queues);
        Admit::Queued
    }

    /// Returns `n` permits. Lock-free unless someone must hear about it.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & SLOW_RELEASE != 0 {
                return self.release_slow(n);
            }
            debug_assert!(free(state) + n <= Semaphore::MAX_PERMITS);
            match self.state.compare_exchange_weak(
                state,
                state + (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    /// Returns the `n` permits a cancelled acquire owned, with the lock held. They are
    /// all still held: a latch's `decrement` takes back only completed increments (see
    /// `Latch`), never permits granted to an increment that has not completed.
    pub(crate) fn release_granted_locked<'a>(
        &'a self,
        queues: MutexGuard<'a, Queues>,
        n: usize,
        wakers: &mut WakeList,
    ) -> MutexGuard<'a, Queues> {
        debug_assert!(n <= self.held(self.state.load(Ordering::Acquire)));
        self.release_locked(queues, n, wakers)
    }

    #[cold]
    fn release_slow(&self, n: usize) {
        let mut wakers = WakeList::new();
        let queues = self.lock();
        let queues = self.release_locked(queues, n, &mut wakers);
        drop(queues);
        wakers.wake_all();
    }

    /// Returns `n` permits with the lock held: debt is repaid first, the rest is free.
    #[inline]
    pub(crate) fn release_locked<'a>(
        &'a self,
        queues: MutexGuard<'a, Queues>,
        n: usize,
        wakers: &mut WakeList,
    ) -> MutexGuard<'a, Queues> {
        let debt = self.debt.load(Ordering::Relaxed);
        let repaid = debt.min(n);
        if repaid > 0 {
            self.debt.store(debt - repaid, Ordering::Relaxed);
        }
        // Debt and free permits never coexist: free was 0 if there was debt. What is
        // left after repaying goes straight to the waiters (or becomes free).
        self.settle_with(queues, n - repaid, wakers)
    }

    /// Permits held right now (lock held, or a racy snapshot without it).
    #[inline]
    pub(crate) fn held(&self, state: usize) -> usize {
        let capacity = self.capacity.load(Ordering::Relaxed);
        let debt = self.debt.load(Ordering::Relaxed);
        (capacity + debt).saturating_sub(free(state))
    }

    /// Grants free permits to the oldest eligible waiters, wakes drain waiters if
    /// nothing is held, and publishes exact flags. Drops and retakes the lock to wake
    /// waiters in batches, so callers must not rely on state read before the call.
    pub(crate) fn settle<'a>(
        &'a self,
        queues: MutexGuard<'a, Queues>,
        wakers: &mut WakeList,
    ) -> MutexGuard<'a, Queues> {
        self.settle_with(queues, 0, wakers)
    }

    /// [`settle`](Self::settle) after returning `added` permits: they are handed to
    /// waiters first and only the remainder is added to the free count, so a release
    /// that is passed straight on costs no atomic update of the state word.
    #[inline]
    fn settle_with<'a>(
        &'a self,
        mut queues: MutexGuard<'a, Queues>,
        mut added: usize,
        wakers: &mut WakeList,
    ) -> MutexGuard<'a, Queues> {
        loop {
            let batch_full = self.grant(&mut queues, std::mem::take(&mut added), wakers);
            if !batch_full {
                break;
            }
            self.publish(&queues);
            drop(queues);
            wakers.wake_all();
            queues = self.lock();
        }
        if !queues.idle.is_empty() && self.held(self.state.load(Ordering::Acquire)) == 0 {
            loop {
                while wakers.can_push() {
                    let Some(waker) = queues.idle.pop_front_with(|idle| idle.waker.take()) else {
                        break;
                    };
                    wakers.push(waker);
                }
                if queues.idle.is_empty() {
                    break;
                }
                self.publish(&queues);
                drop(queues);
                wakers.wake_all();
                queues = self.lock();
            }
        }
        self.publish(&queues);
        queues
    }

    /// One grant pass from the head of the queue. Returns `true` if it stopped because
    /// the wake batch is full (more grants may be possible).
    #[inline]
    fn grant(&self, queues: &mut Queues, added: usize, wakers: &mut WakeList) -> bool {
        if queues.eligible == 0 {
            if added > 0 {
                self.state.fetch_add(added << SHIFT, Ordering::AcqRel);
            }
            return false;
        }
        let capacity = self.capacity.load(Ordering::Relaxed);
        // `QUEUED` is set (eligible > 0), so no fast acquirer changes `free` meanwhile.
        let in_state = free(self.state.load(Ordering::Acquire));
        let mut free = in_state + added;
        let mut granted = 0;
        let mut batch_full = false;
        queues.acquirers.scan(|node| {
            if node.need > capacity {
                return Visit::Keep;
            }
            if node.need > free {
                return Visit::Stop;
            }
            if !wakers.can_push() {
                batch_full = true;
                return Visit::Stop;
            }
            free -= node.need;
            granted += 1;
            node.outcome = Outcome::Granted;
            wakers.push(node.waker.take());
            if free == 0 {
                // Nobody behind can fit (every queued need is at least 1): do not
                // touch the next node, which lives in another task's memory.
                Visit::UnlinkAndStop
            } else {
                Visit::Unlink
            }
        });
        // The state word moves only by the difference: a release passed straight on
        // to a waiter leaves it alone.
        if free > in_state {
            self.state
                .fetch_add((free - in_state) << SHIFT, Ordering::AcqRel);
        } else if free < in_state {
            self.state
                .fetch_sub((in_state - free) << SHIFT, Ordering::AcqRel);
        }
        let granted_weight = in_state + added - free;
        queues.eligible -= granted;
        self.sub_waiting_weight(queues, granted_weight);
        batch_full
    }

    /// Makes the flags exact and mirrors the queue metrics into atomics for readers.
    #[inline]
    pub(crate) fn publish(&self, queues: &Queues) {
        let mut want = 0;
        if queues.eligible > 0 {
            want |= QUEUED | SLOW_RELEASE;
        }
        if self.debt.load(Ordering::Relaxed) > 0 || !queues.idle.is_empty() {
            want |= SLOW_RELEASE;
        }
        let mut state = self.state.load(Ordering::Acquire);
        while state & FLAGS != want {
            match self.state.compare_exchange_weak(
                state,
                (state & !FLAGS) | want,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        self.waiters
            .store(queues.acquirers.len(), Ordering::Relaxed);
    }

    /// Adds `n` to the queued weight. The counter is written only under the lock
    /// (`_queues` proves it is held), so a load and a store suffice.
    #[inline]
    pub(crate) fn add_waiting_weight(&self, _queues: &Queues, n: usize) {
        let weight = self.waiting_weight.load(Ordering::Relaxed);
        self.waiting_weight.store(weight + n, Ordering::Relaxed);
    }

    /// Subtracts `n` from the queued weight; see [`add_waiting_weight`](Self::add_waiting_weight).
    #[inline]
    pub(crate) fn sub_waiting_weight(&self, _queues: &Queues, n: usize) {
        let weight = self.waiting_weight.load(Ordering::Relaxed);
        self.waiting_weight.store(weight - n, Ordering::Relaxed);
    }

    /// Moves the ceiling to `capacity` and takes `forgotten` held permits out of
    /// circulation, then lets waiters that now fit through.
    pub(crate) fn reconfigure(&self, capacity: impl FnOnce(usize) -> usize, forgotten: usize) {
        let mut wakers = WakeList::new();
        let mut queues = self.lock();
        let old_capacity = self.capacity.load(Ordering::Relaxed);
        let new_capacity = capacity(old_capacity);
        assert!(
            new_capacity <= Semaphore::MAX_PERMITS,
            "capacity {new_capacity} exceeds Semaphore::MAX_PERMITS"
        );
        let mut eligible = 0;
        queues.acquirers.scan(|node| {
            if node.need <= new_capacity {
                eligible += 1;
            }
            Visit::Keep
        });
        queues.eligible = eligible;
        let debt = self.debt.load(Ordering::Relaxed);
        let mut state = self.state.load(Ordering::Acquire);
        let new_debt = loop {
            let held = (old_capacity + debt - free(state)) - forgotten;
            let (new_free, new_debt) = if new_capacity >= held {
                (new_capacity - held, 0)
            } else {
                (0, held - new_capacity)
            };
            let mut flags = state & (CLOSED | FLAGS);
            if eligible > 0 {
                flags |= QUEUED | SLOW_RELEASE;
            }
            if new_debt > 0 {
                flags |= SLOW_RELEASE;
            }
            match self.state.compare_exchange_weak(
                state,
                (new_free << SHIFT) | flags,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break new_debt,
                Err(actual) => state = actual,
            }
        };
        self.capacity.store(new_capacity, Ordering::Relaxed);
        self.debt.store(new_debt, Ordering::Relaxed);
        tracing::debug!(
            from = old_capacity,
            to = new_capacity,
            debt = new_debt,
            waiters = queues.acquirers.len(),
            "semaphore ceiling moved"
        );
        let queues = self.settle(queues, &mut wakers);
        drop(queues);
        wakers.wake_all();
    }

    /// Closes the semaphore and fails every queued acquirer.
    pub(crate) fn close_and_fail_waiters(&self) {
        let mut wakers = WakeList::new();
        let mut queues = self.lock();
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        tracing::debug!(failed_waiters = queues.acquirers.len(), "semaphore closed");
        loop {
            let capacity = self.capacity.load(Ordering::Relaxed);
            while wakers.can_push() {
                let Some((need, waker)) = queues.acquirers.pop_front_with(|node| {
                    node.outcome = Outcome::Closed;
                    (node.need, node.waker.take())
                }) else {
                    break;
                };
                self.sub_waiting_weight(&queues, need);
                if need <= capacity {
                    queues.eligible -= 1;
                }
                wakers.push(waker);
            }
            if queues.acquirers.is_empty() {
                break;
            }
            drop(queues);
            wakers.wake_all();
            queues = self.lock();
        }
        debug_assert_eq!(
            (queues.eligible, self.waiting_weight.load(Ordering::Relaxed)),
            (0, 0)
        );
        self.publish(&queues);
        drop(queues);
        wakers.wake_all();
    }

    /// Resolves at once (returns `true`) if nothing is held, else links `node` into the
    /// drain queue. Releases take the lock from here on, so none is missed.
    pub(crate) fn idle_or_enqueue(
        &self,
        node: std::pin::Pin<&crate::waiter_list::Waiter<IdleNode>>,
        waker: &Waker,
    ) -> bool {
        let mut queues = self.lock();
        let state = self.state.fetch_or(SLOW_RELEASE, Ordering::AcqRel);
        if self.held(state) == 0 {
            self.publish(&queues);
            return true;
        }
        queues.idle.push_back(node);
        if let Some(data) = queues.idle.get_mut(node) {
            data.waker = Some(waker.clone());
        }
        self.publish(&queues);
        false
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Queues> {
        crate::sync::lock(&self.queues)
    }
}

/// Why the lock-free path could not take permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fast {
    Closed,
    Short,
}
