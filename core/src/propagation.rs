//! W3C Trace Context and W3C Baggage (STUB: being written).

use std::sync::Arc;

/// W3C `tracestate`: vendor key/value pairs carried with a trace.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TraceState(Option<Arc<str>>);

impl TraceState {
    /// The empty trace state.
    pub const EMPTY: TraceState = TraceState(None);
}

/// W3C baggage: key/value pairs carried with a request across services.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Baggage(Option<Arc<Vec<(String, String)>>>);

impl Baggage {
    /// The empty baggage.
    pub const EMPTY: Baggage = Baggage(None);
}

/// Limits applied to extracted headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropagationLimits {
    /// Most baggage members kept.
    pub max_baggage_members: usize,
    /// Most baggage bytes accepted.
    pub max_baggage_bytes: usize,
    /// Most tracestate members accepted.
    pub max_tracestate_members: usize,
}

impl PropagationLimits {
    /// The W3C limits.
    pub const DEFAULT: PropagationLimits = PropagationLimits {
        max_baggage_members: 64,
        max_baggage_bytes: 8192,
        max_tracestate_members: 32,
    };

    /// From config.
    pub fn from_config(c: &crate::config::PropagationConfig) -> Self {
        PropagationLimits {
            max_baggage_members: c.max_baggage_members,
            max_baggage_bytes: c.max_baggage_bytes,
            max_tracestate_members: c.max_tracestate_members,
        }
    }
}

/// Writes headers.
pub trait Injector {
    /// Sets a header.
    fn set(&mut self, key: &str, value: &str);
}

/// Reads headers.
pub trait Extractor {
    /// Gets a header.
    fn get(&self, key: &str) -> Option<&str>;
}

impl Injector for std::collections::HashMap<String, String> {
    fn set(&mut self, key: &str, value: &str) {
        self.insert(key.to_owned(), value.to_owned());
    }
}

/// stub
pub fn inject_trace_context(sc: &crate::SpanContext, carrier: &mut dyn Injector) {
    if sc.is_valid() {
        carrier.set("traceparent", &format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()));
    }
}
/// stub
pub fn inject_baggage(_b: &Baggage, _carrier: &mut dyn Injector) {}
/// stub
pub fn extract_trace_context(_c: &dyn Extractor, _l: &PropagationLimits) -> Option<crate::SpanContext> { None }
/// stub
pub fn extract_baggage(_c: &dyn Extractor, _l: &PropagationLimits) -> Baggage { Baggage::EMPTY }
impl Extractor for std::collections::HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> { std::collections::HashMap::get(self, key).map(String::as_str) }
}
impl Baggage {
    /// stub
    pub fn get(&self, _k: &str) -> Option<&str> { None }
}
