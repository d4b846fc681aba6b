//! The futures returned by `Semaphore::acquire*`.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;

use crate::{
    AcquireError, OwnedPermit, Permit, Semaphore,
    ledger::{AcquireNode, Admit, Outcome},
    waiter_list::Waiter,
    wake_list::WakeList,
};

/// Where an acquire is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not polled yet.
    Idle,
    /// Linked into the semaphore's queue.
    Queued,
    /// Permits taken and owned by the future, not yet handed out (the task's coop
    /// budget ran out on the poll that got them).
    Holding,
    /// Resolved; nothing owned.
    Done,
}

pin_project! {
    /// The engine shared by [`Acquire`] and [`AcquireOwned`]: a queue node plus the
    /// state machine around it. The semaphore is passed in on every call.
    #[project = AcquiringProj]
    pub(crate) struct Acquiring {
        // Built on the first slow-path poll: the lock-free path never touches it, so
        // creating and moving an `Acquire` stays cheap.
        #[pin]
        node: Option<Waiter<AcquireNode>>,
        need: usize,
        phase: Phase,
        // When it was queued, if debug tracing wants the wait reported. Kept out of
        // the node: only this future reads it.
        queued_at: Option<std::time::Instant>,
    }
}

impl Acquiring {
    fn new(need: usize) -> Self {
        Self {
            node: None,
            need,
            phase: Phase::Idle,
            queued_at: None,
        }
    }

    /// Drives the acquire. `Ready(Ok(()))` means `need` permits now belong to the
    /// caller.
    // Always inlined: the fast path is a handful of instructions, and a call frame
    // around it was a tenth of an uncontended acquire's cost.
    #[inline(always)]
    pub(crate) fn poll_acquire(
        self: Pin<&mut Self>,
        sem: &Semaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        let this = self.project();
        // Fast path: first poll, permits free, nobody queued.
        if *this.phase == Phase::Idle && sem.try_acquire_fast(*this.need).is_ok() {
            *this.phase = Phase::Holding;
            if poll_budget(cx).is_pending() {
                return Poll::Pending;
            }
            *this.phase = Phase::Done;
            return Poll::Ready(Ok(()));
        }
        Self::poll_slow(this, sem, cx)
    }

    #[inline(never)]
    fn poll_slow(
        mut this: AcquiringProj<'_>,
        sem: &Semaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        loop {
            match *this.phase {
                Phase::Idle => {
                    if let Some(done) = Self::start(&mut this, sem, cx) {
                        return done;
                    }
                }
                Phase::Queued => {
                    let Some(node) = node_mut(this.node.as_mut()).data_mut() else {
                        if Self::refresh_waker(&mut this, sem, cx) {
                            return Poll::Pending;
                        }
                        // Granted or failed between the check and the lock.
                        continue;
                    };
                    // Unlinked: the semaphore decided.
                    match node.outcome {
                        Outcome::Granted => {
                            if let Some(queued_at) = *this.queued_at {
                                tracing::debug!(
                                    need = node.need,
                                    waited = ?queued_at.elapsed(),
                                    "permits granted after waiting"
                                );
                            }
                            *this.phase = Phase::Holding;
                        }
                        Outcome::Closed => {
                            *this.phase = Phase::Done;
                            return Poll::Ready(Err(AcquireError::Closed));
                        }
                        Outcome::Waiting => unreachable!("unlinked waiter without outcome"),
                    }
                }
                Phase::Holding => {
                    // Budget is consumed only once the permits are ours: a task out of
                    // budget keeps its permits (and so its FIFO turn) and yields.
                    ready!(poll_budget(cx));
                    *this.phase = Phase::Done;
                    return Poll::Ready(Ok(()));
                }
                Phase::Done => panic!("acquire future polled after completion"),
            }
        }
    }

    /// The first slow-path poll: takes the permits under the lock or joins the queue.
    /// Returns the poll's result, or `None` if the permits were taken (the caller
    /// goes on to `Holding`). Kept out of line so the poll that collects a grant
    /// does not pay for this path's stack frame.
    #[inline(never)]
    fn start(
        this: &mut AcquiringProj<'_>,
        sem: &Semaphore,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Result<(), AcquireError>>> {
        let need = *this.need;
        if need > Semaphore::MAX_PERMITS {
            *this.phase = Phase::Done;
            return Some(Poll::Ready(Err(AcquireError::TooLarge {
                requested: need,
                max: Semaphore::MAX_PERMITS,
            })));
        }
        // The lock-free attempt already failed in `poll_acquire`.
        let admitted = if need == 0 {
            if sem.is_closed() {
                Admit::Closed
            } else {
                Admit::Granted
            }
        } else {
            *this.queued_at =
                tracing::enabled!(tracing::Level::DEBUG).then(std::time::Instant::now);
            let node = AcquireNode::new(need, cx.waker());
            this.node.set(Some(Waiter::new(node)));
            sem.admit_or_enqueue(node_ref(this.node.as_ref()), need)
        };
        match admitted {
            Admit::Granted => {
                *this.phase = Phase::Holding;
                None
            }
            Admit::Queued => {
                *this.phase = Phase::Queued;
                Some(Poll::Pending)
            }
            Admit::Closed => {
                *this.phase = Phase::Done;
                Some(Poll::Ready(Err(AcquireError::Closed)))
            }
        }
    }

    /// A poll while still queued: stores the current waker under the lock. Returns
    /// `false` if the node was unlinked meanwhile (the caller reads the outcome).
    #[inline(never)]
    fn refresh_waker(this: &mut AcquiringProj<'_>, sem: &Semaphore, cx: &mut Context<'_>) -> bool {
        let mut queues = sem.lock();
        let Some(node) = queues.acquirers.get_mut(node_ref(this.node.as_ref())) else {
            return false;
        };
        match &mut node.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        true
    }

    /// Gives back whatever the future owns: its queue place, or permits granted to it
    /// but not yet handed out.
    #[inline]
    pub(crate) fn cancel(self: Pin<&mut Self>, sem: &Semaphore) {
        if matches!(self.phase, Phase::Idle | Phase::Done) {
            return;
        }
        Self::cancel_slow(self.project(), sem);
    }

    #[inline(never)]
    fn cancel_slow(mut this: AcquiringProj<'_>, sem: &Semaphore) {
        match *this.phase {
            Phase::Idle | Phase::Done => {}
            Phase::Holding => {
                // Rare (the task ran out of budget), so the checked, locked release.
                let mut wakers = WakeList::new();
                let queues = sem.release_granted_locked(sem.lock(), *this.need, &mut wakers);
                drop(queues);
                wakers.wake_all();
            }
            Phase::Queued => {
                let mut wakers = WakeList::new();
                let mut queues = sem.lock();
                if queues.acquirers.remove(node_ref(this.node.as_ref())) {
                    sem.sub_waiting_weight(&queues, *this.need);
                    if *this.need <= sem.capacity() {
                        queues.eligible -= 1;
                    }
                    // If it was the head, the waiters behind it may fit now.
                    queues = sem.settle(queues, &mut wakers);
                } else if let Some(node) = node_mut(this.node.as_mut()).data_mut() {
                    if node.outcome == Outcome::Granted {
                        queues = sem.release_granted_locked(queues, *this.need, &mut wakers);
                    }
                }
                drop(queues);
                wakers.wake_all();
            }
        }
        *this.phase = Phase::Done;
    }
}

/// The queue node of an acquire past its first slow-path poll.
fn node_ref(node: Pin<&Option<Waiter<AcquireNode>>>) -> Pin<&Waiter<AcquireNode>> {
    node.as_pin_ref().expect("queued acquire has a node")
}

/// The queue node of an acquire past its first slow-path poll.
fn node_mut(node: Pin<&mut Option<Waiter<AcquireNode>>>) -> Pin<&mut Waiter<AcquireNode>> {
    node.as_pin_mut().expect("queued acquire has a node")
}

/// Asks tokio's cooperative scheduler whether the task may go on.
#[cfg(not(loom))]
#[inline(always)]
fn poll_budget(cx: &mut Context<'_>) -> Poll<()> {
    let restore = ready!(tokio::task::coop::poll_proceed(cx));
    restore.made_progress();
    // After `made_progress` the guard's destructor has nothing left to restore, and
    // it is an out-of-line call on the uncontended path: skip it.
    std::mem::forget(restore);
    Poll::Ready(())
}

#[cfg(loom)]
fn poll_budget(_cx: &mut Context<'_>) -> Poll<()> {
    Poll::Ready(())
}

impl fmt::Debug for Acquiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquiring")
            .field("need", &self.need)
            .field("phase", &self.phase)
            .finish()
    }
}

pin_project! {
    /// Future returned by [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it gives up its queue place; permits already granted to it go to the
    /// next waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_test::{assert_pending, assert_ready_ok, task};
    ///
    /// let sem = weir_core::Semaphore::new(1);
    /// let held = sem.try_acquire().unwrap();
    /// let mut acquire = task::spawn(sem.acquire());
    /// assert_pending!(acquire.poll()); // queued
    /// drop(held);
    /// assert!(acquire.is_woken());
    /// assert_eq!(assert_ready_ok!(acquire.poll()).num_permits(), 1);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Acquire<'a> {
        sem: &'a Semaphore,
        #[pin]
        inner: Acquiring,
    }

    impl PinnedDrop for Acquire<'_> {
        // Inlined so a completed acquire's drop (a phase check) costs no call.
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.inner.cancel(this.sem);
        }
    }
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(sem: &'a Semaphore, need: usize) -> Self {
        Self {
            sem,
            inner: Acquiring::new(need),
        }
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<Permit<'a>, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let sem: &'a Semaphore = this.sem;
        ready!(this.inner.as_mut().poll_acquire(sem, cx))?;
        Poll::Ready(Ok(Permit::new(sem, *this.inner.project().need)))
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("need", &self.inner.need)
            .field("phase", &self.inner.phase)
            .finish()
    }
}

pin_project! {
    /// Future returned by [`Semaphore::acquire_owned`] and
    /// [`Semaphore::acquire_many_owned`].
    ///
    /// # Cancel safety
    ///
    /// As [`Acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tokio_test::{assert_pending, task};
    ///
    /// let sem = Arc::new(weir_core::Semaphore::new(0));
    /// let mut acquire = task::spawn(sem.clone().acquire_many_owned(2));
    /// assert_pending!(acquire.poll());
    /// assert_eq!(sem.waiting_permits(), 2);
    /// drop(acquire); // cancelled: leaves the queue
    /// assert_eq!(sem.waiters(), 0);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct AcquireOwned {
        sem: Option<Arc<Semaphore>>,
        #[pin]
        inner: Acquiring,
    }

    impl PinnedDrop for AcquireOwned {
        // Inlined so a completed acquire's drop (a phase check) costs no call.
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(sem) = this.sem {
                this.inner.cancel(sem);
            }
        }
    }
}

impl AcquireOwned {
    pub(crate) fn new(sem: Arc<Semaphore>, need: usize) -> Self {
        Self {
            sem: Some(sem),
            inner: Acquiring::new(need),
        }
    }
}

impl Future for AcquireOwned {
    type Output = Result<OwnedPermit, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let sem = this
            .sem
            .as_ref()
            .expect("AcquireOwned polled after completion");
        let result = ready!(this.inner.as_mut().poll_acquire(sem, cx));
        let sem = this.sem.take().expect("checked above");
        Poll::Ready(result.map(|()| OwnedPermit::new(sem, *this.inner.project().need)))
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("need", &self.inner.need)
            .field("phase", &self.inner.phase)
            .finish()
    }
}
