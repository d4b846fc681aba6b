//! Errors of the rate limiters.

use std::time::Duration;

/// A request for more cells than the burst: it can never conform.
///
/// # Examples
///
/// ```
/// use weir_core::{Quota, RateLimiter, rate::InsufficientCapacity};
///
/// # tokio_test::block_on(async {
/// let limiter = RateLimiter::new(Quota::per_second(5).unwrap());
/// let err = limiter.acquire(6).await.unwrap_err();
/// assert_eq!(err, InsufficientCapacity { requested: 6, burst: 5 });
/// assert_eq!(err.to_string(), "requested 6 cells but the burst is 5: it can never conform");
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("requested {requested} cells but the burst is {burst}: it can never conform")]
pub struct InsufficientCapacity {
    /// Cells requested.
    pub requested: u32,
    /// The quota's burst.
    pub burst: u32,
}

/// Why a `try_acquire` on a rate limiter did not conform.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Quota, RateLimiter, rate::{ManualClock, RateLimitError}};
///
/// let limiter = RateLimiter::with_clock(Quota::per_second(50).unwrap(), ManualClock::new());
/// for _ in 0..50 {
///     limiter.try_acquire(1).unwrap();
/// }
/// assert_eq!(
///     limiter.try_acquire(1).unwrap_err(),
///     RateLimitError::NotYet { wait: Duration::from_millis(20) },
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The cells do not conform yet; they would after `wait` (if nothing else takes
    /// them first).
    #[error("rate limited for another {wait:?}")]
    NotYet {
        /// How long until the request would conform.
        wait: Duration,
    },
    /// Async acquirers are waiting; `try_acquire` does not overtake them.
    #[error("acquirers are queued ahead")]
    Queued,
    /// More cells than the burst: this can never conform.
    #[error(transparent)]
    InsufficientCapacity(#[from] InsufficientCapacity),
}
