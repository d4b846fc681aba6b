//! Backpressure you can watch: 24 producers share a weir `Semaphore` whose ceiling is
//! lowered and raised while they run.
//!
//! Every 100 ms it prints the ceiling, the permits in use, the debt (in use above a
//! lowered ceiling, which is repaid as work finishes — nothing is preempted) and how
//! many producers are blocked. At the end the semaphore is closed and drained.
//!
//! Run: `cargo run --release --example backpressure`

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::{Instant, sleep};
use weir::Semaphore;

const PRODUCERS: usize = 24;

/// The ceiling over time: (seconds from start, capacity).
const SCRIPT: &[(f64, usize)] = &[(0.0, 12), (1.2, 3), (2.6, 20), (3.8, 8)];
const RUN_FOR: Duration = Duration::from_millis(5_000);

#[tokio::main]
async fn main() {
    let sem = Arc::new(Semaphore::new(SCRIPT[0].1));
    let done_jobs = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|id| {
            let sem = sem.clone();
            let done_jobs = done_jobs.clone();
            tokio::spawn(async move {
                let mut job = id;
                loop {
                    let weight = 1 + job % 3;
                    let Ok(permit) = sem.clone().acquire_many_owned(weight).await else {
                        return; // closed: stop producing
                    };
                    // "Work": 120-480 ms, holding `weight` permits.
                    sleep(Duration::from_millis(120 + (job * 37 % 360) as u64)).await;
                    drop(permit);
                    done_jobs.fetch_add(1, Ordering::Relaxed);
                    job += PRODUCERS;
                }
            })
        })
        .collect();

    let controller = {
        let sem = sem.clone();
        tokio::spawn(async move {
            for &(at, capacity) in &SCRIPT[1..] {
                tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
                sem.set_capacity(capacity);
                println!("          >>> set_capacity({capacity})");
            }
        })
    };

    println!(" time  ceiling  in-use  debt  blocked  load");
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut worst_excess_after_repay = 0usize;
    let mut last_capacity = sem.capacity();
    let mut repaid = true;
    while start.elapsed() < RUN_FOR {
        ticker.tick().await;
        let (capacity, in_use, waiters) = (sem.capacity(), sem.in_use(), sem.waiters());
        if capacity != last_capacity {
            repaid = in_use <= capacity;
            last_capacity = capacity;
        } else if in_use <= capacity {
            repaid = true;
        } else if repaid {
            worst_excess_after_repay = worst_excess_after_repay.max(in_use - capacity);
        }
        let debt = in_use.saturating_sub(capacity);
        let bar: String = (0..capacity.max(in_use))
            .map(|slot| match (slot < in_use, slot < capacity) {
                (true, true) => '#',
                (true, false) => '!',
                (false, _) => '.',
            })
            .collect();
        println!(
            "{:>4.1}s  {capacity:>7}  {in_use:>6}  {debt:>4}  {waiters:>7}  {bar}",
            start.elapsed().as_secs_f64()
        );
    }

    controller.await.unwrap();
    sem.close();
    println!("closed: blocked producers fail at once; waiting for work in flight...");
    let drain_started = Instant::now();
    sem.wait_idle().await;
    println!(
        "drained in {:?}: in-use {} of {}",
        drain_started.elapsed(),
        sem.in_use(),
        sem.capacity()
    );
    for producer in producers {
        producer.await.unwrap();
    }
    println!(
        "{} jobs done; in-use above the ceiling after its debt was repaid: {}",
        done_jobs.load(Ordering::Relaxed),
        worst_excess_after_repay
    );
    assert_eq!(sem.in_use(), 0, "permits leaked");
    assert_eq!(
        worst_excess_after_repay, 0,
        "ceiling exceeded after repayment"
    );
}
