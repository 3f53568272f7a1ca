//! Tests of the sink through its recorders and both renderings (parsed, not searched).

use std::borrow::Cow;
use std::time::{Duration, Instant, UNIX_EPOCH};

use hyperion::{SpanContext, SpanId, TraceFlags, TraceId, TraceState, kv};

use super::parse::{Exposition, parse};
use super::*;

const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_HEX: &str = "00f067aa0ba902b7";

fn sink_with(configure: impl FnOnce(&mut MetricsSettings)) -> PrometheusSink {
    let mut config = MetricsSettings::default();
    configure(&mut config);
    PrometheusSink::new(&config)
}

fn sink() -> PrometheusSink {
    sink_with(|_| {})
}

fn desc(kind: InstrumentKind, name: &'static str, unit: &'static str) -> InstrumentDescriptor {
    InstrumentDescriptor {
        scope: Cow::Borrowed("test"),
        name: Cow::Borrowed(name),
        kind,
        description: Cow::Borrowed("A test instrument"),
        unit: Cow::Borrowed(unit),
        boundaries: None,
    }
}

fn span_ctx(flags: TraceFlags) -> Context {
    let sc = SpanContext::new(
        TraceId::from_hex(TRACE_HEX).unwrap(),
        SpanId::from_hex(SPAN_HEX).unwrap(),
        flags,
        false,
        TraceState::default(),
    );
    Context::noop().with_span_context(sc)
}

fn sampled() -> Context {
    span_ctx(TraceFlags::SAMPLED)
}

fn unsampled() -> Context {
    span_ctx(TraceFlags::NOT_SAMPLED)
}

/// Both renderings, parsed strictly.
fn both(sink: &PrometheusSink) -> (Exposition, Exposition) {
    (
        parse(&sink.render(true), true),
        parse(&sink.render(false), false),
    )
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn counter_in_both_formats() {
    let sink = sink_with(|c| {
        c.namespace = Some("hyperion".into());
        c.subsystem = Some("api".into());
    });
    let requests = sink.counter(&desc(
        InstrumentKind::Counter,
        "http.server.requests",
        "{request}",
    ));
    let ctx = Context::noop();
    requests.add(&ctx, 2, &[kv("method", "GET")]);
    requests.add(&ctx, 5, &[kv("method", "POST")]);
    requests.add(&ctx, 1, &[kv("method", "GET")]);

    let (om, classic) = both(&sink);
    let family = om.family("hyperion_api_http_server_requests");
    assert_eq!(
        (family.kind.as_str(), family.help.as_str()),
        ("counter", "A test instrument")
    );
    let name = "hyperion_api_http_server_requests_total";
    assert_eq!(om.value(name, &[("method", "GET")]), 3.0);
    assert_eq!(om.value(name, &[("method", "POST")]), 5.0);

    // Classic: the TYPE names the samples, `_total` once.
    assert_eq!(classic.family(name).kind, "counter");
    assert_eq!(classic.value(name, &[("method", "GET")]), 3.0);
    assert_eq!(classic.value(name, &[("method", "POST")]), 5.0);
    assert_eq!(classic.samples.len(), 2);
}

#[test]
fn histogram_in_both_formats() {
    let sink = sink_with(|c| {
        c.namespace = Some("hyperion".into());
        c.subsystem = Some("api".into());
    });
    let duration = sink.histogram(&desc(
        InstrumentKind::Histogram,
        "hyperion.intercept.duration",
        "s",
    ));
    let ctx = Context::noop();
    for v in [0.003, 0.2, 0.2, 7.0, 20.0] {
        duration.record(&ctx, v, &[kv("rpc.method", "GetUser")]);
    }
    let (om, classic) = both(&sink);
    let family = "hyperion_api_intercept_duration_seconds";
    assert_eq!(om.family(family).unit.as_deref(), Some("seconds"));
    for exposition in [&om, &classic] {
        assert_eq!(exposition.family(family).kind, "histogram");
        let labels = [("rpc_method", "GetUser")];
        assert_eq!(exposition.value(&format!("{family}_count"), &labels), 5.0);
        let sum = exposition.value(&format!("{family}_sum"), &labels);
        assert!((sum - 27.403).abs() < 1e-9, "{sum}");
        let bucket = |le: &str| {
            exposition.value(
                &format!("{family}_bucket"),
                &[("rpc_method", "GetUser"), ("le", le)],
            )
        };
        assert_eq!(bucket("0.005"), 1.0);
        assert_eq!(bucket("0.1"), 1.0);
        assert_eq!(bucket("0.25"), 3.0);
        assert_eq!(bucket("5.0"), 3.0);
        assert_eq!(bucket("10.0"), 4.0);
        assert_eq!(bucket("+Inf"), 5.0);
    }
}

#[test]
fn gauge_and_up_down_counter_in_both_formats() {
    let sink = sink();
    let utilization = sink.gauge(&desc(InstrumentKind::Gauge, "cpu.utilization", "1"));
    let depth = sink.up_down_counter(&desc(
        InstrumentKind::UpDownCounter,
        "queue.depth",
        "{item}",
    ));
    let ctx = Context::noop();
    utilization.record(&ctx, 0.5, &[kv("cpu", 0)]);
    utilization.record(&ctx, 0.75, &[kv("cpu", 0)]);
    utilization.record(&ctx, -3.25, &[kv("cpu", 1)]);
    depth.add(&ctx, 5, &[]);
    depth.add(&ctx, -7, &[]);
    let (om, classic) = both(&sink);
    assert_eq!(
        om.family("cpu_utilization_ratio").unit.as_deref(),
        Some("ratio")
    );
    for exposition in [&om, &classic] {
        assert_eq!(exposition.family("cpu_utilization_ratio").kind, "gauge");
        assert_eq!(exposition.family("queue_depth").kind, "gauge");
        assert_eq!(
            exposition.value("cpu_utilization_ratio", &[("cpu", "0")]),
            0.75
        );
        assert_eq!(
            exposition.value("cpu_utilization_ratio", &[("cpu", "1")]),
            -3.25
        );
        assert_eq!(exposition.value("queue_depth", &[]), -2.0);
    }
    // An empty label set is written without `{}`.
    for openmetrics in [true, false] {
        let text = sink.render(openmetrics);
        assert!(text.contains("\nqueue_depth -2\n"), "{text}");
    }
}

#[test]
fn exemplars_only_for_sampled_spans() {
    let sink = sink();
    let calls = sink.counter(&desc(InstrumentKind::Counter, "calls", ""));
    let latency = sink.histogram(&desc(InstrumentKind::Histogram, "latency", "s"));
    let before = unix_now();
    calls.add(&sampled(), 2, &[kv("case", "sampled")]);
    calls.add(&unsampled(), 1, &[kv("case", "unsampled")]);
    calls.add(&Context::noop(), 1, &[kv("case", "none")]);
    latency.record(&sampled(), 0.2, &[kv("case", "sampled")]);
    latency.record(&unsampled(), 0.2, &[kv("case", "unsampled")]);
    latency.record(&Context::noop(), 0.2, &[kv("case", "none")]);
    let after = unix_now();

    let om = parse(&sink.render(true), true);
    let exemplar = om
        .sample("calls_total", &[("case", "sampled")])
        .exemplar
        .clone()
        .expect("an exemplar on the sampled series");
    let ids = |e: &parse::Exemplar| {
        (
            e.labels.get("trace_id").cloned(),
            e.labels.get("span_id").cloned(),
            e.labels.len(),
        )
    };
    let want = (Some(TRACE_HEX.to_owned()), Some(SPAN_HEX.to_owned()), 2);
    assert_eq!(ids(&exemplar), want);
    assert_eq!(exemplar.value, 2.0);
    let ts = exemplar.timestamp.expect("a timestamp");
    assert!(
        before - 1.0 <= ts && ts <= after + 1.0,
        "{before} {ts} {after}"
    );
    for case in ["unsampled", "none"] {
        assert_eq!(
            om.sample("calls_total", &[("case", case)]).exemplar,
            None,
            "{case}"
        );
    }

    // Histograms: the exemplar sits on the bucket the value fell in, and only there.
    for sample in om.samples_of("latency_seconds") {
        let in_bucket = sample.labels.get("case").map(String::as_str) == Some("sampled")
            && sample.labels.get("le").map(String::as_str) == Some("0.25");
        match &sample.exemplar {
            Some(e) => {
                assert!(in_bucket, "unexpected exemplar on {sample:?}");
                assert_eq!(ids(e), want);
                assert_eq!(e.value, 0.2);
                assert!(e.timestamp.is_some());
            }
            None => assert!(!in_bucket, "missing exemplar on {sample:?}"),
        }
    }

    // A later add without a sampled span keeps the exemplar; the counter still counts.
    calls.add(&Context::noop(), 3, &[kv("case", "sampled")]);
    let om = parse(&sink.render(true), true);
    let sample = om.sample("calls_total", &[("case", "sampled")]);
    assert_eq!(sample.value, 5.0);
    assert_eq!(sample.exemplar.as_ref().map(ids), Some(want));
}

#[test]
fn no_exemplars_when_disabled() {
    let sink = sink_with(|c| c.exemplars = false);
    let calls = sink.counter(&desc(InstrumentKind::Counter, "calls", ""));
    let latency = sink.histogram(&desc(InstrumentKind::Histogram, "latency", "s"));
    calls.add(&sampled(), 1, &[]);
    latency.record(&sampled(), 0.2, &[]);
    let om = parse(&sink.render(true), true);
    assert_eq!(om.value("calls_total", &[]), 1.0);
    assert_eq!(om.value("latency_seconds_count", &[]), 1.0);
    assert!(om.samples.iter().all(|s| s.exemplar.is_none()), "{om:?}");
}

fn bucket_bounds(sink: &PrometheusSink, family: &str) -> Vec<String> {
    let om = parse(&sink.render(true), true);
    om.samples_of(family)
        .into_iter()
        .filter_map(|s| s.labels.get("le").cloned())
        .collect()
}

#[test]
fn bucket_boundaries_from_each_source() {
    let seconds: Vec<String> = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf",
    ]
    .map(String::from)
    .to_vec();
    let otel: Vec<String> = [
        "0.0", "5.0", "10.0", "25.0", "50.0", "75.0", "100.0", "250.0", "500.0", "750.0", "1000.0",
        "2500.0", "5000.0", "7500.0", "10000.0", "+Inf",
    ]
    .map(String::from)
    .to_vec();
    let ctx = Context::noop();

    // Defaults: second-scale for `s`, OpenTelemetry's otherwise.
    let sink = sink();
    sink.histogram(&desc(InstrumentKind::Histogram, "a", "s"))
        .record(&ctx, 1.0, &[]);
    sink.histogram(&desc(InstrumentKind::Histogram, "b", "ms"))
        .record(&ctx, 1.0, &[]);
    // The descriptor's own (unsorted, with a NaN: cleaned up).
    let mut own = desc(InstrumentKind::Histogram, "c", "s");
    own.boundaries = Some(vec![1.0, 0.5, f64::NAN, 2.0]);
    sink.histogram(&own).record(&ctx, 1.0, &[]);
    assert_eq!(bucket_bounds(&sink, "a_seconds"), seconds);
    assert_eq!(bucket_bounds(&sink, "b_milliseconds"), otel);
    assert_eq!(
        bucket_bounds(&sink, "c_seconds"),
        ["0.5", "1.0", "2.0", "+Inf"]
    );

    // The config's, for every instrument without its own, whatever the unit.
    let sink = sink_with(|c| c.histogram_boundaries = Some(vec![10.0, 20.0]));
    sink.histogram(&desc(InstrumentKind::Histogram, "a", "s"))
        .record(&ctx, 1.0, &[]);
    sink.histogram(&desc(InstrumentKind::Histogram, "b", ""))
        .record(&ctx, 1.0, &[]);
    sink.histogram(&own).record(&ctx, 1.0, &[]);
    assert_eq!(bucket_bounds(&sink, "a_seconds"), ["10.0", "20.0", "+Inf"]);
    assert_eq!(bucket_bounds(&sink, "b"), ["10.0", "20.0", "+Inf"]);
    assert_eq!(
        bucket_bounds(&sink, "c_seconds"),
        ["0.5", "1.0", "2.0", "+Inf"]
    );
}

#[test]
fn invalid_values_are_dropped_and_counted() {
    let sink = sink();
    let h = sink.histogram(&desc(InstrumentKind::Histogram, "h", ""));
    let g = sink.gauge(&desc(InstrumentKind::Gauge, "g", ""));
    let u = sink.up_down_counter(&desc(InstrumentKind::UpDownCounter, "u", ""));
    let ctx = sampled();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        h.record(&ctx, bad, &[]);
        g.record(&ctx, bad, &[]);
    }
    assert_eq!(sink.dropped_values(), 6);
    // Nothing was recorded: no family has a series yet.
    assert_eq!(sink.render(true), "# EOF\n");
    assert_eq!(sink.render(false), "");

    // Negative values are valid for histograms (as in OpenTelemetry), gauges and up-down
    // counters. Counters take `u64`: a negative increment cannot be expressed.
    h.record(&ctx, -1.5, &[]);
    g.record(&ctx, 2.0, &[]);
    g.record(&ctx, f64::NAN, &[]);
    u.add(&ctx, -4, &[]);
    assert_eq!(sink.dropped_values(), 7);
    let (om, classic) = both(&sink);
    for exposition in [&om, &classic] {
        assert_eq!(exposition.value("h_sum", &[]), -1.5);
        assert_eq!(exposition.value("h_count", &[]), 1.0);
        assert_eq!(exposition.value("h_bucket", &[("le", "0.0")]), 1.0);
        assert_eq!(
            exposition.value("g", &[]),
            2.0,
            "the NaN did not overwrite the gauge"
        );
        assert_eq!(exposition.value("u", &[]), -4.0);
    }
}

#[test]
fn label_values_truncated_at_a_char_boundary() {
    let sink = sink_with(|c| c.max_label_value_length = 5);
    let c = sink.counter(&desc(InstrumentKind::Counter, "visits", ""));
    let ctx = Context::noop();
    // "ab" + "日" is 5 bytes; "本" would cut a character: it goes.
    c.add(&ctx, 1, &[kv("city", "ab日本語")]);
    c.add(&ctx, 1, &[kv("city", "ab日本")]);
    c.add(&ctx, 1, &[kv("city", "ab日")]);
    c.add(&ctx, 1, &[kv("city", "aéééé")]);
    let (om, classic) = both(&sink);
    for exposition in [&om, &classic] {
        let name = "visits_total";
        assert_eq!(exposition.value(name, &[("city", "ab日")]), 3.0);
        assert_eq!(exposition.value(name, &[("city", "aéé")]), 1.0);
        assert_eq!(exposition.samples.len(), 2);
    }
}

#[test]
fn attribute_order_does_not_split_series() {
    let sink = sink();
    let c = sink.counter(&desc(InstrumentKind::Counter, "requests", ""));
    let ctx = Context::noop();
    c.add(
        &ctx,
        1,
        &[kv("method", "GET"), kv("http.route", "/u"), kv("code", 200)],
    );
    c.add(
        &ctx,
        1,
        &[kv("code", 200), kv("method", "GET"), kv("http.route", "/u")],
    );
    c.add(
        &ctx,
        1,
        &[kv("http.route", "/u"), kv("code", 200), kv("method", "GET")],
    );
    let (om, classic) = both(&sink);
    for exposition in [&om, &classic] {
        assert_eq!(exposition.samples.len(), 1);
        let labels = [("code", "200"), ("http_route", "/u"), ("method", "GET")];
        assert_eq!(exposition.value("requests_total", &labels), 3.0);
    }
    // Rendered in sorted label order.
    assert!(
        sink.render(false)
            .contains("requests_total{code=\"200\",http_route=\"/u\",method=\"GET\"} 3\n")
    );
}

#[test]
fn same_name_registered_twice_shares_one_family() {
    let sink = sink();
    let ctx = Context::noop();
    let first = sink.counter(&desc(InstrumentKind::Counter, "jobs", ""));
    let second = sink.counter(&desc(InstrumentKind::Counter, "jobs", ""));
    // `jobs.total` is the same Prometheus name.
    let third = sink.counter(&desc(InstrumentKind::Counter, "jobs.total", ""));
    first.add(&ctx, 1, &[kv("q", "a")]);
    second.add(&ctx, 2, &[kv("q", "a")]);
    third.add(&ctx, 4, &[kv("q", "a")]);
    let h1 = sink.histogram(&desc(InstrumentKind::Histogram, "wait", "s"));
    let h2 = sink.histogram(&desc(InstrumentKind::Histogram, "wait", "s"));
    h1.record(&ctx, 1.0, &[]);
    h2.record(&ctx, 1.0, &[]);

    // Another kind under a colliding name would make two families of one name: dropped.
    let gauge = sink.gauge(&desc(InstrumentKind::Gauge, "jobs", ""));
    let gauge_total = sink.gauge(&desc(InstrumentKind::Gauge, "jobs_total", ""));
    gauge.record(&ctx, 1.0, &[]);
    gauge_total.record(&ctx, 1.0, &[]);
    assert_eq!(sink.dropped_values(), 2);

    let (om, classic) = both(&sink);
    assert_eq!(om.families.len(), 2, "{:?}", om.families);
    assert_eq!(classic.families.len(), 2, "{:?}", classic.families);
    for exposition in [&om, &classic] {
        assert_eq!(exposition.value("jobs_total", &[("q", "a")]), 7.0);
        assert_eq!(exposition.value("wait_seconds_count", &[]), 2.0);
    }
}

/// A million distinct label values into one counter with a limit of 100: 100 series and one
/// overflow series holding the rest, and memory bounded (the overflow's label sets are not
/// remembered). Measured on this 2-core machine in a debug build: about 7 s for the
/// 1,000,000 records (every one past the limit takes the slow path, which allocates), under the
/// ~10 s budget for a full million.
#[test]
fn cardinality_limit_folds_a_million_values_into_one_overflow_series() {
    const VALUES: u64 = 1_000_000;
    let sink = sink_with(|c| c.cardinality_limit = 100);
    let users = sink.counter(&desc(InstrumentKind::Counter, "logins", ""));
    let ctx = Context::noop();
    let started = Instant::now();
    let mut id = String::new();
    for i in 0..VALUES {
        id.clear();
        fmt::Write::write_fmt(&mut id, format_args!("user-{i}")).unwrap();
        users.add(&ctx, 1, &[kv("user.id", id.as_str()), kv("region", "eu")]);
    }
    let elapsed = started.elapsed();
    eprintln!("{VALUES} records with 100 series + overflow: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");

    let (om, classic) = both(&sink);
    for exposition in [&om, &classic] {
        // `logins` in OpenMetrics, `logins_total` in the classic format.
        let series = exposition.samples_of(&exposition.families[0].name);
        assert_eq!(series.len(), 101);
        assert_eq!(
            exposition.value("logins_total", &[(series::OVERFLOW_LABEL, "true")]),
            (VALUES - 100) as f64
        );
        let kept: f64 = series
            .iter()
            .filter(|s| s.labels.contains_key("user_id"))
            .map(|s| s.value)
            .sum();
        assert_eq!(kept, 100.0);
        assert_eq!(
            exposition.value("logins_total", &[("user_id", "user-0"), ("region", "eu")]),
            1.0
        );
    }
    assert_eq!(sink.overflowed(), VALUES - 100);
    // Memory: 100 series, 100 remembered raw keys; nothing of the 999,900 others.
    let families = sink.families.0.read().unwrap();
    let Data::Counter(table) = &families.list[0].data else {
        panic!("a counter family")
    };
    assert_eq!((table.len(), table.remembered_keys()), (101, 100));
    drop(families);
    // Known series keep counting past the limit; overflowed label sets stay in the overflow.
    users.add(&ctx, 1, &[kv("region", "eu"), kv("user.id", "user-5")]);
    users.add(&ctx, 1, &[kv("user.id", "user-999999"), kv("region", "eu")]);
    let om = parse(&sink.render(true), true);
    assert_eq!(
        om.value("logins_total", &[("user_id", "user-5"), ("region", "eu")]),
        2.0
    );
    assert_eq!(
        om.value("logins_total", &[(series::OVERFLOW_LABEL, "true")]),
        (VALUES - 99) as f64
    );
}

#[test]
fn classic_format_has_no_exemplars_units_or_eof() {
    let sink = sink();
    sink.counter(&desc(InstrumentKind::Counter, "bytes.sent", "By"))
        .add(&sampled(), 10, &[kv("peer", "a")]);
    sink.histogram(&desc(InstrumentKind::Histogram, "rpc.duration", "s"))
        .record(&sampled(), 0.3, &[]);
    let om = sink.render(true);
    let classic = sink.render(false);
    // The OpenMetrics text has all three; the classic text none.
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# UNIT bytes_sent_bytes bytes\n"));
    assert_eq!(
        parse(&om, true)
            .samples
            .iter()
            .filter(|s| s.exemplar.is_some())
            .count(),
        2
    );
    let parsed = parse(&classic, false);
    assert!(!classic.contains("# EOF") && !classic.contains("# UNIT") && !classic.contains(" # {"));
    assert!(parsed.samples.iter().all(|s| s.exemplar.is_none()));
    // Counters are typed under the sample name, as Prometheus 0.0.4 expects.
    let types: Vec<&str> = classic
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .collect();
    assert_eq!(
        types,
        [
            "# TYPE bytes_sent_bytes_total counter",
            "# TYPE rpc_duration_seconds histogram"
        ]
    );
    assert_eq!(
        parsed.value("bytes_sent_bytes_total", &[("peer", "a")]),
        10.0
    );
    assert_eq!(
        PrometheusSink::content_type(false),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        PrometheusSink::content_type(true),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}

#[test]
fn help_text_is_escaped_in_both_formats() {
    let sink = sink();
    let mut d = desc(InstrumentKind::Gauge, "temperature", "Cel");
    d.description = Cow::Borrowed("Degrees \"inside\" the C:\\ box\nsecond line");
    sink.gauge(&d)
        .record(&Context::noop(), 21.5, &[kv("room", "a \"b\" \\ c\nd")]);
    let (om, classic) = both(&sink);
    for exposition in [&om, &classic] {
        let family = exposition.family("temperature_celsius");
        assert_eq!(family.help, "Degrees \"inside\" the C:\\ box\nsecond line");
        assert_eq!(
            exposition.value("temperature_celsius", &[("room", "a \"b\" \\ c\nd")]),
            21.5
        );
    }
}

#[test]
fn empty_sink_renders_empty_expositions() {
    let sink = sink();
    let _unused = sink.counter(&desc(InstrumentKind::Counter, "never", ""));
    assert_eq!(sink.render(true), "# EOF\n");
    assert_eq!(sink.render(false), "");
}

#[test]
fn wants_openmetrics_follows_the_accept_header() {
    let prometheus_2_42 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let cases = [
        (Some(prometheus_2_42), true),
        (Some("*/*"), false),
        (None, false),
        (Some(""), false),
        (Some("text/plain;version=0.0.4"), false),
        (Some("application/openmetrics-text"), true),
        (Some("Application/OpenMetrics-Text; version=1.0.0"), true),
        (
            Some("application/openmetrics-text;q=0.2, text/plain;q=0.9"),
            false,
        ),
        (
            Some("text/plain;q=0.5, application/openmetrics-text;q=0.5"),
            true,
        ),
        (Some("application/openmetrics-text;q=0"), false),
        (Some("application/openmetrics-text;q=abc"), false),
        (Some(";;,,=q;"), false),
    ];
    for (accept, want) in cases {
        assert_eq!(
            PrometheusSink::wants_openmetrics(accept),
            want,
            "{accept:?}"
        );
    }
}

#[test]
fn records_from_many_threads() {
    let sink = Arc::new(sink_with(|c| c.cardinality_limit = 3));
    let counter = sink.counter(&desc(InstrumentKind::Counter, "ops", ""));
    let histogram = sink.histogram(&desc(InstrumentKind::Histogram, "op.size", "By"));
    std::thread::scope(|s| {
        for t in 0..8 {
            let counter = &counter;
            let histogram = &histogram;
            s.spawn(move || {
                let ctx = if t % 2 == 0 {
                    sampled()
                } else {
                    Context::noop()
                };
                for i in 0..5_000 {
                    let shard = kv("shard", i % 4);
                    counter.add(&ctx, 1, std::slice::from_ref(&shard));
                    histogram.record(&ctx, f64::from(i % 100), &[shard]);
                }
            });
        }
    });
    let om = parse(&sink.render(true), true);
    let total: f64 = om.samples_of("ops").iter().map(|s| s.value).sum();
    assert_eq!(total, 40_000.0);
    // Three shards kept, the fourth folded into the overflow series.
    assert_eq!(
        om.value("ops_total", &[(series::OVERFLOW_LABEL, "true")]),
        10_000.0
    );
    assert_eq!(sink.overflowed(), 20_000);
    let count: f64 = om
        .samples_of("op_size_bytes")
        .iter()
        .filter(|s| s.name == "op_size_bytes_count")
        .map(|s| s.value)
        .sum();
    assert_eq!(count, 40_000.0);
}

#[test]
fn sink_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PrometheusSink>();
}
