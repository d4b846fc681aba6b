//! weir-core: the async primitives weir's flow control is built from.
//!
//! - [`Semaphore`]: weighted (`usize`), strictly FIFO-fair, with a **ceiling you can
//!   move while tasks wait**, a drain future and a clean close.
//! - [`Latch`]: the same engine without guards, for in-flight counting where the
//!   release happens in a callback (increment before work, decrement on ack).
//!
//! Both queue on one intrusive waiter list: a waiting future carries its own queue
//! node, so waiting allocates nothing, and all of weir's `unsafe` code lives in that
//! one private module, proven with loom and miri.
//!
//! # The model
//!
//! - **Ceiling and in-use.** A semaphore has a capacity (its ceiling) and counts the
//!   permits in use. `available = capacity - in_use` while in-use is below the ceiling.
//! - **Debt.** [`Semaphore::set_capacity`] may lower the ceiling below what is in use.
//!   Nothing is preempted: the excess is debt, every release repays it first, and no
//!   new permit is granted until in-use is below the new ceiling.
//! - **FIFO.** Freed permits go to the oldest waiter that fits under the ceiling;
//!   `try_acquire` never barges past it. A large request at the head holds back
//!   smaller ones behind it (head-of-line blocking) — that is what stops it starving.
//!   A request above the current ceiling waits aside in its place and blocks no one.
//! - **Close.** [`Semaphore::close`] fails every waiter and every later acquire; held
//!   permits stay valid.
//! - **Drain.** [`Semaphore::wait_idle`] resolves when nothing is held; `close()` then
//!   `wait_idle().await` is a deterministic shutdown.
//! - **Cancellation.** Dropping any future at any point gives back everything it owns:
//!   its queue place, and any permits granted to it but not yet returned.
//! - **Cooperative scheduling.** An acquire spends tokio's task budget only once it
//!   has its permits. A task out of budget keeps them (and its FIFO turn) and yields,
//!   rather than being bumped to the back of the queue (tokio#8365).
//!
//! ```
//! use std::sync::Arc;
//! use weir_core::Semaphore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sem = Arc::new(Semaphore::new(4));
//! let mut tasks = Vec::new();
//! for _ in 0..10 {
//!     let permit = sem.clone().acquire_owned().await.unwrap();
//!     assert!(sem.in_use() <= sem.capacity());
//!     tasks.push(tokio::spawn(async move {
//!         tokio::task::yield_now().await;
//!         drop(permit);
//!     }));
//! }
//! sem.close();
//! sem.wait_idle().await;
//! assert_eq!(sem.in_use(), 0);
//! # }
//! ```
//!
//! # When not to use weir-core
//!
//! - You need a mutex or a channel: use `tokio::sync`. A semaphore of one permit is a
//!   poor mutex.
//! - You want small requests to overtake large ones, or priorities: weir's queue is
//!   strictly FIFO by design. Use one semaphore per class.
//! - You are outside tokio or in `no_std`: weir-core is tokio-native (it takes part in
//!   tokio's cooperative budget) and uses `std` locks. `async-lock` is
//!   runtime-agnostic.
//! - You only need a fixed limit with no resizing, drain or metrics:
//!   `tokio::sync::Semaphore` does that and is already in your tree.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adaptive;
mod config;
pub mod rate;
mod watermark;

mod acquire;
mod error;
mod latch;
mod ledger;
mod permit;
mod semaphore;
mod sync;
mod wait_idle;
mod waiter_list;
mod wake_list;

#[cfg(all(test, loom))]
mod loom_rate;
#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(test)]
mod tests;

pub use acquire::{Acquire, AcquireOwned};
pub use error::{AcquireError, DecrementError, TryAcquireError};
pub use latch::{Increment, Latch};
pub use permit::{OwnedPermit, Permit};
pub use semaphore::Semaphore;
pub use wait_idle::WaitIdle;

pub use adaptive::{AdaptiveLimiter, LimitAlgorithm, Outcome, Sample};
pub use config::ConfigError;
pub use rate::{KeyedRateLimiter, Quota, RateLimiter};
pub use watermark::{Watermark, WatermarkSnapshot};
