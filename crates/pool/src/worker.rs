//! The worker task: take the next job the scheduler picks (with its weight from
//! the budget), run it, record its fate; repeat until the queue is closed and
//! empty or the worker is retired.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_core::Permit;

use crate::{
    handle::JobError,
    job::{JobContext, JobId},
    observer::{DropReason, Finished, Outcome, Started},
    queue::{Entry, IDLE_YIELDS, Popped},
    shared::Shared,
    task::Ended,
};

#[expect(
    clippy::large_enum_variant,
    reason = "moved once, straight into `run_parked`; boxing would allocate for every job that waits"
)]
enum Next<'a> {
    /// A job whose first poll left it pending, with its span.
    Parked(InFlight<'a>, tracing::Span),
    Closed,
    Retired,
    /// No job now: look again after a yield (see [`IDLE_YIELDS`]).
    LookAgain,
}

/// The worker task's body.
///
/// Jobs are taken and given their first poll synchronously, in one loop: a job
/// that ends on its first poll (the common case) never becomes a future of its
/// own. Only a job left pending moves to [`run_parked`], which waits for it
/// along with its cancellation, the close grace and its run timeout.
pub(crate) async fn run(shared: Arc<Shared>, id: usize) {
    // The job taken when the last one gave its weight back, if any.
    let mut chained = None;
    // Yields left before the worker registers as idle (reset by every job).
    let mut yields_left = IDLE_YIELDS;
    loop {
        let next = poll_fn(|cx| {
            loop {
                // Each job spends a unit of tokio's cooperative budget, so a worker
                // that always finds work still yields its thread once the budget is
                // spent (holding nothing: a job is chained only while budget is
                // left, see `Run::settle`).
                let coop = ready!(tokio::task::coop::poll_proceed(cx));
                let (entry, permit) = match chained.take() {
                    Some(taken) => taken,
                    None => {
                        if shared.workers.try_retire() {
                            shared.queue.retire(id);
                            return Poll::Ready(Next::Retired);
                        }
                        match shared
                            .queue
                            .poll_pop(&shared.budget, id, &mut yields_left, cx)
                        {
                            Poll::Ready(Popped::Job(entry, permit)) => (entry, permit),
                            Poll::Ready(Popped::LookAgain) => {
                                return Poll::Ready(Next::LookAgain);
                            }
                            Poll::Ready(Popped::Closed) => return Poll::Ready(Next::Closed),
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                };
                yields_left = IDLE_YIELDS;
                coop.made_progress();
                // After `made_progress` its destructor has nothing to restore, and
                // it is an out-of-line call on every job's path.
                std::mem::forget(coop);
                match run_first(&shared, id, entry, permit, cx) {
                    First::Ended => {}
                    First::Chained(entry, permit) => chained = Some((entry, permit)),
                    First::Pending(job, span) => return Poll::Ready(Next::Parked(job, span)),
                }
            }
        })
        .await;
        match next {
            Next::Parked(job, span) => chained = run_parked(job, span).await,
            Next::Closed => {
                shared.workers.live.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            Next::Retired => return,
            Next::LookAgain => tokio::task::yield_now().await,
        }
    }
}

/// A job a worker has taken. Whatever happens (including the worker task being
/// dropped by a runtime shutdown), it ends exactly once, through `finish` (or,
/// for a job that ran to its end, [`Run::settle`] called from inside its poll) or
/// `Shared::discard`.
struct InFlight<'a> {
    entry: Option<Entry>,
    run: Run<'a>,
}

/// The worker's side of a taken job, apart from its entry (so that it can be
/// settled while the entry is being polled).
struct Run<'a> {
    shared: &'a Shared,
    /// The worker's id: its counter stripe.
    worker: usize,
    permit: Option<Permit<'a>>,
    started: bool,
    /// Its fate is counted (by [`settle`](Self::settle)).
    settled: bool,
    started_at: Option<Instant>,
    /// When its run timeout expires, if it has one (and the instant is
    /// representable).
    deadline: Option<Instant>,
    /// Weight running when the job started, its own included (adaptive pools).
    in_flight: usize,
    /// The job's own token, when its work asked for one.
    token: Option<CancellationToken>,
    /// The worker's next job, when [`settle`](Self::settle) took it.
    next: Option<(Entry, Permit<'a>)>,
}

impl<'a> InFlight<'a> {
    fn entry(&mut self) -> &mut Entry {
        self.entry.as_mut().expect("job already ended")
    }

    fn discard(&mut self, reason: DropReason) {
        let entry = self.entry.take().expect("job already ended");
        let shared = self.run.shared;
        if let Some(permit) = self.run.permit.take() {
            shared
                .queue
                .release(entry.slot, entry.class(), permit, false);
        }
        shared.discard(entry, reason);
    }

    // Forced: one caller (`run_first`), which it is part of.
    #[inline(always)]
    fn start(&mut self) -> tracing::Span {
        let run = &mut self.run;
        let shared = run.shared;
        run.started = true;
        if shared.adaptive.is_some() {
            run.started_at = Some(Instant::now());
            run.in_flight = shared.budget.in_use();
        } else {
            run.started_at = shared.now();
        }
        shared.counters.started(run.worker);
        let entry = self.entry.as_mut().expect("job already ended");
        let (id, weight) = (entry.id, entry.weight);
        if let Some(observer) = &shared.observer {
            let queue_wait = match (entry.task.meta().enqueued_at, run.started_at) {
                (Some(queued), Some(started)) => started - queued,
                _ => Duration::ZERO,
            };
            observer.on_start(&Started {
                id,
                weight,
                queue_wait,
            });
        }
        let parent = entry.task.meta().span.as_ref().and_then(|span| span.id());
        let span = tracing::debug_span!(parent: parent, "job", id = id.0, weight);
        {
            let _enter = span.enter();
            tracing::trace!("job started");
            entry.task.start(|needs_token| {
                let token = needs_token.then(|| shared.token.child_token());
                run.token.clone_from(&token);
                JobContext::new(id, weight, token)
            });
        }
        span
    }

    /// Ends the started job that did not run to its end (cancelled, timed out),
    /// or whose worker task is dropped. See [`Run::settle`] for `chain`.
    fn finish(&mut self, outcome: Outcome, chain: bool) -> Option<(Entry, Permit<'a>)> {
        let mut entry = self.entry.take().expect("job already ended");
        match outcome {
            Outcome::TimedOut | Outcome::Cancelled => {
                let error = if outcome == Outcome::TimedOut {
                    JobError::TimedOut
                } else {
                    JobError::Cancelled
                };
                entry.task.abandon(error);
                if let Some(token) = self.run.token.take() {
                    token.cancel();
                }
            }
            Outcome::Completed | Outcome::Failed | Outcome::Panicked => {}
        }
        // Settled already if it was settled from inside its poll, which then
        // unwound (a panicking subscriber).
        if !self.run.settled {
            self.run
                .settle(entry.id, entry.slot, entry.class(), outcome, chain);
        }
        entry.task.publish();
        self.run.next.take()
    }
}

impl<'a> Run<'a> {
    /// Counts the fate of a started job of id `id` in key slot `slot` and class
    /// `class`, whose outcome is in but not published yet. With `chain`, and when
    /// giving its weight back takes the queue lock anyway (keyed jobs, reserved
    /// classes), also takes the worker's next job in the same lock hold, into
    /// `next`.
    fn settle(&mut self, id: JobId, slot: u32, class: usize, outcome: Outcome, chain: bool) {
        let shared = self.shared;
        self.settled = true;
        // The weight goes back (to the budget and the class, together) before the
        // outcome is visible, so a caller that saw the outcome also sees the budget
        // free (and the counters moved).
        if let Some(permit) = self.permit.take() {
            if chain
                && !shared.queue.releases_lock_free(slot)
                && !shared.workers.surplus()
                && tokio::task::coop::has_budget_remaining()
            {
                self.next = shared
                    .queue
                    .release_and_take(slot, class, permit, &shared.budget);
            } else {
                shared.queue.release(slot, class, permit, true);
            }
        }
        let run_time = self.started_at.map_or(Duration::ZERO, |t| t.elapsed());
        // Then the sample, so a caller that saw the outcome also sees its effect on
        // the limit.
        if let Some(adaptive) = &shared.adaptive {
            if let Some(sampled) = crate::adaptive::sample_outcome(outcome) {
                if adaptive.record(&shared.budget, sampled, run_time, self.in_flight) {
                    shared.queue.budget_changed();
                }
            }
        }
        shared.counters.finished(self.worker, outcome);
        if let Some(observer) = &shared.observer {
            observer.on_finish(&Finished {
                id,
                outcome,
                run_time,
            });
        }
        tracing::trace!(job.id = id.0, outcome = outcome.as_str(), "job finished");
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.entry.is_some() {
            if self.run.started {
                self.finish(Outcome::Cancelled, false);
            } else {
                self.discard(DropReason::Closed);
            }
        }
    }
}

/// What a taken job's first poll left.
enum First<'a> {
    /// It ended (or never started).
    Ended,
    /// It ended, and the worker's next job was taken while it gave its weight
    /// back.
    Chained(Entry, Permit<'a>),
    /// It is pending (the worker is armed for its cancellation).
    Pending(InFlight<'a>, tracing::Span),
}

impl<'a> First<'a> {
    /// A job ended, with the worker's next job if one was taken.
    fn after(next: Option<(Entry, Permit<'a>)>) -> Self {
        match next {
            Some((entry, permit)) => Self::Chained(entry, permit),
            None => Self::Ended,
        }
    }
}

/// Starts a taken job and polls it once.
// Forced (one caller, the worker's loop): out of line, the taken entry is moved
// once more (~10 instructions a job, callgrind).
#[inline(always)]
fn run_first<'a>(
    shared: &'a Shared,
    worker: usize,
    entry: Entry,
    permit: Permit<'a>,
    cx: &mut Context<'_>,
) -> First<'a> {
    let mut job = InFlight {
        entry: Some(entry),
        run: Run {
            shared,
            worker,
            permit: Some(permit),
            started: false,
            settled: false,
            started_at: None,
            deadline: None,
            in_flight: 0,
            token: None,
            next: None,
        },
    };

    // 1. The job was picked with its weight. It never starts if it was cancelled
    //    or the close deadline passed in the meantime.
    if job.entry().task.cancel_requested() {
        job.discard(DropReason::Cancelled);
        return First::Ended;
    }
    if shared.token.is_cancelled() {
        job.discard(DropReason::Closed);
        return First::Ended;
    }

    // 2. Run it: its run timeout counts from here.
    let span = job.start();
    if let Some(timeout) = job.entry().task.meta().timeout {
        job.run.deadline = Instant::now().checked_add(timeout);
    }
    match job.poll(&span, cx, true) {
        Poll::Ready(None) => First::after(job.run.next.take()),
        Poll::Ready(Some(outcome)) => {
            let _enter = span.enter();
            First::after(job.finish(outcome, true))
        }
        Poll::Pending => First::Pending(job, span),
    }
}

impl InFlight<'_> {
    /// Polls the started job: `Ready(None)` once it ran to its end (settled and
    /// published inside its poll), `Ready(Some(outcome))` if it is to be finished
    /// as cancelled; when pending, the worker is armed for its cancellation.
    ///
    /// Before every poll, a job cancelled (or whose close grace ran out) is not
    /// polled, including before the `first`: its observer's `on_start` or its
    /// work's start may have cancelled it. A hosted job has neither (it is hosted
    /// only without an observer, and a future needs no start), so before its first
    /// poll only another thread could have, just after the checks made before its
    /// start: the same race as a cancellation just after the poll began, so that
    /// check is not repeated.
    // Forced: left a call with `#[inline]`; in line, the settling callback is
    // cheaper (~30 instructions a job, callgrind).
    #[inline(always)]
    fn poll(
        &mut self,
        span: &tracing::Span,
        cx: &mut Context<'_>,
        first: bool,
    ) -> Poll<Option<Outcome>> {
        let entry = self.entry.as_mut().expect("job already ended");
        let check = !(first && entry.task.is_hosted());
        if check && (entry.task.cancel_requested() || self.run.shared.abort.is_cancelled()) {
            return Poll::Ready(Some(Outcome::Cancelled));
        }
        let (id, slot, class) = (entry.id, entry.slot, entry.class());
        let run = &mut self.run;
        let polled = {
            let _enter = span.enter();
            entry.task.poll_run(cx, &mut |ended| {
                let outcome = match ended {
                    Ended::Completed => Outcome::Completed,
                    Ended::Failed => Outcome::Failed,
                    Ended::Panicked => Outcome::Panicked,
                };
                run.settle(id, slot, class, outcome, true);
            })
        };
        if polled.is_ready() {
            if let Some(mut entry) = self.entry.take() {
                entry.task.ran();
            }
            return Poll::Ready(None);
        }
        // Pending: only now pay for the wake-up registration.
        if entry.task.arm(cx.waker()) {
            return Poll::Ready(Some(Outcome::Cancelled));
        }
        Poll::Pending
    }
}

/// Runs a started job that its first poll left pending to its end, cancellation,
/// run timeout or the close grace; returns the worker's next job if it was taken
/// while this one gave its weight back.
async fn run_parked<'a>(mut job: InFlight<'a>, span: tracing::Span) -> Option<(Entry, Permit<'a>)> {
    let shared = job.run.shared;
    let mut sleep = pin!(job.run.deadline.map(tokio::time::sleep_until));
    let mut abort = pin!(shared.abort.cancelled());
    // The first poll happened in `run_first`: this one registers the rest.
    let mut polled = true;
    let stopped = poll_fn(|cx| {
        if !std::mem::take(&mut polled) {
            if let Poll::Ready(stopped) = job.poll(&span, cx, false) {
                return Poll::Ready(stopped);
            }
        }
        if abort.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Outcome::Cancelled));
        }
        if let Some(Poll::Ready(())) = sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
            return Poll::Ready(Some(Outcome::TimedOut));
        }
        Poll::Pending
    })
    .await;
    match stopped {
        // Ran to its end: settled and published.
        None => job.run.next.take(),
        Some(outcome) => {
            let _enter = span.enter();
            job.finish(outcome, true)
        }
    }
}
