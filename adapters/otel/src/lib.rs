//! # hyperion-otel
//!
//! The OpenTelemetry adapter for the [`hyperion`] facade. Register [`OtelModule`] with the
//! telemetry builder and the YAML picks it as `otel`; the facade's spans then become
//! OpenTelemetry SDK spans, exported as `tracing.exporter` says:
//!
//! | `tracing.exporter` | what happens |
//! |---|---|
//! | `otlp` (default) | OTLP over `tracing.protocol`: `grpc` (default, port 4317), `http/protobuf` or `http/json` (port 4318, path `/v1/traces`); `tracing.headers` (never printed), `tracing.timeout`, `tracing.compression: gzip`; TLS for `https` endpoints (rustls; for OTLP/HTTP with the `http-tls` feature), trusting `tracing.certificate` too |
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
//! Metrics go where `metrics.exporter` says: `prometheus` (the default) serves
//! `http://{metrics.bind_address}:{metrics.port}{metrics.path}` from the adapter's own listener —
//! OpenMetrics text with exemplars `{trace_id, span_id}` from sampled spans when the scraper asks
//! for it, the classic text format otherwise — and [`OtelModule::prometheus_endpoint`] gives a
//! router to mount in an application's own axum server; `otlp` pushes through the SDK's periodic
//! reader every `metrics.interval` to the traces' collector (`/v1/metrics` for OTLP/HTTP; the SDK
//! cannot carry exemplars yet, open-telemetry/opentelemetry-rust issue 3369); `both` does both.
//! Names follow the OpenTelemetry-to-Prometheus rules (`hyperion.intercept.duration` in `s`
//! becomes `hyperion_intercept_duration_seconds`, counters end in `_total`) behind
//! `metrics.namespace` and `metrics.subsystem`. Each instrument keeps at most
//! `metrics.cardinality_limit` attribute sets, then folds new ones into an
//! `otel_metric_overflow="true"` series; NaN and infinite values are dropped and counted
//! ([`OtelModule::metric_stats`]). `metrics.collect_runtime: true` adds process and tokio gauges.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hyperion::{Config, Telemetry};
//! use hyperion_otel::OtelModule;
//!
//! let config = Config::from_yaml_str(
//!     "tracing:\n  service_name: users\n  exporter: otlp\n  endpoint: http://localhost:4317\n\
//!      metrics:\n  exporter: prometheus\n  port: 9464\n",
//! )?;
//! let telemetry = Telemetry::builder().module(OtelModule::new()).config(config).build().await?;
//! let guard = telemetry.shutdown_guard(std::time::Duration::from_secs(5));
//! // ... serve requests with telemetry.context() ...
//! guard.shutdown().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bridge;
mod console;
mod convert;
mod endpoint;
mod exporter;
mod logger;
mod logs;
mod metrics;
mod prometheus;
mod runtime;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;
mod tracer;
#[cfg(feature = "zipkin")]
mod zipkin;

use std::sync::{Arc, Mutex, OnceLock};

use hyperion::config::{Config, ConfigError, Exporter, Sampler};
use hyperion::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance};
use hyperion::{Telemetry, Tracer};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

pub use bridge::TracingBridge;
pub use endpoint::PrometheusEndpoint;
pub use metrics::MetricStats;
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
/// let config = Config::from_yaml_str("tracing:\n  exporter: none\nmetrics:\n  port: 0\n")?;
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
    endpoint: Arc<Mutex<Option<PrometheusEndpoint>>>,
    // Weak: the module must not keep a built telemetry's meter provider (and its periodic
    // reader) alive after that telemetry is gone.
    meters: Arc<Mutex<Option<std::sync::Weak<metrics::OtelMeterProvider>>>>,
    console: console::Sink,
    log_output: Option<logs::Output>,
    loggers: Arc<Mutex<Option<std::sync::Weak<logger::OtelLogger>>>>,
    #[cfg(feature = "testing")]
    extra_exporter: Option<testing::Capture>,
    #[cfg(feature = "testing")]
    metric_tap: Option<testing::MetricTap>,
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

    /// Metric values dropped as invalid and records folded into overflow series so far, by the
    /// telemetry most recently built from this module.
    pub fn metric_stats(&self) -> MetricStats {
        self.meters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .map(|m| m.stats())
            .unwrap_or_default()
    }

    /// The Prometheus endpoint of the telemetry most recently built from this module, when its
    /// `metrics.exporter` is `prometheus` or `both`: its address, and a router to mount it in an
    /// application's own axum server.
    pub fn prometheus_endpoint(&self) -> Option<PrometheusEndpoint> {
        self.endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Log lines that could not be written (closed stdout, full disk...) so far, by the
    /// telemetry most recently built from this module (still alive).
    pub fn failed_log_writes(&self) -> u64 {
        self.loggers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .and_then(|l| l.lines.as_ref().map(|w| w.failed_writes()))
            .unwrap_or(0)
    }

    /// Writes log lines into a buffer instead of `logging.output` (for tests and tools that
    /// capture them).
    pub fn with_log_buffer(mut self, buffer: Arc<Mutex<Vec<u8>>>) -> Self {
        self.log_output = Some(logs::Output::Buffer(buffer));
        self
    }

    /// Writes log lines to a writer of the application's instead of `logging.output`. A failed
    /// write is counted ([`OtelModule::failed_log_writes`]), never an error or a panic.
    pub fn with_log_writer(mut self, writer: Arc<Mutex<dyn std::io::Write + Send>>) -> Self {
        self.log_output = Some(logs::Output::Writer(writer));
        self
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
            let mut runtime = None;
            let mut instance = OtelInstance {
                provider: None,
                tracer: None,
                meters: None,
                meter_provider: None,
                logger: None,
                runtime_metrics: None,
                background: Mutex::new(Background::default()),
                stats: stats.clone(),
                runtime: None,
            };
            if request.signals.tracing {
                let provider = self
                    .tracer_provider(request.config, &stats, &mut runtime)
                    .await?;
                let scope = opentelemetry::InstrumentationScope::builder("hyperion")
                    .with_version(env!("CARGO_PKG_VERSION"))
                    .build();
                let tracer = provider.tracer_with_scope(scope);
                instance.tracer = Some(Arc::new(tracer::OtelTracer::new(tracer)));
                instance.provider = Some(provider);
            }
            if request.signals.metrics {
                let meters = self.meter_provider(request.config, &mut runtime).await?;
                if request.config.metrics.collect_runtime {
                    instance.runtime_metrics = Some(RuntimeCollection {
                        metrics: meters.runtime.clone(),
                        app_runtime: tokio::runtime::Handle::try_current().ok(),
                    });
                }
                instance.meters = meters.otlp.clone();
                instance
                    .background
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .server = meters.server;
                let provider = Arc::new(meters.provider);
                *self.meters.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Arc::downgrade(&provider));
                instance.meter_provider = Some(provider);
            }
            if request.signals.logging {
                let logger = Arc::new(self.logger(request.config, &mut runtime).await?);
                *self.loggers.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Arc::downgrade(&logger));
                instance.logger = Some(logger);
            }
            instance.runtime = runtime;
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

thread_local! {
    /// Set on the adapter runtime's threads, where exports and scrapes run: the tracing bridge
    /// ignores events there (the transports log per frame; bridging them would loop).
    static EXPORT_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread belongs to the adapter's runtime.
pub(crate) fn on_export_thread() -> bool {
    EXPORT_THREAD.try_with(|t| t.get()).unwrap_or(false)
}

/// The adapter's own runtime, one worker thread: the gRPC exporters' connections and the
/// Prometheus listener live here, so that they never depend on the application's runtime being
/// free (a current-thread runtime that is blocked — say, in a shutdown guard's drop — would
/// otherwise stall every export and every scrape).
struct AdapterRuntime(Option<tokio::runtime::Runtime>);

impl AdapterRuntime {
    fn new() -> Result<Self, ModuleError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hyperion-otel")
            .on_thread_start(|| EXPORT_THREAD.with(|t| t.set(true)))
            .enable_all()
            .build()
            .map(|rt| AdapterRuntime(Some(rt)))
            .map_err(module_error)
    }

    /// The runtime in `slot`, started on first use.
    fn get(slot: &mut Option<AdapterRuntime>) -> Result<tokio::runtime::Handle, ModuleError> {
        if slot.is_none() {
            *slot = Some(AdapterRuntime::new()?);
        }
        Ok(slot
            .as_ref()
            .and_then(|rt| rt.0.as_ref())
            .expect("just started")
            .handle()
            .clone())
    }
}

impl Drop for AdapterRuntime {
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
        runtime: &mut Option<AdapterRuntime>,
    ) -> Result<SdkTracerProvider, ModuleError> {
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
                    let handle = AdapterRuntime::get(runtime)?;
                    let _entered = handle.enter();
                    exporter::otlp(tracing, &target).map_err(module_error)?
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
        Ok(builder.build())
    }

    async fn meter_provider(
        &self,
        config: &Config,
        runtime: &mut Option<AdapterRuntime>,
    ) -> Result<Meters, ModuleError> {
        use hyperion::config::MetricsExporter;
        let m = &config.metrics;
        let runtime_metrics = Arc::new(OnceLock::new());
        let mut server = None;
        if m.collect_runtime {
            // The background sampler runs on the adapter's runtime.
            AdapterRuntime::get(runtime)?;
        }
        let prometheus = match m.exporter {
            MetricsExporter::Prometheus | MetricsExporter::Both => {
                let sink = Arc::new(prometheus::PrometheusSink::new(m));
                let listener = endpoint::bind(m).map_err(config_error)?;
                let addr = listener.local_addr().ok();
                let ep = PrometheusEndpoint::new(
                    sink.clone(),
                    runtime_metrics.clone(),
                    m.path.clone(),
                    addr,
                );
                server = Some(
                    endpoint::serve(&ep, listener, &AdapterRuntime::get(runtime)?)
                        .map_err(module_error)?,
                );
                *self.endpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(ep);
                Some(sink)
            }
            MetricsExporter::Otlp | MetricsExporter::None => None,
        };
        let otlp = match m.exporter {
            MetricsExporter::Otlp | MetricsExporter::Both => {
                let exporter = collector_exporter(config, runtime, exporter::otlp_metrics).await?;
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
                Some(Arc::new(metrics::OtlpSink::new(provider)))
            }
            MetricsExporter::Prometheus | MetricsExporter::None => None,
        };
        Ok(Meters {
            provider: metrics::OtelMeterProvider {
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

impl OtelModule {
    async fn logger(
        &self,
        config: &Config,
        runtime: &mut Option<AdapterRuntime>,
    ) -> Result<logger::OtelLogger, ModuleError> {
        let l = &config.logging;
        let filter = logs::Filter::new(l.level.into(), l.directives.as_deref()).map_err(|e| {
            config_error(ConfigError::Invalid {
                key: "logging.directives".to_owned(),
                found: format!("{:?}", l.directives.as_deref().unwrap_or_default()),
                expected: e,
                origin: None,
            })
        })?;
        let output = self.log_output.clone().unwrap_or(match l.output {
            hyperion::config::LogOutput::Stdout => logs::Output::Stdout,
            hyperion::config::LogOutput::Stderr => logs::Output::Stderr,
        });
        let service = config
            .service_name()
            .or_else(|| {
                config
                    .tracing
                    .attributes
                    .get("service.name")
                    .map(String::as_str)
            })
            .map(str::to_owned);
        let lines = Some(logs::LineWriter::new(l.format, output, service));
        let otlp = if l.otlp {
            let exporter = collector_exporter(config, runtime, exporter::otlp_logs).await?;
            let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
                .with_resource(resource(config))
                .with_batch_exporter(exporter)
                .build();
            use opentelemetry::logs::LoggerProvider as _;
            let scope = opentelemetry::InstrumentationScope::builder("hyperion")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build();
            let logger = provider.logger_with_scope(scope);
            Some((provider, logger))
        } else {
            None
        };
        Ok(logger::OtelLogger {
            filter,
            lines,
            otlp,
        })
    }
}

/// What `meter_provider` builds.
struct Meters {
    provider: metrics::OtelMeterProvider,
    otlp: Option<Arc<metrics::OtlpSink>>,
    runtime: Arc<OnceLock<runtime::RuntimeMetrics>>,
    /// Stops the Prometheus listener.
    server: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Runtime metrics to start once the telemetry exists.
struct RuntimeCollection {
    metrics: Arc<OnceLock<runtime::RuntimeMetrics>>,
    app_runtime: Option<tokio::runtime::Handle>,
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

/// An OTLP exporter of metrics or logs to the traces' collector settings, whatever
/// `tracing.exporter` says (spans may go to `console` or nowhere while the rest goes to the
/// collector). gRPC is built on the adapter's runtime, HTTP off any runtime.
async fn collector_exporter<E: Send + 'static>(
    config: &Config,
    runtime: &mut Option<AdapterRuntime>,
    build: fn(&hyperion::config::TracingConfig, &exporter::Target) -> Result<E, String>,
) -> Result<E, ModuleError> {
    let mut otlp_tracing = config.tracing.clone();
    otlp_tracing.exporter = Exporter::Otlp;
    let target = exporter::resolve(&otlp_tracing)
        .map_err(config_error)?
        .expect("OTLP always resolves to a target");
    if target.protocol == hyperion::config::Protocol::Grpc {
        let handle = AdapterRuntime::get(runtime)?;
        let _entered = handle.enter();
        build(&config.tracing, &target).map_err(module_error)
    } else {
        let tracing = config.tracing.clone();
        off_runtime(move || build(&tracing, &target)).await
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
    // Field order is drop order: the providers (whose drop may still export) before the runtime
    // their gRPC exporters run on.
    provider: Option<SdkTracerProvider>,
    tracer: Option<Arc<tracer::OtelTracer>>,
    meters: Option<Arc<metrics::OtlpSink>>,
    meter_provider: Option<Arc<metrics::OtelMeterProvider>>,
    logger: Option<Arc<logger::OtelLogger>>,
    runtime_metrics: Option<RuntimeCollection>,
    background: Mutex<Background>,
    stats: Arc<Stats>,
    runtime: Option<AdapterRuntime>,
}

/// What runs in the background until shutdown: the Prometheus listener and the runtime sampler.
#[derive(Default)]
struct Background {
    server: Option<tokio::sync::oneshot::Sender<()>>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

impl Background {
    fn stop(&mut self) {
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
                        m.provider().shutdown()
                    } else {
                        m.provider().force_flush()
                    }
                });
                let logs = logs.map(|p| {
                    if shutdown {
                        p.shutdown()
                    } else {
                        p.force_flush()
                    }
                });
                traces
                    .transpose()
                    .and(meters.transpose())
                    .and(logs.transpose())
            })
            .await
            .map_err(module_error)?
            .map(|_| ())
            .map_err(module_error)
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
