//! Logs with trace correlation: JSON lines that carry the ids of their own span, the OTLP logs
//! bridge through rotel, and `tracing` events from libraries correlated too.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperion::{Config, SpanContext, Telemetry, kv};
use hyperion_otel::{OtelModule, TracingBridge};
use support::{ForwardProtocol, OtlpReceiver, Rotel};

const WAIT: Duration = Duration::from_secs(20);

async fn build(yaml: &str, buffer: &Arc<Mutex<Vec<u8>>>) -> Telemetry {
    let module = OtelModule::new().with_log_buffer(buffer.clone());
    let mut config = Config::from_yaml_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    config.metrics.enabled = false;
    Telemetry::builder()
        .module(module)
        .config(config)
        .build()
        .await
        .unwrap()
}

fn lines(buffer: &Arc<Mutex<Vec<u8>>>) -> Vec<serde_json::Value> {
    let bytes = buffer.lock().unwrap().clone();
    String::from_utf8(bytes)
        .expect("log output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_each_log_the_ids_of_their_own_span() {
    const CALLS: usize = 1000;
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let t = build(
        "tracing:\n  exporter: none\nlogging:\n  level: debug\n  format: json\n",
        &buffer,
    )
    .await;
    let ctx = t.context();
    let mut spans: Vec<SpanContext> = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let sc: Result<SpanContext, String> = ctx
            .intercept("UserService", "GetUser", |ctx| async move {
                ctx.log().info("fetching user", &[kv("call", i)]);
                Ok(ctx.span_context().clone())
            })
            .await;
        spans.push(sc.unwrap());
    }
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let lines = lines(&buffer);
    // call started, fetching user, call succeeded: three lines a call.
    assert_eq!(lines.len(), 3 * CALLS);
    let mut by_span: BTreeMap<String, usize> = BTreeMap::new();
    for line in &lines {
        let span_id = line["span_id"]
            .as_str()
            .expect("every line carries span_id");
        let trace_id = line["trace_id"]
            .as_str()
            .expect("every line carries trace_id");
        assert_eq!(trace_id.len(), 32);
        *by_span.entry(span_id.to_owned()).or_default() += 1;
        if line["message"] == "fetching user" {
            let call = line["call"].as_u64().unwrap() as usize;
            assert_eq!(span_id, spans[call].span_id().to_string(), "{line}");
            assert_eq!(trace_id, spans[call].trace_id().to_string());
            assert_eq!(line["level"], "INFO");
            assert_eq!(line["severity_number"], 9);
        }
    }
    assert_eq!(by_span.len(), CALLS, "one span per call");
    assert!(by_span.values().all(|n| *n == 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_stays_valid_json() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let t = build("tracing:\n  exporter: none\n", &buffer).await;
    let nasty = "quote \" backslash \\ newline \n tab \t bell \u{7} nul \u{0} sep \u{2028} bad \u{FFFD} end";
    t.context().log().warn(nasty, &[kv("field \"x\"\n", nasty)]);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let lines = lines(&buffer);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], nasty);
    assert_eq!(lines[0]["field \"x\"\n"], nasty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directives_filter_by_target_and_a_bad_one_names_the_key() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let t = build(
        "tracing:\n  exporter: none\nlogging:\n  level: warn\n  directives: \"payments=debug,payments::noisy=off\"\n",
        &buffer,
    )
    .await;
    let ctx = t.context();
    ctx.log().target("payments").debug("kept", &[]);
    ctx.log().target("payments::noisy").error("dropped", &[]);
    ctx.log().target("orders").info("dropped", &[]);
    ctx.log().target("orders").warn("kept", &[]);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let got: Vec<(String, String)> = lines(&buffer)
        .iter()
        .map(|l| {
            (
                l["target"].as_str().unwrap().to_owned(),
                l["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("payments".to_owned(), "kept".to_owned()),
            ("orders".to_owned(), "kept".to_owned())
        ]
    );

    let config = Config::from_yaml_str("logging:\n  directives: \"payments=loud\"\n").unwrap();
    let err = Telemetry::builder()
        .module(OtelModule::new())
        .config(config)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`logging.directives`") && err.contains("loud"),
        "{err}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tracing_events_from_libraries_carry_the_calls_ids_and_sdk_events_are_not_bridged() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let t = build("tracing:\n  exporter: none\n", &buffer).await;
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry().with(TracingBridge::new(&t));
    let _default = tracing::subscriber::set_default(subscriber);

    tracing::info!(target: "some_library", "outside any call");
    let call: Result<SpanContext, String> = t
        .context()
        .intercept("Repo", "Load", |ctx| async move {
            tokio::task::yield_now().await;
            tracing::info!(target: "sqlx::query", rows = 3, statement = "SELECT 1", "query done");
            tracing::warn!(target: "opentelemetry_sdk", "internal SDK noise");
            Ok(ctx.span_context().clone())
        })
        .await;
    let call = call.unwrap();
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let lines = lines(&buffer);
    let outside = lines
        .iter()
        .find(|l| l["message"] == "outside any call")
        .unwrap();
    assert!(outside.get("span_id").is_none(), "{outside}");
    let query = lines
        .iter()
        .find(|l| l["message"] == "query done")
        .expect("bridged event");
    assert_eq!(query["target"], "sqlx::query");
    assert_eq!(query["span_id"], call.span_id().to_string());
    assert_eq!(query["trace_id"], call.trace_id().to_string());
    assert_eq!(query["rows"], 3);
    assert_eq!(query["statement"], "SELECT 1");
    assert!(!lines.iter().any(|l| l["message"] == "internal SDK noise"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_log_records_reach_the_collector_with_their_trace_context() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let yaml = format!(
        "service:\n  name: billing\ntracing:\n  exporter: none\n  endpoint: \"{}\"\nlogging:\n  otlp: true\n",
        rotel.grpc_endpoint()
    );
    let t = build(&yaml, &buffer).await;
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry().with(TracingBridge::new(&t));
    let _default = tracing::subscriber::set_default(subscriber);
    let call: Result<SpanContext, String> = t
        .context()
        .intercept("Billing", "Charge", |ctx| async move {
            ctx.log()
                .info("charging", &[kv("amount", 42), kv("currency", "EUR")]);
            tracing::error!(target: "payment_gateway", code = 402, "card declined");
            Ok(ctx.span_context().clone())
        })
        .await;
    let call = call.unwrap();
    t.shutdown(Duration::from_secs(10)).await.unwrap();
    let records = receiver.wait_for_logs(2, WAIT).await;
    let body = |r: &opentelemetry_proto::tonic::logs::v1::LogRecord| {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        match r.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            other => format!("{other:?}"),
        }
    };
    let (resource, charging) = records
        .iter()
        .find(|(_, r)| body(r) == "charging")
        .expect("facade record");
    assert_eq!(
        resource.get("service.name"),
        Some(&support::AttrValue::from("billing"))
    );
    assert_eq!(charging.severity_number, 9);
    assert_eq!(charging.severity_text, "INFO");
    assert_eq!(
        support::hex(&charging.trace_id),
        call.trace_id().to_string()
    );
    assert_eq!(support::hex(&charging.span_id), call.span_id().to_string());
    let attrs: BTreeMap<_, _> = charging
        .attributes
        .iter()
        .map(|kv| (kv.key.clone(), format!("{:?}", kv.value)))
        .collect();
    assert!(attrs["amount"].contains("IntValue(42)"), "{attrs:?}");
    assert!(attrs["currency"].contains("EUR"), "{attrs:?}");
    let (_, declined) = records
        .iter()
        .find(|(_, r)| body(r) == "card declined")
        .expect("bridged tracing event");
    assert_eq!(declined.severity_number, 17);
    assert_eq!(support::hex(&declined.span_id), call.span_id().to_string());
}

#[tokio::test(flavor = "current_thread")]
async fn interleaved_calls_on_one_thread_each_get_their_own_ids() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let t = build("tracing:\n  exporter: none\n", &buffer).await;
    use tracing_subscriber::layer::SubscriberExt as _;
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(TracingBridge::new(&t)),
    );
    let call = |n: u64| {
        let ctx = t.context();
        async move {
            let r: Result<SpanContext, String> = ctx
                .intercept("Worker", "Step", |ctx| async move {
                    for step in 0..5u64 {
                        tracing::info!(target: "lib", call = n, step, "working");
                        // Hand the thread to the other call between events.
                        tokio::task::yield_now().await;
                    }
                    Ok(ctx.span_context().clone())
                })
                .await;
            (n, r.unwrap())
        }
    };
    let (a, b) = tokio::join!(call(1), call(2));
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let spans: BTreeMap<u64, SpanContext> = [a, b].into_iter().collect();
    let lines = lines(&buffer);
    assert_eq!(lines.len(), 10);
    for line in &lines {
        let n = line["call"].as_u64().unwrap();
        assert_eq!(line["span_id"], spans[&n].span_id().to_string(), "{line}");
    }
}

/// Builds from YAML text and the given environment variables (not the process's).
async fn build_with_env(
    yaml: &str,
    env: &[(&str, &str)],
    buffer: &Arc<Mutex<Vec<u8>>>,
) -> Result<Telemetry, hyperion::BuildError> {
    let module = OtelModule::new().with_log_buffer(buffer.clone());
    let config = hyperion::ConfigLoader::new()
        .yaml(yaml)
        .env(env.iter().copied())
        .load()
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    Telemetry::builder()
        .module(module)
        .config(config)
        .build()
        .await
}

#[tokio::test(flavor = "current_thread")]
async fn rust_log_off_silences_everything_and_wins_over_the_yaml() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let yaml = "tracing:\n  exporter: none\nmetrics:\n  enabled: false\nlogging:\n  level: debug\n  directives: \"app=trace\"\n";
    let t = build_with_env(yaml, &[("RUST_LOG", "off")], &buffer)
        .await
        .unwrap();
    let ctx = t.context();
    ctx.log().target("app").error("dropped", &[]);
    ctx.log().warn("dropped too", &[]);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(lines(&buffer).is_empty(), "{:?}", lines(&buffer));

    // And a directive list in RUST_LOG replaces the YAML's.
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let t = build_with_env(yaml, &[("RUST_LOG", "error,app=info")], &buffer)
        .await
        .unwrap();
    let ctx = t.context();
    ctx.log()
        .target("app")
        .debug("dropped: app is at info now", &[]);
    ctx.log().target("app").info("kept", &[]);
    ctx.log()
        .target("other")
        .warn("dropped: the default is error", &[]);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
    let messages: Vec<String> = lines(&buffer)
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages, ["kept"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_malformed_rust_log_is_an_error_naming_the_variable_and_the_directive() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let yaml = "tracing:\n  exporter: none\nmetrics:\n  enabled: false\n";
    let err = build_with_env(yaml, &[("RUST_LOG", "info,app=loud")], &buffer)
        .await
        .expect_err("a malformed RUST_LOG is an error")
        .to_string();
    for part in [
        "invalid value for `logging.directives`",
        "found \"info,app=loud\"",
        "expected comma-separated `target=level` directives",
        "the directive \"app=loud\" has the unknown level \"loud\"",
        "(from environment variable `RUST_LOG`)",
    ] {
        assert!(err.contains(part), "missing {part:?} in: {err}");
    }
    assert!(!err.contains("expected invalid"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn values_rejected_while_building_name_where_they_came_from() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    // An endpoint that is no URL, from the standard variable.
    let err = build_with_env(
        "metrics:\n  enabled: false\n",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1")],
        &buffer,
    )
    .await
    .expect_err("a bad endpoint is an error")
    .to_string();
    assert!(err.contains("`tracing.endpoint`"), "{err}");
    assert!(
        err.contains("(from environment variable `OTEL_EXPORTER_OTLP_ENDPOINT`)"),
        "{err}"
    );

    // A port in use, from YAML text.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let yaml = format!(
        "tracing:\n  exporter: none\nmetrics:\n  port: {port}\n  bind_address: 127.0.0.1\n"
    );
    let err = build_with_env(&yaml, &[], &buffer)
        .await
        .expect_err("a port in use is an error")
        .to_string();
    assert!(err.contains("`metrics.port`"), "{err}");
    assert!(err.contains("(from YAML text)"), "{err}");
}
