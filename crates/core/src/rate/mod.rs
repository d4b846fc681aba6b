//! Rate limiting with GCRA (the generic cell rate algorithm): [`RateLimiter`] for
//! one bucket, with FIFO, cancel-safe waiting and a quota that changes at runtime,
//! and [`KeyedRateLimiter`] for a bucket per key, with idle keys evicted.
//!
//! A [`Quota`] is a rate and a burst: over any interval of length `t`, at most
//! `burst + t / period` cells conform.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::{Quota, RateLimiter};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter = RateLimiter::new(Quota::per_second(20).unwrap().allow_burst(1).unwrap());
//! let start = tokio::time::Instant::now();
//! for _ in 0..5 {
//!     limiter.acquire(1).await.unwrap();
//! }
//! assert_eq!(start.elapsed(), Duration::from_millis(200)); // 50 ms apart
//! # }
//! ```

mod clock;
mod error;
mod gcra;
mod keyed;
mod quota;

pub use clock::{AutoClock, Clock, ManualClock, QuantaClock, StdClock, TokioClock};
pub use error::{InsufficientCapacity, NotYet, RateLimitError};
pub use gcra::RateLimiter;
pub use keyed::KeyedRateLimiter;
pub use quota::Quota;
