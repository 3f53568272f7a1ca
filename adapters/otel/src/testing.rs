//! The conformance harness for module `otel` (cargo feature `testing`): spans go through the
//! real SDK pipeline configured from YAML, and also to an in-memory exporter that the harness
//! reads back and converts into the facade's [`Snapshot`].

use std::sync::Mutex;

use hyperion::config::ConfigLoader;
use hyperion::metric::{
    CounterRecorder, GaugeRecorder, HistogramRecorder, InstrumentDescriptor, UpDownCounterRecorder,
};
use hyperion::registry::BoxFuture;
use hyperion::testing::conformance::{Capabilities, Harness};
use hyperion::testing::{
    MetricPoint, PointValue, RecordedEvent, RecordedLink, RecordedSpan, Snapshot,
};
use hyperion::{KeyValue, SpanContext, SpanKind, Status, Telemetry, TraceState, Value};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::sync::Arc;

use crate::OtelModule;

/// Builds telemetry on module `otel` from a YAML config and reads spans back.
pub struct OtelHarness {
    yaml: String,
    built: Mutex<Vec<Built>>,
}

/// One telemetry the harness built, and where to read back what it exported.
struct Built {
    telemetry: Telemetry,
    spans: Capture,
    metrics: MetricTap,
    lines: Arc<Mutex<Vec<u8>>>,
}

impl OtelHarness {
    /// A harness whose telemetry uses this YAML (the `tracing` section picks the exporter).
    pub fn new(yaml: impl Into<String>) -> Self {
        OtelHarness {
            yaml: yaml.into(),
            built: Mutex::new(Vec::new()),
        }
    }
}

impl std::fmt::Debug for OtelHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelHarness")
            .field("yaml", &self.yaml)
            .finish()
    }
}

impl Harness for OtelHarness {
    fn name(&self) -> &str {
        crate::MODULE_NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            spans: true,
            metrics: true,
            logs: true,
        }
    }

    fn telemetry(&self) -> BoxFuture<'_, Telemetry> {
        Box::pin(async {
            let memory = Capture::default();
            let tap = MetricTap::default();
            let lines = Arc::new(Mutex::new(Vec::new()));
            let mut module = OtelModule::new().with_log_buffer(lines.clone());
            module.extra_exporter = Some(memory.clone());
            module.metric_tap = Some(tap.clone());
            let config = ConfigLoader::new()
                .yaml(self.yaml.as_str())
                // Checks run in parallel: the Prometheus endpoint takes any free port.
                .set("metrics.port", 0)
                // The suite's contract: logging at level trace.
                .set("logging.level", "trace")
                .load()
                .expect("harness YAML is valid");
            let telemetry = Telemetry::builder()
                .module(module)
                .config(config)
                .build()
                .await
                .expect("module otel builds");
            self.built
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Built {
                    telemetry: telemetry.clone(),
                    spans: memory,
                    metrics: tap,
                    lines,
                });
            telemetry
        })
    }

    fn exported<'a>(&'a self, telemetry: &'a Telemetry) -> BoxFuture<'a, Snapshot> {
        Box::pin(async move {
            let built = self.built.lock().unwrap_or_else(|p| p.into_inner());
            let Some(b) = built.iter().find(|b| b.telemetry.same_as(telemetry)) else {
                return Snapshot::default();
            };
            let spans = b.spans.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Snapshot {
                spans: spans.iter().map(recorded).collect(),
                points: b.metrics.points(),
                logs: log_records(&b.lines.lock().unwrap_or_else(|p| p.into_inner())),
            }
        })
    }
}

/// Sees every metric record the adapter's sinks see, as the facade's raw [`MetricPoint`]s (the
/// sinks aggregate, so their output cannot be turned back into records).
#[derive(Clone, Debug, Default)]
pub(crate) struct MetricTap(Arc<Mutex<Vec<MetricPoint>>>);

struct TapRecorder {
    tap: MetricTap,
    descriptor: InstrumentDescriptor,
}

impl TapRecorder {
    fn push(&self, ctx: &hyperion::Context, value: PointValue, attributes: &[KeyValue<'_>]) {
        let sc = ctx.span_context();
        self.tap
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(MetricPoint {
                instrument: self.descriptor.clone(),
                value,
                attributes: attributes
                    .iter()
                    .cloned()
                    .map(KeyValue::into_owned)
                    .collect(),
                exemplar: sc.is_valid().then(|| sc.clone()),
            });
    }
}

impl CounterRecorder for TapRecorder {
    fn add(&self, ctx: &hyperion::Context, value: u64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::U64(value), attributes);
    }
}
impl UpDownCounterRecorder for TapRecorder {
    fn add(&self, ctx: &hyperion::Context, value: i64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::I64(value), attributes);
    }
}
impl HistogramRecorder for TapRecorder {
    fn record(&self, ctx: &hyperion::Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::F64(value), attributes);
    }
}
impl GaugeRecorder for TapRecorder {
    fn record(&self, ctx: &hyperion::Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::F64(value), attributes);
    }
}

impl MetricTap {
    fn tap(&self, descriptor: &InstrumentDescriptor) -> Arc<TapRecorder> {
        Arc::new(TapRecorder {
            tap: self.clone(),
            descriptor: descriptor.clone(),
        })
    }
    pub(crate) fn counter(&self, d: &InstrumentDescriptor) -> Arc<dyn CounterRecorder> {
        self.tap(d)
    }
    pub(crate) fn up_down_counter(
        &self,
        d: &InstrumentDescriptor,
    ) -> Arc<dyn UpDownCounterRecorder> {
        self.tap(d)
    }
    pub(crate) fn histogram(&self, d: &InstrumentDescriptor) -> Arc<dyn HistogramRecorder> {
        self.tap(d)
    }
    pub(crate) fn gauge(&self, d: &InstrumentDescriptor) -> Arc<dyn GaugeRecorder> {
        self.tap(d)
    }
    fn points(&self) -> Vec<MetricPoint> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The JSON lines the adapter wrote, read back as the facade's log records: the harness checks
/// the real output, not what went in.
fn log_records(bytes: &[u8]) -> Vec<hyperion::testing::LogRecord> {
    const RESERVED: [&str; 8] = [
        "timestamp",
        "level",
        "severity_number",
        "target",
        "message",
        "trace_id",
        "span_id",
        "service",
    ];
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| {
            // A line that does not parse is a failure of the adapter, not something to skip.
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
        })
        .filter_map(|line| {
            let obj = line.as_object()?;
            let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            Some(hyperion::testing::LogRecord {
                level: text("level")?.parse().ok()?,
                target: text("target").unwrap_or_default(),
                message: text("message").unwrap_or_default(),
                attributes: obj
                    .iter()
                    .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
                    .map(|(k, v)| KeyValue::new(k.clone(), json_value(v)))
                    .collect(),
                trace_id: text("trace_id").and_then(|h| hyperion::TraceId::from_hex(&h)),
                span_id: text("span_id").and_then(|h| hyperion::SpanId::from_hex(&h)),
            })
        })
        .collect()
}

fn json_value(v: &serde_json::Value) -> Value<'static> {
    match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::from(s.clone()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(json_value).collect::<Vec<_>>())
        }
        other => Value::from(other.to_string()),
    }
}

/// Keeps every exported span, also across shutdown (the SDK's in-memory exporter forgets them
/// on shutdown, and the conformance suite reads after it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Capture {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(batch);
        Ok(())
    }
}

fn value(v: &opentelemetry::Value) -> Value<'static> {
    use opentelemetry::{Array, Value as V};
    match v {
        V::Bool(b) => Value::Bool(*b),
        V::I64(i) => Value::I64(*i),
        V::F64(f) => Value::F64(*f),
        V::String(s) => Value::from(s.as_str().to_owned()),
        V::Array(Array::Bool(a)) => {
            Value::from(a.iter().map(|b| Value::Bool(*b)).collect::<Vec<_>>())
        }
        V::Array(Array::I64(a)) => {
            Value::from(a.iter().map(|i| Value::I64(*i)).collect::<Vec<_>>())
        }
        V::Array(Array::F64(a)) => {
            Value::from(a.iter().map(|f| Value::F64(*f)).collect::<Vec<_>>())
        }
        V::Array(Array::String(a)) => Value::from(
            a.iter()
                .map(|s| Value::from(s.as_str().to_owned()))
                .collect::<Vec<_>>(),
        ),
        other => Value::from(other.to_string()),
    }
}

fn attributes(kvs: &[opentelemetry::KeyValue]) -> Vec<KeyValue<'static>> {
    kvs.iter()
        .map(|kv| KeyValue::new(kv.key.as_str().to_owned(), value(&kv.value)))
        .collect()
}

fn span_context(sc: &opentelemetry::trace::SpanContext) -> SpanContext {
    SpanContext::new(
        hyperion::TraceId::from_bytes(sc.trace_id().to_bytes()),
        hyperion::SpanId::from_bytes(sc.span_id().to_bytes()),
        hyperion::TraceFlags::new(sc.trace_flags().to_u8()),
        sc.is_remote(),
        TraceState::from_header(&sc.trace_state().header(), 32).unwrap_or_default(),
    )
}

fn recorded(s: &SpanData) -> RecordedSpan {
    use opentelemetry::trace::SpanKind as K;
    let parent = s.parent_span_id;
    RecordedSpan {
        name: s.name.to_string(),
        context: span_context(&s.span_context),
        parent_span_id: (parent != opentelemetry::trace::SpanId::INVALID)
            .then(|| hyperion::SpanId::from_bytes(parent.to_bytes())),
        parent_is_remote: s.parent_span_is_remote,
        kind: match s.span_kind {
            K::Internal => SpanKind::Internal,
            K::Server => SpanKind::Server,
            K::Client => SpanKind::Client,
            K::Producer => SpanKind::Producer,
            K::Consumer => SpanKind::Consumer,
        },
        attributes: attributes(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| RecordedEvent {
                name: e.name.to_string(),
                attributes: attributes(&e.attributes),
                time: e.timestamp,
            })
            .collect(),
        links: s
            .links
            .iter()
            .map(|l| RecordedLink {
                context: span_context(&l.span_context),
                attributes: attributes(&l.attributes),
            })
            .collect(),
        status: match &s.status {
            opentelemetry::trace::Status::Unset => Status::Unset,
            opentelemetry::trace::Status::Ok => Status::Ok,
            opentelemetry::trace::Status::Error { description } => {
                Status::error(description.to_string())
            }
        },
        start_time: s.start_time,
        end_time: s.end_time,
    }
}
