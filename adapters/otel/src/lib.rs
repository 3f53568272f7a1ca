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
//! on). Failed exports are retried with exponential backoff on retryable errors only. Shutdown
//! settles the accounts: the spans still queued or being exported are counted as dropped, so
//! that exported + failed + dropped is every span ended, and a collector that never answers
//! makes it a timeout (filed under `ShutdownError::timed_out`, not `failed`); nothing is counted
//! or printed after. The SDK gives up waiting after 5 s: with a shorter timeout of `shutdown`'s
//! own, the accounts settle when the SDK gives up, after `shutdown` has returned.
//!
//! Metrics go where `metrics.exporter` says: `prometheus` (the default) serves
//! `http://{metrics.bind_address}:{metrics.port}{metrics.path}` from the adapter's own listener —
//! OpenMetrics text with exemplars `{trace_id, span_id}` from sampled spans when the scraper asks
//! for it, the classic text format otherwise — and [`OtelModule::prometheus_endpoint`] gives a
//! router to mount in an application's own axum server; `otlp` pushes every `metrics.interval`
//! to the traces' collector (`/v1/metrics` for OTLP/HTTP), with exemplars (trace id, span id,
//! time, value) on sums and histograms, cumulative unless `metrics.temporality` (or
//! `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`) says `delta`; `both` does both. Both read
//! one aggregation in the adapter, so `both` costs a record what one exporter does. (OTLP
//! metrics are built and sent by the adapter itself: the SDK cannot carry exemplars yet,
//! open-telemetry/opentelemetry-rust issue 3369.)
//! Names follow the OpenTelemetry-to-Prometheus rules (`hyperion.intercept.duration` in `s`
//! becomes `hyperion_intercept_duration_seconds`, counters end in `_total`) behind
//! `metrics.namespace` and `metrics.subsystem`. Each instrument keeps at most
//! `metrics.cardinality_limit` attribute sets, then folds new ones into an
//! `otel_metric_overflow="true"` series (OTLP: `otel.metric.overflow = true`); NaN and infinite
//! values are dropped and counted
//! ([`OtelModule::metric_stats`]). `metrics.collect_runtime: true` adds process and tokio gauges.
//!
//! ## Tail sampling (`tracing.tail_sampling`)
//!
//! Off by default. The spans of a trace are buffered in the process until its **local root**
//! (the first span of the trace here: a span whose parent is remote or absent, usually the
//! SERVER span) and every span started under it have ended — open spans are counted, so a child
//! that ends after its root is still in the decision — and then one decision keeps or drops them
//! all: the first policy that matches (`status_code`, `latency`, `attribute`, `probabilistic`,
//! `rate_limiting`, `drop`; [`config::TailPolicy`]), else `default` (`drop`).
//!
//! - **Bounded memory**: at most `max_traces` traces (10,000) and `max_spans_per_trace` spans
//!   each (1,000); past either, the oldest (or the full) trace is decided early on what it
//!   has, and a trace still incomplete `decision_wait` (30 s) after its first span started is
//!   decided on what it has (as the collector's `decision_wait`). Spans of a trace already
//!   decided follow the decision, except a new local root in a dropped trace (the service
//!   called again), which is buffered and decided on its own. Counted in
//!   [`OtelModule::tail_sampling_stats`] and the self-metrics
//!   `hyperion.tail_sampling.traces{decision, trigger}` and
//!   `hyperion.tail_sampling.spans{decision}`.
//! - **Head sampling applies first**: tail sampling decides only among recorded spans.
//! - **Metrics are unaffected**: counters and histograms count every call. The Prometheus
//!   endpoint shows an exemplar only when its trace was kept (the last 16,384 kept traces are
//!   remembered), so an exemplar never leads to a dropped trace; a series whose latest
//!   exemplar belongs to a dropped, undecided or long-forgotten trace shows none.
//! - **With span promotion**: a deferred call holds its trace open until it ends, so a call
//!   that fails after the response still keeps the trace; `attribute` and `drop` policies also
//!   read span events, where a fast call's attributes end up.
//! - **Across services**: the decision is this process's. Calls made before it (every
//!   outgoing call: the root ends last) cannot carry it, so each service decides on its own
//!   part of the trace: `probabilistic` agrees in every hyperion service (it reads the trace
//!   id's random bits), but an error in one service does not keep the others' spans. When whole
//!   multi-service traces must be kept together, send every span to one OpenTelemetry
//!   Collector running its `tail_sampling` processor, as the demo's compose stack does
//!   (`compose/otel-collector.yaml`).
//!
//! ## Span promotion (`tracing.promotion`)
//!
//! Off by default. An intercepted call (or a span started with
//! [`SpanOptions::promotable`](hyperion::SpanOptions::promotable)) under a sampled parent span
//! of this process is recorded without an SDK span: its span id is allocated at its start, so
//! the log lines, exemplars and `traceparent` headers written during the call name it. When it
//! ends it **becomes a span** with its original ids, parent and start time, marked
//! `hyperion.promoted = true` and `hyperion.promotion.reason`, if it failed (`error`), took
//! `threshold` (50 ms) or longer (`slow`), has a child that is a span (`child`: any span started
//! under it, a database statement or an outgoing request for instance), had its context
//! injected into a carrier (`propagated`: another service may name it as its parent) or
//! outlived its parent (`outlived_parent`). Otherwise it becomes an **event on its parent**
//! named after the call, with `hyperion.span_id`, `hyperion.duration_ms`, `hyperion.outcome`
//! and its attributes (its own events and links are not kept) — or nothing, with
//! `fast_calls: none`.
//!
//! What a reader sees of a call that stayed an event: its log lines carry the trace id and a
//! span id that no exported span has — it is the `hyperion.span_id` of the event on the parent
//! span; its metrics' exemplars name the same trace and span id. A child promoted after its
//! parent became an event promotes the parent late (the parent then also left its event): the
//! ids already written stay true, which re-parenting the child would not keep; a call that
//! ended as an event keeps its data, and keeps its own parent's, while a child of its is open.
//! Limits: a span *started* after its parent call ended as an event has no exported parent
//! (start such work before the call returns); an injection is seen through `Context::inject`,
//! `Context::inject_parts` and the spans the integrations start, not through headers written by
//! other means (another telemetry's integration, a hand-written `traceparent`), and an
//! injection after the call ended cannot promote it any more.
//!
//! ## Cargo features
//!
//! - `zipkin` (on by default): the Zipkin JSON v2 exporter.
//! - `http-tls`: TLS (rustls with ring) for `https` endpoints over OTLP/HTTP and Zipkin; gRPC
//!   over `https` needs no feature.
//! - `testing`: the conformance harness, the `testing` module (for this crate's tests).
//!
//! The module's keys and the OpenTelemetry variables that set them: [`config`].
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
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's Rust examples, compiled and run as doctests of this crate (which has both
/// `hyperion` with its `testing` feature and this adapter at hand).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

mod adapter_runtime;
pub mod config;
mod convert;
mod exporter;
mod instance;
mod logs;
mod metrics;
mod resource;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod traces;

use std::sync::{Arc, Mutex};

use hyperion::config::{Config, ConfigError, Settings};
use hyperion::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance};
use opentelemetry::trace::TracerProvider as _;

pub use logs::bridge::TracingBridge;
pub use metrics::endpoint::PrometheusEndpoint;
pub use metrics::meter::MetricStats;
pub use traces::stats::SpanExportStats;
pub use traces::tail::TailSamplingStats;

use config::OtelSettings;
use instance::{Background, OtelInstance};
use metrics::RuntimeCollection;
use traces::stats::Stats;

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
    console: traces::console::Sink,
    log_output: Option<logs::Output>,
    loggers: Arc<Mutex<Option<std::sync::Weak<logs::logger::OtelLogger>>>>,
    tail: Arc<Mutex<Option<std::sync::Weak<traces::tail::TailShared>>>>,
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

    /// Traces kept, dropped and decided early by tail sampling (`tracing.tail_sampling`) so
    /// far, by the telemetry most recently built from this module (still alive); zeros when tail
    /// sampling is off.
    pub fn tail_sampling_stats(&self) -> TailSamplingStats {
        self.tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .map(|t| t.stats())
            .unwrap_or_default()
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
        self.console = traces::console::Sink::Buffer(buffer);
        self
    }
}

impl Module for OtelModule {
    fn name(&self) -> &str {
        MODULE_NAME
    }

    fn settings(&self) -> Settings {
        OtelSettings::declaration()
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        Box::pin(async move {
            self.build_instance(request)
                .await
                .map_err(|error| locate(request, error))
        })
    }
}

/// A value rejected while building (an endpoint that is no URL, a bad log directive, a port in
/// use) gets the file or environment variable it came from, as errors found while loading do.
fn locate(request: &BuildRequest<'_>, error: ModuleError) -> ModuleError {
    let unlocated = error
        .source
        .as_deref()
        .and_then(|source| source.downcast_ref::<ConfigError>())
        .and_then(|source| match source {
            ConfigError::Invalid {
                key,
                found,
                expected,
                origin: None,
            } => Some((key, found, expected)),
            _ => None,
        });
    match unlocated {
        Some((key, found, expected)) => request.invalid(key, found, expected.as_str()),
        None => error,
    }
}

impl OtelModule {
    async fn build_instance(
        &self,
        request: &BuildRequest<'_>,
    ) -> Result<Box<dyn ModuleInstance>, ModuleError> {
        let settings = OtelSettings::from_source(&request.source, request.signals)
            .map_err(|e| request.config_error(e))?;
        let config = (request.config, &settings);
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
            tail: None,
            runtime: None,
        };
        if request.signals.tracing {
            let (provider, tail) = self.tracer_provider(config, &stats, &mut runtime).await?;
            *self.tail.lock().unwrap_or_else(|p| p.into_inner()) =
                tail.as_ref().map(Arc::downgrade);
            instance.tail = tail.clone();
            let scope = opentelemetry::InstrumentationScope::builder("hyperion")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build();
            let tracer = provider.tracer_with_scope(scope);
            instance.tracer = Some(Arc::new(traces::tracer::OtelTracer::new(
                tracer,
                &settings.tracing.promotion,
                tail,
            )));
            instance.provider = Some(provider);
        }
        if request.signals.metrics {
            // With tail sampling, the Prometheus endpoint shows exemplars of kept traces only.
            let gate = instance.tail.clone().map(|tail| {
                Arc::new(move |trace: [u8; 16]| tail.is_kept(trace)) as metrics::ExemplarGate
            });
            let meters = self.meter_provider(config, &mut runtime, gate).await?;
            if settings.metrics.collect_runtime {
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
            let logger = Arc::new(self.logger(config, &mut runtime).await?);
            *self.loggers.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(&logger));
            instance.logger = Some(logger);
        }
        instance.runtime = runtime;
        Ok(Box::new(instance) as Box<dyn ModuleInstance>)
    }
}

fn module_error(e: impl std::fmt::Display) -> ModuleError {
    ModuleError::new(MODULE_NAME, e.to_string())
}

fn config_error(e: ConfigError) -> ModuleError {
    ModuleError::new(MODULE_NAME, e.to_string()).with_source(e)
}

/// The core's configuration and the module's own settings, as the builders take them.
type Configs<'a> = (&'a Config, &'a OtelSettings);
