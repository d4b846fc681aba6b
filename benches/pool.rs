//! weir's `Pool` side by side with the three ways people build a bounded pool by
//! hand, in one run, on a 2-thread Tokio runtime:
//!
//! - `async_channel`: an `async_channel::bounded(64)` feeding 4 worker loops; each
//!   job is a boxed future plus a `tokio::sync::oneshot` for its result (the bare
//!   minimum for "a job with a handle").
//! - `mpsc_spawn`: a `tokio::sync::mpsc` channel (64) feeding a dispatcher that
//!   takes a permit from a `tokio::sync::Semaphore` (4) and spawns one task per job,
//!   which answers on a oneshot.
//! - `joinset`: the submitter takes a `tokio::sync::Semaphore` permit (4) and spawns
//!   into a `JoinSet`; results are collected with `join_next`.
//! - `weir`: `Pool` with 4 workers, budget 4, queue 64; `submit` returns a
//!   `JobHandle`.
//! - `weir_plain` (paired runs only): weir with each job an `async` block submitted
//!   as is, unboxed, as weir's users write it.
//! - `minimal_pool` (paired runs only): the least a pool with a bounded queue does,
//!   as a reference for what the queue alone costs against the channel. A
//!   `Mutex<VecDeque>` of 64 whose room is a weir `Latch` (submitters wait for room
//!   in FIFO order), 4 worker loops woken by a `tokio::sync::Notify`, a oneshot per
//!   job; no stats, cancel, weights, timeouts or close report.
//!
//! Groups (every contender does the same work; setup and teardown are inside the
//! measured iteration for all of them):
//!
//! - `trivial`: 1M jobs that return a number, at concurrency 4; all handles are
//!   kept and awaited at the end (criterion reports elements/s). JoinSet is slow
//!   here (~10 s an iteration), so filter it out when iterating:
//!   `-- 'pool/trivial/(weir|async_channel)'`.
//! - `sleep_1ms`: 10k jobs that each sleep 1 ms, at concurrency 4 for every
//!   contender (the 4-worker loop; 4 worker loops, a Semaphore of 4, or
//!   weir with 4 workers and budget 4). An iteration takes ~5.4 s (10k ÷ 4 rounds
//!   of a 1 ms sleep, which the timer rounds up to about 2 ms), so the group takes
//!   about 4 minutes at 10 samples: run it on its own (`-- pool/sleep`).
//!
//! - `keyed`: the cost of keyed submission against unkeyed, in the same run:
//!   `KEYED_JOBS` trivial jobs through weir's `submit` (`unkeyed`), through
//!   `submit_for` with one key (`keyed_1`), and with 16 keys served round robin
//!   (`keyed_16`). Every queue holds 64, the unkeyed one as each key's.
//!   The target is keyed ≤ 1.3× unkeyed per job.
//!
//! Run: `cargo bench --bench pool -- --warm-up-time 1 --measurement-time 3`
//! (about 8 minutes: every group runs 10 samples).
//!
//! `PAIRED=1 cargo bench --bench pool` measures `trivial` (without JoinSet, with
//! `PAIRED_JOBS` jobs a run, default 100k) and `keyed` in pairs instead: every
//! repetition runs each contender back to back and takes its ratio to the baseline
//! within the repetition (`REPS=n`, default 20), which keeps the ratios steady while
//! the host's CPU steal comes and goes. It measures `trivial` twice, with the
//! submitting loop in two places:
//!
//! - *on its own thread*: driven by `block_on` from the thread that called it,
//!   outside the runtime, like the body of `#[tokio::main]` (and as criterion's
//!   `to_async` runs the groups above). With 2 runtime threads that is three busy
//!   threads on this machine's two cores, and every wake-up between submitter and
//!   workers crosses threads.
//! - *in a task*: spawned on the runtime, as a request handler submits. Submitter
//!   and workers share the two runtime threads.
//!
//! On Linux each ratio comes with the same ratio in CPU time (every thread of the
//! process, see `support/paired.rs`): a pool can win on CPU and lose on wall time
//! when its threads idle more, and the other way round.

use std::{
    collections::VecDeque,
    future::Future,
    hint::black_box,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use tokio::{
    runtime::{Builder, Runtime},
    sync::{Notify, Semaphore, mpsc, oneshot},
    task::JoinSet,
};
use weir::{Latch, pool::Pool};

#[path = "support/paired.rs"]
mod paired;
use paired::paired;

const TRIVIAL_JOBS: u64 = 1_000_000;
const SLEEP_JOBS: u64 = 10_000;
const QUEUE: usize = 64;

type BoxJob = Pin<Box<dyn Future<Output = u64> + Send>>;

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One workload: `jobs` jobs made by `make(i)`, run with `concurrency` at once.
#[derive(Clone, Copy)]
struct Load {
    jobs: u64,
    concurrency: usize,
    make: fn(u64) -> BoxJob,
}

fn trivial(i: u64) -> BoxJob {
    Box::pin(async move { black_box(i) })
}

fn sleep_1ms(i: u64) -> BoxJob {
    Box::pin(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        i
    })
}

/// weir's pool. With `plain`, each job is an `async` block submitted as is,
/// unboxed, as weir's users write it, rather than `load.make`'s boxed future (the
/// trivial load's job either way).
async fn weir_pool(load: Load, plain: bool) -> u64 {
    let pool = Pool::builder()
        .workers(load.concurrency)
        .budget(load.concurrency)
        .queue_capacity(QUEUE)
        .build()
        .unwrap();
    let mut handles = Vec::with_capacity(load.jobs as usize);
    for i in 0..load.jobs {
        let handle = if plain {
            pool.submit(async move { black_box(i) }).await.unwrap()
        } else {
            pool.submit((load.make)(i)).await.unwrap()
        };
        handles.push(handle);
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    pool.close(tokio::time::Instant::now()).await;
    sum
}

async fn async_channel_workers(load: Load) -> u64 {
    let (tx, rx) = async_channel::bounded::<(BoxJob, oneshot::Sender<u64>)>(QUEUE);
    let workers: Vec<_> = (0..load.concurrency)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                while let Ok((job, done)) = rx.recv().await {
                    let _ = done.send(job.await);
                }
            })
        })
        .collect();
    let mut handles = Vec::with_capacity(load.jobs as usize);
    for i in 0..load.jobs {
        let (done, handle) = oneshot::channel();
        tx.send(((load.make)(i), done)).await.unwrap();
        handles.push(handle);
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    drop(tx);
    for w in workers {
        w.await.unwrap();
    }
    sum
}

/// The `minimal_pool` reference: a locked queue, a latch for its room, a `Notify` for
/// idle workers (see the module docs).
async fn minimal_pool(load: Load) -> u64 {
    /// The queued jobs, and whether the queue is closed.
    struct Jobs {
        queued: VecDeque<(BoxJob, oneshot::Sender<u64>)>,
        closed: bool,
    }
    struct Queue {
        jobs: Mutex<Jobs>,
        room: Latch,
        work: Notify,
    }
    let queue = Arc::new(Queue {
        jobs: Mutex::new(Jobs {
            queued: VecDeque::with_capacity(QUEUE),
            closed: false,
        }),
        room: Latch::new(QUEUE),
        work: Notify::new(),
    });
    let workers: Vec<_> = (0..load.concurrency)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                // The next job, or `None` once the queue is closed and empty.
                let pop = |queue: &Queue| {
                    let mut jobs = queue.jobs.lock().unwrap();
                    match jobs.queued.pop_front() {
                        None if jobs.closed => Err(()),
                        next => Ok(next),
                    }
                };
                loop {
                    let mut next = pop(&queue);
                    if let Ok(None) = next {
                        // Register for a wake-up, then look again, so that neither a
                        // push nor the close in between is missed.
                        let notified = queue.work.notified();
                        let mut notified = std::pin::pin!(notified);
                        notified.as_mut().enable();
                        next = pop(&queue);
                        if let Ok(None) = next {
                            notified.await;
                            continue;
                        }
                    }
                    let Ok(Some((job, done))) = next else { return };
                    queue.room.decrement().unwrap();
                    let _ = done.send(job.await);
                }
            })
        })
        .collect();
    let mut handles = Vec::with_capacity(load.jobs as usize);
    for i in 0..load.jobs {
        let (done, handle) = oneshot::channel();
        queue.room.increment().await.unwrap();
        queue
            .jobs
            .lock()
            .unwrap()
            .queued
            .push_back(((load.make)(i), done));
        queue.work.notify_one();
        handles.push(handle);
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    queue.jobs.lock().unwrap().closed = true;
    queue.work.notify_waiters();
    for worker in workers {
        worker.await.unwrap();
    }
    sum
}

async fn mpsc_spawn(load: Load) -> u64 {
    let (tx, mut rx) = mpsc::channel::<(BoxJob, oneshot::Sender<u64>)>(QUEUE);
    let limit = Arc::new(Semaphore::new(load.concurrency));
    let dispatcher = tokio::spawn(async move {
        while let Some((job, done)) = rx.recv().await {
            let permit = limit.clone().acquire_owned().await.unwrap();
            tokio::spawn(async move {
                let _ = done.send(job.await);
                drop(permit);
            });
        }
    });
    let mut handles = Vec::with_capacity(load.jobs as usize);
    for i in 0..load.jobs {
        let (done, handle) = oneshot::channel();
        tx.send(((load.make)(i), done)).await.unwrap();
        handles.push(handle);
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    drop(tx);
    dispatcher.await.unwrap();
    sum
}

async fn joinset(load: Load) -> u64 {
    let limit = Arc::new(Semaphore::new(load.concurrency));
    let mut set = JoinSet::new();
    for i in 0..load.jobs {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let job = (load.make)(i);
        set.spawn(async move {
            let out = job.await;
            drop(permit);
            out
        });
    }
    let mut sum = 0;
    while let Some(out) = set.join_next().await {
        sum += out.unwrap();
    }
    sum
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    for (group, load) in [
        (
            "trivial",
            Load {
                jobs: TRIVIAL_JOBS,
                concurrency: 4,
                make: trivial,
            },
        ),
        (
            "sleep_1ms",
            Load {
                jobs: SLEEP_JOBS,
                concurrency: 4,
                make: sleep_1ms,
            },
        ),
    ] {
        let expected = load.jobs * (load.jobs - 1) / 2;
        let mut g = c.benchmark_group(format!("pool/{group}"));
        g.throughput(Throughput::Elements(load.jobs));
        g.sample_size(10);
        g.bench_function(BenchmarkId::from_parameter("async_channel"), |b| {
            b.to_async(&rt)
                .iter(|| async { assert_eq!(async_channel_workers(load).await, expected) });
        });
        g.bench_function(BenchmarkId::from_parameter("mpsc_spawn"), |b| {
            b.to_async(&rt)
                .iter(|| async { assert_eq!(mpsc_spawn(load).await, expected) });
        });
        g.bench_function(BenchmarkId::from_parameter("joinset"), |b| {
            b.to_async(&rt)
                .iter(|| async { assert_eq!(joinset(load).await, expected) });
        });
        g.bench_function(BenchmarkId::from_parameter("weir"), |b| {
            b.to_async(&rt)
                .iter(|| async { assert_eq!(weir_pool(load, false).await, expected) });
        });
        g.finish();
    }
}

const KEYED_JOBS: u64 = 100_000;

/// `KEYED_JOBS` trivial jobs through `submit` (`keys == 0`) or `submit_for(i % keys)`;
/// every queue (the unkeyed one, each key's) holds `QUEUE`.
async fn weir_keyed(keys: u64) -> u64 {
    let pool = Pool::builder()
        .workers(4)
        .budget(4)
        .queue_capacity(QUEUE)
        .key_capacity(QUEUE)
        .build()
        .unwrap();
    let mut handles = Vec::with_capacity(KEYED_JOBS as usize);
    for i in 0..KEYED_JOBS {
        let handle = if keys == 0 {
            pool.submit(trivial(i)).await
        } else {
            pool.submit_for(i % keys, trivial(i)).await
        };
        handles.push(handle.unwrap());
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    sum
}

fn keyed(c: &mut Criterion) {
    let rt = runtime();
    let expected = KEYED_JOBS * (KEYED_JOBS - 1) / 2;
    let mut g = c.benchmark_group("pool/keyed");
    g.throughput(Throughput::Elements(KEYED_JOBS));
    g.sample_size(10);
    for (name, keys) in [("unkeyed", 0), ("keyed_1", 1), ("keyed_16", 16)] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.to_async(&rt)
                .iter(|| async move { assert_eq!(weir_keyed(keys).await, expected) });
        });
    }
    g.finish();
}

criterion_group!(benches, bench, keyed);

/// Runs a submitting loop on the thread that called `block_on` (`in_task: false`,
/// the thread outside the runtime that criterion's `to_async` uses too), or spawned
/// as a task on the runtime's workers, as a request handler would submit.
async fn submitter(in_task: bool, run: impl Future<Output = u64> + Send + 'static) -> u64 {
    if in_task {
        tokio::spawn(run).await.unwrap()
    } else {
        run.await
    }
}

/// `PAIRED=1`: the trivial and keyed loops in pairs, ns per job.
fn paired_main() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let reps = env("REPS", 20) as usize;
    let load = Load {
        jobs: env("PAIRED_JOBS", 100_000),
        concurrency: 4,
        make: trivial,
    };
    let rt = runtime();
    let expected = load.jobs * (load.jobs - 1) / 2;
    // One run of `$run` (a future giving the sum of the jobs' results): ns per job.
    macro_rules! per_job {
        ($jobs:expr, $expected:expr, $run:expr) => {
            &mut || {
                let start = std::time::Instant::now();
                assert_eq!(rt.block_on($run), $expected);
                start.elapsed().as_nanos() as f64 / $jobs as f64
            }
        };
    }
    for (group, in_task) in [
        (
            "pool/trivial, ns per job, submitter on its own thread",
            false,
        ),
        ("pool/trivial, ns per job, submitter in a task", true),
    ] {
        paired(
            group,
            reps,
            &mut [
                (
                    "async_channel",
                    per_job!(
                        load.jobs,
                        expected,
                        submitter(in_task, async_channel_workers(load))
                    ),
                ),
                (
                    "weir",
                    per_job!(
                        load.jobs,
                        expected,
                        submitter(in_task, weir_pool(load, false))
                    ),
                ),
                (
                    "weir_plain",
                    per_job!(
                        load.jobs,
                        expected,
                        submitter(in_task, weir_pool(load, true))
                    ),
                ),
                (
                    "minimal_pool",
                    per_job!(load.jobs, expected, submitter(in_task, minimal_pool(load))),
                ),
                (
                    "mpsc_spawn",
                    per_job!(load.jobs, expected, submitter(in_task, mpsc_spawn(load))),
                ),
            ],
        );
    }
    let keyed_expected = KEYED_JOBS * (KEYED_JOBS - 1) / 2;
    paired(
        "pool/keyed, ns per job",
        reps,
        &mut [
            (
                "unkeyed",
                per_job!(KEYED_JOBS, keyed_expected, weir_keyed(0)),
            ),
            (
                "keyed_1",
                per_job!(KEYED_JOBS, keyed_expected, weir_keyed(1)),
            ),
            (
                "keyed_16",
                per_job!(KEYED_JOBS, keyed_expected, weir_keyed(16)),
            ),
        ],
    );
}

fn main() {
    paired::main(benches, paired_main);
}
