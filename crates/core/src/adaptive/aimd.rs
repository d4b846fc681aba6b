//! [`Aimd`]: additive increase, multiplicative decrease on loss.

use std::time::Duration;

use super::{LimitAlgorithm, Outcome, Quiet, Sample};
use crate::config::{ConfigError, check, check_limits};

/// Additive increase, multiplicative decrease: +1 on a success while at least half
/// the limit is in use, `× backoff_ratio` on an overload or a latency above
/// `timeout`. Loss-driven only: latency below the timeout does not move it down, so
/// pair it with a system that pushes back (rejections, timeouts), and wrap it in
/// [`Windowed`](super::Windowed) to react once per window rather than once per lost
/// request.
///
/// Defaults: initial 20, min **1** (Netflix's AIMD floors at 20), max 200, backoff
/// 0.9, timeout 5 s. Without a timeout ([`no_timeout`](AimdBuilder::no_timeout)) it
/// reads no latency, and an [`AdaptiveLimiter`](crate::AdaptiveLimiter) running it
/// reads no clock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Aimd};
///
/// let mut aimd = Aimd::builder().initial_limit(30).build().unwrap();
/// let loss = Sample::new(Duration::from_millis(1), 30, Outcome::Overload);
/// assert_eq!(aimd.update(loss), 27);
/// // Below 50% utilisation a success says nothing about the limit.
/// let idle = Sample::new(Duration::from_millis(1), 13, Outcome::Success);
/// assert_eq!(aimd.update(idle), 27);
/// ```
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: usize,
    min: usize,
    max: usize,
    backoff_ratio: f64,
    timeout: Duration,
}

impl Aimd {
    /// AIMD with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Aimd};
    ///
    /// assert_eq!(Aimd::new().limit(), 20);
    /// ```
    pub fn new() -> Self {
        AimdBuilder::default().build_unchecked()
    }

    /// A builder, starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Aimd};
    ///
    /// let aimd = Aimd::builder().initial_limit(5).max_limit(10).build().unwrap();
    /// assert_eq!(aimd.limit(), 5);
    /// ```
    pub fn builder() -> AimdBuilder {
        AimdBuilder::default()
    }
}

impl Default for Aimd {
    fn default() -> Self {
        Self::new()
    }
}

impl LimitAlgorithm for Aimd {
    fn limit(&self) -> usize {
        self.limit
    }

    fn update(&mut self, sample: Sample) -> usize {
        let limit = self.limit;
        let next = match sample.outcome {
            Outcome::Ignore => limit,
            Outcome::Overload => (limit as f64 * self.backoff_ratio) as usize,
            Outcome::Success if sample.latency > self.timeout => {
                (limit as f64 * self.backoff_ratio) as usize
            }
            // Grow only while at least half the limit is in use: an idle system
            // must not inflate its limit.
            Outcome::Success if sample.in_flight.saturating_mul(2) >= limit => limit + 1,
            Outcome::Success => limit,
        };
        self.limit = next.clamp(self.min, self.max);
        self.limit
    }

    /// Successes within the timeout change nothing below half the limit (the
    /// system is app-limited), nor anywhere at the maximum limit.
    fn quiet(&self) -> Quiet {
        let in_flight_below = if self.limit >= self.max {
            usize::MAX
        } else {
            // `in_flight * 2 < limit`
            self.limit.div_ceil(2)
        };
        Quiet::new(in_flight_below, self.timeout)
    }

    /// Only to compare it with the timeout: without one, no.
    fn reads_latency(&self) -> bool {
        self.timeout != Duration::MAX
    }
}

/// Configures an [`Aimd`]; [`build`](Self::build) validates.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::adaptive::Aimd;
///
/// let err = Aimd::builder().min_limit(0).build().unwrap_err();
/// assert_eq!(err.field(), "min_limit");
/// assert!(Aimd::builder().timeout(Duration::from_secs(1)).build().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct AimdBuilder {
    initial: usize,
    min: usize,
    max: usize,
    backoff_ratio: f64,
    timeout: Duration,
}

impl Default for AimdBuilder {
    fn default() -> Self {
        Self {
            initial: 20,
            min: 1,
            max: 200,
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        }
    }
}

impl AimdBuilder {
    /// The limit before any sample (default 20), within `[min_limit, max_limit]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Aimd};
    ///
    /// assert_eq!(Aimd::builder().initial_limit(3).build().unwrap().limit(), 3);
    /// ```
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.initial = limit;
        self
    }

    /// The floor (default 1, at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Aimd};
    ///
    /// let mut aimd = Aimd::builder().initial_limit(10).min_limit(10).build().unwrap();
    /// assert_eq!(aimd.update(Sample::new(Duration::ZERO, 10, Outcome::Overload)), 10);
    /// ```
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.min = limit;
        self
    }

    /// The ceiling (default 200).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Aimd};
    ///
    /// let mut aimd = Aimd::builder().initial_limit(21).max_limit(21).build().unwrap();
    /// assert_eq!(aimd.update(Sample::new(Duration::ZERO, 21, Outcome::Success)), 21);
    /// ```
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.max = limit;
        self
    }

    /// The factor applied on loss (default 0.9), in `[0.5, 1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Aimd};
    ///
    /// let mut aimd = Aimd::builder().initial_limit(40).backoff_ratio(0.5).build().unwrap();
    /// assert_eq!(aimd.update(Sample::new(Duration::ZERO, 40, Outcome::Overload)), 20);
    /// ```
    pub fn backoff_ratio(mut self, ratio: f64) -> Self {
        self.backoff_ratio = ratio;
        self
    }

    /// A success slower than this counts as a loss (default 5 s, above zero).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Aimd};
    ///
    /// let mut aimd = Aimd::builder().timeout(Duration::from_secs(1)).build().unwrap();
    /// let slow = Sample::new(Duration::from_secs(2), 20, Outcome::Success);
    /// assert_eq!(aimd.update(slow), 18);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// No timeout: only [`Outcome::Overload`] backs off, latency is never looked at
    /// (the same as a timeout of [`Duration::MAX`]), so an
    /// [`AdaptiveLimiter`](crate::AdaptiveLimiter) running this AIMD reads no clock
    /// (and its permits' [`elapsed`](super::AdaptivePermit::elapsed) is zero).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Aimd};
    ///
    /// let mut aimd = Aimd::builder().no_timeout().build().unwrap();
    /// let slow = Sample::new(Duration::from_secs(3600), 20, Outcome::Success);
    /// assert_eq!(aimd.update(slow), 21);
    /// assert!(!aimd.reads_latency());
    /// ```
    pub fn no_timeout(self) -> Self {
        self.timeout(Duration::MAX)
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid field.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Aimd;
    ///
    /// let err = Aimd::builder().initial_limit(500).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("initial_limit", "500"));
    /// ```
    pub fn build(self) -> Result<Aimd, ConfigError> {
        check_limits(self.min, self.max, self.initial)?;
        check(
            (0.5..1.0).contains(&self.backoff_ratio),
            "backoff_ratio",
            self.backoff_ratio,
            "a ratio in [0.5, 1)",
        )?;
        check(
            !self.timeout.is_zero(),
            "timeout",
            format_args!("{:?}", self.timeout),
            "above zero",
        )?;
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> Aimd {
        Aimd {
            limit: self.initial,
            min: self.min,
            max: self.max,
            backoff_ratio: self.backoff_ratio,
            timeout: self.timeout,
        }
    }
}
