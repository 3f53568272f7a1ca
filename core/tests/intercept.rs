//! The intercept helper against the in-memory module: spans, metrics recorded while the span is
//! current, logs, cancellation, per-call selection and custom interceptors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperion::intercept::{
    CALLS_METRIC, CallInfo, DURATION_METRIC, InterceptOptions, Interceptor, Outcome,
};
use hyperion::testing::{MemoryModule, MemoryStore, Snapshot};
use hyperion::{Config, Context, Level, SpanOptions, Telemetry, Value, kv};

async fn memory(yaml: &str, interceptors: Vec<Recorder>) -> (Telemetry, MemoryStore) {
    let module = MemoryModule::new();
    let store = module.store();
    let mut builder = Telemetry::builder()
        .module(module)
        .config(Config::from_yaml_str(yaml).unwrap());
    for i in interceptors {
        builder = builder.interceptor(i);
    }
    (builder.build().await.unwrap(), store)
}

async fn flushed(t: &Telemetry, store: &MemoryStore) -> Snapshot {
    t.flush(Duration::from_secs(1)).await.unwrap();
    store.snapshot()
}

fn attr<'a>(attrs: &'a [hyperion::KeyValue<'static>], key: &str) -> Option<&'a Value<'static>> {
    attrs
        .iter()
        .find(|a| a.key.as_str() == key)
        .map(|a| &a.value)
}

#[tokio::test]
async fn success_records_span_counter_histogram_and_debug_logs() {
    let (t, store) = memory("logging:\n  level: debug\n", vec![]).await;
    let ctx = t.context();
    let user: Result<&str, std::io::Error> = ctx
        .intercept("UserService", "GetUser", |ctx| async move {
            ctx.log().info("fetching user", &[kv("user.id", "42")]);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok("Ada")
        })
        .await;
    assert_eq!(user.unwrap(), "Ada");
    let snap = flushed(&t, &store).await;

    let span = snap
        .root("UserService.GetUser")
        .status_not_error()
        .span()
        .clone();
    let calls = snap.points(CALLS_METRIC);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].attribute("component"),
        Some(&Value::from("UserService"))
    );
    assert_eq!(calls[0].attribute("method"), Some(&Value::from("GetUser")));
    assert_eq!(calls[0].attribute("outcome"), Some(&Value::from("ok")));
    // Recorded while the span was current: the exemplar is the call's span.
    assert_eq!(calls[0].exemplar.as_ref(), Some(&span.context));
    let durations = snap.points(DURATION_METRIC);
    assert_eq!(durations.len(), 1);
    assert_eq!(durations[0].instrument.unit, "s");
    let secs = durations[0].value.as_f64();
    assert!((0.005..5.0).contains(&secs), "duration {secs}s");
    assert_eq!(durations[0].exemplar.as_ref(), Some(&span.context));

    let messages: Vec<(&str, Level)> = snap
        .logs
        .iter()
        .map(|l| (l.message.as_str(), l.level))
        .collect();
    assert_eq!(
        messages,
        [
            ("call started", Level::Debug),
            ("fetching user", Level::Info),
            ("call succeeded", Level::Debug)
        ]
    );
    for log in &snap.logs {
        assert_eq!(log.span_id, Some(span.context.span_id()), "{log:?}");
        assert_eq!(log.trace_id, Some(span.context.trace_id()));
    }
    let ms = attr(&snap.logs[2].attributes, "duration_ms").unwrap();
    assert!(
        matches!(ms, Value::F64(v) if *v >= 5.0),
        "duration_ms {ms:?}"
    );
}

#[derive(Debug)]
struct NotFound(&'static str);
impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} not found", self.0)
    }
}
impl std::error::Error for NotFound {}

#[tokio::test]
async fn failure_records_error_status_exception_and_error_log() {
    let (t, store) = memory("", vec![]).await;
    let ctx = t.context();
    let (ctx, mut root) = ctx.start_span("GET /users/{id}", SpanOptions::server());
    let r: Result<(), NotFound> = ctx
        .intercept("UserService", "GetUser", |_| async { Err(NotFound("7")) })
        .await;
    assert!(r.is_err());
    root.end();
    let snap = flushed(&t, &store).await;
    let call = snap
        .root("GET /users/{id}")
        .child("UserService.GetUser")
        .status_error()
        .event("exception")
        .span()
        .clone();
    assert_eq!(call.status.description(), "user 7 not found");
    let ev = call.event("exception").unwrap();
    assert_eq!(
        attr(&ev.attributes, "exception.message"),
        Some(&Value::from("user 7 not found"))
    );
    assert!(
        attr(&ev.attributes, "exception.type")
            .unwrap()
            .as_str()
            .unwrap()
            .ends_with("NotFound")
    );
    assert_eq!(
        snap.points(CALLS_METRIC)[0].attribute("outcome"),
        Some(&Value::from("error"))
    );
    // Level info (the default) hides the debug lines but keeps the error.
    assert_eq!(snap.logs.len(), 1, "{:?}", snap.logs);
    assert_eq!(snap.logs[0].level, Level::Error);
    assert_eq!(snap.logs[0].message, "call failed");
    assert_eq!(
        attr(&snap.logs[0].attributes, "error"),
        Some(&Value::from("user 7 not found"))
    );
}

#[tokio::test]
async fn a_dropped_future_records_cancelled() {
    let (t, store) = memory("", vec![]).await;
    let ctx = t.context();
    let slow = ctx.intercept("Jobs", "Slow", |_| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, String>(())
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(20), slow)
            .await
            .is_err()
    );
    let snap = flushed(&t, &store).await;
    assert_eq!(
        snap.points(CALLS_METRIC)[0].attribute("outcome"),
        Some(&Value::from("cancelled"))
    );
    assert_eq!(snap.logs[0].level, Level::Warn);
    assert_eq!(snap.logs[0].message, "call cancelled");
    snap.root("Jobs.Slow");
}

#[tokio::test]
async fn guard_form_is_send_and_a_dropped_guard_is_cancelled() {
    fn assert_send<T: Send>(_: &T) {}
    let (t, store) = memory("", vec![]).await;
    let (ctx, call) = t.context().start_call("Repo", "Save");
    assert_send(&call);
    let handle = tokio::spawn(async move {
        let (_, mut span) = ctx.start_span("db.insert", SpanOptions::client());
        span.end();
        call.finish(&Ok::<_, String>(()));
    });
    handle.await.unwrap();
    let (_, dropped) = t.context().start_call("Repo", "Abandoned");
    drop(dropped);
    let snap = flushed(&t, &store).await;
    snap.root("Repo.Save").child("db.insert");
    let outcomes: Vec<_> = snap
        .points(CALLS_METRIC)
        .iter()
        .map(|p| {
            (
                p.attribute("method").cloned(),
                p.attribute("outcome").cloned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some(Value::from("Save")), Some(Value::from("ok"))),
            (
                Some(Value::from("Abandoned")),
                Some(Value::from("cancelled"))
            )
        ]
    );
}

#[tokio::test]
async fn sync_form_records_like_the_async_one() {
    let (t, store) = memory("", vec![]).await;
    let n: Result<i32, std::num::ParseIntError> =
        t.context()
            .intercept_sync("Parser", "Parse", |_| "x".parse());
    assert!(n.is_err());
    let snap = flushed(&t, &store).await;
    snap.root("Parser.Parse").status_error();
    assert_eq!(
        snap.points(CALLS_METRIC)[0].attribute("outcome"),
        Some(&Value::from("error"))
    );
}

/// A custom interceptor that writes what it sees into a shared journal.
#[derive(Clone)]
struct Recorder {
    name: &'static str,
    journal: Arc<Mutex<Vec<String>>>,
}

impl Interceptor for Recorder {
    fn name(&self) -> &str {
        self.name
    }
    fn on_start(&self, ctx: &mut Context, call: &CallInfo<'_>) {
        let has_span = ctx.span_context().is_valid();
        self.journal.lock().unwrap().push(format!(
            "{} start {}.{} span={has_span}",
            self.name, call.component, call.method
        ));
    }
    fn on_end(&self, ctx: &Context, _: &CallInfo<'_>, outcome: &Outcome<'_>, _: Duration) {
        let has_span = ctx.span_context().is_valid();
        self.journal.lock().unwrap().push(format!(
            "{} end {} span={has_span}",
            self.name,
            outcome.as_str()
        ));
    }
}

#[tokio::test]
async fn custom_interceptors_run_in_order_after_the_builtins() {
    let journal = Arc::new(Mutex::new(Vec::new()));
    let a = Recorder {
        name: "a",
        journal: journal.clone(),
    };
    let b = Recorder {
        name: "b",
        journal: journal.clone(),
    };
    let (t, _store) = memory("", vec![a, b]).await;
    let _: Result<(), String> = t.context().intercept("S", "M", |_| async { Ok(()) }).await;
    assert_eq!(
        *journal.lock().unwrap(),
        [
            "a start S.M span=true",
            "b start S.M span=true",
            "b end ok span=true",
            "a end ok span=true"
        ]
    );
}

#[tokio::test]
async fn only_exclude_and_additional_select_per_call() {
    let journal = Arc::new(Mutex::new(Vec::new()));
    let registered = Recorder {
        name: "registered",
        journal: journal.clone(),
    };
    let (t, store) = memory("logging:\n  level: debug\n", vec![registered]).await;
    let ctx = t.context();

    // WithOnly: just the span.
    let only = InterceptOptions::new().only(&["tracing"]);
    let _: Result<(), String> = ctx
        .intercept_with("S", "OnlyTracing", &only, |_| async { Ok(()) })
        .await;
    let snap = flushed(&t, &store).await;
    snap.root("S.OnlyTracing");
    assert!(snap.points.is_empty() && snap.logs.is_empty(), "{snap:?}");
    assert!(journal.lock().unwrap().is_empty());
    store.clear();

    // WithExclude: everything but tracing and the registered interceptor.
    let exclude = InterceptOptions::new().exclude(&["tracing", "registered"]);
    let _: Result<(), String> = ctx
        .intercept_with("S", "NoSpan", &exclude, |_| async { Ok(()) })
        .await;
    let snap = flushed(&t, &store).await;
    assert!(snap.spans.is_empty());
    assert_eq!(snap.points(CALLS_METRIC).len(), 1);
    assert_eq!(
        snap.points(CALLS_METRIC)[0].exemplar,
        None,
        "no span, no exemplar"
    );
    assert_eq!(snap.logs.len(), 2);
    assert!(journal.lock().unwrap().is_empty());
    store.clear();

    // WithAdditional: one more interceptor for this call only.
    let extra: Arc<dyn Interceptor> = Arc::new(Recorder {
        name: "extra",
        journal: journal.clone(),
    });
    let extras = [extra];
    let additional = InterceptOptions::new()
        .only(&["registered"])
        .additional(&extras);
    let _: Result<(), String> = ctx
        .intercept_with("S", "Extra", &additional, |_| async { Ok(()) })
        .await;
    assert_eq!(
        *journal.lock().unwrap(),
        [
            "registered start S.Extra span=false",
            "extra start S.Extra span=false",
            "extra end ok span=false",
            "registered end ok span=false"
        ]
    );
    // Additional interceptors run even on a no-op context.
    journal.lock().unwrap().clear();
    let _: Result<(), String> = Context::noop()
        .intercept_with("S", "Noop", &additional, |_| async { Ok(()) })
        .await;
    assert_eq!(journal.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_span_is_current_while_polled_and_only_then() {
    use hyperion::context::with_current_span_context;
    let (t, store) = memory("", vec![]).await;
    let outside = || with_current_span_context(|c| c.clone());
    assert!(!outside().is_valid());
    let seen: Result<(Vec<hyperion::SpanContext>, hyperion::SpanContext), String> = t
        .context()
        .intercept("S", "M", |ctx| async move {
            let mut seen = vec![outside()];
            tokio::task::yield_now().await; // maybe another worker thread now
            seen.push(outside());
            let inner: Result<hyperion::SpanContext, String> =
                ctx.intercept_sync("S", "Inner", |_| Ok(outside()));
            seen.push(outside());
            Ok((seen, inner.unwrap()))
        })
        .await;
    let (seen, inner) = seen.unwrap();
    assert!(
        !outside().is_valid(),
        "nothing is left on the thread after the call"
    );
    let snap = {
        t.flush(Duration::from_secs(1)).await.unwrap();
        store.snapshot()
    };
    let call = snap.root("S.M").span().context.clone();
    assert!(seen.iter().all(|sc| *sc == call), "{seen:?}");
    assert_eq!(inner, snap.root("S.M").child("S.Inner").span().context);
}
