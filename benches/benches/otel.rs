// Latest results: `cargo bench -p hyperion-bench --bench otel`, 2026-11-23, AMD EPYC, 2 cores,
// rustc 1.95.0 (59807616e 2026-04-14); other builds were running, so expect +-15% between runs.
// Criterion point estimates. Every side runs over the same SDK setup: sampler AlwaysOn, no span
// processor (hyperion YAML `tracing: {exporter: none, sampler: always_on}`). Allocations per call
// (and bytes) come from `cargo test -p hyperion-bench -- --nocapture otel` (src/lib.rs).
//
// Time, then allocations per call (bytes). sdk_bwc = SDK `build_with_context(span_builder, &cx)`
// (what the adapter calls); sdk_start = `tracer.start` (reads the thread's current context).
//
// | group             | hyperion-otel     | sdk_bwc           | sdk_start  | tracing-otel         |
// |-------------------|-------------------|-------------------|------------|----------------------|
// | span_start_end    | 204 ns, 2 (448 B) | 119 ns, 0         | 144 ns, 0  | 882 ns, 9 (1815 B)   |
// | span_5_attributes | 289 ns, 5 (733 B) | 177 ns, 1 (280 B) | 221 ns, 1  | 1056 ns, 13 (3332 B) |
// | child_span        | 212 ns, 3 (560 B) | 116 ns, 0         | 117 ns (*) | 939 ns, 9 (1815 B)   |
// | batch processor   | not measured (**) | 168 ns            |            |                      |
//
// (*) child_span's sdk_start column is the SDK with the parent as the adapter passes it: a remote
//     span context in an `opentelemetry::Context` built once (the adapter builds one per call).
// (**) the adapter's batch processor cannot be put over a dropping exporter from YAML; the SDK
//     number says a batch processor adds about 48 ns per span to any side.
//
// (Times from a re-run at the end of the session, after the one-pointer Context/Span and the
// intercept scope changes; allocation counts from the first run: the span path's allocations
// did not change.)
//
// Goals:
// - facade span start+end <= 1.05x raw SDK: MISSED. 204 ns = 1.72x build_with_context (119 ns),
//   1.42x `tracer.start` (144 ns, the ~135 ns reference); 5 attributes: 289 ns = 1.63x (177 ns),
//   1.31x `start` (221 ns, the ~205 ns reference); child span 212 ns = 1.83x (116 ns).
// - facade >= 5x faster than tracing + tracing-opentelemetry (defaults: location, thread and
//   busy/idle attributes): MISSED narrowly without attributes: 882/204 = 4.3x, child 939/212 =
//   4.4x; MISSED with 5 attributes: 1056/289 = 3.7x. (The first run measured 5.0x / 5.1x / 3.5x;
//   +-15% noise on a shared machine moves this ratio across the goal.)
//
// Where the facade's extra time goes (group `facade_overhead_parts`, each piece alone):
// - the child Context `start_span` returns: an `Arc` + telemetry clone, 30 ns, 1 alloc;
// - the span's Box (it holds the 288-byte SDK span): 124 vs 120 ns, about 4 ns;
// - child spans: the adapter wraps the parent in a fresh `opentelemetry::Context` per call,
//   1 alloc of 112 B, 51 ns alone, about 20 ns in place ((196 - 179) - (117 - 120));
// - attributes: every string value is copied (`Value::Str` -> `String`), 2 allocs here, 40 ns
//   against 6 ns for the SDK's `&'static str` values; the other ~30 ns of the 123 ns gap
//   (123 - 59 - 34) is not split out (the conversion loop, moves);
// - the rest of the 59 ns gap without attributes (about 25 ns) is the dyn call, id conversion,
//   trace-state clone and moving the 288-byte SDK span into the box.

// Instruction counts, 2026-12-01 (`ITERS=2000 scripts/bench-ir.sh otel GROUP/SIDE`; each side
// as a plain loop body in `ir_case`, the dropped span and child context included; callgrind
// repeats to 0.1 %). The baseline for issue 16's goal of <= 1.1x `build_with_context`:
//
// | group             | hyperion_otel | sdk_bwc | sdk_start | sdk_remote_parent | tracing_otel |
// |-------------------|---------------|---------|-----------|-------------------|--------------|
// | span_start_end    | 1,876 (2.06x) | 909     | 1,118     |                   | 7,348 (*)    |
// | child_span        | 2,102 (2.36x) | 891     |           | 866               | 7,736        |
// | span_5_attributes | 2,576 (1.59x) | 1,625   | 1,846     |                   | 9,171        |
//
// (*) tracing_otel here runs under a global subscriber, criterion's under `with_default`.
//
// The same, at the end of issue 16's second session (one run, every side rebuilt):
//
// | group             | hyperion_otel | sdk_bwc | sdk_start | sdk_remote_parent | tracing_otel |
// |-------------------|---------------|---------|-----------|-------------------|--------------|
// | span_start_end    | 1,873 (2.01x) | 932     | 1,117     |                   | 7,336        |
// | child_span        | 2,099 (2.36x) | 890     |           | 866               | 7,736        |
// | span_5_attributes | 2,670 (1.61x) | 1,660   | 1,833     |                   | 9,159        |
//
// (`scripts/bench.sh`, last run. The span path's code did not change this session; the counts
// move by about 1 % with the layout of the rest of the binary.)
//
// Goal (<= 1.1x `build_with_context`, no allocation the SDK does not make): MISSED, by the
// numbers above; the facade still makes 2 allocations a span (the child context's `Arc`, the
// span's box) where the SDK makes none. Profile of the root span (callgrind, per span): the
// SDK's `build_with_context` 562 of about 1,850, the two allocations with their frees about 400,
// the copy of
// the 300-byte SDK span into the box 115, the conversions of ids and trace state about 150.
// Tried and measured this session: a `Context` holding its parts inline (no `Arc` per child):
// 1,876 -> 1,676 for a span, but the no-op span went 53 -> 115 and the no-op intercept 90 -> 191
// (they move the 72-byte context by value), and the intercept saved only 35: not kept. What
// would close the gap: the stretch the issue names (the facade's own span state handed to the
// SDK's processors as `SpanData`, no SDK span object, no box), with a child context that is
// not an allocation.
//
//! Recording spans: the hyperion facade through the otel adapter, side by side in one run with
//! the raw OpenTelemetry SDK and with `tracing` + `tracing-opentelemetry`, all three over
//! identical SDK providers (sampler `AlwaysOn`, no span processor: the hyperion YAML
//! `tracing.exporter: none`), so the numbers are the cost of making spans, not of exporting them.
//!
//! Run it (about a minute once built):
//!
//! ```sh
//! cargo bench -p hyperion-bench --bench otel > /tmp/bench-otel.txt 2>&1
//! cargo bench -p hyperion-bench --bench otel -- child_span   # one group
//! ```
//!
//! The allocation counts are a test, `cargo test -p hyperion-bench -- --nocapture otel`
//! (benches/src/lib.rs), for the reason given there.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use hyperion::{Config, KeyValue, SpanOptions, Telemetry};
use hyperion_otel::OtelModule;
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const YAML: &str = "tracing:\n  exporter: none\n  sampler: always_on\n";

/// The five start attributes of `span_5_attributes`: string, i64, f64, bool, string.
const ATTRS: [KeyValue<'static>; 5] = [
    KeyValue::from_static("http.request.method", "GET"),
    KeyValue {
        key: hyperion::Key::from_static("http.response.status_code"),
        value: hyperion::Value::I64(200),
    },
    KeyValue {
        key: hyperion::Key::from_static("load.ratio"),
        value: hyperion::Value::F64(0.25),
    },
    KeyValue {
        key: hyperion::Key::from_static("cache.hit"),
        value: hyperion::Value::Bool(true),
    },
    KeyValue::from_static("user.id", "42"),
];

/// The same five attributes as SDK attributes, built per call as user code would.
fn otel_attrs() -> [opentelemetry::KeyValue; 5] {
    [
        opentelemetry::KeyValue::new("http.request.method", "GET"),
        opentelemetry::KeyValue::new("http.response.status_code", 200_i64),
        opentelemetry::KeyValue::new("load.ratio", 0.25),
        opentelemetry::KeyValue::new("cache.hit", true),
        opentelemetry::KeyValue::new("user.id", "42"),
    ]
}

/// Hyperion telemetry on module `otel` from [`YAML`]: a provider with no span processor.
fn hyperion_telemetry() -> Telemetry {
    let config = Config::from_yaml_str(YAML).expect("bench YAML is valid");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(
            Telemetry::builder()
                .module(OtelModule::new())
                .config(config)
                .build(),
        )
        .expect("module otel builds")
}

/// A raw SDK provider set up as the adapter sets up `exporter: none`.
fn sdk_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .build()
}

/// `tracing` with the `tracing-opentelemetry` layer (its defaults) over a provider like
/// [`sdk_provider`].
fn tracing_subscriber(tracer: SdkTracer) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// An exporter that drops every batch: the processor's cost without an exporter's.
#[derive(Debug)]
struct DropExporter;

impl SpanExporter for DropExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(black_box(batch));
        Ok(())
    }
}

/// Checks, before timing anything, that every contender makes recording, sampled spans, so a
/// stubbed tracer shows up here rather than as an impossibly fast number.
fn sanity_checks() {
    let telemetry = hyperion_telemetry();
    let root = telemetry.context();
    let (child, span) = root.start_span("op", SpanOptions::new().attributes(&ATTRS));
    assert!(span.is_recording(), "hyperion-otel span is not recording");
    assert!(child.span_context().is_valid() && child.span_context().is_sampled());
    let (grandchild, _inner) = child.start_span("op", SpanOptions::new());
    assert_eq!(
        grandchild.span_context().trace_id(),
        child.span_context().trace_id()
    );

    let provider = sdk_provider();
    let tracer = provider.tracer("bench");
    let span = tracer.start("op");
    assert!(span.is_recording() && span.span_context().is_sampled());

    let provider = sdk_provider();
    tracing::subscriber::with_default(tracing_subscriber(provider.tracer("bench")), || {
        let span = tracing::info_span!("op");
        let cx = span.context();
        assert!(cx.span().span_context().is_sampled(), "tracing-otel span");
    });
}

fn span_start_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("span_start_end");
    let telemetry = hyperion_telemetry();
    let root = telemetry.context();
    g.bench_function("hyperion_otel", |b| {
        b.iter(|| {
            let (child, mut span) = black_box(&root).start_span("op", SpanOptions::new());
            span.end();
            (child, span)
        })
    });

    let provider = sdk_provider();
    let tracer = provider.tracer("bench");
    // `start` reads the thread's current context (empty here).
    g.bench_function("otel_sdk_start", |b| {
        b.iter(|| {
            let mut span = black_box(&tracer).start("op");
            span.end();
            span
        })
    });
    // What the adapter does: an explicit parent context, no thread-local lookup.
    let empty = opentelemetry::Context::new();
    g.bench_function("otel_sdk_build_with_context", |b| {
        b.iter(|| {
            let tracer = black_box(&tracer);
            let mut span = tracer.build_with_context(tracer.span_builder("op"), black_box(&empty));
            span.end();
            span
        })
    });

    let provider = sdk_provider();
    tracing::subscriber::with_default(tracing_subscriber(provider.tracer("bench")), || {
        g.bench_function("tracing_otel", |b| {
            b.iter(|| drop(tracing::info_span!("op").entered()))
        });
    });
    g.finish();
}

fn span_5_attributes(c: &mut Criterion) {
    let mut g = c.benchmark_group("span_5_attributes");
    let telemetry = hyperion_telemetry();
    let root = telemetry.context();
    g.bench_function("hyperion_otel", |b| {
        b.iter(|| {
            let (child, mut span) =
                black_box(&root).start_span("op", SpanOptions::new().attributes(&ATTRS));
            span.end();
            (child, span)
        })
    });

    let provider = sdk_provider();
    let tracer = provider.tracer("bench");
    g.bench_function("otel_sdk_start", |b| {
        b.iter(|| {
            let tracer = black_box(&tracer);
            let mut span = tracer
                .span_builder("op")
                .with_attributes(otel_attrs())
                .start(tracer);
            span.end();
            span
        })
    });
    let empty = opentelemetry::Context::new();
    g.bench_function("otel_sdk_build_with_context", |b| {
        b.iter(|| {
            let tracer = black_box(&tracer);
            let builder = tracer.span_builder("op").with_attributes(otel_attrs());
            let mut span = tracer.build_with_context(builder, black_box(&empty));
            span.end();
            span
        })
    });

    let provider = sdk_provider();
    tracing::subscriber::with_default(tracing_subscriber(provider.tracer("bench")), || {
        g.bench_function("tracing_otel", |b| {
            b.iter(|| {
                drop(
                    tracing::info_span!(
                        "op",
                        http.request.method = "GET",
                        http.response.status_code = 200_i64,
                        load.ratio = 0.25,
                        cache.hit = true,
                        user.id = "42"
                    )
                    .entered(),
                )
            })
        });
    });
    g.finish();
}

fn child_span(c: &mut Criterion) {
    let mut g = c.benchmark_group("child_span");
    let telemetry = hyperion_telemetry();
    let (parent, _root_span) = telemetry.context().start_span("root", SpanOptions::new());
    g.bench_function("hyperion_otel", |b| {
        b.iter(|| {
            let (child, mut span) = black_box(&parent).start_span("op", SpanOptions::new());
            span.end();
            (child, span)
        })
    });

    let provider = sdk_provider();
    let tracer = provider.tracer("bench");
    let parent = opentelemetry::Context::new().with_span(tracer.start("root"));
    g.bench_function("otel_sdk_build_with_context", |b| {
        b.iter(|| {
            let tracer = black_box(&tracer);
            let mut span = tracer.build_with_context(tracer.span_builder("op"), black_box(&parent));
            span.end();
            span
        })
    });
    // The parent as the adapter hands it to the SDK: a remote span context in a fresh Context.
    let remote = opentelemetry::Context::new()
        .with_remote_span_context(parent.span().span_context().clone());
    g.bench_function("otel_sdk_remote_parent", |b| {
        b.iter(|| {
            let tracer = black_box(&tracer);
            let mut span = tracer.build_with_context(tracer.span_builder("op"), black_box(&remote));
            span.end();
            span
        })
    });

    let provider = sdk_provider();
    tracing::subscriber::with_default(tracing_subscriber(provider.tracer("bench")), || {
        let root = tracing::info_span!("root");
        let _entered = root.enter();
        g.bench_function("tracing_otel", |b| {
            b.iter(|| drop(tracing::info_span!("op").entered()))
        });
    });
    g.finish();
}

/// Only the SDK: the adapter's batch processor cannot be pointed at a dropping exporter from
/// YAML, and any real exporter (console, OTLP to nowhere) would not be apples to apples.
fn span_with_batch_processor(c: &mut Criterion) {
    let mut g = c.benchmark_group("span_with_batch_processor");
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(BatchSpanProcessor::builder(DropExporter).build())
        .build();
    let tracer = provider.tracer("bench");
    let empty = opentelemetry::Context::new();
    g.bench_function("otel_sdk_build_with_context", |b| {
        b.iter(|| {
            let tracer = black_box(&tracer);
            let mut span = tracer.build_with_context(tracer.span_builder("op"), black_box(&empty));
            span.end();
            span
        })
    });
    g.finish();
    let _ = provider.shutdown();
}

/// Pieces of what the adapter adds to the SDK's own work, each timed alone (all public API), to
/// show where the facade's extra time goes.
fn facade_overhead_parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_overhead_parts");
    let provider = sdk_provider();
    let tracer = provider.tracer("bench");
    let empty = opentelemetry::Context::new();
    // The facade keeps the SDK span in its one allocation per span: the SDK span moved to the heap.
    g.bench_function("sdk_span_boxed", |b| {
        b.iter(|| {
            let tracer = black_box(&tracer);
            let mut span =
                Box::new(tracer.build_with_context(tracer.span_builder("op"), black_box(&empty)));
            span.end();
            span
        })
    });
    // The child context `start_span` returns: a new `Arc` holding telemetry, span context and
    // baggage.
    let telemetry = hyperion_telemetry();
    let root = telemetry.context();
    let (parent, _root_span) = root.start_span("root", SpanOptions::new());
    let sc = parent.span_context().clone();
    g.bench_function("hyperion_child_context", |b| {
        b.iter(|| black_box(&root).with_span_context(black_box(&sc).clone()))
    });
    // What the adapter builds per child span to hand the parent to the SDK.
    let otel_sc = opentelemetry::Context::new()
        .with_span(tracer.start("root"))
        .span()
        .span_context()
        .clone();
    g.bench_function("otel_remote_parent_context", |b| {
        b.iter(|| {
            opentelemetry::Context::new().with_remote_span_context(black_box(&otel_sc).clone())
        })
    });
    // What converting the two string attributes of `span_5_attributes` costs: the adapter copies
    // every string value, the SDK takes `&'static str` values as they are.
    g.bench_function("two_string_values_copied", |b| {
        b.iter(|| {
            [
                opentelemetry::Value::from(black_box("GET").to_owned()),
                opentelemetry::Value::from(black_box("42").to_owned()),
            ]
        })
    });
    g.bench_function("two_string_values_static", |b| {
        b.iter(|| {
            [
                opentelemetry::Value::from(black_box("GET")),
                opentelemetry::Value::from(black_box("42")),
            ]
        })
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
    targets = span_start_end, span_5_attributes, child_span, span_with_batch_processor,
        facade_overhead_parts
}

/// The cases of `scripts/bench-ir.sh otel GROUP/SIDE`: each group's sides as plain loop
/// bodies, over the same providers as the criterion groups.
fn ir_case(name: &str) -> Option<Box<dyn Fn()>> {
    let (group, side) = name.split_once('/')?;
    if !matches!(group, "span_start_end" | "child_span" | "span_5_attributes") {
        return None;
    }
    let child = group == "child_span";
    let attributes = group == "span_5_attributes";
    // Only the sides the criterion group has.
    match (group, side) {
        (_, "hyperion_otel" | "otel_sdk_build_with_context" | "tracing_otel")
        | ("span_start_end" | "span_5_attributes", "otel_sdk_start")
        | ("child_span", "otel_sdk_remote_parent") => {}
        _ => return None,
    }
    match side {
        "hyperion_otel" => {
            let telemetry = hyperion_telemetry();
            // The child case's parent stays open for the whole run.
            let (parent, root_span) = if child {
                let (parent, span) = telemetry.context().start_span("root", SpanOptions::new());
                (parent, Some(span))
            } else {
                (telemetry.context(), None)
            };
            Some(Box::new(move || {
                let _keep = (&telemetry, &root_span);
                let attrs = ATTRS;
                let options = if attributes {
                    SpanOptions::new().attributes(&attrs)
                } else {
                    SpanOptions::new()
                };
                let (ctx, mut span) = black_box(&parent).start_span("op", options);
                span.end();
                black_box((ctx, span));
            }))
        }
        "otel_sdk_build_with_context" | "otel_sdk_start" | "otel_sdk_remote_parent" => {
            let provider = sdk_provider();
            let tracer = provider.tracer("bench");
            let parent = if child {
                let root = opentelemetry::Context::new().with_span(tracer.start("root"));
                if side == "otel_sdk_remote_parent" {
                    opentelemetry::Context::new()
                        .with_remote_span_context(root.span().span_context().clone())
                } else {
                    root
                }
            } else {
                opentelemetry::Context::new()
            };
            let start = side == "otel_sdk_start";
            Some(Box::new(move || {
                let _keep = &provider;
                let tracer = black_box(&tracer);
                let mut builder = tracer.span_builder("op");
                if attributes {
                    builder = builder.with_attributes(otel_attrs());
                }
                let mut span = if start {
                    builder.start(tracer)
                } else {
                    tracer.build_with_context(builder, black_box(&parent))
                };
                span.end();
                black_box(span);
            }))
        }
        "tracing_otel" => {
            let provider = sdk_provider();
            // One case a process: the subscriber can be the global one (criterion uses
            // `with_default`, a thread-local dispatch that costs a little more).
            tracing::subscriber::set_global_default(tracing_subscriber(provider.tracer("bench")))
                .expect("no other subscriber");
            if child {
                std::mem::forget(tracing::info_span!("root").entered());
            }
            Some(Box::new(move || {
                let _keep = &provider;
                if attributes {
                    drop(
                        tracing::info_span!(
                            "op",
                            http.request.method = "GET",
                            http.response.status_code = 200_i64,
                            load.ratio = 0.25,
                            cache.hit = true,
                            user.id = "42"
                        )
                        .entered(),
                    )
                } else {
                    drop(tracing::info_span!("op").entered())
                }
            }))
        }
        _ => None,
    }
}

fn main() {
    if hyperion_bench::run_ir_case(ir_case) {
        return;
    }
    sanity_checks();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
