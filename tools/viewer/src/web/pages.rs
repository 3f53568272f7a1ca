//! The HTML pages, written with maud: the trace list, a trace's waterfall, the metrics and the
//! recent logs.

use std::collections::HashMap;

use maud::{DOCTYPE, Markup, html};
use serde_json::{Map, Value as Json};

use super::format;
use crate::store::{MetricKind, PointValue, SeriesView, Stats, TraceList};
use crate::view::{LogView, SpanView, TraceDetail};

/// Which page the navigation marks as current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Traces,
    Metrics,
    Logs,
    None,
}

fn colour(service: &str) -> String {
    format!("--c:{}", format::service_colour(service))
}

fn chip(service: &str) -> Markup {
    html! { span.chip style=(colour(service)) { (service) } }
}

/// The frame every page shares: navigation, the trace-id search box, the store's counts.
pub fn layout(title: &str, nav: Nav, stats: &Stats, body: Markup) -> Markup {
    let on = |n: Nav| if n == nav { "on" } else { "" };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hyperion-viewer" }
                link rel="stylesheet" href="/static/viewer.css";
            }
            body {
                header.top {
                    a.brand href="/" { "hyperion-viewer" }
                    nav {
                        a class=(on(Nav::Traces)) href="/" { "Traces" }
                        a class=(on(Nav::Metrics)) href="/metrics" { "Metrics" }
                        a class=(on(Nav::Logs)) href="/logs" { "Logs" }
                    }
                    form action="/search" method="get" {
                        input #search type="search" name="q" placeholder="Paste a trace id and press Enter"
                            aria-label="Trace id" autocomplete="off" spellcheck="false";
                    }
                }
                main {
                    (stats_line(stats))
                    (body)
                }
                script src="/static/viewer.js" {}
            }
        }
    }
}

fn stats_line(s: &Stats) -> Markup {
    let n = |v: usize| format::count(v as u64);
    let evicted = s.traces_evicted + s.logs_evicted + s.metric_points_evicted + s.spans_dropped;
    html! {
        div.stats #stats {
            "Stored: " b { (n(s.traces)) } " traces (" (n(s.spans)) " spans), "
            b { (n(s.logs)) } " log records, "
            b { (n(s.metric_points)) } " metric points in " (n(s.metric_series)) " series. "
            span class=(if evicted > 0 { "evicted" } else { "" }) {
                "Evicted: " span #evicted-traces { (format::count(s.traces_evicted)) } " traces ("
                (format::count(s.spans_evicted)) " spans), "
                (format::count(s.logs_evicted)) " log records, "
                (format::count(s.metric_points_evicted)) " metric points; dropped "
                (format::count(s.spans_dropped)) " spans over the per-trace limit."
            }
            @if s.spans_rejected + s.requests_rejected > 0 {
                " Rejected: " (format::count(s.spans_rejected)) " spans without valid ids, "
                (format::count(s.requests_rejected)) " malformed requests."
            }
        }
    }
}

/// The values a list filter was given, as typed (to put back in the form).
pub struct FilterForm<'a> {
    pub service: &'a str,
    pub min_duration: &'a str,
    pub error: &'a str,
}

/// `/`: the newest traces, filtered.
pub fn trace_list(
    list: &TraceList,
    form: &FilterForm<'_>,
    services: &[String],
    problem: Option<&str>,
    more_href: Option<String>,
) -> Markup {
    let longest = list
        .traces
        .iter()
        .map(|t| t.duration_nanos)
        .max()
        .unwrap_or(0)
        .max(1);
    html! {
        @if let Some(problem) = problem {
            div.notice.error #problem { (problem) }
        }
        form.filters method="get" action="/" {
            label { "Service"
                select name="service" #filter-service {
                    option value="" { "any" }
                    @for s in services {
                        option value=(s) selected[form.service == s.as_str()] { (s) }
                    }
                }
            }
            label { "Min duration"
                input #filter-min-duration name="min_duration" value=(form.min_duration)
                    placeholder="e.g. 250ms, 1.5s" size="12";
            }
            label { "Errors"
                select name="error" #filter-error {
                    option value="" selected[form.error.is_empty()] { "any" }
                    option value="true" selected[form.error == "true"] { "with errors" }
                    option value="false" selected[form.error == "false"] { "without errors" }
                }
            }
            button type="submit" { "Filter" }
            a href="/" { "clear" }
        }
        div.sub {
            (format::count(list.matched as u64)) " of " (format::count(list.stored as u64))
            " stored traces match"
            @if list.traces.len() < list.matched { "; the newest " (list.traces.len()) " are shown" }
            "."
        }
        @if list.traces.is_empty() {
            div.empty {
                "No traces yet. Send OTLP to this viewer (gRPC :4317, HTTP :4318 by default) and reload."
            }
        } @else {
            table #traces {
                thead { tr {
                    th { "Started (UTC)" } th { "Root span" } th { "Services" }
                    th.num { "Spans" } th.num { "Duration" } th { "Error" }
                } }
                tbody {
                    @for t in &list.traces {
                        @let href = format!("/traces/{}", t.trace_id);
                        tr.trace data-href=(href) data-trace-id=(t.trace_id.to_string()) {
                            td.mono { (format::time(t.start_unix_nano)) }
                            td {
                                a.root href=(href) { (t.root_name) }
                                @if !t.has_root { " " span.sub title="the root span has not arrived" { "(no root yet)" } }
                                div.mono.sub { (t.trace_id.to_string()) }
                            }
                            td { @for s in &t.services { (chip(s)) } }
                            td.num.spans { (t.span_count) }
                            td.num {
                                span.duration { (format::duration(t.duration_nanos)) }
                                div.durbar style=(format!("width:{:.1}%", t.duration_nanos as f64 * 100.0 / longest as f64)) {}
                            }
                            td { @if t.error { span.err title="a span has an error status" { "✖ error" } } }
                        }
                    }
                }
            }
            @if let Some(href) = more_href {
                div.more { a href=(href) { "Show more" } }
            }
        }
    }
}

fn kv_table(map: &Map<String, Json>) -> Markup {
    html! {
        @if map.is_empty() {
            div.sub { "none" }
        } @else {
            table.kv {
                @for (k, v) in map {
                    tr { td { (k) } td { (json_text(v)) } }
                }
            }
        }
    }
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn log_line(log: &LogView, trace_start: u64) -> Markup {
    html! {
        div class=(format!("log sev-{}", log.severity)) data-span-id=[log.span_id.map(|s| s.to_string())] {
            span.at { "+" (format::duration(log.time_unix_nano.saturating_sub(trace_start))) }
            span.sev { (log.severity) } " "
            span.body { (log.body_text()) }
            @if !log.attributes.is_empty() {
                " " span.attrs {
                    @for (k, v) in &log.attributes { (k) "=" (json_text(v)) " " }
                }
            }
        }
    }
}

fn span_detail(span: &SpanView, resource_id: &str) -> Markup {
    html! {
        div.detail hidden {
            table {
                tr { td { "span id" } td { (span.span_id.to_string()) } }
                tr { td { "parent span id" } td {
                    @match span.parent_span_id {
                        Some(p) => { (p.to_string()) @if span.parent_missing { " (not received)" } }
                        None => { "none (root)" }
                    }
                } }
                tr { td { "kind" } td { (span.kind) } }
                tr { td { "service" } td { (span.service) } }
                tr { td { "start" } td { (format::time(span.start_unix_nano)) " UTC" } }
                tr { td { "duration" } td { (format::duration(span.duration_nanos)) } }
                tr { td { "status" } td class=(format!("status-{}", span.status.code)) {
                    (span.status.code)
                    @if !span.status.message.is_empty() { ": " (span.status.message) }
                } }
                tr { td { "scope" } td { (span.scope_name) @if !span.scope_version.is_empty() { " " (span.scope_version) } } }
            }
            h3 { "Attributes" }
            div.attributes { (kv_table(&span.attributes)) }
            h3 { "Events" }
            @if span.events.is_empty() { div.sub { "none" } }
            @for e in &span.events {
                div.event {
                    b { (e.name) } " at +" (format::duration(e.time_unix_nano.saturating_sub(span.start_unix_nano)))
                    (kv_table(&e.attributes))
                }
            }
            h3 { "Links" }
            @if span.links.is_empty() { div.sub { "none" } }
            @for l in &span.links {
                div.link {
                    a href=(format!("/traces/{}#span-{}", l.trace_id, l.span_id)) { (l.trace_id) " / " (l.span_id) }
                    (kv_table(&l.attributes))
                }
            }
            h3 { "Resource" }
            div.resource data-resource=(resource_id) { "…" }
        }
    }
}

/// `/traces/{id}`: the waterfall, each span's logs under it, details on click.
pub fn trace_page(detail: &TraceDetail) -> Markup {
    let s = &detail.summary;
    let total = s.duration_nanos.max(1) as f64;
    let start = s.start_unix_nano;
    let span_ids: std::collections::HashSet<_> = detail.spans.iter().map(|x| x.span_id).collect();
    let mut logs_by_span: HashMap<_, Vec<&LogView>> = HashMap::new();
    let mut other_logs = Vec::new();
    for log in &detail.logs {
        match log.span_id.filter(|id| span_ids.contains(id)) {
            Some(id) => logs_by_span.entry(id).or_default().push(log),
            None => other_logs.push(log),
        }
    }
    // One template per distinct resource; spans point at theirs.
    let mut resources: Vec<&Map<String, Json>> = Vec::new();
    let resource_of: Vec<usize> = detail
        .spans
        .iter()
        .map(
            |span| match resources.iter().position(|r| **r == span.resource) {
                Some(i) => i,
                None => {
                    resources.push(&span.resource);
                    resources.len() - 1
                }
            },
        )
        .collect();
    let palette = format::trace_colours(&s.services);
    let colour_of = |service: &str| {
        let at = s.services.iter().position(|x| x == service);
        format!(
            "--c:{}",
            at.map_or_else(|| format::service_colour(service), |i| palette[i])
        )
    };
    html! {
        h1 #trace-title {
            (s.root_name)
            @if s.error { " " span.err { "✖" } }
        }
        div.sub {
            "Trace " code #trace-id { (s.trace_id.to_string()) } " · started " (format::time(start)) " UTC · "
            (format::duration(s.duration_nanos)) " · " (s.span_count) " spans · " (detail.logs.len()) " log records"
            @if !s.has_root { " · the root span has not arrived" }
            " · " a href=(format!("/api/traces/{}", s.trace_id)) { "JSON" }
        }
        div.legend { @for svc in &s.services { span.chip style=(colour_of(svc)) { (svc) } } }
        div.waterfall #waterfall {
            div.axis {
                div.label { "Span" }
                div.ticks {
                    @for i in 0..=4u64 {
                        span.tick style=(format!("left:{}%", i * 25)) {
                            @if i == 0 { "0" } @else { (format::duration(quarter(s.duration_nanos, i))) }
                        }
                    }
                }
            }
            @for (i, span) in detail.spans.iter().enumerate() {
                @let left = span.offset_nanos as f64 * 100.0 / total;
                @let width = span.duration_nanos as f64 * 100.0 / total;
                div.span id=(format!("span-{}", span.span_id)) data-span-id=(span.span_id.to_string())
                    data-duration-ns=(span.duration_nanos) data-depth=(span.depth) {
                    div.row role="button" tabindex="0" aria-expanded="false" {
                        div.label style=(format!("padding-left:{}px", 8 + span.depth * 16)) title=(span.name) {
                            span.dot style=(colour_of(&span.service)) {}
                            span.name { (span.name) }
                            @if span.status.code == "error" { " " span.err { "✖" } }
                            span.svc { (span.service) }
                        }
                        div.track {
                            div class=(if span.status.code == "error" { "bar error" } else { "bar" })
                                style=(format!("left:{left:.4}%;width:{width:.4}%;{}", colour_of(&span.service))) {}
                            span.bar-label style=(label_position(left, width)) {
                                (format::duration(span.duration_nanos))
                            }
                        }
                    }
                    @if let Some(logs) = logs_by_span.get(&span.span_id) {
                        div.span-logs { @for log in logs { (log_line(log, start)) } }
                    }
                    (span_detail(span, &format!("resource-{}", resource_of[i])))
                }
            }
        }
        h2 { "Other logs of this trace" }
        div #other-logs {
            @if other_logs.is_empty() {
                div.sub { "none (every log record of this trace is shown under its span)" }
            }
            @for log in &other_logs { (log_line(log, start)) }
        }
        @for (i, resource) in resources.iter().enumerate() {
            template id=(format!("resource-{i}")) { (kv_table(resource)) }
        }
    }
}

/// Where a bar's duration label goes: after the bar when there is room, else before it, else
/// inside it.
fn label_position(left: f64, width: f64) -> String {
    if left + width <= 88.0 {
        format!("left:calc({:.4}% + 4px)", left + width)
    } else if left >= 12.0 {
        format!("right:calc({:.4}% + 4px)", 100.0 - left)
    } else {
        format!("left:calc({left:.4}% + 4px);color:#fff")
    }
}

/// A trace that is not stored.
pub fn missing_trace(id: &str, evicted: u64) -> Markup {
    html! {
        div.notice #problem {
            "Trace " code { (id) } " is not stored: it was never received here, or it was evicted ("
            (format::count(evicted)) " traces evicted so far)."
        }
    }
}

fn latest(series: &SeriesView) -> String {
    match series.points.last().map(|p| &p.value) {
        Some(PointValue::Number(v)) => format::number(*v),
        Some(PointValue::Histogram { count, sum, .. }) => match sum {
            Some(sum) if *count > 0 => format!(
                "count {}, sum {}, mean {}",
                count,
                format::number(*sum),
                format::number(sum / *count as f64)
            ),
            _ => format!("count {count}"),
        },
        None => String::new(),
    }
}

/// `/metrics`: every series received, grouped by metric, with its exemplars as trace links.
pub fn metrics_page(series: &[SeriesView]) -> Markup {
    let mut groups: Vec<(&str, Vec<&SeriesView>)> = Vec::new();
    for s in series {
        match groups.last_mut() {
            Some((name, list)) if *name == s.name => list.push(s),
            _ => groups.push((&s.name, vec![s])),
        }
    }
    html! {
        h1 { "Metrics" }
        div.sub {
            "Each series received (over OTLP, or scraped), its latest value and its most recent exemplars. "
            "An exemplar links to the trace it was recorded in."
        }
        @if groups.is_empty() { div.empty { "No metrics yet." } }
        @for (name, list) in &groups {
            @let first = list[0];
            h3 id=(format!("metric-{name}")) {
                (name) " " span.sub { (first.kind.name())
                    @if !first.unit.is_empty() { ", unit " (first.unit) }
                    @if !first.temporality.is_empty() { ", " (first.temporality) }
                }
            }
            @if !first.description.is_empty() { div.sub { (first.description) } }
            table.series {
                thead { tr { th { "Service" } th { "Attributes" } th { "Latest" } th.num { "Points" } th { "Exemplars" } } }
                tbody {
                    @for s in list {
                        tr.series-row data-metric=(s.name) {
                            td { (chip(&s.service)) }
                            td.attrs { @for (k, v) in &s.attributes { (k) "=" (v) br; } }
                            td.mono { (latest(s)) }
                            td.num { (s.point_count) }
                            td {
                                @if s.exemplars.is_empty() && matches!(s.kind, MetricKind::Counter | MetricKind::Histogram) {
                                    span.sub { "none" }
                                }
                                @for e in &s.exemplars {
                                    @let href = match e.span_id {
                                        Some(span) => format!("/traces/{}#span-{}", e.trace_id, span),
                                        None => format!("/traces/{}", e.trace_id),
                                    };
                                    a.exemplar href=(href) data-trace-id=(e.trace_id.to_string())
                                        title=(format!("value {} at {} UTC", format::number(e.value), format::time(e.time_unix_nano))) {
                                        (format::number(e.value)) " → " (e.trace_id.to_string()[..8])
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `/logs`: the newest log records, with links to their traces.
pub fn logs_page(logs: &[LogView]) -> Markup {
    html! {
        h1 { "Logs" }
        div.sub { "The newest " (logs.len()) " log records, newest first." }
        @if logs.is_empty() { div.empty { "No log records yet." } }
        @else {
            table #logs {
                thead { tr { th { "Time (UTC)" } th { "Service" } th { "Severity" } th { "Body" } th { "Trace" } } }
                tbody {
                    @for log in logs {
                        tr {
                            td.mono { (format::time(log.time_unix_nano)) }
                            td { (chip(&log.service)) }
                            td class=(format!("sev-{}", log.severity)) { (log.severity) }
                            td.mono { (log.body_text())
                                @if !log.attributes.is_empty() {
                                    " " span.sub { @for (k, v) in &log.attributes { (k) "=" (json_text(v)) " " } }
                                }
                            }
                            td.mono {
                                @if let Some(t) = log.trace_id {
                                    a href=(match log.span_id { Some(s) => format!("/traces/{t}#span-{s}"), None => format!("/traces/{t}") }) { (t.to_string()[..8]) "…" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `duration × i / 4` without overflow, for the axis ticks (a span may claim any end time).
fn quarter(duration: u64, i: u64) -> u64 {
    u64::try_from(u128::from(duration) * u128::from(i) / 4).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tick_tests {
    #[test]
    fn ticks_of_the_longest_trace_do_not_overflow() {
        assert_eq!(super::quarter(u64::MAX, 4), u64::MAX);
        assert_eq!(super::quarter(u64::MAX, 2), u64::MAX / 2);
        assert_eq!(super::quarter(100, 3), 75);
    }
}
