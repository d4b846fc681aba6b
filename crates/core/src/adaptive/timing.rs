//! Which permits read the clock, and what a permit remembers to make its sample.

use std::time::Duration;

use super::{LimitAlgorithm, Outcome, limiter::AdaptiveLimiter};
use crate::sync::Ordering;

/// Whole nanoseconds in `d`, saturating, without `u128` arithmetic.
#[inline]
pub(super) fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// A sample's latency on its way in: a permit's measurement stays in nanoseconds
/// (the quiet check compares nanoseconds; a `Duration` is built only for the
/// algorithm), a latency the caller gave stays the `Duration` it was.
#[derive(Debug, Clone, Copy)]
pub(super) enum Latency {
    Measured(u64),
    Given(Duration),
}

impl Latency {
    #[inline]
    pub(super) fn nanos(self) -> u64 {
        match self {
            Self::Measured(nanos) => nanos,
            Self::Given(latency) => nanos(latency),
        }
    }

    #[inline]
    pub(super) fn duration(self) -> Duration {
        match self {
            Self::Measured(nanos) => Duration::from_nanos(nanos),
            Self::Given(latency) => latency,
        }
    }
}

/// [`Ticket::start`] of a permit that was not picked for timing.
pub(super) const UNTIMED: u64 = u64::MAX;

/// [`Counters::last_latency`] before the first timed sample.
pub(super) const NO_LATENCY: u64 = u64::MAX;

/// [`AdaptiveLimiter::timing`] of the default, automatic timing.
pub(super) const AUTO: u32 = u32::MAX;

/// Under automatic timing, work that takes at least this long (ns) is timed every
/// time: two clock reads (about 20 ns on the VMs weir is benchmarked on) are then
/// at most 1 % of it.
const AUTO_TIME_EVERY_NS: u64 = 2_000;

/// Under automatic timing, the sparsest sampling: one permit in this many per thread.
const AUTO_MAX_ONE_IN: u32 = 64;

/// The sampling rate automatic timing picks after measuring `nanos`: the power of
/// two that keeps two clock reads near 1 % of the work, between 1 and
/// [`AUTO_MAX_ONE_IN`].
pub(super) fn auto_one_in(nanos: u64) -> u32 {
    let one_in = AUTO_TIME_EVERY_NS.div_ceil(nanos.max(1));
    // At most 2000, so the cast is exact.
    (one_in as u32).next_power_of_two().min(AUTO_MAX_ONE_IN)
}

#[cfg(not(loom))]
std::thread_local! {
    /// Timed permits this thread may still skip before it times one (automatic
    /// timing, [`AdaptiveLimiter::time_one_in`]).
    pub(super) static SKIP: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

// Under loom the model's threads share one OS thread, and a `std` thread-local
// would carry the countdown from one explored execution into the next.
#[cfg(loom)]
loom::thread_local! {
    pub(super) static SKIP: std::cell::Cell<u32> = std::cell::Cell::new(0);
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

/// What a permit remembers to make its sample.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    /// A raw reading of the limiter's clock ([`AutoClock::ticks`]: TSC ticks,
    /// scaled to nanoseconds only once, for the difference); 0 if the limiter is
    /// not timed.
    pub(super) start: u64,
    pub(super) in_flight: usize,
}

impl Ticket {
    #[inline]
    pub(super) fn new<A: LimitAlgorithm + ?Sized>(limiter: &AdaptiveLimiter<A>) -> Self {
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
    pub(super) fn elapsed_nanos<A: LimitAlgorithm + ?Sized>(
        self,
        limiter: &AdaptiveLimiter<A>,
    ) -> u64 {
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
    pub(super) fn latency<A: LimitAlgorithm + ?Sized>(
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
                // Sampling (automatic or fixed): an untimed permit stands in the last
                // timed latency; a timed one measures (out of line) and keeps it.
                _ if self.start == UNTIMED => limiter.counters.last_latency.load(Ordering::Relaxed),
                _ => self.sampled_nanos(limiter),
            },
        })
    }

    /// [`latency`](Self::latency) of a timed permit under
    /// sampling, automatic or [`AdaptiveLimiter::time_one_in`] (out of line: one
    /// permit in `n`); under automatic timing it also sets the next rate.
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
