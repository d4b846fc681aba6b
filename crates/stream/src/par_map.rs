//! `par_map(n, f)`: ordered parallel map on spawned tasks.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::task::{JoinError, JoinHandle};

pin_project! {
    /// Stream for [`WeirStreamExt::par_map`](crate::WeirStreamExt::par_map).
    ///
    /// Each item becomes `tokio::spawn(f(item))`, so the futures run on the runtime's
    /// workers, in parallel with each other and with the consumer. At most `n` are
    /// spawned and not yet yielded; that window is also the reorder buffer: outputs
    /// that finish early wait in their task until every earlier one is yielded, so at
    /// most `n` outputs are ever held. A slow head blocks the window (head-of-line
    /// blocking) — use [`par_map_unordered`](crate::WeirStreamExt::par_map_unordered)
    /// when order does not matter.
    ///
    /// The upstream is polled in the consumer's task, when the consumer polls; each
    /// poll refills the window before it returns, so the window is full while the
    /// consumer works on an item.
    ///
    /// # Panics
    ///
    /// - Polling panics outside a tokio runtime (it spawns).
    /// - If a future panics, `poll_next` re-raises its panic when that output's turn
    ///   comes.
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
    /// let start = tokio::time::Instant::now();
    /// let out: Vec<u64> = futures::stream::iter(1..=4u64)
    ///     // Later items finish first; the output keeps input order.
    ///     .par_map(NonZeroUsize::new(4).unwrap(), |i| async move {
    ///         tokio::time::sleep(Duration::from_millis(100 * (5 - i))).await;
    ///         i * 10
    ///     })
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, [10, 20, 30, 40]);
    /// assert_eq!(start.elapsed(), Duration::from_millis(400)); // concurrently
    /// # }
    /// ```
    #[project = ParMapProj]
    #[must_use = "streams do nothing unless polled"]
    pub struct ParMap<S, F, Fut: Future> {
        #[pin]
        upstream: S,
        f: F,
        window: AbortAll<Fut::Output>,
        limit: usize,
        upstream_done: bool,
    }
}

/// Spawned tasks in input order, aborted on drop.
struct AbortAll<T>(VecDeque<JoinHandle<T>>);

impl<T> Drop for AbortAll<T> {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl<S, F, Fut: Future> ParMap<S, F, Fut> {
    pub(crate) fn new(upstream: S, n: NonZeroUsize, f: F) -> Self {
        ParMap {
            upstream,
            f,
            window: AbortAll(VecDeque::with_capacity(n.get().min(1024))),
            limit: n.get(),
            upstream_done: false,
        }
    }
}

/// Re-raises a task's panic; a cancelled task means the runtime is shutting down.
pub(crate) fn unwrap_join<T>(res: Result<T, JoinError>) -> T {
    match res {
        Ok(v) => v,
        Err(e) if e.is_panic() => panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("weir-stream: a mapping task was cancelled (was the runtime shut down?)"),
    }
}

impl<S, F, Fut> Stream for ParMap<S, F, Fut>
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
        let Some(head) = this.window.0.front_mut() else {
            return if *this.upstream_done {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        };
        let res = std::task::ready!(Pin::new(head).poll(cx));
        this.window.0.pop_front();
        let out = unwrap_join(res);
        // Keep the window full while the consumer works on `out`.
        fill(&mut this, cx);
        Poll::Ready(Some(out))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        size_hint_with_in_flight(self.upstream_done, &self.upstream, self.window.0.len())
    }
}

impl<S, F, Fut> FusedStream for ParMap<S, F, Fut>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn is_terminated(&self) -> bool {
        self.upstream_done && self.window.0.is_empty()
    }
}

impl<S: fmt::Debug, F, Fut: Future> fmt::Debug for ParMap<S, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParMap")
            .field("upstream", &self.upstream)
            .field("limit", &self.limit)
            .field("in_flight", &self.window.0.len())
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}

/// Spawns until the window is full or the upstream is not ready.
fn fill<S, F, Fut>(this: &mut ParMapProj<'_, S, F, Fut>, cx: &mut Context<'_>)
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    while !*this.upstream_done && this.window.0.len() < *this.limit {
        match this.upstream.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                let fut = (this.f)(item);
                this.window.0.push_back(tokio::spawn(fut));
            }
            Poll::Ready(None) => *this.upstream_done = true,
            Poll::Pending => break,
        }
    }
}

/// A parallel map's size hint: what the upstream may still yield (nothing once it
/// ended) plus the `in_flight` futures already taken from it.
pub(crate) fn size_hint_with_in_flight<S: Stream>(
    upstream_done: bool,
    upstream: &S,
    in_flight: usize,
) -> (usize, Option<usize>) {
    let (lo, hi) = if upstream_done {
        (0, Some(0))
    } else {
        upstream.size_hint()
    };
    (
        lo.saturating_add(in_flight),
        hi.and_then(|h| h.checked_add(in_flight)),
    )
}
