//! The facade's [`Injector`] and [`Extractor`] over NATS message headers.
//!
//! NATS header names are case-sensitive (async-nats keeps them as sent). The propagation
//! headers are written in lower case (`traceparent`, `tracestate`, `baggage`), as W3C Trace
//! Context asks; when reading, names are compared without regard to ASCII case, so that a
//! `Traceparent` written by another client is found too (and two spellings of it count as two
//! headers, which makes the trace context invalid, as two `traceparent` headers do).

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use hyperion::propagation::{BAGGAGE_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER};
use hyperion::{Extractor, Injector};

/// The propagation headers' names: built from `'static` strings, no allocation, no check.
fn known_header(key: &str) -> Option<HeaderName> {
    match key {
        TRACEPARENT_HEADER => Some(HeaderName::from_static(TRACEPARENT_HEADER)),
        TRACESTATE_HEADER => Some(HeaderName::from_static(TRACESTATE_HEADER)),
        BAGGAGE_HEADER => Some(HeaderName::from_static(BAGGAGE_HEADER)),
        _ => None,
    }
}

/// A header name for `key`, if NATS allows it (never panics).
fn header_name(key: &str) -> Option<HeaderName> {
    known_header(key).or_else(|| HeaderName::from_str(key).ok())
}

/// Reads propagation headers from a NATS message's headers, for
/// [`Context::extract`](hyperion::Context::extract) and
/// [`Telemetry::extract`](hyperion::Telemetry::extract).
///
/// Header names are compared without regard to ASCII case, by one pass over the headers (a
/// message carries a handful; hashing every name asked for would cost more).
///
/// ```
/// use async_nats::HeaderMap;
/// use hyperion::Telemetry;
/// use hyperion_nats::HeaderExtractor;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// let ctx = Telemetry::noop().extract(&HeaderExtractor(&headers));
/// assert!(ctx.span_context().is_remote());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let map: &HeaderMap = self.0;
        map.iter().find_map(|(name, values)| {
            let name: &str = name.as_ref();
            if name.eq_ignore_ascii_case(key) {
                values.first().map(HeaderValue::as_str)
            } else {
                None
            }
        })
    }

    fn get_all(&self, key: &str, f: &mut dyn FnMut(&str)) {
        for (name, values) in self.0.iter() {
            let name: &str = name.as_ref();
            if name.eq_ignore_ascii_case(key) {
                for value in values {
                    f(value.as_str());
                }
            }
        }
    }
}

/// Writes propagation headers into NATS message headers, for
/// [`Context::inject`](hyperion::Context::inject). A header is replaced if present; a name or a
/// value NATS does not allow (a control character, a line break) is skipped, never a panic.
///
/// ```
/// use async_nats::HeaderMap;
/// use hyperion::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use hyperion_nats::HeaderInjector;
///
/// let sc = SpanContext::new(TraceId::from_bytes([1; 16]), SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED, false, TraceState::default());
/// let mut headers = HeaderMap::new();
/// Context::noop().with_span_context(sc).inject(&mut HeaderInjector(&mut headers));
/// assert_eq!(
///     headers.get("traceparent").unwrap().as_str(),
///     "00-01010101010101010101010101010101-0202020202020202-01"
/// );
/// ```
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: &str) {
        let (Some(name), Ok(value)) = (header_name(key), HeaderValue::from_str(value)) else {
            return;
        };
        self.0.insert(name, value);
    }
}

/// Removes every propagation header (`traceparent`, `tracestate`, `baggage`, `b3`, `x-b3-*`), in
/// any letter case, so that what is injected next is the only trace context the message carries
/// (headers forwarded from a message received would otherwise keep another trace's `tracestate`
/// or `baggage`, or a second spelling of `traceparent` that makes the receiver drop both).
///
/// async-nats' `HeaderMap` has no `remove`: the map is rebuilt, only when it holds one of them.
pub(crate) fn strip_propagation(headers: &mut HeaderMap) {
    let is_propagation = |name: &str| {
        ["traceparent", "tracestate", "baggage", "b3"]
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
            || name
                .get(..5)
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case("x-b3-"))
    };
    if !headers
        .iter()
        .any(|(name, _)| is_propagation(name.as_ref()))
    {
        return;
    }
    let mut kept = HeaderMap::new();
    for (name, values) in headers.iter() {
        if !is_propagation(name.as_ref()) {
            for value in values {
                kept.append(name.clone(), value.clone());
            }
        }
    }
    *headers = kept;
}

#[cfg(test)]
mod tests {
    use hyperion::PropagationLimits;
    use hyperion::propagation::{extract_baggage, extract_trace_context};

    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn names_are_found_without_regard_to_case() {
        let mut h = HeaderMap::new();
        h.insert("Traceparent", TP);
        h.insert("BAGGAGE", "a=1");
        let sc = extract_trace_context(&HeaderExtractor(&h), &PropagationLimits::DEFAULT).unwrap();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(
            extract_baggage(&HeaderExtractor(&h), &PropagationLimits::DEFAULT).get("a"),
            Some("1")
        );
        assert_eq!(HeaderExtractor(&h).get("tracestate"), None);
        assert_eq!(HeaderExtractor(&h).get("x-other"), None);
    }

    #[test]
    fn two_spellings_of_traceparent_are_two_headers() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", TP);
        h.insert("TraceParent", TP);
        assert!(extract_trace_context(&HeaderExtractor(&h), &PropagationLimits::DEFAULT).is_none());
    }

    #[test]
    fn two_traceparents_are_invalid() {
        let mut h = HeaderMap::new();
        h.append("traceparent", TP);
        h.append("traceparent", TP);
        assert!(extract_trace_context(&HeaderExtractor(&h), &PropagationLimits::DEFAULT).is_none());
    }

    #[test]
    fn garbage_and_empty_headers_extract_nothing() {
        let mut h = HeaderMap::new();
        assert!(extract_trace_context(&HeaderExtractor(&h), &PropagationLimits::DEFAULT).is_none());
        h.insert("traceparent", "garbage-\u{1F600}");
        assert!(extract_trace_context(&HeaderExtractor(&h), &PropagationLimits::DEFAULT).is_none());
        // A name NATS would refuse is not a panic, just absent.
        assert_eq!(HeaderExtractor(&h).get("bad:name"), None);
    }

    #[test]
    fn stripping_removes_every_spelling_and_keeps_the_rest() {
        let mut h = HeaderMap::new();
        h.insert("Traceparent", TP);
        h.insert("tracestate", "a=1");
        h.insert("BAGGAGE", "b=2");
        h.insert("B3", "0");
        h.insert("X-B3-TraceId", "4bf92f3577b34da6a3ce929d0e0e4736");
        h.insert("x-b3-sampled", "1");
        h.insert("x-b3", "not a B3 header");
        h.append("x-app", "1");
        h.append("x-app", "2");
        strip_propagation(&mut h);
        assert_eq!(h.len(), 2);
        assert!(h.get("x-b3").is_some());
        assert_eq!(
            h.get_all("x-app").map(|v| v.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
    }

    #[test]
    fn injector_replaces_and_skips_what_nats_refuses() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", "old");
        let mut injector = HeaderInjector(&mut h);
        injector.set("traceparent", TP);
        injector.set("x-custom", "v");
        injector.set("bad:name", "v");
        injector.set("x-bad-value", "a\r\nb");
        assert_eq!(h.get("traceparent").unwrap().as_str(), TP);
        assert_eq!(h.get_all("traceparent").count(), 1);
        assert_eq!(h.get("x-custom").unwrap().as_str(), "v");
        assert_eq!(h.len(), 2);
    }
}
