//! Acquires take part in tokio's cooperative budget without losing their FIFO place
//! when the budget runs out (tokio#8365).

#![cfg(not(loom))]

use std::{
    future::{Future, poll_fn},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Poll, ready},
};

use tokio::task::coop::{has_budget_remaining, poll_proceed};
use weir_core::Semaphore;

/// Spends the current task's whole coop budget without yielding.
async fn exhaust_budget() {
    while has_budget_remaining() {
        poll_fn(|cx| {
            let restore = ready!(poll_proceed(cx));
            restore.made_progress();
            Poll::Ready(())
        })
        .await;
    }
    assert!(!has_budget_remaining());
}

/// tokio#8365: a task whose budget is exhausted must still be queued by its first
/// poll. If the budget were checked before enqueueing, task `a` would yield without a
/// queue place, `b` (spawned later) would queue first and be served first.
#[tokio::test(flavor = "current_thread")]
async fn a_task_out_of_budget_keeps_its_fifo_place() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.clone().try_acquire_owned().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));

    let spawn = |name: &'static str, exhaust: bool| {
        let sem = sem.clone();
        let order = order.clone();
        tokio::spawn(async move {
            if exhaust {
                exhaust_budget().await;
            }
            let permit = sem.acquire().await.unwrap();
            order.lock().unwrap().push(name);
            drop(permit);
        })
    };
    // Current-thread runtime: `a` runs first, then `b`, in spawn order.
    let a = spawn("a", true);
    let b = spawn("b", false);
    while sem.waiters() < 2 {
        tokio::task::yield_now().await;
    }
    drop(held);
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["a", "b"]);
}

/// Same, with the permits free: a task out of budget takes them on its first poll
/// (so nobody can barge) and only then yields.
#[tokio::test(flavor = "current_thread")]
async fn an_acquire_out_of_budget_takes_free_permits_then_yields() {
    let sem = Semaphore::new(1);
    exhaust_budget().await;
    let mut fut = Box::pin(sem.acquire());
    poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending(), "must yield: no budget");
        Poll::Ready(())
    })
    .await;
    // The permit already belongs to the yielding future.
    assert_eq!(sem.in_use(), 1);
    assert!(sem.try_acquire().is_err());

    tokio::task::yield_now().await; // fresh budget
    let permit = fut.await.unwrap();
    assert_eq!(permit.num_permits(), 1);
}

/// A future that took permits but yielded for budget gives them back when dropped.
#[tokio::test(flavor = "current_thread")]
async fn dropping_an_acquire_that_yielded_for_budget_returns_its_permits() {
    let sem = Semaphore::new(2);
    exhaust_budget().await;
    let mut fut = Box::pin(sem.acquire_many(2));
    poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    assert_eq!(sem.in_use(), 2);
    drop(fut);
    assert_eq!((sem.in_use(), sem.available()), (0, 2));
}

/// An uncontended acquire loop still yields to other tasks once its budget is spent.
#[tokio::test(flavor = "current_thread")]
async fn an_uncontended_acquire_loop_yields_to_other_tasks() {
    let sem = Semaphore::new(1);
    let ran = Arc::new(AtomicBool::new(false));
    let other = {
        let ran = ran.clone();
        tokio::spawn(async move { ran.store(true, Ordering::SeqCst) })
    };
    let mut iterations = 0;
    while !ran.load(Ordering::SeqCst) {
        drop(sem.acquire().await.unwrap());
        iterations += 1;
        assert!(iterations <= 1_000, "the acquire loop never yielded");
    }
    other.await.unwrap();
}

/// The same for a latch increment that took its permit and then yielded for budget:
/// it is not counted until it returns, so a decrement in between cannot take its
/// permit, and its drop frees that permit exactly once.
#[tokio::test(flavor = "current_thread")]
async fn decrementing_an_increment_that_yielded_for_budget_keeps_the_ceiling() {
    let latch = weir_core::Latch::new(1);
    exhaust_budget().await;
    let mut inc = Box::pin(latch.increment());
    poll_fn(|cx| {
        assert!(inc.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    assert_eq!(latch.count(), 0);
    assert!(
        latch.try_increment().is_err(),
        "the pending increment holds the place"
    );
    assert!(latch.decrement().is_err(), "nothing completed to take back");
    drop(inc);
    let count = latch.count();
    let mut admitted = 0;
    while latch.try_increment().is_ok() {
        admitted += 1;
        assert!(admitted <= 64);
    }
    assert_eq!(count + admitted, 1, "the ceiling of 1 no longer holds");
}
