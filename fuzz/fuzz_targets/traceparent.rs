//! `traceparent` (with a `tracestate`): never a panic; what extracts injects and extracts back
//! unchanged.
#![no_main]

use std::collections::HashMap;

use hyperion::propagation::{PropagationLimits, extract_trace_context, inject_trace_context};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (traceparent, tracestate) = text.split_once('\n').unwrap_or((&text, ""));
    let carrier: HashMap<String, String> = [
        ("traceparent".to_owned(), traceparent.to_owned()),
        ("tracestate".to_owned(), tracestate.to_owned()),
    ]
    .into();
    let limits = PropagationLimits::DEFAULT;
    if let Some(received) = extract_trace_context(&carrier, &limits) {
        let mut out = HashMap::new();
        inject_trace_context(&received, &mut out);
        let again = extract_trace_context(&out, &limits).expect("an injected context extracts");
        assert_eq!(again.trace_id(), received.trace_id());
        assert_eq!(again.span_id(), received.span_id());
        assert_eq!(again.trace_flags(), received.trace_flags());
        assert_eq!(again.trace_state(), received.trace_state());
    }
});
