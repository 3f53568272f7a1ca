//! OTLP metrics read from the one aggregation store the Prometheus endpoint renders: exemplars
//! on sums and histograms (trace id, span id, time, value), checked field by field after a real
//! collector (rotel) passed them on; delta temporality from the OpenTelemetry environment
//! variable; the same cardinality limit and overflow series in both exporters (over OTLP/JSON).
//! These tests fail, never skip, when rotel is missing: run scripts/setup.sh.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyperion::config::ConfigLoader;
use hyperion::{SpanOptions, Telemetry, kv};
use hyperion_otel::OtelModule;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, exemplar, metric::Data, number_data_point,
};
use support::{ForwardProtocol, OtlpReceiver, Rotel};

const WAIT: Duration = Duration::from_secs(30);

async fn build(yaml: &str, env: &[(&str, &str)]) -> (Telemetry, OtelModule) {
    let module = OtelModule::new();
    let config = ConfigLoader::new()
        .yaml(yaml)
        .env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .load()
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let t = Telemetry::builder()
        .module(module.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    (t, module)
}

async fn scrape(otel: &OtelModule) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = otel.prometheus_endpoint().unwrap().local_addr().unwrap();
    reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn attr<'a>(
    attributes: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn only(metrics: &[Metric]) -> &Metric {
    assert_eq!(metrics.len(), 1, "{metrics:#?}");
    &metrics[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_sums_and_histograms_carry_exemplars_through_rotel() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let yaml = format!(
        "tracing:\n  service_name: orders\n  exporter: none\n  endpoint: \"{}\"\n\
         metrics:\n  exporter: both\n  port: 0\n  bind_address: 127.0.0.1\n  interval: 1h\n",
        rotel.grpc_endpoint()
    );
    let (t, otel) = build(&yaml, &[]).await;
    let meter = t.meter("orders");
    let placed = meter.counter("orders.placed").unit("{order}").build();
    let latency = meter.histogram("orders.latency").unit("s").build();

    // Outside any span: counted, no exemplar.
    placed.add(&t.context(), 1, &[kv("region", "eu")]);
    latency.record(&t.context(), 0.7, &[kv("region", "eu")]);
    let before = SystemTime::now();
    let (ctx, mut span) = t.context().start_span("place order", SpanOptions::server());
    placed.add(
        &ctx,
        3,
        &[kv("region", "eu"), kv("http.response.status_code", 201)],
    );
    placed.add(&ctx, 4, &[kv("region", "eu")]);
    latency.record(&ctx, 0.02, &[kv("region", "eu")]);
    span.end();
    let after = SystemTime::now();
    let trace_id = ctx.span_context().trace_id().to_bytes().to_vec();
    let span_id = ctx.span_context().span_id().to_bytes().to_vec();
    let text = scrape(&otel).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();

    // Counter: a cumulative monotonic sum per attribute set, typed attributes as given.
    let m = receiver.wait_for_metric("orders.placed", WAIT).await;
    let m = only(&m);
    assert_eq!((m.unit.as_str(), m.description.as_str()), ("{order}", ""));
    let Some(Data::Sum(sum)) = &m.data else {
        panic!("{m:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    assert_eq!(sum.data_points.len(), 2, "{sum:#?}");
    let eu = sum
        .data_points
        .iter()
        .find(|p| p.attributes.len() == 1)
        .unwrap();
    assert_eq!(
        attr(&eu.attributes, "region"),
        Some(&AnyValue::StringValue("eu".into()))
    );
    assert_eq!(eu.value, Some(number_data_point::Value::AsInt(5)));
    // The latest exemplar: the add of 4 under the span.
    assert_eq!(eu.exemplars.len(), 1, "{eu:#?}");
    let e = &eu.exemplars[0];
    assert_eq!(e.trace_id, trace_id);
    assert_eq!(e.span_id, span_id);
    assert_eq!(e.value, Some(exemplar::Value::AsInt(4)));
    assert!(
        (nanos(before)..=nanos(after)).contains(&e.time_unix_nano),
        "{e:?}"
    );
    assert!(e.filtered_attributes.is_empty());
    let created = sum
        .data_points
        .iter()
        .find(|p| p.attributes.len() == 2)
        .unwrap();
    assert_eq!(
        attr(&created.attributes, "http.response.status_code"),
        Some(&AnyValue::IntValue(201)),
        "an integer attribute stays an integer over OTLP"
    );
    assert_eq!(created.value, Some(number_data_point::Value::AsInt(3)));
    assert_eq!(created.exemplars[0].value, Some(exemplar::Value::AsInt(3)));
    assert!(eu.start_time_unix_nano <= nanos(before) && eu.time_unix_nano >= nanos(after));

    // Histogram: buckets, sum, count, and the exemplar of the bucket the value fell in.
    let m = receiver.wait_for_metric("orders.latency", WAIT).await;
    let m = only(&m);
    let Some(Data::Histogram(h)) = &m.data else {
        panic!("{m:?}")
    };
    let p = &h.data_points[0];
    assert_eq!(p.count, 2);
    assert!((p.sum.unwrap() - 0.72).abs() < 1e-9, "{p:?}");
    assert_eq!(p.explicit_bounds[..3], [0.005, 0.01, 0.025]);
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
    assert_eq!(p.bucket_counts[2], 1, "0.02 is in (0.01, 0.025]");
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), 2);
    assert_eq!((p.min, p.max), (Some(0.02), Some(0.7)));
    assert_eq!(p.exemplars.len(), 1, "{p:#?}");
    let e = &p.exemplars[0];
    assert_eq!((&e.trace_id, &e.span_id), (&trace_id, &span_id));
    assert_eq!(e.value, Some(exemplar::Value::AsDouble(0.02)));
    assert!((nanos(before)..=nanos(after)).contains(&e.time_unix_nano));

    // The Prometheus endpoint read the same cells: the same counts and the same exemplars.
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_owned()
    };
    assert!(line("orders_latency_seconds_count{region=\"eu\"}").ends_with(" 2"));
    let bucket = line("orders_latency_seconds_bucket{le=\"0.025\",region=\"eu\"}");
    assert!(
        bucket.contains(&format!(
            "trace_id=\"{}\",span_id=\"{}\"}} 0.02",
            hex(&trace_id),
            hex(&span_id)
        )),
        "{bucket}"
    );
    assert!(
        line("orders_placed_total{region=\"eu\"}")
            .starts_with("orders_placed_total{region=\"eu\"} 5 # {")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_temporality_comes_from_the_environment_variable() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  exporter: none\n  protocol: http/protobuf\n  endpoint: \"{}\"\n\
         metrics:\n  exporter: otlp\n  interval: 1h\n",
        receiver.http_endpoint()
    );
    let (t, otel) = build(
        &yaml,
        &[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta")],
    )
    .await;
    assert!(otel.prometheus_endpoint().is_none());
    let meter = t.meter("jobs");
    let done = meter.counter("jobs.done").build();
    let took = meter.histogram("jobs.took").unit("s").build();
    let running = meter.up_down_counter("jobs.running").build();
    let ctx = t.context();
    let flush = || t.flush(Duration::from_secs(10));

    // Export 1: under a span, so with an exemplar.
    let (in_span, mut span) = ctx.start_span("job", SpanOptions::new());
    done.add(&in_span, 5, &[]);
    span.end();
    took.record(&ctx, 0.3, &[]);
    running.add(&ctx, 2, &[]);
    flush().await.unwrap();
    // Export 2: the exemplar was delivered already; not sent again.
    done.add(&ctx, 2, &[]);
    running.add(&ctx, -1, &[]);
    flush().await.unwrap();
    // A refused export (HTTP 400 is not retried) loses nothing: its increment is folded into
    // the next delta, which starts where the last delivered one ended.
    receiver.fail_next_metrics(1, 400);
    done.add(&ctx, 3, &[]);
    assert!(flush().await.is_err());
    assert_eq!(otel.metric_stats().failed_exports, 1);
    done.add(&ctx, 1, &[]);
    flush().await.unwrap();
    // Export 4: nothing new for the counter and the histogram: they are left out.
    running.add(&ctx, 1, &[]);
    t.shutdown(Duration::from_secs(10)).await.unwrap();

    let requests = receiver.metric_requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let in_request = |i: usize, name: &str| -> Option<Metric> {
        requests[i].resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == name)
            .cloned()
    };
    let sum = |m: Option<Metric>| match m.and_then(|m| m.data) {
        Some(Data::Sum(s)) => s,
        other => panic!("{other:?}"),
    };
    use number_data_point::Value::AsInt;
    let done_points: Vec<_> = (0..3)
        .map(|i| {
            let s = sum(in_request(i, "jobs.done"));
            assert_eq!(
                s.aggregation_temporality,
                AggregationTemporality::Delta as i32
            );
            s.data_points[0].clone()
        })
        .collect();
    let values: Vec<_> = done_points.iter().map(|p| p.value).collect();
    assert_eq!(values, [Some(AsInt(5)), Some(AsInt(2)), Some(AsInt(4))]);
    // Each delta starts where the previous delivered one ended.
    assert_eq!(
        done_points[1].start_time_unix_nano,
        done_points[0].time_unix_nano
    );
    assert_eq!(
        done_points[2].start_time_unix_nano,
        done_points[1].time_unix_nano
    );
    let exemplars: Vec<usize> = done_points.iter().map(|p| p.exemplars.len()).collect();
    assert_eq!(exemplars, [1, 0, 0], "an exemplar is delivered once");
    assert_eq!(
        done_points[0].exemplars[0].trace_id,
        in_span.span_context().trace_id().to_bytes().to_vec()
    );
    assert!(in_request(3, "jobs.done").is_none());
    let Some(Data::Histogram(h)) = in_request(0, "jobs.took").and_then(|m| m.data) else {
        panic!("{requests:#?}")
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    assert_eq!(h.data_points[0].count, 1);
    assert!(in_request(1, "jobs.took").is_none());
    // Up-down counters stay cumulative under a delta preference (the specification's table).
    let values: Vec<_> = (0..4)
        .map(|i| {
            let s = sum(in_request(i, "jobs.running"));
            assert_eq!(
                s.aggregation_temporality,
                AggregationTemporality::Cumulative as i32
            );
            s.data_points[0].value
        })
        .collect();
    assert_eq!(
        values,
        [
            Some(AsInt(2)),
            Some(AsInt(1)),
            Some(AsInt(1)),
            Some(AsInt(2))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cardinality_limit_and_overflow_series_are_the_same_in_both_exporters() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  exporter: none\n  protocol: http/json\n  endpoint: \"{}\"\n\
         metrics:\n  exporter: both\n  port: 0\n  bind_address: 127.0.0.1\n  interval: 1h\n  \
         cardinality_limit: 2\n",
        receiver.http_endpoint()
    );
    let (t, otel) = build(&yaml, &[]).await;
    let hits = t.meter("m").counter("hits").build();
    for (user, n) in [("a", 1), ("b", 2), ("c", 4), ("d", 8), ("a", 16)] {
        hits.add(&t.context(), n, &[kv("user", user)]);
    }
    let text = scrape(&otel).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(otel.metric_stats().overflowed, 2);
    let kinds: Vec<String> = receiver
        .signal_deliveries()
        .iter()
        .map(|d| d.content_type.clone())
        .collect();
    assert_eq!(kinds, ["application/json"]);

    let mut prometheus: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("hits_total"))
        .collect();
    prometheus.sort();
    assert_eq!(
        prometheus,
        [
            "hits_total{otel_metric_overflow=\"true\"} 12",
            "hits_total{user=\"a\"} 17",
            "hits_total{user=\"b\"} 2",
        ]
    );
    let m = receiver.wait_for_metric("hits", WAIT).await;
    let Some(Data::Sum(sum)) = &only(&m).data else {
        panic!("{m:?}")
    };
    let mut otlp: Vec<(String, i64)> = sum
        .data_points
        .iter()
        .map(|p| {
            let key = match (
                attr(&p.attributes, "user"),
                attr(&p.attributes, "otel.metric.overflow"),
            ) {
                (Some(AnyValue::StringValue(u)), None) => format!("user={u}"),
                (None, Some(AnyValue::BoolValue(true))) => "otel.metric.overflow=true".to_owned(),
                other => panic!("{other:?}"),
            };
            let Some(number_data_point::Value::AsInt(v)) = p.value else {
                panic!("{p:?}")
            };
            (key, v)
        })
        .collect();
    otlp.sort();
    assert_eq!(
        otlp,
        [
            ("otel.metric.overflow=true".to_owned(), 12),
            ("user=a".to_owned(), 17),
            ("user=b".to_owned(), 2),
        ]
    );
}

/// The intercept reads the wall clock once at the end of a call: the span's end time, a failed
/// call's exception event and the exemplars of the call counter and duration histogram are the
/// same instant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intercepted_call_stamps_its_span_end_and_exemplars_with_one_clock_read() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  exporter: otlp\n  endpoint: \"{}\"\n  batch:\n    scheduled_delay: 100ms\n\
         metrics:\n  exporter: otlp\n  interval: 1h\n",
        receiver.grpc_endpoint()
    );
    let (t, _) = build(&yaml, &[]).await;
    let (root, mut span) = t.context().start_span("request", SpanOptions::server());
    let out: Result<u32, std::io::Error> = root.intercept_sync("Users", "Get", |_| Ok(7));
    assert_eq!(out.unwrap(), 7);
    let failed: Result<u32, std::io::Error> = root.intercept_sync("Users", "Delete", |_| {
        Err(std::io::Error::other("read-only"))
    });
    assert!(failed.is_err());
    span.end();
    t.shutdown(Duration::from_secs(10)).await.unwrap();

    let spans = receiver.wait_for_spans(3, WAIT).await;
    let call = spans.iter().find(|s| s.name == "Users.Get").unwrap();
    let failed = spans.iter().find(|s| s.name == "Users.Delete").unwrap();
    let exception = failed
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap();
    assert_eq!(exception.time_unix_nano, failed.end_time_unix_nano);
    let exemplar_times = |name: &str| -> Vec<u64> {
        let m = receiver.metrics_named(name);
        match &only(&m).data {
            Some(Data::Sum(s)) => s
                .data_points
                .iter()
                .flat_map(|p| &p.exemplars)
                .map(|e| e.time_unix_nano)
                .collect(),
            Some(Data::Histogram(h)) => h
                .data_points
                .iter()
                .flat_map(|p| &p.exemplars)
                .map(|e| e.time_unix_nano)
                .collect(),
            other => panic!("{other:?}"),
        }
    };
    // One point per method and outcome, each with its call's exemplar.
    let mut ends = vec![call.end_time_unix_nano, failed.end_time_unix_nano];
    ends.sort_unstable();
    for name in ["hyperion.intercept.calls", "hyperion.intercept.duration"] {
        let mut times = exemplar_times(name);
        times.sort_unstable();
        assert_eq!(times, ends, "{name}");
    }
}
