//! An adaptive budget: a [`LimitAlgorithm`] fed by finished jobs moves the pool's
//! budget between a floor and a ceiling (see [`Builder::adaptive`](crate::Builder::adaptive)).

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use weir_core::{LimitAlgorithm, Sample, Semaphore};

use crate::{observer::Outcome, stats::LimitStats};

/// The algorithm and the bounds its output is clamped to.
pub(crate) struct Adaptive {
    state: Mutex<State>,
    /// `max(1, total reserved)`: the budget never goes below it.
    floor: usize,
    samples: AtomicU64,
    overloads: AtomicU64,
}

struct State {
    algorithm: Box<dyn LimitAlgorithm>,
    /// The builder's budget, or the last `set_budget`.
    ceiling: usize,
}

/// What a finished job tells the algorithm: `None` for outcomes that say nothing
/// about load.
pub(crate) fn sample_outcome(outcome: Outcome) -> Option<weir_core::Outcome> {
    match outcome {
        Outcome::Completed => Some(weir_core::Outcome::Success),
        Outcome::TimedOut => Some(weir_core::Outcome::Overload),
        Outcome::Failed | Outcome::Panicked | Outcome::Cancelled => None,
    }
}

impl Adaptive {
    pub(crate) fn new(algorithm: Box<dyn LimitAlgorithm>, floor: usize, ceiling: usize) -> Self {
        debug_assert!(1 <= floor && floor <= ceiling);
        Self {
            state: Mutex::new(State { algorithm, ceiling }),
            floor,
            samples: AtomicU64::new(0),
            overloads: AtomicU64::new(0),
        }
    }

    fn clamp(&self, limit: usize, ceiling: usize) -> usize {
        limit.clamp(self.floor, ceiling)
    }

    /// Feeds one finished job to the algorithm and applies its limit to `budget`.
    /// Returns whether the budget changed (the caller then wakes a worker).
    pub(crate) fn record(
        &self,
        budget: &Semaphore,
        outcome: weir_core::Outcome,
        latency: Duration,
        in_flight: usize,
    ) -> bool {
        self.samples.fetch_add(1, Ordering::Relaxed);
        if outcome == weir_core::Outcome::Overload {
            self.overloads.fetch_add(1, Ordering::Relaxed);
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let limit = state
            .algorithm
            .update(Sample::new(latency, in_flight, outcome));
        let limit = self.clamp(limit, state.ceiling);
        // Set under the lock, so concurrent finishers apply their limits in the
        // order the algorithm computed them.
        if budget.capacity() == limit {
            return false;
        }
        budget.set_capacity(limit);
        true
    }

    /// `Pool::set_budget` on an adaptive pool: `ceiling` becomes the new upper
    /// bound, and the budget is the algorithm's limit clamped to the new bounds.
    pub(crate) fn set_ceiling(&self, budget: &Semaphore, ceiling: usize) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.ceiling = ceiling;
        let limit = self.clamp(state.algorithm.limit(), ceiling);
        budget.set_capacity(limit);
    }

    pub(crate) fn stats(&self, budget: &Semaphore) -> LimitStats {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        LimitStats {
            limit: budget.capacity(),
            algorithm_limit: state.algorithm.limit(),
            floor: self.floor,
            ceiling: state.ceiling,
            samples: self.samples.load(Ordering::Relaxed),
            overloads: self.overloads.load(Ordering::Relaxed),
        }
    }
}
