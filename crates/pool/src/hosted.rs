//! What a queue entry runs ([`Job`]): a [`Task`](crate::task::Task) of its own, or,
//! for the commonest job (a future, with no run timeout, observer or parent span to
//! carry), the future itself, kept in the job's [`Cell`]. The latter skips the
//! task's bookkeeping, and for an already boxed future an allocation: the submitter
//! allocates only the cell (the handle's), and the job's box is the caller's own,
//! as with a channel of boxed futures. A plain future is boxed once, unpinned (so
//! that a refused job can still be handed back as itself), and pinned in place
//! when a worker first polls it.

use std::{
    future::Future,
    panic::{self, AssertUnwindSafe},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use crate::{
    handle::{JobError, Panic},
    job::JobContext,
    task::{Cell, Ended, Meta, Runnable},
};

/// A job submitted as a boxed future: run from its cell, without a task of its own.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A job's cell, seen by the worker that runs the future kept in it.
pub(crate) trait HostedRun: Send + Sync {
    /// Polls the future kept in the cell. On `Ready`, the future has been dropped,
    /// `ended` has been called with how it ended (while the outcome is still
    /// unseen), and then the outcome has been published: one lock of the cell for
    /// the outcome rather than a stash and a publish.
    fn poll_run(&self, cx: &mut Context<'_>, ended: &mut dyn FnMut(Ended)) -> Poll<()>;
    fn abandon(&self, error: JobError);
    fn publish(&self);
    fn cancel_requested(&self) -> bool;
    fn arm(&self, waker: &Waker) -> bool;
    /// The safety net: resolves the handle if the job is lost unpublished.
    fn lost(&self);
}

impl<T: Send + 'static> HostedRun for Cell<T> {
    fn poll_run(&self, cx: &mut Context<'_>, ended: &mut dyn FnMut(Ended)) -> Poll<()> {
        let mut future = self
            .take_future()
            .expect("hosted job polled without its future");
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {
                self.park(future);
                return Poll::Pending;
            }
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(payload),
        };
        // Drop the future now, before the job's weight goes back to the budget.
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(future)));
        let (how, outcome) = match (outcome, dropped) {
            (Ok(output), Ok(())) => (Ended::Completed, Ok(output)),
            (Err(payload), _) | (Ok(_), Err(payload)) => (
                Ended::Panicked,
                Err(JobError::Panicked(Panic::new(payload))),
            ),
        };
        // The outcome stays here, unseen, while the worker gives the weight back.
        ended(how);
        self.publish_hosted(outcome);
        Poll::Ready(())
    }

    fn abandon(&self, error: JobError) {
        let future = self.take_future();
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(future)));
        self.stash(Err(error));
    }

    fn publish(&self) {
        self.publish_stashed();
    }

    fn cancel_requested(&self) -> bool {
        Cell::cancel_requested(self)
    }

    fn arm(&self, waker: &Waker) -> bool {
        Cell::arm(self, waker)
    }

    fn lost(&self) {
        self.lose();
    }
}

/// A queue entry's hold on a hosted job: it resolves the handle if dropped before
/// the job published (the runtime shut down with the job queued or running).
/// `None` once the worker that ran the job to its end let go of it (see
/// [`Job::ran`]): nothing is left to resolve.
pub(crate) struct Hosted(Option<Arc<dyn HostedRun>>);

impl Hosted {
    pub(crate) fn new(cell: Arc<dyn HostedRun>) -> Self {
        Self(Some(cell))
    }

    fn cell(&self) -> &dyn HostedRun {
        self.0.as_deref().expect("hosted job used after it ran")
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        if let Some(cell) = self.0.take() {
            cell.lost();
        }
    }
}

/// The job in a queue entry, as the worker drives it.
pub(crate) enum Job {
    Task(Pin<Box<dyn Runnable>>),
    Hosted(Hosted),
}

/// The scheduling details of a hosted job: it has none (it is hosted only then).
static PLAIN: Meta = Meta {
    timeout: None,
    enqueued_at: None,
    span: None,
};

impl Job {
    /// Turns the work into its future, in the context `cx` builds (told whether
    /// the work needs a cancellation token).
    #[inline]
    pub(crate) fn start(&mut self, cx: impl FnOnce(bool) -> JobContext) {
        match self {
            Self::Task(task) => {
                let cx = cx(task.needs_token());
                task.as_mut().start(cx);
            }
            // A future is its own work: nothing to start, no context to build.
            Self::Hosted(_) => {}
        }
    }

    /// Polls the started future (see [`Runnable::poll_run`]). On `Ready`, calls
    /// `ended` with how it ended, then publishes the outcome: the job is over.
    pub(crate) fn poll_run(
        &mut self,
        cx: &mut Context<'_>,
        ended: &mut dyn FnMut(Ended),
    ) -> Poll<()> {
        match self {
            Self::Task(task) => task.as_mut().poll_run(cx).map(|how| {
                ended(how);
                task.as_mut().publish();
            }),
            Self::Hosted(hosted) => hosted.cell().poll_run(cx, ended),
        }
    }

    /// Drops the work or its future and stashes `error`.
    pub(crate) fn abandon(&mut self, error: JobError) {
        match self {
            Self::Task(task) => task.as_mut().abandon(error),
            Self::Hosted(hosted) => hosted.cell().abandon(error),
        }
    }

    /// Hands the stashed outcome to the handle.
    pub(crate) fn publish(&mut self) {
        match self {
            Self::Task(task) => task.as_mut().publish(),
            Self::Hosted(hosted) => hosted.cell().publish(),
        }
    }

    /// The job ran to its end and published its outcome (see
    /// [`poll_run`](Self::poll_run)): lets go of a hosted job's cell without the
    /// safety net's check.
    pub(crate) fn ran(&mut self) {
        if let Self::Hosted(hosted) = self {
            hosted.0 = None;
        }
    }

    /// Whether it is a future hosted in its cell (rather than a task).
    pub(crate) fn is_hosted(&self) -> bool {
        matches!(self, Self::Hosted(_))
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        match self {
            Self::Task(task) => task.cancel_requested(),
            Self::Hosted(hosted) => hosted.cell().cancel_requested(),
        }
    }

    pub(crate) fn arm(&self, waker: &Waker) -> bool {
        match self {
            Self::Task(task) => task.arm(waker),
            Self::Hosted(hosted) => hosted.cell().arm(waker),
        }
    }

    pub(crate) fn meta(&self) -> &Meta {
        match self {
            Self::Task(task) => task.meta(),
            Self::Hosted(_) => &PLAIN,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cell_stays_small() {
        // Every kept handle holds one: 80 B is a 112 B malloc chunk with the `Arc`
        // counts (a task-run job's 96 B chunk plus its task's, before hosting).
        assert!(size_of::<crate::task::Cell<u64>>() <= 80);
    }
}
