//! A tour of `weir::pool`: an image-thumbnailing service that bounds its work.
//!
//! - requests arrive faster than the pool can run them; `submit_timeout` sheds the
//!   ones that cannot get queue room in time, and hands the job back;
//! - big images take more of the budget (weights);
//! - a slow job hits its run timeout, a buggy one panics, and neither hurts the rest;
//! - a client gives up and cancels its job;
//! - an observer keeps metrics; the counters add up;
//! - at shutdown, `close(deadline)` drains, cancels cooperative jobs, and reports.
//!
//! Run: `cargo run --example pool`

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::{Instant, sleep};
use weir::pool::{Finished, Job, JobError, Observer, Outcome, Pool, Refused, with_context};

/// Counts finished jobs by outcome, as a metrics exporter would.
#[derive(Default)]
struct Metrics {
    completed: AtomicU64,
    other: AtomicU64,
    refused: AtomicU64,
}

impl Observer for Metrics {
    fn on_finish(&self, event: &Finished) {
        let counter = match event.outcome {
            Outcome::Completed => &self.completed,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn on_refuse(&self, _event: &Refused) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
}

/// Pretend to resize an image: time grows with its size.
async fn thumbnail(id: u32, megapixels: u32) -> String {
    sleep(Duration::from_millis(u64::from(megapixels) * 40)).await;
    format!("thumb-{id}.jpg")
}

#[tokio::main]
async fn main() {
    let metrics = Arc::new(Metrics::default());
    let pool = Pool::builder()
        .workers(4)
        .budget(8) // total megapixel-units in flight
        .queue_capacity(16)
        .run_timeout(Duration::from_millis(500))
        .observer(metrics.clone())
        .build()
        .expect("valid config");

    // 1. A burst of 40 requests; each waits at most 20 ms for queue room.
    let mut handles = Vec::new();
    let mut shed = 0;
    for id in 0..40_u32 {
        let megapixels = 1 + id % 4; // weights 1..=4
        let job = Job::new(thumbnail(id, megapixels)).weight(megapixels as usize);
        match pool.submit_timeout(job, Duration::from_millis(20)).await {
            Ok(handle) => handles.push(handle),
            Err(refused) => {
                // The job comes back: we could retry it, or answer "busy".
                let _job = refused.into_inner();
                shed += 1;
            }
        }
    }
    println!(
        "accepted {} requests, shed {shed} under load",
        handles.len()
    );

    // 2. A slow job times out, a buggy one panics; the pool carries on.
    let slow = pool.submit(sleep(Duration::from_secs(5))).await.unwrap();
    let buggy = pool
        .submit(async { panic!("corrupt image") })
        .await
        .unwrap();

    // 3. A client disconnects: cancel its job wherever it is.
    let abandoned = pool.submit(thumbnail(999, 4)).await.unwrap();
    abandoned.cancel();

    // 4. A cooperative background job that stops when the pool closes (and is
    //    exempt from the run timeout).
    let indexer = with_context(|cx| async move {
        let mut indexed = 0_u32;
        while !cx.token().is_cancelled() {
            sleep(Duration::from_millis(20)).await;
            indexed += 1;
        }
        indexed
    });
    let indexer = pool.submit(Job::new(indexer).no_timeout()).await.unwrap();

    let mut done = 0;
    for handle in handles {
        if handle.await.is_ok() {
            done += 1;
        }
    }
    println!("{done} thumbnails done");
    assert!(matches!(slow.await, Err(JobError::TimedOut)));
    let panic = buggy.await.unwrap_err().into_panic().unwrap();
    println!("buggy job panicked: {:?}", panic.message());
    assert!(matches!(abandoned.await, Err(JobError::Cancelled)));

    let stats = pool.stats();
    println!("{stats:#?}");
    assert_eq!(
        stats.submitted,
        stats.finished() + stats.queued + stats.running,
        "the counters add up"
    );

    // 5. Shut down: one second to drain; the indexer stops at the deadline.
    let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
    println!("close report: {report:#?}");
    println!("indexer stopped after {} rounds", indexer.await.unwrap());
    println!(
        "observer: {} completed, {} other, {} refused",
        metrics.completed.load(Ordering::Relaxed),
        metrics.other.load(Ordering::Relaxed),
        metrics.refused.load(Ordering::Relaxed),
    );
    assert_eq!(report.stats.refused(), shed);
}
