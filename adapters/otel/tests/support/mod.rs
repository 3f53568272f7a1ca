//! Shared helpers for the adapter's integration tests: real backends the exporters talk to.
//!
//! Include it from a test file with `mod support;` and use what the test needs:
//!
//! - [`OtlpReceiver`]: an in-test OTLP trace receiver, gRPC and HTTP (protobuf or JSON, gzip or
//!   not), that stores every request, can fail or delay on demand, and flattens what arrived into
//!   [`ReceivedSpan`]s.
//! - [`ZipkinReceiver`]: an in-test Zipkin v2 JSON receiver (`POST /api/v2/spans`).
//! - [`Rotel`]: the rotel OpenTelemetry collector (`pip install rotel`, see `scripts/setup.sh`)
//!   run as a child process that forwards what it receives to an [`OtlpReceiver`]. A missing
//!   rotel fails the test; it never skips.
//!
//! The receivers run on a runtime of their own, on their own thread, so they keep answering even
//! while the test thread blocks (a blocking exporter's flush, say). Every wait takes a timeout
//! and panics with what did arrive when it passes.

// Each test binary uses only part of the helpers.
#![allow(dead_code, unused_imports)]

mod otlp;
mod prometheus;
mod rotel;
mod server;
mod tls;
mod zipkin;

pub use otlp::{
    AttrValue, Delivery, OtlpReceiver, ReceivedEvent, ReceivedLink, ReceivedSpan, Transport,
};
pub use prometheus::{Exemplar, Prometheus, Sample, TargetHealth, prometheus_path};
pub use rotel::{ForwardProtocol, Rotel, RotelBuilder, free_port, rotel_agent_path};
pub use tls::TlsProxy;
pub use zipkin::ZipkinReceiver;

/// The generated OTLP trace types the helpers traffic in, re-exported for tests that build or
/// inspect requests by hand.
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};

/// Telemetry on `module` from `yaml`, its Prometheus endpoint on a free port (tests run in
/// parallel). Panics, with the YAML, if it does not load or build.
pub async fn telemetry(module: &hyperion_otel::OtelModule, yaml: &str) -> hyperion::Telemetry {
    let config = hyperion::config::ConfigLoader::new()
        .yaml(yaml)
        .set("metrics.port", 0)
        .load()
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    hyperion::Telemetry::builder()
        .module(module.clone())
        .config(config)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Lower-case hex of `bytes`, the form OTLP/JSON and Zipkin use for trace and span ids.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Gzip-compresses `bytes` (for tests that post compressed bodies by hand).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// Decompresses a gzip body.
pub fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}
