//! The semaphores the benches compare, behind one interface, so every shape is
//! written once. Shared by `benches/semaphore.rs` and `benches/semaphore_paired.rs`.

/// The three implementations behind one interface.
pub(crate) trait Sem: Send + Sync + 'static {
    const NAME: &'static str;
    fn new(permits: usize) -> Self;
    fn acquire(&self, n: usize) -> impl Future<Output = impl Send + '_> + Send;
    fn try_acquire(&self) -> Option<impl Sized + '_>;
}

impl Sem for weir::Semaphore {
    const NAME: &'static str = "weir";
    fn new(permits: usize) -> Self {
        weir::Semaphore::new(permits)
    }
    async fn acquire(&self, n: usize) -> impl Send + '_ {
        self.acquire_many(n).await.unwrap()
    }
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        weir::Semaphore::try_acquire(self).ok()
    }
}

impl Sem for tokio::sync::Semaphore {
    const NAME: &'static str = "tokio";
    fn new(permits: usize) -> Self {
        tokio::sync::Semaphore::new(permits)
    }
    async fn acquire(&self, n: usize) -> impl Send + '_ {
        self.acquire_many(n as u32).await.unwrap()
    }
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        tokio::sync::Semaphore::try_acquire(self).ok()
    }
}

impl Sem for async_lock::Semaphore {
    const NAME: &'static str = "async-lock";
    fn new(permits: usize) -> Self {
        async_lock::Semaphore::new(permits)
    }
    async fn acquire(&self, n: usize) -> impl Send + '_ {
        // async-lock has no weighted acquire; only weight 1 is benchmarked for it.
        assert_eq!(n, 1, "async-lock acquires one permit at a time");
        async_lock::Semaphore::acquire(self).await
    }
    fn try_acquire(&self) -> Option<impl Sized + '_> {
        async_lock::Semaphore::try_acquire(self)
    }
}

/// `tasks` tasks each acquire (weight `weight(task + round)`) and release `rounds`
/// times on `sem`, yielding while they hold; returns when all are done.
pub(crate) async fn contend<S: Sem>(
    sem: std::sync::Arc<S>,
    tasks: usize,
    rounds: usize,
    weight: fn(usize) -> usize,
) {
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let sem = sem.clone();
            tokio::spawn(async move {
                for round in 0..rounds {
                    let permit = sem.acquire(weight(task + round)).await;
                    tokio::task::yield_now().await;
                    drop(permit);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}
