//! OTLP attribute values as JSON (for the API) and as short text (for the page).

use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use serde_json::{Map, Number, Value as Json};

/// An attribute value as JSON: strings, booleans and numbers as themselves (a non-finite double
/// as its text, `"NaN"`), bytes as lower-case hex, arrays and key/value lists nested; an unset
/// value is `null`.
pub fn to_json(value: Option<&AnyValue>) -> Json {
    match value.and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => Json::Null,
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => Json::Number((*i).into()),
        Some(Value::DoubleValue(d)) => {
            Number::from_f64(*d).map_or_else(|| Json::String(d.to_string()), Json::Number)
        }
        Some(Value::BytesValue(b)) => Json::String(hex(b)),
        Some(Value::ArrayValue(a)) => {
            Json::Array(a.values.iter().map(|v| to_json(Some(v))).collect())
        }
        Some(Value::KvlistValue(kv)) => Json::Object(attributes_json(&kv.values)),
    }
}

/// Key/value pairs as a JSON object, in their order (a repeated key: the last wins).
pub fn attributes_json(attributes: &[KeyValue]) -> Map<String, Json> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), to_json(kv.value.as_ref())))
        .collect()
}

/// An attribute value as one line of text: a string as itself, everything else as its JSON.
pub fn to_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        _ => to_json(value).to_string(),
    }
}

/// The string value of attribute `key`, if it is set and a string.
pub fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .rev()
        .find(|kv| kv.key == key)
        .and_then(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            },
        )
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn any(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn values_become_json_and_text() {
        assert_eq!(
            to_json(Some(&any(Value::IntValue(42)))),
            serde_json::json!(42)
        );
        assert_eq!(
            to_json(Some(&any(Value::DoubleValue(f64::NAN)))),
            serde_json::json!("NaN")
        );
        assert_eq!(
            to_json(Some(&any(Value::BytesValue(vec![0xab, 1])))),
            serde_json::json!("ab01")
        );
        assert_eq!(to_json(None), Json::Null);
        let nested = any(Value::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "k".into(),
                value: Some(any(Value::ArrayValue(ArrayValue {
                    values: vec![
                        any(Value::BoolValue(true)),
                        any(Value::StringValue("s".into())),
                    ],
                }))),
                ..KeyValue::default()
            }],
        }));
        assert_eq!(
            to_json(Some(&nested)),
            serde_json::json!({"k": [true, "s"]})
        );
        assert_eq!(to_text(Some(&any(Value::StringValue("a b".into())))), "a b");
        assert_eq!(to_text(Some(&nested)), r#"{"k":[true,"s"]}"#);
    }
}
