//! Starting and stopping the viewer: three listeners (OTLP/gRPC, OTLP/HTTP, the web page)
//! over one [`Store`], and the optional scraper.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::otlp::grpc::ExportService;
use crate::otlp::{Logs, Metrics, Traces};
use crate::scrape::ScrapeTarget;
use crate::store::{Limits, LimitsError, Store};

/// The shortest scrape interval accepted.
pub const MIN_SCRAPE_INTERVAL: Duration = Duration::from_millis(100);

/// Where the viewer listens, what it keeps, and what it scrapes.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewerConfig {
    /// The address every listener binds. Default: `127.0.0.1` (this machine only; the viewer
    /// has no authentication).
    pub bind: IpAddr,
    /// The OTLP/gRPC port; 0 picks a free one. Default: 4317.
    pub grpc_port: u16,
    /// The OTLP/HTTP port (protobuf and JSON); 0 picks a free one. Default: 4318.
    pub http_port: u16,
    /// The web page's port; 0 picks a free one. Default: 16686 (Jaeger's).
    pub ui_port: u16,
    /// How much is kept.
    pub limits: Limits,
    /// Prometheus endpoints to scrape for metrics with exemplars. Default: none.
    pub scrape: Vec<ScrapeTarget>,
    /// How often they are scraped. Default: 5 s.
    pub scrape_interval: Duration,
}

impl Default for ViewerConfig {
    fn default() -> Self {
        ViewerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            grpc_port: 4317,
            http_port: 4318,
            ui_port: 16686,
            limits: Limits::default(),
            scrape: Vec::new(),
            scrape_interval: Duration::from_secs(5),
        }
    }
}

impl ViewerConfig {
    /// The defaults with every port 0: free ports chosen by the system, for tests or for a
    /// viewer run inside another program next to servers on the usual ports.
    pub fn ephemeral() -> Self {
        ViewerConfig {
            grpc_port: 0,
            http_port: 0,
            ui_port: 0,
            ..ViewerConfig::default()
        }
    }
}

/// Why the viewer could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// A limit cannot work.
    #[error("invalid limits: {0}")]
    Limits(#[from] LimitsError),
    /// A listener could not be opened.
    #[error(
        "cannot listen for {what} on {addr}: {source}; is a collector or another viewer \
         running there? Pick another port with {flag}"
    )]
    Bind {
        /// `OTLP/gRPC`, `OTLP/HTTP` or `the web page`.
        what: &'static str,
        /// The address tried.
        addr: SocketAddr,
        /// The command-line flag that moves it.
        flag: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A setting that cannot work.
    #[error("invalid setting: {0}")]
    Setting(String),
    /// A server stopped with an error.
    #[error("the {what} server failed: {message}")]
    Serve {
        /// Which server.
        what: &'static str,
        /// What it said.
        message: String,
    },
}

/// Refuses a request whose `Host` names anything but this machine, when the viewer listens on
/// loopback: a web page elsewhere that rebinds its own name to 127.0.0.1 (DNS rebinding) would
/// otherwise read the stored telemetry, or post to it, from a browser tab. Browsers always
/// send `Host`; a request without one (an HTTP/1.0 script) is let through.
async fn loopback_host_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let host = request
        .headers()
        .get(http::header::HOST)
        .map(|value| value.to_str().unwrap_or("?").to_owned());
    let allowed = host.as_deref().is_none_or(|host| {
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        };
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    if allowed {
        next.run(request).await
    } else {
        use axum::response::IntoResponse;
        (
            http::StatusCode::FORBIDDEN,
            format!(
                "the viewer answers requests for localhost only, not for Host {:?}",
                host.unwrap_or_default()
            ),
        )
            .into_response()
    }
}

/// A running viewer. Dropping it stops every server at once; [`Viewer::shutdown`] stops them
/// gracefully.
///
/// ```no_run
/// # async fn run() -> Result<(), hyperion_viewer::ViewerError> {
/// let viewer = hyperion_viewer::Viewer::start(hyperion_viewer::ViewerConfig::default()).await?;
/// println!("traces: {}  OTLP: {}", viewer.ui_url(), viewer.otlp_grpc_endpoint());
/// // ... run the services with OTEL_EXPORTER_OTLP_ENDPOINT set to viewer.otlp_grpc_endpoint() ...
/// viewer.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct Viewer {
    store: Store,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    ui_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<(), ViewerError>>,
}

async fn bind(
    ip: IpAddr,
    port: u16,
    what: &'static str,
    flag: &'static str,
) -> Result<TcpListener, ViewerError> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr)
        .await
        .map_err(|source| ViewerError::Bind {
            what,
            addr,
            flag,
            source,
        })
}

fn local_addr(listener: &TcpListener, what: &'static str) -> Result<SocketAddr, ViewerError> {
    listener.local_addr().map_err(|e| ViewerError::Serve {
        what,
        message: e.to_string(),
    })
}

impl Viewer {
    /// Opens the three listeners, then serves on the current tokio runtime (multi-threaded for
    /// speed, but any runtime works) until shut down or dropped.
    ///
    /// # Errors
    ///
    /// A limit that cannot work, or a port that cannot be bound (the error names the port and
    /// the flag that moves it).
    pub async fn start(config: ViewerConfig) -> Result<Viewer, ViewerError> {
        if !config.scrape.is_empty() && config.scrape_interval < MIN_SCRAPE_INTERVAL {
            return Err(ViewerError::Setting(format!(
                "the scrape interval is {:?}; it must be at least {MIN_SCRAPE_INTERVAL:?}",
                config.scrape_interval
            )));
        }
        let store = Store::new(config.limits)?;
        let grpc = bind(config.bind, config.grpc_port, "OTLP/gRPC", "--grpc-port").await?;
        let http = bind(config.bind, config.http_port, "OTLP/HTTP", "--http-port").await?;
        let ui = bind(config.bind, config.ui_port, "the web page", "--ui-port").await?;
        let grpc_addr = local_addr(&grpc, "OTLP/gRPC")?;
        let http_addr = local_addr(&http, "OTLP/HTTP")?;
        let ui_addr = local_addr(&ui, "web page")?;

        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let mut tasks = JoinSet::new();

        let grpc_server = tonic::transport::Server::builder()
            .add_service(ExportService::<Traces>::new(store.clone()))
            .add_service(ExportService::<Metrics>::new(store.clone()))
            .add_service(ExportService::<Logs>::new(store.clone()));
        let incoming = tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true));
        let signal = until_stopped(stopped.clone());
        tasks.spawn(async move {
            grpc_server
                .serve_with_incoming_shutdown(incoming, signal)
                .await
                .map_err(|e| ViewerError::Serve {
                    what: "OTLP/gRPC",
                    message: e.to_string(),
                })
        });

        for (listener, router, what) in [
            (http, crate::otlp::http::router(store.clone()), "OTLP/HTTP"),
            (ui, crate::web::router(store.clone()), "web page"),
        ] {
            let router = if config.bind.is_loopback() {
                router.layer(axum::middleware::from_fn(loopback_host_only))
            } else {
                router
            };
            let signal = until_stopped(stopped.clone());
            tasks.spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(signal)
                    .await
                    .map_err(|e| ViewerError::Serve {
                        what,
                        message: e.to_string(),
                    })
            });
        }

        if !config.scrape.is_empty() {
            let scraper =
                crate::scrape::run(store.clone(), config.scrape.clone(), config.scrape_interval);
            let signal = until_stopped(stopped);
            tasks.spawn(async move {
                tokio::select! {
                    () = scraper => {}
                    () = signal => {}
                }
                Ok(())
            });
        }

        Ok(Viewer {
            store,
            grpc_addr,
            http_addr,
            ui_addr,
            stop,
            tasks,
        })
    }

    /// The store the receivers fill and the pages read.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where OTLP/gRPC is received.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Where OTLP/HTTP is received.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the web page is served.
    pub fn ui_addr(&self) -> SocketAddr {
        self.ui_addr
    }

    /// The OTLP/gRPC endpoint for exporters, `http://127.0.0.1:4317`
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT` with protocol `grpc`).
    pub fn otlp_grpc_endpoint(&self) -> String {
        format!("http://{}", connectable(self.grpc_addr))
    }

    /// The OTLP/HTTP base URL for exporters, `http://127.0.0.1:4318` (they post to
    /// `/v1/traces`, `/v1/metrics`, `/v1/logs` under it).
    pub fn otlp_http_endpoint(&self) -> String {
        format!("http://{}", connectable(self.http_addr))
    }

    /// The web page, `http://127.0.0.1:16686`.
    pub fn ui_url(&self) -> String {
        format!("http://{}", connectable(self.ui_addr))
    }

    /// Resolves when a server stops by itself, which is an error: they run until shut down.
    ///
    /// # Errors
    ///
    /// What the server that stopped said.
    pub async fn wait(&mut self) -> Result<(), ViewerError> {
        match self.tasks.join_next().await {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(ViewerError::Serve {
                what: "viewer",
                message: e.to_string(),
            }),
        }
    }

    /// Stops accepting, finishes the requests in flight (bounded by 5 s), and stops.
    ///
    /// # Errors
    ///
    /// A server that failed while stopping.
    pub async fn shutdown(mut self) -> Result<(), ViewerError> {
        let _ = self.stop.send(true);
        let tasks = &mut self.tasks;
        let drain = async {
            let mut result = Ok(());
            while let Some(joined) = tasks.join_next().await {
                if let Ok(Err(e)) = joined {
                    result = Err(e);
                }
            }
            result
        };
        // A client holding a connection open would keep a graceful stop waiting forever.
        tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .unwrap_or(Ok(()))
    }
}

/// An address a client can connect to: the unspecified address becomes loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .field("ui_addr", &self.ui_addr)
            .finish_non_exhaustive()
    }
}
