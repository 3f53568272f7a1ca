//! Two hops on loopback: a test client → service A (axum + `HttpServerLayer`) → reqwest with
//! `HttpClientMiddleware` → service B (axum + `HttpServerLayer`), recorded by the `memory` module:
//! one trace, parented hop by hop, each duration histogram carrying its span as exemplar.

mod common;

use common::{PARENT_ID, TRACE_ID, TRACEPARENT, memory, memory_with, two_services, wait_spans};
use hyperion::testing::{RecordedSpan, Snapshot};
use hyperion::{SpanKind, Value};

/// The span of that name and kind (client and server spans of one hop share the name).
fn find<'s>(snapshot: &'s Snapshot, name: &str, kind: SpanKind) -> &'s RecordedSpan {
    snapshot
        .spans
        .iter()
        .find(|s| s.name == name && s.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} span {name}:\n{}", snapshot.tree()))
}

#[tokio::test]
async fn one_trace_across_two_services_parented_hop_by_hop() {
    let (telemetry, store) = memory().await;
    let a = two_services(&telemetry).await;
    let response = common::http_client()
        .get(format!("http://{a}/orders/1"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "order 1 for ada");

    let snapshot = wait_spans(&telemetry, &store, 3).await;
    assert_eq!(snapshot.spans.len(), 3, "{}", snapshot.tree());
    let a_server = snapshot
        .span("GET /orders/{id}")
        .kind(SpanKind::Server)
        .span();
    let client = find(&snapshot, "GET /users/{id}", SpanKind::Client);
    let b_server = find(&snapshot, "GET /users/{id}", SpanKind::Server);
    for span in [a_server, client, b_server] {
        assert_eq!(
            span.context.trace_id().to_string(),
            TRACE_ID,
            "{}",
            span.name
        );
        assert!(!span.status.is_error(), "{}", span.name);
    }
    assert_eq!(a_server.parent_span_id.unwrap().to_string(), PARENT_ID);
    assert!(a_server.parent_is_remote);
    assert_eq!(client.parent_span_id, Some(a_server.context.span_id()));
    assert!(!client.parent_is_remote);
    assert_eq!(b_server.parent_span_id, Some(client.context.span_id()));
    assert!(b_server.parent_is_remote);

    assert_eq!(
        client.attribute("url.template").and_then(Value::as_str),
        Some("/users/{id}")
    );
    assert_eq!(
        b_server.attribute("http.route").and_then(Value::as_str),
        Some("/users/{id}")
    );
    assert_eq!(
        client.attribute("http.response.status_code"),
        Some(&Value::I64(200))
    );

    // Every duration histogram has its own span as exemplar.
    let server_points = snapshot.points("http.server.request.duration");
    assert_eq!(server_points.len(), 2);
    for point in server_points {
        let route = point
            .attribute("http.route")
            .and_then(Value::as_str)
            .unwrap();
        let span = if route == "/orders/{id}" {
            a_server
        } else {
            b_server
        };
        assert_eq!(point.exemplar.as_ref(), Some(&span.context), "{route}");
    }
    let client_points = snapshot.points("http.client.request.duration");
    assert_eq!(client_points.len(), 1);
    assert_eq!(client_points[0].exemplar.as_ref(), Some(&client.context));
}

#[tokio::test]
async fn a_downstream_5xx_is_an_error_on_both_sides_of_the_hop() {
    let (telemetry, store) = memory().await;
    let a = two_services(&telemetry).await;
    let response = common::http_client()
        .get(format!("http://{a}/orders/500"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let snapshot = wait_spans(&telemetry, &store, 3).await;
    let client = find(&snapshot, "GET /users/{id}", SpanKind::Client);
    assert!(client.status.is_error());
    assert_eq!(
        client.attribute("error.type").and_then(Value::as_str),
        Some("500")
    );
    let b_server = find(&snapshot, "GET /users/{id}", SpanKind::Server);
    assert!(b_server.status.is_error());
    assert_eq!(
        b_server.attribute("error.type").and_then(Value::as_str),
        Some("500")
    );
    let a_server = snapshot.span("GET /orders/{id}").status_error().span();
    assert_eq!(
        a_server.attribute("error.type").and_then(Value::as_str),
        Some("502")
    );
    // A new trace, started by A (the test client sent no traceparent).
    assert!(a_server.parent_span_id.is_none());
    assert_eq!(b_server.context.trace_id(), a_server.context.trace_id());
}

/// With `propagation.propagators: b3multi` both hops read and write B3's `X-B3-*` headers
/// (and ignore `traceparent`): the trace comes from the caller's B3 headers and reaches service
/// B through the client's.
#[tokio::test]
async fn b3_multi_headers_carry_the_trace_when_configured() {
    let (telemetry, store) =
        memory_with("tracing:\n  sample_rate: 1.0\npropagation:\n  propagators: b3multi\n").await;
    let a = two_services(&telemetry).await;
    let b3_trace = "80f198ee56343ba864fe8b2a57d3eff7";
    let response = common::http_client()
        .get(format!("http://{a}/orders/1"))
        .header("traceparent", TRACEPARENT)
        .header("X-B3-TraceId", b3_trace)
        .header("X-B3-SpanId", "e457b5a2e4d86bd1")
        .header("X-B3-Sampled", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let snapshot = wait_spans(&telemetry, &store, 3).await;
    let a_server = snapshot
        .span("GET /orders/{id}")
        .kind(SpanKind::Server)
        .span();
    let client = find(&snapshot, "GET /users/{id}", SpanKind::Client);
    let b_server = find(&snapshot, "GET /users/{id}", SpanKind::Server);
    for span in [a_server, client, b_server] {
        assert_eq!(
            span.context.trace_id().to_string(),
            b3_trace,
            "{}",
            span.name
        );
    }
    assert_eq!(
        a_server.parent_span_id.unwrap().to_string(),
        "e457b5a2e4d86bd1"
    );
    assert!(a_server.parent_is_remote);
    assert_eq!(b_server.parent_span_id, Some(client.context.span_id()));
    assert!(b_server.parent_is_remote, "B read the client's B3 headers");
}
