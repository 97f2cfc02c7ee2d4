//! Prometheus metrics at `/metrics`: HTTP requests and latency by route and
//! status; executions started and finished; node durations by kind; LLM cache
//! hits and misses; database pool connections; runs waiting for a slot;
//! executions running in this process and claimed from the queue (new, or
//! taken over from a process that died); SQLite list reads moved off the async
//! workers (`store::sqlite::readers`).
//!
//! The `metrics` facade records; the Prometheus exporter renders on scrape.
//! One recorder per process (it is global), shared by every server it starts.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use app::ports::Store;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::engine::Engine;

/// Seconds: from 100 µs to 30 s, dense where Weft should be (sub-millisecond).
const LATENCY_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder =
            PrometheusBuilder::new().set_buckets(&LATENCY_BUCKETS).expect("the buckets are not empty").build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just isn't fed.
        let _ = metrics::set_global_recorder(recorder);
        // Histograms keep every sample until they are drained into their buckets,
        // which a scrape does. Nobody may scrape: drain them every few seconds so
        // memory stays flat. A thread, not a task: the recorder outlives any runtime.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        });
        handle
    })
}

/// Counts and times every request by matched route (not raw path, which would
/// explode the label set) and status.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("weft_http_requests_total", &labels).increment(1);
    metrics::histogram!("weft_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Renders the metrics, refreshing the gauges that are read rather than counted.
pub async fn render(store: Arc<dyn Store>, engine: Arc<Engine>) -> Response {
    let (size, idle) = store.pool_stats();
    metrics::gauge!("weft_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("weft_db_pool_connections", "state" => "in_use").set((size as usize).saturating_sub(idle) as f64);
    metrics::gauge!("weft_nodes_waiting_for_slot").set(engine.waiting_for_slot() as f64);
    metrics::gauge!("weft_executions_running_here").set(engine.running_executions() as f64);
    let (hits, misses) = engine.services().llm.cache_stats();
    metrics::gauge!("weft_llm_cache_hits").set(hits as f64);
    metrics::gauge!("weft_llm_cache_misses").set(misses as f64);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render()).into_response()
}
