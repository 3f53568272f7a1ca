//! The metric macros: what they record through the in-memory module, and that a no-op
//! instrument evaluates none of the attributes.

use std::cell::Cell;

use hyperion::testing::{MemoryModule, PointValue};
use hyperion::{Config, Context, Meter, SpanOptions, Telemetry, Value};

#[tokio::test]
async fn add_and_record_send_value_dotted_attributes_and_the_span() {
    let module = MemoryModule::new();
    let store = module.store();
    let t = Telemetry::builder()
        .module(module)
        .config(Config::from_yaml_str("").unwrap())
        .build()
        .await
        .unwrap();
    let meter = t.meter("test");
    let calls = meter.counter("app.calls").build();
    let queue = meter.up_down_counter("app.queue").build();
    let latency = meter.histogram("app.latency").unit("s").build();
    let (ctx, _span) = t.context().start_span("work", SpanOptions::new());
    hyperion::add!(calls, ctx, 2, http.route = "/users/{id}", cached = true);
    hyperion::add!(queue, &ctx, -1);
    hyperion::record!(latency, ctx, 0.25, http.route = "/users/{id}");
    t.flush(std::time::Duration::from_secs(1)).await.unwrap();
    let points = store.snapshot().points;
    assert_eq!(points.len(), 3, "{points:#?}");
    assert_eq!(points[0].instrument.name, "app.calls");
    assert!(matches!(points[0].value, PointValue::U64(2)));
    assert_eq!(
        points[0].attribute("http.route"),
        Some(&Value::from("/users/{id}"))
    );
    assert_eq!(points[0].attribute("cached"), Some(&Value::Bool(true)));
    assert_eq!(points[0].exemplar.as_ref(), Some(ctx.span_context()));
    assert!(matches!(points[1].value, PointValue::I64(-1)));
    assert!(matches!(points[2].value, PointValue::F64(v) if v == 0.25));
}

#[test]
fn a_no_op_instrument_evaluates_no_attribute() {
    let calls = Meter::noop().counter("app.calls").build();
    let latency = Meter::noop().histogram("app.latency").build();
    let evaluated = Cell::new(0);
    let attr = || {
        evaluated.set(evaluated.get() + 1);
        "x"
    };
    hyperion::add!(calls, Context::noop(), 1, k = attr());
    hyperion::record!(latency, Context::noop(), 1.0, k = attr());
    assert_eq!(evaluated.get(), 0);
}
