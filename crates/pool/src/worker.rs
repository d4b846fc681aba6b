//! The worker task: take the next job the scheduler picks (with its weight from
//! the budget), run it, record its fate; repeat until the queue is closed and
//! empty or the worker is retired.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    sync::{Arc, atomic::Ordering},
    task::Poll,
    time::Duration,
};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_core::Permit;

use crate::{
    handle::JobError,
    job::JobContext,
    observer::{DropReason, Finished, Outcome, Started},
    queue::Entry,
    shared::Shared,
    task::Ended,
};

enum Next<'a> {
    Job(Entry, Permit<'a>),
    Closed,
    Retired,
}

/// The worker task's body.
pub(crate) async fn run(shared: Arc<Shared>, id: usize) {
    // The job taken when the last one gave its weight back, if any.
    let mut chained = None;
    loop {
        let next = match chained.take() {
            Some((entry, permit)) => Next::Job(entry, permit),
            None => {
                poll_fn(|cx| {
                    if shared.workers.try_retire() {
                        shared.queue.retire(id);
                        return Poll::Ready(Next::Retired);
                    }
                    shared
                        .queue
                        .poll_pop(&shared.budget, id, cx)
                        .map(|taken| taken.map_or(Next::Closed, |(e, p)| Next::Job(e, p)))
                })
                .await
            }
        };
        match next {
            Next::Job(entry, permit) => chained = run_job(&shared, id, entry, permit).await,
            Next::Closed => {
                shared.workers.live.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            Next::Retired => return,
        }
    }
}

/// A job a worker has taken. Whatever happens (including the worker task being
/// dropped by a runtime shutdown), it ends exactly once, through `finish` or
/// `Shared::discard`.
struct InFlight<'a> {
    shared: &'a Shared,
    /// The worker's id: its counter stripe.
    worker: usize,
    entry: Option<Entry>,
    permit: Option<Permit<'a>>,
    started: bool,
    started_at: Option<Instant>,
    /// Weight running when the job started, its own included (adaptive pools).
    in_flight: usize,
    /// The job's own token, when its work asked for one.
    token: Option<CancellationToken>,
}

impl<'a> InFlight<'a> {
    fn entry(&mut self) -> &mut Entry {
        self.entry.as_mut().expect("job already ended")
    }

    fn discard(&mut self, reason: DropReason) {
        let entry = self.entry.take().expect("job already ended");
        if let Some(permit) = self.permit.take() {
            self.shared
                .queue
                .release(entry.slot, entry.class(), permit, false);
        }
        self.shared.discard(entry, reason);
    }

    fn start(&mut self) -> tracing::Span {
        let shared = self.shared;
        self.started = true;
        if shared.adaptive.is_some() {
            self.started_at = Some(Instant::now());
            self.in_flight = shared.budget.in_use();
        } else {
            self.started_at = shared.now();
        }
        shared.counters.started(self.worker);
        let entry = self.entry.as_mut().expect("job already ended");
        let (id, weight) = (entry.id, entry.weight);
        if let Some(observer) = &shared.observer {
            let queue_wait = match (entry.task.meta().enqueued_at, self.started_at) {
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
        let token = entry.task.needs_token().then(|| shared.token.child_token());
        let cx = JobContext::new(id, weight, token.clone());
        self.token = token;
        {
            let _enter = span.enter();
            tracing::trace!("job started");
            entry.task.start(cx);
        }
        span
    }

    /// Ends the started job. With `chain`, and when giving its weight back takes
    /// the queue lock anyway (keyed jobs, reserved classes), also takes the
    /// worker's next job in the same lock hold and returns it.
    fn finish(&mut self, outcome: Outcome, chain: bool) -> Option<(Entry, Permit<'a>)> {
        let shared = self.shared;
        let mut entry = self.entry.take().expect("job already ended");
        match outcome {
            Outcome::TimedOut | Outcome::Cancelled => {
                let error = if outcome == Outcome::TimedOut {
                    JobError::TimedOut
                } else {
                    JobError::Cancelled
                };
                entry.task.abandon(error);
                if let Some(token) = self.token.take() {
                    token.cancel();
                }
            }
            Outcome::Completed | Outcome::Failed | Outcome::Panicked => {}
        }
        // The weight goes back (to the budget and the class, together) before the
        // outcome is visible, so a caller that saw the outcome also sees the budget
        // free (and the counters moved).
        let mut next = None;
        if let Some(permit) = self.permit.take() {
            if chain && !shared.queue.releases_lock_free(entry.slot) && !shared.workers.surplus() {
                next = shared.queue.release_and_take(
                    entry.slot,
                    entry.class(),
                    permit,
                    &shared.budget,
                );
            } else {
                shared
                    .queue
                    .release(entry.slot, entry.class(), permit, true);
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
                id: entry.id,
                outcome,
                run_time,
            });
        }
        tracing::trace!(
            job.id = entry.id.0,
            outcome = outcome.as_str(),
            "job finished"
        );
        entry.task.publish();
        next
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.entry.is_some() {
            if self.started {
                self.finish(Outcome::Cancelled, false);
            } else {
                self.discard(DropReason::Closed);
            }
        }
    }
}

/// Runs a taken job to its end; returns the worker's next job if it was taken
/// while this one gave its weight back.
async fn run_job<'a>(
    shared: &'a Shared,
    worker: usize,
    entry: Entry,
    permit: Permit<'a>,
) -> Option<(Entry, Permit<'a>)> {
    let mut job = InFlight {
        shared,
        worker,
        entry: Some(entry),
        permit: Some(permit),
        started: false,
        started_at: None,
        in_flight: 0,
        token: None,
    };

    // 1. The job was picked with its weight. It never starts if it was cancelled
    //    or the close deadline passed in the meantime.
    if job.entry().task.cancel_requested() {
        job.discard(DropReason::Cancelled);
        return None;
    }
    if shared.token.is_cancelled() {
        job.discard(DropReason::Closed);
        return None;
    }

    // 2. Run it, until it ends, is cancelled, times out, or the close grace runs out.
    let span = job.start();
    let timeout = job.entry().task.meta().timeout;
    let mut sleep = pin!(timeout.map(tokio::time::sleep));
    let mut abort = pin!(None);
    let outcome = poll_fn(|cx| {
        let entry = job.entry.as_mut().expect("job already ended");
        if entry.task.cancel_requested() || shared.abort.is_cancelled() {
            return Poll::Ready(Outcome::Cancelled);
        }
        let polled = {
            let _enter = span.enter();
            entry.task.poll_run(cx)
        };
        if let Poll::Ready(ended) = polled {
            return Poll::Ready(match ended {
                Ended::Completed => Outcome::Completed,
                Ended::Failed => Outcome::Failed,
                Ended::Panicked => Outcome::Panicked,
            });
        }
        // Pending: only now pay for the wake-up registrations.
        if entry.task.arm(cx.waker()) {
            return Poll::Ready(Outcome::Cancelled);
        }
        if abort.is_none() {
            abort.set(Some(shared.abort.cancelled()));
        }
        if let Some(Poll::Ready(())) = abort.as_mut().as_pin_mut().map(|a| a.poll(cx)) {
            return Poll::Ready(Outcome::Cancelled);
        }
        if let Some(Poll::Ready(())) = sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
            return Poll::Ready(Outcome::TimedOut);
        }
        Poll::Pending
    })
    .await;
    let _enter = span.enter();
    job.finish(outcome, true)
}
