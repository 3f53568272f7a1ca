//! Conversions between the facade's types and OpenTelemetry's. The only place that knows both.

use hyperion::{KeyValue, SpanContext, SpanKind, Status, TraceFlags, Value};
use opentelemetry as otel;

/// A facade key as an OpenTelemetry key; literal keys are not copied.
pub(crate) fn key(key: &hyperion::Key) -> otel::Key {
    match key.as_static() {
        Some(s) => otel::Key::from_static_str(s),
        None => otel::Key::new(key.as_str().to_owned()),
    }
}

/// A facade value as an OpenTelemetry value. Arrays must be homogeneous in OpenTelemetry: a
/// mixed array becomes an array of strings.
pub(crate) fn value(value: &Value<'_>) -> otel::Value {
    match value {
        Value::Bool(b) => otel::Value::Bool(*b),
        Value::I64(i) => otel::Value::I64(*i),
        Value::F64(f) => otel::Value::F64(*f),
        Value::Str(s) => otel::Value::String(otel::StringValue::from(s.to_string())),
        // A 'static string is handed over as it is: no copy.
        Value::StaticStr(s) => otel::Value::String(otel::StringValue::from(*s)),
        Value::Array(items) => {
            let items = items.as_slice();
            let array = if items.iter().all(|v| matches!(v, Value::Bool(_))) {
                otel::Array::Bool(
                    items
                        .iter()
                        .map(|v| matches!(v, Value::Bool(true)))
                        .collect(),
                )
            } else if items.iter().all(|v| matches!(v, Value::I64(_))) {
                otel::Array::I64(
                    items
                        .iter()
                        .map(|v| if let Value::I64(i) = v { *i } else { 0 })
                        .collect(),
                )
            } else if items.iter().all(|v| matches!(v, Value::F64(_))) {
                otel::Array::F64(
                    items
                        .iter()
                        .map(|v| if let Value::F64(f) = v { *f } else { 0.0 })
                        .collect(),
                )
            } else {
                otel::Array::String(
                    items
                        .iter()
                        .map(|v| otel::StringValue::from(v.to_string()))
                        .collect(),
                )
            };
            otel::Value::Array(array)
        }
    }
}

/// A facade attribute as an OpenTelemetry one.
pub(crate) fn key_value(kv: &KeyValue<'_>) -> otel::KeyValue {
    otel::KeyValue::new(key(&kv.key), value(&kv.value))
}

/// Facade attributes as OpenTelemetry ones.
pub(crate) fn key_values(attributes: &[KeyValue<'_>]) -> Vec<otel::KeyValue> {
    attributes.iter().map(key_value).collect()
}

/// The facade's span kind as OpenTelemetry's.
pub(crate) fn span_kind(kind: SpanKind) -> otel::trace::SpanKind {
    match kind {
        SpanKind::Internal => otel::trace::SpanKind::Internal,
        SpanKind::Server => otel::trace::SpanKind::Server,
        SpanKind::Client => otel::trace::SpanKind::Client,
        SpanKind::Producer => otel::trace::SpanKind::Producer,
        SpanKind::Consumer => otel::trace::SpanKind::Consumer,
    }
}

/// The facade's status as OpenTelemetry's.
pub(crate) fn status(status: Status) -> otel::trace::Status {
    match status {
        Status::Unset => otel::trace::Status::Unset,
        Status::Ok => otel::trace::Status::Ok,
        Status::Error { description } => otel::trace::Status::Error { description },
    }
}

/// A facade span context as OpenTelemetry's.
pub(crate) fn to_otel_span_context(sc: &SpanContext) -> otel::trace::SpanContext {
    let state = if sc.trace_state().is_empty() {
        otel::trace::TraceState::NONE
    } else {
        sc.trace_state()
            .header()
            .parse()
            .unwrap_or(otel::trace::TraceState::NONE)
    };
    otel::trace::SpanContext::new(
        otel::trace::TraceId::from_bytes(sc.trace_id().to_bytes()),
        otel::trace::SpanId::from_bytes(sc.span_id().to_bytes()),
        otel::trace::TraceFlags::new(sc.trace_flags().to_u8()),
        sc.is_remote(),
        state,
    )
}

/// An OpenTelemetry span context as the facade's (never remote: it is the context of a span
/// started here).
pub(crate) fn from_otel_span_context(
    sc: &otel::trace::SpanContext,
    parent_state: &hyperion::TraceState,
    random: bool,
) -> SpanContext {
    // The SDK copies the parent's trace state; the facade already holds it parsed, so reuse it
    // instead of printing and parsing it again.
    SpanContext::new(
        hyperion::TraceId::from_bytes(sc.trace_id().to_bytes()),
        hyperion::SpanId::from_bytes(sc.span_id().to_bytes()),
        TraceFlags::new(sc.trace_flags().to_u8()).with_random(random),
        false,
        parent_state.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperion::kv;

    #[test]
    fn literal_keys_are_not_copied() {
        let k = key(&hyperion::Key::from_static("http.route"));
        assert_eq!(k.as_str(), "http.route");
        let owned = key(&hyperion::Key::from(String::from("dyn.key")));
        assert_eq!(owned.as_str(), "dyn.key");
    }

    #[test]
    fn values_keep_their_types() {
        assert_eq!(value(&Value::from(true)), otel::Value::Bool(true));
        assert_eq!(value(&Value::from(3)), otel::Value::I64(3));
        assert_eq!(value(&Value::from(1.5)), otel::Value::F64(1.5));
        assert_eq!(value(&Value::from("x")), otel::Value::from("x"));
        assert_eq!(value(&Value::from_static_str("y")), otel::Value::from("y"));
        let ints = [Value::from(1), Value::from(2)];
        assert_eq!(
            value(&Value::from(&ints[..])),
            otel::Value::Array(otel::Array::I64(vec![1, 2]))
        );
        let mixed = [Value::from(1), Value::from("a")];
        assert_eq!(
            value(&Value::from(&mixed[..])),
            otel::Value::Array(otel::Array::String(vec!["1".into(), "a".into()]))
        );
        assert_eq!(key_value(&kv("k", "v")).key.as_str(), "k");
    }

    #[test]
    fn span_contexts_round_trip() {
        let state = hyperion::TraceState::from_header("congo=t61rcWkgMzE", 32).unwrap();
        let sc = SpanContext::new(
            hyperion::TraceId::from_bytes([7; 16]),
            hyperion::SpanId::from_bytes([9; 8]),
            TraceFlags::SAMPLED,
            true,
            state.clone(),
        );
        let o = to_otel_span_context(&sc);
        assert!(o.is_remote() && o.is_sampled());
        assert_eq!(o.trace_state().header(), "congo=t61rcWkgMzE");
        let back = from_otel_span_context(&o, &state, true);
        assert!(back.trace_flags().is_random());
        assert_eq!(back.trace_id(), sc.trace_id());
        assert_eq!(back.span_id(), sc.span_id());
        assert_eq!(back.trace_state(), &state);
        assert!(!back.is_remote());
    }
}
