//! The facade's side of the metric benches: hyperion on module `otel`, built from YAML, with a
//! counter, a histogram and a context inside a sampled span, and the attributes every side
//! records. Shared by `otel_metrics.rs` and `threads.rs` (`#[path]`).
// Each bench binary uses its own part of this file.
#![allow(dead_code)]

use hyperion::{Config, Context, Counter, Histogram, KeyValue, Span, SpanOptions, Telemetry, kv};
use hyperion_otel::OtelModule;

/// The same three attributes for the facade, built per call as user code would.
#[inline(always)]
pub fn attrs() -> [KeyValue<'static>; 3] {
    [
        kv("component", "UserService"),
        kv("method", "GetUser"),
        kv("outcome", "ok"),
    ]
}

/// The same three attributes for the SDK, built per call as user code would.
#[inline(always)]
pub fn otel_attrs() -> [opentelemetry::KeyValue; 3] {
    [
        opentelemetry::KeyValue::new("component", "UserService"),
        opentelemetry::KeyValue::new("method", "GetUser"),
        opentelemetry::KeyValue::new("outcome", "ok"),
    ]
}

/// The bench YAML for one `metrics.exporter`.
fn yaml(exporter: &str) -> String {
    format!(
        "tracing:\n  exporter: none\n  sampler: always_on\n  endpoint: http://127.0.0.1:9\n\
         metrics:\n  exporter: {exporter}\n  port: 0\n  bind_address: 127.0.0.1\n  interval: 1h\n\
         logging:\n  enabled: false\n"
    )
}

/// The telemetry `yaml` configures, built on a current-thread runtime.
fn build(module: OtelModule, yaml: &str) -> Telemetry {
    let config = Config::from_yaml_str(yaml).expect("bench YAML is valid");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(Telemetry::builder().module(module).config(config).build())
        .expect("module otel builds")
}

/// Hyperion on module `otel` with one `metrics.exporter`, its two instruments, and a context
/// inside a sampled span (kept open while the bench runs).
pub struct Facade {
    pub module: OtelModule,
    pub telemetry: Telemetry,
    pub counter: Counter,
    pub histogram: Histogram,
    pub in_span: Context,
    _span: Span,
}

impl Facade {
    pub fn new(exporter: &str) -> Self {
        Self::from_yaml(&yaml(exporter))
    }

    pub fn from_yaml(yaml: &str) -> Self {
        let module = OtelModule::new();
        let telemetry = build(module.clone(), yaml);
        let meter = telemetry.meter("bench");
        let counter = meter.counter("bench.requests").unit("{request}").build();
        let histogram = meter.histogram("bench.duration").unit("s").build();
        let (in_span, span) = telemetry
            .context()
            .start_span("request", SpanOptions::new());
        Facade {
            module,
            telemetry,
            counter,
            histogram,
            in_span,
            _span: span,
        }
    }

    /// The OpenMetrics text of the adapter's Prometheus endpoint.
    pub fn scrape(&self) -> String {
        let endpoint = self
            .module
            .prometheus_endpoint()
            .expect("metrics.exporter is prometheus or both");
        endpoint.render(Some("application/openmetrics-text")).1
    }
}
