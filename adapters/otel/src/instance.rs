//! [`OtelInstance`]: the built module — its providers, the background work, flush and shutdown.

use std::sync::{Arc, Mutex};

use hyperion::registry::{BoxFuture, ModuleError, ModuleInstance};
use hyperion::{Telemetry, Tracer};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::adapter_runtime::AdapterRuntime;
use crate::logs::logger;
use crate::metrics::{self, RuntimeCollection, runtime};
use crate::module_error;
use crate::traces::{stats::Stats, tail::TailShared, tracer};

pub(crate) struct OtelInstance {
    // Field order is drop order: the providers (whose drop may still export) before the runtime
    // their gRPC exporters run on.
    pub(crate) provider: Option<SdkTracerProvider>,
    pub(crate) tracer: Option<Arc<tracer::OtelTracer>>,
    pub(crate) meters: Option<Arc<metrics::otlp::OtlpMetrics>>,
    pub(crate) meter_provider: Option<Arc<metrics::OtelMeterProvider>>,
    pub(crate) logger: Option<Arc<logger::OtelLogger>>,
    pub(crate) runtime_metrics: Option<RuntimeCollection>,
    pub(crate) background: Mutex<Background>,
    pub(crate) stats: Arc<Stats>,
    /// Tail sampling's state, when on (its counters are published at start).
    pub(crate) tail: Option<Arc<TailShared>>,
    pub(crate) runtime: Option<AdapterRuntime>,
}

/// What runs in the background until shutdown: the Prometheus listener and the runtime sampler.
#[derive(Default)]
pub(crate) struct Background {
    pub(crate) server: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) sampler: Option<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.server.take() {
            let _ = stop.send(());
        }
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
    }
}

impl OtelInstance {
    /// Runs the providers' blocking `force_flush` or `shutdown` on a blocking thread, so that the
    /// runtime (even a current-thread one) stays free meanwhile.
    fn blocking(&self, shutdown: bool) -> BoxFuture<'_, Result<(), ModuleError>> {
        let traces = self.provider.clone();
        let meters = self.meters.clone();
        let logs = self
            .logger
            .as_ref()
            .and_then(|l| l.otlp_provider().cloned());
        let lines = self.logger.clone();
        let stats = self.stats.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                if let Some(lines) = lines.as_ref().and_then(|l| l.lines.as_ref()) {
                    lines.flush();
                }
                let traces = traces.map(|p| {
                    if shutdown {
                        p.shutdown()
                    } else {
                        p.force_flush()
                    }
                });
                let meters = meters.map(|m| {
                    if shutdown {
                        m.shutdown()
                    } else {
                        m.force_flush()
                    }
                });
                let logs = logs.map(|p| {
                    if shutdown {
                        p.shutdown()
                    } else {
                        p.force_flush()
                    }
                });
                if shutdown {
                    // Whatever the exporter did, the span accounts close now (in this thread,
                    // so also when the caller's own deadline came first).
                    stats.close();
                }
                traces
                    .transpose()
                    .and(meters.transpose())
                    .and(logs.transpose())
            })
            .await
            .map_err(module_error)?
            .map(|_| ())
            .map_err(|e| {
                // The SDK reports a processor that gave up waiting for its exporter as a
                // `Timeout` (wrapped in the provider's "Shutdown errors: [...]").
                if format!("{e:?}").contains("Timeout") {
                    ModuleError::timed_out(crate::MODULE_NAME, e.to_string())
                } else {
                    module_error(e)
                }
            })
        })
    }
}

impl ModuleInstance for OtelInstance {
    fn tracer(&self) -> Option<Arc<dyn Tracer>> {
        self.tracer.clone().map(|t| t as Arc<dyn Tracer>)
    }

    fn logger(&self) -> Option<Arc<dyn hyperion::Logger>> {
        self.logger.clone().map(|l| l as Arc<dyn hyperion::Logger>)
    }

    fn meter_provider(&self) -> Option<Arc<dyn hyperion::metric::MeterProvider>> {
        self.meter_provider
            .clone()
            .map(|m| m as Arc<dyn hyperion::metric::MeterProvider>)
    }

    fn started(&self, telemetry: &Telemetry) {
        self.stats.publish_to(telemetry);
        if let Some(tail) = &self.tail {
            tail.publish_to(telemetry);
        }
        if let Some(collection) = &self.runtime_metrics {
            let metrics = collection.metrics.get_or_init(|| {
                runtime::RuntimeMetrics::new(telemetry, collection.app_runtime.clone())
            });
            metrics.collect();
            let handle = self
                .runtime
                .as_ref()
                .and_then(|rt| rt.0.as_ref())
                .map(|rt| rt.handle());
            if let Some(handle) = handle {
                let cell = collection.metrics.clone();
                let sampler = handle.spawn(async move {
                    let mut tick = tokio::time::interval(runtime::SAMPLE_EVERY);
                    loop {
                        tick.tick().await;
                        if let Some(m) = cell.get() {
                            m.collect();
                        }
                    }
                });
                self.background
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .sampler = Some(sampler);
            }
        }
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        self.blocking(false)
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        self.background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stop();
        self.blocking(true)
    }
}
