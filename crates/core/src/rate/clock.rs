//! [`Clock`]s for the rate limiters: [`AutoClock`] (the default: the TSC through
//! `quanta`, or tokio's clock when tokio's time is paused), tokio's, `std`'s,
//! `quanta`'s and a manual one for tests. A clock reads as whole nanoseconds since
//! its own epoch, a `u64`: the limiters do integer arithmetic only.

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
/// test time, at the cost of a `clock_gettime` per reading (25–30 ns on the VM the
/// benches ran on, against about 8 for [`QuantaClock`]). [`AutoClock`] picks it
/// when tokio's time is paused; name it explicitly for a limiter created *before*
/// the time is paused (or outside the runtime whose time will be paused).
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

/// `quanta`'s clock since the clock's creation: the CPU's time-stamp counter
/// (invariant TSC on x86-64, the system counter on AArch64), calibrated once per
/// process against the monotonic clock, or the monotonic clock itself where there
/// is no usable counter. A reading costs a few nanoseconds (about 8 on the AMD EPYC
/// VM the benches ran on). It ignores tokio's paused time. (Under miri and loom it
/// reads [`std::time::Instant`] instead.)
///
/// # Examples
///
/// ```
/// use weir_core::rate::{Clock, QuantaClock};
///
/// let clock = QuantaClock::new();
/// let (a, b) = (clock.now_nanos(), clock.now_nanos());
/// assert!(a <= b && b < 1_000_000_000);
/// ```
#[derive(Debug, Clone)]
pub struct QuantaClock {
    #[cfg(not(any(miri, loom)))]
    clock: quanta::Clock,
    /// The raw counter at creation.
    #[cfg(not(any(miri, loom)))]
    epoch: u64,
    #[cfg(any(miri, loom))]
    std: StdClock,
}

impl QuantaClock {
    /// A clock whose epoch is now. The first one in a process calibrates the counter
    /// (typically well under a millisecond; `quanta` stops after 200 ms at most).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::{Clock, QuantaClock};
    ///
    /// assert!(QuantaClock::new().now_nanos() < 1_000_000_000);
    /// ```
    pub fn new() -> Self {
        #[cfg(not(any(miri, loom)))]
        {
            // `quanta::Clock::new` asks the CPU (cpuid) every time: do it once.
            static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
            let clock = CLOCK.get_or_init(quanta::Clock::new).clone();
            Self {
                epoch: clock.raw(),
                clock,
            }
        }
        #[cfg(any(miri, loom))]
        Self {
            std: StdClock::new(),
        }
    }
}

impl QuantaClock {
    /// A raw reading: counter ticks (nanoseconds under miri and loom). Only the
    /// difference of two readings means anything, through [`Self::ticks_to_nanos`].
    #[inline]
    fn ticks(&self) -> u64 {
        #[cfg(not(any(miri, loom)))]
        {
            self.clock.raw()
        }
        #[cfg(any(miri, loom))]
        self.std.now_nanos()
    }

    /// Nanoseconds from raw reading `start` to raw reading `end` (0 if `end` is not
    /// later): one scaling for the pair.
    #[inline]
    fn ticks_to_nanos(&self, start: u64, end: u64) -> u64 {
        #[cfg(not(any(miri, loom)))]
        {
            self.clock.delta_as_nanos(start, end)
        }
        #[cfg(any(miri, loom))]
        end.saturating_sub(start)
    }
}

impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for QuantaClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        #[cfg(not(any(miri, loom)))]
        {
            self.clock.delta_as_nanos(self.epoch, self.clock.raw())
        }
        #[cfg(any(miri, loom))]
        self.std.now_nanos()
    }
}

/// The default clock of the rate and adaptive limiters: a [`QuantaClock`] (a few
/// nanoseconds a reading), unless tokio's time is paused on this thread when the
/// clock is created — in a `#[tokio::test(start_paused = true)]`, say — in which
/// case a [`TokioClock`], so that paused-time tests see the time they advance.
///
/// The choice is made once, at creation. A limiter created before the time is
/// paused, or outside the runtime whose time will be paused, runs on the real
/// clock: give it [`AutoClock::tokio`] (or a [`TokioClock`]) instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::rate::{AutoClock, Clock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let clock = AutoClock::new();
/// assert!(clock.is_tokio()); // tokio's time is paused
/// tokio::time::advance(Duration::from_millis(3)).await;
/// assert_eq!(clock.now_nanos(), 3_000_000);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AutoClock(Auto);

#[derive(Debug, Clone)]
enum Auto {
    Tokio(TokioClock),
    Quanta(QuantaClock),
}

impl AutoClock {
    /// A [`TokioClock`] if tokio's time is paused here and now, else a
    /// [`QuantaClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::AutoClock;
    ///
    /// // No runtime, so no paused time: the fast clock.
    /// assert!(!AutoClock::new().is_tokio());
    /// ```
    pub fn new() -> Self {
        if tokio_time_paused() {
            Self::tokio()
        } else {
            Self::quanta()
        }
    }

    /// Always tokio's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::AutoClock;
    ///
    /// assert!(AutoClock::tokio().is_tokio());
    /// ```
    pub fn tokio() -> Self {
        Self(Auto::Tokio(TokioClock::new()))
    }

    /// Always `quanta`'s clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::AutoClock;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// assert!(!AutoClock::quanta().is_tokio());
    /// # }
    /// ```
    pub fn quanta() -> Self {
        Self(Auto::Quanta(QuantaClock::new()))
    }

    /// Whether this clock reads tokio's time (and so follows paused time).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::rate::AutoClock;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert!(!AutoClock::new().is_tokio()); // time is not paused
    /// # }
    /// ```
    pub fn is_tokio(&self) -> bool {
        matches!(self.0, Auto::Tokio(_))
    }
}

impl AutoClock {
    /// A raw reading for timing an interval: counter ticks on the TSC, nanoseconds
    /// on tokio's clock. Keep two and convert their difference once with
    /// [`ticks_to_nanos`](Self::ticks_to_nanos): a timed permit pays one scaling,
    /// not two.
    #[inline]
    pub(crate) fn ticks(&self) -> u64 {
        match &self.0 {
            Auto::Quanta(clock) => clock.ticks(),
            Auto::Tokio(clock) => tokio_nanos(clock),
        }
    }

    /// Nanoseconds between two [`ticks`](Self::ticks) readings (0 if `end` is not
    /// later than `start`).
    #[inline]
    pub(crate) fn ticks_to_nanos(&self, start: u64, end: u64) -> u64 {
        match &self.0 {
            Auto::Quanta(clock) => clock.ticks_to_nanos(start, end),
            Auto::Tokio(_) => end.saturating_sub(start),
        }
    }
}

/// tokio's clock, out of line: it is the paused-time test clock, and a
/// `clock_gettime` dwarfs a call, so the TSC path stays small enough to inline.
#[cold]
#[inline(never)]
fn tokio_nanos(clock: &TokioClock) -> u64 {
    clock.now_nanos()
}

impl Default for AutoClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for AutoClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        match &self.0 {
            Auto::Quanta(clock) => clock.now_nanos(),
            Auto::Tokio(clock) => tokio_nanos(clock),
        }
    }
}

/// Whether tokio's time is paused for this thread (only possible with tokio's
/// `test-util` feature, inside a current-thread runtime).
///
/// Unpaused, tokio's `Instant::now` *is* `std`'s, so once `std`'s clock has ticked
/// past a reading taken after `t0`, tokio's clock has moved past `t0` too. Paused,
/// it stays at `t0`: it advances only on `advance` or when the runtime parks,
/// neither of which can happen on this thread in between.
fn tokio_time_paused() -> bool {
    let t0 = tokio::time::Instant::now();
    let s0 = std::time::Instant::now();
    let mut spins = 0_u32;
    while std::time::Instant::now() == s0 {
        spins += 1;
        if spins == 1 << 20 {
            // `std`'s clock does not move: trust tokio's, which is right either way.
            return true;
        }
        std::hint::spin_loop();
    }
    tokio::time::Instant::now() == t0
}

/// A clock that moves only when told to; clones share the same time. It starts at 0.
///
/// For synchronous tests of [`RateLimiter::try_acquire`](super::RateLimiter::try_acquire)
/// and the keyed limiter. Async waits sleep on tokio's timer, so test them with
/// [`TokioClock`] (or the default [`AutoClock`]) under paused time instead.
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
