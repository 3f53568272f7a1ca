//! W3C Trace Context headers: `traceparent` parsed and written by hand (no intermediate strings
//! for the ids), and `tracestate` read into a [`TraceState`] through its parser. See the
//! [module documentation](crate::propagation) for how malformed input is treated.

use super::{
    Extractor, Injector, PropagationLimits, TRACEPARENT_HEADER, TRACESTATE_HEADER, nibble_table,
    trim_ows,
};
use crate::trace::{
    SpanContext, SpanId, TraceFlags, TraceId, TraceState, TraceStateParser, decode_hex_id,
    encode_hex_id,
};

/// The trace flags W3C Trace Context defines (`sampled`, `random-trace-id`); the rest are reserved.
const KNOWN_FLAGS: u8 = 0x03;

/// Lower-case hex digits, for writing the trace flags.
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
/// Lower-case hex only, as Trace Context requires.
static NIBBLE_LOWER: [u8; 256] = nibble_table(false);

/// Optional whitespace (RFC 7230 `OWS`): space and horizontal tab.
#[inline]
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Decodes two lower-case hex digits.
#[inline]
fn decode_hex2(text: [u8; 2]) -> Option<u8> {
    let high = NIBBLE_LOWER[usize::from(text[0])];
    let low = NIBBLE_LOWER[usize::from(text[1])];
    ((high | low) & 0xf0 == 0).then_some((high << 4) | low)
}

/// Parses a `traceparent` value (see the module documentation for the rules).
#[inline]
fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let mut bytes = value.as_bytes();
    // Trim OWS around the value only when there is some, to keep the common path short.
    if bytes.first().is_some_and(|&b| is_ows(b)) || bytes.last().is_some_and(|&b| is_ows(b)) {
        bytes = trim_ows(value).as_bytes();
    }
    let (head, rest): (&[u8; 55], &[u8]) = bytes.split_first_chunk::<55>()?;
    let version = decode_hex2([head[0], head[1]])?;
    if version == 0xff {
        return None;
    }
    // Version 00 has exactly four fields; a later version may add fields after a dash.
    if !rest.is_empty() && (version == 0 || rest[0] != b'-') {
        return None;
    }
    if head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
        return None;
    }
    let trace_id = TraceId::from_bytes(decode_hex_id::<16>(&head[3..35])?);
    let span_id = SpanId::from_bytes(decode_hex_id::<8>(&head[36..52])?);
    let flags = decode_hex2([head[53], head[54]])?;
    if !trace_id.is_valid() || !span_id.is_valid() {
        return None;
    }
    Some((trace_id, span_id, TraceFlags::new(flags & KNOWN_FLAGS)))
}

/// Writes the span context as `traceparent` (version `00`) and, when it is not empty,
/// `tracestate`. Writes nothing for an invalid span context. Reserved trace flags (all but
/// `sampled` and `random-trace-id`) are written as zero.
///
/// ```
/// use std::collections::HashMap;
/// use hyperion::propagation::inject_trace_context;
/// use hyperion::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
///
/// let state = TraceState::EMPTY.insert("congo", "t61rcWkgMzE").unwrap();
/// let sc = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     false,
///     state,
/// );
/// let mut headers: HashMap<String, String> = HashMap::new();
/// inject_trace_context(&sc, &mut headers);
/// assert_eq!(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(headers["tracestate"], "congo=t61rcWkgMzE");
///
/// let mut none: HashMap<String, String> = HashMap::new();
/// inject_trace_context(&SpanContext::INVALID, &mut none);
/// assert!(none.is_empty());
/// ```
#[inline]
pub fn inject_trace_context(span: &SpanContext, carrier: &mut dyn Injector) {
    if !span.is_valid() {
        return;
    }
    let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
    encode_hex_id(&span.trace_id().to_bytes(), &mut buf[3..35]);
    encode_hex_id(&span.span_id().to_bytes(), &mut buf[36..52]);
    let flags = span.trace_flags().to_u8() & KNOWN_FLAGS;
    buf[53] = HEX_LOWER[usize::from(flags >> 4)];
    buf[54] = HEX_LOWER[usize::from(flags & 0x0f)];
    if let Ok(traceparent) = std::str::from_utf8(&buf) {
        carrier.set(TRACEPARENT_HEADER, traceparent);
    }
    let state = span.trace_state();
    if !state.is_empty() {
        carrier.set(TRACESTATE_HEADER, state.header());
    }
}

/// Reads `traceparent` and `tracestate` into a remote span context.
///
/// Returns `None` when `traceparent` is missing, repeated or invalid. An invalid `tracestate` is
/// dropped and the `traceparent` still used. See the module documentation for the rules.
///
/// ```
/// use http::HeaderMap;
/// use hyperion::propagation::{extract_trace_context, PropagationLimits};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// headers.insert("tracestate", "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".parse().unwrap());
/// let sc = extract_trace_context(&headers, &PropagationLimits::DEFAULT).unwrap();
/// assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(sc.is_remote() && sc.is_sampled());
/// assert_eq!(sc.trace_state().get("congo"), Some("t61rcWkgMzE"));
///
/// headers.insert("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".parse().unwrap());
/// assert!(extract_trace_context(&headers, &PropagationLimits::DEFAULT).is_none());
/// ```
#[inline]
pub fn extract_trace_context(
    carrier: &dyn Extractor,
    limits: &PropagationLimits,
) -> Option<SpanContext> {
    let mut parsed = None;
    let mut count = 0usize;
    carrier.get_all(TRACEPARENT_HEADER, &mut |value| {
        count += 1;
        if count == 1 {
            parsed = parse_traceparent(value);
        }
    });
    if count != 1 {
        return None;
    }
    let (trace_id, span_id, flags) = parsed?;
    let state = extract_trace_state(carrier, limits.max_tracestate_members);
    Some(SpanContext::new(trace_id, span_id, flags, true, state))
}

#[inline]
fn extract_trace_state(carrier: &dyn Extractor, max_members: usize) -> TraceState {
    let mut parser = None;
    carrier.get_all(TRACESTATE_HEADER, &mut |value| {
        parser
            .get_or_insert_with(|| TraceStateParser::new(max_members))
            .push(value);
    });
    match parser {
        None => TraceState::EMPTY,
        Some(parser) => parser.finish().unwrap_or(TraceState::EMPTY),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::propagation::test_support::{L, TP, map, span};

    fn tp(value: &str) -> Option<SpanContext> {
        extract_trace_context(&map(&[("traceparent", value)]), &L)
    }

    fn ts(traceparent: &str, tracestate: &str) -> TraceState {
        extract_trace_context(
            &map(&[("traceparent", traceparent), ("tracestate", tracestate)]),
            &L,
        )
        .map(|sc| sc.trace_state().clone())
        .unwrap_or_default()
    }

    // ----- traceparent -------------------------------------------------------------------

    #[test]
    fn traceparent_valid_version_00_is_remote() {
        let sc = tp(TP).unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled());
        assert!(sc.is_remote());
        assert!(sc.trace_state().is_empty());
        assert!(
            !tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .unwrap()
                .is_sampled()
        );
    }

    #[test]
    fn traceparent_missing_is_none() {
        assert!(extract_trace_context(&map(&[]), &L).is_none());
        assert!(tp("").is_none());
    }

    #[test]
    fn traceparent_wrong_length_rejected() {
        assert!(tp(&TP[..54]).is_none());
        assert!(tp(&format!("{TP}0")).is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1").is_none());
    }

    #[test]
    fn traceparent_bad_hex_rejected() {
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01").is_none());
        assert!(tp("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0.").is_none());
    }

    #[test]
    fn traceparent_upper_case_hex_rejected() {
        assert!(tp("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A").is_none());
        assert!(tp("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
    }

    #[test]
    fn traceparent_all_zero_trace_id_rejected() {
        assert!(tp("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
    }

    #[test]
    fn traceparent_all_zero_parent_id_rejected() {
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").is_none());
    }

    #[test]
    fn traceparent_version_ff_rejected() {
        assert!(tp("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
        assert!(tp("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_none());
    }

    #[test]
    fn traceparent_version_00_with_trailing_data_rejected() {
        assert!(tp(&format!("{TP}-extra")).is_none());
        assert!(tp(&format!("{TP}-")).is_none());
        assert!(tp(&format!("{TP}extra")).is_none());
    }

    #[test]
    fn traceparent_future_version_with_extra_fields_accepted() {
        let sc =
            tp("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")
                .unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(sc.is_sampled());
        assert!(tp("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_some());
        assert!(tp("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-").is_some());
        // Re-injected in version 00, without the unknown fields.
        let mut out = HashMap::new();
        inject_trace_context(&sc, &mut out);
        assert_eq!(out["traceparent"], TP);
    }

    #[test]
    fn traceparent_future_version_trailing_data_without_dash_rejected() {
        assert!(tp("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what").is_none());
        assert!(tp("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011").is_none());
        // Shorter than 55 characters is never parsed.
        assert!(tp("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1").is_none());
    }

    #[test]
    fn traceparent_bad_flags_rejected() {
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-  ").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7--1").is_none());
    }

    #[test]
    fn traceparent_wrong_delimiters_rejected() {
        assert!(tp("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01").is_none());
        assert!(
            tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .replace('-', " ")
                .as_str())
            .is_none()
        );
    }

    #[test]
    fn traceparent_surrounding_ows_trimmed_inner_ows_rejected() {
        for v in [
            format!(" {TP}"),
            format!("\t{TP}"),
            format!("{TP} "),
            format!("{TP}\t"),
            format!("\t {TP} \t"),
        ] {
            assert!(tp(&v).is_some(), "{v:?}");
        }
        assert!(tp("00- 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736 -00f067aa0ba902b7-01").is_none());
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7- 01").is_none());
        assert!(tp(&format!("{TP}\n")).is_none());
    }

    #[test]
    fn traceparent_reserved_flags_cleared_sampled_kept() {
        let sc = tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff").unwrap();
        assert_eq!(sc.trace_flags().to_u8(), 0x03);
        assert!(sc.is_sampled());
        let sc = tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-08").unwrap();
        assert_eq!(sc.trace_flags().to_u8(), 0x00);
        assert!(!sc.is_sampled());
        let sc = tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09").unwrap();
        assert_eq!(sc.trace_flags().to_u8(), 0x01);
        // Inject writes reserved bits as zero too.
        let mut out = HashMap::new();
        inject_trace_context(&span(0xfd, TraceState::EMPTY), &mut out);
        assert!(out["traceparent"].ends_with("-01"));
    }

    #[test]
    fn traceparent_duplicate_headers_rejected() {
        let mut headers = http::HeaderMap::new();
        headers.append("traceparent", TP.parse().unwrap());
        assert!(extract_trace_context(&headers, &L).is_some());
        headers.append("traceparent", TP.parse().unwrap());
        assert!(extract_trace_context(&headers, &L).is_none());
    }

    #[test]
    fn inject_skips_invalid_span_context() {
        let mut out: HashMap<String, String> = HashMap::new();
        inject_trace_context(&SpanContext::INVALID, &mut out);
        let no_span = SpanContext::new(
            TraceId::from_bytes([1; 16]),
            SpanId::INVALID,
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY.insert("a", "b").unwrap(),
        );
        inject_trace_context(&no_span, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn inject_writes_version_00_and_tracestate_when_present() {
        let mut out = HashMap::new();
        inject_trace_context(&span(1, TraceState::EMPTY), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out["traceparent"], TP);
        let state = TraceState::from_header("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 32).unwrap();
        inject_trace_context(&span(0, state), &mut out);
        assert_eq!(
            out["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
        assert_eq!(out["tracestate"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    }

    // ----- tracestate --------------------------------------------------------------------

    #[test]
    fn tracestate_ows_and_empty_members_skipped() {
        let s = ts(TP, " ,rojo=00f067aa0ba902b7 ,\t, congo=t61rcWkgMzE\t,,");
        assert_eq!(s.header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(s.len(), 2);
        assert!(ts(TP, "").is_empty());
        assert!(ts(TP, " , ,\t").is_empty());
        // Leading spaces of a value are part of it; trailing ones are OWS.
        assert_eq!(ts(TP, "a= x  ").get("a"), Some(" x"));
    }

    #[test]
    fn tracestate_simple_key_rules() {
        for key in ["a", "z0_-*/", "abc", &format!("a{}", "b".repeat(255))] {
            assert_eq!(ts(TP, &format!("{key}=v")).get(key), Some("v"), "{key}");
        }
        for key in ["0a", "9", "a@", "0@0"] {
            assert_eq!(ts(TP, &format!("{key}=v")).get(key), Some("v"), "{key}");
        }
        for key in [
            "A",
            "_a",
            "@a",
            "a.b",
            "a b",
            "aB",
            &format!("a{}", "b".repeat(256)),
            "",
        ] {
            assert!(ts(TP, &format!("{key}=v")).is_empty(), "{key}");
        }
    }

    #[test]
    fn tracestate_level_2_keys_with_at_signs() {
        // Level 2: `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, `@` a keychar like any other.
        let tenant_241 = "t".repeat(241);
        let system_15 = "s".repeat(15);
        let longest = format!("k{}", "@".repeat(255));
        for key in [
            "a@b",
            "0@b",
            "0t_-*/@s0_-*/",
            "foo@",
            "foo@@bar",
            "a@0",
            "a@b@c",
            &format!("{tenant_241}@s"),
            &format!("t@{system_15}"),
            &longest,
        ] {
            assert_eq!(ts(TP, &format!("{key}=v")).get(key), Some("v"), "{key}");
        }
        // Forwarded as received.
        let header = format!("foo@=1,{tenant_241}@s=2,t@{system_15}=3");
        assert_eq!(ts(TP, &header).header(), header);
        for key in ["@b", "A@b", "a@B", "a @b", &format!("{longest}@")] {
            assert!(ts(TP, &format!("{key}=v")).is_empty(), "{key}");
        }
    }

    #[test]
    fn tracestate_value_rules() {
        let max = "v".repeat(256);
        for value in ["v", "!~ x", " x", "a\"b", &max] {
            assert_eq!(
                ts(TP, &format!("k={value}")).get("k"),
                Some(value),
                "{value:?}"
            );
        }
        for value in ["", "a=b", "x\u{7f}", "é", "a\tb", &format!("{max}v")] {
            assert!(ts(TP, &format!("k={value}")).is_empty(), "{value:?}");
        }
        // A comma ends the value, so the rest is a member without `=`.
        assert!(ts(TP, "k=a,b").is_empty());
    }

    #[test]
    fn tracestate_more_than_32_members_dropped() {
        let members = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(ts(TP, &members(32)).len(), 32);
        assert!(ts(TP, &members(33)).is_empty());
        // Empty members do not count.
        assert_eq!(ts(TP, &format!("{},,,", members(32))).len(), 32);
    }

    #[test]
    fn tracestate_member_limit_from_limits() {
        let limits = PropagationLimits {
            max_tracestate_members: 2,
            ..L
        };
        let c = map(&[("traceparent", TP), ("tracestate", "a=1,b=2,c=3")]);
        assert!(
            extract_trace_context(&c, &limits)
                .unwrap()
                .trace_state()
                .is_empty()
        );
        let c = map(&[("traceparent", TP), ("tracestate", "a=1,b=2")]);
        assert_eq!(
            extract_trace_context(&c, &limits)
                .unwrap()
                .trace_state()
                .len(),
            2
        );
    }

    #[test]
    fn tracestate_duplicate_keys_keep_the_first_and_lose_nothing_else() {
        assert_eq!(ts(TP, "foo=1,foo=2,bar=3").header(), "foo=1,bar=3");
        assert_eq!(ts(TP, "a=1,b=2,a=3").header(), "a=1,b=2");
        assert_eq!(
            TraceState::from_header("a=1,a=1", 32).unwrap().header(),
            "a=1"
        );
        // A dropped duplicate does not count against the member limit.
        let members: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let header = format!("{},k0=again", members.join(","));
        assert_eq!(ts(TP, &header).len(), 32);
        // ... but a header cannot make the parser look at duplicates without end: past twice
        // the limit in list-members, it is discarded.
        let header = format!("{},{}", members.join(","), vec!["k0=again"; 33].join(","));
        assert!(ts(TP, &header).is_empty());
        // An invalid member still invalidates the header, duplicate or not.
        assert!(ts(TP, "a=1,A=2,a=3").is_empty());
    }

    #[test]
    fn tracestate_member_without_equals_dropped() {
        assert!(ts(TP, "a=1,b").is_empty());
        assert!(TraceState::from_header("novalue", 32).is_none());
    }

    #[test]
    fn tracestate_invalid_keeps_traceparent() {
        let sc =
            extract_trace_context(&map(&[("traceparent", TP), ("tracestate", "A=1")]), &L).unwrap();
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.trace_state().is_empty());
    }

    #[test]
    fn tracestate_ignored_without_valid_traceparent() {
        let c = map(&[("traceparent", "garbage"), ("tracestate", "a=1")]);
        assert!(extract_trace_context(&c, &L).is_none());
        let c = map(&[("tracestate", "a=1")]);
        assert!(extract_trace_context(&c, &L).is_none());
    }

    #[test]
    fn tracestate_multiple_headers_combined() {
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", TP.parse().unwrap());
        h.append("tracestate", "a=1, b=2".parse().unwrap());
        h.append("tracestate", "".parse().unwrap());
        h.append("tracestate", "c=3".parse().unwrap());
        let sc = extract_trace_context(&h, &L).unwrap();
        assert_eq!(sc.trace_state().header(), "a=1,b=2,c=3");
        // The combined list is checked as one: a duplicate across headers keeps the first.
        h.append("tracestate", "a=4,d=5".parse().unwrap());
        assert_eq!(
            extract_trace_context(&h, &L)
                .unwrap()
                .trace_state()
                .header(),
            "a=1,b=2,c=3,d=5"
        );
    }
}
