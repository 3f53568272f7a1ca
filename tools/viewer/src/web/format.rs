//! Numbers, durations, times and colours as the page shows them.

use std::time::Duration;

/// A duration in nanoseconds as text with three significant figures: `12 ns`, `4.56 µs`,
/// `78.9 ms`, `1.23 s`, `2.5 min`.
pub fn duration(nanos: u64) -> String {
    let n = nanos as f64;
    let (value, unit) = if nanos < 1_000 {
        return format!("{nanos} ns");
    } else if nanos < 1_000_000 {
        (n / 1e3, "µs")
    } else if nanos < 1_000_000_000 {
        (n / 1e6, "ms")
    } else if nanos < 120_000_000_000 {
        (n / 1e9, "s")
    } else {
        (n / 60e9, "min")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

/// Unix nanoseconds as `2026-12-01 12:03:04.567` (UTC).
pub fn time(unix_nano: u64) -> String {
    let secs = unix_nano / 1_000_000_000;
    let millis = (unix_nano / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A count with thousands separators: `10,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A metric value: integers as integers, other numbers with up to 6 significant figures.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.6}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_owned()
    }
}

/// Twelve colours that stay apart from each other and readable on white.
const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#edc948", "#9c755f",
    "#ff9da7", "#6b5bd6", "#8cd17d", "#bab0ac",
];

fn palette_index(service: &str) -> usize {
    // FNV-1a: stable across runs and builds, unlike the standard library's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in service.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as usize % PALETTE.len()
}

/// The colour of a service: the same on every page and every run (a hash of its name).
pub fn service_colour(service: &str) -> &'static str {
    PALETTE[palette_index(service)]
}

/// The colours of the services of one trace: each its [`service_colour`] unless an earlier
/// service of the trace took it, then the next free one, so that a trace's services (up to
/// twelve) never share a colour.
pub fn trace_colours(services: &[String]) -> Vec<&'static str> {
    let mut taken = [false; PALETTE.len()];
    services
        .iter()
        .map(|service| {
            let start = palette_index(service);
            let free = (0..PALETTE.len())
                .map(|k| (start + k) % PALETTE.len())
                .find(|&i| !taken[i])
                .unwrap_or(start);
            taken[free] = true;
            PALETTE[free]
        })
        .collect()
}

/// Why a duration filter is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid `min_duration`: found `{0}`, expected a duration such as 250ms, 1.5s, 100us or 2m \
     (a plain number is milliseconds)"
)]
pub struct DurationError(pub String);

/// Parses `250ms`, `1.5s`, `100us` (or `µs`), `500ns`, `2m`, `1h`; a plain number is
/// milliseconds (as in Jaeger's search). Empty is no filter.
pub fn parse_duration(text: &str) -> Result<Option<Duration>, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let error = || DurationError(text.chars().take(40).collect());
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| error())?;
    let scale = match unit.trim() {
        "" | "ms" => 1e-3,
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(error()),
    };
    Duration::try_from_secs_f64(value * scale)
        .map(Some)
        .map_err(|_| error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(12), "12 ns");
        assert_eq!(duration(4_560), "4.56 µs");
        assert_eq!(duration(78_900_000), "78.9 ms");
        assert_eq!(duration(1_234_000_000), "1.23 s");
        assert_eq!(duration(150_000_000_000), "2.50 min");
        assert_eq!(time(1_764_590_584_567_000_000), "2025-12-01 12:03:04.567");
        assert_eq!(time(0), "1970-01-01 00:00:00.000");
        assert_eq!(&time(951_782_400_000_000_000)[11..], "00:00:00.000"); // 2000-02-29
        assert_eq!(&time(951_782_400_000_000_000)[..10], "2000-02-29");
        assert_eq!(count(10_000), "10,000");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(service_colour("gateway"), service_colour("gateway"));
        let names: Vec<String> = (0..12).map(|i| format!("svc-{i}")).collect();
        let mut colours = trace_colours(&names);
        assert_eq!(colours[0], service_colour("svc-0"));
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), 12, "twelve services, twelve colours");
    }

    #[test]
    fn durations_parse() {
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration(" 1.5s "), Ok(ms(1500)));
        assert_eq!(parse_duration("100"), Ok(ms(100)));
        assert_eq!(
            parse_duration("100us"),
            Ok(Some(Duration::from_micros(100)))
        );
        assert_eq!(parse_duration("2m"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(parse_duration(""), Ok(None));
        for bad in ["abc", "1.2.3s", "5 parsecs", "-1s", "1e400s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("expected a duration"), "{bad}: {e}");
        }
    }
}
