//! The seed's three-stage pipeline — fast source → transform on workers → slow sink —
//! with a bound at every stage, printing each stage's depth and drops as it runs.
//!
//! ```text
//! source (as fast as it may)
//!   └─ bounded(64)            stage 1: backpressure; the source waits when it is full
//!        └─ par_map(4, transform)   stage 2: 4 workers on spawned tasks
//!             └─ shed_watermark(32, 8)   stage 3: the sink is slower than the workers,
//!                  └─ sink (5 ms/item)        so shed from depth 32 until 8
//! ```
//!
//! Every queue is bounded, so memory stays flat however long it runs: the RSS column
//! does not grow. It stops after 3 s (a `CancellationToken`) and checks the books:
//! every item the source made is delivered, shed, or still buffered.
//!
//! Run: `cargo run --release --example pipeline`

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use weir::prelude::WeirStreamExt;
use weir::stream::{DropReason, Watermarks};

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("non-zero")
}

/// Some CPU work and some waiting, like a parse plus a lookup.
async fn transform(x: u64) -> u64 {
    let mut h = x;
    for _ in 0..20_000 {
        h = h.rotate_left(5) ^ h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    h
}

fn rss_kb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| "?".into())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let produced = Arc::new(AtomicU64::new(0));
    let p = produced.clone();
    let source = futures::stream::iter(0u64..).inspect(move |_| {
        p.fetch_add(1, Ordering::Relaxed);
    });

    let stage1 = source.bounded(nz(64));
    let depth1 = stage1.stats();
    let stage3 = stage1
        .par_map(nz(4), transform)
        .shed_watermark(Watermarks::new(32, 8).expect("8 < 32"));
    let shed = stage3.stats();

    let token = CancellationToken::new();
    let mut sink = stage3.until_cancelled(token.clone());

    let printer = {
        let (produced, depth1, shed, token) = (
            produced.clone(),
            depth1.clone(),
            shed.clone(),
            token.clone(),
        );
        tokio::spawn(async move {
            println!(
                "{:>6} {:>9} {:>10} {:>12} {:>9} {:>9} {:>10}",
                "t(ms)", "produced", "stage1", "stage3", "shedding", "shed", "rss(kB)"
            );
            let start = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            while !token.is_cancelled() {
                tick.tick().await;
                let s = shed.snapshot();
                println!(
                    "{:>6} {:>9} {:>6}/{:<3} {:>8}/{:<3} {:>9} {:>9} {:>10}",
                    start.elapsed().as_millis(),
                    produced.load(Ordering::Relaxed),
                    depth1.depth(),
                    depth1.capacity(),
                    s.occupancy(),
                    32,
                    if s.is_shedding() { "on" } else { "off" },
                    s.dropped_by(DropReason::AboveWatermark),
                    rss_kb(),
                );
            }
        })
    };

    tokio::spawn({
        let token = token.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            token.cancel();
        }
    });

    let mut consumed = 0u64;
    while let Some(_item) = sink.next().await {
        tokio::time::sleep(Duration::from_millis(5)).await; // the slow sink
        consumed += 1;
    }
    drop(sink); // already ended: the cancellation dropped every stage behind it
    printer.await.expect("printer");

    let s = shed.snapshot();
    println!(
        "\nsink consumed {consumed}; stage 3 received {}, emitted {}, shed {}, left buffered {}",
        s.received(),
        s.emitted(),
        s.dropped(),
        s.occupancy()
    );
    println!(
        "stage 1 max depth {} of {}; stage 3 max occupancy {} of 32",
        depth1.max_depth(),
        depth1.capacity(),
        s.max_occupancy()
    );
    assert_eq!(
        s.received(),
        s.emitted() + s.dropped() + s.occupancy() as u64
    );
    assert_eq!(s.emitted(), consumed);
    assert!(depth1.max_depth() <= 64 && s.max_occupancy() <= 32);
    assert!(
        s.dropped() > 0,
        "the sink is slower than the workers: something was shed"
    );
}
