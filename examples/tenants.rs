//! Fair multi-tenant scheduling with `weir::pool`: one tenant floods, the others
//! barely notice.
//!
//! Four tenants share a pool of 4 workers. `noisy` submits ten times as many jobs
//! as each of `alpha`, `beta` and `gamma`, far more than the pool can run. Each
//! tenant has its own bounded queue (`key_capacity`), so `noisy`'s excess is
//! refused and handed back without touching anyone else's queue, and workers serve
//! the tenants with queued work by deficit round robin, so the quiet tenants' jobs
//! wait about as long as they would on an idle pool. A `health` class reserves one
//! unit of the budget, so health checks run even while every tenant is backlogged.
//!
//! Every 500 ms it prints each tenant's live counters (`Pool::key_stats`) and the
//! queue waits it measured.
//!
//! Run: `cargo run --example tenants`

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::{Instant, interval, sleep};
use weir::pool::{Job, Pool};

const TENANTS: [&str; 4] = ["noisy", "alpha", "beta", "gamma"];

/// What the example measures itself: per-tenant completions and queue waits.
#[derive(Default, Debug, Clone)]
struct Seen {
    completed: u64,
    refused: u64,
    wait_total: Duration,
    wait_max: Duration,
}

type Log = Arc<Mutex<BTreeMap<&'static str, Seen>>>;

fn job(log: &Log, tenant: &'static str) -> impl Future<Output = ()> + Send + 'static {
    let log = log.clone();
    let submitted = Instant::now();
    async move {
        let wait = submitted.elapsed();
        sleep(Duration::from_millis(5)).await; // the work
        let mut log = log.lock().unwrap();
        let seen = log.entry(tenant).or_default();
        seen.completed += 1;
        seen.wait_total += wait;
        seen.wait_max = seen.wait_max.max(wait);
    }
}

#[tokio::main]
async fn main() {
    let pool = Pool::builder()
        .workers(4)
        .budget(4)
        .key_capacity(16)
        .class("health", 1)
        .class("tenants", 0)
        .build()
        .unwrap();
    let health = pool.class("health").unwrap();
    let log = Log::default();

    // Each tenant submits every 10 ms: `noisy` 10 jobs, the others 1 each. The pool
    // runs 4 jobs per 5 ms = 8 per tick, so `noisy` alone is over capacity.
    let load = tokio::spawn({
        let (pool, log) = (pool.clone(), log.clone());
        async move {
            let mut tick = interval(Duration::from_millis(10));
            for _ in 0..250 {
                tick.tick().await;
                for tenant in TENANTS {
                    let n = if tenant == "noisy" { 10 } else { 1 };
                    for _ in 0..n {
                        if let Err(refused) = pool.try_submit_for(tenant, job(&log, tenant)) {
                            assert!(refused.is_full()); // only ever the tenant's own queue
                            log.lock().unwrap().entry(tenant).or_default().refused += 1;
                        }
                    }
                }
            }
        }
    });

    // A health check every 100 ms, in the reserved class.
    let checks = tokio::spawn({
        let pool = pool.clone();
        async move {
            let mut worst = Duration::ZERO;
            for _ in 0..25 {
                let asked = Instant::now();
                let check = Job::new(async move { asked.elapsed() }).class(health);
                worst = worst.max(pool.submit(check).await.unwrap().await.unwrap());
                sleep(Duration::from_millis(100)).await;
            }
            worst
        }
    });

    let mut report = interval(Duration::from_millis(500));
    report.tick().await;
    for _ in 0..5 {
        report.tick().await;
        println!(
            "{:>6} | {:>6} {:>7} {:>8} | {:>9} {:>8} {:>10} {:>9}",
            "tenant",
            "queued",
            "running",
            "accepted",
            "completed",
            "refused",
            "mean wait",
            "max wait"
        );
        let log = log.lock().unwrap().clone();
        for tenant in TENANTS {
            let live = pool.key_stats(&tenant).unwrap_or_default();
            let seen = log.get(tenant).cloned().unwrap_or_default();
            let mean = seen.wait_total / u32::try_from(seen.completed.max(1)).unwrap();
            println!(
                "{tenant:>6} | {:>6} {:>7} {:>8} | {:>9} {:>8} {:>10.1?} {:>9.1?}",
                live.queued,
                live.running,
                live.accepted,
                seen.completed,
                seen.refused,
                mean,
                seen.wait_max,
            );
        }
        println!();
    }

    load.await.unwrap();
    let worst_check = checks.await.unwrap();
    let closed = pool.close(Instant::now() + Duration::from_secs(1)).await;
    let log = log.lock().unwrap();
    let quiet_completed: Vec<u64> = TENANTS[1..].iter().map(|t| log[t].completed).collect();
    println!("health checks: worst wait {worst_check:?}");
    println!("closed: {closed:?}");
    // The quiet tenants got everything they asked for (250 jobs each), and `noisy`
    // got the rest of the pool.
    assert!(
        quiet_completed.iter().all(|&c| c == 250),
        "{quiet_completed:?}"
    );
    assert!(log["noisy"].refused > 0);
    assert_eq!(closed.stats.keys, 0);
}
