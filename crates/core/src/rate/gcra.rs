//! [`RateLimiter`]: a lock-free GCRA rate limiter with FIFO, cancel-safe waiting and
//! a quota that can change at runtime.
//!
//! # Implementation notes
//!
//! The state is one `AtomicU64` word: `v << 1 | slot`. `slot` picks one of two
//! configuration slots (period `T`, tolerance `τ`, offset `Δ`) and `v − Δ` is the
//! theoretical arrival time (TAT) in nanoseconds since the clock's epoch.
//!
//! - A check loads the word, reads the clock, loads the slot, and publishes the
//!   new TAT with one compare-exchange. A successful exchange proves nothing wrote
//!   the word since it was loaded, so the clock was read after every earlier
//!   admission: admissions are ordered by time (golang/go#71360).
//! - **The word only grows.** A check adds at least `T ≥ 1 ns`; a quota change picks
//!   `Δ` so the new word is above the old one. So a word can never come back to a
//!   value a racing check loaded (no ABA).
//! - A quota change (serialised by a mutex) writes the *inactive* slot, then swaps
//!   the word over to it. A check that read a slot being rewritten saw the word
//!   change in between, so its exchange fails (or, for a refusal, its re-check of the
//!   word) and it retries; torn values are never acted on.

use std::{fmt, future::poll_fn, pin::pin, task::Poll, time::Duration};

use tokio::sync::Notify;

use super::{AutoClock, Clock, InsufficientCapacity, NotYet, Quota, RateLimitError};
use crate::{
    Semaphore,
    sync::{AtomicU64, Mutex, Ordering, lock},
};

/// The outcome of one GCRA test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Conforms; the new TAT.
    Conforms(u64),
    /// Conforms at this instant (ns since the clock's epoch), not before.
    NotBefore(u64),
    /// More cells than the burst.
    TooLarge,
}

/// GCRA for `n ≥ 1` cells at `now`: conforming iff `now ≥ tat + T·(n−1) − τ`, and
/// then the TAT becomes `max(tat, now) + n·T`. Wrapping arithmetic: a racing check
/// may feed torn values, whose result is discarded.
#[inline]
pub(crate) fn gcra(tat: u64, now: u64, n: u32, period: u64, tau: u64) -> Verdict {
    let extra = period.wrapping_mul(u64::from(n) - 1);
    if extra > tau {
        return Verdict::TooLarge;
    }
    let earliest = tat.wrapping_add(extra).saturating_sub(tau);
    if now < earliest {
        Verdict::NotBefore(earliest)
    } else {
        Verdict::Conforms(tat.max(now).wrapping_add(extra).wrapping_add(period))
    }
}

/// The lowest time an admission could have happened at, given the TAT it left:
/// every conforming update leaves `tat ≤ now + τ + T`. A clock reading below this
/// went backwards and is clamped up to it.
#[inline]
pub(crate) fn floor(tat: u64, period: u64, tau: u64) -> u64 {
    tat.saturating_sub(tau.wrapping_add(period))
}

/// The TAT that keeps the bucket's fill *fraction* when the quota changes from
/// `old` to `new` at `now`: a full bucket stays full, an empty one stays empty
/// (its next cell one new period away), so a change brings neither a burst nor a
/// stall.
pub(crate) fn rescale(tat: u64, now: u64, old: &Quota, new: &Quota) -> u64 {
    let old_span = old.tolerance_nanos() + old.period_nanos();
    let new_span = new.tolerance_nanos() + new.period_nanos();
    let owed = u128::from(tat.saturating_sub(now).min(old_span));
    now + (owed * u128::from(new_span) / u128::from(old_span)) as u64
}

#[derive(Debug)]
struct Slot {
    period: AtomicU64,
    tau: AtomicU64,
    delta: AtomicU64,
}

impl Slot {
    fn new(quota: &Quota) -> Self {
        Self {
            period: AtomicU64::new(quota.period_nanos()),
            tau: AtomicU64::new(quota.tolerance_nanos()),
            delta: AtomicU64::new(0),
        }
    }
}

/// A GCRA rate limiter (generic cell rate algorithm, as in `governor`): over any
/// interval of length `t`, at most `burst + t / period` cells conform.
///
/// - [`try_acquire`](Self::try_acquire) is lock-free: one atomic word, one
///   compare-exchange.
/// - [`acquire`](Self::acquire) waits in **FIFO order** and is **cancel-safe**:
///   acquirers queue on a one-permit weir [`Semaphore`]; the head sleeps until its
///   cells conform, takes them, and passes the turn on. A dropped waiter takes
///   nothing and gives its place to the next. `try_acquire` does not overtake them.
/// - [`set_quota`](Self::set_quota) changes rate and burst at runtime, keeping the
///   bucket's fill fraction: no burst and no stall at the switch. The head waiter
///   re-plans at once.
/// - Asking for more cells than the burst is an error
///   ([`InsufficientCapacity`]), never a wait forever.
/// - The clock is read inside the critical section and clamped monotonic.
///
/// The clock is an [`AutoClock`] by default: the TSC through `quanta` (a few ns a
/// reading), or tokio's clock if tokio's time is paused when the limiter is created
/// (paused-time tests work); see [`with_clock`](Self::with_clock). State is nanoseconds in 63 bits: a limiter
/// is good for about 290 years.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Quota, RateLimiter};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = RateLimiter::new(Quota::per_second(10).unwrap().allow_burst(2).unwrap());
/// let start = tokio::time::Instant::now();
/// for _ in 0..4 {
///     limiter.acquire(1).await.unwrap();
/// }
/// // Two at once (the burst), then one every 100 ms.
/// assert_eq!(start.elapsed(), Duration::from_millis(200));
/// # }
/// ```
pub struct RateLimiter<C: Clock = AutoClock> {
    word: AtomicU64,
    slots: [Slot; 2],
    /// Serialises quota changes.
    writer: Mutex<()>,
    /// One permit: the turn of the async acquirer at the head of the queue.
    turn: Semaphore,
    /// Wakes the head acquirer when the quota changes.
    changed: Notify,
    clock: C,
}

impl RateLimiter {
    /// A limiter for `quota` on an [`AutoClock`], with a full bucket.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Quota, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Quota::per_second(3).unwrap());
    /// assert!(limiter.try_acquire(3).is_ok());
    /// assert!(limiter.try_acquire(1).is_err());
    /// ```
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, AutoClock::new())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter for `quota` on `clock`, with a full bucket.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Quota, RateLimiter, rate::ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let limiter = RateLimiter::with_clock(Quota::per_second(1).unwrap(), clock.clone());
    /// assert!(limiter.try_acquire(1).is_ok());
    /// assert!(limiter.try_acquire(1).is_err());
    /// clock.advance(Duration::from_secs(1));
    /// assert!(limiter.try_acquire(1).is_ok());
    /// ```
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        let slot = Slot::new(&quota);
        Self {
            word: AtomicU64::new(0),
            slots: [Slot::new(&quota), slot],
            writer: Mutex::new(()),
            turn: Semaphore::new(1),
            changed: Notify::new(),
            clock,
        }
    }

    /// Takes `n` cells if they conform now and no async acquirer is waiting.
    /// `n = 0` always succeeds.
    ///
    /// # Errors
    ///
    /// [`RateLimitError::NotYet`] with the wait until they would conform,
    /// [`RateLimitError::Queued`] if async acquirers are waiting, or
    /// [`RateLimitError::InsufficientCapacity`] if `n` is above the burst.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Quota, RateLimiter, rate::{ManualClock, NotYet, RateLimitError}};
    ///
    /// let clock = ManualClock::new();
    /// let quota = Quota::per_second(50).unwrap(); // T = 20 ms, burst 50
    /// let limiter = RateLimiter::with_clock(quota, clock.clone());
    /// for _ in 0..50 {
    ///     limiter.try_acquire(1).unwrap();
    /// }
    /// let wait = Duration::from_millis(20);
    /// assert_eq!(limiter.try_acquire(1), Err(RateLimitError::NotYet(NotYet::new(wait))));
    /// clock.advance(wait);
    /// assert_eq!(limiter.try_acquire(1), Ok(()));
    /// assert!(matches!(limiter.try_acquire(51), Err(RateLimitError::InsufficientCapacity(_))));
    /// ```
    pub fn try_acquire(&self, n: u32) -> Result<(), RateLimitError> {
        self.take(n, 0)
    }

    /// [`try_acquire`](Self::try_acquire) for a caller that slept until the instant
    /// a [`NotYet`] named and woke `late` after it (timers fire late: tokio's by up to
    /// 1 ms). The cells are taken as of the first instant in the last `late` at which
    /// they conformed (never before what the state proves possible). Without this, a
    /// burst-1 limiter that waits on a timer loses the lateness on every cell and
    /// undershoots its rate (akka#23475).
    ///
    /// Admissions are recorded at most `late` before they happen, so over an
    /// interval of length `t` at most `burst + (t + late) / period` cells pass.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Quota, RateLimiter, rate::ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let quota = Quota::per_second(10).unwrap().allow_burst(1).unwrap(); // T = 100 ms
    /// let limiter = RateLimiter::with_clock(quota, clock.clone());
    /// limiter.try_acquire(1).unwrap();
    /// assert_eq!(limiter.time_until(1), Ok(Duration::from_millis(100)));
    /// clock.advance(Duration::from_millis(101)); // the timer fired 1 ms late
    /// limiter.try_acquire_late(1, Duration::from_millis(1)).unwrap();
    /// // The schedule holds: the next cell is due 100 ms after the previous one.
    /// assert_eq!(limiter.time_until(1), Ok(Duration::from_millis(99)));
    /// ```
    pub fn try_acquire_late(&self, n: u32, late: Duration) -> Result<(), RateLimitError> {
        self.take(n, u64::try_from(late.as_nanos()).unwrap_or(u64::MAX))
    }

    /// `try_acquire` as of up to `late` ns ago.
    #[inline]
    fn take(&self, n: u32, late: u64) -> Result<(), RateLimitError> {
        if n == 0 {
            return Ok(());
        }
        if self.turn.available() == 0 {
            let burst = self.quota().burst();
            return Err(if n > burst {
                InsufficientCapacity {
                    requested: n,
                    burst,
                }
                .into()
            } else {
                RateLimitError::Queued
            });
        }
        self.check(n, late)
    }

    /// Waits, in FIFO order with the other acquirers, until `n` cells conform, and
    /// takes them. `n = 0` returns at once.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] if `n` is above the burst (checked again if the
    /// quota changes while it waits).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a future dropped before it completes has taken no cells, and its
    /// place in the queue passes to the next acquirer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Quota, RateLimiter};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(Quota::per_second(100).unwrap().allow_burst(10).unwrap());
    /// let start = tokio::time::Instant::now();
    /// limiter.acquire(10).await.unwrap(); // the whole burst
    /// limiter.acquire(5).await.unwrap(); // 5 more cells: 50 ms
    /// assert_eq!(start.elapsed(), Duration::from_millis(50));
    /// # }
    /// ```
    pub async fn acquire(&self, n: u32) -> Result<(), InsufficientCapacity> {
        if n == 0 {
            return Ok(());
        }
        let _turn = match self.turn.acquire().await {
            Ok(turn) => turn,
            Err(_) => unreachable!("the turn semaphore is never closed"),
        };
        // The instant the last refusal named: a timer that fires late must not
        // slow the schedule down (see `try_acquire_late`).
        let mut due = None;
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let late = due.map_or(0, |due| self.now().saturating_sub(due));
            let wait = match self.check(n, late) {
                Ok(()) => return Ok(()),
                Err(RateLimitError::NotYet(refusal)) => {
                    due = Some(self.now().saturating_add(refusal.wait_nanos()));
                    refusal.wait()
                }
                Err(RateLimitError::InsufficientCapacity(err)) => return Err(err),
                Err(RateLimitError::Queued) => unreachable!("check never reports the queue"),
            };
            let mut sleep = pin!(tokio::time::sleep(wait));
            poll_fn(|cx| {
                if changed.as_mut().poll(cx).is_ready() || sleep.as_mut().poll(cx).is_ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
    }

    /// Replaces the quota. The bucket keeps its fill *fraction* (a full bucket stays
    /// full, an empty one stays empty with its next cell one new period away), so the
    /// switch brings neither a burst nor a stall; the head async acquirer re-plans
    /// its wait at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Quota, RateLimiter, rate::{ManualClock, NotYet, RateLimitError}};
    ///
    /// let clock = ManualClock::new();
    /// let limiter = RateLimiter::with_clock(Quota::per_second(10).unwrap(), clock);
    /// limiter.try_acquire(10).unwrap(); // empty
    /// limiter.set_quota(Quota::per_second(1000).unwrap());
    /// // Still empty (no burst of 990), and the next cell is 1 ms away (no stall).
    /// let wait = NotYet::new(Duration::from_millis(1));
    /// assert_eq!(limiter.try_acquire(1), Err(RateLimitError::NotYet(wait)));
    /// ```
    pub fn set_quota(&self, quota: Quota) {
        let _writer = lock(&self.writer);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let active = (word & 1) as usize;
            let (old, delta) = self.slot(active);
            let tat = (word >> 1) - delta;
            let now = self
                .now()
                .max(floor(tat, old.period_nanos(), old.tolerance_nanos()));
            let tat = rescale(tat, now, &old, &quota);
            // Keep the word growing: Δ absorbs a TAT that moved back.
            let v = tat.max((word >> 1) + 1);
            let next = &self.slots[active ^ 1];
            next.period.store(quota.period_nanos(), Ordering::Release);
            next.tau.store(quota.tolerance_nanos(), Ordering::Release);
            next.delta.store(v - tat, Ordering::Release);
            let new = (v << 1) | (active ^ 1) as u64;
            match self
                .word
                .compare_exchange(word, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
        self.changed.notify_waiters();
    }

    /// The quota in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Quota, RateLimiter};
    ///
    /// let quota = Quota::per_second(7).unwrap();
    /// assert_eq!(RateLimiter::new(quota).quota(), quota);
    /// ```
    pub fn quota(&self) -> Quota {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (quota, _) = self.slot((word & 1) as usize);
            let again = self.word.load(Ordering::Acquire);
            if again == word {
                return quota;
            }
            word = again;
        }
    }

    /// Cells that would conform back to back right now (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Quota, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Quota::per_second(5).unwrap());
    /// limiter.try_acquire(2).unwrap();
    /// assert_eq!(limiter.remaining_burst(), 3);
    /// ```
    pub fn remaining_burst(&self) -> u32 {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (quota, delta) = self.slot((word & 1) as usize);
            let (period, tau) = (quota.period_nanos(), quota.tolerance_nanos());
            let tat = (word >> 1).wrapping_sub(delta);
            let now = self.now().max(floor(tat, period, tau));
            let again = self.word.load(Ordering::Acquire);
            if again == word {
                let room = (now + tau + period).saturating_sub(tat).min(tau + period);
                return (room / period) as u32;
            }
            word = again;
        }
    }

    /// Async acquirers waiting for their turn, the head included.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Quota, RateLimiter};
    ///
    /// assert_eq!(RateLimiter::new(Quota::per_second(1).unwrap()).waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.turn.waiters() + usize::from(self.turn.available() == 0)
    }

    /// How long until `n` cells would conform (zero: they do now), without taking
    /// them. A snapshot that ignores queued async acquirers.
    ///
    /// # Errors
    ///
    /// [`InsufficientCapacity`] if `n` is above the burst.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{Quota, RateLimiter, rate::ManualClock};
    ///
    /// let limiter = RateLimiter::with_clock(Quota::per_second(4).unwrap(), ManualClock::new());
    /// assert_eq!(limiter.time_until(4), Ok(Duration::ZERO));
    /// limiter.try_acquire(4).unwrap();
    /// assert_eq!(limiter.time_until(2), Ok(Duration::from_millis(500)));
    /// assert!(limiter.time_until(5).is_err());
    /// ```
    pub fn time_until(&self, n: u32) -> Result<Duration, InsufficientCapacity> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let slot = &self.slots[(word & 1) as usize];
            let period = slot.period.load(Ordering::Acquire);
            let tau = slot.tau.load(Ordering::Acquire);
            let delta = slot.delta.load(Ordering::Acquire);
            let tat = (word >> 1).wrapping_sub(delta);
            let now = self.now().max(floor(tat, period, tau));
            let verdict = match gcra(tat, now, n.max(1), period, tau) {
                Verdict::Conforms(_) => Ok(Duration::ZERO),
                Verdict::NotBefore(at) => Ok(Duration::from_nanos(at - now)),
                Verdict::TooLarge => Err(InsufficientCapacity {
                    requested: n,
                    burst: (tau / period.max(1) + 1) as u32,
                }),
            };
            let again = self.word.load(Ordering::Acquire);
            if again == word {
                return verdict;
            }
            word = again;
        }
    }

    /// The GCRA test and update, ignoring the queue, as of up to `late` ns ago.
    #[inline]
    fn check(&self, n: u32, late: u64) -> Result<(), RateLimitError> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            // Read inside the critical section, after the state it is compared with
            // (the slot is configuration that the word validates; loading it after
            // the clock keeps only the word live across the call).
            let raw_now = self.now();
            let slot = &self.slots[(word & 1) as usize];
            let period = slot.period.load(Ordering::Acquire);
            let tau = slot.tau.load(Ordering::Acquire);
            let delta = slot.delta.load(Ordering::Acquire);
            let tat = (word >> 1).wrapping_sub(delta);
            let low = floor(tat, period, tau);
            let now = raw_now.max(low);
            let verdict = match late {
                0 => gcra(tat, now, n, period, tau),
                // As of `late` ago, or of the first instant since then at which the
                // cells conformed.
                _ => match gcra(tat, now.saturating_sub(late).max(low), n, period, tau) {
                    Verdict::NotBefore(at) if at <= now => gcra(tat, at, n, period, tau),
                    verdict => verdict,
                },
            };
            let refusal = match verdict {
                Verdict::Conforms(tat) => {
                    let new = (tat.wrapping_add(delta) << 1) | (word & 1);
                    match self.word.compare_exchange_weak(
                        word,
                        new,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(()),
                        Err(actual) => {
                            word = actual;
                            continue;
                        }
                    }
                }
                Verdict::NotBefore(at) => NotYet::from_nanos(at - now).into(),
                Verdict::TooLarge => InsufficientCapacity {
                    requested: n,
                    burst: (tau / period.max(1) + 1) as u32,
                }
                .into(),
            };
            // A refusal stands only if the slot it read was current.
            let again = self.word.load(Ordering::Acquire);
            if again == word {
                return Err(refusal);
            }
            word = again;
        }
    }

    /// The quota and offset in `slot`, as stored (validate against the word).
    fn slot(&self, slot: usize) -> (Quota, u64) {
        let slot = &self.slots[slot];
        let period = slot.period.load(Ordering::Acquire).max(1);
        let tau = slot.tau.load(Ordering::Acquire);
        let quota = Quota::from_raw(period, (tau / period + 1).min(u64::from(u32::MAX)) as u32);
        (quota, slot.delta.load(Ordering::Acquire))
    }

    #[inline]
    fn now(&self) -> u64 {
        self.clock.now_nanos()
    }
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.quota())
            .field("remaining_burst", &self.remaining_burst())
            .field("waiters", &self.waiters())
            .field("clock", &self.clock)
            .finish()
    }
}
