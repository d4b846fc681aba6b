//! Scripted, deterministic tests of the pool's behaviour: outcomes, cancellation,
//! weights, resizing, close reports, config errors, observer events.

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{assert_adds_up, gated, settle};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready, task};
use tokio_util::sync::CancellationToken;
use weir_pool::{
    ConfigError, DropReason, Dropped, Finished, Job, JobError, Observer, Outcome, Pool,
    RefuseReason, Refused, Started, Submitted, fallible, with_context,
};

#[tokio::test(start_paused = true)]
async fn handles_resolve_to_typed_outcomes() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let ok = pool.submit(async { 1 }).await.unwrap();
    let failed = pool
        .submit(fallible(async { Err::<u8, _>("bad") }))
        .await
        .unwrap();
    let panicked = pool.submit(async { panic!("boom") }).await.unwrap();
    let timed_out = pool
        .submit(Job::new(std::future::pending::<()>()).timeout(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(ok.await.unwrap(), 1);
    assert_eq!(failed.await.unwrap(), Err("bad"));
    let panic = panicked.await.unwrap_err().into_panic().unwrap();
    assert_eq!(panic.message(), Some("boom"));
    let start = Instant::now();
    assert!(matches!(timed_out.await, Err(JobError::TimedOut)));
    assert_eq!(start.elapsed(), Duration::from_secs(1));

    let stats = pool.stats();
    assert_eq!(
        (
            stats.completed,
            stats.failed,
            stats.panicked,
            stats.timed_out
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        (stats.running, stats.queued, stats.in_flight_weight),
        (0, 0, 0)
    );
    assert_eq!(stats.live_workers, 2, "a panic does not kill the worker");
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn run_timeout_does_not_count_queue_time() {
    let pool = Pool::builder()
        .workers(1)
        .run_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let first = pool
        .submit(tokio::time::sleep(Duration::from_millis(1500)))
        .await
        .unwrap();
    // Queued for 1.5 s, then runs 1.5 s: within its 2 s run timeout.
    let second = pool
        .submit(tokio::time::sleep(Duration::from_millis(1500)))
        .await
        .unwrap();
    let third = pool
        .submit(Job::new(tokio::time::sleep(Duration::from_secs(5))).no_timeout())
        .await
        .unwrap();
    first.await.unwrap();
    second.await.unwrap();
    third.await.unwrap();
    assert_eq!(pool.stats().completed, 3);
}

#[tokio::test(start_paused = true)]
async fn cancelled_queued_job_never_starts_and_frees_its_slot() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.submit(gated(&gate, ())).await.unwrap();
    settle().await;
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let queued = pool
        .submit(async move {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .await
        .unwrap();
    let mut blocked = task::spawn(pool.submit(async { "next" }));
    assert_pending!(blocked.poll());

    queued.cancel();
    assert!(queued.is_finished(), "a queued job resolves at once");
    assert!(blocked.is_woken(), "its slot went to the waiting submitter");
    let next = assert_ready!(blocked.poll()).unwrap();
    assert!(matches!(queued.await, Err(JobError::Cancelled)));

    gate.cancel();
    assert_eq!(next.await.unwrap(), "next");
    assert_eq!(
        started.load(Ordering::SeqCst),
        0,
        "the cancelled job never started"
    );
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.completed), (1, 2));
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn cancel_a_job_waiting_for_budget() {
    // The worker has taken the job but waits for its weight: cancel must still
    // stop it from starting.
    let pool = Pool::builder().workers(2).budget(2).build().unwrap();
    let gate = CancellationToken::new();
    let _heavy = pool
        .submit(Job::new(gated(&gate, ())).weight(2))
        .await
        .unwrap();
    settle().await;
    let waiting = pool
        .submit(async { unreachable!("cancelled before it got its weight") })
        .await
        .unwrap();
    settle().await;
    assert_eq!(pool.stats().queued, 1);
    waiting.cancel();
    assert!(matches!(waiting.await, Err(JobError::Cancelled)));
    gate.cancel();
    settle().await;
    let stats = pool.stats();
    assert_eq!(
        (stats.cancelled, stats.completed, stats.in_flight_weight),
        (1, 1, 0)
    );
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn cancel_a_running_job_drops_it_and_fires_its_token() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let running = pool
        .submit(with_context(move |cx| async move {
            tx.send(cx.token().clone()).unwrap();
            std::future::pending::<()>().await;
        }))
        .await
        .unwrap();
    let token = rx.await.unwrap();
    assert!(!token.is_cancelled());
    running.cancel();
    assert!(matches!(running.await, Err(JobError::Cancelled)));
    assert!(token.is_cancelled());
    let after = pool.submit(async { 2 }).await.unwrap();
    assert_eq!(after.await.unwrap(), 2, "the worker moved on");
    assert_eq!(pool.stats().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_handle_detaches() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    drop(
        pool.submit(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            r.fetch_add(1, Ordering::SeqCst);
        })
        .await
        .unwrap(),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(pool.stats().completed, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_submit_never_leaks_a_slot() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.submit(gated(&gate, ())).await.unwrap();
    settle().await;
    let _queued = pool.submit(gated(&gate, ())).await.unwrap();
    for _ in 0..10 {
        let mut waiting = task::spawn(pool.submit(async {}));
        assert_pending!(waiting.poll());
        drop(waiting); // cancelled while waiting: the job is dropped with it
    }
    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.refused()), (2, 0));
    gate.cancel();
    settle().await;
    // Exactly the queue capacity is free again: nothing was leaked or reserved.
    let a = pool.try_submit(gated(&gate, ())).unwrap();
    assert!(pool.try_submit(async {}).unwrap_err().is_full());
    a.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn submit_cancellable_gives_the_job_back() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.submit(gated(&gate, ())).await.unwrap();
    settle().await;
    let _queued = pool.submit(async {}).await.unwrap();
    let request = CancellationToken::new();
    let r = request.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        r.cancel();
    });
    let start = Instant::now();
    let err = pool
        .submit_cancellable(async { 9 }, &request)
        .await
        .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(err.into_inner().await, 9);
    assert_eq!(pool.stats().refused_cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn too_heavy_jobs_are_refused_with_the_job() {
    let pool = Pool::builder().workers(1).budget(3).build().unwrap();
    let err = pool
        .submit(Job::new(async { 1 }).weight(4))
        .await
        .unwrap_err();
    assert!(err.is_too_heavy());
    assert_eq!(err.into_inner().into_inner().await, 1);
    assert!(
        pool.try_submit(Job::new(async {}).weight(4))
            .unwrap_err()
            .is_too_heavy()
    );
    assert_eq!(pool.stats().refused_too_heavy, 2);
    let ok = pool.submit(Job::new(async { 3 }).weight(3)).await.unwrap();
    assert_eq!(ok.await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn weights_are_granted_in_fifo_order() {
    // Budget 4, three workers. A weight-3 job waits behind a running weight-2 job;
    // a weight-1 job taken after it must not overtake it (head-of-line blocking).
    let pool = Pool::builder().workers(3).budget(4).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let gate = CancellationToken::new();
    let log = |name: &'static str, gate: Option<CancellationToken>| {
        let order = order.clone();
        async move {
            order.lock().unwrap().push(name);
            if let Some(gate) = gate {
                gate.cancelled().await;
            }
        }
    };
    let a = pool
        .submit(Job::new(log("a2", Some(gate.clone()))).weight(2))
        .await
        .unwrap();
    settle().await;
    let b = pool
        .submit(Job::new(log("b3", None)).weight(3))
        .await
        .unwrap();
    settle().await;
    let c = pool
        .submit(Job::new(log("c1", None)).weight(1))
        .await
        .unwrap();
    settle().await;
    assert_eq!(
        *order.lock().unwrap(),
        ["a2"],
        "c1 fits but must wait behind b3"
    );
    assert_eq!(pool.stats().in_flight_weight, 2);
    gate.cancel();
    a.await.unwrap();
    b.await.unwrap();
    c.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["a2", "b3", "c1"]);
}

#[tokio::test(start_paused = true)]
async fn resize_workers_up_and_down() {
    let pool = Pool::builder().workers(1).budget(8).build().unwrap();
    let gate = CancellationToken::new();
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(pool.submit(gated(&gate, ())).await.unwrap());
    }
    settle().await;
    assert_eq!((pool.stats().running, pool.stats().queued), (1, 2));

    pool.set_workers(3).unwrap();
    settle().await;
    let stats = pool.stats();
    assert_eq!((stats.running, stats.queued, stats.live_workers), (3, 0, 3));

    // Shrinking never interrupts: the three keep running until they finish.
    pool.set_workers(1).unwrap();
    settle().await;
    assert_eq!((pool.stats().running, pool.stats().live_workers), (3, 3));
    gate.cancel();
    for h in handles {
        h.await.unwrap();
    }
    settle().await;
    assert_eq!(pool.stats().live_workers, 1);

    let gate = CancellationToken::new();
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(pool.submit(gated(&gate, ())).await.unwrap());
    }
    settle().await;
    assert_eq!((pool.stats().running, pool.stats().queued), (1, 2));
    gate.cancel();
    for h in handles {
        h.await.unwrap();
    }
    assert!(matches!(
        pool.set_workers(0),
        Err(ConfigError::Zero { field: "workers" })
    ));
}

#[tokio::test(start_paused = true)]
async fn idle_workers_retire_at_once() {
    let pool = Pool::builder().workers(4).build().unwrap();
    settle().await;
    pool.set_workers(2).unwrap();
    settle().await;
    assert_eq!(pool.stats().live_workers, 2);
    // The survivors still take jobs.
    let handles: Vec<_> = (0..4)
        .map(|i| pool.try_submit(async move { i }).unwrap())
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), i);
    }
}

#[tokio::test(start_paused = true)]
async fn resize_budget_up_and_down() {
    let pool = Pool::builder().workers(4).budget(4).build().unwrap();
    let gates: Vec<_> = (0..4).map(|_| CancellationToken::new()).collect();
    let handles: Vec<_> = gates
        .iter()
        .map(|g| pool.try_submit(gated(g, ())).unwrap())
        .collect();
    settle().await;
    assert_eq!(pool.stats().in_flight_weight, 4);

    // Lower to 2: nothing is preempted; no job starts until in-use is below 2.
    pool.set_budget(2).unwrap();
    let next = pool.try_submit(async { "next" }).unwrap();
    settle().await;
    assert_eq!(
        (pool.stats().running, pool.stats().in_flight_weight),
        (4, 4)
    );
    gates[0].cancel();
    gates[1].cancel();
    settle().await;
    assert_eq!(
        (pool.stats().running, pool.stats().queued),
        (2, 1),
        "2 in use, budget 2: next waits"
    );
    gates[2].cancel();
    assert_eq!(next.await.unwrap(), "next");

    // Raise to 5: a weight-5 job now fits and runs alongside nothing else.
    pool.set_budget(5).unwrap();
    gates[3].cancel();
    let big = pool.submit(Job::new(async { 5 }).weight(5)).await.unwrap();
    assert_eq!(big.await.unwrap(), 5);
    for h in handles {
        h.await.unwrap();
    }
    assert!(matches!(
        pool.set_budget(0),
        Err(ConfigError::Zero { field: "budget" })
    ));
}

#[tokio::test(start_paused = true)]
async fn resize_queue_capacity() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let _running = pool.submit(gated(&gate, ())).await.unwrap();
    settle().await;
    let _queued = pool.submit(gated(&gate, ())).await.unwrap();
    let mut blocked = task::spawn(pool.submit(async {}));
    assert_pending!(blocked.poll());
    pool.set_queue_capacity(2).unwrap();
    assert!(blocked.is_woken());
    let _third = assert_ready!(blocked.poll()).unwrap();
    assert_eq!(pool.stats().queued, 2);

    // Lowering drops nothing; new jobs wait until the queue is below the new size.
    pool.set_queue_capacity(1).unwrap();
    assert!(pool.try_submit(async {}).unwrap_err().is_full());
    assert_eq!(pool.stats().queued, 2);
    gate.cancel();
    settle().await;
    assert!(pool.try_submit(async {}).is_ok());
    assert!(matches!(
        pool.set_queue_capacity(0),
        Err(ConfigError::Zero {
            field: "queue_capacity"
        })
    ));
}

#[tokio::test]
async fn config_errors_name_field_and_value() {
    let cases = [
        (
            Pool::builder().workers(0).build(),
            ConfigError::Zero { field: "workers" },
        ),
        (
            Pool::builder().workers(70_000).build(),
            ConfigError::TooLarge {
                field: "workers",
                value: 70_000,
                max: 1 << 16,
            },
        ),
        (
            Pool::builder().budget(0).build(),
            ConfigError::Zero { field: "budget" },
        ),
        (
            Pool::builder().budget(usize::MAX).build(),
            ConfigError::TooLarge {
                field: "budget",
                value: usize::MAX,
                max: weir_core::Semaphore::MAX_PERMITS,
            },
        ),
        (
            Pool::builder().queue_capacity(0).build(),
            ConfigError::Zero {
                field: "queue_capacity",
            },
        ),
        (
            Pool::builder().run_timeout(Duration::ZERO).build(),
            ConfigError::ZeroDuration {
                field: "run_timeout",
            },
        ),
    ];
    for (built, expected) in cases {
        assert_eq!(built.unwrap_err(), expected);
    }
    assert_eq!(
        ConfigError::TooLarge {
            field: "workers",
            value: 70_000,
            max: 65_536
        }
        .to_string(),
        "invalid pool config: `workers` = 70000, above the maximum 65536"
    );
    // The budget defaults to the worker count.
    let pool = Pool::builder().workers(3).build().unwrap();
    assert_eq!(pool.stats().budget, 3);
}

#[test]
#[should_panic(expected = "inside a Tokio runtime")]
fn build_outside_a_runtime_panics() {
    let _ = Pool::builder().workers(1).build();
}

/// The close scenario from the design notes, timed to the millisecond:
///
/// | t | event |
/// |---|---|
/// | 0 | A (1 s), B (fails at 2 s), C (panics at 1 s), D (2.2 s timeout) start; E..J queued |
/// | 1.0 | A completes, C panics: E (cooperative) and F (stubborn) start |
/// | 2.0 | B fails: G (stubborn) starts |
/// | 2.2 | D times out: H (stubborn) starts |
/// | 2.5 | deadline: token cancelled, E returns, I and J dropped |
/// | 2.6 | grace over: F, G, H dropped |
#[tokio::test(start_paused = true)]
async fn close_report_is_exact() {
    let pool = Pool::builder()
        .workers(4)
        .queue_capacity(16)
        .close_grace(Duration::from_millis(100))
        .build()
        .unwrap();
    let secs = |s: f64| Duration::from_secs_f64(s);
    let sleep = move |s: f64| tokio::time::sleep(secs(s));
    let forever = || std::future::pending::<()>();
    let a = pool.submit(async move { sleep(1.0).await }).await.unwrap();
    let b = pool
        .submit(fallible(async move {
            sleep(2.0).await;
            Err::<(), _>("b")
        }))
        .await
        .unwrap();
    let c = pool
        .submit(async move {
            sleep(1.0).await;
            panic!("c");
        })
        .await
        .unwrap();
    let d = pool
        .submit(Job::new(forever()).timeout(secs(2.2)))
        .await
        .unwrap();
    settle().await;
    let e = pool
        .submit(with_context(
            |cx| async move { cx.token().cancelled().await },
        ))
        .await
        .unwrap();
    let f = pool.submit(forever()).await.unwrap();
    let g = pool.submit(forever()).await.unwrap();
    let h = pool.submit(forever()).await.unwrap();
    let i = pool.submit(forever()).await.unwrap();
    let j = pool.submit(forever()).await.unwrap();

    let start = Instant::now();
    let report = pool.close(start + secs(2.5)).await;
    assert_eq!(start.elapsed(), secs(2.6));
    assert_eq!(
        (
            report.completed,
            report.failed,
            report.panicked,
            report.timed_out,
            report.cancelled,
            report.never_started
        ),
        (2, 1, 1, 1, 3, 2)
    );
    assert!(report.deadline_passed && report.aborted);
    assert_eq!(report.total(), 10);
    assert_eq!(
        (
            report.stats.queued,
            report.stats.running,
            report.stats.live_workers
        ),
        (0, 0, 0)
    );
    assert_adds_up(&report.stats);

    // Every handle resolved, each to its own fate.
    assert!(b.is_finished());
    for handle in [&a, &c, &d, &f, &g, &h, &i, &j] {
        assert!(handle.is_finished());
    }
    a.await.unwrap();
    assert_eq!(b.await.unwrap(), Err("b"));
    assert!(c.await.unwrap_err().is_panic());
    assert!(matches!(d.await, Err(JobError::TimedOut)));
    e.await.unwrap();
    for stubborn in [f, g, h] {
        assert!(matches!(stubborn.await, Err(JobError::Cancelled)));
    }
    for never in [i, j] {
        assert!(matches!(never.await, Err(JobError::Dropped)));
    }

    // A second close returns the same report at once.
    let again = Instant::now();
    assert_eq!(pool.close(Instant::now() + secs(100.0)).await, report);
    assert_eq!(again.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn admission_stops_when_close_is_called() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let gate = CancellationToken::new();
    let running = pool.submit(gated(&gate, ())).await.unwrap();
    settle().await;
    let queued = pool.submit(async { 1 }).await.unwrap();
    let mut waiting = task::spawn(pool.submit(async { 2 }));
    assert_pending!(waiting.poll());

    let close = pool.close(Instant::now() + Duration::from_secs(10)); // not polled yet
    assert!(pool.is_closed());
    assert!(waiting.is_woken());
    let err = assert_ready!(waiting.poll()).unwrap_err();
    assert!(err.is_closed());
    assert!(pool.try_submit(async {}).unwrap_err().is_closed());
    assert_eq!(pool.stats().refused_closed, 2);

    // Queued and running work continues.
    gate.cancel();
    let report = close.await;
    assert_eq!(
        (
            report.completed,
            report.never_started,
            report.deadline_passed
        ),
        (2, 0, false)
    );
    running.await.unwrap();
    assert_eq!(queued.await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_closes_share_one_report() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let _job = pool
        .submit(tokio::time::sleep(Duration::from_secs(1)))
        .await
        .unwrap();
    let first = tokio::spawn(pool.close(Instant::now() + Duration::from_secs(5)));
    let second = tokio::spawn(pool.clone().close(Instant::now()));
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first, second);
    assert_eq!(
        (first.completed, first.deadline_passed),
        (1, false),
        "the first deadline wins"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_close_future_does_not_stop_the_close() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let job = pool.submit(std::future::pending::<()>()).await.unwrap();
    drop(pool.close(Instant::now() + Duration::from_secs(1)));
    assert!(matches!(job.await, Err(JobError::Cancelled)));
    let report = pool.close(Instant::now()).await;
    assert_eq!((report.cancelled, report.aborted), (1, true));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_pool_handle_drains_the_queue() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let handles: Vec<_> = (0..3)
        .map(|i| {
            pool.try_submit(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                i
            })
            .unwrap()
        })
        .collect();
    let clone = pool.clone();
    drop(pool);
    assert!(!clone.is_closed(), "a clone keeps the pool open");
    drop(clone);
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(
            h.await.unwrap(),
            i,
            "queued jobs still run after the last handle is gone"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn cooperative_jobs_see_the_token_at_the_deadline() {
    let pool = Pool::builder()
        .workers(1)
        .close_grace(Duration::from_secs(1))
        .build()
        .unwrap();
    let job = pool
        .submit(with_context(|cx| async move {
            cx.token().cancelled().await;
            tokio::time::sleep(Duration::from_millis(300)).await; // cleanup
            "clean"
        }))
        .await
        .unwrap();
    let start = Instant::now();
    let report = pool.close(start + Duration::from_secs(2)).await;
    assert_eq!(start.elapsed(), Duration::from_millis(2300));
    assert_eq!((report.completed, report.aborted), (1, false));
    assert_eq!(job.await.unwrap(), "clean");
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Observer for Recorder {
    fn on_submit(&self, e: &Submitted) {
        self.0
            .lock()
            .unwrap()
            .push(format!("submit {} w{}", e.id, e.weight));
    }
    fn on_refuse(&self, e: &Refused) {
        self.0
            .lock()
            .unwrap()
            .push(format!("refuse {}", e.reason.as_str()));
    }
    fn on_drop(&self, e: &Dropped) {
        self.0.lock().unwrap().push(format!(
            "drop {} {} after {:?}",
            e.id,
            e.reason.as_str(),
            e.queue_wait
        ));
    }
    fn on_start(&self, e: &Started) {
        self.0
            .lock()
            .unwrap()
            .push(format!("start {} after {:?}", e.id, e.queue_wait));
    }
    fn on_finish(&self, e: &Finished) {
        self.0.lock().unwrap().push(format!(
            "finish {} {} in {:?}",
            e.id,
            e.outcome.as_str(),
            e.run_time
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn observer_sees_every_lifecycle_event() {
    let recorder = Arc::new(Recorder::default());
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .observer(recorder.clone())
        .build()
        .unwrap();
    let first = pool
        .submit(tokio::time::sleep(Duration::from_secs(2)))
        .await
        .unwrap();
    settle().await;
    let second = pool.submit(async { panic!("x") }).await.unwrap();
    assert!(pool.try_submit(async {}).is_err());
    first.await.unwrap();
    assert!(second.await.unwrap_err().is_panic());
    let third = pool.submit(std::future::pending::<()>()).await.unwrap();
    settle().await;
    let fourth = pool.submit(async {}).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    fourth.cancel();
    third.cancel();
    settle().await;
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            "submit 0 w1",
            "start 0 after 0ns",
            "submit 1 w1",
            "refuse full",
            "finish 0 completed in 2s",
            "start 1 after 2s",
            "finish 1 panicked in 0ns",
            "submit 2 w1",
            "start 2 after 0ns",
            "submit 3 w1",
            "drop 3 cancelled after 1s",
            "finish 2 cancelled in 1s",
        ]
    );
    assert_eq!(Outcome::Cancelled.as_str(), "cancelled");
    assert_eq!(DropReason::Cancelled.as_str(), "cancelled");
    assert_eq!(RefuseReason::Full.as_str(), "full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_weight_never_exceeds_the_budget() {
    const BUDGET: usize = 5;
    let pool = Pool::builder()
        .workers(4)
        .budget(BUDGET)
        .queue_capacity(8)
        .build()
        .unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..2_000_usize {
        let weight = 1 + (i * 7919) % BUDGET;
        let (in_flight, max) = (in_flight.clone(), max.clone());
        let job = Job::new(async move {
            let now = in_flight.fetch_add(weight, Ordering::SeqCst) + weight;
            max.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            in_flight.fetch_sub(weight, Ordering::SeqCst);
        })
        .weight(weight);
        handles.push(pool.submit(job).await.unwrap());
        let stats = pool.stats();
        assert!(stats.in_flight_weight <= BUDGET, "{stats:?}");
        assert_adds_up(&stats);
    }
    for h in handles {
        h.await.unwrap();
    }
    let max = max.load(Ordering::SeqCst);
    assert!(max <= BUDGET, "running weight reached {max} > {BUDGET}");
    assert!(max > 1, "the test should actually run jobs concurrently");
}
