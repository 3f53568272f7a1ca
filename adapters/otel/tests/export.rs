//! Real export: the adapter sends to rotel (a real OTLP collector) over gRPC and HTTP/protobuf,
//! rotel forwards to an OTLP receiver inside the test, which decodes the requests; HTTP/JSON,
//! Jaeger and Zipkin go to in-test receivers directly. Every field the facade sets is checked on
//! the other side. These tests fail, never skip, when rotel is missing: run scripts/setup.sh.

mod support;

use std::time::Duration;

use hyperion::config::ConfigLoader;
use hyperion::{Config, Link, SpanOptions, Status, Telemetry, Value, kv};
use hyperion_otel::OtelModule;
use hyperion_otel::config::OtelSettings;
use support::{
    AttrValue, ForwardProtocol, OtlpReceiver, ReceivedSpan, Rotel, StatusCode, Transport,
    ZipkinReceiver,
};

const WAIT: Duration = Duration::from_secs(20);

async fn build(yaml: &str) -> (Telemetry, OtelModule) {
    let module = OtelModule::new();
    // Metrics are on by default and their endpoint listens on 9090: tests run in parallel.
    let config = ConfigLoader::new()
        .yaml(yaml)
        .set("metrics.port", 0)
        .load()
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let telemetry = Telemetry::builder()
        .module(module.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    (telemetry, module)
}

fn config(exporter: &str, protocol: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "service:\n  name: users\n  version: 1.2.3\n  environment: test\n\
         tracing:\n  service_name: users\n  exporter: {exporter}\n  protocol: {protocol}\n  \
         endpoint: \"{endpoint}\"\n  attributes:\n    team: identity\n  \
         batch:\n    scheduled_delay: 100ms\n{extra}"
    )
}

/// Records a small but complete trace: a server root, an intercepted call that fails, a client
/// span with attributes of every type, an event and a link. Returns the trace id.
async fn record_trace(t: &Telemetry) -> String {
    let ctx = t.context();
    let (_, mut producer) = ctx.start_span("queue.publish", SpanOptions::producer().new_root());
    let linked = producer.span_context().clone();
    producer.end();

    let route = [kv("http.route", "/users/{id}")];
    let (ctx, mut root) =
        ctx.start_span("GET /users/{id}", SpanOptions::server().attributes(&route));
    let trace_id = root.span_context().trace_id().to_string();
    let r: Result<(), String> = ctx
        .intercept("UserService", "GetUser", |ctx| async move {
            let ints = [Value::from(1), Value::from(2)];
            let links = [Link {
                context: linked.clone(),
                attributes: &[],
            }];
            let (_, mut q) = ctx.start_span("db.query", SpanOptions::client().links(&links));
            q.set_attributes(&[
                kv("db.system", "postgresql"),
                kv("db.rows", 3),
                kv("db.ratio", 0.5),
                kv("db.cached", false),
                kv("db.shards", &ints[..]),
            ]);
            q.add_event("cache.miss", &[kv("cache.key", "user:7")]);
            q.end();
            Err("user 7 not found".to_owned())
        })
        .await;
    assert!(r.is_err());
    root.set_status(Status::Ok);
    root.end();
    trace_id
}

fn find<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name:?} in {:#?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

/// Checks everything `record_trace` set, as decoded from OTLP.
fn assert_trace(spans: &[ReceivedSpan], trace_id: &str) {
    let root = find(spans, "GET /users/{id}");
    let call = find(spans, "UserService.GetUser");
    let query = find(spans, "db.query");
    let producer = find(spans, "queue.publish");
    for s in [root, call, query] {
        assert_eq!(s.trace_id, trace_id, "{}", s.name);
        assert_eq!(
            s.resource_attr("service.name"),
            Some(AttrValue::from("users"))
        );
        assert_eq!(
            s.resource_attr("service.version"),
            Some(AttrValue::from("1.2.3"))
        );
        assert_eq!(
            s.resource_attr("deployment.environment"),
            Some(AttrValue::from("test"))
        );
        assert_eq!(s.resource_attr("team"), Some(AttrValue::from("identity")));
        assert_eq!(
            s.resource_attr("telemetry.sdk.language"),
            Some(AttrValue::from("rust"))
        );
        assert_eq!(s.scope_name, "hyperion");
    }
    assert!(root.is_root());
    assert_eq!(root.kind, support::SpanKind::Server);
    assert_eq!(root.status_code, StatusCode::Ok);
    assert_eq!(
        root.attr("http.route"),
        Some(AttrValue::from("/users/{id}"))
    );

    assert_eq!(call.parent_span_id, root.span_id);
    assert_eq!(call.kind, support::SpanKind::Internal);
    assert_eq!(call.status_code, StatusCode::Error);
    assert_eq!(call.status_message, "user 7 not found");
    let exception = call.event("exception").expect("exception event");
    assert_eq!(
        exception.attr("exception.message"),
        Some(AttrValue::from("user 7 not found"))
    );

    assert_eq!(query.parent_span_id, call.span_id);
    assert_eq!(query.kind, support::SpanKind::Client);
    assert_eq!(query.attr("db.system"), Some(AttrValue::from("postgresql")));
    assert_eq!(query.attr("db.rows"), Some(AttrValue::from(3i64)));
    assert_eq!(query.attr("db.ratio"), Some(AttrValue::from(0.5)));
    assert_eq!(query.attr("db.cached"), Some(AttrValue::from(false)));
    assert_eq!(
        query.attr("db.shards"),
        Some(AttrValue::Array(vec![
            AttrValue::from(1i64),
            AttrValue::from(2i64)
        ]))
    );
    let miss = query.event("cache.miss").expect("cache.miss event");
    assert_eq!(miss.attr("cache.key"), Some(AttrValue::from("user:7")));
    assert_eq!(query.links.len(), 1);
    assert_eq!(query.links[0].span_id, producer.span_id);
    assert_eq!(query.links[0].trace_id, producer.trace_id);
    assert_eq!(producer.kind, support::SpanKind::Producer);
    assert_ne!(producer.trace_id, trace_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_through_rotel_arrives_field_by_field() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let (t, module) = build(&config("otlp", "grpc", &rotel.grpc_endpoint(), "")).await;
    let trace_id = record_trace(&t).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    let spans = receiver.wait_for_spans(4, WAIT).await;
    assert_trace(&spans, &trace_id);
    assert_eq!(module.span_stats().exported, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_through_rotel_arrives_field_by_field() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.grpc_endpoint(), ForwardProtocol::Grpc);
    let extra = "  compression: gzip\n";
    let (t, _) = build(&config(
        "otlp",
        "http/protobuf",
        &rotel.http_endpoint(),
        extra,
    ))
    .await;
    let trace_id = record_trace(&t).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_trace(&receiver.wait_for_spans(4, WAIT).await, &trace_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_with_headers_goes_straight_to_a_receiver() {
    let receiver = OtlpReceiver::start().await;
    let extra = "  headers:\n    authorization: Bearer s3cret\n";
    let yaml = config("otlp", "http/json", &receiver.http_endpoint(), extra);
    let (t, _) = build(&yaml).await;
    let trace_id = record_trace(&t).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_trace(&receiver.wait_for_spans(4, WAIT).await, &trace_id);
    let deliveries = receiver.deliveries();
    assert!(
        deliveries.iter().all(|d| d.path == "/v1/traces"),
        "{deliveries:?}"
    );
    assert!(
        receiver
            .content_types_seen()
            .iter()
            .all(|c| c == "application/json"),
        "{:?}",
        receiver.content_types_seen()
    );
    assert_eq!(deliveries[0].header("authorization"), Some("Bearer s3cret"));
    // The token never shows up in the Debug output of the config or the module's settings.
    let config = Config::from_yaml_str(&yaml).unwrap();
    assert!(!format!("{config:?}").contains("s3cret"));
    let debug = format!("{:?}", OtelSettings::from_config(&config).unwrap());
    assert!(
        !debug.contains("s3cret") && debug.contains("authorization"),
        "{debug}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_sends_headers_as_metadata_and_gzips() {
    let receiver = OtlpReceiver::start().await;
    let extra = "  compression: gzip\n  headers:\n    x-api-key: k1\n";
    let (t, _) = build(&config("otlp", "grpc", &receiver.grpc_endpoint(), extra)).await;
    let trace_id = record_trace(&t).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_trace(&receiver.wait_for_spans(4, WAIT).await, &trace_id);
    let d = &receiver.deliveries()[0];
    assert_eq!(d.header("x-api-key"), Some("k1"));
    assert_eq!(d.header("grpc-encoding"), Some("gzip"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_is_otlp() {
    let receiver = OtlpReceiver::start().await;
    let (t, _) = build(&config("jaeger", "grpc", &receiver.grpc_endpoint(), "")).await;
    let trace_id = record_trace(&t).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_trace(&receiver.wait_for_spans(4, WAIT).await, &trace_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipkin_json_v2_field_by_field() {
    let receiver = ZipkinReceiver::start().await;
    let (t, _) = build(&config("zipkin", "grpc", &receiver.endpoint(), "")).await;
    let trace_id = record_trace(&t).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    let spans = receiver.wait_for_spans(4, WAIT).await;
    let by_name = |n: &str| {
        spans
            .iter()
            .find(|s| s["name"] == n.to_lowercase() || s["name"] == n)
            .unwrap_or_else(|| panic!("no zipkin span {n}: {spans:#?}"))
    };
    let root = by_name("GET /users/{id}");
    let call = by_name("UserService.GetUser");
    let query = by_name("db.query");
    assert_eq!(root["traceId"], trace_id.as_str());
    assert_eq!(root["kind"], "SERVER");
    assert!(root.get("parentId").is_none(), "{root}");
    assert_eq!(root["localEndpoint"]["serviceName"], "users");
    assert_eq!(call["parentId"], root["id"]);
    assert_eq!(call["tags"]["error"], "user 7 not found");
    assert_eq!(query["parentId"], call["id"]);
    assert_eq!(query["kind"], "CLIENT");
    assert_eq!(query["tags"]["db.system"], "postgresql");
    assert_eq!(query["tags"]["db.rows"], "3");
    assert!(query["duration"].as_u64().is_some());
    let annotations = query["annotations"].as_array().expect("annotations");
    assert!(
        annotations.iter().any(|a| a["value"]
            .as_str()
            .is_some_and(|v| v.contains("cache.miss"))),
        "{annotations:?}"
    );
}

async fn ten_thousand_spans(protocol: &str, forward: ForwardProtocol) {
    const N: usize = 10_000;
    let receiver = OtlpReceiver::start().await;
    let forward_to = match forward {
        ForwardProtocol::Http => receiver.http_endpoint(),
        ForwardProtocol::Grpc => receiver.grpc_endpoint(),
    };
    let rotel = Rotel::start(&forward_to, forward);
    let endpoint = if protocol == "grpc" {
        rotel.grpc_endpoint()
    } else {
        rotel.http_endpoint()
    };
    let extra = "    max_queue_size: 20000\n";
    let (t, module) = build(&config("otlp", protocol, &endpoint, extra)).await;
    let ctx = t.context();
    for i in 0..N {
        let (_, mut s) = ctx.start_span("work", SpanOptions::new());
        s.set_attribute(kv("i", i));
        s.end();
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    t.shutdown(Duration::from_secs(30)).await.unwrap();
    let stats = module.span_stats();
    assert_eq!(
        (stats.exported, stats.failed, stats.dropped),
        (N as u64, 0, 0)
    );
    let spans = receiver.wait_for_spans(N, WAIT).await;
    let mut seen: Vec<i64> = spans
        .iter()
        .filter_map(|s| s.attr("i").and_then(|v| v.as_i64()))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), N, "every span arrives exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_ten_thousand_spans_on_a_multi_thread_runtime() {
    ten_thousand_spans("grpc", ForwardProtocol::Http).await;
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_delivers_ten_thousand_spans_on_a_current_thread_runtime() {
    ten_thousand_spans("grpc", ForwardProtocol::Grpc).await;
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_delivers_over_http_on_a_current_thread_runtime() {
    ten_thousand_spans("http/protobuf", ForwardProtocol::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_are_retried_and_client_errors_are_not() {
    let receiver = OtlpReceiver::start().await;
    let yaml = config("otlp", "http/protobuf", &receiver.http_endpoint(), "");
    let (t, module) = build(&yaml).await;

    receiver.fail_next(2, 503);
    let (_, mut s) = t.context().start_span("retried", SpanOptions::new());
    s.end();
    t.flush(Duration::from_secs(10)).await.unwrap();
    receiver.wait_for_spans(1, WAIT).await;
    assert_eq!(receiver.http_attempts(), 3, "two 503s, then success");
    assert_eq!(module.span_stats().exported, 1);

    receiver.fail_next(1, 400);
    let (_, mut s) = t.context().start_span("rejected", SpanOptions::new());
    s.end();
    let _ = t.flush(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.http_attempts(), 4, "a 400 is not retried");
    assert_eq!(module.span_stats().failed, 1);
    assert!(receiver.spans_named("rejected").is_empty());
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_backend_costs_nothing_but_counted_drops_and_export_resumes() {
    let receiver = OtlpReceiver::start().await;
    let grpc_port = support::free_port();
    let endpoint = format!("http://127.0.0.1:{grpc_port}");
    let extra = "  timeout: 300ms\n  batch:\n    scheduled_delay: 50ms\n    max_queue_size: 64\n    max_batch_size: 32\n";
    let yaml = format!(
        "tracing:\n  service_name: users\n  exporter: otlp\n  protocol: grpc\n  endpoint: \"{endpoint}\"\n{extra}"
    );
    let started = std::time::Instant::now();
    let (t, module) = build(&yaml).await;
    // Building does not wait for the backend.
    assert!(started.elapsed() < Duration::from_secs(2));

    let ctx = t.context();
    let started = std::time::Instant::now();
    for _ in 0..2000 {
        let (_, mut s) = ctx.start_span("while-down", SpanOptions::new());
        s.end();
    }
    // Recording never waits for the exporter: 2000 spans take a tiny fraction of one timeout.
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = module.span_stats();
    assert!(
        stats.dropped > 0,
        "a full queue drops and counts: {stats:?}"
    );
    assert!(stats.failed > 0, "failed exports are counted: {stats:?}");
    assert_eq!(stats.exported, 0);

    // The backend comes up on the configured port; export resumes.
    let _rotel = Rotel::start_on(
        grpc_port,
        support::free_port(),
        &receiver.http_endpoint(),
        ForwardProtocol::Http,
    );
    let deadline = std::time::Instant::now() + WAIT;
    while receiver.spans_named("after-recovery").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "export did not resume: {:?}",
            module.span_stats()
        );
        let (_, mut s) = ctx.start_span("after-recovery", SpanOptions::new());
        s.end();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(module.span_stats().exported > 0);
    t.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// A collector that accepts connections and never answers: shutdown is a timeout, not a
/// failure, and every span ended is counted once (exported + failed + dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_against_a_silent_collector_is_a_timeout_that_accounts_for_every_span() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and hold every connection, answering nothing.
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let holder = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            holder.lock().unwrap().push(stream);
        }
    });
    let yaml = format!(
        "tracing:\n  exporter: otlp\n  protocol: http/protobuf\n  endpoint: \"http://{addr}\"\n  \
         timeout: 30s\n  batch:\n    scheduled_delay: 50ms\n    max_batch_size: 100\n    \
         max_queue_size: 2048\nmetrics:\n  enabled: false\n"
    );
    let (t, module) = build(&yaml).await;
    let ctx = t.context();
    const ENDED: u64 = 1000;
    for _ in 0..ENDED {
        let (_, mut s) = ctx.start_span("unanswered", SpanOptions::new());
        s.end();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let error = t
        .shutdown(Duration::from_secs(15))
        .await
        .expect_err("the collector never answers");
    assert_eq!(error.timed_out, ["otel"], "{error}");
    assert!(error.failed.is_empty(), "{error}");
    let stats = module.span_stats();
    assert_eq!(
        stats.exported + stats.failed + stats.dropped,
        ENDED,
        "every span accounted for once: {stats:?}"
    );
    assert_eq!(stats.exported, 0);
    // Exports still hanging when shutdown returned change nothing afterwards.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(module.span_stats(), stats);
    drop(held);
}

#[tokio::test]
async fn a_malformed_endpoint_is_a_config_error_naming_the_key() {
    let config = Config::from_yaml_str("tracing:\n  endpoint: \"http://exa mple:4317\"\n").unwrap();
    let err = Telemetry::builder()
        .module(OtelModule::new())
        .config(config)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tracing.endpoint`") && err.contains("exa mple"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipkin_retries_a_503_but_not_a_400() {
    let receiver = ZipkinReceiver::start().await;
    let (t, module) = build(&config("zipkin", "grpc", &receiver.endpoint(), "")).await;
    receiver.fail_next(1, 503);
    let (_, mut s) = t.context().start_span("retried", SpanOptions::new());
    s.end();
    t.flush(Duration::from_secs(10)).await.unwrap();
    receiver.wait_for_spans(1, WAIT).await;
    assert_eq!(receiver.attempts(), 2);
    receiver.fail_next(1, 400);
    let (_, mut s) = t.context().start_span("rejected", SpanOptions::new());
    s.end();
    let _ = t.flush(Duration::from_secs(10)).await;
    assert_eq!(receiver.attempts(), 3);
    assert_eq!(
        module.span_stats(),
        hyperion_otel::SpanExportStats {
            exported: 1,
            failed: 1,
            dropped: 0
        }
    );
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_guard_on_a_current_thread_runtime_delivers_every_grpc_span() {
    // The gRPC connection lives on the adapter's own runtime, so a guard dropped on a blocked
    // current-thread runtime still gets every span out.
    const N: usize = 10_000;
    let receiver = OtlpReceiver::start().await;
    let extra = "    max_queue_size: 20000\n";
    let (t, module) = build(&config("otlp", "grpc", &receiver.grpc_endpoint(), extra)).await;
    let guard = t.shutdown_guard(Duration::from_secs(30));
    for i in 0..N {
        let (_, mut s) = t.context().start_span("guarded", SpanOptions::new());
        s.set_attribute(kv("i", i));
        s.end();
    }
    drop(guard);
    assert_eq!(module.span_stats().exported, N as u64);
    assert_eq!(receiver.wait_for_spans(N, WAIT).await.len(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_respect_max_batch_size() {
    let receiver = OtlpReceiver::start().await;
    let extra = "    max_batch_size: 10\n";
    let (t, _) = build(&config(
        "otlp",
        "http/protobuf",
        &receiver.http_endpoint(),
        extra,
    ))
    .await;
    for _ in 0..35 {
        let (_, mut s) = t.context().start_span("batched", SpanOptions::new());
        s.end();
    }
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    receiver.wait_for_spans(35, WAIT).await;
    let sizes: Vec<usize> = receiver
        .requests()
        .iter()
        .map(|r| {
            r.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum()
        })
        .collect();
    assert!(sizes.iter().all(|n| *n <= 10), "batch sizes {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 35);
    assert!(sizes.len() >= 4, "batch sizes {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_retries_unavailable_but_not_invalid_argument() {
    let receiver = OtlpReceiver::start().await;
    let (t, module) = build(&config("otlp", "grpc", &receiver.grpc_endpoint(), "")).await;
    receiver.fail_next_grpc(2, tonic::Code::Unavailable);
    let (_, mut s) = t.context().start_span("retried", SpanOptions::new());
    s.end();
    t.flush(Duration::from_secs(10)).await.unwrap();
    receiver.wait_for_spans(1, WAIT).await;
    assert_eq!(receiver.grpc_attempts(), 3);
    receiver.fail_next_grpc(1, tonic::Code::InvalidArgument);
    let (_, mut s) = t.context().start_span("rejected", SpanOptions::new());
    s.end();
    let _ = t.flush(Duration::from_secs(10)).await;
    assert_eq!(
        receiver.grpc_attempts(),
        4,
        "INVALID_ARGUMENT is not retried"
    );
    assert_eq!(module.span_stats().failed, 1);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_retries_429_502_and_504() {
    for status in [429, 502, 504] {
        let receiver = OtlpReceiver::start().await;
        let (t, module) = build(&config(
            "otlp",
            "http/protobuf",
            &receiver.http_endpoint(),
            "",
        ))
        .await;
        receiver.fail_next(1, status);
        let (_, mut s) = t.context().start_span("retried", SpanOptions::new());
        s.end();
        t.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(receiver.http_attempts(), 2, "status {status}");
        assert_eq!(module.span_stats().exported, 1, "status {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_carries_service_namespace_and_otel_resource_attributes() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "service:\n  namespace: shop\ntracing:\n  protocol: grpc\n  endpoint: \"{}\"\n",
        receiver.grpc_endpoint()
    );
    let config = hyperion::ConfigLoader::new()
        .yaml(yaml)
        .env([
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=checkout,region=eu%20west",
            ),
            ("OTEL_SERVICE_NAME", ""),
        ])
        .set("metrics.port", 0)
        .load()
        .unwrap();
    let t = Telemetry::builder()
        .module(OtelModule::new())
        .config(config)
        .build()
        .await
        .unwrap();
    let (_, mut s) = t.context().start_span("r", SpanOptions::new());
    s.end();
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    let span = &receiver.wait_for_spans(1, WAIT).await[0];
    assert_eq!(
        span.resource_attr("service.namespace"),
        Some(AttrValue::from("shop"))
    );
    assert_eq!(
        span.resource_attr("region"),
        Some(AttrValue::from("eu west"))
    );
    assert_eq!(
        span.resource_attr("service.name"),
        Some(AttrValue::from("checkout"))
    );
    assert_eq!(
        span.resource_attr("telemetry.sdk.name"),
        Some(AttrValue::from("opentelemetry"))
    );
}

/// Exports over `https` through a TLS-terminating proxy whose certificate is signed by a CA made
/// for the test: with `tracing.certificate` naming that CA the spans arrive; without it the
/// handshake fails verification and the spans are counted as failed.
async fn over_tls(protocol: &str) {
    let receiver = OtlpReceiver::start().await;
    let (target, alpn) = if protocol == "grpc" {
        (receiver.grpc_addr(), "h2")
    } else {
        (receiver.http_addr(), "http/1.1")
    };
    let proxy = support::TlsProxy::start(target, &[alpn]).await;
    let trusted = format!("  certificate: \"{}\"\n", proxy.ca_file().display());
    let (t, module) = build(&config("otlp", protocol, &proxy.endpoint(), &trusted)).await;
    let trace_id = record_trace(&t).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_trace(&receiver.wait_for_spans(4, WAIT).await, &trace_id);
    assert!(proxy.handshakes() >= 1);
    assert_eq!(module.span_stats().exported, 4);

    receiver.clear();
    let untrusted = "  timeout: 2s\n";
    let (t, module) = build(&config("otlp", protocol, &proxy.endpoint(), untrusted)).await;
    let (_, mut s) = t.context().start_span("untrusted", SpanOptions::new());
    s.end();
    let _ = t.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        module.span_stats().failed,
        1,
        "{protocol}: {:?}",
        module.span_stats()
    );
    assert!(receiver.spans().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_verifies_the_collector() {
    over_tls("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_over_tls_verifies_the_collector() {
    over_tls("http/protobuf").await;
}

/// Each signal reaches the collector with its own transport and headers when it has them
/// (`tracing.traces`, `.metrics`, `.logs`, as the `OTEL_EXPORTER_OTLP_{SIGNAL}_*` variables set
/// them), and with the general ones otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_signal_uses_its_own_protocol_and_headers() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  exporter: otlp\n  endpoint: \"{grpc}\"\n  protocol: grpc\n  \
         headers: {{x-general: g}}\n  batch: {{scheduled_delay: 100ms}}\n  \
         metrics: {{protocol: http/protobuf, headers: {{x-signal: metrics}}}}\n  \
         logs: {{protocol: http/json, headers: {{x-signal: logs}}}}\n\
         metrics:\n  exporter: otlp\n  interval: 200ms\n\
         logging:\n  otlp: true\n  level: info\n  batch: {{scheduled_delay: 100ms}}\n",
        grpc = receiver.grpc_endpoint()
    );
    // The metrics and logs go to the receiver's HTTP port: their own endpoints, as given.
    let config = ConfigLoader::new()
        .yaml(&yaml)
        .set(
            "tracing.metrics_endpoint",
            format!("{}/v1/metrics", receiver.http_endpoint()),
        )
        .set(
            "tracing.logs_endpoint",
            format!("{}/v1/logs", receiver.http_endpoint()),
        )
        .load()
        .unwrap();
    let telemetry = Telemetry::builder()
        .module(OtelModule::new())
        .config(config)
        .build()
        .await
        .unwrap();
    let ctx = telemetry.context();
    let (ctx, mut span) = ctx.start_span("work", SpanOptions::server());
    telemetry
        .meter("m")
        .counter("jobs")
        .build()
        .add(&ctx, 1, &[]);
    ctx.log().info("working", &[]);
    span.end();
    telemetry.shutdown(Duration::from_secs(10)).await.unwrap();

    receiver.wait_for_spans(1, WAIT).await;
    receiver.wait_for_metric("jobs", WAIT).await;
    receiver.wait_for_logs(1, WAIT).await;
    let mut deliveries = receiver.deliveries();
    deliveries.extend(receiver.signal_deliveries());
    let find = |path: &str| {
        deliveries
            .iter()
            .find(|d| d.path.ends_with(path))
            .unwrap_or_else(|| panic!("nothing delivered to {path}: {deliveries:#?}"))
    };
    let traces = find("TraceService/Export");
    assert_eq!(traces.transport, Transport::Grpc);
    assert_eq!(traces.header("x-general"), Some("g"));
    assert_eq!(traces.header("x-signal"), None);
    let metrics = find("/v1/metrics");
    assert_eq!(metrics.transport, Transport::Http);
    assert_eq!(metrics.content_type, "application/x-protobuf");
    assert_eq!(metrics.header("x-general"), Some("g"));
    assert_eq!(metrics.header("x-signal"), Some("metrics"));
    let logs = find("/v1/logs");
    assert_eq!(logs.content_type, "application/json");
    assert_eq!(logs.header("x-signal"), Some("logs"));
}
