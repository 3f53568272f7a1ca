//! Trace ids, span ids and trace flags, and the lower-case hex form of the ids: W3C Trace Context
//! writes them as hex, so the ids own their hex codec (which `traceparent` reuses).

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// The all-zero id, which W3C Trace Context defines as invalid.
            pub const INVALID: $name = $name([0; $len]);

            /// An id from its bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }

            /// The id's bytes.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// Whether the id is not all zeros.
            pub fn is_valid(&self) -> bool {
                self.0 != [0; $len]
            }

            /// Parses exactly
            #[doc = concat!(stringify!($len), " bytes written as ", stringify!($len), "×2 lowercase hex digits.")]
            /// Upper-case digits are rejected, as W3C Trace Context requires.
            pub fn from_hex(hex: &str) -> Option<Self> {
                decode_hex_id::<$len>(hex.as_bytes()).map($name)
            }

            /// Writes the id as lowercase hex into `out` and returns it as a `&str`, without allocating.
            pub fn encode_hex<'b>(&self, out: &'b mut [u8; $len * 2]) -> &'b str {
                encode_hex_id(&self.0, out);
                // Only ASCII hex digits were written.
                std::str::from_utf8(out).unwrap_or_default()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; $len * 2];
                f.write_str(self.encode_hex(&mut buf))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

id_type!(
    /// A trace id: 16 bytes, shown as 32 lowercase hex digits.
    ///
    /// ```
    /// use hyperion::TraceId;
    /// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    /// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").is_none());
    /// ```
    TraceId,
    16
);

id_type!(
    /// A span id: 8 bytes, shown as 16 lowercase hex digits.
    ///
    /// ```
    /// use hyperion::SpanId;
    /// let id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    /// assert!(id.is_valid());
    /// assert!(!SpanId::INVALID.is_valid());
    /// ```
    SpanId,
    8
);

/// The trace flags byte of W3C Trace Context; bit 0 is `sampled`.
///
/// ```
/// use hyperion::TraceFlags;
/// assert!(TraceFlags::SAMPLED.is_sampled());
/// assert!(!TraceFlags::default().is_sampled());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flags set: not sampled.
    pub const NOT_SAMPLED: TraceFlags = TraceFlags(0);
    /// The `sampled` flag.
    pub const SAMPLED: TraceFlags = TraceFlags(1);
    /// Trace Context Level 2's `random-trace-id` flag (`0x02`): the trace id's rightmost 7 bytes
    /// are random. A tracer keeps it on every span of a trace whose id it received with it, and
    /// sets it on the trace ids it generates at random.
    ///
    /// ```
    /// use hyperion::TraceFlags;
    /// let flags = TraceFlags::RANDOM.with_sampled(true);
    /// assert!(flags.is_random() && flags.is_sampled());
    /// assert_eq!(flags.to_u8(), 0x03);
    /// ```
    pub const RANDOM: TraceFlags = TraceFlags(2);

    /// Flags from their byte.
    pub const fn new(bits: u8) -> Self {
        TraceFlags(bits)
    }

    /// The flags' byte.
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & 1 == 1
    }

    /// These flags with the `sampled` bit set or cleared.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        TraceFlags(if sampled { self.0 | 1 } else { self.0 & !1 })
    }

    /// Whether the `random-trace-id` bit is set.
    pub const fn is_random(self) -> bool {
        self.0 & 2 == 2
    }

    /// These flags with the `random-trace-id` bit set or cleared.
    pub const fn with_random(self, random: bool) -> Self {
        TraceFlags(if random { self.0 | 2 } else { self.0 & !2 })
    }
}

// ---------------------------------------------------------------------------------------------
// Hex codec of the ids
// ---------------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_hex() {
        let t = TraceId::from_bytes([0xab; 16]);
        assert_eq!(TraceId::from_hex(&t.to_string()), Some(t));
        let s = SpanId::from_bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        assert_eq!(s.to_string(), "0123456789abcdef");
        assert_eq!(SpanId::from_hex("0123456789abcdeg"), None);
        assert_eq!(SpanId::from_hex("0123456789abcde"), None);
    }

    #[test]
    fn flags_toggle_sampled() {
        let f = TraceFlags::new(0b10).with_sampled(true);
        assert_eq!(f.to_u8(), 0b11);
        assert_eq!(f.with_sampled(false).to_u8(), 0b10);
    }

    /// A small deterministic pseudo-random generator (xorshift64*), the one the propagation
    /// tests use.
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
}
