//! [`Semaphore`]: a weighted, strictly FIFO-fair semaphore with a movable ceiling.

use std::sync::Arc;

use crate::{
    OwnedPermit, Permit, TryAcquireError,
    acquire::{Acquire, AcquireOwned},
    ledger::{CLOSED, Fast, Queues, SHIFT, free},
    sync::{AtomicUsize, Mutex, Ordering},
    wait_idle::WaitIdle,
};

/// A weighted, strictly FIFO-fair async semaphore whose ceiling can be moved while
/// tasks wait.
///
/// The semaphore has a **capacity** (the ceiling) and tracks how many permits are
/// **in use** (held). Acquirers ask for a weight (`usize`), wait in one queue, and are
/// served oldest first; a permit returns its weight when dropped.
///
/// - **FIFO, no barging.** Freed permits go to the oldest waiter. `try_acquire*`
///   never takes permits while an older waiter that fits is queued.
/// - **Head-of-line blocking.** A large request at the head is served before later,
///   smaller ones, even if those would fit now: weight 8 waiting for 8 free permits
///   holds back a weight-1 request that arrived after it. This is what keeps large
///   requests from starving. If you need small requests to overtake, use separate
///   semaphores.
/// - **A movable ceiling.** [`set_capacity`](Self::set_capacity) raises or lowers the
///   ceiling at any time. Raising it grants every waiter that now fits. Lowering it
///   below what is in use creates **debt**: held permits stay valid (nothing is ever
///   preempted), releases repay the debt first, and nothing new is granted until
///   in-use is below the new ceiling.
/// - **Requests above the ceiling wait aside.** A request larger than the current
///   capacity keeps its place in the queue but is skipped, so it never blocks the
///   waiters behind it; once the ceiling rises to fit it, it is served in its original
///   order. (`try_acquire_many` reports it as [`TryAcquireError::TooLarge`].)
/// - **Close.** [`close`](Self::close) fails every waiter and every later acquire;
///   permits already held stay valid and release normally.
/// - **Drain.** [`wait_idle`](Self::wait_idle) resolves when nothing is held. `close()`
///   then `wait_idle().await` is a deterministic shutdown.
///
/// # Examples
///
/// ```
/// use weir_core::Semaphore;
///
/// # tokio_test::block_on(async {
/// let sem = Semaphore::new(3);
/// let a = sem.acquire_many(2).await.unwrap();
/// assert_eq!((sem.in_use(), sem.available()), (2, 1));
///
/// // Lowering the ceiling below what is held creates debt; nothing is preempted.
/// sem.set_capacity(1);
/// assert_eq!((sem.capacity(), sem.in_use(), sem.available()), (1, 2, 0));
/// drop(a);
/// assert_eq!((sem.in_use(), sem.available()), (0, 1));
/// # });
/// ```
///
/// # Memory ordering
///
/// Granting permits synchronises with their release: everything a task did before
/// dropping a permit happens-before the code that acquires those permits next. The
/// introspection methods are relaxed snapshots that may be stale by the time they
/// return.
#[derive(Debug)]
// Layout, for contention: the fields every contended operation *writes* (the lock
// word, the acquirer queue's ends and length, `eligible`, and the two queue mirrors)
// share the first 64-byte line, so taking the lock moves one line between cores. The
// second line holds what such operations only *read* in steady state (`state`,
// `capacity`, `debt`, the drain list): it stays cached on every core. `repr(C)` fixes
// the order; `hot_fields_share_one_cache_line` checks it.
#[repr(C, align(64))]
pub struct Semaphore {
    /// Mirror of the queue length, for cheap reads. Written only under the lock.
    pub(crate) waiters: AtomicUsize,
    /// Total weight of the queued acquirers. Written only under the lock.
    pub(crate) waiting_weight: AtomicUsize,
    pub(crate) queues: Mutex<Queues>,
    /// Free permits and flags; see the `ledger` module.
    pub(crate) state: AtomicUsize,
    /// The ceiling. Written only under the lock.
    pub(crate) capacity: AtomicUsize,
    /// Permits held above the ceiling. Written only under the lock.
    pub(crate) debt: AtomicUsize,
    /// The count of the [`Latch`](crate::Latch) built on this semaphore: increments
    /// completed minus decrements. A plain semaphore never touches it. It shares the
    /// state word's line (in what was padding), since a latch updates both on every
    /// increment and every decrement.
    pub(crate) latch_count: AtomicUsize,
}

impl Semaphore {
    /// The largest capacity and the largest single request: `usize::MAX >> 3`.
    pub const MAX_PERMITS: usize = usize::MAX >> SHIFT;

    /// Creates a semaphore with `capacity` permits, all free.
    ///
    /// # Panics
    ///
    /// Panics if `capacity` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(10);
    /// assert_eq!((sem.capacity(), sem.available(), sem.in_use()), (10, 10, 0));
    /// ```
    #[track_caller]
    pub fn new(capacity: usize) -> Self {
        assert!(
            capacity <= Self::MAX_PERMITS,
            "capacity {capacity} exceeds Semaphore::MAX_PERMITS"
        );
        Self {
            waiters: AtomicUsize::new(0),
            waiting_weight: AtomicUsize::new(0),
            queues: Mutex::new(Queues::new()),
            state: AtomicUsize::new(capacity << SHIFT),
            capacity: AtomicUsize::new(capacity),
            debt: AtomicUsize::new(0),
            latch_count: AtomicUsize::new(0),
        }
    }

    /// Waits for one permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`](crate::AcquireError::Closed) if the semaphore is (or becomes) closed first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future before it completes gives up its place in the
    /// queue; if permits were already granted to it, they go to the next waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio_test::block_on(async {
    /// let sem = weir_core::Semaphore::new(1);
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(permit.num_permits(), 1);
    /// assert_eq!(sem.available(), 0);
    /// # });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire::new(self, 1)
    }

    /// Waits for `n` permits, taken all at once.
    ///
    /// A request above the current capacity waits aside (it blocks nobody) until the
    /// ceiling rises to fit it.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`](crate::AcquireError::Closed) if the semaphore is (or becomes) closed first;
    /// [`AcquireError::TooLarge`](crate::AcquireError::TooLarge) at once if `n` exceeds
    /// [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio_test::block_on(async {
    /// let sem = weir_core::Semaphore::new(8);
    /// let permit = sem.acquire_many(5).await.unwrap();
    /// assert_eq!((permit.num_permits(), sem.available()), (5, 3));
    /// # });
    /// ```
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire::new(self, n)
    }

    /// Waits for one permit that owns an `Arc` of the semaphore (`'static`).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = Arc::new(weir_core::Semaphore::new(1));
    /// let permit = sem.clone().acquire_owned().await.unwrap();
    /// let task = tokio::spawn(async move {
    ///     let _permit = permit; // released when the task ends
    /// });
    /// task.await.unwrap();
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        AcquireOwned::new(self, 1)
    }

    /// Waits for `n` permits that own an `Arc` of the semaphore.
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](Self::acquire_many).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # tokio_test::block_on(async {
    /// let sem = Arc::new(weir_core::Semaphore::new(4));
    /// let permit = sem.clone().acquire_many_owned(3).await.unwrap();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
    /// assert_eq!(sem.in_use(), 3);
    /// # });
    /// ```
    pub fn acquire_many_owned(self: Arc<Self>, n: usize) -> AcquireOwned {
        AcquireOwned::new(self, n)
    }

    /// Takes one permit if it is free now and nobody is queued ahead.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`], [`TryAcquireError::Closed`], or
    /// [`TryAcquireError::TooLarge`] when the capacity is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(1);
    /// let held = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// drop(held);
    /// assert!(sem.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<Permit<'_>, TryAcquireError> {
        self.try_take(1).map(|()| Permit::new(self, 1))
    }

    /// Takes `n` permits if they are free now and nobody is queued ahead.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::TooLarge`] if `n` is above the current capacity,
    /// [`TryAcquireError::Closed`] if the semaphore is closed, otherwise
    /// [`TryAcquireError::NoPermits`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(4);
    /// let permit = sem.try_acquire_many(3).unwrap();
    /// assert_eq!(permit.num_permits(), 3);
    /// assert!(sem.try_acquire_many(2).is_err());
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Result<Permit<'_>, TryAcquireError> {
        self.try_take(n).map(|()| Permit::new(self, n))
    }

    /// [`try_acquire`](Self::try_acquire) returning an [`OwnedPermit`].
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(1));
    /// let permit = sem.clone().try_acquire_owned().unwrap();
    /// assert_eq!(sem.available(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedPermit, TryAcquireError> {
        self.try_take(1).map(|()| OwnedPermit::new(self, 1))
    }

    /// [`try_acquire_many`](Self::try_acquire_many) returning an [`OwnedPermit`].
    ///
    /// # Errors
    ///
    /// As [`try_acquire_many`](Self::try_acquire_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(5));
    /// let permit = sem.clone().try_acquire_many_owned(5).unwrap();
    /// assert_eq!(permit.num_permits(), 5);
    /// ```
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: usize,
    ) -> Result<OwnedPermit, TryAcquireError> {
        self.try_take(n).map(|()| OwnedPermit::new(self, n))
    }

    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        match self.try_acquire_fast(n) {
            Ok(()) => Ok(()),
            Err(Fast::Closed) => Err(TryAcquireError::Closed),
            // Zero permits never wait, not even behind queued waiters.
            Err(Fast::Short) if n == 0 => Ok(()),
            Err(Fast::Short) => {
                let capacity = self.capacity();
                if n > capacity {
                    Err(TryAcquireError::TooLarge {
                        requested: n,
                        capacity,
                    })
                } else {
                    Err(TryAcquireError::NoPermits)
                }
            }
        }
    }

    /// Moves the ceiling to `capacity`, while tasks hold permits and wait.
    ///
    /// - Raising it frees the difference and grants, in FIFO order, every waiter that
    ///   now fits (including requests that were waiting aside above the old ceiling).
    /// - Lowering it takes away free permits first; if more are held than the new
    ///   ceiling, the excess becomes debt. Nothing held is revoked. Releases repay the
    ///   debt before anything is granted again, so in-use never exceeds the new ceiling
    ///   once the debt is repaid.
    ///
    /// Costs one pass over the queued waiters.
    ///
    /// # Panics
    ///
    /// Panics if `capacity` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(4);
    /// let held = sem.try_acquire_many(3).unwrap();
    /// sem.set_capacity(2); // one permit of debt
    /// assert_eq!((sem.in_use(), sem.available()), (3, 0));
    /// drop(held);
    /// assert_eq!((sem.in_use(), sem.available()), (0, 2));
    /// sem.set_capacity(6);
    /// assert_eq!(sem.available(), 6);
    /// ```
    #[track_caller]
    pub fn set_capacity(&self, capacity: usize) {
        assert!(
            capacity <= Self::MAX_PERMITS,
            "capacity {capacity} exceeds Semaphore::MAX_PERMITS"
        );
        self.reconfigure(|_| capacity, 0);
    }

    /// Closes the semaphore: every queued acquire fails with
    /// [`AcquireError::Closed`](crate::AcquireError::Closed) at once and later acquires fail too. Permits already
    /// held stay valid and release normally, so `close()` followed by
    /// [`wait_idle`](Self::wait_idle) waits for the work in flight. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio_test::block_on(async {
    /// let sem = weir_core::Semaphore::new(1);
    /// let held = sem.acquire().await.unwrap();
    /// sem.close();
    /// assert!(sem.is_closed());
    /// assert!(sem.acquire().await.is_err());
    /// drop(held); // still releases normally
    /// assert_eq!(sem.in_use(), 0);
    /// # });
    /// ```
    pub fn close(&self) {
        self.close_and_fail_waiters();
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(1);
    /// assert!(!sem.is_closed());
    /// sem.close();
    /// assert!(sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Waits until no permit is held (in-use is 0).
    ///
    /// Resolves at once if nothing is held, otherwise exactly when the last permit is
    /// released (or forgotten). It does not stop new acquires; call
    /// [`close`](Self::close) first for a shutdown that drains. Drain waiters live in
    /// their own queue, so they never take a wake-up meant for an acquirer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future just unregisters it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = Arc::new(weir_core::Semaphore::new(4));
    /// let permit = sem.clone().acquire_many_owned(2).await.unwrap();
    /// tokio::spawn(async move {
    ///     tokio::task::yield_now().await;
    ///     drop(permit);
    /// });
    /// sem.close();
    /// sem.wait_idle().await;
    /// assert_eq!(sem.in_use(), 0);
    /// # }
    /// ```
    pub fn wait_idle(&self) -> WaitIdle<'_> {
        WaitIdle::new(self)
    }

    /// The current ceiling.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(3);
    /// sem.set_capacity(7);
    /// assert_eq!(sem.capacity(), 7);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Permits held right now. Above [`capacity`](Self::capacity) while the ceiling was
    /// lowered below usage and the debt is not yet repaid.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(3);
    /// let _a = sem.try_acquire_many(2).unwrap();
    /// assert_eq!(sem.in_use(), 2);
    /// ```
    // Inlined: an adaptive permit reads it on every acquire.
    #[inline]
    pub fn in_use(&self) -> usize {
        self.held(self.state.load(Ordering::Acquire))
    }

    /// Permits free right now (0 while in debt). Free permits may still be reserved
    /// for a queued waiter that needs more than are free.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weir_core::Semaphore::new(3);
    /// let _a = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available(), 2);
    /// ```
    #[inline]
    pub fn available(&self) -> usize {
        free(self.state.load(Ordering::Acquire))
    }

    /// Number of acquirers queued right now (including those waiting aside above the
    /// ceiling).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_test::{assert_pending, task};
    ///
    /// let sem = weir_core::Semaphore::new(0);
    /// let mut waiting = task::spawn(sem.acquire());
    /// assert_pending!(waiting.poll());
    /// assert_eq!(sem.waiters(), 1);
    /// drop(waiting);
    /// assert_eq!(sem.waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.waiters.load(Ordering::Relaxed)
    }

    /// Total weight the queued acquirers ask for.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_test::{assert_pending, task};
    ///
    /// let sem = weir_core::Semaphore::new(1);
    /// let _held = sem.try_acquire().unwrap();
    /// let mut a = task::spawn(sem.acquire_many(1));
    /// let mut b = task::spawn(sem.acquire_many(4));
    /// assert_pending!(a.poll());
    /// assert_pending!(b.poll());
    /// assert_eq!(sem.waiting_permits(), 5);
    /// ```
    pub fn waiting_permits(&self) -> usize {
        self.waiting_weight.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod layout_tests {
    use std::mem::{offset_of, size_of};

    use crate::{Semaphore, ledger::Queues};

    /// The contended path writes the lock word, the acquirer queue, `eligible` and the
    /// two mirrors; they must sit in the semaphore's first cache line. `std`'s
    /// `Mutex` layout is not guaranteed, so this measures where the guarded data
    /// really starts.
    #[test]
    fn hot_fields_share_one_cache_line() {
        let sem = Semaphore::new(1);
        let base = std::ptr::from_ref(&sem).addr();
        let queues = std::ptr::from_ref(&*sem.lock()).addr() - base;
        let lock_word = offset_of!(Semaphore, queues);
        let hot_end = queues + offset_of!(Queues, eligible) + size_of::<usize>();
        assert_eq!(base % 64, 0);
        assert!(offset_of!(Semaphore, waiting_weight) < lock_word);
        // The lock word precedes the guarded data, so it lies in the same line.
        assert!(lock_word < queues);
        assert!(hot_end <= 64, "hot fields end at byte {hot_end}");
        assert!(offset_of!(Semaphore, state) >= 64);
        assert_eq!(
            offset_of!(Semaphore, latch_count) / 64,
            offset_of!(Semaphore, state) / 64
        );
        assert_eq!(size_of::<Semaphore>(), 128);
    }
}
