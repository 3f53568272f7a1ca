//! What every service does around its routes: build its telemetry from YAML, serve HTTP behind
//! the tracing layer with `/metrics` and `/health` beside the routes, call the other services
//! through the tracing client, and shut down cleanly on Ctrl-C or SIGTERM.

use std::error::Error;
use std::future::Future;
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
    // Longer than a callee's worst case (SQLite's 5 s busy timeout plus an injected delay), so
    // that a slow answer is not taken for a failure the callee then completes.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("an HTTP client with a timeout builds");
    reqwest_middleware::ClientBuilder::new(client)
        .with(HttpClientMiddleware::new(telemetry))
        .build()
}

/// Serves `routes` on the service's address behind the tracing layer, with `/health` and the
/// Prometheus endpoint at `/metrics` (neither traced), until Ctrl-C or SIGTERM; then lets the
/// requests in flight finish, runs `before_shutdown` (a service's own draining: its NATS
/// messages), and flushes the telemetry last, so that nothing recorded on the way out is lost.
///
/// # Errors
///
/// The address cannot be bound, or the server fails.
pub async fn serve(
    settings: &Settings,
    telemetry: &Telemetry,
    module: &OtelModule,
    routes: Router,
    before_shutdown: impl Future<Output = ()>,
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
    before_shutdown.await;
    telemetry.shutdown(SHUTDOWN_TIMEOUT).await?;
    Ok(())
}

/// Completes at the first Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    Signals::listen().recv().await;
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the moment [`listen`](Self::listen) is
/// called (not from the first poll), so that one arriving early is not lost.
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening.
    ///
    /// # Panics
    ///
    /// If the handlers cannot be installed (no signal support in this process).
    pub fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).expect("a SIGINT handler installs"),
                terminate: signal(SignalKind::terminate()).expect("a SIGTERM handler installs"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Completes at the next signal.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
