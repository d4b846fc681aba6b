use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::time::Instant;
use weir_stream::WeirStreamExt;

use crate::support::{drop_guard, dropped, nz, panic_message, settle};

/// Counts futures running and the most ever running at once.
#[derive(Default)]
struct Gauge {
    running: AtomicUsize,
    max: AtomicUsize,
    finished: AtomicUsize,
}

impl Gauge {
    async fn run<T>(&self, delay: Duration, out: T) -> T {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst);
        out
    }
}

#[tokio::test(start_paused = true)]
async fn ordered_output_with_at_most_n_in_flight() {
    let gauge = Arc::new(Gauge::default());
    let (upstream, produced) = crate::support::counting(40);
    let g = gauge.clone();
    let s = upstream.par_map(nz(4), move |i| {
        let g = g.clone();
        // Reverse-ish delays: later items tend to finish first.
        async move {
            g.run(Duration::from_millis(10 * (7 - (i % 7)) as u64), i)
                .await
        }
    });
    let mut s = std::pin::pin!(s);
    let mut yielded = 0;
    while let Some(i) = s.next().await {
        assert_eq!(i, yielded);
        yielded += 1;
        // The reorder buffer is bounded: spawned but not yielded <= n.
        assert!(produced.load(Ordering::SeqCst) - yielded <= 4);
    }
    assert_eq!(yielded, 40);
    assert_eq!(gauge.max.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn futures_progress_while_the_consumer_is_busy() {
    let gauge = Arc::new(Gauge::default());
    let g = gauge.clone();
    let mut s = futures::stream::iter(0..8).par_map(nz(4), move |i| {
        let g = g.clone();
        async move { g.run(Duration::from_millis(100), i).await }
    });
    let start = Instant::now();
    assert_eq!(s.next().await, Some(0));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // The window was refilled before `next` returned: item 4 runs while we "work".
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(gauge.finished.load(Ordering::SeqCst), 4);
    assert_eq!(gauge.running.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(51)).await;
    assert_eq!(gauge.finished.load(Ordering::SeqCst), 5);
    let rest: Vec<i32> = s.collect().await;
    assert_eq!(rest, [1, 2, 3, 4, 5, 6, 7]);
    // Item 4 overlapped the consumer's 101 ms; 5..=7 ran together after.
    assert_eq!(start.elapsed(), Duration::from_millis(301));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_run_on_spawned_tasks() {
    // A future that blocks its thread would stall `buffered` (it runs in the
    // consumer's task); here each runs on a worker of its own.
    let consumer = std::thread::current().id();
    let ids: Vec<std::thread::ThreadId> = futures::stream::iter(0..8)
        .par_map(nz(2), |_| async { std::thread::current().id() })
        .collect()
        .await;
    assert_eq!(ids.len(), 8);
    let _ = consumer; // the worker may be the consumer's, but each future is a task
}

#[tokio::test(start_paused = true)]
async fn a_panicking_future_reaches_the_consumer_in_order() {
    let mut s = futures::stream::iter(0..5).par_map(nz(3), |i| async move {
        assert!(i != 2, "mapping {i} failed");
        i
    });
    let mut got = Vec::new();
    let res = AssertUnwindSafe(async {
        while let Some(x) = s.next().await {
            got.push(x);
        }
    })
    .catch_unwind()
    .await;
    assert_eq!(panic_message(&*res.unwrap_err()), "mapping 2 failed");
    assert_eq!(got, [0, 1]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_aborts_in_flight_futures() {
    let (guard, rx) = drop_guard();
    let guard = Arc::new(guard);
    let mut s = futures::stream::iter(0..10).par_map(nz(3), move |i| {
        let g = guard.clone();
        async move {
            if i > 0 {
                futures::future::pending::<()>().await;
            }
            drop(g);
            i
        }
    });
    assert_eq!(s.next().await, Some(0));
    settle().await;
    drop(s); // drops the closure's guard and aborts the pending tasks holding clones
    dropped(rx).await;
}

mod unordered {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn completion_order_with_at_most_n_in_flight() {
        let gauge = Arc::new(Gauge::default());
        let g = gauge.clone();
        let (upstream, produced) = crate::support::counting(30);
        let s = upstream.par_map_unordered(nz(3), move |i| {
            let g = g.clone();
            async move {
                g.run(Duration::from_millis(if i % 3 == 0 { 50 } else { 10 }), i)
                    .await
            }
        });
        let mut s = std::pin::pin!(s);
        let mut got = Vec::new();
        while let Some(i) = s.next().await {
            got.push(i);
            assert!(produced.load(Ordering::SeqCst) - got.len() <= 3);
        }
        assert_eq!(gauge.max.load(Ordering::SeqCst), 3);
        assert_eq!(
            &got[..3],
            [1, 2, 4],
            "fast ones first, a slow head does not block"
        );
        got.sort();
        assert_eq!(got, (0..30).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_future_reaches_the_consumer() {
        let mut s = futures::stream::iter(0..5).par_map_unordered(nz(2), |i| async move {
            assert!(i != 3, "mapping {i} failed");
            i
        });
        let res = AssertUnwindSafe(async { while s.next().await.is_some() {} })
            .catch_unwind()
            .await;
        assert_eq!(panic_message(&*res.unwrap_err()), "mapping 3 failed");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_stream_aborts_in_flight_futures() {
        let (guard, rx) = drop_guard();
        let mut s = futures::stream::iter([guard]).par_map_unordered(nz(1), |g| async move {
            futures::future::pending::<()>().await;
            drop(g);
        });
        assert!(futures::poll!(s.next()).is_pending());
        drop(s);
        dropped(rx).await;
    }
}
