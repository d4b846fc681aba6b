//! `shed_watermark(marks)`: refuse incoming items between a high and a low watermark.

use std::collections::VecDeque;

use futures_core::Stream;

use crate::error::WatermarkError;
use crate::shed::{Policy, ShedCore};
use crate::stats::DropReason;

/// Stream for [`WeirStreamExt::shed_watermark`](crate::WeirStreamExt::shed_watermark).
///
/// Hysteresis shedding. Items are buffered until the depth reaches `high`; that
/// switches shedding **on**, and from then every incoming item is dropped
/// ([`DropReason::AboveWatermark`]) until the consumer has drained the buffer down
/// to `low`, which switches it **off**. The gap between the marks stops the adapter
/// from flapping between accepting and refusing on every item (Netty's
/// `WriteBufferWaterMark`, applied to shedding). The buffer never holds more than
/// `high` items, so `high` is also its capacity.
///
/// The upstream runs on its own tokio task (started on the first poll) and is never
/// blocked: every item it yields is admitted or dropped at once. Dropping the adapter
/// cancels that task, which drops the upstream and everything still buffered (those
/// items are not passed to `on_drop`: they were not shed, the consumer left).
///
/// # Panics
///
/// - The first poll panics outside a tokio runtime (it spawns the producer task).
/// - An upstream panic, or a panic in the `on_drop` callback, is re-raised by
///   `poll_next` after the items buffered before it; later polls return `None`.
///
/// # Examples
///
/// ```
/// use futures::{SinkExt, StreamExt};
/// use weir_stream::{DropReason, Watermarks, WeirStreamExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (mut tx, rx) = futures::channel::mpsc::unbounded();
/// let s = rx.shed_watermark(Watermarks::new(4, 1).unwrap());
/// let stats = s.stats();
/// for i in 0..6 { tx.send(i).await.unwrap(); }
/// drop(tx);
/// let got: Vec<i32> = s.collect().await;
/// assert_eq!(got, [0, 1, 2, 3]); // shedding started at depth 4
/// assert_eq!(stats.dropped_by(DropReason::AboveWatermark), 2);
/// assert!(!stats.is_shedding()); // drained to <= 1: off again
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct ShedWatermark<S: Stream> {
    core: ShedCore<S, WatermarkPolicy>,
}

// The upstream is moved into a task before it is ever polled, never pinned here.
impl<S: Stream> Unpin for ShedWatermark<S> {}

impl<S: Stream> ShedWatermark<S> {
    pub(crate) fn new(upstream: S, marks: Watermarks) -> Self {
        ShedWatermark {
            core: ShedCore::new(
                upstream,
                WatermarkPolicy {
                    marks,
                    shedding: false,
                },
                marks.high,
            ),
        }
    }
}

crate::shed::shed_adapter!(
    ShedWatermark,
    "futures::stream::iter(0..10).shed_watermark(weir_stream::Watermarks::new(8, 2).unwrap())"
);

/// The two thresholds of [`shed_watermark`](crate::WeirStreamExt::shed_watermark):
/// shedding starts when the depth reaches `high` and stops when it falls to `low`.
///
/// ```
/// use weir_stream::{Watermarks, WatermarkError};
///
/// let marks = Watermarks::new(100, 20).unwrap();
/// assert_eq!((marks.high(), marks.low()), (100, 20));
/// assert_eq!(Watermarks::new(10, 10), Err(WatermarkError::LowNotBelowHigh { high: 10, low: 10 }));
/// assert_eq!(Watermarks::new(0, 0), Err(WatermarkError::ZeroHigh));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    high: usize,
    low: usize,
}

impl Watermarks {
    /// Shedding starts at depth `high` (≥ 1), stops at depth `low` (< `high`).
    ///
    /// # Errors
    ///
    /// [`WatermarkError::ZeroHigh`] if `high` is 0, [`WatermarkError::LowNotBelowHigh`]
    /// if `low >= high` (there would be no hysteresis band).
    pub const fn new(high: usize, low: usize) -> Result<Self, WatermarkError> {
        if high == 0 {
            return Err(WatermarkError::ZeroHigh);
        }
        if low >= high {
            return Err(WatermarkError::LowNotBelowHigh { high, low });
        }
        Ok(Watermarks { high, low })
    }

    /// The depth at which shedding starts; also the buffer's capacity.
    pub const fn high(&self) -> usize {
        self.high
    }

    /// The depth at which shedding stops.
    pub const fn low(&self) -> usize {
        self.low
    }
}

/// Refuse incoming while shedding; shedding switches on at `high`, off at `low`.
#[derive(Debug)]
pub(crate) struct WatermarkPolicy {
    marks: Watermarks,
    shedding: bool,
}

impl<T> Policy<T> for WatermarkPolicy {
    fn admit(&mut self, queue: &mut VecDeque<T>, item: T) -> Option<(T, DropReason)> {
        if self.shedding {
            return Some((item, DropReason::AboveWatermark));
        }
        queue.push_back(item);
        if queue.len() >= self.marks.high {
            self.shedding = true;
            // Once per episode, not per item: overload is news, not an error.
            tracing::info!(
                depth = queue.len(),
                high = self.marks.high,
                "stream shedding started"
            );
        }
        None
    }

    fn after_pop(&mut self, len: usize) {
        if self.shedding && len <= self.marks.low {
            self.shedding = false;
            tracing::info!(depth = len, low = self.marks.low, "stream shedding stopped");
        }
    }

    fn shedding(&self) -> bool {
        self.shedding
    }
}
