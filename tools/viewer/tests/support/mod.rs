//! What the viewer's integration tests share: a viewer on free ports, a three-service trace
//! with logs and an exemplar as three processes would export it, and senders for each OTLP
//! transport.

#![allow(dead_code)] // each test file uses a part

use std::io::Write as _;
use std::time::Duration;

use hyperion_viewer::{Limits, Viewer, ViewerConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use prost::Message as _;
use serde_json::Value as Json;

/// The base of every timestamp: 2026-01-01T00:00:00Z in Unix nanoseconds.
pub const T0: u64 = 1_767_225_600_000_000_000;
pub const MS: u64 = 1_000_000;

/// A viewer on free 127.0.0.1 ports with these limits.
pub async fn viewer_with(limits: Limits) -> Viewer {
    Viewer::start(ViewerConfig {
        limits,
        ..ViewerConfig::ephemeral()
    })
    .await
    .expect("the viewer starts on free ports")
}

/// A viewer on free ports with the default limits.
pub async fn viewer() -> Viewer {
    viewer_with(Limits::default()).await
}

/// A reqwest client. The workspace build can turn on reqwest's `rustls-no-provider` (the otel
/// adapter's tests do), with which building a client panics until a provider is installed.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a reqwest client")
}

pub fn s(value: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    })
}

pub fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        ..KeyValue::default()
    }
}

pub fn int(value: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::IntValue(value)),
    })
}

pub fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s(service)),
            kv("service.version", s("0.1.0")),
            kv("deployment.environment.name", s("local")),
        ],
        ..Resource::default()
    })
}

/// Span id `n` of the test trace: 8 bytes, distinct, never zero.
pub fn span_id(n: u8) -> Vec<u8> {
    vec![0xa0, 0, 0, 0, 0, 0, 0, n]
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A trace id that differs per `seed`.
pub fn trace_id(seed: u64) -> Vec<u8> {
    let mut id = vec![0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6];
    id.extend_from_slice(&seed.wrapping_add(1).to_be_bytes());
    id
}

struct SpanSpec {
    n: u8,
    parent: Option<u8>,
    name: &'static str,
    kind: SpanKind,
    start_ms: u64,
    end_ms: u64,
    error: bool,
}

/// The test trace, by service: (service, spans). 6 spans, gateway → user-service and
/// order-service; the waterfall order is 1, 2, 3, 4, 5, 6.
const TRACE: [(&str, &[SpanSpec]); 3] = [
    (
        "gateway",
        &[
            SpanSpec {
                n: 1,
                parent: None,
                name: "GET /orders/{id}",
                kind: SpanKind::Server,
                start_ms: 0,
                end_ms: 100,
                error: false,
            },
            SpanSpec {
                n: 2,
                parent: Some(1),
                name: "GET user-service",
                kind: SpanKind::Client,
                start_ms: 5,
                end_ms: 35,
                error: false,
            },
            SpanSpec {
                n: 4,
                parent: Some(1),
                name: "GET order-service",
                kind: SpanKind::Client,
                start_ms: 40,
                end_ms: 95,
                error: false,
            },
        ],
    ),
    (
        "user-service",
        &[SpanSpec {
            n: 3,
            parent: Some(2),
            name: "GET /users/{id}",
            kind: SpanKind::Server,
            start_ms: 10,
            end_ms: 30,
            error: false,
        }],
    ),
    (
        "order-service",
        &[
            SpanSpec {
                n: 5,
                parent: Some(4),
                name: "GET /orders",
                kind: SpanKind::Server,
                start_ms: 45,
                end_ms: 90,
                error: false,
            },
            SpanSpec {
                n: 6,
                parent: Some(5),
                name: "INSERT orders",
                kind: SpanKind::Client,
                start_ms: 50,
                end_ms: 80,
                error: true,
            },
        ],
    ),
];

/// The expected waterfall: (span name, service, depth, duration in ms), in order.
pub const WATERFALL: [(&str, &str, usize, u64); 6] = [
    ("GET /orders/{id}", "gateway", 0, 100),
    ("GET user-service", "gateway", 1, 30),
    ("GET /users/{id}", "user-service", 2, 20),
    ("GET order-service", "gateway", 1, 55),
    ("GET /orders", "order-service", 2, 45),
    ("INSERT orders", "order-service", 3, 30),
];

/// The test trace as three exports, one per service (gateway, user-service, order-service),
/// starting `offset_ms` after [`T0`].
pub fn three_service_trace(trace: &[u8], offset_ms: u64) -> Vec<ExportTraceServiceRequest> {
    TRACE
        .iter()
        .map(|(service, spans)| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(service),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "hyperion".into(),
                        version: "0.1.0".into(),
                        ..InstrumentationScope::default()
                    }),
                    spans: spans
                        .iter()
                        .map(|spec| {
                            let start = T0 + (offset_ms + spec.start_ms) * MS;
                            Span {
                                trace_id: trace.to_vec(),
                                span_id: span_id(spec.n),
                                parent_span_id: spec.parent.map(span_id).unwrap_or_default(),
                                name: spec.name.into(),
                                kind: spec.kind as i32,
                                start_time_unix_nano: start,
                                end_time_unix_nano: T0 + (offset_ms + spec.end_ms) * MS,
                                attributes: vec![
                                    kv("http.route", s(spec.name)),
                                    kv("span.number", int(i64::from(spec.n))),
                                    kv(
                                        "retry",
                                        Some(AnyValue {
                                            value: Some(any_value::Value::BoolValue(false)),
                                        }),
                                    ),
                                    kv(
                                        "ratio",
                                        Some(AnyValue {
                                            value: Some(any_value::Value::DoubleValue(0.25)),
                                        }),
                                    ),
                                ],
                                events: if spec.error {
                                    vec![Event {
                                        name: "exception".into(),
                                        time_unix_nano: start + 20 * MS,
                                        attributes: vec![kv(
                                            "exception.message",
                                            s("duplicate key"),
                                        )],
                                        ..Event::default()
                                    }]
                                } else {
                                    Vec::new()
                                },
                                links: if spec.n == 5 {
                                    vec![Link {
                                        trace_id: trace_id(999),
                                        span_id: span_id(9),
                                        attributes: vec![kv("link.reason", s("batch"))],
                                        ..Link::default()
                                    }]
                                } else {
                                    Vec::new()
                                },
                                status: spec.error.then(|| Status {
                                    code: status::StatusCode::Error as i32,
                                    message: "duplicate key value violates unique constraint"
                                        .into(),
                                }),
                                ..Span::default()
                            }
                        })
                        .collect(),
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        })
        .collect()
}

fn log(trace: &[u8], span: Option<u8>, at_ms: u64, severity: (&str, i32), body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: T0 + at_ms * MS,
        observed_time_unix_nano: T0 + at_ms * MS,
        severity_number: severity.1,
        severity_text: severity.0.into(),
        body: s(body),
        attributes: vec![kv("user.id", s("42"))],
        trace_id: trace.to_vec(),
        span_id: span.map(span_id).unwrap_or_default(),
        ..LogRecord::default()
    }
}

/// The test trace's log records: two under span 3 (user-service), one under span 6
/// (order-service), and one with the trace id but no span (gateway).
pub fn trace_logs(trace: &[u8]) -> ExportLogsServiceRequest {
    let group = |service: &str, records: Vec<LogRecord>| ResourceLogs {
        resource: resource(service),
        scope_logs: vec![ScopeLogs {
            scope: Some(InstrumentationScope {
                name: "hyperion".into(),
                ..InstrumentationScope::default()
            }),
            log_records: records,
            ..ScopeLogs::default()
        }],
        ..ResourceLogs::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![
            group(
                "user-service",
                vec![
                    log(trace, Some(3), 12, ("INFO", 9), "fetching user 42"),
                    log(trace, Some(3), 25, ("DEBUG", 5), "user 42 found in cache"),
                ],
            ),
            group(
                "order-service",
                vec![log(
                    trace,
                    Some(6),
                    79,
                    ("ERROR", 17),
                    "insert failed: duplicate key",
                )],
            ),
            group(
                "gateway",
                vec![log(trace, None, 99, ("WARN", 13), "slow request")],
            ),
        ],
    }
}

/// A histogram (with an exemplar of span 5 of `trace`) and a counter from order-service.
pub fn trace_metrics(trace: &[u8]) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("order-service"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "http.server.request.duration".into(),
                        description: "Duration of HTTP server requests.".into(),
                        unit: "s".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: vec![kv("http.route", s("/orders"))],
                                start_time_unix_nano: T0,
                                time_unix_nano: T0 + 1000 * MS,
                                count: 3,
                                sum: Some(0.125),
                                bucket_counts: vec![1, 2, 0],
                                explicit_bounds: vec![0.025, 0.05],
                                exemplars: vec![Exemplar {
                                    time_unix_nano: T0 + 90 * MS,
                                    span_id: span_id(5),
                                    trace_id: trace.to_vec(),
                                    value: Some(exemplar::Value::AsDouble(0.045)),
                                    ..Exemplar::default()
                                }],
                                min: Some(0.01),
                                max: Some(0.045),
                                ..HistogramDataPoint::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        })),
                        ..Metric::default()
                    },
                    Metric {
                        name: "orders.created".into(),
                        unit: "{order}".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                attributes: vec![kv("outcome", s("error"))],
                                time_unix_nano: T0 + 1000 * MS,
                                value: Some(number_data_point::Value::AsInt(7)),
                                ..NumberDataPoint::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })),
                        ..Metric::default()
                    },
                ],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

/// How a test sends an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Posts `body` to the viewer's OTLP/HTTP `path`; returns the status and body.
pub async fn post(
    viewer: &Viewer,
    path: &str,
    content_type: &str,
    gzip: bool,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let mut request = http_client()
        .post(format!("{}{path}", viewer.otlp_http_endpoint()))
        .header("content-type", content_type);
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.body(body).send().await.expect("the viewer answers");
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn post_ok(
    viewer: &Viewer,
    path: &str,
    transport: Transport,
    protobuf: Vec<u8>,
    json: String,
) {
    let (content_type, body) = match transport {
        Transport::HttpProtobuf => ("application/x-protobuf", protobuf),
        _ => ("application/json", json.into_bytes()),
    };
    // JSON goes gzip-compressed, protobuf plain: both paths of the receiver are used.
    let compress = transport == Transport::HttpJson;
    let body = if compress { gzip(&body) } else { body };
    let (status, answer) = post(viewer, path, content_type, compress, body).await;
    assert_eq!(
        status,
        200,
        "{path} over {transport:?}: {}",
        String::from_utf8_lossy(&answer)
    );
}

pub async fn send_traces(
    viewer: &Viewer,
    transport: Transport,
    request: ExportTraceServiceRequest,
) {
    match transport {
        Transport::Grpc => {
            let mut client = TraceServiceClient::connect(viewer.otlp_grpc_endpoint())
                .await
                .unwrap()
                .send_compressed(tonic::codec::CompressionEncoding::Gzip);
            let response = client
                .export(request)
                .await
                .expect("gRPC export")
                .into_inner();
            assert_eq!(response.partial_success, None);
        }
        _ => {
            let json = serde_json::to_string(&request).unwrap();
            post_ok(
                viewer,
                "/v1/traces",
                transport,
                request.encode_to_vec(),
                json,
            )
            .await;
        }
    }
}

pub async fn send_logs(viewer: &Viewer, transport: Transport, request: ExportLogsServiceRequest) {
    match transport {
        Transport::Grpc => {
            let mut client = LogsServiceClient::connect(viewer.otlp_grpc_endpoint())
                .await
                .unwrap();
            client.export(request).await.expect("gRPC export");
        }
        _ => {
            let json = serde_json::to_string(&request).unwrap();
            post_ok(viewer, "/v1/logs", transport, request.encode_to_vec(), json).await;
        }
    }
}

pub async fn send_metrics(
    viewer: &Viewer,
    transport: Transport,
    request: ExportMetricsServiceRequest,
) {
    match transport {
        Transport::Grpc => {
            let mut client = MetricsServiceClient::connect(viewer.otlp_grpc_endpoint())
                .await
                .unwrap();
            client.export(request).await.expect("gRPC export");
        }
        _ => {
            let json = serde_json::to_string(&request).unwrap();
            post_ok(
                viewer,
                "/v1/metrics",
                transport,
                request.encode_to_vec(),
                json,
            )
            .await;
        }
    }
}

/// GETs `path` from the viewer's web server: (status, JSON body).
pub async fn get_json(viewer: &Viewer, path: &str) -> (u16, Json) {
    let response = http_client()
        .get(format!("{}{path}", viewer.ui_url()))
        .send()
        .await
        .expect("the viewer answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, json)
}

/// GETs `path` from the web server: (status, HTML).
pub async fn get_text(viewer: &Viewer, path: &str) -> (u16, String) {
    let response = http_client()
        .get(format!("{}{path}", viewer.ui_url()))
        .send()
        .await
        .expect("the viewer answers");
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Polls `/api/traces/{id}` until the trace has `spans` spans; panics with what it has after
/// `timeout`.
pub async fn wait_for_trace(viewer: &Viewer, id: &str, spans: usize, timeout: Duration) -> Json {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (status, body) = get_json(viewer, &format!("/api/traces/{id}")).await;
        if status == 200 && body["spans"].as_array().map_or(0, Vec::len) >= spans {
            return body;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "trace {id}: waited {timeout:?} for {spans} spans, got {status} {body}\nstored: {}",
                get_json(viewer, "/api/traces?limit=50").await.1
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The workspace's root directory.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}
