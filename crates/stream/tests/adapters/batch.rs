use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use tokio::time::Instant;
use weir_stream::WeirStreamExt;

use crate::support::nz;

#[tokio::test(start_paused = true)]
async fn full_batches_go_at_once_partial_ones_after_max_wait_from_their_first_item() {
    let (mut tx, rx) = mpsc::unbounded::<u32>();
    let mut s = rx.batch(nz(3), Duration::from_millis(100));
    let start = Instant::now();
    for i in 0..3 {
        tx.send(i).await.unwrap();
    }
    assert_eq!(s.next().await, Some(vec![0, 1, 2]));
    assert_eq!(start.elapsed(), Duration::ZERO);

    // An empty stretch produces nothing, however long.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(futures::poll!(s.next()).is_pending());

    let first = Instant::now();
    tx.send(3).await.unwrap();
    let tx2 = tx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let mut tx2 = tx2;
        tx2.send(4).await.unwrap();
    });
    assert_eq!(s.next().await, Some(vec![3, 4]));
    assert_eq!(
        first.elapsed(),
        Duration::from_millis(100),
        "timed from the first item"
    );

    tx.send(5).await.unwrap();
    drop(tx);
    assert_eq!(
        s.next().await,
        Some(vec![5]),
        "the end flushes the remainder"
    );
    assert_eq!(s.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn never_an_empty_batch() {
    let batches: Vec<Vec<u8>> = futures::stream::iter(Vec::<u8>::new())
        .batch(nz(4), Duration::from_millis(1))
        .collect()
        .await;
    assert!(batches.is_empty());
    let batches: Vec<Vec<u32>> = futures::stream::iter(0..10)
        .then(|i| async move {
            tokio::time::sleep(Duration::from_millis(7)).await;
            i
        })
        .batch(nz(100), Duration::from_millis(20))
        .collect()
        .await;
    assert!(batches.iter().all(|b| !b.is_empty()));
    assert_eq!(batches.concat(), (0..10).collect::<Vec<_>>());
}
