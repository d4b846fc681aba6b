//! weir's `Semaphore` side by side with `tokio::sync::Semaphore` and
//! `async_lock::Semaphore`, in one run. Each group benchmarks the same shape for every
//! implementation, so criterion's report gives the ratio directly.
//!
//! Run: `cargo bench --bench semaphore` (add `-- --quick` for a fast pass).

use std::{hint::black_box, sync::Arc, time::Duration};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::{Builder, Runtime};

/// Acquire+release pairs per measured iteration in the uncontended groups.
const OPS: usize = 1_000;

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[path = "support/sem.rs"]
mod sem;
use sem::{Sem, contend};

fn uncontended<S: Sem>(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let rt = current_thread();
    let sem = S::new(OPS);
    c.bench_function(BenchmarkId::new("acquire_release", S::NAME), |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..OPS {
                    black_box(sem.acquire(1).await);
                }
            })
        })
    });
}

fn try_acquire<S: Sem>(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let sem = S::new(1);
    c.bench_function(BenchmarkId::new("try_acquire", S::NAME), |b| {
        b.iter(|| {
            for _ in 0..OPS {
                black_box(sem.try_acquire());
            }
        })
    });
}

/// `tasks` tasks each acquire (weight from `weight`) and release `rounds` times on
/// `permits` permits, yielding while they hold.
fn contended<S: Sem>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    tasks: usize,
    permits: usize,
    rounds: usize,
    weight: fn(usize) -> usize,
) {
    let rt = multi_thread();
    g.bench_function(BenchmarkId::new(label, S::NAME), |b| {
        b.iter(|| {
            let sem = Arc::new(S::new(permits));
            rt.block_on(contend(sem, tasks, rounds, weight))
        })
    });
}

fn bench_uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended");
    g.throughput(criterion::Throughput::Elements(OPS as u64));
    uncontended::<weir::Semaphore>(&mut g);
    uncontended::<tokio::sync::Semaphore>(&mut g);
    uncontended::<async_lock::Semaphore>(&mut g);
    try_acquire::<weir::Semaphore>(&mut g);
    try_acquire::<tokio::sync::Semaphore>(&mut g);
    try_acquire::<async_lock::Semaphore>(&mut g);
    g.finish();
}

fn bench_contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("contended");
    g.sample_size(20);
    let one = |_| 1;
    contended::<weir::Semaphore>(&mut g, "64_tasks_4_permits", 64, 4, 50, one);
    contended::<tokio::sync::Semaphore>(&mut g, "64_tasks_4_permits", 64, 4, 50, one);
    contended::<async_lock::Semaphore>(&mut g, "64_tasks_4_permits", 64, 4, 50, one);
    contended::<weir::Semaphore>(&mut g, "8_tasks_64_permits", 8, 64, 400, one);
    contended::<tokio::sync::Semaphore>(&mut g, "8_tasks_64_permits", 8, 64, 400, one);
    contended::<async_lock::Semaphore>(&mut g, "8_tasks_64_permits", 8, 64, 400, one);
    let mixed = |i| 1 + i % 4;
    contended::<weir::Semaphore>(&mut g, "mixed_weights_32_tasks_8_permits", 32, 8, 50, mixed);
    contended::<tokio::sync::Semaphore>(
        &mut g,
        "mixed_weights_32_tasks_8_permits",
        32,
        8,
        50,
        mixed,
    );
    g.finish();
}

/// A churner moves the ceiling between 2 and 8 while 32 tasks acquire. tokio has no
/// ceiling: it gets the closest equivalent, `add_permits` / `forget_permits` of the
/// same amounts (which cannot take back permits in use).
fn bench_resize(c: &mut Criterion) {
    let mut g = c.benchmark_group("set_capacity_churn");
    g.sample_size(20);
    let rt = multi_thread();
    const TASKS: usize = 32;
    const ROUNDS: usize = 50;
    g.bench_function(BenchmarkId::new("32_tasks", "weir"), |b| {
        b.iter(|| {
            let sem = Arc::new(weir::Semaphore::new(8));
            rt.block_on(run_churn(sem.clone(), move |i| {
                sem.set_capacity(if i % 2 == 0 { 2 } else { 8 })
            }))
        })
    });
    g.bench_function(BenchmarkId::new("32_tasks", "tokio"), |b| {
        b.iter(|| {
            let sem = Arc::new(tokio::sync::Semaphore::new(8));
            let forgotten = std::sync::atomic::AtomicUsize::new(0);
            rt.block_on(run_churn(sem.clone(), move |i| {
                use std::sync::atomic::Ordering::Relaxed;
                if i % 2 == 0 {
                    forgotten.fetch_add(sem.forget_permits(6), Relaxed);
                } else {
                    sem.add_permits(forgotten.swap(0, Relaxed));
                }
            }))
        })
    });
    g.finish();

    async fn run_churn<S: Sem>(sem: Arc<S>, resize: impl Fn(usize) + Send + 'static) {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churner = {
            let done = done.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    resize(i);
                    i += 1;
                    tokio::task::yield_now().await;
                }
                // Leave the ceiling up so nobody is stranded.
                resize(1);
            })
        };
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let sem = sem.clone();
                tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        let permit = sem.acquire(1).await;
                        tokio::task::yield_now().await;
                        drop(permit);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        churner.await.unwrap();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_uncontended, bench_contended, bench_resize
}
criterion_main!(benches);
