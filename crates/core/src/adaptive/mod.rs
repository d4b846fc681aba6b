//! Adaptive concurrency limits: a [`LimitAlgorithm`] turns samples (latency,
//! in-flight count, outcome) into a limit, and an [`AdaptiveLimiter`] moves a weir
//! [`Semaphore`](crate::Semaphore)'s ceiling to it.
//!
//! | algorithm | signal | use it when |
//! |---|---|---|
//! | [`Aimd`] | loss only (overloads, timeouts) | the downstream pushes back (429/503, queue full) |
//! | [`Gradient`] | latency against a long-term baseline, and loss | general services; the default choice |
//! | [`Vegas`] | queue estimated from a no-load latency, and loss | tight latency distributions |
//! | [`Fixed`] | none | a baseline, or adaptation switched off |
//!
//! Wrap any of them in [`Windowed`] to decide once per window (one backoff per loss
//! burst, latency averaged or taken at a percentile). All of them: react to loss,
//! do not move while less than half the limit is in use (an idle system does not
//! inflate its limit), take baselines only from successes, and floor at 1.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::{AdaptiveLimiter, adaptive::{Gradient, Windowed}};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter = AdaptiveLimiter::new(Windowed::new(Gradient::new()));
//! for _ in 0..200 {
//!     let permit = limiter.acquire().await.unwrap();
//!     tokio::time::sleep(Duration::from_millis(1)).await; // the work
//!     permit.success();
//! }
//! // One request at a time never used half of the limit: it did not grow.
//! assert_eq!(limiter.limit(), 20);
//! # }
//! ```

mod aimd;
mod algorithm;
mod counters;
mod gradient;
mod limiter;
mod permit;
mod quiet;
mod timing;
mod vegas;
mod windowed;

pub use aimd::{Aimd, AimdBuilder};
pub use algorithm::{Fixed, LimitAlgorithm, Outcome, Quiet, Sample};
pub use gradient::{Gradient, GradientBuilder};
pub use limiter::{AdaptiveLimiter, LimiterSnapshot};
pub use permit::{AdaptivePermit, OwnedAdaptivePermit, UntimedPermit};
pub use vegas::{Vegas, VegasBuilder};
pub use windowed::{Aggregation, Windowed, WindowedBuilder};
