//! `Latch`: increments block at the ceiling in FIFO order, decrements wake them and
//! never go below zero, `set_max` moves the ceiling without preempting, drain and
//! close.

#![cfg(not(loom))]

mod common;

use common::{assert_woken, pending};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok, task};
use weir_core::{AcquireError, DecrementError, Latch, TryAcquireError};

#[test]
fn increment_blocks_at_the_ceiling_and_decrement_wakes_it() {
    let latch = Latch::new(2);
    assert_ready_ok!(task::spawn(latch.increment()).poll());
    assert_ready_ok!(task::spawn(latch.increment()).poll());
    assert_eq!(latch.count(), 2);
    let mut blocked = pending(latch.increment());
    assert_eq!(latch.waiters(), 1);
    assert_eq!(
        latch.try_increment().unwrap_err(),
        TryAcquireError::NoPermits
    );

    latch.decrement().unwrap();
    assert!(blocked.is_woken());
    assert_ready_ok!(blocked.poll());
    assert_eq!((latch.count(), latch.waiters()), (2, 0));
}

#[test]
fn incrementers_are_served_in_fifo_order_and_try_does_not_barge() {
    let latch = Latch::new(2);
    latch.try_increment_many(2).unwrap();
    let mut a = pending(latch.increment_many(2));
    let mut b = pending(latch.increment_many(1));
    latch.decrement().unwrap(); // one free, reserved for a
    assert_woken(&[&a, &b], &[false, false]);
    assert_eq!(
        latch.try_increment().unwrap_err(),
        TryAcquireError::NoPermits
    );
    latch.decrement().unwrap();
    assert_woken(&[&a, &b], &[true, false]);
    assert_ready_ok!(a.poll());
    assert_pending!(b.poll());
    latch.decrement().unwrap();
    assert!(b.is_woken());
    assert_ready_ok!(b.poll());
    assert_eq!(latch.count(), 2);
}

#[test]
fn over_decrement_errors_and_leaves_the_count_unchanged() {
    let latch = Latch::new(5);
    assert_eq!(
        latch.decrement().unwrap_err(),
        DecrementError {
            requested: 1,
            count: 0
        }
    );
    assert_eq!(latch.count(), 0);
    latch.try_increment_many(3).unwrap();
    assert_eq!(
        latch.decrement_many(4).unwrap_err(),
        DecrementError {
            requested: 4,
            count: 3
        }
    );
    assert_eq!(latch.count(), 3);
    latch.decrement_many(3).unwrap();
    assert_eq!(latch.count(), 0);
    assert!(latch.decrement().is_err());
    assert_eq!(latch.count(), 0);
    // The free count did not wrap: the ceiling still holds.
    latch.try_increment_many(5).unwrap();
    assert_eq!(
        latch.try_increment().unwrap_err(),
        TryAcquireError::NoPermits
    );
}

#[test]
fn over_decrement_in_debt_counts_the_debt() {
    let latch = Latch::new(3);
    latch.try_increment_many(3).unwrap();
    latch.set_max(1); // count 3, ceiling 1
    assert_eq!(
        latch.decrement_many(4).unwrap_err(),
        DecrementError {
            requested: 4,
            count: 3
        }
    );
    latch.decrement_many(3).unwrap();
    assert_eq!((latch.count(), latch.max()), (0, 1));
}

#[test]
fn a_decrement_of_zero_always_succeeds() {
    let latch = Latch::new(1);
    latch.decrement_many(0).unwrap();
    assert_eq!(latch.count(), 0);
}

#[test]
fn raising_max_wakes_blocked_incrementers() {
    let latch = Latch::new(1);
    latch.try_increment().unwrap();
    let mut a = pending(latch.increment());
    let mut b = pending(latch.increment());
    let mut c = pending(latch.increment());
    latch.set_max(3);
    assert_woken(&[&a, &b, &c], &[true, true, false]);
    assert_ready_ok!(a.poll());
    assert_ready_ok!(b.poll());
    assert_pending!(c.poll());
    assert_eq!((latch.count(), latch.max()), (3, 3));
}

#[test]
fn lowering_max_never_preempts() {
    let latch = Latch::new(4);
    latch.try_increment_many(4).unwrap();
    let mut w = pending(latch.increment());
    latch.set_max(2);
    assert_eq!((latch.count(), latch.max()), (4, 2));
    latch.decrement().unwrap(); // 3 > 2: still above the ceiling
    latch.decrement().unwrap(); // 2 == 2: at the ceiling
    assert!(!w.is_woken());
    assert_pending!(w.poll());
    latch.decrement().unwrap(); // 1 < 2
    assert!(w.is_woken());
    assert_ready_ok!(w.poll());
    assert_eq!(latch.count(), 2);
}

#[test]
fn a_dropped_increment_never_changes_the_count_and_passes_its_place_on() {
    let latch = Latch::new(1);
    latch.try_increment().unwrap();
    let a = pending(latch.increment());
    let mut b = pending(latch.increment());
    latch.decrement().unwrap(); // lets a in; a has not returned yet
    assert!(a.is_woken());
    // Not counted until it completes, but it holds its place under the ceiling, and a
    // decrement cannot take it back.
    assert_eq!(latch.count(), 0);
    assert!(latch.try_increment().is_err());
    assert!(latch.decrement().is_err());
    drop(a);
    assert!(b.is_woken()); // b got its place
    assert_eq!(latch.count(), 0);
    assert_ready_ok!(b.poll());
    assert_eq!(latch.count(), 1);
    let c = pending(latch.increment());
    drop(c);
    assert_eq!((latch.count(), latch.waiters()), (1, 0));
}

#[test]
fn wait_for_empty_fires_when_the_count_reaches_zero() {
    let latch = Latch::new(3);
    assert_ready!(task::spawn(latch.wait_for_empty()).poll());
    latch.try_increment_many(2).unwrap();
    let mut empty = pending(latch.wait_for_empty());
    latch.decrement().unwrap();
    assert!(!empty.is_woken());
    assert_pending!(empty.poll());
    latch.decrement().unwrap();
    assert!(empty.is_woken());
    assert_ready!(empty.poll());
}

#[test]
fn a_decrement_that_admits_an_incrementer_does_not_fire_wait_for_empty() {
    let latch = Latch::new(1);
    latch.try_increment().unwrap();
    let mut inc = pending(latch.increment());
    let mut empty = pending(latch.wait_for_empty());
    latch.decrement().unwrap();
    assert!(inc.is_woken());
    assert!(!empty.is_woken());
    assert_ready_ok!(inc.poll());
    latch.decrement().unwrap();
    assert!(empty.is_woken());
    assert_ready!(empty.poll());
}

#[test]
fn close_fails_blocked_increments_and_decrements_still_drain() {
    let latch = Latch::new(1);
    latch.try_increment().unwrap();
    let mut a = pending(latch.increment());
    let mut b = pending(latch.increment_many(5));
    latch.close();
    assert!(latch.is_closed());
    assert!(a.is_woken() && b.is_woken());
    assert_eq!(assert_ready_err!(a.poll()), AcquireError::Closed);
    assert_eq!(assert_ready_err!(b.poll()), AcquireError::Closed);
    assert_eq!(
        assert_ready_err!(task::spawn(latch.increment()).poll()),
        AcquireError::Closed
    );
    assert_eq!(latch.try_increment().unwrap_err(), TryAcquireError::Closed);

    let mut empty = pending(latch.wait_for_empty());
    latch.decrement().unwrap();
    assert!(empty.is_woken());
    assert_ready!(empty.poll());
    assert_eq!(latch.count(), 0);
}

#[test]
fn increment_many_above_the_ceiling_waits_aside() {
    let latch = Latch::new(2);
    let mut big = pending(latch.increment_many(3));
    assert_eq!(
        latch.try_increment_many(3).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 3,
            capacity: 2
        }
    );
    assert_ready_ok!(task::spawn(latch.increment()).poll());
    latch.decrement().unwrap();
    latch.set_max(3);
    assert!(big.is_woken());
    assert_ready_ok!(big.poll());
    assert_eq!(latch.count(), 3);
}

/// Counts how many more single increments the latch admits right now.
fn admissions(latch: &Latch) -> usize {
    let mut admitted = 0;
    while latch.try_increment().is_ok() {
        admitted += 1;
        assert!(admitted <= 64, "the latch admits without limit");
    }
    admitted
}

#[test]
fn decrementing_a_granted_increment_before_it_is_dropped_keeps_the_ceiling() {
    let latch = Latch::new(1);
    latch.try_increment().unwrap();
    let inc = pending(latch.increment());
    latch.decrement().unwrap(); // grants the pending increment (count stays 1)
    assert!(inc.is_woken());
    // A second decrement before the increment is polled: whether it is refused or
    // takes the granted one back, dropping the increment must not free it twice.
    let _ = latch.decrement();
    drop(inc);
    let count = latch.count();
    assert!(count <= 1);
    assert_eq!(
        count + admissions(&latch),
        1,
        "the ceiling of 1 no longer holds"
    );
}
