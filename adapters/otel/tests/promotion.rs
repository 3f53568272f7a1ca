//! Span promotion (`tracing.promotion`): fast intercepted calls become events on their parent,
//! slow, failed, propagated ones (and the parents of promoted children) become spans with the
//! ids and start time they had from the start. Spans go through the real SDK pipeline (batch
//! processor, exporters); the last test sends them through rotel to the in-test receiver and
//! reads the exemplar from the Prometheus endpoint.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyperion::config::ConfigLoader;
use hyperion::testing::conformance::Harness as _;
use hyperion::testing::{RecordedSpan, Snapshot};
use hyperion::{Context, SpanContext, SpanId, SpanOptions, Status, Telemetry, Value};
use hyperion_otel::OtelModule;
use hyperion_otel::testing::OtelHarness;
use support::{ForwardProtocol, OtlpReceiver, Rotel};

const YAML: &str = "tracing:\n  exporter: none\n  batch:\n    scheduled_delay: 20ms\n  \
                    promotion:\n    enabled: true\n    threshold: 300ms\n";

async fn flushed(harness: &OtelHarness, t: &Telemetry) -> Snapshot {
    t.flush(Duration::from_secs(5)).await.unwrap();
    harness.exported(t).await
}

fn by_id(snapshot: &Snapshot, id: SpanId) -> Option<&RecordedSpan> {
    snapshot.spans.iter().find(|s| s.context.span_id() == id)
}

fn text(value: Option<&Value<'static>>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// What a call saw of itself: its span context and the wall clock when it began.
type Seen = Arc<Mutex<Option<(SpanContext, SystemTime)>>>;

fn seen() -> Seen {
    Arc::new(Mutex::new(None))
}

fn record(seen: &Seen, ctx: &Context) {
    *seen.lock().unwrap() = Some((ctx.span_context().clone(), SystemTime::now()));
}

fn take(seen: &Seen) -> (SpanContext, SystemTime) {
    seen.lock().unwrap().clone().expect("the call ran")
}

#[tokio::test]
async fn a_fast_call_becomes_an_event_on_its_parent_and_its_logs_name_it() {
    let harness = OtelHarness::new(YAML);
    let t = harness.telemetry().await;
    let (ctx, mut server) = t
        .context()
        .start_span("GET /users/{id}", SpanOptions::server());
    let fast = seen();
    let f = fast.clone();
    let r: Result<u32, String> = ctx
        .intercept("UserService", "GetUser", |ctx| async move {
            record(&f, &ctx);
            ctx.log().info("fetching user", &[]);
            Ok(7)
        })
        .await;
    assert_eq!(r, Ok(7));
    server.end();
    let snapshot = flushed(&harness, &t).await;
    let (call, _) = take(&fast);

    // Only the server span is exported; the call is an event on it.
    assert_eq!(snapshot.spans.len(), 1, "{:#?}", snapshot.spans);
    let server = &snapshot.spans[0];
    assert_eq!(server.name, "GET /users/{id}");
    let event = server
        .event("UserService.GetUser")
        .expect("the call's event on its parent");
    let attr = |k: &str| event.attributes.iter().find(|a| a.key.as_str() == k);
    assert_eq!(
        attr("hyperion.span_id").map(|a| a.value.to_string()),
        Some(call.span_id().to_string())
    );
    let took = match attr("hyperion.duration_ms").map(|a| &a.value) {
        Some(Value::F64(ms)) => *ms,
        other => panic!("hyperion.duration_ms: {other:?}"),
    };
    assert!((0.0..300.0).contains(&took), "{took}");
    assert_eq!(
        attr("hyperion.outcome").map(|a| a.value.to_string()),
        Some("unset".into())
    );
    // The call was a child of the server span, in its trace.
    assert_eq!(call.trace_id(), server.context.trace_id());
    assert!(call.is_sampled());
    assert!(by_id(&snapshot, call.span_id()).is_none());
    // Its log line carries the trace and the event's span id.
    let log = snapshot
        .logs
        .iter()
        .find(|l| l.message == "fetching user")
        .expect("the log line");
    assert_eq!(log.trace_id, Some(call.trace_id()));
    assert_eq!(log.span_id, Some(call.span_id()));
}

#[tokio::test]
async fn slow_and_failed_calls_become_spans_with_their_original_ids_and_start() {
    let harness = OtelHarness::new(YAML);
    let t = harness.telemetry().await;
    let (ctx, mut server) = t
        .context()
        .start_span("POST /orders", SpanOptions::server());
    let before = SystemTime::now();
    let slow = seen();
    let s = slow.clone();
    let _: Result<(), String> = ctx
        .intercept("OrderService", "Slow", |ctx| async move {
            record(&s, &ctx);
            tokio::time::sleep(Duration::from_millis(350)).await;
            Ok(())
        })
        .await;
    let failed = seen();
    let f = failed.clone();
    let r: Result<(), String> = ctx
        .intercept("OrderService", "Fail", |ctx| async move {
            record(&f, &ctx);
            Err("card declined".to_owned())
        })
        .await;
    assert!(r.is_err());
    server.end();
    let snapshot = flushed(&harness, &t).await;
    let server = snapshot
        .spans
        .iter()
        .find(|s| s.name == "POST /orders")
        .unwrap();

    let (slow_sc, slow_seen_at) = take(&slow);
    let span = by_id(&snapshot, slow_sc.span_id()).expect("the slow call is a span");
    assert_eq!(span.name, "OrderService.Slow");
    assert_eq!(span.context.trace_id(), server.context.trace_id());
    assert_eq!(span.parent_span_id, Some(server.context.span_id()));
    assert_eq!(
        span.attribute("hyperion.promoted"),
        Some(&Value::Bool(true))
    );
    assert_eq!(text(span.attribute("hyperion.promotion.reason")), "slow");
    // Its original start: before the call body ran, not when it was promoted.
    assert!(span.start_time >= before && span.start_time <= slow_seen_at);
    let took = span.end_time.duration_since(span.start_time).unwrap();
    assert!(took >= Duration::from_millis(350), "{took:?}");

    let (failed_sc, _) = take(&failed);
    let span = by_id(&snapshot, failed_sc.span_id()).expect("the failed call is a span");
    assert_eq!(text(span.attribute("hyperion.promotion.reason")), "error");
    assert!(span.status.is_error(), "{:?}", span.status);
    assert_eq!(span.parent_span_id, Some(server.context.span_id()));
    // Neither left an event behind.
    assert!(server.events.is_empty(), "{:?}", server.events);
}

#[tokio::test]
async fn a_call_whose_child_is_a_span_is_a_span_too() {
    let harness = OtelHarness::new(YAML);
    let t = harness.telemetry().await;
    let (ctx, mut server) = t.context().start_span("GET /", SpanOptions::server());
    let outer = seen();
    let inner = seen();
    let (o, i) = (outer.clone(), inner.clone());
    let _: Result<(), String> = ctx
        .intercept("Gateway", "Route", |ctx| async move {
            record(&o, &ctx);
            // A fast promotable call, and a plain span (a database statement, say): the plain
            // span must have an exported parent.
            let _: Result<(), String> = ctx
                .intercept("Cache", "Get", |ctx| async move {
                    record(&i, &ctx);
                    Ok(())
                })
                .await;
            let (_, mut query) = ctx.start_span("SELECT users", SpanOptions::client());
            query.end();
            Ok(())
        })
        .await;
    server.end();
    let snapshot = flushed(&harness, &t).await;
    let (outer, _) = take(&outer);
    let (inner, _) = take(&inner);
    let route = by_id(&snapshot, outer.span_id()).expect("the call with a span child");
    assert_eq!(text(route.attribute("hyperion.promotion.reason")), "child");
    let query = snapshot
        .spans
        .iter()
        .find(|s| s.name == "SELECT users")
        .unwrap();
    assert_eq!(query.parent_span_id, Some(outer.span_id()));
    // The fast cache call is an event on the promoted call.
    assert!(by_id(&snapshot, inner.span_id()).is_none());
    assert!(route.event("Cache.Get").is_some(), "{:?}", route.events);
    // Every exported span's parent is exported (or is the remote/absent root's).
    assert_no_orphans(&snapshot);
}

fn assert_no_orphans(snapshot: &Snapshot) {
    for span in &snapshot.spans {
        if let Some(parent) = span.parent_span_id {
            assert!(
                by_id(snapshot, parent).is_some(),
                "{} has no exported parent {parent}: {:#?}",
                span.name,
                snapshot.spans
            );
        }
    }
}

#[tokio::test]
async fn a_child_promoted_after_its_parent_became_an_event_promotes_the_parent_late() {
    let harness = OtelHarness::new(YAML);
    let t = harness.telemetry().await;
    let (ctx, mut server) = t.context().start_span("GET /report", SpanOptions::server());
    // A: a fast call; B, started under A, outlives it and is slow.
    let (a_ctx, mut a) = ctx.start_span("Report.Build", SpanOptions::new().promotable());
    let (_, mut b) = a_ctx.start_span("Report.Render", SpanOptions::new().promotable());
    let a_id = a.span_context().span_id();
    let b_id = b.span_context().span_id();
    a.end(); // fast: an event on the server span, its data kept while B is open
    tokio::time::sleep(Duration::from_millis(350)).await;
    b.end(); // slow: a span, whose parent A must then be exported
    server.end();
    let snapshot = flushed(&harness, &t).await;
    let b = by_id(&snapshot, b_id).expect("B is a span");
    assert_eq!(text(b.attribute("hyperion.promotion.reason")), "slow");
    assert_eq!(b.parent_span_id, Some(a_id));
    let a = by_id(&snapshot, a_id).expect("A was promoted late");
    assert_eq!(text(a.attribute("hyperion.promotion.reason")), "child");
    let server = snapshot
        .spans
        .iter()
        .find(|s| s.name == "GET /report")
        .unwrap();
    assert_eq!(a.parent_span_id, Some(server.context.span_id()));
    assert!(a.end_time < b.end_time);
    assert_no_orphans(&snapshot);
}

#[tokio::test]
async fn a_call_that_outlives_its_parent_is_a_span_and_no_orphan() {
    let harness = OtelHarness::new(YAML);
    let t = harness.telemetry().await;
    let (ctx, mut server) = t.context().start_span("GET /jobs", SpanOptions::server());
    let (a_ctx, mut a) = ctx.start_span("Jobs.Start", SpanOptions::new().promotable());
    let (_, mut c) = a_ctx.start_span("Jobs.Poll", SpanOptions::new().promotable());
    let (a_id, c_id) = (a.span_context().span_id(), c.span_context().span_id());
    a.end(); // an event on the server span
    server.end(); // the server span is exported, with A's event
    c.end(); // fast, but nothing is open to hold its event: a span, and A with it
    let snapshot = flushed(&harness, &t).await;
    let c = by_id(&snapshot, c_id).expect("C is a span");
    assert_eq!(
        text(c.attribute("hyperion.promotion.reason")),
        "outlived_parent"
    );
    assert_eq!(c.parent_span_id, Some(a_id));
    assert!(by_id(&snapshot, a_id).is_some());
    assert_no_orphans(&snapshot);
}

#[tokio::test]
async fn a_call_that_injected_its_context_is_the_exported_parent_downstream() {
    let upstream = OtelHarness::new(YAML);
    let downstream =
        OtelHarness::new("tracing:\n  exporter: none\n  batch:\n    scheduled_delay: 20ms\n");
    let (a, b) = (upstream.telemetry().await, downstream.telemetry().await);
    let (ctx, mut server) = a
        .context()
        .start_span("GET /checkout", SpanOptions::server());
    let call = seen();
    let c = call.clone();
    let headers: Result<HashMap<String, String>, String> =
        ctx.intercept_sync("Payments", "Charge", |ctx| {
            record(&c, &ctx);
            let mut headers = HashMap::new();
            ctx.inject(&mut headers);
            Ok(headers)
        });
    let headers = headers.unwrap();
    server.end();
    // The other service extracts the call's context and starts its server span under it.
    let remote = b.context().extract(&headers);
    let (_, mut handler) = remote.start_span("POST /charge", SpanOptions::server());
    handler.end();

    let up = flushed(&upstream, &a).await;
    let down = flushed(&downstream, &b).await;
    let (call, _) = take(&call);
    let exported = by_id(&up, call.span_id()).expect("the propagated call is a span");
    assert_eq!(
        text(exported.attribute("hyperion.promotion.reason")),
        "propagated"
    );
    let handler = &down.spans[0];
    assert_eq!(handler.parent_span_id, Some(call.span_id()));
    assert!(handler.parent_is_remote);
    assert_eq!(handler.context.trace_id(), call.trace_id());
}

#[tokio::test]
async fn fast_calls_none_leaves_nothing_and_promotion_off_changes_nothing() {
    let yaml = YAML.replace(
        "threshold: 300ms\n",
        "threshold: 300ms\n    fast_calls: none\n",
    );
    let harness = OtelHarness::new(yaml);
    let t = harness.telemetry().await;
    let (ctx, mut server) = t.context().start_span("GET /", SpanOptions::server());
    let _: Result<(), String> = ctx.intercept("A", "B", |_| async { Ok(()) }).await;
    server.end();
    let snapshot = flushed(&harness, &t).await;
    assert_eq!(snapshot.spans.len(), 1);
    assert!(snapshot.spans[0].events.is_empty());

    // Off (the default): the intercepted call is a span, as always.
    let harness =
        OtelHarness::new("tracing:\n  exporter: none\n  batch:\n    scheduled_delay: 20ms\n");
    let t = harness.telemetry().await;
    let (ctx, mut server) = t.context().start_span("GET /", SpanOptions::server());
    let _: Result<(), String> = ctx.intercept("A", "B", |_| async { Ok(()) }).await;
    server.end();
    let snapshot = flushed(&harness, &t).await;
    assert_eq!(snapshot.spans.len(), 2);
    assert!(
        snapshot
            .spans
            .iter()
            .all(|s| s.attribute("hyperion.promoted").is_none())
    );
}

#[tokio::test]
async fn a_bad_promotion_setting_is_named() {
    let config = ConfigLoader::new()
        .yaml("tracing:\n  promotion:\n    enabled: true\n    threshold: 0ms\n")
        .load()
        .unwrap();
    let err = Telemetry::builder()
        .module(OtelModule::new())
        .config(config)
        .build()
        .await
        .expect_err("a zero threshold is refused")
        .to_string();
    assert!(err.contains("tracing.promotion.threshold"), "{err}");
    let config = ConfigLoader::new()
        .yaml("tracing:\n  promotion:\n    fast_calls: sometimes\n")
        .load();
    let err = match config {
        Err(e) => e.to_string(),
        Ok(config) => Telemetry::builder()
            .module(OtelModule::new())
            .config(config)
            .build()
            .await
            .expect_err("an unknown fast_calls is refused")
            .to_string(),
    };
    assert!(err.contains("fast_calls") && err.contains("event"), "{err}");
}

/// Through rotel to the receiver: the slow call's span arrives with the ids its log line and
/// its duration histogram's exemplar carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_exemplars_inside_a_promoted_call_name_the_exported_span() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let module = OtelModule::new().with_log_buffer(lines.clone());
    let yaml = format!(
        "tracing:\n  service_name: checkout\n  exporter: otlp\n  endpoint: \"{}\"\n  \
         batch:\n    scheduled_delay: 50ms\n  promotion:\n    enabled: true\n    threshold: 200ms\n\
         logging:\n  format: json\n",
        rotel.grpc_endpoint()
    );
    let t = support::telemetry(&module, &yaml).await;
    let (ctx, mut server) = t.context().start_span("POST /pay", SpanOptions::server());
    let slow = seen();
    let s = slow.clone();
    let _: Result<(), String> = ctx
        .intercept("Payments", "Authorize", |ctx| async move {
            record(&s, &ctx);
            ctx.log().info("authorizing", &[]);
            tokio::time::sleep(Duration::from_millis(250)).await;
            Ok(())
        })
        .await;
    server.set_status(Status::Ok);
    server.end();
    let (call, _) = take(&slow);
    let endpoint = module
        .prometheus_endpoint()
        .expect("the Prometheus endpoint");
    let (_, text) = endpoint.render(Some("application/openmetrics-text; version=1.0.0"));
    t.shutdown(Duration::from_secs(10)).await.unwrap();

    let spans = receiver.wait_for_spans(2, Duration::from_secs(20)).await;
    let exported = spans
        .iter()
        .find(|s| s.name == "Payments.Authorize")
        .expect("the promoted call arrived");
    assert_eq!(exported.span_id, call.span_id().to_string());
    assert_eq!(exported.trace_id, call.trace_id().to_string());

    let line = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
    let log = line
        .lines()
        .find(|l| l.contains("authorizing"))
        .expect("the log line");
    assert!(log.contains(&call.span_id().to_string()), "{log}");

    let span_label = format!("span_id=\"{}\"", call.span_id());
    let exemplar = text.lines().find(|l| {
        l.starts_with("hyperion_intercept_duration_seconds_bucket") && l.contains(&span_label)
    });
    assert!(
        exemplar.is_some(),
        "no duration exemplar names the call:\n{text}"
    );
}

/// Integrations rebuild their parent from the span context (`with_span_context`, or the
/// bridge's thread-local while an intercepted call is polled), which carries no handle: a span
/// they start inside a fast call must still find the deferred call and make it a span.
#[tokio::test]
async fn a_span_started_from_the_bridge_inside_a_fast_call_has_an_exported_parent() {
    let harness = OtelHarness::new(YAML);
    let t = harness.telemetry().await;
    let root = t.context();
    let (ctx, mut server) = root.start_span("GET /orders", SpanOptions::server());
    let call = seen();
    let c = call.clone();
    let r: Result<(), String> = ctx
        .intercept("OrderService", "List", |ctx| {
            let root = root.clone();
            async move {
                record(&c, &ctx);
                // What the SQL and HTTP integrations do when given no context.
                let parent = hyperion::context::with_current_span_context(|sc| {
                    root.with_span_context(sc.clone())
                });
                let (_, mut query) = parent.start_span("SELECT orders", SpanOptions::client());
                query.end();
                // And an injection through a rebuilt context.
                let mut headers = HashMap::new();
                root.with_span_context(ctx.span_context().clone())
                    .inject(&mut headers);
                Ok(())
            }
        })
        .await;
    r.unwrap();
    server.end();
    let snapshot = flushed(&harness, &t).await;
    let (call, _) = take(&call);
    let exported = by_id(&snapshot, call.span_id()).expect("the call is a span");
    assert_eq!(
        text(exported.attribute("hyperion.promotion.reason")),
        "child"
    );
    let query = snapshot
        .spans
        .iter()
        .find(|s| s.name == "SELECT orders")
        .unwrap();
    assert_eq!(query.parent_span_id, Some(call.span_id()));
    assert_no_orphans(&snapshot);
}

/// With tail sampling on too: a deferred call holds its trace open, so a failure in a call
/// that outlives the local root still keeps the trace; a fast call's attributes, left on its
/// event, are seen by the `attribute` policy.
#[tokio::test]
async fn with_tail_sampling_a_deferred_call_holds_its_trace_open() {
    let harness = OtelHarness::new(format!(
        "{YAML}  tail_sampling:\n    enabled: true\n    policies:\n      - type: status_code\n      \
         - type: attribute\n        key: user.tier\n        values: [gold]\n"
    ));
    let t = harness.telemetry().await;
    // The root ends first; the deferred call under it fails afterwards.
    let (ctx, mut server) = t.context().start_span("GET /a", SpanOptions::server());
    let (_, mut call) = ctx.start_span("Work.Finish", SpanOptions::new().promotable());
    let failed_trace = server.span_context().trace_id();
    server.end();
    call.set_status(Status::error("failed after the response"));
    call.end();
    // A fast call with a gold user: an event, and its trace kept for it.
    let (ctx, mut server) = t.context().start_span("GET /b", SpanOptions::server());
    let gold_trace = server.span_context().trace_id();
    let attrs = [hyperion::kv("user.tier", "gold")];
    let (_, mut fast) = ctx.start_span(
        "Users.Get",
        SpanOptions::new().promotable().attributes(&attrs),
    );
    fast.end();
    server.end();
    // Nothing matches: dropped.
    let (ctx, mut server) = t.context().start_span("GET /c", SpanOptions::server());
    let (_, mut fast) = ctx.start_span("Users.Get", SpanOptions::new().promotable());
    fast.end();
    server.end();

    let snapshot = flushed(&harness, &t).await;
    let traces: Vec<_> = snapshot
        .spans
        .iter()
        .map(|s| s.context.trace_id())
        .collect();
    assert_eq!(
        traces.iter().filter(|t| **t == failed_trace).count(),
        2,
        "{:#?}",
        snapshot.spans
    );
    assert_eq!(traces.iter().filter(|t| **t == gold_trace).count(), 1);
    assert_eq!(snapshot.spans.len(), 3, "{:#?}", snapshot.spans);
    assert_no_orphans(&snapshot);
}

/// Three deferred levels: a service call, a repository call under it, and work the repository
/// call started that outlives both and turns out slow. The chain up to the exported server
/// span is promoted late, each with the ids its children name.
#[tokio::test]
async fn a_late_promotion_climbs_every_deferred_level_to_an_exported_span() {
    let harness = OtelHarness::new(YAML);
    let t = harness.telemetry().await;
    let (ctx, mut server) = t.context().start_span("GET /report", SpanOptions::server());
    let (service_ctx, mut service) =
        ctx.start_span("ReportService.Build", SpanOptions::new().promotable());
    let (repo_ctx, mut repo) =
        service_ctx.start_span("ReportRepo.Load", SpanOptions::new().promotable());
    let (_, mut work) = repo_ctx.start_span("ReportRepo.Warm", SpanOptions::new().promotable());
    let ids = [&service, &repo, &work].map(|s| s.span_context().span_id());
    repo.end(); // fast: an event on the service call, which it keeps open
    service.end(); // fast: an event on the server span
    server.end(); // exported, with the service call's event
    tokio::time::sleep(Duration::from_millis(350)).await;
    work.end(); // slow: a span, and its parents with it
    let snapshot = flushed(&harness, &t).await;
    let server = snapshot
        .spans
        .iter()
        .find(|s| s.name == "GET /report")
        .unwrap();
    let [service_id, repo_id, work_id] = ids;
    let work = by_id(&snapshot, work_id).expect("the slow work is a span");
    assert_eq!(work.parent_span_id, Some(repo_id));
    let repo = by_id(&snapshot, repo_id).expect("the repository call was promoted late");
    assert_eq!(repo.parent_span_id, Some(service_id));
    let service = by_id(&snapshot, service_id).expect("the service call was promoted late");
    assert_eq!(service.parent_span_id, Some(server.context.span_id()));
    for span in [repo, service] {
        assert_eq!(text(span.attribute("hyperion.promotion.reason")), "child");
    }
    assert_no_orphans(&snapshot);
}
