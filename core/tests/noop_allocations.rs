//! Rule 2 of the design: with nothing configured, every call is a branch. This test binary
//! installs a counting global allocator (allocation-counter, which counts per thread) and proves
//! that the no-op span, instruments, log, intercept and propagation of an empty context allocate
//! nothing.

use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use hyperion::intercept::InterceptOptions;
use hyperion::{Context, Counter, Histogram, Meter, SpanOptions, Status, Telemetry, kv};

/// Polls a future that never waits (all no-op futures are ready at once).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[track_caller]
fn assert_no_allocation(what: &str, f: impl FnOnce()) {
    let info = allocation_counter::measure(f);
    assert_eq!(
        info.count_total, 0,
        "{what} allocated {} times ({} bytes)",
        info.count_total, info.bytes_total
    );
}

#[test]
fn the_counter_sees_allocations() {
    // Guards against a counter that never counts (which would make every test below pass).
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(info.count_total, 1);
}

#[test]
fn noop_span_start_and_end() {
    let ctx = Context::noop();
    assert_no_allocation("span start + end", || {
        let attrs = [kv("db.system", "postgresql"), kv("retry", 1)];
        let (child, mut span) =
            ctx.start_span("db.query", SpanOptions::client().attributes(&attrs));
        span.set_attribute(kv("rows", 3));
        span.add_event("fetched", &attrs);
        span.set_status(Status::Ok);
        span.record_error(&std::fmt::Error);
        span.end();
        std::hint::black_box(child);
    });
}

#[test]
fn noop_instruments() {
    let ctx = Context::noop();
    let meter = Telemetry::noop().meter("bench");
    let counter: Counter = meter.counter("requests").build();
    let histogram: Histogram = Meter::noop().histogram("latency").unit("s").build();
    let updown = meter.up_down_counter("in_flight").build();
    let gauge = meter.gauge("queue").build();
    assert_no_allocation("counter add / histogram record", || {
        let attrs = [kv("method", "GET"), kv("status", 200), kv("ok", true)];
        counter.add(&ctx, 1, &attrs);
        histogram.record(&ctx, 0.25, &attrs);
        updown.add(&ctx, -1, &attrs);
        gauge.record(&ctx, 3.0, &attrs);
    });
}

#[test]
fn noop_log() {
    let ctx = Context::noop();
    assert_no_allocation("log", || {
        let id = "42";
        ctx.log().info("fetching user", &[kv("user.id", id)]);
        ctx.log()
            .error_args(format_args!("failed {} times", 3), &[]);
        assert!(!ctx.log().enabled(hyperion::Level::Fatal));
    });
}

#[test]
fn noop_intercept_all_forms() {
    let ctx = Context::noop();
    assert_no_allocation("intercept", || {
        let r: Result<i32, std::io::Error> =
            block_on(ctx.intercept("UserService", "GetUser", |ctx| async move {
                ctx.log().info("inside", &[]);
                Ok(1)
            }));
        assert_eq!(r.unwrap(), 1);
        let r: Result<(), &str> = ctx.intercept_sync("UserService", "Sync", |_| Err("no"));
        assert!(r.is_err());
        let opts = InterceptOptions::new()
            .only(&["tracing"])
            .exclude(&["logging"]);
        let r: Result<u8, String> =
            block_on(ctx.intercept_with("UserService", "Opts", &opts, |_| async { Ok(2) }));
        assert_eq!(r, Ok(2));
        let (inner, call) = ctx.start_call("UserService", "Guard");
        call.finish(&Ok::<_, &str>(()));
        let (_, dropped) = inner.start_call("UserService", "Dropped");
        drop(dropped);
    });
}

#[test]
fn noop_context_clone_and_inject() {
    let ctx = Context::noop();
    assert_no_allocation("context clone and inject of an empty context", || {
        let c2 = ctx.clone();
        let mut headers = http::HeaderMap::new();
        c2.inject(&mut headers);
        assert!(headers.is_empty());
    });
}
