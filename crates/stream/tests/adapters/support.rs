//! Shared test helpers: instrumented upstreams and drop guards.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::oneshot;
use weir_stream::ShedStats;

/// `0..n`, counting how many items the upstream has yielded so far.
pub(crate) fn counting(n: usize) -> (impl Stream<Item = usize> + Send + 'static, Arc<AtomicUsize>) {
    let produced = Arc::new(AtomicUsize::new(0));
    let p = produced.clone();
    let s = futures::stream::iter(0..n).inspect(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    (s, produced)
}

/// Fires when dropped: tie it to an upstream to prove the upstream was dropped.
pub(crate) struct DropGuard {
    _tx: oneshot::Sender<()>,
}

pub(crate) fn drop_guard() -> (DropGuard, oneshot::Receiver<()>) {
    let (tx, rx) = oneshot::channel();
    (DropGuard { _tx: tx }, rx)
}

/// Resolves once the guard is dropped; fails the test if that does not happen
/// (under paused time the timeout fires as soon as everything else is idle).
pub(crate) async fn dropped(rx: oneshot::Receiver<()>) {
    let res = tokio::time::timeout(Duration::from_secs(60), rx).await;
    assert!(
        matches!(res, Ok(Err(_))),
        "the upstream was not dropped: {res:?}"
    );
}

/// Under `start_paused`, returns only once every other task is idle: the runtime
/// advances the clock only when nothing can run. Deterministic, not a race.
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// The accounting identity every shedding adapter keeps.
#[track_caller]
pub(crate) fn assert_adds_up(stats: &ShedStats) {
    let s = stats.snapshot();
    assert_eq!(
        s.received(),
        s.emitted() + s.dropped() + s.occupancy() as u64,
        "received = emitted + dropped + buffered: {s:?}"
    );
    assert!(s.occupancy() <= s.max_occupancy());
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_string()
    }
}

pub(crate) fn nz(n: usize) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(n).unwrap()
}
