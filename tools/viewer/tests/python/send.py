"""Sends a trace, a log record and a histogram with the OpenTelemetry Python SDK's OTLP
exporters: once over gRPC (service `python-grpc`) and once over HTTP/protobuf (service
`python-http`). Prints what it sent as one JSON line, for tools/viewer/tests/python_sdk.rs.

Usage: send.py GRPC_ENDPOINT HTTP_ENDPOINT   (e.g. http://127.0.0.1:4317 http://127.0.0.1:4318)
"""

import json
import sys

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, format_span_id, format_trace_id
from opentelemetry._logs import SeverityNumber


def exporters(transport, grpc_endpoint, http_endpoint):
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return (
            OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True),
            OTLPLogExporter(endpoint=grpc_endpoint, insecure=True),
            OTLPMetricExporter(endpoint=grpc_endpoint, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return (
        OTLPSpanExporter(endpoint=http_endpoint + "/v1/traces"),
        OTLPLogExporter(endpoint=http_endpoint + "/v1/logs"),
        OTLPMetricExporter(endpoint=http_endpoint + "/v1/metrics"),
    )


def send(transport, grpc_endpoint, http_endpoint):
    service = "python-" + transport
    resource = Resource.create({"service.name": service, "service.version": "1.2.3"})
    span_exporter, log_exporter, metric_exporter = exporters(transport, grpc_endpoint, http_endpoint)

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])

    tracer = tracer_provider.get_tracer("send.py")
    logger = logger_provider.get_logger("send.py")
    histogram = meter_provider.get_meter("send.py").create_histogram("checkout.duration", unit="s")

    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/checkout")
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as child:
            child.set_attribute("payment.amount", 12.5)
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "card declined"))
            logger.emit(severity_number=SeverityNumber.WARN, severity_text="WARN",
                        body="card declined, retrying", attributes={"attempt": 2})
            child_id = format_span_id(child.get_span_context().span_id)
        # Recorded while the root span is current and sampled: the SDK's trace_based exemplar
        # filter attaches it as an exemplar.
        histogram.record(0.25, {"http.route": "/checkout"})
        trace_id = format_trace_id(root.get_span_context().trace_id)
        root_id = format_span_id(root.get_span_context().span_id)

    meter_provider.force_flush()
    for provider in (tracer_provider, logger_provider, meter_provider):
        provider.shutdown()
    return {"service": service, "trace_id": trace_id, "root": root_id, "child": child_id}


def main():
    grpc_endpoint, http_endpoint = sys.argv[1], sys.argv[2]
    sent = {t: send(t, grpc_endpoint, http_endpoint) for t in ("grpc", "http")}
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
