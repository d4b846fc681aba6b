//! A randomized soak test on a two-worker runtime: many tasks with random weights,
//! random cancellation (timeouts, `select!` drops), a controller moving the ceiling up
//! and down, and a close at the end. Checks that what is held never exceeds the
//! ceiling outside documented debt, and that no permit leaks.
//!
//! Replays from its seed: `WEIR_SOAK_SEED=<n> cargo test -p weir-core --test
//! semaphore_soak`.

#![cfg(not(loom))]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use common::XorShift;
use tokio::task::{JoinSet, yield_now};
use weir_core::{AcquireError, Semaphore, TryAcquireError};

const MAX_WEIGHT: usize = 4;
const MAX_CEILING: usize = 10;
/// The ceiling set before the close: every weight fits, so every task progresses.
const FINAL_CEILING: usize = 6;

struct Scale {
    tasks: usize,
    iterations: usize,
    changes: usize,
}

const SCALE: Scale = if cfg!(miri) {
    Scale {
        tasks: 8,
        iterations: 16,
        changes: 24,
    }
} else {
    Scale {
        tasks: 48,
        iterations: 150,
        changes: 400,
    }
};

/// An upper bound on the permits held, maintained by the controller (the only task
/// that moves the ceiling) and read seqlock-style: `epoch` is odd while it changes.
///
/// Raising: the bound goes up *before* the ceiling does. Lowering: the ceiling goes
/// down first; the bound follows only once the controller has seen in-use at or
/// below the new ceiling (the debt is repaid), because from then on every grant must
/// fit under it.
struct Bound {
    epoch: AtomicUsize,
    value: AtomicUsize,
}

impl Bound {
    fn set(&self, value: usize) {
        self.epoch.fetch_add(1, SeqCst);
        self.value.store(value, SeqCst);
        self.epoch.fetch_add(1, SeqCst);
    }

    /// Asserts `active <= bound` if the bound did not move while both were read.
    #[track_caller]
    fn check(&self, active: &AtomicUsize, seed: u64) {
        let before = self.epoch.load(SeqCst);
        let bound = self.value.load(SeqCst);
        let now = active.load(SeqCst);
        let after = self.epoch.load(SeqCst);
        if before == after && before % 2 == 0 {
            assert!(
                now <= bound,
                "seed {seed}: {now} permits active, bound {bound}"
            );
        }
    }
}

struct Shared {
    sem: Arc<Semaphore>,
    /// Weight of the permits tasks are using: raised after a grant, lowered before the
    /// release, so it never exceeds what the semaphore has handed out.
    active: AtomicUsize,
    bound: Bound,
    seed: u64,
}

impl Shared {
    /// Marks `w` permits as in use, checks the bound, yields a random number of
    /// times while "working", then marks them unused. The caller releases them.
    async fn work(&self, w: usize, rng: &mut XorShift) {
        self.active.fetch_add(w, SeqCst);
        self.bound.check(&self.active, self.seed);
        for _ in 0..rng.range(0, 2) {
            yield_now().await;
        }
        self.bound.check(&self.active, self.seed);
        self.active.fetch_sub(w, SeqCst);
    }
}

/// Returns `false` once the semaphore is closed.
async fn one_round(shared: &Arc<Shared>, rng: &mut XorShift) -> bool {
    let sem = &shared.sem;
    let w = rng.range(1, MAX_WEIGHT);
    match rng.range(0, 7) {
        // Plain acquire.
        0 | 1 => match sem.acquire_many(w).await {
            Ok(p) => {
                shared.work(w, rng).await;
                drop(p);
            }
            Err(AcquireError::Closed) => return false,
            Err(e) => panic!("seed {}: unexpected {e}", shared.seed),
        },
        // Acquire under a tiny timeout: cancelled while queued or after the grant.
        2 => {
            let limit = Duration::from_micros(rng.range(0, 40) as u64);
            match tokio::time::timeout(limit, sem.acquire_many(w)).await {
                Ok(Ok(p)) => {
                    shared.work(w, rng).await;
                    drop(p);
                }
                Ok(Err(_)) => return false,
                Err(_elapsed) => {}
            }
        }
        // Dropped by `select!` after a poll or two.
        3 => {
            let acquired = tokio::select! {
                biased;
                p = sem.acquire_many(w) => Some(p),
                () = yield_now() => None,
            };
            match acquired {
                Some(Ok(p)) => {
                    shared.work(w, rng).await;
                    drop(p);
                }
                Some(Err(_)) => return false,
                None => {}
            }
        }
        // try_acquire.
        4 => match sem.try_acquire_many(w) {
            Ok(p) => {
                shared.work(w, rng).await;
                drop(p);
            }
            Err(TryAcquireError::Closed) => return false,
            Err(_) => yield_now().await,
        },
        // Owned permit handed to another task, released there in two parts.
        5 => match sem.clone().acquire_many_owned(w).await {
            Ok(mut p) => {
                let shared = shared.clone();
                let mut rng = XorShift::new(rng.next_u64());
                tokio::spawn(async move {
                    shared.work(w, &mut rng).await;
                    let part = p.split(rng.range(0, w)).unwrap();
                    drop(part);
                    drop(p);
                });
            }
            Err(_) => return false,
        },
        // Two acquires merged, then released at once; or a drain wait with a timeout.
        _ => {
            if rng.one_in(4) {
                let limit = Duration::from_micros(rng.range(0, 40) as u64);
                let _ = tokio::time::timeout(limit, sem.wait_idle()).await;
                return true;
            }
            let Ok(mut a) = sem.acquire_many(1).await else {
                return false;
            };
            shared.work(1, rng).await;
            // Hold `a` while asking for more: another request queues meanwhile.
            let limit = Duration::from_micros(rng.range(0, 40) as u64);
            if let Ok(Ok(b)) = tokio::time::timeout(limit, sem.acquire_many(w)).await {
                a.merge(b);
                shared.work(w + 1, rng).await;
            }
            drop(a);
        }
    }
    true
}

async fn controller(shared: Arc<Shared>, mut rng: XorShift) {
    let sem = &shared.sem;
    let mut bound = sem.capacity();
    for _ in 0..SCALE.changes {
        // A lowering's debt is repaid once in-use is at or below the ceiling.
        let capacity = sem.capacity();
        if bound > capacity && sem.in_use() <= capacity {
            bound = capacity;
            shared.bound.set(bound);
        }
        let next = if rng.one_in(8) {
            0
        } else {
            rng.range(1, MAX_CEILING)
        };
        if next > bound {
            bound = next;
            shared.bound.set(bound);
        }
        sem.set_capacity(next);
        shared.bound.check(&shared.active, shared.seed);
        for _ in 0..rng.range(0, 3) {
            yield_now().await;
        }
    }
    if FINAL_CEILING > bound {
        shared.bound.set(FINAL_CEILING);
    }
    sem.set_capacity(FINAL_CEILING);
}

async fn soak(seed: u64) {
    let sem = Arc::new(Semaphore::new(MAX_CEILING / 2));
    let shared = Arc::new(Shared {
        sem: sem.clone(),
        active: AtomicUsize::new(0),
        bound: Bound {
            epoch: AtomicUsize::new(0),
            value: AtomicUsize::new(MAX_CEILING / 2),
        },
        seed,
    });
    let mut rng = XorShift::new(seed);

    let mut first_half = JoinSet::new();
    let mut second_half = JoinSet::new();
    for i in 0..SCALE.tasks {
        let shared = shared.clone();
        let mut rng = XorShift::new(rng.next_u64());
        let set = if i % 2 == 0 {
            &mut first_half
        } else {
            &mut second_half
        };
        set.spawn(async move {
            for _ in 0..SCALE.iterations {
                if !one_round(&shared, &mut rng).await {
                    return;
                }
            }
        });
    }
    let control = tokio::spawn(controller(shared.clone(), XorShift::new(rng.next_u64())));
    control.await.unwrap();
    // Close while the other half may still be running or queued.
    while let Some(done) = first_half.join_next().await {
        done.unwrap();
    }
    sem.close();
    while let Some(done) = second_half.join_next().await {
        done.unwrap();
    }
    // Permits handed to spawned tasks may still be out: drain them.
    tokio::time::timeout(Duration::from_secs(60), sem.wait_idle())
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: drain never finished"));

    assert!(sem.is_closed());
    assert_eq!(shared.active.load(SeqCst), 0, "seed {seed}");
    assert_eq!(
        (sem.in_use(), sem.available(), sem.capacity()),
        (0, FINAL_CEILING, FINAL_CEILING),
        "seed {seed}: permits leaked"
    );
    assert_eq!(
        (sem.waiters(), sem.waiting_permits()),
        (0, 0),
        "seed {seed}"
    );
}

#[test]
fn soak_random_weights_cancellation_and_ceiling_changes() {
    let seeds: Vec<u64> = match std::env::var("WEIR_SOAK_SEED") {
        Ok(seed) => vec![seed.parse().expect("WEIR_SOAK_SEED must be a u64")],
        Err(_) if cfg!(miri) => vec![1],
        Err(_) => (1..=4).collect(),
    };
    for seed in seeds {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(soak(seed));
    }
}
