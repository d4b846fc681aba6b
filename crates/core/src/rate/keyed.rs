//! [`KeyedRateLimiter`]: one GCRA state per key, idle keys evicted.

use std::{collections::HashMap, fmt, hash::Hash};

use super::{
    AutoClock, Clock, InsufficientCapacity, NotYet, Quota, RateLimitError,
    gcra::{Verdict, gcra, rescale},
};
use crate::sync::{Mutex, lock};

/// Sweeps never run on maps smaller than this.
const MIN_SWEEP: usize = 64;

/// A GCRA rate limiter per key (a client IP, a tenant): each key gets its own
/// [`Quota`]-sized bucket.
///
/// **Memory stays bounded.** A key whose bucket has refilled is indistinguishable
/// from a key never seen, so it is dropped: lazily, whenever the map has doubled
/// since the last sweep (amortised O(1) per call), or on demand with
/// [`evict_idle`](Self::evict_idle). The map holds only keys active within the
/// last `period × burst`.
///
/// One mutex guards the map; the clock is read under it and clamped monotonic. For
/// FIFO waiting on one key, use a [`RateLimiter`](super::RateLimiter) per key.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::{KeyedRateLimiter, Quota, rate::ManualClock};
///
/// let clock = ManualClock::new();
/// let limiter = KeyedRateLimiter::with_clock(Quota::per_second(2).unwrap(), clock.clone());
/// assert!(limiter.try_acquire(&"alice", 2).is_ok());
/// assert!(limiter.try_acquire(&"alice", 1).is_err());
/// assert!(limiter.try_acquire(&"bob", 1).is_ok()); // bob has his own bucket
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(limiter.evict_idle(), 2); // both refilled: forgotten
/// assert!(limiter.is_empty());
/// ```
pub struct KeyedRateLimiter<K, C: Clock = AutoClock> {
    state: Mutex<State<K>>,
    clock: C,
}

struct State<K> {
    quota: Quota,
    tats: HashMap<K, u64>,
    /// The latest clock reading, to keep time monotonic.
    last_now: u64,
    /// Sweep idle keys once the map reaches this size.
    sweep_at: usize,
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// A keyed limiter for `quota` on an [`AutoClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{KeyedRateLimiter, Quota};
    ///
    /// let limiter = KeyedRateLimiter::new(Quota::per_second(1).unwrap());
    /// assert!(limiter.try_acquire(&42u64, 1).is_ok());
    /// assert_eq!(limiter.len(), 1);
    /// ```
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, AutoClock::new())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedRateLimiter<K, C> {
    /// A keyed limiter for `quota` on `clock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{KeyedRateLimiter, Quota, rate::StdClock};
    ///
    /// let limiter = KeyedRateLimiter::with_clock(Quota::per_second(5).unwrap(), StdClock::new());
    /// assert!(limiter.try_acquire(&"k", 5).is_ok());
    /// ```
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self {
            state: Mutex::new(State {
                quota,
                tats: HashMap::new(),
                last_now: 0,
                sweep_at: MIN_SWEEP,
            }),
            clock,
        }
    }

    /// Takes `n` cells from `key`'s bucket if they conform now. `n = 0` always
    /// succeeds (and stores nothing).
    ///
    /// # Errors
    ///
    /// [`RateLimitError::NotYet`] with the wait, or
    /// [`RateLimitError::InsufficientCapacity`] if `n` is above the burst.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{KeyedRateLimiter, Quota, rate::{ManualClock, NotYet, RateLimitError}};
    ///
    /// let quota = Quota::per_second(10).unwrap().allow_burst(1).unwrap();
    /// let limiter = KeyedRateLimiter::with_clock(quota, ManualClock::new());
    /// limiter.try_acquire(&1, 1).unwrap();
    /// let wait = NotYet::new(Duration::from_millis(100));
    /// assert_eq!(limiter.try_acquire(&1, 1), Err(RateLimitError::NotYet(wait)));
    /// ```
    pub fn try_acquire(&self, key: &K, n: u32) -> Result<(), RateLimitError> {
        if n == 0 {
            return Ok(());
        }
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let now = self.now(state);
        let (period, tau) = (state.quota.period_nanos(), state.quota.tolerance_nanos());
        let known = state.tats.get(key).copied();
        match gcra(known.unwrap_or(0), now, n, period, tau) {
            Verdict::Conforms(tat) => {
                if let Some(slot) = state.tats.get_mut(key) {
                    *slot = tat;
                } else {
                    if state.tats.len() >= state.sweep_at {
                        state.sweep(now);
                    }
                    state.tats.insert(key.clone(), tat);
                }
                Ok(())
            }
            Verdict::NotBefore(at) => Err(NotYet::from_nanos(at - now).into()),
            Verdict::TooLarge => Err(InsufficientCapacity {
                requested: n,
                burst: state.quota.burst(),
            }
            .into()),
        }
    }

    /// Replaces the quota for every key; each bucket keeps its fill fraction (see
    /// [`RateLimiter::set_quota`](super::RateLimiter::set_quota)).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{KeyedRateLimiter, Quota, rate::ManualClock};
    ///
    /// let limiter = KeyedRateLimiter::with_clock(Quota::per_second(4).unwrap(), ManualClock::new());
    /// limiter.try_acquire(&"a", 2).unwrap(); // half full
    /// limiter.set_quota(Quota::per_second(8).unwrap());
    /// assert!(limiter.try_acquire(&"a", 4).is_ok()); // half of 8
    /// assert!(limiter.try_acquire(&"a", 1).is_err());
    /// ```
    pub fn set_quota(&self, quota: Quota) {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let now = self.now(state);
        let old = state.quota;
        for tat in state.tats.values_mut() {
            *tat = rescale(*tat, now, &old, &quota);
        }
        state.quota = quota;
    }

    /// The quota in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{KeyedRateLimiter, Quota};
    ///
    /// let quota = Quota::per_second(3).unwrap();
    /// assert_eq!(KeyedRateLimiter::<u32>::new(quota).quota(), quota);
    /// ```
    pub fn quota(&self) -> Quota {
        lock(&self.state).quota
    }

    /// Forgets every key whose bucket has refilled (which changes no decision), and
    /// returns how many it dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::{KeyedRateLimiter, Quota, rate::ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let limiter = KeyedRateLimiter::with_clock(Quota::per_second(1).unwrap(), clock.clone());
    /// limiter.try_acquire(&"a", 1).unwrap();
    /// assert_eq!(limiter.evict_idle(), 0); // still refilling
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(limiter.evict_idle(), 1);
    /// ```
    pub fn evict_idle(&self) -> usize {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let now = self.now(state);
        state.sweep(now)
    }

    /// Keys held right now (refilled keys may linger until the next sweep).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{KeyedRateLimiter, Quota};
    ///
    /// let limiter = KeyedRateLimiter::new(Quota::per_second(1).unwrap());
    /// limiter.try_acquire(&"x", 1).unwrap();
    /// assert_eq!(limiter.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.state).tats.len()
    }

    /// Whether no key is held.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{KeyedRateLimiter, Quota};
    ///
    /// assert!(KeyedRateLimiter::<&str>::new(Quota::per_second(1).unwrap()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        lock(&self.state).tats.is_empty()
    }

    /// The clock, read under the lock and never allowed to go back.
    fn now(&self, state: &mut State<K>) -> u64 {
        let now = self.clock.now_nanos().max(state.last_now);
        state.last_now = now;
        now
    }
}

impl<K: Hash + Eq> State<K> {
    /// Drops refilled keys, re-arms the next sweep and returns the keys dropped.
    fn sweep(&mut self, now: u64) -> usize {
        let before = self.tats.len();
        self.tats.retain(|_, tat| *tat > now);
        let kept = self.tats.len();
        self.sweep_at = (kept * 2).max(MIN_SWEEP);
        if self.tats.capacity() > self.sweep_at * 2 {
            self.tats.shrink_to(self.sweep_at);
        }
        before - kept
    }
}

impl<K, C: Clock> fmt::Debug for KeyedRateLimiter<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("KeyedRateLimiter")
            .field("quota", &state.quota)
            .field("keys", &state.tats.len())
            .field("clock", &self.clock)
            .finish()
    }
}
