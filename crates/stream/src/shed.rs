//! The engine behind the buffering shedding adapters (`drop_newest`, `drop_oldest`,
//! `latest`, `shed_watermark`): the upstream runs on its own task and offers every
//! item to a [`Policy`], which admits it or picks a victim. The producer never waits
//! for room, so the upstream is never blocked by a slow consumer.
//!
//! One lock per item on each side: the consumer must pop from the shared buffer
//! (not from a private batch) so that an eviction always hits the oldest item the
//! consumer has *not* seen yet, and so that the counters are exact.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use pin_project_lite::pin_project;
use tokio::task::JoinHandle;

use crate::end::{End, YIELD_EVERY, lock, with_budget};
use crate::stats::{CountsSource, DropReason, OnDrop, ShedSnapshot, ShedStats};

/// An overflow policy, run under the buffer's lock.
pub(crate) trait Policy<T>: Send + 'static {
    /// Offers `item` to `queue`; returns the item dropped to make the decision
    /// (the incoming one or a buffered one), if any.
    fn admit(&mut self, queue: &mut VecDeque<T>, item: T) -> Option<(T, DropReason)>;

    /// Called after the consumer took an item; `len` is the new depth.
    fn after_pop(&mut self, len: usize) {
        let _ = len;
    }

    /// Whether the policy is in a shedding mode (watermarks only).
    fn shedding(&self) -> bool {
        false
    }
}

struct State<T, P> {
    queue: VecDeque<T>,
    policy: P,
    counts: ShedSnapshot,
    consumer: Option<Waker>,
    end: End,
}

struct Shared<T, P> {
    state: Mutex<State<T, P>>,
}

impl<T: Send + 'static, P: Policy<T>> CountsSource for Shared<T, P> {
    fn snapshot(&self) -> ShedSnapshot {
        let st = lock(&self.state);
        let mut counts = st.counts;
        counts.set_shedding(st.policy.shedding());
        counts
    }
}

/// The consumer half plus the not-yet-started upstream.
pub(crate) struct ShedCore<S: Stream, P> {
    /// Moved into the producer task on the first poll; never pinned here.
    upstream: Option<S>,
    on_drop: Option<OnDrop<S::Item>>,
    shared: Arc<Shared<S::Item, P>>,
    task: Option<JoinHandle<()>>,
    capacity: usize,
}

impl<S, P> ShedCore<S, P>
where
    S: Stream,
{
    pub(crate) fn new(upstream: S, policy: P, capacity: usize) -> Self {
        ShedCore {
            upstream: Some(upstream),
            on_drop: None,
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    // Allocated lazily, and at most `capacity` (plus VecDeque's rounding).
                    queue: VecDeque::new(),
                    policy,
                    counts: ShedSnapshot::default(),
                    consumer: None,
                    end: End::Running,
                }),
            }),
            task: None,
            capacity,
        }
    }

    #[track_caller]
    pub(crate) fn set_on_drop(&mut self, f: OnDrop<S::Item>) {
        assert!(
            self.upstream.is_some(),
            "weir-stream: on_drop must be set before the stream is first polled"
        );
        self.on_drop = Some(f);
    }

    pub(crate) fn stats(&self) -> ShedStats
    where
        S::Item: Send + 'static,
        P: Policy<S::Item>,
    {
        ShedStats::new(self.shared.clone())
    }

    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<S::Item>>
    where
        S: Send + 'static,
        S::Item: Send + 'static,
        P: Policy<S::Item>,
    {
        with_budget(cx, |cx| self.poll_item(cx))
    }

    /// [`poll_next`](Self::poll_next) without the cooperative budget.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<S::Item>>
    where
        S: Send + 'static,
        S::Item: Send + 'static,
        P: Policy<S::Item>,
    {
        if let Some(upstream) = self.upstream.take() {
            let producer = Producer {
                upstream,
                shared: self.shared.clone(),
                on_drop: self.on_drop.take(),
                done: false,
            };
            self.task = Some(tokio::spawn(producer));
        }
        let mut guard = lock(&self.shared.state);
        let st = &mut *guard;
        if let Some(item) = st.queue.pop_front() {
            let len = st.queue.len();
            st.counts.on_emitted();
            st.counts.set_occupancy(len);
            st.policy.after_pop(len);
            return Poll::Ready(Some(item));
        }
        if st.end.is_running() {
            if !st
                .consumer
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                st.consumer = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let end = st.end.take();
        drop(guard);
        end.raise();
        Poll::Ready(None)
    }

    pub(crate) fn fmt_fields(&self, d: &mut fmt::DebugStruct<'_, '_>)
    where
        S::Item: Send + 'static,
        P: Policy<S::Item>,
    {
        d.field("capacity", &self.capacity)
            .field("started", &self.upstream.is_none())
            .field("stats", &self.shared.snapshot());
    }
}

impl<S: Stream, P> Drop for ShedCore<S, P> {
    fn drop(&mut self) {
        // Stops the upstream: the task is cancelled at its next yield point, which
        // drops the upstream stream (and anything buffered).
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pin_project! {
    /// The spawned half: drives the upstream and applies the policy.
    struct Producer<S: Stream, P> {
        #[pin]
        upstream: S,
        shared: Arc<Shared<S::Item, P>>,
        on_drop: Option<OnDrop<S::Item>>,
        done: bool,
    }

    impl<S: Stream, P> PinnedDrop for Producer<S, P> {
        fn drop(this: Pin<&mut Self>) {
            if !this.done {
                // Dropped mid-stream: aborted by the consumer (then nobody looks) or
                // by a runtime shutdown (then the consumer must not hang).
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

impl<S, P> Producer<S, P>
where
    S: Stream,
    P: Policy<S::Item>,
{
    fn run(
        mut upstream: Pin<&mut S>,
        shared: &Shared<S::Item, P>,
        on_drop: &mut Option<OnDrop<S::Item>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        for _ in 0..YIELD_EVERY {
            let item = match upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            };
            let (dropped, waker) = {
                let mut guard = lock(&shared.state);
                let st = &mut *guard;
                st.counts.on_received();
                let dropped = st.policy.admit(&mut st.queue, item);
                if let Some((_, reason)) = &dropped {
                    st.counts.on_dropped(*reason);
                }
                let len = st.queue.len();
                st.counts.set_occupancy(len);
                let waker = if len > 0 { st.consumer.take() } else { None };
                (dropped, waker)
            };
            if let Some(w) = waker {
                w.wake();
            }
            // Outside the lock: the callback may be slow, and dropping an item may be too.
            if let Some((item, reason)) = dropped {
                tracing::trace!(reason = reason.as_str(), "stream item shed");
                match on_drop {
                    Some(f) => f(item, reason),
                    None => drop(item),
                }
            }
        }
        // Cooperative: let other tasks run; we are woken again right away.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<S, P> std::future::Future for Producer<S, P>
where
    S: Stream,
    P: Policy<S::Item>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        let shared: &Shared<S::Item, P> = this.shared;
        let upstream = this.upstream;
        let on_drop = this.on_drop;
        let end = match panic::catch_unwind(AssertUnwindSafe(|| {
            Self::run(upstream, shared, on_drop, cx)
        })) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => End::Finished,
            Err(payload) => End::Panicked(payload),
        };
        *this.done = true;
        let waker = {
            let mut st = lock(&shared.state);
            st.end = end;
            st.consumer.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(())
    }
}

/// The part every shedding adapter shares: `on_drop`, `stats`, `Stream` and `Debug`,
/// all delegating to its [`ShedCore`]. `$example` builds one such adapter over
/// `0..10` for the doc examples.
macro_rules! shed_adapter {
    ($name:ident, $example:literal) => {
        impl<S: Stream> $name<S> {
            /// Calls `f` with every dropped item and the reason, on the producer task,
            /// outside any lock, after the counters already include the drop.
            ///
            /// # Panics
            ///
            /// Panics if the stream has already been polled (the producer task owns the
            /// callback from then on).
            ///
            /// # Examples
            ///
            /// ```
            /// use std::sync::{Arc, Mutex};
            /// use futures::StreamExt;
            /// use weir_stream::WeirStreamExt;
            ///
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() {
            /// let dropped = Arc::new(Mutex::new(Vec::new()));
            /// let log = dropped.clone();
            #[doc = concat!("let stream = ", $example)]
            ///     .on_drop(move |item, _reason| log.lock().unwrap().push(item));
            /// let kept: Vec<i32> = stream.collect().await;
            /// // Every item was either kept or handed to the callback.
            /// assert_eq!(kept.len() + dropped.lock().unwrap().len(), 10);
            /// # }
            /// ```
            #[track_caller]
            pub fn on_drop<F>(mut self, f: F) -> Self
            where
                F: FnMut(S::Item, $crate::DropReason) + Send + 'static,
            {
                self.core.set_on_drop(Box::new(f));
                self
            }

            /// A live, clonable view of the counters (received, emitted, dropped by
            /// reason, occupancy, and whether it is shedding right now).
            ///
            /// # Examples
            ///
            /// ```
            /// use futures::StreamExt;
            /// use weir_stream::WeirStreamExt;
            ///
            /// # #[tokio::main(flavor = "current_thread")]
            /// # async fn main() {
            #[doc = concat!("let stream = ", $example, ";")]
            /// let stats = stream.stats();
            /// let kept = stream.count().await;
            /// let now = stats.snapshot();
            /// assert_eq!(now.received(), 10);
            /// assert_eq!(now.emitted() as usize, kept);
            /// # }
            /// ```
            pub fn stats(&self) -> $crate::ShedStats
            where
                S::Item: Send + 'static,
            {
                self.core.stats()
            }
        }

        impl<S> Stream for $name<S>
        where
            S: Stream + Send + 'static,
            S::Item: Send + 'static,
        {
            type Item = S::Item;

            fn poll_next(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<S::Item>> {
                self.core.poll_next(cx)
            }
        }

        impl<S> std::fmt::Debug for $name<S>
        where
            S: Stream,
            S::Item: Send + 'static,
        {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($name));
                self.core.fmt_fields(&mut d);
                d.finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use shed_adapter;
