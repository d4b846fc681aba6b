//! Helpers shared by the pool's integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

use std::future::Future;

use tokio_util::sync::CancellationToken;
use weir_pool::Stats;

/// Lets every ready task run (single-threaded runtimes only): enough yields for a
/// submit → worker → handle round trip.
pub async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

/// A job that waits until `gate` is cancelled, then returns `value`.
pub fn gated<T: Send + 'static>(
    gate: &CancellationToken,
    value: T,
) -> impl Future<Output = T> + Send + 'static {
    let gate = gate.clone();
    async move {
        gate.cancelled().await;
        value
    }
}

/// Asserts the documented counter identity.
#[track_caller]
pub fn assert_adds_up(stats: &Stats) {
    assert_eq!(
        stats.submitted,
        stats.completed
            + stats.failed
            + stats.panicked
            + stats.timed_out
            + stats.cancelled
            + stats.dropped
            + stats.queued
            + stats.running,
        "counters do not add up: {stats:#?}"
    );
    assert!(stats.evicted <= stats.dropped, "{stats:#?}");
}
