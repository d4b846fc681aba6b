//! [`AdaptiveLimiter`]: a semaphore whose ceiling a [`LimitAlgorithm`] moves.

use std::{
    fmt,
    future::Future,
    marker::PhantomData,
    num::NonZeroU32,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use pin_project_lite::pin_project;

use super::{LimitAlgorithm, Outcome, Quiet, Sample};
use crate::{
    Acquire, AcquireError, OwnedPermit, Permit, Semaphore, TryAcquireError,
    rate::AutoClock,
    sync::{AtomicU32, AtomicU64, Mutex, Ordering, lock},
};

/// [`Quiet`] packed in one word, so a reader never mixes two versions: the
/// in-flight bound in the top 24 bits, the latency bound (ns) in the low 40. Both
/// saturate *down* (ignoring fewer samples), which keeps the promise.
#[derive(Debug)]
struct QuietWord(AtomicU64);

const LATENCY_BITS: u32 = 40;
const LATENCY_MAX: u64 = (1 << LATENCY_BITS) - 1;
const IN_FLIGHT_MAX: u64 = (1 << (64 - LATENCY_BITS)) - 1;

/// Whole nanoseconds in `d`, saturating, without `u128` arithmetic.
#[inline]
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

impl QuietWord {
    fn pack(quiet: Quiet) -> u64 {
        let in_flight = (quiet.in_flight_below as u64).min(IN_FLIGHT_MAX);
        let latency = nanos(quiet.latency_at_most).min(LATENCY_MAX);
        (in_flight << LATENCY_BITS) | latency
    }

    fn new(quiet: Quiet) -> Self {
        Self(AtomicU64::new(Self::pack(quiet)))
    }

    /// Publishes the algorithm's promise (under the algorithm's lock).
    fn store(&self, quiet: Quiet) {
        self.0.store(Self::pack(quiet), Ordering::Relaxed);
    }

    /// Whether the last published promise covers this success.
    #[inline]
    fn covers(&self, in_flight: usize, latency: Latency) -> bool {
        let word = self.0.load(Ordering::Relaxed);
        (in_flight as u64) < word >> LATENCY_BITS && latency.nanos() <= word & LATENCY_MAX
    }
}

/// A sample's latency on its way in: a permit's measurement stays in nanoseconds
/// (the quiet check compares nanoseconds; a `Duration` is built only for the
/// algorithm), a latency the caller gave stays the `Duration` it was.
#[derive(Debug, Clone, Copy)]
enum Latency {
    Measured(u64),
    Given(Duration),
}

impl Latency {
    #[inline]
    fn nanos(self) -> u64 {
        match self {
            Self::Measured(nanos) => nanos,
            Self::Given(latency) => nanos(latency),
        }
    }

    #[inline]
    fn duration(self) -> Duration {
        match self {
            Self::Measured(nanos) => Duration::from_nanos(nanos),
            Self::Given(latency) => latency,
        }
    }
}

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
    sem: Arc<Semaphore>,
    quiet: QuietWord,
    clock: AutoClock,
    /// Which permits read the clock: none (0: the algorithm does not read latency,
    /// [`LimitAlgorithm::reads_latency`], asked once), every one (1:
    /// [`time_every`](Self::time_every)), one in `timing` per thread
    /// ([`time_one_in`](Self::time_one_in)), or [`AUTO`] (the default): one in
    /// [`Counters::auto_one_in`], set from the latencies measured.
    timing: u32,
    counters: Counters,
    algorithm: CacheLine<Mutex<State<A>>>,
}

/// What records write without the lock, away from what every acquire reads: a
/// quiet success on one core must not take the line the other cores read next. The
/// counts are striped by thread, so threads do not pass one line back and forth
/// either; a snapshot sums the stripes.
#[derive(Debug)]
struct Counters {
    stripes: [Stripe; STRIPES],
    /// The latency (ns) of the last timed sample, stood in for the untimed ones
    /// (written only under [`AdaptiveLimiter::time_one_in`], one sample in `n`);
    /// [`NO_LATENCY`] before the first.
    last_latency: CacheLine<AtomicU64>,
    /// Under [`AUTO`] timing: each thread times one permit in this many (1 to
    /// [`AUTO_MAX_ONE_IN`]), written after a timed sample when its latency calls
    /// for another rate (see [`auto_one_in`]).
    auto_one_in: AtomicU32,
}

/// Count stripes: threads take them in turn.
const STRIPES: usize = 8;

#[derive(Debug)]
#[repr(align(64))]
struct Stripe {
    ignored: AtomicU64,
    /// Successes skipped under the algorithm's [`Quiet`] promise.
    quiet_samples: AtomicU64,
}

impl Counters {
    fn new() -> Self {
        Self {
            stripes: std::array::from_fn(|_| Stripe {
                ignored: AtomicU64::new(0),
                quiet_samples: AtomicU64::new(0),
            }),
            last_latency: CacheLine(AtomicU64::new(NO_LATENCY)),
            auto_one_in: AtomicU32::new(1),
        }
    }

    /// This thread's stripe.
    #[inline]
    fn mine(&self) -> &Stripe {
        // (A thread whose locals are gone, dropping a permit from a destructor,
        // counts on stripe 0.)
        &self.stripes[STRIPE.try_with(|stripe| *stripe).unwrap_or(0)]
    }

    fn sum(&self, count: impl Fn(&Stripe) -> &AtomicU64) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| count(stripe).load(Ordering::Relaxed))
            .sum()
    }
}

/// Hands out count stripes to threads in turn (a hint, not synchronisation).
static NEXT_STRIPE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `T` on cache lines of its own.
#[derive(Debug)]
#[repr(align(64))]
struct CacheLine<T: ?Sized>(T);

impl<T: ?Sized> std::ops::Deref for CacheLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// [`Ticket::start`] of a permit that was not picked for timing.
const UNTIMED: u64 = u64::MAX;

/// [`Counters::last_latency`] before the first timed sample.
const NO_LATENCY: u64 = u64::MAX;

/// [`AdaptiveLimiter::timing`] of the default, automatic timing.
const AUTO: u32 = u32::MAX;

/// Under automatic timing, work that takes at least this long (ns) is timed every
/// time: two clock reads (about 20 ns on the VMs weir is benchmarked on) are then
/// at most 1 % of it.
const AUTO_TIME_EVERY_NS: u64 = 2_000;

/// Under automatic timing, the sparsest sampling: one permit in this many per thread.
const AUTO_MAX_ONE_IN: u32 = 64;

/// The sampling rate automatic timing picks after measuring `nanos`: the power of
/// two that keeps two clock reads near 1 % of the work, between 1 and
/// [`AUTO_MAX_ONE_IN`].
fn auto_one_in(nanos: u64) -> u32 {
    let one_in = AUTO_TIME_EVERY_NS.div_ceil(nanos.max(1));
    // At most 2000, so the cast is exact.
    (one_in as u32).next_power_of_two().min(AUTO_MAX_ONE_IN)
}

#[cfg(not(loom))]
std::thread_local! {
    /// Timed permits this thread may still skip before it times one (automatic
    /// timing, [`AdaptiveLimiter::time_one_in`]).
    static SKIP: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

// Under loom the model's threads share one OS thread, and a `std` thread-local
// would carry the countdown from one explored execution into the next.
#[cfg(loom)]
loom::thread_local! {
    static SKIP: std::cell::Cell<u32> = std::cell::Cell::new(0);
}

std::thread_local! {
    /// This thread's [`Counters`] stripe.
    static STRIPE: usize =
        NEXT_STRIPE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
}

/// Whether this thread times its next permit, timing one in `one_in` (> 1).
#[inline]
fn pick(one_in: u32) -> bool {
    SKIP.try_with(|skip| match skip.get() {
        0 => {
            skip.set(one_in - 1);
            true
        }
        left => {
            skip.set(left - 1);
            false
        }
    })
    .unwrap_or(true)
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
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedAdaptivePermit<A>, AcquireError> {
        let permit = self.sem.clone().acquire_owned().await?;
        Ok(OwnedAdaptivePermit::new(self, permit))
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
    fn record_parts(&self, outcome: Outcome, in_flight: usize, latency: Latency) {
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

/// A permit made from a semaphore permit of its limiter (see [`AdaptiveAcquire`]).
trait FromPermit<'a, A: LimitAlgorithm + ?Sized> {
    fn from_permit(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self;
}

pin_project! {
    /// The future of [`AdaptiveLimiter::acquire`] and
    /// [`acquire_untimed`](AdaptiveLimiter::acquire_untimed): the semaphore's
    /// [`Acquire`], polled in place, and the permit made from what it grants. A plain
    /// future rather than an `async fn`: no generator state to switch on, store and
    /// drop around the semaphore's lock-free fast path. Dropping it drops the
    /// `Acquire` (cancel safe, as [`Semaphore::acquire`]).
    struct AdaptiveAcquire<'a, A: ?Sized, P> {
        limiter: &'a AdaptiveLimiter<A>,
        #[pin]
        acquire: Acquire<'a>,
        permit: PhantomData<fn() -> P>,
    }
}

impl<'a, A: LimitAlgorithm + ?Sized, P: FromPermit<'a, A>> AdaptiveAcquire<'a, A, P> {
    #[inline]
    fn new(limiter: &'a AdaptiveLimiter<A>) -> Self {
        Self {
            limiter,
            acquire: limiter.sem.acquire(),
            permit: PhantomData,
        }
    }
}

impl<'a, A: LimitAlgorithm + ?Sized, P: FromPermit<'a, A>> Future for AdaptiveAcquire<'a, A, P> {
    type Output = Result<P, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let permit = ready!(this.acquire.poll(cx))?;
        Poll::Ready(Ok(P::from_permit(this.limiter, permit)))
    }
}

/// What a permit remembers to make its sample.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    /// A raw reading of the limiter's clock ([`AutoClock::ticks`]: TSC ticks,
    /// scaled to nanoseconds only once, for the difference); 0 if the limiter is
    /// not timed.
    start: u64,
    in_flight: usize,
}

impl Ticket {
    #[inline]
    fn new<A: LimitAlgorithm + ?Sized>(limiter: &AdaptiveLimiter<A>) -> Self {
        Self {
            start: match limiter.timing {
                0 => 0,
                1 => limiter.clock.ticks(),
                _ => Self::sampled_start(limiter),
            },
            in_flight: limiter.sem.in_use(),
        }
    }

    /// [`new`](Self::new)'s start under sampling, automatic (the default) or
    /// [`AdaptiveLimiter::time_one_in`]. Out of line: inlined, it cost every path
    /// (even the untimed ones) registers, about 0.9x a semaphore operation more.
    #[inline(never)]
    fn sampled_start<A: LimitAlgorithm + ?Sized>(limiter: &AdaptiveLimiter<A>) -> u64 {
        let one_in = match limiter.timing {
            AUTO => limiter.counters.auto_one_in.load(Ordering::Relaxed),
            one_in => one_in,
        };
        if one_in == 1 || pick(one_in) {
            limiter.clock.ticks()
        } else {
            UNTIMED
        }
    }

    /// Nanoseconds since the acquire; zero if the permit is not timed.
    #[inline]
    fn elapsed_nanos<A: LimitAlgorithm + ?Sized>(self, limiter: &AdaptiveLimiter<A>) -> u64 {
        if limiter.timing != 0 && self.start != UNTIMED {
            let clock = &limiter.clock;
            clock.ticks_to_nanos(self.start, clock.ticks())
        } else {
            0
        }
    }

    /// The latency to record with `outcome`; an ignore reads no clock (its latency
    /// is unused), an untimed permit of a sampling limiter stands in the last timed
    /// latency.
    #[inline]
    fn latency<A: LimitAlgorithm + ?Sized>(
        self,
        limiter: &AdaptiveLimiter<A>,
        outcome: Outcome,
    ) -> Latency {
        Latency::Measured(match outcome {
            Outcome::Ignore => 0,
            _ => match limiter.timing {
                0 => 0,
                1 => {
                    let clock = &limiter.clock;
                    clock.ticks_to_nanos(self.start, clock.ticks())
                }
                // Under `time_one_in`: an untimed permit stands in the last
                // timed latency; a timed one measures (out of line) and keeps it.
                _ if self.start == UNTIMED => limiter.counters.last_latency.load(Ordering::Relaxed),
                _ => self.sampled_nanos(limiter),
            },
        })
    }

    /// [`latency`](Self::latency) of a timed permit under
    /// [`AdaptiveLimiter::time_one_in`] (out of line: one permit in `n`).
    #[cold]
    #[inline(never)]
    fn sampled_nanos<A: LimitAlgorithm + ?Sized>(self, limiter: &AdaptiveLimiter<A>) -> u64 {
        let nanos = self.elapsed_nanos(limiter);
        let counters = &limiter.counters;
        counters.last_latency.store(nanos, Ordering::Relaxed);
        if limiter.timing == AUTO {
            let one_in = auto_one_in(nanos);
            // Written only on a change, so a steady workload never writes it. (Under
            // loom always: the clock is real time, and whether a store happens must
            // not depend on it, or the model's executions would differ.)
            if cfg!(loom) || counters.auto_one_in.load(Ordering::Relaxed) != one_in {
                counters.auto_one_in.store(one_in, Ordering::Relaxed);
            }
        }
        nanos
    }
}

macro_rules! permit_methods {
    () => {
        /// Records a success: a latency sample from the acquire until now (no clock
        /// is read if the algorithm reads no latency).
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
        ///
        /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
        /// limiter.try_acquire().unwrap().success();
        /// assert_eq!((limiter.snapshot().samples, limiter.in_flight()), (1, 0));
        /// ```
        // Always inlined, as `record`: out of line, the permit went through memory
        // and a six-register frame, a third of a loss-only AIMD's overhead.
        #[inline(always)]
        pub fn success(self) {
            self.record(Outcome::Success);
        }

        /// Records an overload (a timeout, a rejection): the algorithm backs off.
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, adaptive::Aimd};
        ///
        /// let limiter = AdaptiveLimiter::new(Aimd::new());
        /// limiter.try_acquire().unwrap().overload();
        /// assert_eq!(limiter.limit(), 18);
        /// ```
        #[inline]
        pub fn overload(self) {
            self.record(Outcome::Overload);
        }

        /// Releases the permit and records `outcome` with the latency since the
        /// acquire. [`Outcome::Ignore`] is the same as dropping the permit.
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Fixed};
        ///
        /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
        /// limiter.try_acquire().unwrap().record(Outcome::Ignore);
        /// assert_eq!(limiter.snapshot().ignored, 1);
        /// ```
        #[inline(always)]
        pub fn record(self, outcome: Outcome) {
            let latency = self.ticket.latency(&*self.limiter, outcome);
            self.finish(outcome, latency);
        }

        /// Releases the permit and records `outcome` with a latency the caller
        /// measured (one clock read fewer).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Aimd};
        ///
        /// let aimd = Aimd::builder().timeout(Duration::from_secs(1)).build().unwrap();
        /// let limiter = AdaptiveLimiter::new(aimd);
        /// let permit = limiter.try_acquire().unwrap();
        /// permit.record_latency(Outcome::Success, Duration::from_secs(3)); // a timeout
        /// assert_eq!(limiter.limit(), 18);
        /// ```
        #[inline]
        pub fn record_latency(self, outcome: Outcome, latency: Duration) {
            self.finish(outcome, Latency::Given(latency));
        }

        /// Permits in use when this one was granted, itself included.
        ///
        /// # Examples
        ///
        /// ```
        /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
        ///
        /// let limiter = AdaptiveLimiter::new(Fixed::new(2));
        /// let _a = limiter.try_acquire().unwrap();
        /// assert_eq!(limiter.try_acquire().unwrap().in_flight(), 2);
        /// ```
        pub fn in_flight(&self) -> usize {
            self.ticket.in_flight
        }

        /// Time since the permit was granted, on the limiter's clock; zero if the
        /// limiter does not time its permits (its algorithm reads no latency: see
        /// [`LimitAlgorithm::reads_latency`]).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
        ///
        /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
        /// # async fn main() {
        /// let limiter = AdaptiveLimiter::new(Fixed::new(1));
        /// let permit = limiter.acquire().await.unwrap();
        /// tokio::time::sleep(Duration::from_millis(30)).await;
        /// assert_eq!(permit.elapsed(), Duration::from_millis(30));
        /// # }
        /// ```
        pub fn elapsed(&self) -> Duration {
            Duration::from_nanos(self.ticket.elapsed_nanos(&*self.limiter))
        }
    };
}

/// A permit from an [`AdaptiveLimiter`]; record how the work went with
/// [`success`](Self::success) or [`overload`](Self::overload). Dropping it without
/// an outcome releases it as an [`Outcome::Ignore`].
///
/// # Examples
///
/// ```
/// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
///
/// let limiter = AdaptiveLimiter::new(Fixed::new(1));
/// {
///     let _permit = limiter.try_acquire().unwrap();
///     assert_eq!(limiter.in_flight(), 1);
/// }
/// assert_eq!((limiter.in_flight(), limiter.snapshot().ignored), (0, 1));
/// ```
#[must_use = "dropping the permit releases it at once, recording nothing"]
#[clippy::has_significant_drop]
pub struct AdaptivePermit<'a, A: LimitAlgorithm + ?Sized = dyn LimitAlgorithm> {
    /// Holds one permit of `limiter.sem` (released with it, not through a `Permit`
    /// field: three words rather than five, so the permit moves in registers).
    limiter: &'a AdaptiveLimiter<A>,
    ticket: Ticket,
}

impl<'a, A: LimitAlgorithm + ?Sized> FromPermit<'a, A> for AdaptivePermit<'a, A> {
    #[inline]
    fn from_permit(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        Self::new(limiter, permit)
    }
}

impl<'a, A: LimitAlgorithm + ?Sized> FromPermit<'a, A> for UntimedPermit<'a, A> {
    #[inline]
    fn from_permit(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        Self::new(limiter, permit)
    }
}

impl<'a, A: LimitAlgorithm + ?Sized> AdaptivePermit<'a, A> {
    #[inline]
    fn new(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        let ticket = Ticket::new(limiter);
        debug_assert_eq!(permit.num_permits(), 1);
        // Held by `Self` from here on; released in `finish` or `drop`.
        std::mem::forget(permit);
        Self { limiter, ticket }
    }

    permit_methods!();

    #[inline]
    fn finish(self, outcome: Outcome, latency: Latency) {
        let (limiter, in_flight) = (self.limiter, self.ticket.in_flight);
        // The permit is released here, not by `drop`.
        std::mem::forget(self);
        // Release first, so waiters move while the algorithm runs.
        limiter.sem.release(1);
        limiter.record_parts(outcome, in_flight, latency);
    }
}

impl<A: LimitAlgorithm + ?Sized> Drop for AdaptivePermit<'_, A> {
    fn drop(&mut self) {
        self.limiter.sem.release(1);
        self.limiter
            .record_parts(Outcome::Ignore, self.ticket.in_flight, Latency::Measured(0));
    }
}

impl<A: LimitAlgorithm + ?Sized> fmt::Debug for AdaptivePermit<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("in_flight", &self.ticket.in_flight)
            .field("start", &self.ticket.start)
            .finish_non_exhaustive()
    }
}

/// An [`AdaptivePermit`] that owns an `Arc` of its limiter (`'static`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
///
/// let limiter = Arc::new(AdaptiveLimiter::new(Fixed::new(1)));
/// let permit = limiter.clone().try_acquire_owned().unwrap();
/// std::thread::spawn(move || permit.success()).join().unwrap();
/// assert_eq!(limiter.snapshot().samples, 1);
/// ```
#[must_use = "dropping the permit releases it at once, recording nothing"]
#[clippy::has_significant_drop]
pub struct OwnedAdaptivePermit<A: LimitAlgorithm + ?Sized = dyn LimitAlgorithm> {
    limiter: Arc<AdaptiveLimiter<A>>,
    permit: Option<OwnedPermit>,
    ticket: Ticket,
}

impl<A: LimitAlgorithm + ?Sized> OwnedAdaptivePermit<A> {
    #[inline]
    fn new(limiter: Arc<AdaptiveLimiter<A>>, permit: OwnedPermit) -> Self {
        Self {
            ticket: Ticket::new(&*limiter),
            limiter,
            permit: Some(permit),
        }
    }

    permit_methods!();

    fn finish(mut self, outcome: Outcome, latency: Latency) {
        // Release first, so waiters move while the algorithm runs.
        drop(self.permit.take());
        self.limiter
            .record_parts(outcome, self.ticket.in_flight, latency);
    }
}

impl<A: LimitAlgorithm + ?Sized> Drop for OwnedAdaptivePermit<A> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            drop(permit);
            self.limiter
                .record_parts(Outcome::Ignore, self.ticket.in_flight, Latency::Measured(0));
        }
    }
}

impl<A: LimitAlgorithm + ?Sized> fmt::Debug for OwnedAdaptivePermit<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedAdaptivePermit")
            .field("in_flight", &self.ticket.in_flight)
            .field("start", &self.ticket.start)
            .finish_non_exhaustive()
    }
}

/// A permit from [`AdaptiveLimiter::acquire_untimed`]: no clock is read; report the
/// latency you measured with [`record`](Self::record). Dropping it without an
/// outcome releases it as an [`Outcome::Ignore`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Fixed};
///
/// let limiter = AdaptiveLimiter::new(Fixed::new(2));
/// drop(limiter.try_acquire_untimed().unwrap());
/// limiter.try_acquire_untimed().unwrap().record(Outcome::Overload, Duration::ZERO);
/// let snap = limiter.snapshot();
/// assert_eq!((snap.ignored, snap.samples, snap.overloads), (1, 1, 1));
/// ```
#[must_use = "dropping the permit releases it at once, recording nothing"]
#[clippy::has_significant_drop]
pub struct UntimedPermit<'a, A: LimitAlgorithm + ?Sized = dyn LimitAlgorithm> {
    /// Holds one permit of `limiter.sem`, as [`AdaptivePermit`] does.
    limiter: &'a AdaptiveLimiter<A>,
    in_flight: usize,
}

impl<'a, A: LimitAlgorithm + ?Sized> UntimedPermit<'a, A> {
    #[inline]
    fn new(limiter: &'a AdaptiveLimiter<A>, permit: Permit<'a>) -> Self {
        let in_flight = limiter.sem.in_use();
        debug_assert_eq!(permit.num_permits(), 1);
        // Held by `Self` from here on; released in `finish` or `drop`.
        std::mem::forget(permit);
        Self { limiter, in_flight }
    }

    /// Releases the permit and records `outcome` with the `latency` the caller
    /// measured. [`Outcome::Ignore`] is the same as dropping the permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{AdaptiveLimiter, Outcome, adaptive::Aimd};
    ///
    /// let limiter = AdaptiveLimiter::new(Aimd::builder().initial_limit(2).build().unwrap());
    /// let _other = limiter.try_acquire_untimed().unwrap();
    /// let permit = limiter.try_acquire_untimed().unwrap();
    /// permit.record(Outcome::Success, Duration::from_millis(1)); // 2 of 2 in use: grow
    /// assert_eq!(limiter.limit(), 3);
    /// ```
    #[inline]
    pub fn record(self, outcome: Outcome, latency: Duration) {
        let sample = Sample::new(latency, self.in_flight, outcome);
        self.finish(sample);
    }

    /// Permits in use when this one was granted, itself included.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{AdaptiveLimiter, adaptive::Fixed};
    ///
    /// let limiter = AdaptiveLimiter::new(Fixed::new(2));
    /// assert_eq!(limiter.try_acquire_untimed().unwrap().in_flight(), 1);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    #[inline]
    fn finish(self, sample: Sample) {
        let limiter = self.limiter;
        // The permit is released here, not by `drop`.
        std::mem::forget(self);
        // Release first, so waiters move while the algorithm runs.
        limiter.sem.release(1);
        limiter.record(sample);
    }
}

impl<A: LimitAlgorithm + ?Sized> Drop for UntimedPermit<'_, A> {
    fn drop(&mut self) {
        self.limiter.sem.release(1);
        let sample = Sample::new(Duration::ZERO, self.in_flight, Outcome::Ignore);
        self.limiter.record(sample);
    }
}

impl<A: LimitAlgorithm + ?Sized> fmt::Debug for UntimedPermit<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntimedPermit")
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use tokio_test::{assert_pending, assert_ready_ok, task};

    use super::*;
    use crate::adaptive::{Aimd, Fixed};

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
