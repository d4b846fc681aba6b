//! [`Pool`]: the handle users submit through, resize and close.

use std::{fmt, sync::Arc, time::Duration};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_core::{Semaphore, TryAcquireError};

use crate::{
    builder::{Builder, validate_count},
    close::Close,
    error::{ConfigError, SubmitCancelledError, SubmitError, SubmitTimeoutError, TrySubmitError},
    handle::JobHandle,
    job::Work,
    observer::RefuseReason,
    shared::{Shared, spend_budget_unit},
    stats::{LimitStats, Stats},
};

/// A bounded pool of worker tasks running async jobs, with a bounded queue in front
/// and a weighted concurrency budget.
///
/// - **Submit** with [`submit`](Self::submit) (waits for queue room),
///   [`try_submit`](Self::try_submit) (never waits),
///   [`submit_timeout`](Self::submit_timeout) or
///   [`submit_cancellable`](Self::submit_cancellable) (wait, but not forever). A
///   refused job always comes back inside the error. An accepted job gives a
///   [`JobHandle`].
/// - **Run:** each worker takes the oldest job, waits (FIFO) for the job's weight
///   from the budget, and runs it, catching panics and enforcing its run timeout.
/// - **Resize** workers, budget and queue at runtime.
/// - **Close** with a deadline and get a [`CloseReport`](crate::CloseReport).
///
/// `Pool` is a cheap handle: clones share the same pool.
///
/// # Dropping without `close`
///
/// When the last `Pool` clone is dropped without [`close`](Self::close), admission
/// stops (nobody can submit any more) but nothing is cancelled: the workers finish
/// the queued jobs, then exit. Outstanding [`JobHandle`]s still resolve. It is a
/// close with no deadline that nobody waits for; use `close` to bound it or to know
/// when it is done. If the runtime shuts down first, queued jobs resolve
/// [`Dropped`](crate::JobError::Dropped) and running ones
/// [`Cancelled`](crate::JobError::Cancelled).
///
/// # Examples
///
/// ```
/// use tokio::time::{Duration, Instant};
/// use weir_pool::Pool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(4).queue_capacity(64).build().unwrap();
/// let mut handles = Vec::new();
/// for i in 0..10_u64 {
///     handles.push(pool.submit(async move { i * i }).await.unwrap());
/// }
/// let mut sum = 0;
/// for handle in handles {
///     sum += handle.await.unwrap();
/// }
/// assert_eq!(sum, 285);
/// let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
/// assert_eq!(report.stats.completed, 10);
/// # }
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolRef>,
}

/// Counts `Pool` clones: dropping the last one stops admission.
struct PoolRef {
    shared: Arc<Shared>,
}

impl Drop for PoolRef {
    fn drop(&mut self) {
        if self.shared.queue.close() {
            tracing::debug!("last pool handle dropped: draining the queue");
        }
        self.shared.tracker.close();
    }
}

impl Pool {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self {
            inner: Arc::new(PoolRef { shared }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// A [`Builder`] with the default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(2).build().unwrap();
    /// assert_eq!(pool.stats().workers, 2);
    /// # }
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Submits a job, waiting (FIFO, behind earlier waiting submitters) for room in
    /// the queue. Getting a slot and enqueueing the job are one step: no slot is
    /// ever reserved and left unused.
    ///
    /// # Errors
    ///
    /// - [`SubmitError::Closed`] if the pool is closed, or closes while waiting.
    /// - [`SubmitError::TooHeavy`] if the job's weight is above the budget.
    ///
    /// Either way the job comes back inside the error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. If the future is dropped before it completes, the job is dropped
    /// with it and never queued, and no slot is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// let handle = pool.submit(async { "done" }).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), "done");
    /// # }
    /// ```
    #[expect(
        clippy::manual_async_fn,
        reason = "the named `Send` bound keeps boxed `dyn Future` jobs submittable from `tokio::spawn`"
    )]
    pub fn submit<W: Work>(
        &self,
        job: W,
    ) -> impl Future<Output = Result<JobHandle<W::Output>, SubmitError<W>>> + Send {
        // A named `Send` bound rather than an `async fn`: with the bound checked here,
        // once for any `W`, rustc does not re-prove it at the caller, where its
        // higher-ranked check fails for boxed `dyn Future` jobs in `tokio::spawn`
        // ("implementation of `Send` is not general enough").
        async move {
            let shared = self.shared();
            let (job, weight, class) =
                shared.precheck(job, SubmitError::TooHeavy, SubmitError::Shed)?;
            spend_budget_unit().await;
            // Room now (nobody waiting ahead) without building the wait; the same
            // FIFO rule either way.
            let slots = shared.queue.slots();
            let room = match slots.try_increment() {
                Ok(()) => Ok(()),
                Err(TryAcquireError::Closed) => Err(()),
                Err(_) => slots.increment().await.map_err(drop),
            };
            if room.is_err() {
                shared.refuse(RefuseReason::Closed, weight);
                return Err(SubmitError::Closed(job));
            }
            shared.enqueue(job, class).map_err(SubmitError::Closed)
        }
    }

    /// Submits a job if there is room in the queue now, without waiting. With
    /// [`Overflow::EvictOldest`](crate::Overflow::EvictOldest), a full queue drops its
    /// oldest job to make room instead.
    ///
    /// `try_submit` does not jump ahead of submitters already waiting in
    /// [`submit`](Self::submit): while they wait, the queue counts as full.
    ///
    /// # Errors
    ///
    /// - [`TrySubmitError::Full`] if the queue is full (and the policy refuses).
    /// - [`TrySubmitError::Closed`] if the pool is closed.
    /// - [`TrySubmitError::TooHeavy`] if the job's weight is above the budget.
    ///
    /// Each hands the job back.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).queue_capacity(2).build().unwrap();
    /// assert!(pool.try_submit(async {}).is_ok());
    /// assert!(pool.try_submit(async {}).is_ok());
    /// let full = pool.try_submit(async { 3 }).unwrap_err();
    /// assert!(full.is_full());
    /// assert_eq!(pool.stats().refused_full, 1);
    /// # }
    /// ```
    pub fn try_submit<W: Work>(&self, job: W) -> Result<JobHandle<W::Output>, TrySubmitError<W>> {
        self.shared().try_submit(job)
    }

    /// Like [`submit`](Self::submit), but gives up if no queue room comes free
    /// within `timeout`. The timeout bounds admission only; the job's run time is
    /// limited separately (its run timeout).
    ///
    /// # Errors
    ///
    /// [`SubmitTimeoutError::Timeout`] when the time is up, and as `submit`
    /// otherwise. The job comes back inside.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// let handle = pool.submit_timeout(async { 1 }, Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), 1);
    /// # }
    /// ```
    #[expect(
        clippy::manual_async_fn,
        reason = "the named `Send` bound keeps boxed `dyn Future` jobs submittable from `tokio::spawn`"
    )]
    pub fn submit_timeout<W: Work>(
        &self,
        job: W,
        timeout: Duration,
    ) -> impl Future<Output = Result<JobHandle<W::Output>, SubmitTimeoutError<W>>> + Send {
        // `Send` named for the same reason as `submit`.
        async move {
            let shared = self.shared();
            let (job, weight, class) =
                shared.precheck(job, SubmitTimeoutError::TooHeavy, SubmitTimeoutError::Shed)?;
            match tokio::time::timeout(timeout, shared.queue.slots().increment()).await {
                Ok(Ok(())) => shared
                    .enqueue(job, class)
                    .map_err(SubmitTimeoutError::Closed),
                Ok(Err(_)) => {
                    shared.refuse(RefuseReason::Closed, weight);
                    Err(SubmitTimeoutError::Closed(job))
                }
                Err(_) => {
                    shared.refuse(RefuseReason::Timeout, weight);
                    Err(SubmitTimeoutError::Timeout(job))
                }
            }
        }
    }

    /// Like [`submit`](Self::submit), but gives up when `token` is cancelled before
    /// queue room comes free (Go's `SubmitCtx`). A token already cancelled refuses
    /// at once, even if there is room.
    ///
    /// # Errors
    ///
    /// [`SubmitCancelledError::Cancelled`] when the token fires first, and as
    /// `submit` otherwise. The job comes back inside.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`submit`](Self::submit).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_util::sync::CancellationToken;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// let request = CancellationToken::new();
    /// let handle = pool.submit_cancellable(async { 1 }, &request).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), 1);
    /// # }
    /// ```
    #[expect(
        clippy::manual_async_fn,
        reason = "the named `Send` bound keeps boxed `dyn Future` jobs submittable from `tokio::spawn`"
    )]
    pub fn submit_cancellable<W: Work>(
        &self,
        job: W,
        token: &CancellationToken,
    ) -> impl Future<Output = Result<JobHandle<W::Output>, SubmitCancelledError<W>>> + Send {
        // `Send` named for the same reason as `submit`.
        async move {
            let shared = self.shared();
            let (job, weight, class) = shared.precheck(
                job,
                SubmitCancelledError::TooHeavy,
                SubmitCancelledError::Shed,
            )?;
            let slot = tokio::select! {
                biased;
                () = token.cancelled() => None,
                slot = shared.queue.slots().increment() => Some(slot),
            };
            match slot {
                Some(Ok(())) => shared
                    .enqueue(job, class)
                    .map_err(SubmitCancelledError::Closed),
                Some(Err(_)) => {
                    shared.refuse(RefuseReason::Closed, weight);
                    Err(SubmitCancelledError::Closed(job))
                }
                None => {
                    shared.refuse(RefuseReason::Cancelled, weight);
                    Err(SubmitCancelledError::Cancelled(job))
                }
            }
        }
    }

    /// Closes the pool and reports what happened to the jobs still in it.
    ///
    /// 1. **Admission stops at once**, when `close` is called: later and waiting
    ///    submissions fail with `Closed` and get their job back.
    /// 2. Queued and running jobs **continue until `deadline`**.
    /// 3. If jobs remain at the deadline, the pool **cancels its token** (every
    ///    [`JobContext::token`](crate::JobContext::token) is its child), **drops the
    ///    queued jobs** (they resolve [`Dropped`](crate::JobError::Dropped), counted
    ///    `never_started`), and gives running jobs the
    ///    [close grace](crate::Builder::close_grace) to return on their own.
    /// 4. Jobs still running after the grace are **dropped** (they resolve
    ///    [`Cancelled`](crate::JobError::Cancelled)).
    ///
    /// The future resolves once every worker has exited, so every
    /// [`JobHandle`] has resolved. A job that blocks its thread without yielding
    /// cannot be dropped and delays the close until it yields.
    ///
    /// Closing is idempotent: a second `close` (from any clone) waits for the first
    /// and returns the same report; its own deadline is ignored.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown runs on its own task and completes even if the
    /// returned future is dropped; `close` again to get the report.
    ///
    /// # Panics
    ///
    /// Panics if the runtime the pool was built on has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::time::{Duration, Instant};
    /// use weir_pool::{JobError, Pool, with_context};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// // Cooperative: returns when the close deadline cancels its token.
    /// let polite = pool
    ///     .submit(with_context(|cx| async move { cx.token().cancelled().await; "bye" }))
    ///     .await
    ///     .unwrap();
    /// let queued = pool.submit(async { "never" }).await.unwrap();
    ///
    /// let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
    /// assert_eq!((report.completed, report.never_started), (1, 1));
    /// assert!(report.deadline_passed && !report.aborted);
    /// assert_eq!(polite.await.unwrap(), "bye");
    /// assert!(matches!(queued.await, Err(JobError::Dropped)));
    /// assert_eq!(pool.close(Instant::now()).await, report);
    /// # }
    /// ```
    pub fn close(&self, deadline: Instant) -> Close {
        self.shared().close(deadline)
    }

    /// Whether the pool no longer accepts jobs: [`close`](Self::close) was called
    /// (the pool may still be draining).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::time::Instant;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().build().unwrap();
    /// assert!(!pool.is_closed());
    /// let _report = pool.close(Instant::now());
    /// assert!(pool.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared().queue.is_closed()
    }

    /// Sets the number of workers. Growing starts the new workers at once;
    /// shrinking lets running jobs finish: idle workers exit at once, busy ones
    /// after their current job. `stats().live_workers` shows the progress.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if `workers` is 0 or above
    /// [`Builder::MAX_WORKERS`]; nothing changes.
    ///
    /// # Panics
    ///
    /// Growing panics if the runtime the pool was built on has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// pool.set_workers(3).unwrap();
    /// assert_eq!((pool.stats().workers, pool.stats().live_workers), (3, 3));
    /// assert!(pool.set_workers(0).is_err());
    /// # }
    /// ```
    pub fn set_workers(&self, workers: usize) -> Result<(), ConfigError> {
        validate_count("workers", workers, Builder::MAX_WORKERS)?;
        self.shared().set_workers(workers);
        Ok(())
    }

    /// Sets the weight budget. Raising it starts waiting jobs that now fit.
    /// Lowering it never preempts: running jobs keep their weight, and no job starts
    /// until the weight in use is below the new budget. Later submissions heavier
    /// than the new budget are refused `TooHeavy`; a job already accepted that is
    /// heavier waits, holding its worker, until the budget rises again or the pool
    /// closes.
    ///
    /// With an [adaptive](Builder::adaptive) budget, `budget` becomes the ceiling
    /// the algorithm's limit is clamped to, and the budget is set to that limit
    /// clamped to the new ceiling (see [`limit`](Self::limit)).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if `budget` is 0 or above `Semaphore::MAX_PERMITS`; nothing
    /// changes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().budget(4).build().unwrap();
    /// pool.set_budget(2).unwrap();
    /// assert_eq!(pool.stats().budget, 2);
    /// # }
    /// ```
    pub fn set_budget(&self, budget: usize) -> Result<(), ConfigError> {
        validate_count("budget", budget, Semaphore::MAX_PERMITS)?;
        let shared = self.shared();
        if shared.reserved > budget {
            return Err(ConfigError::OverReserved {
                field: "set_budget",
                reserved: shared.reserved,
                budget,
            });
        }
        match &shared.adaptive {
            None => shared.budget.set_capacity(budget),
            Some(adaptive) => adaptive.set_ceiling(&shared.budget, budget),
        }
        shared.queue.budget_changed();
        Ok(())
    }

    /// The state of the [adaptive](Builder::adaptive) budget: the current limit,
    /// its bounds and the samples fed so far. `None` unless the pool was built
    /// with an algorithm.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::adaptive::Aimd;
    /// use weir_pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let aimd = Aimd::builder().initial_limit(4).build().unwrap();
    /// let pool = Pool::builder().workers(4).budget(4).adaptive(aimd).build().unwrap();
    /// pool.submit(async {}).await.unwrap().await.unwrap();
    /// let limit = pool.limit().unwrap();
    /// assert_eq!((limit.limit, limit.samples, limit.overloads), (4, 1, 0));
    /// assert_eq!(limit.limit, pool.stats().budget);
    /// assert!(Pool::builder().build().unwrap().limit().is_none());
    /// # }
    /// ```
    pub fn limit(&self) -> Option<LimitStats> {
        let shared = self.shared();
        shared.adaptive.as_ref().map(|a| a.stats(&shared.budget))
    }

    /// Sets the queue capacity. Raising it admits waiting submitters that now fit.
    /// Lowering it drops nothing: new jobs wait until the queue is below the new
    /// capacity.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if `capacity` is 0 or above `Semaphore::MAX_PERMITS`;
    /// nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().queue_capacity(8).build().unwrap();
    /// pool.set_queue_capacity(32).unwrap();
    /// assert_eq!(pool.stats().queue_capacity, 32);
    /// # }
    /// ```
    pub fn set_queue_capacity(&self, capacity: usize) -> Result<(), ConfigError> {
        validate_count("queue_capacity", capacity, Semaphore::MAX_PERMITS)?;
        self.shared().queue.slots().set_max(capacity);
        Ok(())
    }

    /// A snapshot of the pool's counters, gauges and capacities. The counters obey
    /// the identity documented on [`Stats`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// let stats = pool.stats();
    /// assert_eq!((stats.submitted, stats.queued, stats.running), (0, 0, 0));
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }
}

impl Shared {
    pub(crate) fn stats(&self) -> Stats {
        use std::sync::atomic::Ordering;
        Stats {
            in_flight_weight: self.budget.in_use(),
            budget: self.budget.capacity(),
            queue_capacity: self.queue.slots().max(),
            workers: self.workers.target.load(Ordering::Acquire),
            live_workers: self.workers.live.load(Ordering::Acquire),
            keys: self.queue.live_keys(),
            ..self.counters.snapshot().to_stats()
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}
