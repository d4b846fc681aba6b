//! `batch(max_items, max_wait)`: size- or time-bounded batches, never empty.

use std::fmt;
use std::future::Future as _;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

pin_project! {
    /// Stream for [`WeirStreamExt::batch`](crate::WeirStreamExt::batch).
    ///
    /// Collects items into a `Vec` and emits it when it holds `max_items`, or when
    /// `max_wait` has passed since the **first item of that batch** arrived (the
    /// `chunks_timeout` rule, not Akka's "since the last emit"), or when the upstream
    /// ends. A batch is never empty: with no items, no timer runs and nothing is
    /// emitted. The upstream is drained while it is ready, so a fast upstream fills
    /// batches without waiting on the timer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream drops the partial batch with it.
    ///
    /// # Panics
    ///
    /// Polling panics outside a tokio runtime with time enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let batches: Vec<Vec<u32>> = futures::stream::iter(0..7)
    ///     .batch(NonZeroUsize::new(3).unwrap(), Duration::from_millis(10))
    ///     .collect()
    ///     .await;
    /// assert_eq!(batches, [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    /// # }
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct Batch<S: Stream> {
        #[pin]
        upstream: S,
        // Boxed so the adapter is `Unpin` when the upstream is; allocated once.
        deadline: Option<Pin<Box<Sleep>>>,
        items: Vec<S::Item>,
        max_items: usize,
        max_wait: Duration,
        done: bool,
    }
}

impl<S: Stream> Batch<S> {
    pub(crate) fn new(upstream: S, max_items: NonZeroUsize, max_wait: Duration) -> Self {
        Batch {
            upstream,
            deadline: None,
            items: Vec::new(),
            max_items: max_items.get(),
            max_wait,
            done: false,
        }
    }
}

impl<S: Stream> Stream for Batch<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<S::Item>>> {
        let mut this = self.project();
        let cap = (*this.max_items).min(1024);
        while !*this.done {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if this.items.is_empty() {
                        let at = Instant::now() + *this.max_wait;
                        match this.deadline {
                            Some(sleep) => sleep.as_mut().reset(at),
                            None => *this.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
                        }
                        this.items.reserve(cap);
                    }
                    this.items.push(item);
                    if this.items.len() >= *this.max_items {
                        return Poll::Ready(Some(std::mem::take(this.items)));
                    }
                }
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => break,
            }
        }
        if this.items.is_empty() {
            return if *this.done {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
        if *this.done {
            return Poll::Ready(Some(std::mem::take(this.items)));
        }
        let deadline = this.deadline.as_mut().expect("a batch has a deadline");
        std::task::ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Some(std::mem::take(this.items)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = if self.done {
            (0, Some(0))
        } else {
            self.upstream.size_hint()
        };
        let pending = self.items.len();
        let lo = lo.saturating_add(pending).div_ceil(self.max_items);
        // At worst every item is a batch of its own.
        (lo, hi.and_then(|h| h.checked_add(pending)))
    }
}

impl<S: Stream> FusedStream for Batch<S> {
    fn is_terminated(&self) -> bool {
        self.done && self.items.is_empty()
    }
}

impl<S: Stream + fmt::Debug> fmt::Debug for Batch<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("upstream", &self.upstream)
            .field("pending", &self.items.len())
            .field("max_items", &self.max_items)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}
