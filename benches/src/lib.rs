//! Criterion comparisons of the hyperion facade with the crates users would pick instead.
//!
//! The benchmarks are in `benches/` (`cargo bench -p hyperion-bench --bench core`). This library
//! holds [`rotel_blackhole`], the collector the load benchmarks export to, [`run_ir_case`] for
//! instruction counts (`scripts/bench-ir.sh`), and the allocation
//! cross-check, a test, because the counting global allocator it needs would slow every
//! allocation of the compared crates inside a benchmark binary:
//!
//! ```sh
//! cargo test -p hyperion-bench -- --nocapture
//! ```

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A rotel collector that a benchmark started, stopped (and reaped) when dropped.
pub struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs one case of a bench for instruction counts when `HYPERION_BENCH_CASE` names one, and
/// says whether it did (the bench's `main` then returns instead of running criterion).
/// `case(name)` builds the case's loop body; it runs `HYPERION_BENCH_ITERS` times (default
/// 10,000) warm, then as many times inside [`measured`], which `scripts/bench-ir.sh` alone
/// counts under callgrind. Instruction counts repeat on a noisy machine where times do not.
pub fn run_ir_case(case: impl FnOnce(&str) -> Option<Box<dyn Fn()>>) -> bool {
    let Ok(name) = std::env::var("HYPERION_BENCH_CASE") else {
        return false;
    };
    let iterations: u64 = std::env::var("HYPERION_BENCH_ITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let body = case(&name).unwrap_or_else(|| panic!("this bench has no case {name:?}"));
    for _ in 0..iterations {
        body();
    }
    measured(&*body, iterations);
    true
}

/// The loop callgrind counts (`--toggle-collect='*measured*'`).
#[inline(never)]
pub fn measured(case: &dyn Fn(), iterations: u64) {
    for _ in 0..iterations {
        case();
    }
}

/// Starts rotel (installed by `scripts/setup.sh` into `.tools/venv`) with its blackhole
/// exporter on free ports: a real OTLP receiver that drops what it gets. Returns the collector
/// and its OTLP/HTTP endpoint (`http://127.0.0.1:{port}`). Panics if rotel is missing or does
/// not listen within ten seconds.
pub fn rotel_blackhole() -> (Collector, String) {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (grpc, http) = (free(), free());
    (
        rotel_blackhole_on(grpc, http),
        format!("http://127.0.0.1:{http}"),
    )
}

/// Starts rotel with its blackhole exporter on the given OTLP/gRPC and OTLP/HTTP ports (to
/// restart a collector where an exporter expects it), once both listen.
pub fn rotel_blackhole_on(grpc: u16, http: u16) -> Collector {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/venv/bin/python");
    let dir = Command::new(python)
        .args([
            "-c",
            "import os, rotel; print(os.path.dirname(rotel.__file__))",
        ])
        .output()
        .expect("rotel is not installed: run scripts/setup.sh");
    let agent = format!(
        "{}/rotel-agent",
        String::from_utf8_lossy(&dir.stdout).trim()
    );
    let child = Collector(
        Command::new(agent)
            .args(["start", "--exporter", "blackhole"])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rotel-agent starts"),
    );
    for _ in 0..100 {
        let up = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if up(http) && up(grpc) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("rotel did not listen on {grpc} and {http}");
}

#[cfg(test)]
mod allocations {
    use std::collections::HashMap;
    use std::future::Future;
    use std::hint::black_box;
    use std::pin::pin;
    use std::task::{Poll, Waker};

    use hyperion::propagation::{PropagationLimits, extract_trace_context};
    use hyperion::{
        Context, Meter, SpanContext, SpanId, SpanOptions, TraceFlags, TraceId, TraceState, kv,
    };
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    const RUNS: u64 = 1000;
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = pin!(fut);
        let mut cx = std::task::Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// Allocations per call of `f`, after one warm-up call (lazy statics, callsite registration).
    fn per_call(mut f: impl FnMut()) -> f64 {
        f();
        let info = allocation_counter::measure(|| {
            for _ in 0..RUNS {
                f();
            }
        });
        info.count_total as f64 / RUNS as f64
    }

    #[test]
    fn noop_paths_do_not_allocate() {
        let ctx = Context::noop();
        let counter = Meter::noop().counter("c").build();
        let hyperion = [
            (
                "hyperion noop span start+end",
                per_call(|| {
                    let (child, mut span) = black_box(&ctx).start_span("op", SpanOptions::new());
                    span.end();
                    black_box((child, span));
                }),
            ),
            (
                "hyperion noop counter add (3 attrs)",
                per_call(|| {
                    black_box(&counter).add(
                        black_box(&ctx),
                        1,
                        &[kv("a", "1"), kv("b", 2), kv("c", true)],
                    )
                }),
            ),
            (
                "hyperion noop log info (1 attr)",
                per_call(|| black_box(&ctx).log().info("msg", &[kv("k", "v")])),
            ),
            (
                "hyperion noop intercept_sync",
                per_call(|| {
                    let r = black_box(&ctx)
                        .intercept_sync("Svc", "Method", |_| Ok::<_, std::io::Error>(1));
                    black_box(r.is_ok());
                }),
            ),
            (
                "hyperion noop intercept (async)",
                per_call(|| {
                    let r = block_on(
                        black_box(&ctx)
                            .intercept("Svc", "Method", |_| async { Ok::<_, std::io::Error>(1) }),
                    );
                    black_box(r.is_ok());
                }),
            ),
            (
                "hyperion noop start_call+finish",
                per_call(|| {
                    let (child, call) = black_box(&ctx).start_call("Svc", "Method");
                    call.finish(&Ok::<_, std::io::Error>(1));
                    black_box(child);
                }),
            ),
        ];

        let tracer = opentelemetry::global::tracer("bench");
        let propagator = TraceContextPropagator::new();
        let sc = SpanContext::new(
            TraceId::from_bytes([0x4b; 16]),
            SpanId::from_bytes([0xb7; 8]),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let remote = ctx.with_span_context(sc);
        let otel_cx = opentelemetry::Context::new().with_remote_span_context(
            opentelemetry::trace::SpanContext::new(
                opentelemetry::trace::TraceId::from_bytes([0x4b; 16]),
                opentelemetry::trace::SpanId::from_bytes([0xb7; 8]),
                opentelemetry::trace::TraceFlags::SAMPLED,
                true,
                Default::default(),
            ),
        );
        let carrier = HashMap::from([("traceparent".to_owned(), TRACEPARENT.to_owned())]);
        let mut headers = http::HeaderMap::new();
        let mut header_carrier = http::HeaderMap::new();
        header_carrier.insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
        let mut out = HashMap::new();
        let mut otel_out = HashMap::new();
        let others = [
            (
                "otel global noop span start+end",
                per_call(|| {
                    let mut span = black_box(&tracer).start("op");
                    span.end();
                    black_box(span);
                }),
            ),
            (
                "tracing span entered, no subscriber",
                per_call(|| {
                    let _entered = black_box(tracing::info_span!("op").entered());
                }),
            ),
            (
                "metrics counter!, no recorder",
                per_call(|| {
                    metrics::counter!("c", "a" => "1", "b" => "2", "c" => "true").increment(1)
                }),
            ),
            (
                "tracing info!, no subscriber",
                per_call(|| tracing::info!(k = "v", "msg")),
            ),
            (
                "hyperion inject (HashMap, reused)",
                per_call(|| remote.inject(&mut out)),
            ),
            (
                "hyperion inject (HeaderMap, reused)",
                per_call(|| remote.inject(&mut headers)),
            ),
            (
                "otel_sdk inject (HashMap, reused)",
                per_call(|| propagator.inject_context(&otel_cx, &mut otel_out)),
            ),
            (
                "hyperion extract_trace_context (HashMap)",
                per_call(|| {
                    black_box(extract_trace_context(&carrier, &PropagationLimits::DEFAULT));
                }),
            ),
            (
                "hyperion extract_trace_context (HeaderMap)",
                per_call(|| {
                    black_box(extract_trace_context(
                        &header_carrier,
                        &PropagationLimits::DEFAULT,
                    ));
                }),
            ),
            (
                "otel_sdk extract (HashMap)",
                per_call(|| {
                    black_box(propagator.extract(&carrier));
                }),
            ),
        ];

        println!("allocations per call (mean of {RUNS}, after one warm-up call):");
        for (name, n) in hyperion.iter().chain(others.iter()) {
            println!("  {name:<42} {n:>5.2}");
        }
        for (name, n) in hyperion {
            assert_eq!(n, 0.0, "{name} allocated");
        }
    }
}

/// Allocations per recording span for `benches/otel.rs`: the facade through the otel adapter,
/// the raw SDK and `tracing` + `tracing-opentelemetry`, over providers with no span processor.
#[cfg(test)]
mod otel_allocations {
    use std::hint::black_box;

    use hyperion::{Config, Key, KeyValue, SpanOptions, Telemetry, Value};
    use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt as _;

    const RUNS: u64 = 1000;
    const ATTRS: [KeyValue<'static>; 5] = [
        KeyValue::from_static("http.request.method", "GET"),
        KeyValue {
            key: Key::from_static("http.response.status_code"),
            value: Value::I64(200),
        },
        KeyValue {
            key: Key::from_static("load.ratio"),
            value: Value::F64(0.25),
        },
        KeyValue {
            key: Key::from_static("cache.hit"),
            value: Value::Bool(true),
        },
        KeyValue::from_static("user.id", "42"),
    ];

    fn otel_attrs() -> [opentelemetry::KeyValue; 5] {
        [
            opentelemetry::KeyValue::new("http.request.method", "GET"),
            opentelemetry::KeyValue::new("http.response.status_code", 200_i64),
            opentelemetry::KeyValue::new("load.ratio", 0.25),
            opentelemetry::KeyValue::new("cache.hit", true),
            opentelemetry::KeyValue::new("user.id", "42"),
        ]
    }

    /// Allocations and bytes per call of `f`, after one warm-up call.
    fn per_call(mut f: impl FnMut()) -> (f64, f64) {
        f();
        let info = allocation_counter::measure(|| {
            for _ in 0..RUNS {
                f();
            }
        });
        (
            info.count_total as f64 / RUNS as f64,
            info.bytes_total as f64 / RUNS as f64,
        )
    }

    fn sdk_provider() -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .build()
    }

    #[test]
    fn otel_span_allocations() {
        let config = Config::from_yaml_str("tracing:\n  exporter: none\n  sampler: always_on\n")
            .expect("valid YAML");
        let telemetry = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(
                Telemetry::builder()
                    .module(hyperion_otel::OtelModule::new())
                    .config(config)
                    .build(),
            )
            .expect("module otel builds");
        let root = telemetry.context();
        let (parent, _root_span) = root.start_span("root", SpanOptions::new());
        let provider = sdk_provider();
        let tracer = provider.tracer("bench");
        let empty = opentelemetry::Context::new();
        let sdk_parent = opentelemetry::Context::new().with_span(tracer.start("root"));
        let sdk_remote = opentelemetry::Context::new()
            .with_remote_span_context(sdk_parent.span().span_context().clone());

        let mut rows = vec![
            (
                "hyperion_otel span start+end",
                per_call(|| {
                    let (child, mut span) = black_box(&root).start_span("op", SpanOptions::new());
                    span.end();
                    black_box((child, span));
                }),
            ),
            (
                "otel_sdk start+end",
                per_call(|| {
                    let mut span = black_box(&tracer).start("op");
                    span.end();
                    black_box(span);
                }),
            ),
            (
                "otel_sdk build_with_context+end",
                per_call(|| {
                    let mut span = tracer.build_with_context(tracer.span_builder("op"), &empty);
                    span.end();
                    black_box(span);
                }),
            ),
            (
                "hyperion_otel 5 attrs",
                per_call(|| {
                    let (child, mut span) =
                        black_box(&root).start_span("op", SpanOptions::new().attributes(&ATTRS));
                    span.end();
                    black_box((child, span));
                }),
            ),
            (
                "otel_sdk 5 attrs (build_with_context)",
                per_call(|| {
                    let builder = tracer.span_builder("op").with_attributes(otel_attrs());
                    let mut span = tracer.build_with_context(builder, &empty);
                    span.end();
                    black_box(span);
                }),
            ),
            (
                "hyperion_otel child span",
                per_call(|| {
                    let (child, mut span) = black_box(&parent).start_span("op", SpanOptions::new());
                    span.end();
                    black_box((child, span));
                }),
            ),
            (
                "otel_sdk child (parent span in Context)",
                per_call(|| {
                    let mut span =
                        tracer.build_with_context(tracer.span_builder("op"), &sdk_parent);
                    span.end();
                    black_box(span);
                }),
            ),
            (
                "otel_sdk child (remote parent Context)",
                per_call(|| {
                    let mut span =
                        tracer.build_with_context(tracer.span_builder("op"), &sdk_remote);
                    span.end();
                    black_box(span);
                }),
            ),
            (
                "otel_sdk remote parent Context, built per call",
                per_call(|| {
                    black_box(
                        opentelemetry::Context::new()
                            .with_remote_span_context(sdk_parent.span().span_context().clone()),
                    );
                }),
            ),
        ];

        let provider = sdk_provider();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
        tracing::subscriber::with_default(subscriber, || {
            rows.push((
                "tracing_otel span entered+dropped",
                per_call(|| drop(tracing::info_span!("op").entered())),
            ));
            rows.push((
                "tracing_otel 5 attrs",
                per_call(|| {
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
                }),
            ));
            let root = tracing::info_span!("root");
            let _entered = root.enter();
            rows.push((
                "tracing_otel child span",
                per_call(|| drop(tracing::info_span!("op").entered())),
            ));
        });

        println!(
            "otel allocations per call (mean of {RUNS}, after one warm-up call); \
             size_of SDK span {} bytes:",
            std::mem::size_of::<opentelemetry_sdk::trace::Span>()
        );
        for (name, (count, bytes)) in &rows {
            println!("  {name:<48} {count:>5.2} allocs {bytes:>7.1} bytes");
        }
    }
}

/// The raw SDK's meter provider as the benches set it up (shared with the bench files).
#[cfg(test)]
#[path = "../benches/support/sdk_metrics.rs"]
mod sdk_metrics;

/// Allocations per record for `benches/otel_metrics.rs`: the facade's counter, histogram and
/// intercept through the otel adapter for each `metrics.exporter`, next to the raw SDK and
/// prometheus-client used directly.
#[cfg(test)]
mod otel_metric_allocations {
    use super::sdk_metrics;

    use std::hint::black_box;
    use std::time::SystemTime;

    use hyperion::{Config, KeyValue, SpanOptions, Telemetry, kv};
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use prometheus_client::metrics::counter::Counter as PromCounter;
    use prometheus_client::metrics::exemplar::HistogramWithExemplars;
    use prometheus_client::metrics::family::Family;

    const RUNS: u64 = 1000;
    const BUCKETS: [f64; 11] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    const LABELS: [(&str, &str); 3] = [
        ("component", "UserService"),
        ("method", "GetUser"),
        ("outcome", "ok"),
    ];

    fn attrs() -> [KeyValue<'static>; 3] {
        [
            kv("component", "UserService"),
            kv("method", "GetUser"),
            kv("outcome", "ok"),
        ]
    }

    fn otel_attrs() -> [opentelemetry::KeyValue; 3] {
        [
            opentelemetry::KeyValue::new("component", "UserService"),
            opentelemetry::KeyValue::new("method", "GetUser"),
            opentelemetry::KeyValue::new("outcome", "ok"),
        ]
    }

    /// Allocations and bytes per call of `f`, after two warm-up calls (a record's first call
    /// makes its series, the second puts it in the thread's series cache).
    fn per_call(mut f: impl FnMut()) -> (f64, f64) {
        f();
        f();
        let info = allocation_counter::measure(|| {
            for _ in 0..RUNS {
                f();
            }
        });
        (
            info.count_total as f64 / RUNS as f64,
            info.bytes_total as f64 / RUNS as f64,
        )
    }

    /// The bench's telemetry for one `metrics.exporter` (see `benches/otel_metrics.rs`).
    fn telemetry(exporter: &str) -> Telemetry {
        let yaml = format!(
            "tracing:\n  exporter: none\n  sampler: always_on\n  endpoint: http://127.0.0.1:9\n\
             metrics:\n  exporter: {exporter}\n  port: 0\n  bind_address: 127.0.0.1\n  \
             interval: 1h\nlogging:\n  enabled: false\n"
        );
        let config = Config::from_yaml_str(&yaml).expect("valid YAML");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(
                Telemetry::builder()
                    .module(hyperion_otel::OtelModule::new())
                    .config(config)
                    .build(),
            )
            .expect("module otel builds")
    }

    #[test]
    fn otel_metric_allocations() {
        let mut rows = Vec::new();
        for exporter in ["otlp", "prometheus", "both", "none"] {
            let telemetry = telemetry(exporter);
            let root = telemetry.context();
            let (in_span, _span) = root.start_span("request", SpanOptions::new());
            let meter = telemetry.meter("bench");
            let counter = meter.counter("bench.requests").unit("{request}").build();
            let histogram = meter.histogram("bench.duration").unit("s").build();
            if exporter != "none" {
                rows.push((
                    format!("hyperion_{exporter} counter add (3 attrs)"),
                    per_call(|| black_box(&counter).add(&root, 1, &attrs())),
                ));
                rows.push((
                    format!("hyperion_{exporter} counter add in span"),
                    per_call(|| black_box(&counter).add(&in_span, 1, &attrs())),
                ));
                rows.push((
                    format!("hyperion_{exporter} histogram record in span"),
                    per_call(|| black_box(&histogram).record(&in_span, 0.042, &attrs())),
                ));
            }
            rows.push((
                format!("hyperion_{exporter} intercept_sync"),
                per_call(|| {
                    let r =
                        black_box(&root).intercept_sync("S", "M", |_| Ok::<_, std::io::Error>(1));
                    black_box(r.is_ok());
                }),
            ));
        }

        let (provider, _exporter) = sdk_metrics::sdk_meter_provider();
        let meter = provider.meter("bench");
        let counter = meter.u64_counter("bench.requests").build();
        let histogram = meter
            .f64_histogram("bench.duration")
            .with_boundaries(BUCKETS.to_vec())
            .build();
        rows.push((
            "otel_sdk counter add (3 attrs)".to_owned(),
            per_call(|| black_box(&counter).add(1, &otel_attrs())),
        ));
        rows.push((
            "otel_sdk histogram record (3 attrs)".to_owned(),
            per_call(|| black_box(&histogram).record(0.042, &otel_attrs())),
        ));
        let tracer_provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .build();
        let tracer = tracer_provider.tracer("bench");
        let empty = opentelemetry::Context::new();
        rows.push((
            "otel_sdk span build_with_context+end".to_owned(),
            per_call(|| {
                let mut span = tracer.build_with_context(tracer.span_builder("S.M"), &empty);
                span.end();
                black_box(span);
            }),
        ));

        let counters = Family::<[(&str, &str); 3], PromCounter>::default();
        rows.push((
            "prometheus_client family inc".to_owned(),
            per_call(|| {
                black_box(&counters).get_or_create(&LABELS).inc();
            }),
        ));
        let single = HistogramWithExemplars::<[(&str, &str); 1]>::new(BUCKETS.into_iter());
        rows.push((
            "prometheus_client observe with exemplar".to_owned(),
            per_call(|| {
                black_box(&single).observe(
                    0.042,
                    Some([("trace_id", "4b")]),
                    Some(SystemTime::now()),
                )
            }),
        ));

        println!("otel metric allocations per call (mean of {RUNS}, after two warm-up calls):");
        for (name, (count, bytes)) in &rows {
            println!("  {name:<48} {count:>5.2} allocs {bytes:>7.1} bytes");
        }
        // One store for every exporter: a record onto a known series allocates nothing (a
        // thread's first record of a series fills its cache once, within the warm-up); an
        // intercepted call allocates its span's box and its child context only.
        for (name, (count, _)) in &rows {
            if name.contains("counter add") || name.contains("histogram record") {
                assert_eq!(*count, 0.0, "{name}: allocations a record");
            } else if name.contains("intercept_sync") {
                assert_eq!(*count, 2.0, "{name}: allocations a call");
            }
        }
    }
}
