//! Metrics: recent data points per series (service, metric name, attributes), each with the
//! exemplars it carried, under one limit on points over all series.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, exemplar, metric::Data, number_data_point,
};
use serde::Serialize;

use super::{Ingested, Resource, Stats};
use crate::ids::{SpanId, TraceId};
use crate::value::to_text;

/// The most exemplars a series shows (newest first, one per span).
const EXEMPLARS_SHOWN: usize = 10;
/// The most points a series view carries (the newest).
const POINTS_SHOWN: usize = 20;

/// What kind of instrument a series comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A monotonic sum.
    Counter,
    /// A sum that may go down.
    UpDownCounter,
    /// A gauge.
    Gauge,
    /// An explicit-bucket histogram.
    Histogram,
    /// An exponential histogram (count and sum kept).
    ExponentialHistogram,
    /// A summary (count and sum kept).
    Summary,
}

impl MetricKind {
    /// The kind's name as shown: `counter`, `up_down_counter`, `gauge`, `histogram`, ...
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::UpDownCounter => "up_down_counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::ExponentialHistogram => "exponential_histogram",
            MetricKind::Summary => "summary",
        }
    }
}

/// A data point's value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointValue {
    /// A counter's, up-down counter's or gauge's number.
    Number(f64),
    /// A histogram's (or summary's) count and sum, and explicit buckets when it has them.
    Histogram {
        /// How many values were recorded.
        count: u64,
        /// Their sum, when known.
        sum: Option<f64>,
        /// Bucket upper bounds (the last bucket, to +Inf, has none).
        bounds: Vec<f64>,
        /// Values per bucket (not cumulative), one more than `bounds`.
        counts: Vec<u64>,
    },
}

/// A recorded value that points at the span it was recorded in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exemplar {
    /// The span's trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: Option<SpanId>,
    /// The value recorded.
    pub value: f64,
    /// When, Unix nanoseconds (0 when not given).
    pub time_unix_nano: u64,
}

/// One stored data point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredPoint {
    /// When it was taken, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Its value.
    pub value: PointValue,
    /// The exemplars that came with it (only those with a trace id).
    pub exemplars: Vec<Exemplar>,
}

/// What a series is: everything but its points.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeriesInfo {
    pub(crate) service: Arc<str>,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) unit: String,
    pub(crate) kind: MetricKind,
    pub(crate) temporality: &'static str,
    pub(crate) attributes: Vec<(String, String)>,
}

/// A series as the metrics page and `/api/metrics` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesView {
    /// The metric's name.
    pub name: String,
    /// The service that sent it (or the scrape target's name).
    pub service: String,
    /// The metric's description.
    pub description: String,
    /// Its unit (`s`, `By`, `{request}`), empty when not given.
    pub unit: String,
    /// The instrument kind.
    pub kind: MetricKind,
    /// `cumulative`, `delta`, or empty for gauges.
    pub temporality: &'static str,
    /// The series' attributes (labels), sorted by key.
    pub attributes: Vec<(String, String)>,
    /// How many points of it are stored.
    pub point_count: usize,
    /// The newest stored points, oldest first (at most 20).
    pub points: Vec<StoredPoint>,
    /// Its newest exemplars, newest first, one per span (at most 10).
    pub exemplars: Vec<Exemplar>,
}

/// A point on its way into the store, with the series it belongs to.
pub(crate) struct IncomingPoint {
    pub(crate) info: SeriesInfo,
    pub(crate) point: StoredPoint,
}

type SeriesKey = (Arc<str>, String, Vec<(String, String)>);

fn sorted_attributes(attributes: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = attributes
        .iter()
        .map(|kv| (kv.key.clone(), to_text(kv.value.as_ref())))
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

fn exemplars(list: &[opentelemetry_proto::tonic::metrics::v1::Exemplar]) -> Vec<Exemplar> {
    list.iter()
        .filter_map(|e| {
            Some(Exemplar {
                trace_id: TraceId::from_bytes(&e.trace_id)?,
                span_id: SpanId::from_bytes(&e.span_id),
                value: match e.value {
                    Some(exemplar::Value::AsDouble(d)) => d,
                    Some(exemplar::Value::AsInt(i)) => i as f64,
                    None => 0.0,
                },
                time_unix_nano: e.time_unix_nano,
            })
        })
        .collect()
}

fn temporality(value: i32) -> &'static str {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Cumulative) => "cumulative",
        Ok(AggregationTemporality::Delta) => "delta",
        _ => "",
    }
}

pub(super) fn prepare(request: ExportMetricsServiceRequest) -> (Vec<IncomingPoint>, Ingested) {
    let mut out = Vec::new();
    for resource_metrics in request.resource_metrics {
        let resource = Resource::from_proto(resource_metrics.resource);
        for scope_metrics in resource_metrics.scope_metrics {
            for metric in scope_metrics.metrics {
                let info = |kind, temporality, attributes: &[KeyValue]| SeriesInfo {
                    service: resource.service.clone(),
                    name: metric.name.clone(),
                    description: metric.description.clone(),
                    unit: metric.unit.clone(),
                    kind,
                    temporality,
                    attributes: sorted_attributes(attributes),
                };
                let number = |value: &Option<number_data_point::Value>| match value {
                    Some(number_data_point::Value::AsDouble(d)) => *d,
                    Some(number_data_point::Value::AsInt(i)) => *i as f64,
                    None => 0.0,
                };
                match &metric.data {
                    Some(Data::Sum(sum)) => {
                        let kind = if sum.is_monotonic {
                            MetricKind::Counter
                        } else {
                            MetricKind::UpDownCounter
                        };
                        for p in &sum.data_points {
                            out.push(IncomingPoint {
                                info: info(
                                    kind,
                                    temporality(sum.aggregation_temporality),
                                    &p.attributes,
                                ),
                                point: StoredPoint {
                                    time_unix_nano: p.time_unix_nano,
                                    value: PointValue::Number(number(&p.value)),
                                    exemplars: exemplars(&p.exemplars),
                                },
                            });
                        }
                    }
                    Some(Data::Gauge(gauge)) => {
                        for p in &gauge.data_points {
                            out.push(IncomingPoint {
                                info: info(MetricKind::Gauge, "", &p.attributes),
                                point: StoredPoint {
                                    time_unix_nano: p.time_unix_nano,
                                    value: PointValue::Number(number(&p.value)),
                                    exemplars: exemplars(&p.exemplars),
                                },
                            });
                        }
                    }
                    Some(Data::Histogram(histogram)) => {
                        for p in &histogram.data_points {
                            out.push(IncomingPoint {
                                info: info(
                                    MetricKind::Histogram,
                                    temporality(histogram.aggregation_temporality),
                                    &p.attributes,
                                ),
                                point: StoredPoint {
                                    time_unix_nano: p.time_unix_nano,
                                    value: PointValue::Histogram {
                                        count: p.count,
                                        sum: p.sum,
                                        bounds: p.explicit_bounds.clone(),
                                        counts: p.bucket_counts.clone(),
                                    },
                                    exemplars: exemplars(&p.exemplars),
                                },
                            });
                        }
                    }
                    Some(Data::ExponentialHistogram(histogram)) => {
                        for p in &histogram.data_points {
                            out.push(IncomingPoint {
                                info: info(
                                    MetricKind::ExponentialHistogram,
                                    temporality(histogram.aggregation_temporality),
                                    &p.attributes,
                                ),
                                point: StoredPoint {
                                    time_unix_nano: p.time_unix_nano,
                                    value: PointValue::Histogram {
                                        count: p.count,
                                        sum: p.sum,
                                        bounds: Vec::new(),
                                        counts: Vec::new(),
                                    },
                                    exemplars: exemplars(&p.exemplars),
                                },
                            });
                        }
                    }
                    Some(Data::Summary(summary)) => {
                        for p in &summary.data_points {
                            out.push(IncomingPoint {
                                info: info(MetricKind::Summary, "", &p.attributes),
                                point: StoredPoint {
                                    time_unix_nano: p.time_unix_nano,
                                    value: PointValue::Histogram {
                                        count: p.count,
                                        sum: Some(p.sum),
                                        bounds: Vec::new(),
                                        counts: Vec::new(),
                                    },
                                    exemplars: Vec::new(),
                                },
                            });
                        }
                    }
                    None => {}
                }
            }
        }
    }
    let ingested = Ingested {
        accepted: out.len(),
        ..Ingested::default()
    };
    (out, ingested)
}

struct Series {
    info: SeriesInfo,
    points: VecDeque<StoredPoint>,
}

pub(super) struct MetricStore {
    limit: usize,
    ids: HashMap<SeriesKey, u64>,
    series: HashMap<u64, Series>,
    /// The series of every stored point, in arrival order: the first is the oldest point.
    order: VecDeque<u64>,
    next_id: u64,
    evicted: u64,
}

impl MetricStore {
    pub(super) fn new(limit: usize) -> Self {
        MetricStore {
            limit,
            ids: HashMap::new(),
            series: HashMap::new(),
            order: VecDeque::new(),
            next_id: 0,
            evicted: 0,
        }
    }

    pub(super) fn insert(&mut self, points: Vec<IncomingPoint>) {
        for IncomingPoint { info, point } in points {
            let key: SeriesKey = (
                info.service.clone(),
                info.name.clone(),
                info.attributes.clone(),
            );
            let id = match self.ids.get(&key) {
                Some(&id) => id,
                None => {
                    self.next_id += 1;
                    self.ids.insert(key, self.next_id);
                    self.series.insert(
                        self.next_id,
                        Series {
                            info: info.clone(),
                            points: VecDeque::new(),
                        },
                    );
                    self.next_id
                }
            };
            let series = self.series.get_mut(&id).expect("every id has its series");
            // The latest description, unit and kind win (a restarted service may change them).
            series.info = info;
            series.points.push_back(point);
            self.order.push_back(id);
            if self.order.len() > self.limit {
                self.evict_oldest();
            }
        }
    }

    fn evict_oldest(&mut self) {
        let Some(id) = self.order.pop_front() else {
            return;
        };
        self.evicted += 1;
        let Some(series) = self.series.get_mut(&id) else {
            return;
        };
        // A series' points are in arrival order, so the globally oldest is its first.
        series.points.pop_front();
        if series.points.is_empty() {
            let info = self.series.remove(&id).expect("present").info;
            self.ids.remove(&(info.service, info.name, info.attributes));
        }
    }

    pub(super) fn series(&self) -> Vec<SeriesView> {
        let mut out: Vec<SeriesView> = self
            .series
            .values()
            .map(|s| {
                let mut seen = HashSet::new();
                let exemplars = s
                    .points
                    .iter()
                    .rev()
                    .flat_map(|p| p.exemplars.iter().rev())
                    .filter(|e| seen.insert((e.trace_id, e.span_id)))
                    .take(EXEMPLARS_SHOWN)
                    .cloned()
                    .collect();
                let skip = s.points.len().saturating_sub(POINTS_SHOWN);
                SeriesView {
                    name: s.info.name.clone(),
                    service: s.info.service.to_string(),
                    description: s.info.description.clone(),
                    unit: s.info.unit.clone(),
                    kind: s.info.kind,
                    temporality: s.info.temporality,
                    attributes: s.info.attributes.clone(),
                    point_count: s.points.len(),
                    points: s.points.iter().skip(skip).cloned().collect(),
                    exemplars,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.name, &a.service, &a.attributes).cmp(&(&b.name, &b.service, &b.attributes))
        });
        out
    }

    pub(super) fn fill(&self, stats: &mut Stats) {
        stats.metric_series = self.series.len();
        stats.metric_points = self.order.len();
        stats.metric_points_evicted = self.evicted;
    }
}
