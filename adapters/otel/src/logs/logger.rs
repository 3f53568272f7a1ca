//! The facade's [`hyperion::Logger`] in module `otel`: lines on stdout/stderr (JSON or pretty,
//! [`crate::logs`]) and, with `logging.otlp: true`, OpenTelemetry log records over OTLP to the
//! traces' collector, each carrying its trace context, severity, body, attributes and resource.

use std::time::SystemTime;

use hyperion::{Level, Record, Value};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};

use crate::logs::{Filter, LineWriter};

/// Lines, OTLP records, or both, behind one level filter.
pub(crate) struct OtelLogger {
    pub(crate) filter: Filter,
    pub(crate) lines: Option<LineWriter>,
    pub(crate) otlp: Option<(SdkLoggerProvider, SdkLogger)>,
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Trace => Severity::Trace,
        Level::Debug => Severity::Debug,
        Level::Info => Severity::Info,
        Level::Warn => Severity::Warn,
        Level::Error => Severity::Error,
        Level::Fatal => Severity::Fatal,
    }
}

fn any_value(value: &Value<'_>) -> AnyValue {
    match value {
        Value::Bool(b) => AnyValue::Boolean(*b),
        Value::I64(i) => AnyValue::Int(*i),
        Value::F64(f) => AnyValue::Double(*f),
        Value::Str(s) => AnyValue::String(s.to_string().into()),
        Value::StaticStr(s) => AnyValue::String((*s).into()),
        Value::Array(items) => {
            AnyValue::ListAny(Box::new(items.as_slice().iter().map(any_value).collect()))
        }
    }
}

impl OtelLogger {
    fn emit_otlp(&self, logger: &SdkLogger, record: &Record<'_>) {
        let mut log = logger.create_log_record();
        let now = SystemTime::now();
        log.set_timestamp(now);
        log.set_observed_timestamp(now);
        log.set_severity_number(severity(record.level));
        log.set_severity_text(record.level.as_str());
        let body = match record.message.as_str() {
            Some(s) => AnyValue::String(s.to_owned().into()),
            None => AnyValue::String(record.message.to_string().into()),
        };
        log.set_body(body);
        log.set_target(record.target.to_owned());
        for kv in record.attributes {
            log.add_attribute(crate::convert::key(&kv.key), any_value(&kv.value));
        }
        let sc = record.span_context;
        if sc.is_valid() {
            log.set_trace_context(
                opentelemetry::trace::TraceId::from_bytes(sc.trace_id().to_bytes()),
                opentelemetry::trace::SpanId::from_bytes(sc.span_id().to_bytes()),
                Some(opentelemetry::trace::TraceFlags::new(
                    sc.trace_flags().to_u8(),
                )),
            );
        }
        logger.emit(log);
    }

    pub(crate) fn otlp_provider(&self) -> Option<&SdkLoggerProvider> {
        self.otlp.as_ref().map(|(p, _)| p)
    }
}

impl hyperion::Logger for OtelLogger {
    fn enabled(&self, level: Level, target: &str) -> bool {
        self.filter.enabled(level, target)
    }

    fn emit(&self, record: &Record<'_>) {
        match (&self.lines, &self.otlp) {
            // Both sinks: format a message with arguments once, so that both get the same text
            // and a `Display` with side effects runs once.
            (Some(lines), Some((_, logger))) if record.message.as_str().is_none() => {
                let text = record.message.to_string();
                let record = Record {
                    message: format_args!("{text}"),
                    ..*record
                };
                lines.write(&record);
                self.emit_otlp(logger, &record);
            }
            (lines, otlp) => {
                if let Some(lines) = lines {
                    lines.write(record);
                }
                if let Some((_, logger)) = otlp {
                    self.emit_otlp(logger, record);
                }
            }
        }
    }
}
