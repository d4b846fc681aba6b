//! Closing a pool: stop admission, drain until a deadline, cancel, grace, abort,
//! and report what happened to every job that was still in the pool.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use tokio::{sync::watch, time::Instant};

use crate::{
    observer::DropReason,
    shared::Shared,
    stats::{Snapshot, Stats},
};

/// What [`Pool::close`](crate::Pool::close) did: the fate of every job that was
/// queued or running when admission stopped.
///
/// `completed + failed + panicked + timed_out + cancelled + never_started` equals
/// the number of jobs that were in the pool when the close began ([`total`]).
///
/// [`total`]: Self::total
///
/// # Examples
///
/// ```
/// use tokio::time::{Duration, Instant};
/// use weir_pool::Pool;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let _detached = pool.submit(tokio::time::sleep(Duration::from_secs(1))).await.unwrap();
/// let report = pool.close(Instant::now() + Duration::from_secs(5)).await;
/// assert_eq!(report.completed, 1);
/// assert_eq!(report.total(), 1);
/// assert!(!report.deadline_passed);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CloseReport {
    /// Jobs that returned an output not counted as a failure.
    pub completed: u64,
    /// Jobs whose output counted as a failure.
    pub failed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs that ran past their run timeout.
    pub timed_out: u64,
    /// Jobs cancelled while running: by their handle, or dropped when the close
    /// grace ran out.
    pub cancelled: u64,
    /// Jobs that never started: still queued at the deadline, or cancelled by
    /// their handle while queued.
    pub never_started: u64,
    /// Whether the deadline passed before the pool drained (so the token was
    /// cancelled and queued jobs dropped).
    pub deadline_passed: bool,
    /// Whether jobs were still running when the grace ran out and were dropped.
    pub aborted: bool,
    /// The pool's counters once closed.
    pub stats: Stats,
}

impl CloseReport {
    /// The number of jobs in the pool when the close began: the sum of the fates.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// assert_eq!(pool.close(Instant::now()).await.total(), 0);
    /// # }
    /// ```
    pub fn total(&self) -> u64 {
        self.completed
            + self.failed
            + self.panicked
            + self.timed_out
            + self.cancelled
            + self.never_started
    }

    fn between(
        start: &Snapshot,
        end: &Snapshot,
        stats: Stats,
        deadline_passed: bool,
        aborted: bool,
    ) -> Self {
        Self {
            completed: end.completed - start.completed,
            failed: end.failed - start.failed,
            panicked: end.panicked - start.panicked,
            timed_out: end.timed_out - start.timed_out,
            cancelled: end.cancelled_running - start.cancelled_running,
            never_started: (end.dropped + end.cancelled_queued)
                - (start.dropped + start.cancelled_queued),
            deadline_passed,
            aborted,
            stats,
        }
    }
}

/// Close bookkeeping in the shared state.
pub(crate) struct CloseState {
    begun: AtomicBool,
    report: watch::Sender<Option<CloseReport>>,
}

impl CloseState {
    pub(crate) fn new() -> Self {
        Self {
            begun: AtomicBool::new(false),
            report: watch::Sender::new(None),
        }
    }
}

/// Future returned by [`Pool::close`](crate::Pool::close); resolves to the close's
/// [`CloseReport`].
///
/// # Cancel safety
///
/// Dropping it does not stop the close: admission has already stopped, and the
/// shutdown runs on its own task. Call `close` again to get the report.
///
/// # Examples
///
/// ```
/// use tokio::time::{Duration, Instant};
/// use weir_pool::{Close, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let closing: Close = pool.close(Instant::now() + Duration::from_secs(1));
/// assert!(pool.is_closed()); // before the future is even polled
/// assert_eq!(closing.await.total(), 0);
/// # }
/// ```
#[must_use = "the close proceeds anyway; await it to get the report"]
pub struct Close {
    inner: Pin<Box<dyn Future<Output = CloseReport> + Send>>,
}

impl Future for Close {
    type Output = CloseReport;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CloseReport> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Close").finish_non_exhaustive()
    }
}

impl Shared {
    /// Stops admission now and, the first time, starts the shutdown task. Returns
    /// the future of the (one) report.
    pub(crate) fn close(self: &Arc<Self>, deadline: Instant) -> Close {
        let mut report = self.close.report.subscribe();
        if !self.close.begun.swap(true, Ordering::AcqRel) {
            self.queue.close();
            self.tracker.close();
            let start = self.counters.snapshot();
            tracing::info!(
                queued = start.queued(),
                running = start.running(),
                "pool closing"
            );
            self.runtime.spawn(shutdown(self.clone(), deadline, start));
        }
        let shared = self.clone();
        Close {
            inner: Box::pin(async move {
                match report.wait_for(Option::is_some).await {
                    Ok(report) => report.expect("waited for a report"),
                    // The sender lives in `shared`, which we hold: unreachable.
                    Err(_) => unreachable!("close report sender dropped while {shared:p} is alive"),
                }
            }),
        }
    }
}

/// The shutdown sequence, on its own task so that it completes even if every
/// `close` future is dropped.
async fn shutdown(shared: Arc<Shared>, deadline: Instant, start: Snapshot) {
    let drained = tokio::time::timeout_at(deadline, shared.tracker.wait())
        .await
        .is_ok();
    let mut aborted = false;
    if !drained {
        tracing::info!("pool close deadline passed: cancelling jobs");
        shared.token.cancel();
        for entry in shared.queue.drain() {
            shared.discard(entry, DropReason::Closed);
        }
        let graceful = tokio::time::timeout(shared.close_grace, shared.tracker.wait())
            .await
            .is_ok();
        if !graceful {
            tracing::info!(grace = ?shared.close_grace, "pool close grace over: dropping running jobs");
            aborted = true;
            shared.abort.cancel();
            shared.tracker.wait().await;
        }
    }
    shared.token.cancel();
    let stats = shared.stats();
    let end = shared.counters.snapshot();
    let report = CloseReport::between(&start, &end, stats, !drained, aborted);
    tracing::info!(?report, "pool closed");
    shared.close.report.send_replace(Some(report));
}
