//! Two services for the two-hop tests: B answers `GET /users/{id}`; A answers
//! `GET /orders/{id}` by asking B through `HttpClientMiddleware`. Both behind `HttpServerLayer`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use hyperion::Telemetry;
use hyperion_reqwest::{HttpClientMiddleware, RequestBuilderExt};
use hyperion_tower::{Ctx, HttpServerLayer};
use reqwest_middleware::ClientWithMiddleware;

/// A plain reqwest client. Installs rustls' ring provider first: in a workspace build the
/// otel adapter's `http-tls` feature (on in its tests) turns on reqwest's
/// `rustls-no-provider`, with which building any client panics until a provider is installed.
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
