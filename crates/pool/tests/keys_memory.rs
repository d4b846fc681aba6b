//! A stream of distinct keys leaves nothing behind: after jobs under a million
//! distinct keys (fewer in debug builds, see `KEYS`), the pool holds no key state
//! and the heap is back where it was.
//!
//! The heap is measured with a counting global allocator, which is why this test
//! has a binary of its own.

use std::{alloc::System, time::Duration};

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::time::Instant;
use weir_pool::Pool;

// Counting is done by `stats_alloc`, so the test itself stays in safe code.
#[global_allocator]
static ALLOC: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes of the whole test binary. (`stats_alloc` already counts a
/// realloc's growth in `bytes_allocated` and its shrinking in
/// `bytes_deallocated`; `bytes_reallocated` is the same change again.)
fn live() -> isize {
    let stats = INSTRUMENTED_SYSTEM.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// One million in release builds (about 1 s). Debug builds run 250k (about 2 s;
/// the full million takes 8 s or more in debug on a shared 2-core machine); run
/// `cargo test -p weir-pool --release --test keys_memory` for the full million.
/// Miri gets 1k.
const KEYS: u64 = if cfg!(miri) {
    1_000
} else if cfg!(debug_assertions) {
    250_000
} else {
    1_000_000
};

/// Keys live at once: each wave submits this many new keys, then waits for them.
const WAVE: u64 = 1_000;

#[tokio::test(flavor = "current_thread")]
async fn a_million_distinct_keys_leave_no_state_behind() {
    let pool = Pool::builder()
        .workers(4)
        .budget(4)
        .key_capacity(4)
        .build()
        .unwrap();
    // Warm up: one wave, so that lazily built runtime and pool structures exist
    // before the baseline is taken.
    run_wave(&pool, u64::MAX - WAVE).await;
    assert_eq!(pool.stats().keys, 0);
    let baseline = live();

    let started = std::time::Instant::now();
    let mut peak_keys = 0;
    let mut peak_heap = 0_isize;
    for wave in 0..KEYS / WAVE {
        let (keys, heap) = run_wave(&pool, wave * WAVE).await;
        peak_keys = peak_keys.max(keys);
        peak_heap = peak_heap.max(heap - baseline);
    }
    let stats = pool.stats();
    assert_eq!(stats.completed, KEYS + WAVE);
    assert_eq!(stats.keys, 0, "live key entries after the stream");
    assert_eq!(
        peak_keys, WAVE as usize,
        "each wave had its keys live at once"
    );
    let grown = live() - baseline;
    println!(
        "{KEYS} keys in {:?}: peak {peak_keys} live keys, peak heap +{peak_heap} B, \
         after: {} live keys, heap {grown:+} B",
        started.elapsed(),
        stats.keys,
    );
    // The wave's structures are reclaimed; allow a few KiB of noise (tokio's
    // timer wheel and task slabs settle on their own).
    assert!(grown < 16 * 1024, "heap grew by {grown} B over {KEYS} keys");
    pool.close(Instant::now() + Duration::from_secs(1)).await;
}

/// Submits one job under each of `WAVE` new keys, then waits for all; returns the
/// live keys and the heap seen after submitting.
async fn run_wave(pool: &Pool, first: u64) -> (usize, isize) {
    let mut handles = Vec::with_capacity(WAVE as usize);
    for key in first..first + WAVE {
        handles.push(pool.try_submit_for(key, async {}).unwrap());
    }
    let live = (pool.stats().keys, live());
    for handle in handles {
        handle.await.unwrap();
    }
    // The last job's weight goes back (and its key is reclaimed) before its handle
    // resolves.
    live
}
