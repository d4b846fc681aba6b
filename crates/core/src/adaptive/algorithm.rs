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
}

impl<A: LimitAlgorithm + ?Sized> LimitAlgorithm for Box<A> {
    fn limit(&self) -> usize {
        (**self).limit()
    }

    fn update(&mut self, sample: Sample) -> usize {
        (**self).update(sample)
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

    fn update(&mut self, _sample: Sample) -> usize {
        self.0
    }
}

/// `limit` as the integer limit exposed to the semaphore (truncated, at least 1).
pub(crate) fn exposed(limit: f64) -> usize {
    // `as` saturates and maps NaN to 0; the builders keep `limit` finite and ≥ 1.
    (limit as usize).max(1)
}
