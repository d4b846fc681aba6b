//! `drop_newest(capacity)`: a buffer that refuses incoming items when full.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use futures_core::Stream;

use crate::shed::{Policy, ShedCore};
use crate::stats::DropReason;

/// Stream for [`WeirStreamExt::drop_newest`](crate::WeirStreamExt::drop_newest).
///
/// Buffers up to `capacity` items; when the buffer is full the **incoming** item is
/// dropped ([`DropReason::IncomingRefused`]) and the buffer is unchanged, so the
/// consumer sees the oldest items. (Akka `dropNew`; Reactor's and Kotlin's
/// `DROP_LATEST`.)
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
/// let s = rx.drop_newest(NonZeroUsize::new(2).unwrap());
/// let stats = s.stats();
/// // Five items arrive before the consumer looks: the producer task takes all five.
/// for i in 0..5 { tx.send(i).await.unwrap(); }
/// drop(tx);
/// let got: Vec<i32> = s.collect().await;
/// assert_eq!(got, [0, 1]); // 2, 3 and 4 arrived while the buffer was full
/// assert_eq!(stats.dropped_by(DropReason::IncomingRefused), 3);
/// assert_eq!(stats.max_occupancy(), 2);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct DropNewest<S: Stream> {
    core: ShedCore<S, DropNewestPolicy>,
}

// The upstream is moved into a task before it is ever polled, never pinned here.
impl<S: Stream> Unpin for DropNewest<S> {}

impl<S: Stream> DropNewest<S> {
    pub(crate) fn new(upstream: S, capacity: NonZeroUsize) -> Self {
        DropNewest {
            core: ShedCore::new(
                upstream,
                DropNewestPolicy {
                    capacity: capacity.get(),
                },
                capacity.get(),
            ),
        }
    }
}

crate::shed::shed_adapter!(
    DropNewest,
    "futures::stream::iter(0..10).drop_newest(std::num::NonZeroUsize::new(4).unwrap())"
);

/// Refuse the incoming item when full.
#[derive(Debug)]
pub(crate) struct DropNewestPolicy {
    capacity: usize,
}

impl<T> Policy<T> for DropNewestPolicy {
    fn admit(&mut self, queue: &mut VecDeque<T>, item: T) -> Option<(T, DropReason)> {
        if queue.len() >= self.capacity {
            return Some((item, DropReason::IncomingRefused));
        }
        queue.push_back(item);
        None
    }
}
