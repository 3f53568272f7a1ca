//! The testing kit (cargo feature `testing`): the in-memory module `memory`, span-tree
//! assertions, and the adapter [`conformance`] suite.
//!
//! The `memory` module behaves like an exporting adapter: ended spans, metric measurements and log
//! records wait in a buffer until the telemetry is flushed or shut down, then show up in
//! [`MemoryStore::snapshot`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use hyperion::{kv, Config, SpanOptions, Telemetry};
//! use hyperion::testing::MemoryModule;
//!
//! let memory = MemoryModule::new();
//! let store = memory.store();
//! let telemetry = Telemetry::builder().module(memory).config(Config::default()).build().await.unwrap();
//! let ctx = telemetry.context();
//! let (ctx, mut root) = ctx.start_span("GET /users/{id}", SpanOptions::server());
//! let _: Result<(), String> = ctx
//!     .intercept("UserService", "GetUser", |ctx| async move {
//!         let (_, mut span) = ctx.start_span("db.query", SpanOptions::client());
//!         span.set_attribute(kv("user.id", "42"));
//!         Err("no such user".to_string())
//!     })
//!     .await;
//! root.end();
//! telemetry.flush(Duration::from_secs(1)).await.unwrap();
//!
//! let snapshot = store.snapshot();
//! snapshot
//!     .root("GET /users/{id}")
//!     .child("UserService.GetUser")
//!     .status_error()
//!     .child("db.query")
//!     .attribute("user.id", "42");
//! # }
//! ```

pub mod conformance;

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::attr::{KeyValue, Value};
use crate::config::Config;
use crate::context::Context;
use crate::log::{Level, Logger, Record};
use crate::metric::{
    CounterRecorder, GaugeRecorder, HistogramRecorder, InstrumentDescriptor, MeterProvider,
    UpDownCounterRecorder,
};
use crate::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance};
use crate::trace::{
    Span, SpanContext, SpanId, SpanKind, SpanOptions, SpanRecorder, Status, TraceFlags, TraceId,
    Tracer,
};

/// The name the `memory` module registers under.
pub const MEMORY_MODULE: &str = "memory";

/// An event recorded on a span.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    /// The event name (`exception` for recorded errors).
    pub name: String,
    /// Its attributes.
    pub attributes: Vec<KeyValue<'static>>,
    /// When it happened.
    pub time: SystemTime,
}

/// A link recorded on a span.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedLink {
    /// The linked span.
    pub context: SpanContext,
    /// The link's attributes.
    pub attributes: Vec<KeyValue<'static>>,
}

/// A finished span as the `memory` module recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedSpan {
    /// The span name.
    pub name: String,
    /// The span's own context.
    pub context: SpanContext,
    /// The parent span id, if the span had a parent.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent came from another process.
    pub parent_is_remote: bool,
    /// The kind.
    pub kind: SpanKind,
    /// Attributes, in the order set (a key set twice keeps its last value).
    pub attributes: Vec<KeyValue<'static>>,
    /// Events.
    pub events: Vec<RecordedEvent>,
    /// Links.
    pub links: Vec<RecordedLink>,
    /// The final status.
    pub status: Status,
    /// Start time.
    pub start_time: SystemTime,
    /// End time.
    pub end_time: SystemTime,
}

impl RecordedSpan {
    /// The value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&Value<'static>> {
        find_attribute(&self.attributes, key)
    }

    /// The first event of that name.
    pub fn event(&self, name: &str) -> Option<&RecordedEvent> {
        self.events.iter().find(|e| e.name == name)
    }
}

fn find_attribute<'a>(
    attributes: &'a [KeyValue<'static>],
    key: &str,
) -> Option<&'a Value<'static>> {
    attributes
        .iter()
        .rev()
        .find(|a| a.key.as_str() == key)
        .map(|a| &a.value)
}

/// The value of one metric measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PointValue {
    /// A counter increment.
    U64(u64),
    /// An up-down counter change.
    I64(i64),
    /// A histogram or gauge value.
    F64(f64),
}

impl PointValue {
    /// The value as `f64`.
    pub fn as_f64(&self) -> f64 {
        match *self {
            PointValue::U64(v) => v as f64,
            PointValue::I64(v) => v as f64,
            PointValue::F64(v) => v,
        }
    }
}

/// One metric measurement as the `memory` module recorded it (not aggregated).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    /// The instrument.
    pub instrument: InstrumentDescriptor,
    /// The value recorded.
    pub value: PointValue,
    /// The attributes.
    pub attributes: Vec<KeyValue<'static>>,
    /// The span context of the recording context, when it held a valid span: what an adapter
    /// would attach as the exemplar.
    pub exemplar: Option<SpanContext>,
}

impl MetricPoint {
    /// The value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&Value<'static>> {
        find_attribute(&self.attributes, key)
    }
}

/// One log record as the `memory` module recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// The severity.
    pub level: Level,
    /// The target.
    pub target: String,
    /// The formatted message.
    pub message: String,
    /// The fields.
    pub attributes: Vec<KeyValue<'static>>,
    /// The trace id of the current span, if there was one.
    pub trace_id: Option<TraceId>,
    /// The span id of the current span, if there was one.
    pub span_id: Option<SpanId>,
}

impl LogRecord {
    /// The value of a field.
    pub fn attribute(&self, key: &str) -> Option<&Value<'static>> {
        find_attribute(&self.attributes, key)
    }
}

#[derive(Default)]
struct Buffers {
    spans: Vec<RecordedSpan>,
    points: Vec<MetricPoint>,
    logs: Vec<LogRecord>,
}

#[derive(Default)]
struct StoreInner {
    pending: Mutex<Buffers>,
    exported: Mutex<Buffers>,
    flushes: AtomicUsize,
    shutdowns: AtomicUsize,
}

/// What the `memory` module recorded. Cheap to clone; shared with the module.
#[derive(Clone, Default)]
pub struct MemoryStore(Arc<StoreInner>);

fn lock(m: &Mutex<Buffers>) -> MutexGuard<'_, Buffers> {
    // A panicking test thread must not hide what other threads recorded.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryStore {
    /// Everything exported so far (that is, flushed).
    pub fn snapshot(&self) -> Snapshot {
        let exported = lock(&self.0.exported);
        Snapshot {
            spans: exported.spans.clone(),
            points: exported.points.clone(),
            logs: exported.logs.clone(),
        }
    }

    /// How many spans, points and logs wait for a flush.
    pub fn pending(&self) -> (usize, usize, usize) {
        let p = lock(&self.0.pending);
        (p.spans.len(), p.points.len(), p.logs.len())
    }

    /// How many times the module was flushed (shutdown included).
    pub fn flush_count(&self) -> usize {
        self.0.flushes.load(Ordering::Relaxed)
    }

    /// How many times the module was shut down.
    pub fn shutdown_count(&self) -> usize {
        self.0.shutdowns.load(Ordering::Relaxed)
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        *lock(&self.0.pending) = Buffers::default();
        *lock(&self.0.exported) = Buffers::default();
    }

    fn flush(&self) {
        let mut pending = std::mem::take(&mut *lock(&self.0.pending));
        let mut exported = lock(&self.0.exported);
        exported.spans.append(&mut pending.spans);
        exported.points.append(&mut pending.points);
        exported.logs.append(&mut pending.logs);
        self.0.flushes.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, p, l) = self.pending();
        f.debug_struct("MemoryStore")
            .field("pending_spans", &s)
            .field("pending_points", &p)
            .field("pending_logs", &l)
            .finish()
    }
}

/// The in-memory module, registered as `memory`: records every signal into a [`MemoryStore`].
///
/// Spans are sampled parent-based: a child follows its parent's sampled flag, a root is sampled
/// with probability `tracing.sample_rate`. Logs below `logging.level` are dropped.
#[derive(Clone, Debug, Default)]
pub struct MemoryModule {
    store: MemoryStore,
}

impl MemoryModule {
    /// A module with a fresh store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store this module records into.
    pub fn store(&self) -> MemoryStore {
        self.store.clone()
    }
}

impl Module for MemoryModule {
    fn name(&self) -> &str {
        MEMORY_MODULE
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        let instance = MemoryInstance {
            store: self.store.clone(),
            tracer: request.signals.tracing.then(|| {
                Arc::new(MemoryTracer::new(self.store.clone(), request.config)) as Arc<dyn Tracer>
            }),
            meter: request
                .signals
                .metrics
                .then(|| Arc::new(MemoryMeter(self.store.clone())) as Arc<dyn MeterProvider>),
            logger: request.signals.logging.then(|| {
                Arc::new(MemoryLogger {
                    store: self.store.clone(),
                    level: config_level(request.config),
                }) as Arc<dyn Logger>
            }),
        };
        Box::pin(async move { Ok(Box::new(instance) as Box<dyn ModuleInstance>) })
    }
}

fn config_level(config: &Config) -> Level {
    config.logging.level.into()
}

struct MemoryInstance {
    store: MemoryStore,
    tracer: Option<Arc<dyn Tracer>>,
    meter: Option<Arc<dyn MeterProvider>>,
    logger: Option<Arc<dyn Logger>>,
}

impl ModuleInstance for MemoryInstance {
    fn tracer(&self) -> Option<Arc<dyn Tracer>> {
        self.tracer.clone()
    }

    fn meter_provider(&self) -> Option<Arc<dyn MeterProvider>> {
        self.meter.clone()
    }

    fn logger(&self) -> Option<Arc<dyn Logger>> {
        self.logger.clone()
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        self.store.flush();
        Box::pin(async { Ok(()) })
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        self.store.flush();
        self.store.0.shutdowns.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

/// Unique, well-mixed ids without a random-number crate: splitmix64 over a random seed and a
/// counter. Good enough for tests; real adapters use their SDK's generator.
struct IdGenerator {
    seed: u64,
    counter: AtomicU64,
}

impl IdGenerator {
    fn new() -> Self {
        IdGenerator {
            seed: RandomState::new().hash_one(0u64),
            counter: AtomicU64::new(1),
        }
    }

    fn next_u64(&self) -> u64 {
        let mut z = self.seed.wrapping_add(
            self.counter
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn span_id(&self) -> SpanId {
        loop {
            let id = SpanId::from_bytes(self.next_u64().to_be_bytes());
            if id.is_valid() {
                return id;
            }
        }
    }

    fn trace_id(&self) -> TraceId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[0] |= 1; // never all zeros
        TraceId::from_bytes(bytes)
    }
}

struct MemoryTracer {
    store: MemoryStore,
    ids: IdGenerator,
    sample_rate: f64,
}

impl MemoryTracer {
    fn new(store: MemoryStore, config: &Config) -> Self {
        MemoryTracer {
            store,
            ids: IdGenerator::new(),
            sample_rate: config.tracing.sample_rate,
        }
    }
}

impl Tracer for MemoryTracer {
    fn start_span(
        &self,
        parent_sc: &SpanContext,
        name: Cow<'static, str>,
        options: &SpanOptions<'_>,
    ) -> Span {
        let has_parent = parent_sc.is_valid() && !options.new_root;
        // The `random-trace-id` flag follows the trace id: kept from the parent, set on the ids
        // generated here (random ones).
        let (trace_id, sampled, state, random) = if has_parent {
            (
                parent_sc.trace_id(),
                parent_sc.is_sampled(),
                parent_sc.trace_state().clone(),
                parent_sc.trace_flags().is_random(),
            )
        } else {
            let trace_id = self.ids.trace_id();
            let low = u64::from_be_bytes(trace_id.to_bytes()[8..].try_into().unwrap_or([0; 8]));
            let sampled = self.sample_rate >= 1.0
                || ((low >> 11) as f64 / (1u64 << 53) as f64) < self.sample_rate;
            (trace_id, sampled, Default::default(), true)
        };
        let context = SpanContext::new(
            trace_id,
            self.ids.span_id(),
            TraceFlags::default()
                .with_sampled(sampled)
                .with_random(random),
            false,
            state,
        );
        if !sampled {
            return Span::non_recording(context);
        }
        let recorded = RecordedSpan {
            name: name.into_owned(),
            context: context.clone(),
            parent_span_id: has_parent.then(|| parent_sc.span_id()),
            parent_is_remote: has_parent && parent_sc.is_remote(),
            kind: options.kind,
            attributes: options
                .attributes
                .iter()
                .cloned()
                .map(KeyValue::into_owned)
                .collect(),
            events: Vec::new(),
            links: options
                .links
                .iter()
                .map(|l| RecordedLink {
                    context: l.context.clone(),
                    attributes: owned(l.attributes),
                })
                .collect(),
            status: Status::Unset,
            start_time: options.start_time.unwrap_or_else(SystemTime::now),
            end_time: SystemTime::UNIX_EPOCH,
        };
        Span::new(
            context,
            MemorySpan {
                span: recorded,
                store: self.store.clone(),
            },
        )
    }
}

fn owned(attributes: &[KeyValue<'_>]) -> Vec<KeyValue<'static>> {
    attributes
        .iter()
        .cloned()
        .map(KeyValue::into_owned)
        .collect()
}

struct MemorySpan {
    span: RecordedSpan,
    store: MemoryStore,
}

impl SpanRecorder for MemorySpan {
    fn set_attribute(&mut self, attribute: &KeyValue<'_>) {
        let attribute = attribute.clone().into_owned();
        match self
            .span
            .attributes
            .iter_mut()
            .find(|a| a.key == attribute.key)
        {
            Some(existing) => existing.value = attribute.value,
            None => self.span.attributes.push(attribute),
        }
    }

    fn add_event(
        &mut self,
        name: Cow<'static, str>,
        attributes: &[KeyValue<'_>],
        timestamp: Option<SystemTime>,
    ) {
        self.span.events.push(RecordedEvent {
            name: name.into_owned(),
            attributes: owned(attributes),
            time: timestamp.unwrap_or_else(SystemTime::now),
        });
    }

    fn set_status(&mut self, status: Status) {
        self.span.status = status;
    }

    fn add_link(&mut self, context: SpanContext, attributes: &[KeyValue<'_>]) {
        self.span.links.push(RecordedLink {
            context,
            attributes: owned(attributes),
        });
    }

    fn update_name(&mut self, name: Cow<'static, str>) {
        self.span.name = name.into_owned();
    }

    fn end(&mut self, timestamp: Option<SystemTime>) {
        let mut span = std::mem::replace(
            &mut self.span,
            RecordedSpan {
                name: String::new(),
                context: SpanContext::INVALID,
                parent_span_id: None,
                parent_is_remote: false,
                kind: SpanKind::Internal,
                attributes: Vec::new(),
                events: Vec::new(),
                links: Vec::new(),
                status: Status::Unset,
                start_time: SystemTime::UNIX_EPOCH,
                end_time: SystemTime::UNIX_EPOCH,
            },
        );
        span.end_time = timestamp.unwrap_or_else(SystemTime::now);
        lock(&self.store.0.pending).spans.push(span);
    }
}

struct MemoryMeter(MemoryStore);

struct MemoryInstrument {
    descriptor: InstrumentDescriptor,
    store: MemoryStore,
}

impl MemoryInstrument {
    fn push(&self, ctx: &Context, value: PointValue, attributes: &[KeyValue<'_>]) {
        let sc = ctx.span_context();
        lock(&self.store.0.pending).points.push(MetricPoint {
            instrument: self.descriptor.clone(),
            value,
            attributes: owned(attributes),
            exemplar: sc.is_valid().then(|| sc.clone()),
        });
    }
}

impl CounterRecorder for MemoryInstrument {
    fn add(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::U64(value), attributes);
    }
}

impl UpDownCounterRecorder for MemoryInstrument {
    fn add(&self, ctx: &Context, value: i64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::I64(value), attributes);
    }
}

impl HistogramRecorder for MemoryInstrument {
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::F64(value), attributes);
    }
}

impl GaugeRecorder for MemoryInstrument {
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.push(ctx, PointValue::F64(value), attributes);
    }
}

impl MemoryMeter {
    fn instrument(&self, descriptor: &InstrumentDescriptor) -> Arc<MemoryInstrument> {
        Arc::new(MemoryInstrument {
            descriptor: descriptor.clone(),
            store: self.0.clone(),
        })
    }
}

impl MeterProvider for MemoryMeter {
    fn counter(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn CounterRecorder>> {
        Some(self.instrument(d))
    }
    fn up_down_counter(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn UpDownCounterRecorder>> {
        Some(self.instrument(d))
    }
    fn histogram(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn HistogramRecorder>> {
        Some(self.instrument(d))
    }
    fn gauge(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn GaugeRecorder>> {
        Some(self.instrument(d))
    }
}

struct MemoryLogger {
    store: MemoryStore,
    level: Level,
}

impl Logger for MemoryLogger {
    fn enabled(&self, level: Level, _target: &str) -> bool {
        level >= self.level
    }

    fn emit(&self, record: &Record<'_>) {
        let sc = record.span_context;
        let message = match record.message.as_str() {
            Some(s) => s.to_owned(),
            None => record.message.to_string(),
        };
        lock(&self.store.0.pending).logs.push(LogRecord {
            level: record.level,
            target: record.target.to_owned(),
            message,
            attributes: owned(record.attributes),
            trace_id: sc.is_valid().then(|| sc.trace_id()),
            span_id: sc.is_valid().then(|| sc.span_id()),
        });
    }
}

/// Everything a module exported, with assertions on span trees.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Finished spans, in the order they ended.
    pub spans: Vec<RecordedSpan>,
    /// Metric measurements, in order.
    pub points: Vec<MetricPoint>,
    /// Log records, in order.
    pub logs: Vec<LogRecord>,
}

impl Snapshot {
    /// The spans without a parent in this snapshot (true roots, or children of remote parents).
    pub fn roots(&self) -> Vec<&RecordedSpan> {
        self.spans
            .iter()
            .filter(|s| match s.parent_span_id {
                None => true,
                Some(p) => !self.spans.iter().any(|o| o.context.span_id() == p),
            })
            .collect()
    }

    /// The children of a span, in the order they ended.
    pub fn children(&self, parent: &RecordedSpan) -> Vec<&RecordedSpan> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id == Some(parent.context.span_id()))
            .collect()
    }

    /// The first span of that name, if any.
    pub fn find(&self, name: &str) -> Option<&RecordedSpan> {
        self.spans.iter().find(|s| s.name == name)
    }

    /// The first span of that name; panics with the span tree if there is none.
    pub fn span(&self, name: &str) -> SpanAssert<'_> {
        match self.find(name) {
            Some(span) => SpanAssert {
                snapshot: self,
                span,
            },
            None => panic!("no span named {name:?}; recorded:\n{}", self.tree()),
        }
    }

    /// The root span of that name; panics with the span tree if there is none.
    pub fn root(&self, name: &str) -> SpanAssert<'_> {
        match self.roots().into_iter().find(|s| s.name == name) {
            Some(span) => SpanAssert {
                snapshot: self,
                span,
            },
            None => panic!("no root span named {name:?}; recorded:\n{}", self.tree()),
        }
    }

    /// The metric measurements of one instrument.
    pub fn points(&self, instrument: &str) -> Vec<&MetricPoint> {
        self.points
            .iter()
            .filter(|p| p.instrument.name == instrument)
            .collect()
    }

    /// The span tree, one span a line, indented under its parent, with kind, status, duration
    /// and attributes.
    pub fn tree(&self) -> String {
        let mut out = String::new();
        for root in self.roots() {
            self.write_tree(&mut out, root, 0);
        }
        if out.is_empty() {
            out.push_str("(no spans)\n");
        }
        out
    }

    fn write_tree(&self, out: &mut String, span: &RecordedSpan, depth: usize) {
        let micros = span
            .end_time
            .duration_since(span.start_time)
            .map(|d| d.as_secs_f64() * 1e6)
            .unwrap_or(0.0);
        let _ = write!(
            out,
            "{:indent$}{} [{}] {:.0}µs",
            "",
            span.name,
            span.kind.as_str(),
            micros,
            indent = depth * 2
        );
        match &span.status {
            Status::Unset => {}
            Status::Ok => out.push_str(" ok"),
            Status::Error { description } => {
                let _ = write!(out, " ERROR({description})");
            }
        }
        for a in &span.attributes {
            let _ = write!(out, " {}={}", a.key, a.value);
        }
        out.push('\n');
        for child in self.children(span) {
            self.write_tree(out, child, depth + 1);
        }
    }
}

/// A span in a [`Snapshot`] with chainable assertions that panic with the span tree.
#[derive(Clone, Copy)]
pub struct SpanAssert<'s> {
    snapshot: &'s Snapshot,
    span: &'s RecordedSpan,
}

impl<'s> SpanAssert<'s> {
    /// The recorded span.
    pub fn span(&self) -> &'s RecordedSpan {
        self.span
    }

    #[track_caller]
    fn fail(&self, what: fmt::Arguments<'_>) -> ! {
        panic!(
            "span {:?}: {what}\nspan tree:\n{}",
            self.span.name,
            self.snapshot.tree()
        )
    }

    /// The child of that name.
    #[track_caller]
    pub fn child(&self, name: &str) -> SpanAssert<'s> {
        match self
            .snapshot
            .children(self.span)
            .into_iter()
            .find(|c| c.name == name)
        {
            Some(span) => SpanAssert {
                snapshot: self.snapshot,
                span,
            },
            None => self.fail(format_args!("has no child named {name:?}")),
        }
    }

    /// Asserts an attribute's value.
    #[track_caller]
    pub fn attribute<'v>(self, key: &str, value: impl Into<Value<'v>>) -> Self {
        let value = value.into();
        match self.span.attribute(key) {
            Some(found) if *found == value => self,
            found => self.fail(format_args!(
                "attribute {key:?} is {found:?}, expected {value:?}"
            )),
        }
    }

    /// Asserts the status is error.
    #[track_caller]
    pub fn status_error(self) -> Self {
        if !self.span.status.is_error() {
            self.fail(format_args!(
                "status is {:?}, expected error",
                self.span.status
            ));
        }
        self
    }

    /// Asserts the status is ok or unset.
    #[track_caller]
    pub fn status_not_error(self) -> Self {
        if self.span.status.is_error() {
            self.fail(format_args!(
                "status is {:?}, expected no error",
                self.span.status
            ));
        }
        self
    }

    /// Asserts the kind.
    #[track_caller]
    pub fn kind(self, kind: SpanKind) -> Self {
        if self.span.kind != kind {
            self.fail(format_args!(
                "kind is {:?}, expected {kind:?}",
                self.span.kind
            ));
        }
        self
    }

    /// Asserts an event of that name exists.
    #[track_caller]
    pub fn event(self, name: &str) -> Self {
        if self.span.event(name).is_none() {
            self.fail(format_args!("has no event {name:?}"));
        }
        self
    }
}

impl fmt::Debug for SpanAssert<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.span, f)
    }
}
