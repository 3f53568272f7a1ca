//! What module `otel` does without a backend: sampling, the console tree, remote parents, and
//! export statistics published through the facade meter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperion::testing::MemoryModule;
use hyperion::testing::conformance::Harness as _;
use hyperion::{Config, SpanOptions, Status, Telemetry, kv};
use hyperion_otel::OtelModule;
use hyperion_otel::testing::OtelHarness;

async fn spans_with(
    yaml: &str,
    f: impl FnOnce(&Telemetry),
) -> Vec<hyperion::testing::RecordedSpan> {
    let harness = OtelHarness::new(yaml);
    let t = harness.telemetry().await;
    f(&t);
    harness.collect(&t).await.spans
}

fn start_roots(t: &Telemetry, n: usize) {
    for _ in 0..n {
        let (_, mut s) = t.context().start_span("root", SpanOptions::new());
        s.end();
    }
}

#[tokio::test]
async fn samplers_follow_the_config() {
    let none = "tracing:\n  exporter: none\n";
    assert_eq!(spans_with(none, |t| start_roots(t, 50)).await.len(), 50);
    let off = "tracing:\n  exporter: none\n  sampler: always_off\n";
    assert_eq!(spans_with(off, |t| start_roots(t, 50)).await.len(), 0);
    let zero = "tracing:\n  exporter: none\n  sampler: traceidratio\n  sample_rate: 0.0\n";
    assert_eq!(spans_with(zero, |t| start_roots(t, 50)).await.len(), 0);
    let half = "tracing:\n  exporter: none\n  sample_rate: 0.5\n";
    let n = spans_with(half, |t| start_roots(t, 2000)).await.len();
    assert!((800..1200).contains(&n), "{n} of 2000 sampled at 0.5");
}

fn incoming(flags: &str) -> HashMap<String, String> {
    HashMap::from([(
        "traceparent".to_owned(),
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}"),
    )])
}

#[tokio::test]
async fn a_remote_parent_continues_its_trace_and_its_sampling_decision() {
    // Parent-based: a sampled remote parent is followed even at rate 0 ...
    let yaml = "tracing:\n  exporter: none\n  sample_rate: 0.0\n";
    let spans = spans_with(yaml, |t| {
        let ctx = t.extract(&incoming("01"));
        let (_, mut s) = ctx.start_span("handle", SpanOptions::server());
        s.end();
    })
    .await;
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        spans[0].parent_span_id.unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(spans[0].parent_is_remote);
    // ... and an unsampled one is respected at rate 1, while the trace id still propagates.
    let yaml = "tracing:\n  exporter: none\n";
    let spans = spans_with(yaml, |t| {
        let ctx = t.extract(&incoming("00"));
        let (child, mut s) = ctx.start_span("handle", SpanOptions::server());
        assert_eq!(s.span_context().trace_id(), ctx.span_context().trace_id());
        let mut out = HashMap::new();
        child.inject(&mut out);
        assert!(out["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(out["traceparent"].ends_with("-00"));
        s.end();
    })
    .await;
    assert!(spans.is_empty());
}

#[tokio::test]
async fn the_console_exporter_prints_each_trace_as_a_tree() {
    let buffer = Arc::new(Mutex::new(String::new()));
    let module = OtelModule::new().with_console_buffer(buffer.clone());
    let config = Config::from_yaml_str(
        "tracing:\n  exporter: console\n  service_name: shop\n  batch:\n    scheduled_delay: 50ms\nmetrics:\n  enabled: false\n",
    )
    .unwrap();
    let t = Telemetry::builder()
        .module(module)
        .config(config)
        .build()
        .await
        .unwrap();
    let ctx = t.context();
    let (ctx, mut root) = ctx.start_span("GET /orders", SpanOptions::server());
    let r: Result<(), String> = ctx
        .intercept("OrderService", "List", |ctx| async move {
            let (_, mut q) = ctx.start_span("db.query", SpanOptions::client());
            q.set_attribute(kv("db.system", "postgresql"));
            q.end();
            Err("timeout".to_owned())
        })
        .await;
    assert!(r.is_err());
    root.set_status(Status::Ok);
    root.end();
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let out = buffer.lock().unwrap().clone();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("trace ") && lines[0].ends_with("(shop)"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("  GET /orders [server] ") && lines[1].ends_with(" ok"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("    OrderService.List [internal] "),
        "{out}"
    );
    assert!(lines[2].contains("ERROR: timeout"), "{out}");
    assert!(
        lines[3].contains("· exception") && lines[3].contains("exception.message=timeout"),
        "{out}"
    );
    assert!(
        lines[4].starts_with("      db.query [client] ")
            && lines[4].ends_with("db.system=postgresql"),
        "{out}"
    );
}

#[tokio::test]
async fn export_statistics_are_published_through_the_facade_meter() {
    let memory = MemoryModule::new();
    let store = memory.store();
    let otel = OtelModule::new();
    let config = Config::from_yaml_str(
        "tracing:\n  adapter: otel\n  exporter: console\nmetrics:\n  adapter: memory\nlogging:\n  enabled: false\n",
    )
    .unwrap();
    let buffer = Arc::new(Mutex::new(String::new()));
    let t = Telemetry::builder()
        .module(memory)
        .module(otel.clone().with_console_buffer(buffer))
        .config(config)
        .build()
        .await
        .unwrap();
    start_roots(&t, 7);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(otel.span_stats().exported, 7);
    assert_eq!(otel.span_stats().dropped, 0);
    let exported: f64 = store
        .snapshot()
        .points("hyperion.exporter.spans")
        .iter()
        .filter(|p| p.attribute("outcome") == Some(&hyperion::Value::from("exported")))
        .map(|p| p.value.as_f64())
        .sum();
    assert_eq!(exported, 7.0);
}

/// Every sampler name against a sampled and an unsampled remote parent, and as a root.
#[tokio::test]
async fn every_sampler_decides_as_its_name_says() {
    // (sampler, sample_rate, root sampled?, child of sampled remote?, child of unsampled remote?)
    let cases = [
        ("always_on", 0.0, true, true, true),
        ("always_off", 1.0, false, false, false),
        ("traceidratio", 1.0, true, true, true),
        ("traceidratio", 0.0, false, false, false),
        ("parentbased_always_on", 0.0, true, true, false),
        ("parentbased_always_off", 1.0, false, true, false),
        ("parentbased_traceidratio", 1.0, true, true, false),
        ("parentbased_traceidratio", 0.0, false, true, false),
    ];
    for (sampler, rate, root, sampled_parent, unsampled_parent) in cases {
        let yaml =
            format!("tracing:\n  exporter: none\n  sampler: {sampler}\n  sample_rate: {rate}\n");
        let spans = spans_with(&yaml, |t| {
            let (_, mut s) = t.context().start_span("root", SpanOptions::new());
            s.end();
            for flags in ["01", "00"] {
                let ctx = t.extract(&incoming(flags));
                let (_, mut s) = ctx.start_span(format!("child-of-{flags}"), SpanOptions::new());
                s.end();
            }
        })
        .await;
        let got = |name: &str| spans.iter().any(|s| s.name == name);
        assert_eq!(
            (got("root"), got("child-of-01"), got("child-of-00")),
            (root, sampled_parent, unsampled_parent),
            "sampler {sampler} at {rate}"
        );
    }
}

#[tokio::test]
async fn a_level_2_tracestate_is_forwarded_through_an_otel_span() {
    // Keys the SDK's own TraceState (Level 1 rules) would refuse: the facade keeps them.
    let state = format!("foo@@bar=1,t@{}=2,foo@=3", "s".repeat(15));
    let harness = OtelHarness::new("tracing:\n  exporter: none\n");
    let t = harness.telemetry().await;
    let mut headers = HashMap::new();
    headers.insert(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    );
    headers.insert("tracestate".to_owned(), state.clone());
    let (child, mut span) = t.extract(&headers).start_span("hop", SpanOptions::server());
    let mut out = HashMap::new();
    child.inject(&mut out);
    span.end();
    assert_eq!(out["tracestate"], state);
    assert!(out["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(!out["traceparent"].contains("00f067aa0ba902b7"));
}

#[tokio::test]
async fn the_random_flag_follows_the_trace_id_through_an_otel_span() {
    let harness = OtelHarness::new("tracing:\n  exporter: none\n");
    let t = harness.telemetry().await;
    for (incoming, expected) in [("03", "03"), ("01", "01")] {
        let mut headers = HashMap::new();
        headers.insert(
            "traceparent".to_owned(),
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{incoming}"),
        );
        let (ctx, mut server) = t
            .extract(&headers)
            .start_span("server", SpanOptions::server());
        let (ctx, mut client) = ctx.start_span("client", SpanOptions::client());
        let mut out = HashMap::new();
        ctx.inject(&mut out);
        client.end();
        server.end();
        assert!(
            out["traceparent"].ends_with(expected),
            "{incoming}: {}",
            out["traceparent"]
        );
    }
    // A root's trace id comes from the SDK's random generator: marked random.
    let (ctx, mut root) = t.context().start_span("root", SpanOptions::server());
    let mut out = HashMap::new();
    ctx.inject(&mut out);
    root.end();
    assert!(
        out["traceparent"].ends_with("-03"),
        "{}",
        out["traceparent"]
    );
}
