//! The GCRA rate limiters: vectors, the conformance bound (proptest), FIFO and
//! cancel-safe waiting, runtime quota changes, a clock that steps back, keyed
//! eviction.

use std::time::Duration;

use proptest::prelude::*;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use weir_core::{
    KeyedRateLimiter, Quota, RateLimiter,
    rate::{InsufficientCapacity, ManualClock, NotYet, RateLimitError},
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn not_yet(wait: Duration) -> Result<(), RateLimitError> {
    Err(RateLimitError::NotYet(NotYet::new(wait)))
}

#[test]
fn governor_vector_per_second_50() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(Quota::per_second(50).unwrap(), clock.clone());
    for _ in 0..50 {
        assert_eq!(limiter.try_acquire(1), Ok(()));
    }
    assert_eq!(limiter.try_acquire(1), not_yet(ms(20)));
    clock.advance(ms(19));
    assert_eq!(limiter.try_acquire(1), not_yet(ms(1)));
    clock.advance(ms(1));
    assert_eq!(limiter.try_acquire(1), Ok(()));
    assert_eq!(limiter.try_acquire(1), not_yet(ms(20)));
}

#[test]
fn n_cells_wait_for_n_periods() {
    let clock = ManualClock::new();
    let quota = Quota::per_second(10).unwrap().allow_burst(4).unwrap();
    let limiter = RateLimiter::with_clock(quota, clock.clone());
    assert_eq!(limiter.try_acquire(4), Ok(()));
    assert_eq!(limiter.try_acquire(3), not_yet(ms(300)));
    assert_eq!(limiter.try_acquire(0), Ok(()), "zero cells always conform");
    clock.advance(ms(300));
    assert_eq!(limiter.remaining_burst(), 3);
    assert_eq!(limiter.try_acquire(3), Ok(()));
    assert_eq!(limiter.remaining_burst(), 0);
}

#[test]
fn more_than_the_burst_is_an_error() {
    let limiter = RateLimiter::new(Quota::per_second(10).unwrap().allow_burst(3).unwrap());
    let err = InsufficientCapacity {
        requested: 4,
        burst: 3,
    };
    assert_eq!(limiter.try_acquire(4), Err(err.into()));
    assert_eq!(tokio_test::block_on(limiter.acquire(4)), Err(err));
    assert_eq!(limiter.remaining_burst(), 3, "nothing taken");
}

#[test]
fn a_clock_stepping_back_admits_nothing_extra() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(Quota::per_second(10).unwrap(), clock.clone());
    clock.set(Duration::from_secs(100));
    assert_eq!(limiter.try_acquire(10), Ok(()));
    clock.set(Duration::from_secs(1)); // 99 s back
    assert_eq!(
        limiter.try_acquire(1),
        not_yet(ms(100)),
        "clamped to the last admission"
    );
    clock.set(Duration::from_secs(100) + ms(100));
    assert_eq!(limiter.try_acquire(1), Ok(()));
}

#[test]
fn keyed_clock_stepping_back_admits_nothing_extra() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::with_clock(Quota::per_second(10).unwrap(), clock.clone());
    clock.set(Duration::from_secs(100));
    assert_eq!(limiter.try_acquire(&"k", 10), Ok(()));
    clock.set(Duration::from_secs(1));
    assert_eq!(limiter.try_acquire(&"k", 1), not_yet(ms(100)));
}

#[test]
fn quota_changes_keep_the_fill_fraction() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::with_clock(Quota::per_second(10).unwrap(), clock.clone());
    // Full bucket, rate ×10: full at the new burst, no more.
    limiter.set_quota(Quota::per_second(100).unwrap());
    assert_eq!(limiter.remaining_burst(), 100);
    assert_eq!(limiter.try_acquire(100), Ok(()));
    assert_eq!(limiter.try_acquire(1), not_yet(ms(10)));
    // Empty bucket, rate ÷100: still empty, next cell one new period away.
    limiter.set_quota(Quota::per_second(1).unwrap());
    assert_eq!(limiter.try_acquire(1), not_yet(Duration::from_secs(1)));
    // Refilled (1 of 1), then burst 4: full, 4 of 4. Take 2 (half), then burst 8:
    // half, 4 of 8.
    clock.advance(Duration::from_secs(1));
    limiter.set_quota(Quota::per_second(1).unwrap().allow_burst(4).unwrap());
    assert_eq!(limiter.remaining_burst(), 4);
    limiter.try_acquire(2).unwrap();
    limiter.set_quota(Quota::per_second(1).unwrap().allow_burst(8).unwrap());
    assert_eq!(limiter.remaining_burst(), 4);
    assert_eq!(limiter.quota().burst(), 8);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_fifo_order() {
    let limiter = RateLimiter::new(Quota::per_second(10).unwrap().allow_burst(5).unwrap());
    limiter.acquire(5).await.unwrap(); // empty the bucket
    let mut big = task::spawn(limiter.acquire(5));
    let mut small = task::spawn(limiter.acquire(1));
    assert_pending!(big.poll());
    assert_pending!(small.poll());
    assert_eq!(limiter.waiters(), 2);
    // `try_acquire` does not overtake the queue, even when a cell is ready.
    tokio::time::advance(ms(100)).await;
    assert_eq!(limiter.try_acquire(1), Err(RateLimitError::Queued));
    assert_pending!(big.poll());
    assert_pending!(small.poll(), "the small request waits behind the big one");
    tokio::time::advance(ms(400)).await;
    assert!(big.is_woken());
    assert_ready_ok!(big.poll());
    assert_pending!(small.poll());
    tokio::time::advance(ms(100)).await;
    assert_ready_ok!(small.poll());
    assert_eq!(limiter.waiters(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_takes_nothing_and_passes_its_place_on() {
    let limiter = RateLimiter::new(Quota::per_second(10).unwrap().allow_burst(5).unwrap());
    limiter.acquire(5).await.unwrap();
    let mut head = task::spawn(limiter.acquire(5));
    let mut next = task::spawn(limiter.acquire(2));
    assert_pending!(head.poll());
    assert_pending!(next.poll());
    tokio::time::advance(ms(300)).await;
    drop(head); // at 300 ms: 3 cells had conformed, none taken
    assert!(next.is_woken(), "the turn passes on at once");
    assert_ready_ok!(next.poll());
    assert_eq!(limiter.remaining_burst(), 1, "3 refilled − 2 taken");
}

#[tokio::test(start_paused = true)]
async fn a_quota_change_replans_the_head_waiter() {
    let limiter = RateLimiter::new(Quota::with_period(Duration::from_secs(60)).unwrap());
    limiter.acquire(1).await.unwrap();
    let mut waiter = task::spawn(limiter.acquire(1));
    assert_pending!(waiter.poll()); // would wait a minute
    limiter.set_quota(Quota::per_second(10).unwrap());
    assert!(waiter.is_woken());
    assert_pending!(waiter.poll()); // empty stays empty: one new period
    tokio::time::advance(ms(100)).await;
    assert_ready!(waiter.poll()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn acquire_paces_a_stream_exactly() {
    let limiter = RateLimiter::new(Quota::per_second(100).unwrap().allow_burst(10).unwrap());
    let start = tokio::time::Instant::now();
    for _ in 0..110 {
        limiter.acquire(1).await.unwrap();
    }
    // 10 at once, then 100 at 10 ms apart.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[test]
fn keyed_memory_stays_bounded() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::with_clock(Quota::per_second(10).unwrap(), clock.clone());
    let keys = if cfg!(miri) { 500 } else { 100_000 };
    let mut peak = 0;
    for key in 0..keys {
        limiter.try_acquire(&key, 1).unwrap();
        clock.advance(ms(10)); // a bucket refills in 100 ms: ~10 keys are live
        peak = peak.max(limiter.len());
    }
    assert!(peak <= 128, "peak of {peak} keys");
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Take(u32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (0u64..50_000_000).prop_map(Op::Advance),
            (0u64..50).prop_map(Op::Advance),
            (1u32..6).prop_map(Op::Take),
        ],
        1..if cfg!(miri) { 40 } else { 400 },
    )
}

/// No interval `[a, b]` admits more than `burst + (b − a) / T` cells.
fn assert_bound(admitted: &[(u64, u32)], period: u64, burst: u32) {
    for (i, &(a, _)) in admitted.iter().enumerate() {
        let mut cells = 0u64;
        for &(b, n) in &admitted[i..] {
            cells += u64::from(n);
            assert!(
                cells * period <= u64::from(burst) * period + (b - a),
                "{cells} cells in [{a}, {b}] ns at T = {period} ns, burst {burst}"
            );
        }
    }
}

proptest! {
    // No failure file: miri blocks `getcwd`, which proptest's persistence needs.
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_interval_admits_more_than_burst_plus_rate_times_t(
        rate in 1u32..200,
        burst in 1u32..20,
        ops in ops(),
    ) {
        let quota = Quota::per_second(rate).unwrap().allow_burst(burst).unwrap();
        let period = quota.period().as_nanos() as u64;
        let clock = ManualClock::new();
        let direct = RateLimiter::with_clock(quota, clock.clone());
        let keyed = KeyedRateLimiter::with_clock(quota, clock.clone());
        let (mut now, mut admitted) = (0u64, Vec::new());
        for op in ops {
            match op {
                Op::Advance(ns) => {
                    now += ns;
                    clock.advance(Duration::from_nanos(ns));
                }
                Op::Take(n) => {
                    let verdict = direct.try_acquire(n);
                    prop_assert_eq!(verdict, keyed.try_acquire(&(), n), "direct and keyed agree");
                    match verdict {
                        Ok(()) => admitted.push((now, n)),
                        Err(RateLimitError::NotYet(refusal)) => {
                            prop_assert!(!refusal.wait().is_zero());
                            prop_assert!(n <= burst);
                        }
                        Err(RateLimitError::InsufficientCapacity(e)) => prop_assert!(e.requested > burst),
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    }
                }
            }
        }
        assert_bound(&admitted, period, burst);
    }

    #[test]
    fn a_refusal_conforms_exactly_after_its_wait(
        rate in 1u32..200,
        burst in 1u32..20,
        takes in prop::collection::vec(1u32..6, 1..30),
    ) {
        let quota = Quota::per_second(rate).unwrap().allow_burst(burst).unwrap();
        for n in takes.into_iter().filter(|&n| n <= burst) {
            let clock = ManualClock::new();
            let limiter = RateLimiter::with_clock(quota, clock.clone());
            limiter.try_acquire(burst).unwrap();
            let Err(RateLimitError::NotYet(refusal)) = limiter.try_acquire(n) else {
                return Err(TestCaseError::fail("an empty bucket refuses"));
            };
            clock.advance(refusal.wait() - Duration::from_nanos(1));
            prop_assert!(limiter.try_acquire(n).is_err(), "not a nanosecond early");
            clock.advance(Duration::from_nanos(1));
            prop_assert_eq!(limiter.try_acquire(n), Ok(()));
        }
    }
}

/// tokio's timer fires on 1 ms ticks: a burst-1 waiter must not lose the lateness
/// on every cell (akka#23475), nor run ahead of the schedule.
#[tokio::test(start_paused = true)]
async fn timer_lateness_does_not_slow_a_burst_of_one() {
    let quota = Quota::with_period(Duration::from_nanos(3_333_333)).unwrap();
    let limiter = RateLimiter::new(quota);
    let periods = if cfg!(miri) { 30 } else { 300 };
    let start = tokio::time::Instant::now();
    for _ in 0..=periods {
        limiter.acquire(1).await.unwrap();
    }
    let elapsed = start.elapsed();
    let exact = Duration::from_nanos(3_333_333 * periods);
    // Without the catch-up every wait rounds up to 4 ms: 1.2 s for 300 periods.
    assert!(elapsed >= exact, "{elapsed:?}");
    assert!(elapsed <= exact + ms(5), "{elapsed:?}");
}

#[test]
fn a_late_take_keeps_the_schedule_but_never_runs_ahead_of_it() {
    let clock = ManualClock::new();
    let quota = Quota::per_second(10).unwrap().allow_burst(1).unwrap(); // T = 100 ms
    let limiter = RateLimiter::with_clock(quota, clock.clone());
    limiter.try_acquire(1).unwrap();
    clock.advance(ms(150));
    // Claiming 200 ms of lateness backdates only to what the state allows (100 ms).
    limiter.try_acquire_late(1, ms(200)).unwrap();
    assert_eq!(limiter.time_until(1), Ok(ms(50)));
    assert_eq!(limiter.try_acquire_late(1, ms(1000)), not_yet(ms(50)));
}
