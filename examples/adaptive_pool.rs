//! A `weir::pool` whose budget is driven by a windowed AIMD (`Builder::adaptive`:
//! one step per window of at least 100 ms, so a burst of timeouts is one backoff),
//! following
//! a downstream whose capacity is scripted: 40, then 10, then 40 again. Printed
//! once per simulated 250 ms (paused tokio time: it runs in well under a second).
//!
//! Each job calls the downstream; a call past its capacity hangs until the pool's
//! run timeout, which the pool feeds to AIMD as an overload. Completed calls are
//! successes and let the budget grow again.
//!
//! ```text
//! cargo run --example adaptive_pool
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::time::sleep;
use weir::{
    core::adaptive::{Aimd, Windowed},
    pool::Pool,
};

/// Calls in progress and the capacity past which calls hang.
#[derive(Default)]
struct Downstream {
    running: AtomicUsize,
    capacity: AtomicUsize,
}

impl Downstream {
    async fn call(self: Arc<Self>) {
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let n = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _leave = Leave(&self.running);
        if n > self.capacity.load(Ordering::SeqCst) {
            std::future::pending::<()>().await; // overloaded: runs into the timeout
        }
        sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    const BUDGET: usize = 64;
    let aimd = Windowed::new(
        Aimd::builder()
            .initial_limit(BUDGET)
            .max_limit(BUDGET)
            .build()
            .expect("valid AIMD"),
    );
    let pool = Arc::new(
        Pool::builder()
            .workers(BUDGET)
            .budget(BUDGET) // the start and the ceiling
            .queue_capacity(2 * BUDGET)
            .run_timeout(Duration::from_millis(50))
            .adaptive(aimd)
            .build()
            .expect("valid pool"),
    );
    let downstream = Arc::new(Downstream::default());

    // Keep the queue full.
    let driver = {
        let (pool, downstream) = (pool.clone(), downstream.clone());
        tokio::spawn(async move { while pool.submit(downstream.clone().call()).await.is_ok() {} })
    };

    println!(
        "{:>6} {:>8} {:>6} {:>8} {:>9} {:>9}",
        "t(ms)", "capacity", "budget", "running", "completed", "timed_out"
    );
    let mut completed_before = 0;
    for (phase, capacity) in [40, 10, 40].into_iter().enumerate() {
        downstream.capacity.store(capacity, Ordering::SeqCst);
        let mut budgets = Vec::new();
        for step in 0..12 {
            sleep(Duration::from_millis(250)).await;
            let stats = pool.stats();
            let limit = pool.limit().expect("an adaptive pool");
            assert_eq!(limit.limit, stats.budget);
            budgets.push(limit.limit);
            println!(
                "{:>6} {:>8} {:>6} {:>8} {:>9} {:>9}",
                (phase * 12 + step + 1) * 250,
                capacity,
                limit.limit,
                stats.running,
                stats.completed,
                stats.timed_out,
            );
        }
        let stats = pool.stats();
        assert!(stats.completed > completed_before, "work kept flowing");
        completed_before = stats.completed;
        let mean = budgets.iter().sum::<usize>() / budgets.len();
        println!("  phase {phase}: capacity {capacity}, mean budget {mean}");
    }

    pool.close(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    driver.await.expect("driver task");
    let limit = pool.limit().expect("an adaptive pool");
    println!(
        "samples {} (overloads {}), final budget {} within [{}, {}]",
        limit.samples, limit.overloads, limit.limit, limit.floor, limit.ceiling
    );
}
