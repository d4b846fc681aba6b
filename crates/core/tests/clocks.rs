//! The limiters' clocks: `AutoClock` follows tokio's paused time when it is paused
//! at creation and is the fast clock otherwise; an algorithm that reads no latency
//! makes the adaptive limiter read no clock.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use weir_core::{
    AdaptiveLimiter, LimitAlgorithm, Outcome, Quota, RateLimiter, Sample,
    adaptive::{Aimd, Fixed},
    rate::{AutoClock, Clock, RateLimitError},
};

#[test]
fn outside_a_runtime_the_auto_clock_is_the_fast_one() {
    let clock = AutoClock::new();
    assert!(!clock.is_tokio());
    let (a, b) = (clock.now_nanos(), clock.now_nanos());
    assert!(a <= b);
}

#[tokio::test]
async fn unpaused_the_auto_clock_is_the_fast_one() {
    assert!(!AutoClock::new().is_tokio());
}

#[tokio::test(start_paused = true)]
async fn paused_the_auto_clock_follows_tokio() {
    let clock = AutoClock::new();
    assert!(clock.is_tokio());
    let t0 = clock.now_nanos();
    tokio::time::advance(Duration::from_secs(7)).await;
    assert_eq!(clock.now_nanos() - t0, 7_000_000_000);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_created_under_paused_time_refills_on_paused_time() {
    let limiter = RateLimiter::new(Quota::per_second(1).unwrap());
    limiter.try_acquire(1).unwrap();
    assert!(matches!(
        limiter.try_acquire(1),
        Err(RateLimitError::NotYet(_))
    ));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(limiter.try_acquire(1), Ok(()));
}

#[tokio::test]
async fn a_limiter_created_before_the_pause_needs_the_tokio_clock() {
    let fast = AdaptiveLimiter::new(Fixed::new(2));
    let on_tokio = AdaptiveLimiter::new(Fixed::new(2)).on_clock(AutoClock::tokio());
    tokio::time::pause();
    let (a, b) = (
        fast.acquire().await.unwrap(),
        on_tokio.acquire().await.unwrap(),
    );
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(b.elapsed(), Duration::from_secs(3600));
    // The fast clock saw the real time only.
    assert!(a.elapsed() < Duration::from_secs(3600));
}

/// Records the latencies it is fed.
#[derive(Debug)]
struct Spy {
    reads_latency: bool,
    seen: Arc<Mutex<Vec<Duration>>>,
}

impl LimitAlgorithm for Spy {
    fn limit(&self) -> usize {
        4
    }

    fn update(&mut self, sample: Sample) -> usize {
        self.seen.lock().unwrap().push(sample.latency);
        4
    }

    fn reads_latency(&self) -> bool {
        self.reads_latency
    }
}

fn spy(reads_latency: bool) -> (AdaptiveLimiter<Spy>, Arc<Mutex<Vec<Duration>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let limiter = AdaptiveLimiter::new(Spy {
        reads_latency,
        seen: seen.clone(),
    });
    (limiter, seen)
}

#[tokio::test(start_paused = true)]
async fn a_timed_limiter_measures_from_the_acquire() {
    let (limiter, seen) = spy(true);
    let permit = limiter.acquire().await.unwrap();
    tokio::time::advance(Duration::from_millis(5)).await;
    assert_eq!(permit.elapsed(), Duration::from_millis(5));
    permit.success();
    assert_eq!(*seen.lock().unwrap(), [Duration::from_millis(5)]);
}

#[tokio::test(start_paused = true)]
async fn an_algorithm_that_reads_no_latency_gets_zero_and_explicit_latencies() {
    let (limiter, seen) = spy(false);
    let permit = limiter.acquire().await.unwrap();
    tokio::time::advance(Duration::from_millis(5)).await;
    assert_eq!(permit.elapsed(), Duration::ZERO, "not timed");
    permit.overload();
    let permit = limiter.acquire().await.unwrap();
    permit.record_latency(Outcome::Success, Duration::from_millis(9));
    assert_eq!(
        *seen.lock().unwrap(),
        [Duration::ZERO, Duration::from_millis(9)]
    );
    // A permit dropped without an outcome is still an ignore.
    drop(limiter.acquire().await.unwrap());
    let snap = limiter.snapshot();
    assert_eq!((snap.samples, snap.overloads, snap.ignored), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_loss_only_aimd_still_grows_and_backs_off() {
    let aimd = Aimd::builder()
        .initial_limit(2)
        .no_timeout()
        .build()
        .unwrap();
    let limiter = AdaptiveLimiter::new(aimd);
    let (a, b) = (
        limiter.acquire().await.unwrap(),
        limiter.acquire().await.unwrap(),
    );
    tokio::time::advance(Duration::from_secs(3600)).await; // no timeout to pass
    a.success(); // 2 of 2 in use
    assert_eq!(limiter.limit(), 3);
    b.overload();
    assert_eq!(limiter.limit(), 2);
}

/// The fast clock and tokio's timer work together in real time: waits end, and never
/// before the schedule (a lower bound only: the test takes 10 ms, whatever the load).
#[tokio::test]
async fn on_the_fast_clock_async_acquire_paces_real_time() {
    let limiter = RateLimiter::new(Quota::per_second(200).unwrap().allow_burst(1).unwrap());
    let start = std::time::Instant::now();
    for _ in 0..3 {
        limiter.acquire(1).await.unwrap();
    }
    // Cells at 0, 5 and 10 ms (the clocks agree to well under a millisecond).
    assert!(start.elapsed() >= Duration::from_millis(9));
}
