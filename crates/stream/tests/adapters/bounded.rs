use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use weir_stream::WeirStreamExt;

use crate::support::{counting, drop_guard, dropped, nz, panic_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_order_and_delivers_everything() {
    for n in [1, 2, 3, 7, 64, 1000] {
        let got: Vec<usize> = futures::stream::iter(0..20_000)
            .bounded(nz(n))
            .collect()
            .await;
        assert_eq!(got, (0..20_000).collect::<Vec<_>>(), "n = {n}");
    }
}

#[tokio::test(start_paused = true)]
async fn runs_ahead_while_the_consumer_is_busy_but_never_more_than_n() {
    for n in [1, 2, 5, 16, 64] {
        let (upstream, produced) = counting(10 * n + 3);
        let s = upstream.bounded(nz(n));
        let stats = s.stats();
        let mut s = std::pin::pin!(s);
        let mut received = 0;
        let mut max_ahead = 0;
        while let Some(item) = s.next().await {
            assert_eq!(item, received);
            received += 1;
            let ahead = produced.load(Ordering::SeqCst) - received;
            assert!(ahead <= n, "n = {n}: upstream {ahead} ahead");
            // The consumer is busy: the producer task gets to run as far as it may.
            crate::support::settle().await;
            let ahead = produced.load(Ordering::SeqCst) - received;
            assert!(
                ahead <= n,
                "n = {n}: upstream {ahead} ahead while consumer busy"
            );
            max_ahead = max_ahead.max(ahead);
        }
        assert_eq!(received, 10 * n + 3);
        // It did decouple: at least n - n/4 ahead (credits come back in batches).
        assert!(max_ahead >= n - n / 4, "n = {n}: only {max_ahead} ahead");
        assert!(stats.max_depth() <= n);
        assert_eq!(stats.depth(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_holds_under_real_parallelism() {
    let n = 8;
    let (upstream, produced) = counting(200_000);
    let s = upstream.bounded(nz(n));
    let stats = s.stats();
    let mut s = std::pin::pin!(s);
    let mut received = 0;
    while let Some(_item) = s.next().await {
        received += 1;
        // `produced` is bumped before the item is handed over, so this is an upper
        // bound on how far ahead the producer really is.
        assert!(produced.load(Ordering::SeqCst) - received <= n);
    }
    assert_eq!(received, 200_000);
    assert!(stats.max_depth() <= n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_and_order_hold_while_the_consumer_alternates_fast_and_slow() {
    // Both sides spin (yield) before parking and adapt how long: fast phases keep
    // them spinning, slow phases make them park. Neither may break the bound.
    for n in [1, 4, 64] {
        let (upstream, produced) = counting(60_000);
        let s = upstream.bounded(nz(n));
        let stats = s.stats();
        let consumer = tokio::spawn(async move {
            let mut s = std::pin::pin!(s);
            let mut received = 0;
            while let Some(item) = s.next().await {
                assert_eq!(item, received);
                received += 1;
                let ahead = produced.load(Ordering::SeqCst) - received;
                assert!(ahead <= n, "n = {n}: upstream {ahead} ahead");
                // Every 5 000 items, a slow stretch: the consumer keeps yielding
                // (busy elsewhere) for a while.
                if (received / 5_000) % 2 == 1 && received % 50 == 0 {
                    for _ in 0..200 {
                        tokio::task::yield_now().await;
                    }
                    let ahead = produced.load(Ordering::SeqCst) - received;
                    assert!(ahead <= n, "n = {n}: upstream {ahead} ahead");
                }
            }
            received
        });
        assert_eq!(consumer.await.unwrap(), 60_000);
        assert!(stats.max_depth() <= n);
        assert_eq!(stats.depth(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_over_a_million_items() {
    let s = futures::stream::iter(0..1_000_000u64).bounded(nz(64));
    let stats = s.stats();
    let sum = s.fold(0u64, |a, x| async move { a + x }).await;
    assert_eq!(sum, 999_999 * 1_000_000 / 2);
    assert!(stats.max_depth() <= 64, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_consumer_stops_the_upstream_task() {
    let (guard, rx) = drop_guard();
    let upstream = futures::stream::iter(0..).map(move |x: u64| {
        let _ = &guard;
        x
    });
    let mut s = upstream.bounded(nz(4));
    assert_eq!(s.next().await, Some(0));
    crate::support::settle().await; // producer parked on credits
    drop(s);
    dropped(rx).await;
}

#[tokio::test(start_paused = true)]
async fn dropping_a_pending_consumer_stops_a_silent_upstream() {
    let (guard, rx) = drop_guard();
    let upstream = futures::stream::pending::<u8>().map(move |x| {
        let _ = &guard;
        x
    });
    let mut s = upstream.bounded(nz(4));
    assert!(futures::poll!(s.next()).is_pending());
    drop(s);
    dropped(rx).await;
}

#[test]
fn dropping_before_the_first_poll_spawns_nothing() {
    // No runtime at all: nothing is spawned until the first poll.
    let (guard, mut rx) = drop_guard();
    let upstream = futures::stream::iter(0..3).map(move |x| {
        let _ = &guard;
        x
    });
    let s = upstream.bounded(nz(4));
    drop(s);
    assert!(
        rx.try_recv()
            .is_err_and(|e| e == tokio::sync::oneshot::error::TryRecvError::Closed)
    );
}

#[tokio::test(start_paused = true)]
async fn an_upstream_panic_reaches_the_consumer_after_earlier_items() {
    let upstream = futures::stream::iter(0..5).map(|x| {
        if x == 3 {
            panic!("boom at {x}");
        }
        x
    });
    let mut s = upstream.bounded(nz(2));
    let mut got = Vec::new();
    let res = AssertUnwindSafe(async {
        while let Some(x) = s.next().await {
            got.push(x);
        }
    })
    .catch_unwind()
    .await;
    let payload = res.expect_err("the panic must not be swallowed");
    assert_eq!(panic_message(&*payload), "boom at 3");
    assert_eq!(got, [0, 1, 2]);
    // After re-raising, the stream is over.
    assert_eq!(s.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn a_slow_upstream_is_delivered_item_by_item() {
    // Batching must not hold a lone item back waiting for a full batch.
    let upstream = futures::stream::iter(0..3).then(|x| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        x
    });
    let start = tokio::time::Instant::now();
    let mut s = upstream.bounded(nz(64));
    for i in 0..3 {
        assert_eq!(s.next().await, Some(i));
        assert_eq!(start.elapsed(), Duration::from_secs(i as u64 + 1));
    }
    assert_eq!(s.next().await, None);
}
