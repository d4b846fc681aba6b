//! An adaptive concurrency limit finding a server's capacity, losing it and finding
//! it again, printed once per simulated 250 ms (paused tokio time: it runs in well
//! under a second of wall time).
//!
//! The server has `capacity` workers at ~10 ms a request and a short queue; past it,
//! it rejects. 100 clients go through a windowed Gradient limiter.
//!
//! ```text
//! cargo run --example adaptive
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use weir::core::{
    AdaptiveLimiter, Outcome, Semaphore,
    adaptive::{Gradient, Windowed},
};

struct Server {
    workers: Semaphore,
    in_system: AtomicUsize,
    room: AtomicUsize,
}

impl Server {
    fn set_capacity(&self, capacity: usize) {
        self.workers.set_capacity(capacity);
        self.room.store(capacity + capacity / 10, Ordering::Relaxed);
    }

    async fn call(&self, n: u64) -> Outcome {
        if self.in_system.fetch_add(1, Ordering::Relaxed) >= self.room.load(Ordering::Relaxed) {
            self.in_system.fetch_sub(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_micros(500)).await; // a fast 503
            return Outcome::Overload;
        }
        let _worker = self.workers.acquire().await.unwrap();
        tokio::time::sleep(Duration::from_micros(9_000 + n % 2_000)).await;
        self.in_system.fetch_sub(1, Ordering::Relaxed);
        Outcome::Success
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let limiter = Arc::new(AdaptiveLimiter::new(Windowed::new(Gradient::new())));
    let server = Arc::new(Server {
        workers: Semaphore::new(0),
        in_system: AtomicUsize::new(0),
        room: AtomicUsize::new(0),
    });
    // Latency (µs) summed and counted per print interval.
    let latency = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));

    for id in 0..100u64 {
        let (limiter, server, latency) = (limiter.clone(), server.clone(), latency.clone());
        tokio::spawn(async move {
            for n in (id * 7919).. {
                let permit = limiter.acquire().await.unwrap();
                let outcome = server.call(n).await;
                if outcome == Outcome::Success {
                    latency
                        .0
                        .fetch_add(permit.elapsed().as_micros() as u64, Ordering::Relaxed);
                    latency.1.fetch_add(1, Ordering::Relaxed);
                }
                permit.record(outcome);
            }
        });
    }

    println!(
        "{:>6} {:>8} {:>6} {:>9} {:>11} {:>8}",
        "time", "capacity", "limit", "in-flight", "latency", "done/s"
    );
    let script = [(40, 3), (8, 3), (40, 3)]; // (capacity, seconds)
    let mut elapsed = Duration::ZERO;
    for (capacity, seconds) in script {
        server.set_capacity(capacity);
        for _ in 0..seconds * 4 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            elapsed += Duration::from_millis(250);
            let (sum, count) = (
                latency.0.swap(0, Ordering::Relaxed),
                latency.1.swap(0, Ordering::Relaxed),
            );
            let mean = Duration::from_micros(sum / count.max(1));
            println!(
                "{:>5.2}s {:>8} {:>6} {:>9} {:>11?} {:>8}",
                elapsed.as_secs_f64(),
                capacity,
                limiter.limit(),
                limiter.in_flight(),
                mean,
                count * 4,
            );
        }
    }
    let snap = limiter.snapshot();
    println!(
        "samples {}, overloads {}, ignored {}",
        snap.samples, snap.overloads, snap.ignored
    );
}
