//! loom models of the semaphore engine and the latch: every interleaving (up to the
//! preemption bound) of a few racing operations, each model asserting a bound and
//! that every permit is accounted for afterwards. A future that is never woken makes
//! loom report a deadlock, so "completes" is checked too.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weir-core --release --lib loom
//! ```

use std::{
    future::Future,
    pin::{Pin, pin},
    // `std`'s `Arc`: the owned permits hold one. Reference counts need no modelling.
    sync::Arc,
    task::{Context, Poll, Waker},
};

use loom::{
    future::block_on,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    thread,
};

use crate::{AcquireError, Latch, Semaphore, TryAcquireError};

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// `(capacity, in_use, available, waiters, waiting_permits)`.
fn books(sem: &Semaphore) -> (usize, usize, usize, usize, usize) {
    (
        sem.capacity(),
        sem.in_use(),
        sem.available(),
        sem.waiters(),
        sem.waiting_permits(),
    )
}

/// Uses `w` permits: the active weight never exceeds `bound`.
fn hold(active: &AtomicUsize, w: usize, bound: usize) {
    let now = active.fetch_add(w, SeqCst) + w;
    assert!(now <= bound, "{now} permits active, bound {bound}");
    active.fetch_sub(w, SeqCst);
}

#[test]
fn loom_acquire_release_respects_capacity() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let active = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = [2, 1]
            .into_iter()
            .map(|w| {
                let sem = sem.clone();
                let active = active.clone();
                thread::spawn(move || {
                    let permit = block_on(sem.acquire_many(w)).unwrap();
                    hold(&active, w, 2);
                    drop(permit);
                })
            })
            .collect();
        let permit = block_on(sem.acquire()).unwrap();
        hold(&active, 1, 2);
        drop(permit);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(books(&sem), (2, 0, 2, 0, 0));
    });
}

#[test]
fn loom_try_acquire_racing_acquire_and_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let active = Arc::new(AtomicUsize::new(0));
        let held = sem.clone().try_acquire_owned().unwrap();
        let waiter = {
            let (sem, active) = (sem.clone(), active.clone());
            thread::spawn(move || {
                let permit = block_on(sem.acquire()).unwrap();
                hold(&active, 1, 1);
                drop(permit);
            })
        };
        let releaser = thread::spawn(move || drop(held));
        match sem.try_acquire() {
            Ok(permit) => {
                hold(&active, 1, 1);
                drop(permit);
            }
            Err(e) => assert_eq!(e, TryAcquireError::NoPermits),
        }
        waiter.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
    });
}

#[test]
fn loom_cancel_racing_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let releaser = thread::spawn(move || drop(held));
        {
            // Queued (or granted at once), then dropped while the release races.
            let mut acquire = pin!(sem.acquire());
            let _ = poll_once(acquire.as_mut());
        }
        releaser.join().unwrap();
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
        assert!(sem.try_acquire().is_ok());
    });
}

#[test]
fn loom_cancel_racing_release_passes_the_permit_on() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let mut first = Box::pin(sem.clone().acquire_owned());
        assert!(poll_once(first.as_mut()).is_pending()); // queued first
        let second = {
            let sem = sem.clone();
            // Must be served, whether `first` was granted before it was dropped or not.
            thread::spawn(move || drop(block_on(sem.acquire()).unwrap()))
        };
        let releaser = thread::spawn(move || drop(held));
        drop(first);
        releaser.join().unwrap();
        second.join().unwrap();
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
    });
}

#[test]
fn loom_close_racing_acquire() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire()).map(drop))
        };
        sem.close();
        drop(held);
        // The only permit came back after the close: the acquire must fail.
        assert_eq!(acquirer.join().unwrap(), Err(AcquireError::Closed));
        assert!(sem.is_closed());
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    });
}

#[test]
fn loom_close_racing_acquire_and_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let acquirer = {
            let sem = sem.clone();
            // Either served before the close, or failed: never stuck.
            thread::spawn(move || block_on(sem.acquire()).map(drop))
        };
        let releaser = thread::spawn(move || drop(held));
        sem.close();
        let _ = acquirer.join().unwrap();
        releaser.join().unwrap();
        assert!(sem.is_closed());
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
    });
}

#[test]
fn loom_lowering_racing_acquire_and_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let active = Arc::new(AtomicUsize::new(0));
        // Set once the debt from lowering to 1 is known to be repaid: from then on the
        // active weight must stay within the new ceiling.
        let repaid = Arc::new(AtomicBool::new(false));
        let held = sem.clone().try_acquire_owned().unwrap();
        let acquirer = {
            let (sem, active, repaid) = (sem.clone(), active.clone(), repaid.clone());
            thread::spawn(move || {
                let permit = block_on(sem.acquire()).unwrap();
                active.fetch_add(1, SeqCst);
                assert!(active.load(SeqCst) <= 2);
                // Read `active` only after the flag: a value read before it may
                // predate the repayment.
                if repaid.load(SeqCst) {
                    assert!(
                        active.load(SeqCst) <= 1,
                        "granted above the lowered ceiling"
                    );
                }
                active.fetch_sub(1, SeqCst);
                drop(permit);
            })
        };
        let lowerer = {
            let (sem, repaid) = (sem.clone(), repaid.clone());
            thread::spawn(move || {
                sem.set_capacity(1);
                if sem.in_use() <= 1 {
                    repaid.store(true, SeqCst);
                }
            })
        };
        active.fetch_add(1, SeqCst);
        if repaid.load(SeqCst) {
            assert!(
                active.load(SeqCst) <= 1,
                "granted above the lowered ceiling"
            );
        }
        active.fetch_sub(1, SeqCst);
        drop(held);
        lowerer.join().unwrap();
        acquirer.join().unwrap();
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
    });
}

#[test]
fn loom_raising_racing_release_wakes_the_waiter() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let big = {
            let sem = sem.clone();
            // Above the ceiling: waits aside until the ceiling reaches 2.
            thread::spawn(move || drop(block_on(sem.acquire_many(2)).unwrap()))
        };
        let releaser = thread::spawn(move || drop(held));
        sem.set_capacity(2);
        releaser.join().unwrap();
        big.join().unwrap();
        assert_eq!(books(&sem), (2, 0, 2, 0, 0));
    });
}

#[test]
fn loom_drain_racing_releases() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let a = sem.clone().try_acquire_owned().unwrap();
        let b = sem.clone().try_acquire_owned().unwrap();
        let t1 = thread::spawn(move || drop(a));
        let t2 = thread::spawn(move || b.forget());
        block_on(sem.wait_idle());
        // Nothing acquires here, so idle once means idle for good.
        assert_eq!(sem.in_use(), 0);
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
    });
}

#[test]
fn loom_drain_cancel_racing_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let releaser = thread::spawn(move || drop(held));
        {
            let mut idle = pin!(sem.wait_idle());
            let _ = poll_once(idle.as_mut());
        }
        releaser.join().unwrap();
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
        // The drain waiter is gone: acquire and release still balance.
        drop(sem.try_acquire().unwrap());
        assert_eq!(books(&sem), (1, 0, 1, 0, 0));
    });
}

#[test]
fn loom_latch_increment_decrement() {
    loom::model(|| {
        let latch = Arc::new(Latch::new(1));
        let active = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (latch, active) = (latch.clone(), active.clone());
                thread::spawn(move || {
                    block_on(latch.increment()).unwrap();
                    hold(&active, 1, 1);
                    latch.decrement().unwrap();
                })
            })
            .collect();
        // A third party that only tries: it may get in, never past the ceiling.
        if latch.try_increment().is_ok() {
            hold(&active, 1, 1);
            latch.decrement().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(latch.count(), 0);
        assert!(latch.decrement().is_err());
        assert_eq!(latch.count(), 0);
    });
}

#[test]
fn loom_latch_set_max_racing_increment() {
    loom::model(|| {
        let latch = Arc::new(Latch::new(1));
        latch.try_increment().unwrap();
        let incrementer = {
            let latch = latch.clone();
            thread::spawn(move || block_on(latch.increment()).unwrap())
        };
        let raiser = {
            let latch = latch.clone();
            thread::spawn(move || latch.set_max(2))
        };
        raiser.join().unwrap();
        incrementer.join().unwrap();
        assert_eq!((latch.count(), latch.max()), (2, 2));
        latch.decrement_many(2).unwrap();
        assert!(latch.decrement().is_err());
        block_on(latch.wait_for_empty());
    });
}

#[test]
fn loom_latch_decrements_racing_a_cancelled_increment() {
    loom::model(|| {
        let latch = Arc::new(Latch::new(1));
        latch.try_increment().unwrap();
        let decrementer = {
            let latch = latch.clone();
            // The first decrement may grant the queued increment; the second may take
            // that grant back before the increment is dropped.
            thread::spawn(move || {
                latch.decrement().unwrap();
                let _ = latch.decrement();
            })
        };
        {
            let mut increment = pin!(latch.increment());
            let _ = poll_once(increment.as_mut());
        }
        decrementer.join().unwrap();
        // Whatever the interleaving, the ceiling of 1 still holds.
        let mut count = latch.count();
        assert!(count <= 1);
        while latch.try_increment().is_ok() {
            count += 1;
            assert!(count <= 1, "the latch admits above its ceiling");
        }
        assert_eq!(count, 1);
    });
}
