//! The shapes of `benches/semaphore.rs`, measured in pairs.
//!
//! criterion measures one implementation for seconds, then the next. On a shared
//! 2-core VM the host's CPU steal comes and goes on that time scale, and a
//! multi-threaded runtime feels it badly (a worker descheduled while holding the
//! semaphore's lock stalls the other), so criterion's ratios swing by ±30 % from run
//! to run. Here every repetition runs weir, tokio and async-lock back to
//! back on the same runtime, each ratio is taken within one repetition, and the report
//! gives the quartiles of those paired ratios.
//!
//! Run: `cargo bench --bench semaphore_paired` (`REPS=n` sets the repetitions,
//! default 300). Under `cargo test --benches` it makes 3 repetitions as a smoke test.

use std::{hint::black_box, sync::Arc, time::Instant};

use tokio::runtime::Builder;

#[path = "support/sem.rs"]
#[allow(
    dead_code,
    reason = "the paired runs use only `acquire`; `benches/semaphore.rs` uses the rest"
)]
mod sem;
use sem::{Sem, contend};

/// One contended shape: `tasks` tasks each acquire `rounds` times on `permits`
/// permits, yielding while they hold.
struct Shape {
    label: &'static str,
    tasks: usize,
    permits: usize,
    rounds: usize,
    weight: fn(usize) -> usize,
    /// async-lock has no weighted acquire.
    with_async_lock: bool,
}

const SHAPES: [Shape; 3] = [
    Shape {
        label: "64_tasks_4_permits",
        tasks: 64,
        permits: 4,
        rounds: 50,
        weight: |_| 1,
        with_async_lock: true,
    },
    Shape {
        label: "8_tasks_64_permits",
        tasks: 8,
        permits: 64,
        rounds: 400,
        weight: |_| 1,
        with_async_lock: true,
    },
    Shape {
        label: "mixed_weights_32_tasks_8_permits",
        tasks: 32,
        permits: 8,
        rounds: 50,
        weight: |i| 1 + i % 4,
        with_async_lock: false,
    },
];

/// Runs `shape` once on a fresh semaphore; returns nanoseconds per acquire.
async fn run_once<S: Sem>(shape: &Shape) -> f64 {
    let sem = Arc::new(S::new(shape.permits));
    let start = Instant::now();
    contend(sem, shape.tasks, shape.rounds, shape.weight).await;
    start.elapsed().as_nanos() as f64 / (shape.tasks * shape.rounds) as f64
}

/// Acquire+release pairs per uncontended measurement.
const OPS: usize = 10_000;

/// `OPS` acquire+release pairs on a current-thread runtime; nanoseconds per pair.
fn uncontended<S: Sem>(rt: &tokio::runtime::Runtime) -> f64 {
    let sem = S::new(OPS);
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..OPS {
            black_box(sem.acquire(1).await);
        }
    });
    start.elapsed().as_nanos() as f64 / OPS as f64
}

/// `OPS` `try_acquire` calls (each permit dropped at once); nanoseconds per call.
fn try_acquire<S: Sem>() -> f64 {
    let sem = S::new(1);
    let start = Instant::now();
    for _ in 0..OPS {
        black_box(sem.try_acquire());
    }
    start.elapsed().as_nanos() as f64 / OPS as f64
}

/// Prints the quartiles of each implementation's times and of weir's paired ratios.
fn report(label: &str, weir: &mut [f64], tokio: &mut [f64], async_lock: &mut [f64]) {
    let mut vs_tokio: Vec<f64> = weir.iter().zip(&*tokio).map(|(w, t)| w / t).collect();
    let mut vs_async_lock: Vec<f64> = weir.iter().zip(&*async_lock).map(|(w, a)| w / a).collect();
    println!("{label}");
    for (name, times) in [("weir", weir), ("tokio", tokio), ("async-lock", async_lock)] {
        if !times.is_empty() {
            let [p25, p50, p75] = quartiles(times);
            println!("  {name:<12} ns/op {p25:7.1} {p50:7.1} {p75:7.1}");
        }
    }
    let [p25, p50, p75] = quartiles(&mut vs_tokio);
    println!("  weir / tokio      {p25:.2} {p50:.2} {p75:.2}");
    if !vs_async_lock.is_empty() {
        let [p25, p50, p75] = quartiles(&mut vs_async_lock);
        println!("  weir / async-lock {p25:.2} {p50:.2} {p75:.2}");
    }
}

/// The `q`-quantile of `values` (sorted in place).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

fn quartiles(values: &mut [f64]) -> [f64; 3] {
    [0.25, 0.5, 0.75].map(|q| quantile(values, q))
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let reps = std::env::var("REPS")
        .ok()
        .and_then(|reps| reps.parse().ok())
        .unwrap_or(if full { 300 } else { 3 });
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    println!("paired runs, {reps} repetitions (quartiles p25 / p50 / p75)");
    let current = Builder::new_current_thread().build().unwrap();
    let (mut weir, mut tokio, mut async_lock) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        weir.push(uncontended::<weir::Semaphore>(&current));
        tokio.push(uncontended::<tokio::sync::Semaphore>(&current));
        async_lock.push(uncontended::<async_lock::Semaphore>(&current));
    }
    report(
        "uncontended acquire+release (current thread)",
        &mut weir,
        &mut tokio,
        &mut async_lock,
    );
    let (mut weir, mut tokio, mut async_lock) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        weir.push(try_acquire::<weir::Semaphore>());
        tokio.push(try_acquire::<tokio::sync::Semaphore>());
        async_lock.push(try_acquire::<async_lock::Semaphore>());
    }
    report("try_acquire", &mut weir, &mut tokio, &mut async_lock);
    for shape in &SHAPES {
        let (mut weir, mut tokio, mut async_lock) = (Vec::new(), Vec::new(), Vec::new());
        rt.block_on(async {
            for _ in 0..reps {
                weir.push(run_once::<weir::Semaphore>(shape).await);
                tokio.push(run_once::<tokio::sync::Semaphore>(shape).await);
                if shape.with_async_lock {
                    async_lock.push(run_once::<async_lock::Semaphore>(shape).await);
                }
            }
        });
        let label = format!("contended {} (2 workers)", shape.label);
        report(&label, &mut weir, &mut tokio, &mut async_lock);
    }
}
