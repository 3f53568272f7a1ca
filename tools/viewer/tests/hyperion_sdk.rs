//! Our own SDK side: hyperion's `otel` module exporting to the viewer over each OTLP protocol
//! (gRPC, HTTP/protobuf, HTTP/JSON — the last one a real exporter's JSON, decoded by the
//! viewer), and the viewer scraping the module's Prometheus endpoint for exemplars, which OTLP
//! metrics from the Rust SDK do not carry.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use hyperion::{Config, SpanOptions, Telemetry, kv};
use hyperion_otel::OtelModule;
use hyperion_viewer::{Viewer, ViewerConfig};
use serde_json::Value as Json;
use support::*;

const WAIT: Duration = Duration::from_secs(15);

async fn telemetry(yaml: &str) -> Telemetry {
    let config = Config::from_yaml_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    Telemetry::builder()
        .module(OtelModule::new())
        .config(config)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A checkout: a SERVER span, an intercepted call in it that logs and counts; returns the
/// trace id and the intercepted call's span id.
async fn checkout(t: &Telemetry) -> (String, String) {
    let calls = t.meter("shop").counter("shop.lookups").build();
    let (ctx, mut request) = t
        .context()
        .start_span("POST /checkout", SpanOptions::server());
    let trace_id = request.span_context().trace_id().to_string();
    let span_id: Result<String, std::io::Error> = ctx
        .intercept("UserService", "GetUser", |ctx| async move {
            ctx.log().info("fetching user", &[kv("user.id", "42")]);
            calls.add(&ctx, 1, &[kv("method", "GetUser")]);
            Ok(ctx.span_context().span_id().to_string())
        })
        .await;
    request.end();
    (trace_id, span_id.unwrap())
}

async fn wait_for_series(
    viewer: &Viewer,
    name: &str,
    service: &str,
    exemplar_of: Option<&str>,
) -> Json {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, metrics) = get_json(viewer, "/api/metrics").await;
        let found = metrics.as_array().unwrap().iter().find(|s| {
            s["name"] == name
                && s["service"] == service
                && exemplar_of.is_none_or(|t| {
                    s["exemplars"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["trace_id"] == t)
                })
        });
        if let Some(series) = found {
            return series.clone();
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "no series {name} of {service} (exemplar of {exemplar_of:?}) within {WAIT:?}: {metrics}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyperion_otel_sends_spans_logs_and_metrics_over_each_otlp_protocol() {
    let viewer = viewer().await;
    for protocol in ["grpc", "http/protobuf", "http/json"] {
        let endpoint = if protocol == "grpc" {
            viewer.otlp_grpc_endpoint()
        } else {
            viewer.otlp_http_endpoint()
        };
        let service = format!("shop-{}", protocol.replace('/', "-"));
        let yaml = format!(
            "service:\n  name: {service}\ntracing:\n  exporter: otlp\n  protocol: {protocol}\n  \
             endpoint: \"{endpoint}\"\n  batch:\n    scheduled_delay: 100ms\n\
             metrics:\n  exporter: otlp\n  interval: 1h\nlogging:\n  otlp: true\n  output: stderr\n"
        );
        let t = telemetry(&yaml).await;
        let (trace_id, span_id) = checkout(&t).await;
        t.shutdown(Duration::from_secs(10)).await.unwrap();

        let trace = wait_for_trace(&viewer, &trace_id, 2, WAIT).await;
        assert_eq!(trace["root_name"], "POST /checkout", "{protocol}: {trace}");
        assert_eq!(trace["services"], serde_json::json!([service]));
        let spans = trace["spans"].as_array().unwrap();
        assert_eq!(spans[1]["name"], "UserService.GetUser", "{protocol}");
        assert_eq!(spans[1]["span_id"], span_id.as_str());
        assert_eq!(spans[1]["depth"], 1);
        let logs = trace["logs"].as_array().unwrap();
        let line = logs
            .iter()
            .find(|l| l["body"] == "fetching user")
            .unwrap_or_else(|| panic!("{protocol}: no log line in {trace}"));
        assert_eq!(line["span_id"], span_id.as_str(), "{protocol}");
        assert_eq!(line["attributes"]["user.id"], "42");
        assert_eq!(line["severity"], "INFO");
        // Metrics over OTLP: the counter and the intercept's own instruments, with exemplars
        // (hyperion's own OTLP metrics; the Rust SDK's carry none) naming the call's span.
        let lookups = wait_for_series(&viewer, "shop.lookups", &service, None).await;
        assert_eq!(lookups["kind"], "counter", "{protocol}");
        assert_eq!(lookups["points"][0]["value"]["number"], 1.0);
        let calls = wait_for_series(
            &viewer,
            "hyperion.intercept.calls",
            &service,
            Some(&trace_id),
        )
        .await;
        let exemplar = calls["exemplars"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["trace_id"] == trace_id.as_str())
            .unwrap();
        assert_eq!(exemplar["span_id"], span_id.as_str(), "{protocol}: {calls}");
    }
    viewer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exemplars_of_a_hyperion_service_come_from_scraping_its_prometheus_endpoint() {
    // The endpoint's port must be known before the viewer starts: take a free one.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let viewer = Viewer::start(ViewerConfig {
        scrape: vec![
            format!("shop=http://127.0.0.1:{port}/metrics")
                .parse()
                .unwrap(),
        ],
        scrape_interval: Duration::from_millis(200),
        ..ViewerConfig::ephemeral()
    })
    .await
    .unwrap();
    let yaml = format!(
        "service:\n  name: shop\ntracing:\n  exporter: otlp\n  endpoint: \"{}\"\n  batch:\n    \
         scheduled_delay: 100ms\nmetrics:\n  exporter: prometheus\n  port: {port}\n  \
         bind_address: 127.0.0.1\n  namespace: shop\nlogging:\n  output: stderr\n",
        viewer.otlp_grpc_endpoint()
    );
    let t = telemetry(&yaml).await;
    let (trace_id, span_id) = checkout(&t).await;
    t.flush(Duration::from_secs(10)).await.unwrap();

    let counter = wait_for_series(&viewer, "shop_lookups", "shop", Some(&trace_id)).await;
    assert_eq!(counter["kind"], "counter");
    assert_eq!(
        counter["exemplars"][0]["span_id"],
        span_id.as_str(),
        "{counter}"
    );
    let duration = wait_for_series(
        &viewer,
        "shop_hyperion_intercept_duration_seconds",
        "shop",
        Some(&trace_id),
    )
    .await;
    assert_eq!(duration["kind"], "histogram", "{duration}");
    assert_eq!(
        duration["points"].as_array().unwrap().last().unwrap()["value"]["histogram"]["count"],
        1
    );
    // And the exemplar's trace is there to link to.
    let trace = wait_for_trace(&viewer, &trace_id, 2, WAIT).await;
    assert!(
        trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["span_id"] == span_id.as_str())
    );
    let (_, page) = get_text(&viewer, "/metrics").await;
    assert!(
        page.contains(&format!("/traces/{trace_id}#span-{span_id}")),
        "{page}"
    );
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    viewer.shutdown().await.unwrap();
}
