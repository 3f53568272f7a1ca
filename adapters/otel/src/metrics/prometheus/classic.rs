//! The classic Prometheus text format (0.0.4), derived from the OpenMetrics text the store
//! writes ([`super::text`]) by a line transform over output this module controls (the
//! families, names and labels are ours), so that the two formats cannot drift apart:
//!
//! - `# EOF` and `# UNIT` lines are dropped (0.0.4 has neither);
//! - a counter's `# HELP`/`# TYPE` name gains `_total`, so that it names its samples, as 0.0.4
//!   requires (`# TYPE x counter` + `x_total 1` becomes `# TYPE x_total counter`);
//! - `\"` in help text becomes `"` (0.0.4 escapes only `\\` and `\n` there);
//! - exemplars (` # {trace_id="…",span_id="…"} value timestamp` after a sample) are cut off,
//!   found as the first `#` outside a quoted label value.
//! - an empty label set's `{}` is dropped (the writer writes none; kept for older input).

/// The classic text format of an OpenMetrics exposition written by [`super::text`].
pub(crate) fn from_openmetrics(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.split('\n') {
        if line.is_empty() || line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), None);
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.rsplit_once(' ').unwrap_or((rest, "untyped"));
            let kind = if kind == "unknown" { "untyped" } else { kind };
            let total;
            let name = if kind == "counter" {
                total = format!("{name}_total");
                total.as_str()
            } else {
                name
            };
            flush_help(&mut out, help.take(), Some(name));
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        flush_help(&mut out, help.take(), None);
        let (name, rest) = split_empty_labels(strip_exemplar(line));
        out.push_str(name);
        out.push_str(rest);
        out.push('\n');
    }
    flush_help(&mut out, help, None);
    out
}

/// A sample line split around an empty label set right after the metric name, if it has one:
/// `("name", " 1")` for `name{} 1`, else `(line, "")`.
fn split_empty_labels(line: &str) -> (&str, &str) {
    if line.starts_with('#') {
        return (line, "");
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    match line[end..].strip_prefix("{}") {
        Some(rest) => (&line[..end], rest),
        None => (line, ""),
    }
}

/// Writes a held `# HELP` line (`rest` is `name help`), renamed to `name` when given.
fn flush_help(out: &mut String, rest: Option<&str>, name: Option<&str>) {
    let Some(rest) = rest else { return };
    let (own, text) = rest.split_once(' ').unwrap_or((rest, ""));
    out.push_str("# HELP ");
    out.push_str(name.unwrap_or(own));
    out.push(' ');
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push_str("\\\\"),
            },
            c => out.push(c),
        }
    }
    out.push('\n');
}

/// A sample line without its exemplar: cut at the first `#` outside quotes.
fn strip_exemplar(line: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
        } else if c == '"' {
            quoted = true;
        } else if c == '#' {
            return line[..i].trim_end();
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_each_kind_of_line() {
        let om = "# HELP req_seconds Time \\\"spent\\\" \\\\ here\\nok.\n\
                  # TYPE req_seconds counter\n\
                  # UNIT req_seconds seconds\n\
                  req_seconds_total{a=\"x # y\",b=\"q\\\"#\"} 3 # {trace_id=\"ab\",span_id=\"cd\"} 1.0 1700000000.5\n\
                  req_seconds_total 1\n\
                  # HELP lat Latency\n\
                  # TYPE lat histogram\n\
                  lat_bucket{le=\"0.5\"} 1 # {trace_id=\"ab\",span_id=\"cd\"} 0.25\n\
                  lat_bucket{le=\"+Inf\"} 1\n\
                  lat_sum 0.25\n\
                  lat_count 1\n\
                  # HELP g \n\
                  # TYPE g gauge\n\
                  g{} -1.5\n\
                  h{k=\"{} \"} 1\n\
                  # EOF\n";
        let classic = from_openmetrics(om);
        let want = "# HELP req_seconds_total Time \"spent\" \\\\ here\\nok.\n\
                    # TYPE req_seconds_total counter\n\
                    req_seconds_total{a=\"x # y\",b=\"q\\\"#\"} 3\n\
                    req_seconds_total 1\n\
                    # HELP lat Latency\n\
                    # TYPE lat histogram\n\
                    lat_bucket{le=\"0.5\"} 1\n\
                    lat_bucket{le=\"+Inf\"} 1\n\
                    lat_sum 0.25\n\
                    lat_count 1\n\
                    # HELP g \n\
                    # TYPE g gauge\n\
                    g -1.5\n\
                    h{k=\"{} \"} 1\n";
        assert_eq!(classic, want);
    }

    #[test]
    fn empty_exposition() {
        assert_eq!(from_openmetrics("# EOF\n"), "");
        assert_eq!(from_openmetrics(""), "");
    }
}
