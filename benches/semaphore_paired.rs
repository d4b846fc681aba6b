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
//! For the shape where nobody waits (8 tasks on 64 permits) the same loop also runs
//! with no semaphore at all: that is the cost of the tokio scheduler alone (spawn,
//! `yield_now`, join), which no semaphore can go below. The report then gives each
//! semaphore's own cost above that floor, which is what the semaphore controls.
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
    /// Also run the loop with no semaphore (only meaningful where nobody waits).
    with_floor: bool,
}

/// The loop without a semaphore: every acquire succeeds at once and holds nothing.
struct NoSemaphore;

impl Sem for NoSemaphore {
    const NAME: &'static str = "no semaphore";
    fn new(_permits: usize) -> Self {
        NoSemaphore
    }
    async fn acquire(&self, _n: usize) -> impl Send + '_ {}
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        Some(())
    }
}

const SHAPES: [Shape; 3] = [
    Shape {
        label: "64_tasks_4_permits",
        tasks: 64,
        permits: 4,
        rounds: 50,
        weight: |_| 1,
        with_async_lock: true,
        with_floor: false,
    },
    Shape {
        label: "8_tasks_64_permits",
        tasks: 8,
        permits: 64,
        rounds: 400,
        weight: |_| 1,
        with_async_lock: true,
        with_floor: true,
    },
    Shape {
        label: "mixed_weights_32_tasks_8_permits",
        tasks: 32,
        permits: 8,
        rounds: 50,
        weight: |i| 1 + i % 4,
        with_async_lock: false,
        with_floor: false,
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

/// For runs paired with the no-semaphore loop: its time, its share of tokio's, and
/// weir's cost above it relative to tokio's cost above it (all paired quartiles).
fn floor_report(floor: &[f64], weir: &[f64], tokio: &[f64]) -> Option<String> {
    if floor.is_empty() {
        return None;
    }
    let mut times = floor.to_vec();
    let mut share: Vec<f64> = floor.iter().zip(tokio).map(|(f, t)| f / t).collect();
    let mut above: Vec<f64> = (floor.iter().zip(weir).zip(tokio))
        .map(|((f, w), t)| (w - f) / (t - f))
        .collect();
    let [t25, t50, t75] = quartiles(&mut times);
    let [s25, s50, s75] = quartiles(&mut share);
    let [a25, a50, a75] = quartiles(&mut above);
    Some(format!(
        "  {:<12} ns/op {t25:7.1} {t50:7.1} {t75:7.1}\n  \
         no semaphore / tokio  {s25:.2} {s50:.2} {s75:.2}  (the scheduler's share)\n  \
         weir / tokio above it {a25:.2} {a50:.2} {a75:.2}  (the semaphores' own cost)",
        NoSemaphore::NAME
    ))
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
        let mut floor = Vec::new();
        rt.block_on(async {
            for _ in 0..reps {
                weir.push(run_once::<weir::Semaphore>(shape).await);
                tokio.push(run_once::<tokio::sync::Semaphore>(shape).await);
                if shape.with_async_lock {
                    async_lock.push(run_once::<async_lock::Semaphore>(shape).await);
                }
                if shape.with_floor {
                    floor.push(run_once::<NoSemaphore>(shape).await);
                }
            }
        });
        let label = format!("contended {} (2 workers)", shape.label);
        let above_floor = floor_report(&floor, &weir, &tokio);
        report(&label, &mut weir, &mut tokio, &mut async_lock);
        if let Some(lines) = above_floor {
            println!("{lines}");
        }
    }
}
