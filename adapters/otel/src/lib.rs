//! # hyperion-otel
//!
//! The OpenTelemetry adapter for the [`hyperion`] facade. Register [`OtelModule`] with the
//! telemetry builder and the YAML picks it as `otel`; the facade's spans then become
//! OpenTelemetry SDK spans, exported as `tracing.exporter` says:
//!
//! | `tracing.exporter` | what happens |
//! |---|---|
//! | `otlp` (default) | OTLP over `tracing.protocol`: `grpc` (default, port 4317), `http/protobuf` or `http/json` (port 4318, path `/v1/traces`); `tracing.headers` (never printed), `tracing.timeout`, `tracing.compression: gzip`; TLS for `https` endpoints (rustls, gRPC) |
//! | `jaeger` | OTLP to Jaeger, which takes OTLP on 4317/4318. Jaeger's legacy ports (14268, 14250, 6831, 6832) are mapped to its OTLP port with a note on stderr |
//! | `zipkin` | Zipkin JSON v2 to `http://host:9411/api/v2/spans` (cargo feature `zipkin`, on by default; hand-written, as upstream's crate is deprecated and drops the service name) |
//! | `console` | each finished trace printed to stderr as an indented tree |
//! | `none` | spans are created and propagated, never exported |
//!
//! Sampling follows `tracing.sampler` (the names of `OTEL_TRACES_SAMPLER`, default
//! `parentbased_traceidratio` with `tracing.sample_rate`). Batching follows `tracing.batch`
//! (defaults as the OpenTelemetry spec: 512 spans a batch, every 5 s, a queue of 2048, 30 s export
//! timeout; a small service might use `max_batch_size: 100` and `scheduled_delay: 5s`). The
//! application never waits for the exporter: when the queue is full, spans are dropped and
//! counted ([`OtelModule::span_stats`], and `hyperion.exporter.spans{outcome}` when metrics are
//! on). Failed exports are retried with exponential backoff on retryable errors only.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hyperion::{Config, Telemetry};
//! use hyperion_otel::OtelModule;
//!
//! let config = Config::from_yaml_str(
//!     "tracing:\n  service_name: users\n  exporter: otlp\n  endpoint: http://localhost:4317\n",
//! )?;
//! let telemetry = Telemetry::builder().module(OtelModule::new()).config(config).build().await?;
//! let guard = telemetry.shutdown_guard(std::time::Duration::from_secs(5));
//! // ... serve requests with telemetry.context() ...
//! guard.shutdown().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod console;
mod convert;
mod exporter;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;
mod tracer;
#[cfg(feature = "zipkin")]
mod zipkin;

use std::sync::{Arc, Mutex};

use hyperion::config::{Config, ConfigError, Exporter, Sampler};
use hyperion::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance};
use hyperion::{Telemetry, Tracer};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

pub use stats::SpanExportStats;

use stats::{CountingExporter, GatedProcessor, Stats};

/// The name the module registers under: `otel`.
pub const MODULE_NAME: &str = "otel";

/// The OpenTelemetry module. Cheap to clone; clones share the statistics slot.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use hyperion::{Config, SpanOptions, Telemetry};
/// use hyperion_otel::OtelModule;
///
/// let otel = OtelModule::new();
/// let config = Config::from_yaml_str("tracing:\n  exporter: none\n")?;
/// let telemetry = Telemetry::builder().module(otel.clone()).config(config).build().await?;
/// let (_, mut span) = telemetry.context().start_span("work", SpanOptions::new());
/// span.end();
/// telemetry.shutdown(std::time::Duration::from_secs(5)).await?;
/// assert_eq!(otel.span_stats().dropped, 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct OtelModule {
    stats: Arc<Mutex<Arc<Stats>>>,
    console: console::Sink,
    #[cfg(feature = "testing")]
    extra_exporter: Option<testing::Capture>,
}

impl OtelModule {
    /// A new module.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spans exported, failed and dropped so far by the telemetry most recently built from this
    /// module (zeros before the first build).
    pub fn span_stats(&self) -> SpanExportStats {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .snapshot()
    }

    /// Writes the `console` exporter's trees into a buffer instead of stderr (for tests and
    /// tools that capture the output).
    pub fn with_console_buffer(mut self, buffer: Arc<Mutex<String>>) -> Self {
        self.console = console::Sink::Buffer(buffer);
        self
    }
}

impl Module for OtelModule {
    fn name(&self) -> &str {
        MODULE_NAME
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        Box::pin(async move {
            let stats = Arc::new(Stats::default());
            *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = stats.clone();
            let mut instance = OtelInstance {
                provider: None,
                tracer: None,
                stats: stats.clone(),
                runtime: None,
            };
            if request.signals.tracing {
                let (provider, runtime) = self.tracer_provider(request.config, &stats).await?;
                let scope = opentelemetry::InstrumentationScope::builder("hyperion")
                    .with_version(env!("CARGO_PKG_VERSION"))
                    .build();
                let tracer = provider.tracer_with_scope(scope);
                instance.tracer = Some(Arc::new(tracer::OtelTracer::new(tracer)));
                instance.provider = Some(provider);
                instance.runtime = runtime;
            }
            Ok(Box::new(instance) as Box<dyn ModuleInstance>)
        })
    }
}

fn module_error(e: impl std::fmt::Display) -> ModuleError {
    ModuleError::new(MODULE_NAME, e.to_string())
}

fn config_error(e: ConfigError) -> ModuleError {
    ModuleError::new(MODULE_NAME, e.to_string()).with_source(e)
}

/// The runtime the gRPC exporter's connection lives on: its own, one worker thread, so that
/// exports never depend on the application's runtime being free (a current-thread runtime that is
/// blocked — say, in a shutdown guard's drop — would otherwise stall every export).
struct GrpcRuntime(Option<tokio::runtime::Runtime>);

impl GrpcRuntime {
    fn new() -> Result<Self, ModuleError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hyperion-otel-grpc")
            .enable_all()
            .build()
            .map(|rt| GrpcRuntime(Some(rt)))
            .map_err(module_error)
    }
}

impl Drop for GrpcRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; by the time this runs
        // the provider has shut down, so nothing is left to wait for.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl OtelModule {
    async fn tracer_provider(
        &self,
        config: &Config,
        stats: &Arc<Stats>,
    ) -> Result<(SdkTracerProvider, Option<GrpcRuntime>), ModuleError> {
        let tracing = &config.tracing;
        let target = exporter::resolve(tracing).map_err(config_error)?;
        if let Some(note) = target.as_ref().and_then(|t| t.note.as_ref()) {
            eprintln!("hyperion-otel: {note}");
        }
        if let Some(t) = &target {
            stats.set_target(t.url.clone());
        }
        let batch = || {
            BatchConfigBuilder::default()
                .with_max_export_batch_size(tracing.batch.max_batch_size)
                .with_scheduled_delay(tracing.batch.scheduled_delay)
                .with_max_queue_size(tracing.batch.max_queue_size)
                .build()
        };
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource(config))
            .with_sampler(sampler(tracing.sampler, tracing.sample_rate));
        let capacity = tracing.batch.max_queue_size as u64;
        let mut runtime = None;
        match (tracing.exporter, target) {
            (Exporter::None, _) => {}
            (Exporter::Console, _) => {
                let exporter = console::ConsoleExporter::new(self.console.clone());
                builder = builder.with_span_processor(batched(exporter, batch(), capacity, stats));
            }
            (Exporter::Zipkin, Some(target)) => {
                #[cfg(feature = "zipkin")]
                {
                    // The blocking HTTP client must not be built on a runtime thread.
                    let tracing = tracing.clone();
                    let exporter =
                        off_runtime(move || zipkin::ZipkinExporter::new(target.url, &tracing))
                            .await?;
                    builder =
                        builder.with_span_processor(batched(exporter, batch(), capacity, stats));
                }
                #[cfg(not(feature = "zipkin"))]
                {
                    let _ = target;
                    return Err(module_error(
                        "invalid value for `tracing.exporter`: found \"zipkin\", but hyperion-otel \
                         was built without its `zipkin` cargo feature",
                    ));
                }
            }
            (Exporter::Otlp | Exporter::Jaeger, Some(target)) => {
                let exporter = if target.protocol == hyperion::config::Protocol::Grpc {
                    // tonic connects lazily on the runtime it is built in: our own.
                    let rt = GrpcRuntime::new()?;
                    let exporter = {
                        let _entered = rt.0.as_ref().map(|rt| rt.enter());
                        exporter::otlp(tracing, &target).map_err(module_error)?
                    };
                    runtime = Some(rt);
                    exporter
                } else {
                    let tracing = tracing.clone();
                    off_runtime(move || exporter::otlp(&tracing, &target)).await?
                };
                builder = builder.with_span_processor(batched(exporter, batch(), capacity, stats));
            }
            // `resolve` gives every other exporter a target.
            (Exporter::Zipkin | Exporter::Otlp | Exporter::Jaeger, None) => {}
        }
        #[cfg(feature = "testing")]
        if let Some(extra) = &self.extra_exporter {
            // Behind its own batch processor, like a real exporter: the conformance suite then
            // checks batching, flush and shutdown too.
            builder = builder.with_span_processor(
                BatchSpanProcessor::builder(extra.clone())
                    .with_batch_config(batch())
                    .build(),
            );
        }
        Ok((builder.build(), runtime))
    }
}

/// An exporter behind the SDK's batch processor, counted, behind the adapter's queue gate.
fn batched<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    exporter: E,
    batch: opentelemetry_sdk::trace::BatchConfig,
    capacity: u64,
    stats: &Arc<Stats>,
) -> GatedProcessor<BatchSpanProcessor> {
    GatedProcessor {
        inner: BatchSpanProcessor::builder(CountingExporter {
            inner: exporter,
            stats: stats.clone(),
        })
        .with_batch_config(batch)
        .build(),
        capacity,
        stats: stats.clone(),
    }
}

/// Runs a constructor that builds a blocking HTTP client on a thread outside the runtime.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ModuleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(module_error)?
        .map_err(module_error)
}

/// The resource: service name, version, namespace and environment, the SDK's own attributes,
/// and `tracing.attributes` (which already holds `OTEL_RESOURCE_ATTRIBUTES`).
fn resource(config: &Config) -> Resource {
    // `service.name` in the attributes (e.g. from OTEL_RESOURCE_ATTRIBUTES) counts when no
    // service name is configured, as the OpenTelemetry spec says.
    let service_name = config
        .service_name()
        .or_else(|| {
            config
                .tracing
                .attributes
                .get("service.name")
                .map(String::as_str)
        })
        .unwrap_or("unknown_service")
        .to_owned();
    let mut attributes = Vec::new();
    let service = &config.service;
    if let Some(v) = &service.version {
        attributes.push(KeyValue::new("service.version", v.clone()));
    }
    if let Some(v) = &service.namespace {
        attributes.push(KeyValue::new("service.namespace", v.clone()));
    }
    if let Some(v) = &service.environment {
        attributes.push(KeyValue::new("deployment.environment", v.clone()));
        attributes.push(KeyValue::new("deployment.environment.name", v.clone()));
    }
    for (k, v) in &config.tracing.attributes {
        attributes.push(KeyValue::new(k.clone(), v.clone()));
    }
    Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attributes(attributes)
        .with_service_name(service_name)
        .build()
}

fn sampler(kind: Sampler, rate: f64) -> opentelemetry_sdk::trace::Sampler {
    use opentelemetry_sdk::trace::Sampler as S;
    match kind {
        Sampler::AlwaysOn => S::AlwaysOn,
        Sampler::AlwaysOff => S::AlwaysOff,
        Sampler::TraceIdRatio => S::TraceIdRatioBased(rate),
        Sampler::ParentBasedAlwaysOn => S::ParentBased(Box::new(S::AlwaysOn)),
        Sampler::ParentBasedAlwaysOff => S::ParentBased(Box::new(S::AlwaysOff)),
        Sampler::ParentBasedTraceIdRatio => S::ParentBased(Box::new(S::TraceIdRatioBased(rate))),
    }
}

struct OtelInstance {
    // Field order is drop order: the provider (whose drop may still export) before the runtime
    // its gRPC exporter runs on.
    provider: Option<SdkTracerProvider>,
    tracer: Option<Arc<tracer::OtelTracer>>,
    stats: Arc<Stats>,
    runtime: Option<GrpcRuntime>,
}

impl OtelInstance {
    /// Runs a blocking provider call on a blocking thread, so that the runtime (even a
    /// current-thread one) stays free to drive the exporter's connections meanwhile.
    fn blocking(
        &self,
        op: fn(&SdkTracerProvider) -> opentelemetry_sdk::error::OTelSdkResult,
    ) -> BoxFuture<'_, Result<(), ModuleError>> {
        let provider = self.provider.clone();
        Box::pin(async move {
            let Some(provider) = provider else {
                return Ok(());
            };
            tokio::task::spawn_blocking(move || op(&provider))
                .await
                .map_err(module_error)?
                .map_err(module_error)
        })
    }
}

impl ModuleInstance for OtelInstance {
    fn tracer(&self) -> Option<Arc<dyn Tracer>> {
        self.tracer.clone().map(|t| t as Arc<dyn Tracer>)
    }

    fn started(&self, telemetry: &Telemetry) {
        self.stats.publish_to(telemetry);
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        self.blocking(SdkTracerProvider::force_flush)
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        self.blocking(SdkTracerProvider::shutdown)
    }
}
