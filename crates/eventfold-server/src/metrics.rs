//! Metrics: the server's own (gRPC calls, HTTP requests, the process and
//! the machine it runs on) and the Prometheus exporter that renders every
//! crate's metrics at `GET /metrics`.
//!
//! Every crate records through the `metrics` facade; only this module knows
//! the exporter. The composition root installs [`recorder`] as the global
//! recorder once, and gives the node the [`text`] of its handle and of what
//! to sample just before each scrape (the engine's state, the process).
//! Names and labels are KurrentDB's where it has the metric, so its Grafana
//! dashboards work unchanged; the rest start with `eventfold_`.

mod buckets;
mod calls;
mod system;

use std::time::Duration;

use axum::Router;
use eventfold_node::MetricsText;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use metrics_util::MetricKindMask;

pub use calls::names as call_metric_names;
pub use system::{SystemSampler, names as system_metric_names};

/// How long a gauge may go without being set before the exporter forgets
/// it. Gauges that describe state are set at every scrape or every few
/// seconds by their owner; one whose owner is gone (a deleted persistent
/// subscription group) leaves the scrape after this long. Counters and
/// histograms are never forgotten.
pub const GAUGE_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the exporter's histogram samples are folded in when nobody
/// scrapes, so that they do not pile up in memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// eventfold's Prometheus recorder: histogram buckets by kind of metric
/// (never summaries), and gauges forgotten after [`GAUGE_IDLE_TIMEOUT`].
pub fn recorder() -> PrometheusRecorder {
    recorder_forgetting_gauges_after(GAUGE_IDLE_TIMEOUT)
}

/// [`recorder`], forgetting gauges after `idle` (tests shorten it).
pub fn recorder_forgetting_gauges_after(idle: Duration) -> PrometheusRecorder {
    let configured = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(idle))
        .set_buckets(buckets::SECONDS)
        .and_then(|builder| {
            buckets::overrides()
                .into_iter()
                .try_fold(builder, |builder, (matcher, buckets)| builder.set_buckets_for_metric(matcher, buckets))
        });
    match configured {
        Ok(builder) => builder.build_recorder(),
        // Refused only for an empty list, and the lists are constants.
        Err(error) => panic!("invalid histogram buckets: {error}"),
    }
}

/// Installs [`recorder`] as the process's global recorder and returns its
/// handle; `None` when another recorder was installed first (metrics then
/// go there, and this server serves none).
pub fn install() -> Option<PrometheusHandle> {
    let recorder = recorder();
    let handle = recorder.handle();
    match metrics::set_global_recorder(recorder) {
        Ok(()) => Some(handle),
        Err(_) => {
            tracing::warn!("a metrics recorder was already installed; /metrics is not served");
            None
        }
    }
}

/// What `GET /metrics` serves, for the node to carry: samples the gauges
/// that describe state (`sample`: the engine's checkpoints and statuses, the
/// process's CPU and memory), then renders every metric through `handle`.
pub fn text(handle: PrometheusHandle, sample: impl Fn() + Send + Sync + 'static) -> MetricsText {
    MetricsText::new(move || {
        calls::refresh_gauges();
        sample();
        handle.render()
    })
}

/// Folds histogram samples in every few seconds, until the runtime stops; a
/// scrape does it too, but scrapes may never come.
pub async fn run_upkeep(handle: PrometheusHandle) {
    let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        interval.tick().await;
        handle.run_upkeep();
    }
}

/// Records every request's metrics and, given the text, serves
/// `GET /metrics`.
pub(crate) fn instrument(app: Router, text: Option<MetricsText>) -> Router {
    calls::register();
    let app = match text {
        Some(text) => app.merge(crate::http::metrics::route(text)),
        None => app,
    };
    app.layer(axum::middleware::from_fn(calls::track))
}
