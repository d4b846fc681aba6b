use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use weir_stream::{Rate, WeirStreamExt};

use crate::support::{counting, nz};

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

#[tokio::test(start_paused = true)]
async fn burst_then_steady_rate() {
    let start = Instant::now();
    let rate = Rate::per_second(NonZeroU32::new(10).unwrap());
    let times: Vec<Duration> = futures::stream::iter(0..6)
        .throttle(rate, nz(3))
        .map(|_| start.elapsed())
        .collect()
        .await;
    assert_eq!(times, [ms(0), ms(0), ms(0), ms(100), ms(200), ms(300)]);
}

#[tokio::test(start_paused = true)]
async fn idle_time_refills_the_bucket_up_to_the_burst_only() {
    let rate = Rate::per_second(NonZeroU32::new(10).unwrap());
    let (upstream, _) = counting(100);
    let mut s = std::pin::pin!(upstream.throttle(rate, nz(2)));
    s.next().await.unwrap();
    s.next().await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await; // would be 100 tokens unbounded
    let t = Instant::now();
    s.next().await.unwrap();
    s.next().await.unwrap();
    assert_eq!(t.elapsed(), ms(0), "a full bucket of 2");
    s.next().await.unwrap();
    assert_eq!(t.elapsed(), ms(100), "then the rate again");
}

#[tokio::test(start_paused = true)]
async fn the_upstream_is_not_polled_while_waiting_for_a_token() {
    let rate = Rate::per_second(NonZeroU32::new(1).unwrap());
    let (upstream, produced) = counting(100);
    let mut s = std::pin::pin!(upstream.throttle(rate, nz(1)));
    s.next().await.unwrap();
    assert!(futures::poll!(s.next()).is_pending());
    tokio::time::sleep(ms(500)).await;
    assert_eq!(
        produced.load(Ordering::SeqCst),
        1,
        "no item held while waiting"
    );
    assert_eq!(s.next().await, Some(1));
}

#[tokio::test(start_paused = true)]
async fn long_run_rate_is_exact() {
    let start = Instant::now();
    let rate = Rate::new(NonZeroU32::new(3).unwrap(), Duration::from_millis(10)).unwrap();
    let n = futures::stream::iter(0..301)
        .throttle(rate, nz(1))
        .count()
        .await;
    assert_eq!(n, 301);
    // 300 intervals of 10/3 ms (3_333_333 ns) each. Timer lateness (1 ms ticks) does
    // not accumulate: without the catch-up this takes 301 x 4 ms = 1.204 s.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_nanos(3_333_333 * 300),
        "{elapsed:?}"
    );
    assert!(elapsed <= ms(1005), "{elapsed:?}");
}

fn limiter(per_second: u32, burst: u32) -> std::sync::Arc<weir_core::RateLimiter> {
    let quota = weir_core::Quota::per_second(per_second)
        .unwrap()
        .allow_burst(burst)
        .unwrap();
    std::sync::Arc::new(weir_core::RateLimiter::new(quota))
}

#[tokio::test(start_paused = true)]
async fn streams_sharing_a_limiter_share_its_rate() {
    let shared = limiter(10, 2);
    let start = Instant::now();
    let stamp = |_| start.elapsed();
    let a = futures::stream::iter(0..4)
        .throttle_with(shared.clone())
        .map(stamp);
    let b = futures::stream::iter(0..4)
        .throttle_with(shared.clone())
        .map(stamp);
    let (a, b): (Vec<_>, Vec<_>) = futures::future::join(a.collect(), b.collect()).await;
    assert_eq!((a.len(), b.len()), (4, 4));
    let mut all: Vec<Duration> = a.into_iter().chain(b).collect();
    all.sort();
    // One bucket of 2 for both: a burst of 2, then one every 100 ms in total.
    assert_eq!(
        all,
        [
            ms(0),
            ms(0),
            ms(100),
            ms(200),
            ms(300),
            ms(400),
            ms(500),
            ms(600)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_changes_at_runtime_without_a_burst() {
    let rate = Rate::per_second(NonZeroU32::new(10).unwrap());
    let (upstream, _) = counting(100);
    let mut s = std::pin::pin!(upstream.throttle(rate, nz(1)));
    s.next().await.unwrap();
    s.limiter().set_quota(
        weir_core::Quota::per_second(100)
            .unwrap()
            .allow_burst(1)
            .unwrap(),
    );
    let t = Instant::now();
    for _ in 0..10 {
        s.next().await.unwrap();
    }
    // Empty stays empty (next cell one new period away): 10 items at 10 ms.
    assert_eq!(t.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn a_stream_waits_its_turn_behind_queued_acquirers() {
    let shared = limiter(10, 1);
    shared.try_acquire(1).unwrap(); // empty: next cell at 100 ms
    let waiter = tokio::spawn({
        let shared = shared.clone();
        async move {
            shared.acquire(1).await.unwrap();
            Instant::now()
        }
    });
    tokio::task::yield_now().await; // the acquirer queues first
    assert_eq!(shared.waiters(), 1);
    let start = Instant::now();
    let mut s = std::pin::pin!(futures::stream::iter(0..1).throttle_with(shared.clone()));
    assert_eq!(s.next().await, Some(0));
    let served = waiter.await.unwrap();
    assert_eq!(served - start, ms(100), "the queued acquirer first");
    assert_eq!(start.elapsed(), ms(200), "then the stream");
}
