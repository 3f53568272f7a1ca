//! The facade's metrics over two sinks, chosen by `metrics.exporter`: the Prometheus endpoint
//! (with exemplars; see [`crate::metrics::prometheus`]) and OTLP push through the OpenTelemetry SDK's
//! periodic reader. With `both`, every record goes to each.
//!
//! The SDK cannot carry exemplars yet (open-telemetry/opentelemetry-rust issue 3369: its
//! aggregations emit none), so OTLP metrics have no exemplars; the Prometheus endpoint has them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyperion::metric::{
    CounterRecorder, GaugeRecorder, HistogramRecorder, InstrumentDescriptor, MeterProvider,
    UpDownCounterRecorder,
};
use hyperion::{Context, KeyValue};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::convert;

/// Attributes converted on the stack: most records carry a handful.
type Attrs = smallvec::SmallVec<[opentelemetry::KeyValue; 8]>;

/// Converts attributes for the SDK, cutting string values longer than `max` bytes (at a
/// character boundary), as the Prometheus sink does.
fn attrs(attributes: &[KeyValue<'_>], max: usize) -> Attrs {
    attributes
        .iter()
        .map(|kv| match kv.value.as_str() {
            Some(s) if s.len() > max => opentelemetry::KeyValue::new(
                convert::key(&kv.key),
                crate::metrics::prometheus::truncate(s, max).to_owned(),
            ),
            _ => convert::key_value(kv),
        })
        .collect()
}

/// The OTLP sink: instruments of an SDK meter provider with a periodic reader.
pub(crate) struct OtlpSink {
    provider: SdkMeterProvider,
}

impl OtlpSink {
    pub(crate) fn new(provider: SdkMeterProvider) -> Self {
        OtlpSink { provider }
    }

    pub(crate) fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    fn meter(&self, d: &InstrumentDescriptor) -> opentelemetry::metrics::Meter {
        self.provider
            .meter_with_scope(opentelemetry::InstrumentationScope::builder(d.scope.clone()).build())
    }
}

struct OtlpCounter(opentelemetry::metrics::Counter<u64>, usize);
struct OtlpUpDown(opentelemetry::metrics::UpDownCounter<i64>, usize);
struct OtlpHistogram(
    opentelemetry::metrics::Histogram<f64>,
    Arc<OtlpSinkCounters>,
    usize,
);
struct OtlpGauge(
    opentelemetry::metrics::Gauge<f64>,
    Arc<OtlpSinkCounters>,
    usize,
);

/// Counts values refused for the OTLP sink.
#[derive(Default)]
pub(crate) struct OtlpSinkCounters {
    dropped: AtomicU64,
}

impl CounterRecorder for OtlpCounter {
    fn add(&self, _: &Context, value: u64, attributes: &[KeyValue<'_>]) {
        self.0.add(value, &attrs(attributes, self.1));
    }
}

impl UpDownCounterRecorder for OtlpUpDown {
    fn add(&self, _: &Context, value: i64, attributes: &[KeyValue<'_>]) {
        self.0.add(value, &attrs(attributes, self.1));
    }
}

impl HistogramRecorder for OtlpHistogram {
    fn record(&self, _: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        if !value.is_finite() {
            self.1.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.0.record(value, &attrs(attributes, self.2));
    }
}

impl GaugeRecorder for OtlpGauge {
    fn record(&self, _: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        if !value.is_finite() {
            self.1.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.0.record(value, &attrs(attributes, self.2));
    }
}

/// What the metric sinks refused, so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricStats {
    /// Values dropped as invalid: NaN or infinite (counted once per sink that refused it).
    /// Counters take `u64`, so a negative increment cannot reach them.
    pub dropped_values: u64,
    /// Records folded into an instrument's `otel_metric_overflow="true"` series because it had
    /// reached `metrics.cardinality_limit` attribute sets.
    pub overflowed: u64,
}

/// Routes each instrument to the configured sinks.
pub(crate) struct OtelMeterProvider {
    pub(crate) prometheus: Option<Arc<crate::metrics::prometheus::PrometheusSink>>,
    pub(crate) otlp: Option<Arc<OtlpSink>>,
    pub(crate) otlp_counters: Arc<OtlpSinkCounters>,
    /// Default histogram boundaries for OTLP (same rules as the Prometheus sink).
    pub(crate) default_boundaries: Option<Vec<f64>>,
    /// `metrics.max_label_value_length`.
    pub(crate) max_label_value_length: usize,
    /// The conformance harness's view of every record, behind the sinks.
    #[cfg(feature = "testing")]
    pub(crate) tap: Option<crate::testing::MetricTap>,
}

impl std::fmt::Debug for OtelMeterProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelMeterProvider")
            .field("prometheus", &self.prometheus.is_some())
            .field("otlp", &self.otlp.is_some())
            .finish()
    }
}

impl OtelMeterProvider {
    /// What was dropped so far.
    pub(crate) fn stats(&self) -> MetricStats {
        MetricStats {
            dropped_values: self.prometheus.as_ref().map_or(0, |p| p.dropped_values())
                + self.otlp_counters.dropped.load(Ordering::Relaxed),
            overflowed: self.prometheus.as_ref().map_or(0, |p| p.overflowed()),
        }
    }

    fn boundaries(&self, d: &InstrumentDescriptor) -> Vec<f64> {
        crate::metrics::prometheus::boundaries(d, self.default_boundaries.as_deref())
    }
}

/// Two recorders of one instrument, one per sink.
struct Both<T: ?Sized>(Arc<T>, Arc<T>);

impl CounterRecorder for Both<dyn CounterRecorder> {
    fn add(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>]) {
        self.0.add(ctx, value, attributes);
        self.1.add(ctx, value, attributes);
    }
}

impl UpDownCounterRecorder for Both<dyn UpDownCounterRecorder> {
    fn add(&self, ctx: &Context, value: i64, attributes: &[KeyValue<'_>]) {
        self.0.add(ctx, value, attributes);
        self.1.add(ctx, value, attributes);
    }
}

impl HistogramRecorder for Both<dyn HistogramRecorder> {
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.0.record(ctx, value, attributes);
        self.1.record(ctx, value, attributes);
    }
}

impl GaugeRecorder for Both<dyn GaugeRecorder> {
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.0.record(ctx, value, attributes);
        self.1.record(ctx, value, attributes);
    }
}

macro_rules! route {
    ($self:ident, $d:ident, $a:expr, $b:expr, $trait:ident, $tap:ident) => {{
        let routed = match ($a, $b) {
            (Some(a), Some(b)) => Some(Arc::new(Both::<dyn $trait>(a, b)) as Arc<dyn $trait>),
            (a, b) => a.or(b),
        };
        #[cfg(feature = "testing")]
        let routed = match (&$self.tap, routed) {
            (Some(tap), Some(r)) => {
                Some(Arc::new(Both::<dyn $trait>(r, tap.$tap($d))) as Arc<dyn $trait>)
            }
            (_, r) => r,
        };
        routed
    }};
}

impl MeterProvider for OtelMeterProvider {
    fn counter(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn CounterRecorder>> {
        let prom = self.prometheus.as_ref().map(|p| p.counter(d));
        let otlp = self.otlp.as_ref().map(|o| {
            let c = o
                .meter(d)
                .u64_counter(d.name.clone())
                .with_description(d.description.clone())
                .with_unit(d.unit.clone())
                .build();
            Arc::new(OtlpCounter(c, self.max_label_value_length)) as Arc<dyn CounterRecorder>
        });
        route!(self, d, prom, otlp, CounterRecorder, counter)
    }

    fn up_down_counter(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn UpDownCounterRecorder>> {
        let prom = self.prometheus.as_ref().map(|p| p.up_down_counter(d));
        let otlp = self.otlp.as_ref().map(|o| {
            let c = o
                .meter(d)
                .i64_up_down_counter(d.name.clone())
                .with_description(d.description.clone())
                .with_unit(d.unit.clone())
                .build();
            Arc::new(OtlpUpDown(c, self.max_label_value_length)) as Arc<dyn UpDownCounterRecorder>
        });
        route!(self, d, prom, otlp, UpDownCounterRecorder, up_down_counter)
    }

    fn histogram(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn HistogramRecorder>> {
        let prom = self.prometheus.as_ref().map(|p| p.histogram(d));
        let otlp = self.otlp.as_ref().map(|o| {
            let h = o
                .meter(d)
                .f64_histogram(d.name.clone())
                .with_description(d.description.clone())
                .with_unit(d.unit.clone())
                .with_boundaries(self.boundaries(d))
                .build();
            Arc::new(OtlpHistogram(
                h,
                self.otlp_counters.clone(),
                self.max_label_value_length,
            )) as Arc<dyn HistogramRecorder>
        });
        route!(self, d, prom, otlp, HistogramRecorder, histogram)
    }

    fn gauge(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn GaugeRecorder>> {
        let prom = self.prometheus.as_ref().map(|p| p.gauge(d));
        let otlp = self.otlp.as_ref().map(|o| {
            let g = o
                .meter(d)
                .f64_gauge(d.name.clone())
                .with_description(d.description.clone())
                .with_unit(d.unit.clone())
                .build();
            Arc::new(OtlpGauge(
                g,
                self.otlp_counters.clone(),
                self.max_label_value_length,
            )) as Arc<dyn GaugeRecorder>
        });
        route!(self, d, prom, otlp, GaugeRecorder, gauge)
    }
}
