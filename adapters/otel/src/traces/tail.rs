//! Tail sampling (`tracing.tail_sampling`): a span processor in front of the exporters' that
//! buffers each trace's spans until its **local root** (a span whose parent is remote or
//! absent) and every span started under it have ended, then keeps or drops them all by the
//! first policy that matches.
//!
//! - Open spans are counted per trace (`on_start` up, `on_end` down), so a child that ends
//!   after its root is still in the decision (the buffer is not freed when the root ends).
//! - Memory is bounded: at most `max_traces` traces and `max_spans_per_trace` spans each; past
//!   either, the oldest trace (or the full one) is decided early on what is there. A trace
//!   still incomplete `decision_wait` after its first span started is decided by a ticker
//!   thread. Shutdown decides what is left.
//! - Recent decisions are remembered (four times `max_traces`, at least 4,096), so that spans
//!   ending after their trace was decided follow it; a new local root in a dropped trace opens
//!   a new entry. The last 16,384 kept traces are remembered apart, so that the Prometheus
//!   endpoint shows only exemplars of kept traces ([`TailShared::is_kept`]).
//! - Span promotion's deferred spans hold their trace open ([`TailShared::hold`]).
//! - Head sampling applies first: only recorded spans reach a processor.
//!
//! Hand-written: opentelemetry-rust has no tail sampling (open-telemetry/opentelemetry-rust
//! issue 2044), and the collector's `tail_sampling` processor lives outside the process.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

use crate::config::{StatusCodeName, TailDefault, TailPolicy, TailSamplingSettings};

/// A snapshot of the tail sampler's counters ([`crate::OtelModule::tail_sampling_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TailSamplingStats {
    /// Traces kept.
    pub kept: u64,
    /// Traces dropped.
    pub dropped: u64,
    /// Traces decided before they were complete because `max_traces` were buffered.
    pub traces_limit: u64,
    /// Traces decided before they were complete because one had `max_spans_per_trace` spans.
    pub spans_limit: u64,
    /// Traces decided after `decision_wait` without their local root having ended.
    pub timed_out: u64,
    /// Spans exported (kept traces' spans, and later spans of kept traces).
    pub spans_kept: u64,
    /// Spans dropped (dropped traces' spans, and later spans of dropped traces).
    pub spans_dropped: u64,
    /// Traces buffered now.
    pub buffered: u64,
}

/// What made a trace be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// Its local root and every span under it ended.
    Complete,
    TracesLimit,
    SpansLimit,
    Timeout,
    Shutdown,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Complete => "complete",
            Trigger::TracesLimit => "traces_limit",
            Trigger::SpansLimit => "spans_limit",
            Trigger::Timeout => "timeout",
            Trigger::Shutdown => "shutdown",
        }
    }
}

/// One buffered trace.
struct Entry {
    seq: u64,
    created: Instant,
    open: u32,
    /// The local root's start and end, once it has ended.
    root: Option<(SystemTime, SystemTime)>,
    spans: Vec<SpanData>,
}

/// Recent decisions, oldest forgotten first.
struct Decisions<V> {
    map: HashMap<u128, V, foldhash::fast::RandomState>,
    order: VecDeque<u128>,
    capacity: usize,
}

impl<V> Decisions<V> {
    fn new(capacity: usize) -> Self {
        Decisions {
            map: HashMap::default(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Records `value` for `trace`; a trace decided again keeps its place in the order.
    fn insert(&mut self, trace: u128, value: V) {
        if self.map.insert(trace, value).is_none() {
            if self.order.len() >= self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.map.remove(&old);
            }
            self.order.push_back(trace);
        }
    }
}

/// A decision as remembered for the trace's later spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Kept,
    /// Dropped once complete: a new local root in the trace (the service called again) is
    /// buffered and decided on its own.
    Dropped,
    /// Dropped before it was complete (buffer full, too many spans, `decision_wait`): its
    /// spans still open follow the drop, so no new entry may take them in.
    DroppedEarly,
}

struct Buffer {
    traces: HashMap<u128, Entry, foldhash::fast::RandomState>,
    /// Trace ids in the order they were buffered, with the entry's `seq` (stale once decided).
    order: VecDeque<(u128, u64)>,
    next_seq: u64,
    decided: Decisions<Verdict>,
    /// Per `rate_limiting` policy (by index): the current second and the spans kept in it.
    rates: Vec<(u64, u64)>,
    closed: bool,
}

/// A decided trace on its way out of the lock: kept or not, why it was decided, its spans.
type Decided = (bool, Trigger, Vec<SpanData>);

/// How many kept traces the exemplar gate remembers: far more than decisions of both kinds
/// are kept for late spans, as kept traces are the few.
const KEPT_MEMORY: usize = 16_384;

/// The sampler's state, shared with the ticker thread and the Prometheus endpoint.
pub(crate) struct TailShared {
    policies: Vec<TailPolicy>,
    default_keep: bool,
    max_traces: usize,
    max_spans_per_trace: usize,
    decision_wait: Duration,
    inner: Vec<Box<dyn SpanProcessor>>,
    buffer: Mutex<Buffer>,
    /// The traces kept lately, for the exemplar gate (a lock of its own: scrapes never wait
    /// on the spans' buffer).
    kept: Mutex<Decisions<()>>,
    counts: Counts,
    counter: OnceLock<(hyperion::Counter, hyperion::Counter)>,
    stop: (Mutex<bool>, Condvar),
}

#[derive(Default)]
struct Counts {
    kept: AtomicU64,
    dropped: AtomicU64,
    traces_limit: AtomicU64,
    spans_limit: AtomicU64,
    timed_out: AtomicU64,
    spans_kept: AtomicU64,
    spans_dropped: AtomicU64,
}

impl TailShared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the trace was kept, as far as the recent decisions remember: false for a trace
    /// dropped, undecided or forgotten, so that an exemplar never leads to a dropped trace.
    pub(crate) fn is_kept(&self, trace_id: [u8; 16]) -> bool {
        let trace = u128::from_be_bytes(trace_id);
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .contains_key(&trace)
    }

    /// A deferred span (span promotion) holds its trace open, as it is no SDK span the sampler
    /// sees start. Returns whether it did: not for a trace already decided, whose later spans
    /// follow the decision.
    pub(crate) fn hold(&self, trace: u128) -> bool {
        let evicted = {
            let mut buffer = self.lock();
            if let Some(entry) = buffer.traces.get_mut(&trace) {
                entry.open += 1;
                return true;
            }
            if buffer.closed || buffer.decided.map.contains_key(&trace) {
                return false;
            }
            self.open_entry(&mut buffer, trace)
        };
        self.release(evicted);
        true
    }

    /// A deferred span that held its trace has ended (and was exported, if promoted).
    pub(crate) fn unhold(&self, trace: u128) {
        let decided = {
            let mut buffer = self.lock();
            let Some(entry) = buffer.traces.get_mut(&trace) else {
                return;
            };
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 && entry.root.is_some() {
                self.decide(&mut buffer, trace, Trigger::Complete)
            } else {
                None
            }
        };
        self.release(decided);
    }

    /// Buffers a new trace with one open span, deciding the oldest early when `max_traces` are
    /// buffered already. Returns that decision.
    fn open_entry(&self, buffer: &mut Buffer, trace: u128) -> Option<Decided> {
        let mut evicted = None;
        if buffer.traces.len() >= self.max_traces {
            while let Some((oldest, seq)) = buffer.order.pop_front() {
                if buffer.traces.get(&oldest).is_some_and(|e| e.seq == seq) {
                    evicted = self.decide(buffer, oldest, Trigger::TracesLimit);
                    break;
                }
            }
        }
        let seq = buffer.next_seq;
        buffer.next_seq += 1;
        buffer.order.push_back((trace, seq));
        // Traces decided while others ahead of them in the queue are still open leave stale
        // places behind: drop them before they outnumber the live ones.
        if buffer.order.len() > 2 * buffer.traces.len() + 1024 {
            let traces = &buffer.traces;
            buffer
                .order
                .retain(|(t, seq)| traces.get(t).is_some_and(|e| e.seq == *seq));
        }
        buffer.traces.insert(
            trace,
            Entry {
                seq,
                created: Instant::now(),
                open: 1,
                root: None,
                // A small trace's spans without regrowing.
                spans: Vec::with_capacity(8),
            },
        );
        evicted
    }

    pub(crate) fn stats(&self) -> TailSamplingStats {
        let c = &self.counts;
        TailSamplingStats {
            kept: c.kept.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            traces_limit: c.traces_limit.load(Ordering::Relaxed),
            spans_limit: c.spans_limit.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
            spans_kept: c.spans_kept.load(Ordering::Relaxed),
            spans_dropped: c.spans_dropped.load(Ordering::Relaxed),
            buffered: self.lock().traces.len() as u64,
        }
    }

    /// Publishes the counters as `hyperion.tail_sampling.traces{decision, trigger}` and
    /// `hyperion.tail_sampling.spans{decision}` through the facade meter.
    pub(crate) fn publish_to(&self, telemetry: &hyperion::Telemetry) {
        let meter = telemetry.meter("hyperion-otel");
        if !meter.is_enabled() {
            return;
        }
        let traces = meter
            .counter("hyperion.tail_sampling.traces")
            .description(
                "Traces decided by tail sampling, by decision (kept, dropped) and trigger \
                 (complete, traces_limit, spans_limit, timeout, shutdown)",
            )
            .unit("{trace}")
            .build();
        let spans = meter
            .counter("hyperion.tail_sampling.spans")
            .description("Spans kept or dropped by tail sampling, by decision")
            .unit("{span}")
            .build();
        let _ = self.counter.set((traces, spans));
    }

    /// The first policy that matches decides; `default` otherwise.
    fn evaluate(&self, trace: u128, entry: &Entry, rates: &mut [(u64, u64)]) -> bool {
        let mut rate_index = 0;
        for policy in &self.policies {
            let decision = match policy {
                TailPolicy::StatusCode { status_codes } => entry
                    .spans
                    .iter()
                    .any(|s| status_codes.contains(&status_name(&s.status)))
                    .then_some(true),
                TailPolicy::Latency {
                    threshold,
                    upper_threshold,
                } => {
                    let took = trace_duration(entry);
                    (took >= *threshold && upper_threshold.is_none_or(|u| took < u)).then_some(true)
                }
                TailPolicy::Attribute { key, values } => {
                    has_attribute(entry, key, values).then_some(true)
                }
                TailPolicy::Probabilistic { rate } => {
                    probabilistic_keep(trace.to_be_bytes(), *rate).then_some(true)
                }
                TailPolicy::RateLimiting { spans_per_second } => {
                    let slot = &mut rates[rate_index];
                    rate_index += 1;
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    if slot.0 != now {
                        *slot = (now, 0);
                    }
                    let n = entry.spans.len() as u64;
                    (slot.1 + n <= *spans_per_second).then(|| {
                        slot.1 += n;
                        true
                    })
                }
                TailPolicy::Drop { key, values } => {
                    has_attribute(entry, key, values).then_some(false)
                }
            };
            if let Some(keep) = decision {
                return keep;
            }
        }
        self.default_keep
    }

    /// Decides a buffered trace (under the lock) and records the decision.
    fn decide(&self, buffer: &mut Buffer, trace: u128, trigger: Trigger) -> Option<Decided> {
        let entry = buffer.traces.remove(&trace)?;
        let keep = self.evaluate(trace, &entry, &mut buffer.rates);
        let verdict = match (keep, trigger) {
            (true, _) => Verdict::Kept,
            (false, Trigger::Complete) => Verdict::Dropped,
            (false, _) => Verdict::DroppedEarly,
        };
        buffer.decided.insert(trace, verdict);
        if keep {
            self.kept
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(trace, ());
        }
        Some((keep, trigger, entry.spans))
    }

    /// Counts decisions, hands kept spans to the exporters' processors; outside the lock.
    fn release(&self, decided: impl IntoIterator<Item = Decided>) {
        for (keep, trigger, spans) in decided {
            let counter = match trigger {
                Trigger::TracesLimit => Some(&self.counts.traces_limit),
                Trigger::SpansLimit => Some(&self.counts.spans_limit),
                Trigger::Timeout => Some(&self.counts.timed_out),
                Trigger::Complete | Trigger::Shutdown => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            let decision = if keep {
                self.counts.kept.fetch_add(1, Ordering::Relaxed);
                "kept"
            } else {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                "dropped"
            };
            if let Some((traces, _)) = self.counter.get() {
                traces.add(
                    &hyperion::Context::noop(),
                    1,
                    &[
                        hyperion::kv("decision", hyperion::Value::from_static_str(decision)),
                        hyperion::kv(
                            "trigger",
                            hyperion::Value::from_static_str(trigger.as_str()),
                        ),
                    ],
                );
            }
            self.follow(keep, spans);
        }
    }

    /// Spans of a decided trace: forwarded when it was kept, counted either way.
    fn follow(&self, keep: bool, spans: Vec<SpanData>) {
        self.count_spans(keep, spans.len() as u64);
        if keep {
            for span in spans {
                self.forward(span);
            }
        }
    }

    fn forward(&self, span: SpanData) {
        match self.inner.as_slice() {
            [only] => only.on_end(span),
            all => {
                for processor in all {
                    processor.on_end(span.clone());
                }
            }
        }
    }

    fn count_spans(&self, keep: bool, n: u64) {
        if n == 0 {
            return;
        }
        let (cell, decision) = if keep {
            (&self.counts.spans_kept, "kept")
        } else {
            (&self.counts.spans_dropped, "dropped")
        };
        cell.fetch_add(n, Ordering::Relaxed);
        if let Some((_, spans)) = self.counter.get() {
            spans.add(
                &hyperion::Context::noop(),
                n,
                &[hyperion::kv(
                    "decision",
                    hyperion::Value::from_static_str(decision),
                )],
            );
        }
    }

    /// Decides every trace buffered longer than `decision_wait`.
    fn expire(&self) {
        let now = Instant::now();
        let mut decided = Vec::new();
        {
            let mut buffer = self.lock();
            while let Some(&(trace, seq)) = buffer.order.front() {
                match buffer.traces.get(&trace) {
                    Some(entry) if entry.seq == seq => {
                        if now.duration_since(entry.created) < self.decision_wait {
                            break;
                        }
                        buffer.order.pop_front();
                        decided.extend(self.decide(&mut buffer, trace, Trigger::Timeout));
                    }
                    // Decided already: a stale place in the queue.
                    _ => {
                        buffer.order.pop_front();
                    }
                }
            }
        }
        self.release(decided);
    }

    /// Decides everything still buffered (at shutdown), and lets later spans pass undecided.
    fn drain(&self) {
        let decided = {
            let mut buffer = self.lock();
            buffer.closed = true;
            let traces: Vec<u128> = buffer.traces.keys().copied().collect();
            buffer.order.clear();
            traces
                .into_iter()
                .filter_map(|t| self.decide(&mut buffer, t, Trigger::Shutdown))
                .collect::<Vec<_>>()
        };
        self.release(decided);
    }
}

fn status_name(status: &opentelemetry::trace::Status) -> StatusCodeName {
    match status {
        opentelemetry::trace::Status::Error { .. } => StatusCodeName::Error,
        opentelemetry::trace::Status::Ok => StatusCodeName::Ok,
        opentelemetry::trace::Status::Unset => StatusCodeName::Unset,
    }
}

/// The local root's duration, or, for a trace decided before its root ended, from its first
/// span's start to its last span's end.
fn trace_duration(entry: &Entry) -> Duration {
    if let Some((start, end)) = entry.root {
        return end.duration_since(start).unwrap_or_default();
    }
    let start = entry.spans.iter().map(|s| s.start_time).min();
    let end = entry.spans.iter().map(|s| s.end_time).max();
    match (start, end) {
        (Some(start), Some(end)) => end.duration_since(start).unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// Whether a span has the attribute with one of `values`, on itself or on one of its events
/// (span promotion leaves a fast call's attributes on its event on the parent).
fn has_attribute(entry: &Entry, key: &str, values: &[String]) -> bool {
    let matches = |kv: &opentelemetry::KeyValue| {
        kv.key.as_str() == key && values.iter().any(|v| *v == kv.value.as_str())
    };
    entry.spans.iter().any(|s| {
        s.attributes.iter().any(matches)
            || s.events.iter().any(|e| e.attributes.iter().any(matches))
    })
}

/// Keeps `rate` of the traces by the OpenTelemetry specification's consistent-probability rule:
/// with R the trace id's low 56 bits (the bits W3C Trace Context level 2 makes random) and the
/// rejection threshold T = (1 - rate) * 2^56, keep when R >= T. Every hyperion service with the
/// same rate keeps the same traces. (The collector's `probabilistic` tail policy hashes the
/// trace id instead, so its choice differs.)
pub(crate) fn probabilistic_keep(trace_id: [u8; 16], rate: f64) -> bool {
    let mut low = [0u8; 8];
    low[1..].copy_from_slice(&trace_id[9..]);
    let random = u64::from_be_bytes(low);
    let threshold = ((1.0 - rate.clamp(0.0, 1.0)) * (1u64 << 56) as f64) as u64;
    random >= threshold
}

/// The span processor: buffers, decides, forwards kept spans to the exporters' processors.
pub(crate) struct TailSampler {
    shared: Arc<TailShared>,
    /// The ticker thread, started with the first span; joined at shutdown.
    ticker: OnceLock<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl fmt::Debug for TailSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailSampler")
            .field("stats", &self.shared.stats())
            .finish_non_exhaustive()
    }
}

impl TailSampler {
    pub(crate) fn new(settings: &TailSamplingSettings, inner: Vec<Box<dyn SpanProcessor>>) -> Self {
        let rates = settings
            .policies
            .iter()
            .filter(|p| matches!(p, TailPolicy::RateLimiting { .. }))
            .map(|_| (0, 0))
            .collect();
        let shared = TailShared {
            policies: settings.policies.clone(),
            default_keep: settings.default == TailDefault::Keep,
            max_traces: settings.max_traces,
            max_spans_per_trace: settings.max_spans_per_trace,
            decision_wait: settings.decision_wait,
            inner,
            buffer: Mutex::new(Buffer {
                traces: HashMap::default(),
                order: VecDeque::new(),
                next_seq: 0,
                decided: Decisions::new(settings.max_traces.saturating_mul(4).max(4096)),
                rates,
                closed: false,
            }),
            kept: Mutex::new(Decisions::new(KEPT_MEMORY)),
            counts: Counts::default(),
            counter: OnceLock::new(),
            stop: (Mutex::new(false), Condvar::new()),
        };
        TailSampler {
            shared: Arc::new(shared),
            ticker: OnceLock::new(),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<TailShared> {
        &self.shared
    }

    /// Starts the thread that decides traces past `decision_wait`, on the first span (the
    /// processor's inner list can be changed only before any span, when the provider is built).
    fn start_ticker(&self) {
        self.ticker.get_or_init(|| {
            let shared = Arc::downgrade(&self.shared);
            let tick = (self.shared.decision_wait / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(1));
            let spawned = std::thread::Builder::new()
                .name("hyperion-tail-sampling".into())
                .spawn(move || ticker(shared, tick));
            match spawned {
                Ok(handle) => Mutex::new(Some(handle)),
                Err(e) => {
                    eprintln!(
                        "hyperion-otel: tail sampling could not start its timer thread ({e}); \
                         traces that do not complete are decided only when the buffer is full"
                    );
                    Mutex::new(None)
                }
            }
        });
    }
}

fn ticker(shared: Weak<TailShared>, tick: Duration) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        {
            let (stopped, wake) = &shared.stop;
            let guard = stopped.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, _) = wake
                .wait_timeout_while(guard, tick, |stopped| !*stopped)
                .unwrap_or_else(|p| p.into_inner());
            if *guard {
                return;
            }
        }
        shared.expire();
    }
}

impl SpanProcessor for TailSampler {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        for processor in &self.shared.inner {
            processor.on_start(span, cx);
        }
        self.start_ticker();
        let shared = &*self.shared;
        let trace = u128::from_be_bytes(
            opentelemetry::trace::Span::span_context(span)
                .trace_id()
                .to_bytes(),
        );
        let evicted = {
            let mut buffer = shared.lock();
            if let Some(entry) = buffer.traces.get_mut(&trace) {
                entry.open += 1;
                return;
            }
            if buffer.closed {
                return;
            }
            match buffer.decided.map.get(&trace) {
                // Spans of a kept trace, or of one dropped while spans were open, follow it.
                Some(Verdict::Kept | Verdict::DroppedEarly) => return,
                Some(Verdict::Dropped) => {
                    // A new local root (the service called again in the same trace) is decided
                    // on its own: a drop decision for an earlier request must not lose its
                    // error. Other spans of a dropped trace follow the drop.
                    let parent = cx.span();
                    let parent = parent.span_context();
                    if parent.is_valid() && !parent.is_remote() {
                        return;
                    }
                    // The old decision stays in the memory until this entry's replaces it.
                }
                None => {}
            }
            shared.open_entry(&mut buffer, trace)
        };
        shared.release(evicted);
    }

    fn on_end(&self, span: SpanData) {
        let shared = &*self.shared;
        let trace = u128::from_be_bytes(span.span_context.trace_id().to_bytes());
        let local_root = span.parent_span_id == opentelemetry::trace::SpanId::INVALID
            || span.parent_span_is_remote;
        let decided = {
            let mut buffer = shared.lock();
            let max_spans = shared.max_spans_per_trace;
            let Some(entry) = buffer.traces.get_mut(&trace) else {
                // A span of a trace already decided follows the decision (also the drain's at
                // shutdown); one whose decision was forgotten is kept rather than lost.
                let keep = buffer
                    .decided
                    .map
                    .get(&trace)
                    .is_none_or(|v| *v == Verdict::Kept);
                drop(buffer);
                shared.follow(keep, vec![span]);
                return;
            };
            entry.open = entry.open.saturating_sub(1);
            if local_root {
                entry.root = Some((span.start_time, span.end_time));
            }
            entry.spans.push(span);
            let trigger = if entry.spans.len() >= max_spans {
                Some(Trigger::SpansLimit)
            } else if entry.open == 0 && entry.root.is_some() {
                Some(Trigger::Complete)
            } else {
                None
            };
            trigger.and_then(|t| shared.decide(&mut buffer, trace, t))
        };
        shared.release(decided);
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Only decided spans are flushed: a trace still open stays buffered, as it must.
        let mut result = Ok(());
        for processor in &self.shared.inner {
            result = result.and(processor.force_flush());
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        {
            let (stopped, wake) = &self.shared.stop;
            *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
            wake.notify_all();
        }
        // The ticker may be forwarding spans: it finishes before the processors shut down.
        let handle = self
            .ticker
            .get()
            .and_then(|t| t.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        self.shared.drain();
        let mut result = Ok(());
        for processor in &self.shared.inner {
            result = result.and(processor.shutdown_with_timeout(timeout));
        }
        result
    }

    fn set_resource(&mut self, _resource: &opentelemetry_sdk::Resource) {
        // The inner processors were given the resource before they were wrapped.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilistic_keeps_by_the_random_low_bits() {
        let mut id = [0u8; 16];
        assert!(!probabilistic_keep(id, 0.0));
        assert!(!probabilistic_keep(id, 0.99));
        assert!(probabilistic_keep(id, 1.0));
        id[9..].copy_from_slice(&[0xff; 7]);
        assert!(!probabilistic_keep(id, 0.0));
        assert!(probabilistic_keep(id, 0.01));
        // R = 2^55 keeps at rates of one half and more.
        id[9..].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0]);
        assert!(probabilistic_keep(id, 0.5));
        assert!(!probabilistic_keep(id, 0.49));
        // The high bytes play no part: two services agree whatever else differs.
        let mut other = id;
        other[..9].copy_from_slice(&[0x5a; 9]);
        assert_eq!(probabilistic_keep(id, 0.5), probabilistic_keep(other, 0.5));
        // About `rate` of random ids are kept.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let kept = (0..10_000)
            .filter(|_| {
                let mut id = [0u8; 16];
                for chunk in id.chunks_mut(8) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    chunk.copy_from_slice(&state.to_be_bytes());
                }
                probabilistic_keep(id, 0.25)
            })
            .count();
        assert!((2_200..2_800).contains(&kept), "{kept}");
    }

    #[test]
    fn the_queue_of_buffered_traces_stays_bounded_behind_a_long_trace() {
        let settings = TailSamplingSettings {
            enabled: true,
            ..TailSamplingSettings::default()
        };
        let sampler = TailSampler::new(&settings, Vec::new());
        let shared = sampler.shared();
        let mut buffer = shared.lock();
        // A trace that stays open at the front of the queue...
        assert!(shared.open_entry(&mut buffer, u128::MAX).is_none());
        // ... while 100,000 others come and are decided behind it.
        for trace in 0..100_000u128 {
            shared.open_entry(&mut buffer, trace);
            assert!(
                shared
                    .decide(&mut buffer, trace, Trigger::Complete)
                    .is_some()
            );
            assert!(buffer.order.len() <= 2 * buffer.traces.len() + 1025);
        }
        assert_eq!(buffer.traces.len(), 1);
        assert!(buffer.decided.map.len() <= buffer.decided.capacity);
    }

    #[test]
    fn decisions_forget_the_oldest_first() {
        let mut d = Decisions::new(2);
        d.insert(1, true);
        d.insert(2, false);
        d.insert(3, true);
        assert_eq!(d.map.get(&1), None);
        assert_eq!(d.map.get(&2), Some(&false));
        assert_eq!(d.map.get(&3), Some(&true));
    }
}
