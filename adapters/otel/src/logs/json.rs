//! JSON encoding for log lines, by hand.
//!
//! Why not `serde_json`: it is only an optional dependency (behind the `zipkin` feature), and a
//! log line needs only two things from it, string escaping and number formatting, both small.
//! Written here they run on the hot path straight into the line buffer (no `Serializer`, no
//! intermediate `String`, no `Value` tree), and they escape U+2028 and U+2029, which
//! `serde_json` leaves raw although JavaScript tooling reading the lines treats them as line
//! breaks.
//!
//! Input is always `&str`, so always valid UTF-8: text that came from bytes elsewhere (HTTP
//! headers, `tracing` fields, OTLP) has already been converted lossily, invalid sequences
//! becoming U+FFFD, which is written as it is.

use std::fmt;
use std::io::Write as _;

use hyperion::Value;

/// Bytes that cannot be copied as they are: control characters, `"`, `\`, and 0xE2, the first
/// byte of U+2028 and U+2029 (checked further when met).
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0xE2] = true;
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `text` escaped as the inside of a JSON string (no surrounding quotes).
///
/// `"` and `\` are backslash-escaped; newline, carriage return, tab, backspace and form feed use
/// their short escapes; the other characters below U+0020 become `\u00XX`; U+2028 and U+2029
/// become `\u2028` and `\u2029`. Everything else is copied, runs at a time.
pub(super) fn escape_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !SPECIAL[b as usize] {
            i += 1;
            continue;
        }
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0xE2 => match bytes.get(i + 1..i + 3) {
                Some([0x80, 0xA8]) => b"\\u2028",
                Some([0x80, 0xA9]) => b"\\u2029",
                // Another character starting with 0xE2: copied with the run.
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xF)]);
                i += 1;
                start = i;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        // U+2028 and U+2029 are three bytes; every other special is one.
        i += if b == 0xE2 { 3 } else { 1 };
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `text` as a quoted JSON string.
pub(super) fn push_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    escape_str(out, text);
    out.push(b'"');
}

/// A [`fmt::Write`] that appends what is written through an escaping function, so that a
/// message's `fmt::Arguments` is formatted and escaped in one pass, without a `String`.
pub(super) struct Escaping<'a> {
    /// Where the escaped text goes.
    pub(super) out: &'a mut Vec<u8>,
    /// How a piece is escaped (JSON or pretty).
    pub(super) escape: fn(&mut Vec<u8>, &str),
}

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, piece: &str) -> fmt::Result {
        // `write_str` always gets whole characters, so U+2028 is never split across calls.
        (self.escape)(self.out, piece);
        Ok(())
    }
}

/// Appends a formatted message through `escape`. A literal message is escaped without running
/// the formatting machinery ([`fmt::Arguments::as_str`]).
pub(super) fn push_message(
    out: &mut Vec<u8>,
    message: &fmt::Arguments<'_>,
    escape: fn(&mut Vec<u8>, &str),
) {
    match message.as_str() {
        Some(text) => escape(out, text),
        None => {
            // A `Display` impl that returns an error leaves what it wrote so far; the line is
            // still complete and valid.
            let _ = fmt::write(&mut Escaping { out, escape }, *message);
        }
    }
}

/// Appends an attribute value with its JSON type: booleans, integers and finite floats as JSON
/// literals, NaN and infinities as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, strings
/// escaped, arrays as arrays.
pub(super) fn push_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // `write!` into a Vec cannot fail.
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::F64(x) => push_f64(out, *x),
        Value::Str(s) => push_str(out, s),
        Value::StaticStr(s) => push_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.as_slice().iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_value(out, item);
            }
            out.push(b']');
        }
    }
}

/// Appends a float: finite ones as JSON numbers that keep a fraction or exponent (`2.0`,
/// `1e300`, `-0.0`), the others as strings, which JSON numbers cannot express.
fn push_f64(out: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        // `Debug` prints the shortest text that reads back as `x`, always with a `.` or an
        // exponent (`1e-7`), which is valid JSON; `Display` would print 1e300 as 301 digits.
        let _ = write!(out, "{x:?}");
    } else if x.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if x > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperion::Array;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    fn parses_back(text: &str) {
        let json = escaped(text);
        let back: String = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(back, text, "{json}");
    }

    #[test]
    fn quotes_backslashes_and_short_escapes() {
        assert_eq!(escaped(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(escaped(r"C:\dir\"), r#""C:\\dir\\""#);
        assert_eq!(escaped("a\nb\r\nc"), r#""a\nb\r\nc""#);
        assert_eq!(escaped("a\tb"), r#""a\tb""#);
        assert_eq!(escaped("\u{8}\u{c}"), r#""\b\f""#);
        assert_eq!(escaped(""), r#""""#);
        assert_eq!(escaped("plain text"), r#""plain text""#);
    }

    #[test]
    fn every_control_character_is_escaped_and_parses_back() {
        for b in 0u8..0x20 {
            let text = format!("x{}y", char::from(b));
            let json = escaped(&text);
            assert!(
                json.bytes().all(|c| c >= 0x20),
                "raw control {b:#04x} in {json:?}"
            );
            if !matches!(b, b'\n' | b'\r' | b'\t' | 0x08 | 0x0C) {
                assert_eq!(json, format!("\"x\\u{b:04x}y\""));
            }
            parses_back(&text);
        }
        let all: String = (0u8..0x20).map(char::from).collect();
        parses_back(&all);
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        assert_eq!(escaped("a\u{2028}b\u{2029}c"), r#""a\u2028b\u2029c""#);
        parses_back("\u{2028}\u{2029}\u{2028}");
        // Other characters starting with byte 0xE2 are copied: € (E2 82 AC), ‧ (E2 80 A7).
        assert_eq!(escaped("€‧\u{202a}"), "\"€‧\u{202a}\"");
    }

    #[test]
    fn replacement_characters_and_other_unicode_are_copied() {
        // What lossily converted invalid UTF-8 looks like.
        let lossy = String::from_utf8_lossy(b"bad \xff\xfe bytes \xc3");
        assert_eq!(lossy, "bad \u{fffd}\u{fffd} bytes \u{fffd}");
        assert_eq!(escaped(&lossy), format!("\"{lossy}\""));
        parses_back(&lossy);
        parses_back("日本語 🦀 é \u{7f} \u{85}");
    }

    #[test]
    fn formatted_messages_are_escaped_piecewise() {
        let mut out = Vec::new();
        let name = "a\"b\u{2028}";
        push_message(&mut out, &format_args!("x={name}\n{}", 1), escape_str);
        assert_eq!(String::from_utf8(out).unwrap(), r#"x=a\"b\u2028\n1"#);
        let mut out = Vec::new();
        push_message(&mut out, &format_args!("literal \"quoted\""), escape_str);
        assert_eq!(String::from_utf8(out).unwrap(), r#"literal \"quoted\""#);
    }

    #[test]
    fn values_keep_their_json_types() {
        let nested = [Value::from(1), Value::from("two")];
        let cases: Vec<(Value<'_>, &str)> = vec![
            (Value::Bool(true), "true"),
            (Value::Bool(false), "false"),
            (Value::I64(-42), "-42"),
            (Value::I64(i64::MIN), "-9223372036854775808"),
            (Value::F64(2.0), "2.0"),
            (Value::F64(-0.5), "-0.5"),
            (Value::F64(1e300), "1e300"),
            (Value::F64(1e-7), "1e-7"),
            (Value::F64(f64::NAN), r#""NaN""#),
            (Value::F64(f64::INFINITY), r#""Infinity""#),
            (Value::F64(f64::NEG_INFINITY), r#""-Infinity""#),
            (Value::from("a\"b"), r#""a\"b""#),
            (Value::from_static_str("static"), r#""static""#),
            (Value::Array(Array::Borrowed(&nested)), r#"[1,"two"]"#),
            (
                Value::from(vec![Value::F64(0.25), Value::F64(f64::NAN)]),
                r#"[0.25,"NaN"]"#,
            ),
            (Value::Array(Array::Owned(Vec::new())), "[]"),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            push_value(&mut out, &value);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text, expected, "{value:?}");
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    }
}
