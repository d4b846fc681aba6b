//! [`Observer`]: lifecycle events of every job, for metrics and logs.

use std::time::Duration;

use crate::job::JobId;

/// Receives a pool's job lifecycle events. Every method has a no-op default, so
/// implement only what you need.
///
/// Each accepted job produces `on_submit`, then either `on_drop` (it never started)
/// or `on_start` followed by `on_finish`. Refused submissions produce only
/// `on_refuse`. Events map one-to-one onto the [`Stats`](crate::Stats) counters.
///
/// Methods are called on the submitting task or on a worker, synchronously, outside
/// the pool's locks: keep them short and non-blocking (bump a metric, send to a
/// channel). A panic in an observer is not caught: it unwinds through the pool
/// (ending the submitting call or the worker task). Queue waits and run times are
/// measured with `tokio::time::Instant`, so they follow paused time in tests; a pool
/// without an observer reads no clock at all.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use weir_pool::{Finished, Observer, Outcome, Pool};
///
/// #[derive(Default)]
/// struct Completions(AtomicU64);
///
/// impl Observer for Completions {
///     fn on_finish(&self, event: &Finished) {
///         if event.outcome == Outcome::Completed {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = Arc::new(Completions::default());
/// let pool = Pool::builder().workers(1).observer(seen.clone()).build().unwrap();
/// pool.submit(async {}).await.unwrap().await.unwrap();
/// assert_eq!(seen.0.load(Ordering::Relaxed), 1);
/// # }
/// ```
pub trait Observer: Send + Sync + 'static {
    /// A job was accepted.
    fn on_submit(&self, event: &Submitted) {
        let _ = event;
    }

    /// A submission was refused; the job went back to the caller.
    fn on_refuse(&self, event: &Refused) {
        let _ = event;
    }

    /// A job left the pool without starting.
    fn on_drop(&self, event: &Dropped) {
        let _ = event;
    }

    /// A job got its weight and started.
    fn on_start(&self, event: &Started) {
        let _ = event;
    }

    /// A started job ended.
    fn on_finish(&self, event: &Finished) {
        let _ = event;
    }
}

impl<O: Observer + ?Sized> Observer for std::sync::Arc<O> {
    fn on_submit(&self, event: &Submitted) {
        (**self).on_submit(event);
    }
    fn on_refuse(&self, event: &Refused) {
        (**self).on_refuse(event);
    }
    fn on_drop(&self, event: &Dropped) {
        (**self).on_drop(event);
    }
    fn on_start(&self, event: &Started) {
        (**self).on_start(event);
    }
    fn on_finish(&self, event: &Finished) {
        (**self).on_finish(event);
    }
}

/// [`Observer::on_submit`]: a job was accepted.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use weir_pool::{Observer, Pool, Submitted};
///
/// #[derive(Default)]
/// struct Weights(Mutex<Vec<usize>>);
/// impl Observer for Weights {
///     fn on_submit(&self, event: &Submitted) {
///         self.0.lock().unwrap().push(event.weight);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = Arc::new(Weights::default());
/// let pool = Pool::builder().budget(3).observer(seen.clone()).build().unwrap();
/// let _ = pool.submit(weir_pool::Job::new(async {}).weight(3)).await.unwrap();
/// assert_eq!(*seen.0.lock().unwrap(), [3]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Submitted {
    /// The job.
    pub id: JobId,
    /// Its weight.
    pub weight: usize,
}

/// [`Observer::on_refuse`]: a submission was refused.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use weir_pool::{Observer, Pool, RefuseReason, Refused};
///
/// #[derive(Default)]
/// struct Reasons(Mutex<Vec<RefuseReason>>);
/// impl Observer for Reasons {
///     fn on_refuse(&self, event: &Refused) {
///         self.0.lock().unwrap().push(event.reason);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = Arc::new(Reasons::default());
/// let pool = Pool::builder().budget(1).observer(seen.clone()).build().unwrap();
/// assert!(pool.try_submit(weir_pool::Job::new(async {}).weight(2)).is_err());
/// assert_eq!(*seen.0.lock().unwrap(), [RefuseReason::TooHeavy]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Refused {
    /// Why.
    pub reason: RefuseReason,
    /// The refused job's weight.
    pub weight: usize,
}

/// Why a submission was refused. Each reason has its own counter in
/// [`Stats`](crate::Stats).
///
/// # Examples
///
/// ```
/// assert_eq!(weir_pool::RefuseReason::Full.as_str(), "full");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefuseReason {
    /// The queue was full (`try_submit`).
    Full,
    /// The pool was closed.
    Closed,
    /// The admission timeout passed (`submit_timeout`).
    Timeout,
    /// The submission's token was cancelled (`submit_cancellable`).
    Cancelled,
    /// The job was heavier than the budget.
    TooHeavy,
    /// The queue was at or above the [shed watermark](crate::Builder::shed_watermark)'s
    /// high mark, or has not fallen back to its low mark since.
    Shed,
}

impl RefuseReason {
    /// A short lowercase name, for metric labels.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_pool::RefuseReason::TooHeavy.as_str(), "too_heavy");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Closed => "closed",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::TooHeavy => "too_heavy",
            Self::Shed => "shed",
        }
    }
}

/// [`Observer::on_drop`]: a job left the pool without starting.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use weir_pool::{DropReason, Dropped, Observer, Overflow, Pool};
///
/// #[derive(Default)]
/// struct Drops(Mutex<Vec<DropReason>>);
/// impl Observer for Drops {
///     fn on_drop(&self, event: &Dropped) {
///         self.0.lock().unwrap().push(event.reason);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = Arc::new(Drops::default());
/// let pool = Pool::builder()
///     .workers(1)
///     .queue_capacity(1)
///     .overflow(Overflow::EvictOldest)
///     .observer(seen.clone())
///     .build()
///     .unwrap();
/// let _first = pool.try_submit(async {}).unwrap();
/// let _second = pool.try_submit(async {}).unwrap(); // evicts the first
/// assert_eq!(*seen.0.lock().unwrap(), [DropReason::Evicted]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Dropped {
    /// The job.
    pub id: JobId,
    /// Why.
    pub reason: DropReason,
    /// How long it had waited.
    pub queue_wait: Duration,
}

/// Why a job left the pool without starting.
///
/// # Examples
///
/// ```
/// assert_eq!(weir_pool::DropReason::Evicted.as_str(), "evicted");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Evicted from a full queue by [`Overflow::EvictOldest`](crate::Overflow::EvictOldest)
    /// (counted in `dropped` and `evicted`; the handle gets `Dropped`).
    Evicted,
    /// Its handle cancelled it (counted in `cancelled`; the handle gets `Cancelled`).
    Cancelled,
    /// Still queued when a close deadline passed (counted in `dropped`; the handle
    /// gets `Dropped`).
    Closed,
}

impl DropReason {
    /// A short lowercase name, for metric labels.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_pool::DropReason::Closed.as_str(), "closed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Evicted => "evicted",
            Self::Cancelled => "cancelled",
            Self::Closed => "closed",
        }
    }
}

/// [`Observer::on_start`]: a job got its weight and started.
///
/// # Examples
///
/// ```
/// use std::{sync::{Arc, Mutex}, time::Duration};
/// use weir_pool::{Observer, Pool, Started};
///
/// #[derive(Default)]
/// struct Waits(Mutex<Vec<Duration>>);
/// impl Observer for Waits {
///     fn on_start(&self, event: &Started) {
///         self.0.lock().unwrap().push(event.queue_wait);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let seen = Arc::new(Waits::default());
/// let pool = Pool::builder().workers(1).observer(seen.clone()).build().unwrap();
/// let first = pool.submit(tokio::time::sleep(Duration::from_secs(2))).await.unwrap();
/// let second = pool.submit(async {}).await.unwrap();
/// first.await.unwrap();
/// second.await.unwrap();
/// assert_eq!(*seen.0.lock().unwrap(), [Duration::ZERO, Duration::from_secs(2)]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Started {
    /// The job.
    pub id: JobId,
    /// Its weight.
    pub weight: usize,
    /// Time from acceptance to start (queue and budget wait).
    pub queue_wait: Duration,
}

/// [`Observer::on_finish`]: a started job ended.
///
/// # Examples
///
/// ```
/// use std::{sync::{Arc, Mutex}, time::Duration};
/// use weir_pool::{Finished, Observer, Outcome, Pool};
///
/// #[derive(Default)]
/// struct Ends(Mutex<Vec<(Outcome, Duration)>>);
/// impl Observer for Ends {
///     fn on_finish(&self, event: &Finished) {
///         self.0.lock().unwrap().push((event.outcome, event.run_time));
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let seen = Arc::new(Ends::default());
/// let pool = Pool::builder().workers(1).observer(seen.clone()).build().unwrap();
/// let job = pool.submit(tokio::time::sleep(Duration::from_secs(3))).await.unwrap();
/// job.await.unwrap();
/// assert_eq!(*seen.0.lock().unwrap(), [(Outcome::Completed, Duration::from_secs(3))]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Finished {
    /// The job.
    pub id: JobId,
    /// How it ended.
    pub outcome: Outcome,
    /// Time from start to end.
    pub run_time: Duration,
}

/// How a started job ended. Each outcome has its own counter in
/// [`Stats`](crate::Stats).
///
/// # Examples
///
/// ```
/// assert_eq!(weir_pool::Outcome::TimedOut.as_str(), "timed_out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Returned an output not counted as a failure.
    Completed,
    /// Returned an output counted as a failure.
    Failed,
    /// Panicked.
    Panicked,
    /// Ran past its run timeout.
    TimedOut,
    /// Cancelled while running.
    Cancelled,
}

impl Outcome {
    /// A short lowercase name, for metric labels.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_pool::Outcome::Completed.as_str(), "completed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Panicked => "panicked",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }
}
