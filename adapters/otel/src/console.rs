//! The `console` exporter: each finished trace printed to stderr as an indented tree with
//! durations, kinds, status and attributes. A good local default; not for production.
//!
//! Spans end child-first, so the exporter holds a trace's spans until its local root (a span
//! without a parent, or whose parent is remote) ends, then prints the tree. Spans whose root never
//! ends here are printed at shutdown.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

#[derive(Debug, Default)]
pub(crate) struct ConsoleExporter {
    pending: Mutex<HashMap<TraceId, Vec<SpanData>>>,
    sink: Sink,
    service: Option<String>,
}

impl ConsoleExporter {
    pub(crate) fn new(sink: Sink) -> Self {
        ConsoleExporter {
            pending: Mutex::new(HashMap::new()),
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

    fn take_finished(&self, batch: Vec<SpanData>) -> Vec<Vec<SpanData>> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut finished = Vec::new();
        let mut roots = Vec::new();
        for span in batch {
            let id = span.span_context.trace_id();
            if is_local_root(&span) {
                roots.push(id);
            }
            pending.entry(id).or_default().push(span);
        }
        for id in roots {
            if let Some(spans) = pending.remove(&id) {
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
        let finished = self.take_finished(batch);
        self.print_all(finished);
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        let rest: Vec<Vec<SpanData>> = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, spans)| spans)
            .collect();
        self.print_all(rest);
        Ok(())
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string());
    }
}
