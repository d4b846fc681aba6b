use std::num::NonZeroUsize;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use weir_stream::WeirStreamExt;

use crate::support::{drop_guard, dropped};

#[tokio::test(start_paused = true)]
async fn cancellation_wakes_a_consumer_waiting_on_a_silent_upstream() {
    let token = CancellationToken::new();
    let (guard, rx) = drop_guard();
    let upstream = futures::stream::pending::<u8>().map(move |x| {
        let _ = &guard;
        x
    });
    let mut s = upstream.until_cancelled(token.clone());
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        t.cancel();
    });
    assert_eq!(s.next().await, None);
    dropped(rx).await; // the upstream went at cancellation, not at drop
    assert_eq!(s.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn buffered_items_are_discarded_and_the_producer_stops() {
    let token = CancellationToken::new();
    let (guard, rx) = drop_guard();
    let upstream = futures::stream::iter(0..).map(move |x: u64| {
        let _ = &guard;
        x
    });
    let mut s = upstream
        .bounded(NonZeroUsize::new(16).unwrap())
        .until_cancelled(token.clone());
    assert_eq!(s.next().await, Some(0));
    crate::support::settle().await; // 16 items wait in the buffer
    token.cancel();
    assert_eq!(s.next().await, None);
    dropped(rx).await; // the bounded producer task was stopped
}
