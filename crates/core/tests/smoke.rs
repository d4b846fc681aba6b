//! Smoke tests (superseded by the full suite).
use std::sync::Arc;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use weir_core::Semaphore;

#[test]
fn fifo_smoke() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire_many(2).unwrap();
    let mut a = task::spawn(sem.acquire_many(2));
    let mut b = task::spawn(sem.acquire());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(held);
    assert!(a.is_woken());
    let pa = assert_ready_ok!(a.poll());
    assert_pending!(b.poll());
    drop(pa);
    assert!(b.is_woken());
    let _pb = assert_ready_ok!(b.poll());
    assert_eq!(sem.in_use(), 1);
    let mut idle = task::spawn(sem.wait_idle());
    assert_pending!(idle.poll());
    drop(_pb);
    assert!(idle.is_woken());
    assert_ready!(idle.poll());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_smoke() {
    let sem = Arc::new(Semaphore::new(5));
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = vec![];
    for i in 0..50 {
        let sem = sem.clone();
        let active = active.clone();
        handles.push(tokio::spawn(async move {
            for j in 0..200 {
                let w = 1 + (i + j) % 3;
                let p = sem.acquire_many(w).await.unwrap();
                let now = active.fetch_add(w, std::sync::atomic::Ordering::SeqCst) + w;
                assert!(now <= 5, "{now}");
                tokio::task::yield_now().await;
                active.fetch_sub(w, std::sync::atomic::Ordering::SeqCst);
                drop(p);
                if j % 50 == 0 {
                    sem.set_capacity(5);
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(sem.in_use(), 0);
    assert_eq!(sem.available(), 5);
}
