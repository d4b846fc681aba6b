//! [`Gradient`]: delay-gradient limit against a long-term latency baseline.

use std::time::Duration;

use super::{LimitAlgorithm, Outcome, Sample, algorithm::exposed};
use crate::config::{ConfigError, check, check_limits};

/// Delay-gradient limit: compares each latency with a long-term average of
/// successful latencies. `g = clamp(tolerance · long / latency, 0.5, 1)`; the new
/// limit is `L·g`, plus `√L` while `g > 0.9` (latency within tolerance).
///
/// Fixes over Netflix's `Gradient2Limit` (its issue #176 and PR #134):
/// - **It reacts to loss**: an overload multiplies the limit by `backoff_ratio` at
///   once (Gradient2 ignores drops).
/// - **Smoothing only on the way down**, so recovery is not slowed, and no constant
///   queue term on the way down, so a modest overload cannot creep the limit up.
/// - **App-limited gate**: below `min_utilisation` of the limit in flight, nothing
///   changes, so an idle system does not inflate its limit.
/// - **Baseline only from successful samples**: fast rejections cannot drag it down.
/// - The floor is 1.
///
/// Defaults: initial 20, min 1, max 1000, tolerance 2.0, smoothing 0.2, long window
/// 500 samples (a plain mean over the first 10), min utilisation 0.5, backoff 0.9.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Gradient};
///
/// let mut gradient = Gradient::new();
/// let steady = Sample::new(Duration::from_millis(10), 20, Outcome::Success);
/// assert_eq!(gradient.update(steady), 24); // 20 + √20
/// let loss = Sample::new(Duration::from_millis(10), 24, Outcome::Overload);
/// assert_eq!(gradient.update(loss), 22); // 24.47 × 0.9
/// ```
#[derive(Debug, Clone)]
pub struct Gradient {
    limit: f64,
    min: usize,
    max: usize,
    tolerance: f64,
    smoothing: f64,
    min_utilisation: f64,
    backoff_ratio: f64,
    long: LongAverage,
}

/// Netflix's `ExpAvgMeasurement`: the mean of the first `warmup` samples, then an
/// exponential average with factor `2 / (window + 1)`. In seconds.
#[derive(Debug, Clone)]
struct LongAverage {
    value: f64,
    count: usize,
    warmup: usize,
    factor: f64,
}

impl LongAverage {
    fn add(&mut self, sample: f64) -> f64 {
        if self.count < self.warmup {
            self.count += 1;
            self.value += (sample - self.value) / self.count as f64;
        } else {
            self.value += self.factor * (sample - self.value);
        }
        self.value
    }
}

impl Gradient {
    /// Gradient with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Gradient};
    ///
    /// assert_eq!(Gradient::new().limit(), 20);
    /// ```
    pub fn new() -> Self {
        GradientBuilder::default().build_unchecked()
    }

    /// A builder, starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Gradient};
    ///
    /// assert_eq!(Gradient::builder().initial_limit(4).build().unwrap().limit(), 4);
    /// ```
    pub fn builder() -> GradientBuilder {
        GradientBuilder::default()
    }

    /// The long-term latency baseline, once a success set it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Gradient};
    ///
    /// let mut gradient = Gradient::new();
    /// gradient.update(Sample::new(Duration::from_micros(1), 20, Outcome::Overload));
    /// assert_eq!(gradient.baseline(), None);
    /// gradient.update(Sample::new(Duration::from_millis(4), 20, Outcome::Success));
    /// assert_eq!(gradient.baseline(), Some(Duration::from_millis(4)));
    /// ```
    pub fn baseline(&self) -> Option<Duration> {
        (self.long.count > 0).then(|| Duration::from_secs_f64(self.long.value))
    }

    fn clamp(&self, limit: f64) -> f64 {
        limit.clamp(self.min as f64, self.max as f64)
    }
}

impl Default for Gradient {
    fn default() -> Self {
        Self::new()
    }
}

impl LimitAlgorithm for Gradient {
    fn limit(&self) -> usize {
        exposed(self.limit)
    }

    fn update(&mut self, sample: Sample) -> usize {
        let limit = self.limit;
        match sample.outcome {
            Outcome::Ignore => return self.limit(),
            Outcome::Overload => {
                self.limit = self.clamp(limit * self.backoff_ratio);
                return self.limit();
            }
            Outcome::Success if sample.latency.is_zero() => return self.limit(),
            Outcome::Success => {}
        }
        let rtt = sample.latency.as_secs_f64();
        let mut long = self.long.add(rtt);
        // Recover quickly once an overload has passed.
        if long / rtt > 2.0 {
            long *= 0.95;
            self.long.value = long;
        }
        if (sample.in_flight as f64) < limit * self.min_utilisation {
            return self.limit();
        }
        let gradient = (self.tolerance * long / rtt).clamp(0.5, 1.0);
        let mut next = limit * gradient;
        if gradient > 0.9 {
            next += limit.sqrt();
        }
        if next < limit {
            next = limit * (1.0 - self.smoothing) + next * self.smoothing;
        }
        self.limit = self.clamp(next);
        self.limit()
    }
}

/// Configures a [`Gradient`]; [`build`](Self::build) validates.
///
/// # Examples
///
/// ```
/// use weir_core::adaptive::Gradient;
///
/// assert_eq!(Gradient::builder().tolerance(0.9).build().unwrap_err().field(), "tolerance");
/// ```
#[derive(Debug, Clone)]
pub struct GradientBuilder {
    initial: usize,
    min: usize,
    max: usize,
    tolerance: f64,
    smoothing: f64,
    long_window: usize,
    min_utilisation: f64,
    backoff_ratio: f64,
}

impl Default for GradientBuilder {
    fn default() -> Self {
        Self {
            initial: 20,
            min: 1,
            max: 1000,
            tolerance: 2.0,
            smoothing: 0.2,
            long_window: 500,
            min_utilisation: 0.5,
            backoff_ratio: 0.9,
        }
    }
}

impl GradientBuilder {
    /// The limit before any sample (default 20), within `[min_limit, max_limit]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Gradient};
    ///
    /// assert_eq!(Gradient::builder().initial_limit(9).build().unwrap().limit(), 9);
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
    /// use weir_core::adaptive::Gradient;
    ///
    /// assert!(Gradient::builder().min_limit(0).build().is_err());
    /// ```
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.min = limit;
        self
    }

    /// The ceiling (default 1000).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Gradient};
    ///
    /// let mut g = Gradient::builder().max_limit(22).build().unwrap();
    /// assert_eq!(g.update(Sample::new(Duration::from_millis(1), 20, Outcome::Success)), 22);
    /// ```
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.max = limit;
        self
    }

    /// How much slower than the baseline a latency may be before the limit shrinks
    /// (default 2.0, at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Gradient;
    ///
    /// assert!(Gradient::builder().tolerance(1.5).build().is_ok());
    /// ```
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// How much of a latency-driven decrease is applied per sample, in `(0, 1]`
    /// (default 0.2). Increases and loss backoffs are never smoothed.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Gradient;
    ///
    /// assert!(Gradient::builder().smoothing(1.5).build().is_err());
    /// ```
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// Samples in the long-term baseline average (default 500, at least 10).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Gradient;
    ///
    /// assert_eq!(Gradient::builder().long_window(5).build().unwrap_err().value(), "5");
    /// ```
    pub fn long_window(mut self, samples: usize) -> Self {
        self.long_window = samples;
        self
    }

    /// Below this fraction of the limit in flight the limit does not move (default
    /// 0.5), in `[0, 1]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Gradient;
    ///
    /// assert!(Gradient::builder().min_utilisation(0.8).build().is_ok());
    /// ```
    pub fn min_utilisation(mut self, fraction: f64) -> Self {
        self.min_utilisation = fraction;
        self
    }

    /// The factor applied on an overload (default 0.9), in `[0.5, 1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Gradient;
    ///
    /// assert!(Gradient::builder().backoff_ratio(0.2).build().is_err());
    /// ```
    pub fn backoff_ratio(mut self, ratio: f64) -> Self {
        self.backoff_ratio = ratio;
        self
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
    /// use weir_core::adaptive::Gradient;
    ///
    /// let err = Gradient::builder().initial_limit(0).build().unwrap_err();
    /// assert_eq!(err.field(), "initial_limit");
    /// ```
    pub fn build(self) -> Result<Gradient, ConfigError> {
        check_limits(self.min, self.max, self.initial)?;
        check(
            self.tolerance >= 1.0 && self.tolerance.is_finite(),
            "tolerance",
            self.tolerance,
            "a finite factor of at least 1",
        )?;
        check(
            self.smoothing > 0.0 && self.smoothing <= 1.0,
            "smoothing",
            self.smoothing,
            "a factor in (0, 1]",
        )?;
        check(
            self.long_window >= 10,
            "long_window",
            self.long_window,
            "at least 10",
        )?;
        check(
            (0.0..=1.0).contains(&self.min_utilisation),
            "min_utilisation",
            self.min_utilisation,
            "a fraction in [0, 1]",
        )?;
        check(
            (0.5..1.0).contains(&self.backoff_ratio),
            "backoff_ratio",
            self.backoff_ratio,
            "a ratio in [0.5, 1)",
        )?;
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> Gradient {
        Gradient {
            limit: self.initial as f64,
            min: self.min,
            max: self.max,
            tolerance: self.tolerance,
            smoothing: self.smoothing,
            min_utilisation: self.min_utilisation,
            backoff_ratio: self.backoff_ratio,
            long: LongAverage {
                value: 0.0,
                count: 0,
                warmup: 10,
                factor: 2.0 / (self.long_window as f64 + 1.0),
            },
        }
    }
}
