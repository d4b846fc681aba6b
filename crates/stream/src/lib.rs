//! weir-stream: `Stream` adapters for bounded, shedding and parallel pipelines on
//! tokio, with live drop counters.
//!
//! Import [`WeirStreamExt`] and every `Stream` gains:
//!
//! | adapter | what it does | runs the upstream |
//! |---|---|---|
//! | [`bounded(n)`](WeirStreamExt::bounded) | decoupling buffer: runs ahead ≤ n, waits when full | own task |
//! | [`drop_newest(n)`](WeirStreamExt::drop_newest) | when full, refuses the **incoming** item | own task |
//! | [`drop_oldest(n)`](WeirStreamExt::drop_oldest) | when full, evicts the **oldest buffered** item | own task |
//! | [`latest()`](WeirStreamExt::latest) | keeps only the newest undelivered item | own task |
//! | [`shed_watermark(marks)`](WeirStreamExt::shed_watermark) | sheds incoming from depth `high` until `low` | own task |
//! | [`sample(ratio)`](WeirStreamExt::sample) | keeps each item with probability `ratio` (seedable) | consumer's task |
//! | [`par_map(n, f)`](WeirStreamExt::par_map) | ≤ n futures in flight on spawned tasks, input order | consumer's task |
//! | [`par_map_unordered(n, f)`](WeirStreamExt::par_map_unordered) | same, completion order | consumer's task |
//! | [`throttle(rate, burst)`](WeirStreamExt::throttle) | token bucket with a burst | consumer's task |
//! | [`batch(max, wait)`](WeirStreamExt::batch) | `Vec`s of ≤ max items, ≤ wait after their first; never empty | consumer's task |
//! | [`until_cancelled(token)`](WeirStreamExt::until_cancelled) | ends at a `CancellationToken` | consumer's task |
//!
//! The adapters marked "own task" spawn the upstream with `tokio::spawn` on their
//! first poll (so it needs `Send + 'static`), keep making progress while the
//! consumer is busy, stop it when they are dropped, and re-raise its panics in the
//! consumer. Their consumer side spends a unit of tokio's cooperative budget an
//! item, as a `tokio::sync::mpsc` receiver does, so a consumer draining a full
//! buffer still yields to the runtime's other tasks. The shedding ones never block
//! the upstream, and each exposes a [`ShedStats`] handle — received, emitted,
//! dropped by [`DropReason`], occupancy and its maximum, shedding on/off, always
//! consistent (`received == emitted + dropped + occupancy`) — and an `on_drop`
//! callback that receives every shed item.
//!
//! ```
//! use std::num::NonZeroUsize;
//! use futures::StreamExt;
//! use weir_stream::{DropReason, WeirStreamExt};
//!
//! # #[tokio::main]
//! # async fn main() {
//! let n = NonZeroUsize::new(64).unwrap();
//! // A fast source, decoupled from a transform on worker tasks.
//! let squares = futures::stream::iter(0..1_000u64)
//!     .bounded(n)
//!     .par_map(NonZeroUsize::new(4).unwrap(), |x| async move { x * x });
//! // A telemetry tap that may lose items but never slows the pipeline down.
//! let tap = squares.drop_oldest(n);
//! let stats = tap.stats();
//! let sum: u64 = tap.fold(0, |a, x| async move { a + x }).await;
//! let snap = stats.snapshot();
//! assert_eq!(snap.received(), 1_000);
//! assert_eq!(snap.received(), snap.emitted() + snap.dropped_by(DropReason::OldestEvicted));
//! assert!(sum > 0);
//! # }
//! ```
//!
//! See `examples/pipeline.rs` in the weir repository for a three-stage pipeline that
//! prints each stage's depth and drops as it runs.
//!
//! # When not to use weir-stream
//!
//! - The work is cheap and synchronous: a plain iterator, or `futures`'
//!   `buffered`/`buffer_unordered`, costs less than a task hop per item batch.
//! - Your stages are already tasks joined by `tokio::sync::mpsc` channels: those are
//!   bounded decoupling buffers already; use [`bounded`](WeirStreamExt::bounded) when
//!   you want the same from a `Stream` chain without writing the task and channel.
//! - You need a runtime other than tokio, `no_std`, or a `!Send` upstream: the
//!   task-based adapters spawn on tokio. (The consumer-task adapters work anywhere
//!   tokio's timer is available.)
//! - Every item matters: shedding adapters lose items by design. Use `bounded`,
//!   whose backpressure slows the source instead.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod batch;
mod bounded;
mod drop_newest;
mod drop_oldest;
mod end;
mod error;
mod ext;
mod latest;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod par_map;
mod par_map_unordered;
mod sample;
mod shed;
mod shed_watermark;
mod stats;
mod throttle;
mod until_cancelled;

pub use batch::Batch;
pub use bounded::{Bounded, BoundedStats};
pub use drop_newest::DropNewest;
pub use drop_oldest::DropOldest;
pub use error::{RateError, WatermarkError};
pub use ext::WeirStreamExt;
pub use latest::Latest;
pub use par_map::ParMap;
pub use par_map_unordered::ParMapUnordered;
pub use sample::Sample;
pub use shed_watermark::{ShedWatermark, Watermarks};
pub use stats::{DropReason, ShedSnapshot, ShedStats};
pub use throttle::{Rate, Throttle};
pub use until_cancelled::UntilCancelled;
