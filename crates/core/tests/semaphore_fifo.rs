//! FIFO order, head-of-line blocking, no barging, and cancellation of queued or
//! granted acquires, checked poll by poll.

#![cfg(not(loom))]

mod common;

use std::{
    future::Future,
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use common::{assert_woken, counts, pending, queue};
use tokio_test::{assert_pending, assert_ready_ok, task};
use weir_core::{Semaphore, TryAcquireError};

#[test]
fn waiters_are_served_in_arrival_order() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut waiters: Vec<_> = (0..5).map(|_| pending(sem.acquire())).collect();
    assert_eq!(queue(&sem), (5, 5));

    let mut permit = held;
    for i in 0..5 {
        drop(permit);
        for (j, w) in waiters.iter().enumerate() {
            assert_eq!(w.is_woken(), j == i, "release {i}: waiter {j} woken?");
        }
        permit = assert_ready_ok!(waiters[i].poll());
        for w in &mut waiters[i + 1..] {
            assert_pending!(w.poll());
        }
        assert_eq!(counts(&sem), (1, 1, 0));
        assert_eq!(queue(&sem), (4 - i, 4 - i));
    }
    drop(permit);
    assert_eq!(counts(&sem), (1, 0, 1));
}

#[test]
fn heavy_head_blocks_later_light_waiter_even_with_permits_free() {
    let sem = Semaphore::new(4);
    let mut held = sem.try_acquire_many(3).unwrap();
    let held_one = held.split(1).unwrap();
    assert_eq!(sem.available(), 1);

    let mut heavy = pending(sem.acquire_many(3));
    // One permit is free, but the weight-3 head is older: the weight-1 waiter queues.
    let mut light = pending(sem.acquire());
    assert_eq!(sem.available(), 1);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);

    drop(held_one); // 2 free: still not enough for the head
    assert!(!heavy.is_woken());
    assert!(!light.is_woken());
    assert_pending!(heavy.poll());
    assert_pending!(light.poll());
    assert_eq!(sem.available(), 2);

    drop(held); // 4 free: the head takes 3, the light one the last
    assert!(heavy.is_woken());
    assert!(light.is_woken());
    let h = assert_ready_ok!(heavy.poll());
    let l = assert_ready_ok!(light.poll());
    assert_eq!((h.num_permits(), l.num_permits()), (3, 1));
    assert_eq!(counts(&sem), (4, 4, 0));
}

#[test]
fn mixed_weights_are_granted_in_order_and_stop_at_first_that_does_not_fit() {
    let sem = Semaphore::new(5);
    let held = sem.try_acquire_many(5).unwrap();
    let mut a = pending(sem.acquire_many(2));
    let mut b = pending(sem.acquire_many(4));
    let mut c = pending(sem.acquire_many(1));
    assert_eq!(queue(&sem), (3, 7));

    drop(held); // 5 free: a (2) fits, b (4) does not, so c waits behind b.
    assert_woken(&[&a, &b, &c], &[true, false, false]);
    let pa = assert_ready_ok!(a.poll());
    assert_pending!(b.poll());
    assert_pending!(c.poll());
    assert_eq!(counts(&sem), (5, 2, 3));

    drop(pa); // 5 free: b (4) then c (1).
    assert_woken(&[&a, &b, &c], &[false, true, true]);
    let pb = assert_ready_ok!(b.poll());
    let pc = assert_ready_ok!(c.poll());
    assert_eq!(counts(&sem), (5, 5, 0));
    drop((pb, pc));
    assert_eq!(counts(&sem), (5, 0, 5));
    assert_eq!(queue(&sem), (0, 0));
}

#[test]
fn try_acquire_never_barges_past_a_queued_waiter() {
    let sem = Arc::new(Semaphore::new(2));
    let mut held = sem.try_acquire_many(2).unwrap();
    let mut waiter = pending(sem.acquire_many(2));

    drop(held.split(1).unwrap()); // one permit free, reserved for the head
    assert!(!waiter.is_woken());
    assert_eq!(sem.available(), 1);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_eq!(
        sem.clone().try_acquire_owned().unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_eq!(
        sem.clone().try_acquire_many_owned(1).unwrap_err(),
        TryAcquireError::NoPermits
    );
    // A fresh acquire future queues behind it as well.
    let mut late = pending(sem.acquire());

    drop(held);
    assert!(waiter.is_woken());
    assert!(!late.is_woken());
    let p = assert_ready_ok!(waiter.poll());
    assert_pending!(late.poll());
    drop(p);
    assert!(late.is_woken());
    let _late = assert_ready_ok!(late.poll());
    // Queue empty: try works again.
    assert!(sem.try_acquire().is_ok());
}

#[test]
fn try_acquire_succeeds_once_the_queue_is_empty() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let waiter = pending(sem.acquire());
    drop(waiter); // the only waiter leaves; the queue is empty again
    drop(held);
    assert_eq!(queue(&sem), (0, 0));
    let p = sem.try_acquire().unwrap();
    assert_eq!(counts(&sem), (1, 1, 0));
    drop(p);
}

#[test]
fn dropping_the_queued_head_lets_the_next_waiter_in() {
    let sem = Semaphore::new(2);
    let _held = sem.try_acquire().unwrap(); // one free
    let head = pending(sem.acquire_many(2));
    let mut next = pending(sem.acquire()); // blocked only by the head
    assert!(!next.is_woken());

    drop(head);
    assert!(next.is_woken());
    let p = assert_ready_ok!(next.poll());
    assert_eq!(p.num_permits(), 1);
    assert_eq!(counts(&sem), (2, 2, 0));
    assert_eq!(queue(&sem), (0, 0));
}

#[test]
fn dropping_a_queued_middle_waiter_keeps_the_others_in_order() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut a = pending(sem.acquire());
    let b = pending(sem.acquire_many(1));
    let mut c = pending(sem.acquire());
    assert_eq!(queue(&sem), (3, 3));

    drop(b);
    assert_eq!(queue(&sem), (2, 2));
    assert!(!a.is_woken() && !c.is_woken());

    drop(held);
    assert!(a.is_woken());
    assert!(!c.is_woken());
    let pa = assert_ready_ok!(a.poll());
    drop(pa);
    assert!(c.is_woken());
    let _pc = assert_ready_ok!(c.poll());
    assert_eq!(queue(&sem), (0, 0));
}

#[test]
fn dropping_the_queued_tail_changes_nothing_for_the_others() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut a = pending(sem.acquire());
    let tail = pending(sem.acquire());
    drop(tail);
    assert_eq!(queue(&sem), (1, 1));
    drop(held);
    assert!(a.is_woken());
    let _p = assert_ready_ok!(a.poll());
    assert_eq!(counts(&sem), (1, 1, 0));
}

#[test]
fn dropping_a_granted_but_unpolled_acquire_returns_its_permits_to_the_next_waiter() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let a = pending(sem.acquire_many(2));
    let mut b = pending(sem.acquire_many(2));

    drop(held);
    assert!(a.is_woken()); // granted: its permits are already taken
    assert!(!b.is_woken());
    assert_eq!(counts(&sem), (2, 2, 0));

    drop(a); // never polled again: the permits go on to b
    assert!(b.is_woken());
    let pb = assert_ready_ok!(b.poll());
    assert_eq!(counts(&sem), (2, 2, 0));
    drop(pb);
    assert_eq!(counts(&sem), (2, 0, 2));
}

#[test]
fn dropping_a_granted_but_unpolled_acquire_with_no_one_waiting_frees_its_permits() {
    let sem = Semaphore::new(3);
    let held = sem.try_acquire_many(3).unwrap();
    let a = pending(sem.acquire_many(3));
    drop(held);
    assert!(a.is_woken());
    drop(a);
    assert_eq!(counts(&sem), (3, 0, 3));
    // The fast path works again: no stale flags.
    let p = sem.try_acquire_many(3).unwrap();
    drop(p);
    assert_eq!(counts(&sem), (3, 0, 3));
}

#[test]
fn dropping_a_granted_owned_acquire_returns_its_permits() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.clone().try_acquire_owned().unwrap();
    let a = pending(sem.clone().acquire_owned());
    let mut b = pending(sem.clone().acquire_many_owned(1));
    drop(held);
    assert!(a.is_woken());
    drop(a);
    assert!(b.is_woken());
    let pb = assert_ready_ok!(b.poll());
    assert!(Arc::ptr_eq(pb.semaphore(), &sem));
    drop(pb);
    assert_eq!(counts(&sem), (1, 0, 1));
}

#[test]
fn dropping_a_granted_acquire_under_debt_repays_the_debt_first() {
    let sem = Semaphore::new(2);
    let mut held = sem.try_acquire_many(2).unwrap();
    let a = pending(sem.acquire());
    let mut b = pending(sem.acquire());
    drop(held.split(1).unwrap());
    assert!(a.is_woken()); // a holds 1, `held` holds 1
    sem.set_capacity(1); // 2 in use, ceiling 1: one permit of debt
    assert_eq!(counts(&sem), (1, 2, 0));

    drop(a); // repays the debt; nothing is free, so b keeps waiting
    assert!(!b.is_woken());
    assert_pending!(b.poll());
    assert_eq!(counts(&sem), (1, 1, 0));

    drop(held);
    assert!(b.is_woken());
    let _pb = assert_ready_ok!(b.poll());
    assert_eq!(counts(&sem), (1, 1, 0));
}

#[test]
fn acquire_is_immediate_when_permits_are_free_and_nobody_waits() {
    let sem = Semaphore::new(3);
    let mut a = task::spawn(sem.acquire_many(2));
    let p = assert_ready_ok!(a.poll());
    assert_eq!(p.num_permits(), 2);
    assert_eq!(counts(&sem), (3, 2, 1));
}

#[test]
fn acquiring_zero_permits_is_immediate_even_behind_waiters() {
    let sem = Semaphore::new(1);
    let _held = sem.try_acquire().unwrap();
    let _waiter = pending(sem.acquire());
    let mut zero = task::spawn(sem.acquire_many(0));
    let p = assert_ready_ok!(zero.poll());
    assert_eq!(p.num_permits(), 0);
    assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);
    assert_eq!(counts(&sem), (1, 1, 0));
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn repolling_with_a_new_waker_wakes_only_the_new_one() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let first = Arc::new(CountingWaker::default());
    let second = Arc::new(CountingWaker::default());
    let first_waker = Waker::from(first.clone());
    let second_waker = Waker::from(second.clone());

    let mut fut = pin!(sem.acquire());
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending()
    );
    // Re-polling with the same waker keeps it; a different waker replaces it.
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending()
    );
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending()
    );

    drop(held);
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
    match fut.as_mut().poll(&mut Context::from_waker(&second_waker)) {
        Poll::Ready(Ok(p)) => assert_eq!(p.num_permits(), 1),
        other => panic!("expected a permit, got {other:?}"),
    }
}

#[test]
#[should_panic = "polled after completion"]
fn polling_a_completed_acquire_panics() {
    let sem = Semaphore::new(1);
    let mut fut = pin!(sem.acquire());
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(_permit)) = fut.as_mut().poll(&mut cx) else {
        panic!("the first poll should succeed");
    };
    let _ = fut.as_mut().poll(&mut cx);
}

#[test]
fn one_release_can_serve_more_waiters_than_one_wake_batch() {
    let sem = Semaphore::new(100);
    let held = sem.try_acquire_many(100).unwrap();
    let mut waiters: Vec<_> = (0..100).map(|_| pending(sem.acquire())).collect();
    let mut late = pending(sem.acquire());
    drop(held);
    assert!(waiters.iter().all(|w| w.is_woken()));
    assert!(!late.is_woken());
    let permits: Vec<_> = waiters
        .iter_mut()
        .map(|w| assert_ready_ok!(w.poll()))
        .collect();
    assert_pending!(late.poll());
    assert_eq!(counts(&sem), (100, 100, 0));
    drop(permits);
    assert!(late.is_woken());
    let _late = assert_ready_ok!(late.poll());
    assert_eq!(counts(&sem), (100, 1, 99));
}
