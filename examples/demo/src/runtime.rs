//! What every service does around its routes: build its telemetry from YAML, serve HTTP behind
//! the tracing layer with `/metrics` and `/health` beside the routes, call the other services
//! through the tracing client, and shut down cleanly on Ctrl-C or SIGTERM.

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hyperion::config::ConfigLoader;
use hyperion::{Telemetry, kv};
use hyperion_otel::OtelModule;
use hyperion_reqwest::HttpClientMiddleware;
use hyperion_tower::HttpServerLayer;
use reqwest_middleware::ClientWithMiddleware;

use crate::settings::Settings;

/// How long shutdown may take to flush telemetry.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A boxed error for `main`.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The service's telemetry: its YAML (the embedded default, or `HYPERION_CONFIG`), then the
/// `HYPERION_*` and `OTEL_*` variables, through the `otel` module.
///
/// # Errors
///
/// A configuration error names the key, the value, what is allowed and where it came from.
pub async fn telemetry(settings: &Settings) -> Result<(Telemetry, OtelModule), BoxError> {
    let loader = match &settings.config_file {
        Some(path) => ConfigLoader::new().file(path),
        None => ConfigLoader::new().yaml(settings.service.default_config()),
    };
    let config = loader.process_env().load()?;
    let module = OtelModule::new();
    let telemetry = Telemetry::builder()
        .module(module.clone())
        .config(config)
        .build()
        .await?;
    Ok((telemetry, module))
}

/// An HTTP client whose requests are CLIENT spans carrying the trace to the callee.
pub fn http_client(telemetry: &Telemetry) -> ClientWithMiddleware {
    // reqwest may be built with rustls and no provider in this workspace (see Cargo.toml);
    // installing one twice is harmless, so the result is ignored.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client with a timeout builds");
    reqwest_middleware::ClientBuilder::new(client)
        .with(HttpClientMiddleware::new(telemetry))
        .build()
}

/// Serves `routes` on the service's address behind the tracing layer, with `/health` and the
/// Prometheus endpoint at `/metrics` (neither traced), until Ctrl-C or SIGTERM; then lets the
/// requests in flight finish and flushes the telemetry.
///
/// # Errors
///
/// The address cannot be bound, or the server fails.
pub async fn serve(
    settings: &Settings,
    telemetry: &Telemetry,
    module: &OtelModule,
    routes: Router,
) -> Result<(), BoxError> {
    let mut app = routes
        .route("/health", get(|| async { "ok" }))
        .layer(HttpServerLayer::new(telemetry));
    if let Some(endpoint) = module.prometheus_endpoint() {
        app = app.merge(endpoint.router());
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| {
            format!(
                "{}: cannot listen on {}: {e}",
                settings.service, settings.listen
            )
        })?;
    let address = listener.local_addr()?;
    telemetry
        .context()
        .log()
        .info("listening", &[kv("address", address.to_string())]);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    telemetry.context().log().info("stopping", &[]);
    telemetry.shutdown(SHUTDOWN_TIMEOUT).await?;
    Ok(())
}

/// Completes at the first Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
