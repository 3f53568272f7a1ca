//! Metrics: the facade's meter provider over two sinks — the Prometheus endpoint with trace
//! exemplars and OTLP push through the SDK — and the runtime metrics.
//!
//! - `meter`: [`hyperion::metric::MeterProvider`] and its instruments over both sinks.
//! - `prometheus`: the in-process aggregation, OpenMetrics/classic exposition, naming rules.
//! - `endpoint`: the HTTP listener and the router to mount in an application's own server.
//! - `runtime`: process and tokio gauges.

pub(crate) mod endpoint;
pub(crate) mod meter;
pub(crate) mod prometheus;
pub(crate) mod runtime;

use std::sync::{Arc, OnceLock};

use hyperion::registry::ModuleError;

use crate::adapter_runtime::AdapterRuntime;
use crate::config::OtlpSignal;
use crate::exporter::{self, collector_exporter};
use crate::resource::resource;
use crate::{Configs, OtelModule, PrometheusEndpoint, config, config_error, module_error};
pub(crate) use meter::{OtelMeterProvider, OtlpSink};
pub(crate) use prometheus::ExemplarGate;

impl OtelModule {
    pub(crate) async fn meter_provider(
        &self,
        (config, settings): Configs<'_>,
        runtime: &mut Option<AdapterRuntime>,
        exemplar_gate: Option<prometheus::ExemplarGate>,
    ) -> Result<Meters, ModuleError> {
        use config::MetricsExporter;
        let m = &settings.metrics;
        let runtime_metrics = Arc::new(OnceLock::new());
        let mut server = None;
        if m.collect_runtime {
            // The background sampler runs on the adapter's runtime.
            AdapterRuntime::get(runtime)?;
        }
        let prometheus = match m.exporter {
            MetricsExporter::Prometheus | MetricsExporter::Both => {
                let sink =
                    Arc::new(prometheus::PrometheusSink::new(m).with_exemplar_gate(exemplar_gate));
                // With `metrics.listen: false` the application serves the router itself.
                let listener = if m.listen {
                    Some(endpoint::bind(m).map_err(config_error)?)
                } else {
                    None
                };
                let addr = listener.as_ref().and_then(|l| l.local_addr().ok());
                let ep = PrometheusEndpoint::new(
                    sink.clone(),
                    runtime_metrics.clone(),
                    m.path.clone(),
                    addr,
                );
                if let Some(listener) = listener {
                    server = Some(
                        endpoint::serve(&ep, listener, &AdapterRuntime::get(runtime)?)
                            .map_err(module_error)?,
                    );
                }
                *self.endpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(ep);
                Some(sink)
            }
            MetricsExporter::Otlp | MetricsExporter::None => None,
        };
        let otlp = match m.exporter {
            MetricsExporter::Otlp | MetricsExporter::Both => {
                let exporter = collector_exporter(
                    settings,
                    OtlpSignal::Metrics,
                    runtime,
                    exporter::otlp_metrics,
                )
                .await?;
                let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
                    .with_interval(m.interval)
                    .build();
                // The same attribute-set limit as the Prometheus sink (the SDK's own default
                // is 2000 whatever the config says).
                let limit = m.cardinality_limit;
                let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
                    .with_resource(resource(config))
                    .with_reader(reader)
                    .with_view(move |_: &opentelemetry_sdk::metrics::Instrument| {
                        opentelemetry_sdk::metrics::Stream::builder()
                            .with_cardinality_limit(limit)
                            .build()
                            .ok()
                    })
                    .build();
                Some(Arc::new(OtlpSink::new(provider)))
            }
            MetricsExporter::Prometheus | MetricsExporter::None => None,
        };
        Ok(Meters {
            provider: OtelMeterProvider {
                prometheus,
                otlp: otlp.clone(),
                otlp_counters: Default::default(),
                default_boundaries: m.histogram_boundaries.clone(),
                max_label_value_length: m.max_label_value_length,
                #[cfg(feature = "testing")]
                tap: self.metric_tap.clone(),
            },
            otlp,
            runtime: runtime_metrics,
            server,
        })
    }
}

/// What `meter_provider` builds.
pub(crate) struct Meters {
    pub(crate) provider: OtelMeterProvider,
    pub(crate) otlp: Option<Arc<OtlpSink>>,
    pub(crate) runtime: Arc<OnceLock<runtime::RuntimeMetrics>>,
    /// Stops the Prometheus listener.
    pub(crate) server: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Runtime metrics to start once the telemetry exists.
pub(crate) struct RuntimeCollection {
    pub(crate) metrics: Arc<OnceLock<runtime::RuntimeMetrics>>,
    pub(crate) app_runtime: Option<tokio::runtime::Handle>,
}
