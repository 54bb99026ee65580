//! The composition of `/metrics`: the exporter installed before the engine
//! opens (so that recovery's statuses are recorded), and what is sampled
//! before each scrape: the storage backend's state and the process's.

use std::path::Path;

use eventfold_node::MetricsText;
use eventfold_server::metrics::SystemSampler;
use metrics_exporter_prometheus::PrometheusHandle;

/// Installs eventfold's recorder as the global one; `None` if one was.
pub fn install() -> Option<PrometheusHandle> {
    eventfold_server::metrics::install()
}

/// What `GET /metrics` serves, sampling the backend (`sample_store`) and
/// the process and disk of `data_dir`; also starts folding histogram samples
/// in between scrapes (on the current runtime, until it stops).
pub fn text(handle: PrometheusHandle, sample_store: impl Fn() + Send + Sync + 'static, data_dir: &Path) -> MetricsText {
    tokio::spawn(eventfold_server::metrics::run_upkeep(handle.clone()));
    let system = SystemSampler::new(data_dir);
    eventfold_server::metrics::text(handle, move || {
        sample_store();
        system.sample();
    })
}
