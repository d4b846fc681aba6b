//! `par_map_unordered(n, f)`: parallel map on spawned tasks, in completion order.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::task::JoinSet;

use crate::par_map::unwrap_join;

pin_project! {
    /// Stream for
    /// [`WeirStreamExt::par_map_unordered`](crate::WeirStreamExt::par_map_unordered).
    ///
    /// Like [`ParMap`](crate::ParMap) — every future is spawned, at most `n` are
    /// spawned and not yet yielded — but outputs come in completion order, so one slow
    /// future never holds back the others or stops new ones from starting.
    ///
    /// # Panics
    ///
    /// - Polling panics outside a tokio runtime (it spawns).
    /// - If a future panics, `poll_next` re-raises its panic once it is collected.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream aborts every spawned future that has not been yielded.
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
    /// let out: Vec<u64> = futures::stream::iter(1..=3u64)
    ///     .par_map_unordered(NonZeroUsize::new(3).unwrap(), |i| async move {
    ///         tokio::time::sleep(Duration::from_millis(100 * (4 - i))).await;
    ///         i
    ///     })
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, [3, 2, 1]); // completion order
    /// # }
    /// ```
    #[project = ParMapUnorderedProj]
    #[must_use = "streams do nothing unless polled"]
    pub struct ParMapUnordered<S, F, Fut: Future> {
        #[pin]
        upstream: S,
        f: F,
        // Aborts every task on drop.
        tasks: JoinSet<Fut::Output>,
        limit: usize,
        upstream_done: bool,
    }
}

impl<S, F, Fut: Future> ParMapUnordered<S, F, Fut> {
    pub(crate) fn new(upstream: S, n: NonZeroUsize, f: F) -> Self {
        ParMapUnordered {
            upstream,
            f,
            tasks: JoinSet::new(),
            limit: n.get(),
            upstream_done: false,
        }
    }
}

impl<S, F, Fut> Stream for ParMapUnordered<S, F, Fut>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Item = Fut::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Fut::Output>> {
        let mut this = self.project();
        fill(&mut this, cx);
        match this.tasks.poll_join_next(cx) {
            Poll::Ready(Some(res)) => {
                let out = unwrap_join(res);
                fill(&mut this, cx);
                Poll::Ready(Some(out))
            }
            Poll::Ready(None) if *this.upstream_done => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        crate::par_map::size_hint_with_in_flight(
            self.upstream_done,
            &self.upstream,
            self.tasks.len(),
        )
    }
}

impl<S, F, Fut> FusedStream for ParMapUnordered<S, F, Fut>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn is_terminated(&self) -> bool {
        self.upstream_done && self.tasks.is_empty()
    }
}

impl<S: fmt::Debug, F, Fut: Future> fmt::Debug for ParMapUnordered<S, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParMapUnordered")
            .field("upstream", &self.upstream)
            .field("limit", &self.limit)
            .field("in_flight", &self.tasks.len())
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}

/// Spawns until the window is full or the upstream is not ready.
fn fill<S, F, Fut>(this: &mut ParMapUnorderedProj<'_, S, F, Fut>, cx: &mut Context<'_>)
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    // `len` counts finished tasks not yet collected too: the bound covers them.
    while !*this.upstream_done && this.tasks.len() < *this.limit {
        match this.upstream.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                this.tasks.spawn((this.f)(item));
            }
            Poll::Ready(None) => *this.upstream_done = true,
            Poll::Pending => break,
        }
    }
}
