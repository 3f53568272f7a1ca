//! Tail sampling's memory bound, measured: 100,000 traces that never complete (their spans'
//! parent is a local span this process never recorded) go through a buffer of `max_traces:
//! 1000`. The resident set must stay far below what buffering them all would take, and every
//! trace pushed out early is counted. Alone in its binary, so that no other test moves the RSS.

use std::time::Duration;

use hyperion::config::ConfigLoader;
use hyperion::{
    Context, SpanContext, SpanId, SpanOptions, Telemetry, TraceFlags, TraceId, TraceState, kv,
};
use hyperion_otel::OtelModule;

const TRACES: u64 = 100_000;
const MAX_TRACES: u64 = 1_000;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// A context whose span is local (not remote) but was never started here: the spans under it
/// are not local roots, so their trace never completes on its own.
fn under_unrecorded_parent(t: &Telemetry, i: u64) -> Context {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&(i + 1).to_be_bytes());
    trace[8..].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes());
    t.context().with_span_context(SpanContext::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes([9; 8]),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    ))
}

#[tokio::test]
async fn the_buffer_stays_bounded_under_100_000_traces_and_counts_the_overflow() {
    let module = OtelModule::new();
    let config = ConfigLoader::new()
        .yaml(format!(
            "tracing:\n  exporter: none\n  tail_sampling:\n    enabled: true\n    \
             max_traces: {MAX_TRACES}\n    decision_wait: 1h\nmetrics:\n  exporter: none\n"
        ))
        .load()
        .unwrap();
    let t = Telemetry::builder()
        .module(module.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    // Eight 64-byte attribute values a span: about 1 KiB buffered per trace.
    let values: Vec<String> = (0..8).map(|i| format!("{i:0>64}")).collect();
    let record = |from: u64, to: u64| {
        for i in from..to {
            let ctx = under_unrecorded_parent(&t, i);
            let attrs: Vec<_> = values
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    kv(
                        ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"][k],
                        v.as_str(),
                    )
                })
                .collect();
            let (_, mut span) = ctx.start_span("work", SpanOptions::new().attributes(&attrs));
            span.end();
        }
    };
    // Warm up to the steady state (a full buffer), then measure the rest.
    record(0, 2 * MAX_TRACES);
    let before = rss_kib();
    record(2 * MAX_TRACES, TRACES);
    let after = rss_kib();
    let stats = module.tail_sampling_stats();
    let grown_mib = after.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "RSS {before} KiB -> {after} KiB (+{grown_mib:.1} MiB) over {} traces; {stats:?}",
        TRACES - 2 * MAX_TRACES
    );
    assert_eq!(stats.buffered, MAX_TRACES);
    assert_eq!(stats.traces_limit, TRACES - MAX_TRACES);
    assert_eq!(stats.dropped, TRACES - MAX_TRACES);
    // Buffering all 98,000 takes about 250 MiB (253 MiB measured with `max_traces` above
    // the count).
    assert!(grown_mib < 16.0, "RSS grew {grown_mib:.1} MiB");
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let stats = module.tail_sampling_stats();
    assert_eq!(stats.dropped, TRACES, "shutdown decides what was left");
}
