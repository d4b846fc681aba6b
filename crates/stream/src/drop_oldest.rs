//! `drop_oldest(capacity)`: a buffer that evicts its oldest item when full.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use futures_core::Stream;

use crate::shed::{Policy, ShedCore};
use crate::stats::DropReason;

/// Stream for [`WeirStreamExt::drop_oldest`](crate::WeirStreamExt::drop_oldest).
///
/// Buffers up to `capacity` items; when the buffer is full its **oldest** item is
/// evicted ([`DropReason::OldestEvicted`]) to make room for the incoming one, so the
/// consumer sees the newest items. (Akka `dropHead`; `DROP_OLDEST` elsewhere.) Unlike
/// `tokio::sync::broadcast` it needs no `Clone`, keeps the exact capacity (no
/// rounding to a power of two) and hands the evicted item to `on_drop`.
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
/// use std::num::NonZeroUsize;
/// use futures::{SinkExt, StreamExt};
/// use weir_stream::{DropReason, WeirStreamExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (mut tx, rx) = futures::channel::mpsc::unbounded();
/// let (etx, erx) = std::sync::mpsc::channel();
/// let s = rx
///     .drop_oldest(NonZeroUsize::new(2).unwrap())
///     .on_drop(move |item, reason| etx.send((item, reason)).unwrap());
/// for i in 0..5 { tx.send(i).await.unwrap(); }
/// drop(tx);
/// let got: Vec<i32> = s.collect().await;
/// assert_eq!(got, [3, 4]); // the newest two survive
/// let evicted: Vec<_> = erx.try_iter().collect();
/// assert_eq!(evicted, [
///     (0, DropReason::OldestEvicted),
///     (1, DropReason::OldestEvicted),
///     (2, DropReason::OldestEvicted),
/// ]);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct DropOldest<S: Stream> {
    core: ShedCore<S, DropOldestPolicy>,
}

// The upstream is moved into a task before it is ever polled, never pinned here.
impl<S: Stream> Unpin for DropOldest<S> {}

impl<S: Stream> DropOldest<S> {
    pub(crate) fn new(upstream: S, capacity: NonZeroUsize) -> Self {
        DropOldest {
            core: ShedCore::new(
                upstream,
                DropOldestPolicy {
                    capacity: capacity.get(),
                    reason: DropReason::OldestEvicted,
                },
                capacity.get(),
            ),
        }
    }
}

crate::shed::shed_adapter!(
    DropOldest,
    "futures::stream::iter(0..10).drop_oldest(std::num::NonZeroUsize::new(4).unwrap())"
);

/// Evict the oldest buffered item when full (also `latest`, with capacity 1).
#[derive(Debug)]
pub(crate) struct DropOldestPolicy {
    pub(crate) capacity: usize,
    pub(crate) reason: DropReason,
}

impl<T> Policy<T> for DropOldestPolicy {
    fn admit(&mut self, queue: &mut VecDeque<T>, item: T) -> Option<(T, DropReason)> {
        let evicted = if queue.len() >= self.capacity {
            queue.pop_front().map(|old| (old, self.reason))
        } else {
            None
        };
        queue.push_back(item);
        evicted
    }
}
