//! `throttle(rate, burst)`: a token bucket.

use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::error::RateError;

/// A steady rate for [`throttle`](crate::WeirStreamExt::throttle): `count` items per
/// `per`, i.e. one token every `per / count`.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use weir_stream::Rate;
///
/// let r = Rate::new(NonZeroU32::new(10).unwrap(), Duration::from_secs(1)).unwrap();
/// assert_eq!(r, Rate::per_second(NonZeroU32::new(10).unwrap()));
/// assert_eq!(r.interval(), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    interval: Duration,
}

impl Rate {
    /// `count` items per `per`.
    ///
    /// # Errors
    ///
    /// [`RateError::ZeroPeriod`] if `per` is zero; [`RateError::TooFast`] if that is
    /// more than one item per nanosecond.
    pub fn new(count: NonZeroU32, per: Duration) -> Result<Self, RateError> {
        if per.is_zero() {
            return Err(RateError::ZeroPeriod);
        }
        let interval = per / count.get();
        if interval.is_zero() {
            return Err(RateError::TooFast);
        }
        Ok(Rate { interval })
    }

    /// `count` items per second (at most one per nanosecond: larger counts are
    /// treated as 10⁹).
    pub fn per_second(count: NonZeroU32) -> Self {
        Rate {
            interval: (Duration::from_secs(1) / count.get()).max(Duration::from_nanos(1)),
        }
    }

    /// The time one token takes to refill.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

pin_project! {
    /// Stream for [`WeirStreamExt::throttle`](crate::WeirStreamExt::throttle).
    ///
    /// A token bucket of `burst` tokens, refilled at `rate`, that starts full: up to
    /// `burst` items pass at once, then one per [`Rate::interval`]; an idle stream
    /// earns its burst back (never more than `burst`). Implemented as GCRA (one
    /// deadline, no token counter), on tokio's clock, so paused time tests it exactly.
    ///
    /// While waiting for a token the adapter does **not** poll the upstream: nothing
    /// is held, and backpressure reaches the source. (So the upstream's end is seen
    /// when the next token is due, up to one interval after the last item.) The
    /// timer has tokio's 1 ms
    /// resolution; over time the rate is exact because deadlines are computed, not
    /// accumulated from wake-ups.
    ///
    /// # Panics
    ///
    /// Polling panics outside a tokio runtime with time enabled (once it needs to wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::{NonZeroU32, NonZeroUsize};
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokio::time::Instant;
    /// use weir_stream::{Rate, WeirStreamExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let rate = Rate::per_second(NonZeroU32::new(10).unwrap());
    /// let times: Vec<Duration> = futures::stream::iter(0..5)
    ///     .throttle(rate, NonZeroUsize::new(2).unwrap())
    ///     .map(|_| start.elapsed())
    ///     .collect()
    ///     .await;
    /// let ms = |m| Duration::from_millis(m);
    /// assert_eq!(times, [ms(0), ms(0), ms(100), ms(200), ms(300)]);
    /// # }
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct Throttle<S> {
        #[pin]
        upstream: S,
        // Boxed so the adapter is `Unpin` when the upstream is; allocated on first wait.
        sleep: Option<Pin<Box<Sleep>>>,
        interval: Duration,
        // `interval * (burst - 1)`: how far ahead of the schedule a burst may run.
        tolerance: Duration,
        // GCRA's theoretical arrival time: when the bucket would next be full-minus-one.
        tat: Option<Instant>,
        // We slept for the current token: the timer's lateness is ours, not idleness.
        waited: bool,
        done: bool,
    }
}

impl<S> Throttle<S> {
    pub(crate) fn new(upstream: S, rate: Rate, burst: NonZeroUsize) -> Self {
        let burst_minus_one = u32::try_from(burst.get() - 1).unwrap_or(u32::MAX);
        Throttle {
            upstream,
            sleep: None,
            interval: rate.interval,
            tolerance: rate.interval.saturating_mul(burst_minus_one),
            tat: None,
            waited: false,
            done: false,
        }
    }
}

impl<S: Stream> Stream for Throttle<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            let now = Instant::now();
            // A token is available from `tat - tolerance` on.
            let allowed_at = this.tat.and_then(|tat| tat.checked_sub(*this.tolerance));
            match allowed_at {
                Some(at) if at > now => {
                    let sleep = match this.sleep {
                        Some(sleep) => {
                            sleep.as_mut().reset(at);
                            sleep
                        }
                        None => this.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
                    };
                    *this.waited = true;
                    std::task::ready!(sleep.as_mut().poll(cx));
                    continue;
                }
                _ => {}
            }
            let next = this.upstream.as_mut().poll_next(cx);
            let waited = std::mem::take(this.waited);
            return match std::task::ready!(next) {
                Some(item) => {
                    // GCRA: `tat = max(tat, now) + interval`. Except when we slept for
                    // this token and the item was ready at once: then the wake-up's
                    // lateness (tokio's 1 ms timer) must not be lost, or every rate
                    // above ~1/ms with a small burst would undershoot (akka#23475).
                    let base = match *this.tat {
                        Some(tat) if waited => tat,
                        Some(tat) => tat.max(now),
                        None => now,
                    };
                    *this.tat = Some(base + *this.interval);
                    Poll::Ready(Some(item))
                }
                None => {
                    *this.done = true;
                    Poll::Ready(None)
                }
            };
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            self.upstream.size_hint()
        }
    }
}

impl<S: Stream> FusedStream for Throttle<S> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

use std::future::Future as _;

impl<S: fmt::Debug> fmt::Debug for Throttle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("upstream", &self.upstream)
            .field("interval", &self.interval)
            .field("tolerance", &self.tolerance)
            .field("tat", &self.tat)
            .finish_non_exhaustive()
    }
}
