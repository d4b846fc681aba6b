//! How a spawned upstream task ended, and how the consumer reports it.

use std::any::Any;
use std::panic;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

/// Items a producer task handles in one poll before it yields to the scheduler.
pub(crate) const YIELD_EVERY: usize = 256;

/// The state of the task that drives an upstream.
pub(crate) enum End {
    /// Still producing.
    Running,
    /// The upstream returned `None`.
    Finished,
    /// The upstream (or an `on_drop` callback) panicked; the payload waits for the
    /// consumer, who re-raises it after the items produced before it.
    Panicked(Box<dyn Any + Send>),
    /// The task was dropped before the upstream ended, with the consumer still alive:
    /// only a runtime shutting down does that.
    Cancelled,
}

impl End {
    /// Called by the consumer once the buffer is empty and the task has stopped:
    /// takes the ending out (leaving `Finished`, so later polls just end) and must
    /// then be [raised](End::raise) *after* the lock is released (a panic under the
    /// guard would poison the mutex).
    pub(crate) fn take(&mut self) -> End {
        std::mem::replace(self, End::Finished)
    }

    /// Returns for a clean end; re-raises an upstream panic; panics on cancellation.
    pub(crate) fn raise(self) {
        match self {
            End::Running | End::Finished => {}
            End::Panicked(payload) => panic::resume_unwind(payload),
            End::Cancelled => panic!(
                "weir-stream: the upstream task was cancelled before the stream ended \
                 (was the runtime shut down?)"
            ),
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self, End::Running)
    }
}

impl std::fmt::Debug for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            End::Running => "Running",
            End::Finished => "Finished",
            End::Panicked(_) => "Panicked",
            End::Cancelled => "Cancelled",
        })
    }
}

/// Locks, ignoring poison: no code of ours panics while holding these locks, and a
/// user panic is carried as [`End::Panicked`] rather than through the mutex.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A consumer's poll of a buffered adapter, spending a unit of tokio's cooperative
/// budget an item, as a `tokio::sync::mpsc` receiver does: a consumer draining a
/// full buffer still yields to the runtime's other tasks.
pub(crate) fn with_budget<T>(
    cx: &mut Context<'_>,
    poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
) -> Poll<T> {
    let coop = ready!(tokio::task::coop::poll_proceed(cx));
    let next = poll(cx);
    if next.is_ready() {
        coop.made_progress();
    }
    next
}
