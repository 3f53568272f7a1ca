//! Property tests of every parser the core has, run in the normal suite: W3C `traceparent`,
//! `tracestate` and `baggage`, B3, the `k=v` lists of `OTEL_RESOURCE_ATTRIBUTES`, and the YAML
//! configuration. Each checks that what is injected extracts back unchanged, that no input
//! panics, and that a 64 KiB input costs a bounded amount of work (a generous time bound that
//! only a quadratic parser would break: the benchmarks measure the real cost).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hyperion::propagation::{
    PropagationLimits, extract_b3, extract_baggage, extract_trace_context, inject_b3,
    inject_b3_multi, inject_baggage, inject_trace_context,
};
use hyperion::{
    Baggage, Config, ConfigLoader, SpanContext, SpanId, TraceFlags, TraceId, TraceState,
};
use proptest::prelude::*;

const LIMITS: PropagationLimits = PropagationLimits::DEFAULT;

/// More than any parser here should take on 64 KiB, even in a debug build on a busy machine.
const BOUND: Duration = Duration::from_millis(250);

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A Trace Context Level 2 key: `( lcalpha / DIGIT ) 0*255 ( keychar )`, kept short.
fn tracestate_key() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_*/@-]{0,20}"
}

/// A `tracestate` value: 1 to 256 printable ASCII characters except `,` and `=`, not ending in a
/// space.
fn tracestate_value() -> impl Strategy<Value = String> {
    "[!-+\\--<>-~ ]{0,30}[!-+\\--<>-~]"
}

/// A `baggage` key: an RFC 7230 token.
fn baggage_key() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn traceparent_round_trips(
        trace in any::<[u8; 16]>().prop_filter("not all zero", |b| b.iter().any(|&x| x != 0)),
        span in any::<[u8; 8]>().prop_filter("not all zero", |b| b.iter().any(|&x| x != 0)),
        flags in 0u8..4,
        members in proptest::collection::vec((tracestate_key(), tracestate_value()), 0..8),
    ) {
        let mut state = TraceState::default();
        for (k, v) in members.iter().rev() {
            state = state.insert(k, v).unwrap();
        }
        let sent = SpanContext::new(
            TraceId::from_bytes(trace),
            SpanId::from_bytes(span),
            TraceFlags::new(flags),
            false,
            state.clone(),
        );
        let mut carrier = HashMap::new();
        inject_trace_context(&sent, &mut carrier);
        let received = extract_trace_context(&carrier, &LIMITS).expect("a valid traceparent");
        prop_assert_eq!(received.trace_id(), sent.trace_id());
        prop_assert_eq!(received.span_id(), sent.span_id());
        prop_assert_eq!(received.trace_flags(), sent.trace_flags());
        prop_assert_eq!(received.trace_state(), &state);
        prop_assert!(received.is_remote());
    }

    #[test]
    fn no_traceparent_or_tracestate_panics(traceparent in ".{0,80}", tracestate in ".{0,200}") {
        let carrier = headers(&[("traceparent", &traceparent), ("tracestate", &tracestate)]);
        let _ = extract_trace_context(&carrier, &LIMITS);
        let _ = TraceState::from_header(&tracestate, 32);
    }

    #[test]
    fn baggage_round_trips(members in proptest::collection::btree_map(baggage_key(), ".{0,20}", 0..10)) {
        let mut baggage = Baggage::EMPTY;
        for (k, v) in &members {
            baggage = baggage.with(k, v);
        }
        let mut carrier = HashMap::new();
        inject_baggage(&baggage, &mut carrier);
        let received = extract_baggage(&carrier, &LIMITS);
        prop_assert_eq!(received.len(), members.len());
        for (k, v) in &members {
            prop_assert_eq!(received.get(k), Some(v.as_str()));
        }
    }

    #[test]
    fn b3_round_trips_in_both_encodings(
        trace in any::<[u8; 16]>().prop_filter("not all zero", |b| b.iter().any(|&x| x != 0)),
        span in any::<[u8; 8]>().prop_filter("not all zero", |b| b.iter().any(|&x| x != 0)),
        sampled in any::<bool>(),
        debug in any::<bool>(),
    ) {
        let flags = if sampled || debug { TraceFlags::SAMPLED } else { TraceFlags::NOT_SAMPLED };
        let sent = SpanContext::new(
            TraceId::from_bytes(trace),
            SpanId::from_bytes(span),
            flags,
            true,
            TraceState::default(),
        );
        for multi in [false, true] {
            let mut carrier = HashMap::new();
            if multi {
                inject_b3_multi(&sent, debug, &mut carrier);
            } else {
                inject_b3(&sent, debug, &mut carrier);
            }
            let received = extract_b3(&carrier).expect("an injected B3 context extracts");
            prop_assert_eq!(&received.span, &sent);
            prop_assert_eq!(received.debug, debug);
        }
    }

    #[test]
    fn no_b3_header_panics(single in ".{0,90}", trace in ".{0,40}", sampled in ".{0,6}") {
        let _ = extract_b3(&headers(&[
            ("b3", &single),
            ("x-b3-traceid", &trace),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-sampled", &sampled),
        ]));
    }

    #[test]
    fn no_baggage_panics(value in ".{0,300}") {
        let _ = extract_baggage(&headers(&[("baggage", &value)]), &LIMITS);
    }

    #[test]
    fn resource_attributes_round_trip(members in proptest::collection::btree_map("[a-z.]{1,10}", "[a-zA-Z0-9 ,=%;é]{0,12}", 0..6)) {
        // Percent-encode every byte outside the unreserved set, as a sender would.
        let encode = |v: &str| -> String {
            v.bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect()
        };
        let list: Vec<String> = members.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let config = ConfigLoader::new()
            .env([("OTEL_RESOURCE_ATTRIBUTES", list.join(","))])
            .load()
            .unwrap();
        prop_assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        for (k, v) in &members {
            prop_assert_eq!(config.tracing.attributes.get(k), Some(v));
        }
    }

    #[test]
    fn no_resource_attributes_panic(value in ".{0,120}") {
        // Malformed: discarded and reported; never an error or a panic.
        let config = ConfigLoader::new()
            .env([("OTEL_RESOURCE_ATTRIBUTES", value)])
            .load();
        prop_assert!(config.is_ok());
    }

    #[test]
    fn no_yaml_panics(yaml in "[a-z_:\\-\\[\\]{}, \\n0-9.\"'#&*!|>]{0,200}") {
        let _ = Config::from_yaml_str(&yaml);
    }
}

/// 64 KiB of the worst shapes for each parser: bounded work, and nothing valid after the junk
/// is read past the limits.
#[test]
fn sixty_four_kib_inputs_cost_bounded_work() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let junk = [
        ",".repeat(65536),
        " ".repeat(65536),
        "x,".repeat(32768),
        "a=1,".repeat(16384),
        "%".repeat(65536),
        "k=".to_owned() + &"%41".repeat(21845),
    ];
    for input in &junk {
        let carrier = headers(&[
            ("traceparent", traceparent),
            ("tracestate", input),
            ("baggage", input),
        ]);
        let started = Instant::now();
        let _ = extract_trace_context(&carrier, &LIMITS);
        let _ = extract_baggage(&carrier, &LIMITS);
        let _ = TraceState::from_header(input, 32);
        let _ = ConfigLoader::new()
            .env([("OTEL_RESOURCE_ATTRIBUTES", input.clone())])
            .load();
        let elapsed = started.elapsed();
        assert!(
            elapsed < BOUND,
            "{} bytes starting {:?} took {elapsed:?}",
            input.len(),
            &input[..8]
        );
    }
}
