//! `examples/http.rs` on 127.0.0.1 (an ephemeral port), driven past capacity with a
//! real HTTP client, then shut down while requests are in flight.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[path = "../examples/http.rs"]
#[allow(dead_code, reason = "the example's `main` is not called from the test")]
mod app;

async fn get(client: &reqwest::Client, url: String) -> (StatusCode, Option<String>, String) {
    let resp = client.get(url).send().await.expect("request");
    let retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status(), retry, resp.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_capacity_it_refuses_with_503_and_504_and_shutdown_loses_no_accepted_work() {
    let prometheus = PrometheusBuilder::new().install_recorder().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(
        listener,
        async {
            let _ = stop_rx.await;
        },
        Some(prometheus),
    ));
    let client = reqwest::Client::new();

    // 1. Five times capacity at once, each job 1 s: CAPACITY are admitted, up to
    // MAX_WAITING wait 100 ms and time out (504), the rest are refused at once (503).
    let burst = 5 * app::CAPACITY;
    let calls = (0..burst).map(|_| get(&client, format!("{base}/work/1000")));
    let results = futures::future::join_all(calls).await;
    let count = |code| results.iter().filter(|(s, ..)| *s == code).count();
    let (ok, busy, late) = (
        count(StatusCode::OK),
        count(StatusCode::SERVICE_UNAVAILABLE),
        count(StatusCode::GATEWAY_TIMEOUT),
    );
    assert_eq!(ok + busy + late, burst, "{results:?}");
    assert!(ok >= app::CAPACITY, "admitted {ok}");
    assert!(busy > 0 && late > 0, "503s: {busy}, 504s: {late}");
    for (status, retry, body) in &results {
        match *status {
            StatusCode::OK => assert_eq!(body, "worked 1000 ms\n"),
            StatusCode::SERVICE_UNAVAILABLE => assert_eq!(retry.as_deref(), Some("1")),
            _ => assert!(body.contains("admission deadline"), "{body}"),
        }
    }

    // The pool's series are served in Prometheus format.
    let (status, _, text) = get(&client, format!("{base}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(&format!(
            "weir_pool_submitted_total{{pool=\"http\",result=\"accepted\"}} {ok}"
        )),
        "{text}"
    );
    assert!(
        text.contains("weir_pool_ceiling{pool=\"http\"} 8"),
        "{text}"
    );

    // 2. Fill every slot with slow requests, then shut down while they run.
    let slow: Vec<_> = (0..app::CAPACITY)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{base}/work/500"));
            tokio::spawn(async move { get(&client, url).await })
        })
        .collect();
    loop {
        let (_, _, stats) = get(&client, format!("{base}/stats")).await;
        if stats.contains(&format!("\"in_flight\":{}", app::CAPACITY)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // polling the server's own view
    }
    stop_tx.send(()).unwrap();
    for call in slow {
        let (status, _, body) = call.await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "worked 500 ms\n"));
    }
    let report = server.await.unwrap();
    assert!(!report.deadline_passed);
    assert_eq!(report.never_started, 0);
    assert_eq!(report.stats.completed, (ok + app::CAPACITY) as u64);
    assert_eq!(report.stats.submitted, report.stats.completed);
    // The server is gone: a new request cannot connect.
    assert!(client.get(format!("{base}/stats")).send().await.is_err());
}
