use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc;
use futures::{FutureExt, SinkExt, StreamExt};
use weir_stream::{DropReason, ShedStats, Watermarks, WeirStreamExt};

use crate::support::{assert_adds_up, drop_guard, dropped, nz, panic_message, settle};

type Dropped = Arc<Mutex<Vec<(u32, DropReason)>>>;

fn recorder() -> (Dropped, impl FnMut(u32, DropReason) + Send + 'static) {
    let log: Dropped = Arc::default();
    let l = log.clone();
    (log, move |item, reason| {
        l.lock().unwrap().push((item, reason))
    })
}

async fn send_all(tx: &mut mpsc::UnboundedSender<u32>, items: impl IntoIterator<Item = u32>) {
    for i in items {
        tx.send(i).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn drop_newest_refuses_the_incoming_items() {
    let (mut tx, rx) = mpsc::unbounded();
    let (log, on_drop) = recorder();
    let mut s = rx.drop_newest(nz(3)).on_drop(on_drop);
    let stats = s.stats();
    assert!(futures::poll!(s.next()).is_pending()); // starts the producer task
    send_all(&mut tx, 1..=5).await;
    settle().await;
    let snap = stats.snapshot();
    assert_eq!(
        (snap.received(), snap.occupancy(), snap.dropped()),
        (5, 3, 2)
    );
    assert_adds_up(&stats);
    assert_eq!(
        *log.lock().unwrap(),
        [
            (4, DropReason::IncomingRefused),
            (5, DropReason::IncomingRefused)
        ]
    );
    assert_eq!(s.next().await, Some(1));
    send_all(&mut tx, [6]).await; // room for one again
    settle().await;
    drop(tx);
    let rest: Vec<u32> = s.collect().await;
    assert_eq!(rest, [2, 3, 6]);
    let snap = stats.snapshot();
    assert_eq!((snap.received(), snap.emitted(), snap.dropped()), (6, 4, 2));
    assert_eq!(snap.max_occupancy(), 3);
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn drop_oldest_evicts_the_oldest_buffered_items() {
    let (mut tx, rx) = mpsc::unbounded();
    let (log, on_drop) = recorder();
    let mut s = rx.drop_oldest(nz(3)).on_drop(on_drop);
    let stats = s.stats();
    assert!(futures::poll!(s.next()).is_pending());
    send_all(&mut tx, 1..=5).await;
    settle().await;
    assert_adds_up(&stats);
    assert_eq!(
        *log.lock().unwrap(),
        [
            (1, DropReason::OldestEvicted),
            (2, DropReason::OldestEvicted)
        ]
    );
    assert_eq!(s.next().await, Some(3));
    send_all(&mut tx, 6..=8).await; // buffer [4, 5] + 6, 7, 8: evicts 4 and 5
    settle().await;
    drop(tx);
    let rest: Vec<u32> = s.collect().await;
    assert_eq!(rest, [6, 7, 8]);
    assert_eq!(stats.dropped_by(DropReason::OldestEvicted), 4);
    assert_eq!(stats.dropped_by(DropReason::IncomingRefused), 0);
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn latest_conflates_to_the_newest_item() {
    let (mut tx, rx) = mpsc::unbounded();
    let (log, on_drop) = recorder();
    let mut s = rx.latest().on_drop(on_drop);
    let stats = s.stats();
    assert!(futures::poll!(s.next()).is_pending());
    send_all(&mut tx, 1..=5).await;
    settle().await;
    assert_eq!(stats.occupancy(), 1);
    assert_eq!(s.next().await, Some(5));
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .map(|(i, _)| *i)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|(_, r)| *r == DropReason::Superseded)
    );
    send_all(&mut tx, [6]).await;
    assert_eq!(s.next().await, Some(6)); // no stale item left behind
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn watermark_sheds_from_high_until_low() {
    let (mut tx, rx) = mpsc::unbounded();
    let (log, on_drop) = recorder();
    let mut s = rx
        .shed_watermark(Watermarks::new(4, 1).unwrap())
        .on_drop(on_drop);
    let stats = s.stats();
    assert!(futures::poll!(s.next()).is_pending());

    send_all(&mut tx, 1..=3).await;
    settle().await;
    assert!(!stats.is_shedding(), "depth 3 < high 4");
    send_all(&mut tx, [4]).await;
    settle().await;
    assert!(stats.is_shedding(), "starts at high");
    send_all(&mut tx, [5, 6]).await;
    settle().await;
    assert_eq!(stats.dropped_by(DropReason::AboveWatermark), 2);

    // Draining to 3 and 2 is not enough: hysteresis keeps shedding.
    assert_eq!(s.next().await, Some(1));
    assert_eq!(s.next().await, Some(2));
    assert!(stats.is_shedding(), "depth 2 > low 1");
    send_all(&mut tx, [7]).await;
    settle().await;
    assert_eq!(stats.occupancy(), 2, "7 was shed although there was room");

    // At low it stops.
    assert_eq!(s.next().await, Some(3));
    assert!(!stats.is_shedding(), "stops at low");
    send_all(&mut tx, [8, 9]).await;
    settle().await;
    drop(tx);
    let rest: Vec<u32> = s.collect().await;
    assert_eq!(rest, [4, 8, 9]);
    let shed: Vec<u32> = log.lock().unwrap().iter().map(|(i, _)| *i).collect();
    assert_eq!(shed, [5, 6, 7]);
    assert_eq!(stats.max_occupancy(), 4);
    assert_adds_up(&stats);
}

#[tokio::test(start_paused = true)]
async fn the_upstream_is_never_blocked() {
    type Made = (
        ShedStats,
        Box<dyn futures::Stream<Item = u32> + Unpin + Send>,
    );
    let makers: [fn(mpsc::UnboundedReceiver<u32>) -> Made; 4] = [
        |rx| {
            let s = rx.drop_newest(nz(2));
            (s.stats(), Box::new(s))
        },
        |rx| {
            let s = rx.drop_oldest(nz(2));
            (s.stats(), Box::new(s))
        },
        |rx| {
            let s = rx.latest();
            (s.stats(), Box::new(s))
        },
        |rx| {
            let s = rx.shed_watermark(Watermarks::new(2, 0).unwrap());
            (s.stats(), Box::new(s))
        },
    ];
    for make in makers {
        let (mut tx, rx) = mpsc::unbounded();
        let (stats, mut s) = make(rx);
        assert!(futures::poll!(s.next()).is_pending());
        send_all(&mut tx, 0..10_000).await;
        settle().await;
        // The consumer took nothing, yet the upstream was drained completely.
        let snap = stats.snapshot();
        assert_eq!(snap.received(), 10_000);
        assert!(snap.occupancy() <= 2);
        assert_adds_up(&stats);
        drop(tx);
        let n = s.count().await as u64;
        assert_eq!(stats.emitted(), n);
        assert_eq!(stats.occupancy(), 0);
        assert_adds_up(&stats);
    }
}

#[tokio::test(start_paused = true)]
async fn on_drop_runs_outside_the_lock_after_counting() {
    let (mut tx, rx) = mpsc::unbounded();
    let s = rx.drop_newest(nz(1));
    let stats = s.stats();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (st, se) = (stats.clone(), seen.clone());
    // Reading the stats takes the adapter's lock: this would deadlock under it.
    let mut s = s.on_drop(move |item, _| se.lock().unwrap().push((item, st.dropped())));
    assert!(futures::poll!(s.next()).is_pending());
    send_all(&mut tx, 0..3).await;
    settle().await;
    assert_eq!(*seen.lock().unwrap(), [(1, 1), (2, 2)]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_consumer_stops_the_producer() {
    let (guard, rx) = drop_guard();
    let upstream = futures::stream::iter(0..).map(move |x: u64| {
        let _ = &guard;
        x
    });
    let mut s = upstream.drop_oldest(nz(4));
    assert!(s.next().await.is_some());
    drop(s);
    dropped(rx).await;
}

#[tokio::test(start_paused = true)]
async fn upstream_panic_propagates_after_buffered_items() {
    let upstream = futures::stream::iter(0..4u32).map(|x| {
        assert!(x < 3, "upstream failed at {x}");
        x
    });
    let mut s = upstream.drop_newest(nz(8));
    let mut got = Vec::new();
    let res = AssertUnwindSafe(async {
        while let Some(x) = s.next().await {
            got.push(x);
        }
    })
    .catch_unwind()
    .await;
    assert_eq!(panic_message(&*res.unwrap_err()), "upstream failed at 3");
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(s.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn on_drop_panic_propagates() {
    let mut s = futures::stream::iter(0..10u32)
        .drop_newest(nz(1))
        .on_drop(|item, _| panic!("on_drop saw {item}"));
    let res = AssertUnwindSafe(async { while s.next().await.is_some() {} })
        .catch_unwind()
        .await;
    assert_eq!(panic_message(&*res.unwrap_err()), "on_drop saw 1");
}

#[tokio::test]
#[should_panic(expected = "on_drop must be set before the stream is first polled")]
async fn on_drop_after_start_is_rejected() {
    let mut s = futures::stream::iter(0..3u32).drop_newest(nz(1));
    let _ = s.next().await;
    let _ = s.on_drop(|_, _| {});
}

mod sample {
    use super::*;

    #[tokio::test]
    async fn extremes_are_exact() {
        let none = futures::stream::iter(0..1000u32).sample(0.0);
        let stats = none.stats();
        assert_eq!(none.count().await, 0);
        assert_eq!(stats.dropped_by(DropReason::NotSampled), 1000);
        let all: Vec<u32> = futures::stream::iter(0..1000u32)
            .sample(1.0)
            .collect()
            .await;
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_seed_reproduces_the_sample_and_the_ratio_holds() {
        let run = |seed| async move {
            let (log, on_drop) = recorder();
            let s = futures::stream::iter(0..100_000u32)
                .sample(0.1)
                .seed(seed)
                .on_drop(on_drop);
            let stats = s.stats();
            let kept: Vec<u32> = s.collect().await;
            assert_adds_up(&stats);
            assert_eq!(stats.emitted(), kept.len() as u64);
            assert_eq!(log.lock().unwrap().len() as u64, stats.dropped());
            kept
        };
        let a = run(42).await;
        assert_eq!(a, run(42).await);
        assert_ne!(a, run(43).await);
        // Binomial(100_000, 0.1): sd ~95; 10_000 ± 600 is > 6 sd.
        assert!((9_400..10_600).contains(&a.len()), "{}", a.len());
    }

    #[test]
    #[should_panic(expected = "keep_ratio must be within 0.0..=1.0")]
    fn nan_is_rejected() {
        let _ = futures::stream::iter(0..1).sample(f64::NAN);
    }

    #[test]
    #[should_panic(expected = "keep_ratio must be within 0.0..=1.0")]
    fn above_one_is_rejected() {
        let _ = futures::stream::iter(0..1).sample(1.5);
    }
}
