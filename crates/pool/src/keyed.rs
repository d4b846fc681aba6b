//! The keyed side of [`Pool`]: submitting for a key (a tenant), each key's
//! statistics and share, and the classes keys are scheduled in.

use std::{future::Future, hash::Hash, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    error::{SubmitCancelledError, SubmitError, SubmitTimeoutError, TrySubmitError},
    handle::JobHandle,
    job::Work,
    observer::RefuseReason,
    pool::Pool,
    shared::{KeyedSubmit, spend_budget_unit},
    tenant::{ClassId, KeyStats},
};

impl Pool {
    /// Submits a job for `key` (a tenant: any `Hash + Eq` value), waiting (FIFO,
    /// behind earlier waiting submitters for the same key) for room in that key's
    /// queue.
    ///
    /// # Fair scheduling
    ///
    /// Each key has its own queue of [`key_capacity`](crate::Builder::key_capacity)
    /// jobs; workers and the weight budget are shared. Within a
    /// [class](crate::Builder::class), workers serve the keys with queued jobs by
    /// **deficit round robin measured in job weight**: each key, in turn, may start
    /// jobs worth up to its [share](Self::set_share) (default 1) per round (a job
    /// of weight 0 counts as 1 here, so it cannot hold the turn forever), and
    /// saves what it did not use while it stays busy. Over any stretch in which a
    /// set of keys stays backlogged, the weight each starts is proportional to its
    /// share, within one job's weight per key. So a key that floods the pool gets
    /// its share and no more, and a light key waits at most about one round for its
    /// next job, however deep the flooding key's queue is. Jobs of one key start in
    /// submission order; a heavy job at a key's head waits for its weight rather
    /// than letting lighter jobs pass it.
    ///
    /// Unkeyed jobs ([`submit`](Self::submit) and friends) form one more queue in
    /// the round, of capacity [`queue_capacity`](crate::Builder::queue_capacity).
    ///
    /// A key has state in the pool only while it has jobs queued or running, or a
    /// submitter waiting for room; an idle key costs nothing (each class keeps
    /// the state of at most 32 recently idle keys, for reuse), so a stream of
    /// distinct keys does not grow the pool. Keys of different types never compare
    /// equal (`1_u32` and `1_u64` are two keys). Keys are hashed before the queue
    /// lock is taken, with std's randomly seeded SipHash
    /// ([`RandomState`](std::hash::RandomState)), so keys taken from untrusted
    /// input cannot be chosen to collide. The key's `Eq` and `Drop` (and its
    /// `Hash`, when a new key is looked up among the [shares](Self::set_share))
    /// run under the pool's queue lock: keep them cheap and panic-free.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit): the job comes back inside the error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. If the future is dropped before it completes, the job is dropped
    /// with it and never queued, and no room is taken.
    ///
    /// # Panics
    ///
    /// Panics if the job names a class ([`Job::class`](crate::Job::class)) that is
    /// not from this pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(2).key_capacity(16).build().unwrap();
    /// let a = pool.submit_for("tenant-a", async { 1 }).await.unwrap();
    /// let b = pool.submit_for(42_u64, async { 2 }).await.unwrap();
    /// assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
    /// assert_eq!(pool.stats().completed, 2);
    /// # }
    /// ```
    #[expect(
        clippy::manual_async_fn,
        reason = "the named `Send` bound keeps boxed `dyn Future` jobs submittable from `tokio::spawn`"
    )]
    pub fn submit_for<K, W>(
        &self,
        key: K,
        job: W,
    ) -> impl Future<Output = Result<JobHandle<W::Output>, SubmitError<W>>> + Send
    where
        K: Hash + Eq + Send + Sync + 'static,
        W: Work,
    {
        // `Send` named for the same reason as `submit`.
        async move {
            self.submit_for_or(key, job, std::future::pending)
                .await
                .map_err(|(reason, job)| match reason {
                    RefuseReason::TooHeavy => SubmitError::TooHeavy(job),
                    RefuseReason::Shed => SubmitError::Shed(job),
                    _ => SubmitError::Closed(job),
                })
        }
    }

    /// Submits a job for `key` if that key's queue has room now, without waiting.
    /// A full key queue refuses only this key's job; with
    /// [`Overflow::EvictOldest`](crate::Overflow::EvictOldest) it drops that key's
    /// oldest queued job instead. See [`submit_for`](Self::submit_for) for the
    /// scheduling.
    ///
    /// # Errors
    ///
    /// As [`try_submit`](Self::try_submit), about the key's queue. The job comes
    /// back inside the error.
    ///
    /// # Panics
    ///
    /// As [`submit_for`](Self::submit_for).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).key_capacity(1).build().unwrap();
    /// pool.try_submit_for("noisy", async {}).unwrap();
    /// let err = pool.try_submit_for("noisy", async { 7 }).unwrap_err();
    /// assert!(err.is_full());
    /// assert_eq!(err.into_inner().await, 7); // handed back
    /// assert!(pool.try_submit_for("quiet", async {}).is_ok()); // untouched
    /// # }
    /// ```
    pub fn try_submit_for<K, W>(
        &self,
        key: K,
        job: W,
    ) -> Result<JobHandle<W::Output>, TrySubmitError<W>>
    where
        K: Hash + Eq + Send + Sync + 'static,
        W: Work,
    {
        self.shared().try_submit_for(key, job)
    }

    /// Like [`submit_for`](Self::submit_for), but gives up if no room comes free in
    /// the key's queue within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`submit_timeout`](Self::submit_timeout). The job comes back inside.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`submit_for`](Self::submit_for).
    ///
    /// # Panics
    ///
    /// As [`submit_for`](Self::submit_for).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).key_capacity(1).build().unwrap();
    /// pool.try_submit_for("a", std::future::pending::<()>()).unwrap();
    /// tokio::task::yield_now().await; // running
    /// pool.try_submit_for("a", async {}).unwrap(); // "a"'s queue is full
    /// let err = pool.submit_for_timeout("a", async {}, Duration::from_millis(5)).await;
    /// assert!(err.unwrap_err().is_timeout());
    /// assert_eq!(pool.key_stats(&"a").unwrap().refused, 1);
    /// # }
    /// ```
    #[expect(
        clippy::manual_async_fn,
        reason = "the named `Send` bound keeps boxed `dyn Future` jobs submittable from `tokio::spawn`"
    )]
    pub fn submit_for_timeout<K, W>(
        &self,
        key: K,
        job: W,
        timeout: Duration,
    ) -> impl Future<Output = Result<JobHandle<W::Output>, SubmitTimeoutError<W>>> + Send
    where
        K: Hash + Eq + Send + Sync + 'static,
        W: Work,
    {
        // `Send` named for the same reason as `submit`.
        async move {
            let expired = || async move {
                tokio::time::sleep(timeout).await;
                RefuseReason::Timeout
            };
            self.submit_for_or(key, job, expired)
                .await
                .map_err(|(reason, job)| match reason {
                    RefuseReason::TooHeavy => SubmitTimeoutError::TooHeavy(job),
                    RefuseReason::Shed => SubmitTimeoutError::Shed(job),
                    RefuseReason::Timeout => SubmitTimeoutError::Timeout(job),
                    _ => SubmitTimeoutError::Closed(job),
                })
        }
    }

    /// Like [`submit_for`](Self::submit_for), but gives up when `token` is
    /// cancelled before room comes free in the key's queue. A token already
    /// cancelled refuses at once, even if there is room.
    ///
    /// # Errors
    ///
    /// As [`submit_cancellable`](Self::submit_cancellable). The job comes back
    /// inside.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`submit_for`](Self::submit_for).
    ///
    /// # Panics
    ///
    /// As [`submit_for`](Self::submit_for).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_util::sync::CancellationToken;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// let request = CancellationToken::new();
    /// let handle = pool.submit_for_cancellable("a", async { 1 }, &request).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), 1);
    /// request.cancel();
    /// let err = pool.submit_for_cancellable("a", async { 2 }, &request).await.unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    #[expect(
        clippy::manual_async_fn,
        reason = "the named `Send` bound keeps boxed `dyn Future` jobs submittable from `tokio::spawn`"
    )]
    pub fn submit_for_cancellable<K, W>(
        &self,
        key: K,
        job: W,
        token: &CancellationToken,
    ) -> impl Future<Output = Result<JobHandle<W::Output>, SubmitCancelledError<W>>> + Send
    where
        K: Hash + Eq + Send + Sync + 'static,
        W: Work,
    {
        // `Send` named for the same reason as `submit`.
        async move {
            let shared = self.shared();
            if token.is_cancelled() {
                let weight = job.weight();
                shared.refuse(RefuseReason::Cancelled, weight);
                return Err(SubmitCancelledError::Cancelled(job));
            }
            let cancelled = || async move {
                token.cancelled().await;
                RefuseReason::Cancelled
            };
            self.submit_for_or(key, job, cancelled)
                .await
                .map_err(|(reason, job)| match reason {
                    RefuseReason::TooHeavy => SubmitCancelledError::TooHeavy(job),
                    RefuseReason::Shed => SubmitCancelledError::Shed(job),
                    RefuseReason::Cancelled => SubmitCancelledError::Cancelled(job),
                    _ => SubmitCancelledError::Closed(job),
                })
        }
    }

    /// The counters of `key` while it is live (it has jobs queued or running, or a
    /// submitter waiting for room), summed over the classes it has jobs in; `None`
    /// once it is idle and its state has been reclaimed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// let handle = pool.submit_for("acme", async {}).await.unwrap();
    /// assert_eq!(pool.key_stats(&"acme").unwrap().accepted, 1);
    /// handle.await.unwrap();
    /// assert!(pool.key_stats(&"acme").is_none());
    /// # }
    /// ```
    pub fn key_stats<K>(&self, key: &K) -> Option<KeyStats>
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        self.shared().queue.key_stats(key)
    }

    /// Sets `key`'s share: the weight it may start per round of the deficit round
    /// robin, relative to the other keys of its class (default 1). A key with share
    /// 3 gets three times the throughput, in weight, of a key with share 1 while
    /// both are backlogged. Applies at once to the key's live state and to its
    /// future states; setting 1 forgets the key. The pool remembers every key with
    /// a share other than 1, so set shares for a bounded set of keys.
    ///
    /// # Panics
    ///
    /// Panics if `share` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().workers(1).build().unwrap();
    /// pool.set_share("premium", 4);
    /// let handle = pool.submit_for("premium", async {}).await.unwrap();
    /// assert_eq!(pool.key_stats(&"premium").unwrap().share, 4);
    /// handle.await.unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn set_share<K>(&self, key: K, share: u32)
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        assert!(share > 0, "a key's share must be at least 1");
        self.shared().queue.set_share(Arc::new(key), share);
    }

    /// The class declared with `name` ([`Builder::class`](crate::Builder::class)),
    /// to put jobs in with [`Job::class`](crate::Job::class).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().budget(2).class("critical", 1).build().unwrap();
    /// assert_eq!(pool.class("critical").unwrap().name(), "critical");
    /// assert!(pool.class("default").is_none()); // only exists without declarations
    /// # }
    /// ```
    pub fn class(&self, name: &str) -> Option<ClassId> {
        let shared = self.shared();
        let index = shared.classes.iter().position(|spec| spec.name == name)?;
        Some(shared.class_id(index))
    }

    /// The class of jobs that name none.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = weir_pool::Pool::builder().class("a", 0).class("b", 0).build().unwrap();
    /// assert_eq!(pool.default_class(), pool.class("b").unwrap());
    /// # }
    /// ```
    pub fn default_class(&self) -> ClassId {
        let shared = self.shared();
        shared.class_id(shared.default_class)
    }

    /// The weight of the running jobs of `class`.
    ///
    /// # Panics
    ///
    /// Panics if `class` is not from this pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_pool::{Job, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).budget(4).build().unwrap();
    /// let class = pool.default_class();
    /// let job = pool.submit(Job::new(std::future::pending::<()>()).weight(3)).await.unwrap();
    /// tokio::task::yield_now().await;
    /// assert_eq!(pool.class_in_use(class), 3);
    /// job.cancel();
    /// # for _ in 0..4 { tokio::task::yield_now().await; }
    /// assert_eq!(pool.class_in_use(class), 0);
    /// # }
    /// ```
    #[track_caller]
    pub fn class_in_use(&self, class: ClassId) -> usize {
        let shared = self.shared();
        let ours = shared
            .classes
            .get(class.index)
            .is_some_and(|spec| spec.name == class.name);
        assert!(ours, "{class:?} is not a class of this pool");
        shared
            .queue
            .class_in_use(class.index)
            .unwrap_or_else(|| shared.budget.in_use())
    }
}

impl Pool {
    /// The waiting forms of `submit_for`: pushes at once if `key`'s queue has room,
    /// else waits for room unless the future that `give_up` builds (only then)
    /// resolves first, with the reason to refuse. Either way it first spends a
    /// unit of tokio's cooperative budget, as `submit` does. A refused job comes
    /// back with the reason (already counted).
    async fn submit_for_or<K, W, G>(
        &self,
        key: K,
        job: W,
        give_up: impl FnOnce() -> G,
    ) -> Result<JobHandle<W::Output>, (RefuseReason, W)>
    where
        K: Hash + Eq + Send + Sync + 'static,
        W: Work,
        G: Future<Output = RefuseReason>,
    {
        spend_budget_unit().await;
        let shared = self.shared();
        match shared.submit_for_now(key, job) {
            KeyedSubmit::Pushed(handle) => Ok(handle),
            KeyedSubmit::Refused(reason, job) => Err((reason, job)),
            KeyedSubmit::Full(wait) => shared.wait_for_room(wait, give_up()).await,
        }
    }
}
