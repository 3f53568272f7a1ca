//! Through the `otel` adapter to a real collector: statements traced into OTLP/gRPC to rotel,
//! which forwards them to an in-test receiver where they are decoded and asserted; the duration
//! histogram scraped from the adapter's Prometheus endpoint with an exemplar naming the span.

#![cfg(feature = "postgres")]

#[path = "../../otel/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use hyperion::{Config, SpanOptions, Telemetry};
use hyperion_otel::OtelModule;
use hyperion_sqlx::TracedPool;
use support::{AttrValue, ForwardProtocol, OtlpReceiver, Rotel, SpanKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn database_url() -> String {
    std::env::var("HYPERION_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `GET` over a plain TCP connection (HTTP/1.0, so the server closes when done).
async fn scrape(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_arrive_at_the_collector_with_their_exemplars_on_prometheus() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let yaml = format!(
        "service:\n  name: orders\ntracing:\n  exporter: otlp\n  protocol: grpc\n  endpoint: \"{}\"\n  \
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
    let plain = sqlx::PgPool::connect(&database_url())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {} ({e})", database_url()));
    let pool = TracedPool::new(plain, &telemetry);

    let (ctx, mut handler) = telemetry
        .context()
        .start_span("GET /orders", SpanOptions::server());
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_catalog.pg_class WHERE relname <> 'x'")
            .fetch_one(pool.with(&ctx))
            .await
            .unwrap();
    assert!(n > 0);
    handler.end();
    let trace_id = handler.span_context().trace_id().to_string();

    let endpoint = module.prometheus_endpoint().expect("a Prometheus endpoint");
    let addr = endpoint.local_addr().unwrap();
    let mut scraped = String::new();
    for _ in 0..100 {
        scraped = scrape(addr, endpoint.path()).await;
        if scraped.contains("db_client_operation_duration_seconds_bucket") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    telemetry.shutdown(Duration::from_secs(10)).await.unwrap();

    let spans = receiver.wait_for_spans(2, Duration::from_secs(20)).await;
    let select = spans
        .iter()
        .find(|s| s.name == "SELECT pg_catalog.pg_class")
        .unwrap_or_else(|| panic!("no SELECT span: {spans:#?}"));
    let server = spans.iter().find(|s| s.name == "GET /orders").unwrap();
    assert_eq!(select.kind, SpanKind::Client);
    assert_eq!(select.trace_id, trace_id);
    assert_eq!(select.parent_span_id, server.span_id);
    assert_eq!(
        select.resource.get("service.name"),
        Some(&AttrValue::Str("orders".into()))
    );
    for (key, value) in [
        ("db.system.name", AttrValue::Str("postgresql".into())),
        ("db.namespace", AttrValue::Str("test".into())),
        ("server.address", AttrValue::Str("127.0.0.1".into())),
        ("server.port", AttrValue::Int(5432)),
        (
            "db.query.summary",
            AttrValue::Str("SELECT pg_catalog.pg_class".into()),
        ),
        (
            "db.query.text",
            AttrValue::Str("SELECT count(*) FROM pg_catalog.pg_class WHERE relname <> ?".into()),
        ),
        ("db.response.returned_rows", AttrValue::Int(1)),
    ] {
        assert_eq!(select.attr(key), Some(value), "{key} on {select}");
    }

    let exemplar = format!("trace_id=\"{trace_id}\",span_id=\"{}\"", select.span_id);
    assert!(
        scraped.lines().any(
            |l| l.starts_with("db_client_operation_duration_seconds_bucket")
                && l.contains(&exemplar)
        ),
        "no exemplar {exemplar} in:\n{scraped}"
    );
}
