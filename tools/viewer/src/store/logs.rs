//! Log records: the most recent ones in arrival order, indexed by trace id (a trace's page
//! then picks each span's records by span id).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use super::{Ingested, Resource, Scope, Stats};
use crate::ids::{SpanId, TraceId};

/// One stored log record, with the resource and scope it came with.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// The trace it was written in, if any.
    pub trace_id: Option<TraceId>,
    /// The span it was written in, if any.
    pub span_id: Option<SpanId>,
    /// The resource of the process that sent it.
    pub resource: Arc<Resource>,
    /// The library that recorded it.
    pub scope: Arc<Scope>,
    /// The record as decoded (times, severity, body, attributes).
    pub record: LogRecord,
}

impl LogEntry {
    /// When it happened, Unix nanoseconds: the record's time, else when it was observed.
    pub fn time(&self) -> u64 {
        if self.record.time_unix_nano != 0 {
            self.record.time_unix_nano
        } else {
            self.record.observed_time_unix_nano
        }
    }

    /// Its severity as text: the record's `severity_text`, else the name of its number's range
    /// (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`), else empty.
    pub fn severity(&self) -> &str {
        if !self.record.severity_text.is_empty() {
            return &self.record.severity_text;
        }
        match self.record.severity_number {
            1..=4 => "TRACE",
            5..=8 => "DEBUG",
            9..=12 => "INFO",
            13..=16 => "WARN",
            17..=20 => "ERROR",
            21..=24 => "FATAL",
            _ => "",
        }
    }
}

pub(super) fn prepare(request: ExportLogsServiceRequest) -> (Vec<Arc<LogEntry>>, Ingested) {
    let mut entries = Vec::new();
    for resource_logs in request.resource_logs {
        let resource = Arc::new(Resource::from_proto(resource_logs.resource));
        for scope_logs in resource_logs.scope_logs {
            let scope = Arc::new(Scope::from_proto(scope_logs.scope));
            for record in scope_logs.log_records {
                entries.push(Arc::new(LogEntry {
                    trace_id: TraceId::from_bytes(&record.trace_id),
                    span_id: SpanId::from_bytes(&record.span_id),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    record,
                }));
            }
        }
    }
    let ingested = Ingested {
        accepted: entries.len(),
        ..Ingested::default()
    };
    (entries, ingested)
}

pub(super) struct LogStore {
    limit: usize,
    /// Records in arrival order; `records[i]` has sequence number `first_seq + i`.
    records: VecDeque<Arc<LogEntry>>,
    first_seq: u64,
    /// The sequence numbers of each trace's records, in arrival order.
    by_trace: HashMap<TraceId, VecDeque<u64>>,
    evicted: u64,
}

impl LogStore {
    pub(super) fn new(limit: usize) -> Self {
        LogStore {
            limit,
            records: VecDeque::new(),
            first_seq: 0,
            by_trace: HashMap::new(),
            evicted: 0,
        }
    }

    pub(super) fn insert(&mut self, entries: Vec<Arc<LogEntry>>) {
        for entry in entries {
            let seq = self.first_seq + self.records.len() as u64;
            if let Some(trace) = entry.trace_id {
                self.by_trace.entry(trace).or_default().push_back(seq);
            }
            self.records.push_back(entry);
            if self.records.len() > self.limit {
                self.evict_oldest();
            }
        }
    }

    fn evict_oldest(&mut self) {
        let Some(oldest) = self.records.pop_front() else {
            return;
        };
        let seq = self.first_seq;
        self.first_seq += 1;
        self.evicted += 1;
        let Some(trace) = oldest.trace_id else {
            return;
        };
        if let Some(seqs) = self.by_trace.get_mut(&trace) {
            // A trace's records are in arrival order, so the oldest is its first.
            debug_assert_eq!(seqs.front(), Some(&seq));
            seqs.pop_front();
            if seqs.is_empty() {
                self.by_trace.remove(&trace);
            }
        }
    }

    pub(super) fn for_trace(&self, id: TraceId) -> Vec<Arc<LogEntry>> {
        self.by_trace.get(&id).map_or_else(Vec::new, |seqs| {
            seqs.iter()
                .filter_map(|seq| self.records.get((seq - self.first_seq) as usize).cloned())
                .collect()
        })
    }

    pub(super) fn recent(&self, limit: usize) -> Vec<Arc<LogEntry>> {
        self.records.iter().rev().take(limit).cloned().collect()
    }

    pub(super) fn fill(&self, stats: &mut Stats) {
        stats.logs = self.records.len();
        stats.logs_evicted = self.evicted;
    }
}
