//! `wait_idle()`: fires exactly when the last permit returns (released or forgotten,
//! in debt or not), wakes every drain waiter, and never takes an acquirer's wake-up.

#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use common::{counts, pending};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use weir_core::Semaphore;

#[test]
fn ready_at_once_when_nothing_is_held() {
    let sem = Semaphore::new(3);
    assert_ready!(task::spawn(sem.wait_idle()).poll());
    let p = sem.try_acquire().unwrap();
    drop(p);
    assert_ready!(task::spawn(sem.wait_idle()).poll());
    assert_ready!(task::spawn(Semaphore::new(0).wait_idle()).poll());
}

#[test]
fn fires_exactly_when_the_last_permit_returns() {
    let sem = Semaphore::new(4);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire_many(2).unwrap();
    let c = sem.try_acquire().unwrap();
    let mut idle = pending(sem.wait_idle());

    drop(a);
    assert!(!idle.is_woken());
    assert_pending!(idle.poll());
    drop(b);
    assert!(!idle.is_woken());
    assert_pending!(idle.poll());
    drop(c);
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
    assert_eq!(counts(&sem), (4, 0, 4));
}

#[test]
fn fires_under_debt_only_once_everything_is_back() {
    let sem = Semaphore::new(3);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    let c = sem.try_acquire().unwrap();
    sem.set_capacity(1); // debt 2
    let mut idle = pending(sem.wait_idle());
    drop(a); // debt 1
    assert!(!idle.is_woken());
    drop(b); // debt 0, one held
    assert!(!idle.is_woken());
    assert_pending!(idle.poll());
    drop(c);
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
    assert_eq!(counts(&sem), (1, 0, 1));
}

#[test]
fn fires_when_the_last_permit_is_forgotten() {
    let sem = Arc::new(Semaphore::new(3));
    let a = sem.try_acquire().unwrap();
    let b = sem.clone().try_acquire_many_owned(2).unwrap();
    let mut idle = pending(sem.wait_idle());
    a.forget();
    assert!(!idle.is_woken());
    b.forget();
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
    assert_eq!(counts(&sem), (0, 0, 0));
}

#[test]
fn fires_when_lowering_leaves_nothing_held() {
    // set_capacity itself never changes what is held, so it must not fire a drain
    // waiter while permits are out.
    let sem = Semaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let mut idle = pending(sem.wait_idle());
    sem.set_capacity(0);
    sem.set_capacity(5);
    assert!(!idle.is_woken());
    assert_pending!(idle.poll());
    drop(a);
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
}

#[test]
fn every_drain_waiter_fires() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    // More than one wake batch.
    let mut idles: Vec<_> = (0..70).map(|_| pending(sem.wait_idle())).collect();
    drop(held);
    for idle in &mut idles {
        assert!(idle.is_woken());
        assert_ready!(idle.poll());
    }
}

#[test]
fn a_release_that_grants_a_waiter_does_not_wake_drain_waiters() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut acq = pending(sem.acquire());
    let mut idle = pending(sem.wait_idle());

    drop(held); // goes to the acquirer: still one permit in use
    assert!(acq.is_woken());
    assert!(!idle.is_woken());
    assert_pending!(idle.poll());
    let p = assert_ready_ok!(acq.poll());
    assert_eq!(counts(&sem), (1, 1, 0));

    drop(p);
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
}

#[test]
fn drain_waiters_queued_first_do_not_take_the_acquirers_wake_up() {
    let sem = Semaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    let mut idle = pending(sem.wait_idle());
    let mut acq = pending(sem.acquire_many(2));
    drop(a);
    assert!(!acq.is_woken() && !idle.is_woken());
    drop(b);
    assert!(acq.is_woken());
    assert!(!idle.is_woken());
    let p = assert_ready_ok!(acq.poll());
    assert_pending!(idle.poll());
    drop(p);
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
}

#[test]
fn a_granted_but_unpolled_acquire_counts_as_held() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let acq = pending(sem.acquire());
    let mut idle = pending(sem.wait_idle());
    drop(held);
    assert!(acq.is_woken());
    assert!(!idle.is_woken());
    drop(acq); // the granted permit comes back with the future
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
}

#[test]
fn a_dropped_drain_waiter_unregisters_and_the_rest_still_fire() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let first = pending(sem.wait_idle());
    let mut second = pending(sem.wait_idle());
    drop(first);
    drop(held);
    assert!(second.is_woken());
    assert_ready!(second.poll());
    // The last drain waiter left: the lock-free paths are back and still correct.
    let p = sem.try_acquire_many(2).unwrap();
    drop(p);
    assert_eq!(counts(&sem), (2, 0, 2));
}

#[test]
fn a_woken_drain_future_stays_ready() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut idle = pending(sem.wait_idle());
    drop(held);
    // Something is held again before the drain future is polled: it already fired.
    let _again = sem.try_acquire().unwrap();
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
}

#[test]
fn close_then_wait_idle_is_a_deterministic_shutdown() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire().unwrap();
    let mut waiter = pending(sem.acquire_many(2));
    sem.close();
    let mut idle = pending(sem.wait_idle());
    assert!(waiter.is_woken());
    assert!(assert_ready!(waiter.poll()).is_err());
    assert!(!idle.is_woken());
    drop(held);
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
    assert_eq!(counts(&sem), (2, 0, 2));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn drain_on_a_runtime_waits_for_spawned_work() {
    let sem = Arc::new(Semaphore::new(3));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for i in 0..6u64 {
        let permit = sem.clone().acquire_owned().await;
        let Ok(permit) = permit else { unreachable!() };
        let done = done.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(10 * i)).await;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(permit);
        });
    }
    sem.close();
    sem.wait_idle().await;
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 6);
    assert_eq!(sem.in_use(), 0);
}
