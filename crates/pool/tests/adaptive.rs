//! The adaptive budget (`Builder::adaptive`) and the shed watermark
//! (`Builder::shed_watermark`), under paused time: deterministic, no sleeps used
//! as synchronisation.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{task::JoinHandle, time::sleep};
use weir_core::adaptive::{Aimd, Windowed};
use weir_pool::{Job, JobError, Observer, Pool, RefuseReason, Refused};

/// A simulated downstream of capacity `cap`: a call that finds at most `cap`
/// calls in progress (itself included) takes 10 ms; one past the capacity hangs
/// until the pool's run timeout.
#[derive(Clone, Default)]
struct Server {
    cap: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
}

struct Leave(Arc<AtomicUsize>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Server {
    fn new(cap: usize) -> Self {
        let server = Self::default();
        server.cap.store(cap, Ordering::SeqCst);
        server
    }

    fn call(&self) -> impl Future<Output = ()> + Send + 'static {
        let (cap, running) = (self.cap.clone(), self.running.clone());
        async move {
            let n = running.fetch_add(1, Ordering::SeqCst) + 1;
            let _leave = Leave(running);
            if n > cap.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Keeps the pool's queue full with calls to `server`.
fn drive(pool: &Arc<Pool>, server: &Server) -> JoinHandle<()> {
    let (pool, server) = (pool.clone(), server.clone());
    tokio::spawn(async move { while pool.submit(server.call()).await.is_ok() {} })
}

fn aimd_pool(budget: usize, reserved: Option<usize>) -> Arc<Pool> {
    let aimd = Aimd::builder()
        .initial_limit(budget)
        .max_limit(budget)
        .build()
        .unwrap();
    let mut builder = Pool::builder()
        .workers(budget)
        .budget(budget)
        .queue_capacity(4 * budget)
        .run_timeout(Duration::from_millis(50));
    if let Some(reserved) = reserved {
        builder = builder.class("reserved", reserved).class("rest", 0);
    }
    Arc::new(builder.adaptive(aimd).build().unwrap())
}

/// The budget every 10 ms over `period`.
async fn trace(pool: &Pool, period: Duration) -> Vec<usize> {
    let mut limits = Vec::new();
    let steps = period.as_millis() / 10;
    for _ in 0..steps {
        sleep(Duration::from_millis(10)).await;
        let limit = pool.limit().unwrap().limit;
        assert_eq!(limit, pool.stats().budget, "stats show the limit");
        limits.push(limit);
    }
    limits
}

fn mean(xs: &[usize]) -> f64 {
    xs.iter().sum::<usize>() as f64 / xs.len() as f64
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn aimd_converges_follows_a_drop_and_recovers() {
    const C: usize = 40;
    let server = Server::new(C);
    let pool = aimd_pool(100, None);
    let driver = drive(&pool, &server);

    // Starts at the ceiling, 100, far above the capacity: converges near C.
    let converge = trace(&pool, Duration::from_secs(3)).await;
    let settled = &converge[converge.len() / 2..];
    let avg = mean(settled);
    eprintln!("converge: {converge:?}");
    assert!(
        (0.6 * C as f64..=1.3 * C as f64).contains(&avg),
        "mean {avg} outside [0.6C, 1.3C]"
    );
    assert!(settled.iter().all(|&l| l <= 2 * C), "{settled:?}");

    // Capacity drops to C/4: follows it down.
    server.cap.store(C / 4, Ordering::SeqCst);
    let drop = trace(&pool, Duration::from_secs(3)).await;
    let settled = &drop[drop.len() / 2..];
    let avg = mean(settled);
    eprintln!("drop: {drop:?}");
    assert!(
        (0.4 * (C / 4) as f64..=1.5 * (C / 4) as f64).contains(&avg),
        "mean {avg} outside [0.4C/4, 1.5C/4]"
    );

    // And back to C: recovers.
    server.cap.store(C, Ordering::SeqCst);
    let recover = trace(&pool, Duration::from_secs(3)).await;
    let settled = &recover[recover.len() / 2..];
    let avg = mean(settled);
    eprintln!("recover: {recover:?}");
    assert!(
        (0.6 * C as f64..=1.3 * C as f64).contains(&avg),
        "mean {avg} outside [0.6C, 1.3C]"
    );

    let limit = pool.limit().unwrap();
    assert!(limit.overloads > 0 && limit.samples > limit.overloads);
    assert_eq!(limit.overloads, pool.stats().timed_out);
    assert!(
        converge
            .iter()
            .chain(&drop)
            .chain(&recover)
            .all(|&l| l >= 1)
    );
    driver.abort();
}

/// Windowed AIMD (one step per window, so a burst of timeouts is one backoff)
/// settles into a band around the capacity, follows it down to C/4 and back.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn windowed_aimd_settles_near_the_capacity() {
    const C: usize = 40;
    let server = Server::new(C);
    let aimd = Aimd::builder()
        .initial_limit(64)
        .max_limit(64)
        .build()
        .unwrap();
    let pool = Arc::new(
        Pool::builder()
            .workers(64)
            .budget(64)
            .queue_capacity(128)
            .run_timeout(Duration::from_millis(50))
            .adaptive(Windowed::new(aimd))
            .build()
            .unwrap(),
    );
    let driver = drive(&pool, &server);
    let in_band = |limits: &[usize], c: usize| {
        let settled = &limits[limits.len() / 2..];
        let (lo, hi) = ((c * 7).div_ceil(10), c * 13 / 10);
        assert!(
            settled.iter().all(|l| (lo..=hi).contains(l)),
            "outside [{lo}, {hi}] = [0.7C, 1.3C] for C = {c}: {settled:?}"
        );
    };
    in_band(&trace(&pool, Duration::from_secs(4)).await, C);
    server.cap.store(C / 4, Ordering::SeqCst);
    in_band(&trace(&pool, Duration::from_secs(4)).await, C / 4);
    server.cap.store(C, Ordering::SeqCst);
    // Recovery is additive: +1 per window of at least 100 ms, 30 steps at most.
    let recover = trace(&pool, Duration::from_secs(8)).await;
    in_band(&recover, C);
    driver.abort();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_limit_never_drops_below_the_reservations() {
    // A capacity of 1 would take AIMD down to 1; the classes reserve 6.
    let server = Server::new(1);
    let pool = aimd_pool(20, Some(6));
    let driver = drive(&pool, &server);
    let limits = trace(&pool, Duration::from_secs(2)).await;
    assert!(limits.iter().all(|&l| (6..=20).contains(&l)), "{limits:?}");
    assert_eq!(*limits.last().unwrap(), 6);
    let limit = pool.limit().unwrap();
    assert_eq!((limit.limit, limit.floor, limit.ceiling), (6, 6, 20));
    assert!(limit.algorithm_limit < 6, "the algorithm itself went lower");
    // `set_budget` moves the ceiling, and is still refused below the reservations.
    assert!(pool.set_budget(5).is_err());
    pool.set_budget(8).unwrap();
    assert_eq!(pool.limit().unwrap().ceiling, 8);
    driver.abort();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_limit_never_drops_below_one() {
    let server = Server::new(0); // every call hangs
    let pool = aimd_pool(8, None);
    let driver = drive(&pool, &server);
    let limits = trace(&pool, Duration::from_secs(2)).await;
    assert!(limits.iter().all(|&l| l >= 1), "{limits:?}");
    assert_eq!(pool.limit().unwrap().limit, 1);
    // Still running jobs one at a time: every run is a timeout.
    let before = pool.stats().timed_out;
    sleep(Duration::from_millis(500)).await;
    assert!(pool.stats().timed_out >= before + 9);
    driver.abort();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_rising_limit_wakes_waiting_workers() {
    // Budget 4, driven to 1 by a timeout, then raised by successes: the jobs
    // waiting for budget start as soon as the limit allows, with no other job
    // finishing to wake them.
    let aimd = Aimd::builder()
        .initial_limit(2)
        .max_limit(4)
        .build()
        .unwrap();
    let pool = Pool::builder()
        .workers(4)
        .budget(4)
        .run_timeout(Duration::from_millis(100))
        .adaptive(aimd)
        .build()
        .unwrap();
    // The first sample moves the budget to the algorithm's limit (2 ⇒ 1 on a loss).
    let slow = pool.submit(std::future::pending::<()>()).await.unwrap();
    assert!(matches!(slow.await, Err(JobError::TimedOut)));
    assert_eq!(pool.stats().budget, 1);

    // One gate-held job runs; three wait for budget, held back by the limit.
    let gate = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(AtomicUsize::new(0));
    let job = |gate: Option<Arc<tokio::sync::Notify>>| {
        let started = started.clone();
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = gate {
                gate.notified().await;
            }
        }
    };
    let first = pool.submit(job(Some(gate.clone()))).await.unwrap();
    let rest: Vec<_> = futures::future::join_all((0..3).map(|_| pool.submit(job(None))))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert_eq!(pool.stats().queued, 3);

    // It completes at 1 of 1 in flight: AIMD grows to 2, and keeps growing as
    // the waiting jobs complete. None of them may be left waiting: the limit's
    // rise wakes a worker (`budget_changed`), and a worker that takes a job with
    // budget left over passes the wake-up on.
    gate.notify_one();
    first.await.unwrap();
    for handle in rest {
        tokio::time::timeout(Duration::from_secs(1), handle)
            .await
            .expect("a waiting job stalled")
            .unwrap();
    }
    assert_eq!(started.load(Ordering::SeqCst), 4);
    assert!(pool.stats().budget >= 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn close_is_unaffected_by_an_adaptive_budget() {
    let server = Server::new(3);
    let pool = aimd_pool(8, None);
    let driver = drive(&pool, &server);
    trace(&pool, Duration::from_millis(500)).await;
    let report = pool
        .close(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    driver.await.unwrap();
    let stats = pool.stats();
    assert_eq!((stats.queued, stats.running), (0, 0));
    assert_eq!(stats.submitted, stats.finished());
    assert!(report.completed > 0);
}

#[derive(Default)]
struct Refusals(Mutex<Vec<RefuseReason>>);

impl Observer for Refusals {
    fn on_refuse(&self, event: &Refused) {
        self.0.lock().unwrap().push(event.reason);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn watermark_sheds_from_high_until_low() {
    let seen = Arc::new(Refusals::default());
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(100)
        .shed_watermark(5, 2)
        .observer(seen.clone())
        .build()
        .unwrap();
    // The worker is held by a job on a gate; queued jobs wait on their own gates.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let job = |n: usize| {
        let gate = gate.clone();
        async move {
            gate.acquire().await.unwrap().forget();
            n
        }
    };
    let running = pool.try_submit(job(0)).unwrap();
    tokio::task::yield_now().await;
    assert_eq!(pool.stats().running, 1);

    // Accepted up to the high mark...
    let mut queued = Vec::new();
    for n in 1..=5 {
        queued.push(pool.try_submit(job(n)).unwrap());
    }
    assert_eq!(pool.stats().queued, 5);
    // ...then refused at it, by every form, keyed too, and the job comes back.
    let shed = pool.try_submit(async { 6 }).unwrap_err();
    assert!(shed.is_shed());
    assert!(pool.submit(job(7)).await.unwrap_err().is_shed());
    assert!(
        pool.submit_timeout(job(8), Duration::from_secs(1))
            .await
            .unwrap_err()
            .is_shed()
    );
    let token = tokio_util::sync::CancellationToken::new();
    assert!(
        pool.submit_cancellable(job(9), &token)
            .await
            .unwrap_err()
            .is_shed()
    );
    assert!(pool.try_submit_for("k", job(10)).unwrap_err().is_shed());
    assert!(pool.submit_for("k", job(11)).await.unwrap_err().is_shed());
    assert_eq!(
        shed.into_inner().await,
        6,
        "the shed job is handed back intact"
    );

    // Down to 4 queued (below high, above low): still shedding (hysteresis).
    gate.add_permits(1);
    running.await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(pool.stats().queued, 4, "job 1 runs");
    assert!(pool.try_submit(job(12)).unwrap_err().is_shed());
    // Down to 2 queued = low: admitting again.
    gate.add_permits(2);
    queued.remove(0).await.unwrap();
    queued.remove(0).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(pool.stats().queued, 2, "job 3 runs, 4 and 5 wait");
    let admitted = pool.try_submit(job(12)).unwrap();
    assert_eq!(pool.stats().queued, 3);
    let again = pool.try_submit_for("k", job(13)).unwrap();

    let stats = pool.stats();
    assert_eq!(stats.refused_shed, 7);
    assert_eq!(stats.refused(), 7);
    assert_eq!(*seen.0.lock().unwrap(), [RefuseReason::Shed; 7]);

    gate.add_permits(100);
    for handle in queued.into_iter().chain([admitted, again]) {
        handle.await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn watermark_holds_between_the_marks() {
    let pool = Pool::builder()
        .workers(1)
        .shed_watermark(4, 1)
        .build()
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let job = || {
        let gate = gate.clone();
        async move { gate.acquire().await.unwrap().forget() }
    };
    let mut handles = vec![pool.try_submit(job()).unwrap()];
    tokio::task::yield_now().await; // running
    for _ in 0..4 {
        handles.push(pool.try_submit(job()).unwrap());
    }
    assert!(pool.try_submit(job()).unwrap_err().is_shed()); // 4 queued
    // One at a time: 3 queued, 2 queued — still shed; at 1 — admitted.
    let mut shed_at = Vec::new();
    for _ in 0..3 {
        gate.add_permits(1);
        handles.remove(0).await.unwrap();
        tokio::task::yield_now().await;
        let depth = pool.stats().queued;
        match pool.try_submit(Job::new(job())) {
            Err(e) => {
                assert!(e.is_shed());
                shed_at.push(depth);
            }
            Ok(h) => {
                handles.push(h);
                break;
            }
        }
    }
    assert_eq!(shed_at, [3, 2]);
    assert_eq!(pool.stats().refused_shed, 3);
    gate.add_permits(100);
    for h in handles {
        h.await.unwrap();
    }
}
