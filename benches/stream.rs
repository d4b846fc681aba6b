//! weir-stream's adapters side by side with what people write today, in one run:
//!
//! - `bounded`: `.bounded(64)` vs spawn + `tokio::sync::mpsc::channel(64)` +
//!   `ReceiverStream`, over 2M `u64`s per iteration, on a 2-worker runtime, in two
//!   shapes, each applied to both contenders alike: the consumer in `block_on` (like
//!   the body of `#[tokio::main]`: producer and consumer on different threads, every
//!   hand-over crosses threads) and the consumer in a spawned task (like most
//!   consumers in a server: the scheduler may run both sides on one worker).
//! - `drop_oldest`: `.drop_oldest(1024)` vs a spawned sender on
//!   `tokio::sync::broadcast::channel(1024)`, 200k items; both drop whatever the
//!   consumer does not keep up with, so the count delivered may differ.
//! - `par_map`: `.par_map(4, f)` vs `.map(f).buffered(4)` over 2 000 CPU-bound items
//!   (~20 µs each): spawned tasks use both cores, `buffered` one.
//!
//! Before criterion runs, a memory check pushes 10M items through `.bounded(64)` and
//! prints the buffer's maximum depth and the process's peak RSS before and after.
//!
//! Run: `cargo bench --bench stream -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use futures::StreamExt;
use tokio::runtime::{Builder, Runtime};
use tokio_stream::wrappers::ReceiverStream;
use weir::prelude::WeirStreamExt;

const BOUNDED_ITEMS: u64 = 2_000_000;
const SHED_ITEMS: u64 = 200_000;
const PAR_ITEMS: u64 = 2_000;

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn weir_fold() -> u64 {
    let s = futures::stream::iter(0..BOUNDED_ITEMS).bounded(nz(64));
    s.fold(0u64, |a, x| async move { a.wrapping_add(x) }).await
}

async fn mpsc_fold() -> u64 {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut s = futures::stream::iter(0..BOUNDED_ITEMS);
        while let Some(x) = s.next().await {
            if tx.send(x).await.is_err() {
                break;
            }
        }
    });
    let s = ReceiverStream::new(rx);
    s.fold(0u64, |a, x| async move { a.wrapping_add(x) }).await
}

fn bounded(c: &mut Criterion) {
    let rt = multi_thread();
    let mut g = c.benchmark_group("bounded_64_2M");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(BOUNDED_ITEMS));
    g.bench_function("weir_bounded", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(weir_fold().await) })
    });
    g.bench_function("tokio_mpsc_receiver_stream", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(mpsc_fold().await) })
    });
    g.bench_function("weir_bounded_spawned_consumer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(tokio::spawn(weir_fold()).await.unwrap()) })
    });
    g.bench_function("tokio_mpsc_receiver_stream_spawned_consumer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(tokio::spawn(mpsc_fold()).await.unwrap()) })
    });
    g.finish();
}

fn drop_oldest(c: &mut Criterion) {
    let rt = multi_thread();
    let mut g = c.benchmark_group("drop_oldest_1024_200k");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(SHED_ITEMS));
    g.bench_function("weir_drop_oldest", |b| {
        b.to_async(&rt).iter(|| async {
            let s = futures::stream::iter(0..SHED_ITEMS).drop_oldest(nz(1024));
            black_box(s.count().await)
        })
    });
    g.bench_function("tokio_broadcast", |b| {
        b.to_async(&rt).iter(|| async {
            let (tx, mut rx) = tokio::sync::broadcast::channel(1024);
            tokio::spawn(async move {
                let mut s = futures::stream::iter(0..SHED_ITEMS);
                while let Some(x) = s.next().await {
                    let _ = tx.send(x);
                }
            });
            let mut n = 0usize;
            loop {
                match rx.recv().await {
                    Ok(_) => n += 1,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

/// About 20 µs of CPU work.
fn work(x: u64) -> u64 {
    let mut h = x;
    for _ in 0..20_000 {
        h = h.rotate_left(5) ^ h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    h
}

fn par_map(c: &mut Criterion) {
    let rt = multi_thread();
    let mut g = c.benchmark_group("par_map_4_cpu_2k");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(PAR_ITEMS));
    g.bench_function("weir_par_map", |b| {
        b.to_async(&rt).iter(|| async {
            let s = futures::stream::iter(0..PAR_ITEMS).par_map(nz(4), |x| async move { work(x) });
            black_box(s.fold(0u64, |a, x| async move { a ^ x }).await)
        })
    });
    g.bench_function("futures_buffered", |b| {
        b.to_async(&rt).iter(|| async {
            let s = futures::stream::iter(0..PAR_ITEMS)
                .map(|x| async move { work(x) })
                .buffered(4);
            black_box(s.fold(0u64, |a, x| async move { a ^ x }).await)
        })
    });
    g.finish();
}

/// `VmHWM` (peak RSS) in kB, where `/proc` exists.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// 10M items through `.bounded(64)`: the buffer's depth and the process's peak RSS
/// must not grow with the item count.
fn memory_check() {
    let rt = multi_thread();
    let before = peak_rss_kb();
    let (sum, max_depth) = rt.block_on(async {
        let s = futures::stream::iter(0..10_000_000u64)
            .map(|x| vec![x; 4])
            .bounded(nz(64));
        let stats = s.stats();
        let sum = s
            .fold(0u64, |a, v| async move { a.wrapping_add(v[0]) })
            .await;
        (sum, stats.max_depth())
    });
    let after = peak_rss_kb();
    assert_eq!(sum, 9_999_999 * 10_000_000 / 2);
    assert!(max_depth <= 64);
    println!(
        "memory check: 10M items (32-byte heap Vec each) through bounded(64): max depth {max_depth}, \
         peak RSS before {before:?} kB, after {after:?} kB"
    );
}

criterion_group!(benches, bounded, drop_oldest, par_map);

fn main() {
    memory_check();
    benches();
    Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .final_summary();
}
