//! Metrics end to end: a real Prometheus (Debian's 2.42, with exemplar storage) scrapes the
//! adapter's endpoint while spans go to an OTLP receiver, and Prometheus's HTTP API must return
//! the series and exemplars that name the delivered traces; OTLP metrics go through rotel.
//! These tests fail, never skip, when Prometheus or rotel is missing: run scripts/setup.sh.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use hyperion::{Config, SpanOptions, Telemetry, kv};
use hyperion_otel::OtelModule;
use support::{ForwardProtocol, OtlpReceiver, Prometheus, Rotel};

const WAIT: Duration = Duration::from_secs(30);

async fn build(yaml: &str) -> (Telemetry, OtelModule) {
    let module = OtelModule::new();
    let config = Config::from_yaml_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let t = Telemetry::builder()
        .module(module.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    (t, module)
}

async fn get(url: &str, accept: Option<&str>) -> (String, String) {
    // The adapter's `http-tls` feature builds reqwest without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("scrape");
    assert!(response.status().is_success(), "{}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_series_and_exemplars_that_point_at_delivered_traces() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  service_name: users\n  endpoint: \"{}\"\n  batch:\n    scheduled_delay: 100ms\n\
         metrics:\n  exporter: prometheus\n  port: 0\n  bind_address: 127.0.0.1\n  \
         namespace: shop\n  subsystem: api\nlogging:\n  enabled: false\n",
        receiver.grpc_endpoint()
    );
    let (t, otel) = build(&yaml).await;
    let endpoint = otel.prometheus_endpoint().expect("the endpoint is served");
    let addr = endpoint.local_addr().expect("listening");
    let prometheus = tokio::task::block_in_place(|| {
        Prometheus::start(&[addr], "/metrics", Duration::from_millis(500))
    });

    let lookups = t
        .meter("users")
        .counter("user.lookups")
        .unit("{lookup}")
        .build();
    const CALLS: u64 = 20;
    for i in 0..CALLS {
        let (ctx, mut request) = t
            .context()
            .start_span("GET /users/{id}", SpanOptions::server());
        let lookups = lookups.clone();
        let _: Result<(), String> = ctx
            .intercept("UserService", "GetUser", |ctx| async move {
                lookups.add(&ctx, 1, &[kv("method", "GetUser")]);
                if i % 5 == 0 {
                    Err("not found".into())
                } else {
                    Ok(())
                }
            })
            .await;
        request.end();
    }
    t.flush(Duration::from_secs(10)).await.unwrap();
    let delivered: BTreeSet<String> = receiver
        .wait_for_spans(2 * CALLS as usize, WAIT)
        .await
        .into_iter()
        .map(|s| s.trace_id)
        .collect();

    let ok = prometheus
        .wait_for(
            r#"shop_api_hyperion_intercept_calls_total{component="UserService",method="GetUser",outcome="ok"}"#,
            |s| s.first().is_some_and(|s| s.value == 16.0),
            WAIT,
        )
        .await;
    assert_eq!(ok.len(), 1);
    let errors = prometheus
        .query(r#"shop_api_hyperion_intercept_calls_total{outcome="error"}"#)
        .await;
    assert_eq!(errors[0].value, 4.0);
    let lookups = prometheus.query("shop_api_user_lookups_total").await;
    assert_eq!(lookups[0].value, CALLS as f64);
    let count = prometheus
        .query(r#"sum(shop_api_hyperion_intercept_duration_seconds_count)"#)
        .await;
    assert_eq!(count[0].value, CALLS as f64);

    // Exemplars: stored by Prometheus, and each names a trace the span exporter delivered.
    let end = std::time::SystemTime::now() + Duration::from_secs(60);
    let start = end - Duration::from_secs(600);
    let deadline = std::time::Instant::now() + WAIT;
    let exemplars = loop {
        let found = prometheus
            .exemplars(
                "shop_api_hyperion_intercept_duration_seconds_bucket",
                start,
                end,
            )
            .await;
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(!exemplars.is_empty(), "Prometheus stored no exemplars");
    for e in &exemplars {
        let trace_id = e.labels.get("trace_id").expect("trace_id label");
        assert!(
            delivered.contains(trace_id),
            "exemplar {trace_id} is not a delivered trace"
        );
        assert_eq!(e.labels.get("span_id").map(String::len), Some(16));
    }
    let counter_exemplars = prometheus
        .exemplars("shop_api_user_lookups_total", start, end)
        .await;
    assert!(!counter_exemplars.is_empty(), "no counter exemplars stored");
    assert!(
        counter_exemplars
            .iter()
            .all(|e| delivered.contains(&e.labels["trace_id"])),
        "{counter_exemplars:?}"
    );
    t.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_negotiates_openmetrics_and_mounts_in_an_app() {
    let yaml = "tracing:\n  exporter: none\nmetrics:\n  port: 0\n  bind_address: 127.0.0.1\n  path: /stats\n";
    let (t, otel) = build(yaml).await;
    let endpoint = otel.prometheus_endpoint().unwrap();
    let (ctx, mut span) = t.context().start_span("op", SpanOptions::new());
    t.meter("m")
        .counter("jobs.done")
        .build()
        .add(&ctx, 3, &[kv("queue", "mail")]);
    let trace_id = span.span_context().trace_id().to_string();
    span.end();

    let url = format!("http://{}/stats", endpoint.local_addr().unwrap());
    let (ct, classic) = get(&url, None).await;
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(
        classic.contains("jobs_done_total{queue=\"mail\"} 3"),
        "{classic}"
    );
    assert!(
        !classic.contains("trace_id") && !classic.contains("# EOF"),
        "{classic}"
    );
    let (ct, om) = get(&url, Some("application/openmetrics-text;version=1.0.0")).await;
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(om.contains(&format!("trace_id=\"{trace_id}\"")), "{om}");
    assert!(om.trim_end().ends_with("# EOF"), "{om}");

    // The same endpoint served from the application's own axum server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().merge(endpoint.router());
        axum::serve(listener, app).await.unwrap();
    });
    let (_, body) = get(&format!("http://{app_addr}/stats"), None).await;
    assert!(body.contains("jobs_done_total{queue=\"mail\"} 3"), "{body}");
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_own_listener_the_endpoint_is_served_by_the_application_only() {
    let yaml = "tracing:\n  exporter: none\nmetrics:\n  listen: false\n  port: 1\n";
    let (t, otel) = build(yaml).await;
    let endpoint = otel.prometheus_endpoint().expect("an endpoint");
    // No listener: port 1 (which this process may not bind) was never tried.
    assert_eq!(endpoint.local_addr(), None);
    t.meter("app")
        .counter("jobs.done")
        .build()
        .add(&t.context(), 2, &[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().merge(endpoint.router()))
            .await
            .unwrap();
    });
    let (_, body) = get(&format!("http://{app_addr}/metrics"), None).await;
    assert!(body.contains("jobs_done_total 2"), "{body}");
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_endpoint_listens_on_localhost_9464() {
    // The default port may be taken on a shared machine; then the error names the key and the
    // address, which is what this test checks the default by.
    let yaml = "tracing:\n  exporter: none\n";
    match Telemetry::builder()
        .module(OtelModule::new())
        .config(Config::from_yaml_str(yaml).unwrap())
        .build()
        .await
    {
        Ok(t) => {
            let otel_addr = std::net::TcpStream::connect("127.0.0.1:9464")
                .or_else(|_| std::net::TcpStream::connect("[::1]:9464"))
                .expect("the endpoint listens on localhost:9464")
                .peer_addr()
                .unwrap();
            assert!(otel_addr.ip().is_loopback(), "{otel_addr}");
            t.shutdown(Duration::from_secs(5)).await.unwrap();
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("localhost:9464"), "{message}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_listener_and_frees_the_port() {
    let yaml = "tracing:\n  exporter: none\nmetrics:\n  port: 0\n  bind_address: 127.0.0.1\n  collect_runtime: true\n";
    let (t, otel) = build(yaml).await;
    let addr = otel.prometheus_endpoint().unwrap().local_addr().unwrap();
    get(&format!("http://{addr}/metrics"), None).await;
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    // The telemetry (and every handle to it) is still alive here: shutdown alone must stop it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() > deadline => panic!("port still taken: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    drop(t);
}

#[tokio::test]
async fn a_bad_bind_address_names_its_key() {
    let yaml = "tracing:\n  exporter: none\nmetrics:\n  port: 0\n  bind_address: 192.0.2.1\n";
    let err = Telemetry::builder()
        .module(OtelModule::new())
        .config(Config::from_yaml_str(yaml).unwrap())
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`metrics.bind_address`") && err.contains("192.0.2.1"),
        "{err}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_a_startup_error_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = format!(
        "tracing:\n  exporter: none\nmetrics:\n  port: {port}\n  bind_address: 127.0.0.1\n"
    );
    let config = Config::from_yaml_str(&yaml).unwrap();
    let err = Telemetry::builder()
        .module(OtelModule::new())
        .config(config)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`metrics.port`") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_values_are_dropped_and_counted_never_a_panic() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  endpoint: \"{}\"\nmetrics:\n  exporter: both\n  port: 0\n  bind_address: 127.0.0.1\n  interval: 1h\n",
        receiver.grpc_endpoint()
    );
    let (t, otel) = build(&yaml).await;
    let ctx = t.context();
    let meter = t.meter("m");
    let h = meter.histogram("latency").unit("s").build();
    let g = meter.gauge("temperature").build();
    h.record(&ctx, f64::NAN, &[]);
    h.record(&ctx, f64::INFINITY, &[]);
    g.record(&ctx, f64::NEG_INFINITY, &[]);
    h.record(&ctx, 0.5, &[]);
    let stats = otel.metric_stats();
    // One store feeds both exporters: each invalid value is refused once.
    assert_eq!(stats.dropped_values, 3, "{stats:?}");
    let (_, body) = get(
        &format!(
            "http://{}/metrics",
            otel.prometheus_endpoint().unwrap().local_addr().unwrap()
        ),
        None,
    )
    .await;
    assert!(body.contains("latency_seconds_count 1"), "{body}");
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    // The OTLP sink exported only the valid value.
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let latency = receiver.wait_for_metric("latency", WAIT).await;
    let Some(Data::Histogram(h)) = &latency[0].data else {
        panic!("{latency:?}")
    };
    assert_eq!(h.data_points[0].count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_metrics_reach_the_collector_through_rotel() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let yaml = format!(
        "tracing:\n  exporter: otlp\n  endpoint: \"{}\"\nmetrics:\n  exporter: otlp\n  interval: 200ms\n",
        rotel.grpc_endpoint()
    );
    let (t, _) = build(&yaml).await;
    let ctx = t.context();
    let meter = t.meter("orders");
    meter
        .counter("orders.placed")
        .unit("{order}")
        .build()
        .add(&ctx, 5, &[kv("region", "eu")]);
    meter
        .histogram("orders.latency")
        .unit("s")
        .build()
        .record(&ctx, 0.2, &[]);
    meter
        .up_down_counter("orders.in_flight")
        .build()
        .add(&ctx, -2, &[]);
    meter.gauge("orders.queue").build().record(&ctx, 7.0, &[]);
    // The periodic reader exports on its own every `metrics.interval` (200 ms), before shutdown.
    receiver.wait_for_metric("orders.placed", WAIT).await;
    t.shutdown(Duration::from_secs(10)).await.unwrap();

    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
    let placed = receiver.wait_for_metric("orders.placed", WAIT).await;
    let Some(Data::Sum(sum)) = &placed[0].data else {
        panic!("{placed:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.data_points[0].value, Some(Value::AsInt(5)));
    assert_eq!(placed[0].unit, "{order}");
    let latency = receiver.wait_for_metric("orders.latency", WAIT).await;
    let Some(Data::Histogram(h)) = &latency[0].data else {
        panic!("{latency:?}")
    };
    assert_eq!(h.data_points[0].count, 1);
    assert_eq!(
        h.data_points[0].explicit_bounds[0], 0.005,
        "second-scale buckets for `s`"
    );
    let in_flight = receiver.wait_for_metric("orders.in_flight", WAIT).await;
    let Some(Data::Sum(sum)) = &in_flight[0].data else {
        panic!("{in_flight:?}")
    };
    assert!(!sum.is_monotonic);
    assert_eq!(sum.data_points[0].value, Some(Value::AsInt(-2)));
    let queue = receiver.wait_for_metric("orders.queue", WAIT).await;
    assert!(matches!(&queue[0].data, Some(Data::Gauge(_))), "{queue:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_and_process_metrics_are_served() {
    let yaml = "tracing:\n  exporter: none\nmetrics:\n  port: 0\n  bind_address: 127.0.0.1\n  collect_runtime: true\n";
    let (t, otel) = build(yaml).await;
    let addr = otel.prometheus_endpoint().unwrap().local_addr().unwrap();
    let (_, body) = get(&format!("http://{addr}/metrics"), None).await;
    for series in [
        "process_memory_usage_bytes",
        "process_cpu_time_seconds",
        "process_open_file_descriptor_count",
        "process_thread_count",
        "tokio_workers",
        "tokio_alive_tasks",
    ] {
        let line = body
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("no {series} in\n{body}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 0.0, "{line}");
    }
    let rss: f64 = body
        .lines()
        .find(|l| l.starts_with("process_memory_usage_bytes"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(rss > 1e6, "resident memory {rss}");
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_metrics_use_the_collector_settings_even_when_spans_are_not_exported() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  exporter: none\n  protocol: http/protobuf\n  endpoint: \"{}\"\n\
         metrics:\n  exporter: otlp\n  interval: 1h\n",
        receiver.http_endpoint()
    );
    let (t, _) = build(&yaml).await;
    t.meter("m")
        .counter("jobs.done")
        .build()
        .add(&t.context(), 2, &[]);
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    receiver.wait_for_metric("jobs.done", WAIT).await;
    assert!(
        receiver
            .deliveries()
            .iter()
            .all(|d| d.path == "/v1/metrics"),
        "{:?}",
        receiver.deliveries()
    );
}
