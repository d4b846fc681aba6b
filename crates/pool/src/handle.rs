//! [`JobHandle`]: the typed outcome of a submitted job.

use std::{
    any::Any,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll, ready},
};

use crate::{job::JobId, task::Cell};

/// An owned permission to await, or cancel, one submitted job.
///
/// Awaiting it gives the job's output, or a [`JobError`] saying why there is none:
/// the job panicked, timed out, was cancelled, or was dropped without running.
/// Every handle resolves, whatever happens to the pool (close, drop, runtime
/// shutdown).
///
/// Dropping the handle **detaches** the job: it still runs, and its outcome is
/// counted. To stop it, call [`cancel`](Self::cancel).
///
/// Like tokio's `JoinHandle`, awaiting a handle spends a unit of tokio's
/// cooperative budget, so a loop awaiting many finished handles still yields to the
/// runtime's other tasks.
///
/// # Cancel safety
///
/// Awaiting a handle is cancel safe: dropping the `.await` leaves the job alone,
/// and a later poll (of the same handle) still gets the outcome.
///
/// # Examples
///
/// ```
/// use weir_pool::{JobError, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let ok = pool.submit(async { 40 + 2 }).await.unwrap();
/// let boom = pool.submit(async { panic!("boom") }).await.unwrap();
/// assert_eq!(ok.await.unwrap(), 42);
/// let err: JobError = boom.await.unwrap_err();
/// assert_eq!(err.into_panic().unwrap().message(), Some("boom"));
/// # }
/// ```
pub struct JobHandle<T> {
    // Two words: a caller may hold many handles. What `cancel` needs to find the
    // job in the queue (the pool, the key slot) is in the cell, in room its
    // allocation has anyway.
    cell: Arc<Cell<T>>,
    id: JobId,
}

impl<T> JobHandle<T> {
    /// The handle of job `id`, queued in key slot `slot`.
    pub(crate) fn new(cell: Arc<Cell<T>>, id: JobId, slot: u32) -> Self {
        cell.set_slot(slot);
        Self { cell, id }
    }

    /// The job's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let handle = pool.submit(async {}).await.unwrap();
    /// assert_eq!(handle.id().as_u64(), 0);
    /// # }
    /// ```
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Cancels the job.
    ///
    /// - **Queued:** it leaves the queue at once (freeing its slot) and never starts.
    /// - **Taken by a worker, waiting for its weight:** it never starts.
    /// - **Running:** its future is dropped at the worker's next turn (at once if it
    ///   is waiting), and its context token, if it has one, is cancelled.
    ///
    /// The handle then resolves to [`JobError::Cancelled`], unless the job had
    /// already finished: as with tokio's `JoinHandle::abort`, an outcome that is
    /// already in is kept. Cancelling twice is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{JobError, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).build().unwrap();
    /// let stuck = pool.submit(std::future::pending::<()>()).await.unwrap();
    /// let queued = pool.submit(async { unreachable!() }).await.unwrap();
    /// queued.cancel();
    /// stuck.cancel();
    /// assert!(matches!(queued.await, Err(JobError::Cancelled)));
    /// assert!(matches!(stuck.await, Err(JobError::Cancelled)));
    /// assert_eq!(pool.stats().cancelled, 2);
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.cell.request_cancel();
        // A pool that is gone has no queue left to take the job out of.
        if let Some(shared) = self.cell.pool() {
            shared.cancel_queued(self.id, self.cell.slot());
        }
    }

    /// Whether the outcome is in (awaiting the handle would not wait for the job).
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let handle = pool.submit(async {}).await.unwrap();
    /// handle.cancel();
    /// assert!(handle.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.cell.is_finished()
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    /// # Panics
    ///
    /// Panics if polled again after it returned `Ready`.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A unit of tokio's cooperative budget, as a `oneshot` receiver or a
        // `JoinHandle` spends: a loop awaiting finished handles still yields.
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        let outcome = ready!(self.cell.poll_outcome(cx));
        coop.made_progress();
        // After `made_progress` its destructor has nothing to restore, and it is an
        // out-of-line call.
        std::mem::forget(coop);
        Poll::Ready(outcome)
    }
}

impl<T> Unpin for JobHandle<T> {}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a [`JobHandle`] has no output.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_pool::{Job, JobError, Pool};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build().unwrap();
/// let slow = Job::new(tokio::time::sleep(Duration::from_secs(60)))
///     .timeout(Duration::from_secs(1));
/// let err = pool.submit(slow).await.unwrap().await.unwrap_err();
/// assert!(matches!(err, JobError::TimedOut));
/// assert_eq!(err.to_string(), "job timed out");
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked (while starting, running, or being dropped). The worker
    /// survived.
    #[error("{0}")]
    Panicked(Panic),
    /// The job ran past its run timeout and was dropped.
    #[error("job timed out")]
    TimedOut,
    /// The job was cancelled: by its handle, or by [`Pool::close`](crate::Pool::close)
    /// when the deadline and grace ran out while it was running.
    #[error("job cancelled")]
    Cancelled,
    /// The pool dropped the job without running it: evicted from a full queue by
    /// [`Overflow::EvictOldest`](crate::Overflow::EvictOldest), or still queued when
    /// a close deadline passed.
    #[error("job dropped before it started")]
    Dropped,
}

impl JobError {
    /// Whether the job panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let err = pool.submit(async { panic!() }).await.unwrap().await.unwrap_err();
    /// assert!(err.is_panic());
    /// # }
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panicked(_))
    }

    /// The panic, if the job panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let err = pool.submit(async { panic!("at {}", 3) }).await.unwrap().await.unwrap_err();
    /// assert_eq!(err.into_panic().unwrap().message(), Some("at 3"));
    /// # }
    /// ```
    pub fn into_panic(self) -> Option<Panic> {
        match self {
            Self::Panicked(panic) => Some(panic),
            _ => None,
        }
    }
}

/// A caught panic: its message (when it had a string payload) and the payload
/// itself, to inspect or to [`resume`](Self::resume).
///
/// # Examples
///
/// ```
/// # use weir_pool::Pool;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let pool = Pool::builder().workers(1).build().unwrap();
/// let err = pool.submit(async { std::panic::panic_any(7_u8) }).await.unwrap().await.unwrap_err();
/// let panic = err.into_panic().unwrap();
/// assert_eq!(panic.message(), None);
/// assert_eq!(panic.into_payload().downcast_ref::<u8>(), Some(&7));
/// # }
/// ```
pub struct Panic {
    // Boxed so that `JobError`, stored in every job's outcome slot, stays small.
    inner: Box<PanicInner>,
}

struct PanicInner {
    message: Option<String>,
    // A Mutex makes the error `Sync` (so it fits `Box<dyn Error + Send + Sync>`)
    // in safe code only; it is only locked to take the payload out.
    payload: Mutex<Box<dyn Any + Send + 'static>>,
}

impl Panic {
    pub(crate) fn new(payload: Box<dyn Any + Send + 'static>) -> Self {
        let message = payload
            .downcast_ref::<&'static str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        Self {
            inner: Box::new(PanicInner {
                message,
                payload: Mutex::new(payload),
            }),
        }
    }

    /// The panic message, if the payload was a string.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let err = pool.submit(async { panic!("boom") }).await.unwrap().await.unwrap_err();
    /// assert_eq!(err.into_panic().unwrap().message(), Some("boom"));
    /// # }
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// The panic payload.
    ///
    /// # Examples
    ///
    /// ```
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let err = pool.submit(async { panic!("boom") }).await.unwrap().await.unwrap_err();
    /// let payload = err.into_panic().unwrap().into_payload();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// # }
    /// ```
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.inner
            .payload
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Resumes unwinding with the original payload, as if the job had panicked on
    /// the current thread.
    ///
    /// # Examples
    ///
    /// ```should_panic
    /// # use weir_pool::Pool;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().workers(1).build().unwrap();
    /// let err = pool.submit(async { panic!("boom") }).await.unwrap().await.unwrap_err();
    /// err.into_panic().unwrap().resume(); // panics with "boom"
    /// # }
    /// ```
    pub fn resume(self) -> ! {
        std::panic::resume_unwind(self.into_payload())
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panic")
            .field("message", &self.inner.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.message {
            Some(message) => write!(f, "job panicked: {message}"),
            None => f.write_str("job panicked"),
        }
    }
}
