//! `tracing` interop: events that libraries emit with `tracing::info!` and friends (sqlx, hyper,
//! reqwest, ...) go to the telemetry's logger, correlated with the intercepted call they happen
//! in.
//!
//! The facade keeps no thread-local "entered" span across `.await`s; instead, while an
//! intercepted call is being polled, its span is the thread's current one
//! ([`hyperion::context::with_current_span_context`]), and this layer reads it for each event.

use hyperion::context::with_current_span_context;
use hyperion::{KeyValue, Level, Record, Telemetry, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};

/// A `tracing_subscriber` layer that sends `tracing` events to a telemetry's logger, with the
/// trace and span ids of the intercepted call they are emitted in.
///
/// ```no_run
/// # async fn run(telemetry: hyperion::Telemetry) {
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let subscriber = tracing_subscriber::registry()
///     .with(hyperion_otel::TracingBridge::new(&telemetry));
/// tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
/// # }
/// ```
///
/// Events from the OpenTelemetry SDK itself (targets `opentelemetry*`), from this crate, and from
/// the threads that export (the SDK's, the adapter's runtime, reqwest's client thread) are not
/// bridged: exporting them would log about exporting, forever.
///
/// Events are correlated with the intercepted call being polled on the thread. For a span started
/// by hand with [`hyperion::Context::start_span`], run the code under it with
/// [`hyperion::Context::scope`] (futures) or [`hyperion::Context::in_scope`] (closures).
#[derive(Clone, Debug)]
pub struct TracingBridge {
    telemetry: Telemetry,
}

impl TracingBridge {
    /// A bridge into `telemetry`'s logger (whatever module serves logging).
    pub fn new(telemetry: &Telemetry) -> Self {
        TracingBridge {
            telemetry: telemetry.clone(),
        }
    }
}

fn level(level: &tracing::Level) -> Level {
    match *level {
        tracing::Level::TRACE => Level::Trace,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::INFO => Level::Info,
        tracing::Level::WARN => Level::Warn,
        tracing::Level::ERROR => Level::Error,
    }
}

/// Whether this event must not be bridged: it would loop through the exporter (an export that
/// logs, whose log is exported, which logs...).
///
/// - targets of the SDK and of this crate;
/// - anything on a thread where the SDK suppresses telemetry (its batch processors and periodic
///   reader mark their exporting threads so);
/// - anything on the adapter's own runtime (the gRPC connections and the Prometheus listener,
///   where h2/hyper/tonic log per frame) or on reqwest's internal runtime thread (the OTLP/HTTP
///   and Zipkin clients).
fn excluded(target: &str) -> bool {
    target.starts_with("opentelemetry")
        || target.starts_with("hyperion_otel")
        || opentelemetry::Context::is_current_telemetry_suppressed()
        || crate::adapter_runtime::on_export_thread()
        || std::thread::current().name() == Some("reqwest-internal-sync-runtime")
}

/// An event's fields, owned for the call.
#[derive(Default)]
struct Fields {
    message: String,
    values: Vec<(&'static str, Value<'static>)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.values
                .push((field.name(), Value::from(value.to_owned())));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.push((field.name(), Value::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.push((field.name(), Value::from(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.values.push((field.name(), Value::F64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values.push((field.name(), Value::Bool(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.values
                .push((field.name(), Value::from(format!("{value:?}"))));
        }
    }
}

impl<S: Subscriber> Layer<S> for TracingBridge {
    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        if excluded(target) {
            return;
        }
        let Some(logger) = self.telemetry.logger() else {
            return;
        };
        let level = level(meta.level());
        // The level check comes before any field is looked at.
        if !logger.enabled(level, target) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let attributes: Vec<KeyValue<'_>> = fields
            .values
            .iter()
            .map(|(k, v)| KeyValue::new(*k, v.clone()))
            .collect();
        with_current_span_context(|span_context| {
            logger.emit(&Record {
                level,
                target,
                message: format_args!("{}", fields.message),
                attributes: &attributes,
                span_context,
            });
        });
    }
}
