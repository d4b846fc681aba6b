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

/// A refusal for now: the cells would conform after [`wait`](Self::wait) (if
/// nothing else takes them first).
///
/// It holds whole nanoseconds and makes the [`Duration`] only when asked, which
/// keeps a refusal as cheap as the check itself.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::rate::NotYet;
///
/// let refusal = NotYet::new(Duration::from_millis(20));
/// assert_eq!(refusal.wait(), Duration::from_millis(20));
/// assert_eq!(refusal.wait_nanos(), 20_000_000);
/// assert_eq!(refusal.to_string(), "rate limited for another 20ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
#[error("rate limited for another {:?}", self.wait())]
pub struct NotYet {
    nanos: u64,
}

impl NotYet {
    /// A refusal whose cells conform after `wait` (saturating at about 584 years).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::rate::NotYet;
    ///
    /// assert_eq!(NotYet::new(Duration::from_secs(2)).wait(), Duration::from_secs(2));
    /// ```
    pub fn new(wait: Duration) -> Self {
        Self {
            nanos: u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    #[inline]
    pub(crate) fn from_nanos(nanos: u64) -> Self {
        Self { nanos }
    }

    /// How long until the cells would conform.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::rate::NotYet;
    ///
    /// assert_eq!(NotYet::new(Duration::from_nanos(1500)).wait(), Duration::from_nanos(1500));
    /// ```
    #[inline]
    pub fn wait(&self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// [`wait`](Self::wait) in whole nanoseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::rate::NotYet;
    ///
    /// assert_eq!(NotYet::new(Duration::from_micros(3)).wait_nanos(), 3_000);
    /// ```
    #[inline]
    pub fn wait_nanos(&self) -> u64 {
        self.nanos
    }
}

/// Why a `try_acquire` on a rate limiter did not conform.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Quota, RateLimiter, rate::{ManualClock, NotYet, RateLimitError}};
///
/// let limiter = RateLimiter::with_clock(Quota::per_second(50).unwrap(), ManualClock::new());
/// for _ in 0..50 {
///     limiter.try_acquire(1).unwrap();
/// }
/// let refusal = NotYet::new(Duration::from_millis(20));
/// assert_eq!(limiter.try_acquire(1), Err(RateLimitError::NotYet(refusal)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The cells do not conform yet; see [`NotYet::wait`].
    #[error(transparent)]
    NotYet(#[from] NotYet),
    /// Async acquirers are waiting; `try_acquire` does not overtake them.
    #[error("acquirers are queued ahead")]
    Queued,
    /// More cells than the burst: this can never conform.
    #[error(transparent)]
    InsufficientCapacity(#[from] InsufficientCapacity),
}
