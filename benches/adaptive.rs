//! The rate and adaptive limiters against their baselines, in one run:
//!
//! - `gcra`: `RateLimiter::try_acquire(1)` against `governor`'s `check()`, on the
//!   same clock (`std`'s `Instant`), on a fake clock (the algorithm alone) and on
//!   each crate's default clock: both are quanta's TSC clock (weir's `AutoClock`
//!   outside paused time). Target: ≤ 1.0× governor. `tokio_clock/weir` is what a
//!   limiter pays under tokio's clock (a `clock_gettime` a check), as in
//!   paused-time tests.
//! - `adaptive`: an `AdaptiveLimiter` (AIMD) acquire + record against a plain weir
//!   `Semaphore` acquire + release. Target: ≤ 1.5×. `success` is the default
//!   (AIMD with its 5 s timeout, automatic timing: this loop's work takes no time,
//!   so each thread times one permit in 64 and stands in the last latency for the
//!   rest). `success_time_every` times every permit (two TSC reads through quanta,
//!   about half its cost on the AMD EPYC VM this was tuned on, where a bare read
//!   loop runs at ~10 ns a read): what the default does for work of 2 µs or more,
//!   where the reads are noise. `success_tokio_clock` is the default on tokio's
//!   clock (`clock_gettime`). `untimed` reads no clock (the caller passes the
//!   latency), nor does `no_timeout` (a loss-only AIMD reads no latency, so its
//!   permits are not timed); `record_latency` passes its latency.
//!   `success_time_one_in_16` is a fixed sampling rate (`time_one_in`).
//!
//! Run: `cargo bench --bench adaptive` (add `-- --quick` for a fast pass).
//!
//! `PAIRED=1 cargo bench --bench adaptive` measures the same loops in pairs instead:
//! every repetition runs each contender back to back (in a rotating order) and takes
//! its ratio to the baseline within the repetition, then reports the quartiles of
//! those ratios (`REPS=n`, default 200). criterion's sequential runs swing by ±20 %
//! or more on a shared VM as the host's CPU steal comes and goes; paired ratios do
//! not.

use std::{
    hint::black_box,
    num::NonZeroU32,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group};
use governor::{
    Quota as GQuota, RateLimiter as GLimiter,
    clock::{FakeRelativeClock, MonotonicClock},
};
use weir::core::{
    AdaptiveLimiter, Quota, RateLimiter, Semaphore,
    adaptive::Aimd,
    rate::{AutoClock, ManualClock, StdClock, TokioClock},
};

#[path = "support/paired.rs"]
mod paired;
use paired::paired;

/// Checks per measured iteration.
const OPS: u64 = 1_000;

fn quota() -> Quota {
    Quota::per_second(50).unwrap()
}

fn gquota() -> GQuota {
    GQuota::per_second(NonZeroU32::new(50).unwrap())
}

fn gcra(c: &mut Criterion) {
    let mut group = c.benchmark_group("gcra");
    group.throughput(criterion::Throughput::Elements(OPS));

    let weir = RateLimiter::with_clock(quota(), StdClock::new());
    group.bench_function("std_clock/weir", |b| {
        b.iter(|| {
            (0..OPS).for_each(|_| {
                black_box(weir.try_acquire(1)).ok();
            })
        })
    });
    let gov = GLimiter::direct_with_clock(gquota(), MonotonicClock);
    group.bench_function("std_clock/governor", |b| {
        b.iter(|| {
            (0..OPS).for_each(|_| {
                black_box(gov.check()).ok();
            })
        })
    });

    let weir = RateLimiter::with_clock(quota(), ManualClock::new());
    group.bench_function("fake_clock/weir", |b| {
        b.iter(|| {
            (0..OPS).for_each(|_| {
                black_box(weir.try_acquire(1)).ok();
            })
        })
    });
    let gov = GLimiter::direct_with_clock(gquota(), FakeRelativeClock::default());
    group.bench_function("fake_clock/governor", |b| {
        b.iter(|| {
            (0..OPS).for_each(|_| {
                black_box(gov.check()).ok();
            })
        })
    });

    let weir = RateLimiter::new(quota());
    group.bench_function("default_clock/weir", |b| {
        b.iter(|| {
            (0..OPS).for_each(|_| {
                black_box(weir.try_acquire(1)).ok();
            })
        })
    });
    let gov = GLimiter::direct(gquota());
    group.bench_function("default_clock/governor", |b| {
        b.iter(|| {
            (0..OPS).for_each(|_| {
                black_box(gov.check()).ok();
            })
        })
    });

    // What a paused-time test pays (and what the default cost before `AutoClock`).
    let weir = RateLimiter::with_clock(quota(), TokioClock::new());
    group.bench_function("tokio_clock/weir", |b| {
        b.iter(|| {
            (0..OPS).for_each(|_| {
                black_box(weir.try_acquire(1)).ok();
            })
        })
    });
    group.finish();
}

/// The AIMD every adaptive loop uses: limit 64 (never reached), with its default
/// 5 s timeout or loss-only.
fn aimd(timeout: bool) -> Aimd {
    let aimd = Aimd::builder().initial_limit(64).max_limit(64);
    if timeout { aimd } else { aimd.no_timeout() }
        .build()
        .unwrap()
}

fn adaptive(c: &mut Criterion) {
    let mut group = c.benchmark_group("adaptive");
    group.throughput(criterion::Throughput::Elements(OPS));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // A benchmark of `iters * OPS` runs of `$op` in one `block_on`.
    macro_rules! looped {
        ($name:expr, $op:expr) => {
            group.bench_function($name, |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters * OPS {
                            $op;
                        }
                        start.elapsed()
                    })
                })
            })
        };
    }
    let latency = Duration::from_millis(1);
    let sem = Semaphore::new(64);
    let limiter = AdaptiveLimiter::new(aimd(true));
    let on_tokio = AdaptiveLimiter::new(aimd(true)).on_clock(AutoClock::tokio());
    let every = AdaptiveLimiter::new(aimd(true)).time_every();
    let sampled = AdaptiveLimiter::new(aimd(true)).time_one_in(NonZeroU32::new(16).unwrap());
    // Loss-only AIMD: reads no latency, so its permits read no clock.
    let lossy = AdaptiveLimiter::new(aimd(false));
    looped!(
        "semaphore_acquire_release",
        drop(black_box(sem.acquire().await.unwrap()))
    );
    looped!(
        "adaptive_acquire_success",
        black_box(limiter.acquire().await.unwrap()).success()
    );
    looped!(
        "adaptive_acquire_record_latency",
        black_box(limiter.acquire().await.unwrap())
            .record_latency(weir::core::Outcome::Success, latency)
    );
    looped!(
        "adaptive_acquire_success_tokio_clock",
        black_box(on_tokio.acquire().await.unwrap()).success()
    );
    looped!(
        "adaptive_acquire_success_time_every",
        black_box(every.acquire().await.unwrap()).success()
    );
    looped!(
        "adaptive_acquire_success_time_one_in_16",
        black_box(sampled.acquire().await.unwrap()).success()
    );
    looped!(
        "adaptive_no_timeout_acquire_success",
        black_box(lossy.acquire().await.unwrap()).success()
    );
    looped!(
        "adaptive_untimed_acquire_record",
        black_box(limiter.acquire_untimed().await.unwrap())
            .record(weir::core::Outcome::Success, latency)
    );
    group.finish();
}

criterion_group!(benches, gcra, adaptive);

/// Nanoseconds per op of `ops` runs of `op`.
fn per_op(ops: u64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..ops {
        op();
    }
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn paired_main() {
    let reps = std::env::var("REPS")
        .ok()
        .and_then(|reps| reps.parse().ok())
        .unwrap_or(200);
    const N: u64 = 20_000;

    let gov = GLimiter::direct(gquota());
    let weir = RateLimiter::new(quota());
    paired(
        "gcra check, default clocks",
        reps,
        &mut [
            ("governor", &mut || {
                per_op(N, || {
                    black_box(gov.check()).ok();
                })
            }),
            ("weir", &mut || {
                per_op(N, || {
                    black_box(weir.try_acquire(1)).ok();
                })
            }),
        ],
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sem = Semaphore::new(64);
    let default = AdaptiveLimiter::new(aimd(true));
    let sampled = AdaptiveLimiter::new(aimd(true)).time_one_in(NonZeroU32::new(16).unwrap());
    let every = AdaptiveLimiter::new(aimd(true)).time_every();
    let lossy = AdaptiveLimiter::new(aimd(false));
    // `N` ops of `$op` in one `block_on`, as the criterion loops above: ns per op.
    macro_rules! looped {
        ($op:expr) => {
            &mut || {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..N {
                        $op;
                    }
                    start.elapsed().as_nanos() as f64 / N as f64
                })
            }
        };
    }
    let latency = Duration::from_millis(1);
    paired(
        "adaptive acquire+record vs semaphore acquire+release",
        reps,
        &mut [
            (
                "semaphore",
                looped!(drop(black_box(sem.acquire().await.unwrap()))),
            ),
            (
                "success (default: AIMD, 5 s timeout)",
                looped!(black_box(default.acquire().await.unwrap()).success()),
            ),
            (
                "record_latency",
                looped!(
                    black_box(default.acquire().await.unwrap())
                        .record_latency(weir::core::Outcome::Success, latency)
                ),
            ),
            (
                "success, time_one_in(16)",
                looped!(black_box(sampled.acquire().await.unwrap()).success()),
            ),
            (
                "success, time_every (every permit timed)",
                looped!(black_box(every.acquire().await.unwrap()).success()),
            ),
            (
                "success, no_timeout (loss-only AIMD)",
                looped!(black_box(lossy.acquire().await.unwrap()).success()),
            ),
            (
                "acquire_untimed + record",
                looped!(
                    black_box(default.acquire_untimed().await.unwrap())
                        .record(weir::core::Outcome::Success, latency)
                ),
            ),
        ],
    );
}

fn main() {
    paired::main(benches, paired_main);
}
