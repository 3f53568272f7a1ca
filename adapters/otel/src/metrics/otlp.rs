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
//! - **Exemplars**: each point carries the exemplars of its slots (a counter's latest, a
//!   histogram's latest per bucket) that no delivered export carried yet: trace id, span id,
//!   time and value. With tail sampling, only those of kept traces (the Prometheus endpoint's
//!   rule); one whose trace is not decided yet waits for a later export.
//! - **Cardinality**: the store's limit; the overflow series has the attribute
//!   `otel.metric.overflow = true` (`otel_metric_overflow="true"` in Prometheus).
//! - **Attributes** are those of the record that made the series, typed as given. Records whose
//!   attributes make the same Prometheus labels (`a.b` and `a_b`) share one series.
//! - **Failures** are counted ([`crate::MetricStats::failed_exports`]) and the application never
//!   waits for them: retryable errors (gRPC `UNAVAILABLE` and friends, HTTP 429/502/503/504,
//!   connection errors) are retried with backoff within `metrics.export_timeout`. A failed
//!   export loses nothing: delta baselines and sent exemplars move on only once a request is
//!   delivered, so the next export carries the increments (folded into its delta) and the
//!   exemplars again.
//! - **Histograms** carry min and max when cumulative (the cells keep them since the start);
//!   delta points leave them out (both fields are optional).
//! - **Identity**: a series is found by its Prometheus name, so two instruments whose names
//!   convert to the same Prometheus name (the same name in two meters, `a.b` and `a_b`) are one
//!   stream, named, described and scoped by the first registration; one of another kind with a
//!   colliding name is refused (counted in `dropped_values`) for both exporters.

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
    /// The server's `Retry-After`, if it sent one.
    after: Option<Duration>,
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
            let wait = failure.after.map_or(delay, |after| after.max(delay));
            if !failure.retry || Instant::now() + wait >= deadline {
                return Err(failure.message);
            }
            std::thread::sleep(wait);
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
                        // The OTLP specification's retryable codes; RESOURCE_EXHAUSTED only
                        // with RetryInfo, which this exporter does not read: not retried.
                        Err(Failure {
                            after: None,
                            retry: matches!(
                                status.code(),
                                Cancelled
                                    | DeadlineExceeded
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
                        after: None,
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
                            after: None,
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
                        // Seconds (the HTTP-date form is not read).
                        after: r
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
                            .map(Duration::from_secs),
                        message: format!("HTTP {} from {url}", r.status()),
                    }),
                    Err(e) => Err(Failure {
                        retry: e.is_connect() || e.is_timeout(),
                        message: e.to_string(),
                        after: None,
                    }),
                }
            }
        }
    }
}

/// What a delta series counted from: the reading the last delivered export ended at.
#[derive(Clone, Debug)]
enum Baseline {
    Sum(u64),
    Histogram { buckets: Vec<u64>, sum: f64 },
}

/// A series across collections: (family index, series index). Both only grow.
type SeriesKey = (usize, usize);

/// An exemplar slot: a series and (for histograms) a bucket.
type SlotKey = (usize, usize, usize);

/// Tells one exemplar from the next one in the same slot.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ExemplarMark {
    time: SystemTime,
    span_id: [u8; 8],
    value_bits: u64,
}

impl From<&Exemplar> for ExemplarMark {
    fn from(e: &Exemplar) -> Self {
        ExemplarMark {
            time: e.time,
            span_id: e.span_id.to_bytes(),
            value_bits: e.value.to_bits(),
        }
    }
}

/// What the request being sent makes true once it is delivered.
#[derive(Default)]
struct Staged {
    now: Option<SystemTime>,
    baselines: Vec<(SeriesKey, Baseline)>,
    exemplars: Vec<(SlotKey, ExemplarMark)>,
}

/// Builds requests from the store. What an export changes (delta baselines, the exemplars
/// already sent) is staged and applied only once the request was delivered: after a failed
/// export, the next one carries the same increments (folded into its delta) and exemplars.
pub(crate) struct Collector {
    store: Arc<PrometheusSink>,
    resource: Resource,
    temporality: Temporality,
    /// When the last delivered export was collected (the store's start before the first): the
    /// start of every delta point.
    last: SystemTime,
    /// Delta only: what each series counted up to at the last delivered export.
    baselines: HashMap<SeriesKey, Baseline>,
    /// The last exemplar delivered from each slot, so that none is sent twice; an exemplar not
    /// sent yet (recorded after a collection, or of a trace tail sampling has not decided) is
    /// sent by a later export unless a newer one replaced it first.
    sent: HashMap<SlotKey, ExemplarMark>,
    staged: Staged,
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
            baselines: HashMap::new(),
            sent: HashMap::new(),
            staged: Staged::default(),
        }
    }

    /// Everything recorded, as one request; `None` when there is nothing to send. Call
    /// [`Self::delivered`] once it was.
    pub(crate) fn collect(&mut self) -> Option<ExportMetricsServiceRequest> {
        let now = SystemTime::now();
        self.staged = Staged {
            now: Some(now),
            ..Staged::default()
        };
        let delta = self.temporality != Temporality::Cumulative;
        let mut reader = Reader {
            started: self.store.started(),
            last: self.last,
            now,
            gate: self.store.exemplar_gate().cloned(),
            sent: &self.sent,
            staged: &mut self.staged,
        };
        let mut scopes: Vec<ScopeMetrics> = Vec::new();
        for (f, family) in self.store.families().iter().enumerate() {
            let data = match &family.data {
                Data::Counter(t) => {
                    let mut points = Vec::new();
                    t.for_each(|s| {
                        let key = (f, s.index);
                        let total = s.metric.value();
                        let value = if delta {
                            let before = match self.baselines.get(&key) {
                                Some(Baseline::Sum(v)) => *v,
                                _ => 0,
                            };
                            if total <= before {
                                return;
                            }
                            reader.staged.baselines.push((key, Baseline::Sum(total)));
                            total - before
                        } else {
                            total
                        };
                        let exemplars: Vec<_> = reader
                            .exemplars((f, s.index, 0), s.metric.exemplar(), true)
                            .into_iter()
                            .collect();
                        let mut p = reader.number(&s, delta, exemplars);
                        p.value = Some(proto::number_data_point::Value::AsInt(value as i64));
                        points.push(p);
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
                    let mut points = Vec::new();
                    t.for_each(|s| {
                        let mut p = reader.number(&s, false, Vec::new());
                        p.value = Some(proto::number_data_point::Value::AsInt(s.metric.value()));
                        points.push(p);
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
                        let mut p = reader.number(&s, false, Vec::new());
                        // A gauge has no start (the data model makes it optional).
                        p.start_time_unix_nano = 0;
                        p.value = Some(proto::number_data_point::Value::AsDouble(s.metric.value()));
                        points.push(p);
                    });
                    (!points.is_empty()).then_some(ProtoData::Gauge(proto::Gauge {
                        data_points: points,
                    }))
                }
                Data::Histogram(t) => {
                    let mut points = Vec::new();
                    t.for_each(|s| {
                        let key = (f, s.index);
                        let h = s.metric;
                        let mut reading = h.read();
                        let (mut min, mut max) = (reading.min, reading.max);
                        if delta {
                            let seen = Baseline::Histogram {
                                buckets: reading.buckets.clone(),
                                sum: reading.sum,
                            };
                            if let Some(Baseline::Histogram { buckets, sum }) =
                                self.baselines.get(&key)
                            {
                                for (b, before) in reading.buckets.iter_mut().zip(buckets) {
                                    *b = b.saturating_sub(*before);
                                }
                                reading.sum -= sum;
                            }
                            reading.count = reading.buckets.iter().sum();
                            if reading.count == 0 {
                                // Nothing new; the baseline stays (a sum added after its
                                // bucket was read is counted with that bucket next time).
                                return;
                            }
                            reader.staged.baselines.push((key, seen));
                            // The cells keep the extremes since the start only.
                            (min, max) = (None, None);
                        }
                        let mut exemplars = Vec::new();
                        for (bucket, e) in h.exemplars() {
                            exemplars.extend(reader.exemplars(
                                (f, s.index, bucket),
                                Some(e),
                                false,
                            ));
                        }
                        points.push(HistogramDataPoint {
                            attributes: Attributes::from(s.attributes.iter().cloned()).0,
                            start_time_unix_nano: nanos(reader.start(delta)),
                            time_unix_nano: nanos(now),
                            count: reading.count,
                            sum: Some(reading.sum),
                            bucket_counts: reading.buckets,
                            explicit_bounds: h.bounds().to_vec(),
                            exemplars,
                            min,
                            max,
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
            let d = &family.instrument;
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
        (!scopes.is_empty()).then(|| ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: scopes,
                ..Default::default()
            }],
        })
    }

    /// The request [`Self::collect`] made was delivered: its baselines and exemplars count.
    pub(crate) fn delivered(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        if let Some(now) = staged.now {
            self.last = now;
        }
        self.baselines.extend(staged.baselines);
        self.sent.extend(staged.exemplars);
    }
}

fn temporality(delta: bool) -> i32 {
    if delta {
        AggregationTemporality::Delta as i32
    } else {
        AggregationTemporality::Cumulative as i32
    }
}

/// What one collection reads with.
struct Reader<'a> {
    started: SystemTime,
    last: SystemTime,
    now: SystemTime,
    gate: Option<ExemplarGate>,
    sent: &'a HashMap<SlotKey, ExemplarMark>,
    staged: &'a mut Staged,
}

impl Reader<'_> {
    /// A delta point starts at the last delivered export, a cumulative one at the start.
    fn start(&self, delta: bool) -> SystemTime {
        if delta { self.last } else { self.started }
    }

    /// A number point of a series, without its value.
    fn number<M>(
        &self,
        s: &SeriesRef<'_, M>,
        delta: bool,
        exemplars: Vec<proto::Exemplar>,
    ) -> NumberDataPoint {
        NumberDataPoint {
            attributes: Attributes::from(s.attributes.iter().cloned()).0,
            start_time_unix_nano: nanos(self.start(delta)),
            time_unix_nano: nanos(self.now),
            exemplars,
            ..Default::default()
        }
    }

    /// The slot's exemplar as an OTLP exemplar, unless it was delivered already or (with tail
    /// sampling) its trace is not kept (yet).
    fn exemplars(
        &mut self,
        slot: SlotKey,
        e: Option<Exemplar>,
        int: bool,
    ) -> Option<proto::Exemplar> {
        use proto::exemplar::Value;
        let e = e?;
        let mark = ExemplarMark::from(&e);
        if self.sent.get(&slot) == Some(&mark)
            || self
                .gate
                .as_ref()
                .is_some_and(|kept| !kept(e.trace_id.to_bytes()))
        {
            return None;
        }
        self.staged.exemplars.push((slot, mark));
        Some(proto::Exemplar {
            time_unix_nano: nanos(e.time),
            span_id: e.span_id.to_bytes().to_vec(),
            trace_id: e.trace_id.to_bytes().to_vec(),
            value: Some(if int {
                Value::AsInt(e.value as i64)
            } else {
                Value::AsDouble(e.value)
            }),
            ..Default::default()
        })
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
    pub(crate) fn start(
        mut collector: Collector,
        sender: Sender,
        interval: Duration,
    ) -> Result<Self, String> {
        let (tx, rx) = mpsc::channel::<Command>();
        let failed = Arc::new(AtomicU64::new(0));
        let failures = Arc::clone(&failed);
        let export = move |collector: &mut Collector| -> Result<(), String> {
            let Some(request) = collector.collect() else {
                return Ok(());
            };
            match sender.send(&request) {
                Ok(()) => {
                    collector.delivered();
                    Ok(())
                }
                Err(e) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    Err(e)
                }
            }
        };
        let thread = std::thread::Builder::new()
            .name("hyperion-otlp-metrics".to_owned())
            .spawn(move || {
                crate::adapter_runtime::mark_export_thread();
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
                        // Dropped without a shutdown: the runtime a gRPC export would need may be
                        // going away too, so no last export.
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(|e| format!("cannot start the OTLP metrics thread: {e}"))?;
        Ok(OtlpMetrics {
            commands: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            failed,
        })
    }

    /// Exports failed so far (after their retries).
    pub(crate) fn failed_exports(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    fn ask(&self, shutdown: bool) -> OTelSdkResult {
        // A clone: no lock is held while the export runs.
        let tx = self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(tx) = tx else {
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
            drop(tx);
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
        // Without a shutdown, the thread stops when its channel closes (after the export it
        // may be in).
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
