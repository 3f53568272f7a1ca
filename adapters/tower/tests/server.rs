//! The server layer against real axum servers on loopback ports, recorded by the `memory`
//! module: names, kinds, parents, attributes, status, metrics and exemplars, and the edges
//! (streaming bodies, disconnects, panics, filters, public endpoints, `http/dup`).

mod common;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, get};
use hyperion::testing::RecordedSpan;
use hyperion::{SpanKind, Telemetry, Value};
use hyperion_tower::{Ctx, HttpServerLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{PARENT_ID, TRACE_ID, TRACEPARENT, http_client, memory, serve, wait_spans};

fn attr<'a>(span: &'a RecordedSpan, key: &str) -> &'a Value<'static> {
    span.attribute(key)
        .unwrap_or_else(|| panic!("span {} has no {key}: {:?}", span.name, span.attributes))
}

fn str_attr<'a>(span: &'a RecordedSpan, key: &str) -> &'a str {
    attr(span, key).as_str().unwrap()
}

fn int_attr(span: &RecordedSpan, key: &str) -> i64 {
    match attr(span, key) {
        Value::I64(v) => *v,
        other => panic!("{key} is not an integer: {other:?}"),
    }
}

async fn user(Ctx(ctx): Ctx) -> String {
    ctx.log().info("looking the user up", &[]);
    ctx.span_context().span_id().to_string()
}

fn app(layer: HttpServerLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/broken",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/panic", get(panic_handler))
        .route("/any", any(|| async { "any" }))
        .route("/baggage", get(|Ctx(ctx): Ctx| async move {
            ctx.baggage().get("tenant").unwrap_or("none").to_owned()
        }))
        .layer(layer)
}

async fn panic_handler() -> &'static str {
    panic!("the handler fell over")
}

#[tokio::test]
async fn a_request_becomes_a_server_span_child_of_the_caller_with_the_stable_attributes() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let response = http_client()
        .get(format!("http://{addr}/users/42?token=s3cret"))
        .header("traceparent", TRACEPARENT)
        .header("user-agent", "hyperion-test/1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let traceresponse = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    let handler_span_id = response.text().await.unwrap();

    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot
        .span("GET /users/{id}")
        .kind(SpanKind::Server)
        .span();
    assert_eq!(span.context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.unwrap().to_string(), PARENT_ID);
    assert!(span.parent_is_remote);
    assert!(!span.status.is_error());
    // The handler's context is the server span.
    assert_eq!(handler_span_id, span.context.span_id().to_string());
    assert_eq!(
        traceresponse,
        format!("00-{TRACE_ID}-{}-01", span.context.span_id())
    );
    assert_eq!(str_attr(span, "http.request.method"), "GET");
    assert_eq!(str_attr(span, "http.route"), "/users/{id}");
    assert_eq!(str_attr(span, "url.path"), "/users/42");
    assert_eq!(str_attr(span, "url.scheme"), "http");
    assert_eq!(str_attr(span, "server.address"), "127.0.0.1");
    assert_eq!(int_attr(span, "server.port"), i64::from(addr.port()));
    assert_eq!(str_attr(span, "network.protocol.version"), "1.1");
    assert_eq!(str_attr(span, "user_agent.original"), "hyperion-test/1");
    assert_eq!(str_attr(span, "client.address"), "127.0.0.1");
    assert_eq!(str_attr(span, "network.peer.address"), "127.0.0.1");
    assert!(int_attr(span, "network.peer.port") > 0);
    assert_eq!(int_attr(span, "http.response.status_code"), 200);
    assert!(span.attribute("error.type").is_none());
    // url.query is opt-in, and the old keys are off without http/dup.
    assert!(span.attribute("url.query").is_none());
    assert!(span.attribute("http.method").is_none());
    // The handler's log line carries the span's ids.
    let log = snapshot
        .logs
        .iter()
        .find(|l| l.message == "looking the user up")
        .unwrap();
    assert_eq!(log.span_id, Some(span.context.span_id()));

    // The duration histogram: seconds, the advised buckets, the span as exemplar.
    let points = snapshot.points("http.server.request.duration");
    assert_eq!(points.len(), 1, "{points:?}");
    let point = points[0];
    assert_eq!(point.instrument.unit, "s");
    assert_eq!(
        point.instrument.boundaries.as_deref(),
        Some(
            &[
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
            ][..]
        )
    );
    assert_eq!(point.exemplar.as_ref(), Some(&span.context));
    assert_eq!(
        point.attribute("http.request.method").unwrap().as_str(),
        Some("GET")
    );
    assert_eq!(
        point.attribute("http.route").unwrap().as_str(),
        Some("/users/{id}")
    );
    assert_eq!(
        point.attribute("url.scheme").unwrap().as_str(),
        Some("http")
    );
    assert_eq!(
        point.attribute("http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert!(point.attribute("error.type").is_none());
    // The raw path never reaches a metric attribute.
    assert!(
        point
            .attributes
            .iter()
            .all(|a| a.value.as_str() != Some("/users/42"))
    );
    let elapsed = span.end_time.duration_since(span.start_time).unwrap();
    assert!(point.value.as_f64() > 0.0 && point.value.as_f64() <= elapsed.as_secs_f64() + 0.05);

    // Active requests: up when it came in, down when it went out.
    let active: Vec<f64> = snapshot
        .points("http.server.active_requests")
        .iter()
        .map(|p| p.value.as_f64())
        .collect();
    assert_eq!(active, [1.0, -1.0]);
}

#[tokio::test]
async fn a_4xx_leaves_the_status_unset_and_a_5xx_is_an_error_with_its_code_as_error_type() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let client = http_client();
    assert_eq!(
        client
            .get(format!("http://{addr}/missing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(format!("http://{addr}/broken"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    let snapshot = wait_spans(&telemetry, &store, 2).await;

    let not_found = snapshot.span("GET /missing").status_not_error().span();
    assert_eq!(int_attr(not_found, "http.response.status_code"), 404);
    assert!(not_found.attribute("error.type").is_none());

    let broken = snapshot.span("GET /broken").status_error().span();
    assert_eq!(int_attr(broken, "http.response.status_code"), 503);
    assert_eq!(str_attr(broken, "error.type"), "503");
    let point = snapshot
        .points("http.server.request.duration")
        .into_iter()
        .find(|p| p.attribute("http.route").and_then(Value::as_str) == Some("/broken"))
        .unwrap();
    assert_eq!(point.attribute("error.type").unwrap().as_str(), Some("503"));
}

#[tokio::test]
async fn an_unmatched_route_is_named_by_the_method_alone() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let response = http_client()
        .get(format!("http://{addr}/nope/123"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    assert_eq!(snapshot.spans.len(), 1);
    let span = &snapshot.spans[0];
    assert_eq!(span.name, "GET");
    assert!(span.attribute("http.route").is_none());
    assert_eq!(str_attr(span, "url.path"), "/nope/123");
    let point = snapshot.points("http.server.request.duration")[0];
    assert!(point.attribute("http.route").is_none());
}

#[tokio::test]
async fn a_method_outside_the_standard_set_is_other_with_the_original_kept() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let method = reqwest::Method::from_bytes(b"PURGE").unwrap();
    let response = http_client()
        .request(method, format!("http://{addr}/any"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot.span("HTTP /any").span();
    assert_eq!(str_attr(span, "http.request.method"), "_OTHER");
    assert_eq!(str_attr(span, "http.request.method_original"), "PURGE");
    let point = snapshot.points("http.server.request.duration")[0];
    assert_eq!(
        point.attribute("http.request.method").unwrap().as_str(),
        Some("_OTHER")
    );
}

/// A body that sends a chunk, waits `gap`, and sends `more` chunks `gap` apart.
fn slow_body(gap: Duration, more: usize) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1);
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from_static(b"first\n"))).await.is_err() {
            return;
        }
        for _ in 0..more {
            tokio::time::sleep(gap).await;
            if tx.send(Ok(Bytes::from_static(b"more\n"))).await.is_err() {
                return;
            }
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[tokio::test]
async fn the_duration_includes_a_streaming_body() {
    let (telemetry, store) = memory().await;
    let router = Router::new()
        .route(
            "/stream",
            get(|| async { slow_body(Duration::from_millis(100), 2) }),
        )
        .layer(HttpServerLayer::new(&telemetry));
    let addr = serve(router).await;
    let started = Instant::now();
    let body = http_client()
        .get(format!("http://{addr}/stream"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "first\nmore\nmore\n");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot.span("GET /stream").status_not_error().span();
    let elapsed = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        elapsed >= Duration::from_millis(200),
        "span took {elapsed:?}"
    );
    let seconds = snapshot.points("http.server.request.duration")[0]
        .value
        .as_f64();
    assert!(seconds >= 0.2, "histogram recorded {seconds}");
    assert!(span.attribute("error.type").is_none());
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_ends_the_span_as_aborted() {
    let (telemetry, store) = memory().await;
    let router = Router::new()
        .route(
            "/stream",
            get(|| async { slow_body(Duration::from_millis(20), 500) }),
        )
        .layer(HttpServerLayer::new(&telemetry));
    let addr = serve(router).await;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /stream HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(socket);

    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot.span("GET /stream").status_error().span();
    assert_eq!(str_attr(span, "error.type"), "aborted");
    assert_eq!(int_attr(span, "http.response.status_code"), 200);
    let elapsed = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        elapsed < Duration::from_secs(5),
        "ended only at the stream's end: {elapsed:?}"
    );
    let point = snapshot.points("http.server.request.duration")[0];
    assert_eq!(
        point.attribute("error.type").unwrap().as_str(),
        Some("aborted")
    );
    let active: f64 = snapshot
        .points("http.server.active_requests")
        .iter()
        .map(|p| p.value.as_f64())
        .sum();
    assert_eq!(active, 0.0);
}

#[tokio::test]
async fn a_client_that_disconnects_before_the_response_ends_the_span_as_aborted() {
    let (telemetry, store) = memory().await;
    let router = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(HttpServerLayer::new(&telemetry));
    let addr = serve(router).await;
    let result = http_client()
        .get(format!("http://{addr}/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot.span("GET /slow").status_error().span();
    assert_eq!(str_attr(span, "error.type"), "aborted");
    assert!(span.attribute("http.response.status_code").is_none());
    let point = snapshot.points("http.server.request.duration")[0];
    assert_eq!(
        point.attribute("error.type").unwrap().as_str(),
        Some("aborted")
    );
    let active: f64 = snapshot
        .points("http.server.active_requests")
        .iter()
        .map(|p| p.value.as_f64())
        .sum();
    assert_eq!(active, 0.0);
}

#[tokio::test]
async fn a_streaming_body_of_declared_length_is_complete_when_that_many_bytes_are_sent() {
    // hyper drops such a body once the declared bytes are written, without polling its end
    // (as tower-http's ServeFile bodies are served).
    let (telemetry, store) = memory().await;
    let router = Router::new()
        .route(
            "/file",
            get(|| async {
                axum::response::Response::builder()
                    .header("content-length", "16")
                    .body(slow_body(Duration::from_millis(10), 2))
                    .unwrap()
            }),
        )
        .layer(HttpServerLayer::new(&telemetry));
    let addr = serve(router).await;
    let body = http_client()
        .get(format!("http://{addr}/file"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "first\nmore\nmore\n");
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot.span("GET /file").status_not_error().span();
    assert!(
        span.attribute("error.type").is_none(),
        "{:?}",
        span.attributes
    );
}

#[tokio::test]
async fn traceresponse_is_sent_whether_other_layers_sit_inside_or_outside() {
    let (telemetry, store) = memory().await;
    let mark = |mut response: axum::response::Response| async move {
        response
            .headers_mut()
            .insert("x-other-layer", "1".parse().unwrap());
        response
    };
    let inside = Router::new()
        .route("/a", get(|| async { "a" }))
        .layer(axum::middleware::map_response(mark))
        .layer(HttpServerLayer::new(&telemetry));
    let outside = Router::new()
        .route("/b", get(|| async { "b" }))
        .layer(HttpServerLayer::new(&telemetry))
        .layer(axum::middleware::map_response(mark));
    for (router, path) in [(inside, "/a"), (outside, "/b")] {
        let addr = serve(router).await;
        let response = http_client()
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("x-other-layer"), "{path}");
        let header = response.headers()["traceresponse"]
            .to_str()
            .unwrap()
            .to_owned();
        response.text().await.unwrap();
        let snapshot = wait_spans(&telemetry, &store, 1).await;
        let span = snapshot.span(&format!("GET {path}")).span();
        assert_eq!(
            header,
            // A new root: sampled, and random (Trace Context Level 2's 0x02).
            format!(
                "00-{}-{}-03",
                span.context.trace_id(),
                span.context.span_id()
            )
        );
        store.clear();
    }
}

#[tokio::test]
async fn a_panicking_handler_is_answered_with_500_and_recorded_as_an_error() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let response = http_client()
        .get(format!("http://{addr}/panic"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key("traceresponse"));
    // The server is still there.
    let again = http_client()
        .get(format!("http://{addr}/users/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);

    let snapshot = wait_spans(&telemetry, &store, 2).await;
    let span = snapshot
        .span("GET /panic")
        .status_error()
        .event("exception")
        .span();
    assert_eq!(str_attr(span, "error.type"), "500");
    assert_eq!(int_attr(span, "http.response.status_code"), 500);
    let event = span.event("exception").unwrap();
    let message = event
        .attributes
        .iter()
        .find(|a| a.key.as_str() == "exception.message")
        .unwrap();
    assert_eq!(message.value.as_str(), Some("the handler fell over"));
    assert!(
        snapshot
            .logs
            .iter()
            .any(|l| l.message == "request handler panicked"
                && l.span_id == Some(span.context.span_id()))
    );
}

#[tokio::test]
async fn health_checks_are_not_traced_unless_asked_and_a_filter_replaces_the_default() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    http_client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    http_client()
        .get(format!("http://{addr}/users/1"))
        .send()
        .await
        .unwrap();
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    assert_eq!(snapshot.spans.len(), 1, "{}", snapshot.tree());
    assert_eq!(snapshot.spans[0].name, "GET /users/{id}");
    assert_eq!(snapshot.points("http.server.request.duration").len(), 1);

    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry).trace_all())).await;
    http_client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    wait_spans(&telemetry, &store, 1).await.span("GET /health");

    let (telemetry, store) = memory().await;
    let layer =
        HttpServerLayer::new(&telemetry).filter(|req| !req.uri.path().starts_with("/users"));
    let addr = serve(app(layer)).await;
    http_client()
        .get(format!("http://{addr}/users/1"))
        .send()
        .await
        .unwrap();
    http_client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    assert_eq!(snapshot.spans.len(), 1, "{}", snapshot.tree());
    assert_eq!(snapshot.spans[0].name, "GET /health");
}

#[tokio::test]
async fn a_filtered_request_still_propagates_the_callers_context() {
    let (telemetry, store) = memory().await;
    let router = Router::new()
        .route(
            "/health",
            get(|Ctx(ctx): Ctx| async move { ctx.span_context().trace_id().to_string() }),
        )
        .layer(HttpServerLayer::new(&telemetry));
    let addr = serve(router).await;
    let response = http_client()
        .get(format!("http://{addr}/health"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("traceresponse"));
    assert_eq!(response.text().await.unwrap(), TRACE_ID);
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    assert!(store.snapshot().spans.is_empty());
}

#[tokio::test]
async fn a_public_endpoint_starts_a_new_trace_linked_to_the_caller() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry).public_endpoint(true))).await;
    let response = http_client()
        .get(format!("http://{addr}/baggage"))
        .header("traceparent", TRACEPARENT)
        .header("baggage", "tenant=acme")
        .send()
        .await
        .unwrap();
    // Baggage from outside a trust boundary is dropped by default.
    assert_eq!(response.text().await.unwrap(), "none");
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot.span("GET /baggage").span();
    assert_ne!(span.context.trace_id().to_string(), TRACE_ID);
    assert!(span.parent_span_id.is_none());
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.links[0].context.span_id().to_string(), PARENT_ID);
}

#[tokio::test]
async fn incoming_baggage_is_trusted_by_default_and_can_be_refused() {
    for (trust, expected) in [(None, "acme"), (Some(false), "none")] {
        let (telemetry, _store) = memory().await;
        let mut layer = HttpServerLayer::new(&telemetry);
        if let Some(trust) = trust {
            layer = layer.trust_baggage(trust);
        }
        let addr = serve(app(layer)).await;
        let body = http_client()
            .get(format!("http://{addr}/baggage"))
            .header("baggage", "tenant=acme")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, expected, "trust_baggage({trust:?})");
    }
}

#[tokio::test]
async fn traceresponse_can_be_switched_off() {
    let (telemetry, _store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry).trace_response(false))).await;
    let response = http_client()
        .get(format!("http://{addr}/users/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("traceresponse"));
}

#[tokio::test]
async fn a_new_root_answers_with_its_own_trace_id() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let response = http_client()
        .get(format!("http://{addr}/users/1"))
        .send()
        .await
        .unwrap();
    let header = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = &snapshot.spans[0];
    assert!(span.parent_span_id.is_none());
    assert_eq!(
        header,
        // Sampled, and random (Trace Context Level 2's 0x02).
        format!(
            "00-{}-{}-03",
            span.context.trace_id(),
            span.context.span_id()
        )
    );
}

#[tokio::test]
async fn url_query_is_opt_in_and_redacts_the_sensitive_keys() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry).record_query(true))).await;
    http_client()
        .get(format!("http://{addr}/users/1?page=2&sig=abc123"))
        .send()
        .await
        .unwrap();
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = &snapshot.spans[0];
    assert_eq!(str_attr(span, "url.query"), "page=2&sig=REDACTED");
    assert!(
        span.attributes
            .iter()
            .all(|a| !a.value.to_string().contains("abc123"))
    );
}

#[tokio::test]
async fn http_dup_adds_the_old_keys_and_the_old_histogram() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry).semconv_dup(true))).await;
    http_client()
        .get(format!("http://{addr}/users/7"))
        .header("user-agent", "old-dashboards")
        .send()
        .await
        .unwrap();
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = &snapshot.spans[0];
    // The stable keys stay; the old ones come beside them.
    assert_eq!(str_attr(span, "http.request.method"), "GET");
    assert_eq!(str_attr(span, "http.method"), "GET");
    assert_eq!(int_attr(span, "http.status_code"), 200);
    assert_eq!(str_attr(span, "http.target"), "/users/7");
    assert_eq!(str_attr(span, "http.scheme"), "http");
    assert_eq!(str_attr(span, "http.flavor"), "1.1");
    assert_eq!(str_attr(span, "http.user_agent"), "old-dashboards");
    assert_eq!(str_attr(span, "net.host.name"), "127.0.0.1");
    assert_eq!(int_attr(span, "net.host.port"), i64::from(addr.port()));
    assert_eq!(str_attr(span, "http.client_ip"), "127.0.0.1");
    let old = snapshot.points("http.server.duration");
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].instrument.unit, "ms");
    assert_eq!(
        old[0].attribute("http.method").unwrap().as_str(),
        Some("GET")
    );
    assert_eq!(old[0].attribute("http.status_code"), Some(&Value::I64(200)));
    let new = snapshot.points("http.server.request.duration");
    assert!((old[0].value.as_f64() / 1000.0 - new[0].value.as_f64()).abs() < 1e-9);
}

#[tokio::test]
async fn a_head_request_is_complete_though_its_body_is_never_sent() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let response = http_client()
        .head(format!("http://{addr}/users/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = snapshot.span("HEAD /users/{id}").status_not_error().span();
    assert!(span.attribute("error.type").is_none());
}

#[tokio::test]
async fn proxies_headers_name_the_client_and_the_server() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
    headers.insert("x-forwarded-host", "api.example.com:8443".parse().unwrap());
    headers.insert("x-forwarded-proto", "https".parse().unwrap());
    http_client()
        .get(format!("http://{addr}/users/1"))
        .headers(headers)
        .send()
        .await
        .unwrap();
    let snapshot = wait_spans(&telemetry, &store, 1).await;
    let span = &snapshot.spans[0];
    assert_eq!(str_attr(span, "client.address"), "203.0.113.9");
    assert_eq!(str_attr(span, "network.peer.address"), "127.0.0.1");
    assert_eq!(str_attr(span, "server.address"), "api.example.com");
    assert_eq!(int_attr(span, "server.port"), 8443);
    assert_eq!(str_attr(span, "url.scheme"), "https");
}

#[tokio::test]
async fn malformed_trace_headers_start_a_new_trace_and_never_fail_the_request() {
    let (telemetry, store) = memory().await;
    let addr = serve(app(HttpServerLayer::new(&telemetry))).await;
    for garbage in [
        "00-zz-yy-01",
        "",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    ] {
        let response = http_client()
            .get(format!("http://{addr}/users/1"))
            .header("traceparent", garbage)
            .header("baggage", "=,=;;")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let snapshot = wait_spans(&telemetry, &store, 3).await;
    assert!(snapshot.spans.iter().all(|s| s.parent_span_id.is_none()));
}

#[tokio::test]
async fn a_custom_name_hook_names_the_span() {
    let (telemetry, store) = memory().await;
    let layer = HttpServerLayer::new(&telemetry).span_name(|req| {
        let route = req
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map_or("?", |p| p.as_str());
        format!("users-api {route}")
    });
    let addr = serve(app(layer)).await;
    http_client()
        .get(format!("http://{addr}/users/3"))
        .send()
        .await
        .unwrap();
    wait_spans(&telemetry, &store, 1)
        .await
        .span("users-api /users/{id}");
}

#[tokio::test]
async fn noop_telemetry_serves_unchanged_and_still_propagates() {
    let telemetry = Telemetry::noop();
    let router = Router::new()
        .route(
            "/id",
            get(|Ctx(ctx): Ctx| async move { ctx.span_context().trace_id().to_string() }),
        )
        .layer(HttpServerLayer::new(&telemetry));
    let addr = serve(router).await;
    let response = http_client()
        .get(format!("http://{addr}/id"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // No span of ours, so no traceresponse; the caller's trace still reaches the handler.
    assert!(!response.headers().contains_key("traceresponse"));
    assert_eq!(response.text().await.unwrap(), TRACE_ID);
}
