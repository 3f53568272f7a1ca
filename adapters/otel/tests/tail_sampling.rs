//! Tail sampling (`tracing.tail_sampling`): whole traces kept or dropped in the process once
//! their local root and every span under it have ended. The first test runs 1,000 traces
//! through rotel to the in-test receiver with a real Prometheus scraping the exemplars; the
//! others read the SDK pipeline's own exporter.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use hyperion::config::ConfigLoader;
use hyperion::testing::Snapshot;
use hyperion::testing::conformance::Harness as _;
use hyperion::{SpanOptions, Status, Telemetry, kv};
use hyperion_otel::OtelModule;
use hyperion_otel::testing::OtelHarness;
use support::{ForwardProtocol, OtlpReceiver, Prometheus, Rotel};

async fn flushed(harness: &OtelHarness, t: &Telemetry) -> Snapshot {
    t.flush(Duration::from_secs(5)).await.unwrap();
    harness.exported(t).await
}

fn trace_ids(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot
        .spans
        .iter()
        .map(|s| s.context.trace_id().to_string())
        .collect()
}

fn harness(tail: &str) -> OtelHarness {
    OtelHarness::new(format!(
        "tracing:\n  exporter: none\n  batch:\n    scheduled_delay: 20ms\n  tail_sampling:\n    \
         enabled: true\n{tail}"
    ))
}

/// 1,000 traces at `probabilistic 0`: every error trace and every trace over the latency
/// threshold reaches rotel and no other does; Prometheus, scraping meanwhile, holds exemplars
/// of kept traces only; the self-metrics count what was decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_error_and_slow_traces_reach_the_collector_and_exemplars_name_only_them() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    // The error calls log at ERROR; the lines are not what this test reads.
    let module = OtelModule::new().with_log_buffer(Default::default());
    let yaml = format!(
        "tracing:\n  service_name: orders\n  exporter: otlp\n  endpoint: \"{}\"\n  \
         batch:\n    scheduled_delay: 100ms\n    max_queue_size: 4096\n  tail_sampling:\n    \
         enabled: true\n    policies:\n      - type: status_code\n      - type: latency\n        \
         threshold: 200ms\n      - type: probabilistic\n        rate: 0\n",
        rotel.grpc_endpoint()
    );
    let t = support::telemetry(&module, &yaml).await;
    let endpoint = module.prometheus_endpoint().unwrap();
    let prometheus = Prometheus::start(
        &[endpoint.local_addr().unwrap()],
        "/metrics",
        Duration::from_millis(100),
    );
    prometheus
        .wait_for_targets_up(Duration::from_secs(20))
        .await;

    // One trace: a server span and an intercepted call that fails (kind 0), sleeps past the
    // latency threshold (kind 25) or returns at once. Returns its trace id.
    async fn order(t: Telemetry, kind: u32) -> String {
        let (ctx, mut server) = t
            .context()
            .start_span("POST /orders", SpanOptions::server());
        let trace = server.span_context().trace_id().to_string();
        let r: Result<(), String> = ctx
            .intercept("OrderService", "Create", |_| async move {
                match kind {
                    0 => Err("out of stock".to_owned()),
                    25 => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            })
            .await;
        if r.is_err() {
            server.set_status(Status::error("order failed"));
        }
        server.end();
        trace
    }
    let mut expected = BTreeSet::new();
    let mut all = BTreeSet::new();
    let mut slow = Vec::new();
    for i in 0..1000 {
        let kind = i % 50;
        if kind == 25 {
            // The slow ones side by side, so that the run stays short.
            slow.push(tokio::spawn(order(t.clone(), kind)));
            continue;
        }
        let trace = order(t.clone(), kind).await;
        all.insert(trace.clone());
        if kind == 0 {
            expected.insert(trace);
        }
        if i % 100 == 0 {
            // Let a few scrapes see exemplars of dropped traces being recorded.
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }
    for task in slow {
        let trace = task.await.unwrap();
        all.insert(trace.clone());
        expected.insert(trace);
    }
    assert_eq!((all.len(), expected.len()), (1000, 40));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let exposition = endpoint
        .render(Some("application/openmetrics-text; version=1.0.0"))
        .1;
    let stats = module.tail_sampling_stats();
    assert_eq!((stats.kept, stats.dropped), (40, 960), "{stats:?}");
    assert_eq!(stats.buffered, 0);

    // The collector received exactly the kept traces, two spans each.
    let spans = receiver.wait_for_spans(80, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spans_now = receiver.spans();
    assert_eq!(spans_now.len(), 80, "{}", receiver.report());
    let received: BTreeSet<String> = spans.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(received, expected);

    // Every exemplar Prometheus stored names a kept trace; there are some.
    let from = SystemTime::now() - Duration::from_secs(600);
    let to = SystemTime::now() + Duration::from_secs(60);
    let mut exemplars = Vec::new();
    for query in [
        "hyperion_intercept_duration_seconds_bucket",
        "hyperion_intercept_calls_total",
    ] {
        exemplars.extend(prometheus.exemplars(query, from, to).await);
    }
    assert!(!exemplars.is_empty(), "Prometheus stored no exemplar");
    for e in &exemplars {
        let trace = e.trace_id().expect("an exemplar with a trace id");
        assert!(
            all.contains(trace),
            "an exemplar of an unknown trace: {e:?}"
        );
        assert!(
            expected.contains(trace),
            "an exemplar leads to a dropped trace: {e:?}"
        );
    }
    // The endpoint's own text shows no other either.
    for line in exposition.lines().filter(|l| l.contains("# {trace_id=")) {
        let trace = &line[line.find("trace_id=\"").unwrap() + 10..][..32];
        assert!(expected.contains(trace), "{line}");
    }
    // The self-metrics.
    let counted = |decision: &str| {
        let prefix = format!(
            "hyperion_tail_sampling_traces_total{{decision=\"{decision}\",trigger=\"complete\"}} "
        );
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.split(' ').next())
            .map(|v| v.parse::<f64>().unwrap())
    };
    assert_eq!(counted("kept"), Some(40.0), "{exposition}");
    assert_eq!(counted("dropped"), Some(960.0));
    assert!(exposition.contains("hyperion_tail_sampling_spans_total{decision=\"dropped\"} 1920"));
    t.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn a_child_that_ends_after_its_root_is_in_the_kept_trace() {
    let h = harness("    policies:\n      - type: status_code\n");
    let t = h.telemetry().await;
    // Kept: the root fails, and its child ends after it.
    let (ctx, mut root) = t.context().start_span("GET /a", SpanOptions::server());
    let (_, mut late) = ctx.start_span("audit.write", SpanOptions::client());
    root.set_status(Status::error("boom"));
    root.end();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        flushed(&h, &t).await.spans.is_empty(),
        "decided before the child ended"
    );
    late.end();
    // Dropped: nothing failed, also with a late child.
    let (ctx, mut root) = t.context().start_span("GET /b", SpanOptions::server());
    let (_, mut late_b) = ctx.start_span("audit.write", SpanOptions::client());
    root.end();
    late_b.end();
    let snapshot = flushed(&h, &t).await;
    let names: Vec<&str> = snapshot.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(snapshot.spans.len(), 2, "{names:?}");
    assert!(names.contains(&"GET /a") && names.contains(&"audit.write"));
    assert_eq!(trace_ids(&snapshot).len(), 1);
}

#[tokio::test]
async fn a_trace_whose_root_never_ends_is_decided_after_decision_wait() {
    let h = harness("    decision_wait: 1s\n    default: keep\n");
    let t = h.telemetry().await;
    let started = std::time::Instant::now();
    let (ctx, root) = t.context().start_span("GET /stuck", SpanOptions::server());
    let (_, mut child) = ctx.start_span("SELECT 1", SpanOptions::client());
    child.end();
    let early = flushed(&h, &t).await;
    if started.elapsed() < Duration::from_millis(900) {
        assert!(early.spans.is_empty(), "decided before decision_wait");
    }
    // Decided within a tick (a quarter of the wait) after it, the child alone.
    let deadline = started + Duration::from_secs(10);
    let snapshot = loop {
        let snapshot = flushed(&h, &t).await;
        if !snapshot.spans.is_empty() || std::time::Instant::now() > deadline {
            break snapshot;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(snapshot.spans.len(), 1, "{:?}", snapshot.spans);
    assert_eq!(snapshot.spans[0].name, "SELECT 1");
    // The root, ending at last, follows the decision.
    drop(root);
    let snapshot = flushed(&h, &t).await;
    assert_eq!(snapshot.spans.len(), 2);
}

/// The same service called twice in one trace: the second request is a local root of its own,
/// decided on its own after the first was dropped.
#[tokio::test]
async fn a_second_local_root_in_a_dropped_trace_is_decided_on_its_own() {
    let h = harness("    policies:\n      - type: status_code\n");
    let t = h.telemetry().await;
    let mut headers = HashMap::new();
    headers.insert(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    );
    let remote = t.context().extract(&headers);
    let (_, mut first) = remote.start_span("GET /a", SpanOptions::server());
    first.end();
    let (_, mut second) = remote.start_span("GET /a", SpanOptions::server());
    second.set_status(Status::error("failed the second time"));
    second.end();
    let snapshot = flushed(&h, &t).await;
    assert_eq!(snapshot.spans.len(), 1, "{:#?}", snapshot.spans);
    assert!(snapshot.spans[0].status.is_error());
}

#[tokio::test]
async fn a_trace_with_too_many_spans_is_decided_early_and_later_spans_follow() {
    let h = harness("    max_spans_per_trace: 5\n    default: keep\n");
    let t = h.telemetry().await;
    let (ctx, mut root) = t.context().start_span("GET /batch", SpanOptions::server());
    for i in 0..10 {
        let (_, mut s) = ctx.start_span(format!("item {i}"), SpanOptions::new());
        s.end();
    }
    // Decided at the fifth span, before the root ended.
    assert_eq!(flushed(&h, &t).await.spans.len(), 10);
    root.end();
    assert_eq!(flushed(&h, &t).await.spans.len(), 11);
}

#[tokio::test]
async fn attribute_drop_and_rate_limiting_policies_decide_in_order() {
    let h = harness(
        "    policies:\n      - type: drop\n        key: http.route\n        values: [/health]\n      \
         - type: attribute\n        key: user.tier\n        values: [gold]\n      \
         - type: rate_limiting\n        spans_per_second: 4\n",
    );
    let t = h.telemetry().await;
    let traced = |route: &'static str, tier: &'static str| {
        let ctx = t.context();
        async move {
            let attrs = [kv("http.route", route), kv("user.tier", tier)];
            let (_, mut s) = ctx.start_span(route, SpanOptions::server().attributes(&attrs));
            let id = s.span_context().trace_id().to_string();
            s.end();
            id
        }
    };
    let health = traced("/health", "gold").await;
    let gold = traced("/orders", "gold").await;
    let mut plain = Vec::new();
    for _ in 0..10 {
        plain.push(traced("/orders", "free").await);
    }
    let kept = trace_ids(&flushed(&h, &t).await);
    assert!(!kept.contains(&health), "drop comes first");
    assert!(kept.contains(&gold));
    let plain_kept = plain.iter().filter(|p| kept.contains(*p)).count();
    // 4 spans a second, one span each: 4, or 8 if the loop crossed a second boundary.
    assert!((4..=8).contains(&plain_kept), "{plain_kept}");
}

/// Two services sampling 50 % by trace id keep the same traces, with no coordination.
#[tokio::test]
async fn two_services_keep_the_same_traces_by_trace_id() {
    let tail = "    policies:\n      - type: probabilistic\n        rate: 0.5\n";
    let (ha, hb) = (harness(tail), harness(tail));
    let (a, b) = (ha.telemetry().await, hb.telemetry().await);
    let mut all = BTreeSet::new();
    for _ in 0..200 {
        let (ctx, mut server) = a.context().start_span("GET /", SpanOptions::server());
        all.insert(server.span_context().trace_id().to_string());
        let (client_ctx, mut client) = ctx.start_span("GET b", SpanOptions::client());
        let mut headers = HashMap::new();
        client_ctx.inject(&mut headers);
        let remote = b.context().extract(&headers);
        let (_, mut handler) = remote.start_span("GET /b", SpanOptions::server());
        handler.end();
        client.end();
        server.end();
    }
    let (ka, kb) = (
        trace_ids(&flushed(&ha, &a).await),
        trace_ids(&flushed(&hb, &b).await),
    );
    assert_eq!(ka, kb);
    assert!((60..=140).contains(&ka.len()), "{} of 200", ka.len());
    assert!(ka.is_subset(&all));
}

#[tokio::test]
async fn a_bad_policy_is_named() {
    for (yaml, key) in [
        (
            "tracing:\n  tail_sampling:\n    policies:\n      - type: probabilistic\n        rate: 1.5\n",
            "tracing.tail_sampling.policies[0].rate",
        ),
        (
            "tracing:\n  tail_sampling:\n    max_traces: 0\n",
            "tracing.tail_sampling.max_traces",
        ),
        (
            "tracing:\n  tail_sampling:\n    policies:\n      - type: latency\n        threshold: 2s\n        upper_threshold: 1s\n",
            "upper_threshold",
        ),
        (
            "tracing:\n  tail_sampling:\n    policies:\n      - type: sometimes\n",
            "sometimes",
        ),
    ] {
        let err = match ConfigLoader::new().yaml(yaml).load() {
            Err(e) => e.to_string(),
            Ok(config) => Telemetry::builder()
                .module(OtelModule::new())
                .config(config)
                .build()
                .await
                .err()
                .unwrap_or_else(|| panic!("accepted: {yaml}"))
                .to_string(),
        };
        assert!(err.contains(key), "{key}: {err}");
    }
}
