//! [`OtlpReceiver`]: an in-test OTLP trace receiver over gRPC and HTTP.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use hyper::{StatusCode, http::request::Parts};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::{
    Span, span::SpanKind, status::StatusCode as OtlpStatusCode,
};
use prost::Message;
use tonic::codec::CompressionEncoding;

use super::hex;
use super::server::{self, Handler, HandlerFuture, ServerThread};

/// The path OTLP/HTTP trace exports are posted to.
pub const TRACES_PATH: &str = "/v1/traces";

/// The path OTLP/HTTP metric exports are posted to.
pub const METRICS_PATH: &str = "/v1/metrics";

/// The path OTLP/HTTP log exports are posted to.
pub const LOGS_PATH: &str = "/v1/logs";

/// How a request reached the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC (`TraceService/Export`).
    Grpc,
    /// OTLP/HTTP (`POST /v1/traces`), protobuf or JSON.
    Http,
}

/// One request as it arrived at the receiver, accepted or not: what a test checks to see which
/// encoding, compression and headers an exporter used, or how often it retried.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// gRPC or HTTP.
    pub transport: Transport,
    /// The HTTP method (`POST` for gRPC).
    pub method: String,
    /// The request path (the gRPC method path for gRPC).
    pub path: String,
    /// The media type, lower-cased, without parameters (`application/x-protobuf`,
    /// `application/json`; `application/grpc` for gRPC).
    pub content_type: String,
    /// `content-encoding` for HTTP, `grpc-encoding` for gRPC (`gzip`); empty when uncompressed.
    pub content_encoding: String,
    /// Every request header (gRPC: the request metadata), names lower-case.
    pub headers: Vec<(String, String)>,
    /// The HTTP status answered (gRPC: 200 when accepted, else the gRPC code as a number).
    pub status: u16,
}

impl Delivery {
    /// The first value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `content_type`, plus `+gzip` when the body was gzip-compressed: the form
    /// [`OtlpReceiver::content_types_seen`] reports.
    pub fn content_kind(&self) -> String {
        if self.content_encoding.is_empty() || self.content_encoding == "identity" {
            self.content_type.clone()
        } else {
            format!("{}+{}", self.content_type, self.content_encoding)
        }
    }
}

#[derive(Default)]
struct State {
    requests: Vec<ExportTraceServiceRequest>,
    metric_requests: Vec<ExportMetricsServiceRequest>,
    log_requests: Vec<ExportLogsServiceRequest>,
    deliveries: Vec<Delivery>,
    /// Deliveries of metrics and log records (kept apart: tests count trace deliveries).
    signal_deliveries: Vec<Delivery>,
    errors: Vec<String>,
    http_attempts: usize,
    grpc_attempts: usize,
    http_failures: VecDeque<u16>,
    /// Statuses for the next `POST /v1/metrics` requests (see `fail_next_metrics`).
    metric_failures: VecDeque<u16>,
    grpc_failures: VecDeque<tonic::Code>,
    delay: Duration,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide what arrived from the others.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An in-test OTLP trace receiver: a gRPC `TraceService` and an OTLP/HTTP endpoint
/// (`POST /v1/traces`, `application/x-protobuf` or `application/json`, gzip or not), each on its
/// own OS-chosen 127.0.0.1 port, storing every request it accepts.
///
/// It runs on its own thread and runtime until dropped, so it answers even while the test
/// thread blocks.
///
/// ```ignore
/// let rx = OtlpReceiver::start().await;
/// // point an exporter at rx.grpc_endpoint() or rx.http_endpoint() ...
/// let spans = rx.wait_for_spans(1, Duration::from_secs(10)).await;
/// assert_eq!(spans[0].name, "checkout");
/// ```
pub struct OtlpReceiver {
    state: Shared,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    _server: ServerThread,
}

impl OtlpReceiver {
    /// Binds both servers on 127.0.0.1 (OS-chosen ports) and starts serving.
    pub async fn start() -> Self {
        let state = Shared::default();
        let shared = state.clone();
        let (server, (grpc_addr, http_addr)) =
            ServerThread::spawn("otlp-receiver", move || async move {
                let grpc_listener = server::bind_local().await;
                let http_listener = server::bind_local().await;
                let grpc_addr = grpc_listener.local_addr().expect("local addr");
                let http_addr = http_listener.local_addr().expect("local addr");

                let service = TraceServiceServer::new(GrpcService {
                    state: shared.clone(),
                })
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(64 * 1024 * 1024);
                let metrics = MetricsServiceServer::new(GrpcService {
                    state: shared.clone(),
                })
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(64 * 1024 * 1024);
                let logs = LogsServiceServer::new(GrpcService {
                    state: shared.clone(),
                })
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(64 * 1024 * 1024);
                let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
                tokio::spawn(async move {
                    let _ = tonic::transport::Server::builder()
                        .add_service(service)
                        .add_service(metrics)
                        .add_service(logs)
                        .serve_with_incoming(incoming)
                        .await;
                });

                let handler_state = shared.clone();
                let handler: Handler =
                    Arc::new(move |parts, body| handle_http(handler_state.clone(), parts, body));
                tokio::spawn(server::serve_http(http_listener, handler));
                (grpc_addr, http_addr)
            })
            .await;
        OtlpReceiver {
            state,
            grpc_addr,
            http_addr,
            _server: server,
        }
    }

    /// The gRPC endpoint, `http://127.0.0.1:PORT`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The OTLP/HTTP base URL, `http://127.0.0.1:PORT` (no path; traces go to
    /// `{base}/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The full OTLP/HTTP traces URL, `http://127.0.0.1:PORT/v1/traces`.
    pub fn http_traces_url(&self) -> String {
        format!("http://{}{TRACES_PATH}", self.http_addr)
    }

    /// The gRPC server's address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The HTTP server's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Every request accepted so far, in arrival order.
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        lock(&self.state).requests.clone()
    }

    /// Every OTLP metrics request accepted so far (gRPC `MetricsService` or `POST /v1/metrics`).
    pub fn metric_requests(&self) -> Vec<ExportMetricsServiceRequest> {
        lock(&self.state).metric_requests.clone()
    }

    /// Every log record received so far (gRPC `LogsService` or `POST /v1/logs`), with its
    /// resource attributes, in arrival order.
    pub fn log_records(&self) -> Vec<(BTreeMap<String, AttrValue>, LogRecord)> {
        lock(&self.state)
            .log_requests
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|rl| {
                let resource = attr_map(
                    rl.resource
                        .as_ref()
                        .map(|r| r.attributes.as_slice())
                        .unwrap_or_default(),
                );
                rl.scope_logs
                    .iter()
                    .flat_map(|sl| &sl.log_records)
                    .map(move |r| (resource.clone(), r.clone()))
            })
            .collect()
    }

    /// Waits until at least `n` log records have arrived; panics with the report after `timeout`.
    pub async fn wait_for_logs(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<(BTreeMap<String, AttrValue>, LogRecord)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.log_records();
            if found.len() >= n {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{} of {n} log records within {timeout:?}\n{}",
                    found.len(),
                    self.report()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every metric received so far with that name, in arrival order.
    pub fn metrics_named(&self, name: &str) -> Vec<Metric> {
        lock(&self.state)
            .metric_requests
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .filter(|m| m.name == name)
            .cloned()
            .collect()
    }

    /// Waits until a metric of that name has arrived; panics with the report after `timeout`.
    pub async fn wait_for_metric(&self, name: &str, timeout: Duration) -> Vec<Metric> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.metrics_named(name);
            if !found.is_empty() {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("no metric {name:?} within {timeout:?}\n{}", self.report());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every span accepted so far, flattened, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        flatten(&lock(&self.state).requests)
    }

    /// Spans accepted so far whose name is `name`.
    pub fn spans_named(&self, name: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// Every request that reached either server, accepted or not, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).deliveries.clone()
    }

    /// Every metrics and logs export request accepted, in arrival order.
    pub fn signal_deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).signal_deliveries.clone()
    }

    /// For every delivery in order, its media type plus `+gzip` when compressed:
    /// `application/x-protobuf`, `application/x-protobuf+gzip`, `application/json`,
    /// `application/json+gzip`, `application/grpc`, `application/grpc+gzip`.
    pub fn content_types_seen(&self) -> Vec<String> {
        lock(&self.state)
            .deliveries
            .iter()
            .map(Delivery::content_kind)
            .collect()
    }

    /// Why requests were rejected as malformed (bad body, unknown media type, ...), in order.
    pub fn errors(&self) -> Vec<String> {
        lock(&self.state).errors.clone()
    }

    /// How many requests reached `/v1/traces` over HTTP, accepted, failed on purpose or
    /// rejected.
    pub fn http_attempts(&self) -> usize {
        lock(&self.state).http_attempts
    }

    /// How many `Export` calls reached the gRPC server, accepted or failed on purpose.
    pub fn grpc_attempts(&self) -> usize {
        lock(&self.state).grpc_attempts
    }

    /// Answers the next `count` HTTP requests to `/v1/traces` with `status` (and an empty body)
    /// without storing them. Calls queue up: `fail_next(1, 503); fail_next(1, 429)` fails the
    /// next two with 503 then 429.
    pub fn fail_next(&self, count: usize, status: u16) {
        StatusCode::from_u16(status).expect("a valid HTTP status");
        lock(&self.state)
            .http_failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Answers the next `count` HTTP requests to `/v1/metrics` with `status` without storing
    /// them.
    pub fn fail_next_metrics(&self, count: usize, status: u16) {
        StatusCode::from_u16(status).expect("a valid HTTP status");
        lock(&self.state)
            .metric_failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Answers the next `count` gRPC `Export` calls with `code` without storing them. Queues up
    /// like [`fail_next`](Self::fail_next).
    pub fn fail_next_grpc(&self, count: usize, code: tonic::Code) {
        lock(&self.state)
            .grpc_failures
            .extend(std::iter::repeat_n(code, count));
    }

    /// Waits `delay` before answering every later request (HTTP and gRPC), to test exporter
    /// timeouts. `Duration::ZERO` turns it off.
    pub fn delay_responses(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Forgets every stored request, delivery, error and attempt count (pending failures and
    /// the delay stay).
    pub fn clear(&self) {
        let mut state = lock(&self.state);
        state.requests.clear();
        state.deliveries.clear();
        state.signal_deliveries.clear();
        state.errors.clear();
        state.http_attempts = 0;
        state.grpc_attempts = 0;
    }

    /// Waits until at least `n` spans have arrived and returns all of them. Panics after
    /// `timeout`, listing what did arrive.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let found = server::poll_until(timeout, || {
            let spans = self.spans();
            (spans.len() >= n).then_some(spans)
        })
        .await;
        match found {
            Some(spans) => spans,
            None => panic!(
                "OtlpReceiver: waited {timeout:?} for {n} span(s), got {}\n{}",
                self.spans().len(),
                self.report()
            ),
        }
    }

    /// Waits until at least `n` HTTP attempts have reached `/v1/traces` and returns the count.
    /// Panics after `timeout`.
    pub async fn wait_for_http_attempts(&self, n: usize, timeout: Duration) -> usize {
        let found = server::poll_until(timeout, || {
            let attempts = self.http_attempts();
            (attempts >= n).then_some(attempts)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "OtlpReceiver: waited {timeout:?} for {n} HTTP attempt(s), got {}\n{}",
                self.http_attempts(),
                self.report()
            )
        })
    }

    /// Waits until at least `n` gRPC attempts have arrived and returns the count. Panics after
    /// `timeout`.
    pub async fn wait_for_grpc_attempts(&self, n: usize, timeout: Duration) -> usize {
        let found = server::poll_until(timeout, || {
            let attempts = self.grpc_attempts();
            (attempts >= n).then_some(attempts)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "OtlpReceiver: waited {timeout:?} for {n} gRPC attempt(s), got {}\n{}",
                self.grpc_attempts(),
                self.report()
            )
        })
    }

    /// A readable account of everything received, for failure messages.
    pub fn report(&self) -> String {
        let state = lock(&self.state);
        let mut out = String::new();
        out.push_str("spans received:\n");
        for span in flatten(&state.requests) {
            out.push_str(&format!("  {span}\n"));
        }
        out.push_str("deliveries:\n");
        for d in &state.deliveries {
            out.push_str(&format!(
                "  {:?} {} {} [{}] -> {}\n",
                d.transport,
                d.method,
                d.path,
                d.content_kind(),
                d.status
            ));
        }
        if !state.errors.is_empty() {
            out.push_str("errors:\n");
            for e in &state.errors {
                out.push_str(&format!("  {e}\n"));
            }
        }
        out
    }
}

impl fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpReceiver")
            .field("grpc", &self.grpc_addr)
            .field("http", &self.http_addr)
            .finish_non_exhaustive()
    }
}

fn handle_http(state: Shared, parts: Parts, body: Bytes) -> HandlerFuture {
    Box::pin(async move {
        let content_type = server::media_type(&parts);
        let content_encoding = server::header(&parts, "content-encoding")
            .trim()
            .to_ascii_lowercase();
        let is_traces = parts.uri.path() == TRACES_PATH;
        if parts.uri.path() == LOGS_PATH && parts.method == hyper::Method::POST {
            let decoded =
                server::decode_content(&content_encoding, &body).and_then(
                    |body| match content_type.as_str() {
                        "application/json" => serde_json::from_slice(&body)
                            .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad JSON body: {e}"))),
                        _ => ExportLogsServiceRequest::decode(body.as_slice()).map_err(|e| {
                            (StatusCode::BAD_REQUEST, format!("bad protobuf body: {e}"))
                        }),
                    },
                );
            let delivery = http_delivery(&parts, &content_type, &content_encoding, 200);
            return match decoded {
                Ok(request) => {
                    let mut state = lock(&state);
                    state.log_requests.push(request);
                    state.signal_deliveries.push(delivery);
                    drop(state);
                    server::with_body(
                        StatusCode::OK,
                        "application/x-protobuf",
                        ExportLogsServiceResponse::default().encode_to_vec(),
                    )
                }
                Err((status, message)) => server::text(status, message),
            };
        }
        if parts.uri.path() == METRICS_PATH && parts.method == hyper::Method::POST {
            if let Some(status) = lock(&state).metric_failures.pop_front() {
                return server::text(
                    StatusCode::from_u16(status).expect("checked in fail_next_metrics"),
                    "failing as asked".to_owned(),
                );
            }
            let decoded =
                server::decode_content(&content_encoding, &body).and_then(
                    |body| match content_type.as_str() {
                        "application/json" => serde_json::from_slice(&body)
                            .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad JSON body: {e}"))),
                        _ => ExportMetricsServiceRequest::decode(body.as_slice()).map_err(|e| {
                            (StatusCode::BAD_REQUEST, format!("bad protobuf body: {e}"))
                        }),
                    },
                );
            let delivery = http_delivery(&parts, &content_type, &content_encoding, 200);
            return match decoded {
                Ok(request) => {
                    let mut state = lock(&state);
                    state.metric_requests.push(request);
                    state.signal_deliveries.push(delivery);
                    drop(state);
                    server::with_body(
                        StatusCode::OK,
                        "application/x-protobuf",
                        ExportMetricsServiceResponse::default().encode_to_vec(),
                    )
                }
                Err((status, message)) => server::text(status, message),
            };
        }

        // Decide the answer under the lock, answer (maybe after a delay) outside it.
        let (delay, outcome) = {
            let mut state = lock(&state);
            let outcome = if !is_traces {
                Err((
                    StatusCode::NOT_FOUND,
                    format!("no such path {}", parts.uri.path()),
                ))
            } else {
                state.http_attempts += 1;
                if parts.method != hyper::Method::POST {
                    Err((
                        StatusCode::METHOD_NOT_ALLOWED,
                        format!("{} not allowed", parts.method),
                    ))
                } else if let Some(status) = state.http_failures.pop_front() {
                    Ok(Err(
                        StatusCode::from_u16(status).expect("checked in fail_next")
                    ))
                } else {
                    match decode_http(&content_type, &content_encoding, &body) {
                        Ok(request) => {
                            state.requests.push(request);
                            Ok(Ok(()))
                        }
                        Err(rejection) => Err(rejection),
                    }
                }
            };
            let status = match &outcome {
                Ok(Ok(())) => StatusCode::OK,
                Ok(Err(status)) => *status,
                Err((status, message)) => {
                    state.errors.push(format!(
                        "HTTP {} {} [{content_type}; {content_encoding}]: {status}: {message}",
                        parts.method,
                        parts.uri.path()
                    ));
                    *status
                }
            };
            state.deliveries.push(http_delivery(
                &parts,
                &content_type,
                &content_encoding,
                status.as_u16(),
            ));
            (state.delay, outcome)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match outcome {
            Ok(Ok(())) if content_type == "application/json" => {
                server::with_body(StatusCode::OK, "application/json", b"{}".to_vec())
            }
            Ok(Ok(())) => server::with_body(
                StatusCode::OK,
                "application/x-protobuf",
                ExportTraceServiceResponse::default().encode_to_vec(),
            ),
            Ok(Err(status)) => server::with_body(status, "text/plain", Vec::new()),
            Err((status, message)) => server::text(status, message),
        }
    })
}

fn decode_http(
    content_type: &str,
    content_encoding: &str,
    body: &[u8],
) -> Result<ExportTraceServiceRequest, (StatusCode, String)> {
    let body = server::decode_content(content_encoding, body)?;
    match content_type {
        "application/x-protobuf" | "application/protobuf" => {
            ExportTraceServiceRequest::decode(body.as_slice())
                .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad protobuf body: {e}")))
        }
        "application/json" => serde_json::from_slice(&body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad JSON body: {e}"))),
        other => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content-type {other:?}"),
        )),
    }
}

struct GrpcService {
    state: Shared,
}

/// An HTTP request, as a [`Delivery`] answered with `status`.
fn http_delivery(
    parts: &Parts,
    content_type: &str,
    content_encoding: &str,
    status: u16,
) -> Delivery {
    Delivery {
        transport: Transport::Http,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        content_type: content_type.to_owned(),
        content_encoding: content_encoding.to_owned(),
        headers: server::all_headers(&parts.headers),
        status,
    }
}

/// An accepted gRPC export of metrics or logs, as a [`Delivery`].
fn grpc_delivery<T>(request: &tonic::Request<T>, service: &str) -> Delivery {
    Delivery {
        transport: Transport::Grpc,
        method: "POST".to_owned(),
        path: format!("/opentelemetry.proto.collector.{service}/Export"),
        content_type: "application/grpc".to_owned(),
        content_encoding: request
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase(),
        headers: server::all_headers(&request.metadata().clone().into_headers()),
        status: 200,
    }
}

#[tonic::async_trait]
impl LogsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let delivery = grpc_delivery(&request, "logs.v1.LogsService");
        let mut state = lock(&self.state);
        state.log_requests.push(request.into_inner());
        state.signal_deliveries.push(delivery);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let delivery = grpc_delivery(&request, "metrics.v1.MetricsService");
        let mut state = lock(&self.state);
        state.metric_requests.push(request.into_inner());
        state.signal_deliveries.push(delivery);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let content_encoding = request
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let headers = server::all_headers(&request.metadata().clone().into_headers());
        let (delay, failure) = {
            let mut state = lock(&self.state);
            state.grpc_attempts += 1;
            let failure = state.grpc_failures.pop_front();
            state.deliveries.push(Delivery {
                transport: Transport::Grpc,
                method: "POST".to_owned(),
                path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export".to_owned(),
                content_type: "application/grpc".to_owned(),
                content_encoding,
                headers,
                status: failure.map_or(200, |code| code as u16),
            });
            if failure.is_none() {
                state.requests.push(request.into_inner());
            }
            (state.delay, failure)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match failure {
            Some(code) => Err(tonic::Status::new(code, "failure injected by the test")),
            None => Ok(tonic::Response::new(ExportTraceServiceResponse::default())),
        }
    }
}

/// An attribute value as received, simplified from the proto `AnyValue`.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array of values.
    Array(Vec<AttrValue>),
    /// A nested key/value list.
    Map(BTreeMap<String, AttrValue>),
    /// No value set.
    Empty,
}

impl AttrValue {
    /// The string, if this is a [`AttrValue::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an [`AttrValue::Int`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The double, if this is an [`AttrValue::Double`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The boolean, if this is an [`AttrValue::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items, if this is an [`AttrValue::Array`].
    pub fn as_array(&self) -> Option<&[AttrValue]> {
        match self {
            AttrValue::Array(items) => Some(items),
            _ => None,
        }
    }

    fn from_any(value: &AnyValue) -> Self {
        match &value.value {
            None => AttrValue::Empty,
            Some(any_value::Value::StringValue(s)) => AttrValue::Str(s.clone()),
            Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
            Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(*d),
            Some(any_value::Value::BytesValue(b)) => AttrValue::Bytes(b.clone()),
            Some(any_value::Value::ArrayValue(a)) => {
                AttrValue::Array(a.values.iter().map(AttrValue::from_any).collect())
            }
            Some(any_value::Value::KvlistValue(kv)) => AttrValue::Map(attr_map(&kv.values)),
            // Only profiles use string-table indices; treat as absent, as the spec says.
            Some(any_value::Value::StringValueStrindex(_)) => AttrValue::Empty,
        }
    }
}

impl From<&str> for AttrValue {
    fn from(value: &str) -> Self {
        AttrValue::Str(value.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(value: String) -> Self {
        AttrValue::Str(value)
    }
}

impl From<i64> for AttrValue {
    fn from(value: i64) -> Self {
        AttrValue::Int(value)
    }
}

impl From<f64> for AttrValue {
    fn from(value: f64) -> Self {
        AttrValue::Double(value)
    }
}

impl From<bool> for AttrValue {
    fn from(value: bool) -> Self {
        AttrValue::Bool(value)
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) => write!(f, "{s:?}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Double(d) => write!(f, "{d}"),
            AttrValue::Bytes(b) => write!(f, "0x{}", hex(b)),
            AttrValue::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            AttrValue::Map(map) => write!(f, "{map:?}"),
            AttrValue::Empty => f.write_str("<empty>"),
        }
    }
}

fn attr_map(attributes: &[KeyValue]) -> BTreeMap<String, AttrValue> {
    attributes
        .iter()
        .map(|kv| {
            let value = kv
                .value
                .as_ref()
                .map_or(AttrValue::Empty, AttrValue::from_any);
            (kv.key.clone(), value)
        })
        .collect()
}

/// A span event as received.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedEvent {
    /// The event name.
    pub name: String,
    /// When it happened, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Its attributes.
    pub attributes: BTreeMap<String, AttrValue>,
}

impl ReceivedEvent {
    /// The attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<AttrValue> {
        self.attributes.get(key).cloned()
    }
}

/// A span link as received.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedLink {
    /// The linked trace id, lower-case hex.
    pub trace_id: String,
    /// The linked span id, lower-case hex.
    pub span_id: String,
    /// The linked span's W3C `tracestate`.
    pub trace_state: String,
    /// The link's attributes.
    pub attributes: BTreeMap<String, AttrValue>,
}

/// One received span, flattened with its resource and instrumentation scope.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedSpan {
    /// The resource's attributes (`service.name`, ...).
    pub resource: BTreeMap<String, AttrValue>,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The instrumentation scope's version.
    pub scope_version: String,
    /// The span name.
    pub name: String,
    /// The trace id, 32 lower-case hex digits.
    pub trace_id: String,
    /// The span id, 16 lower-case hex digits.
    pub span_id: String,
    /// The parent span id in hex, empty for a root span.
    pub parent_span_id: String,
    /// The W3C `tracestate`.
    pub trace_state: String,
    /// The span kind.
    pub kind: SpanKind,
    /// The status code.
    pub status_code: OtlpStatusCode,
    /// The status message (empty unless set with an error).
    pub status_message: String,
    /// Start time, Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End time, Unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// The span's attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// Its events, in order.
    pub events: Vec<ReceivedEvent>,
    /// Its links, in order.
    pub links: Vec<ReceivedLink>,
    /// The span exactly as decoded.
    pub raw: Span,
}

impl ReceivedSpan {
    /// The span attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<AttrValue> {
        self.attributes.get(key).cloned()
    }

    /// The resource attribute `key`, if set.
    pub fn resource_attr(&self, key: &str) -> Option<AttrValue> {
        self.resource.get(key).cloned()
    }

    /// The first event named `name`, if any.
    pub fn event(&self, name: &str) -> Option<&ReceivedEvent> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Whether this span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }
}

impl fmt::Display for ReceivedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} trace={} span={} parent={} kind={:?} status={:?}",
            self.name,
            self.trace_id,
            self.span_id,
            if self.parent_span_id.is_empty() {
                "-"
            } else {
                &self.parent_span_id
            },
            self.kind,
            self.status_code,
        )?;
        if !self.attributes.is_empty() {
            f.write_str(" attrs={")?;
            for (i, (k, v)) in self.attributes.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// Flattens requests into spans, in order.
fn flatten(requests: &[ExportTraceServiceRequest]) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for request in requests {
        for resource_spans in &request.resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| attr_map(&r.attributes))
                .unwrap_or_default();
            for scope_spans in &resource_spans.scope_spans {
                let (scope_name, scope_version) = scope_spans
                    .scope
                    .as_ref()
                    .map(|s| (s.name.clone(), s.version.clone()))
                    .unwrap_or_default();
                for span in &scope_spans.spans {
                    let status = span.status.clone().unwrap_or_default();
                    out.push(ReceivedSpan {
                        resource: resource.clone(),
                        scope_name: scope_name.clone(),
                        scope_version: scope_version.clone(),
                        name: span.name.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        trace_state: span.trace_state.clone(),
                        kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                        status_code: OtlpStatusCode::try_from(status.code)
                            .unwrap_or(OtlpStatusCode::Unset),
                        status_message: status.message,
                        start_time_unix_nano: span.start_time_unix_nano,
                        end_time_unix_nano: span.end_time_unix_nano,
                        attributes: attr_map(&span.attributes),
                        events: span
                            .events
                            .iter()
                            .map(|e| ReceivedEvent {
                                name: e.name.clone(),
                                time_unix_nano: e.time_unix_nano,
                                attributes: attr_map(&e.attributes),
                            })
                            .collect(),
                        links: span
                            .links
                            .iter()
                            .map(|l| ReceivedLink {
                                trace_id: hex(&l.trace_id),
                                span_id: hex(&l.span_id),
                                trace_state: l.trace_state.clone(),
                                attributes: attr_map(&l.attributes),
                            })
                            .collect(),
                        raw: span.clone(),
                    });
                }
            }
        }
    }
    out
}
