//! Errors returned by weir-core's primitives.

/// Why an `acquire` future failed.
///
/// Waiting never fails because permits are short: an acquire waits until it is
/// granted, the semaphore is closed, or the future is dropped.
///
/// # Examples
///
/// ```
/// use weir_core::{AcquireError, Semaphore};
///
/// # tokio_test::block_on(async {
/// let sem = Semaphore::new(1);
/// sem.close();
/// assert_eq!(sem.acquire().await.unwrap_err(), AcquireError::Closed);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AcquireError {
    /// The semaphore was closed before the permits were granted.
    #[error("semaphore closed")]
    Closed,
    /// The request exceeds [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS),
    /// so no ceiling can ever satisfy it.
    #[error("requested {requested} permits, more than any semaphore can hold ({max})")]
    TooLarge {
        /// Permits requested.
        requested: usize,
        /// The largest capacity a semaphore can have.
        max: usize,
    },
}

/// Why a `try_acquire` call did not take permits.
///
/// # Examples
///
/// ```
/// use weir_core::{Semaphore, TryAcquireError};
///
/// let sem = Semaphore::new(2);
/// let _held = sem.try_acquire().unwrap();
/// assert_eq!(sem.try_acquire_many(2).unwrap_err(), TryAcquireError::NoPermits);
/// assert_eq!(
///     sem.try_acquire_many(3).unwrap_err(),
///     TryAcquireError::TooLarge { requested: 3, capacity: 2 },
/// );
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// Not enough permits are free right now, or older waiters are queued ahead.
    #[error("no permits available")]
    NoPermits,
    /// The semaphore is closed.
    #[error("semaphore closed")]
    Closed,
    /// The request is above the current ceiling: only raising the capacity can ever
    /// satisfy it.
    #[error("requested {requested} permits but the capacity is {capacity}")]
    TooLarge {
        /// Permits requested.
        requested: usize,
        /// The ceiling when the request was made.
        capacity: usize,
    },
}

/// Why [`Latch::decrement`](crate::Latch::decrement) refused.
///
/// # Examples
///
/// ```
/// use weir_core::{DecrementError, Latch};
///
/// let latch = Latch::new(4);
/// latch.try_increment().unwrap();
/// assert_eq!(
///     latch.decrement_many(2).unwrap_err(),
///     DecrementError { requested: 2, count: 1 },
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("cannot decrement the latch by {requested}: its count is {count}")]
pub struct DecrementError {
    /// How much the caller tried to take off.
    pub requested: usize,
    /// The count at the time (the decrement left it unchanged).
    pub count: usize,
}
