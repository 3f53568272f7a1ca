//! The registry, module selection by config, and shutdown (including on a current-thread runtime).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyperion::registry::{BoxFuture, BuildRequest, ModuleError, ModuleInstance, NoopModule};
use hyperion::testing::MemoryModule;
use hyperion::{BuildError, Config, Module, Registry, SpanOptions, Telemetry};

#[test]
fn noop_is_always_registered() {
    let mut registry = Registry::new();
    assert_eq!(registry.names(), ["noop"]);
    registry.register(Arc::new(MemoryModule::new()));
    assert_eq!(registry.names(), ["memory", "noop"]);
    assert!(registry.get("noop").is_some());
    registry.register(Arc::new(NoopModule));
    assert_eq!(registry.names().len(), 2);
}

#[tokio::test]
async fn an_unknown_adapter_lists_the_registered_modules() {
    let config = Config::from_yaml_str("tracing:\n  adapter: otel\n").unwrap();
    let err = Telemetry::builder()
        .module(MemoryModule::new())
        .config(config)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::UnknownAdapter { .. }));
    let msg = err.to_string();
    assert!(msg.contains("`tracing.adapter`"), "{msg}");
    assert!(msg.contains("\"otel\""), "{msg}");
    assert!(msg.contains("memory, noop"), "{msg}");

    let config = Config::from_yaml_str("adapter: nope\n").unwrap();
    let msg = Telemetry::builder()
        .config(config)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`adapter`") && msg.contains("\"nope\"") && msg.contains("noop"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_config_picks_a_module_per_signal() {
    // The first registered module is the default; per-signal keys override it.
    let memory = MemoryModule::new();
    let store = memory.store();
    let config =
        Config::from_yaml_str("metrics:\n  adapter: noop\nlogging:\n  enabled: false\n").unwrap();
    let t = Telemetry::builder()
        .module(memory)
        .config(config)
        .build()
        .await
        .unwrap();
    assert!(t.tracer().is_some());
    assert!(t.meter_provider().is_none());
    assert!(t.logger().is_none());
    assert_eq!(t.module_names(), ["memory"]);
    let ctx = t.context();
    let (ctx, mut span) = ctx.start_span("s", SpanOptions::new());
    t.meter("m").counter("c").build().add(&ctx, 1, &[]);
    ctx.log().error("dropped", &[]);
    span.end();
    t.flush(Duration::from_secs(1)).await.unwrap();
    let snap = store.snapshot();
    assert_eq!(
        (snap.spans.len(), snap.points.len(), snap.logs.len()),
        (1, 0, 0)
    );

    // With no module registered, everything is the no-op.
    let t = Telemetry::builder().build().await.unwrap();
    assert!(t.tracer().is_none() && t.meter_provider().is_none() && t.logger().is_none());
    assert!(t.module_names().is_empty());

    // The top-level adapter applies to every signal.
    let config = Config::from_yaml_str("adapter: noop\n").unwrap();
    let t = Telemetry::builder()
        .module(MemoryModule::new())
        .config(config)
        .build()
        .await
        .unwrap();
    assert!(t.tracer().is_none());
}

/// A module whose flush and shutdown need the runtime they are awaited on: they hand the work to
/// a task spawned on the current runtime and wait for it. On a current-thread runtime, blocking
/// the thread instead of awaiting would deadlock.
struct NeedsRuntime {
    flushed: Arc<AtomicUsize>,
    delay: Duration,
}

struct NeedsRuntimeInstance {
    flushed: Arc<AtomicUsize>,
    delay: Duration,
}

impl Module for NeedsRuntime {
    fn name(&self) -> &str {
        "needs-runtime"
    }
    fn build<'a>(
        &'a self,
        _: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        let instance = NeedsRuntimeInstance {
            flushed: self.flushed.clone(),
            delay: self.delay,
        };
        Box::pin(async move { Ok(Box::new(instance) as Box<dyn ModuleInstance>) })
    }
}

impl ModuleInstance for NeedsRuntimeInstance {
    fn shutdown(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        let flushed = self.flushed.clone();
        let delay = self.delay;
        Box::pin(async move {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                flushed.fetch_add(1, Ordering::SeqCst);
            })
            .await
            .map_err(|e| ModuleError::new("needs-runtime", e.to_string()))
        })
    }
}

async fn build_needs_runtime(delay: Duration) -> (Telemetry, Arc<AtomicUsize>) {
    let flushed = Arc::new(AtomicUsize::new(0));
    let t = Telemetry::builder()
        .module(NeedsRuntime {
            flushed: flushed.clone(),
            delay,
        })
        .build()
        .await
        .unwrap();
    (t, flushed)
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_on_a_current_thread_runtime_completes() {
    let (t, flushed) = build_needs_runtime(Duration::from_millis(10)).await;
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(flushed.load(Ordering::SeqCst), 1);
    // A second shutdown does nothing.
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(flushed.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_guard_shuts_down_once() {
    let (t, flushed) = build_needs_runtime(Duration::from_millis(1)).await;
    let guard = t.shutdown_guard(Duration::from_secs(5));
    guard.shutdown().await.unwrap();
    assert_eq!(flushed.load(Ordering::SeqCst), 1);
    drop(t.shutdown_guard(Duration::from_secs(5)));
    assert_eq!(flushed.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_guard_on_a_current_thread_runtime_never_deadlocks() {
    let (t, flushed) = build_needs_runtime(Duration::from_millis(1)).await;
    let started = Instant::now();
    drop(t.shutdown_guard(Duration::from_secs(2)));
    // The guard ran the shutdown on its own thread and runtime, so the work completed.
    assert_eq!(flushed.load(Ordering::SeqCst), 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn dropping_the_guard_outside_any_runtime_flushes() {
    let memory = MemoryModule::new();
    let store = memory.store();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = rt
        .block_on(Telemetry::builder().module(memory).build())
        .unwrap();
    let guard = t.shutdown_guard(Duration::from_secs(2));
    let (_, mut span) = t.context().start_span("last words", SpanOptions::new());
    span.end();
    assert_eq!(store.pending().0, 1);
    drop(rt);
    drop(guard);
    assert_eq!(store.shutdown_count(), 1);
    assert_eq!(store.snapshot().spans.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_module_times_out_with_its_name() {
    let (t, flushed) = build_needs_runtime(Duration::from_secs(30)).await;
    let started = Instant::now();
    let err = t.shutdown(Duration::from_millis(50)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.timed_out, ["needs-runtime"]);
    assert!(
        err.to_string().contains("timed out: needs-runtime"),
        "{err}"
    );
    assert_eq!(flushed.load(Ordering::SeqCst), 0);
}

/// A module whose shutdown reports an error: a plain one, or one that ran out of time.
struct Failing {
    timed_out: bool,
}

struct FailingInstance {
    timed_out: bool,
}

impl Module for Failing {
    fn name(&self) -> &str {
        "failing"
    }
    fn build<'a>(
        &'a self,
        _: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        let instance = FailingInstance {
            timed_out: self.timed_out,
        };
        Box::pin(async move { Ok(Box::new(instance) as Box<dyn ModuleInstance>) })
    }
}

impl ModuleInstance for FailingInstance {
    fn shutdown(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        let timed_out = self.timed_out;
        Box::pin(async move {
            Err(if timed_out {
                ModuleError::timed_out("failing", "the exporter never answered")
            } else {
                ModuleError::new("failing", "refused")
            })
        })
    }
}

#[tokio::test]
async fn a_module_that_ran_out_of_time_is_reported_as_timed_out_not_failed() {
    for timed_out in [true, false] {
        let t = Telemetry::builder()
            .module(Failing { timed_out })
            .build()
            .await
            .unwrap();
        let error = t.shutdown(Duration::from_secs(5)).await.unwrap_err();
        if timed_out {
            assert_eq!(error.timed_out, ["failing"]);
            assert!(error.failed.is_empty());
        } else {
            assert!(error.timed_out.is_empty());
            assert_eq!(error.failed.len(), 1);
            assert!(!error.failed[0].is_timed_out());
        }
    }
}

/// `propagation.propagators` decides what `Context::inject` writes and `extract` reads; B3's
/// debug flag is kept by child contexts and passed on.
#[tokio::test]
async fn configured_propagators_drive_inject_and_extract() {
    use std::collections::HashMap;

    let telemetry = Telemetry::builder()
        .module(hyperion::testing::MemoryModule::new())
        .config(
            hyperion::Config::from_yaml_str(
                "adapter: memory\ntracing: {enabled: true}\npropagation:\n  propagators: [b3multi, baggage]\n",
            )
            .unwrap(),
        )
        .build()
        .await
        .unwrap();
    let incoming: HashMap<String, String> = [
        ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ),
        ("baggage", "tenant=acme"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let ctx = telemetry.extract(&incoming);
    assert_eq!(
        ctx.span_context().trace_id().to_string(),
        "80f198ee56343ba864fe8b2a57d3eff7",
        "B3 is read and traceparent is not"
    );
    assert!(ctx.span_context().is_sampled() && ctx.is_b3_debug());
    assert_eq!(ctx.baggage().get("tenant"), Some("acme"));

    let (child, mut span) = ctx.start_span("work", hyperion::SpanOptions::server());
    let mut outgoing: HashMap<String, String> = HashMap::new();
    child.inject(&mut outgoing);
    span.end();
    assert_eq!(outgoing["x-b3-traceid"], "80f198ee56343ba864fe8b2a57d3eff7");
    assert_eq!(
        outgoing["x-b3-spanid"],
        child.span_context().span_id().to_string(),
        "the child's own span id, not the caller's"
    );
    assert_eq!(outgoing["x-b3-flags"], "1", "the debug flag is passed on");
    assert_eq!(outgoing["baggage"], "tenant=acme");
    assert!(!outgoing.contains_key("traceparent") && !outgoing.contains_key("b3"));
}
