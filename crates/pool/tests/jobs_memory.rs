//! Memory stays flat in the number of jobs submitted: pushing 10× more jobs
//! through a bounded pool does not raise its peak heap, and closing it gives the
//! heap back.
//!
//! The heap is measured with a counting global allocator (as in `keys_memory`),
//! which is why this test has a binary of its own and a single `#[test]`.

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

/// Jobs in the short run; the long run submits ten times as many.
const JOBS: u64 = if cfg!(miri) { 200 } else { 20_000 };

/// Submits `jobs` trivial jobs (unkeyed, or under 16 keys round robin) through a
/// pool with 4 workers and a queue of 64, detaching every handle; returns the
/// peak live heap seen after each submission, above `baseline`.
async fn peak_heap(jobs: u64, keyed: bool, baseline: isize) -> isize {
    let pool = Pool::builder()
        .workers(4)
        .budget(4)
        .queue_capacity(64)
        .key_capacity(64)
        .build()
        .unwrap();
    let mut peak = 0;
    for i in 0..jobs {
        let job = async move { std::hint::black_box(i) };
        let handle = if keyed {
            pool.submit_for(i % 16, job).await
        } else {
            pool.submit(job).await
        };
        drop(handle.unwrap());
        peak = peak.max(live() - baseline);
    }
    let report = pool.close(Instant::now() + Duration::from_secs(10)).await;
    assert_eq!(report.stats.completed, jobs);
    assert_eq!(report.stats.keys, 0);
    peak
}

#[tokio::test(flavor = "current_thread")]
async fn peak_heap_does_not_grow_with_the_number_of_jobs() {
    // Warm up: lazily built runtime structures (timer wheel, task slabs) exist
    // before the baseline is taken.
    peak_heap(JOBS, false, 0).await;
    peak_heap(JOBS, true, 0).await;
    let baseline = live();

    let mut lines = Vec::new();
    for keyed in [false, true] {
        let short = peak_heap(JOBS, keyed, baseline).await;
        let long = peak_heap(10 * JOBS, keyed, baseline).await;
        let after = live() - baseline;
        lines.push(format!(
            "{}: peak heap +{short} B over {JOBS} jobs, +{long} B over {} jobs; after close {after:+} B",
            if keyed { "16 keys" } else { "unkeyed" },
            10 * JOBS,
        ));
        // Flat: the long run's peak is the short run's, give or take a few KiB of
        // runtime noise (tokio's task slabs settle on their own), not ten times it.
        assert!(
            long <= short + 8 * 1024,
            "peak heap grew with the job count: +{short} B over {JOBS} jobs, +{long} B over {} jobs",
            10 * JOBS
        );
        // And bounded by what the pool may hold: its queues full (64 unkeyed, or
        // 16 keys × 64) and 4 jobs running, at well under 512 B a job, plus the
        // pool itself.
        let held = if keyed { 16 * 64 + 4 } else { 64 + 4 };
        assert!(long < held * 512 + 64 * 1024, "peak heap +{long} B");
        assert!(after < 16 * 1024, "heap after close {after:+} B");
    }
    for line in lines {
        println!("{line}");
    }
}
