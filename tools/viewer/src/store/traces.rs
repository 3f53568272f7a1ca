//! Traces: spans assembled by trace id, a summary kept up to date as pieces arrive, and a
//! recency order for eviction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use serde::Serialize;

use super::{Ingested, Limits, Resource, Scope, Stats};
use crate::ids::{SpanId, TraceId};

/// One stored span, with the resource and scope it came with.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its id.
    pub span_id: SpanId,
    /// Its parent's id; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// The resource of the process that sent it.
    pub resource: Arc<Resource>,
    /// The library that recorded it.
    pub scope: Arc<Scope>,
    /// The span as decoded (name, kind, times, attributes, events, links, status).
    pub span: Span,
}

impl SpanRecord {
    /// Start time, Unix nanoseconds.
    pub fn start(&self) -> u64 {
        self.span.start_time_unix_nano
    }

    /// End time, Unix nanoseconds (never before the start).
    pub fn end(&self) -> u64 {
        self.span
            .end_time_unix_nano
            .max(self.span.start_time_unix_nano)
    }

    /// Whether its status is an error.
    pub fn is_error(&self) -> bool {
        self.span
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32)
    }
}

/// A filter for the trace list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceQuery {
    /// Only traces with a span from this service.
    pub service: Option<String>,
    /// Only traces at least this long.
    pub min_duration: Option<Duration>,
    /// `Some(true)`: only traces with an error span; `Some(false)`: only traces without.
    pub error: Option<bool>,
    /// The most traces returned.
    pub limit: usize,
}

impl Default for TraceQuery {
    fn default() -> Self {
        TraceQuery {
            service: None,
            min_duration: None,
            error: None,
            limit: 100,
        }
    }
}

/// One row of the trace list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    /// The trace id.
    pub trace_id: TraceId,
    /// The root span's name; when the root has not arrived, the earliest span's.
    pub root_name: String,
    /// The service of that span.
    pub root_service: String,
    /// Whether the root span (one without a parent) has arrived.
    pub has_root: bool,
    /// Every service with a span in the trace, in order of arrival.
    pub services: Vec<String>,
    /// How many spans are stored.
    pub span_count: usize,
    /// The earliest span start, Unix nanoseconds.
    pub start_unix_nano: u64,
    /// From the earliest start to the latest end, nanoseconds.
    pub duration_nanos: u64,
    /// Whether any span has an error status.
    pub error: bool,
}

/// The trace list's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceList {
    /// The matching traces, newest first, at most the query's limit.
    pub traces: Vec<TraceSummary>,
    /// How many stored traces match (before the limit).
    pub matched: usize,
    /// How many traces are stored.
    pub stored: usize,
}

/// A span of the first or the root kind: (start, name, service).
type Named = (u64, Arc<str>, Arc<str>);

struct TraceEntry {
    spans: Vec<Arc<SpanRecord>>,
    by_id: HashMap<SpanId, usize>,
    start: u64,
    end: u64,
    root: Option<Named>,
    earliest: Option<Named>,
    services: Vec<Arc<str>>,
    errors: usize,
    seq: u64,
}

impl TraceEntry {
    fn new() -> Self {
        TraceEntry {
            spans: Vec::new(),
            by_id: HashMap::new(),
            start: u64::MAX,
            end: 0,
            root: None,
            earliest: None,
            services: Vec::new(),
            errors: 0,
            seq: 0,
        }
    }

    /// Adds what `span` tells to the summary; returns a service new to this trace.
    fn account(&mut self, span: &SpanRecord) -> Option<Arc<str>> {
        self.start = self.start.min(span.start());
        self.end = self.end.max(span.end());
        self.errors += usize::from(span.is_error());
        let named = || {
            (
                span.start(),
                Arc::from(span.span.name.as_str()),
                span.resource.service.clone(),
            )
        };
        if span.parent_span_id.is_none() && self.root.as_ref().is_none_or(|r| span.start() < r.0) {
            self.root = Some(named());
        }
        if self.earliest.as_ref().is_none_or(|e| span.start() < e.0) {
            self.earliest = Some(named());
        }
        let service = &span.resource.service;
        if self.services.iter().any(|s| s == service) {
            None
        } else {
            self.services.push(service.clone());
            Some(service.clone())
        }
    }

    /// Recomputes the summary from the spans (after a span was replaced).
    fn recount(&mut self) {
        let spans = std::mem::take(&mut self.spans);
        let services = std::mem::take(&mut self.services);
        self.start = u64::MAX;
        self.end = 0;
        self.root = None;
        self.earliest = None;
        self.errors = 0;
        for span in &spans {
            self.account(span);
        }
        // Keep the order services first arrived in; a replaced span cannot remove a service
        // another span of its resource still has, and one that did is rare enough to keep.
        self.services = services;
        self.spans = spans;
    }

    fn summary(&self, id: TraceId) -> TraceSummary {
        let named = self.root.as_ref().or(self.earliest.as_ref());
        TraceSummary {
            trace_id: id,
            root_name: named.map(|n| n.1.to_string()).unwrap_or_default(),
            root_service: named.map(|n| n.2.to_string()).unwrap_or_default(),
            has_root: self.root.is_some(),
            services: self.services.iter().map(|s| s.to_string()).collect(),
            span_count: self.spans.len(),
            start_unix_nano: self.start,
            duration_nanos: self.duration(),
            error: self.errors > 0,
        }
    }

    fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Spans of one export, grouped by trace.
pub(super) type Batch = Vec<(TraceId, Vec<Arc<SpanRecord>>)>;

/// Turns an export into records grouped by trace id (outside the lock), refusing spans
/// without valid ids.
pub(super) fn prepare(request: ExportTraceServiceRequest) -> (Batch, Ingested) {
    let mut ingested = Ingested::default();
    let mut groups: HashMap<TraceId, usize> = HashMap::new();
    let mut batch: Batch = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = Arc::new(Resource::from_proto(resource_spans.resource));
        for scope_spans in resource_spans.scope_spans {
            let scope = Arc::new(Scope::from_proto(scope_spans.scope));
            for span in scope_spans.spans {
                let Some(trace_id) = TraceId::from_bytes(&span.trace_id) else {
                    ingested.reject("a span's trace_id is not 16 bytes, or is all zero");
                    continue;
                };
                let Some(span_id) = SpanId::from_bytes(&span.span_id) else {
                    ingested.reject("a span's span_id is not 8 bytes, or is all zero");
                    continue;
                };
                let record = Arc::new(SpanRecord {
                    trace_id,
                    span_id,
                    parent_span_id: SpanId::from_bytes(&span.parent_span_id),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    span,
                });
                ingested.accepted += 1;
                let next = batch.len();
                let slot = *groups.entry(trace_id).or_insert(next);
                if slot == next {
                    batch.push((trace_id, Vec::new()));
                }
                batch[slot].1.push(record);
            }
        }
    }
    (batch, ingested)
}

pub(super) struct TraceStore {
    limits: Limits,
    traces: HashMap<TraceId, TraceEntry>,
    /// Trace ids by the sequence number of their last arrival: the first is the oldest.
    recency: BTreeMap<u64, TraceId>,
    next_seq: u64,
    spans: usize,
    /// How many stored traces each service has spans in.
    services: HashMap<Arc<str>, usize>,
    traces_evicted: u64,
    spans_evicted: u64,
    spans_dropped: u64,
    spans_rejected: u64,
}

impl TraceStore {
    pub(super) fn new(limits: Limits) -> Self {
        TraceStore {
            limits,
            traces: HashMap::new(),
            recency: BTreeMap::new(),
            next_seq: 0,
            spans: 0,
            services: HashMap::new(),
            traces_evicted: 0,
            spans_evicted: 0,
            spans_dropped: 0,
            spans_rejected: 0,
        }
    }

    pub(super) fn insert(&mut self, batch: Batch, rejected: u64) {
        self.spans_rejected += rejected;
        for (id, records) in batch {
            self.insert_trace(id, records);
        }
        self.evict();
    }

    fn insert_trace(&mut self, id: TraceId, records: Vec<Arc<SpanRecord>>) {
        let entry = self.traces.entry(id).or_insert_with(TraceEntry::new);
        let mut replaced = false;
        for record in records {
            if let Some(&at) = entry.by_id.get(&record.span_id) {
                // The same span again (a retried export): the later copy wins.
                entry.spans[at] = record;
                replaced = true;
                continue;
            }
            if entry.spans.len() >= self.limits.max_spans_per_trace {
                self.spans_dropped += 1;
                continue;
            }
            if let Some(service) = entry.account(&record) {
                *self.services.entry(service).or_insert(0) += 1;
            }
            entry.by_id.insert(record.span_id, entry.spans.len());
            entry.spans.push(record);
            self.spans += 1;
        }
        if replaced {
            entry.recount();
        }
        if entry.spans.is_empty() {
            // Every span was dropped: nothing to keep.
            self.traces.remove(&id);
            return;
        }
        if entry.seq != 0 {
            self.recency.remove(&entry.seq);
        }
        self.next_seq += 1;
        entry.seq = self.next_seq;
        self.recency.insert(self.next_seq, id);
    }

    fn evict(&mut self) {
        while self.traces.len() > self.limits.max_traces || self.spans > self.limits.max_spans {
            let Some((_, id)) = self.recency.pop_first() else {
                break;
            };
            if let Some(entry) = self.traces.remove(&id) {
                self.traces_evicted += 1;
                self.spans_evicted += entry.spans.len() as u64;
                self.spans -= entry.spans.len();
                for service in &entry.services {
                    if let Some(count) = self.services.get_mut(service) {
                        *count -= 1;
                        if *count == 0 {
                            self.services.remove(service);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn list(&self, query: &TraceQuery) -> TraceList {
        let min = query
            .min_duration
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let service = query.service.as_deref().filter(|s| !s.is_empty());
        let mut matches: Vec<(u64, &TraceId)> = self
            .traces
            .iter()
            .filter(|(_, t)| {
                t.duration() >= min
                    && query.error.is_none_or(|e| (t.errors > 0) == e)
                    && service.is_none_or(|s| t.services.iter().any(|x| &**x == s))
            })
            .map(|(id, t)| (t.start, id))
            .collect();
        let matched = matches.len();
        let limit = query.limit.min(matched);
        if limit < matched && limit > 0 {
            // Only the newest `limit` need sorting.
            matches.select_nth_unstable_by(limit - 1, |a, b| b.cmp(a));
            matches.truncate(limit);
        }
        matches.sort_unstable_by(|a, b| b.cmp(a));
        matches.truncate(limit);
        TraceList {
            traces: matches
                .into_iter()
                .map(|(_, id)| self.traces[id].summary(*id))
                .collect(),
            matched,
            stored: self.traces.len(),
        }
    }

    pub(super) fn services(&self) -> Vec<String> {
        let mut names: Vec<String> = self.services.keys().map(|s| s.to_string()).collect();
        names.sort_unstable();
        names
    }

    pub(super) fn get(&self, id: TraceId) -> Option<(TraceSummary, Vec<Arc<SpanRecord>>)> {
        self.traces
            .get(&id)
            .map(|t| (t.summary(id), t.spans.clone()))
    }

    pub(super) fn fill(&self, stats: &mut Stats) {
        stats.traces = self.traces.len();
        stats.spans = self.spans;
        stats.traces_evicted = self.traces_evicted;
        stats.spans_evicted = self.spans_evicted;
        stats.spans_dropped = self.spans_dropped;
        stats.spans_rejected = self.spans_rejected;
    }
}
