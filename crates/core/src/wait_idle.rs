//! [`WaitIdle`]: the drain future.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use crate::{Semaphore, ledger::IdleNode, waiter_list::Waiter};

pin_project! {
    /// Future returned by [`Semaphore::wait_idle`] and
    /// [`Latch::wait_for_empty`](crate::Latch::wait_for_empty): resolves when nothing
    /// is held.
    ///
    /// # Cancel safety
    ///
    /// Dropping it only unregisters it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_test::{assert_pending, assert_ready, task};
    ///
    /// let sem = weir_core::Semaphore::new(2);
    /// let held = sem.try_acquire_many(2).unwrap();
    /// let mut idle = task::spawn(sem.wait_idle());
    /// assert_pending!(idle.poll());
    /// drop(held);
    /// assert!(idle.is_woken());
    /// assert_ready!(idle.poll());
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WaitIdle<'a> {
        sem: &'a Semaphore,
        #[pin]
        node: Waiter<IdleNode>,
        queued: bool,
    }

    impl PinnedDrop for WaitIdle<'_> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.queued && this.node.is_linked() {
                let mut queues = this.sem.lock();
                if queues.idle.remove(this.node.as_ref()) {
                    this.sem.publish(&queues);
                }
            }
        }
    }
}

impl<'a> WaitIdle<'a> {
    pub(crate) fn new(sem: &'a Semaphore) -> Self {
        Self {
            sem,
            node: Waiter::new(IdleNode::default()),
            queued: false,
        }
    }
}

impl Future for WaitIdle<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if !*this.queued {
            if this.sem.idle_or_enqueue(this.node.as_ref(), cx.waker()) {
                return Poll::Ready(());
            }
            *this.queued = true;
            return Poll::Pending;
        }
        if !this.node.is_linked() {
            return Poll::Ready(());
        }
        let mut queues = this.sem.lock();
        match queues.idle.get_mut(this.node.as_ref()) {
            Some(node) => {
                match &mut node.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl fmt::Debug for WaitIdle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitIdle")
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}
