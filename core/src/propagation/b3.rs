//! B3 (Zipkin) headers, single (`b3`) and multiple (`X-B3-*`), written and read by hand as the
//! [B3 specification](https://github.com/openzipkin/b3-propagation) and the OpenTelemetry
//! specification's "B3 Requirements" say:
//!
//! - **Extract** tries the single header first and falls back to the multiple headers when it
//!   is absent or invalid. Ids are lower-case hex: a trace id of 32 digits, or of 16 (a 64-bit
//!   id, left-padded with zeros to 128 bits), a span id of 16; all-zero ids are invalid. The
//!   sampling state is `1` (accept), `0` (deny), `d` (debug, which implies accept) or absent
//!   (defer, read as not sampled, as the OpenTelemetry SDKs do); the multiple headers' lenient
//!   `true`/`false` are accepted, and `X-B3-Flags: 1` is debug. A parent span id is checked
//!   when present and otherwise ignored: the extracted span is the remote parent, and its id is
//!   never reused for a server-side span. A `b3` holding only a sampling state carries no trace
//!   to continue, so it extracts nothing. Surrounding spaces and tabs are trimmed; anything
//!   else malformed makes that encoding invalid, and no input panics.
//! - **Inject** writes the trace id (32 digits), the span id and the sampling state (`d` when
//!   the trace came in with the debug flag), and never `X-B3-ParentSpanId`.
//!
//! B3 carries no `tracestate` and no baggage: configure `baggage` beside it for those.

use super::{Extractor, Injector, trim_ows};
use crate::trace::{
    SpanContext, SpanId, TraceFlags, TraceId, TraceState, decode_hex_id, encode_hex_id,
};

/// The single B3 header.
pub const B3_HEADER: &str = "b3";
/// The multiple-header encoding's trace id header (lower case, as header names are looked up).
pub const B3_TRACE_ID_HEADER: &str = "x-b3-traceid";
/// The multiple-header encoding's span id header.
pub const B3_SPAN_ID_HEADER: &str = "x-b3-spanid";
/// The multiple-header encoding's parent span id header (read, never written).
pub const B3_PARENT_SPAN_ID_HEADER: &str = "x-b3-parentspanid";
/// The multiple-header encoding's sampling state header.
pub const B3_SAMPLED_HEADER: &str = "x-b3-sampled";
/// The multiple-header encoding's flags header (`1`: debug).
pub const B3_FLAGS_HEADER: &str = "x-b3-flags";

/// A B3 sampling state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sampling {
    Defer,
    Deny,
    Accept,
    Debug,
}

impl Sampling {
    fn flags(self) -> TraceFlags {
        match self {
            Sampling::Accept | Sampling::Debug => TraceFlags::SAMPLED,
            Sampling::Defer | Sampling::Deny => TraceFlags::NOT_SAMPLED,
        }
    }
}

/// A span context read from B3 headers, with the debug flag, which has no place among the
/// trace flags.
#[derive(Clone, Debug, PartialEq)]
pub struct B3Extracted {
    /// The remote parent: sampled for `1` and `d`, not sampled for `0` and a deferred decision.
    pub span: SpanContext,
    /// Whether the caller set the debug flag (`d`, `X-B3-Flags: 1`), which is to be passed on.
    pub debug: bool,
}

/// Reads a B3 trace context: the `b3` header, else the `X-B3-*` headers.
///
/// ```
/// use std::collections::HashMap;
/// use hyperion::propagation::extract_b3;
///
/// let headers = HashMap::from([(
///     "b3".to_string(),
///     "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d-05e3ac9a4f6e3b90".to_string(),
/// )]);
/// let b3 = extract_b3(&headers).unwrap();
/// assert_eq!(b3.span.trace_id().to_string(), "80f198ee56343ba864fe8b2a57d3eff7");
/// assert_eq!(b3.span.span_id().to_string(), "e457b5a2e4d86bd1");
/// assert!(b3.span.is_sampled() && b3.span.is_remote() && b3.debug);
///
/// let multi = HashMap::from([
///     ("x-b3-traceid".to_string(), "64fe8b2a57d3eff7".to_string()),
///     ("x-b3-spanid".to_string(), "e457b5a2e4d86bd1".to_string()),
///     ("x-b3-sampled".to_string(), "0".to_string()),
/// ]);
/// let b3 = extract_b3(&multi).unwrap();
/// assert_eq!(b3.span.trace_id().to_string(), "000000000000000064fe8b2a57d3eff7");
/// assert!(!b3.span.is_sampled());
/// ```
pub fn extract_b3(carrier: &dyn Extractor) -> Option<B3Extracted> {
    let single = first(carrier, B3_HEADER).and_then(parse_single);
    single.or_else(|| extract_multi(carrier))
}

/// The first value of a header, if any.
fn first<'a>(carrier: &'a dyn Extractor, name: &str) -> Option<&'a str> {
    carrier.get(name)
}

fn parse_single(value: &str) -> Option<B3Extracted> {
    let value = trim_ows(value);
    let mut fields = value.split('-');
    let trace = fields.next()?;
    let span = fields.next()?; // a sampling state alone carries no trace to continue
    let sampling = match fields.next() {
        None => Sampling::Defer,
        Some("1") => Sampling::Accept,
        Some("0") => Sampling::Deny,
        Some("d") => Sampling::Debug,
        Some(_) => return None,
    };
    if let Some(parent) = fields.next() {
        SpanId::from_bytes(decode_hex_id::<8>(parent.as_bytes())?)
            .is_valid()
            .then_some(())?;
    }
    if fields.next().is_some() {
        return None;
    }
    build(trace, span, sampling)
}

fn extract_multi(carrier: &dyn Extractor) -> Option<B3Extracted> {
    let trace = trim_ows(first(carrier, B3_TRACE_ID_HEADER)?);
    let span = trim_ows(first(carrier, B3_SPAN_ID_HEADER)?);
    if let Some(parent) = first(carrier, B3_PARENT_SPAN_ID_HEADER) {
        SpanId::from_bytes(decode_hex_id::<8>(trim_ows(parent).as_bytes())?)
            .is_valid()
            .then_some(())?;
    }
    let debug = match first(carrier, B3_FLAGS_HEADER).map(trim_ows) {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return None,
    };
    let sampling = match first(carrier, B3_SAMPLED_HEADER).map(trim_ows) {
        _ if debug => Sampling::Debug,
        None => Sampling::Defer,
        // `true`/`false`: written by tracers older than the specification, which allows a
        // lenient reader to accept them.
        Some("1" | "true") => Sampling::Accept,
        Some("0" | "false") => Sampling::Deny,
        Some(_) => return None,
    };
    build(trace, span, sampling)
}

fn build(trace: &str, span: &str, sampling: Sampling) -> Option<B3Extracted> {
    let trace_id = match trace.len() {
        32 => TraceId::from_bytes(decode_hex_id::<16>(trace.as_bytes())?),
        16 => {
            let low = decode_hex_id::<8>(trace.as_bytes())?;
            let mut bytes = [0u8; 16];
            bytes[8..].copy_from_slice(&low);
            TraceId::from_bytes(bytes)
        }
        _ => return None,
    };
    let span_id = SpanId::from_bytes(decode_hex_id::<8>(span.as_bytes())?);
    if !trace_id.is_valid() || !span_id.is_valid() {
        return None;
    }
    Some(B3Extracted {
        span: SpanContext::new(trace_id, span_id, sampling.flags(), true, TraceState::EMPTY),
        debug: sampling == Sampling::Debug,
    })
}

/// The sampling state a span context is sent with.
fn state(span: &SpanContext, debug: bool) -> &'static str {
    if debug {
        "d"
    } else if span.is_sampled() {
        "1"
    } else {
        "0"
    }
}

/// Writes the single `b3` header, `{trace id}-{span id}-{1|0|d}`; nothing for an invalid span
/// context.
///
/// ```
/// use std::collections::HashMap;
/// use hyperion::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use hyperion::propagation::inject_b3;
///
/// let span = SpanContext::new(TraceId::from_bytes([1; 16]), SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED, false, TraceState::default());
/// let mut headers = HashMap::new();
/// inject_b3(&span, false, &mut headers);
/// assert_eq!(headers["b3"], "01010101010101010101010101010101-0202020202020202-1");
/// ```
pub fn inject_b3(span: &SpanContext, debug: bool, carrier: &mut dyn Injector) {
    if !span.is_valid() {
        return;
    }
    let mut buf = *b"00000000000000000000000000000000-0000000000000000-";
    encode_hex_id(&span.trace_id().to_bytes(), &mut buf[..32]);
    encode_hex_id(&span.span_id().to_bytes(), &mut buf[33..49]);
    let mut value = String::with_capacity(buf.len() + 1);
    value.push_str(std::str::from_utf8(&buf).unwrap_or_default());
    value.push_str(state(span, debug));
    carrier.set(B3_HEADER, &value);
}

/// Writes the multiple `X-B3-*` headers: the trace and span ids, and `X-B3-Sampled` (or
/// `X-B3-Flags: 1` for debug, which implies it); nothing for an invalid span context.
///
/// ```
/// use std::collections::HashMap;
/// use hyperion::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use hyperion::propagation::inject_b3_multi;
///
/// let span = SpanContext::new(TraceId::from_bytes([1; 16]), SpanId::from_bytes([2; 8]),
///     TraceFlags::NOT_SAMPLED, false, TraceState::default());
/// let mut headers = HashMap::new();
/// inject_b3_multi(&span, false, &mut headers);
/// assert_eq!(headers["x-b3-traceid"], "01010101010101010101010101010101");
/// assert_eq!(headers["x-b3-spanid"], "0202020202020202");
/// assert_eq!(headers["x-b3-sampled"], "0");
/// assert!(!headers.contains_key("x-b3-parentspanid"));
/// ```
pub fn inject_b3_multi(span: &SpanContext, debug: bool, carrier: &mut dyn Injector) {
    if !span.is_valid() {
        return;
    }
    let mut trace = [0u8; 32];
    encode_hex_id(&span.trace_id().to_bytes(), &mut trace);
    let mut span_id = [0u8; 16];
    encode_hex_id(&span.span_id().to_bytes(), &mut span_id);
    carrier.set(
        B3_TRACE_ID_HEADER,
        std::str::from_utf8(&trace).unwrap_or_default(),
    );
    carrier.set(
        B3_SPAN_ID_HEADER,
        std::str::from_utf8(&span_id).unwrap_or_default(),
    );
    if debug {
        carrier.set(B3_FLAGS_HEADER, "1");
    } else {
        carrier.set(B3_SAMPLED_HEADER, state(span, false));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::propagation::test_support::map;

    const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SPAN: &str = "e457b5a2e4d86bd1";
    const PARENT: &str = "05e3ac9a4f6e3b90";

    fn single(value: &str) -> Option<B3Extracted> {
        extract_b3(&map(&[("b3", value)]))
    }

    fn multi(pairs: &[(&str, &str)]) -> Option<B3Extracted> {
        extract_b3(&map(pairs))
    }

    #[test]
    fn single_header_in_each_form_the_specification_gives() {
        let full = single(&format!("{TRACE}-{SPAN}-1-{PARENT}")).unwrap();
        assert_eq!(full.span.trace_id().to_string(), TRACE);
        assert_eq!(full.span.span_id().to_string(), SPAN);
        assert!(full.span.is_sampled() && full.span.is_remote() && !full.debug);
        assert!(full.span.trace_state().is_empty());

        let deny = single(&format!("{TRACE}-{SPAN}-0")).unwrap();
        assert!(!deny.span.is_sampled() && !deny.debug);
        let debug = single(&format!("{TRACE}-{SPAN}-d")).unwrap();
        assert!(debug.span.is_sampled() && debug.debug);
        let defer = single(&format!("{TRACE}-{SPAN}")).unwrap();
        assert!(!defer.span.is_sampled() && !defer.debug);

        let short = single(&format!("{}-{SPAN}-1", &TRACE[16..])).unwrap();
        assert_eq!(
            short.span.trace_id().to_string(),
            format!("0000000000000000{}", &TRACE[16..])
        );
        let padded = single(&format!(" \t{TRACE}-{SPAN}-1\t ")).unwrap();
        assert_eq!(padded.span.span_id().to_string(), SPAN);
    }

    #[test]
    fn a_sampling_state_alone_extracts_nothing() {
        for value in ["0", "1", "d", ""] {
            assert_eq!(single(value), None, "{value:?}");
        }
    }

    #[test]
    fn malformed_single_headers_are_invalid() {
        let bad = [
            format!("{}-{SPAN}-1", TRACE.to_uppercase()),
            format!("{TRACE}-{}-1", SPAN.to_uppercase()),
            format!("{}-{SPAN}-1", &TRACE[1..]),
            format!("{TRACE}-{}-1", &SPAN[1..]),
            format!("{TRACE}-{SPAN}-2"),
            format!("{TRACE}-{SPAN}-true"),
            format!("{TRACE}-{SPAN}-1-{}", &PARENT[1..]),
            format!("{TRACE}-{SPAN}-1-0000000000000000"),
            format!("{TRACE}-{SPAN}-1-{PARENT}-extra"),
            format!("{TRACE}-{SPAN}-"),
            format!("{TRACE}--1"),
            format!("00000000000000000000000000000000-{SPAN}-1"),
            format!("{TRACE}-0000000000000000-1"),
            format!("{TRACE} -{SPAN}-1"),
            format!("{TRACE}-{SPAN}-1é"),
        ];
        for value in &bad {
            assert_eq!(single(value), None, "{value:?}");
        }
    }

    #[test]
    fn multiple_headers_with_every_sampling_state() {
        let base = [("x-b3-traceid", TRACE), ("x-b3-spanid", SPAN)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            multi(&pairs)
        };
        let accept = with(&[("x-b3-sampled", "1"), ("x-b3-parentspanid", PARENT)]).unwrap();
        assert!(accept.span.is_sampled() && !accept.debug);
        assert_eq!(accept.span.span_id().to_string(), SPAN);
        assert!(!with(&[("x-b3-sampled", "0")]).unwrap().span.is_sampled());
        assert!(with(&[("x-b3-sampled", "true")]).unwrap().span.is_sampled());
        assert!(
            !with(&[("x-b3-sampled", "false")])
                .unwrap()
                .span
                .is_sampled()
        );
        assert!(!with(&[]).unwrap().span.is_sampled()); // deferred
        let debug = with(&[("x-b3-flags", "1")]).unwrap();
        assert!(debug.span.is_sampled() && debug.debug);
        let debug = with(&[("x-b3-flags", "1"), ("x-b3-sampled", "0")]).unwrap();
        assert!(
            debug.span.is_sampled() && debug.debug,
            "debug implies accept"
        );
        assert!(!with(&[("x-b3-flags", "0")]).unwrap().debug);
        assert_eq!(with(&[("x-b3-sampled", "yes")]), None);
        assert_eq!(with(&[("x-b3-flags", "2")]), None);
        assert_eq!(with(&[("x-b3-parentspanid", "xyz")]), None);
        assert_eq!(multi(&[("x-b3-traceid", TRACE)]), None);
        assert_eq!(multi(&[("x-b3-spanid", SPAN)]), None);
        let short = multi(&[("x-b3-traceid", &TRACE[16..]), ("x-b3-spanid", SPAN)]).unwrap();
        assert_eq!(
            short.span.trace_id().to_string(),
            format!("0000000000000000{}", &TRACE[16..])
        );
    }

    #[test]
    fn the_single_header_wins_and_an_invalid_one_falls_back_to_the_multiple_headers() {
        let other = "0af7651916cd43dd8448eb211c80319c";
        let single_value = format!("{other}-{SPAN}-1");
        let both = multi(&[
            ("b3", &single_value),
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", SPAN),
        ])
        .unwrap();
        assert_eq!(both.span.trace_id().to_string(), other);
        let fallback = multi(&[
            ("b3", "garbage"),
            ("x-b3-traceid", TRACE),
            ("x-b3-spanid", SPAN),
        ])
        .unwrap();
        assert_eq!(fallback.span.trace_id().to_string(), TRACE);
    }

    #[test]
    fn injected_headers_read_back_and_carry_no_parent() {
        let extracted = single(&format!("{TRACE}-{SPAN}-1-{PARENT}")).unwrap();
        for debug in [false, true] {
            let mut headers = HashMap::new();
            inject_b3(&extracted.span, debug, &mut headers);
            let expected = format!("{TRACE}-{SPAN}-{}", if debug { "d" } else { "1" });
            assert_eq!(headers["b3"], expected);
            assert_eq!(extract_b3(&headers).unwrap().debug, debug);

            let mut headers = HashMap::new();
            inject_b3_multi(&extracted.span, debug, &mut headers);
            assert_eq!(headers["x-b3-traceid"], TRACE);
            assert_eq!(headers["x-b3-spanid"], SPAN);
            assert!(!headers.contains_key("x-b3-parentspanid"));
            if debug {
                assert_eq!(headers["x-b3-flags"], "1");
                assert!(!headers.contains_key("x-b3-sampled"));
            } else {
                assert_eq!(headers["x-b3-sampled"], "1");
            }
            let back = extract_b3(&headers).unwrap();
            assert_eq!(back.span, extracted.span);
            assert_eq!(back.debug, debug);
        }
        let mut none = HashMap::new();
        inject_b3(&SpanContext::INVALID, false, &mut none);
        inject_b3_multi(&SpanContext::INVALID, true, &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = crate::propagation::test_support::Rng(0x5eed);
        for _ in 0..20_000 {
            let len = (rng.next() % 80) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| b"0123456789abcdef-dD \t1x"[(rng.next() % 23) as usize])
                .collect();
            let value = String::from_utf8(bytes).unwrap();
            let _ = single(&value);
            let _ = multi(&[("x-b3-traceid", &value), ("x-b3-spanid", SPAN)]);
        }
    }
}
