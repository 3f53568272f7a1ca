//! `hyperion-viewer`: a local telemetry viewer for development.
//!
//! An OTLP receiver — gRPC on `:4317`, HTTP/protobuf and HTTP/JSON on `:4318` — that keeps the
//! most recent traces, log records and metric points in bounded memory, and a web page on
//! `:16686` that draws each trace as a waterfall with every span's log records under it, lists
//! the metric series with their exemplars as links to their traces, and opens a pasted trace
//! id. Any OTLP SDK can send to it; nothing else needs to run (no Docker, no collector).
//!
//! It is a development tool, not a storage backend: nothing is written to disk, the oldest data
//! is evicted when a limit is reached, and there is no authentication (it listens on
//! `127.0.0.1` unless told otherwise). In production, send OTLP to an OpenTelemetry Collector
//! and on to Jaeger or Tempo (traces), Prometheus (metrics) and a log store.
//!
//! Run it as a binary (`cargo run -p hyperion-viewer`, `--help` for the flags) or inside
//! another program:
//!
//! ```no_run
//! use hyperion_viewer::{Viewer, ViewerConfig};
//!
//! # async fn run() -> Result<(), hyperion_viewer::ViewerError> {
//! let viewer = Viewer::start(ViewerConfig::default()).await?; // :4317, :4318, :16686
//! println!("open {}", viewer.ui_url());
//! // Services export with OTEL_EXPORTER_OTLP_ENDPOINT=viewer.otlp_grpc_endpoint() ...
//! viewer.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! The JSON API behind the page (`/api/traces?service=&min_duration=&error=`,
//! `/api/traces/{id}`, `/api/metrics`, `/api/logs`, `/api/stats`) is listed in [`web`].
//!
//! Exemplars arrive with OTLP metrics that carry them (hyperion's do; the OpenTelemetry Rust
//! SDK's carry none yet). A service that exports metrics only to Prometheus can be scraped
//! instead ([`ViewerConfig::scrape`], `--scrape NAME=URL`).

mod ids;
mod otlp;
mod scrape;
mod server;
pub mod store;
mod value;
pub mod view;
pub mod web;

pub use ids::{IdError, SpanId, TraceId};
pub use scrape::{ScrapeTarget, ScrapeTargetError};
pub use server::{MIN_SCRAPE_INTERVAL, Viewer, ViewerConfig, ViewerError};
pub use store::{Limits, LimitsError, Stats, Store};
