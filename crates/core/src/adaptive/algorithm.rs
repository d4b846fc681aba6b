//! The sample contract: [`Sample`], [`Outcome`] and the [`LimitAlgorithm`] trait.

use std::{fmt, time::Duration};

/// How a request that held a permit ended.
///
/// # Examples
///
/// ```
/// use weir_core::Outcome;
///
/// assert_ne!(Outcome::Success, Outcome::Overload);
/// assert_eq!(Outcome::default(), Outcome::Ignore);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// The request completed: its latency is a measurement of the system.
    Success,
    /// The request says nothing about the system's load (a local error, a client
    /// cancel, a permit dropped without an outcome): no sample is taken.
    #[default]
    Ignore,
    /// The system pushed back: a timeout, a rejection, a 429/503. Algorithms back off.
    Overload,
}

/// One observation fed to a [`LimitAlgorithm`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Outcome, Sample};
///
/// let s = Sample::new(Duration::from_millis(12), 7, Outcome::Success);
/// assert_eq!((s.latency.as_millis(), s.in_flight, s.outcome), (12, 7, Outcome::Success));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sample {
    /// Time from acquiring the permit to recording the outcome.
    pub latency: Duration,
    /// Permits in use when this request acquired its own, itself included.
    pub in_flight: usize,
    /// How the request ended.
    pub outcome: Outcome,
}

impl Sample {
    /// A sample.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Outcome, Sample};
    ///
    /// let s = Sample::new(Duration::ZERO, 1, Outcome::Overload);
    /// assert_eq!(s.outcome, Outcome::Overload);
    /// ```
    pub const fn new(latency: Duration, in_flight: usize, outcome: Outcome) -> Self {
        Self {
            latency,
            in_flight,
            outcome,
        }
    }
}

/// A concurrency-limit algorithm: it turns samples into a limit.
///
/// Implementations are plain state machines (no clock, no locks): the
/// [`AdaptiveLimiter`](crate::AdaptiveLimiter) serialises calls and moves its
/// semaphore's ceiling to the returned limit. Samples with [`Outcome::Ignore`] never
/// reach an algorithm through the limiter; implementations return the limit
/// unchanged for them anyway.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Aimd};
///
/// let mut aimd = Aimd::builder().initial_limit(20).build().unwrap();
/// assert_eq!(aimd.limit(), 20);
/// let ok = Sample::new(Duration::from_millis(1), 10, Outcome::Success);
/// assert_eq!(aimd.update(ok), 21);
/// ```
pub trait LimitAlgorithm: fmt::Debug + Send {
    /// The current limit (before any sample: the initial limit). Always at least 1.
    fn limit(&self) -> usize;

    /// Feeds one sample and returns the new limit (at least 1).
    fn update(&mut self, sample: Sample) -> usize;

    /// The successes this algorithm ignores in its current state (see [`Quiet`]),
    /// which lets the [`AdaptiveLimiter`](crate::AdaptiveLimiter) skip them without
    /// taking its lock. The limiter asks again after every
    /// [`update`](Self::update). The default, [`Quiet::NONE`], is always correct.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, adaptive::{Aimd, Quiet}};
    ///
    /// let aimd = Aimd::builder().initial_limit(10).timeout(Duration::from_secs(1)).build().unwrap();
    /// // Below half the limit and within the timeout, a success changes nothing.
    /// assert_eq!(aimd.quiet(), Quiet::new(5, Duration::from_secs(1)));
    /// ```
    fn quiet(&self) -> Quiet {
        Quiet::NONE
    }

    /// Whether this algorithm looks at [`Sample::latency`]. The
    /// [`AdaptiveLimiter`](crate::AdaptiveLimiter) asks once, when it is created: if
    /// not, its permits read no clock and their samples carry a zero latency
    /// (latencies passed explicitly, as to
    /// [`record_latency`](super::AdaptivePermit::record_latency), are kept). The
    /// default, `true`, is always correct.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::{Aimd, Fixed, Gradient}};
    ///
    /// assert!(Gradient::new().reads_latency());
    /// assert!(Aimd::new().reads_latency()); // its 5 s timeout
    /// assert!(!Aimd::builder().no_timeout().build().unwrap().reads_latency());
    /// // The baseline keeps its permits timed, to compare latencies with.
    /// assert!(Fixed::new(4).reads_latency());
    /// ```
    fn reads_latency(&self) -> bool {
        true
    }
}

impl<A: LimitAlgorithm + ?Sized> LimitAlgorithm for Box<A> {
    fn limit(&self) -> usize {
        (**self).limit()
    }

    fn update(&mut self, sample: Sample) -> usize {
        (**self).update(sample)
    }

    fn quiet(&self) -> Quiet {
        (**self).quiet()
    }

    fn reads_latency(&self) -> bool {
        (**self).reads_latency()
    }
}

/// A promise from a [`LimitAlgorithm`] about its current state: a
/// [`Success`](Outcome::Success) with `in_flight < in_flight_below` and
/// `latency <= latency_at_most` would leave it unchanged (same limit, same state).
/// Such samples are only counted, without the algorithm's lock.
///
/// Algorithms that learn from every success (a latency baseline, a window) keep
/// the default [`Quiet::NONE`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::adaptive::Quiet;
///
/// let quiet = Quiet::new(4, Duration::from_secs(2));
/// assert!(quiet.covers(3, Duration::from_secs(1)));
/// assert!(!quiet.covers(4, Duration::from_secs(1)));
/// assert!(!Quiet::NONE.covers(0, Duration::ZERO));
/// assert!(Quiet::ALL.covers(usize::MAX - 1, Duration::MAX));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quiet {
    /// Successes with fewer permits in flight than this are ignored…
    pub in_flight_below: usize,
    /// …if their latency is at most this.
    pub latency_at_most: Duration,
}

impl Quiet {
    /// Every sample may change the algorithm.
    pub const NONE: Self = Self::new(0, Duration::ZERO);

    /// No success changes the algorithm (only overloads do).
    pub const ALL: Self = Self::new(usize::MAX, Duration::MAX);

    /// Successes below `in_flight_below` in flight, with a latency of at most
    /// `latency_at_most`, are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::adaptive::Quiet;
    ///
    /// assert_eq!(Quiet::new(0, Duration::ZERO), Quiet::NONE);
    /// ```
    pub const fn new(in_flight_below: usize, latency_at_most: Duration) -> Self {
        Self {
            in_flight_below,
            latency_at_most,
        }
    }

    /// Whether a success with this in-flight count and latency is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::adaptive::Quiet;
    ///
    /// assert!(!Quiet::new(10, Duration::from_millis(5)).covers(1, Duration::from_millis(6)));
    /// ```
    pub fn covers(&self, in_flight: usize, latency: Duration) -> bool {
        in_flight < self.in_flight_below && latency <= self.latency_at_most
    }
}

/// A limit that never moves: the baseline to compare adaptive algorithms against, and
/// a way to turn adaptation off without changing types.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Fixed};
///
/// let mut fixed = Fixed::new(8);
/// let overload = Sample::new(Duration::from_secs(9), 8, Outcome::Overload);
/// assert_eq!(fixed.update(overload), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed(usize);

impl Fixed {
    /// A fixed limit of `limit` (at least 1: 0 is raised to 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Fixed};
    ///
    /// assert_eq!(Fixed::new(0).limit(), 1);
    /// ```
    pub const fn new(limit: usize) -> Self {
        Self(if limit == 0 { 1 } else { limit })
    }
}

impl LimitAlgorithm for Fixed {
    fn limit(&self) -> usize {
        self.0
    }

    fn quiet(&self) -> Quiet {
        Quiet::ALL
    }

    fn update(&mut self, _sample: Sample) -> usize {
        self.0
    }
}

/// `limit` as the integer limit exposed to the semaphore (truncated, at least 1).
pub(crate) fn exposed(limit: f64) -> usize {
    // `as` saturates and maps NaN to 0; the builders keep `limit` finite and ≥ 1.
    (limit as usize).max(1)
}
