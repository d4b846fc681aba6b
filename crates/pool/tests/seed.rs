//! The five pool tests from the seed article, made deterministic with paused time
//! and tokio-test.

mod common;

use std::time::Duration;

use common::{assert_adds_up, gated, settle};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready, task};
use tokio_util::sync::CancellationToken;
use weir_pool::{JobError, Overflow, Pool, TrySubmitError};

#[tokio::test(start_paused = true)]
async fn buffer_blocks_at_capacity() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let running = pool.submit(gated(&gate, 0)).await.unwrap();
    settle().await; // the worker takes it: the queue is empty again
    let q1 = pool.submit(async { 1 }).await.unwrap();
    let q2 = pool.submit(async { 2 }).await.unwrap();
    assert_eq!(pool.stats().queued, 2);

    let mut blocked = task::spawn(pool.submit(async { 3 }));
    assert_pending!(blocked.poll());
    settle().await;
    assert_pending!(blocked.poll(), "a full queue must make submit wait");

    gate.cancel(); // the worker finishes, takes q1, and frees its slot
    settle().await;
    assert!(blocked.is_woken());
    let q3 = assert_ready!(blocked.poll()).unwrap();
    assert_eq!(running.await.unwrap(), 0);
    assert_eq!(
        (q1.await.unwrap(), q2.await.unwrap(), q3.await.unwrap()),
        (1, 2, 3)
    );
    assert_adds_up(&pool.stats());
}

#[tokio::test(start_paused = true)]
async fn try_submit_fails_when_full() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.try_submit(gated(&gate, ())).unwrap();
    settle().await;
    let _queued = pool.try_submit(async {}).unwrap();

    let err = pool.try_submit(async { "mine" }).unwrap_err();
    assert!(matches!(err, TrySubmitError::Full(_)));
    assert_eq!(err.into_inner().await, "mine", "the job comes back intact");
    let stats = pool.stats();
    assert_eq!((stats.refused_full, stats.submitted), (1, 2));

    gate.cancel();
    settle().await;
    assert!(
        pool.try_submit(async {}).is_ok(),
        "room again once the worker moves on"
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_submit_times_out() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.submit(gated(&gate, ())).await.unwrap();
    settle().await;
    let _queued = pool.submit(async {}).await.unwrap();

    let start = Instant::now();
    let err = pool
        .submit_timeout(async { 7 }, Duration::from_millis(250))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert_eq!(err.into_inner().await, 7);
    let stats = pool.stats();
    assert_eq!(
        (stats.refused_timeout, stats.submitted, stats.queued),
        (1, 2, 1)
    );

    // The timed-out wait left no slot behind: once room frees, a submit gets in.
    gate.cancel();
    let h = pool
        .submit_timeout(async { 8 }, Duration::from_millis(250))
        .await
        .unwrap();
    assert_eq!(h.await.unwrap(), 8);
}

#[tokio::test(start_paused = true)]
async fn close_drains_in_flight_work() {
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(8)
        .build()
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..6_u64 {
        let job = async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            i
        };
        handles.push(pool.submit(job).await.unwrap());
    }
    settle().await;
    let start = Instant::now();
    let report = pool.close(start + Duration::from_secs(60)).await;
    // 6 one-second jobs on 2 workers: 3 seconds, well inside the deadline.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!((report.completed, report.total()), (6, 6));
    assert!(!report.deadline_passed && !report.aborted);
    for (i, handle) in handles.into_iter().enumerate() {
        assert!(handle.is_finished());
        assert_eq!(handle.await.unwrap(), i as u64);
    }
    assert!(pool.submit(async {}).await.unwrap_err().is_closed());
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.refused_closed, stats.live_workers),
        (6, 1, 0)
    );
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn drops_are_counted() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(2)
        .overflow(Overflow::EvictOldest)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.submit(gated(&gate, 0)).await.unwrap();
    settle().await;
    let mut handles = Vec::new();
    for i in 1..=5 {
        handles.push(pool.try_submit(gated(&gate, i)).unwrap());
    }
    // Five into two slots: jobs 1..=3 were evicted, oldest first.
    let stats = pool.stats();
    assert_eq!(
        (stats.submitted, stats.dropped, stats.evicted, stats.queued),
        (6, 3, 3, 2)
    );
    assert_adds_up(&stats);
    gate.cancel();
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await.map_err(|e| matches!(e, JobError::Dropped)));
    }
    assert_eq!(outcomes, [Err(true), Err(true), Err(true), Ok(4), Ok(5)]);
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.dropped), (3, 3));
    assert_adds_up(&stats);
}
