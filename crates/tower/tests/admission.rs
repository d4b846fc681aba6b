//! Behaviour of `Admission`: busy vs timeout, FIFO admission, permits held for the
//! whole response, cancellation and close.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_test::{assert_pending, assert_ready, task};
use tower::{Layer, Service, ServiceExt, service_fn};
use weir_core::Semaphore;
use weir_tower::{AdmissionLayer, Busy, Timeout};

fn echo(limit: &Arc<Semaphore>, deadline: Duration) -> AdmissionLayer {
    AdmissionLayer::new(limit.clone(), deadline)
}

#[tokio::test(start_paused = true)]
async fn a_full_wait_queue_is_busy_at_once_and_a_waiter_times_out_at_the_deadline() {
    let limit = Arc::new(Semaphore::new(1));
    let mut svc = echo(&limit, Duration::from_millis(100))
        .max_waiting(1)
        .layer(service_fn(|x: u32| async move { Ok::<_, Infallible>(x) }));
    let held = limit.clone().acquire_owned().await.unwrap();

    let mut waiting = task::spawn(svc.ready().await.unwrap().call(1));
    assert_pending!(waiting.poll());
    assert_eq!(limit.waiters(), 1);

    // The queue holds one: the next request is refused without waiting.
    let start = tokio::time::Instant::now();
    let err = svc.ready().await.unwrap().call(2).await.unwrap_err();
    assert!(err.is::<Busy>() && !err.downcast_ref::<Busy>().unwrap().is_closed());
    assert_eq!(start.elapsed(), Duration::ZERO);

    // The waiter gives up exactly at its deadline and leaves the queue.
    tokio::time::sleep(Duration::from_millis(99)).await;
    assert_pending!(waiting.poll());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let err = assert_ready!(waiting.poll()).unwrap_err();
    assert!(err.is::<Timeout>());
    assert_eq!(limit.waiters(), 0);
    drop(held);
    assert_eq!(limit.in_use(), 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_admitted_in_arrival_order_and_hold_the_permit_until_the_response() {
    let limit = Arc::new(Semaphore::new(1));
    let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let g = gate.clone();
    let svc = echo(&limit, Duration::from_secs(60)).layer(service_fn(move |x: u32| {
        let order_tx = order_tx.clone();
        let g = g.clone();
        async move {
            order_tx.send(x).unwrap();
            let _open = g.lock().await; // the work: blocked while the test holds the gate
            Ok::<_, Infallible>(x)
        }
    }));
    let closed_gate = gate.lock().await;
    let mut calls = Vec::new();
    for x in 0..4 {
        let mut t = task::spawn(svc.clone().oneshot(x));
        assert_pending!(t.poll());
        calls.push(t);
    }
    assert_eq!(limit.in_use(), 1);
    assert_eq!(limit.waiters(), 3);
    drop(closed_gate);
    for (x, mut t) in calls.into_iter().enumerate() {
        let got = loop {
            if let std::task::Poll::Ready(r) = t.poll() {
                break r.unwrap();
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(got, x as u32);
    }
    let mut order = Vec::new();
    while let Ok(x) = order_rx.try_recv() {
        order.push(x);
    }
    assert_eq!(order, [0, 1, 2, 3]);
    assert_eq!(limit.in_use(), 0);
}

#[tokio::test]
async fn a_dropped_request_gives_back_its_place_or_its_permit() {
    let limit = Arc::new(Semaphore::new(1));
    let (tx, rx) = oneshot::channel::<()>();
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let svc = echo(&limit, Duration::from_secs(60)).layer(service_fn(move |()| {
        let rx = rx.clone();
        async move {
            if let Some(rx) = rx.lock().await.take() {
                let _ = rx.await;
            }
            Ok::<_, Infallible>(())
        }
    }));
    let mut running = task::spawn(svc.clone().oneshot(()));
    assert_pending!(running.poll());
    assert_eq!(limit.in_use(), 1);
    let mut queued = task::spawn(svc.clone().oneshot(()));
    assert_pending!(queued.poll());
    assert_eq!(limit.waiters(), 1);

    drop(queued);
    assert_eq!(limit.waiters(), 0);
    drop(running);
    assert_eq!(limit.in_use(), 0);
    drop(tx);
}

#[tokio::test]
async fn closing_the_semaphore_refuses_waiting_and_new_requests_as_closed() {
    let limit = Arc::new(Semaphore::new(1));
    let svc = echo(&limit, Duration::from_secs(60))
        .layer(service_fn(|()| async { Ok::<_, Infallible>(()) }));
    let held = limit.clone().acquire_owned().await.unwrap();
    let mut waiting = task::spawn(svc.clone().oneshot(()));
    assert_pending!(waiting.poll());
    limit.close();
    assert!(waiting.is_woken());
    let err = assert_ready!(waiting.poll()).unwrap_err();
    assert!(err.downcast_ref::<Busy>().unwrap().is_closed());
    let err = svc.oneshot(()).await.unwrap_err();
    assert!(err.downcast_ref::<Busy>().unwrap().is_closed());
    drop(held);
}

#[tokio::test]
async fn inner_errors_pass_through_boxed() {
    let limit = Arc::new(Semaphore::new(1));
    let svc = echo(&limit, Duration::from_secs(1))
        .layer(service_fn(|()| async { Err::<(), _>(std::fmt::Error) }));
    let err = svc.oneshot(()).await.unwrap_err();
    assert!(err.is::<std::fmt::Error>());
    assert_eq!(limit.in_use(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_layer_feeds_its_limiter_one_sample_per_completed_response() {
    use weir_core::{AdaptiveLimiter, adaptive::Aimd};

    let aimd = Aimd::builder().initial_limit(1).build().unwrap();
    let limiter: Arc<AdaptiveLimiter> = Arc::new(AdaptiveLimiter::new(aimd));
    let layer = AdmissionLayer::adaptive(limiter.clone(), Duration::from_millis(100));
    assert!(Arc::ptr_eq(layer.limiter().unwrap(), &limiter));

    // A success at full utilisation (1 of 1 in flight) raises the AIMD limit.
    let ok = layer.layer(service_fn(|()| async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, Infallible>(())
    }));
    ok.clone().oneshot(()).await.unwrap();
    assert_eq!((limiter.limit(), limiter.semaphore().capacity()), (2, 2));

    // A response future dropped before completing reports nothing.
    let mut svc = ok.clone();
    let mut dropped = task::spawn(svc.ready().await.unwrap().call(()));
    assert_pending!(dropped.poll());
    assert_eq!(limiter.in_flight(), 1);
    drop(dropped);
    assert_eq!((limiter.limit(), limiter.in_flight()), (2, 0));

    // An error from the service is an overload: the limit backs off.
    let failing = layer.layer(service_fn(|()| async {
        Err::<(), _>("upstream overloaded")
    }));
    assert!(failing.oneshot(()).await.is_err());
    assert_eq!(limiter.limit(), 1);
}
