//! [`Clock`]s for the rate limiters: tokio's (the default), `std`'s, and a manual
//! one for tests.

use std::{fmt, sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::sync::{AtomicU64, Ordering};

/// A monotonic time source for the rate limiters.
///
/// The limiters read it inside their critical section (after loading their state,
/// retried with it) and never trust it to be monotonic: a reading earlier than the
/// state proves possible is clamped up (golang/go#71360).
///
/// # Examples
///
/// ```
/// use weir_core::rate::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(std::time::Duration::from_millis(5));
/// assert_eq!(clock.now() - t0, std::time::Duration::from_millis(5));
/// ```
pub trait Clock: fmt::Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> Instant;
}

/// [`tokio::time::Instant::now`]: follows tokio's paused test time. The default.
///
/// # Examples
///
/// ```
/// use weir_core::rate::{Clock, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let t0 = TokioClock.now();
/// tokio::time::advance(std::time::Duration::from_secs(1)).await;
/// assert_eq!(TokioClock.now() - t0, std::time::Duration::from_secs(1));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// [`std::time::Instant::now`]: skips tokio's test-time lookup (a little cheaper when
/// tokio's `test-util` feature is on), ignores paused time.
///
/// # Examples
///
/// ```
/// use weir_core::rate::{Clock, StdClock};
///
/// let (a, b) = (StdClock.now(), StdClock.now());
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StdClock;

impl Clock for StdClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::from_std(std::time::Instant::now())
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// For synchronous tests of [`RateLimiter::try_acquire`](super::RateLimiter::try_acquire)
/// and the keyed limiter. Async waits sleep on tokio's timer, so test them with
/// [`TokioClock`] under paused time instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::rate::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let other = clock.clone();
/// let t0 = clock.now();
/// other.advance(Duration::from_secs(2));
/// assert_eq!(clock.now() - t0, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    base: Instant,
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at the current instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// assert_eq!(clock.now(), clock.now());
    /// ```
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the time forward by `by`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::rate::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let t0 = clock.now();
    /// clock.advance(Duration::from_nanos(7));
    /// assert_eq!(clock.now() - t0, Duration::from_nanos(7));
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(by, Ordering::Release);
    }

    /// Sets the time to `at` after the clock's creation — also backwards, to test
    /// how a limiter handles a clock that steps back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::rate::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let t0 = clock.now();
    /// clock.set(Duration::from_secs(3));
    /// clock.set(Duration::from_secs(1));
    /// assert_eq!(clock.now() - t0, Duration::from_secs(1));
    /// ```
    pub fn set(&self, at: Duration) {
        let at = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(at, Ordering::Release);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// Nanoseconds from `origin` to `now`, 0 if `now` is earlier.
#[inline]
pub(crate) fn nanos_since(origin: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}
