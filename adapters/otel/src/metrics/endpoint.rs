//! The Prometheus pull endpoint: served on its own listener by the adapter (`metrics.port`,
//! `metrics.bind_address`, `metrics.path`), and available as an axum router that an application
//! can mount in its own server.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::metrics::prometheus::PrometheusSink;
use crate::metrics::runtime::RuntimeMetrics;

/// The Prometheus endpoint of telemetry built with `metrics.exporter: prometheus` or `both`.
///
/// Get it from [`crate::OtelModule::prometheus_endpoint`]. Scrapers that send
/// `Accept: application/openmetrics-text` get OpenMetrics with exemplars; others get the classic
/// text format.
///
/// ```no_run
/// # async fn mount(otel: hyperion_otel::OtelModule) {
/// // In an axum application: serve the metrics from the application's own listener too.
/// let endpoint = otel.prometheus_endpoint().expect("metrics.exporter is prometheus");
/// let app: axum::Router = axum::Router::new().merge(endpoint.router());
/// # let _ = app;
/// # }
/// ```
#[derive(Clone)]
pub struct PrometheusEndpoint {
    sink: Arc<PrometheusSink>,
    runtime: Arc<OnceLock<RuntimeMetrics>>,
    path: String,
    local_addr: Option<SocketAddr>,
}

impl PrometheusEndpoint {
    pub(crate) fn new(
        sink: Arc<PrometheusSink>,
        runtime: Arc<OnceLock<RuntimeMetrics>>,
        path: String,
        local_addr: Option<SocketAddr>,
    ) -> Self {
        PrometheusEndpoint {
            sink,
            runtime,
            path,
            local_addr,
        }
    }

    /// Where the adapter's own listener serves (useful with `metrics.port: 0`); `None` with
    /// `metrics.listen: false`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The path metrics are served at (`metrics.path`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The body for a scrape with this `Accept` header, and its content type.
    pub fn render(&self, accept: Option<&str>) -> (&'static str, String) {
        if let Some(runtime) = self.runtime.get() {
            runtime.collect();
        }
        let openmetrics = PrometheusSink::wants_openmetrics(accept);
        (
            PrometheusSink::content_type(openmetrics),
            self.sink.render(openmetrics),
        )
    }

    /// An axum router serving `GET {metrics.path}`.
    pub fn router(&self) -> axum::Router {
        let endpoint = self.clone();
        axum::Router::new().route(
            &self.path,
            axum::routing::get(move |headers: HeaderMap| {
                let endpoint = endpoint.clone();
                async move { endpoint.respond(&headers) }
            }),
        )
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let (content_type, body) = self.render(accept);
        (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
    }
}

impl std::fmt::Debug for PrometheusEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusEndpoint")
            .field("path", &self.path)
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Binds `metrics.bind_address:metrics.port` now, so that a port in use is a startup error that
/// names the key.
pub(crate) fn bind(
    config: &crate::config::MetricsSettings,
) -> Result<std::net::TcpListener, hyperion::ConfigError> {
    let addr = format!("{}:{}", config.bind_address, config.port);
    let listener = std::net::TcpListener::bind(&addr).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            hyperion::ConfigError::Invalid {
                key: "metrics.port".to_owned(),
                found: config.port.to_string(),
                expected: format!("a port free to listen on at {addr} ({e})"),
                origin: None,
            }
        } else {
            hyperion::ConfigError::Invalid {
                key: "metrics.bind_address".to_owned(),
                found: format!("{:?}", config.bind_address),
                expected: format!("an address of this machine to listen on ({e})"),
                origin: None,
            }
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| hyperion::ConfigError::Invalid {
            key: "metrics.port".to_owned(),
            found: config.port.to_string(),
            expected: format!("a usable listener at {addr} ({e})"),
            origin: None,
        })?;
    Ok(listener)
}

/// Serves the endpoint on `listener`, on `runtime`, until the returned sender is used or
/// dropped (then the listener closes and the port is free again).
pub(crate) fn serve(
    endpoint: &PrometheusEndpoint,
    listener: std::net::TcpListener,
    runtime: &tokio::runtime::Handle,
) -> std::io::Result<tokio::sync::oneshot::Sender<()>> {
    let _entered = runtime.enter();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let router = endpoint.router();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(stop)
}
