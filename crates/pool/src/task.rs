//! The type-erased job that the queue and the workers move around ([`Runnable`]),
//! and the [`Cell`] through which its [`JobHandle`](crate::JobHandle) receives the
//! outcome and asks for cancellation.

use std::{
    any::Any,
    future::Future,
    mem,
    panic::{self, AssertUnwindSafe},
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tracing::Span;

use crate::{
    handle::{JobError, Panic},
    hosted::BoxFuture,
    job::{JobContext, Work},
    shared::Shared,
};

/// Shared by a job and its handle: the outcome slot, the handle's waker, and the
/// cancellation request with the waker of the worker that holds the job.
pub(crate) struct Cell<T> {
    cancel: AtomicBool,
    /// Whether a hosted job's outcome was published (fits beside `cancel`); lets
    /// the entry's drop skip the lock (see [`lose`](Self::lose)).
    published: AtomicBool,
    /// The job's key slot, for [`JobHandle::cancel`](crate::JobHandle::cancel);
    /// set once, when the job is queued (it fits beside `cancel`).
    slot: AtomicU32,
    /// The pool, for the same (weak: the pool's queue holds cells).
    pool: Weak<Shared>,
    state: Mutex<State<T>>,
}

struct State<T> {
    slot: Slot<T>,
    /// The task awaiting the handle.
    handle: Option<Waker>,
    /// The worker holding the job, registered only once the job is pending (so a job
    /// that finishes on its first poll never pays for it).
    runner: Option<Waker>,
}

enum Slot<T> {
    /// No outcome yet (and, for a hosted job, its future is being polled).
    Empty,
    /// A hosted job's future (see [`crate::hosted`]), not started yet.
    Queued(BoxFuture<T>),
    /// A hosted job that is a plain future (see [`Work::IS_FUTURE`]), not started
    /// yet: boxed unpinned, so that a job refused after all can be handed back.
    QueuedPlain(Box<dyn PlainJob<T>>),
    /// A hosted job's future, started and pending.
    Parked(BoxFuture<T>),
    /// A hosted job's error (it was abandoned: cancelled, timed out, dropped),
    /// not published yet: the handle does not see it. (A hosted job that runs to
    /// its end keeps its outcome on the worker's stack until it is published.)
    Stashed(Result<T, JobError>),
    Ready(Result<T, JobError>),
    Taken,
}

/// A hosted job that is a plain future, not started yet (see `Slot::QueuedPlain`).
pub(crate) trait PlainJob<T>: Send {
    /// Pins it, to be polled (in place: no new allocation).
    fn pin(self: Box<Self>) -> BoxFuture<T>;
    /// As its own type, to hand it back.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<F: Future + Send + 'static> PlainJob<F::Output> for F {
    fn pin(self: Box<Self>) -> BoxFuture<F::Output> {
        Box::into_pin(self)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl<T> Cell<T> {
    /// The cell of a job run by a task of its own, or (with `future`) of a hosted
    /// job.
    pub(crate) fn new(pool: Weak<Shared>, future: Option<BoxFuture<T>>) -> Self {
        // Not `map_or`: that would build and drop an `Empty` for nothing.
        let slot = match future {
            Some(future) => Slot::Queued(future),
            None => Slot::Empty,
        };
        Self::with_slot(pool, slot)
    }

    /// The cell of a hosted job that is a plain future (see `Slot::QueuedPlain`).
    pub(crate) fn new_plain(pool: Weak<Shared>, job: Box<dyn PlainJob<T>>) -> Self {
        Self::with_slot(pool, Slot::QueuedPlain(job))
    }

    fn with_slot(pool: Weak<Shared>, slot: Slot<T>) -> Self {
        Self {
            cancel: AtomicBool::new(false),
            published: AtomicBool::new(false),
            slot: AtomicU32::new(0),
            pool,
            state: Mutex::new(State {
                slot,
                handle: None,
                runner: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under this lock (values are dropped and wakers woken
        // after it is released), so poisoning cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_slot(&self, slot: u32) {
        // Written before the handle exists; whoever gets the handle gets it
        // through something that synchronises.
        self.slot.store(slot, Ordering::Relaxed);
    }

    pub(crate) fn slot(&self) -> u32 {
        self.slot.load(Ordering::Relaxed)
    }

    /// The pool, unless it is gone.
    pub(crate) fn pool(&self) -> Option<Arc<Shared>> {
        self.pool.upgrade()
    }

    /// Takes a hosted job's future out to poll it (outside the lock, so that the
    /// job's own code may use its handle).
    // Forced: on every hosted job's path, and left a call otherwise.
    #[inline(always)]
    pub(crate) fn take_future(&self) -> Option<BoxFuture<T>> {
        let mut state = self.lock();
        match mem::replace(&mut state.slot, Slot::Empty) {
            Slot::Queued(future) | Slot::Parked(future) => Some(future),
            Slot::QueuedPlain(job) => Some(job.pin()),
            other => {
                state.slot = other;
                None
            }
        }
    }

    /// Takes back a hosted plain-future job that never started (it was refused
    /// after all), as its own type.
    pub(crate) fn take_plain(&self) -> Option<Box<dyn Any + Send>> {
        let mut state = self.lock();
        match mem::replace(&mut state.slot, Slot::Empty) {
            Slot::QueuedPlain(job) => Some(job.into_any()),
            other => {
                state.slot = other;
                None
            }
        }
    }

    /// Puts a hosted job's pending future back.
    pub(crate) fn park(&self, future: BoxFuture<T>) {
        self.lock().slot = Slot::Parked(future);
    }

    /// Keeps a hosted job's outcome until [`publish_stashed`](Self::publish_stashed).
    pub(crate) fn stash(&self, outcome: Result<T, JobError>) {
        self.lock().slot = Slot::Stashed(outcome);
    }

    /// Publishes the outcome of a hosted job that ran to its end (its future was
    /// taken out to be polled, so the slot is empty).
    pub(crate) fn publish_hosted(&self, outcome: Result<T, JobError>) {
        self.publish(outcome);
        // Read only by the entry's drop, on this thread or after the entry moved
        // (which synchronises).
        self.published.store(true, Ordering::Relaxed);
    }

    /// Publishes the stashed outcome of a hosted job.
    pub(crate) fn publish_stashed(&self) {
        let (handle, runner) = {
            let mut state = self.lock();
            let Slot::Stashed(outcome) = mem::replace(&mut state.slot, Slot::Taken) else {
                unreachable!("hosted job published without an outcome");
            };
            state.slot = Slot::Ready(outcome);
            (state.handle.take(), state.runner.take())
        };
        // Read only by the entry's drop, on this thread or after the entry moved
        // (which synchronises).
        self.published.store(true, Ordering::Relaxed);
        drop(runner);
        if let Some(handle) = handle {
            handle.wake();
        }
    }

    /// The safety net of a hosted job lost unpublished (the runtime shut down with
    /// it queued or running): resolves the handle, dropped if the job never
    /// started, cancelled otherwise.
    pub(crate) fn lose(&self) {
        if self.published.load(Ordering::Relaxed) {
            return;
        }
        let left = {
            let mut state = self.lock();
            if matches!(state.slot, Slot::Ready(_) | Slot::Taken) {
                return;
            }
            mem::replace(&mut state.slot, Slot::Empty)
        };
        let error = match left {
            Slot::Queued(_) | Slot::QueuedPlain(_) => JobError::Dropped,
            _ => JobError::Cancelled,
        };
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(left)));
        self.publish(Err(error));
    }

    /// Records a cancellation request and wakes the worker holding the job, if any.
    pub(crate) fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Release);
        let runner = self.lock().runner.take();
        if let Some(runner) = runner {
            runner.wake();
        }
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Registers the worker's waker for cancellation requests. Returns whether a
    /// cancellation was requested (checked after registering, so none is missed).
    pub(crate) fn arm(&self, waker: &Waker) -> bool {
        let old = {
            let mut state = self.lock();
            match &state.runner {
                Some(w) if w.will_wake(waker) => None,
                _ => state.runner.replace(waker.clone()),
            }
        };
        drop(old);
        self.cancel_requested()
    }

    /// Stores the outcome and wakes the handle.
    // Forced: on every hosted job's path, and left a call otherwise.
    #[inline(always)]
    pub(crate) fn publish(&self, outcome: Result<T, JobError>) {
        let (old, handle, runner) = {
            let mut state = self.lock();
            let old = mem::replace(&mut state.slot, Slot::Ready(outcome));
            (old, state.handle.take(), state.runner.take())
        };
        debug_assert!(matches!(old, Slot::Empty), "job outcome published twice");
        // Empty (always, but for a bug): nothing to drop, so skip the drop glue.
        if matches!(old, Slot::Empty) {
            mem::forget(old);
        } else {
            drop(old);
        }
        drop(runner);
        if let Some(handle) = handle {
            handle.wake();
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.lock().slot, Slot::Ready(_) | Slot::Taken)
    }

    #[track_caller]
    pub(crate) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let mut state = self.lock();
        match mem::replace(&mut state.slot, Slot::Taken) {
            Slot::Ready(outcome) => Poll::Ready(outcome),
            pending @ (Slot::Empty
            | Slot::Queued(_)
            | Slot::QueuedPlain(_)
            | Slot::Parked(_)
            | Slot::Stashed(_)) => {
                state.slot = pending;
                match &state.handle {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => state.handle = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Slot::Taken => panic!("JobHandle polled after it completed"),
        }
    }
}

/// How a started job's future ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Completed,
    Failed,
    Panicked,
}

/// A job with its output type erased, so one queue can hold every kind of job.
pub(crate) trait Runnable: Send {
    /// Whether [`start`](Self::start) needs a cancellation token in its context.
    fn needs_token(&self) -> bool;

    /// Turns the work into its future.
    fn start(self: Pin<&mut Self>, cx: JobContext);

    /// Polls the started future, catching panics. On `Ready` the future has been
    /// dropped and the outcome is stashed for [`publish`](Self::publish).
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended>;

    /// Drops the work or its future (catching panics) and stashes `error`.
    fn abandon(self: Pin<&mut Self>, error: JobError);

    /// Hands the stashed outcome to the handle.
    fn publish(self: Pin<&mut Self>);

    fn cancel_requested(&self) -> bool;

    fn arm(&self, waker: &Waker) -> bool;

    /// What the worker needs once the job is taken, kept in the job's own
    /// allocation so that the queue entry stays small.
    fn meta(&self) -> &Meta;

    /// Records when the job was queued (only measured with an observer).
    fn set_enqueued_at(self: Pin<&mut Self>, at: Instant);
}

/// A job's scheduling details that only the worker reads.
pub(crate) struct Meta {
    /// The run timeout.
    pub(crate) timeout: Option<Duration>,
    /// When it was accepted; only measured when an observer is installed.
    pub(crate) enqueued_at: Option<Instant>,
    /// The submitter's span, the parent of the job's span; only looked up (and
    /// boxed, to keep every job's allocation small) when `debug` spans can be
    /// recorded.
    pub(crate) span: Option<Box<Span>>,
}

pin_project! {
    /// Where a job is in its life: the work waiting to start, its future running,
    /// or neither (ended, or never to run).
    #[project = StageProj]
    #[project_replace = StageOwned]
    enum Stage<W: Work> {
        Queued { work: W },
        Running { #[pin] future: W::Future },
        Done,
    }
}

pin_project! {
    /// The concrete job behind a [`Runnable`].
    pub(crate) struct Task<W: Work> {
        #[pin]
        stage: Stage<W>,
        outcome: Option<Result<W::Output, JobError>>,
        published: bool,
        cell: Arc<Cell<W::Output>>,
        meta: Meta,
    }

    impl<W: Work> PinnedDrop for Task<W> {
        fn drop(this: Pin<&mut Self>) {
            // Safety net: a job lost without going through a worker (the runtime shut
            // down) still resolves its handle.
            let this = this.project();
            if !*this.published {
                let error = match &*this.stage {
                    Stage::Queued { .. } => JobError::Dropped,
                    _ => JobError::Cancelled,
                };
                this.cell.publish(Err(error));
            }
        }
    }
}

impl<W: Work> Task<W> {
    pub(crate) fn new(work: W, cell: Arc<Cell<W::Output>>, meta: Meta) -> Self {
        Self {
            stage: Stage::Queued { work },
            outcome: None,
            published: false,
            cell,
            meta,
        }
    }

    /// Takes the work back out of a job that was never queued.
    pub(crate) fn take_work(self: Pin<&mut Self>) -> W {
        let this = self.project();
        *this.published = true; // nothing to tell: the caller gets the job back
        match this.stage.project_replace(Stage::Done) {
            StageOwned::Queued { work } => work,
            _ => unreachable!("work taken twice"),
        }
    }
}

impl<W: Work> Runnable for Task<W> {
    fn needs_token(&self) -> bool {
        W::NEEDS_TOKEN
    }

    fn start(self: Pin<&mut Self>, cx: JobContext) {
        let mut this = self.project();
        let StageOwned::Queued { work } = this.stage.as_mut().project_replace(Stage::Done) else {
            unreachable!("job started twice");
        };
        match panic::catch_unwind(AssertUnwindSafe(|| work.start(cx))) {
            Ok(future) => this.stage.set(Stage::Running { future }),
            Err(payload) => *this.outcome = Some(Err(JobError::Panicked(Panic::new(payload)))),
        }
    }

    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let mut this = self.project();
        let StageProj::Running { future } = this.stage.as_mut().project() else {
            // `start` panicked; the outcome is stashed already.
            return Poll::Ready(Ended::Panicked);
        };
        let polled = panic::catch_unwind(AssertUnwindSafe(|| {
            future
                .poll(cx)
                .map(|output| (W::is_failure(&output), output))
        }));
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready((failed, output))) => Ok((failed, output)),
            Err(payload) => Err(payload),
        };
        // Drop the future now, before the job's weight goes back to the budget.
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| this.stage.set(Stage::Done)));
        let (ended, outcome) = match (outcome, dropped) {
            (Ok((failed, output)), Ok(())) => (
                if failed {
                    Ended::Failed
                } else {
                    Ended::Completed
                },
                Ok(output),
            ),
            (Err(payload), _) | (Ok(_), Err(payload)) => (
                Ended::Panicked,
                Err(JobError::Panicked(Panic::new(payload))),
            ),
        };
        *this.outcome = Some(outcome);
        Poll::Ready(ended)
    }

    fn abandon(self: Pin<&mut Self>, error: JobError) {
        let mut this = self.project();
        // Drops the work or the future, whichever there is.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| this.stage.set(Stage::Done)));
        *this.outcome = Some(Err(error));
    }

    fn publish(self: Pin<&mut Self>) {
        let this = self.project();
        let outcome = this
            .outcome
            .take()
            .expect("job published without an outcome");
        *this.published = true;
        this.cell.publish(outcome);
    }

    fn cancel_requested(&self) -> bool {
        self.cell.cancel_requested()
    }

    fn arm(&self, waker: &Waker) -> bool {
        self.cell.arm(waker)
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn set_enqueued_at(self: Pin<&mut Self>, at: Instant) {
        self.project().meta.enqueued_at = Some(at);
    }
}
