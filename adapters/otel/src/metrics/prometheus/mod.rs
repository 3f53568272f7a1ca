//! The metric store: the one aggregation of the facade's instruments, read by the Prometheus
//! endpoint (OpenMetrics text with exemplars, or the classic text format) and by the OTLP
//! exporter (see [`crate::metrics::otlp`]) at scrape and export time.
//!
//! The OpenTelemetry SDK never fills in exemplars (DESIGN.md), so metrics do not go through
//! it: each instrument is a family of series, one per label set, each an aggregation cell of
//! [`cells`] (atomics, plus an exemplar slot per counter and per histogram bucket). A record
//! costs the same whichever exporters are configured.
//!
//! - **Names** follow OpenTelemetry's Prometheus rules, with `namespace_` and `subsystem_` in
//!   front (see [`naming`]).
//! - **Exemplars**: a counter add or histogram record under a context whose span is valid and
//!   sampled attaches `{trace_id, span_id}` (lowercase hex), the value and a timestamp, when
//!   `metrics.exemplars` is on. Histograms keep one exemplar per bucket, counters the latest;
//!   a record without a sampled span keeps the previous exemplar. The ids are stored as bytes
//!   and written as hex only when rendered, and the clock is read only when an exemplar is
//!   attached. The text is written by [`text`]; exemplar timestamps are seconds since the
//!   epoch, as a float.
//! - **Classic text** (format 0.0.4, for scrapers that do not ask for OpenMetrics) is derived
//!   from the OpenMetrics text (see [`classic`]): no exemplars, no `# UNIT`, no `# EOF`, and
//!   counters typed under their `_total` name.
//! - **Cardinality**: at most `metrics.cardinality_limit` label sets per instrument; later new
//!   label sets share one overflow series labelled `otel_metric_overflow="true"` (so at most
//!   limit + 1 series), and [`PrometheusSink::overflowed`] counts the measurements folded into
//!   it. Label values are cut to `metrics.max_label_value_length` bytes (see [`series`]).
//! - **Bad values**: NaN and infinities (histograms, gauges) are dropped and counted in
//!   [`PrometheusSink::dropped_values`]. Counters take `u64`, so a negative increment cannot
//!   reach them; histograms accept negative values, as OpenTelemetry's do.
//! - **Conflicts**: an instrument registered again under the same Prometheus name gets a
//!   recorder onto the same family (the first registration's description, unit split and
//!   buckets win). One of another kind whose name collides with an existing family (a gauge
//!   `x` next to a counter `x`) would make the exposition invalid: its recorder drops every
//!   value and counts it in [`PrometheusSink::dropped_values`].

pub(crate) mod cells;
mod classic;
pub(crate) mod naming;
#[cfg(test)]
mod parse;
pub(crate) mod series;
mod text;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use crate::config::MetricsSettings;
use hyperion::metric::{
    CounterRecorder, GaugeRecorder, HistogramRecorder, InstrumentDescriptor, InstrumentKind,
    UpDownCounterRecorder,
};
use hyperion::{Context, KeyValue};

use cells::{CounterCell, Exemplar, GaugeCell, HistogramCell, UpDownCell};
use naming::MetricName;
use series::SeriesTable;

/// Second-scale buckets for instruments in `s` (OpenTelemetry's defaults suit milliseconds).
pub(crate) const SECONDS_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// OpenTelemetry's default explicit bucket boundaries.
pub(crate) const OTEL_DEFAULT_BUCKETS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metric store: creates recorders, renders what they recorded as Prometheus text, and
/// hands its families to the OTLP exporter. `Send + Sync`; share it as an `Arc`.
pub(crate) struct PrometheusSink {
    families: Families,
    /// When the store was made: the start of every cumulative OTLP point.
    started: SystemTime,
    shared: Arc<Shared>,
    namespace: Option<String>,
    subsystem: Option<String>,
    cardinality_limit: usize,
    max_label_value_length: usize,
    histogram_boundaries: Option<Vec<f64>>,
    /// With tail sampling: whether a trace was kept. Exemplars of other traces are not shown.
    exemplar_gate: Option<ExemplarGate>,
}

/// Says whether the trace with this id was kept (tail sampling), so that no exemplar leads to a
/// trace that was dropped.
pub(crate) type ExemplarGate = Arc<dyn Fn([u8; 16]) -> bool + Send + Sync>;

/// What every recorder of a sink shares.
struct Shared {
    exemplars: bool,
    dropped: AtomicU64,
    overflowed: Arc<AtomicU64>,
}

impl Shared {
    /// The exemplar for a record of `value` under `ctx`: its span, when valid and sampled,
    /// stamped `at` (or now: the clock is read only for an exemplar).
    #[inline]
    fn exemplar(&self, ctx: &Context, value: f64, at: Option<SystemTime>) -> Option<Exemplar> {
        if !self.exemplars {
            return None;
        }
        let sc = ctx.span_context();
        if !(sc.is_valid() && sc.is_sampled()) {
            return None;
        }
        Some(Exemplar {
            trace_id: sc.trace_id(),
            span_id: sc.span_id(),
            value,
            time: at.unwrap_or_else(SystemTime::now),
        })
    }

    #[cold]
    fn drop_value(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// One instrument: a Prometheus metric family, and what OTLP names it.
pub(crate) struct Family {
    name: MetricName,
    help: String,
    /// The first registration's descriptor: the OTLP name, description, unit and scope.
    pub(crate) instrument: InstrumentDescriptor,
    pub(crate) data: Data,
}

/// The series of a family, by kind.
pub(crate) enum Data {
    Counter(Arc<SeriesTable<CounterCell>>),
    UpDownCounter(Arc<SeriesTable<UpDownCell>>),
    Histogram(Arc<SeriesTable<HistogramCell>>),
    Gauge(Arc<SeriesTable<GaugeCell>>),
}

impl Data {
    fn kind(&self) -> InstrumentKind {
        match self {
            Data::Counter(_) => InstrumentKind::Counter,
            Data::UpDownCounter(_) => InstrumentKind::UpDownCounter,
            Data::Histogram(_) => InstrumentKind::Histogram,
            Data::Gauge(_) => InstrumentKind::Gauge,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Data::Counter(t) => t.is_empty(),
            Data::UpDownCounter(t) => t.is_empty(),
            Data::Histogram(t) => t.is_empty(),
            Data::Gauge(t) => t.is_empty(),
        }
    }

    fn metric_type(&self) -> &'static str {
        match self {
            Data::Counter(_) => "counter",
            Data::Histogram(_) => "histogram",
            Data::UpDownCounter(_) | Data::Gauge(_) => "gauge",
        }
    }
}

/// The families of a store, in registration order.
#[derive(Default)]
struct Families(RwLock<FamilyList>);

#[derive(Default)]
struct FamilyList {
    list: Vec<Arc<Family>>,
    /// Family names and counters' `_total` names -> index in `list`.
    by_name: HashMap<String, usize>,
}

impl fmt::Debug for Families {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_list()
            .entries(list.list.iter().map(|family| family.name.full()))
            .finish()
    }
}

impl Families {
    /// The families, in registration order (a snapshot: the lock is not held while reading).
    fn list(&self) -> Vec<Arc<Family>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .list
            .clone()
    }

    /// Every non-empty family as OpenMetrics text, without `# EOF`. With tail sampling, an
    /// exemplar is shown only if `gate` says its trace was kept (recording happens before the
    /// decision, so the exemplar is checked when shown: none leads to a trace that was dropped,
    /// is undecided, or was forgotten).
    fn encode(&self, out: &mut String, gate: Option<&ExemplarGate>) {
        let shown = |e: &Exemplar| gate.is_none_or(|kept| kept(e.trace_id.to_bytes()));
        for family in self.list() {
            if family.data.is_empty() {
                continue;
            }
            let name = &family.name;
            text::descriptor(out, name, &family.help, family.data.metric_type());
            match &family.data {
                Data::Counter(t) => t.for_each(|s| {
                    text::counter(
                        out,
                        name,
                        s.labels,
                        s.metric.value(),
                        s.metric.exemplar().filter(shown).as_ref(),
                    )
                }),
                Data::Histogram(t) => t.for_each(|s| {
                    let h = s.metric;
                    let mut exemplars = vec![None; h.bounds().len() + 1];
                    for (i, e) in h.exemplars().filter(|(_, e)| shown(e)) {
                        exemplars[i] = Some(e);
                    }
                    text::histogram(out, name, s.labels, h.bounds(), &h.read(), &exemplars);
                }),
                Data::UpDownCounter(t) => {
                    t.for_each(|s| text::gauge_int(out, name, s.labels, s.metric.value()))
                }
                Data::Gauge(t) => {
                    t.for_each(|s| text::gauge(out, name, s.labels, s.metric.value()))
                }
            }
        }
    }
}

impl PrometheusSink {
    /// A sink configured by the `metrics` section: namespace, subsystem, exemplars, cardinality
    /// limit, label value length and default histogram boundaries.
    pub(crate) fn new(config: &MetricsSettings) -> Self {
        PrometheusSink {
            families: Families::default(),
            started: SystemTime::now(),
            shared: Arc::new(Shared {
                exemplars: config.exemplars,
                dropped: AtomicU64::new(0),
                overflowed: Arc::new(AtomicU64::new(0)),
            }),
            namespace: config.namespace.clone(),
            subsystem: config.subsystem.clone(),
            cardinality_limit: config.cardinality_limit,
            max_label_value_length: config.max_label_value_length,
            histogram_boundaries: config.histogram_boundaries.clone(),
            exemplar_gate: None,
        }
    }

    /// Shows only the exemplars whose trace `gate` says was kept.
    pub(crate) fn with_exemplar_gate(mut self, gate: Option<ExemplarGate>) -> Self {
        self.exemplar_gate = gate;
        self
    }

    /// A recorder for a counter (`_total`, exemplars).
    pub(crate) fn counter(&self, d: &InstrumentDescriptor) -> Arc<dyn CounterRecorder> {
        match self.family(d, InstrumentKind::Counter).as_deref() {
            Some(Family {
                data: Data::Counter(table),
                ..
            }) => Arc::new(CounterSeries {
                table: Arc::clone(table),
                shared: Arc::clone(&self.shared),
            }),
            _ => Arc::new(Rejected(Arc::clone(&self.shared))),
        }
    }

    /// A recorder for an up-down counter (`i64`, rendered as a gauge).
    pub(crate) fn up_down_counter(
        &self,
        d: &InstrumentDescriptor,
    ) -> Arc<dyn UpDownCounterRecorder> {
        match self.family(d, InstrumentKind::UpDownCounter).as_deref() {
            Some(Family {
                data: Data::UpDownCounter(table),
                ..
            }) => Arc::new(UpDownSeries {
                table: Arc::clone(table),
            }),
            _ => Arc::new(Rejected(Arc::clone(&self.shared))),
        }
    }

    /// A recorder for a histogram (exemplar per bucket). Buckets: the descriptor's boundaries,
    /// else `metrics.histogram_boundaries`, else [`SECONDS_BUCKETS`] for unit `s`, else
    /// [`OTEL_DEFAULT_BUCKETS`]; non-finite boundaries are dropped, the rest sorted.
    pub(crate) fn histogram(&self, d: &InstrumentDescriptor) -> Arc<dyn HistogramRecorder> {
        match self.family(d, InstrumentKind::Histogram).as_deref() {
            Some(Family {
                data: Data::Histogram(table),
                ..
            }) => Arc::new(HistogramSeries {
                table: Arc::clone(table),
                shared: Arc::clone(&self.shared),
            }),
            _ => Arc::new(Rejected(Arc::clone(&self.shared))),
        }
    }

    /// A recorder for a gauge (last `f64` value).
    pub(crate) fn gauge(&self, d: &InstrumentDescriptor) -> Arc<dyn GaugeRecorder> {
        match self.family(d, InstrumentKind::Gauge).as_deref() {
            Some(Family {
                data: Data::Gauge(table),
                ..
            }) => Arc::new(GaugeSeries {
                table: Arc::clone(table),
                shared: Arc::clone(&self.shared),
            }),
            _ => Arc::new(Rejected(Arc::clone(&self.shared))),
        }
    }

    /// OpenMetrics text (with exemplars) when `openmetrics`, else the classic Prometheus text
    /// format 0.0.4 (no exemplars, no `# EOF`).
    pub(crate) fn render(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        self.families.encode(&mut out, self.exemplar_gate.as_ref());
        if openmetrics {
            out.push_str("# EOF\n");
            out
        } else {
            classic::from_openmetrics(&out)
        }
    }

    /// The Content-Type of [`Self::render`]'s output.
    pub(crate) fn content_type(openmetrics: bool) -> &'static str {
        if openmetrics {
            OPENMETRICS_CONTENT_TYPE
        } else {
            CLASSIC_CONTENT_TYPE
        }
    }

    /// Whether an `Accept` header asks for OpenMetrics: `application/openmetrics-text` with a
    /// quality above zero and not below that of `text/plain`, `text/*` or `*/*`. No header, or
    /// curl's `*/*`, means the classic format. A malformed `q` counts as 0.
    pub(crate) fn wants_openmetrics(accept: Option<&str>) -> bool {
        let Some(accept) = accept else { return false };
        let mut openmetrics = 0.0f64;
        let mut other = 0.0f64;
        for range in accept.split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or_default().trim();
            let mut q = 1.0;
            for param in params {
                if let Some((key, value)) = param.split_once('=') {
                    if key.trim().eq_ignore_ascii_case("q") {
                        q = value
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|q| (0.0..=1.0).contains(q))
                            .unwrap_or(0.0);
                    }
                }
            }
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                openmetrics = openmetrics.max(q);
            } else if ["text/plain", "text/*", "*/*"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
            {
                other = other.max(q);
            }
        }
        openmetrics > 0.0 && openmetrics >= other
    }

    /// The families, in registration order, for the OTLP exporter.
    pub(crate) fn families(&self) -> Vec<Arc<Family>> {
        self.families.list()
    }

    /// When the store was made.
    pub(crate) fn started(&self) -> SystemTime {
        self.started
    }

    /// The exemplar gate, if tail sampling is on.
    pub(crate) fn exemplar_gate(&self) -> Option<&ExemplarGate> {
        self.exemplar_gate.as_ref()
    }

    /// Values dropped as invalid (NaN, infinite), and values sent to an instrument whose name
    /// collides with a family of another kind.
    pub(crate) fn dropped_values(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Measurements whose label set was new past the cardinality limit, folded into the
    /// overflow series.
    pub(crate) fn overflowed(&self) -> u64 {
        self.shared.overflowed.load(Ordering::Relaxed)
    }

    /// The family for `d` as an instrument of `kind`: the registered one of that name, a new
    /// one, or `None` when the name belongs to a family of another kind.
    fn family(&self, d: &InstrumentDescriptor, kind: InstrumentKind) -> Option<Arc<Family>> {
        let name = naming::metric_name(
            self.namespace.as_deref(),
            self.subsystem.as_deref(),
            &d.name,
            &d.unit,
            kind,
        );
        let family_name = name.family();
        let full_name = name.full();
        let mut families = self
            .families
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for key in [&family_name, &full_name] {
            if let Some(&i) = families.by_name.get(key) {
                let existing = &families.list[i];
                return (existing.data.kind() == kind).then(|| Arc::clone(existing));
            }
        }
        let family = Arc::new(Family {
            help: naming::escape_help(&d.description),
            data: self.data(d, kind),
            instrument: d.clone(),
            name,
        });
        let i = families.list.len();
        families.list.push(Arc::clone(&family));
        families.by_name.insert(family_name, i);
        families.by_name.insert(full_name, i);
        Some(family)
    }

    fn data(&self, d: &InstrumentDescriptor, kind: InstrumentKind) -> Data {
        let limit = self.cardinality_limit;
        let max_len = self.max_label_value_length;
        let overflowed = Arc::clone(&self.shared.overflowed);
        match kind {
            InstrumentKind::Counter => Data::Counter(Arc::new(SeriesTable::new(
                limit,
                max_len,
                overflowed,
                CounterCell::default,
            ))),
            InstrumentKind::UpDownCounter => Data::UpDownCounter(Arc::new(SeriesTable::new(
                limit,
                max_len,
                overflowed,
                UpDownCell::default,
            ))),
            InstrumentKind::Histogram => {
                let buckets: Arc<[f64]> = self.boundaries(d).into();
                Data::Histogram(Arc::new(SeriesTable::new(
                    limit,
                    max_len,
                    overflowed,
                    move || HistogramCell::new(Arc::clone(&buckets)),
                )))
            }
            InstrumentKind::Gauge => Data::Gauge(Arc::new(SeriesTable::new(
                limit,
                max_len,
                overflowed,
                GaugeCell::default,
            ))),
        }
    }

    /// The bucket boundaries of a histogram (see [`Self::histogram`]).
    fn boundaries(&self, d: &InstrumentDescriptor) -> Vec<f64> {
        boundaries(d, self.histogram_boundaries.as_deref())
    }
}

/// A histogram's bucket boundaries, for every sink: the instrument's own, else the config's,
/// else second-scale buckets for unit `s`, else OpenTelemetry's defaults; non-finite ones
/// dropped, the rest sorted and deduplicated (the SDK turns a histogram with unsorted or NaN
/// boundaries into a silent no-op).
pub(crate) fn boundaries(d: &InstrumentDescriptor, config: Option<&[f64]>) -> Vec<f64> {
    let chosen: &[f64] = match (&d.boundaries, config) {
        (Some(own), _) => own,
        (None, Some(config)) => config,
        (None, None) if d.unit == "s" => &SECONDS_BUCKETS,
        (None, None) => &OTEL_DEFAULT_BUCKETS,
    };
    let mut bounds: Vec<f64> = chosen.iter().copied().filter(|b| b.is_finite()).collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
}

impl fmt::Debug for PrometheusSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusSink")
            .field("families", &self.families)
            .field("dropped_values", &self.dropped_values())
            .field("overflowed", &self.overflowed())
            .finish_non_exhaustive()
    }
}

/// A counter's recorder.
struct CounterSeries {
    table: Arc<SeriesTable<CounterCell>>,
    shared: Arc<Shared>,
}

impl CounterRecorder for CounterSeries {
    #[inline]
    fn add(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>]) {
        self.add_inner(ctx, value, attributes, None);
    }

    #[inline]
    fn add_at(&self, ctx: &Context, value: u64, attributes: &[KeyValue<'_>], at: SystemTime) {
        self.add_inner(ctx, value, attributes, Some(at));
    }
}

impl CounterSeries {
    #[inline]
    fn add_inner(
        &self,
        ctx: &Context,
        value: u64,
        attributes: &[KeyValue<'_>],
        at: Option<SystemTime>,
    ) {
        let exemplar = self.shared.exemplar(ctx, value as f64, at);
        self.table
            .record(attributes, |counter| counter.add(value, exemplar));
    }
}

/// An up-down counter's recorder.
struct UpDownSeries {
    table: Arc<SeriesTable<UpDownCell>>,
}

impl UpDownCounterRecorder for UpDownSeries {
    #[inline]
    fn add(&self, _ctx: &Context, value: i64, attributes: &[KeyValue<'_>]) {
        self.table.record(attributes, |sum| sum.add(value));
    }
}

/// A histogram's recorder.
struct HistogramSeries {
    table: Arc<SeriesTable<HistogramCell>>,
    shared: Arc<Shared>,
}

impl HistogramRecorder for HistogramSeries {
    #[inline]
    fn record(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        self.record_inner(ctx, value, attributes, None);
    }

    #[inline]
    fn record_at(&self, ctx: &Context, value: f64, attributes: &[KeyValue<'_>], at: SystemTime) {
        self.record_inner(ctx, value, attributes, Some(at));
    }
}

impl HistogramSeries {
    #[inline]
    fn record_inner(
        &self,
        ctx: &Context,
        value: f64,
        attributes: &[KeyValue<'_>],
        at: Option<SystemTime>,
    ) {
        if !value.is_finite() {
            self.shared.drop_value();
            return;
        }
        let exemplar = self.shared.exemplar(ctx, value, at);
        self.table
            .record(attributes, |histogram| histogram.record(value, exemplar));
    }
}

/// A gauge's recorder.
struct GaugeSeries {
    table: Arc<SeriesTable<GaugeCell>>,
    shared: Arc<Shared>,
}

impl GaugeRecorder for GaugeSeries {
    #[inline]
    fn record(&self, _ctx: &Context, value: f64, attributes: &[KeyValue<'_>]) {
        if !value.is_finite() {
            self.shared.drop_value();
            return;
        }
        self.table.record(attributes, |last| last.set(value));
    }
}

/// The recorder of an instrument whose name collides with a family of another kind: every
/// value is dropped and counted.
struct Rejected(Arc<Shared>);

impl CounterRecorder for Rejected {
    fn add(&self, _: &Context, _: u64, _: &[KeyValue<'_>]) {
        self.0.drop_value();
    }
}

impl UpDownCounterRecorder for Rejected {
    fn add(&self, _: &Context, _: i64, _: &[KeyValue<'_>]) {
        self.0.drop_value();
    }
}

impl HistogramRecorder for Rejected {
    fn record(&self, _: &Context, _: f64, _: &[KeyValue<'_>]) {
        self.0.drop_value();
    }
}

impl GaugeRecorder for Rejected {
    fn record(&self, _: &Context, _: f64, _: &[KeyValue<'_>]) {
        self.0.drop_value();
    }
}

#[cfg(test)]
mod tests;
