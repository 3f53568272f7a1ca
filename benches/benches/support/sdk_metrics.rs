//! The raw OpenTelemetry SDK's metrics as the benches set them up: a meter provider with a
//! periodic reader (1 h, so it never fires during a run) over an exporter that drops what it
//! gets. Shared by `otel_metrics.rs`, `threads.rs` and the allocation test in `src/lib.rs`
//! (`#[path]`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};

/// A push exporter that drops what it gets (remembering the metric names, for the sanity check),
/// cumulative like the OTLP exporter.
#[derive(Clone, Debug, Default)]
pub struct DropExporter {
    pub names: Arc<Mutex<Vec<String>>>,
}

impl PushMetricExporter for DropExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut names = self.names.lock().expect("not poisoned");
        for scope in metrics.scope_metrics() {
            names.extend(scope.metrics().map(|m| m.name().to_owned()));
        }
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// The raw SDK: a meter provider with a periodic reader (1 h) over [`DropExporter`].
pub fn sdk_meter_provider() -> (SdkMeterProvider, DropExporter) {
    let exporter = DropExporter::default();
    let reader = PeriodicReader::builder(exporter.clone())
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    (provider, exporter)
}
