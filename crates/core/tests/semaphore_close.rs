//! `close()`: every waiter fails at once, later acquires fail, held permits still
//! release, and no other operation re-opens the semaphore (tokio#8020).

#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use common::{counts, pending, queue};
use tokio_test::{assert_ready, assert_ready_err, assert_ready_ok, task};
use weir_core::{AcquireError, Semaphore, TryAcquireError};

#[test]
fn close_wakes_every_waiter_with_closed() {
    let sem = Arc::new(Semaphore::new(2));
    let _held = sem.try_acquire_many(2).unwrap();
    let mut a = pending(sem.acquire());
    let mut b = pending(sem.acquire_many(2));
    let mut aside = pending(sem.acquire_many(10)); // above the ceiling
    let mut owned = pending(sem.clone().acquire_owned());
    assert_eq!(queue(&sem), (4, 14));

    sem.close();
    assert!(sem.is_closed());
    assert!(a.is_woken() && b.is_woken() && aside.is_woken() && owned.is_woken());
    assert_eq!(assert_ready_err!(a.poll()), AcquireError::Closed);
    assert_eq!(assert_ready_err!(b.poll()), AcquireError::Closed);
    assert_eq!(assert_ready_err!(aside.poll()), AcquireError::Closed);
    assert_eq!(assert_ready_err!(owned.poll()), AcquireError::Closed);
    assert_eq!(queue(&sem), (0, 0));
    assert_eq!(counts(&sem), (2, 2, 0));
}

#[test]
fn close_wakes_more_waiters_than_one_wake_batch() {
    let sem = Semaphore::new(0);
    let mut waiters: Vec<_> = (0..100)
        .map(|i| pending(sem.acquire_many(i % 3 + 1)))
        .collect();
    sem.close();
    for w in &mut waiters {
        assert!(w.is_woken());
        assert_eq!(assert_ready_err!(w.poll()), AcquireError::Closed);
    }
    assert_eq!(queue(&sem), (0, 0));
}

#[test]
fn held_permits_release_normally_after_close() {
    let sem = Arc::new(Semaphore::new(3));
    let mut a = sem.try_acquire_many(2).unwrap();
    let b = sem.clone().try_acquire_owned().unwrap();
    sem.close();
    assert_eq!(counts(&sem), (3, 3, 0));
    let a1 = a.split(1).unwrap();
    drop(a1);
    assert_eq!(counts(&sem), (3, 2, 1));
    drop((a, b));
    assert_eq!(counts(&sem), (3, 0, 3));
    assert!(sem.is_closed());
}

#[test]
fn every_acquire_fails_after_close() {
    let sem = Arc::new(Semaphore::new(5));
    sem.close();
    assert_eq!(
        assert_ready_err!(task::spawn(sem.acquire()).poll()),
        AcquireError::Closed
    );
    assert_eq!(
        assert_ready_err!(task::spawn(sem.acquire_many(2)).poll()),
        AcquireError::Closed
    );
    assert_eq!(
        assert_ready_err!(task::spawn(sem.acquire_many(0)).poll()),
        AcquireError::Closed
    );
    assert_eq!(
        assert_ready_err!(task::spawn(sem.clone().acquire_owned()).poll()),
        AcquireError::Closed
    );
    assert_eq!(
        assert_ready_err!(task::spawn(sem.clone().acquire_many_owned(3)).poll()),
        AcquireError::Closed
    );
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(
        sem.try_acquire_many(2).unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(
        sem.clone().try_acquire_owned().unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(
        sem.clone().try_acquire_many_owned(9).unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(counts(&sem), (5, 0, 5));
}

#[test]
fn close_is_idempotent() {
    let sem = Semaphore::new(1);
    sem.close();
    sem.close();
    assert!(sem.is_closed());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
}

/// Asserts that `sem` is closed by every observable measure.
#[track_caller]
fn assert_closed(sem: &Arc<Semaphore>) {
    assert!(sem.is_closed());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(
        sem.clone().try_acquire_many_owned(1).unwrap_err(),
        TryAcquireError::Closed
    );
    assert_eq!(
        assert_ready_err!(task::spawn(sem.acquire()).poll()),
        AcquireError::Closed
    );
}

#[test]
fn no_state_changing_operation_reopens_a_closed_semaphore() {
    // tokio#8020: `forget_permits` used to clear the closed bit.
    let sem = Arc::new(Semaphore::new(4));
    let mut held = sem.try_acquire_many(3).unwrap();
    let owned = sem.clone().try_acquire_owned().unwrap();
    sem.close();
    assert_closed(&sem);

    sem.set_capacity(8); // raise
    assert_closed(&sem);
    sem.set_capacity(1); // lower into debt
    assert_closed(&sem);
    held.split(1).unwrap().forget(); // forget under debt
    assert_closed(&sem);
    drop(held.split(1).unwrap()); // release repaying debt
    assert_closed(&sem);
    sem.set_capacity(6);
    assert_closed(&sem);
    owned.forget();
    assert_closed(&sem);
    drop(held); // fast-path release
    assert_closed(&sem);
    let mut idle = task::spawn(sem.wait_idle());
    assert_ready!(idle.poll());
    assert_closed(&sem);
    sem.set_capacity(0);
    assert_closed(&sem);
    assert_eq!(counts(&sem), (0, 0, 0));
}

#[test]
fn closing_a_latch_keeps_it_closed_through_set_max_and_decrement() {
    let latch = weir_core::Latch::new(2);
    latch.try_increment_many(2).unwrap();
    latch.close();
    latch.set_max(5);
    latch.decrement().unwrap();
    latch.set_max(0);
    latch.decrement().unwrap();
    assert!(latch.is_closed());
    assert_eq!(latch.try_increment().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(latch.count(), 0);
}

#[test]
fn a_grant_made_before_close_stands() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut a = pending(sem.acquire());
    let mut b = pending(sem.acquire());
    drop(held); // a is granted but not polled yet
    assert!(a.is_woken());
    sem.close();
    // a got its permit before the close: it keeps it. b was still waiting: it fails.
    assert!(b.is_woken());
    assert_eq!(assert_ready_err!(b.poll()), AcquireError::Closed);
    let pa = assert_ready_ok!(a.poll());
    assert_eq!(counts(&sem), (1, 1, 0));
    drop(pa);
    assert_eq!(counts(&sem), (1, 0, 1));
}

#[test]
fn a_waiter_dropped_after_close_returns_nothing_twice() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let a = pending(sem.acquire());
    sem.close();
    assert!(a.is_woken());
    drop(a); // failed but never polled: owns nothing
    assert_eq!(counts(&sem), (1, 1, 0));
    drop(held);
    assert_eq!(counts(&sem), (1, 0, 1));
}

#[test]
fn an_acquire_polled_after_close_is_not_queued() {
    let sem = Semaphore::new(0);
    sem.close();
    let mut a = task::spawn(sem.acquire());
    assert_eq!(assert_ready_err!(a.poll()), AcquireError::Closed);
    assert_eq!(queue(&sem), (0, 0));
    // An acquire created before close but first polled after it fails too.
    let sem = Semaphore::new(0);
    let mut early = task::spawn(sem.acquire());
    sem.close();
    assert_eq!(assert_ready_err!(early.poll()), AcquireError::Closed);
    assert_eq!(queue(&sem), (0, 0));
}
