//! Counters that add up, and the [`Stats`] snapshot built from them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::observer::{DropReason, Outcome, RefuseReason};

/// A point-in-time view of a pool.
///
/// # The identity
///
/// Every accepted job is counted once in `submitted`, and at any moment sits in
/// exactly one of the other buckets:
///
/// ```text
/// submitted = completed + failed + panicked + timed_out + cancelled + dropped
///           + queued + running
/// ```
///
/// This holds exactly for every snapshot, even one taken while jobs move. Refused
/// submissions were never accepted: they are counted apart, by reason
/// (`refused_full`, `refused_closed`, `refused_timeout`, `refused_cancelled`,
/// `refused_too_heavy`, `refused_shed`), and not in `submitted`.
///
/// # Examples
///
/// ```
/// use weir_pool::Pool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(2).budget(4).queue_capacity(8).build().unwrap();
/// pool.submit(async {}).await.unwrap().await.unwrap();
/// let stats = pool.stats();
/// assert_eq!((stats.submitted, stats.completed), (1, 1));
/// assert_eq!(stats.submitted, stats.finished() + stats.queued + stats.running);
/// assert_eq!((stats.workers, stats.budget, stats.queue_capacity), (2, 4, 8));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Jobs accepted (ever).
    pub submitted: u64,
    /// Jobs that returned an output not counted as a failure.
    pub completed: u64,
    /// Jobs whose output counted as a failure (see [`Work::is_failure`](crate::Work::is_failure)).
    pub failed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs that ran past their run timeout.
    pub timed_out: u64,
    /// Jobs cancelled, whether they were queued or running (by a handle, or by a
    /// close whose deadline and grace ran out).
    pub cancelled: u64,
    /// Jobs the pool dropped without running them: evicted, or still queued when a
    /// close deadline passed.
    pub dropped: u64,
    /// Of `dropped`, those evicted by [`Overflow::EvictOldest`](crate::Overflow::EvictOldest).
    pub evicted: u64,
    /// Jobs accepted and not started: in the unkeyed queue or a key's queue (a
    /// worker takes a job only once its weight is free, so none waits in a worker).
    pub queued: u64,
    /// Jobs running now.
    pub running: u64,
    /// Submissions refused because the queue was full (`try_submit`).
    pub refused_full: u64,
    /// Submissions refused because the pool was closed.
    pub refused_closed: u64,
    /// Submissions refused because the admission timeout passed (`submit_timeout`).
    pub refused_timeout: u64,
    /// Submissions refused because their token was cancelled (`submit_cancellable`).
    pub refused_cancelled: u64,
    /// Submissions refused because the job was heavier than the budget.
    pub refused_too_heavy: u64,
    /// Submissions shed by the [watermark](crate::Builder::shed_watermark).
    pub refused_shed: u64,
    /// Weight held by running jobs (the budget's in-use permits).
    pub in_flight_weight: usize,
    /// The budget (total weight that may run at once). With an
    /// [adaptive](crate::Builder::adaptive) budget, the current limit.
    pub budget: usize,
    /// The queue capacity.
    pub queue_capacity: usize,
    /// The configured worker count.
    pub workers: usize,
    /// Worker tasks alive now; converges on `workers` after a resize.
    pub live_workers: usize,
    /// Keys with state in the pool now: with jobs queued or running, or a
    /// submitter waiting for room (see [`Pool::submit_for`](crate::Pool::submit_for)).
    /// Idle keys are reclaimed, so this returns to 0 when keyed work stops.
    pub keys: usize,
}

impl Stats {
    /// Jobs with a final fate: `completed + failed + panicked + timed_out +
    /// cancelled + dropped`.
    ///
    /// # Examples
    ///
    /// ```
    /// let stats = weir_pool::Stats::default();
    /// assert_eq!(stats.finished(), 0);
    /// ```
    pub fn finished(&self) -> u64 {
        self.completed
            + self.failed
            + self.panicked
            + self.timed_out
            + self.cancelled
            + self.dropped
    }

    /// All refused submissions.
    ///
    /// # Examples
    ///
    /// ```
    /// let stats = weir_pool::Stats::default();
    /// assert_eq!(stats.refused(), 0);
    /// ```
    pub fn refused(&self) -> u64 {
        self.refused_full
            + self.refused_closed
            + self.refused_timeout
            + self.refused_cancelled
            + self.refused_too_heavy
            + self.refused_shed
    }
}

/// The state of an [adaptive](crate::Builder::adaptive) budget, from
/// [`Pool::limit`](crate::Pool::limit).
///
/// # Examples
///
/// ```
/// use weir_core::adaptive::Aimd;
/// use weir_pool::Pool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let aimd = Aimd::builder().initial_limit(8).build().unwrap();
/// let pool = Pool::builder().budget(8).class("a", 2).adaptive(aimd).build().unwrap();
/// let limit = pool.limit().unwrap();
/// assert_eq!((limit.limit, limit.floor, limit.ceiling, limit.samples), (8, 2, 8, 0));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct LimitStats {
    /// The budget now: the algorithm's limit clamped to `floor..=ceiling`.
    pub limit: usize,
    /// The algorithm's own limit, before clamping.
    pub algorithm_limit: usize,
    /// The lowest budget: the classes' total reservation, and at least 1.
    pub floor: usize,
    /// The highest budget: the builder's budget, or the last
    /// [`set_budget`](crate::Pool::set_budget).
    pub ceiling: usize,
    /// Finished jobs fed to the algorithm (completed and timed out).
    pub samples: u64,
    /// Of those, overloads (timed out).
    pub overloads: u64,
}

/// Keeps a group of counters on its own cache lines, so the submitting side and
/// the workers do not false-share.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

#[derive(Debug, Default)]
struct Submitted {
    submitted: AtomicU64,
    refused_full: AtomicU64,
    refused_closed: AtomicU64,
    refused_timeout: AtomicU64,
    refused_cancelled: AtomicU64,
    refused_too_heavy: AtomicU64,
    refused_shed: AtomicU64,
}

#[derive(Debug, Default)]
struct Fates {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    timed_out: AtomicU64,
    cancelled_running: AtomicU64,
    cancelled_queued: AtomicU64,
    dropped: AtomicU64,
    evicted: AtomicU64,
}

/// Fate stripes: each worker counts on stripe `worker id % FATE_STRIPES`, so the
/// workers do not pass one counter line back and forth on every job; a snapshot
/// sums the stripes.
const FATE_STRIPES: usize = 8;

/// The pool's counters. All monotonic; the gauges (`queued`, `running`) are
/// derived, which is what makes every snapshot add up.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submit: Padded<Submitted>,
    fates: [Padded<Fates>; FATE_STRIPES],
}

/// The monotonic counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Snapshot {
    pub(crate) submitted: u64,
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) panicked: u64,
    pub(crate) timed_out: u64,
    pub(crate) cancelled_running: u64,
    pub(crate) cancelled_queued: u64,
    pub(crate) dropped: u64,
    pub(crate) evicted: u64,
    pub(crate) refused_full: u64,
    pub(crate) refused_closed: u64,
    pub(crate) refused_timeout: u64,
    pub(crate) refused_cancelled: u64,
    pub(crate) refused_too_heavy: u64,
    pub(crate) refused_shed: u64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Release);
}

impl Counters {
    /// Counts an accepted job. Called before the job becomes visible to workers.
    pub(crate) fn submitted(&self) {
        bump(&self.submit.0.submitted);
    }

    pub(crate) fn refused(&self, reason: RefuseReason) {
        let s = &self.submit.0;
        bump(match reason {
            RefuseReason::Full => &s.refused_full,
            RefuseReason::Closed => &s.refused_closed,
            RefuseReason::Timeout => &s.refused_timeout,
            RefuseReason::Cancelled => &s.refused_cancelled,
            RefuseReason::TooHeavy => &s.refused_too_heavy,
            RefuseReason::Shed => &s.refused_shed,
        });
    }

    /// The fate counters of `stripe` (any number: it is taken modulo the stripes).
    fn fates(&self, stripe: usize) -> &Fates {
        &self.fates[stripe % FATE_STRIPES].0
    }

    /// Counts a start, on worker `stripe`'s counters.
    pub(crate) fn started(&self, stripe: usize) {
        bump(&self.fates(stripe).started);
    }

    /// Counts the end of a started job, on worker `stripe`'s counters.
    pub(crate) fn finished(&self, stripe: usize, outcome: Outcome) {
        let f = self.fates(stripe);
        bump(match outcome {
            Outcome::Completed => &f.completed,
            Outcome::Failed => &f.failed,
            Outcome::Panicked => &f.panicked,
            Outcome::TimedOut => &f.timed_out,
            Outcome::Cancelled => &f.cancelled_running,
        });
    }

    /// Counts a job that ended without starting, always on stripe 0 (which
    /// [`queued`](Self::queued) relies on): these come from any thread, and are rare.
    pub(crate) fn dropped(&self, reason: DropReason) {
        let f = self.fates(0);
        match reason {
            DropReason::Cancelled => bump(&f.cancelled_queued),
            DropReason::Closed => bump(&f.dropped),
            DropReason::Evicted => {
                // `dropped` first, and `snapshot` loads `evicted` first: a snapshot
                // never shows more evicted than dropped.
                bump(&f.dropped);
                bump(&f.evicted);
            }
        }
    }

    /// The sum of one fate counter over the stripes.
    fn sum(&self, counter: impl Fn(&Fates) -> &AtomicU64) -> u64 {
        self.fates
            .iter()
            .map(|f| counter(&f.0).load(Ordering::Acquire))
            .sum()
    }

    /// Reads every counter such that the derived gauges are never negative: fates
    /// first (every stripe), then starts, then submissions. A job's submission
    /// happens before its start, which happens before its fate, so whatever fate
    /// these loads see (on whichever stripe), the later loads see the events that
    /// preceded it.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let s = &self.submit.0;
        let load = |c: &AtomicU64| c.load(Ordering::Acquire);
        let evicted = self.sum(|f| &f.evicted);
        let dropped = self.sum(|f| &f.dropped);
        let completed = self.sum(|f| &f.completed);
        let failed = self.sum(|f| &f.failed);
        let panicked = self.sum(|f| &f.panicked);
        let timed_out = self.sum(|f| &f.timed_out);
        let cancelled_running = self.sum(|f| &f.cancelled_running);
        let cancelled_queued = self.sum(|f| &f.cancelled_queued);
        let started = self.sum(|f| &f.started);
        let submitted = load(&s.submitted);
        Snapshot {
            submitted,
            started,
            completed,
            failed,
            panicked,
            timed_out,
            cancelled_running,
            cancelled_queued,
            dropped,
            evicted,
            refused_full: load(&s.refused_full),
            refused_closed: load(&s.refused_closed),
            refused_timeout: load(&s.refused_timeout),
            refused_cancelled: load(&s.refused_cancelled),
            refused_too_heavy: load(&s.refused_too_heavy),
            refused_shed: load(&s.refused_shed),
        }
    }

    /// Jobs accepted and not started (or dropped), read in the same order as
    /// [`snapshot`](Self::snapshot) so it is never negative.
    pub(crate) fn queued(&self) -> u64 {
        // Jobs end unstarted only on stripe 0 (see `dropped`).
        let f = self.fates(0);
        let load = |c: &AtomicU64| c.load(Ordering::Acquire);
        let ended = load(&f.dropped) + load(&f.cancelled_queued);
        let started = self.sum(|f| &f.started);
        let submitted = load(&self.submit.0.submitted);
        submitted - started - ended
    }
}

impl Snapshot {
    fn ended_running(&self) -> u64 {
        self.completed + self.failed + self.panicked + self.timed_out + self.cancelled_running
    }

    fn ended_queued(&self) -> u64 {
        self.cancelled_queued + self.dropped
    }

    pub(crate) fn running(&self) -> u64 {
        self.started - self.ended_running()
    }

    pub(crate) fn queued(&self) -> u64 {
        self.submitted - self.started - self.ended_queued()
    }

    /// Fills in the counter fields of `stats`.
    pub(crate) fn to_stats(self) -> Stats {
        Stats {
            submitted: self.submitted,
            completed: self.completed,
            failed: self.failed,
            panicked: self.panicked,
            timed_out: self.timed_out,
            cancelled: self.cancelled_running + self.cancelled_queued,
            dropped: self.dropped,
            evicted: self.evicted,
            queued: self.queued(),
            running: self.running(),
            refused_full: self.refused_full,
            refused_closed: self.refused_closed,
            refused_timeout: self.refused_timeout,
            refused_cancelled: self.refused_cancelled,
            refused_too_heavy: self.refused_too_heavy,
            refused_shed: self.refused_shed,
            ..Stats::default()
        }
    }
}
