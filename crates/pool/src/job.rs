//! What the pool runs: the [`Work`] trait, per-job options ([`Job`]) and the
//! [`JobContext`] a job may receive.

use std::{fmt, future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::tenant::ClassId;

/// Something the pool can run: a future, or a closure that receives a
/// [`JobContext`] (see [`with_context`]).
///
/// Every `Future + Send + 'static` with a `Send` output is `Work`, so the common
/// case is `pool.submit(async { ... })`. Wrap work in [`Job`] to give it a weight or
/// a run timeout, in [`fallible`] to count `Err` outputs as failures, and use
/// [`with_context`] when the job should cooperate with cancellation.
///
/// You may implement `Work` for your own types; the provided methods describe how
/// the pool schedules it.
///
/// A plain future runs from its handle's own allocation when there is no run
/// timeout, [`Observer`](crate::Observer) or recordable `debug` span to keep beside
/// it: the pool then allocates per job the handle's shared state and a box for the
/// future, and nothing for a future that comes already boxed
/// (`Pin<Box<dyn Future<Output = T> + Send>>`, such as
/// `futures::future::BoxFuture<'static, T>`).
///
/// # Examples
///
/// ```
/// use weir_pool::{Pool, Work, JobContext};
///
/// /// A job type of our own: resize one image.
/// struct Resize(u32);
///
/// impl Work for Resize {
///     type Output = u32;
///     type Future = std::future::Ready<u32>;
///     fn start(self, _cx: JobContext) -> Self::Future {
///         std::future::ready(self.0 / 2)
///     }
///     fn weight(&self) -> usize {
///         2 // big images take two units of the budget
///     }
///     const NEEDS_TOKEN: bool = false;
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).budget(2).build().unwrap();
/// let handle = pool.submit(Resize(640)).await.unwrap();
/// assert_eq!(handle.await.unwrap(), 320);
/// # }
/// ```
pub trait Work: Send + 'static {
    /// What the job produces; the [`JobHandle`](crate::JobHandle) resolves to it.
    type Output: Send + 'static;
    /// The future that does the work.
    type Future: Future<Output = Self::Output> + Send + 'static;

    /// Whether [`start`](Self::start) uses [`JobContext::token`]. When `false` the
    /// pool skips creating the job's child token, which saves a little per job; the
    /// context passed to `start` then panics if its token is asked for.
    const NEEDS_TOKEN: bool = true;

    /// Turns the work into its future. Called on a worker, once the job holds its
    /// weight; the job's run time starts here.
    fn start(self, cx: JobContext) -> Self::Future;

    /// How much of the pool's budget the job holds while it runs. Defaults to 1.
    ///
    /// A weight of 0 takes nothing from the budget (the job still needs a worker).
    fn weight(&self) -> usize {
        1
    }

    /// The job's run timeout. Defaults to the pool's
    /// ([`Builder::run_timeout`](crate::Builder::run_timeout)).
    fn timeout(&self) -> RunTimeout {
        RunTimeout::PoolDefault
    }

    /// The job's priority class ([`Builder::class`](crate::Builder::class)).
    /// Defaults to `None`: the pool's default class.
    fn class(&self) -> Option<ClassId> {
        None
    }

    /// Whether an output counts as a failure in the pool's counters (`failed`
    /// instead of `completed`). The output is delivered to the handle either way.
    /// Defaults to `false`; [`Fallible`] counts `Err`.
    fn is_failure(output: &Self::Output) -> bool {
        let _ = output;
        false
    }

    /// Not part of the API: `true` only in the impl for futures, whose work is the
    /// future itself, started as is and never a failure. It lets the pool run such
    /// a job from its handle's cell rather than from a task of its own.
    #[doc(hidden)]
    const IS_FUTURE: bool = false;
}

impl<F> Work for F
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;
    type Future = F;

    const NEEDS_TOKEN: bool = false;

    const IS_FUTURE: bool = true;

    fn start(self, _cx: JobContext) -> F {
        self
    }
}

/// A job's run timeout, as returned by [`Work::timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_pool::{Job, RunTimeout, Work};
///
/// let job = Job::new(async {}).timeout(Duration::from_secs(1));
/// assert_eq!(Work::timeout(&job), RunTimeout::After(Duration::from_secs(1)));
/// assert_eq!(Work::timeout(&Job::new(async {}).no_timeout()), RunTimeout::Never);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RunTimeout {
    /// Use the pool's default run timeout (none unless configured).
    #[default]
    PoolDefault,
    /// Never time out, whatever the pool's default.
    Never,
    /// Time out this long after the job starts. A zero duration times out a job
    /// that does not finish on its first poll.
    After(Duration),
}

/// Work plus the options the pool schedules it by: a weight and a run timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_pool::{Job, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(2).budget(4).build().unwrap();
/// let job = Job::new(async { "heavy" })
///     .weight(3)
///     .timeout(Duration::from_secs(5));
/// let handle = pool.submit(job).await.unwrap();
/// assert_eq!(handle.await.unwrap(), "heavy");
/// # }
/// ```
#[derive(Clone)]
pub struct Job<W> {
    work: W,
    weight: usize,
    timeout: RunTimeout,
    class: Option<ClassId>,
}

impl<W: Work> Job<W> {
    /// Wraps `work` with weight 1 and the pool's default run timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Job, Work};
    ///
    /// let job = Job::new(async { 1 });
    /// assert_eq!(Work::weight(&job), 1);
    /// ```
    pub fn new(work: W) -> Self {
        Self {
            weight: work.weight(),
            timeout: work.timeout(),
            class: work.class(),
            work,
        }
    }

    /// Sets the weight the job holds from the pool's budget while it runs.
    ///
    /// Submitting a job heavier than the pool's current budget fails with a
    /// `TooHeavy` error that hands it back.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Job, Work};
    ///
    /// assert_eq!(Work::weight(&Job::new(async {}).weight(4)), 4);
    /// ```
    #[must_use]
    pub fn weight(mut self, weight: usize) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the run timeout: the job is dropped, and its handle resolves
    /// [`JobError::TimedOut`](crate::JobError::TimedOut), if it has not finished this
    /// long after it started. Time spent queued does not count.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_pool::{Job, RunTimeout, Work};
    ///
    /// let job = Job::new(async {}).timeout(Duration::from_millis(10));
    /// assert_eq!(Work::timeout(&job), RunTimeout::After(Duration::from_millis(10)));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = RunTimeout::After(timeout);
        self
    }

    /// Lets the job run without a time limit, even if the pool has a default one.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Job, RunTimeout, Work};
    ///
    /// assert_eq!(Work::timeout(&Job::new(async {}).no_timeout()), RunTimeout::Never);
    /// ```
    #[must_use]
    pub fn no_timeout(mut self) -> Self {
        self.timeout = RunTimeout::Never;
        self
    }

    /// Puts the job in a priority class of the pool it is submitted to (see
    /// [`Builder::class`](crate::Builder::class)). Submitting it to a pool that did
    /// not declare the class panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Job, Pool, Work};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().budget(4).class("critical", 1).class("batch", 0).build().unwrap();
    /// let critical = pool.class("critical").unwrap();
    /// let job = Job::new(async { "urgent" }).class(critical);
    /// assert_eq!(Work::class(&job), Some(critical));
    /// assert_eq!(pool.submit(job).await.unwrap().await.unwrap(), "urgent");
    /// # }
    /// ```
    #[must_use]
    pub fn class(mut self, class: ClassId) -> Self {
        self.class = Some(class);
        self
    }

    /// Gives the work back.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::Job;
    ///
    /// let job = Job::new(std::future::ready(7));
    /// # tokio_test::block_on(async {
    /// assert_eq!(job.into_inner().await, 7);
    /// # });
    /// ```
    pub fn into_inner(self) -> W {
        self.work
    }
}

impl<W: Work> Work for Job<W> {
    type Output = W::Output;
    type Future = W::Future;

    const NEEDS_TOKEN: bool = W::NEEDS_TOKEN;

    fn start(self, cx: JobContext) -> W::Future {
        self.work.start(cx)
    }

    fn weight(&self) -> usize {
        self.weight
    }

    fn timeout(&self) -> RunTimeout {
        self.timeout
    }

    fn class(&self) -> Option<ClassId> {
        self.class
    }

    fn is_failure(output: &W::Output) -> bool {
        W::is_failure(output)
    }
}

impl<W> fmt::Debug for Job<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("weight", &self.weight)
            .field("timeout", &self.timeout)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

/// Work built from a closure that receives the job's [`JobContext`]; see
/// [`with_context`].
///
/// # Examples
///
/// ```
/// use weir_pool::{Job, WithContext, Work, with_context};
///
/// let work: WithContext<_> = with_context(|cx| async move { cx.weight() * 10 });
/// assert_eq!(Work::weight(&Job::new(work).weight(2)), 2);
/// ```
#[derive(Clone)]
pub struct WithContext<F>(F);

/// Makes work from a closure that receives the job's [`JobContext`], whose
/// [`CancellationToken`] is cancelled when the job is cancelled or times out, or
/// when the pool's close deadline passes. Use it for jobs that should stop cleanly
/// rather than be dropped mid-flight.
///
/// # Examples
///
/// ```
/// use weir_pool::{Pool, with_context};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let handle = pool
///     .submit(with_context(|cx| async move {
///         assert!(!cx.token().is_cancelled());
///         cx.id()
///     }))
///     .await
///     .unwrap();
/// let id = handle.id();
/// assert_eq!(handle.await.unwrap(), id);
/// # }
/// ```
pub fn with_context<F, Fut>(f: F) -> WithContext<F>
where
    F: FnOnce(JobContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    WithContext(f)
}

impl<F, Fut> Work for WithContext<F>
where
    F: FnOnce(JobContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Output = Fut::Output;
    type Future = Fut;

    fn start(self, cx: JobContext) -> Fut {
        (self.0)(cx)
    }
}

impl<F> fmt::Debug for WithContext<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithContext").finish_non_exhaustive()
    }
}

/// Work whose `Err` outputs count as failures; see [`fallible`].
///
/// # Examples
///
/// ```
/// use weir_pool::{Fallible, Work, fallible};
///
/// fn check<W: Work>(_: &W, output: &W::Output) -> bool {
///     W::is_failure(output)
/// }
/// let work: Fallible<_> = fallible(async { Ok::<u8, ()>(1) });
/// assert!(check(&work, &Err(())));
/// assert!(!check(&work, &Ok(1)));
/// ```
#[derive(Clone)]
pub struct Fallible<W>(W);

/// Counts the work's `Err` outputs as `failed` rather than `completed` in the
/// pool's counters and reports. The handle still resolves to the `Result`.
///
/// # Examples
///
/// ```
/// use weir_pool::{Pool, fallible};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let handle = pool.submit(fallible(async { Err::<(), _>("nope") })).await.unwrap();
/// assert_eq!(handle.await.unwrap(), Err("nope"));
/// assert_eq!(pool.stats().failed, 1);
/// # }
/// ```
pub fn fallible<W, T, E>(work: W) -> Fallible<W>
where
    W: Work<Output = Result<T, E>>,
    T: Send + 'static,
    E: Send + 'static,
{
    Fallible(work)
}

impl<W, T, E> Work for Fallible<W>
where
    W: Work<Output = Result<T, E>>,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = W::Output;
    type Future = W::Future;

    const NEEDS_TOKEN: bool = W::NEEDS_TOKEN;

    fn start(self, cx: JobContext) -> W::Future {
        self.0.start(cx)
    }

    fn weight(&self) -> usize {
        self.0.weight()
    }

    fn timeout(&self) -> RunTimeout {
        self.0.timeout()
    }

    fn class(&self) -> Option<ClassId> {
        self.0.class()
    }

    fn is_failure(output: &W::Output) -> bool {
        output.is_err()
    }
}

impl<W> fmt::Debug for Fallible<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallible").finish_non_exhaustive()
    }
}

/// A job's identity within its pool: submission order, starting at 0.
///
/// # Examples
///
/// ```
/// use weir_pool::Pool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let a = pool.submit(async {}).await.unwrap();
/// let b = pool.submit(async {}).await.unwrap();
/// assert!(a.id() < b.id());
/// assert_eq!(a.id().as_u64(), 0);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub(crate) u64);

impl JobId {
    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let handle = pool.submit(async {}).await.unwrap();
    /// assert_eq!(handle.id().as_u64(), 0);
    /// # }
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What a job started with [`with_context`] receives: its id, weight and a
/// [`CancellationToken`].
///
/// The token is a child of the pool's token. It is cancelled when
/// - the job's handle calls [`cancel`](crate::JobHandle::cancel), or the job times
///   out (the job's future is dropped at the same moment; the token tells tasks it
///   spawned), or
/// - the pool's [`close`](crate::Pool::close) deadline passes: the job then has the
///   pool's close grace to return on its own before it is dropped.
///
/// # Examples
///
/// ```
/// use weir_pool::{Pool, with_context};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).budget(3).build().unwrap();
/// let job = weir_pool::Job::new(with_context(|cx| async move { cx.weight() })).weight(3);
/// assert_eq!(pool.submit(job).await.unwrap().await.unwrap(), 3);
/// # }
/// ```
#[derive(Clone)]
pub struct JobContext {
    id: JobId,
    weight: usize,
    token: Option<CancellationToken>,
}

impl JobContext {
    pub(crate) fn new(id: JobId, weight: usize, token: Option<CancellationToken>) -> Self {
        Self { id, weight, token }
    }

    /// The job's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::{Pool, with_context};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let h = pool.submit(with_context(|cx| async move { cx.id() })).await.unwrap();
    /// let id = h.id();
    /// assert_eq!(h.await.unwrap(), id);
    /// # }
    /// ```
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The weight the job holds.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::{Pool, with_context};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let h = pool.submit(with_context(|cx| async move { cx.weight() })).await.unwrap();
    /// assert_eq!(h.await.unwrap(), 1);
    /// # }
    /// ```
    pub fn weight(&self) -> usize {
        self.weight
    }

    /// The job's cancellation token (see the type docs for when it fires).
    ///
    /// # Panics
    ///
    /// Panics if the job's [`Work`] impl set [`Work::NEEDS_TOKEN`] to `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::{Pool, with_context};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let h = pool
    ///     .submit(with_context(|cx| async move { cx.token().is_cancelled() }))
    ///     .await
    ///     .unwrap();
    /// assert!(!h.await.unwrap());
    /// # }
    /// ```
    #[track_caller]
    pub fn token(&self) -> &CancellationToken {
        self.token
            .as_ref()
            .expect("JobContext::token called by a Work impl with NEEDS_TOKEN = false")
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.id)
            .field("weight", &self.weight)
            .field("cancelled", &self.token.as_ref().map(|t| t.is_cancelled()))
            .finish()
    }
}
