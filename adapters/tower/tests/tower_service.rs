//! The layer around a plain tower service (no axum): the context in the request's extensions,
//! a service error, and a response whose body is dropped unread.

mod common;

use std::time::Duration;

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyperion::Value;
use hyperion_tower::{HttpServerLayer, context_of};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use common::memory;

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused to answer")
    }
}

async fn handler(
    request: Request<Full<&'static [u8]>>,
) -> Result<Response<Full<&'static [u8]>>, Refused> {
    if request.uri().path() == "/refuse" {
        return Err(Refused);
    }
    let ctx = context_of(&request.into_parts().0);
    assert!(
        ctx.span_context().is_valid(),
        "the layer put the context in the extensions"
    );
    ctx.log().info("handled", &[]);
    Ok(Response::new(Full::new(&b"hello"[..])))
}

#[tokio::test]
async fn a_tower_service_gets_the_context_from_the_extensions() {
    let (telemetry, store) = memory().await;
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new(&telemetry))
        .service(service_fn(handler));
    let response = service
        .oneshot(Request::get("/hello").body(Full::new(&b""[..])).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    let snapshot = store.snapshot();
    // No router, so no route: the method alone names the span.
    let span = snapshot.span("GET").status_not_error().span();
    assert_eq!(
        span.attribute("http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(snapshot.logs[0].span_id, Some(span.context.span_id()));
}

#[tokio::test]
async fn a_service_error_is_recorded_with_its_type_as_error_type() {
    let (telemetry, store) = memory().await;
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new(&telemetry))
        .service(service_fn(handler));
    let error = service
        .oneshot(Request::get("/refuse").body(Full::new(&b""[..])).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "refused to answer");
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    let snapshot = store.snapshot();
    let span = snapshot
        .span("GET")
        .status_error()
        .event("exception")
        .span();
    let error_type = span.attribute("error.type").unwrap().as_str().unwrap();
    assert!(error_type.ends_with("Refused"), "{error_type}");
    assert!(span.attribute("http.response.status_code").is_none());
    let point = snapshot.points("http.server.request.duration")[0];
    assert_eq!(
        point.attribute("error.type").unwrap().as_str(),
        Some(error_type)
    );
}

#[tokio::test]
async fn a_body_dropped_unread_counts_as_aborted() {
    let (telemetry, store) = memory().await;
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new(&telemetry))
        .service(service_fn(handler));
    let response = service
        .oneshot(Request::get("/hello").body(Full::new(&b""[..])).unwrap())
        .await
        .unwrap();
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    assert!(
        store.snapshot().spans.is_empty(),
        "the span ends with the body, not the head"
    );
    drop(response);
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    let snapshot = store.snapshot();
    let span = snapshot.span("GET").status_error().span();
    assert_eq!(
        span.attribute("error.type").unwrap().as_str(),
        Some("aborted")
    );
}
