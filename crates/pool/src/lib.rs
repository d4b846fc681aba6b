//! weir-pool: a bounded async worker pool for Tokio.
//!
//! A [`Pool`] runs async jobs on N worker tasks, with a bounded queue in front and a
//! weighted concurrency budget (a [`weir_core::Semaphore`], so it can be resized
//! and drained). It is the bounded `JoinSet` people keep rebuilding, plus the parts
//! a production pool needs:
//!
//! - **Backpressure you choose per call:** [`submit`](Pool::submit) waits for queue
//!   room (taking the slot and enqueueing in one step, so no slot is ever reserved
//!   and left unused), [`try_submit`](Pool::try_submit) never waits,
//!   [`submit_timeout`](Pool::submit_timeout) and
//!   [`submit_cancellable`](Pool::submit_cancellable) wait within limits. A refused
//!   job always comes back inside the error.
//! - **Typed outcomes:** every accepted job gives a [`JobHandle`] that resolves to
//!   its output or to a [`JobError`] (panicked, timed out, cancelled, dropped).
//!   Dropping a handle detaches the job; [`JobHandle::cancel`] stops it, and a
//!   queued job that is cancelled never starts.
//! - **Weights and timeouts per job** ([`Job`]), separate from the admission wait.
//! - **Cooperative cancellation:** jobs built with [`with_context`] get a
//!   [`JobContext`] carrying a `CancellationToken`.
//! - **Overflow policy** for `try_submit`: refuse the newest job or evict the
//!   oldest ([`Overflow`]).
//! - **Panic isolation:** a panicking job resolves its handle with the panic; the
//!   worker carries on.
//! - **Resize at runtime:** workers, budget and queue capacity.
//! - **[`close(deadline)`](Pool::close)** stops admission at once, drains until the
//!   deadline, then cancels, waits a grace period, drops what is left, and returns a
//!   [`CloseReport`] of what happened to every job.
//! - **Counters that add up** ([`Stats`]) and an [`Observer`] for lifecycle events;
//!   each job runs in its own `tracing` span.
//! - **Fair multi-tenant scheduling:** [`submit_for(key, job)`](Pool::submit_for)
//!   gives each key (tenant) its own bounded queue, and workers serve the keys by
//!   deficit round robin in job weight, with optional [shares](Pool::set_share);
//!   a flooding key fills only its own queue. Idle keys cost nothing.
//! - **Priority classes on one budget:** [classes](Builder::class) with reserved
//!   shares of the budget that other classes cannot take, lent out while unused,
//!   never exceeding the budget.
//!
//! ```
//! use tokio::time::{Duration, Instant};
//! use weir_pool::{Job, JobError, Pool, with_context};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let pool = Pool::builder()
//!     .workers(4)
//!     .budget(4)
//!     .queue_capacity(100)
//!     .build()
//!     .unwrap();
//!
//! let quick = pool.submit(async { 1 + 1 }).await.unwrap();
//! let heavy = pool.submit(Job::new(async { "big" }).weight(3)).await.unwrap();
//! let slow = pool
//!     .submit(Job::new(tokio::time::sleep(Duration::from_secs(10))).timeout(Duration::from_secs(1)))
//!     .await
//!     .unwrap();
//! let polite = pool
//!     .submit(with_context(|cx| async move {
//!         cx.token().cancelled().await; // stops when the pool closes
//!     }))
//!     .await
//!     .unwrap();
//!
//! assert_eq!(quick.await.unwrap(), 2);
//! assert_eq!(heavy.await.unwrap(), "big");
//! assert!(matches!(slow.await, Err(JobError::TimedOut)));
//!
//! let report = pool.close(Instant::now() + Duration::from_secs(5)).await;
//! assert!(report.deadline_passed);
//! assert_eq!(report.completed, 1); // `polite` returned when its token fired
//! polite.await.unwrap();
//!
//! let stats = report.stats;
//! assert_eq!((stats.completed, stats.timed_out), (3, 1));
//! assert_eq!(stats.submitted, stats.finished() + stats.queued + stats.running);
//! # }
//! ```
//!
//! See `examples/pool.rs` in the repository for a longer tour.
//!
//! # How a job moves
//!
//! `submit` takes a queue slot (FIFO among waiting submitters) and enqueues the job
//! in the same step; `submit_for` does the same in its key's queue. A worker takes
//! the next job together with its weight from the budget: the scheduler picks the
//! class (by priority and reservations, see [`Builder::class`]), then the key
//! within it (deficit round robin, see [`Pool::submit_for`]), then that key's
//! oldest job. If that job's weight is not free, workers wait for it rather than
//! start something else of the class: a heavy job at the head holds back lighter
//! ones after it (head-of-line blocking), which is what keeps it from starving. A
//! job therefore counts as *queued* from acceptance until it starts, and *running*
//! while it holds its weight. A job that is cancelled while queued leaves the
//! queue at once. Without keys and classes, this is a plain FIFO pool.
//!
//! # Tenants
//!
//! ```
//! use tokio::time::{Duration, Instant};
//! use weir_pool::Pool;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let pool = Pool::builder().workers(2).key_capacity(8).build().unwrap();
//! pool.set_share("premium", 2); // twice the throughput while backlogged
//! let mut noisy = 0;
//! while pool.try_submit_for("noisy", tokio::time::sleep(Duration::from_millis(10))).is_ok() {
//!     noisy += 1;
//! }
//! assert_eq!(noisy, 8); // its own queue is full: only its jobs are refused
//! let quiet = pool.submit_for("quiet", async { "served" }).await.unwrap();
//! assert_eq!(quiet.await.unwrap(), "served"); // ahead of noisy's backlog
//! assert_eq!(pool.key_stats(&"noisy").unwrap().queued, 6);
//! let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
//! assert_eq!((report.stats.completed, report.stats.keys), (9, 0));
//! # }
//! ```
//!
//! See `examples/tenants.rs` for one tenant flooding a pool while the others
//! keep their latency.
//!
//! # When not to use weir-pool
//!
//! - **CPU-bound or blocking work.** Jobs run on the async runtime's threads; a
//!   job that blocks stalls a runtime thread and cannot be cancelled or timed out.
//!   Use `tokio::task::spawn_blocking` or a thread pool such as rayon.
//! - **You just need "at most N at once" for futures you await yourself.** A
//!   `Semaphore` permit around the future, or `futures::StreamExt::buffer_unordered`,
//!   is simpler and has no queue or worker tasks.
//! - **Fire-and-forget tasks with no bound**: `tokio::spawn` or tokio-util's
//!   `TaskTracker`.
//! - **Strict isolation:** classes share workers and one budget; a reservation
//!   guarantees budget, not workers, and a class's running jobs are never
//!   preempted. If a tenant must never wait for another's running jobs, give it
//!   its own pool.
//! - **Outside Tokio:** the pool spawns Tokio tasks and uses Tokio time.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod adaptive;
mod builder;
mod close;
mod error;
mod handle;
mod hosted;
mod job;
mod keyed;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod observer;
mod pool;
mod queue;
mod sched;
mod shared;
mod stats;
mod task;
mod tenant;
mod worker;

pub use builder::{Builder, Overflow};
pub use close::{Close, CloseReport};
pub use error::{
    ConfigError, SubmitCancelledError, SubmitError, SubmitTimeoutError, TrySubmitError,
};
pub use handle::{JobError, JobHandle, Panic};
pub use job::{
    Fallible, Job, JobContext, JobId, RunTimeout, WithContext, Work, fallible, with_context,
};
pub use observer::{
    DropReason, Dropped, Finished, Observer, Outcome, RefuseReason, Refused, Started, Submitted,
};
pub use pool::Pool;
pub use stats::{LimitStats, Stats};
pub use tenant::{ClassId, KeyStats};
