//! Trace Context Level 2's `random-trace-id` flag (0x02) through the `memory` module's tracer:
//! kept on every span of a trace that arrived with it, absent when it arrived without it, and
//! set on trace ids the tracer generates.

use std::collections::HashMap;

use hyperion::testing::MemoryModule;
use hyperion::{Config, SpanOptions, Telemetry};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn telemetry() -> Telemetry {
    Telemetry::builder()
        .module(MemoryModule::new())
        .config(Config::from_yaml_str("tracing:\n  sample_rate: 1.0\n").unwrap())
        .build()
        .await
        .unwrap()
}

/// The `traceparent` a grandchild of a span received with `flags` sends on.
fn forwarded_flags(t: &Telemetry, flags: &str) -> String {
    let mut incoming = HashMap::new();
    incoming.insert(
        "traceparent".to_owned(),
        format!("00-{TRACE}-00f067aa0ba902b7-{flags}"),
    );
    let (ctx, mut server) = t
        .extract(&incoming)
        .start_span("server", SpanOptions::server());
    let (ctx, mut client) = ctx.start_span("client", SpanOptions::client());
    let mut out = HashMap::new();
    ctx.inject(&mut out);
    client.end();
    server.end();
    let traceparent = &out["traceparent"];
    assert!(traceparent.contains(TRACE), "{traceparent}");
    traceparent[53..].to_owned()
}

#[tokio::test]
async fn the_random_flag_follows_the_trace_id_through_the_memory_tracer() {
    let t = telemetry().await;
    assert_eq!(forwarded_flags(&t, "03"), "03");
    assert_eq!(forwarded_flags(&t, "01"), "01");
    // Not sampled by the caller: the flag is still kept (the memory tracer follows the parent).
    assert_eq!(forwarded_flags(&t, "02"), "02");
}

#[tokio::test]
async fn a_trace_id_generated_here_is_marked_random() {
    let t = telemetry().await;
    let (ctx, mut root) = t.context().start_span("root", SpanOptions::server());
    assert!(root.span_context().trace_flags().is_random());
    let mut out = HashMap::new();
    ctx.inject(&mut out);
    root.end();
    assert!(
        out["traceparent"].ends_with("-03"),
        "{}",
        out["traceparent"]
    );
}
