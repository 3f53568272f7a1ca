//! W3C `tracestate`: the [`TraceState`] a span context carries, its key and value grammar and its
//! parser. The `tracestate` header itself is read and written by [`crate::propagation`].

use std::fmt;
use std::sync::Arc;

/// The most members a `tracestate` may have.
pub(crate) const MAX_TRACESTATE_MEMBERS: usize = 32;

// ---------------------------------------------------------------------------------------------
// Byte classes
// ---------------------------------------------------------------------------------------------

/// `tracestate` key characters after the first: `a-z 0-9 _ - * /`.
const TS_KEYCHAR: u8 = 1;
/// `tracestate` value characters (`chr`): 0x20-0x7E except `,` and `=`.
const TS_VALUE: u8 = 2;

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
        {
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

/// `s` without leading and trailing optional whitespace (RFC 7230 `OWS`: space and horizontal
/// tab), which surrounds `tracestate` members.
#[inline]
fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

// ---------------------------------------------------------------------------------------------
// List headers
// ---------------------------------------------------------------------------------------------

/// Extra bytes a list header may spend on separators, whitespace and empty members beyond what
/// its members may hold, before reading stops.
pub(crate) const SCAN_MARGIN: usize = 1024;

/// The longest `tracestate` member: a 256-byte key, `=`, a 256-byte value.
const MAX_TRACESTATE_MEMBER_LEN: usize = 256 + 1 + 256;

/// The non-empty members of a W3C list header (`tracestate`, `baggage`: members separated by
/// commas, with optional whitespace around them), trimmed, reading at most `budget` bytes.
///
/// Hand-written rather than `str::split(',')`: a header made of separators (64 KiB of commas)
/// must cost a tight byte loop per byte, not an iteration per empty member, and a header longer
/// than anything valid must not be read to its end. A member that does not end within the
/// budget is not returned; [`truncated`](Self::truncated) then says so.
pub(crate) struct ListMembers<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
    truncated: bool,
}

impl<'a> ListMembers<'a> {
    pub(crate) fn new(text: &'a str, budget: usize) -> Self {
        ListMembers {
            text,
            pos: 0,
            end: text.len().min(budget),
            truncated: false,
        }
    }

    /// Whether the header went on past the budget (members after the last one returned were
    /// not read).
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    /// How many bytes were read.
    pub(crate) fn consumed(&self) -> usize {
        self.pos
    }
}

/// How many bytes at the start of `bytes` are separators (`,`) or whitespace: 16 at a time
/// while all are (a branch-free test the compiler vectorizes), then one at a time.
#[inline]
fn skip_separators(bytes: &[u8]) -> usize {
    let separator = |b: u8| matches!(b, b',' | b' ' | b'\t');
    let mut skipped = 0;
    for chunk in bytes.chunks_exact(16) {
        if chunk.iter().map(|&b| u8::from(separator(b))).sum::<u8>() != 16 {
            break;
        }
        skipped += 16;
    }
    skipped
        + bytes[skipped..]
            .iter()
            .position(|&b| !separator(b))
            .unwrap_or(bytes.len() - skipped)
}

impl<'a> Iterator for ListMembers<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = &self.text.as_bytes()[..self.end];
        self.pos += skip_separators(&bytes[self.pos..]);
        if self.pos >= self.end {
            self.truncated |= self.end < self.text.len();
            return None;
        }
        let start = self.pos;
        let member_end = match bytes[start..].iter().position(|&b| b == b',') {
            Some(comma) => start + comma,
            None if self.end == self.text.len() => self.end,
            None => {
                // The member runs past the budget: it is not read.
                self.truncated = true;
                self.pos = self.end;
                return None;
            }
        };
        self.pos = member_end;
        // Both ends are ASCII (`,`, whitespace, or the text's ends), so char boundaries.
        Some(trim_ows(
            self.text.get(start..member_end).unwrap_or_default(),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// tracestate
// ---------------------------------------------------------------------------------------------

/// Why [`TraceState::insert`] refused a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    /// The key does not follow Trace Context Level 2's `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`
    /// (`keychar`: `a-z`, `0-9`, `_`, `-`, `*`, `/`, `@`).
    #[error("invalid tracestate key: expected [a-z0-9][a-z0-9_-*/@]{{0,255}}")]
    InvalidKey,
    /// The value is not 1 to 256 printable ASCII characters other than `,` and `=`, ending in a
    /// non-space.
    #[error(
        "invalid tracestate value: expected 1 to 256 printable ASCII characters except ',' and '=', not ending in a space"
    )]
    InvalidValue,
}

/// Whether `key` is a Trace Context Level 2 `tracestate` key:
/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, where `keychar` includes `@`. (Level 1's
/// `tenant@system` split, with its 241- and 14-character parts, is gone: `foo@`, `foo@@bar` and
/// a 15-character system id are valid keys, which must be forwarded.)
fn valid_trace_state_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    match bytes.split_first() {
        Some((&first, rest)) => {
            bytes.len() <= 256
                && (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest.iter().all(|&b| has_class(b, TS_KEYCHAR))
        }
        None => false,
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
///
/// Its work is bounded whatever the input: at most `max_members` members are kept, at most twice
/// that many list-members are looked at (a dropped duplicate does not count against the limit,
/// but a header cannot make the parser look at duplicates without end), and no more bytes are
/// read than `max_members` members of the longest valid form could take, plus [`SCAN_MARGIN`]
/// for separators and whitespace. A header going past any of these is discarded whole, as the
/// specification allows for one over its limits.
pub(crate) struct TraceStateParser {
    out: String,
    /// Members kept.
    members: usize,
    /// List-members looked at, duplicates included.
    seen: usize,
    max_members: usize,
    /// Bytes that may still be read, over all header values.
    budget: usize,
    valid: bool,
}

impl TraceStateParser {
    pub(crate) fn new(max_members: usize) -> Self {
        TraceStateParser {
            out: String::new(),
            members: 0,
            seen: 0,
            max_members,
            budget: max_members
                .saturating_mul(MAX_TRACESTATE_MEMBER_LEN + 1)
                .saturating_add(SCAN_MARGIN),
            valid: true,
        }
    }

    pub(crate) fn push(&mut self, header: &str) {
        if !self.valid {
            return;
        }
        let mut list = ListMembers::new(header, self.budget);
        self.out.reserve(header.len().min(self.budget) + 1);
        for member in list.by_ref() {
            self.seen += 1;
            let (key, ok) = match member.split_once('=') {
                Some((key, value)) => (
                    key,
                    valid_trace_state_key(key) && valid_trace_state_value(value),
                ),
                None => (member, false),
            };
            if !ok || self.seen > self.max_members.saturating_mul(2) {
                self.invalidate();
                return;
            }
            // A later duplicate is dropped alone: the first occurrence is the one that counts,
            // and no member the sender did not generate may be lost with it (Level 2).
            if members(&self.out).any(|(k, _)| k == key) {
                continue;
            }
            self.members += 1;
            if self.members > self.max_members {
                self.invalidate();
                return;
            }
            if !self.out.is_empty() {
                self.out.push(',');
            }
            self.out.push_str(member);
        }
        self.budget -= list.consumed();
        if list.truncated() {
            self.invalidate();
        }
    }

    fn invalidate(&mut self) {
        self.valid = false;
        self.out = String::new();
    }

    pub(crate) fn finish(self) -> Option<TraceState> {
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
    /// `=`, an invalid key or value, or more than `max_members` members (the W3C limit is 32).
    /// Whitespace around members and empty members are dropped; of a key given twice, the first
    /// member is kept and the later ones dropped.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str, budget: usize) -> (Vec<&str>, bool, usize) {
        let mut list = ListMembers::new(text, budget);
        let members = list.by_ref().collect();
        (members, list.truncated(), list.consumed())
    }

    #[test]
    fn list_members_skip_separators_and_whitespace() {
        let (members, truncated, _) = list(" a=1, ,,\tb = 2 ,\t,", usize::MAX);
        assert_eq!(members, ["a=1", "b = 2"]);
        assert!(!truncated);
        assert_eq!(list("", 10), (vec![], false, 0));
        assert_eq!(list(",,,", 10), (vec![], false, 3));
    }

    #[test]
    fn list_members_stop_at_the_budget_without_a_cut_member() {
        // The member crossing the budget is not returned, even though a prefix of it fits.
        let (members, truncated, consumed) = list("a=1,bbbbbb=2", 6);
        assert_eq!(members, ["a=1"]);
        assert!(truncated);
        assert_eq!(consumed, 6);
        // A member that ends exactly at the budget, with the text going on: cut as well, since
        // the next byte could have continued it.
        assert_eq!(list("a=1,b=2xyz", 7).0, ["a=1"]);
        // The whole text within the budget: nothing is truncated.
        assert_eq!(list("a=1,b=2", 7), (vec!["a=1", "b=2"], false, 7));
        // 64 KiB of commas: only the budget is read.
        let commas = ",".repeat(65536) + "late=1";
        let (members, truncated, consumed) = list(&commas, 9216);
        assert!(members.is_empty() && truncated);
        assert_eq!(consumed, 9216);
    }

    #[test]
    fn a_tracestate_longer_than_any_valid_one_is_discarded_unread() {
        let commas = ",".repeat(65536) + "a=1";
        assert!(TraceState::from_header(&commas, 32).is_none());
        let spaces = format!("a=1,{}b=2", " ".repeat(65536));
        assert!(TraceState::from_header(&spaces, 32).is_none());
        // The longest valid tracestate, 32 members of 513 bytes with `, ` between them, is kept.
        let members: Vec<String> = (0..32)
            .map(|i| format!("{:a<256}={}", format!("k{i}"), "v".repeat(256)))
            .collect();
        let longest = members.join(", ");
        let state = TraceState::from_header(&longest, 32).expect("valid");
        assert_eq!(state.len(), 32);
        assert_eq!(state.header(), members.join(","));
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
}
