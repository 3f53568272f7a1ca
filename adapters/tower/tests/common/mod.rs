//! What the layer's tests share: the `memory` telemetry and a wait for its spans, a reqwest
//! client, a loopback server, and the two services of the two-hop tests (B answers
//! `GET /users/{id}`; A answers `GET /orders/{id}` by asking B through `HttpClientMiddleware`;
//! both behind `HttpServerLayer`).

// Each test binary uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use hyperion::testing::{MemoryModule, MemoryStore, Snapshot};
use hyperion::{Config, Telemetry};
use hyperion_reqwest::{HttpClientMiddleware, RequestBuilderExt};
use hyperion_tower::{Ctx, HttpServerLayer};
use reqwest_middleware::ClientWithMiddleware;

/// A plain reqwest client. Installs rustls' ring provider first: in a workspace build the
/// otel adapter's `http-tls` feature (on in its tests) turns on reqwest's
/// `rustls-no-provider`, with which building any client panics until a provider is installed.
pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const PARENT_ID: &str = "00f067aa0ba902b7";
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

pub async fn memory() -> (Telemetry, MemoryStore) {
    memory_with("tracing:\n  sample_rate: 1.0\n").await
}

/// The memory module with this configuration.
pub async fn memory_with(yaml: &str) -> (Telemetry, MemoryStore) {
    let module = MemoryModule::new();
    let store = module.store();
    let telemetry = Telemetry::builder()
        .module(module)
        .config(Config::from_yaml_str(yaml).unwrap())
        .build()
        .await
        .unwrap();
    (telemetry, store)
}

/// Flushes until `n` spans were recorded (spans end when the server drops the body, which can
/// be just after the client has read it).
pub async fn wait_spans(telemetry: &Telemetry, store: &MemoryStore, n: usize) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        telemetry.flush(Duration::from_secs(1)).await.unwrap();
        let snapshot = store.snapshot();
        if snapshot.spans.len() >= n {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} spans, got {}:\n{}",
            snapshot.spans.len(),
            snapshot.tree()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

#[derive(Clone)]
struct Downstream {
    client: ClientWithMiddleware,
    base: String,
}

/// Service A: asks B for the order's user.
async fn order(
    Ctx(ctx): Ctx,
    State(down): State<Downstream>,
    Path(id): Path<u32>,
) -> Result<String, StatusCode> {
    let user_id = if id == 500 { 500 } else { 7 };
    let response = down
        .client
        .get(format!("{}/users/{user_id}", down.base))
        .url_template("/users/{id}")
        .context(&ctx)
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !response.status().is_success() {
        return Err(StatusCode::BAD_GATEWAY);
    }
    Ok(format!("order {id} for {}", response.text().await.unwrap()))
}

/// Service B.
async fn user(Path(id): Path<u32>) -> Result<&'static str, StatusCode> {
    match id {
        500 => Err(StatusCode::INTERNAL_SERVER_ERROR),
        _ => Ok("ada"),
    }
}

/// Starts B, then A calling B; returns A's address.
pub async fn two_services(telemetry: &Telemetry) -> SocketAddr {
    let b = serve(
        Router::new()
            .route("/users/{id}", get(user))
            .layer(HttpServerLayer::new(telemetry)),
    )
    .await;
    let client = reqwest_middleware::ClientBuilder::new(http_client())
        .with(HttpClientMiddleware::new(telemetry))
        .build();
    let down = Downstream {
        client,
        base: format!("http://{b}"),
    };
    serve(
        Router::new()
            .route("/orders/{id}", get(order))
            .with_state(down)
            .layer(HttpServerLayer::new(telemetry)),
    )
    .await
}
