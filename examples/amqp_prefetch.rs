//! A RabbitMQ consumer whose prefetch window is a weir [`Latch`], changed at runtime.
//!
//! AMQP's own `basic.qos` prefetch applies to a consumer when it starts: to change
//! it you cancel and re-consume. Here the broker may push up to a generous limit,
//! and a weir `Latch` decides how many deliveries are *being worked on* at once:
//!
//! - `latch.increment().await` **before** a delivery is handed to a worker (it waits
//!   while the window is full, FIFO);
//! - `latch.decrement()` **after** the worker's ack or nack is sent;
//! - `latch.set_max(n)` moves the window while everything runs. Lowering it preempts
//!   no one: workers finish, and no new delivery starts until in-flight is below the
//!   new window.
//!
//! Every tenth message fails on its first delivery and is nacked with requeue; the
//! broker redelivers it and the retry is acked. Each message is acked exactly once.
//!
//! Run (needs RabbitMQ on localhost; `AMQP_ADDR` overrides the address):
//! `cargo run --example amqp_prefetch`. The integration test
//! `tests/amqp_prefetch.rs` runs the same [`run`] against the broker and checks the
//! window, the acks and the window change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use weir::Latch;

/// The broker address: `AMQP_ADDR`, or the local default (guest/guest on 5672).
pub(crate) fn amqp_addr() -> String {
    std::env::var("AMQP_ADDR").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// One scripted run.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Messages published, then consumed.
    pub(crate) messages: u32,
    /// The window at the start.
    pub(crate) window: usize,
    /// The window after `change_after` acks.
    pub(crate) window_after: usize,
    /// When to change the window (acks so far).
    pub(crate) change_after: u32,
    /// Each worker's processing time.
    pub(crate) work: Duration,
}

/// What a run saw.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// Acks per message (index = the message number in the payload).
    pub(crate) acks: Vec<u32>,
    /// Nacks sent (each requeued, then redelivered).
    pub(crate) nacks: u32,
    /// Deliveries handed to a worker while in-flight exceeded the window: must be 0.
    pub(crate) over_window: u32,
    /// The largest in-flight count before the window change.
    pub(crate) max_in_flight_before: usize,
    /// The largest in-flight count among deliveries started after the change.
    pub(crate) max_in_flight_after: usize,
    /// Messages still in the queue after the consumer's channel closed (unacked ones
    /// would be back there).
    pub(crate) left_in_queue: u32,
}

/// Connects to the broker.
pub(crate) async fn connect(addr: &str) -> Result<Connection, lapin::Error> {
    Connection::connect(addr, ConnectionProperties::default()).await
}

/// Publishes `run.messages` messages to a fresh queue, consumes them through a weir
/// `Latch` window, and reports what happened. Closes `conn` at the end.
pub(crate) async fn run(conn: Connection, run: Run) -> Result<Report, lapin::Error> {
    let publish = conn.create_channel().await?;
    let queue = format!(
        "weir-prefetch-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    publish
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                // Deleted with the connection; not on consumer cancel, so the
                // final count below can still read it.
                exclusive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    for i in 0..run.messages {
        publish
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &i.to_be_bytes(),
                BasicProperties::default(),
            )
            .await?;
    }

    let consume = conn.create_channel().await?;
    // The broker's own limit only stops it flooding us; the Latch is the window.
    consume.basic_qos(64, BasicQosOptions::default()).await?;
    let mut deliveries = consume
        .basic_consume(
            queue.as_str().into(),
            "weir-prefetch".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let latch = Arc::new(Latch::new(run.window));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let acks: Arc<Vec<AtomicU32>> =
        Arc::new((0..run.messages).map(|_| AtomicU32::new(0)).collect());
    let acked = Arc::new(AtomicU32::new(0));
    let (mut nacks, mut over_window) = (0u32, 0u32);
    let (mut max_before, mut max_after) = (0usize, 0usize);
    let changed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let mut workers = tokio::task::JoinSet::new();

    while acked.load(Ordering::SeqCst) < run.messages {
        let delivery = tokio::select! {
            d = deliveries.next() => match d {
                Some(d) => d?,
                None => break,
            },
            // A worker nacked: count it (the redelivery comes through `deliveries`).
            Some(nacked) = done_rx.recv() => {
                nacks += u32::from(nacked);
                continue;
            }
        };
        // Read before waiting: a change seen here was applied before this grant.
        let after_change = changed.load(Ordering::SeqCst);
        let window_seen = latch.max();
        // The window: wait for room *before* handing the delivery to a worker.
        latch.increment().await.expect("the latch is never closed");
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        if now > window_seen.max(latch.max()) {
            over_window += 1;
        }
        if after_change {
            max_after = max_after.max(now);
        } else {
            max_before = max_before.max(now);
        }

        let (latch, in_flight, acks, acked, changed, done_tx, run) = (
            latch.clone(),
            in_flight.clone(),
            acks.clone(),
            acked.clone(),
            changed.clone(),
            done_tx.clone(),
            run.clone(),
        );
        workers.spawn(async move {
            let id = u32::from_be_bytes(delivery.data[..4].try_into().expect("4-byte payload"));
            tokio::time::sleep(run.work).await; // the work
            let fail = id % 10 == 3 && !delivery.redelivered;
            if fail {
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                delivery.nack(requeue).await.expect("nack");
            } else {
                delivery.ack(BasicAckOptions::default()).await.expect("ack");
                acks[id as usize].fetch_add(1, Ordering::SeqCst);
                let n = acked.fetch_add(1, Ordering::SeqCst) + 1;
                if n == run.change_after {
                    // Runtime window change: takes effect for the next delivery.
                    latch.set_max(run.window_after);
                    changed.store(true, Ordering::SeqCst);
                }
            }
            // Ack or nack sent: the delivery leaves the window.
            in_flight.fetch_sub(1, Ordering::SeqCst);
            latch.decrement().expect("paired with an increment");
            let _ = done_tx.send(fail);
        });
        while let Some(r) = workers.try_join_next() {
            r.expect("worker panicked");
        }
    }
    while let Some(r) = workers.join_next().await {
        r.expect("worker panicked");
    }
    drop(done_tx);
    while let Some(nacked) = done_rx.recv().await {
        nacks += u32::from(nacked);
    }
    // Unacked deliveries would return to the queue when their channel closes.
    consume.close(200, "done".into()).await?;
    let left = publish
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?
        .message_count();
    conn.close(200, "done".into()).await?;

    Ok(Report {
        acks: acks.iter().map(|a| a.load(Ordering::SeqCst)).collect(),
        nacks,
        over_window,
        max_in_flight_before: max_before,
        max_in_flight_after: max_after,
        left_in_queue: left,
    })
}

#[tokio::main]
async fn main() {
    let run_spec = Run {
        messages: 400,
        window: 8,
        window_after: 2,
        change_after: 200,
        work: Duration::from_millis(5),
    };
    println!(
        "consuming {} messages: window {} then {} after {} acks",
        run_spec.messages, run_spec.window, run_spec.window_after, run_spec.change_after
    );
    let addr = amqp_addr();
    let conn = match connect(&addr).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("RabbitMQ at {addr}: {e} (start it with `rabbitmq-server -detached`)");
            std::process::exit(1);
        }
    };
    let report = run(conn, run_spec).await.expect("the run");
    let once = report.acks.iter().filter(|&&a| a == 1).count();
    println!(
        "acked exactly once: {once}/{}; nacked and redelivered: {}; over the window: {}",
        report.acks.len(),
        report.nacks,
        report.over_window
    );
    println!(
        "max in flight: {} with window 8, {} after set_max(2); left in queue: {}",
        report.max_in_flight_before, report.max_in_flight_after, report.left_in_queue
    );
    assert_eq!(once, report.acks.len());
    assert_eq!(report.over_window, 0);
}
