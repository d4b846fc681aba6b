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
