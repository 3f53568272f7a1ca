//! The `console` exporter: each finished trace printed to stderr as an indented tree with
//! durations, kinds, status and attributes. A good local default; not for production.
//!
//! Spans end child-first, so the exporter holds a trace's spans until its local root (a span
//! without a parent, or whose parent is remote) ends, then prints the tree. Memory stays bounded:
//! spans still waiting after [`MAX_WAIT`] (a root that never ends here, a child that ends after
//! its root) are printed as a partial tree, and so is everything once more than [`MAX_PENDING`]
//! spans wait; the rest is printed at shutdown.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Where the console exporter writes: stderr, or a shared buffer (for tests).
#[derive(Clone, Debug, Default)]
pub(crate) enum Sink {
    #[default]
    Stderr,
    #[allow(dead_code)] // used by tests
    Buffer(Arc<Mutex<String>>),
}

/// How long spans of an unfinished trace wait for their root.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);
/// How many spans may wait in all.
pub(crate) const MAX_PENDING: usize = 10_000;

#[derive(Debug, Default)]
struct Pending {
    traces: HashMap<TraceId, (Instant, Vec<SpanData>)>,
    spans: usize,
}

#[derive(Debug, Default)]
pub(crate) struct ConsoleExporter {
    pending: Mutex<Pending>,
    sink: Sink,
    service: Option<String>,
}

impl ConsoleExporter {
    pub(crate) fn new(sink: Sink) -> Self {
        ConsoleExporter {
            pending: Mutex::new(Pending::default()),
            sink,
            service: None,
        }
    }

    fn write(&self, text: &str) {
        match &self.sink {
            // A closed stderr must not fail the export: the text is simply lost.
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            Sink::Buffer(buf) => buf.lock().unwrap_or_else(|p| p.into_inner()).push_str(text),
        }
    }

    fn take_finished(&self, batch: Vec<SpanData>, now: Instant) -> Vec<Vec<SpanData>> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut roots = Vec::new();
        pending.spans += batch.len();
        for span in batch {
            let id = span.span_context.trace_id();
            if is_local_root(&span) {
                roots.push(id);
            }
            pending
                .traces
                .entry(id)
                .or_insert_with(|| (now, Vec::new()))
                .1
                .push(span);
        }
        let overfull = pending.spans > MAX_PENDING;
        let expired: Vec<TraceId> = pending
            .traces
            .iter()
            .filter(|(_, (since, _))| overfull || now.duration_since(*since) >= MAX_WAIT)
            .map(|(id, _)| *id)
            .collect();
        let mut finished = Vec::new();
        for id in roots.into_iter().chain(expired) {
            if let Some((_, spans)) = pending.traces.remove(&id) {
                pending.spans -= spans.len();
                finished.push(spans);
            }
        }
        finished
    }

    fn print_all(&self, traces: Vec<Vec<SpanData>>) {
        let mut out = String::new();
        for spans in traces {
            render_trace(&mut out, self.service.as_deref(), &spans);
        }
        if !out.is_empty() {
            self.write(&out);
        }
    }
}

fn is_local_root(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

/// Renders one trace as a tree.
pub(crate) fn render_trace(out: &mut String, service: Option<&str>, spans: &[SpanData]) {
    let Some(first) = spans.first() else {
        return;
    };
    let _ = write!(out, "trace {}", first.span_context.trace_id());
    if let Some(service) = service {
        let _ = write!(out, " ({service})");
    }
    out.push('\n');
    let ids: Vec<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let mut roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| !ids.contains(&s.parent_span_id))
        .collect();
    roots.sort_by_key(|s| s.start_time);
    for root in roots {
        render_span(out, spans, root, 1);
    }
}

fn render_span(out: &mut String, spans: &[SpanData], span: &SpanData, depth: usize) {
    let duration = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or(Duration::ZERO);
    let kind = format!("{:?}", span.span_kind).to_lowercase();
    let _ = write!(
        out,
        "{:indent$}{} [{kind}] {}",
        "",
        span.name,
        human(duration),
        indent = depth * 2
    );
    match &span.status {
        Status::Unset => {}
        Status::Ok => out.push_str(" ok"),
        Status::Error { description } => {
            let _ = write!(out, " ERROR: {description}");
        }
    }
    for kv in &span.attributes {
        let _ = write!(out, " {}={}", kv.key, kv.value);
    }
    out.push('\n');
    for event in span.events.iter() {
        let _ = write!(
            out,
            "{:indent$}· {}",
            "",
            event.name,
            indent = depth * 2 + 2
        );
        for kv in &event.attributes {
            let _ = write!(out, " {}={}", kv.key, kv.value);
        }
        out.push('\n');
    }
    let mut children: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == span.span_context.span_id())
        .collect();
    children.sort_by_key(|s| s.start_time);
    for child in children {
        render_span(out, spans, child, depth + 1);
    }
}

fn human(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.0}µs")
    } else if micros < 1e6 {
        format!("{:.2}ms", micros / 1e3)
    } else {
        format!("{:.2}s", micros / 1e6)
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let finished = self.take_finished(batch, Instant::now());
        self.print_all(finished);
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        let rest: Vec<Vec<SpanData>> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.spans = 0;
            pending
                .traces
                .drain()
                .map(|(_, (_, spans))| spans)
                .collect()
        };
        self.print_all(rest);
        Ok(())
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};

    fn span(trace: u128, id: u64, parent: u64) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: opentelemetry::trace::SpanKind::Internal,
            name: format!("s{id}").into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    #[test]
    fn a_trace_waits_for_its_root() {
        let e = ConsoleExporter::new(Sink::default());
        let now = Instant::now();
        assert!(e.take_finished(vec![span(1, 2, 1)], now).is_empty());
        let done = e.take_finished(vec![span(1, 1, 0)], now);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].len(), 2);
        assert_eq!(e.pending.lock().unwrap().spans, 0);
    }

    #[test]
    fn orphans_are_printed_after_the_wait_and_memory_stays_bounded() {
        let e = ConsoleExporter::new(Sink::default());
        let start = Instant::now();
        assert!(e.take_finished(vec![span(7, 2, 1)], start).is_empty());
        let later = start + MAX_WAIT;
        let done = e.take_finished(vec![span(8, 3, 1)], later);
        assert_eq!(done.len(), 1, "the trace waiting since `start` is printed");
        assert_eq!(done[0][0].span_context.trace_id(), TraceId::from(7u128));
        let flood: Vec<SpanData> = (0..MAX_PENDING as u64 + 1)
            .map(|i| span(100 + u128::from(i), i + 10, 1))
            .collect();
        let done = e.take_finished(flood, later);
        assert!(
            done.len() > MAX_PENDING,
            "everything is printed once too many spans wait"
        );
        assert_eq!(e.pending.lock().unwrap().spans, 0);
    }
}
