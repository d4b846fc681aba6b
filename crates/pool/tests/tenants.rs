//! Keyed submission, fair scheduling across keys, and priority classes with
//! reserved shares. Deterministic: paused time on a current-thread runtime.

mod common;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{assert_adds_up, gated, settle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_pool::{ConfigError, Job, JobError, Overflow, Pool};

const JOB: Duration = Duration::from_millis(10);

/// Per-tenant measurements.
#[derive(Debug, Default, Clone)]
struct Tenant {
    /// Queue waits (start - submit) of its jobs.
    waits: Vec<Duration>,
    /// Weight of its jobs that finished inside the measuring window.
    finished_weight: usize,
    refused: usize,
}

type Log = Arc<Mutex<HashMap<&'static str, Tenant>>>;

/// A job of `tenant` that records its queue wait, sleeps `JOB`, and counts its
/// weight if it finishes inside `window`.
fn job(
    log: &Log,
    tenant: &'static str,
    weight: usize,
    window: (Instant, Instant),
) -> Job<impl Future<Output = ()> + Send + 'static> {
    let log = log.clone();
    let submitted = Instant::now();
    Job::new(async move {
        let wait = submitted.elapsed();
        log.lock()
            .unwrap()
            .entry(tenant)
            .or_default()
            .waits
            .push(wait);
        tokio::time::sleep(JOB).await;
        let now = Instant::now();
        if now > window.0 && now <= window.1 {
            log.lock()
                .unwrap()
                .entry(tenant)
                .or_default()
                .finished_weight += weight;
        }
    })
    .weight(weight)
}

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / u32::try_from(v.len().max(1)).unwrap()
}

fn max(v: &[Duration]) -> Duration {
    v.iter().copied().max().unwrap_or_default()
}

/// B–E each submit a burst of 8 jobs every 100 ms (80 jobs/s each, 320/s together
/// on a pool that runs 400/s); A, if present, submits 8 jobs every 10 ms (800/s:
/// ten times each of the others), which saturates the pool.
async fn bursts(with_a: bool) -> HashMap<&'static str, Tenant> {
    let pool = Pool::builder()
        .workers(4)
        .budget(4)
        .key_capacity(64)
        .build()
        .unwrap();
    let log = Log::default();
    let start = Instant::now();
    let window = (start, start + Duration::from_secs(10));
    for tick in 0..200_u32 {
        if with_a {
            for _ in 0..8 {
                if pool.try_submit_for("A", job(&log, "A", 1, window)).is_err() {
                    log.lock().unwrap().entry("A").or_default().refused += 1;
                }
            }
        }
        if tick % 10 == 0 {
            for tenant in ["B", "C", "D", "E"] {
                for _ in 0..8 {
                    pool.try_submit_for(tenant, job(&log, tenant, 1, window))
                        .expect("B–E never fill their queues");
                }
            }
        }
        tokio::time::sleep_until(start + JOB * (tick + 1)).await;
    }
    let report = pool.close(Instant::now() + Duration::from_secs(60)).await;
    assert_adds_up(&report.stats);
    assert_eq!(report.stats.keys, 0);
    Arc::try_unwrap(log).unwrap().into_inner().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_flooding_tenant_does_not_slow_the_others() {
    let alone = bursts(false).await;
    let flooded = bursts(true).await;
    assert!(flooded["A"].refused > 1000, "A must overflow its own queue");
    for tenant in ["B", "C", "D", "E"] {
        let (a, f) = (&alone[tenant], &flooded[tenant]);
        assert_eq!(a.waits.len(), 160);
        assert_eq!(f.waits.len(), 160, "{tenant} lost jobs");
        println!(
            "{tenant}: mean wait {:?} alone, {:?} with A flooding; max {:?} / {:?}",
            mean(&a.waits),
            mean(&f.waits),
            max(&a.waits),
            max(&f.waits)
        );
        assert!(
            mean(&f.waits) <= mean(&a.waits) * 2,
            "{tenant}: {a:?} vs {f:?}"
        );
        assert!(
            max(&f.waits) <= max(&a.waits) * 2,
            "{tenant}: {a:?} vs {f:?}"
        );
    }
}

/// Every tenant stays backlogged for 2 s: A submits ten times what each of the
/// others does, and each of B–E submits more than its share. Returns the weight
/// each finished between 0.2 s and 2 s.
async fn backlogged(
    shares: &[(&'static str, u32)],
    weights: &[(&'static str, usize)],
) -> HashMap<&'static str, usize> {
    let pool = Pool::builder()
        .workers(8)
        .budget(4)
        .key_capacity(32)
        .build()
        .unwrap();
    for &(tenant, share) in shares {
        pool.set_share(tenant, share);
    }
    let weight_of = |t| weights.iter().find(|(w, _)| *w == t).map_or(1, |w| w.1);
    let log = Log::default();
    let start = Instant::now();
    let window = (
        start + Duration::from_millis(200),
        start + Duration::from_secs(2),
    );
    for tick in 0..200_u32 {
        for (tenant, per_tick) in [("A", 20), ("B", 2), ("C", 2), ("D", 2), ("E", 2)] {
            for _ in 0..per_tick {
                let _ = pool.try_submit_for(tenant, job(&log, tenant, weight_of(tenant), window));
            }
        }
        tokio::time::sleep_until(start + JOB * (tick + 1)).await;
    }
    let report = pool.close(Instant::now()).await;
    assert_adds_up(&report.stats);
    let log = log.lock().unwrap();
    log.iter().map(|(t, s)| (*t, s.finished_weight)).collect()
}

#[track_caller]
fn assert_split(done: &HashMap<&'static str, usize>, shares: &[(&'static str, u32)]) {
    let total: usize = done.values().sum();
    let share_total: u32 = shares.iter().map(|s| s.1).sum();
    // 1.8 s at 4 weight units per 10 ms, less the head-of-line gaps of heavy jobs.
    assert!(total >= 680, "the pool was not kept busy: {done:?}");
    for &(tenant, share) in shares {
        let expected = total as f64 * f64::from(share) / f64::from(share_total);
        let got = done[tenant] as f64;
        println!(
            "{tenant}: {got} weight, fair share {expected:.1} ({:+.1}%)",
            (got / expected - 1.0) * 100.0
        );
        assert!(
            (got - expected).abs() <= 0.1 * expected,
            "{tenant} got {got}, fair share {expected}: {done:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn backlogged_tenants_split_completions_evenly() {
    let done = backlogged(&[], &[]).await;
    assert_split(&done, &[("A", 1), ("B", 1), ("C", 1), ("D", 1), ("E", 1)]);
}

#[tokio::test(start_paused = true)]
async fn shares_and_weights_set_the_split() {
    // B has share 2; C's jobs weigh 2, so it starts half as many of them.
    let shares = [("A", 1), ("B", 2), ("C", 1), ("D", 1), ("E", 1)];
    let done = backlogged(&shares[1..2], &[("C", 2)]).await;
    assert_split(&done, &shares);
}

/// Tracks running weight per class, and the maxima.
#[derive(Default)]
struct Meter {
    running: [AtomicUsize; 3],
    total: AtomicUsize,
    max_total: AtomicUsize,
}

impl Meter {
    fn job(
        self: &Arc<Self>,
        class: usize,
        weight: usize,
    ) -> impl Future<Output = ()> + Send + 'static {
        let meter = self.clone();
        async move {
            meter.running[class].fetch_add(weight, Ordering::SeqCst);
            let total = meter.total.fetch_add(weight, Ordering::SeqCst) + weight;
            meter.max_total.fetch_max(total, Ordering::SeqCst);
            tokio::time::sleep(JOB).await;
            meter.running[class].fetch_sub(weight, Ordering::SeqCst);
            meter.total.fetch_sub(weight, Ordering::SeqCst);
        }
    }

    fn running(&self) -> [usize; 3] {
        [0, 1, 2].map(|c| self.running[c].load(Ordering::SeqCst))
    }
}

#[tokio::test(start_paused = true)]
async fn reserved_shares_are_honoured_lent_and_returned() {
    const CRITICAL: usize = 0;
    const NORMAL: usize = 1;
    const BATCH: usize = 2;
    let pool = Pool::builder()
        .workers(16)
        .budget(10)
        .key_capacity(1000)
        .class("critical", 3)
        .class("normal", 0)
        .class("batch", 2)
        .default_class("normal")
        .build()
        .unwrap();
    let ids = [
        pool.class("critical").unwrap(),
        pool.class("normal").unwrap(),
        pool.class("batch").unwrap(),
    ];
    let meter = Arc::new(Meter::default());
    let submit = |class: usize, weight: usize, n: usize| {
        for _ in 0..n {
            pool.try_submit_for(
                class,
                Job::new(meter.job(class, weight))
                    .class(ids[class])
                    .weight(weight),
            )
            .unwrap();
        }
    };

    // 1. Only batch has work: it borrows the whole budget (work-conserving),
    //    critical's and normal's shares included.
    submit(BATCH, 1, 200);
    settle().await;
    assert_eq!(meter.running(), [0, 0, 10]);

    // 2. Critical wants its share: batch's running jobs are not preempted, but the
    //    first units they give back go to critical, up to its reservation and then
    //    beyond it (critical has priority over batch above the reservations), while
    //    batch keeps its own reservation.
    submit(CRITICAL, 1, 200);
    settle().await;
    assert_eq!(meter.running(), [0, 0, 10], "nothing is preempted");
    tokio::time::sleep(JOB).await;
    settle().await;
    assert_eq!(meter.running(), [8, 0, 2]);
    assert_eq!(pool.class_in_use(ids[CRITICAL]), 8);

    // 3. Normal (no reservation, priority over batch) floods too: critical keeps
    //    at least its reservation (here all the unreserved budget, by priority), and
    //    batch still keeps its 2.
    submit(NORMAL, 1, 200);
    for _ in 0..10 {
        tokio::time::sleep(JOB).await;
        settle().await;
        let [c, n, b] = meter.running();
        assert!(c >= 3 && b == 2 && c + n + b == 10, "{:?}", meter.running());
    }

    // 4. A heavy normal job cannot take critical's or batch's reservation: at most
    //    10 - 3 - 2 = 5.
    let heavy = pool.try_submit(Job::new(async {}).weight(6)).unwrap_err();
    assert!(heavy.is_too_heavy());
    assert!(
        pool.try_submit(Job::new(meter.job(NORMAL, 5)).weight(5))
            .is_ok()
    );

    // Drain everything; the budget was never exceeded.
    let report = pool.close(Instant::now() + Duration::from_secs(60)).await;
    assert!(!report.deadline_passed);
    assert_eq!(report.stats.completed, 601);
    assert_eq!(meter.max_total.load(Ordering::SeqCst), 10);
    assert_eq!(report.stats.keys, 0);
}

#[tokio::test(start_paused = true)]
async fn an_owner_gets_its_reservation_back_at_the_first_release() {
    let pool = Pool::builder()
        .workers(8)
        .budget(4)
        .class("live", 2)
        .class("batch", 0)
        .build()
        .unwrap();
    let live = pool.class("live").unwrap();
    let meter = Arc::new(Meter::default());
    // Batch borrows everything with long jobs of staggered lengths.
    let gates: Vec<_> = (0..4).map(|_| CancellationToken::new()).collect();
    let mut batch = Vec::new();
    for gate in &gates {
        batch.push(pool.submit(gated(gate, ())).await.unwrap());
    }
    for _ in 0..4 {
        pool.submit(async {}).await.unwrap(); // queued batch work, waiting
    }
    settle().await;
    assert_eq!(pool.stats().running, 4);
    // Live needs 2; batch has work queued too, but the freed units go to live.
    pool.submit(Job::new(meter.job(0, 1)).class(live))
        .await
        .unwrap();
    pool.submit(Job::new(meter.job(0, 1)).class(live))
        .await
        .unwrap();
    gates[0].cancel();
    settle().await;
    assert_eq!(meter.running()[0], 1, "the first freed unit goes to live");
    gates[1].cancel();
    settle().await;
    assert_eq!(meter.running()[0], 2);
    assert_eq!(pool.stats().queued, 4, "batch waits");
    for gate in &gates {
        gate.cancel();
    }
    for handle in batch {
        handle.await.unwrap();
    }
    let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
    assert_eq!(report.stats.completed, 10);
    assert!(meter.max_total.load(Ordering::SeqCst) <= 4);
}

#[tokio::test(start_paused = true)]
async fn a_full_key_refuses_only_its_own_jobs() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .key_capacity(2)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let running = pool.submit_for("a", gated(&gate, 0)).await.unwrap();
    settle().await;
    let a1 = pool.try_submit_for("a", gated(&gate, 1)).unwrap();
    let _a2 = pool.try_submit_for("a", gated(&gate, 2)).unwrap();
    let refused = pool.try_submit_for("a", async { 3 }).unwrap_err();
    assert!(refused.is_full());
    assert_eq!(refused.into_inner().await, 3);
    // Other keys and the unkeyed queue are untouched.
    let b = pool.try_submit_for("b", gated(&gate, 10)).unwrap();
    let unkeyed = pool.try_submit(gated(&gate, 20)).unwrap();
    let stats = pool.stats();
    assert_eq!((stats.keys, stats.queued, stats.refused_full), (2, 4, 1));
    let a = pool.key_stats(&"a").unwrap();
    assert_eq!(
        (a.accepted, a.refused, a.queued, a.running, a.capacity),
        (3, 1, 2, 1, 2)
    );

    // A waiting submitter for "a" gets room when "a" has some, FIFO.
    let waiting = tokio::spawn({
        let pool = pool.clone();
        let gate = gate.clone();
        async move { pool.submit_for("a", gated(&gate, 4)).await.unwrap().await }
    });
    settle().await;
    assert!(
        pool.try_submit_for("a", async { 5 }).unwrap_err().is_full(),
        "no jumping the wait"
    );
    a1.cancel(); // frees room in "a"
    settle().await;
    assert_eq!(pool.key_stats(&"a").unwrap().queued, 2);
    gate.cancel();
    assert_eq!(running.await.unwrap(), 0);
    assert_eq!(waiting.await.unwrap().unwrap(), 4);
    assert_eq!(b.await.unwrap() + unkeyed.await.unwrap(), 30);
    settle().await;
    let stats = pool.stats();
    assert_adds_up(&stats);
    assert_eq!((stats.keys, stats.completed, stats.cancelled), (0, 5, 1));
    assert!(pool.key_stats(&"a").is_none());
}

#[tokio::test(start_paused = true)]
async fn cancelled_waits_leak_no_room_and_no_key_state() {
    let pool = Pool::builder().workers(1).key_capacity(1).build().unwrap();
    let gate = CancellationToken::new();
    let running = pool.submit_for(1_u64, gated(&gate, ())).await.unwrap();
    settle().await;
    pool.submit_for(1_u64, gated(&gate, ())).await.unwrap(); // fills key 1
    // Submitters that wait and are dropped, time out, or are cancelled.
    let mut dropped = tokio_test::task::spawn(pool.submit_for(1_u64, async {}));
    tokio_test::assert_pending!(dropped.poll());
    drop(dropped);
    let timed_out = pool
        .submit_for_timeout(1_u64, async {}, Duration::from_millis(5))
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    let token = CancellationToken::new();
    let cancel = token.clone();
    let (cancelled, ()) = tokio::join!(
        pool.submit_for_cancellable(1_u64, async {}, &token),
        async {
            settle().await;
            cancel.cancel();
        }
    );
    assert!(cancelled.unwrap_err().is_cancelled());
    // A waiting submitter for a new key is the only thing keeping it alive.
    let mut new_key = tokio_test::task::spawn(pool.submit_for(2_u64, async {}));
    assert!(new_key.poll().is_ready(), "a new key has room");
    assert_eq!(pool.key_stats(&1_u64).unwrap().refused, 2);
    gate.cancel();
    running.await.unwrap();
    settle().await;
    let stats = pool.stats();
    assert_eq!((stats.keys, stats.queued, stats.running), (0, 0, 0));
    assert_eq!((stats.refused_timeout, stats.refused_cancelled), (1, 1));
    assert_adds_up(&stats);
    // Room in key 1 is whole again.
    pool.try_submit_for(1_u64, async {}).unwrap();
}

#[tokio::test(start_paused = true)]
async fn close_refuses_waiting_keyed_submitters_and_drops_keyed_queues() {
    let pool = Pool::builder().workers(1).key_capacity(1).build().unwrap();
    let stuck = pool
        .submit_for("a", std::future::pending::<()>())
        .await
        .unwrap();
    settle().await;
    let queued = pool.submit_for("a", async {}).await.unwrap();
    let other = pool.submit_for("b", async {}).await.unwrap();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit_for("a", async { 9 }).await }
    });
    settle().await;
    let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
    let refused = waiter.await.unwrap().unwrap_err();
    assert!(refused.is_closed());
    assert_eq!(refused.into_inner().await, 9);
    // The one worker was stuck: both keys' queued jobs were dropped at the deadline.
    assert!(matches!(other.await, Err(JobError::Dropped)));
    assert!(matches!(queued.await, Err(JobError::Dropped)));
    assert!(matches!(stuck.await, Err(JobError::Cancelled)));
    assert_eq!(
        (report.completed, report.never_started, report.cancelled),
        (0, 2, 1)
    );
    assert_eq!((report.stats.keys, report.stats.refused_closed), (0, 1));
    assert_adds_up(&report.stats);
    assert!(pool.try_submit_for("c", async {}).unwrap_err().is_closed());
}

#[tokio::test(start_paused = true)]
async fn evict_oldest_evicts_within_the_key() {
    let pool = Pool::builder()
        .workers(1)
        .key_capacity(1)
        .overflow(Overflow::EvictOldest)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.submit_for("a", gated(&gate, 0)).await.unwrap();
    settle().await;
    let old = pool.try_submit_for("a", async { 1 }).unwrap();
    let b = pool.try_submit_for("b", async { 2 }).unwrap();
    let new = pool.try_submit_for("a", async { 3 }).unwrap();
    gate.cancel();
    assert!(matches!(old.await, Err(JobError::Dropped)));
    assert_eq!(b.await.unwrap() + new.await.unwrap(), 5);
    assert_eq!(pool.stats().evicted, 1);
}

#[tokio::test(start_paused = true)]
async fn heavy_jobs_keep_their_place_and_count_their_weight() {
    // Key "h" submits weight-3 jobs, "l" weight-1 jobs, on a budget of 3: DRR in
    // weight gives them the same weight, so "l" starts three jobs per "h" job.
    let pool = Pool::builder()
        .workers(3)
        .budget(3)
        .key_capacity(64)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..12 {
        let (o, p) = (order.clone(), order.clone());
        pool.try_submit_for(
            "h",
            Job::new(async move { o.lock().unwrap().push('h') }).weight(3),
        )
        .unwrap();
        if i < 36 {
            for _ in 0..3 {
                let p = p.clone();
                pool.try_submit_for("l", async move { p.lock().unwrap().push('l') })
                    .unwrap();
            }
        }
    }
    pool.close(Instant::now() + Duration::from_secs(1)).await;
    let order: String = order.lock().unwrap().iter().collect();
    // Over every prefix, the weights started differ by at most one job's weight.
    let (mut h, mut l) = (0_i64, 0_i64);
    for c in order.chars() {
        if c == 'h' {
            h += 3
        } else {
            l += 1
        }
        assert!((h - l).abs() <= 3 + 1, "unfair prefix in {order}");
    }
    assert_eq!((h, l), (36, 36));
}

#[tokio::test]
async fn class_config_is_validated() {
    assert_eq!(
        Pool::builder()
            .budget(4)
            .class("a", 3)
            .class("b", 2)
            .build()
            .unwrap_err(),
        ConfigError::OverReserved {
            field: "class",
            reserved: 5,
            budget: 4
        },
    );
    let err = Pool::builder()
        .class("a", 0)
        .class("a", 0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "class");
    let err = Pool::builder()
        .class("a", 0)
        .default_class("b")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pool config: class `b` is not declared"
    );
    let pool = Pool::builder().budget(4).class("a", 3).build().unwrap();
    assert!(matches!(
        pool.set_budget(2),
        Err(ConfigError::OverReserved {
            field: "set_budget",
            reserved: 3,
            budget: 2
        })
    ));
    assert_eq!(pool.stats().budget, 4);
    assert!(Pool::builder().key_capacity(0).build().is_err());
}

#[tokio::test]
#[should_panic = "is not a class of this pool"]
async fn a_foreign_class_panics() {
    let other = Pool::builder().class("x", 0).class("y", 0).build().unwrap();
    let pool = Pool::builder().build().unwrap();
    let _ = pool.try_submit(Job::new(async {}).class(other.class("y").unwrap()));
}

#[tokio::test(start_paused = true)]
async fn the_observer_and_the_counters_cover_keyed_jobs() {
    #[derive(Default)]
    struct Count(AtomicUsize, AtomicUsize);
    impl weir_pool::Observer for Count {
        fn on_submit(&self, _: &weir_pool::Submitted) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn on_finish(&self, _: &weir_pool::Finished) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let seen = Arc::new(Count::default());
    let pool = Pool::builder()
        .workers(2)
        .observer(seen.clone())
        .build()
        .unwrap();
    for i in 0..10_u32 {
        pool.submit_for(i % 3, async {}).await.unwrap();
        pool.submit(async {}).await.unwrap();
    }
    let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
    assert_eq!(report.completed, 20);
    assert_eq!(seen.0.load(Ordering::SeqCst), 20);
    assert_eq!(seen.1.load(Ordering::SeqCst), 20);
}

#[tokio::test(start_paused = true)]
async fn weight_zero_jobs_do_not_hold_the_turn() {
    let pool = Pool::builder()
        .workers(1)
        .key_capacity(100)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(String::new()));
    for _ in 0..10 {
        let o = order.clone();
        let zero = Job::new(async move { o.lock().unwrap().push('z') }).weight(0);
        pool.try_submit_for("zero", zero).unwrap();
    }
    for _ in 0..10 {
        let o = order.clone();
        pool.try_submit_for("one", async move { o.lock().unwrap().push('o') })
            .unwrap();
    }
    pool.close(Instant::now() + Duration::from_secs(1)).await;
    assert_eq!(*order.lock().unwrap(), "zo".repeat(10));
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_blocked_heavy_head_lets_lighter_jobs_start() {
    let pool = Pool::builder().workers(2).budget(2).build().unwrap();
    let gate = CancellationToken::new();
    let running = pool.submit(gated(&gate, ())).await.unwrap();
    settle().await;
    let heavy = pool.submit(Job::new(async {}).weight(2)).await.unwrap();
    let light = pool.submit(async { 1 }).await.unwrap();
    settle().await;
    assert_eq!(
        pool.stats().queued,
        2,
        "the heavy head holds the light job back"
    );
    heavy.cancel();
    // Starts at once, while `running` still holds a unit.
    assert_eq!(light.await.unwrap(), 1);
    assert_eq!(pool.stats().running, 1);
    gate.cancel();
    running.await.unwrap();
}
