//! `sample(keep_ratio)`: probabilistic thinning with drop accounting.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::end::lock;
use crate::stats::{DropReason, OnDrop, ShedSnapshot, ShedStats};

pin_project! {
    /// Stream for [`WeirStreamExt::sample`](crate::WeirStreamExt::sample).
    ///
    /// Keeps each item independently with probability `keep_ratio` and drops the rest
    /// ([`DropReason::NotSampled`]), counting both. It is a filter: it holds no buffer
    /// and runs in the consumer's task, pulling the upstream as fast as the consumer
    /// pulls it (it loops over dropped items without returning). To thin a source
    /// that must never be blocked, put a buffering adapter after it, e.g.
    /// `.sample(0.1).drop_oldest(n)`: then the sampling runs on that adapter's task.
    ///
    /// The generator is a SplitMix64, seeded from the OS-keyed `RandomState` unless
    /// [`seed`](Self::seed) fixes it: the same seed keeps the same items.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use weir_stream::{DropReason, WeirStreamExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let a: Vec<u32> = futures::stream::iter(0..1000).sample(0.25).seed(7).collect().await;
    /// let s = futures::stream::iter(0..1000).sample(0.25).seed(7);
    /// let stats = s.stats();
    /// let b: Vec<u32> = s.collect().await;
    /// assert_eq!(a, b); // same seed, same sample
    /// assert!((150..350).contains(&a.len()));
    /// assert_eq!(stats.dropped_by(DropReason::NotSampled), 1000 - a.len() as u64);
    /// # }
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct Sample<S: Stream> {
        #[pin]
        upstream: S,
        rng: SplitMix64,
        // Keep when the top 53 bits of a draw are below this.
        threshold: u64,
        counts: Arc<Mutex<ShedSnapshot>>,
        on_drop: Option<OnDrop<S::Item>>,
    }
}

const ONE: u64 = 1 << 53;

impl<S: Stream> Sample<S> {
    #[track_caller]
    pub(crate) fn new(upstream: S, keep_ratio: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&keep_ratio),
            "weir-stream: sample keep_ratio must be within 0.0..=1.0, got {keep_ratio}"
        );
        Sample {
            upstream,
            rng: SplitMix64(RandomState::new().hash_one(0x5eed_u64)),
            // Exact at both ends: 0.0 keeps nothing, 1.0 keeps everything.
            threshold: (keep_ratio * ONE as f64) as u64,
            counts: Arc::new(Mutex::new(ShedSnapshot::default())),
            on_drop: None,
        }
    }

    /// Fixes the generator's seed, for reproducible runs and tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = SplitMix64(seed);
        self
    }

    /// Calls `f` with every item not kept, in the consumer's task, outside any lock,
    /// after the counters include the drop.
    pub fn on_drop<F>(mut self, f: F) -> Self
    where
        F: FnMut(S::Item, DropReason) + Send + 'static,
    {
        self.on_drop = Some(Box::new(f));
        self
    }

    /// A live, clonable view of the counters. Occupancy is always 0: nothing is
    /// buffered.
    pub fn stats(&self) -> ShedStats {
        ShedStats::new(self.counts.clone())
    }
}

impl<S: Stream> Stream for Sample<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        loop {
            let Some(item) = std::task::ready!(this.upstream.as_mut().poll_next(cx)) else {
                return Poll::Ready(None);
            };
            let keep = (this.rng.next() >> 11) < *this.threshold;
            {
                let mut counts = lock(this.counts);
                counts.on_received();
                if keep {
                    counts.on_emitted();
                } else {
                    counts.on_dropped(DropReason::NotSampled);
                }
            }
            if keep {
                return Poll::Ready(Some(item));
            }
            if let Some(f) = this.on_drop {
                f(item, DropReason::NotSampled);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.upstream.size_hint().1)
    }
}

impl<S: Stream + fmt::Debug> fmt::Debug for Sample<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sample")
            .field("upstream", &self.upstream)
            .field("keep_ratio", &(self.threshold as f64 / ONE as f64))
            .field("stats", &*lock(&self.counts))
            .finish_non_exhaustive()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to pick samples.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
