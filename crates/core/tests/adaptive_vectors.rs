//! Exact test vectors for each limit algorithm (the research's, from Netflix's
//! concurrency-limits tests, and the fixed variants' own).

use std::time::Duration;

use weir_core::{
    LimitAlgorithm, Outcome, Sample,
    adaptive::{Aggregation, Aimd, Gradient, Vegas, Windowed},
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ok(latency: Duration, in_flight: usize) -> Sample {
    Sample::new(latency, in_flight, Outcome::Success)
}

fn loss(in_flight: usize) -> Sample {
    Sample::new(ms(1), in_flight, Outcome::Overload)
}

#[test]
fn aimd_grows_by_one_at_half_utilisation() {
    let mut aimd = Aimd::builder().initial_limit(20).build().unwrap();
    assert_eq!(aimd.update(ok(ms(1), 10)), 21);
}

#[test]
fn aimd_backs_off_on_loss() {
    let mut aimd = Aimd::builder().initial_limit(30).build().unwrap();
    assert_eq!(aimd.update(loss(30)), 27);
}

#[test]
fn aimd_stays_at_max() {
    let mut aimd = Aimd::builder()
        .initial_limit(21)
        .max_limit(21)
        .build()
        .unwrap();
    assert_eq!(aimd.update(ok(ms(1), 21)), 21);
}

#[test]
fn aimd_is_app_limited_below_half() {
    let mut aimd = Aimd::builder().initial_limit(20).build().unwrap();
    assert_eq!(aimd.update(ok(ms(1), 9)), 20);
}

#[test]
fn aimd_treats_a_timeout_as_loss_and_floors_at_one() {
    let mut aimd = Aimd::builder().initial_limit(2).build().unwrap();
    assert_eq!(aimd.update(ok(Duration::from_secs(6), 2)), 1);
    assert_eq!(aimd.update(loss(1)), 1);
}

#[test]
fn aimd_ignores_ignore() {
    let mut aimd = Aimd::new();
    assert_eq!(aimd.update(Sample::new(ms(1), 20, Outcome::Ignore)), 20);
}

fn vegas_10() -> Vegas {
    let mut vegas = Vegas::builder()
        .initial_limit(10)
        .max_limit(20)
        .build()
        .unwrap();
    assert_eq!(
        vegas.update(ok(ms(10), 10)),
        10,
        "the first sample sets the baseline"
    );
    vegas
}

#[test]
fn vegas_grows_by_beta_without_a_queue() {
    let mut vegas = vegas_10();
    assert_eq!(vegas.update(ok(ms(10), 11)), 16);
}

#[test]
fn vegas_decreases_on_a_long_queue() {
    let mut vegas = vegas_10();
    // queue = ⌈10 × (1 − 10/50)⌉ = 8 > β = 6
    assert_eq!(vegas.update(ok(ms(50), 11)), 9);
}

#[test]
fn vegas_holds_between_alpha_and_beta() {
    let mut vegas = vegas_10();
    // queue = ⌈10 × (1 − 10/14)⌉ = 3 = α
    assert_eq!(vegas.update(ok(ms(14), 14)), 10);
}

#[test]
fn vegas_grows_by_six_lg_at_large_limits() {
    let mut vegas = Vegas::builder()
        .initial_limit(10_000)
        .max_limit(20_000)
        .build()
        .unwrap();
    assert_eq!(vegas.update(ok(Duration::from_secs(10), 5000)), 10_000);
    assert_eq!(vegas.update(ok(Duration::from_secs(10), 6000)), 10_024);
}

#[test]
fn vegas_smooths_decreases() {
    let mut vegas = Vegas::builder()
        .initial_limit(100)
        .smoothing(0.5)
        .decrease_ratio(0.5)
        .build()
        .unwrap();
    assert_eq!(vegas.update(ok(ms(10), 100)), 100);
    assert_eq!(vegas.update(ok(ms(20), 100)), 75);
    assert_eq!(vegas.update(ok(ms(20), 100)), 56);
}

#[test]
fn vegas_baseline_only_from_successes() {
    let mut vegas = vegas_10();
    // A fast rejection must neither lower the baseline nor be mistaken for no queue.
    assert_eq!(
        vegas.update(Sample::new(
            Duration::from_micros(10),
            10,
            Outcome::Overload
        )),
        9
    );
    assert_eq!(vegas.baseline(), Some(ms(10)));
}

#[test]
fn vegas_is_app_limited_below_half() {
    let mut vegas = vegas_10();
    assert_eq!(vegas.update(ok(ms(10), 4)), 10);
}

#[test]
fn gradient_grows_by_sqrt_at_a_steady_latency() {
    // Netflix's Gradient2 creeps 20 → 20.8 → 21.6 (+smoothing × queue each sample);
    // the fixed variant grows by √L while the latency is within tolerance.
    let mut gradient = Gradient::new();
    assert_eq!(gradient.update(ok(ms(10), 20)), 24); // 20 + √20 = 24.47
    assert_eq!(gradient.update(ok(ms(10), 24)), 29); // 24.47 + √24.47 = 29.42
}

#[test]
fn gradient_decreases_smoothly_when_latency_triples() {
    // Warm the baseline to 10 ms at half utilisation... then 40 ms (4× the
    // baseline): g = clamp(2 × 10/40) = 0.5, new = 0.5L, smoothed 0.8L + 0.2 × 0.5L
    // = 0.9L. (Gradient2 would give 0.9L + 0.8: its creep.)
    let mut gradient = Gradient::builder().initial_limit(100).build().unwrap();
    for _ in 0..10 {
        assert_eq!(gradient.update(ok(ms(10), 10)), 100, "app-limited");
    }
    assert_eq!(gradient.baseline(), Some(ms(10)));
    assert_eq!(gradient.update(ok(ms(40), 100)), 90);
}

#[test]
fn gradient_reacts_to_loss() {
    let mut gradient = Gradient::builder().initial_limit(30).build().unwrap();
    assert_eq!(gradient.update(loss(30)), 27);
    assert_eq!(gradient.baseline(), None, "a loss is no baseline");
}

#[test]
fn gradient_is_app_limited_below_half() {
    let mut gradient = Gradient::new();
    assert_eq!(gradient.update(ok(ms(10), 9)), 20);
}

#[test]
fn gradient_floors_at_one() {
    let mut gradient = Gradient::builder().initial_limit(1).build().unwrap();
    assert_eq!(gradient.update(loss(1)), 1);
}

#[tokio::test(start_paused = true)]
async fn windowed_averages_and_decides_once_per_window() {
    let inner = Aimd::builder().initial_limit(10).build().unwrap();
    let mut aimd = Windowed::builder(inner).min_samples(4).build().unwrap();
    for _ in 0..3 {
        assert_eq!(aimd.update(loss(10)), 10);
    }
    tokio::time::advance(ms(100)).await;
    assert_eq!(
        aimd.update(loss(10)),
        9,
        "four losses in one window: one backoff"
    );
}

#[tokio::test(start_paused = true)]
async fn windowed_waits_for_min_samples() {
    let inner = Aimd::builder().initial_limit(2).build().unwrap();
    let mut aimd = Windowed::builder(inner).min_samples(3).build().unwrap();
    aimd.update(ok(ms(1), 2));
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(
        aimd.update(ok(ms(1), 2)),
        2,
        "two samples: the window stays open"
    );
    assert_eq!(aimd.update(ok(ms(1), 2)), 3);
}

#[tokio::test(start_paused = true)]
async fn windowed_percentile_feeds_the_tail() {
    // Vegas sees one sample per window: the p90 latency of the window.
    let inner = Vegas::builder()
        .initial_limit(10)
        .max_limit(20)
        .build()
        .unwrap();
    let mut vegas = Windowed::builder(inner)
        .min_samples(10)
        .aggregation(Aggregation::Percentile(0.9))
        .build()
        .unwrap();
    // Ten samples, the tenth 100 ms after the first: it closes the window.
    async fn window(vegas: &mut Windowed<Vegas>, slow: u64) -> usize {
        let mut limit = 0;
        for i in 0..10 {
            if i == 9 {
                tokio::time::advance(ms(100)).await;
            }
            limit = vegas.update(ok(if i < 8 { ms(10) } else { ms(slow) }, 11));
        }
        limit
    }
    assert_eq!(window(&mut vegas, 10).await, 10); // sets the baseline: p90 = 10 ms
    assert_eq!(vegas.get_ref().baseline(), Some(ms(10)));
    // p90 of 8 × 10 ms and 2 × 50 ms is 50 ms: queue 8 > 6, decrease to 9.
    assert_eq!(window(&mut vegas, 50).await, 9);
}

mod quiet {
    //! The lock-free skip of "quiet" successes changes no decision: a limiter
    //! follows exactly the limits of its algorithm fed every sample.

    use proptest::prelude::*;
    use weir_core::{AdaptiveLimiter, adaptive::Quiet};

    use super::*;

    fn sample() -> impl Strategy<Value = Sample> {
        (
            0u64..3_000,
            0usize..60,
            prop_oneof![
                8 => Just(Outcome::Success),
                1 => Just(Outcome::Overload),
                1 => Just(Outcome::Ignore),
            ],
        )
            .prop_map(|(latency, in_flight, outcome)| Sample::new(ms(latency), in_flight, outcome))
    }

    #[test]
    fn aimd_promises_quiet_below_half_and_everywhere_at_the_max() {
        let timeout = Duration::from_secs(2);
        let aimd = |initial| {
            Aimd::builder()
                .initial_limit(initial)
                .max_limit(40)
                .timeout(timeout)
                .build()
                .unwrap()
        };
        assert_eq!(aimd(9).quiet(), Quiet::new(5, timeout), "4 × 2 < 9 ≤ 5 × 2");
        assert_eq!(aimd(40).quiet(), Quiet::new(usize::MAX, timeout));
        assert_eq!(
            Gradient::new().quiet(),
            Quiet::NONE,
            "learns from every success"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn skipping_quiet_successes_changes_no_limit(
            initial in 1usize..40,
            samples in prop::collection::vec(sample(), 1..if cfg!(miri) { 20 } else { 300 }),
        ) {
            let build = || {
                Aimd::builder()
                    .initial_limit(initial)
                    .max_limit(40)
                    .timeout(Duration::from_secs(2))
                    .build()
                    .unwrap()
            };
            let mut model = build();
            let limiter = AdaptiveLimiter::new(build());
            let mut fed = 0;
            for sample in samples {
                limiter.record(sample);
                if sample.outcome != Outcome::Ignore {
                    fed += 1;
                    model.update(sample);
                }
                prop_assert_eq!(limiter.limit(), model.limit());
            }
            prop_assert_eq!(limiter.snapshot().samples, fed);
        }
    }
}
