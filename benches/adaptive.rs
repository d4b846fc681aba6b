//! The rate and adaptive limiters against their baselines, in one run:
//!
//! - `gcra`: `RateLimiter::try_acquire(1)` against `governor`'s `check()`, on the
//!   same clock (`std`'s `Instant`), on a fake clock (the algorithm alone) and on
//!   each crate's default clock (tokio's vs quanta's). Target: ≤ 1.0× governor.
//!   (The default clocks differ in kind: quanta reads the TSC, tokio's clock is
//!   `clock_gettime`.)
//! - `adaptive`: an `AdaptiveLimiter` (AIMD) acquire + record against a plain weir
//!   `Semaphore` acquire + release. Target: ≤ 1.5×. `untimed` reads no clock (the
//!   caller passes the latency); `record_latency` reads it once (at the acquire),
//!   `success` twice: each read is a `clock_gettime`.
//!
//! Run: `cargo bench --bench adaptive` (add `-- --quick` for a fast pass).

use std::{
    hint::black_box,
    num::NonZeroU32,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{
    Quota as GQuota, RateLimiter as GLimiter,
    clock::{FakeRelativeClock, MonotonicClock},
};
use weir::core::{
    AdaptiveLimiter, Quota, RateLimiter, Semaphore,
    adaptive::Aimd,
    rate::{ManualClock, StdClock, TokioClock},
};

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

    let weir = RateLimiter::with_clock(quota(), TokioClock::new());
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
    group.finish();
}

fn adaptive(c: &mut Criterion) {
    let mut group = c.benchmark_group("adaptive");
    group.throughput(criterion::Throughput::Elements(OPS));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let sem = Semaphore::new(64);
    group.bench_function("semaphore_acquire_release", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * OPS {
                    drop(black_box(sem.acquire().await.unwrap()));
                }
                start.elapsed()
            })
        })
    });
    let aimd = Aimd::builder()
        .initial_limit(64)
        .max_limit(64)
        .build()
        .unwrap();
    let limiter = AdaptiveLimiter::new(aimd);
    group.bench_function("adaptive_acquire_success", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * OPS {
                    black_box(limiter.acquire().await.unwrap()).success();
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("adaptive_acquire_record_latency", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * OPS {
                    black_box(limiter.acquire().await.unwrap())
                        .record_latency(weir::core::Outcome::Success, Duration::from_millis(1));
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("adaptive_untimed_acquire_record", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * OPS {
                    black_box(limiter.acquire_untimed().await.unwrap())
                        .record(weir::core::Outcome::Success, Duration::from_millis(1));
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, gcra, adaptive);
criterion_main!(benches);
