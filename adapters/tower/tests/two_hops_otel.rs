//! The two-hop test through the `otel` adapter: spans exported over OTLP/gRPC to a real rotel
//! collector, which forwards them to an in-test receiver where they are decoded and asserted;
//! the duration histograms scraped from the Prometheus endpoint with exemplars that name the
//! exported spans.

mod common;
#[path = "../../otel/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use hyperion::{Config, Telemetry};
use hyperion_otel::OtelModule;
use support::{AttrValue, ForwardProtocol, OtlpReceiver, Rotel, SpanKind};

use common::{PARENT_ID, TRACE_ID, TRACEPARENT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hops_arrive_at_the_collector_as_one_trace_with_exemplars_on_prometheus() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let yaml = format!(
        "service:\n  name: shop\ntracing:\n  exporter: otlp\n  protocol: grpc\n  endpoint: \"{}\"\n  \
         sample_rate: 1.0\n  batch:\n    scheduled_delay: 100ms\n\
         metrics:\n  exporter: prometheus\n  port: 0\n  bind_address: 127.0.0.1\n\
         logging:\n  level: error\n",
        rotel.grpc_endpoint()
    );
    let module = OtelModule::new();
    let telemetry = Telemetry::builder()
        .module(module.clone())
        .config(Config::from_yaml_str(&yaml).unwrap())
        .build()
        .await
        .unwrap();
    let a = common::two_services(&telemetry).await;
    let response = common::http_client()
        .get(format!("http://{a}/orders/1"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let traceresponse = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    response.text().await.unwrap();

    // Scrape before shutdown: the endpoint goes with the telemetry.
    let endpoint = module.prometheus_endpoint().expect("a Prometheus endpoint");
    let scrape_url = format!(
        "http://{}{}",
        endpoint.local_addr().unwrap(),
        endpoint.path()
    );
    let mut scraped = String::new();
    for _ in 0..100 {
        scraped = common::http_client()
            .get(&scrape_url)
            .header("accept", "application/openmetrics-text; version=1.0.0")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if scraped.contains("http_client_request_duration_seconds_bucket") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    telemetry.shutdown(Duration::from_secs(10)).await.unwrap();

    let spans = receiver.wait_for_spans(3, Duration::from_secs(20)).await;
    let find = |name: &str, kind: SpanKind| {
        spans
            .iter()
            .find(|s| s.name == name && s.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} span {name}: {spans:#?}"))
    };
    let a_server = find("GET /orders/{id}", SpanKind::Server);
    let client = find("GET /users/{id}", SpanKind::Client);
    let b_server = find("GET /users/{id}", SpanKind::Server);
    for span in [a_server, client, b_server] {
        assert_eq!(span.trace_id, TRACE_ID, "{span}");
        assert_eq!(
            span.resource_attr("service.name"),
            Some(AttrValue::Str("shop".into()))
        );
    }
    assert_eq!(a_server.parent_span_id, PARENT_ID);
    assert_eq!(client.parent_span_id, a_server.span_id);
    assert_eq!(b_server.parent_span_id, client.span_id);
    assert_eq!(
        traceresponse,
        format!("00-{TRACE_ID}-{}-01", a_server.span_id)
    );
    assert_eq!(
        b_server.attr("http.route"),
        Some(AttrValue::Str("/users/{id}".into()))
    );
    assert_eq!(
        b_server.attr("http.response.status_code"),
        Some(AttrValue::Int(200))
    );
    assert_eq!(
        client.attr("http.response.status_code"),
        Some(AttrValue::Int(200))
    );
    assert_eq!(
        client.attr("server.address"),
        Some(AttrValue::Str("127.0.0.1".into()))
    );

    // The exemplars on the scraped histograms point at the exported spans.
    for (metric, span) in [
        ("http_server_request_duration_seconds_bucket", a_server),
        ("http_client_request_duration_seconds_bucket", client),
    ] {
        let exemplar = format!("trace_id=\"{TRACE_ID}\",span_id=\"{}\"", span.span_id);
        assert!(
            scraped
                .lines()
                .any(|l| l.starts_with(metric) && l.contains(&exemplar)),
            "no exemplar {exemplar} on {metric} in:\n{scraped}"
        );
    }
}
