//! A stored trace made ready to show: spans in waterfall order (parents before children,
//! siblings by start time) with their depth, and the trace's log records.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::ids::{SpanId, TraceId};
use crate::store::{LogEntry, SpanRecord, Store, TraceSummary};
use crate::value::{attributes_json, to_json};

/// A trace as `/api/traces/{id}` returns it and the trace page draws it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceDetail {
    /// The list row of this trace.
    #[serde(flatten)]
    pub summary: TraceSummary,
    /// Its spans in waterfall order: each parent before its children, siblings by start time;
    /// spans whose parent has not arrived come at depth 0 in start order.
    pub spans: Vec<SpanView>,
    /// Its log records in arrival order (each names its span, if any).
    pub logs: Vec<LogView>,
}

/// One span of a [`TraceDetail`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanView {
    /// Its id.
    pub span_id: SpanId,
    /// Its parent's id, if it has one.
    pub parent_span_id: Option<SpanId>,
    /// Whether it names a parent that is not (yet) in the trace.
    pub parent_missing: bool,
    /// How deep it sits in the tree (0 for a root).
    pub depth: usize,
    /// Its name.
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    /// The service that sent it.
    pub service: String,
    /// Start, Unix nanoseconds.
    pub start_unix_nano: u64,
    /// End, Unix nanoseconds.
    pub end_unix_nano: u64,
    /// Nanoseconds from the trace's start to this span's start.
    pub offset_nanos: u64,
    /// How long it took, nanoseconds.
    pub duration_nanos: u64,
    /// Its status.
    pub status: StatusView,
    /// Its attributes, in the order received.
    pub attributes: Map<String, Json>,
    /// Its events, in order.
    pub events: Vec<EventView>,
    /// Its links to other spans.
    pub links: Vec<LinkView>,
    /// The resource of the process that sent it.
    pub resource: Map<String, Json>,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The instrumentation scope's version.
    pub scope_version: String,
}

/// A span's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusView {
    /// `unset`, `ok` or `error`.
    pub code: &'static str,
    /// The description given with an error.
    pub message: String,
}

/// A span event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventView {
    /// Its name (`exception`, ...).
    pub name: String,
    /// When, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Its attributes.
    pub attributes: Map<String, Json>,
}

/// A span link.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkView {
    /// The linked span's trace (hex; may be any length if the sender got it wrong).
    pub trace_id: String,
    /// The linked span (hex).
    pub span_id: String,
    /// The link's attributes.
    pub attributes: Map<String, Json>,
}

/// A log record of a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogView {
    /// When, Unix nanoseconds (the record's time, else its observed time).
    pub time_unix_nano: u64,
    /// `INFO`, `ERROR`, ... (the sender's text, else from the number).
    pub severity: String,
    /// The OTLP severity number (1-24, 0 when not given).
    pub severity_number: i32,
    /// The body: usually a string.
    pub body: Json,
    /// Its attributes.
    pub attributes: Map<String, Json>,
    /// The trace it was written in, if any.
    pub trace_id: Option<TraceId>,
    /// The span it was written in, if any.
    pub span_id: Option<SpanId>,
    /// The service that sent it.
    pub service: String,
}

impl LogView {
    /// The view of a stored record.
    pub fn new(entry: &LogEntry) -> Self {
        LogView {
            time_unix_nano: entry.time(),
            severity: entry.severity().to_owned(),
            severity_number: entry.record.severity_number,
            body: to_json(entry.record.body.as_ref()),
            attributes: attributes_json(&entry.record.attributes),
            trace_id: entry.trace_id,
            span_id: entry.span_id,
            service: entry.resource.service.to_string(),
        }
    }

    /// The body as one line of text.
    pub fn body_text(&self) -> String {
        match &self.body {
            Json::String(s) => s.clone(),
            Json::Null => String::new(),
            other => other.to_string(),
        }
    }
}

fn kind_name(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "internal",
        Ok(SpanKind::Server) => "server",
        Ok(SpanKind::Client) => "client",
        Ok(SpanKind::Producer) => "producer",
        Ok(SpanKind::Consumer) => "consumer",
        _ => "unspecified",
    }
}

fn hex(bytes: &[u8]) -> String {
    crate::value::hex(bytes)
}

fn span_view(
    record: &SpanRecord,
    depth: usize,
    parent_missing: bool,
    trace_start: u64,
) -> SpanView {
    let span = &record.span;
    let status = span.status.clone().unwrap_or_default();
    SpanView {
        span_id: record.span_id,
        parent_span_id: record.parent_span_id,
        parent_missing,
        depth,
        name: span.name.clone(),
        kind: kind_name(span.kind),
        service: record.resource.service.to_string(),
        start_unix_nano: record.start(),
        end_unix_nano: record.end(),
        offset_nanos: record.start().saturating_sub(trace_start),
        duration_nanos: record.end() - record.start(),
        status: StatusView {
            code: match StatusCode::try_from(status.code) {
                Ok(StatusCode::Ok) => "ok",
                Ok(StatusCode::Error) => "error",
                _ => "unset",
            },
            message: status.message,
        },
        attributes: attributes_json(&span.attributes),
        events: span
            .events
            .iter()
            .map(|e| EventView {
                name: e.name.clone(),
                time_unix_nano: e.time_unix_nano,
                attributes: attributes_json(&e.attributes),
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| LinkView {
                trace_id: hex(&l.trace_id),
                span_id: hex(&l.span_id),
                attributes: attributes_json(&l.attributes),
            })
            .collect(),
        resource: attributes_json(&record.resource.attributes),
        scope_name: record.scope.name.clone(),
        scope_version: record.scope.version.clone(),
    }
}

/// The spans in waterfall order, each with its depth and whether its parent is missing.
pub fn waterfall(spans: &[Arc<SpanRecord>]) -> Vec<(usize, usize, bool)> {
    let index: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let order = |&a: &usize, &b: &usize| {
        let (x, y) = (&spans[a], &spans[b]);
        (x.start(), &x.span.name, x.span_id).cmp(&(y.start(), &y.span.name, y.span_id))
    };
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match span.parent_span_id.and_then(|p| index.get(&p)) {
            Some(&parent) if parent != i => children.entry(parent).or_default().push(i),
            _ => roots.push(i),
        }
    }
    for list in children.values_mut() {
        list.sort_by(order);
    }
    roots.sort_by(order);
    let mut out = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    let walk = |root: usize, out: &mut Vec<(usize, usize, bool)>, visited: &mut [bool]| {
        let mut stack = vec![(root, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut visited[i], true) {
                continue;
            }
            let missing = depth == 0 && spans[i].parent_span_id.is_some();
            out.push((i, depth, missing));
            if let Some(list) = children.get(&i) {
                stack.extend(list.iter().rev().map(|&c| (c, depth + 1)));
            }
        }
    };
    for &root in &roots {
        walk(root, &mut out, &mut visited);
    }
    // Spans in a parent cycle (bad data) have no root to be reached from: show them at the top
    // level rather than lose them.
    let mut rest: Vec<usize> = (0..spans.len()).filter(|&i| !visited[i]).collect();
    rest.sort_by(order);
    for root in rest {
        walk(root, &mut out, &mut visited);
    }
    out
}

/// The trace `id` as shown, if stored.
pub fn trace_detail(store: &Store, id: TraceId) -> Option<TraceDetail> {
    let (summary, spans) = store.trace(id)?;
    let logs = store.trace_logs(id);
    let start = summary.start_unix_nano;
    let spans = waterfall(&spans)
        .into_iter()
        .map(|(i, depth, missing)| span_view(&spans[i], depth, missing, start))
        .collect();
    Some(TraceDetail {
        summary,
        spans,
        logs: logs.iter().map(|l| LogView::new(l)).collect(),
    })
}
