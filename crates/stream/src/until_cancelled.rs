//! `until_cancelled(token)`: end a stream at a `CancellationToken`.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pin_project! {
    /// Stream for
    /// [`WeirStreamExt::until_cancelled`](crate::WeirStreamExt::until_cancelled).
    ///
    /// Yields the upstream's items until the token is cancelled, then ends. The check
    /// comes first on every poll: once the token is cancelled **no further item is
    /// yielded**, even one the upstream has ready. At that moment the upstream is
    /// dropped, with everything buffered in it — items waiting in an upstream
    /// [`bounded`](crate::WeirStreamExt::bounded) or shedding adapter are discarded,
    /// not delivered, and their producer tasks stop. If the consumer must see every
    /// item produced, cancel the *source* instead and let the buffers drain.
    ///
    /// # Cancel safety
    ///
    /// The stream is registered with the token, so a consumer waiting on a silent
    /// upstream is woken by the cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokio_util::sync::CancellationToken;
    /// use weir_stream::WeirStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let token = CancellationToken::new();
    /// let mut s = futures::stream::iter(0..).until_cancelled(token.clone());
    /// assert_eq!(s.next().await, Some(0));
    /// token.cancel();
    /// assert_eq!(s.next().await, None); // 1 was ready, but the token wins
    /// # }
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct UntilCancelled<S> {
        // `None` once cancelled or finished: dropped right away.
        #[pin]
        upstream: Option<S>,
        // Boxed so the adapter is `Unpin` when the upstream is.
        cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    }
}

impl<S> UntilCancelled<S> {
    pub(crate) fn new(upstream: S, token: CancellationToken) -> Self {
        UntilCancelled {
            upstream: Some(upstream),
            cancelled: Box::pin(token.cancelled_owned()),
        }
    }
}

impl<S: Stream> Stream for UntilCancelled<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        let Some(upstream) = this.upstream.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        if this.cancelled.as_mut().poll(cx).is_ready() {
            this.upstream.set(None);
            return Poll::Ready(None);
        }
        let next = std::task::ready!(upstream.poll_next(cx));
        if next.is_none() {
            this.upstream.set(None);
        }
        Poll::Ready(next)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.upstream {
            Some(upstream) => (0, upstream.size_hint().1),
            None => (0, Some(0)),
        }
    }
}

impl<S: Stream> FusedStream for UntilCancelled<S> {
    fn is_terminated(&self) -> bool {
        self.upstream.is_none()
    }
}

impl<S: fmt::Debug> fmt::Debug for UntilCancelled<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntilCancelled")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}
