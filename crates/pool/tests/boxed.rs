//! Jobs submitted as boxed futures (`Pin<Box<dyn Future + Send>>`) or plain ones,
//! which the pool runs from the handle's cell rather than from a task allocation of
//! their own: every fate and guarantee must be the same as for any other job.

mod common;

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{assert_adds_up, settle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_pool::{JobError, JobHandle, Overflow, Pool, TrySubmitError};

type BoxJob<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Sets its flag when dropped: shows when a job's future is dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A boxed job that waits for `gate`, then returns `value`; `dropped` is set when
/// its future is dropped.
fn gated(gate: &CancellationToken, value: u64, dropped: &Arc<AtomicBool>) -> BoxJob<u64> {
    let gate = gate.clone();
    let flag = DropFlag(dropped.clone());
    Box::pin(async move {
        let _flag = flag;
        gate.cancelled().await;
        value
    })
}

fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

#[tokio::test(start_paused = true)]
async fn boxed_jobs_complete_panic_and_count() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let ok: BoxJob<u64> = Box::pin(async { 7 });
    let boom: BoxJob<u64> = Box::pin(async { panic!("boxed boom") });
    let ok = pool.submit(ok).await.unwrap();
    let boom = pool.submit(boom).await.unwrap();
    assert_eq!(ok.await.unwrap(), 7);
    let err = boom.await.unwrap_err();
    assert_eq!(err.into_panic().unwrap().message(), Some("boxed boom"));
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.panicked), (1, 1));
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn cancelling_queued_and_running_boxed_jobs() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let gate = CancellationToken::new();
    let (ran, queued_dropped) = (flag(), flag());
    let running = pool.submit(gated(&gate, 1, &ran)).await.unwrap();
    settle().await;
    let started = Arc::new(AtomicBool::new(false));
    let queued = {
        let started = started.clone();
        let flag = DropFlag(queued_dropped.clone());
        let job: BoxJob<u64> = Box::pin(async move {
            let _flag = flag;
            started.store(true, Ordering::SeqCst);
            2
        });
        pool.submit(job).await.unwrap()
    };
    queued.cancel();
    assert!(queued.is_finished());
    assert!(
        queued_dropped.load(Ordering::SeqCst),
        "a cancelled queued job is dropped at once"
    );
    assert!(matches!(queued.await, Err(JobError::Cancelled)));
    running.cancel();
    assert!(matches!(running.await, Err(JobError::Cancelled)));
    assert!(ran.load(Ordering::SeqCst));
    settle().await;
    assert!(
        !started.load(Ordering::SeqCst),
        "a cancelled queued job never starts"
    );
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.queued, stats.running), (2, 0, 0));
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn a_boxed_job_may_cancel_its_own_handle() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<Arc<JobHandle<u64>>>();
    let job: BoxJob<u64> = Box::pin(async move {
        let me = rx.await.unwrap();
        me.cancel();
        assert!(!me.is_finished());
        std::future::pending::<()>().await;
        0
    });
    let handle = Arc::new(pool.submit(job).await.unwrap());
    tx.send(handle.clone()).unwrap();
    settle().await;
    assert!(handle.is_finished());
    let handle = Arc::into_inner(handle).expect("the job dropped its copy");
    assert!(matches!(handle.await, Err(JobError::Cancelled)));
    assert_eq!(pool.stats().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn refused_boxed_jobs_come_back_whole() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let (a, b) = (flag(), flag());
    let _running = pool.submit(gated(&gate, 0, &a)).await.unwrap();
    settle().await;
    let _queued = pool.submit(gated(&gate, 1, &b)).await.unwrap();
    let back = match pool.try_submit(Box::pin(async { 41_u64 }) as BoxJob<u64>) {
        Err(TrySubmitError::Full(job)) => job,
        other => panic!("expected Full, got {:?}", other.map(|_| ())),
    };
    assert_eq!(
        back.await,
        41,
        "the refused job is the one submitted, unrun"
    );
    let stats = pool.stats();
    assert_eq!((stats.refused_full, stats.submitted), (1, 2));
    pool.close(Instant::now()).await;
    let back = match pool.try_submit(Box::pin(async { 42_u64 }) as BoxJob<u64>) {
        Err(TrySubmitError::Closed(job)) => job,
        other => panic!("expected Closed, got {:?}", other.map(|_| ())),
    };
    assert_eq!(back.await, 42);
}

#[tokio::test(start_paused = true)]
async fn evicted_and_closed_boxed_jobs_resolve_dropped() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .overflow(Overflow::EvictOldest)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let (a, b, c) = (flag(), flag(), flag());
    let running = pool.submit(gated(&gate, 0, &a)).await.unwrap();
    settle().await;
    let oldest = pool.try_submit(gated(&gate, 1, &b)).unwrap();
    let newest = pool.try_submit(gated(&gate, 2, &c)).unwrap();
    assert!(b.load(Ordering::SeqCst), "the evicted job is dropped");
    assert!(matches!(oldest.await, Err(JobError::Dropped)));
    let report = pool.close(Instant::now()).await;
    assert_eq!(report.never_started, 1);
    assert!(matches!(newest.await, Err(JobError::Dropped)));
    assert!(matches!(running.await, Err(JobError::Cancelled)));
    assert!(a.load(Ordering::SeqCst) && c.load(Ordering::SeqCst));
    let stats = pool.stats();
    assert_eq!((stats.evicted, stats.dropped, stats.cancelled), (1, 2, 1));
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn boxed_jobs_honour_the_run_timeout() {
    // With a run timeout the job runs from a task of its own: same outcome.
    let pool = Pool::builder()
        .workers(1)
        .run_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let job: BoxJob<u64> = Box::pin(async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        1
    });
    let handle = pool.submit(job).await.unwrap();
    assert!(matches!(handle.await, Err(JobError::TimedOut)));
    assert_eq!(pool.stats().timed_out, 1);
}

/// A running and a queued job, each made by `make(gate, value, dropped)`, when the
/// runtime shuts down: both futures are dropped and both handles resolve.
fn jobs_resolve_when_the_runtime_shuts_down<J>(
    make: impl Fn(&CancellationToken, u64, &Arc<AtomicBool>) -> J,
) where
    J: Future<Output = u64> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let (a, b) = (flag(), flag());
    let (pool, running, queued) = rt.block_on(async {
        let pool = Pool::builder().workers(1).build().unwrap();
        let running = pool.submit(make(&gate, 0, &a)).await.unwrap();
        settle().await;
        let queued = pool.submit(make(&gate, 1, &b)).await.unwrap();
        (pool, running, queued)
    });
    drop(rt);
    assert!(
        a.load(Ordering::SeqCst),
        "the running job's future was dropped"
    );
    let stats = pool.stats();
    drop(pool);
    assert!(
        b.load(Ordering::SeqCst),
        "the queued job's future was dropped"
    );
    let outcomes = tokio_test::block_on(async { (running.await, queued.await) });
    assert!(
        matches!(outcomes.0, Err(JobError::Cancelled)),
        "{outcomes:?}"
    );
    assert!(matches!(outcomes.1, Err(JobError::Dropped)), "{outcomes:?}");
    assert_adds_up(&stats);
}

#[test]
fn boxed_jobs_resolve_when_the_runtime_shuts_down() {
    jobs_resolve_when_the_runtime_shuts_down(gated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_boxed_jobs_on_two_threads() {
    let pool = Pool::builder()
        .workers(4)
        .queue_capacity(8)
        .build()
        .unwrap();
    let counted = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..10_000_u64 {
        let counted = counted.clone();
        let job: BoxJob<u64> = Box::pin(async move {
            counted.fetch_add(1, Ordering::Relaxed);
            i
        });
        handles.push(pool.submit(job).await.unwrap());
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    assert_eq!(sum, 10_000 * 9_999 / 2);
    assert_eq!(counted.load(Ordering::Relaxed), 10_000);
    let stats = pool.stats();
    assert_eq!(stats.completed, 10_000);
    assert_adds_up(&stats);
}

/// A plain (unboxed) job that waits for `gate`, then returns `value`; `dropped` is
/// set when it is dropped.
fn plain_gated(
    gate: &CancellationToken,
    value: u64,
    dropped: &Arc<AtomicBool>,
) -> impl Future<Output = u64> + Send + 'static + use<> {
    let gate = gate.clone();
    let flag = DropFlag(dropped.clone());
    async move {
        let _flag = flag;
        gate.cancelled().await;
        value
    }
}

#[tokio::test(start_paused = true)]
async fn plain_future_jobs_hosted_in_their_cell_keep_every_fate() {
    // A keyed submit hosts the job before it finds the key's queue full, so the
    // refused job comes back out of its cell: it must be the same future, unrun.
    let pool = Pool::builder().workers(1).key_capacity(1).build().unwrap();
    let gate = CancellationToken::new();
    let (a, b, c, d) = (flag(), flag(), flag(), flag());
    let running = pool
        .submit_for("k", plain_gated(&gate, 1, &a))
        .await
        .unwrap();
    settle().await;
    let queued = pool.try_submit_for("k", plain_gated(&gate, 2, &b)).unwrap();
    let back = match pool.try_submit_for("k", plain_gated(&gate, 3, &c)) {
        Err(TrySubmitError::Full(job)) => job,
        other => panic!("expected Full, got {:?}", other.map(|_| ())),
    };
    assert!(
        !c.load(Ordering::SeqCst),
        "the refused job is handed back, not dropped"
    );
    // Cancelled while queued: dropped unrun, and its handle says so.
    queued.cancel();
    assert!(b.load(Ordering::SeqCst));
    assert!(matches!(queued.await, Err(JobError::Cancelled)));
    let unkeyed = pool.submit(plain_gated(&gate, 4, &d)).await.unwrap();
    gate.cancel();
    assert_eq!(back.await, 3, "the refused job is the one submitted");
    assert_eq!(running.await.unwrap(), 1);
    assert_eq!(unkeyed.await.unwrap(), 4);
    assert!(a.load(Ordering::SeqCst) && c.load(Ordering::SeqCst) && d.load(Ordering::SeqCst));
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.cancelled, stats.refused_full),
        (2, 1, 1)
    );
    assert_adds_up(&stats);
}

#[test]
fn plain_future_jobs_resolve_when_the_runtime_shuts_down() {
    jobs_resolve_when_the_runtime_shuts_down(plain_gated);
}
