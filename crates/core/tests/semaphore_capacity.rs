//! The movable ceiling: raising wakes waiters that fit, lowering creates debt that
//! releases repay before anything new is granted, oversized requests wait aside, and
//! forgotten permits leave circulation.

#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use common::{assert_woken, counts, pending, queue};
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok, task};
use weir_core::{AcquireError, Semaphore, TryAcquireError};

#[test]
fn lowering_takes_free_permits_first() {
    let sem = Semaphore::new(5);
    let _held = sem.try_acquire_many(2).unwrap();
    sem.set_capacity(3);
    assert_eq!(counts(&sem), (3, 2, 1));
    sem.set_capacity(2);
    assert_eq!(counts(&sem), (2, 2, 0));
}

#[test]
fn lowering_below_in_use_creates_debt_that_releases_repay_first() {
    let sem = Semaphore::new(4);
    let a = sem.try_acquire_many(2).unwrap();
    let b = sem.try_acquire_many(2).unwrap();
    let mut w = pending(sem.acquire());

    sem.set_capacity(2); // 4 held, ceiling 2: a debt of 2
    assert_eq!(counts(&sem), (2, 4, 0));
    assert!(!w.is_woken());

    drop(a); // repays the whole debt; in-use == ceiling, nothing to grant
    assert_eq!(counts(&sem), (2, 2, 0));
    assert!(!w.is_woken());
    assert_pending!(w.poll());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);

    drop(b);
    assert!(w.is_woken());
    let pw = assert_ready_ok!(w.poll());
    assert_eq!(counts(&sem), (2, 1, 1));
    drop(pw);
    assert_eq!(counts(&sem), (2, 0, 2));
}

#[test]
fn lowering_under_load_never_lets_in_use_exceed_the_new_ceiling_once_repaid() {
    let sem = Semaphore::new(8);
    let mut held: Vec<_> = (0..8).map(|_| sem.try_acquire().unwrap()).collect();
    let mut waiters: Vec<_> = (0..6).map(|_| pending(sem.acquire())).collect();
    let mut granted = Vec::new();

    sem.set_capacity(3);
    assert_eq!(counts(&sem), (3, 8, 0));

    // Release the held permits one by one, polling every woken waiter at once.
    let mut repaid = false;
    while let Some(p) = held.pop() {
        drop(p);
        let mut i = 0;
        while i < waiters.len() {
            if waiters[i].is_woken() {
                granted.push(assert_ready_ok!(waiters[i].poll()));
                drop(waiters.remove(i));
            } else {
                i += 1;
            }
        }
        let in_use = sem.in_use();
        assert_eq!(in_use, held.len() + granted.len());
        if in_use <= 3 {
            repaid = true;
        }
        if repaid {
            assert!(
                in_use <= 3,
                "in-use {in_use} above the ceiling after repaying"
            );
        } else {
            // Still in debt: nothing may have been granted.
            assert!(granted.is_empty(), "granted while in debt");
        }
    }
    assert!(repaid);
    assert_eq!(granted.len(), 3);
    assert_eq!(counts(&sem), (3, 3, 0));
    assert_eq!(queue(&sem), (3, 3));
}

#[test]
fn lowering_to_zero_parks_everyone_and_raising_serves_them_in_order() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut a = pending(sem.acquire());
    let mut b = pending(sem.acquire());
    sem.set_capacity(0);
    drop(held);
    assert_eq!(counts(&sem), (0, 0, 0));
    assert!(!a.is_woken() && !b.is_woken());
    assert_eq!(
        sem.try_acquire().unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 1,
            capacity: 0
        }
    );

    sem.set_capacity(1);
    assert_woken(&[&a, &b], &[true, false]);
    let pa = assert_ready_ok!(a.poll());
    drop(pa);
    assert!(b.is_woken());
    let _pb = assert_ready_ok!(b.poll());
}

#[test]
fn raising_wakes_every_waiter_that_now_fits_in_order() {
    let sem = Semaphore::new(1);
    let _held = sem.try_acquire().unwrap();
    let mut w1 = pending(sem.acquire_many(1));
    let mut w2 = pending(sem.acquire_many(2));
    let mut w3 = pending(sem.acquire_many(1));
    let mut w4 = pending(sem.acquire_many(3));
    let mut w5 = pending(sem.acquire_many(1));

    sem.set_capacity(5); // 4 free: w1, w2, w3 fit; w4 (3) does not, so w5 waits too
    assert_woken(
        &[&w1, &w2, &w3, &w4, &w5],
        &[true, true, true, false, false],
    );
    let p1 = assert_ready_ok!(w1.poll());
    let _p2 = assert_ready_ok!(w2.poll());
    let _p3 = assert_ready_ok!(w3.poll());
    assert_pending!(w4.poll());
    assert_pending!(w5.poll());
    assert_eq!(counts(&sem), (5, 5, 0));

    sem.set_capacity(7); // 2 free: not enough for w4, and w5 stays behind it
    assert!(!w4.is_woken() && !w5.is_woken());
    drop(p1); // 3 free
    assert_woken(&[&w4, &w5], &[true, false]);
    let _p4 = assert_ready_ok!(w4.poll());
    sem.set_capacity(8);
    assert!(w5.is_woken());
    let _p5 = assert_ready_ok!(w5.poll());
    assert_eq!(counts(&sem), (8, 8, 0));
}

#[test]
fn raising_wakes_more_waiters_than_one_wake_batch() {
    let sem = Semaphore::new(0);
    let mut waiters: Vec<_> = (0..100).map(|_| pending(sem.acquire())).collect();
    assert_eq!(queue(&sem), (100, 100));
    sem.set_capacity(100);
    assert!(waiters.iter().all(|w| w.is_woken()));
    let permits: Vec<_> = waiters
        .iter_mut()
        .map(|w| assert_ready_ok!(w.poll()))
        .collect();
    assert_eq!(counts(&sem), (100, 100, 0));
    assert_eq!(queue(&sem), (0, 0));
    drop(permits);
    assert_eq!(counts(&sem), (100, 0, 100));
}

#[test]
fn oversized_request_waits_aside_without_blocking_the_queue() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let mut big = pending(sem.acquire_many(5)); // above the ceiling: waits aside
    let mut small = pending(sem.acquire());
    assert_eq!(queue(&sem), (2, 6));

    // try_acquire is not held back by a request that cannot fit.
    drop(held);
    assert!(!big.is_woken());
    assert!(small.is_woken());
    let ps = assert_ready_ok!(small.poll());
    let pt = sem.try_acquire().unwrap();
    assert_eq!(counts(&sem), (2, 2, 0));
    assert_eq!(
        sem.try_acquire_many(5).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 5,
            capacity: 2
        }
    );

    // Raised to 6 the big request fits the ceiling but not the free permits: it is
    // back in contention at the head, and later requests queue behind it.
    sem.set_capacity(6);
    assert!(!big.is_woken());
    assert_pending!(big.poll());
    let mut late = pending(sem.acquire());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(pt); // 5 free
    assert_woken(&[&big, &late], &[true, false]);
    let pb = assert_ready_ok!(big.poll());
    assert_eq!(pb.num_permits(), 5);
    assert_eq!(counts(&sem), (6, 6, 0));
    drop(ps);
    assert!(late.is_woken());
    let _pl = assert_ready_ok!(late.poll());
}

#[test]
fn oversized_requests_are_served_in_their_original_order_once_the_ceiling_rises() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let mut a = pending(sem.acquire_many(3));
    let mut b = pending(sem.acquire_many(3));
    drop(held);
    assert_eq!(counts(&sem), (2, 0, 2));
    assert!(!a.is_woken() && !b.is_woken());

    sem.set_capacity(3); // both fit the ceiling now; only the older gets the 3 permits
    assert_woken(&[&a, &b], &[true, false]);
    let pa = assert_ready_ok!(a.poll());
    assert_pending!(b.poll());
    drop(pa);
    assert!(b.is_woken());
    let _pb = assert_ready_ok!(b.poll());
}

#[test]
fn an_oversized_request_older_than_a_fitting_one_keeps_its_place() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut big = pending(sem.acquire_many(3)); // waits aside
    let mut small = pending(sem.acquire_many(2)); // waits aside too
    sem.set_capacity(3); // 2 free: small fits free permits, big fits only the ceiling
    // big is older and now eligible: small must wait behind it.
    assert_woken(&[&big, &small], &[false, false]);
    drop(held);
    assert_woken(&[&big, &small], &[true, false]);
    let pb = assert_ready_ok!(big.poll());
    assert_pending!(small.poll());
    drop(pb);
    assert!(small.is_woken());
    let _ps = assert_ready_ok!(small.poll());
}

#[test]
fn lowering_the_ceiling_sends_a_queued_request_aside() {
    let sem = Semaphore::new(3);
    let held = sem.try_acquire_many(3).unwrap();
    let mut big = pending(sem.acquire_many(3));
    let mut small = pending(sem.acquire());
    sem.set_capacity(2); // big no longer fits: it stops blocking small
    drop(held);
    assert_woken(&[&big, &small], &[false, true]);
    let _ps = assert_ready_ok!(small.poll());
    assert_pending!(big.poll());
    assert_eq!(queue(&sem), (1, 3));
}

#[test]
fn dropping_an_oversized_waiter_keeps_the_books_straight() {
    let sem = Semaphore::new(1);
    let big = pending(sem.acquire_many(4));
    assert_eq!(queue(&sem), (1, 4));
    drop(big);
    assert_eq!(queue(&sem), (0, 0));
    sem.set_capacity(4);
    let _p = sem.try_acquire_many(4).unwrap();
    assert_eq!(counts(&sem), (4, 4, 0));
}

#[test]
fn acquire_above_max_permits_fails_at_once() {
    let sem = Arc::new(Semaphore::new(1));
    for n in [Semaphore::MAX_PERMITS + 1, usize::MAX] {
        let expected = AcquireError::TooLarge {
            requested: n,
            max: Semaphore::MAX_PERMITS,
        };
        let mut fut = task::spawn(sem.acquire_many(n));
        assert_eq!(assert_ready_err!(fut.poll()), expected);
        let mut owned = task::spawn(sem.clone().acquire_many_owned(n));
        assert_eq!(assert_ready_err!(owned.poll()), expected);
        assert_eq!(
            sem.try_acquire_many(n).unwrap_err(),
            TryAcquireError::TooLarge {
                requested: n,
                capacity: 1
            }
        );
    }
    assert_eq!(queue(&sem), (0, 0));
    assert_eq!(counts(&sem), (1, 0, 1));
}

#[test]
fn max_permits_is_a_valid_capacity_and_request() {
    let sem = Semaphore::new(0);
    let mut all = pending(sem.acquire_many(Semaphore::MAX_PERMITS));
    sem.set_capacity(Semaphore::MAX_PERMITS);
    assert!(all.is_woken());
    let p = assert_ready_ok!(all.poll());
    assert_eq!(
        counts(&sem),
        (Semaphore::MAX_PERMITS, Semaphore::MAX_PERMITS, 0)
    );
    drop(p);
    assert_eq!(
        counts(&sem),
        (Semaphore::MAX_PERMITS, 0, Semaphore::MAX_PERMITS)
    );
}

#[test]
#[should_panic = "exceeds Semaphore::MAX_PERMITS"]
fn new_above_max_permits_panics() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
#[should_panic = "exceeds Semaphore::MAX_PERMITS"]
fn set_capacity_above_max_permits_panics() {
    Semaphore::new(1).set_capacity(Semaphore::MAX_PERMITS + 1);
}

#[test]
fn queue_metrics_track_waiters_and_their_weight() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let mut a = pending(sem.acquire_many(2));
    let b = pending(sem.acquire_many(3)); // aside
    let c = pending(sem.acquire());
    assert_eq!(queue(&sem), (3, 6));
    drop(c);
    assert_eq!(queue(&sem), (2, 5));
    drop(held);
    assert_eq!(queue(&sem), (1, 3));
    let _pa = assert_ready_ok!(a.poll());
    drop(b);
    assert_eq!(queue(&sem), (0, 0));
}

#[test]
fn raising_during_debt_repays_the_debt_first() {
    let sem = Semaphore::new(4);
    let _held = sem.try_acquire_many(4).unwrap();
    let mut w = pending(sem.acquire());
    sem.set_capacity(1); // debt 3
    sem.set_capacity(4); // debt 0, still nothing free
    assert_eq!(counts(&sem), (4, 4, 0));
    assert!(!w.is_woken());
    sem.set_capacity(5);
    assert!(w.is_woken());
    let _pw = assert_ready_ok!(w.poll());
    assert_eq!(counts(&sem), (5, 5, 0));
}

#[test]
fn forgetting_under_debt_keeps_the_books_straight() {
    let sem = Semaphore::new(4);
    let a = sem.try_acquire_many(3).unwrap();
    let _b = sem.try_acquire().unwrap();
    sem.set_capacity(2); // 4 held, debt 2
    a.forget(); // capacity 2 - 3 saturates at 0; in-use 1
    assert_eq!(counts(&sem), (0, 1, 0));
    sem.set_capacity(3);
    assert_eq!(counts(&sem), (3, 1, 2));
}
