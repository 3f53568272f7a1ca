//! Carriers: the [`Injector`] and [`Extractor`] traits propagation writes and reads headers
//! through, and their implementations for [`http::HeaderMap`], `HashMap<String, String>` and
//! references.

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::{BAGGAGE_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER};

/// A carrier that propagation writes headers into (HTTP request headers, message headers, ...).
///
/// Header names are passed in lower case: `traceparent`, `tracestate`, `baggage`.
pub trait Injector {
    /// Sets `key` to `value`, replacing any value it had.
    fn set(&mut self, key: &str, value: &str);
}

/// A carrier that propagation reads headers from.
///
/// Header names are asked for in lower case: `traceparent`, `tracestate`, `baggage`.
pub trait Extractor {
    /// The value of `key`, if there is one (the first, if there are several).
    fn get(&self, key: &str) -> Option<&str>;

    /// Calls `f` with every value of `key`, in order. Carriers that can hold a header several
    /// times (such as [`http::HeaderMap`]) override this; the default calls `f` with
    /// [`get`](Extractor::get)'s value, if any.
    fn get_all(&self, key: &str, f: &mut dyn FnMut(&str)) {
        if let Some(value) = self.get(key) {
            f(value);
        }
    }
}

/// The propagators' own header names, prebuilt: looking one up skips parsing the name.
fn known_header(key: &str) -> Option<http::HeaderName> {
    match key {
        TRACEPARENT_HEADER => Some(http::HeaderName::from_static(TRACEPARENT_HEADER)),
        TRACESTATE_HEADER => Some(http::HeaderName::from_static(TRACESTATE_HEADER)),
        BAGGAGE_HEADER => Some(http::HeaderName::from_static(BAGGAGE_HEADER)),
        super::B3_HEADER => Some(http::HeaderName::from_static(super::B3_HEADER)),
        super::B3_TRACE_ID_HEADER => Some(http::HeaderName::from_static(super::B3_TRACE_ID_HEADER)),
        super::B3_SPAN_ID_HEADER => Some(http::HeaderName::from_static(super::B3_SPAN_ID_HEADER)),
        super::B3_SAMPLED_HEADER => Some(http::HeaderName::from_static(super::B3_SAMPLED_HEADER)),
        super::B3_FLAGS_HEADER => Some(http::HeaderName::from_static(super::B3_FLAGS_HEADER)),
        _ => None,
    }
}

/// Header names are looked up as given (the propagators ask in lower case); a value that is not
/// visible ASCII is ignored. Every value of a repeated header is seen by
/// [`get_all`](Extractor::get_all).
impl Extractor for http::HeaderMap {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        let value = match known_header(key) {
            Some(name) => http::HeaderMap::get(self, name),
            None => http::HeaderMap::get(self, key),
        };
        value?.to_str().ok()
    }

    #[inline]
    fn get_all(&self, key: &str, f: &mut dyn FnMut(&str)) {
        let values = match known_header(key) {
            Some(name) => http::HeaderMap::get_all(self, name),
            None => http::HeaderMap::get_all(self, key),
        };
        for value in values {
            if let Ok(value) = value.to_str() {
                f(value);
            }
        }
    }
}

/// Inserts the header, replacing earlier values; a name or value HTTP does not allow is skipped.
impl Injector for http::HeaderMap {
    #[inline]
    fn set(&mut self, key: &str, value: &str) {
        let Ok(value) = http::HeaderValue::from_str(value) else {
            return;
        };
        // The propagators' own names need no parsing and no allocation.
        let name = match known_header(key) {
            Some(name) => name,
            None => match http::HeaderName::from_bytes(key.as_bytes()) {
                Ok(name) => name,
                Err(_) => return,
            },
        };
        self.insert(name, value);
    }
}

/// Keys are used exactly as given, so the map must hold header names in lower case
/// (`traceparent`, `tracestate`, `baggage`): the lookup is not case-insensitive.
impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
}

/// Keys are stored as given (lower case). An existing entry's string is reused.
impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    #[inline]
    fn set(&mut self, key: &str, value: &str) {
        match self.get_mut(key) {
            Some(existing) => {
                existing.clear();
                existing.push_str(value);
            }
            None => {
                self.insert(key.to_owned(), value.to_owned());
            }
        }
    }
}

impl<T: Extractor + ?Sized> Extractor for &T {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }

    #[inline]
    fn get_all(&self, key: &str, f: &mut dyn FnMut(&str)) {
        (**self).get_all(key, f);
    }
}

impl<T: Extractor + ?Sized> Extractor for &mut T {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }

    #[inline]
    fn get_all(&self, key: &str, f: &mut dyn FnMut(&str)) {
        (**self).get_all(key, f);
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    #[inline]
    fn set(&mut self, key: &str, value: &str) {
        (**self).set(key, value);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::propagation::test_support::{L, TP, span};
    use crate::propagation::{extract_baggage, extract_trace_context, inject_trace_context};
    use crate::trace::TraceState;

    #[test]
    fn header_map_non_visible_ascii_value_ignored() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            http::HeaderValue::from_bytes(format!("{TP}\u{e9}").as_bytes()).unwrap(),
        );
        h.insert(
            "baggage",
            http::HeaderValue::from_bytes("a=\u{e9}".as_bytes()).unwrap(),
        );
        assert!(extract_trace_context(&h, &L).is_none());
        assert!(extract_baggage(&h, &L).is_empty());
        assert_eq!(Extractor::get(&h, "baggage"), None);
    }

    #[test]
    fn header_map_injector_replaces_and_skips_invalid() {
        let mut h = http::HeaderMap::new();
        h.append("baggage", "old=1".parse().unwrap());
        h.append("baggage", "old=2".parse().unwrap());
        Injector::set(&mut h, "baggage", "new=1");
        assert_eq!(h.get_all("baggage").iter().count(), 1);
        Injector::set(&mut h, "x-custom", "v");
        Injector::set(&mut h, "bad name", "v");
        Injector::set(&mut h, "x-bad-value", "a\nb");
        assert_eq!(h.len(), 2);
        assert_eq!(h["x-custom"], "v");
    }

    #[test]
    fn forwarding_impls_work() {
        let mut m: HashMap<String, String> = HashMap::new();
        {
            let mut r = &mut m;
            inject_trace_context(&span(1, TraceState::EMPTY), &mut r);
        }
        let r = &m;
        assert!(extract_trace_context(&r, &L).is_some());
        let mut existing = m.clone();
        Injector::set(&mut existing, "traceparent", "x");
        assert_eq!(existing["traceparent"], "x");
    }
}
