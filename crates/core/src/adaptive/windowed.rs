//! [`Windowed`]: feeds an algorithm one aggregated sample per time window.

use std::time::Duration;

use tokio::time::Instant;

use super::{LimitAlgorithm, Outcome, Sample};
use crate::config::{ConfigError, check};

/// How a window's successful latencies are summarised.
///
/// # Examples
///
/// ```
/// use weir_core::adaptive::Aggregation;
///
/// assert_eq!(Aggregation::default(), Aggregation::Average);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Aggregation {
    /// The mean latency.
    #[default]
    Average,
    /// The latency at this quantile, in `(0, 1]` (0.99 is p99).
    Percentile(f64),
}

/// Wraps an algorithm so it sees one sample per window instead of one per request:
/// the window's latency (mean or percentile of its successes), its largest
/// in-flight count, and [`Outcome::Overload`] if any request in it was overloaded.
/// One loss burst then costs one backoff, not one per lost request.
///
/// A window closes once it is at least `clamp(2 × its fastest latency, min_window,
/// max_window)` long **and** holds `min_samples` samples; a slow trickle keeps the
/// window open rather than discarding it (so a limit of 1 can still grow).
///
/// Windows are timed with [`tokio::time::Instant`], so paused test time drives them.
///
/// Defaults: 10 samples, windows of 100 ms to 1 s, average.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{LimitAlgorithm, Outcome, Sample, adaptive::{Aimd, Windowed}};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut aimd = Windowed::builder(Aimd::new()).min_samples(3).build().unwrap();
/// let loss = Sample::new(Duration::from_millis(5), 20, Outcome::Overload);
/// for _ in 0..3 {
///     aimd.update(loss); // one window, still open
/// }
/// tokio::time::advance(Duration::from_millis(100)).await;
/// assert_eq!(aimd.update(loss), 18); // closes the window: a single backoff
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Windowed<A> {
    inner: A,
    min_samples: usize,
    min_window: Duration,
    max_window: Duration,
    aggregation: Aggregation,
    window: Window,
}

#[derive(Debug, Clone)]
struct Window {
    start: Option<Instant>,
    samples: usize,
    successes: usize,
    sum: Duration,
    fastest: Duration,
    max_in_flight: usize,
    overloaded: bool,
    /// Successful latencies, kept only for [`Aggregation::Percentile`].
    latencies: Vec<Duration>,
}

impl Window {
    fn reset(&mut self, start: Instant) {
        self.start = Some(start);
        self.samples = 0;
        self.successes = 0;
        self.sum = Duration::ZERO;
        self.fastest = Duration::MAX;
        self.max_in_flight = 0;
        self.overloaded = false;
        self.latencies.clear();
    }
}

impl<A: LimitAlgorithm> Windowed<A> {
    /// Wraps `inner` with the default windows.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::{Gradient, Windowed}};
    ///
    /// assert_eq!(Windowed::new(Gradient::new()).limit(), 20);
    /// ```
    pub fn new(inner: A) -> Self {
        WindowedBuilder::new(inner).build_unchecked()
    }

    /// A builder around `inner`, starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::{Aggregation, Aimd, Windowed};
    ///
    /// let w = Windowed::builder(Aimd::new()).aggregation(Aggregation::Percentile(0.9)).build();
    /// assert!(w.is_ok());
    /// ```
    pub fn builder(inner: A) -> WindowedBuilder<A> {
        WindowedBuilder::new(inner)
    }

    /// The wrapped algorithm.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{LimitAlgorithm, adaptive::{Aimd, Windowed}};
    ///
    /// assert_eq!(Windowed::new(Aimd::new()).get_ref().limit(), 20);
    /// ```
    pub fn get_ref(&self) -> &A {
        &self.inner
    }

    fn aggregate(&mut self) -> Duration {
        let w = &mut self.window;
        match self.aggregation {
            Aggregation::Average => w.sum.div_f64(w.successes as f64),
            Aggregation::Percentile(q) => {
                let last = w.latencies.len() - 1;
                let rank = ((q * w.latencies.len() as f64).ceil() as usize).clamp(1, last + 1) - 1;
                *w.latencies.select_nth_unstable(rank).1
            }
        }
    }
}

impl<A: LimitAlgorithm> LimitAlgorithm for Windowed<A> {
    fn limit(&self) -> usize {
        self.inner.limit()
    }

    fn update(&mut self, sample: Sample) -> usize {
        if sample.outcome == Outcome::Ignore {
            return self.inner.limit();
        }
        let now = Instant::now();
        let start = *self.window.start.get_or_insert(now);
        let w = &mut self.window;
        w.samples += 1;
        w.max_in_flight = w.max_in_flight.max(sample.in_flight);
        match sample.outcome {
            Outcome::Overload => w.overloaded = true,
            _ => {
                w.successes += 1;
                w.sum = w.sum.saturating_add(sample.latency);
                w.fastest = w.fastest.min(sample.latency);
                if matches!(self.aggregation, Aggregation::Percentile(_)) {
                    w.latencies.push(sample.latency);
                }
            }
        }
        // Twice the fastest success; a window of overloads only lasts the minimum.
        let length = match w.fastest {
            Duration::MAX => self.min_window,
            fastest => fastest
                .saturating_mul(2)
                .clamp(self.min_window, self.max_window),
        };
        if w.samples < self.min_samples || now.saturating_duration_since(start) < length {
            return self.inner.limit();
        }
        let aggregated = Sample {
            latency: if w.successes == 0 {
                Duration::ZERO
            } else {
                self.aggregate()
            },
            in_flight: self.window.max_in_flight,
            outcome: if self.window.overloaded {
                Outcome::Overload
            } else {
                Outcome::Success
            },
        };
        self.window.reset(now);
        self.inner.update(aggregated)
    }
}

/// Configures a [`Windowed`]; [`build`](Self::build) validates.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::adaptive::{Aimd, Windowed};
///
/// let err = Windowed::builder(Aimd::new())
///     .windows(Duration::from_secs(2), Duration::from_secs(1))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "max_window");
/// ```
#[derive(Debug, Clone)]
pub struct WindowedBuilder<A> {
    inner: A,
    min_samples: usize,
    min_window: Duration,
    max_window: Duration,
    aggregation: Aggregation,
}

impl<A: LimitAlgorithm> WindowedBuilder<A> {
    fn new(inner: A) -> Self {
        Self {
            inner,
            min_samples: 10,
            min_window: Duration::from_millis(100),
            max_window: Duration::from_secs(1),
            aggregation: Aggregation::Average,
        }
    }

    /// Samples a window needs before it closes (default 10, at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::{Aimd, Windowed};
    ///
    /// assert!(Windowed::builder(Aimd::new()).min_samples(0).build().is_err());
    /// ```
    pub fn min_samples(mut self, samples: usize) -> Self {
        self.min_samples = samples;
        self
    }

    /// Bounds of a window's length (default 100 ms and 1 s); within them it lasts
    /// twice the fastest latency seen in it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::adaptive::{Aimd, Windowed};
    ///
    /// let ms = Duration::from_millis;
    /// assert!(Windowed::builder(Aimd::new()).windows(ms(10), ms(50)).build().is_ok());
    /// ```
    pub fn windows(mut self, min: Duration, max: Duration) -> Self {
        self.min_window = min;
        self.max_window = max;
        self
    }

    /// How a window's latencies are summarised (default [`Aggregation::Average`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::{Aggregation, Aimd, Windowed};
    ///
    /// let err = Windowed::builder(Aimd::new())
    ///     .aggregation(Aggregation::Percentile(0.0))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "percentile");
    /// ```
    pub fn aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
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
    /// use weir_core::{LimitAlgorithm, adaptive::{Vegas, Windowed}};
    ///
    /// assert_eq!(Windowed::builder(Vegas::new()).build().unwrap().limit(), 20);
    /// ```
    pub fn build(self) -> Result<Windowed<A>, ConfigError> {
        check(
            self.min_samples >= 1,
            "min_samples",
            self.min_samples,
            "at least 1",
        )?;
        check(
            self.max_window >= self.min_window,
            "max_window",
            format_args!("{:?}", self.max_window),
            "at least min_window",
        )?;
        if let Aggregation::Percentile(q) = self.aggregation {
            check(q > 0.0 && q <= 1.0, "percentile", q, "a quantile in (0, 1]")?;
        }
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> Windowed<A> {
        Windowed {
            inner: self.inner,
            min_samples: self.min_samples,
            min_window: self.min_window,
            max_window: self.max_window,
            aggregation: self.aggregation,
            window: Window {
                start: None,
                samples: 0,
                successes: 0,
                sum: Duration::ZERO,
                fastest: Duration::MAX,
                max_in_flight: 0,
                overloaded: false,
                latencies: Vec::new(),
            },
        }
    }
}
