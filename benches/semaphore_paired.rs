//! The contended shapes of `benches/semaphore.rs`, measured in pairs.
//!
//! criterion measures one implementation for seconds, then the next. On a shared
//! 2-core VM the host's CPU steal comes and goes on that time scale, and a
//! multi-threaded runtime feels it badly (a worker descheduled while holding the
//! semaphore's lock stalls the other), so criterion's ratios for these shapes swing by
//! ±30 % from run to run. Here every repetition runs weir, tokio and async-lock back to
//! back on the same runtime, each ratio is taken within one repetition, and the report
//! gives the quartiles of those paired ratios.
//!
//! Run: `cargo bench --bench semaphore_paired` (`REPS=n` sets the repetitions,
//! default 300). Under `cargo test --benches` it makes 3 repetitions as a smoke test.

use std::{sync::Arc, time::Instant};

use tokio::runtime::Builder;

#[path = "support/sem.rs"]
#[allow(
    dead_code,
    reason = "the paired runs use only `acquire`; `benches/semaphore.rs` uses the rest"
)]
mod sem;
use sem::Sem;

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
    let (rounds, weight) = (shape.rounds, shape.weight);
    let start = Instant::now();
    let tasks: Vec<_> = (0..shape.tasks)
        .map(|task| {
            let sem = sem.clone();
            tokio::spawn(async move {
                for round in 0..rounds {
                    let permit = sem.acquire(weight(task + round)).await;
                    tokio::task::yield_now().await;
                    drop(permit);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed().as_nanos() as f64 / (shape.tasks * shape.rounds) as f64
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
    println!("paired contended runs, {reps} repetitions, 2 workers (quartiles p25 / p50 / p75)");
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
        let mut vs_tokio: Vec<f64> = weir.iter().zip(&tokio).map(|(w, t)| w / t).collect();
        let mut vs_async_lock: Vec<f64> =
            weir.iter().zip(&async_lock).map(|(w, a)| w / a).collect();
        println!("{}", shape.label);
        for (name, times) in [
            ("weir", &mut weir),
            ("tokio", &mut tokio),
            ("async-lock", &mut async_lock),
        ] {
            if !times.is_empty() {
                let [p25, p50, p75] = quartiles(times);
                println!("  {name:<12} ns/acquire {p25:7.0} {p50:7.0} {p75:7.0}");
            }
        }
        let [p25, p50, p75] = quartiles(&mut vs_tokio);
        println!("  weir / tokio      {p25:.2} {p50:.2} {p75:.2}");
        if !vs_async_lock.is_empty() {
            let [p25, p50, p75] = quartiles(&mut vs_async_lock);
            println!("  weir / async-lock {p25:.2} {p50:.2} {p75:.2}");
        }
    }
}
