//! `bounded(n)`: a true decoupling buffer.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::task::JoinHandle;

use crate::end::{End, YIELD_EVERY, lock, with_budget};

/// Stream for [`WeirStreamExt::bounded`](crate::WeirStreamExt::bounded).
///
/// The upstream runs on its own tokio task, started on the first poll, and runs
/// ahead of the consumer by at most `n` items. Dropping a `Bounded` cancels that
/// task, which drops the upstream.
///
/// # How items move
///
/// Credits, not slots: the producer task starts with `n` credits, spends one per item
/// it takes from the upstream, and parks without polling the upstream when it has
/// none. The consumer gives credits back for the items it has *received*. So at
/// every instant `yielded by upstream − received by consumer ≤ n` — exactly, with no
/// hidden extra slot on the producer side. The item the consumer is working on
/// (the one `poll_next` last returned) is "in hand" and no longer counts, so while
/// the consumer is busy with it up to `n + 1` items exist: `n` ahead plus that one.
///
/// Items are handed over in batches of about `n / 4`: the producer moves a batch into
/// the shared queue under one lock and wakes the consumer once; the consumer takes
/// the whole queue in one lock and gives credits back in batches. A busy consumer
/// may therefore hold back up to one batch of credits, so a parked producer is
/// somewhere between `n − n/4` and `n` items ahead, never more.
///
/// A side that finds nothing to do while the other side is busy (the producer out
/// of credits while the consumer is taking items, the consumer out of items while
/// the producer is polling the upstream) yields to the scheduler a bounded number of
/// times before it parks, because a cross-thread wake-up per hand-over costs far
/// more than the items themselves. How many times adapts per side: more after
/// yields that paid off, fewer after yields that ended in parking anyway. A side
/// whose peer is idle (the producer waiting on the upstream, the consumer parked)
/// parks at once. Yielding never takes a credit, so none of this touches the bound.
///
/// # Panics
///
/// - The first poll panics outside a tokio runtime (it spawns the producer task).
/// - If the upstream panics, `poll_next` re-raises that panic (with its original
///   payload) after yielding every item the upstream produced before it. Later polls
///   return `None`.
/// - If the producer task is cancelled while the consumer still waits (a runtime
///   shutting down is the only way), `poll_next` panics rather than ending as if the
///   upstream had finished.
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
/// use futures::StreamExt;
/// use weir_stream::WeirStreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let s = futures::stream::iter(0..1000).bounded(NonZeroUsize::new(64).unwrap());
/// let stats = s.stats();
/// let v: Vec<u32> = s.collect().await;
/// assert_eq!(v, (0..1000).collect::<Vec<_>>());
/// assert!(stats.max_depth() <= 64);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Bounded<S: Stream> {
    /// Moved into the producer task on the first poll; never pinned here.
    upstream: Option<S>,
    shared: Arc<Shared<S::Item>>,
    task: Option<JoinHandle<()>>,
    /// The last hand-over, yielded without touching the lock.
    ready: VecDeque<S::Item>,
    /// Items yielded whose credits have not been given back yet.
    unreported: usize,
    batch: usize,
    /// Consecutive polls that found nothing while the producer was busy.
    spin: Spin,
    finished: bool,
}

// `Bounded` never pins `S` (it moves it into a task before polling it).
impl<S: Stream> Unpin for Bounded<S> {}

struct Shared<T> {
    state: Mutex<State<T>>,
    gauge: Arc<Gauge>,
}

/// Bounds of the adaptive spin (see [`Spin`]): how many times in a row one side
/// yields, instead of parking, while the other side is busy and about to hand it
/// something.
///
/// Parking costs a cross-thread wake-up: a futex wake by the other side, a context
/// switch, and the scheduler's latency before the parked side runs again, which is
/// microseconds on an idle machine and far more on a loaded one. While both sides
/// are fast, nearly every hand-over then pays it, and that dominates the cost per
/// item: in the `block_on` shape of `benches/stream.rs` on a lightly loaded 2-core
/// machine, about 300 ns per item with at most 16 yields, about 20 ns with a few
/// hundred, when neither side parks (and less CPU time in total). The limit
/// adapts: it doubles (up to `SPIN_MAX`) whenever yielding ended with what this
/// side waited for, and halves (down to `SPIN_MIN`) whenever it ran out and the
/// side parked anyway, so a side whose peer is slow, or not getting a CPU on a
/// loaded machine, stops burning time on yields.
const SPIN_MIN: u32 = 16;
const SPIN_MAX: u32 = 512;

/// One side's spin-then-park state.
#[derive(Debug)]
struct Spin {
    /// Yields in a row so far.
    count: u32,
    limit: u32,
}

impl Spin {
    fn new() -> Self {
        Spin {
            count: 0,
            limit: SPIN_MAX,
        }
    }

    /// Whether this side may yield once more instead of parking; counts the yield.
    fn again(&mut self) -> bool {
        let more = self.count < self.limit;
        self.count += u32::from(more);
        more
    }

    /// What this side waited for is there.
    fn arrived(&mut self) {
        if self.count > 0 {
            self.count = 0;
            self.limit = (self.limit * 2).min(SPIN_MAX);
        }
    }

    /// This side parks (registers its waker).
    fn park(&mut self) {
        if self.count >= self.limit {
            self.limit = (self.limit / 2).max(SPIN_MIN);
        }
        self.count = 0;
    }
}

struct State<T> {
    queue: VecDeque<T>,
    /// The producer is inside its poll with credits (not parked, not waiting on
    /// the upstream): items are coming.
    producing: bool,
    /// Credits given back by the consumer, not yet picked up by the producer.
    returned: usize,
    producer: Option<Waker>,
    consumer: Option<Waker>,
    end: End,
}

#[derive(Debug)]
struct Gauge {
    capacity: usize,
    /// Items handed over and not yet given back as credits; updated under the lock.
    depth: AtomicUsize,
    max_depth: AtomicUsize,
}

/// A live, clonable view of a [`Bounded`] buffer's depth.
///
/// The depth counts items handed over to the consumer side and not yet given back as
/// credits. It moves in hand-over batches, so it can lag the exact count by up to
/// one batch (about `n / 4`), but it never exceeds `n`.
///
/// ```
/// use std::num::NonZeroUsize;
/// use futures::StreamExt;
/// use weir_stream::WeirStreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let s = futures::stream::iter(0..100).bounded(NonZeroUsize::new(8).unwrap());
/// let stats = s.stats();
/// assert_eq!(stats.capacity(), 8);
/// assert_eq!(s.count().await, 100);
/// assert_eq!(stats.depth(), 0);
/// assert!(stats.max_depth() <= 8);
/// # }
/// ```
#[derive(Clone)]
pub struct BoundedStats {
    gauge: Arc<Gauge>,
}

impl BoundedStats {
    /// The bound `n`.
    pub fn capacity(&self) -> usize {
        self.gauge.capacity
    }

    /// Items produced and not yet received by the consumer, to within one hand-over
    /// batch; at most [`capacity`](Self::capacity).
    pub fn depth(&self) -> usize {
        self.gauge.depth.load(Ordering::Relaxed)
    }

    /// The largest [`depth`](Self::depth) seen; at most [`capacity`](Self::capacity).
    pub fn max_depth(&self) -> usize {
        self.gauge.max_depth.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for BoundedStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedStats")
            .field("capacity", &self.capacity())
            .field("depth", &self.depth())
            .field("max_depth", &self.max_depth())
            .finish()
    }
}

impl<S: Stream> Bounded<S> {
    pub(crate) fn new(upstream: S, n: NonZeroUsize) -> Self {
        let n = n.get();
        Bounded {
            upstream: Some(upstream),
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    producing: false,
                    returned: 0,
                    producer: None,
                    consumer: None,
                    end: End::Running,
                }),
                gauge: Arc::new(Gauge {
                    capacity: n,
                    depth: AtomicUsize::new(0),
                    max_depth: AtomicUsize::new(0),
                }),
            }),
            task: None,
            ready: VecDeque::new(),
            unreported: 0,
            batch: (n / 4).clamp(1, 1024),
            spin: Spin::new(),
            finished: false,
        }
    }

    /// A live view of this buffer's depth; clone it freely, read it from anywhere.
    pub fn stats(&self) -> BoundedStats {
        BoundedStats {
            gauge: self.shared.gauge.clone(),
        }
    }

    /// Gives the credits of the items yielded so far back to the producer.
    fn give_back(&mut self) {
        let waker = {
            let mut st = lock(&self.shared.state);
            st.returned += self.unreported;
            self.shared
                .gauge
                .depth
                .fetch_sub(self.unreported, Ordering::Relaxed);
            st.producer.take()
        };
        self.unreported = 0;
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<S> Stream for Bounded<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        with_budget(cx, |cx| self.as_mut().poll_item(cx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self
            .upstream
            .as_ref()
            .map_or((0, None), |upstream| upstream.size_hint());
        (lo.max(self.ready.len()), hi)
    }
}

impl<S> Bounded<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    /// [`poll_next`](Stream::poll_next) without the cooperative budget.
    fn poll_item(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        if let Some(item) = this.ready.pop_front() {
            this.unreported += 1;
            if this.unreported >= this.batch {
                this.give_back();
            }
            return Poll::Ready(Some(item));
        }
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(upstream) = this.upstream.take() {
            let producer = Producer {
                upstream,
                shared: this.shared.clone(),
                local: Vec::with_capacity(this.batch),
                credits: this.shared.gauge.capacity,
                batch: this.batch,
                spin: Spin::new(),
                done: false,
            };
            this.task = Some(tokio::spawn(producer));
        }
        // Refill: give back all credits, take everything handed over, in one lock.
        let (producer, end) = {
            let mut guard = lock(&this.shared.state);
            let st = &mut *guard;
            st.returned += this.unreported;
            this.shared
                .gauge
                .depth
                .fetch_sub(this.unreported, Ordering::Relaxed);
            let producer = if this.unreported > 0 {
                st.producer.take()
            } else {
                None
            };
            std::mem::swap(&mut st.queue, &mut this.ready);
            let end = if !this.ready.is_empty() {
                this.spin.arrived();
                None
            } else if st.end.is_running() {
                if st.producing && this.spin.again() {
                    cx.waker().wake_by_ref();
                } else {
                    this.spin.park();
                    if !st
                        .consumer
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        st.consumer = Some(cx.waker().clone());
                    }
                }
                None
            } else {
                Some(st.end.take())
            };
            (producer, end)
        };
        this.unreported = 0;
        if let Some(w) = producer {
            w.wake();
        }
        if let Some(end) = end {
            this.finished = true;
            end.raise();
            return Poll::Ready(None);
        }
        match this.ready.pop_front() {
            Some(item) => {
                this.unreported = 1;
                if this.unreported >= this.batch {
                    // n < 8: the item in hand's credit goes back right away.
                    this.give_back();
                }
                Poll::Ready(Some(item))
            }
            None => Poll::Pending,
        }
    }
}

impl<S> FusedStream for Bounded<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    fn is_terminated(&self) -> bool {
        self.finished && self.ready.is_empty()
    }
}

impl<S: Stream> Drop for Bounded<S> {
    fn drop(&mut self) {
        // Cancels the producer at its next yield point, which drops the upstream.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl<S: Stream> fmt::Debug for Bounded<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bounded")
            .field("capacity", &self.shared.gauge.capacity)
            .field("started", &self.upstream.is_none())
            .field("depth", &self.shared.gauge.depth.load(Ordering::Relaxed))
            .field("in_hand", &self.ready.len())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The spawned half of [`Bounded`].
    struct Producer<S: Stream> {
        #[pin]
        upstream: S,
        shared: Arc<Shared<S::Item>>,
        // Items taken from the upstream, not yet handed over (they hold credits).
        local: Vec<S::Item>,
        credits: usize,
        batch: usize,
        spin: Spin,
        done: bool,
    }

    impl<S: Stream> PinnedDrop for Producer<S> {
        fn drop(this: Pin<&mut Self>) {
            if !this.done {
                // Aborted by the consumer (nobody looks) or by a runtime shutdown
                // (the consumer must not hang).
                let waker = {
                    let mut st = lock(&this.shared.state);
                    st.end = End::Cancelled;
                    st.consumer.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
    }
}

/// What a hand-over leaves the producer to do.
enum HandOver {
    Continue,
    Park,
}

impl<T> Shared<T> {
    /// Moves `local` into the queue and picks up returned credits, in one lock; wakes
    /// the consumer if it waits and got items. With `park`, registers the producer's
    /// waker when no credit is left.
    fn hand_over(
        &self,
        local: &mut Vec<T>,
        credits: &mut usize,
        park: Option<(&Waker, &mut Spin)>,
        end: Option<End>,
    ) -> HandOver {
        let (consumer, out) = {
            let mut guard = lock(&self.state);
            let st = &mut *guard;
            let k = local.len();
            st.queue.extend(local.drain(..));
            if k > 0 {
                let depth = self.gauge.depth.fetch_add(k, Ordering::Relaxed) + k;
                self.gauge.max_depth.fetch_max(depth, Ordering::Relaxed);
            }
            *credits += std::mem::take(&mut st.returned);
            let mut out = HandOver::Continue;
            st.producing = end.is_none();
            if let Some((waker, spin)) = park {
                if *credits > 0 {
                    spin.arrived();
                } else if st.consumer.is_none() && spin.again() {
                    // The consumer is busy taking items: credits are coming.
                    st.producing = false;
                    waker.wake_by_ref();
                    out = HandOver::Park;
                } else {
                    spin.park();
                    if !st.producer.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        st.producer = Some(waker.clone());
                    }
                    st.producing = false;
                    out = HandOver::Park;
                }
            }
            let ended = end.is_some();
            if let Some(end) = end {
                st.end = end;
            }
            let consumer = if k > 0 || ended {
                st.consumer.take()
            } else {
                None
            };
            (consumer, out)
        };
        if let Some(w) = consumer {
            w.wake();
        }
        out
    }
}

impl<S: Stream> Producer<S> {
    fn run(
        mut upstream: Pin<&mut S>,
        shared: &Shared<S::Item>,
        local: &mut Vec<S::Item>,
        credits: &mut usize,
        batch: usize,
        spin: &mut Spin,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let mut taken = 0;
        loop {
            if *credits == 0 || local.len() >= batch {
                let park = Some((cx.waker(), &mut *spin));
                if let HandOver::Park = shared.hand_over(local, credits, park, None) {
                    return Poll::Pending;
                }
            }
            if taken >= YIELD_EVERY {
                shared.hand_over(local, credits, None, None);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    local.push(item);
                    *credits -= 1;
                    taken += 1;
                }
                // The caller hands `local` over together with the end.
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => {
                    // Waiting on the upstream: not `producing`, so the consumer parks.
                    if !local.is_empty() {
                        shared.hand_over(local, credits, None, None);
                    }
                    lock(&shared.state).producing = false;
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S: Stream> std::future::Future for Producer<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        let shared: &Shared<S::Item> = this.shared;
        let (upstream, local, credits, batch, spin) = (
            this.upstream,
            this.local,
            this.credits,
            *this.batch,
            this.spin,
        );
        let end = match panic::catch_unwind(AssertUnwindSafe(|| {
            Self::run(upstream, shared, local, credits, batch, spin, cx)
        })) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => End::Finished,
            Err(payload) => End::Panicked(payload),
        };
        *this.done = true;
        // Items produced before the end (or the panic) are delivered first.
        shared.hand_over(local, credits, None, Some(end));
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::{SPIN_MAX, SPIN_MIN, Spin};

    #[test]
    fn spin_limit_halves_on_parking_and_doubles_on_arrival_within_bounds() {
        let mut spin = Spin::new();
        assert_eq!(spin.limit, SPIN_MAX);
        // Parking without having yielded at all (the peer was idle) costs nothing.
        spin.park();
        assert_eq!(spin.limit, SPIN_MAX);
        // Running out of yields halves the limit, down to the floor.
        let mut limits = Vec::new();
        for _ in 0..12 {
            while spin.again() {}
            spin.park();
            limits.push(spin.limit);
        }
        assert_eq!(limits[0], SPIN_MAX / 2);
        assert!(limits.iter().all(|&l| (SPIN_MIN..=SPIN_MAX).contains(&l)));
        assert_eq!(spin.limit, SPIN_MIN);
        // Yields that end with the awaited thing there double it, up to the cap.
        for _ in 0..12 {
            assert!(spin.again());
            spin.arrived();
            assert_eq!(spin.count, 0);
        }
        assert_eq!(spin.limit, SPIN_MAX);
        // Arrival without having yielded leaves the limit alone.
        spin.limit = SPIN_MIN;
        spin.arrived();
        assert_eq!(spin.limit, SPIN_MIN);
    }

    #[test]
    fn again_counts_exactly_limit_yields() {
        let mut spin = Spin::new();
        spin.limit = SPIN_MIN;
        let mut n = 0;
        while spin.again() {
            n += 1;
        }
        assert_eq!(n, SPIN_MIN);
        assert!(!spin.again());
    }
}
