//! `examples/amqp_prefetch.rs` against a real RabbitMQ on localhost (CI starts one;
//! see `.ci/run`). A missing broker fails this test loudly; set `WEIR_SKIP_AMQP=1`
//! to skip it on a machine without RabbitMQ.

use std::time::Duration;

#[path = "../examples/amqp_prefetch.rs"]
#[allow(dead_code, reason = "the example's `main` is not called from the test")]
mod app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latch_window_bounds_in_flight_deliveries_and_moves_at_runtime() {
    if std::env::var_os("WEIR_SKIP_AMQP").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: WEIR_SKIP_AMQP=1, the RabbitMQ test did not run");
        return;
    }
    let addr = app::amqp_addr();
    let run = app::Run {
        messages: 300,
        window: 8,
        window_after: 2,
        change_after: 150,
        work: Duration::from_millis(3),
    };
    let conn = app::connect(&addr).await.unwrap_or_else(|e| {
        panic!(
            "RabbitMQ is not reachable at {addr}: {e}. Start it (`rabbitmq-server -detached`), \
             or set WEIR_SKIP_AMQP=1 to skip this test"
        )
    });
    let report = app::run(conn, run).await.expect("the run against RabbitMQ");

    // Every message acked exactly once, none left behind.
    assert_eq!(report.acks.len(), 300);
    assert!(
        report.acks.iter().all(|&a| a == 1),
        "acks per message: {:?}",
        report.acks
    );
    assert_eq!(report.left_in_queue, 0);
    // Messages 3, 13, 23, ... failed once each and came back.
    assert_eq!(report.nacks, 30);
    // In-flight never exceeded the window, and the window was used to the full.
    assert_eq!(report.over_window, 0);
    assert_eq!(report.max_in_flight_before, 8);
    // After `set_max(2)`, no delivery started with more than 2 in flight.
    assert_eq!(report.max_in_flight_after, 2);
}
