//! Trace and span ids: fixed-size byte arrays with their lower-case hex form.

use std::fmt;
use std::str::FromStr;

/// A 16-byte trace id; shown and parsed as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id; shown and parsed as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub [u8; 8]);

/// Why a text is not a trace or span id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {what}: expected {digits} hex digits (0-9, a-f), not all zero")]
pub struct IdError {
    text: String,
    what: &'static str,
    digits: usize,
}

impl TraceId {
    /// The id from OTLP bytes: `None` unless exactly 16 bytes, not all zero (the invalid id).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let id: [u8; 16] = bytes.try_into().ok()?;
        (id != [0; 16]).then_some(TraceId(id))
    }
}

impl SpanId {
    /// The id from OTLP bytes: `None` unless exactly 8 bytes, not all zero (the invalid id).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let id: [u8; 8] = bytes.try_into().ok()?;
        (id != [0; 8]).then_some(SpanId(id))
    }
}

fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn parse_hex<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], IdError> {
    let error = || IdError {
        text: text.chars().take(80).collect(),
        what,
        digits: N * 2,
    };
    let digits = text.trim().as_bytes();
    if digits.len() != N * 2 {
        return Err(error());
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or_else(error)?;
        let lo = (pair[1] as char).to_digit(16).ok_or_else(error)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    if out == [0; N] {
        return Err(error());
    }
    Ok(out)
}

impl FromStr for TraceId {
    type Err = IdError;

    /// 32 hex digits, either case, surrounding white space ignored.
    fn from_str(text: &str) -> Result<Self, IdError> {
        parse_hex::<16>(text, "trace id").map(TraceId)
    }
}

impl FromStr for SpanId {
    type Err = IdError;

    /// 16 hex digits, either case, surrounding white space ignored.
    fn from_str(text: &str) -> Result<Self, IdError> {
        parse_hex::<8>(text, "span id").map(SpanId)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl serde::Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl serde::Serialize for SpanId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_text() {
        let id: TraceId = " 4BF92F3577B34DA6A3CE929D0E0E4736 ".parse().unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let span: SpanId = "00f067aa0ba902b7".parse().unwrap();
        assert_eq!(span.to_string(), "00f067aa0ba902b7");
        for bad in [
            "",
            "xyz",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "00000000000000000000000000000000",
        ] {
            let e = bad.parse::<TraceId>().unwrap_err();
            assert!(e.to_string().contains("32 hex digits"), "{e}");
        }
        assert!("g0f067aa0ba902b7".parse::<SpanId>().is_err());
        assert_eq!(TraceId::from_bytes(&[0; 16]), None);
        assert_eq!(SpanId::from_bytes(&[1; 7]), None);
        assert_eq!(SpanId::from_bytes(&[1; 8]), Some(SpanId([1; 8])));
    }
}
