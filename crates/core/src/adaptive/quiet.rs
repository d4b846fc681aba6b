//! The algorithm's promise of which successes change nothing, in one atomic word.

use super::{
    Quiet,
    timing::{Latency, nanos},
};
use crate::sync::{AtomicU64, Ordering};

/// [`Quiet`] packed in one word, so a reader never mixes two versions: the
/// in-flight bound in the top 24 bits, the latency bound (ns) in the low 40. Both
/// saturate *down* (ignoring fewer samples), which keeps the promise.
#[derive(Debug)]
pub(super) struct QuietWord(AtomicU64);

const LATENCY_BITS: u32 = 40;
const LATENCY_MAX: u64 = (1 << LATENCY_BITS) - 1;
const IN_FLIGHT_MAX: u64 = (1 << (64 - LATENCY_BITS)) - 1;

impl QuietWord {
    fn pack(quiet: Quiet) -> u64 {
        let in_flight = (quiet.in_flight_below as u64).min(IN_FLIGHT_MAX);
        let latency = nanos(quiet.latency_at_most).min(LATENCY_MAX);
        (in_flight << LATENCY_BITS) | latency
    }

    pub(super) fn new(quiet: Quiet) -> Self {
        Self(AtomicU64::new(Self::pack(quiet)))
    }

    /// Publishes the algorithm's promise (under the algorithm's lock).
    pub(super) fn store(&self, quiet: Quiet) {
        self.0.store(Self::pack(quiet), Ordering::Relaxed);
    }

    /// Whether the last published promise covers this success.
    #[inline]
    pub(super) fn covers(&self, in_flight: usize, latency: Latency) -> bool {
        let word = self.0.load(Ordering::Relaxed);
        (in_flight as u64) < word >> LATENCY_BITS && latency.nanos() <= word & LATENCY_MAX
    }
}
