//! The state every pool handle, job handle and worker shares, and the admission
//! and discard paths that keep the counters and the handles in step.

use std::{
    any::{Any, TypeId},
    future::Future,
    hash::Hash,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{runtime::Handle, time::Instant};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Span;
use weir_core::{Latch, Semaphore, TryAcquireError, Watermark};

use crate::{
    adaptive::Adaptive,
    builder::Overflow,
    close::CloseState,
    error::TrySubmitError,
    handle::{JobError, JobHandle},
    hosted::{BoxFuture, Hosted, Job},
    job::{JobId, RunTimeout, Work},
    observer::{DropReason, Dropped, Observer, RefuseReason, Refused, Submitted},
    queue::{Admitted, Entry, EvictError, KeyedPush, Queue, WhenFull},
    sched::ClassSpec,
    stats::Counters,
    task::{Cell, Meta, Runnable, Task},
    tenant::ClassId,
    worker,
};

/// Aligned to its own cache lines: every [`JobHandle`] holds an `Arc` of it, so
/// the reference count moves once per job on the submitting side, and it should
/// not share a line with the queue's lock.
#[repr(align(128))]
pub(crate) struct Shared {
    pub(crate) queue: Queue,
    /// The weight budget: a job runs only while it holds its weight.
    pub(crate) budget: Semaphore,
    pub(crate) counters: Counters,
    /// Parent of every job's token; cancelled when a close deadline passes (and
    /// when a close completes).
    pub(crate) token: Signal,
    /// Cancelled when a close's grace runs out: running jobs are dropped.
    pub(crate) abort: Signal,
    /// The worker tasks.
    pub(crate) tracker: TaskTracker,
    pub(crate) runtime: Handle,
    pub(crate) workers: Workers,
    pub(crate) run_timeout: Option<Duration>,
    pub(crate) overflow: Overflow,
    pub(crate) close_grace: Duration,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    pub(crate) close: CloseState,
    /// The priority classes, highest first, and the total reserved weight.
    pub(crate) classes: Vec<ClassSpec>,
    pub(crate) reserved: usize,
    /// Where jobs that name no class go.
    pub(crate) default_class: usize,
    /// Drives the budget from finished jobs, if configured.
    pub(crate) adaptive: Option<Adaptive>,
    /// Sheds submissions while the queue is deep, if configured.
    pub(crate) shed: Option<Watermark>,
}

/// A [`CancellationToken`] with its state mirrored in an atomic flag, so that the
/// per-job checks are one load (`CancellationToken::is_cancelled` takes a lock).
pub(crate) struct Signal {
    cancelled: AtomicBool,
    token: CancellationToken,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self {
            cancelled: AtomicBool::new(false),
            token: CancellationToken::new(),
        }
    }

    /// Cancels the token. The flag is set first: whoever still sees it clear and
    /// then waits on [`cancelled`](Self::cancelled) is woken by the token.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.token.cancel();
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(crate) fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    pub(crate) fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }
}

/// Worker-count bookkeeping. Growing spawns at once; shrinking is lazy: a worker
/// retires when it next looks for a job and more are alive than wanted.
pub(crate) struct Workers {
    pub(crate) target: AtomicUsize,
    pub(crate) live: AtomicUsize,
    next_id: AtomicUsize,
    /// Serialises resizes, so two growers do not both spawn for the same gap.
    resize: Mutex<()>,
}

impl Workers {
    pub(crate) fn new(target: usize) -> Self {
        Self {
            target: AtomicUsize::new(target),
            live: AtomicUsize::new(0),
            next_id: AtomicUsize::new(0),
            resize: Mutex::new(()),
        }
    }

    /// Whether more workers are alive than wanted (one should retire at its next
    /// look for work). Two loads, no claim.
    pub(crate) fn surplus(&self) -> bool {
        self.live.load(Ordering::Relaxed) > self.target.load(Ordering::Relaxed)
    }

    /// Claims one retirement if more workers are alive than wanted.
    ///
    /// The count and the target are separate atomics, so a resize can slip in
    /// between reading the target and claiming: re-checked after the claim, a
    /// retirement that would leave fewer workers than wanted is undone. Racing this
    /// way can leave one worker too many for a moment (it retires at its next
    /// look), never one too few.
    pub(crate) fn try_retire(&self) -> bool {
        let target = self.target.load(Ordering::Acquire);
        let claimed = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live > target).then(|| live - 1)
            })
            .is_ok();
        if claimed && self.live.load(Ordering::Acquire) < self.target.load(Ordering::Acquire) {
            self.live.fetch_add(1, Ordering::AcqRel);
            return false;
        }
        claimed
    }
}

impl Shared {
    /// Sets the worker target, spawning the missing workers or waking idle ones so
    /// the extra retire.
    pub(crate) fn set_workers(self: &Arc<Self>, n: usize) {
        let _resize = self
            .workers
            .resize
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.workers.target.store(n, Ordering::Release);
        let live = self.workers.live.load(Ordering::Acquire);
        if live < n && !self.queue.is_closed() {
            for _ in live..n {
                self.spawn_worker();
            }
        } else if live > n {
            self.queue.wake_idle();
        }
    }

    fn spawn_worker(self: &Arc<Self>) {
        let id = self.workers.next_id.fetch_add(1, Ordering::Relaxed);
        self.workers.live.fetch_add(1, Ordering::AcqRel);
        self.tracker
            .spawn_on(worker::run(self.clone(), id), &self.runtime);
    }

    fn timeout_for(&self, timeout: RunTimeout) -> Option<Duration> {
        match timeout {
            RunTimeout::PoolDefault => self.run_timeout,
            RunTimeout::Never => None,
            RunTimeout::After(d) => Some(d),
        }
    }

    /// Whether a job of this weight could ever run in `class` under the current
    /// budget: it may use the budget less the other classes' reservations.
    #[inline]
    pub(crate) fn fits(&self, weight: usize, class: usize) -> bool {
        // The budget is never below 1 nor below the total reservation, so a job of
        // weight 1 fits when nothing is reserved: skip reading the budget's capacity,
        // which shares a cache line with the count the workers move on every job.
        if weight == 0 || (weight == 1 && self.reserved == 0) {
            return true;
        }
        let others = self.reserved - self.classes[class].reserved;
        weight <= self.budget.capacity().saturating_sub(others)
    }

    /// Whether the shed watermark refuses a submission now (counted, observed).
    /// Free without a watermark.
    #[inline]
    pub(crate) fn shed(&self, weight: usize) -> bool {
        let Some(gate) = &self.shed else {
            return false;
        };
        let depth = usize::try_from(self.counters.queued()).unwrap_or(usize::MAX);
        if gate.admit_at(depth) {
            return false;
        }
        self.refuse(RefuseReason::Shed, weight);
        true
    }

    /// The checks every submit form makes before it waits for room: a job too heavy
    /// for its class's share of the budget, or arriving while the watermark sheds, is
    /// refused (counted) and handed back through `too_heavy` / `shed`. Otherwise
    /// returns the job with its weight and class index.
    #[inline]
    pub(crate) fn precheck<W: Work, E>(
        &self,
        job: W,
        too_heavy: impl FnOnce(W) -> E,
        shed: impl FnOnce(W) -> E,
    ) -> Result<(W, usize, usize), E> {
        let weight = job.weight();
        let class = self.class_of(&job);
        if !self.fits(weight, class) {
            self.refuse(RefuseReason::TooHeavy, weight);
            return Err(too_heavy(job));
        }
        if self.shed(weight) {
            return Err(shed(job));
        }
        Ok((job, weight, class))
    }

    /// The class index of a job.
    #[track_caller]
    pub(crate) fn class_of<W: Work>(&self, job: &W) -> usize {
        match job.class() {
            None => self.default_class,
            Some(class) => {
                let ours = self
                    .classes
                    .get(class.index)
                    .is_some_and(|spec| spec.name == class.name);
                assert!(ours, "{class:?} is not a class of this pool");
                class.index
            }
        }
    }

    pub(crate) fn class_id(&self, index: usize) -> ClassId {
        ClassId {
            index,
            name: self.classes[index].name,
        }
    }

    pub(crate) fn now(&self) -> Option<Instant> {
        self.observer.as_ref().map(|_| Instant::now())
    }

    /// Builds the queue entry for `job` and pushes it with `push`. Called with a
    /// queue slot held (or, for eviction, with the evicted job's slot to take over);
    /// no await happens between winning the slot and pushing.
    fn admit<W, R>(
        self: &Arc<Self>,
        job: W,
        push: impl FnOnce(&Queue, &Counters, &mut dyn FnMut(JobId) -> Entry) -> R,
    ) -> (R, Option<JobHandle<W::Output>>, Option<W>)
    where
        W: Work,
        R: AdmitResult,
    {
        let (result, handle, prepared) = self.admit_prepared(self.prepare(job), push);
        (result, handle, prepared.map(Prepared::into_work))
    }

    /// Builds what a queue entry for `job` needs, outside the queue lock.
    fn prepare<W: Work>(self: &Arc<Self>, job: W) -> Prepared<W> {
        let weight = job.weight();
        let timeout = self.timeout_for(job.timeout());
        // The job's span (created when it starts, at debug level) is a child of the
        // submitter's; skip looking that up when it could not be recorded anyway.
        let span = if tracing::level_enabled!(tracing::Level::DEBUG) {
            Some(Span::current())
                .filter(|span| !span.is_none())
                .map(Box::new)
        } else {
            None
        };
        // An already boxed future with nothing to carry beside it runs from its
        // cell (see `crate::hosted`): one allocation a job instead of two.
        let job = if timeout.is_none() && span.is_none() {
            match self.host(job) {
                Ok(cell) => {
                    return Prepared {
                        task: None,
                        cell,
                        weight,
                    };
                }
                Err(job) => job,
            }
        } else {
            job
        };
        let cell = Arc::new(Cell::new(Arc::downgrade(self), None));
        let meta = Meta {
            timeout,
            enqueued_at: None,
            span,
        };
        Prepared {
            task: Some(Box::pin(Task::new(job, cell.clone(), meta))),
            cell,
            weight,
        }
    }

    /// The cell of `job` hosting it, if it is an already boxed future and the pool
    /// has no observer (see `crate::hosted`); otherwise gives the job back. The
    /// caller has checked that the job has no run timeout or parent span to carry.
    // Forced: out of line, the job and the cell go through a `Result` (~40
    // instructions a keyed job, callgrind).
    #[inline(always)]
    fn host<W: Work>(self: &Arc<Self>, job: W) -> Result<Arc<Cell<W::Output>>, W> {
        let mut job = Some(job);
        if self.observer.is_none() {
            let boxed: &mut dyn Any = &mut job;
            if let Some(future) = boxed.downcast_mut::<Option<BoxFuture<W::Output>>>() {
                let future = future.take();
                // Empty now: skip its drop glue (the compiler cannot see through
                // the downcast).
                std::mem::forget(job);
                return Ok(Arc::new(Cell::new(Arc::downgrade(self), future)));
            }
            // A plain future (`async { .. }`): boxed here, as the caller would
            // have, and started as is.
            if W::IS_FUTURE && TypeId::of::<W>() == TypeId::of::<W::Future>() {
                let job: Box<dyn Any + Send> =
                    Box::new(job.take().expect("job taken before it was hosted"));
                let future = job
                    .downcast::<W::Future>()
                    .expect("a plain-future job is its own future");
                return Ok(Arc::new(Cell::new_plain(Arc::downgrade(self), future)));
            }
        }
        Err(job.expect("job taken before it was hosted"))
    }

    /// [`enqueue`](Self::enqueue) of a job that [`prepare`](Self::prepare) would
    /// host (no run timeout, observer or recordable parent span): its cell is
    /// built and pushed directly, without the general admission's bookkeeping.
    fn enqueue_hosted<W: Work>(
        self: &Arc<Self>,
        cell: Arc<Cell<W::Output>>,
        weight: usize,
        class: usize,
    ) -> Result<JobHandle<W::Output>, W> {
        let pushed = self.queue.push(&self.counters, class, |id| Entry {
            id,
            weight,
            task: Job::Hosted(Hosted::new(cell.clone())),
            slot: 0,
            class: 0,
        });
        match pushed {
            Some(Admitted { id, slot }) => {
                tracing::trace!(job.id = id.0, job.weight = weight, "job submitted");
                Ok(JobHandle::new(cell, id, slot))
            }
            None => {
                self.release_slot();
                self.refuse(RefuseReason::Closed, weight);
                let prepared = Prepared::<W> {
                    task: None,
                    cell,
                    weight,
                };
                Err(prepared.into_work())
            }
        }
    }

    /// Pushes the prepared entry with `push`; hands it back if it was not pushed,
    /// for another try or to give the job back.
    fn admit_prepared<W, R>(
        self: &Arc<Self>,
        prepared: Prepared<W>,
        push: impl FnOnce(&Queue, &Counters, &mut dyn FnMut(JobId) -> Entry) -> R,
    ) -> Admission<R, W>
    where
        W: Work,
        R: AdmitResult,
    {
        let Prepared {
            mut task,
            cell,
            weight,
        } = prepared;
        if let (Some(now), Some(task)) = (self.now(), task.as_mut()) {
            task.as_mut().set_enqueued_at(now);
        }
        // Moved into the entry only if it is pushed.
        let mut built = false;
        let mut make = |id| {
            built = true;
            let task = match task.take() {
                Some(task) => Job::Task(task),
                None => Job::Hosted(Hosted::new(cell.clone())),
            };
            Entry {
                id,
                weight,
                task,
                slot: 0,
                class: 0,
            }
        };
        let result = push(&self.queue, &self.counters, &mut make);
        match (result.admitted(), built) {
            (Some(Admitted { id, slot }), true) => {
                if let Some(observer) = &self.observer {
                    observer.on_submit(&Submitted { id, weight });
                }
                tracing::trace!(job.id = id.0, job.weight = weight, "job submitted");
                (result, Some(JobHandle::new(cell, id, slot)), None)
            }
            (_, false) => (result, None, Some(Prepared { task, cell, weight })),
            (None, true) => unreachable!("entry built but not queued"),
        }
    }

    /// Enqueues unkeyed `job` into `class`, in the slot the caller holds; gives the
    /// job back (and frees the slot) if the queue closed meanwhile.
    pub(crate) fn enqueue<W: Work>(
        self: &Arc<Self>,
        job: W,
        class: usize,
    ) -> Result<JobHandle<W::Output>, W> {
        let weight = job.weight();
        // The commonest job first: an already boxed future with nothing to carry.
        let hostable = self.timeout_for(job.timeout()).is_none()
            && !(tracing::level_enabled!(tracing::Level::DEBUG) && !Span::current().is_none());
        let job = if hostable {
            match self.host(job) {
                Ok(cell) => return self.enqueue_hosted::<W>(cell, weight, class),
                Err(job) => job,
            }
        } else {
            job
        };
        let (_, handle, job) = self.admit(job, |queue, counters, make| {
            queue.push(counters, class, make)
        });
        match (handle, job) {
            (Some(handle), _) => Ok(handle),
            (None, Some(job)) => {
                self.release_slot();
                self.refuse(RefuseReason::Closed, weight);
                Err(job)
            }
            (None, None) => unreachable!(),
        }
    }

    fn release_slot(&self) {
        let released = self.queue.slots().decrement();
        debug_assert!(released.is_ok(), "queue slot count out of step");
    }

    pub(crate) fn try_submit<W: Work>(
        self: &Arc<Self>,
        job: W,
    ) -> Result<JobHandle<W::Output>, TrySubmitError<W>> {
        let (job, weight, class) =
            self.precheck(job, TrySubmitError::TooHeavy, TrySubmitError::Shed)?;
        match self.queue.slots().try_increment() {
            Ok(()) => self.enqueue(job, class).map_err(TrySubmitError::Closed),
            Err(TryAcquireError::Closed) => {
                self.refuse(RefuseReason::Closed, weight);
                Err(TrySubmitError::Closed(job))
            }
            Err(_) if self.overflow == Overflow::EvictOldest => self.enqueue_evicting(job, class),
            Err(_) => {
                self.refuse(RefuseReason::Full, weight);
                Err(TrySubmitError::Full(job))
            }
        }
    }

    fn enqueue_evicting<W: Work>(
        self: &Arc<Self>,
        job: W,
        class: usize,
    ) -> Result<JobHandle<W::Output>, TrySubmitError<W>> {
        let weight = job.weight();
        let (result, handle, job) = self.admit(job, |queue, counters, make| {
            queue.push_evicting(counters, class, make)
        });
        match (result, handle, job) {
            (Ok((_, evicted)), Some(handle), _) => {
                self.discard(evicted, DropReason::Evicted);
                Ok(handle)
            }
            (Err(EvictError::Closed), _, Some(job)) => {
                self.refuse(RefuseReason::Closed, weight);
                Err(TrySubmitError::Closed(job))
            }
            (Err(EvictError::Empty), _, Some(job)) => {
                self.refuse(RefuseReason::Full, weight);
                Err(TrySubmitError::Full(job))
            }
            _ => unreachable!("eviction result and job out of step"),
        }
    }

    /// Counts, observes and traces a refused submission.
    pub(crate) fn refuse(&self, reason: RefuseReason, weight: usize) {
        self.counters.refused(reason);
        if let Some(observer) = &self.observer {
            observer.on_refuse(&Refused { reason, weight });
        }
        tracing::debug!(reason = reason.as_str(), job.weight = weight, "job refused");
    }

    /// Ends a job that never started.
    pub(crate) fn discard(&self, mut entry: Entry, reason: DropReason) {
        let error = match reason {
            DropReason::Cancelled => JobError::Cancelled,
            DropReason::Evicted | DropReason::Closed => JobError::Dropped,
        };
        entry.task.abandon(error);
        self.counters.dropped(reason);
        if let Some(observer) = &self.observer {
            let queue_wait = entry
                .task
                .meta()
                .enqueued_at
                .map_or(Duration::ZERO, |t| t.elapsed());
            observer.on_drop(&Dropped {
                id: entry.id,
                reason,
                queue_wait,
            });
        }
        tracing::debug!(
            job.id = entry.id.0,
            reason = reason.as_str(),
            "job dropped before it started"
        );
        entry.task.publish();
    }

    /// A handle's `cancel`: takes the job out of the queue if it is still there.
    pub(crate) fn cancel_queued(&self, id: JobId, slot: u32) {
        if let Some(entry) = self.queue.remove(id, slot) {
            self.discard(entry, DropReason::Cancelled);
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Only reachable with jobs still queued if the worker tasks were dropped
        // (runtime shutdown): resolve their handles and keep the counts whole.
        for entry in self.queue.drain() {
            self.discard(entry, DropReason::Closed);
        }
    }
}

/// What a queue push reports, so [`Shared::admit`] can tell whether it took the job.
trait AdmitResult {
    fn admitted(&self) -> Option<Admitted>;
}

impl AdmitResult for Option<Admitted> {
    fn admitted(&self) -> Option<Admitted> {
        *self
    }
}

impl AdmitResult for Result<(Admitted, Entry), EvictError> {
    fn admitted(&self) -> Option<Admitted> {
        self.as_ref().ok().map(|(admitted, _)| *admitted)
    }
}

impl AdmitResult for KeyedPush {
    fn admitted(&self) -> Option<Admitted> {
        match self {
            Self::Pushed(admitted) | Self::Evicted(admitted, _) => Some(*admitted),
            Self::Full | Self::Closed | Self::Wait(..) => None,
        }
    }
}

/// What [`Shared::admit_prepared`] did: the push's result, and either the handle
/// (pushed) or the entry back (not pushed).
type Admission<R, W> = (
    R,
    Option<JobHandle<<W as Work>::Output>>,
    Option<Prepared<W>>,
);

/// A queue entry built outside the lock, not pushed yet: a task, or (`None`) a
/// future hosted in the cell.
struct Prepared<W: Work> {
    task: Option<Pin<Box<Task<W>>>>,
    cell: Arc<Cell<W::Output>>,
    weight: usize,
}

impl<W: Work> Prepared<W> {
    /// Takes the work back out (the entry was never queued).
    fn into_work(self) -> W {
        match self.task {
            Some(mut task) => task.as_mut().take_work(),
            None => {
                if let Some(job) = self.cell.take_plain() {
                    return *job.downcast::<W>().expect("a plain-future job is its work");
                }
                let mut future = self.cell.take_future();
                let work: &mut dyn Any = &mut future;
                work.downcast_mut::<Option<W>>()
                    .and_then(Option::take)
                    .expect("a hosted job is a boxed future")
            }
        }
    }
}

/// Spends a unit of tokio's cooperative budget, as the queue's waits do (yielding,
/// holding nothing, once the task's budget is spent): a loop that submits while
/// there is room still lets its runtime's other tasks run.
pub(crate) async fn spend_budget_unit() {
    std::future::poll_fn(|cx| {
        tokio::task::coop::poll_proceed(cx).map(|restore| restore.made_progress())
    })
    .await;
}

/// What [`Shared::submit_for_now`] did.
pub(crate) enum KeyedSubmit<'a, W: Work> {
    Pushed(JobHandle<W::Output>),
    /// Refused (and counted), with the reason; the job comes back.
    Refused(RefuseReason, W),
    /// The key's queue is full: its state is pinned for the submitter to wait.
    Full(KeyedWait<'a, W>),
}

/// A keyed submitter about to wait for room: the key's pinned state (unpinned if
/// this is dropped), the latch to wait on and the entry it built.
pub(crate) struct KeyedWait<'a, W: Work> {
    pinned: Pinned<'a>,
    latch: Arc<Latch>,
    prepared: Prepared<W>,
    weight: usize,
}

/// Unpins a keyed submitter's key state if its wait is dropped.
struct Pinned<'a> {
    shared: &'a Shared,
    slot: Option<u32>,
}

impl Pinned<'_> {
    fn disarm(&mut self) -> u32 {
        self.slot.take().expect("pin disarmed twice")
    }
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.shared.queue.unpin(slot, false);
        }
    }
}

impl Shared {
    /// `try_submit_for`: pushes if `key`'s queue has room, else applies the
    /// overflow policy to that key's queue.
    pub(crate) fn try_submit_for<K, W>(
        self: &Arc<Self>,
        key: K,
        job: W,
    ) -> Result<JobHandle<W::Output>, TrySubmitError<W>>
    where
        K: Hash + Eq + Send + Sync + 'static,
        W: Work,
    {
        let (job, weight, class) =
            self.precheck(job, TrySubmitError::TooHeavy, TrySubmitError::Shed)?;
        let when_full = match self.overflow {
            Overflow::EvictOldest => WhenFull::Evict,
            Overflow::RejectNewest => WhenFull::Refuse,
        };
        let (pushed, handle, job) = self.admit(job, |queue, counters, make| {
            queue.push_keyed(counters, class, key, when_full, make)
        });
        match (pushed, handle, job) {
            (KeyedPush::Pushed(_), Some(handle), None) => Ok(handle),
            (KeyedPush::Evicted(_, evicted), Some(handle), None) => {
                self.discard(evicted, DropReason::Evicted);
                Ok(handle)
            }
            (KeyedPush::Full, None, Some(job)) => {
                self.refuse(RefuseReason::Full, weight);
                Err(TrySubmitError::Full(job))
            }
            (KeyedPush::Closed, None, Some(job)) => {
                self.refuse(RefuseReason::Closed, weight);
                Err(TrySubmitError::Closed(job))
            }
            _ => unreachable!("keyed push result and job out of step"),
        }
    }

    /// The first step of the waiting forms of `submit_for`, which does not wait:
    /// pushes if `key`'s queue has room, refuses (counted), or pins the key for a
    /// submitter to wait for room with [`wait_for_room`](Self::wait_for_room).
    /// Kept out of the waiting future, so that a push with room (the common case)
    /// does not build it.
    pub(crate) fn submit_for_now<K, W>(self: &Arc<Self>, key: K, job: W) -> KeyedSubmit<'_, W>
    where
        K: Hash + Eq + Send + Sync + 'static,
        W: Work,
    {
        let (job, weight, class) = match self.precheck(
            job,
            |job| (RefuseReason::TooHeavy, job),
            |job| (RefuseReason::Shed, job),
        ) {
            Ok(checked) => checked,
            Err((reason, job)) => return KeyedSubmit::Refused(reason, job),
        };
        // Prepared once: a submitter that has to wait for room keeps the entry
        // it built, rather than building it again.
        let prepared = self.prepare(job);
        let (pushed, handle, prepared) = self.admit_prepared(prepared, |queue, counters, make| {
            queue.push_keyed(counters, class, key, WhenFull::Wait, make)
        });
        match (pushed, handle, prepared) {
            (KeyedPush::Pushed(_), Some(handle), None) => KeyedSubmit::Pushed(handle),
            (KeyedPush::Closed, None, Some(prepared)) => {
                self.refuse(RefuseReason::Closed, weight);
                KeyedSubmit::Refused(RefuseReason::Closed, prepared.into_work())
            }
            (KeyedPush::Wait(slot, latch), None, Some(prepared)) => KeyedSubmit::Full(KeyedWait {
                pinned: Pinned {
                    shared: self,
                    slot: Some(slot),
                },
                latch,
                prepared,
                weight,
            }),
            _ => unreachable!("keyed push result and job out of step"),
        }
    }

    /// Waits (FIFO) for room in the key's queue that [`submit_for_now`] found full,
    /// unless `give_up` resolves first (with the reason to refuse), then pushes. A
    /// refused job comes back with the reason (already counted).
    ///
    /// [`submit_for_now`]: Self::submit_for_now
    pub(crate) async fn wait_for_room<W: Work>(
        self: &Arc<Self>,
        wait: KeyedWait<'_, W>,
        give_up: impl Future<Output = RefuseReason>,
    ) -> Result<JobHandle<W::Output>, (RefuseReason, W)> {
        let KeyedWait {
            mut pinned,
            latch,
            prepared,
            weight,
        } = wait;
        let won = tokio::select! {
            biased;
            reason = give_up => Err(reason),
            room = latch.increment() => room.map_err(|_| RefuseReason::Closed),
        };
        let slot = pinned.disarm();
        if let Err(reason) = won {
            self.queue.unpin(slot, true);
            self.refuse(reason, weight);
            return Err((reason, prepared.into_work()));
        }
        let (_, handle, prepared) = self.admit_prepared(prepared, |queue, counters, make| {
            queue.push_pinned(counters, slot, make)
        });
        match (handle, prepared) {
            (Some(handle), None) => Ok(handle),
            (None, Some(prepared)) => {
                self.refuse(RefuseReason::Closed, weight);
                Err((RefuseReason::Closed, prepared.into_work()))
            }
            _ => unreachable!("pinned push result and job out of step"),
        }
    }
}
