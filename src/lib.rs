//! weir: flow control (backpressure) for Tokio services.
//!
//! This is the facade crate; it re-exports the weir crates so a service depends on
//! one name.
//!
//! - [`core`]: a FIFO-fair weighted [`Semaphore`] whose ceiling moves at runtime,
//!   with drain and close, and a [`Latch`] for callback-style in-flight counting.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sem = weir::Semaphore::new(2);
//! let permit = sem.acquire().await.unwrap();
//! assert_eq!(sem.available(), 1);
//! drop(permit);
//! # }
//! ```
//!
//! # When not to use weir
//!
//! If a fixed `tokio::sync::Semaphore` or a bounded `tokio::sync::mpsc` channel already
//! bounds your work and you need neither a movable ceiling, nor drain-and-report
//! shutdown, nor shedding, those are simpler and already in your tree.

#![doc(test(attr(deny(warnings))))]

/// The async primitives: [`Semaphore`], [`Latch`] and their futures and errors.
pub use weir_core as core;
pub use weir_core::{
    AcquireError, DecrementError, Latch, OwnedPermit, Permit, Semaphore, TryAcquireError,
};

/// The bounded worker pool (feature `pool`, on by default).
#[cfg(feature = "pool")]
pub use weir_pool as pool;

/// Backpressure-aware `Stream` adapters (feature `stream`, on by default).
#[cfg(feature = "stream")]
pub use weir_stream as stream;

/// A tower `Layer` admitting each request through a weir semaphore with an admission
/// deadline (feature `tower`).
#[cfg(feature = "tower")]
pub use weir_tower as tower;

/// The names most programs need, for a glob import.
pub mod prelude {
    pub use weir_core::{Latch, OwnedPermit, Permit, Semaphore};
    /// The `Stream` extension trait: `.bounded(n)`, the shedding adapters, `par_map`, ...
    #[cfg(feature = "stream")]
    pub use weir_stream::WeirStreamExt;
}

/// The README's quick start, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
