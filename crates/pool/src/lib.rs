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
//! in the same step. A worker takes the oldest job, frees its slot, and waits
//! (FIFO across workers) for the job's weight from the budget. A job therefore
//! counts as *queued* from acceptance until it starts, and *running* while it
//! holds its weight. Jobs get their weight in order: a heavy job at the head holds
//! back lighter ones taken after it (head-of-line blocking), which is what keeps it
//! from starving. A job that is cancelled while queued leaves the queue at once.
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
//! - **Priorities or per-tenant fairness:** the queue and the budget are strictly
//!   FIFO. Use one pool per class.
//! - **Outside Tokio:** the pool spawns Tokio tasks and uses Tokio time.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod builder;
mod close;
mod error;
mod handle;
mod job;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod observer;
mod pool;
mod queue;
mod shared;
mod stats;
mod task;
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
pub use stats::Stats;
