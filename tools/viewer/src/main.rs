//! `hyperion-viewer`: receives OTLP on :4317 (gRPC) and :4318 (HTTP) and shows traces, logs and
//! metrics on http://127.0.0.1:16686. `--help` lists the flags; each has a `HYPERION_VIEWER_*`
//! variable too.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hyperion_viewer::{Limits, ScrapeTarget, Viewer, ViewerConfig};

/// A local telemetry viewer: an OTLP receiver (gRPC, HTTP/protobuf, HTTP/JSON) with a web page
/// that draws traces as waterfalls with their logs, and metrics with exemplars linking to their
/// traces. Everything is kept in memory, newest first, within the limits below.
///
/// A development tool, not a backend: in production send OTLP to a collector and on to
/// Jaeger/Tempo/Prometheus.
#[derive(Debug, Parser)]
#[command(name = "hyperion-viewer", version)]
struct Args {
    /// The address to listen on (0.0.0.0 for every interface; there is no authentication).
    #[arg(long, env = "HYPERION_VIEWER_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The OTLP/gRPC port.
    #[arg(long, env = "HYPERION_VIEWER_GRPC_PORT", default_value_t = 4317)]
    grpc_port: u16,
    /// The OTLP/HTTP port (protobuf and JSON, /v1/traces, /v1/metrics, /v1/logs).
    #[arg(long, env = "HYPERION_VIEWER_HTTP_PORT", default_value_t = 4318)]
    http_port: u16,
    /// The web page's port.
    #[arg(long, env = "HYPERION_VIEWER_UI_PORT", default_value_t = 16686)]
    ui_port: u16,
    /// The most traces kept; the one that received nothing for longest goes first.
    #[arg(long, env = "HYPERION_VIEWER_MAX_TRACES", default_value_t = Limits::default().max_traces)]
    max_traces: usize,
    /// The most spans kept over all traces (whole traces are evicted to stay under it).
    #[arg(long, env = "HYPERION_VIEWER_MAX_SPANS", default_value_t = Limits::default().max_spans)]
    max_spans: usize,
    /// The most spans kept in one trace; later ones are dropped and counted.
    #[arg(long, env = "HYPERION_VIEWER_MAX_SPANS_PER_TRACE", default_value_t = Limits::default().max_spans_per_trace)]
    max_spans_per_trace: usize,
    /// The most log records kept.
    #[arg(long, env = "HYPERION_VIEWER_MAX_LOGS", default_value_t = Limits::default().max_logs)]
    max_logs: usize,
    /// The most metric points kept over all series.
    #[arg(long, env = "HYPERION_VIEWER_MAX_METRIC_POINTS", default_value_t = Limits::default().max_metric_points)]
    max_metric_points: usize,
    /// A Prometheus endpoint to scrape for metrics with exemplars, as NAME=URL or URL
    /// (repeatable, or comma-separated in the variable), e.g.
    /// gateway=http://127.0.0.1:8080/metrics.
    #[arg(
        long = "scrape",
        value_name = "NAME=URL",
        env = "HYPERION_VIEWER_SCRAPE",
        value_delimiter = ','
    )]
    scrape: Vec<ScrapeTarget>,
    /// How often to scrape, in seconds.
    #[arg(long, env = "HYPERION_VIEWER_SCRAPE_INTERVAL", default_value_t = 5.0, value_parser = positive_seconds)]
    scrape_interval: f64,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds above 0")),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = ViewerConfig {
        bind: args.bind,
        grpc_port: args.grpc_port,
        http_port: args.http_port,
        ui_port: args.ui_port,
        limits: Limits {
            max_traces: args.max_traces,
            max_spans: args.max_spans,
            max_spans_per_trace: args.max_spans_per_trace,
            max_logs: args.max_logs,
            max_metric_points: args.max_metric_points,
        },
        scrape: args.scrape,
        scrape_interval: match Duration::try_from_secs_f64(args.scrape_interval) {
            Ok(interval) => interval,
            Err(_) => {
                eprintln!(
                    "hyperion-viewer: --scrape-interval {} is not a number of seconds",
                    args.scrape_interval
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let mut viewer = match Viewer::start(config.clone()).await {
        Ok(viewer) => viewer,
        Err(e) => {
            eprintln!("hyperion-viewer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let limits = config.limits;
    println!(
        "hyperion-viewer: traces, logs and metrics at {}",
        viewer.ui_url()
    );
    println!(
        "  OTLP/gRPC  {}   (OTEL_EXPORTER_OTLP_ENDPOINT={} with protocol grpc)",
        viewer.otlp_grpc_endpoint(),
        viewer.otlp_grpc_endpoint()
    );
    println!(
        "  OTLP/HTTP  {}   (protobuf or JSON: /v1/traces, /v1/metrics, /v1/logs)",
        viewer.otlp_http_endpoint()
    );
    for target in &config.scrape {
        println!(
            "  scraping   {} as {} every {} s",
            target.url, target.service, args.scrape_interval
        );
    }
    println!(
        "  keeping the newest {} traces ({} spans), {} log records, {} metric points; Ctrl-C stops",
        limits.max_traces, limits.max_spans, limits.max_logs, limits.max_metric_points
    );
    let failed = tokio::select! {
        () = shutdown_signal() => None,
        result = viewer.wait() => Some(result),
    };
    match failed {
        None => {
            if let Err(e) = viewer.shutdown().await {
                eprintln!("hyperion-viewer: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) => {
            eprintln!("hyperion-viewer: {e}");
            ExitCode::FAILURE
        }
    }
}
