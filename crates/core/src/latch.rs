//! [`Latch`]: in-flight counting for callback-style code.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;

use crate::{
    AcquireError, DecrementError, Permit, Semaphore, TryAcquireError, acquire::Acquire,
    sync::Ordering, wait_idle::WaitIdle,
};

/// A counter with a ceiling, for work whose completion is reported somewhere else
/// than where it started: increment before handing work out, decrement when it is
/// acknowledged (an AMQP ack, an HTTP response callback).
///
/// It is a [`Semaphore`] without guards: [`increment`](Self::increment) waits while the
/// count is at the ceiling (strict FIFO), [`decrement`](Self::decrement) may be called
/// from anywhere and refuses to go below zero. [`set_max`](Self::set_max) moves the
/// ceiling with the semaphore's semantics (raising wakes blocked incrementers;
/// lowering never takes anything back), and [`wait_for_empty`](Self::wait_for_empty)
/// waits for the count to reach zero on a queue of its own, so a decrement never wakes
/// the wrong kind of waiter.
///
/// Prefer a [`Semaphore`] and its RAII permits when the release happens in the same
/// task: a forgotten decrement is a leak the type system cannot catch.
///
/// # Examples
///
/// ```
/// use weir_core::Latch;
///
/// # tokio_test::block_on(async {
/// let prefetch = Latch::new(2);
/// prefetch.increment().await.unwrap(); // delivery 1 handed to a worker
/// prefetch.increment().await.unwrap(); // delivery 2
/// assert!(prefetch.try_increment().is_err()); // window full
/// prefetch.decrement().unwrap(); // delivery 1 acked
/// assert_eq!(prefetch.count(), 1);
/// prefetch.decrement().unwrap();
/// assert!(prefetch.decrement().is_err()); // never wraps below zero
/// prefetch.wait_for_empty().await;
/// # });
/// ```
#[derive(Debug)]
pub struct Latch {
    sem: Semaphore,
}

impl Latch {
    /// Creates a latch with count 0 and ceiling `max`.
    ///
    /// # Panics
    ///
    /// Panics if `max` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(8);
    /// assert_eq!((latch.count(), latch.max()), (0, 8));
    /// ```
    #[track_caller]
    pub fn new(max: usize) -> Self {
        Self {
            sem: Semaphore::new(max),
        }
    }

    /// Adds one to the count, waiting (FIFO) while the count is at the ceiling.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the latch is (or becomes) closed first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped increment never changes the count; its queue place
    /// passes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio_test::block_on(async {
    /// let latch = weir_core::Latch::new(1);
    /// latch.increment().await.unwrap();
    /// assert_eq!(latch.count(), 1);
    /// # });
    /// ```
    pub fn increment(&self) -> Increment<'_> {
        self.increment_many(1)
    }

    /// Adds `n` to the count at once, waiting while it would exceed the ceiling. A
    /// weight above the ceiling waits aside until the ceiling rises.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::acquire_many`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`increment`](Self::increment).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio_test::block_on(async {
    /// let bytes_in_flight = weir_core::Latch::new(1 << 20);
    /// bytes_in_flight.increment_many(4096).await.unwrap();
    /// assert_eq!(bytes_in_flight.count(), 4096);
    /// # });
    /// ```
    pub fn increment_many(&self, n: usize) -> Increment<'_> {
        Increment {
            inner: self.sem.acquire_many(n),
        }
    }

    /// Adds one to the count if that stays within the ceiling and nobody waits ahead.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::try_acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(1);
    /// assert!(latch.try_increment().is_ok());
    /// assert!(latch.try_increment().is_err());
    /// ```
    pub fn try_increment(&self) -> Result<(), TryAcquireError> {
        self.try_increment_many(1)
    }

    /// Adds `n` to the count if that stays within the ceiling and nobody waits ahead.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::try_acquire_many`].
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(3);
    /// latch.try_increment_many(3).unwrap();
    /// assert_eq!(latch.count(), 3);
    /// ```
    pub fn try_increment_many(&self, n: usize) -> Result<(), TryAcquireError> {
        self.sem.try_acquire_many(n).map(count_in)
    }

    /// Takes one off the count and lets the oldest blocked incrementer in if it fits.
    ///
    /// # Errors
    ///
    /// [`DecrementError`] if the count is 0; the count is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(1);
    /// latch.try_increment().unwrap();
    /// latch.decrement().unwrap();
    /// assert_eq!(latch.count(), 0);
    /// assert!(latch.decrement().is_err());
    /// ```
    pub fn decrement(&self) -> Result<(), DecrementError> {
        self.decrement_many(1)
    }

    /// Takes `n` off the count at once.
    ///
    /// # Errors
    ///
    /// [`DecrementError`] if the count is below `n`; the count is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(10);
    /// latch.try_increment_many(5).unwrap();
    /// latch.decrement_many(3).unwrap();
    /// assert_eq!(latch.count(), 2);
    /// ```
    pub fn decrement_many(&self, n: usize) -> Result<(), DecrementError> {
        self.sem
            .latch_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                count.checked_sub(n)
            })
            .map_err(|count| DecrementError {
                requested: n,
                count,
            })?;
        // The `n` came out of completed increments, whose permits are all held, so they
        // are released as a permit guard would release them: lock-free unless a
        // waiter, debt or a drain waiter must hear about it.
        self.sem.release(n);
        Ok(())
    }

    /// Moves the ceiling. Raising it wakes every blocked incrementer that now fits;
    /// lowering it below the count takes nothing back: increments wait until the count
    /// has fallen below the new ceiling.
    ///
    /// # Panics
    ///
    /// Panics if `max` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(1);
    /// latch.try_increment().unwrap();
    /// latch.set_max(2);
    /// assert!(latch.try_increment().is_ok());
    /// latch.set_max(1);
    /// assert_eq!((latch.count(), latch.max()), (2, 1));
    /// ```
    #[track_caller]
    pub fn set_max(&self, max: usize) {
        self.sem.set_capacity(max);
    }

    /// Waits until the count is 0. Resolves at once if it already is.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only unregisters it.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio_test::block_on(async {
    /// let latch = weir_core::Latch::new(4);
    /// latch.wait_for_empty().await; // nothing in flight
    /// assert_eq!(latch.count(), 0);
    /// # });
    /// ```
    pub fn wait_for_empty(&self) -> WaitIdle<'_> {
        self.sem.wait_idle()
    }

    /// The current count: completed increments minus decrements. An increment that
    /// has been let in but whose future has not yet returned is not counted yet, so a
    /// decrement can never take back what an increment still owns; it still holds its
    /// place under the ceiling, and [`wait_for_empty`](Self::wait_for_empty) waits for
    /// it.
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(4);
    /// latch.try_increment().unwrap();
    /// assert_eq!(latch.count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        self.sem.latch_count.load(Ordering::Acquire)
    }

    /// The current ceiling.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_core::Latch::new(4).max(), 4);
    /// ```
    pub fn max(&self) -> usize {
        self.sem.capacity()
    }

    /// Number of incrementers waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_test::{assert_pending, task};
    ///
    /// let latch = weir_core::Latch::new(0);
    /// let mut blocked = task::spawn(latch.increment());
    /// assert_pending!(blocked.poll());
    /// assert_eq!(latch.waiters(), 1);
    /// ```
    pub fn waiters(&self) -> usize {
        self.sem.waiters()
    }

    /// Fails every blocked and future increment; decrements keep working, so
    /// `close()` then [`wait_for_empty`](Self::wait_for_empty) drains.
    ///
    /// # Examples
    ///
    /// ```
    /// let latch = weir_core::Latch::new(4);
    /// latch.close();
    /// assert!(latch.is_closed());
    /// assert!(latch.try_increment().is_err());
    /// ```
    pub fn close(&self) {
        self.sem.close();
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!weir_core::Latch::new(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.sem.is_closed()
    }
}

pin_project! {
    /// Future returned by [`Latch::increment`] and [`Latch::increment_many`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it leaves the count unchanged and gives up its queue place.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_test::{assert_pending, assert_ready_ok, task};
    ///
    /// let latch = weir_core::Latch::new(1);
    /// latch.try_increment().unwrap();
    /// let mut increment = task::spawn(latch.increment());
    /// assert_pending!(increment.poll()); // window full
    /// latch.decrement().unwrap();
    /// assert!(increment.is_woken());
    /// assert_ready_ok!(increment.poll());
    /// assert_eq!(latch.count(), 1);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Increment<'a> {
        #[pin]
        inner: Acquire<'a>,
    }
}

impl Future for Increment<'_> {
    type Output = Result<(), AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let permit = ready!(self.project().inner.poll(cx))?;
        count_in(permit);
        Poll::Ready(Ok(()))
    }
}

/// Completes an increment: the permits stay held without a guard, and only then
/// does the count include them, so a decrement never takes back permits that an
/// increment still owns.
fn count_in(permit: Permit<'_>) {
    let (sem, n) = (permit.semaphore(), permit.num_permits());
    permit.leak();
    sem.latch_count.fetch_add(n, Ordering::Release);
}

impl fmt::Debug for Increment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Increment")
            .field("inner", &self.inner)
            .finish()
    }
}
