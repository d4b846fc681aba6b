//! `latest()`: conflate to the newest item.

use futures_core::Stream;

use crate::drop_oldest::DropOldestPolicy;
use crate::shed::ShedCore;
use crate::stats::DropReason;

/// Stream for [`WeirStreamExt::latest`](crate::WeirStreamExt::latest).
///
/// Holds at most one undelivered item: each new item replaces it
/// ([`DropReason::Superseded`]), so the consumer always gets the most recent value
/// and never a stale one. (Kotlin `conflate()`, Rx `onBackpressureLatest`.)
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
/// use weir_stream::{DropReason, WeirStreamExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (mut tx, rx) = futures::channel::mpsc::unbounded();
/// let s = rx.latest();
/// let stats = s.stats();
/// for i in 0..5 { tx.send(i).await.unwrap(); }
/// drop(tx);
/// let got: Vec<i32> = s.collect().await;
/// assert_eq!(got, [4]);
/// assert_eq!(stats.dropped_by(DropReason::Superseded), 4);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Latest<S: Stream> {
    core: ShedCore<S, DropOldestPolicy>,
}

// The upstream is moved into a task before it is ever polled, never pinned here.
impl<S: Stream> Unpin for Latest<S> {}

impl<S: Stream> Latest<S> {
    pub(crate) fn new(upstream: S) -> Self {
        Latest {
            core: ShedCore::new(
                upstream,
                DropOldestPolicy {
                    capacity: 1,
                    reason: DropReason::Superseded,
                },
                1,
            ),
        }
    }
}

crate::shed::shed_adapter!(Latest, "futures::stream::iter(0..10).latest()");
