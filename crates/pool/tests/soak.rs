//! Randomized soak: random durations, weights, panics, failures, timeouts, handle
//! cancellations, resizes and a close at a random moment. Checks that every job has
//! exactly one fate, that the handles, the counters and the close report agree,
//! that no handle is left pending, and that the running weight never exceeds the
//! budget.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::assert_adds_up;
use tokio::time::Instant;
use weir_pool::{Job, JobContext, JobError, JobHandle, Pool, Stats, Work, fallible};

/// xorshift64*: a tiny deterministic generator, so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const MAX_WEIGHT: usize = 3;

/// What happened inside one job's body.
#[derive(Default)]
struct Trace {
    starts: AtomicU8,
    ends: AtomicU8,
}

struct Scale {
    /// Unit of job duration.
    tick: Duration,
    jobs: usize,
}

/// A job's result folded into a comparable tally.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    completed: u64,
    failed: u64,
    panicked: u64,
    timed_out: u64,
    cancelled: u64,
    dropped: u64,
    refused_full: u64,
    refused_closed: u64,
    refused_timeout: u64,
    refused_too_heavy: u64,
}

impl Tally {
    fn from_stats(s: &Stats) -> Self {
        Self {
            completed: s.completed,
            failed: s.failed,
            panicked: s.panicked,
            timed_out: s.timed_out,
            cancelled: s.cancelled,
            dropped: s.dropped,
            refused_full: s.refused_full,
            refused_closed: s.refused_closed,
            refused_timeout: s.refused_timeout,
            refused_too_heavy: s.refused_too_heavy,
        }
    }
}

async fn soak(seed: u64, scale: Scale) -> Tally {
    let mut rng = Rng::new(seed);
    let budget = 2 + rng.below(5) as usize; // 2..=6
    let pool = Pool::builder()
        .workers(1 + rng.below(4) as usize)
        .budget(budget)
        .queue_capacity(1 + rng.below(8) as usize)
        .close_grace(scale.tick * rng.below(4) as u32)
        .build()
        .unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let max_budget = Arc::new(AtomicUsize::new(budget));

    // The close, at a random moment, with a random deadline.
    let close_at = scale.tick * rng.below(scale.jobs as u64 / 2) as u32;
    let deadline_after = scale.tick * rng.below(20) as u32;
    let closer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            tokio::time::sleep(close_at).await;
            pool.close(Instant::now() + deadline_after).await
        })
    };

    let mut tally = Tally::default();
    let mut accepted: Vec<(Handle, Arc<Trace>)> = Vec::new();
    let mut cancel_at: Vec<(usize, usize)> = Vec::new();
    for round in 0..scale.jobs {
        cancel_at.retain(|&(when, which)| {
            let due = when <= round;
            if due {
                accepted[which].0.cancel();
            }
            !due
        });
        let trace = Arc::new(Trace::default());
        let weight = 1 + rng.below(MAX_WEIGHT as u64) as usize;
        let kind = rng.below(100);
        // A third of the jobs that need no token and do not fail go in as plain
        // boxed futures, which the pool runs from the handle's cell (weight 1; an
        // `Err` output would count as completed, hence no failing ones).
        let boxed = !(10..=19).contains(&kind) && !(28..=37).contains(&kind) && rng.chance(33);
        let weight = if boxed { 1 } else { weight };
        let ticks = rng.below(6) as u32;
        let duration = scale.tick * ticks;
        let body = {
            let (trace, in_flight, max) = (trace.clone(), in_flight.clone(), max_in_flight.clone());
            move |token: Option<tokio_util::sync::CancellationToken>| async move {
                trace.starts.fetch_add(1, Ordering::SeqCst);
                let now = in_flight.fetch_add(weight, Ordering::SeqCst) + weight;
                max.fetch_max(now, Ordering::SeqCst);
                // Undo the weight however the body ends (panic, drop).
                struct Leave(Arc<AtomicUsize>, usize);
                impl Drop for Leave {
                    fn drop(&mut self) {
                        self.0.fetch_sub(self.1, Ordering::SeqCst);
                    }
                }
                let _leave = Leave(in_flight, weight);
                match kind {
                    0..=9 => std::future::pending::<()>().await, // stubborn
                    10..=19 => {
                        if let Some(token) = token {
                            token.cancelled().await; // cooperative
                        }
                    }
                    _ => tokio::time::sleep(duration).await,
                }
                if (20..=27).contains(&kind) {
                    panic!("job panicked on purpose");
                }
                trace.ends.fetch_add(1, Ordering::SeqCst);
                if (28..=37).contains(&kind) {
                    Err(kind as u8)
                } else {
                    Ok(kind as u8)
                }
            }
        };
        let how = rng.below(3);
        let wait = if how == 2 {
            scale.tick * rng.below(3) as u32
        } else {
            Duration::ZERO
        };
        let submitted = if boxed {
            let job: DynJob = Box::pin(body(None));
            submit(&pool, job, how, wait).await
        } else {
            let start: Box<dyn FnOnce(JobContext) -> DynJob + Send> = if (10..=19).contains(&kind) {
                Box::new(move |cx| Box::pin(body(Some(cx.token().clone()))))
            } else {
                Box::new(move |_| Box::pin(body(None)))
            };
            let mut job = Job::new(fallible(DynStart(start))).weight(weight);
            if rng.chance(15) {
                job = job.timeout(scale.tick * rng.below(4) as u32 + Duration::from_nanos(1));
            }
            submit(&pool, job, how, wait).await
        };
        match submitted {
            Ok(handle) => {
                if rng.chance(12) {
                    // Cancel it a few submissions later: queued, waiting, running or done.
                    cancel_at.push((round + rng.below(12) as usize, accepted.len()));
                }
                accepted.push((handle, trace));
            }
            Err("full") => tally.refused_full += 1,
            Err("closed") => tally.refused_closed += 1,
            Err("timeout") => tally.refused_timeout += 1,
            Err(_) => tally.refused_too_heavy += 1,
        }

        // Now and then: resize, or let time pass.
        match rng.below(20) {
            0 => pool.set_workers(1 + rng.below(4) as usize).unwrap(),
            1 => {
                let b = 2 + rng.below(5) as usize;
                max_budget.fetch_max(b, Ordering::SeqCst);
                pool.set_budget(b).unwrap();
            }
            2 => pool.set_queue_capacity(1 + rng.below(8) as usize).unwrap(),
            3..=8 => tokio::time::sleep(scale.tick).await,
            _ => {}
        }
        let stats = pool.stats();
        assert_adds_up(&stats);
    }
    // Nobody will submit any more; let the close finish.
    let report = closer.await.unwrap();

    for (handle, trace) in accepted {
        assert!(
            handle.is_finished(),
            "seed {seed}: a handle was left pending after close"
        );
        let starts = trace.starts.load(Ordering::SeqCst);
        let ends = trace.ends.load(Ordering::SeqCst);
        assert!(starts <= 1, "seed {seed}: a job started twice");
        match handle.await {
            Ok(Ok(_)) => {
                assert_eq!((starts, ends), (1, 1), "seed {seed}");
                tally.completed += 1;
            }
            Ok(Err(_)) => {
                assert_eq!((starts, ends), (1, 1), "seed {seed}");
                tally.failed += 1;
            }
            Err(JobError::Panicked(_)) => {
                assert_eq!((starts, ends), (1, 0), "seed {seed}");
                tally.panicked += 1;
            }
            Err(JobError::TimedOut) => {
                assert_eq!(ends, 0, "seed {seed}: a timed-out job finished its body");
                tally.timed_out += 1;
            }
            Err(JobError::Cancelled) => {
                assert_eq!(ends, 0, "seed {seed}: a cancelled job finished its body");
                tally.cancelled += 1;
            }
            Err(JobError::Dropped) => {
                assert_eq!(starts, 0, "seed {seed}: a dropped job had started");
                tally.dropped += 1;
            }
            Err(other) => panic!("seed {seed}: unexpected {other:?}"),
        }
    }

    let stats = pool.stats();
    assert_adds_up(&stats);
    assert_eq!(
        Tally::from_stats(&stats),
        tally,
        "seed {seed}: handles and counters disagree"
    );
    assert_eq!(
        (stats.queued, stats.running, stats.in_flight_weight),
        (0, 0, 0),
        "seed {seed}"
    );
    assert_eq!(
        stats.live_workers, 0,
        "seed {seed}: workers outlived the close"
    );
    // Refusals and resizes may follow the close; the jobs' fates may not.
    let mut fates_at_close = Tally::from_stats(&report.stats);
    let mut fates_now = Tally::from_stats(&stats);
    for t in [&mut fates_at_close, &mut fates_now] {
        (
            t.refused_full,
            t.refused_closed,
            t.refused_timeout,
            t.refused_too_heavy,
        ) = (0, 0, 0, 0);
    }
    assert_eq!(
        fates_at_close, fates_now,
        "seed {seed}: a job moved after the close"
    );
    assert_eq!(report.stats.submitted, stats.submitted, "seed {seed}");
    assert!(report.total() <= stats.submitted, "seed {seed}");
    assert_eq!(stats.evicted, 0);
    let max = max_in_flight.load(Ordering::SeqCst);
    let ceiling = max_budget.load(Ordering::SeqCst);
    assert!(
        max <= ceiling,
        "seed {seed}: running weight {max} above the budget {ceiling}"
    );
    tally
}

/// Silences the panics the soak causes on purpose (the default hook would print
/// each one), and checks that the seeds together produced every fate.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"job panicked on purpose") {
                default(info);
            }
        }));
    });
}

fn add(total: &mut Tally, t: Tally) {
    total.completed += t.completed;
    total.failed += t.failed;
    total.panicked += t.panicked;
    total.timed_out += t.timed_out;
    total.cancelled += t.cancelled;
    total.dropped += t.dropped;
    total.refused_full += t.refused_full;
    total.refused_closed += t.refused_closed;
    total.refused_timeout += t.refused_timeout;
    total.refused_too_heavy += t.refused_too_heavy;
}

#[track_caller]
fn assert_every_fate_seen(total: &Tally) {
    let Tally {
        completed,
        failed,
        panicked,
        timed_out,
        cancelled,
        dropped,
        refused_full,
        refused_closed,
        refused_timeout,
        refused_too_heavy,
    } = *total;
    for (name, n) in [
        ("completed", completed),
        ("failed", failed),
        ("panicked", panicked),
        ("timed_out", timed_out),
        ("cancelled", cancelled),
        ("dropped", dropped),
        ("refused_full", refused_full),
        ("refused_closed", refused_closed),
        ("refused_timeout", refused_timeout),
        ("refused_too_heavy", refused_too_heavy),
    ] {
        assert!(n > 0, "the soak never produced `{name}`: {total:?}");
    }
}

type Handle = JobHandle<Result<u8, u8>>;

/// Submits `job` the way `how` (0..3) says: `submit`, `try_submit`, or
/// `submit_timeout` with `wait`. A refusal is named by its reason.
async fn submit<W: Work<Output = Result<u8, u8>>>(
    pool: &Pool,
    job: W,
    how: u64,
    wait: Duration,
) -> Result<Handle, &'static str> {
    match how {
        0 => pool.submit(job).await.map_err(|e| {
            assert!(e.is_closed() || e.is_too_heavy());
            if e.is_closed() { "closed" } else { "too_heavy" }
        }),
        1 => pool.try_submit(job).map_err(|e| {
            if e.is_full() {
                "full"
            } else if e.is_closed() {
                "closed"
            } else {
                "too_heavy"
            }
        }),
        _ => pool.submit_timeout(job, wait).await.map_err(|e| {
            if e.is_timeout() {
                "timeout"
            } else if e.is_closed() {
                "closed"
            } else {
                "too_heavy"
            }
        }),
    }
}

type DynJob = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u8, u8>> + Send>>;

/// Work whose start is a boxed closure, so jobs of every kind share one type.
struct DynStart(Box<dyn FnOnce(JobContext) -> DynJob + Send>);

impl Work for DynStart {
    type Output = Result<u8, u8>;
    type Future = DynJob;
    fn start(self, cx: JobContext) -> DynJob {
        (self.0)(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn soak_paused_time() {
    quiet_panics();
    let mut total = Tally::default();
    for seed in 0..200 {
        add(
            &mut total,
            soak(
                seed,
                Scale {
                    tick: Duration::from_millis(10),
                    jobs: 150,
                },
            )
            .await,
        );
    }
    assert_every_fate_seen(&total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_multi_thread() {
    quiet_panics();
    let mut total = Tally::default();
    for seed in 1000..1012 {
        add(
            &mut total,
            soak(
                seed,
                Scale {
                    tick: Duration::from_micros(300),
                    jobs: 300,
                },
            )
            .await,
        );
    }
    assert_every_fate_seen(&total);
}
