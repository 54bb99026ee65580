//! What `GET /metrics` serves. The binary installs the metrics recorder and
//! composes what to sample before each scrape; the node only carries the
//! result to the HTTP face, which knows neither the exporter nor the engine.

use std::fmt;
use std::sync::Arc;

/// Renders every metric as Prometheus text, sampling state first.
#[derive(Clone)]
pub struct MetricsText {
    render: Arc<dyn Fn() -> String + Send + Sync>,
}

impl MetricsText {
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self { render: Arc::new(render) }
    }

    /// May block (it reads `/proc` and walks the data directory): call it
    /// off the async runtime.
    pub fn render(&self) -> String {
        (self.render)()
    }
}

impl fmt::Debug for MetricsText {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("MetricsText")
    }
}
