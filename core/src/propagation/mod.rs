//! W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage (`baggage`), parsed and written
//! by hand: no intermediate strings for the ids, no allocation for absent headers; and B3
//! (Zipkin's `b3` and `X-B3-*` headers, see [`extract_b3`]). Which of them a telemetry uses is
//! its [`Propagators`] (`propagation.propagators`, `OTEL_PROPAGATORS`; W3C by default), which
//! [`Context::inject`](crate::Context::inject) and [`Context::extract`](crate::Context::extract)
//! follow.
//!
//! [`inject_trace_context`] and [`inject_baggage`] write into any [`Injector`];
//! [`extract_trace_context`] and [`extract_baggage`] read from any [`Extractor`]. Both traits are
//! implemented for [`http::HeaderMap`] and for `HashMap<String, String>`.
//!
//! ```
//! use std::collections::HashMap;
//! use hyperion::propagation::{extract_trace_context, inject_trace_context, PropagationLimits};
//!
//! let mut headers = HashMap::new();
//! headers.insert(
//!     "traceparent".to_string(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
//! );
//! let remote = extract_trace_context(&headers, &PropagationLimits::DEFAULT).unwrap();
//! assert!(remote.is_remote() && remote.is_sampled());
//!
//! let mut outgoing = HashMap::new();
//! inject_trace_context(&remote, &mut outgoing);
//! assert_eq!(outgoing["traceparent"], headers["traceparent"]);
//! ```
//!
//! # How malformed input is treated
//!
//! Nothing here panics, whatever the input. Where the specifications leave a choice:
//!
//! - **`traceparent`**: leading and trailing optional whitespace (space, tab) is trimmed, as HTTP
//!   does for every field value; whitespace anywhere inside makes the header invalid. Version `00`
//!   must be exactly 55 characters. A higher version must have at least 55 characters, and the
//!   flags must be followed by the end of the value or by `-` (later fields are ignored). Version
//!   `ff`, upper-case hex, all-zero ids and two `traceparent` headers at once (with an
//!   [`Extractor`] that reports several values) make it invalid. Of the flags, only `sampled`
//!   (`0x01`) and Trace Context Level 2's `random-trace-id` (`0x02`) are defined; the other bits are
//!   reserved and "Vendors MUST set those to zero", so they are cleared on extract and on inject.
//! - **`tracestate`** is only read when `traceparent` is valid. Keys follow Trace Context Level 2
//!   (`( lcalpha / DIGIT ) 0*255 ( keychar )`, `@` among the keychars, so `foo@` and `foo@@bar`
//!   are keys); values follow the ABNF `0*255(chr) nblk-chr`, so they have 1 to 256 characters
//!   and do not end in a space. Empty and whitespace-only members are skipped. Of a key given
//!   twice, the first member is kept and the later ones are dropped, alone. Any invalid member or
//!   more than [`max_tracestate_members`](PropagationLimits::max_tracestate_members) members drops
//!   the whole `tracestate` (the `traceparent` is still used). Several `tracestate` headers form
//!   one list.
//! - **`baggage`**: a member that does not parse (no `=`, a key that is not an RFC 7230 token, a
//!   value byte outside `baggage-octet`, a `%` not followed by two hex digits, an empty or invalid
//!   property) is skipped and the rest are kept. Percent-decoded bytes that are not UTF-8 are
//!   replaced by U+FFFD, as the Baggage specification requires. Duplicate keys: the last one wins.
//!   Members are taken in order while they fit both limits: the first member that would make the
//!   count exceed [`max_baggage_members`](PropagationLimits::max_baggage_members), or the bytes
//!   (members as received, plus one comma between two) exceed
//!   [`max_baggage_bytes`](PropagationLimits::max_baggage_bytes), ends the extraction: no member
//!   is ever cut.
//! - **Bounded work.** No header costs more than its limits allow, whatever its size: `baggage`
//!   is read for at most `max_baggage_bytes` plus 1 KiB in all (separators, whitespace and invalid
//!   members included) and at most twice `max_baggage_members` non-empty members, after which the
//!   rest is dropped; a `tracestate` longer than `max_tracestate_members` members of the longest
//!   valid size plus 1 KiB, or with more than twice that many list-members (duplicates included),
//!   is dropped whole. A member that runs past the budget is never cut: it is dropped.
//!
//! # Layout
//!
//! The data these headers carry (ids, flags, [`TraceState`]) belongs to [`crate::trace`](mod@crate::trace); this
//! module is the header codec on top of it:
//!
//! - `traceparent`: [`inject_trace_context`] and [`extract_trace_context`] (`traceparent` and
//!   `tracestate`);
//! - `baggage`: [`Baggage`], [`inject_baggage`] and [`extract_baggage`], with percent-encoding;
//! - `b3`: [`inject_b3`], [`inject_b3_multi`] and [`extract_b3`];
//! - `propagators`: [`Propagators`], the configured composite of the above;
//! - `carrier`: the [`Injector`] and [`Extractor`] traits and their implementations.

mod b3;
mod baggage;
mod carrier;
mod propagators;
mod traceparent;

pub use b3::{
    B3_FLAGS_HEADER, B3_HEADER, B3_PARENT_SPAN_ID_HEADER, B3_SAMPLED_HEADER, B3_SPAN_ID_HEADER,
    B3_TRACE_ID_HEADER, B3Extracted, extract_b3, inject_b3, inject_b3_multi,
};
pub(crate) use baggage::percent_decode;
pub use baggage::{Baggage, extract_baggage, inject_baggage};
pub use carrier::{Extractor, Injector};
pub use propagators::{Propagator, Propagators};
pub use traceparent::{extract_trace_context, inject_trace_context};

pub(crate) use crate::trace::MAX_TRACESTATE_MEMBERS;
pub use crate::trace::{TraceState, TraceStateError};

/// The name of the W3C `traceparent` header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The name of the W3C `tracestate` header.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The name of the W3C `baggage` header.
pub const BAGGAGE_HEADER: &str = "baggage";

// ---------------------------------------------------------------------------------------------
// Byte helpers shared by the codecs
// ---------------------------------------------------------------------------------------------

/// A byte that is not a hex digit in the nibble tables.
const NOT_HEX: u8 = 0xff;

/// The value of every hex digit, [`NOT_HEX`] for other bytes: lower-case digits only, or either
/// case when `upper`.
const fn nibble_table(upper: bool) -> [u8; 256] {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        if upper {
            t[b'A' as usize + i] = 10 + i as u8;
        }
        i += 1;
    }
    t
}

/// `s` without leading and trailing `OWS` (RFC 7230 optional whitespace: space and horizontal
/// tab).
#[inline]
fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// Limits applied to extracted `tracestate` and `baggage` headers.
///
/// ```
/// use hyperion::propagation::PropagationLimits;
/// let limits = PropagationLimits { max_baggage_members: 8, ..PropagationLimits::DEFAULT };
/// assert_eq!(limits.max_tracestate_members, 32);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropagationLimits {
    /// The most baggage members kept; later members are dropped.
    pub max_baggage_members: usize,
    /// The most bytes of baggage members read (as received, counting one comma between two
    /// members); a member that would pass the limit, and all after it, are dropped.
    pub max_baggage_bytes: usize,
    /// The most `tracestate` members accepted; a longer `tracestate` is dropped whole.
    pub max_tracestate_members: usize,
}

impl PropagationLimits {
    /// The minimums the W3C specifications require: 64 baggage members, 8192 baggage bytes and
    /// 32 `tracestate` members.
    pub const DEFAULT: PropagationLimits = PropagationLimits {
        max_baggage_members: 64,
        max_baggage_bytes: 8192,
        max_tracestate_members: MAX_TRACESTATE_MEMBERS,
    };
}

impl Default for PropagationLimits {
    fn default() -> Self {
        PropagationLimits::DEFAULT
    }
}

/// Values and helpers the tests of the propagation modules share.
#[cfg(test)]
mod test_support {
    use std::collections::HashMap;

    use super::PropagationLimits;
    use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    pub(super) const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    pub(super) const L: PropagationLimits = PropagationLimits::DEFAULT;

    pub(super) fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub(super) fn span(flags: u8, state: TraceState) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::new(flags),
            false,
            state,
        )
    }

    /// A small deterministic pseudo-random generator (xorshift64*).
    pub(super) struct Rng(pub(super) u64);

    impl Rng {
        pub(super) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        pub(super) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        pub(super) fn string(&mut self, max_len: usize) -> String {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| match self.below(4) {
                    0 => char::from_u32(self.below(0x11_0000) as u32).unwrap_or('\u{fffd}'),
                    1 => char::from(self.below(256) as u8),
                    _ => {
                        const ALPHABET: &[u8] = b"0123456789abcdefABCDEF-=,;% \t@*/_.\"\\x";
                        char::from(ALPHABET[self.below(ALPHABET.len())])
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::test_support::{L, Rng, TP, map, span};
    use super::*;

    #[test]
    fn absent_headers_give_empty_values() {
        let c: HashMap<String, String> = HashMap::new();
        assert_eq!(extract_baggage(&c, &L), Baggage::EMPTY);
        let c = map(&[("traceparent", TP)]);
        assert_eq!(
            *extract_trace_context(&c, &L).unwrap().trace_state(),
            TraceState::EMPTY
        );
    }

    #[test]
    fn limits_default_and_explicit() {
        assert_eq!(PropagationLimits::default(), PropagationLimits::DEFAULT);
        assert_eq!(
            (
                L.max_baggage_members,
                L.max_baggage_bytes,
                L.max_tracestate_members
            ),
            (64, 8192, 32)
        );
        let limits = PropagationLimits {
            max_baggage_members: 1,
            max_baggage_bytes: 2,
            max_tracestate_members: 3,
        };
        assert_eq!(
            (
                limits.max_baggage_members,
                limits.max_baggage_bytes,
                limits.max_tracestate_members
            ),
            (1, 2, 3)
        );
        assert_ne!(limits, PropagationLimits::DEFAULT);
    }

    // ----- round trips -------------------------------------------------------------------

    fn round_trip<C: Injector + Extractor>(mut carrier: C) {
        let state =
            TraceState::from_header("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE", 32).unwrap();
        let baggage = Baggage::EMPTY
            .with("user.id", "alice")
            .with("note", "a, b; c = d % e \"f\" \\ é 日本 \u{1F600}\t\n")
            .with_metadata("node", "DF 28", "ttl=5;sticky")
            .with("empty", "");
        for flags in [0x00, 0x01, 0x02, 0x03] {
            let sc = span(flags, state.clone());
            inject_trace_context(&sc, &mut carrier);
            inject_baggage(&baggage, &mut carrier);
            let got = extract_trace_context(&carrier, &L).unwrap();
            assert_eq!(got.trace_id(), sc.trace_id());
            assert_eq!(got.span_id(), sc.span_id());
            assert_eq!(got.trace_flags(), sc.trace_flags());
            assert_eq!(got.trace_state(), &state);
            assert!(got.is_remote());
            assert_eq!(extract_baggage(&carrier, &L), baggage);
        }
    }

    #[test]
    fn round_trip_hash_map() {
        round_trip(HashMap::<String, String>::new());
    }

    #[test]
    fn round_trip_header_map() {
        round_trip(http::HeaderMap::new());
    }

    #[test]
    fn garbage_never_panics_and_extraction_is_idempotent() {
        let valid = [
            TP,
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,a@b=c",
            "key1=value1;property1;property2, key2 = value2, key3=va%20lue3; pk=pv",
        ];
        let mut rng = Rng(42);
        for i in 0..20_000 {
            let s = if i % 2 == 0 {
                rng.string(120)
            } else {
                // Mutate a valid header: replace, insert or delete a few characters.
                let mut chars: Vec<char> = valid[rng.below(valid.len())].chars().collect();
                for _ in 0..=rng.below(3) {
                    let at = rng.below(chars.len() + 1);
                    let c = rng.string(1).chars().next().unwrap_or('-');
                    match rng.below(3) {
                        0 if at < chars.len() => chars[at] = c,
                        1 if at < chars.len() => {
                            chars.remove(at);
                        }
                        _ => chars.insert(at, c),
                    }
                }
                chars.into_iter().collect()
            };
            let limits = PropagationLimits {
                max_baggage_members: rng.below(5),
                max_baggage_bytes: rng.below(200),
                max_tracestate_members: rng.below(5),
            };
            for limits in [&L, &limits] {
                let carriers = [
                    map(&[("traceparent", &s), ("tracestate", &s), ("baggage", &s)]),
                    map(&[("traceparent", TP), ("tracestate", &s), ("baggage", &s)]),
                ];
                for c in &carriers {
                    let sc = extract_trace_context(c, limits);
                    let b = extract_baggage(c, limits);
                    assert!(b.len() <= limits.max_baggage_members);
                    // Extract, inject, extract: the same values.
                    let mut out = HashMap::new();
                    if let Some(sc) = &sc {
                        assert!(sc.trace_state().len() <= limits.max_tracestate_members);
                        inject_trace_context(sc, &mut out);
                    }
                    inject_baggage(&b, &mut out);
                    assert_eq!(extract_trace_context(&out, &L), sc);
                    assert_eq!(extract_baggage(&out, &L), b);
                }
                let _ = TraceState::from_header(&s, limits.max_tracestate_members)
                    .map(|t| (t.insert("k", &s), t.remove("k"), t.iter().count()));
                let _ = Baggage::EMPTY.with_metadata("k", &s, &s).with(&s, &s);
            }
            if let Ok(value) = http::HeaderValue::from_str(&s) {
                let mut h = http::HeaderMap::new();
                h.insert("traceparent", value.clone());
                h.insert("tracestate", value.clone());
                h.append("baggage", value.clone());
                h.append("baggage", value);
                let _ = extract_trace_context(&h, &L);
                let _ = extract_baggage(&h, &L);
            }
        }
    }
}
