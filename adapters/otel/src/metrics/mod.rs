//! Metrics: the facade's meter provider over one aggregation store, read by the Prometheus
//! endpoint and the OTLP exporter (both with trace exemplars), and the runtime metrics.
//!
//! - `meter`: [`hyperion::metric::MeterProvider`] and its instruments over the store.
//! - `prometheus`: the store (aggregation cells, series, cardinality), OpenMetrics/classic
//!   exposition, naming rules.
//! - `otlp`: the OTLP exporter reading the store (temporality, exemplars, transports).
//! - `endpoint`: the HTTP listener and the router to mount in an application's own server.
//! - `runtime`: process and tokio gauges.

pub(crate) mod endpoint;
pub(crate) mod meter;
pub(crate) mod otlp;
pub(crate) mod prometheus;
pub(crate) mod runtime;

use std::sync::{Arc, OnceLock};

use hyperion::registry::ModuleError;

use crate::adapter_runtime::AdapterRuntime;
use crate::config::OtlpSignal;
use crate::exporter::{self, collector_exporter};
use crate::resource::resource;
use crate::{Configs, OtelModule, PrometheusEndpoint, config, config_error, module_error};
pub(crate) use meter::OtelMeterProvider;
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
        if m.exporter == MetricsExporter::None {
            return Ok(Meters {
                provider: OtelMeterProvider {
                    store: None,
                    otlp: None,
                    #[cfg(feature = "testing")]
                    tap: self.metric_tap.clone(),
                },
                otlp: None,
                runtime: runtime_metrics,
                server,
            });
        }
        // One store, whichever exporters read it.
        let store = Arc::new(prometheus::PrometheusSink::new(m).with_exemplar_gate(exemplar_gate));
        if matches!(
            m.exporter,
            MetricsExporter::Prometheus | MetricsExporter::Both
        ) {
            // With `metrics.listen: false` the application serves the router itself.
            let listener = if m.listen {
                Some(endpoint::bind(m).map_err(config_error)?)
            } else {
                None
            };
            let addr = listener.as_ref().and_then(|l| l.local_addr().ok());
            let ep = PrometheusEndpoint::new(
                store.clone(),
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
        }
        let otlp = match m.exporter {
            MetricsExporter::Otlp | MetricsExporter::Both => {
                let sender = collector_exporter(
                    settings,
                    OtlpSignal::Metrics,
                    runtime,
                    exporter::otlp_metrics,
                )
                .await?;
                let collector =
                    otlp::Collector::new(store.clone(), &resource(config), m.temporality);
                Some(Arc::new(
                    otlp::OtlpMetrics::start(collector, sender, m.interval)
                        .map_err(module_error)?,
                ))
            }
            MetricsExporter::Prometheus | MetricsExporter::None => None,
        };
        Ok(Meters {
            provider: OtelMeterProvider {
                store: Some(store),
                otlp: otlp.clone(),
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
    pub(crate) otlp: Option<Arc<otlp::OtlpMetrics>>,
    pub(crate) runtime: Arc<OnceLock<runtime::RuntimeMetrics>>,
    /// Stops the Prometheus listener.
    pub(crate) server: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Runtime metrics to start once the telemetry exists.
pub(crate) struct RuntimeCollection {
    pub(crate) metrics: Arc<OnceLock<runtime::RuntimeMetrics>>,
    pub(crate) app_runtime: Option<tokio::runtime::Handle>,
}
