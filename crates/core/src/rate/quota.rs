//! [`Quota`]: a rate and a burst.

use std::time::Duration;

use crate::config::{ConfigError, check};

/// The longest span a quota may cover (`period × burst`), about 73 years, so every
/// instant a limiter computes fits its 63-bit nanosecond state.
const MAX_SPAN_NANOS: u64 = 1 << 61;

/// How fast cells conform and how many may conform at once: one cell every
/// [`period`](Self::period), and up to [`burst`](Self::burst) back to back after an
/// idle spell. In GCRA terms, the emission interval is `T = period` and the
/// tolerance `τ = T·(burst − 1)`; over any interval of length `t`, at most
/// `burst + t / T` cells conform.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::Quota;
///
/// let q = Quota::per_second(50).unwrap();
/// assert_eq!((q.period(), q.burst()), (Duration::from_millis(20), 50));
/// let q = q.allow_burst(5).unwrap();
/// assert_eq!(q.burst(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    period: u64,
    burst: u32,
}

impl Quota {
    /// `rate` cells per second, with a burst of `rate` (at most 10⁹ per second).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a rate of 0 or above 10⁹.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::Quota;
    ///
    /// assert_eq!(Quota::per_second(4).unwrap().period(), Duration::from_millis(250));
    /// assert!(Quota::per_second(0).is_err());
    /// ```
    pub fn per_second(rate: u32) -> Result<Self, ConfigError> {
        check(rate >= 1, "rate", rate, "at least 1")?;
        check(
            rate <= 1_000_000_000,
            "rate",
            rate,
            "at most 10^9 per second",
        )?;
        Ok(Self {
            period: 1_000_000_000 / u64::from(rate),
            burst: rate,
        })
    }

    /// One cell every `period`, with a burst of 1.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a period under 1 ns or over about 73 years.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::Quota;
    ///
    /// let q = Quota::with_period(Duration::from_secs(60)).unwrap();
    /// assert_eq!(q.burst(), 1);
    /// assert!(Quota::with_period(Duration::ZERO).is_err());
    /// ```
    pub fn with_period(period: Duration) -> Result<Self, ConfigError> {
        let nanos = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        check(
            (1..=MAX_SPAN_NANOS).contains(&nanos),
            "period",
            format_args!("{period:?}"),
            "between 1 ns and about 73 years",
        )?;
        Ok(Self {
            period: nanos,
            burst: 1,
        })
    }

    /// The same rate with a burst of `burst` cells.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a burst of 0, or one whose span (`period × burst`) is
    /// over about 73 years.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::Quota;
    ///
    /// let q = Quota::per_second(10).unwrap();
    /// assert_eq!(q.allow_burst(1).unwrap().burst(), 1);
    /// assert_eq!(q.allow_burst(0).unwrap_err().field(), "burst");
    /// ```
    pub fn allow_burst(self, burst: u32) -> Result<Self, ConfigError> {
        check(burst >= 1, "burst", burst, "at least 1")?;
        check(
            self.period.saturating_mul(u64::from(burst)) <= MAX_SPAN_NANOS,
            "burst",
            burst,
            "a span (period × burst) of at most about 73 years",
        )?;
        Ok(Self { burst, ..self })
    }

    /// The emission interval: one cell conforms per period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::Quota;
    ///
    /// assert_eq!(Quota::per_second(1000).unwrap().period(), Duration::from_millis(1));
    /// ```
    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period)
    }

    /// The most cells that conform back to back.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::Quota;
    ///
    /// assert_eq!(Quota::per_second(8).unwrap().burst(), 8);
    /// ```
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// A quota from stored parts (`period ≥ 1`, `burst ≥ 1`).
    pub(crate) fn from_raw(period: u64, burst: u32) -> Self {
        Self {
            period,
            burst: burst.max(1),
        }
    }

    pub(crate) fn period_nanos(&self) -> u64 {
        self.period
    }

    /// `τ = T·(burst − 1)`.
    pub(crate) fn tolerance_nanos(&self) -> u64 {
        self.period * (u64::from(self.burst) - 1)
    }
}
