//! What records write without the algorithm's lock, striped by thread.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

use super::timing::NO_LATENCY;

/// What records write without the lock, away from what every acquire reads: a
/// quiet success on one core must not take the line the other cores read next. The
/// counts are striped by thread, so threads do not pass one line back and forth
/// either; a snapshot sums the stripes.
#[derive(Debug)]
pub(super) struct Counters {
    pub(super) stripes: [Stripe; STRIPES],
    /// The latency (ns) of the last timed sample, stood in for the untimed ones
    /// (written only under [`AdaptiveLimiter::time_one_in`], one sample in `n`);
    /// [`NO_LATENCY`] before the first.
    pub(super) last_latency: CacheLine<AtomicU64>,
    /// Under [`AUTO`] timing: each thread times one permit in this many (1 to
    /// [`AUTO_MAX_ONE_IN`]), written after a timed sample when its latency calls
    /// for another rate (see [`auto_one_in`]).
    pub(super) auto_one_in: AtomicU32,
}

/// Count stripes: threads take them in turn.
const STRIPES: usize = 8;

#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Stripe {
    pub(super) ignored: AtomicU64,
    /// Successes skipped under the algorithm's [`Quiet`] promise.
    pub(super) quiet_samples: AtomicU64,
}

impl Counters {
    pub(super) fn new() -> Self {
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
    pub(super) fn mine(&self) -> &Stripe {
        // (A thread whose locals are gone, dropping a permit from a destructor,
        // counts on stripe 0.)
        &self.stripes[STRIPE.try_with(|stripe| *stripe).unwrap_or(0)]
    }

    pub(super) fn sum(&self, count: impl Fn(&Stripe) -> &AtomicU64) -> u64 {
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
pub(super) struct CacheLine<T: ?Sized>(pub(super) T);

impl<T: ?Sized> std::ops::Deref for CacheLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

std::thread_local! {
    /// This thread's [`Counters`] stripe.
    static STRIPE: usize =
        NEXT_STRIPE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
}
