//! The documented metric names and their values, read back through `metrics-util`'s
//! `DebuggingRecorder`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::time::Instant;
use weir::pool::metrics::PoolMetrics;
use weir::pool::{Job, Overflow, Pool};
use weir::stream::metrics::StreamMetrics;
use weir::stream::{Watermarks, WeirStreamExt};

/// Adds a snapshot to `all`, keyed `name{k=v,...}` (labels sorted). The debugging
/// recorder drains counters and histograms on every snapshot, so those accumulate.
fn collect(snapshotter: &Snapshotter, all: &mut HashMap<String, DebugValue>) {
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<_> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match (all.get_mut(&name), value) {
            (Some(DebugValue::Counter(sum)), DebugValue::Counter(n)) => *sum += n,
            (Some(DebugValue::Histogram(seen)), DebugValue::Histogram(more)) => seen.extend(more),
            (_, value) => {
                all.insert(name, value);
            }
        }
    }
}

fn counter(all: &HashMap<String, DebugValue>, key: &str) -> u64 {
    match all.get(key) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{key}: {other:?} in {:?}", all.keys()),
    }
}

fn gauge(all: &HashMap<String, DebugValue>, key: &str) -> f64 {
    match all.get(key) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{key}: {other:?}"),
    }
}

fn histogram(all: &HashMap<String, DebugValue>, key: &str) -> Vec<f64> {
    match all.get(key) {
        Some(DebugValue::Histogram(h)) => h.iter().map(|v| v.into_inner()).collect(),
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pool_series_count_every_fate_under_their_documented_names() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let metrics = metrics::with_local_recorder(&recorder, || Arc::new(PoolMetrics::new("jobs")));
    let pool = Pool::builder()
        .workers(1)
        .budget(2)
        .queue_capacity(1)
        .overflow(Overflow::EvictOldest)
        .observer(metrics.clone())
        .build()
        .unwrap();

    // The timer starts when the job starts, not when it is submitted.
    let sleep = |ms| Job::new(async move { tokio::time::sleep(Duration::from_millis(ms)).await });
    let first = pool.submit(sleep(1000)).await.unwrap(); // runs 1 s
    tokio::task::yield_now().await; // the worker takes it
    let evicted = pool.try_submit(sleep(10)).unwrap(); // queued...
    let kept = pool.try_submit(sleep(10)).unwrap(); // ...and evicted by this one
    assert!(pool.try_submit(Job::new(async {}).weight(3)).is_err()); // too heavy
    metrics.record_stats(&pool.stats());
    let mut all = HashMap::new();
    collect(&snapshotter, &mut all);
    assert_eq!(gauge(&all, "weir_pool_queue_depth{pool=jobs}"), 1.0);
    assert_eq!(gauge(&all, "weir_pool_running{pool=jobs}"), 1.0);
    assert_eq!(gauge(&all, "weir_pool_in_flight{pool=jobs}"), 1.0);
    assert_eq!(gauge(&all, "weir_pool_ceiling{pool=jobs}"), 2.0);
    assert_eq!(gauge(&all, "weir_pool_queue_capacity{pool=jobs}"), 1.0);
    assert_eq!(gauge(&all, "weir_pool_workers{pool=jobs}"), 1.0);

    first.await.unwrap();
    assert!(evicted.await.is_err());
    kept.await.unwrap();
    let report = pool.close(Instant::now() + Duration::from_secs(1)).await;
    assert!(pool.try_submit(async {}).is_err()); // closed
    metrics.record_stats(&report.stats);

    collect(&snapshotter, &mut all);
    assert_eq!(
        counter(&all, "weir_pool_submitted_total{pool=jobs,result=accepted}"),
        3
    );
    assert_eq!(
        counter(
            &all,
            "weir_pool_submitted_total{pool=jobs,result=too_heavy}"
        ),
        1
    );
    assert_eq!(
        counter(&all, "weir_pool_submitted_total{pool=jobs,result=closed}"),
        1
    );
    assert_eq!(
        counter(&all, "weir_pool_submitted_total{pool=jobs,result=full}"),
        0
    );
    assert_eq!(
        counter(&all, "weir_pool_dropped_total{pool=jobs,reason=evicted}"),
        1
    );
    assert_eq!(
        counter(
            &all,
            "weir_pool_finished_total{outcome=completed,pool=jobs}"
        ),
        2
    );
    assert_eq!(
        counter(&all, "weir_pool_finished_total{outcome=panicked,pool=jobs}"),
        0
    );
    // Paused time: the run times and queue waits are exact.
    assert_eq!(
        histogram(&all, "weir_pool_run_seconds{pool=jobs}"),
        [1.0, 0.01]
    );
    assert_eq!(
        histogram(&all, "weir_pool_queue_wait_seconds{pool=jobs}"),
        [0.0, 1.0]
    );
    assert_eq!(gauge(&all, "weir_pool_queue_depth{pool=jobs}"), 0.0);
    assert_eq!(gauge(&all, "weir_pool_running{pool=jobs}"), 0.0);
}

#[tokio::test]
async fn stream_series_follow_the_shed_stats() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let metrics = metrics::with_local_recorder(&recorder, || StreamMetrics::new("events"));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let mut s = rx.shed_watermark(Watermarks::new(3, 1).unwrap());
    let stats = s.stats();
    for i in 0..5 {
        tx.unbounded_send(i).unwrap();
    }
    use futures::StreamExt;
    assert_eq!(s.next().await, Some(0));
    // Wait until the producer task has offered all five items.
    while stats.received() < 5 {
        tokio::task::yield_now().await;
    }
    metrics.record(&stats.snapshot());
    let mut all = HashMap::new();
    collect(&snapshotter, &mut all);
    assert_eq!(
        counter(&all, "weir_stream_received_total{stream=events}"),
        5
    );
    assert_eq!(counter(&all, "weir_stream_emitted_total{stream=events}"), 1);
    assert_eq!(
        counter(
            &all,
            "weir_stream_dropped_total{reason=above_watermark,stream=events}"
        ),
        2
    );
    assert_eq!(
        counter(
            &all,
            "weir_stream_dropped_total{reason=oldest_evicted,stream=events}"
        ),
        0
    );
    assert_eq!(gauge(&all, "weir_stream_occupancy{stream=events}"), 2.0);
    assert_eq!(gauge(&all, "weir_stream_max_occupancy{stream=events}"), 3.0);
    assert_eq!(gauge(&all, "weir_stream_shedding{stream=events}"), 1.0);
}
