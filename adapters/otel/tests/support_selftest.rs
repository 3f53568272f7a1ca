//! Proves the shared test helpers in `tests/support` work: the OTLP receiver decodes what the
//! OTLP encodings carry (protobuf, gzip, JSON, gRPC), rotel forwards to it over HTTP and gRPC,
//! and the Zipkin receiver decodes span arrays.

mod support;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use serde_json::json;
use support::{
    AttrValue, ExportTraceServiceRequest, ForwardProtocol, OtlpReceiver, Rotel, SpanKind,
    StatusCode, Transport, ZipkinReceiver,
};
use tonic::codec::CompressionEncoding;

const WAIT: Duration = Duration::from_secs(15);

const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const TRACE_ID_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
const SPAN_ID_HEX: &str = "00f067aa0ba902b7";
const PARENT_ID: [u8; 8] = [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8];
const PARENT_ID_HEX: &str = "53995c3f42cd8ad8";
const LINK_SPAN_HEX: &str = "1111111111111111";

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_owned())
}

/// A request with one span that uses every field the helpers flatten.
fn sample_request(name: &str) -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        parent_span_id: PARENT_ID.to_vec(),
        trace_state: "vendor=1".to_owned(),
        name: name.to_owned(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes: vec![
            kv("http.route", string("/orders/{id}")),
            kv("http.status_code", any_value::Value::IntValue(503)),
            kv("retry", any_value::Value::BoolValue(true)),
            kv("ratio", any_value::Value::DoubleValue(0.25)),
            kv(
                "tags",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(string("a")),
                        },
                        AnyValue {
                            value: Some(string("b")),
                        },
                    ],
                }),
            ),
        ],
        events: vec![span::Event {
            time_unix_nano: 1_700_000_000_100_000_000,
            name: "exception".to_owned(),
            attributes: vec![kv("exception.message", string("boom"))],
            dropped_attributes_count: 0,
        }],
        links: vec![span::Link {
            trace_id: TRACE_ID.to_vec(),
            span_id: vec![0x11; 8],
            trace_state: String::new(),
            attributes: vec![kv("link.kind", string("follows"))],
            dropped_attributes_count: 0,
            flags: 0,
        }],
        status: Some(Status {
            message: "upstream unavailable".to_owned(),
            code: StatusCode::Error as i32,
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", string("selftest"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "hyperion".to_owned(),
                    version: "0.1.0".to_owned(),
                    ..Default::default()
                }),
                spans: vec![span],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// The same request as OTLP/JSON writes it: hex ids, enums as numbers, 64-bit ints as strings.
fn sample_json(name: &str) -> serde_json::Value {
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                { "key": "service.name", "value": { "stringValue": "selftest" } }
            ]},
            "scopeSpans": [{
                "scope": { "name": "hyperion", "version": "0.1.0" },
                "spans": [{
                    "traceId": TRACE_ID_HEX,
                    "spanId": SPAN_ID_HEX,
                    "parentSpanId": PARENT_ID_HEX,
                    "traceState": "vendor=1",
                    "name": name,
                    "kind": 2,
                    "startTimeUnixNano": "1700000000000000000",
                    "endTimeUnixNano": "1700000000250000000",
                    "attributes": [
                        { "key": "http.route", "value": { "stringValue": "/orders/{id}" } },
                        { "key": "http.status_code", "value": { "intValue": "503" } },
                        { "key": "retry", "value": { "boolValue": true } },
                        { "key": "ratio", "value": { "doubleValue": 0.25 } },
                        { "key": "tags", "value": { "arrayValue": { "values": [
                            { "stringValue": "a" }, { "stringValue": "b" }
                        ]}}}
                    ],
                    "events": [{
                        "timeUnixNano": "1700000000100000000",
                        "name": "exception",
                        "attributes": [
                            { "key": "exception.message", "value": { "stringValue": "boom" } }
                        ]
                    }],
                    "links": [{
                        "traceId": TRACE_ID_HEX,
                        "spanId": LINK_SPAN_HEX,
                        "attributes": [
                            { "key": "link.kind", "value": { "stringValue": "follows" } }
                        ]
                    }],
                    "status": { "code": 2, "message": "upstream unavailable" }
                }]
            }]
        }]
    })
}

/// Checks every flattened field of the sample span.
fn assert_sample_span(span: &support::ReceivedSpan, name: &str) {
    assert_eq!(span.name, name);
    assert_eq!(span.trace_id, TRACE_ID_HEX);
    assert_eq!(span.span_id, SPAN_ID_HEX);
    assert_eq!(span.parent_span_id, PARENT_ID_HEX);
    assert!(!span.is_root());
    assert_eq!(span.trace_state, "vendor=1");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.status_code, StatusCode::Error);
    assert_eq!(span.status_message, "upstream unavailable");
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_250_000_000);
    assert_eq!(span.resource_attr("service.name"), Some("selftest".into()));
    assert_eq!(span.scope_name, "hyperion");
    assert_eq!(span.scope_version, "0.1.0");
    assert_eq!(span.attr("http.route"), Some("/orders/{id}".into()));
    assert_eq!(span.attr("http.status_code"), Some(AttrValue::Int(503)));
    assert_eq!(span.attr("retry"), Some(true.into()));
    assert_eq!(span.attr("ratio").and_then(|v| v.as_f64()), Some(0.25));
    assert_eq!(
        span.attr("tags"),
        Some(AttrValue::Array(vec!["a".into(), "b".into()]))
    );
    assert_eq!(span.attr("missing"), None);
    assert_eq!(span.attributes.len(), 5);

    assert_eq!(span.events.len(), 1);
    let event = span.event("exception").expect("the exception event");
    assert_eq!(event.time_unix_nano, 1_700_000_000_100_000_000);
    assert_eq!(event.attr("exception.message"), Some("boom".into()));

    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].trace_id, TRACE_ID_HEX);
    assert_eq!(span.links[0].span_id, LINK_SPAN_HEX);
    assert_eq!(
        span.links[0].attributes.get("link.kind"),
        Some(&"follows".into())
    );
}

fn http_client() -> reqwest::Client {
    // The adapter's `http-tls` feature builds reqwest without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build the HTTP client")
}

async fn grpc_client(endpoint: String) -> TraceServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .expect("a valid endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect over gRPC");
    TraceServiceClient::new(channel)
}

#[tokio::test]
async fn receiver_decodes_gzip_protobuf_over_http() {
    let rx = OtlpReceiver::start().await;
    let body = support::gzip(&sample_request("gzip-protobuf").encode_to_vec());
    let response = http_client()
        .post(format!("{}/v1/traces", rx.http_endpoint()))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .header("x-api-key", "secret")
        .body(body)
        .send()
        .await
        .expect("POST to the receiver");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/x-protobuf"
    );
    let reply = response.bytes().await.unwrap();
    support::ExportTraceServiceResponse::decode(reply).expect("a protobuf response");

    let spans = rx.wait_for_spans(1, WAIT).await;
    assert_eq!(spans.len(), 1);
    assert_sample_span(&spans[0], "gzip-protobuf");
    assert_eq!(rx.requests(), vec![sample_request("gzip-protobuf")]);
    assert_eq!(rx.content_types_seen(), ["application/x-protobuf+gzip"]);
    assert_eq!(rx.http_attempts(), 1);
    assert_eq!(rx.grpc_attempts(), 0);
    let delivery = &rx.deliveries()[0];
    assert_eq!(delivery.transport, Transport::Http);
    assert_eq!(delivery.path, "/v1/traces");
    assert_eq!(delivery.header("X-Api-Key"), Some("secret"));
}

#[tokio::test]
async fn receiver_decodes_plain_protobuf_and_json_over_http() {
    let rx = OtlpReceiver::start().await;
    let client = http_client();

    let response = client
        .post(format!("{}/v1/traces", rx.http_endpoint()))
        .header("content-type", "application/x-protobuf")
        .body(sample_request("plain-protobuf").encode_to_vec())
        .send()
        .await
        .expect("POST protobuf");
    assert_eq!(response.status(), 200);

    let response = client
        .post(format!("{}/v1/traces", rx.http_endpoint()))
        .header("content-type", "application/json")
        .body(sample_json("json").to_string())
        .send()
        .await
        .expect("POST JSON");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(response.text().await.unwrap(), "{}");

    let spans = rx.wait_for_spans(2, WAIT).await;
    assert_sample_span(&spans[0], "plain-protobuf");
    assert_sample_span(&spans[1], "json");
    // JSON and protobuf decode to the same message.
    assert_eq!(rx.requests()[1], sample_request("json"));
    assert_eq!(
        rx.content_types_seen(),
        ["application/x-protobuf", "application/json"]
    );
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
}

#[tokio::test]
async fn receiver_decodes_grpc_plain_and_gzip() {
    let rx = OtlpReceiver::start().await;
    let mut client = grpc_client(rx.grpc_endpoint()).await;
    client
        .export(sample_request("grpc"))
        .await
        .expect("export over gRPC");
    let mut gzip_client = client.clone().send_compressed(CompressionEncoding::Gzip);
    gzip_client
        .export(sample_request("grpc-gzip"))
        .await
        .expect("export over gzip gRPC");

    let spans = rx.wait_for_spans(2, WAIT).await;
    assert_sample_span(&spans[0], "grpc");
    assert_sample_span(&spans[1], "grpc-gzip");
    assert_eq!(
        rx.content_types_seen(),
        ["application/grpc", "application/grpc+gzip"]
    );
    assert_eq!(rx.grpc_attempts(), 2);
    assert_eq!(rx.http_attempts(), 0);
    assert!(
        rx.deliveries()
            .iter()
            .all(|d| d.transport == Transport::Grpc)
    );
}

#[tokio::test]
async fn receiver_injects_failures_and_rejects_bad_requests() {
    let rx = OtlpReceiver::start().await;
    let client = http_client();
    let url = format!("{}/v1/traces", rx.http_endpoint());
    let post = |body: Vec<u8>, content_type: &'static str| {
        client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    rx.fail_next(1, 503);
    rx.fail_next(1, 400);
    let proto = sample_request("retried").encode_to_vec();
    let statuses = [
        post(proto.clone(), "application/x-protobuf")
            .await
            .unwrap()
            .status(),
        post(proto.clone(), "application/x-protobuf")
            .await
            .unwrap()
            .status(),
        post(proto.clone(), "application/x-protobuf")
            .await
            .unwrap()
            .status(),
        post(b"not protobuf at all".to_vec(), "application/x-protobuf")
            .await
            .unwrap()
            .status(),
        post(proto.clone(), "text/plain").await.unwrap().status(),
    ];
    assert_eq!(statuses, [503, 400, 200, 400, 415]);
    assert_eq!(rx.http_attempts(), 5);
    assert_eq!(rx.spans().len(), 1, "only the accepted request is stored");
    assert_eq!(rx.errors().len(), 2, "{:?}", rx.errors());
    let wrong_path = client
        .post(format!("{}/v1/unknown", rx.http_endpoint()))
        .body(proto)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_path.status(), 404);
    assert_eq!(rx.http_attempts(), 5, "other paths are not attempts");
    assert_eq!(
        rx.deliveries().iter().map(|d| d.status).collect::<Vec<_>>(),
        [503, 400, 200, 400, 415, 404]
    );

    // gRPC failures carry the injected code.
    rx.fail_next_grpc(1, tonic::Code::Unavailable);
    let mut grpc = grpc_client(rx.grpc_endpoint()).await;
    let status = grpc.export(sample_request("grpc")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    grpc.export(sample_request("grpc"))
        .await
        .expect("the second call succeeds");
    assert_eq!(rx.grpc_attempts(), 2);
    assert_eq!(rx.spans_named("grpc").len(), 1);

    // A delay holds the answer back.
    rx.delay_responses(Duration::from_millis(300));
    let started = std::time::Instant::now();
    grpc.export(sample_request("slow")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    rx.clear();
    assert!(rx.spans().is_empty() && rx.deliveries().is_empty());
    assert_eq!(rx.http_attempts() + rx.grpc_attempts(), 0);
}

#[tokio::test]
async fn rotel_forwards_over_http() {
    let rx = OtlpReceiver::start().await;
    let rotel = Rotel::start(&rx.http_endpoint(), ForwardProtocol::Http);
    let response = http_client()
        .post(rotel.http_traces_url())
        .header("content-type", "application/json")
        .body(sample_json("via-rotel-http").to_string())
        .send()
        .await
        .expect("POST to rotel");
    assert!(
        response.status().is_success(),
        "rotel answered {}\n{}",
        response.status(),
        rotel.output()
    );

    let spans = rx.wait_for_spans(1, WAIT).await;
    assert_eq!(spans[0].name, "via-rotel-http");
    assert_eq!(spans[0].trace_id, TRACE_ID_HEX);
    assert_eq!(spans[0].span_id, SPAN_ID_HEX);
    assert_eq!(spans[0].attr("http.status_code"), Some(AttrValue::Int(503)));
    let delivery = &rx.deliveries()[0];
    assert_eq!(delivery.transport, Transport::Http);
    assert_eq!(delivery.path, "/v1/traces");
    assert_eq!(
        rx.content_types_seen()[0],
        "application/x-protobuf+gzip",
        "rotel forwards gzip-compressed protobuf"
    );
}

#[tokio::test]
async fn rotel_forwards_over_grpc() {
    let rx = OtlpReceiver::start().await;
    let rotel = Rotel::start(&rx.grpc_endpoint(), ForwardProtocol::Grpc);
    let mut client = grpc_client(rotel.grpc_endpoint()).await;
    client
        .export(sample_request("via-rotel-grpc"))
        .await
        .unwrap_or_else(|e| panic!("export to rotel: {e}\n{}", rotel.output()));

    let spans = rx.wait_for_spans(1, WAIT).await;
    assert_eq!(spans[0].name, "via-rotel-grpc");
    assert_eq!(spans[0].trace_id, TRACE_ID_HEX);
    assert_eq!(
        spans[0].resource_attr("service.name"),
        Some("selftest".into())
    );
    assert_eq!(rx.deliveries()[0].transport, Transport::Grpc);
    assert_eq!(
        rx.content_types_seen()[0],
        "application/grpc+gzip",
        "rotel forwards gzip-compressed gRPC"
    );
}

#[tokio::test]
async fn rotel_starts_on_reserved_ports_and_dies_on_drop() {
    let rx = OtlpReceiver::start().await;
    let (grpc_port, http_port) = (support::free_port(), support::free_port());
    assert_ne!(grpc_port, http_port);
    let rotel = Rotel::start_on(
        grpc_port,
        http_port,
        &rx.http_endpoint(),
        ForwardProtocol::Http,
    );
    assert_eq!(
        rotel.grpc_endpoint(),
        format!("http://127.0.0.1:{grpc_port}")
    );
    assert_eq!(
        rotel.http_endpoint(),
        format!("http://127.0.0.1:{http_port}")
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", http_port)).is_ok());
    drop(rotel);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err(),
        "rotel still listens after drop"
    );
}

#[test]
#[should_panic(expected = "is in use")]
fn rotel_refuses_a_busy_port() {
    let busy = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let _rotel = Rotel::start_on(
        support::free_port(),
        busy_port,
        "http://127.0.0.1:9",
        ForwardProtocol::Http,
    );
}

#[tokio::test]
async fn zipkin_receiver_decodes_span_arrays() {
    let zipkin = ZipkinReceiver::start().await;
    assert!(zipkin.endpoint().ends_with("/api/v2/spans"));
    let spans = json!([
        {
            "traceId": TRACE_ID_HEX,
            "id": SPAN_ID_HEX,
            "parentId": PARENT_ID_HEX,
            "name": "get /orders",
            "kind": "SERVER",
            "timestamp": 1_700_000_000_000_000u64,
            "duration": 250_000,
            "localEndpoint": { "serviceName": "selftest" },
            "tags": { "http.route": "/orders/{id}", "error": "upstream unavailable" }
        },
        {
            "traceId": TRACE_ID_HEX,
            "id": LINK_SPAN_HEX,
            "name": "select",
            "kind": "CLIENT",
            "localEndpoint": { "serviceName": "selftest" }
        }
    ]);
    let client = http_client();
    let response = client
        .post(zipkin.endpoint())
        .header("content-type", "application/json")
        .body(spans.to_string())
        .send()
        .await
        .expect("POST to the Zipkin receiver");
    assert_eq!(response.status(), 202);

    let received = zipkin.wait_for_spans(2, WAIT).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[0]["traceId"], TRACE_ID_HEX);
    assert_eq!(received[0]["id"], SPAN_ID_HEX);
    assert_eq!(received[0]["parentId"], PARENT_ID_HEX);
    assert_eq!(received[0]["kind"], "SERVER");
    assert_eq!(received[0]["localEndpoint"]["serviceName"], "selftest");
    assert_eq!(received[0]["tags"]["http.route"], "/orders/{id}");
    assert_eq!(received[1]["name"], "select");
    assert_eq!(zipkin.spans_named("select").len(), 1);

    // Gzip is accepted; an object that is not an array is not.
    let gzipped = support::gzip(
        json!([{ "traceId": TRACE_ID_HEX, "id": "22", "name": "gz" }])
            .to_string()
            .as_bytes(),
    );
    let response = client
        .post(zipkin.endpoint())
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzipped)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let response = client
        .post(zipkin.endpoint())
        .header("content-type", "application/json")
        .body(json!({ "not": "an array" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(zipkin.spans().len(), 3);
    assert_eq!(zipkin.attempts(), 3);
    assert_eq!(
        zipkin.content_types_seen(),
        [
            "application/json",
            "application/json+gzip",
            "application/json"
        ]
    );
}

#[test]
fn rotel_agent_is_installed() {
    let path = support::rotel_agent_path();
    assert!(path.is_file(), "{}", path.display());
}
