//! An axum service behind weir admission control, with a weir pool doing the work,
//! `/stats` as JSON, Prometheus `/metrics`, and a graceful shutdown that loses no
//! accepted work.
//!
//! - `GET /work/{ms}`: admitted through a `weir::tower::AdmissionLayer` (8 permits;
//!   a request waits **at most 100 ms** for one, and at most 8 may wait), then runs
//!   a job of `ms` milliseconds on the pool and answers `200`. Refusals:
//!   - `Busy` (too many waiting, or shutting down) → `503 Service Unavailable` with
//!     `Retry-After: 1`;
//!   - admission deadline passed → `504 Gateway Timeout`.
//! - `GET /stats`: the limiter and the pool, as JSON.
//! - `GET /metrics`: the pool's series (`weir_pool_*`) in Prometheus text format,
//!   from `metrics-exporter-prometheus`.
//!
//! Shutdown (Ctrl-C): stop accepting connections, let admitted requests finish
//! (axum's graceful shutdown), close the admission semaphore, then
//! `pool.close(deadline)` and print its report.
//!
//! Run: `cargo run --example http`, then for example
//! `curl 127.0.0.1:3000/work/50` and `curl 127.0.0.1:3000/stats`. The integration
//! test `tests/http.rs` drives [`serve`] past capacity with a real HTTP client.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::ServiceBuilder;
use weir::Semaphore;
use weir::pool::metrics::PoolMetrics;
use weir::pool::{CloseReport, Pool};
// `weir::tower` with the facade's `tower` feature.
use weir_tower::{AdmissionLayer, BoxError, Busy, Timeout};

/// Requests admitted at once (the pool's budget matches it).
pub(crate) const CAPACITY: usize = 8;
/// How long a request may wait for admission.
pub(crate) const ADMISSION_DEADLINE: Duration = Duration::from_millis(100);
/// How many requests may wait for admission at once.
pub(crate) const MAX_WAITING: usize = 8;

#[derive(Clone)]
struct App {
    pool: Pool,
    limit: Arc<Semaphore>,
    metrics: Arc<PoolMetrics>,
    prometheus: Option<PrometheusHandle>,
}

/// Serves on `listener` until `shutdown` resolves, then drains: stops accepting,
/// finishes admitted requests, closes the pool and returns its report.
pub(crate) async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    prometheus: Option<PrometheusHandle>,
) -> CloseReport {
    let metrics = Arc::new(PoolMetrics::new("http"));
    let pool = Pool::builder()
        .workers(CAPACITY)
        .budget(CAPACITY)
        .queue_capacity(4 * CAPACITY)
        .observer(metrics.clone())
        .build()
        .expect("valid pool");
    let limit = Arc::new(Semaphore::new(CAPACITY));
    let app = App {
        pool: pool.clone(),
        limit: limit.clone(),
        metrics,
        prometheus,
    };
    let admission = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(refused))
        .layer(AdmissionLayer::new(limit.clone(), ADMISSION_DEADLINE).max_waiting(MAX_WAITING));
    let router = Router::new()
        .route("/work/{ms}", get(work).route_layer(admission))
        .route("/stats", get(stats))
        .route("/metrics", get(prometheus_text))
        .with_state(app);

    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .expect("server");
    // Every connection is closed: no request can be admitted any more.
    limit.close();
    pool.close(Instant::now() + Duration::from_secs(5)).await
}

async fn work(State(app): State<App>, Path(ms): Path<u64>) -> Response {
    let job = async move {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
        ms
    };
    match app.pool.submit(job).await {
        Ok(handle) => match handle.await {
            Ok(ms) => (StatusCode::OK, format!("worked {ms} ms\n")).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        },
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// Maps admission refusals to HTTP.
async fn refused(err: BoxError) -> Response {
    if let Some(busy) = err.downcast_ref::<Busy>() {
        let body = format!("{busy}\n");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            body,
        )
            .into_response()
    } else if let Some(timeout) = err.downcast_ref::<Timeout>() {
        (StatusCode::GATEWAY_TIMEOUT, format!("{timeout}\n")).into_response()
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response()
    }
}

async fn stats(State(app): State<App>) -> Response {
    let s = app.pool.stats();
    app.metrics.record_stats(&s);
    let body = format!(
        concat!(
            "{{\"admission\":{{\"capacity\":{},\"in_flight\":{},\"waiting\":{},\"closed\":{}}},",
            "\"pool\":{{\"submitted\":{},\"completed\":{},\"queued\":{},\"running\":{},",
            "\"refused\":{},\"dropped\":{},\"budget\":{},\"in_flight_weight\":{}}}}}\n"
        ),
        app.limit.capacity(),
        app.limit.in_use(),
        app.limit.waiters(),
        app.limit.is_closed(),
        s.submitted,
        s.completed,
        s.queued,
        s.running,
        s.refused(),
        s.dropped,
        s.budget,
        s.in_flight_weight,
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn prometheus_text(State(app): State<App>) -> Response {
    app.metrics.record_stats(&app.pool.stats());
    match &app.prometheus {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::NOT_FOUND, "no Prometheus recorder installed\n").into_response(),
    }
}

#[tokio::main]
async fn main() {
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("install the Prometheus recorder");
    let listener = TcpListener::bind("127.0.0.1:3000")
        .await
        .expect("bind 127.0.0.1:3000");
    println!("listening on http://127.0.0.1:3000 (try /work/50, /stats, /metrics); Ctrl-C stops");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down: no new connections, finishing admitted requests");
    };
    let report = serve(listener, shutdown, Some(prometheus)).await;
    println!("pool closed: {report:?}");
}
