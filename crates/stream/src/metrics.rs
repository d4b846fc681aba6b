//! [`StreamMetrics`]: a shedding adapter's [`ShedStats`](crate::ShedStats) through
//! the [`metrics`] facade (feature `metrics`).
//!
//! Call [`StreamMetrics::record`] with a [`ShedSnapshot`] from a periodic task (or
//! before every scrape). The counters are set to the adapter's absolute totals, so
//! recording twice never double-counts.
//!
//! # Metric names
//!
//! Every series carries the label `stream` (the name given to
//! [`StreamMetrics::new`]).
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `weir_stream_received_total` | counter | | items taken from the upstream |
//! | `weir_stream_emitted_total` | counter | | items handed to the consumer |
//! | `weir_stream_dropped_total` | counter | `reason` | items shed, by [`DropReason::as_str`] (`incoming_refused`, `oldest_evicted`, `superseded`, `not_sampled`, `above_watermark`) |
//! | `weir_stream_occupancy` | gauge | | items buffered now |
//! | `weir_stream_max_occupancy` | gauge | | the most ever buffered |
//! | `weir_stream_shedding` | gauge | | 1 while a watermark adapter sheds, else 0 |
//!
//! The handles are registered with the recorder installed when
//! [`StreamMetrics::new`] runs, so install the recorder first.

use std::fmt;

use metrics::{Counter, Gauge, SharedString};

use crate::stats::{DropReason, ShedSnapshot};

/// Exports one shedding adapter's counters under the names in the
/// [module docs](self).
///
/// # Examples
///
/// ```
/// use futures::{SinkExt, StreamExt};
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use weir_stream::{Watermarks, WeirStreamExt, metrics::StreamMetrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// let metrics = metrics::with_local_recorder(&recorder, || StreamMetrics::new("events"));
///
/// let (mut tx, rx) = futures::channel::mpsc::unbounded();
/// let s = rx.shed_watermark(Watermarks::new(4, 1).unwrap());
/// let stats = s.stats();
/// for i in 0..6 { tx.send(i).await.unwrap(); }
/// drop(tx);
/// let _: Vec<i32> = s.collect().await;
/// metrics.record(&stats.snapshot());
///
/// let shed = snapshotter.snapshot().into_vec().into_iter().find(|(key, ..)| {
///     let key = key.key();
///     key.name() == "weir_stream_dropped_total"
///         && key.labels().any(|l| l.key() == "reason" && l.value() == "above_watermark")
/// });
/// assert!(matches!(shed, Some((_, _, _, DebugValue::Counter(2)))));
/// # }
/// ```
pub struct StreamMetrics {
    name: SharedString,
    received: Counter,
    emitted: Counter,
    dropped: [Counter; DropReason::ALL.len()],
    occupancy: Gauge,
    max_occupancy: Gauge,
    shedding: Gauge,
}

impl StreamMetrics {
    /// Registers every series for the stream called `name` with the current
    /// recorder.
    ///
    /// # Examples
    ///
    /// ```
    /// let metrics = weir_stream::metrics::StreamMetrics::new("events");
    /// assert_eq!(metrics.name(), "events");
    /// ```
    pub fn new(name: impl Into<SharedString>) -> Self {
        let name: SharedString = name.into();
        let gauge = |metric: &'static str| metrics::gauge!(metric, "stream" => name.clone());
        StreamMetrics {
            received: metrics::counter!("weir_stream_received_total", "stream" => name.clone()),
            emitted: metrics::counter!("weir_stream_emitted_total", "stream" => name.clone()),
            dropped: DropReason::ALL.map(|r| {
                metrics::counter!(
                    "weir_stream_dropped_total",
                    "stream" => name.clone(),
                    "reason" => r.as_str()
                )
            }),
            occupancy: gauge("weir_stream_occupancy"),
            max_occupancy: gauge("weir_stream_max_occupancy"),
            shedding: gauge("weir_stream_shedding"),
            name,
        }
    }

    /// The `stream` label's value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weir_stream::metrics::StreamMetrics::new("a").name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets every series from a snapshot (counters to their absolute totals).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    /// use weir_stream::{WeirStreamExt, metrics::StreamMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let recorder = DebuggingRecorder::new();
    /// let snapshotter = recorder.snapshotter();
    /// let metrics = metrics::with_local_recorder(&recorder, || StreamMetrics::new("tap"));
    /// let s = futures::stream::iter(0..3).drop_oldest(std::num::NonZeroUsize::new(8).unwrap());
    /// let stats = s.stats();
    /// assert_eq!(s.count().await, 3);
    /// metrics.record(&stats.snapshot());
    /// metrics.record(&stats.snapshot()); // idempotent
    ///
    /// let received = snapshotter
    ///     .snapshot()
    ///     .into_vec()
    ///     .into_iter()
    ///     .find(|(key, ..)| key.key().name() == "weir_stream_received_total")
    ///     .map(|(.., value)| value);
    /// assert_eq!(received, Some(DebugValue::Counter(3)));
    /// # }
    /// ```
    pub fn record(&self, snap: &ShedSnapshot) {
        self.received.absolute(snap.received());
        self.emitted.absolute(snap.emitted());
        for (counter, reason) in self.dropped.iter().zip(DropReason::ALL) {
            counter.absolute(snap.dropped_by(reason));
        }
        // The gauges are f64; buffer depths this large are far beyond any real stream.
        self.occupancy.set(snap.occupancy() as f64);
        self.max_occupancy.set(snap.max_occupancy() as f64);
        self.shedding
            .set(if snap.is_shedding() { 1.0 } else { 0.0 });
    }
}

impl fmt::Debug for StreamMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamMetrics")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
