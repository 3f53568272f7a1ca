//! W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage (`baggage`), parsed and written
//! by hand: no intermediate strings for the ids, no allocation for absent headers.
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
//! - **`tracestate`** is only read when `traceparent` is valid. Keys follow Trace Context Level 1
//!   (`simple-key` or `tenant@system`); values follow the ABNF `0*255(chr) nblk-chr`, so they have
//!   1 to 256 characters and do not end in a space. Empty and whitespace-only members are skipped.
//!   Any invalid member, a duplicate key or more than
//!   [`max_tracestate_members`](PropagationLimits::max_tracestate_members) members drops the whole
//!   `tracestate` (the `traceparent` is still used). Several `tracestate` headers form one list.
//! - **`baggage`**: a member that does not parse (no `=`, a key that is not an RFC 7230 token, a
//!   value byte outside `baggage-octet`, a `%` not followed by two hex digits, an empty or invalid
//!   property) is skipped and the rest are kept. Percent-decoded bytes that are not UTF-8 are
//!   replaced by U+FFFD, as the Baggage specification requires. Duplicate keys: the last one wins.
//!   Members are taken in order while they fit both limits: the first member that would make the
//!   count exceed [`max_baggage_members`](PropagationLimits::max_baggage_members), or the bytes
//!   (members as received, plus one comma between two) exceed
//!   [`max_baggage_bytes`](PropagationLimits::max_baggage_bytes), ends the extraction: no member
//!   is ever cut.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId};

/// The name of the W3C `traceparent` header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The name of the W3C `tracestate` header.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The name of the W3C `baggage` header.
pub const BAGGAGE_HEADER: &str = "baggage";

/// The trace flags W3C Trace Context defines (`sampled`, `random-trace-id`); the rest are reserved.
const KNOWN_FLAGS: u8 = 0x03;
/// The most members a `tracestate` may have.
pub(crate) const MAX_TRACESTATE_MEMBERS: usize = 32;

// ---------------------------------------------------------------------------------------------
// Byte tables
// ---------------------------------------------------------------------------------------------

/// Lower-case hex digits, for writing ids.
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
/// Upper-case hex digits, for percent-encoding (RFC 3986 prefers them).
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
/// A byte that is not a hex digit in the nibble tables.
const NOT_HEX: u8 = 0xff;

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

/// Lower-case hex only, as Trace Context requires.
static NIBBLE_LOWER: [u8; 256] = nibble_table(false);
/// Either case, for percent-decoding.
static NIBBLE_ANY: [u8; 256] = nibble_table(true);

/// RFC 7230 `tchar`.
const TCHAR: u8 = 1;
/// W3C Baggage `baggage-octet`.
const BAGGAGE_OCTET: u8 = 2;
/// `tracestate` key characters after the first: `a-z 0-9 _ - * /`.
const TS_KEYCHAR: u8 = 4;
/// `tracestate` value characters (`chr`): 0x20-0x7E except `,` and `=`.
const TS_VALUE: u8 = 8;
/// Bytes that `inject_baggage` writes as is; the others are percent-encoded.
const BAGGAGE_PLAIN: u8 = 16;

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        let alnum = c.is_ascii_alphanumeric();
        if alnum
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            class |= TCHAR;
        }
        if matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) {
            class |= BAGGAGE_OCTET;
            if c != b'%' && c != b'=' {
                class |= BAGGAGE_PLAIN;
            }
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/') {
            class |= TS_KEYCHAR;
        }
        if matches!(c, 0x20..=0x7e) && c != b',' && c != b'=' {
            class |= TS_VALUE;
        }
        t[b] = class;
        b += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

#[inline]
fn has_class(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

/// Optional whitespace (RFC 7230 `OWS`): space and horizontal tab.
#[inline]
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing `OWS`.
#[inline]
fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Whether `s` is a non-empty RFC 7230 token.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| has_class(b, TCHAR))
}

// ---------------------------------------------------------------------------------------------
// Limits and carriers
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

    /// The limits set in the `propagation` section of the configuration.
    #[must_use]
    pub fn from_config(config: &crate::config::PropagationConfig) -> Self {
        PropagationLimits {
            max_baggage_members: config.max_baggage_members,
            max_baggage_bytes: config.max_baggage_bytes,
            max_tracestate_members: config.max_tracestate_members,
        }
    }
}

impl Default for PropagationLimits {
    fn default() -> Self {
        PropagationLimits::DEFAULT
    }
}

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

/// Header names are looked up as given (the propagators ask in lower case); a value that is not
/// visible ASCII is ignored. Every value of a repeated header is seen by
/// [`get_all`](Extractor::get_all).
/// The propagators' own header names, prebuilt: looking one up skips parsing the name.
fn known_header(key: &str) -> Option<http::HeaderName> {
    match key {
        TRACEPARENT_HEADER => Some(http::HeaderName::from_static(TRACEPARENT_HEADER)),
        TRACESTATE_HEADER => Some(http::HeaderName::from_static(TRACESTATE_HEADER)),
        BAGGAGE_HEADER => Some(http::HeaderName::from_static(BAGGAGE_HEADER)),
        _ => None,
    }
}

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

// ---------------------------------------------------------------------------------------------
// traceparent
// ---------------------------------------------------------------------------------------------

/// Decodes two lower-case hex digits.
#[inline]
fn decode_hex2(text: [u8; 2]) -> Option<u8> {
    let high = NIBBLE_LOWER[usize::from(text[0])];
    let low = NIBBLE_LOWER[usize::from(text[1])];
    ((high | low) & 0xf0 == 0).then_some((high << 4) | low)
}

/// `0x01` in every byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
const HIGHS: u64 = 0x8080_8080_8080_8080;
/// The low nibble of every other byte of a word.
const LOW_NIBBLE_PAIRS: u64 = 0x000f_000f_000f_000f;

/// Decodes 8 lower-case hex digits into 4 bytes, 8 digits at a time in one `u64` (SWAR).
/// Returns the bytes and a mask that is not zero when a digit was invalid.
#[inline(always)]
fn decode_hex8(chunk: [u8; 8]) -> ([u8; 4], u64) {
    let x = u64::from_le_bytes(chunk);
    // For bytes below 0x80 (checked below), adding `0x80 - lo` sets the byte's high bit exactly
    // when it is >= lo, and adding `0x7f - hi` exactly when it is > hi; no byte carries into the
    // next. (A byte >= 0x80 may carry, but then the whole word is rejected anyway.)
    let at_least = |lo: u8| x.wrapping_add(ONES * u64::from(0x80 - lo));
    let above = |hi: u8| x.wrapping_add(ONES * u64::from(0x7f - hi));
    let digit = at_least(b'0') & !above(b'9');
    let letter = at_least(b'a') & !above(b'f');
    let invalid = (x | !(digit | letter)) & HIGHS;
    // '0'..'9' -> 0..9 and 'a'..'f' -> 1..6, plus 9 for letters.
    let nibbles = (x & (ONES * 0x0f)) + ((letter & HIGHS) >> 7) * 9;
    // Each 16-bit lane: first digit << 4 | second digit; then pack the four lanes' low bytes.
    let pairs = ((nibbles & LOW_NIBBLE_PAIRS) << 4) | ((nibbles >> 8) & LOW_NIBBLE_PAIRS);
    let packed = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    let packed = (packed | (packed >> 16)) & 0xffff_ffff;
    // `packed` fits in 32 bits: the mask above keeps exactly those.
    ((packed as u32).to_le_bytes(), invalid)
}

/// Decodes exactly `2 * N` lower-case hex digits, `N` a multiple of 4 (ids); `None` for any
/// other length or any other byte (upper-case digits included, as Trace Context requires).
/// Also behind [`TraceId::from_hex`] and [`SpanId::from_hex`].
#[inline(always)]
pub(crate) fn decode_hex_id<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    const { assert!(N % 4 == 0, "ids are decoded 4 bytes at a time") };
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut invalid = 0;
    // Index loops (not iterator adapters): with `N` known they unroll to straight-line code.
    for k in 0..N / 4 {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&text[8 * k..8 * k + 8]);
        let (bytes, bad) = decode_hex8(chunk);
        out[4 * k..4 * k + 4].copy_from_slice(&bytes);
        invalid |= bad;
    }
    (invalid == 0).then_some(out)
}

/// Encodes 4 bytes as 8 lower-case hex digits, in one `u64` (SWAR).
#[inline]
fn encode_hex4(bytes: &[u8; 4]) -> [u8; 8] {
    // Spread byte k to bits 16k..16k+8, then split it into high nibble (byte 2k) and low nibble
    // (byte 2k + 1).
    let v = u64::from(u32::from_le_bytes(*bytes));
    let v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
    let v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
    let nibbles = ((v >> 4) & LOW_NIBBLE_PAIRS) | ((v & LOW_NIBBLE_PAIRS) << 8);
    // '0' + n, and 39 more ('a' - '9' - 1) when n > 9.
    let above_nine = ((nibbles + ONES * 6) >> 4) & ONES;
    (nibbles + ONES * u64::from(b'0') + above_nine * 39).to_le_bytes()
}

/// Writes an id's bytes as `2 * N` lower-case hex digits at the start of `out`, `N` a multiple
/// of 4. Also behind [`TraceId::encode_hex`] and [`SpanId::encode_hex`].
///
/// # Panics
///
/// If `out` is shorter than `2 * N` bytes (callers pass fixed-size buffers, so never).
#[inline(always)]
pub(crate) fn encode_hex_id<const N: usize>(bytes: &[u8; N], out: &mut [u8]) {
    const { assert!(N % 4 == 0, "ids are encoded 4 bytes at a time") };
    for k in 0..N / 4 {
        let mut chunk = [0u8; 4];
        chunk.copy_from_slice(&bytes[4 * k..4 * k + 4]);
        out[8 * k..8 * k + 8].copy_from_slice(&encode_hex4(&chunk));
    }
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

// ---------------------------------------------------------------------------------------------
// tracestate
// ---------------------------------------------------------------------------------------------

/// Why [`TraceState::insert`] refused a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    /// The key is neither a `simple-key` (`[a-z][a-z0-9_\-*/]{0,255}`) nor a `multi-tenant-key`
    /// (`tenant@system`).
    #[error("invalid tracestate key: expected [a-z][a-z0-9_-*/]{{0,255}} or tenant@system")]
    InvalidKey,
    /// The value is not 1 to 256 printable ASCII characters other than `,` and `=`, ending in a
    /// non-space.
    #[error(
        "invalid tracestate value: expected 1 to 256 printable ASCII characters except ',' and '=', not ending in a space"
    )]
    InvalidValue,
}

/// Whether `key` is a Trace Context Level 1 `tracestate` key.
fn valid_trace_state_key(key: &str) -> bool {
    fn part(s: &[u8], max_len: usize, digit_first: bool) -> bool {
        match s.split_first() {
            Some((&first, rest)) => {
                s.len() <= max_len
                    && (first.is_ascii_lowercase() || (digit_first && first.is_ascii_digit()))
                    && rest.iter().all(|&b| has_class(b, TS_KEYCHAR))
            }
            None => false,
        }
    }
    let bytes = key.as_bytes();
    match bytes.iter().position(|&b| b == b'@') {
        None => part(bytes, 256, false),
        Some(at) => part(&bytes[..at], 241, true) && part(&bytes[at + 1..], 14, false),
    }
}

/// Whether `value` is a `tracestate` value.
fn valid_trace_state_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 256
        && bytes.last() != Some(&b' ')
        && bytes.iter().all(|&b| has_class(b, TS_VALUE))
}

/// Builds the canonical `tracestate` (no OWS, no empty members) from one or more header values.
struct TraceStateParser {
    out: String,
    members: usize,
    max_members: usize,
    valid: bool,
}

impl TraceStateParser {
    fn new(max_members: usize) -> Self {
        TraceStateParser {
            out: String::new(),
            members: 0,
            max_members,
            valid: true,
        }
    }

    fn push(&mut self, header: &str) {
        if !self.valid {
            return;
        }
        self.out.reserve(header.len() + 1);
        for raw in header.split(',') {
            let member = trim_ows(raw);
            if member.is_empty() {
                continue;
            }
            let ok = match member.split_once('=') {
                Some((key, value)) => {
                    valid_trace_state_key(key)
                        && valid_trace_state_value(value)
                        && self.members < self.max_members
                        && !members(&self.out).any(|(k, _)| k == key)
                }
                None => false,
            };
            if !ok {
                self.valid = false;
                self.out = String::new();
                return;
            }
            if !self.out.is_empty() {
                self.out.push(',');
            }
            self.out.push_str(member);
            self.members += 1;
        }
    }

    fn finish(self) -> Option<TraceState> {
        if !self.valid {
            None
        } else if self.out.is_empty() {
            Some(TraceState::EMPTY)
        } else {
            Some(TraceState(Some(Arc::from(self.out))))
        }
    }
}

/// The `(key, value)` members of a canonical `tracestate`.
fn members(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header
        .split(',')
        .filter(|m| !m.is_empty())
        .filter_map(|m| m.split_once('='))
}

/// W3C `tracestate`: vendor key/value pairs carried with a trace, in order (most recent first).
///
/// Held as its canonical header value (no whitespace, no empty members) behind an `Arc`, so a
/// clone is a reference-count bump and injecting it is a copy. The empty trace state allocates
/// nothing.
///
/// ```
/// use hyperion::TraceState;
/// let state = TraceState::from_header("congo=t61rcWkgMzE, ,rojo=00f067aa0ba902b7", 32).unwrap();
/// let state = state.insert("rojo", "b9c7c989f97918e1").unwrap();
/// assert_eq!(state.header(), "rojo=b9c7c989f97918e1,congo=t61rcWkgMzE");
/// assert_eq!(state.remove("congo").header(), "rojo=b9c7c989f97918e1");
/// assert!(TraceState::from_header("Congo=x", 32).is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TraceState(Option<Arc<str>>);

impl TraceState {
    /// The empty trace state.
    pub const EMPTY: TraceState = TraceState(None);

    /// Parses a `tracestate` header value. Returns `None` when it is invalid: a member without
    /// `=`, an invalid key or value, a duplicate key, or more than `max_members` members (the W3C
    /// limit is 32). Whitespace around members and empty members are dropped.
    #[must_use]
    pub fn from_header(header: &str, max_members: usize) -> Option<TraceState> {
        let mut parser = TraceStateParser::new(max_members);
        parser.push(header);
        parser.finish()
    }

    /// The value of `key`, if present.
    ///
    /// ```
    /// use hyperion::TraceState;
    /// let state = TraceState::from_header("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 32).unwrap();
    /// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
    /// assert_eq!(state.get("blue"), None);
    /// ```
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        members(self.header()).find_map(|(k, v)| (k == key).then_some(v))
    }

    /// This trace state with `key` set to `value`, moved to the front (left) of the list as the
    /// specification requires. When that makes more than 32 members, the right-most are dropped.
    ///
    /// # Errors
    ///
    /// [`TraceStateError::InvalidKey`] or [`TraceStateError::InvalidValue`] when `key` or `value`
    /// does not follow the W3C grammar (see [`TraceStateError`]).
    ///
    /// ```
    /// use hyperion::{TraceState, TraceStateError};
    /// let state = TraceState::EMPTY.insert("congo", "t61rcWkgMzE")?;
    /// let state = state.insert("rojo", "00f067aa0ba902b7")?;
    /// assert_eq!(state.header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    /// assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
    /// assert_eq!(state.insert("Rojo", "x"), Err(TraceStateError::InvalidKey));
    /// # Ok::<(), TraceStateError>(())
    /// ```
    pub fn insert(&self, key: &str, value: &str) -> Result<TraceState, TraceStateError> {
        if !valid_trace_state_key(key) {
            return Err(TraceStateError::InvalidKey);
        }
        if !valid_trace_state_value(value) {
            return Err(TraceStateError::InvalidValue);
        }
        let old = self.header();
        let mut out = String::with_capacity(key.len() + value.len() + 2 + old.len());
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        let mut count = 1;
        for member in old.split(',') {
            if count == MAX_TRACESTATE_MEMBERS {
                break;
            }
            match member.split_once('=') {
                Some((k, _)) if k != key => {
                    out.push(',');
                    out.push_str(member);
                    count += 1;
                }
                _ => {}
            }
        }
        Ok(TraceState(Some(Arc::from(out))))
    }

    /// This trace state without `key`.
    #[must_use]
    pub fn remove(&self, key: &str) -> TraceState {
        if self.get(key).is_none() {
            return self.clone();
        }
        let mut out = String::with_capacity(self.header().len());
        for member in self.header().split(',') {
            if member.split_once('=').is_some_and(|(k, _)| k != key) {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(member);
            }
        }
        if out.is_empty() {
            TraceState::EMPTY
        } else {
            TraceState(Some(Arc::from(out)))
        }
    }

    /// The header value: members joined by `,` (`""` when empty).
    #[inline]
    #[must_use]
    pub fn header(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// Whether there are no members.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        members(self.header()).count()
    }

    /// The `(key, value)` members, most recent first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        members(self.header())
    }
}

impl fmt::Display for TraceState {
    /// Writes the header value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

// ---------------------------------------------------------------------------------------------
// baggage
// ---------------------------------------------------------------------------------------------

/// Every entry's key, value and metadata, one after another in one string; `ends[i]` holds where
/// entry `i`'s key, value and metadata end (it starts where entry `i - 1` ends).
#[derive(PartialEq, Eq, Default)]
struct BaggageBuf {
    text: String,
    ends: Vec<[usize; 3]>,
}

impl BaggageBuf {
    fn entry(&self, i: usize) -> (&str, &str, &str) {
        let start = if i == 0 { 0 } else { self.ends[i - 1][2] };
        let [key_end, value_end, end] = self.ends[i];
        let slice = |a: usize, b: usize| self.text.get(a..b).unwrap_or_default();
        (
            slice(start, key_end),
            slice(key_end, value_end),
            slice(value_end, end),
        )
    }

    fn position(&self, key: &str) -> Option<usize> {
        (0..self.ends.len()).find(|&i| self.entry(i).0 == key)
    }

    fn push(&mut self, key: &str, value: &str, metadata: &str) {
        self.text.push_str(key);
        let key_end = self.text.len();
        self.text.push_str(value);
        let value_end = self.text.len();
        self.text.push_str(metadata);
        self.ends.push([key_end, value_end, self.text.len()]);
    }

    fn remove(&mut self, i: usize) {
        let start = if i == 0 { 0 } else { self.ends[i - 1][2] };
        let end = self.ends[i][2];
        self.text.replace_range(start..end, "");
        self.ends.remove(i);
        for ends in &mut self.ends[i..] {
            for e in ends {
                *e -= end - start;
            }
        }
    }

    fn finish(self) -> Baggage {
        if self.ends.is_empty() {
            Baggage::EMPTY
        } else {
            Baggage(Some(Arc::new(self)))
        }
    }
}

/// Appends a property list (`k1=v1;k2`) to `out` in canonical form: OWS dropped, properties
/// joined by `;`.
/// Returns false when a property is empty or invalid.
fn parse_properties(properties: &str, out: &mut String) -> bool {
    for (i, raw) in properties.split(';').enumerate() {
        let property = trim_ows(raw);
        let (key, value) = match property.split_once('=') {
            Some((k, v)) => (trim_ows(k), Some(trim_ows(v))),
            None => (property, None),
        };
        if !is_token(key) {
            return false;
        }
        if i > 0 {
            out.push(';');
        }
        out.push_str(key);
        if let Some(value) = value {
            if !value.bytes().all(|b| has_class(b, BAGGAGE_OCTET)) {
                return false;
            }
            out.push('=');
            out.push_str(value);
        }
    }
    true
}

/// What [`percent_decode`] does with a `%` that is not followed by two hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InvalidEscape {
    /// Fail: W3C Baggage makes such a member invalid, so it is skipped.
    Reject,
    /// Keep the `%` as a literal character. The configuration reads its `k=v` lists
    /// (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`) this way: they are typed by
    /// hand, and a stray `%` (in a token, say) should not make a whole variable fail.
    Keep,
}

/// Percent-decodes `value` (`%XX`, either case) into `out`; false when a `%` is not followed by
/// two hex digits and `invalid` is [`InvalidEscape::Reject`]. Decoded bytes that are not UTF-8
/// become U+FFFD (as W3C Baggage requires). `scratch` holds the bytes between the two steps.
pub(crate) fn percent_decode(
    value: &str,
    invalid: InvalidEscape,
    scratch: &mut Vec<u8>,
    out: &mut String,
) -> bool {
    if !value.contains('%') {
        out.push_str(value);
        return true;
    }
    scratch.clear();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let high = bytes
                .get(i + 1)
                .map_or(NOT_HEX, |&c| NIBBLE_ANY[usize::from(c)]);
            let low = bytes
                .get(i + 2)
                .map_or(NOT_HEX, |&c| NIBBLE_ANY[usize::from(c)]);
            if (high | low) & 0xf0 == 0 {
                scratch.push((high << 4) | low);
                i += 3;
                continue;
            }
            if invalid == InvalidEscape::Reject {
                return false;
            }
        }
        scratch.push(b);
        i += 1;
    }
    out.push_str(&String::from_utf8_lossy(scratch));
    true
}

/// Reads `baggage` header values into a [`BaggageBuf`], within limits.
struct BaggageParser<'a> {
    buf: BaggageBuf,
    limits: &'a PropagationLimits,
    bytes: usize,
    done: bool,
    scratch: Vec<u8>,
}

impl<'a> BaggageParser<'a> {
    fn new(limits: &'a PropagationLimits) -> Self {
        BaggageParser {
            buf: BaggageBuf::default(),
            limits,
            bytes: 0,
            done: false,
            scratch: Vec::new(),
        }
    }

    fn push(&mut self, header: &str) {
        if self.done {
            return;
        }
        // Decoded members are never longer than received ones: one allocation for the text, one
        // for the offsets.
        let room = self.limits.max_baggage_bytes.saturating_sub(self.bytes);
        self.buf.text.reserve(header.len().min(room));
        let members = header.bytes().filter(|&b| b == b',').count() + 1;
        let slots = self
            .limits
            .max_baggage_members
            .saturating_sub(self.buf.ends.len());
        self.buf.ends.reserve(members.min(slots));
        for raw in header.split(',') {
            if self.done {
                return;
            }
            let member = trim_ows(raw);
            if member.is_empty() {
                continue;
            }
            let start = self.buf.text.len();
            let Some((key_end, value_end)) = self.parse_member(member) else {
                self.buf.text.truncate(start);
                continue;
            };
            let cost = member.len() + usize::from(self.bytes > 0);
            let key = self.buf.text.get(start..key_end).unwrap_or_default();
            let existing = self.buf.position(key);
            if self.bytes.saturating_add(cost) > self.limits.max_baggage_bytes
                || (existing.is_none() && self.buf.ends.len() >= self.limits.max_baggage_members)
            {
                self.buf.text.truncate(start);
                self.done = true;
                return;
            }
            self.bytes += cost;
            let end = self.buf.text.len();
            self.buf.ends.push([key_end, value_end, end]);
            if let Some(i) = existing {
                self.buf.remove(i);
            }
        }
    }

    /// Appends one trimmed, non-empty member's key, decoded value and canonical metadata to the
    /// text, and returns where the key and the value end; `None` when the member is invalid (the
    /// caller then truncates the text).
    fn parse_member(&mut self, member: &str) -> Option<(usize, usize)> {
        let (pair, properties) = match member.split_once(';') {
            Some((pair, properties)) => (pair, Some(properties)),
            None => (member, None),
        };
        let (key, value) = pair.split_once('=')?;
        let (key, value) = (trim_ows(key), trim_ows(value));
        if !is_token(key) || !value.bytes().all(|b| has_class(b, BAGGAGE_OCTET)) {
            return None;
        }
        let text = &mut self.buf.text;
        text.push_str(key);
        let key_end = text.len();
        if !percent_decode(value, InvalidEscape::Reject, &mut self.scratch, text) {
            return None;
        }
        let value_end = text.len();
        if let Some(properties) = properties {
            if !parse_properties(properties, text) {
                return None;
            }
        }
        Some((key_end, value_end))
    }
}

/// W3C baggage: key/value pairs (each with optional metadata, the W3C "properties") carried
/// with a request across services.
///
/// Keys are RFC 7230 tokens; values are any strings (percent-decoded on extract and
/// percent-encoded on inject). Keys are unique, in insertion order. The empty baggage
/// allocates nothing and a clone is a reference-count bump.
///
/// ```
/// use hyperion::Baggage;
/// let baggage = Baggage::EMPTY.with("user.id", "alice").with("region", "eu west");
/// assert_eq!(baggage.get("region"), Some("eu west"));
/// assert_eq!(baggage.len(), 2);
/// let baggage = baggage.without("user.id");
/// assert_eq!(baggage.iter().collect::<Vec<_>>(), [("region", "eu west", "")]);
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Baggage(Option<Arc<BaggageBuf>>);

impl Baggage {
    /// The empty baggage.
    pub const EMPTY: Baggage = Baggage(None);

    /// The value of `key`, if present.
    ///
    /// ```
    /// use hyperion::Baggage;
    /// let baggage = Baggage::EMPTY.with("tenant", "acme");
    /// assert_eq!(baggage.get("tenant"), Some("acme"));
    /// assert_eq!(baggage.get("user.id"), None);
    /// ```
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        let buf = self.0.as_deref()?;
        buf.position(key).map(|i| buf.entry(i).1)
    }

    /// The entries in order: `(key, value, metadata)`, where metadata is the W3C property list
    /// (`k1=v1;k2`, without the leading `;`) or `""`.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str, &str)> + '_ {
        let buf = self.0.as_deref();
        (0..self.len()).map(move |i| buf.map_or(("", "", ""), |b| b.entry(i)))
    }

    /// The number of entries.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |b| b.ends.len())
    }

    /// Whether there are no entries.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// This baggage with `key` set to `value` (without metadata). An existing entry for `key` is
    /// replaced where it stands; a new one goes last. A `key` that is not an RFC 7230 token
    /// (empty, or with spaces, `=`, `,`, `;`, non-ASCII, ...) cannot be propagated: the baggage
    /// is returned unchanged.
    ///
    /// ```
    /// use hyperion::Baggage;
    /// let baggage = Baggage::EMPTY.with("tenant", "acme").with("tenant", "globex");
    /// assert_eq!(baggage.get("tenant"), Some("globex"));
    /// assert_eq!(baggage.len(), 1);
    /// assert!(Baggage::EMPTY.with("user id", "42").is_empty()); // not a token
    /// ```
    #[must_use]
    pub fn with(&self, key: &str, value: &str) -> Baggage {
        self.with_metadata(key, value, "")
    }

    /// Like [`with`](Baggage::with), with metadata: a W3C property list such as `k1=v1;k2`
    /// (whitespace around properties is dropped). Invalid metadata leaves the baggage unchanged.
    #[must_use]
    pub fn with_metadata(&self, key: &str, value: &str, metadata: &str) -> Baggage {
        if !is_token(key) {
            return self.clone();
        }
        let mut canonical = String::new();
        if !trim_ows(metadata).is_empty() && !parse_properties(metadata, &mut canonical) {
            return self.clone();
        }
        let mut buf = BaggageBuf::default();
        let mut replaced = false;
        for (k, v, m) in self.iter() {
            if k == key {
                buf.push(key, value, &canonical);
                replaced = true;
            } else {
                buf.push(k, v, m);
            }
        }
        if !replaced {
            buf.push(key, value, &canonical);
        }
        buf.finish()
    }

    /// This baggage without `key`.
    #[must_use]
    pub fn without(&self, key: &str) -> Baggage {
        let Some(buf) = self.0.as_deref() else {
            return Baggage::EMPTY;
        };
        let Some(i) = buf.position(key) else {
            return self.clone();
        };
        let mut new = BaggageBuf {
            text: buf.text.clone(),
            ends: buf.ends.clone(),
        };
        new.remove(i);
        new.finish()
    }

    /// The `baggage` header value: values percent-encoded, metadata after a `;`.
    fn header(&self) -> String {
        let Some(buf) = self.0.as_deref() else {
            return String::new();
        };
        let mut out = String::with_capacity(buf.text.len() + 4 * buf.ends.len());
        for (i, (key, value, metadata)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push('=');
            percent_encode(value, &mut out);
            if !metadata.is_empty() {
                out.push(';');
                out.push_str(metadata);
            }
        }
        out
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Baggage")?;
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Appends `value` percent-encoded: every byte outside `baggage-octet`, and `%` and `=`.
fn percent_encode(value: &str, out: &mut String) {
    let mut plain_start = 0;
    for (i, b) in value.bytes().enumerate() {
        if !has_class(b, BAGGAGE_PLAIN) {
            out.push_str(value.get(plain_start..i).unwrap_or_default());
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
            plain_start = i + 1;
        }
    }
    out.push_str(value.get(plain_start..).unwrap_or_default());
}

/// Writes the `baggage` header when the baggage is not empty. Values are percent-encoded
/// (space, `"`, `,`, `;`, `\`, `%`, `=`, control characters and every non-ASCII byte of their
/// UTF-8), so any string survives the round trip. No limit is applied on inject.
///
/// ```
/// use std::collections::HashMap;
/// use hyperion::propagation::inject_baggage;
/// use hyperion::Baggage;
///
/// let baggage = Baggage::EMPTY.with("user", "Zoë").with_metadata("node", "DF 28", "ttl=5");
/// let mut headers: HashMap<String, String> = HashMap::new();
/// inject_baggage(&baggage, &mut headers);
/// assert_eq!(headers["baggage"], "user=Zo%C3%AB,node=DF%2028;ttl=5");
/// ```
pub fn inject_baggage(baggage: &Baggage, carrier: &mut dyn Injector) {
    if !baggage.is_empty() {
        carrier.set(BAGGAGE_HEADER, &baggage.header());
    }
}

/// Reads every `baggage` header, within `limits`. Invalid members are skipped; see the module
/// documentation for the rules. Allocates nothing when there is no baggage.
///
/// ```
/// use std::collections::HashMap;
/// use hyperion::propagation::{extract_baggage, PropagationLimits};
///
/// let mut headers = HashMap::new();
/// headers.insert("baggage".to_string(), "userId=alice, serverNode = DF%2028;ttl=5, bad key=x".to_string());
/// let baggage = extract_baggage(&headers, &PropagationLimits::DEFAULT);
/// assert_eq!(baggage.get("serverNode"), Some("DF 28"));
/// assert_eq!(
///     baggage.iter().collect::<Vec<_>>(),
///     [("userId", "alice", ""), ("serverNode", "DF 28", "ttl=5")]
/// );
/// ```
pub fn extract_baggage(carrier: &dyn Extractor, limits: &PropagationLimits) -> Baggage {
    let mut parser = BaggageParser::new(limits);
    carrier.get_all(BAGGAGE_HEADER, &mut |value| parser.push(value));
    parser.buf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const L: PropagationLimits = PropagationLimits::DEFAULT;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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

    fn bag(value: &str) -> Baggage {
        extract_baggage(&map(&[("baggage", value)]), &L)
    }

    fn bag_with(value: &str, limits: &PropagationLimits) -> Baggage {
        extract_baggage(&map(&[("baggage", value)]), limits)
    }

    fn entries(b: &Baggage) -> Vec<(String, String, String)> {
        b.iter()
            .map(|(k, v, m)| (k.to_string(), v.to_string(), m.to_string()))
            .collect()
    }

    fn keys(b: &Baggage) -> Vec<&str> {
        b.iter().map(|(k, _, _)| k).collect()
    }

    fn span(flags: u8, state: TraceState) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::new(flags),
            false,
            state,
        )
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

    #[test]
    fn hex_swar_matches_reference() {
        let reference = |digits: &[u8]| -> Option<Vec<u8>> {
            let s = std::str::from_utf8(digits).ok()?;
            if !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return None;
            }
            (0..digits.len() / 2)
                .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
                .collect()
        };
        let mut rng = Rng(7);
        let mut words = Vec::new();
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut w = *b"0a1b2c3d";
                w[at] = b;
                words.push(w);
            }
        }
        for _ in 0..20_000 {
            let mut w = [0u8; 8];
            const DIGITS: &[u8] = b"0123456789abcdefABCDEFgG/:`\x80\xff";
            for x in &mut w {
                *x = DIGITS[rng.below(DIGITS.len())];
            }
            words.push(w);
        }
        for w in &words {
            let (bytes, invalid) = decode_hex8(*w);
            let decoded = (invalid == 0).then(|| bytes.to_vec());
            assert_eq!(decoded, reference(w), "{w:?}");
            if invalid == 0 {
                assert_eq!(&encode_hex4(&bytes), w);
            }
        }
        for _ in 0..20_000 {
            let bytes = (rng.next() as u32).to_le_bytes();
            let hex = encode_hex4(&bytes);
            assert_eq!(
                std::str::from_utf8(&hex).unwrap(),
                format!(
                    "{:02x}{:02x}{:02x}{:02x}",
                    bytes[0], bytes[1], bytes[2], bytes[3]
                )
            );
        }
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
        for key in [
            "A",
            "0a",
            "_a",
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
    fn tracestate_multi_tenant_key_rules() {
        let ok_tenant = "t".repeat(241);
        let ok_system = format!("s{}", "y".repeat(13));
        for key in [
            "a@b",
            "0@b",
            "0t_-*/@s0_-*/",
            &format!("{ok_tenant}@{ok_system}"),
        ] {
            assert_eq!(ts(TP, &format!("{key}=v")).get(key), Some("v"), "{key}");
        }
        for key in [
            "@b",
            "a@",
            "a@0",
            "a@b@c",
            "A@b",
            "a@B",
            &format!("{ok_tenant}t@s"),
            &format!("a@{ok_system}y"),
        ] {
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
    fn tracestate_duplicate_keys_dropped() {
        assert!(ts(TP, "a=1,b=2,a=3").is_empty());
        assert!(TraceState::from_header("a=1,a=1", 32).is_none());
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
        // The combined list is checked as one: a duplicate across headers is invalid.
        h.append("tracestate", "a=4".parse().unwrap());
        assert!(
            extract_trace_context(&h, &L)
                .unwrap()
                .trace_state()
                .is_empty()
        );
    }

    #[test]
    fn tracestate_insert_moves_to_front() {
        let s = TraceState::from_header("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", 32).unwrap();
        let s = s.insert("rojo", "b9c7c989f97918e1").unwrap();
        assert_eq!(s.header(), "rojo=b9c7c989f97918e1,congo=t61rcWkgMzE");
        let s = s.insert("new@vendor", "x").unwrap();
        assert_eq!(
            s.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["new@vendor", "rojo", "congo"]
        );
        assert_eq!(TraceState::EMPTY.insert("a", "b").unwrap().header(), "a=b");
    }

    #[test]
    fn tracestate_insert_validates_key_and_value() {
        assert_eq!(
            TraceState::EMPTY.insert("A", "b"),
            Err(TraceStateError::InvalidKey)
        );
        assert_eq!(
            TraceState::EMPTY.insert("", "b"),
            Err(TraceStateError::InvalidKey)
        );
        assert_eq!(
            TraceState::EMPTY.insert("a", ""),
            Err(TraceStateError::InvalidValue)
        );
        assert_eq!(
            TraceState::EMPTY.insert("a", "b,c"),
            Err(TraceStateError::InvalidValue)
        );
        assert_eq!(
            TraceState::EMPTY.insert("a", "b "),
            Err(TraceStateError::InvalidValue)
        );
        assert!(!TraceStateError::InvalidKey.to_string().is_empty());
    }

    #[test]
    fn tracestate_insert_keeps_at_most_32_members() {
        let full = (0..32)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let s = TraceState::from_header(&full, 32)
            .unwrap()
            .insert("new", "x")
            .unwrap();
        assert_eq!(s.len(), 32);
        assert_eq!(s.get("new"), Some("x"));
        assert_eq!(s.get("k30"), Some("v"));
        assert_eq!(s.get("k31"), None);
        // Updating a key of a full list drops nothing.
        let s = s.insert("k5", "y").unwrap();
        assert_eq!(s.len(), 32);
        assert_eq!(s.get("k30"), Some("v"));
    }

    #[test]
    fn tracestate_remove() {
        let s = TraceState::from_header("a=1,b=2,c=3", 32).unwrap();
        assert_eq!(s.remove("b").header(), "a=1,c=3");
        assert_eq!(s.remove("x"), s);
        assert_eq!(s.remove("a").remove("b").remove("c"), TraceState::EMPTY);
        assert_eq!(TraceState::EMPTY.remove("a"), TraceState::EMPTY);
    }

    // ----- baggage -----------------------------------------------------------------------

    #[test]
    fn baggage_members_properties_and_ows() {
        let b = bag(
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        );
        assert_eq!(
            entries(&b),
            [
                ("key1".into(), "value1".into(), "property1;property2".into()),
                ("key2".into(), "value2".into(), String::new()),
                (
                    "key3".into(),
                    "value3".into(),
                    "propertyKey=propertyValue".into()
                ),
            ]
        );
        let b = bag("k = v ; p = x ;\tq\t");
        assert_eq!(entries(&b), [("k".into(), "v".into(), "p=x;q".into())]);
        // Values and property values may contain `=`.
        assert_eq!(
            bag("k=a=b;p=c=d").iter().next(),
            Some(("k", "a=b", "p=c=d"))
        );
        assert_eq!(bag("k=").get("k"), Some(""));
        assert!(bag("").is_empty());
    }

    #[test]
    fn baggage_values_percent_decoded() {
        let b = bag("serverNode=DF%2028,name=Zo%C3%ab,pct=100%25,plus=a+b");
        assert_eq!(b.get("serverNode"), Some("DF 28"));
        assert_eq!(b.get("name"), Some("Zoë"));
        assert_eq!(b.get("pct"), Some("100%"));
        assert_eq!(b.get("plus"), Some("a+b"));
    }

    #[test]
    fn baggage_invalid_percent_escape_skips_member() {
        let b = bag("a=%zz,b=%2,c=50%,d=ok");
        assert_eq!(keys(&b), ["d"]);
    }

    #[test]
    fn baggage_non_utf8_after_decoding_replaced() {
        assert_eq!(bag("a=x%FFy").get("a"), Some("x\u{fffd}y"));
        assert_eq!(bag("a=%C3").get("a"), Some("\u{fffd}"));
    }

    #[test]
    fn baggage_member_without_equals_skipped() {
        assert_eq!(keys(&bag("a=1,novalue,b=2;p")), ["a", "b"]);
    }

    #[test]
    fn baggage_empty_or_invalid_key_skipped() {
        assert_eq!(keys(&bag("=1,a b=2,a\"=3,(x)=4,ok=5,é=6")), ["ok"]);
    }

    #[test]
    fn baggage_invalid_value_skipped() {
        assert_eq!(keys(&bag("a=x y,b=\"q\",c=x\\y,d=é,e=fine")), ["e"]);
    }

    #[test]
    fn baggage_invalid_property_skips_member() {
        assert_eq!(keys(&bag("a=1;,b=2;;p,c=3;p=x y,d=4;=x,e=5;p=1;q")), ["e"]);
    }

    #[test]
    fn baggage_member_limit() {
        let header = (0..70)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let b = bag(&header);
        assert_eq!(b.len(), 64);
        assert_eq!(b.get("k63"), Some("v"));
        assert_eq!(b.get("k64"), None);
        let small = PropagationLimits {
            max_baggage_members: 3,
            ..L
        };
        assert_eq!(
            keys(&bag_with("bad,a=1,b=2,c=3,d=4", &small)),
            ["a", "b", "c"]
        );
        let none = PropagationLimits {
            max_baggage_members: 0,
            ..L
        };
        assert!(bag_with("a=1", &none).is_empty());
    }

    #[test]
    fn baggage_byte_limit_keeps_whole_members_that_fit() {
        let limits = PropagationLimits {
            max_baggage_bytes: 11,
            ..L
        };
        // "a=1" (3) + ",b=22" (5) = 8; ",c=333" would make 14.
        assert_eq!(
            keys(&bag_with("a=1, b=22 , c=333,d=4", &limits)),
            ["a", "b"]
        );
        let exact = PropagationLimits {
            max_baggage_bytes: 14,
            ..L
        };
        assert_eq!(keys(&bag_with("a=1,b=22,c=333", &exact)), ["a", "b", "c"]);
        let tiny = PropagationLimits {
            max_baggage_bytes: 2,
            ..L
        };
        assert!(bag_with("a=1", &tiny).is_empty());
        // The default allows 8192 bytes.
        let big = format!("k={}", "v".repeat(8190));
        assert_eq!(bag(&big).len(), 1);
        assert!(bag(&format!("{big}v")).is_empty());
    }

    #[test]
    fn baggage_multiple_headers_combined() {
        let mut h = http::HeaderMap::new();
        h.append("baggage", "userId=alice".parse().unwrap());
        h.append(
            "baggage",
            "serverNode = DF%2028, isProduction = false"
                .parse()
                .unwrap(),
        );
        let b = extract_baggage(&h, &L);
        assert_eq!(keys(&b), ["userId", "serverNode", "isProduction"]);
        assert_eq!(b.get("serverNode"), Some("DF 28"));
    }

    #[test]
    fn baggage_duplicate_keys_last_wins() {
        let b = bag("a=1,b=2,a=3;p");
        assert_eq!(
            entries(&b),
            [
                ("b".into(), "2".into(), String::new()),
                ("a".into(), "3".into(), "p".into())
            ]
        );
    }

    #[test]
    fn baggage_inject_percent_encodes() {
        let b = Baggage::EMPTY
            .with("a", "x y,z;w=v%u\"q\\r")
            .with("b", "ünï\u{0}\n")
            .with_metadata("c", "plain-!#$&'()*+./:<>?@[]^_`{|}~", " p = 1 ;q");
        let mut out = HashMap::new();
        inject_baggage(&b, &mut out);
        assert_eq!(
            out["baggage"],
            "a=x%20y%2Cz%3Bw%3Dv%25u%22q%5Cr,b=%C3%BCn%C3%AF%00%0A,c=plain-!#$&'()*+./:<>?@[]^_`{|}~;p=1;q"
        );
        let mut none: HashMap<String, String> = HashMap::new();
        inject_baggage(&Baggage::EMPTY, &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn baggage_with_replaces_and_without_removes() {
        let b = Baggage::EMPTY.with("a", "1").with("b", "2").with("c", "3");
        let b = b.with("b", "two");
        assert_eq!(
            b.iter().map(|(k, v, _)| (k, v)).collect::<Vec<_>>(),
            [("a", "1"), ("b", "two"), ("c", "3")]
        );
        assert_eq!(
            b.without("a").without("c").iter().collect::<Vec<_>>(),
            [("b", "two", "")]
        );
        assert_eq!(b.without("x"), b);
        assert_eq!(b.without("a").without("b").without("c"), Baggage::EMPTY);
        assert_eq!(Baggage::EMPTY.without("a"), Baggage::EMPTY);
        // Keys that are not tokens, and invalid metadata, cannot be propagated: ignored.
        assert_eq!(b.with("bad key", "x"), b);
        assert_eq!(b.with("", "x"), b);
        assert_eq!(b.with_metadata("d", "x", "p=;;"), b);
        assert_eq!(b.len(), 3);
        assert!(format!("{b:?}").contains("two"));
    }

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
    fn limits_default_and_from_config() {
        assert_eq!(PropagationLimits::default(), PropagationLimits::DEFAULT);
        assert_eq!(
            (
                L.max_baggage_members,
                L.max_baggage_bytes,
                L.max_tracestate_members
            ),
            (64, 8192, 32)
        );
        let config = crate::config::PropagationConfig {
            max_baggage_members: 1,
            max_baggage_bytes: 2,
            max_tracestate_members: 3,
        };
        assert_eq!(
            PropagationLimits::from_config(&config),
            PropagationLimits {
                max_baggage_members: 1,
                max_baggage_bytes: 2,
                max_tracestate_members: 3
            }
        );
    }

    // ----- carriers ----------------------------------------------------------------------

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

    /// A small deterministic pseudo-random generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn string(&mut self, max_len: usize) -> String {
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

    #[test]
    fn round_trip_arbitrary_baggage_strings() {
        let mut rng = Rng(0x1234_5678_9abc_def0);
        for _ in 0..2000 {
            let value = rng.string(40);
            let b = Baggage::EMPTY.with("k", &value).with("k2", &rng.string(8));
            let mut h = http::HeaderMap::new();
            inject_baggage(&b, &mut h);
            assert_eq!(extract_baggage(&h, &L), b, "{value:?}");
        }
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
