//! The OpenMetrics text writer: descriptors and samples of the store's families.
//!
//! Hand-written since the store keeps its own cells (see [`super::cells`]): prometheus-client's
//! encoder takes exemplars only as its own `Exemplar` type, which has no public constructor.
//! The output is what prometheus-client 0.25 wrote before (same line order, `dtoa` floats,
//! `le` first among a bucket's labels), minus the `{}` of an empty label set.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use super::cells::Exemplar;
use super::naming::MetricName;

/// The name of a family's samples before their suffix: `base` or `base_unit`.
fn sample_name(out: &mut String, name: &MetricName) {
    out.push_str(&name.base);
    if let Some(unit) = &name.unit {
        out.push('_');
        out.push_str(unit);
    }
}

/// `# HELP`, `# TYPE` and (with a unit) `# UNIT` lines; `help` is escaped already.
pub(crate) fn descriptor(out: &mut String, name: &MetricName, help: &str, kind: &str) {
    out.push_str("# HELP ");
    sample_name(out, name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    sample_name(out, name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
    if let Some(unit) = &name.unit {
        out.push_str("# UNIT ");
        sample_name(out, name);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
}

/// A label value with `\`, `"` and newlines escaped (OpenMetrics' escapes).
fn label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `{le="…",k="v",…}`, or nothing for no labels at all.
fn labels(out: &mut String, le: Option<&str>, labels: &[(String, String)]) {
    if le.is_none() && labels.is_empty() {
        return;
    }
    out.push('{');
    let mut first = true;
    if let Some(le) = le {
        out.push_str("le=\"");
        out.push_str(le);
        out.push('"');
        first = false;
    }
    for (k, v) in labels {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        label_value(out, v);
        out.push('"');
    }
    out.push('}');
}

fn float(out: &mut String, v: f64) {
    out.push_str(dtoa::Buffer::new().format(v));
}

/// ` # {trace_id="…",span_id="…"} value timestamp`.
fn exemplar(out: &mut String, e: &Exemplar) {
    let mut trace = [0u8; 32];
    let mut span = [0u8; 16];
    out.push_str(" # {trace_id=\"");
    out.push_str(e.trace_id.encode_hex(&mut trace));
    out.push_str("\",span_id=\"");
    out.push_str(e.span_id.encode_hex(&mut span));
    out.push_str("\"} ");
    float(out, e.value);
    // A clock set before 1970 gets no timestamp.
    if let Ok(t) = e.time.duration_since(UNIX_EPOCH) {
        out.push(' ');
        float(out, t.as_secs_f64());
    }
}

/// A counter sample: `name_total{…} value [exemplar]`.
pub(crate) fn counter(
    out: &mut String,
    name: &MetricName,
    l: &[(String, String)],
    value: u64,
    e: Option<&Exemplar>,
) {
    sample_name(out, name);
    out.push_str("_total");
    labels(out, None, l);
    let _ = write!(out, " {value}");
    if let Some(e) = e {
        exemplar(out, e);
    }
    out.push('\n');
}

/// A gauge sample of an integer (an up-down counter).
pub(crate) fn gauge_int(out: &mut String, name: &MetricName, l: &[(String, String)], value: i64) {
    sample_name(out, name);
    labels(out, None, l);
    let _ = writeln!(out, " {value}");
}

/// A gauge sample.
pub(crate) fn gauge(out: &mut String, name: &MetricName, l: &[(String, String)], value: f64) {
    sample_name(out, name);
    labels(out, None, l);
    out.push(' ');
    float(out, value);
    out.push('\n');
}

/// A histogram's samples: `_sum`, `_count`, then cumulative `_bucket`s with their exemplars.
pub(crate) fn histogram(
    out: &mut String,
    name: &MetricName,
    l: &[(String, String)],
    bounds: &[f64],
    reading: &super::cells::HistogramReading,
    exemplars: &[Option<Exemplar>],
) {
    sample_name(out, name);
    out.push_str("_sum");
    labels(out, None, l);
    out.push(' ');
    float(out, reading.sum);
    out.push('\n');
    sample_name(out, name);
    out.push_str("_count");
    labels(out, None, l);
    let _ = writeln!(out, " {}", reading.count);
    let mut cumulative = 0;
    for (i, count) in reading.buckets.iter().enumerate() {
        cumulative += count;
        sample_name(out, name);
        out.push_str("_bucket");
        let mut buf = dtoa::Buffer::new();
        let le = match bounds.get(i) {
            Some(b) => buf.format(*b),
            None => "+Inf",
        };
        labels(out, Some(le), l);
        let _ = write!(out, " {cumulative}");
        if let Some(Some(e)) = exemplars.get(i) {
            exemplar(out, e);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperion::{SpanId, TraceId};
    use std::time::{Duration, SystemTime};

    fn name(base: &str, unit: Option<&str>) -> MetricName {
        MetricName {
            base: base.to_owned(),
            unit: unit.map(str::to_owned),
            counter: false,
        }
    }

    #[test]
    fn samples_are_written_as_openmetrics() {
        let mut out = String::new();
        let n = name("req", Some("seconds"));
        descriptor(&mut out, &n, "Time \\\"spent\\\"", "histogram");
        let reading = super::super::cells::HistogramReading {
            buckets: vec![1, 0, 2],
            count: 3,
            sum: 2.5,
            min: Some(0.1),
            max: Some(1.5),
        };
        let e = Exemplar {
            trace_id: TraceId::from_bytes([0xab; 16]),
            span_id: SpanId::from_bytes([0xcd; 8]),
            value: 0.25,
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
        };
        let l = [("a".to_owned(), "x\"y\\z\n".to_owned())];
        histogram(&mut out, &n, &l, &[0.5, 1.0], &reading, &[Some(e), None]);
        counter(&mut out, &name("c", None), &[], 7, Some(&e));
        gauge(&mut out, &name("g", None), &[], -1.5);
        gauge_int(&mut out, &name("u", None), &l[..0], -2);
        assert_eq!(
            out,
            "# HELP req_seconds Time \\\"spent\\\"\n\
             # TYPE req_seconds histogram\n\
             # UNIT req_seconds seconds\n\
             req_seconds_sum{a=\"x\\\"y\\\\z\\n\"} 2.5\n\
             req_seconds_count{a=\"x\\\"y\\\\z\\n\"} 3\n\
             req_seconds_bucket{le=\"0.5\",a=\"x\\\"y\\\\z\\n\"} 1 # {trace_id=\"abababababababababababababababab\",span_id=\"cdcdcdcdcdcdcdcd\"} 0.25 1700000000.5\n\
             req_seconds_bucket{le=\"1.0\",a=\"x\\\"y\\\\z\\n\"} 1\n\
             req_seconds_bucket{le=\"+Inf\",a=\"x\\\"y\\\\z\\n\"} 3\n\
             c_total 7 # {trace_id=\"abababababababababababababababab\",span_id=\"cdcdcdcdcdcdcdcd\"} 0.25 1700000000.5\n\
             g -1.5\n\
             u -2\n"
        );
    }
}
