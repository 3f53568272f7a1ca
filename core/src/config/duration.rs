//! Durations in YAML and environment variables: `"5s"`, `"250ms"`, `"1.5s"`, `"1m30s"`, or a
//! bare integer of milliseconds (as the OpenTelemetry variables such as `OTEL_BSP_SCHEDULE_DELAY`
//! give them).
//!
//! A module's settings use it with serde's `with`:
//!
//! ```
//! use std::time::Duration;
//!
//! #[derive(serde::Deserialize)]
//! struct Settings {
//!     #[serde(with = "hyperion::config::duration")]
//!     flush_every: Duration,
//! }
//! assert_eq!(hyperion::config::duration::parse("1m30s"), Some(Duration::from_secs(90)));
//! assert_eq!(hyperion::config::duration::format(Duration::from_millis(1500)), "1500ms");
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserializer, Serializer};

/// What a duration key accepts, as error messages say it.
pub const EXPECTED: &str = "a non-negative duration such as \"5s\", \"250ms\", \"1.5s\", \
                            \"1m\" or \"2h\", or an integer number of milliseconds";

/// Parses `"5s"`, `"250ms"`, `"1.5s"`, `"1m30s"`, ... (units `ns`, `us`, `µs`, `ms`, `s`, `m`,
/// `h`), or a bare integer as milliseconds. `None` for anything else, negatives included.
pub fn parse(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u128); 7] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().ok().map(Duration::from_millis);
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut rest = text;
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c| !is_number(c)).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after.find(is_number).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let (_, unit_nanos) = UNITS.iter().find(|(name, _)| *name == unit)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        nanos = nanos.checked_add(whole.checked_mul(*unit_nanos)?)?;
        // Digits past the 18th cannot matter at nanosecond precision for any unit here.
        let fraction = &fraction[..fraction.len().min(18)];
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().ok()?;
            let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
            nanos = nanos.checked_add(digits * unit_nanos / scale)?;
        }
        rest = next;
    }
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// Writes a duration in the largest unit that represents it exactly: `"5s"`, `"250ms"`,
/// `"1500ms"`, `"2h"`, `"0s"`.
pub fn format(duration: Duration) -> String {
    const UNITS: [(&str, u128); 5] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ];
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in UNITS {
        if nanos / size * size == nanos {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// Writes a duration as [`format()`] does.
pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*value))
}

/// Reads a duration as [`parse()`] does; an integer is milliseconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(millis))
    }

    fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Duration, E> {
        u64::try_from(millis)
            .map(Duration::from_millis)
            .map_err(|_| E::invalid_value(Unexpected::Signed(millis), &self))
    }

    fn visit_u128<E: de::Error>(self, millis: u128) -> Result<Duration, E> {
        u64::try_from(millis)
            .map(Duration::from_millis)
            .map_err(|_| E::invalid_value(Unexpected::Other(&millis.to_string()), &self))
    }

    fn visit_i128<E: de::Error>(self, millis: i128) -> Result<Duration, E> {
        u64::try_from(millis)
            .map(Duration::from_millis)
            .map_err(|_| E::invalid_value(Unexpected::Other(&millis.to_string()), &self))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
        Err(E::invalid_value(Unexpected::Float(value), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
    }
}
