//! Issue 5's cardinality rule, measured: a million distinct label values through the facade into
//! one counter keep the process's memory bounded, and the endpoint shows at most
//! `cardinality_limit` series plus the `otel_metric_overflow="true"` one.

use std::time::Duration;

use hyperion::{Config, Telemetry, kv};
use hyperion_otel::OtelModule;

fn resident_bytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib * 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_distinct_label_values_keep_memory_bounded() {
    const N: u64 = 1_000_000;
    const LIMIT: usize = 100;
    let yaml = format!(
        "tracing:\n  exporter: none\nmetrics:\n  port: 0\n  bind_address: 127.0.0.1\n  cardinality_limit: {LIMIT}\n"
    );
    let otel = OtelModule::new();
    let t = Telemetry::builder()
        .module(otel.clone())
        .config(Config::from_yaml_str(&yaml).unwrap())
        .build()
        .await
        .unwrap();
    let counter = t.meter("m").counter("requests").build();
    let ctx = t.context();
    // Warm up: the first LIMIT label sets are kept, whatever they cost.
    for i in 0..LIMIT as u64 {
        counter.add(&ctx, 1, &[kv("user", i.to_string())]);
    }
    let before = resident_bytes();
    let mut id = String::new();
    for i in LIMIT as u64..N {
        id.clear();
        use std::fmt::Write;
        let _ = write!(id, "user-{i}");
        counter.add(&ctx, 1, &[kv("user", id.as_str())]);
    }
    let grown = resident_bytes() - before;
    // A million remembered label sets would take well over 100 MB.
    assert!(
        grown < 16.0 * 1024.0 * 1024.0,
        "memory grew by {:.1} MiB",
        grown / 1048576.0
    );

    let (_, body) = otel.prometheus_endpoint().unwrap().render(None);
    let series: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("requests_total{"))
        .collect();
    assert_eq!(series.len(), LIMIT + 1, "{}", series.len());
    let overflow = series
        .iter()
        .find(|l| l.contains("otel_metric_overflow=\"true\""))
        .expect("overflow series");
    assert!(
        overflow.ends_with(&format!(" {}", N - LIMIT as u64)),
        "{overflow}"
    );
    assert_eq!(otel.metric_stats().overflowed, N - LIMIT as u64);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}
