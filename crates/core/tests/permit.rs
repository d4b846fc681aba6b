//! `Permit` and `OwnedPermit`: `num_permits`, `split`, `merge`, `forget`, and that
//! every way of giving permits back reaches the waiters.

#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use common::{counts, pending, queue};
use tokio_test::{assert_pending, assert_ready_ok};
use weir_core::Semaphore;

#[test]
fn split_and_merge_keep_the_total() {
    let sem = Semaphore::new(6);
    let mut p = sem.try_acquire_many(5).unwrap();
    let mut q = p.split(2).unwrap();
    assert_eq!((p.num_permits(), q.num_permits()), (3, 2));
    assert!(p.split(4).is_none());
    assert_eq!(
        p.num_permits(),
        3,
        "a failed split leaves the permit untouched"
    );
    let zero = q.split(0).unwrap();
    assert_eq!((q.num_permits(), zero.num_permits()), (2, 0));
    drop(zero);
    assert_eq!(counts(&sem), (6, 5, 1));

    p.merge(q);
    assert_eq!(p.num_permits(), 5);
    assert_eq!(counts(&sem), (6, 5, 1));
    let all = p.split(5).unwrap();
    assert_eq!(p.num_permits(), 0);
    drop(p);
    assert_eq!(counts(&sem), (6, 5, 1));
    drop(all);
    assert_eq!(counts(&sem), (6, 0, 6));
}

#[test]
fn owned_split_and_merge_keep_the_total() {
    let sem = Arc::new(Semaphore::new(4));
    let mut p = sem.clone().try_acquire_many_owned(4).unwrap();
    let q = p.split(1).unwrap();
    assert!(Arc::ptr_eq(q.semaphore(), &sem));
    assert_eq!((p.num_permits(), q.num_permits()), (3, 1));
    assert!(p.split(5).is_none());
    drop(q);
    assert_eq!(counts(&sem), (4, 3, 1));
    p.merge(sem.clone().try_acquire_owned().unwrap());
    assert_eq!(p.num_permits(), 4);
    drop(p);
    assert_eq!(counts(&sem), (4, 0, 4));
}

#[test]
fn a_split_off_part_released_alone_wakes_a_waiter() {
    let sem = Semaphore::new(3);
    let mut p = sem.try_acquire_many(3).unwrap();
    let mut w = pending(sem.acquire_many(2));
    drop(p.split(1).unwrap());
    assert!(!w.is_woken());
    drop(p.split(1).unwrap());
    assert!(w.is_woken());
    let pw = assert_ready_ok!(w.poll());
    assert_eq!(pw.num_permits(), 2);
    assert_eq!(counts(&sem), (3, 3, 0));
}

#[test]
fn a_merged_permit_releases_everything_at_once() {
    let sem = Semaphore::new(3);
    let mut a = sem.try_acquire().unwrap();
    a.merge(sem.try_acquire_many(2).unwrap());
    let mut w = pending(sem.acquire_many(3));
    drop(a);
    assert!(w.is_woken());
    let _pw = assert_ready_ok!(w.poll());
}

#[test]
#[should_panic = "different semaphores"]
fn merging_permits_of_different_semaphores_panics() {
    let one = Semaphore::new(1);
    let two = Semaphore::new(1);
    let mut a = one.try_acquire().unwrap();
    a.merge(two.try_acquire().unwrap());
}

#[test]
#[should_panic = "different semaphores"]
fn merging_owned_permits_of_different_semaphores_panics() {
    let one = Arc::new(Semaphore::new(1));
    let two = Arc::new(Semaphore::new(1));
    let mut a = one.try_acquire_owned().unwrap();
    a.merge(two.try_acquire_owned().unwrap());
}

#[test]
fn forget_removes_permits_from_circulation() {
    let sem = Arc::new(Semaphore::new(5));
    sem.try_acquire_many(2).unwrap().forget();
    assert_eq!(counts(&sem), (3, 0, 3));
    sem.clone().try_acquire_owned().unwrap().forget();
    assert_eq!(counts(&sem), (2, 0, 2));
    let mut p = sem.try_acquire_many(2).unwrap();
    p.split(0).unwrap().forget(); // forgetting nothing changes nothing
    assert_eq!(counts(&sem), (2, 2, 0));
    drop(p);
    sem.set_capacity(5); // set_capacity puts them back
    assert_eq!(counts(&sem), (5, 0, 5));
}

#[test]
fn forget_can_send_a_queued_request_aside() {
    let sem = Semaphore::new(3);
    let mut held = sem.try_acquire_many(3).unwrap();
    let mut big = pending(sem.acquire_many(3));
    held.split(1).unwrap().forget(); // capacity 2: big no longer fits
    let mut small = pending(sem.acquire());
    drop(held);
    assert!(!big.is_woken());
    assert!(small.is_woken());
    let _ps = assert_ready_ok!(small.poll());
    assert_pending!(big.poll());
    assert_eq!(counts(&sem), (2, 1, 1));
    assert_eq!(queue(&sem), (1, 3));
}

#[test]
fn forget_does_not_wake_waiters_it_gives_nothing_to() {
    let sem = Semaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let _b = sem.try_acquire().unwrap();
    let mut w = pending(sem.acquire());
    a.forget();
    assert!(!w.is_woken());
    assert_pending!(w.poll());
    assert_eq!(counts(&sem), (1, 1, 0));
}

#[test]
fn an_owned_permit_outlives_its_scope_and_crosses_threads() {
    let sem = Arc::new(Semaphore::new(2));
    let p = sem.clone().try_acquire_many_owned(2).unwrap();
    std::thread::spawn(move || {
        assert_eq!(p.num_permits(), 2);
        drop(p);
    })
    .join()
    .unwrap();
    assert_eq!(counts(&sem), (2, 0, 2));
}

#[test]
fn permit_reports_its_semaphore() {
    let sem = Semaphore::new(1);
    let p = sem.try_acquire().unwrap();
    assert!(std::ptr::eq(p.semaphore(), &sem));
    assert!(format!("{p:?}").contains("permits: 1"));
}
