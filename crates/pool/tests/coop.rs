//! The pool spends tokio's cooperative budget as `tokio::sync` types do, a unit a
//! job on each side: a submit loop that never waits for room, and a worker that
//! keeps finding work, both still give their thread back to the runtime once the
//! budget is gone.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::time::{Duration, Instant};
use weir_pool::Pool;

type Link = Pin<Box<dyn Future<Output = ()> + Send>>;

const LINKS: usize = 1_000;

/// What the chain's jobs share: how often the ticker task has run, and what each
/// link saw of it.
#[derive(Clone, Default)]
struct Probe {
    ticks: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<usize>>>,
}

/// A job that records the ticker's count and submits the next link, from inside
/// the worker's poll (so the worker always has another job); keyed if `keyed`.
fn link(pool: Pool, left: usize, keyed: bool, probe: Probe) -> Link {
    Box::pin(async move {
        probe
            .seen
            .lock()
            .unwrap()
            .push(probe.ticks.load(Ordering::Relaxed));
        if left > 0 {
            let next = link(pool.clone(), left - 1, keyed, probe);
            let submitted = if keyed {
                pool.try_submit_for("tenant", next).is_ok()
            } else {
                pool.try_submit(next).is_ok()
            };
            assert!(submitted, "the queue has room for the next link");
        }
    })
}

/// Runs a chain of `LINKS` jobs beside a task that counts its turns; returns how
/// many turns that task had while the chain ran.
async fn ticker_turns_during_chain(keyed: bool) -> usize {
    let pool = Pool::builder()
        .workers(1)
        .budget(1)
        .queue_capacity(2)
        .key_capacity(2)
        .build()
        .unwrap();
    let probe = Probe::default();
    let ticker = tokio::spawn({
        let ticks = probe.ticks.clone();
        async move {
            loop {
                ticks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    });
    let first = link(pool.clone(), LINKS - 1, keyed, probe.clone());
    if keyed {
        pool.submit_for("tenant", first).await.unwrap();
    } else {
        pool.submit(first).await.unwrap();
    }
    while probe.seen.lock().unwrap().len() < LINKS {
        tokio::task::yield_now().await;
    }
    ticker.abort();
    let report = pool.close(tokio::time::Instant::now()).await;
    assert_eq!(report.stats.completed, LINKS as u64);
    let seen = probe.seen.lock().unwrap();
    seen[LINKS - 1] - seen[0]
}

// tokio's budget is 128 units a task poll, so the ticker gets a turn at least
// every 128 links. Without the budget the whole chain ran in one poll of the
// worker, and the ticker had no turn at all.

#[tokio::test(flavor = "current_thread")]
async fn a_worker_that_always_has_work_yields_to_other_tasks() {
    let turns = ticker_turns_during_chain(false).await;
    assert!(turns >= LINKS / 128 - 1, "the ticker had {turns} turns");
}

#[tokio::test(flavor = "current_thread")]
async fn a_worker_chaining_keyed_jobs_yields_to_other_tasks() {
    let turns = ticker_turns_during_chain(true).await;
    assert!(turns >= LINKS / 128 - 1, "the ticker had {turns} turns");
}

/// Submits 1000 jobs, each with room in the queue, beside another task on this
/// (current-thread) runtime; returns whether that task ran before the loop ended.
async fn other_task_ran_during_submit_loop(keyed: bool) -> bool {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(10_000)
        .key_capacity(10_000)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let other = tokio::spawn({
        let ran = ran.clone();
        async move {
            ran.fetch_add(1, Ordering::Relaxed);
        }
    });
    for _ in 0..1_000 {
        if keyed {
            pool.submit_for("tenant", async {}).await.unwrap();
        } else {
            pool.submit(async {}).await.unwrap();
        }
    }
    let ran = ran.load(Ordering::Relaxed) == 1;
    other.await.unwrap();
    pool.close(Instant::now() + Duration::from_secs(1)).await;
    assert_eq!(pool.stats().completed, 1_000);
    ran
}

#[tokio::test]
async fn a_submit_loop_with_room_spends_the_cooperative_budget() {
    // Room for every job: `submit` never waits for it, yet it spends tokio's
    // cooperative budget as the queue's wait would, so the loop yields and the
    // other task gets to run before it ends.
    assert!(other_task_ran_during_submit_loop(false).await);
}

#[tokio::test]
async fn a_keyed_submit_loop_with_room_spends_the_cooperative_budget() {
    assert!(other_task_ran_during_submit_loop(true).await);
}

#[tokio::test]
async fn awaiting_finished_handles_spends_the_cooperative_budget() {
    // Every handle is finished before the loop awaits it, so none of them waits;
    // each still spends a unit of tokio's budget, as a `oneshot` receiver or a
    // `JoinHandle` does, so the loop yields and the other task runs before it ends.
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1_000)
        .build()
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..1_000 {
        handles.push(pool.submit(async move { i }).await.unwrap());
    }
    pool.close(Instant::now() + Duration::from_secs(1)).await;
    assert!(handles.iter().all(|handle| handle.is_finished()));
    let ran = Arc::new(AtomicUsize::new(0));
    let other = tokio::spawn({
        let ran = ran.clone();
        async move {
            ran.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    assert_eq!(sum, (0..1_000).sum::<usize>());
    assert_eq!(ran.load(Ordering::Relaxed), 1, "the other task never ran");
    other.await.unwrap();
}
