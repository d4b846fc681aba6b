//! Drop accounting shared by the shedding adapters.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::end::lock;

/// Why a shedding adapter dropped an item.
///
/// The names say *which* item goes, because the usual words disagree between
/// libraries (RxJava's `DROP_LATEST` evicts a buffered item, Reactor's and Kotlin's
/// refuse the incoming one).
///
/// ```
/// use weir_stream::DropReason;
/// assert_eq!(DropReason::ALL.len(), 5);
/// assert_eq!(DropReason::OldestEvicted.to_string(), "oldest buffered item evicted");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// [`drop_newest`](crate::WeirStreamExt::drop_newest): the buffer was full, so
    /// the *incoming* item was refused; the buffer is unchanged.
    IncomingRefused,
    /// [`drop_oldest`](crate::WeirStreamExt::drop_oldest): the buffer was full, so
    /// its *oldest* item was evicted to make room for the incoming one.
    OldestEvicted,
    /// [`latest`](crate::WeirStreamExt::latest): the undelivered item was replaced
    /// by a newer one.
    Superseded,
    /// [`sample`](crate::WeirStreamExt::sample): the item was not selected.
    NotSampled,
    /// [`shed_watermark`](crate::WeirStreamExt::shed_watermark): the item arrived
    /// while the adapter was shedding (between crossing the high mark and falling to
    /// the low mark).
    AboveWatermark,
}

impl DropReason {
    /// Every reason, in declaration order.
    pub const ALL: [DropReason; 5] = [
        DropReason::IncomingRefused,
        DropReason::OldestEvicted,
        DropReason::Superseded,
        DropReason::NotSampled,
        DropReason::AboveWatermark,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// A short lowercase name, for metric labels and log fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_stream::DropReason;
    /// assert_eq!(DropReason::AboveWatermark.as_str(), "above_watermark");
    /// assert_eq!(DropReason::IncomingRefused.as_str(), "incoming_refused");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::IncomingRefused => "incoming_refused",
            DropReason::OldestEvicted => "oldest_evicted",
            DropReason::Superseded => "superseded",
            DropReason::NotSampled => "not_sampled",
            DropReason::AboveWatermark => "above_watermark",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::IncomingRefused => "incoming item refused",
            DropReason::OldestEvicted => "oldest buffered item evicted",
            DropReason::Superseded => "superseded by a newer item",
            DropReason::NotSampled => "not sampled",
            DropReason::AboveWatermark => "shed above the high watermark",
        })
    }
}

/// A consistent reading of a shedding adapter's counters.
///
/// All fields are read under one lock, so at every snapshot
/// `received == emitted + dropped + occupancy`.
///
/// ```
/// use std::num::NonZeroUsize;
/// use futures::StreamExt;
/// use weir_stream::{DropReason, WeirStreamExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let s = futures::stream::iter(0..10).drop_newest(NonZeroUsize::new(4).unwrap());
/// let stats = s.stats();
/// let out: Vec<_> = s.collect().await;
/// let snap = stats.snapshot();
/// assert_eq!(snap.received(), 10);
/// assert_eq!(snap.emitted(), out.len() as u64);
/// assert_eq!(snap.received(), snap.emitted() + snap.dropped() + snap.occupancy() as u64);
/// assert_eq!(snap.dropped(), snap.dropped_by(DropReason::IncomingRefused));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShedSnapshot {
    received: u64,
    emitted: u64,
    dropped: [u64; 5],
    occupancy: usize,
    max_occupancy: usize,
    shedding: bool,
}

impl ShedSnapshot {
    /// Items the adapter took from its upstream.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Items the adapter handed to its consumer.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Items dropped, for every reason.
    pub fn dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Items dropped for `reason`.
    pub fn dropped_by(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Items buffered right now (received, neither emitted nor dropped).
    pub fn occupancy(&self) -> usize {
        self.occupancy
    }

    /// The largest occupancy seen so far.
    pub fn max_occupancy(&self) -> usize {
        self.max_occupancy
    }

    /// Whether the adapter is refusing items right now. Only
    /// [`shed_watermark`](crate::WeirStreamExt::shed_watermark) has a shedding
    /// *mode*; the other adapters report `false`.
    pub fn is_shedding(&self) -> bool {
        self.shedding
    }

    pub(crate) fn on_received(&mut self) {
        self.received += 1;
    }

    pub(crate) fn on_emitted(&mut self) {
        self.emitted += 1;
    }

    pub(crate) fn on_dropped(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }

    pub(crate) fn set_occupancy(&mut self, len: usize) {
        self.occupancy = len;
        self.max_occupancy = self.max_occupancy.max(len);
    }

    pub(crate) fn set_shedding(&mut self, on: bool) {
        self.shedding = on;
    }
}

/// Anything that can produce a consistent [`ShedSnapshot`].
pub(crate) trait CountsSource: Send + Sync + 'static {
    fn snapshot(&self) -> ShedSnapshot;
}

impl CountsSource for Mutex<ShedSnapshot> {
    fn snapshot(&self) -> ShedSnapshot {
        *lock(self)
    }
}

/// A live, clonable view of a shedding adapter's counters.
///
/// Get one from the adapter (`stats()`) before handing the stream on; it stays
/// readable from any task or thread while the stream runs, and after it is dropped.
/// Every read takes the adapter's lock briefly, so read it at metrics cadence, not
/// per item.
///
/// ```
/// use futures::StreamExt;
/// use weir_stream::WeirStreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let s = futures::stream::iter(0..100).sample(0.0);
/// let stats = s.stats();
/// assert_eq!(s.count().await, 0);
/// assert_eq!(stats.received(), 100);
/// assert_eq!(stats.dropped(), 100);
/// # }
/// ```
#[derive(Clone)]
pub struct ShedStats {
    source: Arc<dyn CountsSource>,
}

impl ShedStats {
    pub(crate) fn new(source: Arc<dyn CountsSource>) -> Self {
        ShedStats { source }
    }

    /// All counters, read together (consistent with each other).
    pub fn snapshot(&self) -> ShedSnapshot {
        self.source.snapshot()
    }

    /// See [`ShedSnapshot::received`].
    pub fn received(&self) -> u64 {
        self.snapshot().received()
    }

    /// See [`ShedSnapshot::emitted`].
    pub fn emitted(&self) -> u64 {
        self.snapshot().emitted()
    }

    /// See [`ShedSnapshot::dropped`].
    pub fn dropped(&self) -> u64 {
        self.snapshot().dropped()
    }

    /// See [`ShedSnapshot::dropped_by`].
    pub fn dropped_by(&self, reason: DropReason) -> u64 {
        self.snapshot().dropped_by(reason)
    }

    /// See [`ShedSnapshot::occupancy`].
    pub fn occupancy(&self) -> usize {
        self.snapshot().occupancy()
    }

    /// See [`ShedSnapshot::max_occupancy`].
    pub fn max_occupancy(&self) -> usize {
        self.snapshot().max_occupancy()
    }

    /// See [`ShedSnapshot::is_shedding`].
    pub fn is_shedding(&self) -> bool {
        self.snapshot().is_shedding()
    }
}

impl fmt::Debug for ShedStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ShedStats").field(&self.snapshot()).finish()
    }
}

/// The callback a shedding adapter hands each dropped item to.
pub(crate) type OnDrop<T> = Box<dyn FnMut(T, DropReason) + Send>;
