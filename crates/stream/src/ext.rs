//! The extension trait.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use tokio_util::sync::CancellationToken;
use weir_core::RateLimiter;

use crate::{
    Batch, Bounded, DropNewest, DropOldest, Latest, ParMap, ParMapUnordered, Rate, Sample,
    ShedWatermark, Throttle, UntilCancelled, Watermarks,
};

/// Backpressure adapters for every [`Stream`].
///
/// Capacities are [`NonZeroUsize`]: a zero-capacity buffer or window (which hangs
/// `buffer_unordered(0)` in futures 0.3) cannot be written.
///
/// ```compile_fail
/// use weir_stream::WeirStreamExt;
/// # #[tokio::main] async fn main() {
/// let s = futures::stream::iter(0..3).bounded(0); // error: expected `NonZero<usize>`
/// # }
/// ```
pub trait WeirStreamExt: Stream {
    /// Runs this stream on its own tokio task, at most `n` items ahead of the
    /// consumer: a true decoupling buffer, so the upstream keeps producing while the
    /// consumer is busy (unlike `buffered`, which runs inside the consumer's task and
    /// stalls with it — futures-rs#2387).
    ///
    /// Order is kept. The bound is exact: the upstream has yielded at most `n` items
    /// more than the consumer has received (the one the consumer is working on is in
    /// its hand and not counted). The producer task starts on the first poll, hands
    /// items over in batches (one wake-up per batch, not per item) and is cancelled
    /// when the stream is dropped. An upstream panic is re-raised by the consumer's
    /// `poll_next` after the items before it. See [`Bounded`].
    ///
    /// # Panics
    ///
    /// The first poll panics outside a tokio runtime; an upstream panic resurfaces in
    /// `poll_next`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main]
    /// # async fn main() {
    /// let n = NonZeroUsize::new(16).unwrap();
    /// let total: u64 = futures::stream::iter(1..=100u64).bounded(n).fold(0, |a, x| async move { a + x }).await;
    /// assert_eq!(total, 5050);
    /// # }
    /// ```
    fn bounded(self, n: NonZeroUsize) -> Bounded<Self>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        Bounded::new(self, n)
    }

    /// Buffers up to `capacity` items on a task that never blocks the upstream; when
    /// full, the **incoming** item is dropped. See [`DropNewest`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = futures::stream::iter(0..10).drop_newest(NonZeroUsize::new(3).unwrap());
    /// let v: Vec<i32> = s.collect().await;
    /// assert_eq!(v, [0, 1, 2]); // the whole burst arrived before the first poll returned
    /// # }
    /// ```
    fn drop_newest(self, capacity: NonZeroUsize) -> DropNewest<Self>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        DropNewest::new(self, capacity)
    }

    /// Buffers up to `capacity` items on a task that never blocks the upstream; when
    /// full, the **oldest buffered** item is evicted. See [`DropOldest`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let s = futures::stream::iter(0..10).drop_oldest(NonZeroUsize::new(3).unwrap());
    /// let v: Vec<i32> = s.collect().await;
    /// assert_eq!(v, [7, 8, 9]);
    /// # }
    /// ```
    fn drop_oldest(self, capacity: NonZeroUsize) -> DropOldest<Self>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        DropOldest::new(self, capacity)
    }

    /// Keeps only the newest undelivered item (conflation). See [`Latest`].
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let v: Vec<i32> = futures::stream::iter(0..10).latest().collect().await;
    /// assert_eq!(v, [9]);
    /// # }
    /// ```
    fn latest(self) -> Latest<Self>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        Latest::new(self)
    }

    /// Keeps each item with probability `keep_ratio`, counting the rest as dropped;
    /// seedable. See [`Sample`].
    ///
    /// # Panics
    ///
    /// Panics unless `keep_ratio` is within `0.0..=1.0` (NaN included).
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let all: Vec<i32> = futures::stream::iter(0..5).sample(1.0).collect().await;
    /// assert_eq!(all, [0, 1, 2, 3, 4]);
    /// # }
    /// ```
    #[track_caller]
    fn sample(self, keep_ratio: f64) -> Sample<Self>
    where
        Self: Sized,
    {
        Sample::new(self, keep_ratio)
    }

    /// Buffers on a task that never blocks the upstream, shedding incoming items from
    /// the moment the depth reaches `marks.high()` until it falls to `marks.low()`.
    /// See [`ShedWatermark`].
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir_stream::{Watermarks, WeirStreamExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let marks = Watermarks::new(3, 1).unwrap();
    /// let v: Vec<i32> = futures::stream::iter(0..10).shed_watermark(marks).collect().await;
    /// assert_eq!(v, [0, 1, 2]);
    /// # }
    /// ```
    fn shed_watermark(self, marks: Watermarks) -> ShedWatermark<Self>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        ShedWatermark::new(self, marks)
    }

    /// Maps every item through `f` with at most `n` futures in flight, each on its
    /// own spawned task; output in input order. See [`ParMap`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main]
    /// # async fn main() {
    /// let n = NonZeroUsize::new(4).unwrap();
    /// let v: Vec<u64> = futures::stream::iter(0..100u64).par_map(n, |x| async move { x * x }).collect().await;
    /// assert_eq!(v, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
    /// # }
    /// ```
    fn par_map<F, Fut>(self, n: NonZeroUsize, f: F) -> ParMap<Self, F, Fut>
    where
        Self: Sized,
        F: FnMut(Self::Item) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        ParMap::new(self, n, f)
    }

    /// Like [`par_map`](Self::par_map), in completion order. See [`ParMapUnordered`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main]
    /// # async fn main() {
    /// let n = NonZeroUsize::new(4).unwrap();
    /// let mut v: Vec<u64> = futures::stream::iter(0..100u64)
    ///     .par_map_unordered(n, |x| async move { x + 1 })
    ///     .collect()
    ///     .await;
    /// v.sort();
    /// assert_eq!(v, (1..=100).collect::<Vec<_>>());
    /// # }
    /// ```
    fn par_map_unordered<F, Fut>(self, n: NonZeroUsize, f: F) -> ParMapUnordered<Self, F, Fut>
    where
        Self: Sized,
        F: FnMut(Self::Item) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        ParMapUnordered::new(self, n, f)
    }

    /// Limits the stream to `rate` with bursts of up to `burst` items (a token bucket
    /// that starts full). See [`Throttle`].
    ///
    /// ```
    /// use std::num::{NonZeroU32, NonZeroUsize};
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_stream::{Rate, WeirStreamExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = tokio::time::Instant::now();
    /// let rate = Rate::per_second(NonZeroU32::new(10).unwrap());
    /// let mut s = futures::stream::iter(0..11).throttle(rate, NonZeroUsize::new(1).unwrap());
    /// while let Some(i) = s.next().await {
    ///     assert_eq!(start.elapsed(), Duration::from_millis(100 * i));
    /// }
    /// # }
    /// ```
    fn throttle(self, rate: Rate, burst: NonZeroUsize) -> Throttle<Self>
    where
        Self: Sized,
    {
        Throttle::new(self, rate, burst)
    }

    /// Limits the stream by a shared weir-core GCRA [`RateLimiter`]: every item takes
    /// one of its cells, so streams (and other users) holding the same limiter share
    /// its rate, and [`RateLimiter::set_quota`] changes it at runtime. See
    /// [`Throttle`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_core::{Quota, RateLimiter};
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = Arc::new(RateLimiter::new(Quota::per_second(10).unwrap().allow_burst(1).unwrap()));
    /// let start = tokio::time::Instant::now();
    /// let a = futures::stream::iter(0..3).throttle_with(limiter.clone());
    /// let b = futures::stream::iter(3..6).throttle_with(limiter.clone());
    /// let times: Vec<Duration> = futures::stream::select(a, b)
    ///     .map(|_| start.elapsed())
    ///     .collect()
    ///     .await;
    /// // Six items through one 10/s limiter: 100 ms apart, not two at a time.
    /// let ms = |m| Duration::from_millis(m);
    /// assert_eq!(times, [ms(0), ms(100), ms(200), ms(300), ms(400), ms(500)]);
    /// # }
    /// ```
    fn throttle_with(self, limiter: Arc<RateLimiter>) -> Throttle<Self>
    where
        Self: Sized,
    {
        Throttle::with_limiter(self, limiter)
    }

    /// Groups items into batches of up to `max_items`, emitted at the latest
    /// `max_wait` after their first item; never empty. See [`Batch`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let b: Vec<Vec<i32>> = futures::stream::iter(0..4)
    ///     .batch(NonZeroUsize::new(2).unwrap(), Duration::from_secs(1))
    ///     .collect()
    ///     .await;
    /// assert_eq!(b, [vec![0, 1], vec![2, 3]]);
    /// # }
    /// ```
    fn batch(self, max_items: NonZeroUsize, max_wait: Duration) -> Batch<Self>
    where
        Self: Sized,
    {
        Batch::new(self, max_items, max_wait)
    }

    /// Ends the stream when `token` is cancelled, dropping the upstream (and whatever
    /// is buffered in it) at that moment. See [`UntilCancelled`].
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokio_util::sync::CancellationToken;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// assert_eq!(futures::stream::iter(0..3).until_cancelled(token).count().await, 0);
    /// # }
    /// ```
    fn until_cancelled(self, token: CancellationToken) -> UntilCancelled<Self>
    where
        Self: Sized,
    {
        UntilCancelled::new(self, token)
    }
}

impl<S: Stream + ?Sized> WeirStreamExt for S {}
