//! The OTLP receivers: gRPC (`grpc.rs`) and HTTP with protobuf or JSON bodies (`http.rs`),
//! both decoding with `opentelemetry-proto` and storing through the same [`OtlpSignal`].

pub(crate) mod grpc;
pub(crate) mod http;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Ingested, Store};

/// The largest export accepted, after decompression: 4 MiB, the OpenTelemetry Collector's gRPC
/// default (an SDK's batch of 512 spans is a few hundred KiB). Decoded, a message can take
/// tens of times its size in memory, so this bounds what one request can cost.
pub(crate) const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// One OTLP signal: its messages, where it is received, and how it is stored.
pub(crate) trait OtlpSignal: Send + Sync + 'static {
    /// The export request.
    type Request: prost::Message + Default + DeserializeOwned;
    /// The export response.
    type Response: prost::Message + Serialize;
    /// The request message's name, for errors.
    const REQUEST: &'static str;
    /// The gRPC service's full name.
    const GRPC_SERVICE: &'static str;
    /// The gRPC method's path.
    const GRPC_PATH: &'static str;
    /// The OTLP/HTTP path.
    const HTTP_PATH: &'static str;
    /// Stores the request; answers with the partial success, if any.
    fn ingest(store: &Store, request: Self::Request) -> Self::Response;
}

/// Traces: `TraceService/Export`, `/v1/traces`.
pub(crate) struct Traces;
/// Metrics: `MetricsService/Export`, `/v1/metrics`.
pub(crate) struct Metrics;
/// Logs: `LogsService/Export`, `/v1/logs`.
pub(crate) struct Logs;

fn partial(ingested: &Ingested) -> Option<(i64, String)> {
    (ingested.rejected > 0).then(|| (ingested.rejected, ingested.message.clone()))
}

impl OtlpSignal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const REQUEST: &'static str = "ExportTraceServiceRequest";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const HTTP_PATH: &'static str = "/v1/traces";

    fn ingest(store: &Store, request: Self::Request) -> Self::Response {
        let ingested = store.ingest_traces(request);
        ExportTraceServiceResponse {
            partial_success: partial(&ingested).map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        }
    }
}

impl OtlpSignal for Metrics {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    const REQUEST: &'static str = "ExportMetricsServiceRequest";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const GRPC_PATH: &'static str =
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    const HTTP_PATH: &'static str = "/v1/metrics";

    fn ingest(store: &Store, request: Self::Request) -> Self::Response {
        let ingested = store.ingest_metrics(request);
        ExportMetricsServiceResponse {
            partial_success: partial(&ingested).map(|(rejected_data_points, error_message)| {
                ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message,
                }
            }),
        }
    }
}

impl OtlpSignal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const REQUEST: &'static str = "ExportLogsServiceRequest";
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const HTTP_PATH: &'static str = "/v1/logs";

    fn ingest(store: &Store, request: Self::Request) -> Self::Response {
        let ingested = store.ingest_logs(request);
        ExportLogsServiceResponse {
            partial_success: partial(&ingested).map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        }
    }
}
