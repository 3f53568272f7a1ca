// Latest results: `cargo bench -p hyperion-bench --bench otel_logs`, 2026-11-23, AMD EPYC, 2 cores,
// rustc 1.95.0 (59807616e 2026-04-14); other builds were running (load ~1), so expect +-15%
// between runs. Criterion point estimates, all rows from the same run. Each line goes, whole, to
// a `Mutex<CountingSink>` that counts and drops the bytes (the same sink type on both sides);
// spans come from an SDK tracer, AlwaysOn, no span processor.
//
// | row (group/function)                 | hyperion-otel    | tracing + otel + fmt json | t / h |
// |--------------------------------------|------------------|---------------------------|-------|
// | JSON line in a span (line_in_span)   | 207 ns (245 B)   | 2037 ns (214 B) (*)       | 9.8x  |
// | span + JSON line (span_and_line)     | 401 ns           | 3189 ns                   | 8.0x  |
// | span alone (span_alone, debug event) | 187 ns           | 1041 ns                   | 5.6x  |
// | line's marginal cost (difference)    | 214 ns           | 2148 ns (issue: ~1.8 us)  | 10x   |
// | pretty line in a span                | 242 ns (156 B)   | not measured              |       |
// | filtered-out call (debug, info set)  | 7.9 ns           | 0.30 ns                   | 1/26  |
//
// line_in_span: 64 lines per span, only the lines timed (tracing-opentelemetry keeps every
// event of a span as a span event until it closes, so one span cannot hold millions of lines).
// (*) tracing's fmt JSON prints no trace or span ids (only `span: {name}` and `spans: [...]`;
//     the sanity check asserts it); adding them takes a custom formatter (not measured).
//     The hyperion line carries `trace_id` and `span_id`, a nanosecond timestamp and
//     `severity_number`; tracing's has a microsecond timestamp.
//
// Goals:
// - hyperion JSON line with 3 fields and trace ids <= 1 us: MET, 207 ns in a span (214 ns
//   marginal over span start+end), against tracing's 2.04 us (2.15 us marginal).
// - (no goal) filtered-out call: tracing's is the max-level check in the macro (0.3 ns);
//   the facade's goes through the context's telemetry and the logger's `enabled` (dyn call,
//   level and target filter), 7.9 ns, no allocation (adapters/otel/tests/log_alloc.rs).

//! Log lines: the hyperion facade's logger in module `otel` against `tracing` +
//! `tracing-subscriber`'s JSON formatter inside a `tracing-opentelemetry` span, side by side in
//! one run. Both write every line, whole, to the same kind of sink ([`CountingSink`] behind a
//! `Mutex`): it counts the bytes and drops them, so the numbers are formatting plus one locked
//! write, not I/O.
//!
//! The line: message `fetching user`, fields `user.id = "42"`, `attempt = 2`, `cached = false`,
//! written inside a sampled span. Both sides' spans come from an SDK tracer with sampler
//! `AlwaysOn` and no span processor (the hyperion YAML `tracing: {exporter: none}`).
//!
//! Run it (about a minute once built):
//!
//! ```sh
//! cargo bench -p hyperion-bench --bench otel_logs > /tmp/bench-logs.txt 2>&1
//! cargo bench -p hyperion-bench --bench otel_logs -- log_filtered_out   # one group
//! ```

use std::hint::black_box;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use hyperion::{Config, Context, SpanOptions, Telemetry, kv};
use hyperion_otel::OtelModule;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

const YAML_JSON: &str = "tracing:\n  exporter: none\n  sampler: always_on\n\
    metrics:\n  enabled: false\n\
    logging:\n  level: info\n  format: json\n";
const YAML_PRETTY: &str = "tracing:\n  exporter: none\n  sampler: always_on\n\
    metrics:\n  enabled: false\n\
    logging:\n  level: info\n  format: pretty\n";

/// Lines written per span in the `*_line_in_span` rows, whose timing leaves out the span itself.
/// `tracing-opentelemetry` keeps every event of a span as an OpenTelemetry span event until the
/// span closes, so one span around millions of iterations would grow without bound.
const LINES_PER_SPAN: u64 = 64;

/// The sink both sides write to: counts write calls and bytes, keeps the bytes only when asked
/// (the sanity check), otherwise drops them.
#[derive(Debug, Default)]
struct CountingSink {
    writes: u64,
    bytes: u64,
    kept: Option<Vec<u8>>,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        self.bytes += buf.len() as u64;
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Sink = Arc<Mutex<CountingSink>>;

fn new_sink(keep: bool) -> Sink {
    Arc::new(Mutex::new(CountingSink {
        kept: keep.then(Vec::new),
        ..CountingSink::default()
    }))
}

fn lock(sink: &Sink) -> MutexGuard<'_, CountingSink> {
    sink.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `(writes, bytes)` so far.
fn counts(sink: &Sink) -> (u64, u64) {
    let s = lock(sink);
    (s.writes, s.bytes)
}

/// `tracing-subscriber`'s writer for a [`Sink`]: the same lock per line the adapter takes.
struct SinkWriter(Sink);

struct SinkGuard<'a>(MutexGuard<'a, CountingSink>);

impl Write for SinkGuard<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = SinkGuard<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SinkGuard(lock(&self.0))
    }
}

/// Hyperion telemetry on module `otel` from `yaml`, its log lines going to `sink`.
fn hyperion_telemetry(yaml: &str, sink: &Sink) -> Telemetry {
    let config = Config::from_yaml_str(yaml).expect("bench YAML is valid");
    let writer: Arc<Mutex<dyn Write + Send>> = sink.clone();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(
            Telemetry::builder()
                .module(OtelModule::new().with_log_writer(writer))
                .config(config)
                .build(),
        )
        .expect("module otel builds")
}

/// `tracing` as a user would set it up for JSON logs with trace export: level `info`, the
/// `tracing-opentelemetry` layer (its defaults) over an SDK tracer like the adapter's, and
/// `fmt::layer().json()` (its defaults) writing to `sink`.
fn tracing_subscriber(
    provider: &SdkTracerProvider,
    sink: &Sink,
) -> impl tracing::Subscriber + Send + Sync + use<> {
    tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(SinkWriter(sink.clone())),
        )
}

fn sdk_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .build()
}

/// The facade's line: one per call, in `ctx`.
#[inline(always)]
fn hyperion_info(ctx: &Context) {
    ctx.log().info(
        "fetching user",
        &[kv("user.id", "42"), kv("attempt", 2), kv("cached", false)],
    );
}

/// The same call at `debug`, below the configured `info`.
#[inline(always)]
fn hyperion_debug(ctx: &Context) {
    ctx.log().debug(
        "fetching user",
        &[kv("user.id", "42"), kv("attempt", 2), kv("cached", false)],
    );
}

/// `iters` calls of `line`, [`LINES_PER_SPAN`] per span, timing only the lines: `span` starts a
/// span and returns what `line` runs in; dropping it (outside the timed part) ends the span.
fn time_lines_in_spans<G>(
    iters: u64,
    mut span: impl FnMut() -> G,
    mut line: impl FnMut(&G),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(LINES_PER_SPAN);
        let guard = span();
        let start = Instant::now();
        for _ in 0..n {
            line(&guard);
        }
        total += start.elapsed();
        drop(guard);
        left -= n;
    }
    total
}

/// Checks, before timing anything, that each side writes one whole line per call with what it
/// should (the facade's with the span's trace and span ids), that filtered-out calls write
/// nothing, and that the spans are sampled: a stub shows up here, not as a fast number.
fn sanity_checks() {
    // Hyperion, JSON.
    let sink = new_sink(true);
    let telemetry = hyperion_telemetry(YAML_JSON, &sink);
    let (ctx, _span) = telemetry
        .context()
        .start_span("request", SpanOptions::new());
    assert!(ctx.span_context().is_valid() && ctx.span_context().is_sampled());
    hyperion_info(&ctx);
    hyperion_debug(&ctx);
    let line = String::from_utf8(lock(&sink).kept.take().expect("kept")).expect("UTF-8");
    assert_eq!(counts(&sink).0, 1, "one write for one line: {line}");
    assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
    let json: serde_json::Value = serde_json::from_str(&line).expect("hyperion line is JSON");
    assert_eq!(json["message"], "fetching user", "{line}");
    assert_eq!(json["level"], "INFO", "{line}");
    assert_eq!(json["user.id"], "42", "{line}");
    assert_eq!(json["attempt"], 2, "{line}");
    assert_eq!(json["cached"], false, "{line}");
    assert_eq!(
        json["trace_id"],
        ctx.span_context().trace_id().to_string(),
        "{line}"
    );
    assert_eq!(
        json["span_id"],
        ctx.span_context().span_id().to_string(),
        "{line}"
    );
    println!(
        "hyperion json line ({} bytes): {}",
        line.len(),
        line.trim_end()
    );

    // Hyperion, pretty.
    let sink = new_sink(true);
    let telemetry = hyperion_telemetry(YAML_PRETTY, &sink);
    let (ctx, _span) = telemetry
        .context()
        .start_span("request", SpanOptions::new());
    hyperion_info(&ctx);
    hyperion_debug(&ctx);
    let line = String::from_utf8(lock(&sink).kept.take().expect("kept")).expect("UTF-8");
    assert_eq!(counts(&sink).0, 1, "one write for one line: {line}");
    assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
    for part in [
        "INFO",
        "fetching user",
        "user.id=42",
        "attempt=2",
        "cached=false",
    ] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    let trace_id = ctx.span_context().trace_id().to_string();
    assert!(line.contains(&format!("trace_id={trace_id}")), "{line}");
    println!(
        "hyperion pretty line ({} bytes): {}",
        line.len(),
        line.trim_end()
    );

    // tracing + tracing-opentelemetry + fmt JSON.
    let sink = new_sink(true);
    let provider = sdk_provider();
    tracing::subscriber::with_default(tracing_subscriber(&provider, &sink), || {
        let span = tracing::info_span!("request").entered();
        let cx = span.context();
        assert!(
            cx.span().span_context().is_sampled(),
            "tracing-otel span is sampled"
        );
        tracing::info!(user.id = "42", attempt = 2, cached = false, "fetching user");
        tracing::debug!(user.id = "42", attempt = 2, cached = false, "fetching user");
        drop(span);
        let line = String::from_utf8(lock(&sink).kept.take().expect("kept")).expect("UTF-8");
        assert_eq!(counts(&sink).0, 1, "one write for one line: {line}");
        assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
        let json: serde_json::Value = serde_json::from_str(&line).expect("tracing line is JSON");
        let fields = &json["fields"];
        assert_eq!(fields["message"], "fetching user", "{line}");
        assert_eq!(json["level"], "INFO", "{line}");
        assert_eq!(fields["user.id"], "42", "{line}");
        assert_eq!(fields["attempt"], 2, "{line}");
        assert_eq!(fields["cached"], false, "{line}");
        assert_eq!(json["span"]["name"], "request", "{line}");
        // What the table says: fmt's JSON has no trace ids unless a custom formatter adds them.
        let trace_id = cx.span().span_context().trace_id().to_string();
        assert!(
            !line.contains("trace_id") && !line.contains(&trace_id),
            "{line}"
        );
        println!(
            "tracing json line ({} bytes): {}",
            line.len(),
            line.trim_end()
        );
    });
}

/// Prints what one timed function wrote, so a run shows both sides really wrote lines.
fn report(name: &str, sink: &Sink, before: (u64, u64), expect_lines: bool) {
    let (writes, bytes) = counts(sink);
    let (writes, bytes) = (writes - before.0, bytes - before.1);
    if expect_lines {
        assert!(writes > 0, "{name} wrote nothing");
        println!(
            "{name}: {writes} lines, {} bytes a line",
            bytes / writes.max(1)
        );
    } else {
        assert_eq!(
            writes, 0,
            "{name} wrote {writes} lines at a filtered-out level"
        );
    }
}

fn log_json_line(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_json_line");

    let sink = new_sink(false);
    let telemetry = hyperion_telemetry(YAML_JSON, &sink);
    let root = telemetry.context();
    let before = counts(&sink);
    g.bench_function("hyperion_line_in_span", |b| {
        b.iter_custom(|iters| {
            time_lines_in_spans(
                iters,
                || root.start_span("request", SpanOptions::new()),
                |(ctx, _span)| hyperion_info(black_box(ctx)),
            )
        })
    });
    report("hyperion_line_in_span", &sink, before, true);
    let before = counts(&sink);
    g.bench_function("hyperion_span_and_line", |b| {
        b.iter(|| {
            let (ctx, mut span) = black_box(&root).start_span("request", SpanOptions::new());
            hyperion_info(&ctx);
            span.end();
        })
    });
    report("hyperion_span_and_line", &sink, before, true);
    let before = counts(&sink);
    g.bench_function("hyperion_span_alone", |b| {
        b.iter(|| {
            let (ctx, mut span) = black_box(&root).start_span("request", SpanOptions::new());
            hyperion_debug(&ctx);
            span.end();
        })
    });
    report("hyperion_span_alone", &sink, before, false);

    let sink = new_sink(false);
    let provider = sdk_provider();
    tracing::subscriber::with_default(tracing_subscriber(&provider, &sink), || {
        let before = counts(&sink);
        g.bench_function("tracing_line_in_span", |b| {
            b.iter_custom(|iters| {
                time_lines_in_spans(
                    iters,
                    || tracing::info_span!("request").entered(),
                    |_| {
                        tracing::info!(user.id = "42", attempt = 2, cached = false, "fetching user")
                    },
                )
            })
        });
        report("tracing_line_in_span", &sink, before, true);
        let before = counts(&sink);
        g.bench_function("tracing_span_and_line", |b| {
            b.iter(|| {
                let _span = tracing::info_span!("request").entered();
                tracing::info!(user.id = "42", attempt = 2, cached = false, "fetching user");
            })
        });
        report("tracing_span_and_line", &sink, before, true);
        let before = counts(&sink);
        g.bench_function("tracing_span_alone", |b| {
            b.iter(|| {
                let _span = tracing::info_span!("request").entered();
                tracing::debug!(user.id = "42", attempt = 2, cached = false, "fetching user");
            })
        });
        report("tracing_span_alone", &sink, before, false);
    });
    g.finish();
}

fn log_pretty_line(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_pretty_line");
    let sink = new_sink(false);
    let telemetry = hyperion_telemetry(YAML_PRETTY, &sink);
    let root = telemetry.context();
    let before = counts(&sink);
    g.bench_function("hyperion_line_in_span", |b| {
        b.iter_custom(|iters| {
            time_lines_in_spans(
                iters,
                || root.start_span("request", SpanOptions::new()),
                |(ctx, _span)| hyperion_info(black_box(ctx)),
            )
        })
    });
    report("hyperion_pretty_line_in_span", &sink, before, true);
    g.finish();
}

/// A `debug` call with `info` configured, inside a span: nothing is written.
fn log_filtered_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_filtered_out");
    let sink = new_sink(false);
    let telemetry = hyperion_telemetry(YAML_JSON, &sink);
    let (ctx, _span) = telemetry
        .context()
        .start_span("request", SpanOptions::new());
    let before = counts(&sink);
    g.bench_function("hyperion", |b| b.iter(|| hyperion_debug(black_box(&ctx))));
    report("hyperion_filtered_out", &sink, before, false);

    let sink = new_sink(false);
    let provider = sdk_provider();
    tracing::subscriber::with_default(tracing_subscriber(&provider, &sink), || {
        let _span = tracing::info_span!("request").entered();
        let before = counts(&sink);
        g.bench_function("tracing", |b| {
            b.iter(|| tracing::debug!(user.id = "42", attempt = 2, cached = false, "fetching user"))
        });
        report("tracing_filtered_out", &sink, before, false);
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = log_json_line, log_pretty_line, log_filtered_out
}

fn main() {
    sanity_checks();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
