//! The bounded in-memory store: recent traces (assembled by trace id), log records (indexed by
//! trace and span id) and metric points (per series, with exemplars).
//!
//! Each signal has its own lock, held only to insert already-decoded data or to copy out what
//! a page needs (`Arc`s of the stored records); decoding and rendering happen outside it. When a
//! limit is reached the oldest entries are evicted and counted ([`Stats`]).

mod logs;
mod metrics;
mod traces;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use serde::Serialize;

use crate::ids::TraceId;
use crate::value::string_attribute;

pub use logs::LogEntry;
pub use metrics::{Exemplar, MetricKind, PointValue, SeriesView, StoredPoint};
pub(crate) use metrics::{IncomingPoint, SeriesInfo};
pub use traces::{SpanRecord, TraceList, TraceQuery, TraceSummary};

/// How much the store keeps. When a limit is reached the oldest entries go first: the trace
/// that received nothing for longest, the earliest log record, the earliest metric point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The most traces kept. Default: 10,000.
    pub max_traces: usize,
    /// The most spans kept over all traces; whole traces are evicted to stay under it.
    /// Default: 250,000.
    pub max_spans: usize,
    /// The most spans kept in one trace; later spans of a full trace are dropped and counted.
    /// At most `max_spans`. Default: 10,000.
    pub max_spans_per_trace: usize,
    /// The most log records kept. Default: 100,000.
    pub max_logs: usize,
    /// The most metric points kept over all series (each with its exemplars). Default: 100,000.
    pub max_metric_points: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_traces: 10_000,
            max_spans: 250_000,
            max_spans_per_trace: 10_000,
            max_logs: 100_000,
            max_metric_points: 100_000,
        }
    }
}

/// A limit that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A limit is zero.
    #[error("limit `{0}` is 0; it must be at least 1")]
    Zero(&'static str),
    /// `max_spans_per_trace` is larger than `max_spans`.
    #[error(
        "limit `max_spans_per_trace` ({per_trace}) is larger than `max_spans` ({total}); \
         one trace cannot hold more spans than the whole store"
    )]
    PerTraceAboveTotal {
        /// `max_spans_per_trace`.
        per_trace: usize,
        /// `max_spans`.
        total: usize,
    },
}

impl Limits {
    /// Checks that every limit is at least 1 and that one trace fits in the span limit.
    ///
    /// # Errors
    ///
    /// The first limit that cannot work.
    pub fn validate(&self) -> Result<(), LimitsError> {
        for (name, value) in [
            ("max_traces", self.max_traces),
            ("max_spans", self.max_spans),
            ("max_spans_per_trace", self.max_spans_per_trace),
            ("max_logs", self.max_logs),
            ("max_metric_points", self.max_metric_points),
        ] {
            if value == 0 {
                return Err(LimitsError::Zero(name));
            }
        }
        if self.max_spans_per_trace > self.max_spans {
            return Err(LimitsError::PerTraceAboveTotal {
                per_trace: self.max_spans_per_trace,
                total: self.max_spans,
            });
        }
        Ok(())
    }
}

/// What the store holds and what it had to let go, for the page's header and `/api/stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Traces stored.
    pub traces: usize,
    /// Spans stored, over all traces.
    pub spans: usize,
    /// Log records stored.
    pub logs: usize,
    /// Metric series stored.
    pub metric_series: usize,
    /// Metric points stored.
    pub metric_points: usize,
    /// Traces evicted because `max_traces` or `max_spans` was reached.
    pub traces_evicted: u64,
    /// Spans that went with the evicted traces.
    pub spans_evicted: u64,
    /// Spans dropped on arrival because their trace held `max_spans_per_trace` already.
    pub spans_dropped: u64,
    /// Spans rejected on arrival: no valid trace or span id.
    pub spans_rejected: u64,
    /// Log records evicted because `max_logs` was reached.
    pub logs_evicted: u64,
    /// Metric points evicted because `max_metric_points` was reached.
    pub metric_points_evicted: u64,
    /// Export requests refused whole as malformed (undecodable body, unknown media type).
    pub requests_rejected: u64,
}

/// The resource a span, log record or metric came from: its `service.name` and attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// `service.name`, or `unknown_service` when the resource has none (the SDKs' default).
    pub service: Arc<str>,
    /// Every resource attribute, as received.
    pub attributes: Vec<KeyValue>,
}

impl Resource {
    fn from_proto(resource: Option<opentelemetry_proto::tonic::resource::v1::Resource>) -> Self {
        let attributes = resource.map(|r| r.attributes).unwrap_or_default();
        let service = string_attribute(&attributes, "service.name")
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown_service");
        Resource {
            service: Arc::from(service),
            attributes,
        }
    }
}

/// The instrumentation scope (library) that recorded a span or log record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Its name (`hyperion`, `opentelemetry.instrumentation.flask`, ...).
    pub name: String,
    /// Its version, empty when not given.
    pub version: String,
}

impl Scope {
    fn from_proto(scope: Option<InstrumentationScope>) -> Self {
        scope.map_or_else(Scope::default, |s| Scope {
            name: s.name,
            version: s.version,
        })
    }
}

/// What an export request left behind: how many items were refused and why, for OTLP's
/// `partial_success` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Items (spans, log records, data points) accepted.
    pub accepted: usize,
    /// Items refused (invalid ids), reported to the sender.
    pub rejected: i64,
    /// Why, when `rejected` is not 0.
    pub message: String,
}

impl Ingested {
    fn reject(&mut self, why: &str) {
        self.rejected += 1;
        if self.message.is_empty() {
            self.message = why.to_owned();
        }
    }
}

struct Inner {
    limits: Limits,
    traces: Mutex<traces::TraceStore>,
    logs: Mutex<logs::LogStore>,
    metrics: Mutex<metrics::MetricStore>,
    requests_rejected: AtomicU64,
}

/// The store: cheap to clone (one `Arc`), shared by the receivers and the web server.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data here (every change is finished
    // before the next one starts), so the viewer keeps serving rather than failing every page.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store {
    /// An empty store with these limits.
    ///
    /// # Errors
    ///
    /// A limit that cannot work ([`Limits::validate`]).
    pub fn new(limits: Limits) -> Result<Self, LimitsError> {
        limits.validate()?;
        Ok(Store {
            inner: Arc::new(Inner {
                limits,
                traces: Mutex::new(traces::TraceStore::new(limits)),
                logs: Mutex::new(logs::LogStore::new(limits.max_logs)),
                metrics: Mutex::new(metrics::MetricStore::new(limits.max_metric_points)),
                requests_rejected: AtomicU64::new(0),
            }),
        })
    }

    /// The limits this store keeps to.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Stores the spans of an OTLP trace export, assembling them into traces by trace id.
    /// Spans without a valid trace or span id are refused and counted.
    pub fn ingest_traces(&self, request: ExportTraceServiceRequest) -> Ingested {
        let (batch, ingested) = traces::prepare(request);
        let rejected = u64::try_from(ingested.rejected).unwrap_or(0);
        lock(&self.inner.traces).insert(batch, rejected);
        ingested
    }

    /// Stores the log records of an OTLP logs export (with or without trace context).
    pub fn ingest_logs(&self, request: ExportLogsServiceRequest) -> Ingested {
        let (entries, ingested) = logs::prepare(request);
        lock(&self.inner.logs).insert(entries);
        ingested
    }

    /// Stores the data points of an OTLP metrics export, each in its series, with exemplars.
    pub fn ingest_metrics(&self, request: ExportMetricsServiceRequest) -> Ingested {
        let (points, ingested) = metrics::prepare(request);
        lock(&self.inner.metrics).insert(points);
        ingested
    }

    /// Stores metric points built elsewhere (the Prometheus scraper).
    pub(crate) fn ingest_points(&self, points: Vec<IncomingPoint>) {
        lock(&self.inner.metrics).insert(points);
    }

    /// Counts an export request refused whole as malformed.
    pub(crate) fn count_rejected_request(&self) {
        self.inner.requests_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The traces matching `query`, newest first (by start time), at most `query.limit`.
    pub fn traces(&self, query: &TraceQuery) -> TraceList {
        lock(&self.inner.traces).list(query)
    }

    /// The names of the services in the stored traces, sorted.
    pub fn services(&self) -> Vec<String> {
        lock(&self.inner.traces).services()
    }

    /// The summary and spans of trace `id`, if stored; spans in arrival order.
    pub fn trace(&self, id: TraceId) -> Option<(TraceSummary, Vec<Arc<SpanRecord>>)> {
        lock(&self.inner.traces).get(id)
    }

    /// The stored log records of trace `id`, in arrival order.
    pub fn trace_logs(&self, id: TraceId) -> Vec<Arc<LogEntry>> {
        lock(&self.inner.logs).for_trace(id)
    }

    /// The most recent `limit` log records, newest first.
    pub fn recent_logs(&self, limit: usize) -> Vec<Arc<LogEntry>> {
        lock(&self.inner.logs).recent(limit)
    }

    /// Every stored metric series with its recent points and exemplars, sorted by metric name,
    /// then service, then attributes.
    pub fn metric_series(&self) -> Vec<SeriesView> {
        lock(&self.inner.metrics).series()
    }

    /// Counts of what is stored, evicted, dropped and rejected.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        lock(&self.inner.traces).fill(&mut stats);
        lock(&self.inner.logs).fill(&mut stats);
        lock(&self.inner.metrics).fill(&mut stats);
        stats.requests_rejected = self.inner.requests_rejected.load(Ordering::Relaxed);
        stats
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("limits", &self.inner.limits)
            .field("stats", &self.stats())
            .finish()
    }
}
