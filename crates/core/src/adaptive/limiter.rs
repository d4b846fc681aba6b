//! [`AdaptiveLimiter`]: a semaphore whose ceiling a [`LimitAlgorithm`] moves.

use std::{fmt, future::Future, num::NonZeroU32, sync::Arc, time::Duration};

use super::{
    LimitAlgorithm, Outcome, Sample,
    counters::{CacheLine, Counters},
    permit::{
        AdaptiveAcquire, AdaptiveAcquireOwned, AdaptivePermit, OwnedAdaptivePermit, UntimedPermit,
    },
    quiet::QuietWord,
    timing::{AUTO, Latency, NO_LATENCY},
};
use crate::{
    AcquireError, Semaphore, TryAcquireError,
    rate::AutoClock,
    sync::{Mutex, Ordering, lock},
};

/// A concurrency limiter whose limit adapts: it owns (or drives) a weir
/// [`Semaphore`] and moves its ceiling with
/// [`set_capacity`](Semaphore::set_capacity) to whatever its [`LimitAlgorithm`]
/// computes from the samples the permits record.
///
/// Every permit becomes one sample when it is done: call
/// [`success`](AdaptivePermit::success) or [`overload`](AdaptivePermit::overload)
/// (latency is measured from the acquire, on the limiter's [`AutoClock`]: the TSC,
/// or tokio's clock if tokio's time was paused when the limiter was created; see
/// [`on_clock`](Self::on_clock)); a permit dropped without an outcome is an
/// [`Outcome::Ignore`] and feeds nothing. Lowering the limit never preempts: the
/// semaphore takes the excess as debt and in-flight work finishes.
///
/// The algorithm runs under a lock, once per recorded sample, except for the
/// successes it promised to ignore ([`LimitAlgorithm::quiet`]: an app-limited AIMD,
/// a [`Fixed`](super::Fixed) limit), which are only counted. The limit and
/// in-flight count are lock-free reads. A limit below 1 from
/// a custom algorithm is raised to 1 (a limiter at 0 could never sample again).
///
/// `AdaptiveLimiter<A>` coerces to `AdaptiveLimiter<dyn LimitAlgorithm>` behind an
/// `Arc`, so code that does not care which algorithm runs can name one type.
///
/// # Timing
///
/// A timed permit reads the clock twice (two TSC reads, about 20 ns on the VMs weir
/// is benchmarked on: more than a whole uncontended semaphore acquire + release).
/// By default the limiter spends that only where it is noise:
///
/// - while the work a permit guards takes **2 µs or more**, every permit is timed
///   (the reads are at most 1 % of the work), so the algorithm sees every latency;
/// - for shorter work, each thread times one permit in `n` and records the others
///   with the last timed latency, `n` being the power of two that keeps the reads
///   near 1 % of the work, at most 64 (`n` = 2 at 1 µs, 32 at 100 ns). Every
///   timed sample sets `n` again, so work that slows down is timed every time again
///   within `n` permits per thread. Outcomes are never sampled away: every success,
///   overload and ignore reaches the algorithm.
///
/// [`time_every`](Self::time_every) times every permit whatever it costs;
/// [`time_one_in`](Self::time_one_in) fixes the rate;
/// [`acquire_untimed`](Self::acquire_untimed) reads no clock (you pass the
/// latency); an algorithm that reads no latency (a loss-only [`Aimd`](super::Aimd):
/// [`no_timeout`](super::AimdBuilder::no_timeout)) makes every permit untimed.
///
/// # Cost
///
/// Next to a plain [`Semaphore`] acquire + release, a permit adds a lock-free
/// in-flight read, a quiet check and a counter, plus its clock reads (see
/// [Timing](#timing)).
///
/// # Examples
///
/// ```
/// use weir_core::{AdaptiveLimiter, adaptive::Aimd};
///
/// # tokio_test::block_on(async {
/// let limiter = AdaptiveLimiter::new(Aimd::builder().initial_limit(2).build().unwrap());
/// let a = limiter.acquire().await.unwrap();
/// let b = limiter.acquire().await.unwrap();
/// assert_eq!(limiter.in_flight(), 2);
/// a.success(); // 2 in flight of 2: AIMD grows
/// assert_eq!(limiter.limit(), 3);
/// b.overload(); // ⌊3 × 0.9⌋
/// assert_eq!(limiter.limit(), 2);
/// # });
/// ```
pub struct AdaptiveLimiter<A: ?Sized = dyn LimitAlgorithm> {
    // Read by every acquire and record, written rarely (`quiet` on an update): kept
    // apart from the counters and the lock, which other cores write.
    pub(super) sem: Arc<Semaphore>,
    pub(super) quiet: QuietWord,
    pub(super) clock: AutoClock,
    /// Which permits read the clock: none (0: the algorithm does not read latency,
    /// [`LimitAlgorithm::reads_latency`], asked once), every one (1:
    /// [`time_every`](Self::time_every)), one in `timing` per thread
    /// ([`time_one_in`](Self::time_one_in)), or [`AUTO`] (the default): one in
    /// [`Counters::auto_one_in`], set from the latencies measured.
    pub(super) timing: u32,
    pub(super) counters: Counters,
    algorithm: CacheLine<Mutex<State<A>>>,
}

struct State<A: ?Sized> {
    limit: usize,
    samples: u64,
    overloads: u64,
    algorithm: A,
}

/// A point-in-time view of an [`AdaptiveLimiter`].
///
/// # Examples
///
/// ```
/// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
///
/// let limiter = AdaptiveLimiter::new(Fixed::new(4));
/// let _p = limiter.try_acquire().unwrap();
/// let snap = limiter.snapshot();
/// assert_eq!((snap.limit, snap.in_flight, snap.waiters), (4, 1, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LimiterSnapshot {
    /// The current limit (the semaphore's ceiling).
    pub limit: usize,
    /// Permits held.
    pub in_flight: usize,
    /// Acquirers queued.
    pub waiters: usize,
    /// Samples fed to the algorithm (successes and overloads).
    pub samples: u64,
    /// Of those, overloads.
    pub overloads: u64,
    /// Permits dropped or recorded as [`Outcome::Ignore`].
    pub ignored: u64,
}

impl<A: LimitAlgorithm> AdaptiveLimiter<A> {
    /// A limiter over a new semaphore whose capacity is the algorithm's initial limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Gradient};
    ///
    /// let limiter = AdaptiveLimiter::new(Gradient::new());
    /// assert_eq!((limiter.limit(), limiter.semaphore().capacity()), (20, 20));
    /// ```
    pub fn new(algorithm: A) -> Self {
        Self::with_semaphore(algorithm, Arc::new(Semaphore::new(0)))
    }

    /// A limiter that drives an existing semaphore (a pool's budget, say): its
    /// capacity is set to the algorithm's limit now and on every change. Permits
    /// taken from the semaphore directly are counted as in flight but feed no
    /// samples unless reported through [`record`](Self::record).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weir_core::{AdaptiveLimiter, Semaphore, adaptive::Fixed};
    ///
    /// let budget = Arc::new(Semaphore::new(100));
    /// let limiter = AdaptiveLimiter::with_semaphore(Fixed::new(8), budget.clone());
    /// assert_eq!(budget.capacity(), 8);
    /// assert!(std::sync::Arc::ptr_eq(limiter.semaphore(), &budget));
    /// ```
    pub fn with_semaphore(algorithm: A, semaphore: Arc<Semaphore>) -> Self {
        let limit = algorithm.limit().clamp(1, Semaphore::MAX_PERMITS);
        semaphore.set_capacity(limit);
        Self {
            sem: semaphore,
            quiet: QuietWord::new(algorithm.quiet()),
            clock: AutoClock::new(),
            timing: if algorithm.reads_latency() { AUTO } else { 0 },
            counters: Counters::new(),
            algorithm: CacheLine(Mutex::new(State {
                limit,
                samples: 0,
                overloads: 0,
                algorithm,
            })),
        }
    }
}

impl<A: LimitAlgorithm> AdaptiveLimiter<A> {
    /// The limiter, measuring latencies on `clock` instead of the [`AutoClock`]
    /// picked at creation: [`AutoClock::tokio`] for a limiter created before tokio's
    /// time is paused (or outside the runtime whose time will be paused).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed, rate::AutoClock};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(1)).on_clock(AutoClock::tokio());
    /// let rt = tokio::runtime::Builder::new_current_thread()
    ///     .enable_time()
    ///     .start_paused(true)
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     let permit = limiter.acquire().await.unwrap();
    ///     tokio::time::sleep(Duration::from_secs(2)).await;
    ///     assert_eq!(permit.elapsed(), Duration::from_secs(2));
    /// });
    /// ```
    pub fn on_clock(mut self, clock: AutoClock) -> Self {
        self.clock = clock;
        self
    }

    /// Fixed latency sampling, instead of the automatic rate (see [Timing](#timing)):
    /// of the timed permits ([`acquire`](Self::acquire),
    /// [`try_acquire`](Self::try_acquire) and their owned forms), each thread times
    /// one in `n` (two clock reads) and the others read no clock at all. An untimed
    /// permit's outcome is recorded with the latency of the limiter's last timed
    /// sample, so every outcome still reaches the algorithm, with a latency that lags
    /// by up to `n − 1` requests per thread; until the first timed sample, an untimed
    /// success is recorded as an ignore (no made-up latency reaches the algorithm).
    /// [`elapsed`](AdaptivePermit::elapsed) is zero on an untimed permit. `n = 1`
    /// times every permit, as [`time_every`](Self::time_every).
    ///
    /// A trade, not a free lunch: on the VM the benches ran on, the two TSC reads are
    /// about half the cost of a timed acquire + record, while an algorithm reacts to
    /// a latency change up to `n − 1` requests later (AIMD's timeouts, Gradient's and
    /// Vegas's latency averages). Overloads carry no latency and react at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{num::NonZeroU32, time::Duration};
    /// use weir_core::{AdaptiveLimiter, adaptive::Aimd};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let aimd = Aimd::builder().initial_limit(4).timeout(Duration::from_secs(1)).build().unwrap();
    /// let limiter = AdaptiveLimiter::new(aimd).time_one_in(NonZeroU32::new(4).unwrap());
    /// let timed = limiter.acquire().await.unwrap(); // this thread's first: timed
    /// let untimed = limiter.acquire().await.unwrap();
    /// tokio::time::sleep(Duration::from_secs(2)).await;
    /// assert_eq!((timed.elapsed(), untimed.elapsed()), (Duration::from_secs(2), Duration::ZERO));
    /// timed.success(); // a timeout: 4 × 0.9
    /// assert_eq!(limiter.limit(), 3);
    /// untimed.success(); // stands in the last timed latency: a timeout too
    /// assert_eq!(limiter.limit(), 2);
    /// # }
    /// ```
    pub fn time_one_in(mut self, n: NonZeroU32) -> Self {
        if self.timing != 0 {
            // `AUTO` is `u32::MAX`: a fixed rate that large is the same as auto's
            // sparsest, so it is capped just below.
            self.timing = n.get().min(AUTO - 1);
        }
        self
    }

    /// Times every permit, whatever the work costs: two clock reads per permit, even
    /// where they are a large part of short work (the default samples short work, see
    /// [Timing](#timing)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{AdaptiveLimiter, adaptive::Aimd};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let aimd = Aimd::builder().initial_limit(4).timeout(Duration::from_secs(1)).build().unwrap();
    /// let limiter = AdaptiveLimiter::new(aimd).time_every();
    /// for _ in 0..100 {
    ///     // Work that takes no time (tokio's clock is paused): by default only some
    ///     // of these would be timed, and so, for a while, would later slow ones.
    ///     limiter.acquire().await.unwrap().success();
    /// }
    /// let slow = limiter.acquire().await.unwrap();
    /// tokio::time::sleep(Duration::from_secs(2)).await;
    /// assert_eq!(slow.elapsed(), Duration::from_secs(2));
    /// slow.success(); // a timeout at once: ⌊4 × 0.9⌋
    /// assert_eq!(limiter.limit(), 3);
    /// # }
    /// ```
    pub fn time_every(mut self) -> Self {
        if self.timing != 0 {
            self.timing = 1;
        }
        self
    }
}

impl<A: LimitAlgorithm + ?Sized> AdaptiveLimiter<A> {
    /// Waits for a permit, in FIFO order with every other acquirer.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is (or becomes) closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Semaphore::acquire`]: dropping the future gives up its place
    /// and records nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// # tokio_test::block_on(async {
    /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
    /// let permit = limiter.acquire().await.unwrap();
    /// assert_eq!(permit.in_flight(), 1);
    /// # });
    /// ```
    pub fn acquire(&self) -> impl Future<Output = Result<AdaptivePermit<'_, A>, AcquireError>> {
        AdaptiveAcquire::new(self)
    }

    /// Takes a permit if one is free now and nobody is queued ahead.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::try_acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
    /// let held = limiter.try_acquire().unwrap();
    /// assert!(limiter.try_acquire().is_err());
    /// held.success();
    /// assert!(limiter.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<AdaptivePermit<'_, A>, TryAcquireError> {
        let permit = self.sem.try_acquire()?;
        Ok(AdaptivePermit::new(self, permit))
    }

    /// [`acquire`](Self::acquire) for callers that measure latency themselves: the
    /// permit reads no clock, and its [`record`](UntimedPermit::record) takes the
    /// latency. The cheapest way through the limiter.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is (or becomes) closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Aimd};
    ///
    /// # tokio_test::block_on(async {
    /// let aimd = Aimd::builder().initial_limit(4).timeout(Duration::from_secs(1)).build().unwrap();
    /// let limiter = AdaptiveLimiter::new(aimd);
    /// let permit = limiter.acquire_untimed().await.unwrap();
    /// permit.record(Outcome::Success, Duration::from_secs(2)); // past the timeout
    /// assert_eq!(limiter.limit(), 3);
    /// # });
    /// ```
    pub fn acquire_untimed(
        &self,
    ) -> impl Future<Output = Result<UntimedPermit<'_, A>, AcquireError>> {
        AdaptiveAcquire::new(self)
    }

    /// [`try_acquire`](Self::try_acquire) for callers that measure latency
    /// themselves (see [`acquire_untimed`](Self::acquire_untimed)).
    ///
    /// # Errors
    ///
    /// As [`Semaphore::try_acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Fixed};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
    /// let permit = limiter.try_acquire_untimed().unwrap();
    /// assert!(limiter.try_acquire_untimed().is_err());
    /// permit.record(Outcome::Success, Duration::from_millis(3));
    /// assert_eq!((limiter.in_flight(), limiter.snapshot().samples), (0, 1));
    /// ```
    pub fn try_acquire_untimed(&self) -> Result<UntimedPermit<'_, A>, TryAcquireError> {
        let permit = self.sem.try_acquire()?;
        Ok(UntimedPermit::new(self, permit))
    }

    /// [`acquire`](Self::acquire) returning a `'static` permit that owns an `Arc` of
    /// the limiter.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let limiter = Arc::new(AdaptiveLimiter::new(Fixed::new(2)));
    /// let permit = limiter.clone().acquire_owned().await.unwrap();
    /// tokio::spawn(async move { permit.success() }).await.unwrap();
    /// assert_eq!(limiter.snapshot().samples, 1);
    /// # }
    /// ```
    pub fn acquire_owned(
        self: Arc<Self>,
    ) -> impl Future<Output = Result<OwnedAdaptivePermit<A>, AcquireError>> {
        AdaptiveAcquireOwned::new(self)
    }

    /// [`try_acquire`](Self::try_acquire) returning an [`OwnedAdaptivePermit`].
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// let limiter = Arc::new(AdaptiveLimiter::new(Fixed::new(1)));
    /// let permit = limiter.clone().try_acquire_owned().unwrap();
    /// assert_eq!(limiter.in_flight(), 1);
    /// drop(permit); // an ignore
    /// assert_eq!(limiter.snapshot().ignored, 1);
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedAdaptivePermit<A>, TryAcquireError> {
        let permit = self.sem.clone().try_acquire_owned()?;
        Ok(OwnedAdaptivePermit::new(self, permit))
    }

    /// Feeds one sample to the algorithm and moves the ceiling if the limit changed.
    /// The permits do this themselves; call it to report work admitted some other
    /// way (directly through [`semaphore`](Self::semaphore), say). An
    /// [`Outcome::Ignore`] is only counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{AdaptiveLimiter, Outcome, Sample, adaptive::Aimd};
    ///
    /// let limiter = AdaptiveLimiter::new(Aimd::builder().initial_limit(10).build().unwrap());
    /// limiter.record(Sample::new(Duration::from_millis(3), 10, Outcome::Overload));
    /// assert_eq!((limiter.limit(), limiter.semaphore().capacity()), (9, 9));
    /// ```
    #[inline]
    pub fn record(&self, sample: Sample) {
        self.record_parts(
            sample.outcome,
            sample.in_flight,
            Latency::Given(sample.latency),
        );
    }

    /// [`record`](Self::record) from a sample's parts.
    #[inline]
    pub(super) fn record_parts(&self, outcome: Outcome, in_flight: usize, latency: Latency) {
        match outcome {
            Outcome::Ignore => {
                self.counters.mine().ignored.fetch_add(1, Ordering::Relaxed);
            }
            // The algorithm promised this success changes nothing: no lock. (A
            // promise read just before a racing update orders this sample first.)
            Outcome::Success if self.quiet.covers(in_flight, latency) => {
                self.counters
                    .mine()
                    .quiet_samples
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => self.update(outcome, in_flight, latency),
        }
    }

    /// Runs the algorithm on a sample that may move the limit (out of line: the
    /// quiet path above is the hot one).
    #[inline(never)]
    fn update(&self, outcome: Outcome, in_flight: usize, latency: Latency) {
        let latency = match latency {
            // An untimed permit of a sampling limiter before its first timed sample
            // (see `time_one_in`; never quiet, so it lands here): a success with no
            // latency would feed a made-up zero (a Vegas baseline, a window's
            // fastest), so it is an ignore.
            Latency::Measured(NO_LATENCY) if outcome == Outcome::Success => {
                self.counters.mine().ignored.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Latency::Measured(NO_LATENCY) => Duration::ZERO,
            latency => latency.duration(),
        };
        let sample = Sample::new(latency, in_flight, outcome);
        let mut state = lock(&self.algorithm);
        state.samples += 1;
        let overload = sample.outcome == Outcome::Overload;
        state.overloads += u64::from(overload);
        let next = state
            .algorithm
            .update(sample)
            .clamp(1, Semaphore::MAX_PERMITS);
        self.quiet.store(state.algorithm.quiet());
        if next != state.limit {
            if overload {
                tracing::debug!(
                    from = state.limit,
                    to = next,
                    "overload: concurrency limit lowered"
                );
            } else {
                tracing::trace!(from = state.limit, to = next, "concurrency limit moved");
            }
            state.limit = next;
            // Under the algorithm's lock, so ceilings are applied in the order the
            // algorithm produced them.
            self.sem.set_capacity(next);
        }
    }

    /// The current limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// assert_eq!(AdaptiveLimiter::new(Fixed::new(3)).limit(), 3);
    /// ```
    pub fn limit(&self) -> usize {
        self.sem.capacity()
    }

    /// Permits held right now.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(3));
    /// let _p = limiter.try_acquire().unwrap();
    /// assert_eq!(limiter.in_flight(), 1);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.sem.in_use()
    }

    /// Limit, in-flight, queue and sample counters, each read without a lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(3));
    /// limiter.try_acquire().unwrap().overload();
    /// let snap = limiter.snapshot();
    /// assert_eq!((snap.samples, snap.overloads, snap.in_flight), (1, 1, 0));
    /// ```
    pub fn snapshot(&self) -> LimiterSnapshot {
        let (samples, overloads) = {
            let state = lock(&self.algorithm);
            (state.samples, state.overloads)
        };
        LimiterSnapshot {
            limit: self.sem.capacity(),
            in_flight: self.sem.in_use(),
            waiters: self.sem.waiters(),
            samples: samples + self.counters.sum(|stripe| &stripe.quiet_samples),
            overloads,
            ignored: self.counters.sum(|stripe| &stripe.ignored),
        }
    }

    /// The semaphore whose ceiling this limiter moves: share it to gate work by the
    /// adaptive limit, [`close`](Semaphore::close) it to shut the limiter down.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(5));
    /// limiter.semaphore().close();
    /// assert!(limiter.try_acquire().is_err());
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Runs `f` on the algorithm, under its lock (to inspect its state).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Vegas};
    ///
    /// let limiter = AdaptiveLimiter::new(Vegas::new());
    /// assert_eq!(limiter.with_algorithm(|vegas| vegas.baseline()), None);
    /// ```
    pub fn with_algorithm<R>(&self, f: impl FnOnce(&A) -> R) -> R {
        f(&lock(&self.algorithm).algorithm)
    }
}

impl<A: LimitAlgorithm + ?Sized> fmt::Debug for AdaptiveLimiter<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("snapshot", &self.snapshot())
            .field("algorithm", &&lock(&self.algorithm).algorithm)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::{task::Poll, time::Duration};

    use tokio_test::{assert_pending, assert_ready_ok, task};

    use super::*;
    use crate::adaptive::{
        Aimd, Fixed,
        timing::{SKIP, UNTIMED, auto_one_in},
    };

    #[test]
    fn a_cancelled_acquire_gives_its_place_back_and_records_nothing() {
        let limiter = AdaptiveLimiter::new(Fixed::new(1));
        let held = limiter.try_acquire().unwrap();
        let mut first = task::spawn(limiter.acquire());
        let mut second = task::spawn(limiter.acquire_untimed());
        assert_pending!(first.poll());
        assert_pending!(second.poll());
        assert_eq!(limiter.snapshot().waiters, 2);
        drop(first); // cancelled while queued
        assert_eq!(limiter.snapshot().waiters, 1);
        held.success();
        assert!(second.is_woken());
        let permit = assert_ready_ok!(second.poll());
        assert_eq!(permit.in_flight(), 1);
        permit.record(Outcome::Success, Duration::from_millis(1));
        let snap = limiter.snapshot();
        assert_eq!((snap.samples, snap.ignored, snap.in_flight), (2, 0, 0));
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let limiter = Arc::new(AdaptiveLimiter::new(Fixed::new(64)));
        let threads: Vec<_> = (0..if cfg!(miri) { 3 } else { 12 })
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    for i in 0..if cfg!(miri) { 10 } else { 1000 } {
                        let permit = limiter.try_acquire().unwrap();
                        if i % 3 == 0 {
                            drop(permit);
                        } else {
                            permit.success();
                        }
                    }
                })
            })
            .collect();
        let n = threads.len() as u64;
        for thread in threads {
            thread.join().unwrap();
        }
        let per: u64 = if cfg!(miri) { 10 } else { 1000 };
        let ignored = per.div_ceil(3);
        let snap = limiter.snapshot();
        assert_eq!(
            (snap.samples, snap.ignored, snap.in_flight),
            (n * (per - ignored), n * ignored, 0)
        );
    }

    #[test]
    fn a_closed_limiter_fails_its_acquires() {
        let limiter = AdaptiveLimiter::new(Aimd::new());
        limiter.semaphore().close();
        let mut acquire = task::spawn(limiter.acquire());
        assert!(matches!(
            acquire.poll(),
            Poll::Ready(Err(AcquireError::Closed))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn sampling_times_one_permit_in_n_and_stands_in_its_latency() {
        let aimd = Aimd::builder()
            .initial_limit(10)
            .max_limit(10)
            .build()
            .unwrap();
        let limiter = AdaptiveLimiter::new(aimd).time_one_in(NonZeroU32::new(3).unwrap());
        SKIP.with(|skip| skip.set(1));
        // Untimed, and nothing timed yet: recorded as an ignore, not a zero latency.
        limiter.try_acquire().unwrap().success();
        assert_eq!(
            (limiter.snapshot().samples, limiter.snapshot().ignored),
            (0, 1)
        );
        let permits: Vec<_> = (0..6).map(|_| limiter.try_acquire().unwrap()).collect();
        let timed: Vec<bool> = permits.iter().map(|p| p.ticket.start != UNTIMED).collect();
        assert_eq!(timed, [true, false, false, true, false, false]);
        tokio::time::sleep(Duration::from_millis(40)).await;
        let mut permits = permits.into_iter();
        permits.next().unwrap().success(); // timed: 40 ms
        assert_eq!(
            limiter.counters.last_latency.load(Ordering::Relaxed),
            40_000_000
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Untimed: elapsed reads no clock; the sample stands in the last 40 ms.
        let untimed = permits.next().unwrap();
        assert_eq!(untimed.elapsed(), Duration::ZERO);
        untimed.success();
        assert_eq!(
            limiter.counters.last_latency.load(Ordering::Relaxed),
            40_000_000
        );
        permits.next().unwrap().success();
        permits.next().unwrap().success(); // timed: 50 ms
        assert_eq!(
            limiter.counters.last_latency.load(Ordering::Relaxed),
            50_000_000
        );
        drop(permits);
        let snap = limiter.snapshot();
        assert_eq!((snap.samples, snap.ignored, snap.in_flight), (4, 3, 0));
    }

    #[test]
    fn automatic_timing_keeps_two_clock_reads_near_one_percent_of_the_work() {
        let rates: Vec<u32> = [0, 31, 100, 500, 1_000, 1_999, 2_000, 1_000_000_000]
            .map(auto_one_in)
            .into();
        assert_eq!(rates, [64, 64, 32, 4, 2, 2, 1, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn automatic_timing_samples_short_work_and_times_slow_work_again() {
        let aimd = Aimd::builder()
            .initial_limit(10)
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let limiter = AdaptiveLimiter::new(aimd);
        assert_eq!(limiter.timing, AUTO);
        // Work that takes no time (paused clock): after the first timed one, one
        // permit in 64 per thread is timed.
        let first = limiter.acquire().await.unwrap();
        assert_eq!(limiter.counters.auto_one_in.load(Ordering::Relaxed), 1);
        first.success();
        assert_eq!(limiter.counters.auto_one_in.load(Ordering::Relaxed), 64);
        let timed = (0..128)
            .map(|_| limiter.try_acquire().unwrap().ticket.start != UNTIMED)
            .filter(|&timed| timed)
            .count();
        assert_eq!(timed, 2);
        // The work slows to 2 s (past AIMD's 1 s timeout). Untimed permits stand in
        // the last timed latency (0) until this thread's next timed one, within 64.
        let mut slow = 0;
        while limiter.limit() == 10 {
            let permit = limiter.acquire().await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            permit.success();
            slow += 1;
            assert!(slow <= 64, "a slow permit was timed within 64");
        }
        assert_eq!(limiter.limit(), 9);
        // From there every permit is timed again, and every one is a timeout.
        assert_eq!(limiter.counters.auto_one_in.load(Ordering::Relaxed), 1);
        for limit in [8, 7, 6] {
            let permit = limiter.acquire().await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(permit.elapsed(), Duration::from_secs(2));
            permit.success();
            assert_eq!(limiter.limit(), limit);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn time_every_times_short_work_too() {
        let limiter = AdaptiveLimiter::new(Aimd::new()).time_every();
        assert_eq!(limiter.timing, 1);
        assert!((0..128).all(|_| limiter.try_acquire().unwrap().ticket.start != UNTIMED));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_permit_measures_from_its_grant() {
        let limiter = AdaptiveLimiter::new(Aimd::new());
        assert!(limiter.clock.is_tokio());
        let permit = limiter.acquire().await.unwrap();
        tokio::time::sleep(Duration::from_millis(7)).await;
        assert_eq!(permit.elapsed(), Duration::from_millis(7));
        // Past the 5 s timeout: a loss, from the permit's own measurement.
        tokio::time::sleep(Duration::from_secs(5)).await;
        permit.success();
        assert_eq!(limiter.limit(), 18);
    }
}
