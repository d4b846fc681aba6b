//! [`PoolMetrics`]: a pool's counters, gauges and histograms through the
//! [`metrics`] facade (feature `metrics`).
//!
//! Install it as the pool's [`Observer`] for the event-driven series, and call
//! [`PoolMetrics::record_stats`] with [`Pool::stats`](crate::Pool::stats) from a
//! periodic task (or before every scrape) for the gauges.
//!
//! # Metric names
//!
//! Every series carries the label `pool` (the name given to [`PoolMetrics::new`]).
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `weir_pool_submitted_total` | counter | `result` | submissions: `accepted`, or the [`RefuseReason`] (`full`, `closed`, `timeout`, `cancelled`, `too_heavy`) |
//! | `weir_pool_dropped_total` | counter | `reason` | accepted jobs that never started, by [`DropReason`] (`evicted`, `cancelled`, `closed`) |
//! | `weir_pool_finished_total` | counter | `outcome` | started jobs that ended, by [`Outcome`] (`completed`, `failed`, `panicked`, `timed_out`, `cancelled`) |
//! | `weir_pool_queue_wait_seconds` | histogram | | from acceptance to start, per started job |
//! | `weir_pool_run_seconds` | histogram | | run time, per finished job |
//! | `weir_pool_queue_depth` | gauge | | jobs accepted and not started ([`Stats::queued`]) |
//! | `weir_pool_running` | gauge | | jobs running ([`Stats::running`]) |
//! | `weir_pool_in_flight` | gauge | | weight held by running jobs ([`Stats::in_flight_weight`]) |
//! | `weir_pool_ceiling` | gauge | | the budget ([`Stats::budget`]) |
//! | `weir_pool_queue_capacity` | gauge | | [`Stats::queue_capacity`] |
//! | `weir_pool_workers` | gauge | | live worker tasks ([`Stats::live_workers`]) |
//!
//! The handles are registered with the recorder installed when
//! [`PoolMetrics::new`] runs (the global one, or a `metrics::with_local_recorder`
//! scope around the call), so install the recorder first.

use std::fmt;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, SharedString};

use crate::observer::{
    DropReason, Dropped, Finished, Observer, Outcome, RefuseReason, Refused, Started, Submitted,
};
use crate::stats::Stats;

const REFUSE: [RefuseReason; 6] = [
    RefuseReason::Full,
    RefuseReason::Closed,
    RefuseReason::Timeout,
    RefuseReason::Cancelled,
    RefuseReason::TooHeavy,
    RefuseReason::Shed,
];
const DROP: [DropReason; 3] = [
    DropReason::Evicted,
    DropReason::Cancelled,
    DropReason::Closed,
];
const OUTCOME: [Outcome; 5] = [
    Outcome::Completed,
    Outcome::Failed,
    Outcome::Panicked,
    Outcome::TimedOut,
    Outcome::Cancelled,
];

/// Exports one pool's lifecycle events and [`Stats`] through the [`metrics`] facade,
/// under the names in the [module docs](self).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use weir_pool::{Pool, metrics::PoolMetrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// let metrics = metrics::with_local_recorder(&recorder, || Arc::new(PoolMetrics::new("api")));
///
/// let pool = Pool::builder().workers(1).observer(metrics.clone()).build().unwrap();
/// pool.submit(async {}).await.unwrap().await.unwrap();
/// metrics.record_stats(&pool.stats());
///
/// let seen = snapshotter.snapshot().into_vec();
/// let accepted = seen.iter().find(|(key, ..)| {
///     let key = key.key();
///     key.name() == "weir_pool_submitted_total"
///         && key.labels().any(|l| l.key() == "result" && l.value() == "accepted")
///         && key.labels().any(|l| l.key() == "pool" && l.value() == "api")
/// });
/// assert!(matches!(accepted, Some((_, _, _, DebugValue::Counter(1)))));
/// # }
/// ```
pub struct PoolMetrics {
    name: SharedString,
    accepted: Counter,
    refused: [Counter; REFUSE.len()],
    dropped: [Counter; DROP.len()],
    finished: [Counter; OUTCOME.len()],
    queue_wait: Histogram,
    run_time: Histogram,
    queue_depth: Gauge,
    running: Gauge,
    in_flight: Gauge,
    ceiling: Gauge,
    queue_capacity: Gauge,
    workers: Gauge,
}

impl PoolMetrics {
    /// Registers every series for the pool called `name` with the current recorder.
    ///
    /// # Examples
    ///
    /// ```
    /// let metrics = weir_pool::metrics::PoolMetrics::new("ingest");
    /// assert_eq!(metrics.name(), "ingest");
    /// ```
    pub fn new(name: impl Into<SharedString>) -> Self {
        let name: SharedString = name.into();
        let labelled = |metric: &'static str, key: &'static str, value: &'static str| metrics::counter!(metric, "pool" => name.clone(), key => value);
        let gauge = |metric: &'static str| metrics::gauge!(metric, "pool" => name.clone());
        PoolMetrics {
            accepted: labelled("weir_pool_submitted_total", "result", "accepted"),
            refused: REFUSE.map(|r| labelled("weir_pool_submitted_total", "result", r.as_str())),
            dropped: DROP.map(|r| labelled("weir_pool_dropped_total", "reason", r.as_str())),
            finished: OUTCOME.map(|o| labelled("weir_pool_finished_total", "outcome", o.as_str())),
            queue_wait: metrics::histogram!("weir_pool_queue_wait_seconds", "pool" => name.clone()),
            run_time: metrics::histogram!("weir_pool_run_seconds", "pool" => name.clone()),
            queue_depth: gauge("weir_pool_queue_depth"),
            running: gauge("weir_pool_running"),
            in_flight: gauge("weir_pool_in_flight"),
            ceiling: gauge("weir_pool_ceiling"),
            queue_capacity: gauge("weir_pool_queue_capacity"),
            workers: gauge("weir_pool_workers"),
            name,
        }
    }

    /// The `pool` label's value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_pool::metrics::PoolMetrics::new("a").name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the gauges from a [`Stats`] snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    /// use weir_pool::{Pool, metrics::PoolMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let recorder = DebuggingRecorder::new();
    /// let snapshotter = recorder.snapshotter();
    /// let metrics = metrics::with_local_recorder(&recorder, || PoolMetrics::new("api"));
    /// let pool = Pool::builder().budget(6).build().unwrap();
    /// metrics.record_stats(&pool.stats());
    ///
    /// let ceiling = snapshotter
    ///     .snapshot()
    ///     .into_vec()
    ///     .into_iter()
    ///     .find(|(key, ..)| key.key().name() == "weir_pool_ceiling")
    ///     .map(|(.., value)| value);
    /// assert_eq!(ceiling, Some(DebugValue::Gauge(6.0.into())));
    /// # }
    /// ```
    pub fn record_stats(&self, stats: &Stats) {
        // The gauges are f64; counts this large are far beyond any real pool.
        self.queue_depth.set(stats.queued as f64);
        self.running.set(stats.running as f64);
        self.in_flight.set(stats.in_flight_weight as f64);
        self.ceiling.set(stats.budget as f64);
        self.queue_capacity.set(stats.queue_capacity as f64);
        self.workers.set(stats.live_workers as f64);
    }
}

fn index<T: PartialEq>(all: &[T], item: &T) -> Option<usize> {
    all.iter().position(|x| x == item)
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Observer for PoolMetrics {
    fn on_submit(&self, _: &Submitted) {
        self.accepted.increment(1);
    }

    fn on_refuse(&self, event: &Refused) {
        if let Some(i) = index(&REFUSE, &event.reason) {
            self.refused[i].increment(1);
        }
    }

    fn on_drop(&self, event: &Dropped) {
        if let Some(i) = index(&DROP, &event.reason) {
            self.dropped[i].increment(1);
        }
    }

    fn on_start(&self, event: &Started) {
        self.queue_wait.record(seconds(event.queue_wait));
    }

    fn on_finish(&self, event: &Finished) {
        if let Some(i) = index(&OUTCOME, &event.outcome) {
            self.finished[i].increment(1);
        }
        self.run_time.record(seconds(event.run_time));
    }
}

impl fmt::Debug for PoolMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolMetrics")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
