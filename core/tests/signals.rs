//! Span, metric and log details that the conformance suite does not cover: drop ends a span,
//! explicit times, renaming, unsampled spans, and log level checks before formatting.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use hyperion::testing::{MemoryModule, MemoryStore, Snapshot};
use hyperion::{Config, Level, SpanOptions, Telemetry, kv};

async fn memory(yaml: &str) -> (Telemetry, MemoryStore) {
    let module = MemoryModule::new();
    let store = module.store();
    let config = Config::from_yaml_str(yaml).unwrap();
    let t = Telemetry::builder()
        .module(module)
        .config(config)
        .build()
        .await
        .unwrap();
    (t, store)
}

async fn flushed(t: &Telemetry, store: &MemoryStore) -> Snapshot {
    t.flush(Duration::from_secs(1)).await.unwrap();
    store.snapshot()
}

#[tokio::test]
async fn dropping_a_span_ends_it_once() {
    let (t, store) = memory("").await;
    {
        let (_, mut span) = t.context().start_span("dropped", SpanOptions::new());
        span.set_attribute(kv("k", "v"));
        assert!(span.is_recording());
    }
    let (_, mut ended) = t.context().start_span("ended", SpanOptions::new());
    ended.end();
    ended.end();
    assert!(!ended.is_recording());
    drop(ended);
    let snap = flushed(&t, &store).await;
    assert_eq!(snap.spans.len(), 2, "{}", snap.tree());
    snap.root("dropped").attribute("k", "v");
}

#[tokio::test]
async fn explicit_start_and_end_times_and_renaming() {
    let (t, store) = memory("").await;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let end = start + Duration::from_millis(1500);
    let (_, mut span) = t
        .context()
        .start_span("draft", SpanOptions::new().start_time(start));
    span.update_name("final");
    span.end_at(end);
    let snap = flushed(&t, &store).await;
    let span = snap.root("final").span();
    assert_eq!(span.start_time, start);
    assert_eq!(span.end_time, end);
}

#[tokio::test]
async fn unsampled_spans_propagate_but_record_nothing() {
    let (t, store) = memory("tracing:\n  sample_rate: 0.0\n").await;
    let (ctx, mut root) = t.context().start_span("root", SpanOptions::new());
    assert!(
        root.span_context().is_valid(),
        "an unsampled span still has ids"
    );
    assert!(!root.span_context().is_sampled());
    assert!(!root.is_recording());
    let (_, child) = ctx.start_span("child", SpanOptions::new());
    assert_eq!(
        child.span_context().trace_id(),
        root.span_context().trace_id()
    );
    assert!(
        !child.span_context().is_sampled(),
        "children follow the parent's decision"
    );
    root.end();
    let mut headers = std::collections::HashMap::new();
    ctx.inject(&mut headers);
    // Not sampled, and the trace id is random (Trace Context Level 2's flag 0x02).
    assert!(headers["traceparent"].ends_with("-02"), "{headers:?}");
    assert!(flushed(&t, &store).await.spans.is_empty());
}

/// Counts how often it is formatted.
struct Expensive<'a>(&'a AtomicUsize);
impl fmt::Display for Expensive<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fetch_add(1, Ordering::SeqCst);
        f.write_str("expensive")
    }
}

#[tokio::test]
async fn the_level_check_comes_before_formatting() {
    let (t, store) = memory("logging:\n  level: warn\n").await;
    let ctx = t.context();
    let formatted = AtomicUsize::new(0);
    ctx.log()
        .debug_args(format_args!("{}", Expensive(&formatted)), &[]);
    ctx.log()
        .info_args(format_args!("{}", Expensive(&formatted)), &[]);
    assert_eq!(
        formatted.load(Ordering::SeqCst),
        0,
        "a filtered record was formatted"
    );
    assert!(!ctx.log().enabled(Level::Info));
    assert!(ctx.log().enabled(Level::Warn));
    ctx.log().warn_args(
        format_args!("{} {}", Expensive(&formatted), 2),
        &[kv("n", 2)],
    );
    assert_eq!(formatted.load(Ordering::SeqCst), 1);
    ctx.log().fatal("plain", &[]);
    let snap = flushed(&t, &store).await;
    let got: Vec<(Level, &str)> = snap
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(got, [(Level::Warn, "expensive 2"), (Level::Fatal, "plain")]);
    assert_eq!(Level::Fatal.severity_number(), 21);
}

#[tokio::test]
async fn histogram_boundaries_and_units_reach_the_adapter() {
    let (t, store) = memory("").await;
    let meter = t.meter("payments");
    let h = meter
        .histogram("payment.amount")
        .description("Amounts paid")
        .unit("EUR")
        .boundaries(vec![1.0, 10.0, 100.0])
        .build();
    h.record(&t.context(), 12.5, &[kv("currency", "EUR")]);
    let snap = flushed(&t, &store).await;
    let p = snap.points("payment.amount")[0];
    assert_eq!(
        p.instrument.boundaries.as_deref(),
        Some(&[1.0, 10.0, 100.0][..])
    );
    assert_eq!(p.instrument.unit, "EUR");
    assert_eq!(p.instrument.description, "Amounts paid");
    assert_eq!(p.instrument.scope, "payments");
    assert!(p.exemplar.is_none());
}
