//! `throttle(rate, burst)` and `throttle_with(limiter)`: weir-core's GCRA
//! [`RateLimiter`] in front of a stream.

use std::fmt;
use std::future::Future;
use std::num::{NonZeroU32, NonZeroUsize};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use weir_core::{
    Quota, RateLimiter,
    rate::{InsufficientCapacity, RateLimitError},
};

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

    /// The weir-core [`Quota`] of this rate with bursts of `burst`: what
    /// [`throttle`](crate::WeirStreamExt::throttle) builds its limiter from. Spans
    /// (`interval × burst`) beyond about 73 years are cut down to fit.
    ///
    /// ```
    /// use std::num::{NonZeroU32, NonZeroUsize};
    /// use std::time::Duration;
    /// use weir_stream::Rate;
    ///
    /// let quota = Rate::per_second(NonZeroU32::new(4).unwrap()).quota(NonZeroUsize::new(2).unwrap());
    /// assert_eq!((quota.period(), quota.burst()), (Duration::from_millis(250), 2));
    /// ```
    pub fn quota(&self, burst: NonZeroUsize) -> Quota {
        // The longest span a quota takes, and the longest period (burst 1).
        const MAX_SPAN: u64 = 1 << 61;
        let period = u64::try_from(self.interval.as_nanos())
            .unwrap_or(MAX_SPAN)
            .clamp(1, MAX_SPAN);
        let burst = u32::try_from(burst.get())
            .unwrap_or(u32::MAX)
            .min(u32::try_from(MAX_SPAN / period).unwrap_or(u32::MAX))
            .max(1);
        Quota::with_period(Duration::from_nanos(period))
            .and_then(|q| q.allow_burst(burst))
            .expect("period and span are clamped to the quota's bounds")
    }
}

type Queued = Pin<Box<dyn Future<Output = Result<(), InsufficientCapacity>> + Send>>;

pin_project! {
    /// Stream for [`WeirStreamExt::throttle`](crate::WeirStreamExt::throttle) and
    /// [`throttle_with`](crate::WeirStreamExt::throttle_with).
    ///
    /// Each item takes one cell of a weir-core GCRA [`RateLimiter`]: a token bucket
    /// of `burst` tokens, refilled at `rate`, that starts full. Up to `burst` items
    /// pass at once, then one per [`Rate::interval`]; an idle stream earns its burst
    /// back (never more than `burst`). On tokio's clock, so paused time tests it
    /// exactly. The limiter can be shared by several streams (and other users), and
    /// its quota changed at runtime with [`RateLimiter::set_quota`] through
    /// [`limiter`](Self::limiter).
    ///
    /// While waiting for a token the adapter does **not** poll the upstream: nothing
    /// is held, and backpressure reaches the source. (So the upstream's end is seen
    /// when the next token is due, up to one interval after the last item.) A token
    /// is taken when an item arrives; on a *shared* limiter another user may take it
    /// first, and the adapter then holds that one item until the next token (FIFO
    /// behind async acquirers of the limiter, if any are queued). The timer has
    /// tokio's 1 ms resolution; over time the rate is exact because the wake-up's
    /// lateness is handed to [`RateLimiter::try_acquire_late`], not lost.
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
    pub struct Throttle<S: Stream> {
        #[pin]
        upstream: S,
        limiter: Arc<RateLimiter>,
        // Boxed so the adapter is `Unpin` when the upstream is; allocated on first wait.
        sleep: Option<Pin<Box<Sleep>>>,
        // The instant `sleep` is set for, while it has not fired.
        due: Option<Instant>,
        // An item whose token a sharer took first.
        held: Option<S::Item>,
        // Behind the limiter's async acquirers: our place in their queue.
        queued: Option<Queued>,
        done: bool,
    }
}

impl<S: Stream> Throttle<S> {
    pub(crate) fn new(upstream: S, rate: Rate, burst: NonZeroUsize) -> Self {
        Self::with_limiter(upstream, Arc::new(RateLimiter::new(rate.quota(burst))))
    }

    pub(crate) fn with_limiter(upstream: S, limiter: Arc<RateLimiter>) -> Self {
        Throttle {
            upstream,
            limiter,
            sleep: None,
            due: None,
            held: None,
            queued: None,
            done: false,
        }
    }

    /// The rate limiter this stream takes its tokens from: share it, or change its
    /// quota at runtime.
    ///
    /// ```
    /// use std::num::{NonZeroU32, NonZeroUsize};
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_core::Quota;
    /// use weir_stream::{Rate, WeirStreamExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let rate = Rate::per_second(NonZeroU32::new(10).unwrap());
    /// let mut s = std::pin::pin!(futures::stream::iter(0..).throttle(rate, NonZeroUsize::new(1).unwrap()));
    /// s.next().await;
    /// s.limiter().set_quota(Quota::per_second(1000).unwrap().allow_burst(1).unwrap());
    /// let start = tokio::time::Instant::now();
    /// s.next().await;
    /// s.next().await;
    /// assert_eq!(start.elapsed(), Duration::from_millis(2)); // 1 ms apart now
    /// # }
    /// ```
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }
}

/// Sleeps until `at` on the adapter's (reused) timer.
fn arm(sleep: &mut Option<Pin<Box<Sleep>>>, due: &mut Option<Instant>, at: Instant) {
    match sleep {
        Some(sleep) => sleep.as_mut().reset(at),
        None => *sleep = Some(Box::pin(tokio::time::sleep_until(at))),
    }
    *due = Some(at);
}

impl<S: Stream> Stream for Throttle<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            // Behind queued acquirers: wait our turn (it takes the token).
            if let Some(queued) = this.queued.as_mut() {
                let taken = std::task::ready!(queued.as_mut().poll(cx));
                *this.queued = None;
                let item = this.held.take();
                debug_assert!(taken.is_ok(), "one cell always fits a burst");
                debug_assert!(item.is_some(), "queued only with an item in hand");
                if let Some(item) = item {
                    return Poll::Ready(Some(item));
                }
                continue;
            }
            // Waiting for a token: the timer, then how late it fired.
            let mut late = Duration::ZERO;
            if let Some(due) = *this.due {
                if let Some(sleep) = this.sleep.as_mut() {
                    std::task::ready!(sleep.as_mut().poll(cx));
                }
                *this.due = None;
                late = Instant::now().saturating_duration_since(due);
            }
            let item = match this.held.take() {
                Some(item) => item,
                None => {
                    // No token yet: do not even ask the upstream.
                    if let Ok(wait) = this.limiter.time_until(1) {
                        if !wait.is_zero() {
                            arm(this.sleep, this.due, Instant::now() + wait);
                            continue;
                        }
                    }
                    match std::task::ready!(this.upstream.as_mut().poll_next(cx)) {
                        Some(item) => item,
                        None => {
                            *this.done = true;
                            return Poll::Ready(None);
                        }
                    }
                }
            };
            match this.limiter.try_acquire_late(1, late) {
                Ok(()) => return Poll::Ready(Some(item)),
                Err(RateLimitError::NotYet(refusal)) => {
                    // A sharer took the token: hold the item until the next one.
                    *this.held = Some(item);
                    arm(this.sleep, this.due, Instant::now() + refusal.wait());
                }
                Err(_) => {
                    // Queued acquirers (or a burst below one cell): join the queue.
                    *this.held = Some(item);
                    let limiter = Arc::clone(this.limiter);
                    *this.queued = Some(Box::pin(async move { limiter.acquire(1).await }));
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            let held = usize::from(self.held.is_some());
            let (low, high) = self.upstream.size_hint();
            (
                low.saturating_add(held),
                high.and_then(|h| h.checked_add(held)),
            )
        }
    }
}

impl<S: Stream> FusedStream for Throttle<S> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S: Stream + fmt::Debug> fmt::Debug for Throttle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("upstream", &self.upstream)
            .field("limiter", &self.limiter)
            .field("due", &self.due)
            .field("held", &self.held.is_some())
            .field("queued", &self.queued.is_some())
            .finish_non_exhaustive()
    }
}
