//! [`Vegas`]: delay-based, from the queue estimated against a no-load latency.

use std::time::Duration;

use super::{LimitAlgorithm, Outcome, Sample, algorithm::exposed};
use crate::config::{ConfigError, check, check_limits};

/// TCP-Vegas-style limit: estimates the queue as `L·(1 − base/latency)` against the
/// no-load latency `base`, grows while the queue is short and shrinks when it is
/// long. With `lg = max(1, ⌊log10 L⌋)`: queue ≤ `lg` → `+6·lg`; queue < `3·lg` →
/// `+lg`; queue > `6·lg` → decrease (`−lg`, or `× decrease_ratio`).
///
/// Fixes over Netflix's `VegasLimit`: the baseline is taken **only from successful
/// samples** (fast rejections cannot poison it); an overload backs off at once by
/// `backoff_ratio`; below 50% utilisation nothing changes; smoothing applies only on
/// the way down; the floor is 1. The baseline is re-probed after about
/// `probe_multiplier · L` samples (jittered), so it follows a slower system.
///
/// Suits tight latency distributions; for general services prefer
/// [`Gradient`](super::Gradient).
///
/// Defaults: initial 20, min 1, max 1000, smoothing 1.0, probe multiplier 30,
/// backoff 0.9.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Vegas};
///
/// let ms = Duration::from_millis;
/// let mut vegas = Vegas::builder().initial_limit(10).max_limit(20).build().unwrap();
/// assert_eq!(vegas.update(Sample::new(ms(10), 10, Outcome::Success)), 10); // baseline
/// assert_eq!(vegas.update(Sample::new(ms(10), 11, Outcome::Success)), 16); // no queue
/// ```
#[derive(Debug, Clone)]
pub struct Vegas {
    limit: f64,
    min: usize,
    max: usize,
    smoothing: f64,
    backoff_ratio: f64,
    decrease_ratio: Option<f64>,
    probe_multiplier: usize,
    baseline: Option<Duration>,
    probe_count: usize,
    probe_jitter: f64,
    rng: u64,
}

impl Vegas {
    /// Vegas with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Vegas};
    ///
    /// assert_eq!(Vegas::new().limit(), 20);
    /// ```
    pub fn new() -> Self {
        VegasBuilder::default().build_unchecked()
    }

    /// A builder, starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Vegas};
    ///
    /// assert_eq!(Vegas::builder().initial_limit(7).build().unwrap().limit(), 7);
    /// ```
    pub fn builder() -> VegasBuilder {
        VegasBuilder::default()
    }

    /// The no-load latency the queue is estimated against, once a success set it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Vegas};
    ///
    /// let mut vegas = Vegas::new();
    /// vegas.update(Sample::new(Duration::from_micros(5), 20, Outcome::Overload));
    /// assert_eq!(vegas.baseline(), None); // a fast rejection is not a baseline
    /// vegas.update(Sample::new(Duration::from_millis(8), 20, Outcome::Success));
    /// assert_eq!(vegas.baseline(), Some(Duration::from_millis(8)));
    /// ```
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline
    }

    /// A fresh jitter in `[0.5, 1)` (xorshift64*: deterministic, no dependency).
    fn draw_jitter(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let bits = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        0.5 + 0.5 * (bits as f64 / (1u64 << 53) as f64)
    }

    fn clamp(&self, limit: f64) -> f64 {
        limit.clamp(self.min as f64, self.max as f64)
    }
}

impl Default for Vegas {
    fn default() -> Self {
        Self::new()
    }
}

impl LimitAlgorithm for Vegas {
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
            Outcome::Success => {}
        }
        let rtt = sample.latency;

        self.probe_count += 1;
        if self.probe_jitter * (self.probe_multiplier as f64) * limit <= self.probe_count as f64 {
            self.probe_count = 0;
            self.probe_jitter = self.draw_jitter();
            self.baseline = Some(rtt);
            return self.limit();
        }
        let base = match self.baseline {
            Some(base) if rtt >= base && !rtt.is_zero() => base,
            _ => {
                self.baseline = Some(rtt);
                return self.limit();
            }
        };
        // App-limited: a half-idle system says nothing about its capacity.
        if (sample.in_flight as f64) * 2.0 < limit {
            return self.limit();
        }

        let queue = (limit * (1.0 - base.as_secs_f64() / rtt.as_secs_f64())).ceil();
        // Integer log: exact on every platform (a float `log10` may round 10⁴ down).
        let lg = f64::from(exposed(limit).ilog10().max(1));
        let (alpha, beta, threshold) = (3.0 * lg, 6.0 * lg, lg);
        let next = if queue <= threshold {
            limit + beta
        } else if queue < alpha {
            limit + lg
        } else if queue > beta {
            match self.decrease_ratio {
                Some(ratio) => limit * ratio,
                None => limit - lg,
            }
        } else {
            return self.limit();
        };
        let next = self.clamp(next);
        self.limit = if next < limit {
            (1.0 - self.smoothing) * limit + self.smoothing * next
        } else {
            next
        };
        self.limit()
    }
}

/// Configures a [`Vegas`]; [`build`](Self::build) validates.
///
/// # Examples
///
/// ```
/// use weir_core::adaptive::Vegas;
///
/// assert_eq!(Vegas::builder().smoothing(0.0).build().unwrap_err().field(), "smoothing");
/// ```
#[derive(Debug, Clone)]
pub struct VegasBuilder {
    initial: usize,
    min: usize,
    max: usize,
    smoothing: f64,
    backoff_ratio: f64,
    decrease_ratio: Option<f64>,
    probe_multiplier: usize,
}

impl Default for VegasBuilder {
    fn default() -> Self {
        Self {
            initial: 20,
            min: 1,
            max: 1000,
            smoothing: 1.0,
            backoff_ratio: 0.9,
            decrease_ratio: None,
            probe_multiplier: 30,
        }
    }
}

impl VegasBuilder {
    /// The limit before any sample (default 20), within `[min_limit, max_limit]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::Vegas};
    ///
    /// assert_eq!(Vegas::builder().initial_limit(3).build().unwrap().limit(), 3);
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
    /// use weir_core::adaptive::Vegas;
    ///
    /// assert!(Vegas::builder().min_limit(0).build().is_err());
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
    /// use weir_core::adaptive::Vegas;
    ///
    /// assert!(Vegas::builder().initial_limit(10_000).max_limit(20_000).build().is_ok());
    /// ```
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.max = limit;
        self
    }

    /// How much of a decrease is applied per sample, in `(0, 1]` (default 1.0: all of
    /// it). Increases are never smoothed.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Vegas;
    ///
    /// assert!(Vegas::builder().smoothing(0.5).build().is_ok());
    /// ```
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// The factor applied on an overload (default 0.9), in `[0.5, 1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::Vegas};
    ///
    /// let mut vegas = Vegas::builder().initial_limit(30).backoff_ratio(0.5).build().unwrap();
    /// assert_eq!(vegas.update(Sample::new(Duration::ZERO, 30, Outcome::Overload)), 15);
    /// ```
    pub fn backoff_ratio(mut self, ratio: f64) -> Self {
        self.backoff_ratio = ratio;
        self
    }

    /// Decrease a long queue to `L × ratio` instead of `L − lg`, `ratio` in `(0, 1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Vegas;
    ///
    /// assert!(Vegas::builder().decrease_ratio(1.0).build().is_err());
    /// ```
    pub fn decrease_ratio(mut self, ratio: f64) -> Self {
        self.decrease_ratio = Some(ratio);
        self
    }

    /// Re-probe the baseline about every `multiplier · L` samples (default 30, at
    /// least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Vegas;
    ///
    /// assert_eq!(Vegas::builder().probe_multiplier(0).build().unwrap_err().field(), "probe_multiplier");
    /// ```
    pub fn probe_multiplier(mut self, multiplier: usize) -> Self {
        self.probe_multiplier = multiplier;
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
    /// use weir_core::adaptive::Vegas;
    ///
    /// let err = Vegas::builder().min_limit(5).max_limit(4).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_limit", "4"));
    /// ```
    pub fn build(self) -> Result<Vegas, ConfigError> {
        check_limits(self.min, self.max, self.initial)?;
        check(
            self.smoothing > 0.0 && self.smoothing <= 1.0,
            "smoothing",
            self.smoothing,
            "a factor in (0, 1]",
        )?;
        check(
            (0.5..1.0).contains(&self.backoff_ratio),
            "backoff_ratio",
            self.backoff_ratio,
            "a ratio in [0.5, 1)",
        )?;
        if let Some(ratio) = self.decrease_ratio {
            check(
                ratio > 0.0 && ratio < 1.0,
                "decrease_ratio",
                ratio,
                "a ratio in (0, 1)",
            )?;
        }
        check(
            self.probe_multiplier >= 1,
            "probe_multiplier",
            self.probe_multiplier,
            "at least 1",
        )?;
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> Vegas {
        let mut vegas = Vegas {
            limit: self.initial as f64,
            min: self.min,
            max: self.max,
            smoothing: self.smoothing,
            backoff_ratio: self.backoff_ratio,
            decrease_ratio: self.decrease_ratio,
            probe_multiplier: self.probe_multiplier,
            baseline: None,
            probe_count: 0,
            probe_jitter: 0.0,
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        vegas.probe_jitter = vegas.draw_jitter();
        vegas
    }
}
