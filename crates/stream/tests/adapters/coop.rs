//! The buffering adapters' consumer side spends tokio's cooperative budget, a unit
//! an item, as a `tokio::sync::mpsc` receiver does: a loop draining a full buffer
//! still yields to the runtime's other tasks.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use futures::{Stream, StreamExt, stream};
use weir_stream::WeirStreamExt;

use crate::support::nz;

const ITEMS: u32 = 1_000;

/// Drains `s` (whose producer has already buffered every item, as `buffered` says)
/// beside another task on this current-thread runtime; returns whether that task
/// ran before the last item came out.
async fn other_task_ran_while_draining(
    mut s: impl Stream<Item = u32> + Unpin,
    buffered: impl Fn() -> bool,
) -> bool {
    // The first poll spawns the producer; give it turns until it has filled the
    // buffer (it yields between batches).
    assert_eq!(s.next().await, Some(0));
    while !buffered() {
        tokio::task::yield_now().await;
    }
    let ran = Arc::new(AtomicBool::new(false));
    let other = tokio::spawn({
        let ran = ran.clone();
        async move { ran.store(true, Ordering::Relaxed) }
    });
    let mut next = 1;
    let mut ran_before_last = false;
    while let Some(item) = s.next().await {
        assert_eq!(item, next);
        next += 1;
        if next == ITEMS {
            ran_before_last = ran.load(Ordering::Relaxed);
        }
    }
    assert_eq!(next, ITEMS);
    other.await.unwrap();
    ran_before_last
}

#[tokio::test]
async fn draining_a_full_bounded_buffer_spends_the_cooperative_budget() {
    let s = stream::iter(0..ITEMS).bounded(nz(ITEMS as usize));
    let stats = s.stats();
    let buffered = move || stats.depth() >= ITEMS as usize - 1;
    assert!(other_task_ran_while_draining(s, buffered).await);
}

#[tokio::test]
async fn draining_a_full_shedding_buffer_spends_the_cooperative_budget() {
    let s = stream::iter(0..ITEMS).drop_newest(nz(ITEMS as usize));
    let stats = s.stats();
    let buffered = move || stats.received() == u64::from(ITEMS);
    assert!(other_task_ran_while_draining(s, buffered).await);
}
