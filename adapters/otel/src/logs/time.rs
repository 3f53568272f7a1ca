//! RFC 3339 UTC timestamps (`2026-11-23T19:42:09.123456789Z`) computed by hand from a
//! [`SystemTime`]: a days-to-civil-date conversion, no date library and no allocation.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// How many fraction digits a timestamp carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Precision {
    /// `.123`: for people reading the pretty format.
    Millis,
    /// `.123456789`: for machines reading JSON lines.
    Nanos,
}

/// Appends `time` as an RFC 3339 UTC timestamp (`YYYY-MM-DDTHH:MM:SS.fffZ`) to `out`.
///
/// Times before 1970 are written correctly too. A year outside 0..=9999 (which RFC 3339 cannot
/// express) is written with as many digits as it needs, rather than failing.
pub(super) fn write_rfc3339(out: &mut Vec<u8>, time: SystemTime, precision: Precision) {
    let (secs, nanos) = unix_parts(time);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        push_digits(out, year as u64, 4);
    } else {
        // Unreachable with a sane clock; `write!` into a Vec cannot fail.
        let _ = write!(out, "{year}");
    }
    out.push(b'-');
    push_digits(out, u64::from(month), 2);
    out.push(b'-');
    push_digits(out, u64::from(day), 2);
    out.push(b'T');
    push_digits(out, (of_day / 3600) as u64, 2);
    out.push(b':');
    push_digits(out, (of_day / 60 % 60) as u64, 2);
    out.push(b':');
    push_digits(out, (of_day % 60) as u64, 2);
    out.push(b'.');
    match precision {
        Precision::Millis => push_digits(out, u64::from(nanos / 1_000_000), 3),
        Precision::Nanos => push_digits(out, u64::from(nanos), 9),
    }
    out.push(b'Z');
}

/// Seconds since the Unix epoch (negative before it) and the nanoseconds within that second.
fn unix_parts(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, 1_000_000_000 - n),
            }
        }
    }
}

/// The proleptic Gregorian (year, month 1..=12, day 1..=31) of a count of days since 1970-01-01.
///
/// Howard Hinnant's `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>):
/// shift the epoch to 0000-03-01 so the leap day ends the year, then split into 400-year eras.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year, 0..=365
    let mp = (5 * doy + 2) / 153; // March-based month, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends the last `width` decimal digits of `value`, zero padded.
fn push_digits(out: &mut Vec<u8>, mut value: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64, nanos: u32, precision: Precision) -> String {
        let time = if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs as u64, nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
                + Duration::from_nanos(nanos.into())
        };
        let mut out = Vec::new();
        write_rfc3339(&mut out, time, precision);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn known_instants() {
        use Precision::{Millis, Nanos};
        let cases = [
            (0, 0, Nanos, "1970-01-01T00:00:00.000000000Z"),
            (0, 0, Millis, "1970-01-01T00:00:00.000Z"),
            (
                1_795_462_929,
                123_456_789,
                Nanos,
                "2026-11-23T19:42:09.123456789Z",
            ),
            (
                1_795_462_929,
                123_456_789,
                Millis,
                "2026-11-23T19:42:09.123Z",
            ),
            // Leap days: 2000 (divisible by 400) and 2024.
            (951_782_400, 0, Nanos, "2000-02-29T00:00:00.000000000Z"),
            (
                1_709_210_096,
                789_000_000,
                Millis,
                "2024-02-29T12:34:56.789Z",
            ),
            // The day after 2024-02-29, and 2100 (divisible by 100, not a leap year).
            (1_709_251_200, 0, Millis, "2024-03-01T00:00:00.000Z"),
            (4_107_542_400, 0, Millis, "2100-03-01T00:00:00.000Z"),
            (
                4_107_542_399,
                999_999_999,
                Nanos,
                "2100-02-28T23:59:59.999999999Z",
            ),
            (1_798_761_599, 1, Nanos, "2026-12-31T23:59:59.000000001Z"),
            (253_402_300_799, 0, Millis, "9999-12-31T23:59:59.000Z"),
            // Before the epoch.
            (-1, 0, Millis, "1969-12-31T23:59:59.000Z"),
            (-1, 500_000_000, Millis, "1969-12-31T23:59:59.500Z"),
            (-2_208_988_800, 0, Millis, "1900-01-01T00:00:00.000Z"),
        ];
        for (secs, nanos, precision, expected) in cases {
            assert_eq!(at(secs, nanos, precision), expected, "{secs}.{nanos}");
        }
    }

    #[test]
    fn every_day_for_eight_years_follows_the_previous_one() {
        // Walk 1999-12-31 .. 2008: dates must advance by exactly one calendar day.
        let mut previous = civil_from_days(10_956);
        assert_eq!(previous, (1999, 12, 31));
        for days in 10_957..10_957 + 8 * 366 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = y == py && m == pm && d == pd + 1;
            let next_month = y == py && m == pm + 1 && d == 1;
            let next_year = y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31;
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {y}-{m}-{d}"
            );
            if next_month {
                let leap = py % 4 == 0 && (py % 100 != 0 || py % 400 == 0);
                let last = match pm {
                    2 if leap => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                assert_eq!(pd, last, "{previous:?}");
            }
            previous = (y, m, d);
        }
    }
}
