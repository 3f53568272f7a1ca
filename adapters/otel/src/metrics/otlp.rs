//! OTLP metrics from the store, with exemplars.
//!
//! The OpenTelemetry SDK's aggregations emit no exemplars (open-telemetry/opentelemetry-rust
//! issue 3369) and its data types cannot be built outside it, so OTLP metrics do not go through
//! the SDK: a thread of this exporter reads the store every `metrics.interval` (the same cells
//! the Prometheus endpoint renders), builds an `ExportMetricsServiceRequest` from
//! opentelemetry-proto's generated messages and sends it over gRPC, HTTP/protobuf or HTTP/JSON.
//!
//! - **Temporality**: cumulative by default; `metrics.temporality` (or
//!   `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`) `delta` or `lowmemory` makes counters
//!   and histograms delta (the difference from the previous export, starting at it), while
//!   up-down counters stay cumulative, as the specification's table says for synchronous
//!   instruments. Delta series with nothing new are left out.
//! - **Exemplars**: each point carries the exemplars recorded since the previous export (a
//!   counter's latest, a histogram's latest per bucket): trace id, span id, time and value. With
//!   tail sampling, only those of kept traces (the Prometheus endpoint's rule).
//! - **Cardinality**: the store's limit; the overflow series has the attribute
//!   `otel.metric.overflow = true` (`otel_metric_overflow="true"` in Prometheus).
//! - **Attributes** are those of the record that made the series, typed as given. Records whose
//!   attributes make the same Prometheus labels (`a.b` and `a_b`) share one series.
//! - **Failures** are counted ([`crate::MetricStats::failed_exports`]) and the application never
//!   waits for them: retryable errors (gRPC `UNAVAILABLE` and friends, HTTP 429/502/503/504,
//!   connection errors) are retried with backoff within `metrics.export_timeout`.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    self as proto, AggregationTemporality, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, metric::Data as ProtoData,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::transform::common::tonic::Attributes;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use crate::config::Temporality;
use crate::metrics::prometheus::cells::Exemplar;
use crate::metrics::prometheus::series::SeriesRef;
use crate::metrics::prometheus::{Data, ExemplarGate, PrometheusSink};

/// How a request is sent.
pub(crate) enum Transport {
    /// gRPC on the adapter's runtime.
    Grpc {
        client: Box<MetricsServiceClient<tonic::transport::Channel>>,
        metadata: tonic::metadata::MetadataMap,
        runtime: tokio::runtime::Handle,
    },
    /// OTLP/HTTP with a blocking client (this exporter runs on a thread of its own).
    Http {
        client: reqwest::blocking::Client,
        url: String,
        headers: Vec<(String, String)>,
        json: bool,
    },
}

/// Where and how requests go.
pub(crate) struct Sender {
    pub(crate) transport: Transport,
    pub(crate) gzip: bool,
    /// The whole export, retries included.
    pub(crate) timeout: Duration,
}

/// Why an attempt failed, and whether to try again.
struct Failure {
    message: String,
    retry: bool,
}

impl Sender {
    /// Sends `request`, retrying what may succeed later, within the timeout.
    fn send(&self, request: &ExportMetricsServiceRequest) -> Result<(), String> {
        let deadline = Instant::now() + self.timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let failure = match self.attempt(request, left) {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            if !failure.retry || Instant::now() + delay >= deadline {
                return Err(failure.message);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    fn attempt(
        &self,
        request: &ExportMetricsServiceRequest,
        timeout: Duration,
    ) -> Result<(), Failure> {
        match &self.transport {
            Transport::Grpc {
                client,
                metadata,
                runtime,
            } => {
                let mut client = (**client).clone();
                if self.gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                let mut req = tonic::Request::new(request.clone());
                *req.metadata_mut() = metadata.clone();
                req.set_timeout(timeout);
                let result = runtime
                    .block_on(async { tokio::time::timeout(timeout, client.export(req)).await });
                match result {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(status)) => {
                        use tonic::Code::*;
                        Err(Failure {
                            retry: matches!(
                                status.code(),
                                Cancelled
                                    | DeadlineExceeded
                                    | ResourceExhausted
                                    | Aborted
                                    | OutOfRange
                                    | Unavailable
                                    | DataLoss
                            ),
                            message: format!("gRPC {:?}: {}", status.code(), status.message()),
                        })
                    }
                    Err(_) => Err(Failure {
                        message: format!("no answer within {timeout:?}"),
                        retry: false,
                    }),
                }
            }
            Transport::Http {
                client,
                url,
                headers,
                json,
            } => {
                let (mut body, content_type) = if *json {
                    (
                        serde_json::to_vec(request).map_err(|e| Failure {
                            message: e.to_string(),
                            retry: false,
                        })?,
                        "application/json",
                    )
                } else {
                    (
                        prost::Message::encode_to_vec(request),
                        "application/x-protobuf",
                    )
                };
                let mut req = client
                    .post(url)
                    .timeout(timeout)
                    .header("content-type", content_type);
                if self.gzip {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    // Writing into a Vec cannot fail.
                    let _ = gz.write_all(&body);
                    body = gz.finish().unwrap_or_default();
                    req = req.header("content-encoding", "gzip");
                }
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                match req.body(body).send() {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(Failure {
                        retry: matches!(r.status().as_u16(), 429 | 502 | 503 | 504),
                        message: format!("HTTP {} from {url}", r.status()),
                    }),
                    Err(e) => Err(Failure {
                        retry: e.is_connect() || e.is_timeout(),
                        message: e.to_string(),
                    }),
                }
            }
        }
    }
}

/// What the previous export saw of a delta series.
enum Previous {
    Sum(u64),
    Histogram { buckets: Vec<u64>, sum: f64 },
}

/// Builds requests from the store.
pub(crate) struct Collector {
    store: Arc<PrometheusSink>,
    resource: Resource,
    temporality: Temporality,
    /// When the previous collection was taken (the store's start before the first).
    last: SystemTime,
    /// Delta only: the previous reading by (family, series index).
    previous: HashMap<(usize, usize), Previous>,
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Collector {
    pub(crate) fn new(
        store: Arc<PrometheusSink>,
        resource: &opentelemetry_sdk::Resource,
        temporality: Temporality,
    ) -> Self {
        let attributes: Vec<opentelemetry::KeyValue> = resource
            .iter()
            .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone()))
            .collect();
        Collector {
            last: store.started(),
            store,
            resource: Resource {
                attributes: Attributes::from(attributes).0,
                ..Default::default()
            },
            temporality,
            previous: HashMap::new(),
        }
    }

    /// Everything recorded, as one request; `None` when there is nothing to send.
    pub(crate) fn collect(&mut self) -> Option<ExportMetricsServiceRequest> {
        let now = SystemTime::now();
        let since = self.last;
        let delta = self.temporality != Temporality::Cumulative;
        let gate = self.store.exemplar_gate().cloned();
        let mut scopes: Vec<ScopeMetrics> = Vec::new();
        for (f, family) in self.store.families().iter().enumerate() {
            let d = &family.instrument;
            let mut point = Point {
                start: if delta { since } else { self.store.started() },
                since,
                now,
                gate: gate.as_ref(),
            };
            let data = match &family.data {
                Data::Counter(t) => {
                    let mut points = Vec::new();
                    t.for_each(|s| {
                        let total = s.metric.value();
                        let value = if delta {
                            let before =
                                match self.previous.insert((f, s.index), Previous::Sum(total)) {
                                    Some(Previous::Sum(v)) => v,
                                    _ => 0,
                                };
                            if total == before {
                                return;
                            }
                            total - before
                        } else {
                            total
                        };
                        let exemplars = point.exemplars(s.metric.exemplar(), true);
                        points.push(point.number(&s, Some(value as i64), None, exemplars));
                    });
                    (!points.is_empty()).then(|| {
                        ProtoData::Sum(proto::Sum {
                            data_points: points,
                            aggregation_temporality: temporality(delta),
                            is_monotonic: true,
                        })
                    })
                }
                Data::UpDownCounter(t) => {
                    // Cumulative whatever the preference (the specification's table).
                    point.start = self.store.started();
                    let mut points = Vec::new();
                    t.for_each(|s| {
                        points.push(point.number(&s, Some(s.metric.value()), None, Vec::new()))
                    });
                    (!points.is_empty()).then(|| {
                        ProtoData::Sum(proto::Sum {
                            data_points: points,
                            aggregation_temporality: temporality(false),
                            is_monotonic: false,
                        })
                    })
                }
                Data::Gauge(t) => {
                    let mut points = Vec::new();
                    t.for_each(|s| {
                        let mut p = point.number(&s, None, Some(s.metric.value()), Vec::new());
                        p.start_time_unix_nano = 0;
                        points.push(p)
                    });
                    (!points.is_empty()).then_some(ProtoData::Gauge(proto::Gauge {
                        data_points: points,
                    }))
                }
                Data::Histogram(t) => {
                    let mut points = Vec::new();
                    t.for_each(|s| {
                        let h = s.metric;
                        let mut reading = h.read();
                        if delta {
                            let now_seen = Previous::Histogram {
                                buckets: reading.buckets.clone(),
                                sum: reading.sum,
                            };
                            if let Some(Previous::Histogram { buckets, sum }) =
                                self.previous.insert((f, s.index), now_seen)
                            {
                                for (b, before) in reading.buckets.iter_mut().zip(buckets) {
                                    *b = b.saturating_sub(before);
                                }
                                reading.sum -= sum;
                            }
                            reading.count = reading.buckets.iter().sum();
                            if reading.count == 0 {
                                return;
                            }
                        }
                        let mut exemplars = Vec::new();
                        for (_, e) in h.exemplars() {
                            exemplars.extend(point.exemplars(Some(e), false));
                        }
                        points.push(HistogramDataPoint {
                            attributes: Attributes::from(s.attributes.iter().cloned()).0,
                            start_time_unix_nano: nanos(point.start),
                            time_unix_nano: nanos(now),
                            count: reading.count,
                            sum: Some(reading.sum),
                            bucket_counts: reading.buckets,
                            explicit_bounds: h.bounds().to_vec(),
                            exemplars,
                            ..Default::default()
                        });
                    });
                    (!points.is_empty()).then(|| {
                        ProtoData::Histogram(proto::Histogram {
                            data_points: points,
                            aggregation_temporality: temporality(delta),
                        })
                    })
                }
            };
            let Some(data) = data else { continue };
            let metric = Metric {
                name: d.name.to_string(),
                description: d.description.to_string(),
                unit: d.unit.to_string(),
                data: Some(data),
                ..Default::default()
            };
            match scopes
                .iter_mut()
                .find(|s| s.scope.as_ref().is_some_and(|sc| sc.name == d.scope))
            {
                Some(scope) => scope.metrics.push(metric),
                None => scopes.push(ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: d.scope.to_string(),
                        ..Default::default()
                    }),
                    metrics: vec![metric],
                    ..Default::default()
                }),
            }
        }
        self.last = now;
        (!scopes.is_empty()).then(|| ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: scopes,
                ..Default::default()
            }],
        })
    }
}

fn temporality(delta: bool) -> i32 {
    if delta {
        AggregationTemporality::Delta as i32
    } else {
        AggregationTemporality::Cumulative as i32
    }
}

/// The times and gate of the points of one collection.
struct Point<'a> {
    start: SystemTime,
    since: SystemTime,
    now: SystemTime,
    gate: Option<&'a ExemplarGate>,
}

impl Point<'_> {
    fn number<M>(
        &self,
        s: &SeriesRef<'_, M>,
        int: Option<i64>,
        double: Option<f64>,
        exemplars: Vec<proto::Exemplar>,
    ) -> NumberDataPoint {
        use proto::number_data_point::Value;
        NumberDataPoint {
            attributes: Attributes::from(s.attributes.iter().cloned()).0,
            start_time_unix_nano: nanos(self.start),
            time_unix_nano: nanos(self.now),
            exemplars,
            value: int.map(Value::AsInt).or(double.map(Value::AsDouble)),
            ..Default::default()
        }
    }

    /// `e` as an OTLP exemplar, when it was recorded since the previous collection and (with
    /// tail sampling) its trace was kept.
    fn exemplars(&self, e: Option<Exemplar>, int: bool) -> Vec<proto::Exemplar> {
        use proto::exemplar::Value;
        let Some(e) = e else { return Vec::new() };
        if e.time < self.since || self.gate.is_some_and(|kept| !kept(e.trace_id.to_bytes())) {
            return Vec::new();
        }
        vec![proto::Exemplar {
            time_unix_nano: nanos(e.time),
            span_id: e.span_id.to_bytes().to_vec(),
            trace_id: e.trace_id.to_bytes().to_vec(),
            value: Some(if int {
                Value::AsInt(e.value as i64)
            } else {
                Value::AsDouble(e.value)
            }),
            ..Default::default()
        }]
    }
}

/// What the exporter thread is asked to do.
enum Command {
    Flush(mpsc::Sender<Result<(), String>>),
    Shutdown(mpsc::Sender<Result<(), String>>),
}

/// The periodic OTLP metrics exporter: a thread that collects and sends every interval, on
/// flush and at shutdown. No lock is held while a request is on the wire; recording threads
/// never wait for it.
pub(crate) struct OtlpMetrics {
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    failed: Arc<AtomicU64>,
}

impl OtlpMetrics {
    /// Starts the thread.
    pub(crate) fn start(mut collector: Collector, sender: Sender, interval: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<Command>();
        let failed = Arc::new(AtomicU64::new(0));
        let failures = Arc::clone(&failed);
        let export = move |collector: &mut Collector| -> Result<(), String> {
            let Some(request) = collector.collect() else {
                return Ok(());
            };
            sender.send(&request).inspect_err(|_| {
                failures.fetch_add(1, Ordering::Relaxed);
            })
        };
        let thread = std::thread::Builder::new()
            .name("hyperion-otlp-metrics".to_owned())
            .spawn(move || {
                let mut next = Instant::now() + interval;
                loop {
                    match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                        Err(RecvTimeoutError::Timeout) => {
                            // A failure is counted; the next interval tries again.
                            let _ = export(&mut collector);
                            next = Instant::now() + interval;
                        }
                        Ok(Command::Flush(reply)) => {
                            let _ = reply.send(export(&mut collector));
                        }
                        Ok(Command::Shutdown(reply)) => {
                            let _ = reply.send(export(&mut collector));
                            return;
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            let _ = export(&mut collector);
                            return;
                        }
                    }
                }
            })
            .expect("spawning the OTLP metrics thread");
        OtlpMetrics {
            commands: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            failed,
        }
    }

    /// Exports failed so far (after their retries).
    pub(crate) fn failed_exports(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    fn ask(&self, shutdown: bool) -> OTelSdkResult {
        let commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = commands.as_ref() else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let (reply, answer) = mpsc::channel();
        let command = if shutdown {
            Command::Shutdown(reply)
        } else {
            Command::Flush(reply)
        };
        if tx.send(command).is_err() {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let result = answer
            .recv()
            .unwrap_or_else(|_| Err("the OTLP metrics thread stopped".to_owned()));
        if shutdown {
            drop(commands);
            self.commands
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(thread) = self
                .thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                let _ = thread.join();
            }
        }
        result.map_err(OTelSdkError::InternalFailure)
    }

    /// Exports what was recorded now.
    pub(crate) fn force_flush(&self) -> OTelSdkResult {
        self.ask(false)
    }

    /// Exports a last time and stops the thread.
    pub(crate) fn shutdown(&self) -> OTelSdkResult {
        self.ask(true)
    }
}

impl Drop for OtlpMetrics {
    fn drop(&mut self) {
        // Without a shutdown, the thread exports once more when its channel closes.
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
