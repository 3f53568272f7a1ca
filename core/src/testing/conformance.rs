//! The adapter conformance suite: one function that checks the facade's semantics against any
//! module. Every adapter runs it in its own tests, through a [`Harness`] that builds fresh
//! telemetry on that module and reads back what it exported as a [`Snapshot`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use hyperion::testing::conformance::{self, MemoryHarness, NoopHarness};
//! conformance::run(&NoopHarness).await.assert_passed();
//! conformance::run(&MemoryHarness::default()).await.assert_passed();
//! # }
//! ```
//!
//! What applies depends on [`Capabilities`]: a module that exports no spans (`noop`) is still
//! checked for propagation pass-through, for invalid span contexts and for not panicking.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use super::{MemoryModule, MemoryStore, PointValue, Snapshot};
use crate::attr::{KeyValue, Value, kv};
use crate::config::Config;
use crate::context::Context;
use crate::registry::BoxFuture;
use crate::telemetry::Telemetry;
use crate::trace::{Link, SpanKind, SpanOptions, Status};

/// What a module exports, so that the suite knows what to check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Spans are exported.
    pub spans: bool,
    /// Metric measurements are exported, with the span context they were recorded under.
    pub metrics: bool,
    /// Log records are exported, with trace and span ids.
    pub logs: bool,
}

/// Builds telemetry on the module under test and reads back what it exported.
pub trait Harness: Send + Sync {
    /// The module's name, for the report.
    fn name(&self) -> &str;
    /// What the module exports.
    fn capabilities(&self) -> Capabilities;
    /// Fresh telemetry for one check: tracing, metrics and logging (at level trace) all on.
    fn telemetry(&self) -> BoxFuture<'_, Telemetry>;
    /// Everything `telemetry` exported since it was built, read as it is: no flush first.
    fn exported<'a>(&'a self, telemetry: &'a Telemetry) -> BoxFuture<'a, Snapshot>;

    /// Flushes `telemetry`, then returns [`Harness::exported`].
    fn collect<'a>(&'a self, telemetry: &'a Telemetry) -> BoxFuture<'a, Snapshot> {
        Box::pin(async move {
            let _ = telemetry.flush(Duration::from_secs(5)).await;
            self.exported(telemetry).await
        })
    }
}

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// The check's name.
    pub name: &'static str,
    /// `Err` with what went wrong.
    pub result: Result<(), String>,
}

/// The outcome of a conformance run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The module's name.
    pub module: String,
    /// One entry per check, in order.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// The failed checks.
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.checks.iter().filter(|c| c.result.is_err()).collect()
    }

    /// Panics listing every failed check.
    #[track_caller]
    pub fn assert_passed(&self) {
        let failures = self.failures();
        assert!(failures.is_empty(), "{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().len();
        writeln!(
            f,
            "conformance of module `{}`: {} passed, {} failed",
            self.module,
            self.checks.len() - failed,
            failed
        )?;
        for c in &self.checks {
            match &c.result {
                Ok(()) => writeln!(f, "  ok    {}", c.name)?,
                Err(e) => writeln!(f, "  FAIL  {}: {e}", c.name)?,
            }
        }
        Ok(())
    }
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

type Check = for<'a> fn(&'a dyn Harness) -> BoxFuture<'a, Result<(), String>>;

const CHECKS: &[(&str, Check)] = &[
    ("parent_child_and_trace_ids", |h| Box::pin(parent_child(h))),
    ("span_kinds", |h| Box::pin(span_kinds(h))),
    ("status_and_record_error", |h| {
        Box::pin(status_and_errors(h))
    }),
    ("attribute_types", |h| Box::pin(attribute_types(h))),
    ("events", |h| Box::pin(events(h))),
    ("links", |h| Box::pin(links(h))),
    ("context_across_await_and_spawn", |h| {
        Box::pin(across_await_and_spawn(h))
    }),
    ("propagation_round_trip", |h| {
        Box::pin(propagation_round_trip(h))
    }),
    ("instruments_receive_span_context", |h| {
        Box::pin(instruments_get_span(h))
    }),
    ("logs_carry_trace_ids", |h| Box::pin(logs_carry_ids(h))),
    ("intercept_records_span_metrics_logs", |h| {
        Box::pin(intercept(h))
    }),
    ("flush_on_shutdown", |h| Box::pin(flush_on_shutdown(h))),
];

/// Runs every check against the harness's module. Needs a tokio runtime (any flavour).
pub async fn run(harness: &dyn Harness) -> Report {
    let mut checks = Vec::with_capacity(CHECKS.len());
    for (name, check) in CHECKS {
        checks.push(CheckResult {
            name,
            result: check(harness).await,
        });
    }
    Report {
        module: harness.name().to_owned(),
        checks,
    }
}

async fn parent_child(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let ctx = t.context();
    let (ctx1, mut root) = ctx.start_span("root", SpanOptions::new());
    let (_, mut child) = ctx1.start_span("child", SpanOptions::new());
    let (_, mut other_root) = ctx1.start_span("new-root", SpanOptions::new().new_root());
    let (root_sc, child_sc) = (root.span_context().clone(), child.span_context().clone());
    let other_sc = other_root.span_context().clone();
    child.end();
    other_root.end();
    root.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        ensure!(
            !root_sc.is_valid() && !child_sc.is_valid(),
            "a module that records no spans handed out valid span contexts"
        );
        return Ok(());
    }
    ensure!(
        root_sc.is_valid() && child_sc.is_valid(),
        "span contexts are invalid"
    );
    ensure!(
        child_sc.trace_id() == root_sc.trace_id(),
        "child trace id {} differs from root {}",
        child_sc.trace_id(),
        root_sc.trace_id()
    );
    ensure!(
        child_sc.span_id() != root_sc.span_id(),
        "child reuses the root's span id"
    );
    ensure!(
        other_sc.trace_id() != root_sc.trace_id(),
        "new_root span stayed in the parent's trace"
    );
    let child = snap.find("child").ok_or("child span not exported")?;
    let root = snap.find("root").ok_or("root span not exported")?;
    ensure!(
        child.parent_span_id == Some(root_sc.span_id()),
        "child's parent is {:?}, expected {}",
        child.parent_span_id,
        root_sc.span_id()
    );
    ensure!(root.parent_span_id.is_none(), "root has a parent");
    let other = snap.find("new-root").ok_or("new_root span not exported")?;
    ensure!(other.parent_span_id.is_none(), "new_root span has a parent");
    Ok(())
}

async fn span_kinds(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let ctx = t.context();
    let kinds = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    for kind in kinds {
        let (_, mut span) = ctx.start_span(kind.as_str(), SpanOptions::new().kind(kind));
        span.end();
    }
    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        return Ok(());
    }
    for kind in kinds {
        let span = snap
            .find(kind.as_str())
            .ok_or_else(|| format!("span {} not exported", kind.as_str()))?;
        ensure!(
            span.kind == kind,
            "span {} has kind {:?}",
            kind.as_str(),
            span.kind
        );
    }
    Ok(())
}

async fn status_and_errors(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let ctx = t.context();
    let (_, mut failed) = ctx.start_span("failed", SpanOptions::new());
    let err = "x".parse::<i32>().unwrap_err();
    failed.record_error(&err);
    failed.end();
    let (_, mut ok) = ctx.start_span("ok-is-final", SpanOptions::new());
    ok.set_status(Status::Ok);
    ok.set_status(Status::error("too late"));
    ok.end();
    let (_, mut unset) = ctx.start_span("unset-does-not-override", SpanOptions::new());
    unset.set_status(Status::error("boom"));
    unset.set_status(Status::Unset);
    unset.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        return Ok(());
    }
    let failed = snap.find("failed").ok_or("span not exported")?;
    ensure!(
        failed.status == Status::error(err.to_string()),
        "status after record_error is {:?}",
        failed.status
    );
    let event = failed.event("exception").ok_or("no exception event")?;
    let ty = super::find_attribute(&event.attributes, "exception.type");
    ensure!(
        ty.and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("ParseIntError")),
        "exception.type is {ty:?}"
    );
    let msg = super::find_attribute(&event.attributes, "exception.message");
    ensure!(
        msg.and_then(Value::as_str) == Some(err.to_string().as_str()),
        "exception.message is {msg:?}"
    );
    let ok = snap.find("ok-is-final").ok_or("span not exported")?;
    ensure!(
        ok.status == Status::Ok,
        "Ok was overridden: {:?}",
        ok.status
    );
    let unset = snap
        .find("unset-does-not-override")
        .ok_or("span not exported")?;
    ensure!(
        unset.status.is_error(),
        "Unset overrode an error: {:?}",
        unset.status
    );
    Ok(())
}

async fn attribute_types(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let ctx = t.context();
    let items = [Value::from(1), Value::from(2)];
    let start_attrs = [kv("at.start", "yes")];
    let (_, mut span) = ctx.start_span("typed", SpanOptions::new().attributes(&start_attrs));
    span.set_attributes(&[
        kv("bool", true),
        kv("int", -7),
        kv("float", 2.5),
        kv("string", "text"),
        kv("array", &items[..]),
    ]);
    span.set_attribute(kv("int", 8));
    span.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        return Ok(());
    }
    let span = snap.find("typed").ok_or("span not exported")?;
    let expected: [(&str, Value<'_>); 6] = [
        ("at.start", Value::from("yes")),
        ("bool", Value::Bool(true)),
        ("int", Value::I64(8)),
        ("float", Value::F64(2.5)),
        ("string", Value::from("text")),
        ("array", Value::from(&items[..])),
    ];
    for (key, value) in expected {
        let found = span.attribute(key);
        let same = match (found, &value) {
            (Some(Value::Array(a)), Value::Array(b)) => a.as_slice() == b.as_slice(),
            (Some(f), v) => f == v,
            (None, _) => false,
        };
        ensure!(same, "attribute {key} is {found:?}, expected {value:?}");
    }
    Ok(())
}

async fn events(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let (_, mut span) = t.context().start_span("with-events", SpanOptions::new());
    span.add_event("cache.miss", &[kv("cache.key", "user:42")]);
    span.add_event("retry", &[kv("attempt", 2)]);
    span.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        return Ok(());
    }
    let span = snap.find("with-events").ok_or("span not exported")?;
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
    ensure!(names == ["cache.miss", "retry"], "events are {names:?}");
    let attempt = super::find_attribute(&span.events[1].attributes, "attempt");
    ensure!(
        attempt == Some(&Value::I64(2)),
        "event attribute is {attempt:?}"
    );
    Ok(())
}

async fn links(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let ctx = t.context();
    let (_, mut producer) = ctx.start_span("producer", SpanOptions::producer());
    let target = producer.span_context().clone();
    producer.end();
    let link_attrs = [kv("messaging.batch", true)];
    let start_links = [Link {
        context: target.clone(),
        attributes: &link_attrs,
    }];
    let (_, mut consumer) = ctx.start_span(
        "consumer",
        SpanOptions::consumer().new_root().links(&start_links),
    );
    consumer.add_link(target.clone(), &[kv("late", true)]);
    consumer.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        return Ok(());
    }
    let consumer = snap.find("consumer").ok_or("span not exported")?;
    ensure!(consumer.links.len() == 2, "{} links", consumer.links.len());
    ensure!(
        consumer
            .links
            .iter()
            .all(|l| l.context.span_id() == target.span_id()
                && l.context.trace_id() == target.trace_id()),
        "links point elsewhere: {:?}",
        consumer.links
    );
    ensure!(
        super::find_attribute(&consumer.links[0].attributes, "messaging.batch")
            == Some(&Value::Bool(true)),
        "link attributes lost: {:?}",
        consumer.links[0].attributes
    );
    Ok(())
}

async fn across_await_and_spawn(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let (ctx, mut root) = t.context().start_span("request", SpanOptions::server());
    let root_sc = root.span_context().clone();
    // Across an await point on this task.
    tokio::task::yield_now().await;
    let (_, mut after_await) = ctx.start_span("after-await", SpanOptions::new());
    after_await.end();
    // In a spawned task that outlives nothing but its own work.
    let spawned_ctx = ctx.clone();
    let spawned = tokio::spawn(async move {
        tokio::task::yield_now().await;
        let (_, mut span) = spawned_ctx.start_span("in-spawned-task", SpanOptions::new());
        let sc = span.span_context().clone();
        span.end();
        sc
    });
    // Interleave another trace on this task while the spawned one runs.
    let (_, mut unrelated) = t.context().start_span("unrelated", SpanOptions::new());
    unrelated.end();
    let spawned_sc = spawned
        .await
        .map_err(|e| format!("spawned task failed: {e}"))?;
    root.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        ensure!(!spawned_sc.is_valid(), "noop span context became valid");
        return Ok(());
    }
    ensure!(
        spawned_sc.trace_id() == root_sc.trace_id(),
        "spawned task lost its parent trace"
    );
    for name in ["after-await", "in-spawned-task"] {
        let span = snap
            .find(name)
            .ok_or_else(|| format!("{name} not exported"))?;
        ensure!(
            span.parent_span_id == Some(root_sc.span_id()),
            "{name}'s parent is {:?}, expected the request span",
            span.parent_span_id
        );
    }
    let unrelated = snap.find("unrelated").ok_or("unrelated not exported")?;
    ensure!(
        unrelated.parent_span_id.is_none(),
        "an unrelated span got a parent"
    );
    Ok(())
}

async fn propagation_round_trip(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let mut incoming = HashMap::new();
    incoming.insert(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    );
    incoming.insert("tracestate".to_owned(), "congo=t61rcWkgMzE".to_owned());
    incoming.insert("baggage".to_owned(), "user.id=42,tenant=acme".to_owned());
    let ctx = t.extract(&incoming);
    let remote = ctx.span_context().clone();
    ensure!(
        remote.is_valid() && remote.is_remote(),
        "extracted context is {remote:?}"
    );
    ensure!(
        remote.trace_id().to_string() == "4bf92f3577b34da6a3ce929d0e0e4736",
        "trace id {}",
        remote.trace_id()
    );
    ensure!(ctx.baggage().get("tenant") == Some("acme"), "baggage lost");

    let (child_ctx, mut child) = ctx.start_span("handle", SpanOptions::server());
    let mut outgoing = HashMap::new();
    child_ctx.inject(&mut outgoing);
    child.end();
    let traceparent = outgoing.get("traceparent").cloned().unwrap_or_default();
    ensure!(
        traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "outgoing traceparent {traceparent:?} left the trace"
    );
    ensure!(
        outgoing.get("tracestate").map(String::as_str) == Some("congo=t61rcWkgMzE"),
        "tracestate not propagated: {:?}",
        outgoing.get("tracestate")
    );
    let back = Context::noop().extract(&outgoing);
    ensure!(
        back.baggage().get("user.id") == Some("42"),
        "baggage not propagated"
    );

    let snap = h.collect(&t).await;
    if !h.capabilities().spans {
        ensure!(
            traceparent == incoming["traceparent"],
            "a non-recording module must pass the incoming context through, got {traceparent:?}"
        );
        return Ok(());
    }
    let handle = snap.find("handle").ok_or("span not exported")?;
    ensure!(
        handle.parent_span_id == Some(remote.span_id()) && handle.parent_is_remote,
        "span's parent is {:?} (remote: {}), expected remote {}",
        handle.parent_span_id,
        handle.parent_is_remote,
        remote.span_id()
    );
    ensure!(
        handle.context.trace_id() == remote.trace_id(),
        "span left the remote trace"
    );
    ensure!(
        traceparent.ends_with(&format!("-{}-01", handle.context.span_id())),
        "outgoing traceparent {traceparent:?} does not name the new span"
    );
    Ok(())
}

async fn instruments_get_span(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let meter = t.meter("conformance");
    let counter = meter
        .counter("conformance.requests")
        .unit("{request}")
        .build();
    let histogram = meter
        .histogram("conformance.latency")
        .unit("s")
        .boundaries(vec![0.1, 1.0])
        .build();
    let updown = meter.up_down_counter("conformance.in_flight").build();
    let gauge = meter.gauge("conformance.queue").build();
    let (ctx, mut span) = t.context().start_span("measured", SpanOptions::new());
    let sc = span.span_context().clone();
    counter.add(&ctx, 3, &[kv("route", "/users")]);
    histogram.record(&ctx, 0.25, &[]);
    updown.add(&ctx, -2, &[]);
    gauge.record(&ctx, 7.5, &[]);
    counter.add(&t.context(), 1, &[]);
    span.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().metrics {
        return Ok(());
    }
    let counter_points = snap.points("conformance.requests");
    ensure!(
        counter_points.len() == 2,
        "{} counter points",
        counter_points.len()
    );
    let p = counter_points[0];
    ensure!(p.value == PointValue::U64(3), "counter value {:?}", p.value);
    ensure!(
        p.attribute("route") == Some(&Value::from("/users")),
        "counter attributes {:?}",
        p.attributes
    );
    if h.capabilities().spans {
        ensure!(
            p.exemplar.as_ref() == Some(&sc),
            "counter got span context {:?}, expected {sc:?}",
            p.exemplar
        );
        let hp = snap.points("conformance.latency");
        ensure!(
            hp.first().and_then(|p| p.exemplar.as_ref()) == Some(&sc),
            "histogram did not get the span context"
        );
    }
    ensure!(
        counter_points[1].exemplar.is_none(),
        "a record without a span got an exemplar"
    );
    ensure!(
        snap.points("conformance.in_flight")
            .first()
            .map(|p| p.value)
            == Some(PointValue::I64(-2)),
        "up-down counter value lost"
    );
    ensure!(
        snap.points("conformance.queue").first().map(|p| p.value) == Some(PointValue::F64(7.5)),
        "gauge value lost"
    );
    Ok(())
}

async fn logs_carry_ids(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let (ctx, mut span) = t.context().start_span("logged", SpanOptions::new());
    let sc = span.span_context().clone();
    ctx.log().info("inside", &[kv("user.id", "42")]);
    t.context().log().warn("outside", &[]);
    span.end();
    let snap = h.collect(&t).await;
    if !h.capabilities().logs {
        return Ok(());
    }
    let inside = snap
        .logs
        .iter()
        .find(|l| l.message == "inside")
        .ok_or("log record not exported")?;
    ensure!(
        inside.attribute("user.id") == Some(&Value::from("42")),
        "fields lost: {:?}",
        inside.attributes
    );
    if h.capabilities().spans {
        ensure!(
            inside.trace_id == Some(sc.trace_id()) && inside.span_id == Some(sc.span_id()),
            "record carries {:?}/{:?}, expected the span's ids",
            inside.trace_id,
            inside.span_id
        );
    }
    let outside = snap
        .logs
        .iter()
        .find(|l| l.message == "outside")
        .ok_or("log record not exported")?;
    ensure!(
        outside.trace_id.is_none(),
        "a record outside any span has a trace id"
    );
    Ok(())
}

async fn intercept(h: &dyn Harness) -> Result<(), String> {
    let t = h.telemetry().await;
    let ctx = t.context();
    let ok: Result<u32, String> = ctx
        .intercept("UserService", "GetUser", |ctx| async move {
            ctx.log().info("fetching", &[]);
            Ok(1)
        })
        .await;
    let failed: Result<u32, String> = ctx
        .intercept("UserService", "DeleteUser", |_| async {
            Err("denied".to_owned())
        })
        .await;
    ensure!(
        ok == Ok(1) && failed.is_err(),
        "intercept changed the results"
    );
    let snap = h.collect(&t).await;
    let caps = h.capabilities();
    if caps.spans {
        let get = snap
            .find("UserService.GetUser")
            .ok_or("no span for GetUser")?;
        ensure!(!get.status.is_error(), "GetUser span has error status");
        let del = snap
            .find("UserService.DeleteUser")
            .ok_or("no span for DeleteUser")?;
        ensure!(
            del.status == Status::error("denied"),
            "DeleteUser status {:?}",
            del.status
        );
        ensure!(
            del.event("exception").is_some(),
            "no exception event on DeleteUser"
        );
    }
    if caps.metrics {
        let calls = snap.points(crate::intercept::CALLS_METRIC);
        let outcome_of = |method: &str| {
            calls
                .iter()
                .find(|p| p.attribute("method") == Some(&Value::from(method)))
                .and_then(|p| p.attribute("outcome").cloned())
        };
        ensure!(
            outcome_of("GetUser") == Some(Value::from("ok")),
            "GetUser outcome {:?}",
            outcome_of("GetUser")
        );
        ensure!(
            outcome_of("DeleteUser") == Some(Value::from("error")),
            "DeleteUser outcome {:?}",
            outcome_of("DeleteUser")
        );
        let durations = snap.points(crate::intercept::DURATION_METRIC);
        ensure!(durations.len() == 2, "{} duration points", durations.len());
        ensure!(
            durations.iter().all(|p| p.instrument.unit == "s"),
            "duration unit is not seconds"
        );
        if caps.spans {
            let get = snap.find("UserService.GetUser").ok_or("no span")?;
            ensure!(
                calls
                    .iter()
                    .any(|p| same_span(p.exemplar.as_ref(), &get.context)),
                "call counter was not recorded while the span was current"
            );
        }
    }
    if caps.logs {
        let failed = snap
            .logs
            .iter()
            .find(|l| l.level == crate::log::Level::Error)
            .ok_or("no error log for the failed call")?;
        ensure!(
            failed.attribute("error") == Some(&Value::from("denied")),
            "error log lacks the error text: {:?}",
            failed.attributes
        );
        let inner = snap
            .logs
            .iter()
            .find(|l| l.message == "fetching")
            .ok_or("log inside intercept lost")?;
        if caps.spans {
            let get = snap.find("UserService.GetUser").ok_or("no span")?;
            ensure!(
                inner.span_id == Some(get.context.span_id()),
                "log inside intercept does not carry the call's span"
            );
        }
    }
    Ok(())
}

async fn flush_on_shutdown(h: &dyn Harness) -> Result<(), String> {
    const N: usize = 100;
    let t = h.telemetry().await;
    let ctx = t.context();
    let counter = t
        .meter("conformance")
        .counter("conformance.shutdown")
        .build();
    for i in 0..N {
        let (ctx, mut span) = ctx.start_span("before-shutdown", SpanOptions::new());
        span.set_attribute(KeyValue::new("i", i));
        counter.add(&ctx, 1, &[]);
        span.end();
    }
    t.shutdown(Duration::from_secs(10))
        .await
        .map_err(|e| format!("shutdown failed: {e}"))?;
    // Read what the shutdown itself exported: no second flush that could hide a lost batch.
    let snap = h.exported(&t).await;
    if h.capabilities().spans {
        let n = snap
            .spans
            .iter()
            .filter(|s| s.name == "before-shutdown")
            .count();
        ensure!(n == N, "{n} of {N} spans reached the exporter");
    }
    if h.capabilities().metrics {
        let total: f64 = snap
            .points("conformance.shutdown")
            .iter()
            .map(|p| p.value.as_f64())
            .sum();
        ensure!(
            total == N as f64,
            "counter total {total} after shutdown, expected {N}"
        );
    }
    Ok(())
}

/// The harness for the always-registered `noop` module.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopHarness;

impl Harness for NoopHarness {
    fn name(&self) -> &str {
        crate::noop::NOOP_MODULE
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn telemetry(&self) -> BoxFuture<'_, Telemetry> {
        Box::pin(async {
            Telemetry::builder()
                .config(Config::default())
                .build()
                .await
                .expect("the noop module always builds")
        })
    }

    fn exported<'a>(&'a self, _: &'a Telemetry) -> BoxFuture<'a, Snapshot> {
        Box::pin(async { Snapshot::default() })
    }
}

/// The harness for the `memory` module.
#[derive(Debug, Default)]
pub struct MemoryHarness {
    stores: Mutex<Vec<(Telemetry, MemoryStore)>>,
}

impl Harness for MemoryHarness {
    fn name(&self) -> &str {
        super::MEMORY_MODULE
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            spans: true,
            metrics: true,
            logs: true,
        }
    }

    fn telemetry(&self) -> BoxFuture<'_, Telemetry> {
        Box::pin(async {
            let module = MemoryModule::new();
            let store = module.store();
            let config = Config::from_yaml_str("logging:\n  level: trace\n")
                .expect("the conformance config is valid");
            let telemetry = Telemetry::builder()
                .module(module)
                .config(config)
                .build()
                .await
                .expect("the memory module always builds");
            self.stores
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((telemetry.clone(), store));
            telemetry
        })
    }

    fn exported<'a>(&'a self, telemetry: &'a Telemetry) -> BoxFuture<'a, Snapshot> {
        Box::pin(async move {
            let stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
            stores
                .iter()
                .find(|(t, _)| t.same_as(telemetry))
                .map(|(_, s)| s.snapshot())
                .unwrap_or_default()
        })
    }
}

/// Whether an exemplar names `span` (by its ids: an exporter's copy of a span may not carry every
/// trace flag the facade's context does, such as Level 2's `random-trace-id`).
fn same_span(
    exemplar: Option<&crate::trace::SpanContext>,
    span: &crate::trace::SpanContext,
) -> bool {
    exemplar.is_some_and(|e| e.trace_id() == span.trace_id() && e.span_id() == span.span_id())
}
