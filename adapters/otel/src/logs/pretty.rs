//! Escaping for the pretty format: one readable line, never a terminal escape sequence.
//!
//! Control characters (C0, DEL and C1, which includes the ANSI introducers ESC and CSI) and
//! U+2028/U+2029 are written as Rust escapes (`\n`, `\t`, `\u{1b}`), so a message cannot break
//! the line or recolour the terminal.

use std::io::Write as _;

use hyperion::Value;

/// Whether `c` must be escaped in any pretty text.
fn is_unsafe(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Appends `c` as an escape.
fn push_escape(out: &mut Vec<u8>, c: char) {
    match c {
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        // `write!` into a Vec cannot fail.
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// Appends `text` with `is_special` characters escaped, copying runs in between.
fn escape_with(out: &mut Vec<u8>, text: &str, is_special: impl Fn(char) -> bool) {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if is_special(c) {
            out.extend_from_slice(&text.as_bytes()[start..i]);
            push_escape(out, c);
            start = i + c.len_utf8();
        }
    }
    out.extend_from_slice(&text.as_bytes()[start..]);
}

/// Appends free text (a message, a target, a key) with only control characters escaped; quotes
/// and backslashes stay as they are, for readability.
pub(super) fn escape_text(out: &mut Vec<u8>, text: &str) {
    escape_with(out, text, is_unsafe);
}

/// Appends a string value: bare when it is a single word, otherwise quoted with `"` and `\`
/// escaped too, so `key=value` pairs split unambiguously on spaces.
fn push_str(out: &mut Vec<u8>, text: &str, in_array: bool) {
    let bare = !text.is_empty()
        && !text.chars().any(|c| {
            is_unsafe(c)
                || c.is_whitespace()
                || matches!(c, '"' | '\\' | '=')
                || (in_array && matches!(c, ',' | '[' | ']'))
        });
    if bare {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.push(b'"');
        escape_with(out, text, |c| is_unsafe(c) || c == '"' || c == '\\');
        out.push(b'"');
    }
}

/// Appends an attribute value as people read it: `42`, `2.5`, `true`, `word`, `"two words"`,
/// `[1,2]`.
pub(super) fn push_value(out: &mut Vec<u8>, value: &Value<'_>, in_array: bool) {
    match value {
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::F64(x) => {
            let _ = write!(out, "{x:?}");
        }
        Value::Str(s) => push_str(out, s, in_array),
        Value::StaticStr(s) => push_str(out, s, in_array),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.as_slice().iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_value(out, item, true);
            }
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        let mut out = Vec::new();
        escape_text(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn value(v: &Value<'_>) -> String {
        let mut out = Vec::new();
        push_value(&mut out, v, false);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_stays_on_one_line_without_terminal_escapes() {
        assert_eq!(text("a\nb\tc"), r"a\nb\tc");
        assert_eq!(text("\u{1b}[31mred\u{1b}[0m"), r"\u{1b}[31mred\u{1b}[0m");
        assert_eq!(text("csi\u{9b}31m"), r"csi\u{9b}31m");
        assert_eq!(text("x\u{2028}y\u{7f}"), r"x\u{2028}y\u{7f}");
        assert_eq!(text(r#"say "hi" C:\x"#), r#"say "hi" C:\x"#);
        assert_eq!(text("bad \u{fffd} ok"), "bad \u{fffd} ok");
    }

    #[test]
    fn values_are_bare_words_or_quoted() {
        assert_eq!(value(&Value::from("42")), "42");
        assert_eq!(value(&Value::from("two words")), r#""two words""#);
        assert_eq!(value(&Value::from("")), r#""""#);
        assert_eq!(value(&Value::from("a=b")), r#""a=b""#);
        assert_eq!(value(&Value::from("q\"\\\n")), r#""q\"\\\n""#);
        assert_eq!(value(&Value::I64(-3)), "-3");
        assert_eq!(value(&Value::F64(2.0)), "2.0");
        assert_eq!(value(&Value::F64(f64::NAN)), "NaN");
        assert_eq!(value(&Value::Bool(true)), "true");
        assert_eq!(
            value(&Value::from(vec![Value::from("a"), Value::from("b,c")])),
            r#"[a,"b,c"]"#
        );
    }
}
