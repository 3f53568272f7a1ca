//! Attributes: [`Key`], [`Value`] and [`KeyValue`], passed to every recording call as a slice.
//!
//! Attributes borrow where they can: `kv("user.id", id)` with a `&str` id builds nothing on the
//! heap, so a call on a disabled instrument or span costs nothing to prepare. Keys are `'static`
//! or owned (see [`Key`]). An adapter that keeps
//! an attribute beyond the call turns it into an owned one with [`KeyValue::into_owned`].

use std::borrow::Cow;
use std::fmt;

/// The name of an attribute, such as `http.request.method` or `user.id`.
///
/// Keys are `'static` strings or owned `String`s, never borrowed for a call: attribute names are
/// almost always literals, and an adapter can then hand a literal key to its SDK without copying.
///
/// ```
/// use hyperion::Key;
/// const METHOD: Key = Key::from_static("http.request.method");
/// assert_eq!(METHOD.as_str(), "http.request.method");
/// assert!(METHOD.is_static());
/// assert_eq!(Key::from(format!("custom.{}", 1)).as_str(), "custom.1");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Cow<'static, str>);

impl Key {
    /// A key from a string known at compile time; usable in `const` items.
    pub const fn from_static(name: &'static str) -> Key {
        Key(Cow::Borrowed(name))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as a `&'static str`, if it is one (no copy needed to keep it).
    pub fn as_static(&self) -> Option<&'static str> {
        match self.0 {
            Cow::Borrowed(s) => Some(s),
            Cow::Owned(_) => None,
        }
    }

    /// Whether the key is a `&'static str`.
    pub fn is_static(&self) -> bool {
        self.as_static().is_some()
    }
}

impl From<&'static str> for Key {
    fn from(name: &'static str) -> Self {
        Key(Cow::Borrowed(name))
    }
}

impl From<String> for Key {
    fn from(name: String) -> Self {
        Key(Cow::Owned(name))
    }
}

impl From<Cow<'static, str>> for Key {
    fn from(name: Cow<'static, str>) -> Self {
        Key(name)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The value of an attribute: a boolean, a signed integer, a float, a string, or an array of them.
///
/// Arrays should hold values of one type, as OpenTelemetry requires; adapters may drop mixed ones.
///
/// ```
/// use hyperion::Value;
/// assert_eq!(Value::from(42), Value::I64(42));
/// assert_eq!(Value::from("ok").to_string(), "ok");
/// assert_eq!(Value::from(vec![Value::from(1), Value::from(2)]).to_string(), "[1,2]");
/// ```
#[derive(Clone, Debug)]
pub enum Value<'a> {
    /// `true` or `false`.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A string, borrowed for the call or owned.
    Str(Cow<'a, str>),
    /// A string known to live forever: an adapter can keep it without copying. Made by
    /// [`Value::from_static_str`] and [`KeyValue::from_static`]; equal to a [`Value::Str`] of the
    /// same text.
    StaticStr(&'static str),
    /// An array of values (of one type).
    Array(Array<'a>),
}

/// The values of a [`Value::Array`], borrowed or owned.
///
/// (Not a `Cow`: `Cow<[Value<'a>]>` would make every attribute invariant in its lifetime.)
#[derive(Clone, Debug)]
pub enum Array<'a> {
    /// Borrowed for the call.
    Borrowed(&'a [Value<'a>]),
    /// Owned.
    Owned(Vec<Value<'static>>),
}

impl<'a> Array<'a> {
    /// The values.
    pub fn as_slice(&self) -> &[Value<'a>] {
        match self {
            Array::Borrowed(items) => items,
            Array::Owned(items) => items,
        }
    }
}

impl Value<'_> {
    /// A string value from a string known at compile time; usable in `const` items.
    pub const fn from_static_str(value: &'static str) -> Value<'static> {
        Value::StaticStr(value)
    }

    /// A copy of this value that borrows nothing.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Bool(b) => Value::Bool(b),
            Value::I64(i) => Value::I64(i),
            Value::F64(f) => Value::F64(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::StaticStr(s) => Value::StaticStr(s),
            Value::Array(a) => Value::Array(Array::Owned(
                a.as_slice()
                    .iter()
                    .cloned()
                    .map(Value::into_owned)
                    .collect(),
            )),
        }
    }

    /// The string inside a [`Value::Str`], if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::StaticStr(s) => Some(s),
            _ => None,
        }
    }
}

impl PartialEq for Array<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::I64(a), Value::I64(b)) => a == b,
            (Value::F64(a), Value::F64(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            // Borrowed, owned and 'static strings of the same text are equal.
            _ => matches!((self.as_str(), other.as_str()), (Some(a), Some(b)) if a == b),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::F64(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::StaticStr(s) => f.write_str(s),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.as_slice().iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value<'_> {
            fn from($v: $t) -> Self { $e }
        })*
    };
}

value_from! {
    bool => |v| Value::Bool(v),
    i64 => |v| Value::I64(v),
    i32 => |v| Value::I64(i64::from(v)),
    u32 => |v| Value::I64(i64::from(v)),
    u16 => |v| Value::I64(i64::from(v)),
    // Values above i64::MAX saturate: OpenTelemetry has no unsigned attribute type.
    u64 => |v| Value::I64(i64::try_from(v).unwrap_or(i64::MAX)),
    usize => |v| Value::I64(i64::try_from(v).unwrap_or(i64::MAX)),
    f64 => |v| Value::F64(v),
    f32 => |v| Value::F64(f64::from(v)),
    String => |v| Value::Str(Cow::Owned(v)),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(Cow::Borrowed(v.as_str()))
    }
}

impl<'a> From<Cow<'a, str>> for Value<'a> {
    fn from(v: Cow<'a, str>) -> Self {
        Value::Str(v)
    }
}

impl From<Vec<Value<'static>>> for Value<'_> {
    fn from(v: Vec<Value<'static>>) -> Self {
        Value::Array(Array::Owned(v))
    }
}

impl<'a> From<&'a [Value<'a>]> for Value<'a> {
    fn from(v: &'a [Value<'a>]) -> Self {
        Value::Array(Array::Borrowed(v))
    }
}

/// One attribute: a [`Key`] and its [`Value`].
///
/// ```
/// use hyperion::{kv, KeyValue};
/// // Static attributes cost nothing to build and can live in a const.
/// const ROUTE: KeyValue<'static> = KeyValue::from_static("http.route", "/users/{id}");
/// let id = String::from("42");
/// let attrs = [ROUTE, kv("user.id", id.as_str()), kv("retry", 2)];
/// assert_eq!(attrs[1].value.as_str(), Some("42"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue<'a> {
    /// The attribute's name.
    pub key: Key,
    /// The attribute's value.
    pub value: Value<'a>,
}

impl<'a> KeyValue<'a> {
    /// An attribute from any key and value.
    pub fn new(key: impl Into<Key>, value: impl Into<Value<'a>>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A string attribute known at compile time; usable in `const` items.
    pub const fn from_static(key: &'static str, value: &'static str) -> KeyValue<'static> {
        KeyValue {
            key: Key::from_static(key),
            value: Value::from_static_str(value),
        }
    }

    /// A copy of this attribute that borrows nothing.
    pub fn into_owned(self) -> KeyValue<'static> {
        KeyValue {
            key: self.key,
            value: self.value.into_owned(),
        }
    }
}

/// Builds a [`KeyValue`]: `kv("user.id", id)`.
///
/// ```
/// use hyperion::{kv, Value};
/// assert_eq!(kv("ok", true).value, Value::Bool(true));
/// ```
pub fn kv<'a>(key: impl Into<Key>, value: impl Into<Value<'a>>) -> KeyValue<'a> {
    KeyValue::new(key, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_keep_types() {
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(-3i32), Value::I64(-3));
        assert_eq!(Value::from(u64::MAX), Value::I64(i64::MAX));
        assert_eq!(Value::from(1.5f32), Value::F64(1.5));
        assert_eq!(Value::from(String::from("x")).as_str(), Some("x"));
    }

    #[test]
    fn borrowed_values_become_owned() {
        let s = String::from("user-1");
        let owned: KeyValue<'static> = kv("user.id", s.as_str()).into_owned();
        drop(s);
        assert_eq!(owned.key.as_str(), "user.id");
        assert_eq!(owned.value.as_str(), Some("user-1"));
    }

    #[test]
    fn static_strings_equal_other_strings() {
        assert_eq!(Value::from_static_str("a"), Value::from("a"));
        assert_eq!(Value::from("a"), Value::from_static_str("a"));
        assert_ne!(Value::from_static_str("a"), Value::from("b"));
        assert_eq!(Value::from_static_str("a").as_str(), Some("a"));
        assert_eq!(
            Value::from_static_str("a").into_owned(),
            Value::from(String::from("a"))
        );
        let borrowed = [Value::from(1)];
        assert_eq!(
            Value::from(&borrowed[..]),
            Value::from(vec![Value::from(1)])
        );
    }

    #[test]
    fn arrays_display_and_own() {
        let items = [Value::from(1), Value::from(2)];
        let v = Value::from(&items[..]).into_owned();
        assert_eq!(v.to_string(), "[1,2]");
    }
}
