//! [`Clock`]s for the rate limiters: tokio's (the default), `std`'s, and a manual
//! one for tests. A clock reads as whole nanoseconds since its own epoch, a `u64`:
//! the limiters do integer arithmetic only.

use std::{fmt, sync::Arc, time::Duration};

use crate::sync::{AtomicU64, Ordering};

/// A monotonic time source for the rate limiters, read as nanoseconds since an
/// epoch of the clock's choosing (fixed for a clock and its clones, at or before
/// the limiter's creation).
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
/// let t0 = clock.now_nanos();
/// clock.advance(std::time::Duration::from_millis(5));
/// assert_eq!(clock.now_nanos() - t0, 5_000_000);
/// ```
pub trait Clock: fmt::Debug + Send + Sync {
    /// Nanoseconds since the clock's epoch.
    fn now_nanos(&self) -> u64;
}

/// Whole nanoseconds in `d`, saturating (no `u128` arithmetic).
#[inline]
fn duration_nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// [`tokio::time::Instant::now`] since the clock's creation: follows tokio's paused
/// test time. The default.
///
/// # Examples
///
/// ```
/// use weir_core::rate::{Clock, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let clock = TokioClock::new();
/// tokio::time::advance(std::time::Duration::from_secs(1)).await;
/// assert_eq!(clock.now_nanos(), 1_000_000_000);
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose epoch is now.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::{Clock, TokioClock};
    ///
    /// let clock = TokioClock::new();
    /// assert!(clock.now_nanos() < 1_000_000_000);
    /// ```
    pub fn new() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        duration_nanos(tokio::time::Instant::now().saturating_duration_since(self.epoch))
    }
}

/// [`std::time::Instant::now`] since the clock's creation: skips tokio's test-time
/// check, ignores paused time.
///
/// # Examples
///
/// ```
/// use weir_core::rate::{Clock, StdClock};
///
/// let clock = StdClock::new();
/// let (a, b) = (clock.now_nanos(), clock.now_nanos());
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    epoch: std::time::Instant,
}

impl StdClock {
    /// A clock whose epoch is now.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::{Clock, StdClock};
    ///
    /// assert!(StdClock::new().now_nanos() < 1_000_000_000);
    /// ```
    pub fn new() -> Self {
        Self {
            epoch: std::time::Instant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        duration_nanos(std::time::Instant::now().saturating_duration_since(self.epoch))
    }
}

/// A clock that moves only when told to; clones share the same time. It starts at 0.
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
/// other.advance(Duration::from_secs(2));
/// assert_eq!(clock.now_nanos(), 2_000_000_000);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// assert_eq!(clock.now_nanos(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
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
    /// clock.advance(Duration::from_nanos(7));
    /// assert_eq!(clock.now_nanos(), 7);
    /// ```
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(duration_nanos(by), Ordering::Release);
    }

    /// Sets the time to `at` after the epoch — also backwards, to test how a limiter
    /// handles a clock that steps back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::rate::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// clock.set(Duration::from_secs(3));
    /// clock.set(Duration::from_secs(1));
    /// assert_eq!(clock.now_nanos(), 1_000_000_000);
    /// ```
    pub fn set(&self, at: Duration) {
        self.nanos.store(duration_nanos(at), Ordering::Release);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}
