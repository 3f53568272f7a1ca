//! W3C Baggage: the [`Baggage`] type, the `baggage` header's parser and writer, and the
//! percent-encoding of its values. See the [module documentation](crate::propagation) for how
//! malformed input is treated.

use std::fmt;
use std::sync::Arc;

use super::{
    BAGGAGE_HEADER, Extractor, Injector, NOT_HEX, PropagationLimits, nibble_table, trim_ows,
};
use crate::trace::{ListMembers, SCAN_MARGIN};

// ---------------------------------------------------------------------------------------------
// Byte tables
// ---------------------------------------------------------------------------------------------

/// Upper-case hex digits, for percent-encoding (RFC 3986 prefers them).
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
/// Either case, for percent-decoding.
static NIBBLE_ANY: [u8; 256] = nibble_table(true);

/// RFC 7230 `tchar`.
const TCHAR: u8 = 1;
/// W3C Baggage `baggage-octet`.
const BAGGAGE_OCTET: u8 = 2;
/// Bytes that `inject_baggage` writes as is; the others are percent-encoded.
const BAGGAGE_PLAIN: u8 = 4;

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

/// Whether `s` is a non-empty RFC 7230 token.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| has_class(b, TCHAR))
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

/// Percent-decodes `value` (`%XX`, either case) into `out`; false when a `%` is not followed by
/// two hex digits (W3C Baggage makes such a member invalid; the configuration's `k=v` lists are
/// then malformed, as the OpenTelemetry specification reads them). Decoded bytes that are not
/// UTF-8 become U+FFFD (as W3C Baggage requires). `scratch` holds the bytes between the two
/// steps.
pub(crate) fn percent_decode(value: &str, scratch: &mut Vec<u8>, out: &mut String) -> bool {
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
            return false;
        }
        scratch.push(b);
        i += 1;
    }
    out.push_str(&String::from_utf8_lossy(scratch));
    true
}

/// Reads `baggage` header values into a [`BaggageBuf`], within limits.
/// Reads `baggage` header values into a [`BaggageBuf`] within the limits.
///
/// Its work is bounded whatever the input: it reads at most `max_baggage_bytes` plus
/// [`SCAN_MARGIN`] bytes of header text in all (separators, whitespace and invalid members
/// included), and looks at no more than twice `max_baggage_members` non-empty members; what
/// comes after is dropped, as the specification allows for a header over its limits.
struct BaggageParser<'a> {
    buf: BaggageBuf,
    limits: &'a PropagationLimits,
    /// Bytes of kept members (as received, with one comma between two), against
    /// `max_baggage_bytes`.
    bytes: usize,
    /// Bytes read, over all header values.
    scanned: usize,
    /// Non-empty members looked at, valid or not.
    seen: usize,
    done: bool,
    scratch: Vec<u8>,
}

impl<'a> BaggageParser<'a> {
    fn new(limits: &'a PropagationLimits) -> Self {
        BaggageParser {
            buf: BaggageBuf::default(),
            limits,
            bytes: 0,
            scanned: 0,
            seen: 0,
            done: false,
            scratch: Vec::new(),
        }
    }

    fn push(&mut self, header: &str) {
        if self.done {
            return;
        }
        let budget = self
            .limits
            .max_baggage_bytes
            .saturating_add(SCAN_MARGIN)
            .saturating_sub(self.scanned);
        // Decoded members are never longer than received ones: one allocation for the text.
        let room = self.limits.max_baggage_bytes.saturating_sub(self.bytes);
        self.buf.text.reserve(header.len().min(budget).min(room));
        let mut list = ListMembers::new(header, budget);
        self.read(&mut list);
        self.scanned += list.consumed();
        if list.truncated() {
            self.done = true;
        }
    }

    fn read(&mut self, list: &mut ListMembers<'_>) {
        for member in list {
            self.seen += 1;
            if self.done || self.seen > self.limits.max_baggage_members.saturating_mul(2) {
                self.done = true;
                return;
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
        if !percent_decode(value, &mut self.scratch, text) {
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
    use std::collections::HashMap;

    use super::*;
    use crate::propagation::test_support::{L, Rng, map};

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
    fn baggage_reading_stops_past_the_byte_limit_and_margin() {
        // 64 KiB of commas, or of invalid members, before a valid member: not read that far.
        assert!(bag(&(",".repeat(65536) + "late=1")).is_empty());
        assert!(bag(&(" ,\t".repeat(20000) + "late=1")).is_empty());
        // Members before the flood are kept.
        let b = bag(&format!("early=1{},late=1", ",".repeat(65536)));
        assert_eq!(keys(&b), ["early"]);
        // Invalid members count: at most twice the member limit are looked at.
        assert!(bag(&("x,".repeat(5000) + "late=1")).is_empty());
        assert_eq!(keys(&bag(&("x,".repeat(10) + "ok=1"))), ["ok"]);
        // Over several header values, the budget is shared.
        let mut two = http::HeaderMap::new();
        two.append("baggage", ",".repeat(9300).parse().unwrap());
        two.append("baggage", "late=1".parse().unwrap());
        assert!(extract_baggage(&two, &L).is_empty());
        let mut two = http::HeaderMap::new();
        two.append("baggage", ",".repeat(100).parse().unwrap());
        two.append("baggage", "late=1".parse().unwrap());
        assert_eq!(keys(&extract_baggage(&two, &L)), ["late"]);
    }

    #[test]
    fn baggage_at_the_limits_with_whitespace_is_read_whole() {
        // 64 members filling 8192 bytes (commas included), with a space after each comma: the
        // whitespace fits in the margin, so everything is kept.
        let value = "v".repeat(123);
        let members: Vec<String> = (0..64).map(|i| format!("k{i:02}={value}")).collect();
        let header = members.join(", ");
        assert_eq!(members.join(",").len(), 64 * 127 + 63);
        let b = bag(&header);
        assert_eq!(b.len(), 64);
        assert_eq!(b.get("k63"), Some(value.as_str()));
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
}
