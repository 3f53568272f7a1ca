//! Which formats a telemetry injects and extracts (`propagation.propagators`,
//! `OTEL_PROPAGATORS`): one composite of W3C Trace Context, W3C Baggage, B3 single and B3
//! multi, in the configured order.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{
    Baggage, Extractor, Injector, PropagationLimits, extract_b3, extract_baggage,
    extract_trace_context, inject_b3, inject_b3_multi, inject_baggage, inject_trace_context,
};
use crate::trace::SpanContext;

/// One propagation format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagator {
    /// W3C Trace Context: `traceparent` and `tracestate` (`tracecontext`).
    TraceContext,
    /// W3C Baggage: `baggage` (`baggage`).
    Baggage,
    /// B3, injected as the single `b3` header, extracted from either encoding (`b3`).
    B3,
    /// B3, injected as the multiple `X-B3-*` headers, extracted from either encoding
    /// (`b3multi`).
    B3Multi,
}

impl Propagator {
    /// Every propagator, in the order of [`NAMES`](Self::NAMES).
    pub const ALL: [Propagator; 4] = [
        Propagator::TraceContext,
        Propagator::Baggage,
        Propagator::B3,
        Propagator::B3Multi,
    ];

    /// The names `OTEL_PROPAGATORS` knows that hyperion implements, and `none`.
    pub const NAMES: &'static [&'static str] =
        &["tracecontext", "baggage", "b3", "b3multi", "none"];

    /// Its name in `OTEL_PROPAGATORS`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::Baggage => "baggage",
            Propagator::B3 => "b3",
            Propagator::B3Multi => "b3multi",
        }
    }
}

/// The propagators of a telemetry, in order: each injects its headers, and on extract each that
/// finds valid headers of its own sets what it carries, so a later one wins over an earlier
/// one. The default is the specification's, `tracecontext,baggage`.
///
/// ```
/// use hyperion::propagation::{Propagator, Propagators};
///
/// let list = Propagators::parse("B3Multi, tracecontext ,b3multi")?;
/// assert_eq!(list.iter().collect::<Vec<_>>(), [Propagator::B3Multi, Propagator::TraceContext]);
/// assert_eq!(list.to_string(), "b3multi,tracecontext");
/// assert!(Propagators::parse("none")?.is_empty());
/// assert_eq!(Propagators::default().to_string(), "tracecontext,baggage");
/// let error = Propagators::parse("tracecontext,xray").unwrap_err();
/// assert_eq!(error, "xray");
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Propagators {
    list: [Propagator; 4],
    len: u8,
}

impl Propagators {
    /// `tracecontext,baggage`: the W3C headers, the specification's default.
    pub const W3C: Propagators = Propagators {
        list: [
            Propagator::TraceContext,
            Propagator::Baggage,
            Propagator::TraceContext,
            Propagator::TraceContext,
        ],
        len: 2,
    };

    /// No propagator (`none`): nothing injected, nothing extracted.
    pub const NONE: Propagators = Propagators {
        list: [Propagator::TraceContext; 4],
        len: 0,
    };

    /// Reads a comma-separated list of names (ASCII case and surrounding spaces ignored;
    /// duplicates kept once, at their first place; `none` adds nothing, and alone means no
    /// propagator). An empty list is `none`.
    ///
    /// # Errors
    ///
    /// The first name that is not one of [`Propagator::NAMES`].
    pub fn parse(text: &str) -> Result<Propagators, String> {
        let mut list = Propagators::NONE;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name.eq_ignore_ascii_case("none") {
                continue;
            }
            let propagator = Propagator::ALL
                .into_iter()
                .find(|p| p.as_str().eq_ignore_ascii_case(name))
                .ok_or_else(|| name.to_owned())?;
            list.push(propagator);
        }
        Ok(list)
    }

    fn push(&mut self, propagator: Propagator) {
        if !self.contains(propagator) {
            self.list[usize::from(self.len)] = propagator;
            self.len += 1;
        }
    }

    /// The propagators, in order.
    pub fn iter(&self) -> impl Iterator<Item = Propagator> + '_ {
        self.list[..usize::from(self.len)].iter().copied()
    }

    /// Whether `propagator` is among them.
    pub fn contains(&self, propagator: Propagator) -> bool {
        self.iter().any(|p| p == propagator)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `span` (if valid) and `baggage` (if not empty) with each propagator; `b3_debug`
    /// is the B3 debug flag of the trace.
    pub fn inject(
        &self,
        span: &SpanContext,
        baggage: &Baggage,
        b3_debug: bool,
        carrier: &mut dyn Injector,
    ) {
        for propagator in self.iter() {
            match propagator {
                Propagator::TraceContext => inject_trace_context(span, carrier),
                Propagator::Baggage => inject_baggage(baggage, carrier),
                Propagator::B3 => inject_b3(span, b3_debug, carrier),
                Propagator::B3Multi => inject_b3_multi(span, b3_debug, carrier),
            }
        }
    }

    /// Reads what the propagators carry: the remote span context (invalid when none was
    /// found), the baggage and the B3 debug flag.
    pub fn extract(
        &self,
        carrier: &dyn Extractor,
        limits: &PropagationLimits,
    ) -> (SpanContext, Baggage, bool) {
        let mut span = SpanContext::INVALID;
        let mut baggage = Baggage::EMPTY;
        let mut debug = false;
        // B3 and B3 multi extract alike: read once.
        let mut b3_done = false;
        for propagator in self.iter() {
            match propagator {
                Propagator::TraceContext => {
                    if let Some(found) = extract_trace_context(carrier, limits) {
                        span = found;
                        debug = false;
                    }
                }
                Propagator::Baggage => baggage = extract_baggage(carrier, limits),
                Propagator::B3 | Propagator::B3Multi if !b3_done => {
                    b3_done = true;
                    if let Some(found) = extract_b3(carrier) {
                        span = found.span;
                        debug = found.debug;
                    }
                }
                Propagator::B3 | Propagator::B3Multi => {}
            }
        }
        (span, baggage, debug)
    }
}

impl Default for Propagators {
    fn default() -> Self {
        Propagators::W3C
    }
}

impl fmt::Display for Propagators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, propagator) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(propagator.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Propagators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Propagators({self})")
    }
}

impl Serialize for Propagators {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Propagator::as_str))
    }
}

/// A comma-separated string (as `OTEL_PROPAGATORS` has it) or a YAML sequence of names.
impl<'de> Deserialize<'de> for Propagators {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;

        impl ListVisitor {
            fn invalid<E: de::Error>(whole: &str) -> E {
                E::invalid_value(de::Unexpected::Str(whole), &ListVisitor)
            }
        }

        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Propagators;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a list of propagators, each one of: {}",
                    Propagator::NAMES.join(", ")
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Propagators, E> {
                Propagators::parse(text).map_err(|_| Self::invalid(text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Propagators, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                let joined = names.join(",");
                Propagators::parse(&joined).map_err(|_| Self::invalid(&joined))
            }
        }

        deserializer.deserialize_any(ListVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::propagation::test_support::{L, TP, map};

    const B3: &str = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-d";

    #[test]
    fn extraction_follows_the_configured_order_and_the_last_found_wins() {
        let headers = map(&[("traceparent", TP), ("b3", B3), ("baggage", "k=v")]);
        let w3c_then_b3 = Propagators::parse("tracecontext,b3,baggage").unwrap();
        let (span, baggage, debug) = w3c_then_b3.extract(&headers, &L);
        assert_eq!(
            span.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert!(debug);
        assert_eq!(baggage.get("k"), Some("v"));

        let b3_then_w3c = Propagators::parse("b3,tracecontext").unwrap();
        let (span, baggage, debug) = b3_then_w3c.extract(&headers, &L);
        assert_eq!(
            span.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(!debug, "the debug flag belongs to the B3 context that lost");
        assert!(baggage.is_empty(), "baggage is not configured");

        let (span, baggage, _) = Propagators::NONE.extract(&headers, &L);
        assert!(!span.is_valid() && baggage.is_empty());

        let only_b3 = Propagators::parse("b3multi").unwrap();
        let (span, _, _) = only_b3.extract(&map(&[("traceparent", TP)]), &L);
        assert!(
            !span.is_valid(),
            "traceparent is not read without tracecontext"
        );
    }

    #[test]
    fn injection_writes_each_configured_format() {
        let (span, baggage, debug) = Propagators::parse("tracecontext,b3,baggage")
            .unwrap()
            .extract(&map(&[("b3", B3), ("baggage", "k=v")]), &L);
        let all = Propagators::parse("tracecontext,baggage,b3,b3multi").unwrap();
        let mut headers: HashMap<String, String> = HashMap::new();
        all.inject(&span, &baggage, debug, &mut headers);
        assert_eq!(
            headers["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(headers["baggage"], "k=v");
        assert_eq!(
            headers["b3"],
            "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-d"
        );
        assert_eq!(headers["x-b3-flags"], "1");

        let mut headers: HashMap<String, String> = HashMap::new();
        Propagators::NONE.inject(&span, &baggage, debug, &mut headers);
        assert!(headers.is_empty());
        Propagators::W3C.inject(&span, &baggage, debug, &mut headers);
        assert_eq!(headers.len(), 2, "{headers:?}");
    }

    #[test]
    fn names_are_checked_and_deduplicated() {
        assert_eq!(Propagators::parse("").unwrap(), Propagators::NONE);
        assert_eq!(
            Propagators::parse("none, tracecontext")
                .unwrap()
                .to_string(),
            "tracecontext"
        );
        assert_eq!(
            Propagators::parse("baggage,BAGGAGE,b3,b3")
                .unwrap()
                .to_string(),
            "baggage,b3"
        );
        for bad in ["jaeger", "xray", "ottrace", "w3c", "tracecontext;baggage"] {
            assert!(Propagators::parse(bad).is_err(), "{bad}");
        }
    }
}
