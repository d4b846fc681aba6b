//! [`Builder`]: validated pool configuration.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;
use weir_core::{LimitAlgorithm, Semaphore, Watermark};

use crate::{
    adaptive::Adaptive,
    close::CloseState,
    error::ConfigError,
    observer::Observer,
    pool::Pool,
    queue::Queue,
    sched::ClassSpec,
    shared::{Shared, Signal, Workers},
    stats::Counters,
};

/// What [`Pool::try_submit`] does when the queue is full.
///
/// Blocking submission ([`Pool::submit`] and friends) always waits for room; the
/// policy applies only to `try_submit`.
///
/// # Examples
///
/// ```
/// use weir_pool::{JobError, Overflow, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder()
///     .workers(1)
///     .queue_capacity(1)
///     .overflow(Overflow::EvictOldest)
///     .build()
///     .unwrap();
/// let old = pool.try_submit(async { "old" }).unwrap();
/// let new = pool.try_submit(async { "new" }).unwrap(); // evicts `old`
/// assert!(matches!(old.await, Err(JobError::Dropped)));
/// assert_eq!(new.await.unwrap(), "new");
/// assert_eq!(pool.stats().evicted, 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Refuse the incoming job: `try_submit` returns
    /// [`TrySubmitError::Full`](crate::TrySubmitError::Full) with it.
    #[default]
    RejectNewest,
    /// Drop the oldest queued job to make room: its handle resolves to
    /// [`JobError::Dropped`](crate::JobError::Dropped) and it is counted in `dropped`
    /// and `evicted`. If every slot is held by a job in transit (none is queued to
    /// evict), the incoming job is refused as `Full`.
    EvictOldest,
}

/// Configures and builds a [`Pool`]. Every setting is validated by
/// [`build`](Self::build).
///
/// | Setting | Default | Valid |
/// |---|---|---|
/// | [`workers`](Self::workers) | available parallelism | 1..=[`MAX_WORKERS`](Self::MAX_WORKERS) |
/// | [`budget`](Self::budget) | the worker count | 1..=`Semaphore::MAX_PERMITS` |
/// | [`queue_capacity`](Self::queue_capacity) | [`DEFAULT_QUEUE_CAPACITY`](Self::DEFAULT_QUEUE_CAPACITY) | 1..=`Semaphore::MAX_PERMITS` |
/// | [`key_capacity`](Self::key_capacity) | the queue capacity | 1..=`Semaphore::MAX_PERMITS` |
/// | [`class`](Self::class) | one class, `"default"`, reserving nothing | reservations add up to at most the budget |
/// | [`default_class`](Self::default_class) | the last declared class | a declared class |
/// | [`overflow`](Self::overflow) | [`Overflow::RejectNewest`] | |
/// | [`run_timeout`](Self::run_timeout) | none | > 0 |
/// | [`close_grace`](Self::close_grace) | [`DEFAULT_CLOSE_GRACE`](Self::DEFAULT_CLOSE_GRACE) | any |
/// | [`observer`](Self::observer) | none | |
/// | [`adaptive`](Self::adaptive) | none (a fixed budget) | |
/// | [`shed_watermark`](Self::shed_watermark) | none (no shedding) | `low < high` |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_pool::{ConfigError, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder()
///     .workers(4)
///     .budget(8)
///     .queue_capacity(100)
///     .run_timeout(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// assert_eq!(pool.stats().budget, 8);
///
/// let err = Pool::builder().run_timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err, ConfigError::ZeroDuration { field: "run_timeout" });
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    workers: Option<usize>,
    budget: Option<usize>,
    queue_capacity: usize,
    overflow: Overflow,
    run_timeout: Option<Duration>,
    close_grace: Duration,
    observer: Option<Arc<dyn Observer>>,
    key_capacity: Option<usize>,
    classes: Vec<ClassSpec>,
    default_class: Option<&'static str>,
    /// In a mutex only so the builder stays `Sync`.
    adaptive: Option<Mutex<Box<dyn LimitAlgorithm>>>,
    shed: Option<(usize, usize)>,
}

impl Builder {
    /// The largest worker count.
    pub const MAX_WORKERS: usize = 1 << 16;
    /// The queue capacity unless set.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
    /// How long [`Pool::close`] lets jobs stop on their own after cancelling their
    /// tokens at the deadline, before dropping them, unless set.
    pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_millis(100);

    /// A builder with the defaults in the table above.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Builder::new().build().unwrap();
    /// assert_eq!(pool.stats().queue_capacity, weir_pool::Builder::DEFAULT_QUEUE_CAPACITY);
    /// # }
    /// ```
    pub fn new() -> Self {
        Self {
            workers: None,
            budget: None,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            overflow: Overflow::default(),
            run_timeout: None,
            close_grace: Self::DEFAULT_CLOSE_GRACE,
            observer: None,
            key_capacity: None,
            classes: Vec::new(),
            default_class: None,
            adaptive: None,
            shed: None,
        }
    }

    /// The number of worker tasks, each running one job at a time.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(3).build().unwrap();
    /// assert_eq!(pool.stats().workers, 3);
    /// # }
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The weight budget: the total weight of jobs that may run at once. Each job
    /// holds its [weight](crate::Work::weight) while it runs. With the default
    /// weight of 1 and a budget equal to the worker count, this is a plain
    /// concurrency limit.
    ///
    /// Jobs get their weight in strict FIFO order: a heavy job at the head waits
    /// until enough weight is free, and lighter jobs taken after it wait behind it
    /// even when they would fit (head-of-line blocking). That is what keeps heavy
    /// jobs from starving. If you need light jobs to overtake, use a pool per class.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(2).budget(10).build().unwrap();
    /// assert_eq!(pool.stats().budget, 10);
    /// # }
    /// ```
    pub fn budget(mut self, budget: usize) -> Self {
        self.budget = Some(budget);
        self
    }

    /// How many accepted jobs may wait to start. [`Pool::submit`] waits for room;
    /// [`Pool::try_submit`] applies the [`overflow`](Self::overflow) policy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().queue_capacity(16).build().unwrap();
    /// assert_eq!(pool.stats().queue_capacity, 16);
    /// # }
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// How many accepted jobs each key (tenant) may have waiting to start, in
    /// [`Pool::submit_for`] and its forms. Each key has its own queue of this
    /// capacity: a key whose queue is full makes only its own submitters wait (or
    /// be refused), never another key's. Defaults to the
    /// [`queue_capacity`](Self::queue_capacity).
    ///
    /// Keys are not bounded in number, so the keyed jobs queued at once are bounded
    /// by `key_capacity` times the number of busy keys; bound the keys yourself
    /// (e.g. authenticate tenants before submitting for them) if that matters.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).key_capacity(1).build().unwrap();
    /// let _running = pool.try_submit_for("a", std::future::pending::<()>()).unwrap();
    /// tokio::task::yield_now().await; // the worker takes it: "a"'s queue is empty again
    /// pool.try_submit_for("a", async {}).unwrap();
    /// assert!(pool.try_submit_for("a", async {}).unwrap_err().is_full());
    /// pool.try_submit_for("b", async {}).unwrap(); // "b" has its own room
    /// # }
    /// ```
    pub fn key_capacity(mut self, capacity: usize) -> Self {
        self.key_capacity = Some(capacity);
        self
    }

    /// Declares a priority class, reserving `reserved` units of the budget for it.
    /// Classes declared earlier have higher priority. A job goes to the class it
    /// names ([`Job::class`](crate::Job::class), with the id from
    /// [`Pool::class`]) or to the [default class](Self::default_class). Without
    /// any declaration the pool has one class, `"default"`, reserving nothing,
    /// and behaves as a plain FIFO-fair pool.
    ///
    /// # Semantics
    ///
    /// Let `free` be the budget not held by running jobs. A class is **owed**
    /// `reserved - (weight of its running jobs)` (at least 0) while it has jobs
    /// queued, and nothing while it has none. Whenever a worker looks for work:
    ///
    /// 1. Each class with queued jobs offers one candidate: the next job of its
    ///    keys' deficit round robin (see [`Pool::submit_for`]).
    /// 2. Classes are tried in priority order. A candidate of weight `w` in class
    ///    `C` starts if `w <= free - (what the other classes are owed)`.
    /// 3. Once a class's candidate does not fit, each later class may start a
    ///    candidate only within what it is owed itself: the rest of the free budget
    ///    is held for the higher class, so its heavy jobs are not starved by
    ///    lighter ones below it.
    ///
    /// What follows:
    ///
    /// - **The global budget is never exceeded**: a job starts only with its weight
    ///   taken from it.
    /// - **Reserved shares are honoured**: while class `C` has jobs queued, no other
    ///   class starts a job that would leave less than `C` is owed free. `C` always
    ///   gets up to its reservation, whatever the other classes submit.
    /// - **Work-conserving**: a class with nothing queued is owed nothing, so its
    ///   reservation is lent to the others, who may fill the whole budget.
    /// - **Returned as soon as the owner needs it**: running jobs are never
    ///   preempted, but from the moment the owner has a job queued, every unit that
    ///   borrowers' jobs give back goes to the owner first, until it holds its
    ///   reservation. Its wait is at most the time for enough borrowed weight to
    ///   finish.
    /// - **Priority above the reservations**: the unreserved budget goes to the
    ///   highest class with work queued. A low class with no reservation can starve
    ///   while higher classes keep the budget full: give it a reservation if it must
    ///   progress.
    /// - A class-`C` job may weigh at most the budget minus the other classes'
    ///   reservations; heavier jobs are refused as `TooHeavy`.
    ///
    /// Build fails if the reservations add up to more than the budget
    /// ([`ConfigError::OverReserved`]) or a name is declared twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Job, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder()
    ///     .workers(10)
    ///     .budget(10)
    ///     .class("critical", 3) // always gets 3 when it needs them
    ///     .class("normal", 0)
    ///     .class("batch", 1) // never starves completely
    ///     .default_class("normal")
    ///     .build()
    ///     .unwrap();
    /// let batch = pool.class("batch").unwrap();
    /// let report = pool.submit(Job::new(async { 1 }).class(batch)).await.unwrap();
    /// assert_eq!(report.await.unwrap(), 1);
    /// // A normal job may use the budget less the others' reservations.
    /// assert!(pool.try_submit(Job::new(async {}).weight(7)).is_err());
    /// assert!(pool.try_submit(Job::new(async {}).weight(6)).is_ok());
    /// # }
    /// ```
    pub fn class(mut self, name: &'static str, reserved: usize) -> Self {
        self.classes.push(ClassSpec { name, reserved });
        self
    }

    /// The class of jobs that name none (including every unkeyed submission that
    /// does not set [`Job::class`](crate::Job::class)). Defaults to the last
    /// declared class.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder()
    ///     .class("high", 0)
    ///     .class("low", 0)
    ///     .default_class("high")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.default_class().name(), "high");
    /// # }
    /// ```
    pub fn default_class(mut self, name: &'static str) -> Self {
        self.default_class = Some(name);
        self
    }

    /// What `try_submit` does when the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Overflow, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().overflow(Overflow::EvictOldest).build();
    /// assert!(pool.is_ok());
    /// # }
    /// ```
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The default run timeout, for jobs that do not set their own (see
    /// [`Job::timeout`](crate::Job::timeout)). Measured from the moment a job
    /// starts; waiting in the queue does not count.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_pool::{JobError, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().run_timeout(Duration::from_secs(1)).build().unwrap();
    /// let slow = pool.submit(std::future::pending::<()>()).await.unwrap();
    /// assert!(matches!(slow.await, Err(JobError::TimedOut)));
    /// # }
    /// ```
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = Some(timeout);
        self
    }

    /// How long [`Pool::close`] waits, after its deadline has passed and it has
    /// cancelled the jobs' tokens, for running jobs to return on their own before
    /// dropping them. Zero drops them at the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().close_grace(Duration::from_secs(2)).build();
    /// assert!(pool.is_ok());
    /// # }
    /// ```
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Receives every job's lifecycle events.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Observer, Pool, Refused};
    ///
    /// struct LogRefusals;
    /// impl Observer for LogRefusals {
    ///     fn on_refuse(&self, event: &Refused) {
    ///         eprintln!("refused: {}", event.reason.as_str());
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().observer(LogRefusals).build();
    /// assert!(pool.is_ok());
    /// # }
    /// ```
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Drives the budget from a [`LimitAlgorithm`] (weir-core's
    /// [`Aimd`](weir_core::adaptive::Aimd), [`Vegas`](weir_core::adaptive::Vegas),
    /// [`Gradient`](weir_core::adaptive::Gradient),
    /// [`Windowed`](weir_core::adaptive::Windowed), or your own), fed by the jobs
    /// the pool runs.
    ///
    /// # Samples
    ///
    /// Every job that ends after starting is one sample: its latency is its run
    /// time (queue wait excluded), its in-flight count the weight running just
    /// after it took its own (itself included), and its outcome:
    ///
    /// | Job outcome | Sample |
    /// |---|---|
    /// | completed | [`Success`](weir_core::Outcome::Success) |
    /// | timed out (its [run timeout](Self::run_timeout)) | [`Overload`](weir_core::Outcome::Overload) |
    /// | failed ([`Work::is_failure`](crate::Work::is_failure)) | none (ignored) |
    /// | panicked, cancelled | none (ignored) |
    ///
    /// A failure is ignored because the pool cannot tell a job's own error (bad
    /// input, a 404) from push-back; a job that runs past its timeout is the pool's
    /// signal of overload. To make other errors count, give the jobs a run timeout
    /// and let overloaded calls run into it. Jobs dropped before they start feed
    /// nothing.
    ///
    /// # Bounds
    ///
    /// The pool starts at the [`budget`](Self::budget), which is also the
    /// **ceiling**: the algorithm's limit is clamped to
    /// `max(1, total reserved)..=budget`, where the floor is the
    /// [classes](Self::class)' total reservation (so every class can always have
    /// its reservation) and at least 1. Give the algorithm the same initial limit
    /// as the budget for a smooth start; otherwise the budget moves to the
    /// algorithm's (clamped) limit at the first sample. Give it the budget as its
    /// maximum too: the clamp does not feed back into the algorithm, so one allowed
    /// above the ceiling can climb there unseen and then take longer to come down.
    /// [`Pool::set_budget`] moves
    /// the ceiling. [`Pool::limit`] shows the limit, the algorithm's own limit and
    /// the bounds; [`Stats::budget`](crate::Stats::budget) is the current limit.
    ///
    /// A change is applied like `set_budget`: raising the limit wakes a worker
    /// waiting for budget; lowering it never preempts running jobs. The algorithm
    /// runs under a lock once per sampled job; a pool without an algorithm does
    /// no extra work per job. [`Pool::close`] is unaffected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::adaptive::Aimd;
    /// use weir_pool::{JobError, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let aimd = Aimd::builder().initial_limit(10).build().unwrap();
    /// let pool = Pool::builder()
    ///     .workers(10)
    ///     .budget(10)
    ///     .run_timeout(Duration::from_secs(1))
    ///     .adaptive(aimd)
    ///     .build()
    ///     .unwrap();
    /// let slow = pool.submit(std::future::pending::<()>()).await.unwrap();
    /// assert!(matches!(slow.await, Err(JobError::TimedOut)));
    /// assert_eq!(pool.stats().budget, 9); // AIMD backs off: ⌊10 × 0.9⌋
    /// assert_eq!(pool.limit().unwrap().overloads, 1);
    /// # }
    /// ```
    pub fn adaptive<A: LimitAlgorithm + 'static>(mut self, algorithm: A) -> Self {
        self.adaptive = Some(Mutex::new(Box::new(algorithm)));
        self
    }

    /// Sheds submissions while the queue is deep: once the number of queued jobs
    /// (all of them: unkeyed and every key's, of every class) is at or above
    /// `high`, every submission is refused with
    /// [`RefuseReason::Shed`](crate::RefuseReason::Shed) until the queued count
    /// has fallen to `low` or below (hysteresis, by weir-core's [`Watermark`]).
    ///
    /// It applies to every form, unkeyed and keyed: [`Pool::try_submit`],
    /// [`Pool::submit`], `submit_timeout`, `submit_cancellable` and their `_for`
    /// forms. The depth is checked once, when the submission is made (after the
    /// `TooHeavy` check, before any wait for room); a submitter already waiting
    /// for room is not shed. A shed job comes back in the error's `Shed` variant
    /// ([`TrySubmitError::Shed`](crate::TrySubmitError::Shed) and the like), is
    /// counted in [`Stats::refused_shed`](crate::Stats::refused_shed) and reported
    /// to the [observer](Self::observer). `high` above the queue capacity never
    /// sheds unkeyed-only traffic (the queue fills first).
    ///
    /// Build fails with [`ConfigError::Watermark`] unless `low < high`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{ConfigError, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).shed_watermark(2, 1).build().unwrap();
    /// let a = pool.try_submit(async {}).unwrap();
    /// let _b = pool.try_submit(async {}).unwrap();
    /// let shed = pool.try_submit(async { 3 }).unwrap_err(); // 2 queued: shedding
    /// assert!(shed.is_shed());
    /// assert_eq!(shed.into_inner().await, 3);
    /// a.await.unwrap(); // the worker took both: 0 queued
    /// assert!(pool.try_submit(async {}).is_ok());
    /// assert_eq!(pool.stats().refused_shed, 1);
    ///
    /// let err = Pool::builder().shed_watermark(4, 4).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Watermark { field: "shed_watermark", high: 4, low: 4 });
    /// # }
    /// ```
    pub fn shed_watermark(mut self, high: usize, low: usize) -> Self {
        self.shed = Some((high, low));
        self
    }

    /// Validates the settings and starts the pool's workers on the current Tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first invalid setting and its value.
    ///
    /// # Panics
    ///
    /// Panics if called outside a Tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{ConfigError, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(
    ///     Pool::builder().budget(0).build().unwrap_err(),
    ///     ConfigError::Zero { field: "budget" },
    /// );
    /// assert_eq!(
    ///     Pool::builder().workers(1 << 20).build().unwrap_err(),
    ///     ConfigError::TooLarge { field: "workers", value: 1 << 20, max: 1 << 16 },
    /// );
    /// # }
    /// ```
    #[track_caller]
    pub fn build(self) -> Result<Pool, ConfigError> {
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        validate_count("workers", workers, Self::MAX_WORKERS)?;
        let budget = self.budget.unwrap_or(workers);
        validate_count("budget", budget, Semaphore::MAX_PERMITS)?;
        validate_count(
            "queue_capacity",
            self.queue_capacity,
            Semaphore::MAX_PERMITS,
        )?;
        if self.run_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroDuration {
                field: "run_timeout",
            });
        }
        let key_capacity = self.key_capacity.unwrap_or(self.queue_capacity);
        validate_count("key_capacity", key_capacity, Semaphore::MAX_PERMITS)?;
        let mut classes = self.classes;
        if classes.is_empty() {
            classes.push(ClassSpec {
                name: "default",
                reserved: 0,
            });
        }
        for (i, spec) in classes.iter().enumerate() {
            if classes[..i].iter().any(|other| other.name == spec.name) {
                return Err(ConfigError::Class {
                    field: "class",
                    name: spec.name,
                    problem: "is declared twice",
                });
            }
        }
        let reserved = classes
            .iter()
            .try_fold(0_usize, |sum, spec| sum.checked_add(spec.reserved))
            .unwrap_or(usize::MAX);
        if reserved > budget {
            return Err(ConfigError::OverReserved {
                field: "class",
                reserved,
                budget,
            });
        }
        let default_class = match self.default_class {
            None => classes.len() - 1,
            Some(name) => {
                classes
                    .iter()
                    .position(|spec| spec.name == name)
                    .ok_or(ConfigError::Class {
                        field: "default_class",
                        name,
                        problem: "is not declared",
                    })?
            }
        };
        let shed = match self.shed {
            None => None,
            Some((high, low)) => {
                Some(
                    Watermark::new(high, low).map_err(|_| ConfigError::Watermark {
                        field: "shed_watermark",
                        high,
                        low,
                    })?,
                )
            }
        };
        let adaptive = self.adaptive.map(|algorithm| {
            let algorithm = algorithm
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            Adaptive::new(algorithm, reserved.max(1), budget)
        });
        let runtime = Handle::try_current().unwrap_or_else(|_| {
            panic!("weir_pool::Builder::build must be called inside a Tokio runtime")
        });
        let shared = Arc::new(Shared {
            queue: Queue::new(self.queue_capacity, &classes, key_capacity),
            budget: Semaphore::new(budget),
            counters: Counters::default(),
            token: Signal::new(),
            abort: Signal::new(),
            tracker: TaskTracker::new(),
            runtime,
            workers: Workers::new(0),
            run_timeout: self.run_timeout,
            overflow: self.overflow,
            close_grace: self.close_grace,
            observer: self.observer,
            close: CloseState::new(),
            classes,
            reserved,
            default_class,
            adaptive,
            shed,
        });
        shared.set_workers(workers);
        Ok(Pool::from_shared(shared))
    }
}

/// Checks a count setting: at least 1, at most `max`.
pub(crate) fn validate_count(
    field: &'static str,
    value: usize,
    max: usize,
) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::Zero { field })
    } else if value > max {
        Err(ConfigError::TooLarge { field, value, max })
    } else {
        Ok(())
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("budget", &self.budget)
            .field("queue_capacity", &self.queue_capacity)
            .field("overflow", &self.overflow)
            .field("run_timeout", &self.run_timeout)
            .field("close_grace", &self.close_grace)
            .field("observer", &self.observer.is_some())
            .field("key_capacity", &self.key_capacity)
            .field("classes", &self.classes)
            .field("default_class", &self.default_class)
            .field("adaptive", &self.adaptive)
            .field("shed_watermark", &self.shed)
            .finish()
    }
}
