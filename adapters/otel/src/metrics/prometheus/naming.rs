//! OpenTelemetry-to-Prometheus names: metric names with unit and `_total` suffixes, label names,
//! label value truncation.
//!
//! The rules (OpenTelemetry's "Prometheus and OpenMetrics compatibility", with suffixes):
//!
//! 1. Every character of the instrument name outside `[a-zA-Z0-9_:]` becomes `_`, and runs of
//!    `_` collapse into one (`hyperion.intercept.duration` -> `hyperion_intercept_duration`).
//! 2. The UCUM unit becomes a suffix: `{...}` annotations are dropped, known units are spelled
//!    out (`s` -> `seconds`, `ms` -> `milliseconds`, `By` -> `bytes`, ...), `x/y` becomes
//!    `x_per_y` (`By/s` -> `bytes_per_second`), `1` becomes `ratio` for gauges and nothing
//!    otherwise, any other unit is kept as written (sanitized). The suffix is not added again
//!    when the name already ends with it.
//! 3. Counters end in `_total`, exactly once: a name that already ends in `_total` loses it
//!    before the unit suffix, and `_total` is added after it (`bytes.sent.total`, `By` ->
//!    `bytes_sent_bytes_total`).
//! 4. Then `namespace_` and `subsystem_` from the config are put in front (sanitized), and no
//!    prefix appears twice: a name that already starts with the namespace (then the subsystem),
//!    followed by `_`, loses that copy first. `hyperion.intercept.duration` in `s` with namespace
//!    `hyperion` and subsystem `api` is `hyperion_api_intercept_duration_seconds`, and with
//!    namespace `shop` `shop_hyperion_intercept_duration_seconds`.
//! 5. A name that would start with a digit gets a leading `_`.
//!
//! Label names: characters outside `[a-zA-Z0-9_]` become `_` (not collapsed), a leading digit
//! gets a `key_` prefix, an empty key is dropped.

use hyperion::metric::InstrumentKind;

/// A converted metric name, split the way prometheus-client wants it: the family name without
/// its unit suffix (prometheus-client appends `_<unit>` itself and writes the `# UNIT` line) and
/// without `_total` (prometheus-client appends it to counter samples).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MetricName {
    /// The family name without the unit suffix and without `_total`.
    pub(crate) base: String,
    /// The unit suffix without its `_`, e.g. `seconds`; `None` when the unit adds nothing.
    pub(crate) unit: Option<String>,
    /// Whether the samples carry `_total` (counters).
    pub(crate) counter: bool,
}

impl MetricName {
    /// The OpenMetrics family name: the base and the unit suffix (the name in `# TYPE`).
    pub(crate) fn family(&self) -> String {
        match &self.unit {
            Some(unit) => format!("{}_{unit}", self.base),
            None => self.base.clone(),
        }
    }

    /// The full Prometheus name: the family name, and `_total` for counters (the sample name of
    /// a counter, and its `# TYPE` name in the classic text format).
    pub(crate) fn full(&self) -> String {
        let family = self.family();
        if self.counter {
            family + "_total"
        } else {
            family
        }
    }
}

/// Converts an instrument's dotted name and UCUM unit to a Prometheus name (see the module docs).
pub(crate) fn metric_name(
    namespace: Option<&str>,
    subsystem: Option<&str>,
    name: &str,
    unit: &str,
    kind: InstrumentKind,
) -> MetricName {
    let counter = kind == InstrumentKind::Counter;
    let mut base = sanitize_metric(name);
    if counter && base.len() > "_total".len() && base.ends_with("_total") {
        base.truncate(base.len() - "_total".len());
    }
    let unit = unit_suffix(unit, kind);
    if let Some(suffix) = &unit {
        // Already there: strip it, as prometheus-client appends the unit to the base name.
        let ends_with_suffix = base.len() > suffix.len()
            && base.ends_with(suffix.as_str())
            && base.as_bytes()[base.len() - suffix.len() - 1] == b'_';
        if ends_with_suffix {
            base.truncate(base.len() - suffix.len() - 1);
        }
    }
    // No prefix twice: a leading copy of the namespace, then of the subsystem, goes first.
    for prefix in [namespace, subsystem].into_iter().flatten() {
        let prefix = sanitize_metric(prefix);
        let repeated = base
            .strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('_'));
        if !prefix.is_empty() && prefix != "_" && repeated {
            base.drain(..=prefix.len());
        }
    }
    let mut prefixed = String::new();
    for prefix in [namespace, subsystem].into_iter().flatten() {
        let prefix = sanitize_metric(prefix);
        if !prefix.is_empty() && prefix != "_" {
            prefixed.push_str(&prefix);
            prefixed.push('_');
        }
    }
    prefixed.push_str(&base);
    let mut base = collapse_underscores(&prefixed);
    if base.is_empty() {
        base.push('_');
    }
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert(0, '_');
    }
    MetricName {
        base,
        unit,
        counter,
    }
}

/// Replaces characters outside `[a-zA-Z0-9_:]` with `_` and collapses runs of `_`.
fn sanitize_metric(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    collapse_underscores(&mapped)
}

fn collapse_underscores(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The Prometheus suffix for a UCUM unit, without its leading `_`.
pub(crate) fn unit_suffix(unit: &str, kind: InstrumentKind) -> Option<String> {
    // `{request}`, `{packet}/s`: annotations carry no unit.
    let mut stripped = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => stripped.push(c),
            _ => {}
        }
    }
    let unit = stripped.trim();
    if unit.is_empty() {
        return None;
    }
    if unit == "1" {
        return (kind == InstrumentKind::Gauge).then(|| "ratio".to_owned());
    }
    let suffix = match unit.split_once('/') {
        Some((main, per)) => match (main_unit(main.trim()), per_unit(per.trim())) {
            (Some(main), Some(per)) => format!("{main}_per_{per}"),
            (None, Some(per)) => format!("per_{per}"),
            (Some(main), None) => main,
            (None, None) => return None,
        },
        None => main_unit(unit)?,
    };
    let suffix = collapse_underscores(&suffix);
    let suffix = suffix.trim_matches('_');
    (!suffix.is_empty()).then(|| suffix.to_owned())
}

fn main_unit(unit: &str) -> Option<String> {
    let known = match unit {
        "" | "1" => return None,
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        other => return sanitized_unit(other),
    };
    Some(known.to_owned())
}

fn per_unit(unit: &str) -> Option<String> {
    let known = match unit {
        "" | "1" => return None,
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => return sanitized_unit(other),
    };
    Some(known.to_owned())
}

fn sanitized_unit(unit: &str) -> Option<String> {
    let s: String = unit
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let s = collapse_underscores(&s);
    let s = s.trim_matches('_');
    (!s.is_empty()).then(|| s.to_owned())
}

/// Whether `c` may appear in a Prometheus label name.
#[inline]
fn label_char(c: char) -> char {
    if c.is_ascii_alphanumeric() || c == '_' {
        c
    } else {
        '_'
    }
}

/// An attribute key as a Prometheus label name; `None` for an empty key (dropped).
pub(crate) fn label_name(key: &str) -> Option<String> {
    let first = key.chars().next()?;
    let mut out = String::with_capacity(key.len() + 4);
    if first.is_ascii_digit() {
        out.push_str("key_");
    }
    out.extend(key.chars().map(label_char));
    // Names Prometheus or this exporter give a meaning of their own: `le` (histogram buckets),
    // `__*` (reserved), `otel_metric_overflow` (the overflow series). A user attribute with one
    // of them would make a duplicate label, and Prometheus rejects the whole scrape for that.
    if out == "le" || out.starts_with("__") || out == "otel_metric_overflow" {
        out.insert_str(0, "key_");
    }
    Some(out)
}

/// `s` cut to at most `max` bytes, at a character boundary.
#[inline]
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Escapes a description for a `# HELP` line of the OpenMetrics text format (`\`, `"` and line
/// feeds; prometheus-client writes the help text as given).
pub(crate) fn escape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstrumentKind::{Counter, Gauge, Histogram, UpDownCounter};

    #[test]
    fn conversion_table() {
        let ns = Some("hyperion");
        let api = Some("api");
        #[rustfmt::skip]
        type Case<'a> = (Option<&'a str>, Option<&'a str>, &'a str, &'a str, InstrumentKind, &'a str);
        let cases: &[Case<'_>] = &[
            (
                ns,
                api,
                "hyperion.intercept.duration",
                "s",
                Histogram,
                "hyperion_api_intercept_duration_seconds",
            ),
            // No prefix twice (issue 10): the name's own leading namespace goes.
            (
                ns,
                None,
                "hyperion.intercept.calls",
                "{call}",
                Counter,
                "hyperion_intercept_calls_total",
            ),
            (
                Some("shop"),
                api,
                "hyperion.intercept.calls",
                "{call}",
                Counter,
                "shop_api_hyperion_intercept_calls_total",
            ),
            (ns, api, "api.requests", "", Gauge, "hyperion_api_requests"),
            (
                None,
                None,
                "hyperion.intercept.duration",
                "s",
                Histogram,
                "hyperion_intercept_duration_seconds",
            ),
            (
                ns,
                None,
                "http.server.requests",
                "{request}",
                Counter,
                "hyperion_http_server_requests_total",
            ),
            (None, api, "jobs", "", Counter, "api_jobs_total"),
            // `_total` exactly once, also when the name has it.
            (
                None,
                None,
                "http.requests.total",
                "{request}",
                Counter,
                "http_requests_total",
            ),
            (
                None,
                None,
                "http_requests_total",
                "",
                Counter,
                "http_requests_total",
            ),
            // Unit suffix before `_total`, `_total` stripped first.
            (
                None,
                None,
                "bytes.sent.total",
                "By",
                Counter,
                "bytes_sent_bytes_total",
            ),
            // Unit suffix not doubled.
            (
                None,
                None,
                "request.duration.seconds",
                "s",
                Histogram,
                "request_duration_seconds",
            ),
            (
                None,
                None,
                "latency.milliseconds",
                "ms",
                Histogram,
                "latency_milliseconds",
            ),
            (
                None,
                None,
                "payload.size",
                "By",
                Histogram,
                "payload_size_bytes",
            ),
            // `1` is `ratio` for gauges only.
            (None, None, "cache.hit", "1", Gauge, "cache_hit_ratio"),
            (None, None, "cache.hits", "1", Counter, "cache_hits_total"),
            (
                None,
                None,
                "throughput",
                "By/s",
                Gauge,
                "throughput_bytes_per_second",
            ),
            (
                None,
                None,
                "packets.rate",
                "{packet}/s",
                Gauge,
                "packets_rate_per_second",
            ),
            (
                None,
                None,
                "queue.depth",
                "{item}",
                UpDownCounter,
                "queue_depth",
            ),
            // Unknown units as written, sanitized.
            (None, None, "weird", "widgets", Gauge, "weird_widgets"),
            // Invalid characters and runs of them.
            (
                None,
                None,
                "my-app..requests/sec",
                "",
                Counter,
                "my_app_requests_sec_total",
            ),
            (
                Some("my.ns"),
                Some("sub-system"),
                "x",
                "",
                Gauge,
                "my_ns_sub_system_x",
            ),
            (
                None,
                None,
                "2xx.responses",
                "",
                Counter,
                "_2xx_responses_total",
            ),
            (None, None, "temp", "Cel", Gauge, "temp_celsius"),
            (Some(""), Some(""), "a.b", "", Gauge, "a_b"),
            (None, None, "", "", Gauge, "_"),
        ];
        for (ns, sub, name, unit, kind, want) in cases {
            let got = metric_name(*ns, *sub, name, unit, *kind);
            assert_eq!(
                got.full(),
                *want,
                "{ns:?} {sub:?} {name:?} {unit:?} {kind:?}"
            );
            assert!(!got.base.ends_with("_total") || !got.counter, "{got:?}");
        }
    }

    #[test]
    fn family_name_splits_unit_and_total() {
        let n = metric_name(None, None, "io.read.total", "By", Counter);
        assert_eq!(n.base, "io_read");
        assert_eq!(n.unit.as_deref(), Some("bytes"));
        assert_eq!(n.family(), "io_read_bytes");
        assert_eq!(n.full(), "io_read_bytes_total");
        let n = metric_name(None, None, "rpc.duration.seconds", "s", Histogram);
        assert_eq!(
            (n.base.as_str(), n.unit.as_deref()),
            ("rpc_duration", Some("seconds"))
        );
    }

    #[test]
    fn label_names() {
        assert_eq!(
            label_name("http.request.method").as_deref(),
            Some("http_request_method")
        );
        assert_eq!(label_name("user_id").as_deref(), Some("user_id"));
        assert_eq!(label_name("9lives").as_deref(), Some("key_9lives"));
        assert_eq!(label_name("a..b").as_deref(), Some("a__b"));
        assert_eq!(label_name("héllo").as_deref(), Some("h_llo"));
        assert_eq!(label_name(""), None);
        assert_eq!(label_name("le").as_deref(), Some("key_le"));
        assert_eq!(label_name("__name__").as_deref(), Some("key___name__"));
        assert_eq!(
            label_name("otel_metric_overflow").as_deref(),
            Some("key_otel_metric_overflow")
        );
        assert_eq!(label_name("level").as_deref(), Some("level"));
    }

    #[test]
    fn truncation_at_char_boundary() {
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("abc", 3), "abc");
        // "é" is two bytes: a cut inside it backs off to before it.
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("日本語", 4), "日");
        assert_eq!(truncate("日本語", 6), "日本");
        assert_eq!(truncate("x", 0), "");
    }

    #[test]
    fn help_is_escaped() {
        assert_eq!(escape_help("a \"b\"\\c\nd\r"), "a \\\"b\\\"\\\\c\\nd");
    }
}
