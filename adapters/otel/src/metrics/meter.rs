//! The facade's meter provider over the metric store (see [`crate::metrics::prometheus`]): one
//! aggregation, which the Prometheus endpoint renders and the OTLP exporter
//! ([`crate::metrics::otlp`]) reads, chosen by `metrics.exporter`. A record costs the same with
//! one exporter or both.

use std::sync::Arc;

use hyperion::metric::{
    CounterRecorder, GaugeRecorder, HistogramRecorder, InstrumentDescriptor, MeterProvider,
    UpDownCounterRecorder,
};
#[cfg(feature = "testing")]
use hyperion::{Context, KeyValue};
#[cfg(feature = "testing")]
use std::time::SystemTime;

/// What the metrics pipeline refused or failed to send, so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricStats {
    /// Values dropped as invalid: NaN or infinite, or sent to an instrument whose name collides
    /// with one of another kind. Counters take `u64`, so a negative increment cannot reach them.
    pub dropped_values: u64,
    /// Records folded into an instrument's overflow series (`otel_metric_overflow="true"`,
    /// OTLP attribute `otel.metric.overflow`) because it had reached
    /// `metrics.cardinality_limit` attribute sets.
    pub overflowed: u64,
    /// OTLP metric exports that failed after their retries (their points are sent again, as
    /// cumulative values or folded into the next delta, by the next export).
    pub failed_exports: u64,
}

/// Creates the instruments on the store.
pub(crate) struct OtelMeterProvider {
    /// `None` with `metrics.exporter: none`: every instrument is then a no-op.
    pub(crate) store: Option<Arc<crate::metrics::prometheus::PrometheusSink>>,
    pub(crate) otlp: Option<Arc<crate::metrics::otlp::OtlpMetrics>>,
    /// The conformance harness's view of every record, behind the store.
    #[cfg(feature = "testing")]
    pub(crate) tap: Option<crate::testing::MetricTap>,
}

impl std::fmt::Debug for OtelMeterProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelMeterProvider")
            .field("store", &self.store)
            .field("otlp", &self.otlp.is_some())
            .finish()
    }
}

impl OtelMeterProvider {
    /// What was dropped so far.
    pub(crate) fn stats(&self) -> MetricStats {
        MetricStats {
            dropped_values: self.store.as_ref().map_or(0, |s| s.dropped_values()),
            overflowed: self.store.as_ref().map_or(0, |s| s.overflowed()),
            failed_exports: self.otlp.as_ref().map_or(0, |o| o.failed_exports()),
        }
    }
}

#[cfg(feature = "testing")]
/// Two recorders of one instrument: the store's and the conformance tap's.
struct Both<T: ?Sized>(Arc<T>, Arc<T>);

#[cfg(feature = "testing")]
impl CounterRecorder for Both<dyn CounterRecorder> {
    fn add(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>]) {
        self.0.add(ctx, value, attributes);
        self.1.add(ctx, value, attributes);
    }

    fn add_at(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>], at: SystemTime) {
        self.0.add_at(ctx, value, attributes, at);
        self.1.add_at(ctx, value, attributes, at);
    }
}

#[cfg(feature = "testing")]
impl UpDownCounterRecorder for Both<dyn UpDownCounterRecorder> {
    fn add(&self, ctx: &Context, value: i64, attributes: &[KeyValue<'_>]) {
        self.0.add(ctx, value, attributes);
        self.1.add(ctx, value, attributes);
    }
}

#[cfg(feature = "testing")]
impl HistogramRecorder for Both<dyn HistogramRecorder> {
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.0.record(ctx, value, attributes);
        self.1.record(ctx, value, attributes);
    }

    fn record_at(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>], at: SystemTime) {
        self.0.record_at(ctx, value, attributes, at);
        self.1.record_at(ctx, value, attributes, at);
    }
}

#[cfg(feature = "testing")]
impl GaugeRecorder for Both<dyn GaugeRecorder> {
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.0.record(ctx, value, attributes);
        self.1.record(ctx, value, attributes);
    }
}

macro_rules! route {
    ($self:ident, $d:ident, $recorder:expr, $trait:ident, $tap:ident) => {{
        let routed: Arc<dyn $trait> = $recorder;
        #[cfg(feature = "testing")]
        let routed = match &$self.tap {
            Some(tap) => Arc::new(Both::<dyn $trait>(routed, tap.$tap($d))) as Arc<dyn $trait>,
            None => routed,
        };
        Some(routed)
    }};
}

impl MeterProvider for OtelMeterProvider {
    fn counter(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn CounterRecorder>> {
        route!(
            self,
            d,
            self.store.as_ref()?.counter(d),
            CounterRecorder,
            counter
        )
    }

    fn up_down_counter(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn UpDownCounterRecorder>> {
        route!(
            self,
            d,
            self.store.as_ref()?.up_down_counter(d),
            UpDownCounterRecorder,
            up_down_counter
        )
    }

    fn histogram(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn HistogramRecorder>> {
        route!(
            self,
            d,
            self.store.as_ref()?.histogram(d),
            HistogramRecorder,
            histogram
        )
    }

    fn gauge(&self, d: &InstrumentDescriptor) -> Option<Arc<dyn GaugeRecorder>> {
        route!(self, d, self.store.as_ref()?.gauge(d), GaugeRecorder, gauge)
    }
}
