//! The demo end to end, as real processes against real backends: the three services on the
//! machine's PostgreSQL and NATS, spans and logs over OTLP/gRPC to rotel and on to an in-test
//! receiver, Prometheus scraping every service. One trace per request across all three.

#[path = "../../../adapters/otel/tests/support/mod.rs"]
mod support;

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;

use common::{Databases, Process, client, free_addr, nats_url, postgres_url, trace_id, unique};
use support::{
    ForwardProtocol, OtlpReceiver, Prometheus, ReceivedSpan, Rotel, SpanKind, StatusCode,
};

/// Everything every service gets: OTLP to rotel, logs over OTLP too, a short batch delay.
fn telemetry_env(rotel: &Rotel) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rotel.grpc_endpoint()),
        ("HYPERION_TRACING__EXPORTER", "otlp".into()),
        ("HYPERION_LOGGING__OTLP", "true".into()),
        ("HYPERION_TRACING__BATCH__SCHEDULED_DELAY", "200ms".into()),
    ]
}

struct Demo {
    gateway: String,
    users: String,
    orders: String,
    env: Vec<(&'static str, String)>,
    dir: tempdir::Dir,
}

mod tempdir {
    /// A directory for the processes' output, kept when a test fails (its path is printed).
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(super::unique(name));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }
}

impl Demo {
    fn start_service(
        &self,
        name: &str,
        port_of: &str,
        extra: &[(&'static str, String)],
    ) -> Process {
        let mut env = self.env.clone();
        env.push((
            "DEMO_LISTEN",
            port_of.trim_start_matches("http://").to_owned(),
        ));
        env.extend(extra.iter().cloned());
        Process::start(name, &[name], &env, &self.dir.0)
    }
}

fn by_id(spans: &[ReceivedSpan]) -> BTreeMap<&str, &ReceivedSpan> {
    spans.iter().map(|s| (s.span_id.as_str(), s)).collect()
}

fn service(span: &ReceivedSpan) -> String {
    span.resource_attr("service.name")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn find<'a>(spans: &'a [ReceivedSpan], service_name: &str, name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| service(s) == service_name && s.name == name)
        .unwrap_or_else(|| {
            let all: Vec<String> = spans
                .iter()
                .map(|s| format!("{}: {}", service(s), s.name))
                .collect();
            panic!("no span {name:?} from {service_name} among {all:#?}")
        })
}

fn parent_of<'a>(spans: &'a [ReceivedSpan], span: &ReceivedSpan) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.span_id == span.parent_span_id)
        .unwrap_or_else(|| panic!("the parent of {} is not in the trace", span.name))
}

/// Waits until the trace `trace_id` holds every `(service, kind, name)` of `expected`, and
/// returns the whole trace.
async fn wait_for_trace(
    receiver: &OtlpReceiver,
    trace_id: &str,
    expected: &[(&str, SpanKind, &str)],
) -> Vec<ReceivedSpan> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let spans: Vec<ReceivedSpan> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let missing: Vec<&(&str, SpanKind, &str)> = expected
            .iter()
            .filter(|(svc, kind, name)| {
                !spans
                    .iter()
                    .any(|s| service(s) == *svc && s.kind == *kind && s.name == *name)
            })
            .collect();
        if missing.is_empty() {
            return spans;
        }
        if tokio::time::Instant::now() > deadline {
            let names: Vec<String> = spans
                .iter()
                .map(|s| format!("{}: {:?} {}", service(s), s.kind, s.name))
                .collect();
            panic!("trace {trace_id} lacks {missing:?} after 30 s; it has {names:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_across_three_services_with_logs_exemplars_and_errors() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let databases = Databases::create().await;
    let subject = format!("demo.{}.orders.created", unique("e2e"));
    let (gateway_addr, users_addr, orders_addr) = (free_addr(), free_addr(), free_addr());
    let url = |addr: std::net::SocketAddr| format!("http://{addr}");
    let mut env = telemetry_env(&rotel);
    env.extend([
        ("NATS_URL", nats_url()),
        ("DEMO_ORDERS_SUBJECT", subject.clone()),
        ("USER_SERVICE_URL", url(users_addr)),
        ("ORDER_SERVICE_URL", url(orders_addr)),
    ]);
    let demo = Demo {
        gateway: url(gateway_addr),
        users: url(users_addr),
        orders: url(orders_addr),
        env,
        dir: tempdir::Dir::new("demo_e2e"),
    };
    let mut users = demo.start_service(
        "user-service",
        &demo.users,
        &[("DATABASE_URL", postgres_url(&databases.users))],
    );
    let mut orders = demo.start_service(
        "order-service",
        &demo.orders,
        &[("DATABASE_URL", postgres_url(&databases.orders))],
    );
    let mut gateway = demo.start_service("gateway", &demo.gateway, &[]);
    for base in [&demo.users, &demo.orders, &demo.gateway] {
        common::wait_healthy(base, Duration::from_secs(60), &[&users, &orders, &gateway]).await;
    }
    let prometheus = Prometheus::start(
        &[gateway_addr, users_addr, orders_addr],
        "/metrics",
        Duration::from_millis(500),
    );
    let http = client();
    let started = SystemTime::now();

    // POST /orders: gateway → user-service → order-service (transaction) → NATS → user-service.
    let response = http
        .post(format!("{}/orders", demo.gateway))
        .json(&serde_json::json!({"user_id": 3, "item": "lamp", "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let created = trace_id(&response);
    let order: serde_json::Value = response.json().await.unwrap();
    assert_eq!(order["amount_cents"], 2 * 4_599);

    // GET /users/{id}/orders: the two downstream calls at once.
    let response = http
        .get(format!("{}/users/3/orders", demo.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listed = trace_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["orders"][0]["id"], order["id"], "{body}");

    // Unknown user, malformed body.
    let response = http
        .get(format!("{}/users/99999", demo.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = http
        .post(format!("{}/orders", demo.gateway))
        .header("content-type", "application/json")
        .body("{\"user_id\": 3, \"item\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().starts_with("invalid order"),
        "{body}"
    );

    // The consumer counted the order, under the producer's trace.
    let (send, process) = (format!("send {subject}"), format!("process {subject}"));
    let spans = wait_for_trace(
        &receiver,
        &created,
        &[
            ("gateway", SpanKind::Server, "POST /orders"),
            ("gateway", SpanKind::Internal, "Gateway.CreateOrder"),
            ("gateway", SpanKind::Client, "GET /users/{id}"),
            ("gateway", SpanKind::Client, "POST /orders"),
            ("user-service", SpanKind::Server, "GET /users/{id}"),
            ("user-service", SpanKind::Internal, "UserService.GetUser"),
            ("user-service", SpanKind::Client, "SELECT users"),
            ("order-service", SpanKind::Server, "POST /orders"),
            (
                "order-service",
                SpanKind::Internal,
                "OrderService.CreateOrder",
            ),
            ("order-service", SpanKind::Client, "SELECT items"),
            ("order-service", SpanKind::Internal, "transaction"),
            ("order-service", SpanKind::Client, "BEGIN"),
            ("order-service", SpanKind::Client, "INSERT orders"),
            ("order-service", SpanKind::Client, "INSERT order_events"),
            ("order-service", SpanKind::Client, "COMMIT"),
            ("order-service", SpanKind::Producer, &send),
            ("user-service", SpanKind::Consumer, &process),
            ("user-service", SpanKind::Internal, "UserService.CountOrder"),
            ("user-service", SpanKind::Client, "UPDATE users"),
        ],
    )
    .await;
    let services: BTreeSet<String> = spans.iter().map(service).collect();
    assert_eq!(
        services,
        BTreeSet::from([
            "gateway".into(),
            "order-service".into(),
            "user-service".into()
        ])
    );
    let roots: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.is_root()).collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    assert_eq!(
        (roots[0].name.as_str(), service(roots[0]).as_str()),
        ("POST /orders", "gateway")
    );
    let ids = by_id(&spans);
    for span in &spans {
        assert!(
            span.is_root() || ids.contains_key(span.parent_span_id.as_str()),
            "{} ({}) has a parent outside the trace",
            span.name,
            service(span)
        );
    }
    let gateway_server = roots[0];
    assert_eq!(gateway_server.kind, SpanKind::Server);
    let gateway_call = find(&spans, "gateway", "Gateway.CreateOrder");
    assert_eq!(gateway_call.kind, SpanKind::Internal);
    assert_eq!(gateway_call.parent_span_id, gateway_server.span_id);
    let to_users = find(&spans, "gateway", "GET /users/{id}");
    assert_eq!(to_users.kind, SpanKind::Client);
    let to_orders = spans
        .iter()
        .find(|s| service(s) == "gateway" && s.kind == SpanKind::Client && s.name == "POST /orders")
        .expect("the gateway's CLIENT span to the order service");
    assert_eq!(to_users.parent_span_id, gateway_call.span_id);
    assert_eq!(to_orders.parent_span_id, gateway_call.span_id);
    let users_server = find(&spans, "user-service", "GET /users/{id}");
    assert_eq!(users_server.kind, SpanKind::Server);
    assert_eq!(users_server.parent_span_id, to_users.span_id);
    let select = find(&spans, "user-service", "SELECT users");
    assert_eq!(select.kind, SpanKind::Client);
    assert_eq!(
        select.attr("db.system.name").unwrap().as_str(),
        Some("postgresql")
    );
    assert_eq!(
        select.attr("db.namespace").unwrap().as_str(),
        Some(databases.users.as_str())
    );
    assert_eq!(parent_of(&spans, select).name, "UserService.GetUser");
    let orders_server = spans
        .iter()
        .find(|s| service(s) == "order-service" && s.kind == SpanKind::Server)
        .expect("the order service's SERVER span");
    assert_eq!(orders_server.name, "POST /orders");
    assert_eq!(orders_server.parent_span_id, to_orders.span_id);
    let transaction = find(&spans, "order-service", "transaction");
    assert_eq!(
        parent_of(&spans, transaction).name,
        "OrderService.CreateOrder"
    );
    let statements: Vec<&str> = {
        let mut children: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|s| s.parent_span_id == transaction.span_id)
            .collect();
        children.sort_by_key(|s| s.start_time_unix_nano);
        children.iter().map(|s| s.name.as_str()).collect()
    };
    assert_eq!(
        statements,
        ["BEGIN", "INSERT orders", "INSERT order_events", "COMMIT"]
    );
    let price = find(&spans, "order-service", "SELECT items");
    assert_eq!(parent_of(&spans, price).name, "OrderService.CreateOrder");
    let producer = find(&spans, "order-service", &send);
    assert_eq!(producer.kind, SpanKind::Producer);
    let consumer = find(&spans, "user-service", &process);
    assert_eq!(consumer.kind, SpanKind::Consumer);
    assert_eq!(consumer.parent_span_id, producer.span_id);
    let update = find(&spans, "user-service", "UPDATE users");
    assert_eq!(parent_of(&spans, update).name, "UserService.CountOrder");
    assert_eq!(
        parent_of(&spans, parent_of(&spans, update)).span_id,
        consumer.span_id
    );

    // Each service's log lines for the request carry its trace id.
    wait_for_logs(
        &receiver,
        &created,
        &[
            ("gateway", "placing order"),
            ("user-service", "user found"),
            ("order-service", "order created"),
            ("user-service", "order counted"),
        ],
    )
    .await;

    // The two downstream calls of GET /users/{id}/orders overlap in time.
    let spans = wait_for_trace(
        &receiver,
        &listed,
        &[
            ("gateway", SpanKind::Client, "GET /users/{id}"),
            ("gateway", SpanKind::Client, "GET /orders"),
            (
                "order-service",
                SpanKind::Internal,
                "OrderService.ListOrders",
            ),
        ],
    )
    .await;
    let clients: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| service(s) == "gateway" && s.kind == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 2, "{clients:#?}");
    let (a, b) = (clients[0], clients[1]);
    assert_eq!(
        a.parent_span_id, b.parent_span_id,
        "siblings under Gateway.GetUserOrders"
    );
    assert!(
        a.start_time_unix_nano < b.end_time_unix_nano
            && b.start_time_unix_nano < a.end_time_unix_nano,
        "the calls ran one after the other: {a} / {b}"
    );

    // Exemplars lead to traces that were received.
    let mut exemplar_traces = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while exemplar_traces.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "too few exemplars on http_server_request_duration_seconds_bucket: {exemplar_traces:?}\n{}",
            prometheus.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let exemplars = prometheus
            .exemplars(
                "http_server_request_duration_seconds_bucket",
                started - Duration::from_secs(5),
                SystemTime::now(),
            )
            .await;
        exemplar_traces = exemplars
            .iter()
            .filter_map(|e| e.trace_id().map(str::to_owned))
            .collect();
    }
    let received: BTreeSet<String> = receiver.spans().into_iter().map(|s| s.trace_id).collect();
    let lost: Vec<&String> = exemplar_traces.difference(&received).collect();
    assert!(
        lost.is_empty(),
        "exemplars naming traces never received: {lost:?}"
    );
    assert!(exemplar_traces.contains(&created) || exemplar_traces.contains(&listed));
    // The business metrics' exemplars too: the one order's value and count point at its trace,
    // the user lookups at traces that were received.
    for (series, only) in [
        ("orders_value_bucket", Some(&created)),
        ("orders_created_total", Some(&created)),
        ("user_lookups_total", None),
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let traces: BTreeSet<String> = loop {
            let traces: BTreeSet<String> = prometheus
                .exemplars(series, started - Duration::from_secs(5), SystemTime::now())
                .await
                .iter()
                .filter_map(|e| e.trace_id().map(str::to_owned))
                .collect();
            if !traces.is_empty() {
                break traces;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no exemplar on {series} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        match only {
            Some(trace) => assert_eq!(traces, BTreeSet::from([trace.clone()]), "{series}"),
            None => assert!(traces.is_subset(&received), "{series}: {traces:?}"),
        }
    }

    // Every metric a dashboard queries is one the running services expose.
    let mut exposed = BTreeSet::new();
    for base in [&demo.gateway, &demo.users, &demo.orders] {
        let text = http
            .get(format!("{base}/metrics"))
            .header("accept", "application/openmetrics-text; version=1.0.0")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        exposed.extend(
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .filter_map(|line| line.split(['{', ' ']).next())
                .map(str::to_owned),
        );
    }
    let queried = common::dashboards::dashboard_metric_names(&common::dashboards::repo_root());
    assert!(!queried.is_empty());
    let unknown: Vec<&String> = queried.difference(&exposed).collect();
    assert!(
        unknown.is_empty(),
        "dashboards query metrics no service exposes: {unknown:?}\nexposed: {exposed:#?}"
    );

    // Error traffic: the order service failing (500) is a 502 at the gateway, both ERROR spans.
    let status = orders.stop("-TERM", Duration::from_secs(20));
    assert!(
        status.success(),
        "order-service exited with {status}:\n{}",
        orders.output()
    );
    let response = http
        .post(format!("{}/orders", demo.gateway))
        .json(&serde_json::json!({"user_id": 3, "item": "pen", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let down = trace_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["trace_id"],
        down.as_str(),
        "the 502 names its trace: {body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("order-service"),
        "{body}"
    );
    let spans = wait_for_trace(
        &receiver,
        &down,
        &[
            ("gateway", SpanKind::Server, "POST /orders"),
            ("gateway", SpanKind::Client, "POST /orders"),
        ],
    )
    .await;
    let server = spans.iter().find(|s| s.is_root()).unwrap();
    assert_eq!(server.status_code, StatusCode::Error);
    assert_eq!(
        server.attr("http.response.status_code").unwrap().as_i64(),
        Some(502)
    );
    let call = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client && s.name == "POST /orders")
        .unwrap();
    assert_eq!(call.status_code, StatusCode::Error);
    assert!(call.attr("error.type").is_some(), "{call}");

    let mut failing = demo.start_service(
        "order-service",
        &demo.orders,
        &[
            ("DATABASE_URL", postgres_url(&databases.orders)),
            ("DEMO_ERROR_RATE", "1".into()),
        ],
    );
    common::wait_healthy(&demo.orders, Duration::from_secs(60), &[&failing]).await;
    let response = http
        .get(format!("{}/users/3/orders", demo.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let injected = trace_id(&response);
    let spans = wait_for_trace(
        &receiver,
        &injected,
        &[
            ("order-service", SpanKind::Server, "GET /orders"),
            (
                "order-service",
                SpanKind::Internal,
                "OrderService.ListOrders",
            ),
        ],
    )
    .await;
    let failed = find(&spans, "order-service", "GET /orders");
    assert_eq!(failed.status_code, StatusCode::Error);
    assert_eq!(
        failed.attr("http.response.status_code").unwrap().as_i64(),
        Some(500)
    );
    assert_eq!(
        find(&spans, "order-service", "OrderService.ListOrders").status_code,
        StatusCode::Error
    );

    // Every service stops cleanly on SIGTERM.
    for process in [&mut failing, &mut gateway, &mut users] {
        let status = process.stop("-TERM", Duration::from_secs(20));
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            process.name,
            process.output()
        );
    }
    databases.drop_all().await;
    drop(rotel);
    let _ = std::fs::remove_dir_all(&demo.dir.0);
}

/// Waits until every `(service.name, message)` of `expected` was logged with `trace_id`;
/// returns what was.
async fn wait_for_logs(
    receiver: &OtlpReceiver,
    trace_id: &str,
    expected: &[(&str, &str)],
) -> BTreeSet<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let records: BTreeSet<(String, String)> = receiver
            .log_records()
            .into_iter()
            .filter(|(_, record)| support::hex(&record.trace_id) == trace_id)
            .map(|(resource, record)| {
                let service = resource
                    .get("service.name")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let message = match record.body.and_then(|b| b.value) {
                    Some(AnyValue::StringValue(s)) => s,
                    other => format!("{other:?}"),
                };
                (service, message)
            })
            .collect();
        let missing: Vec<&(&str, &str)> = expected
            .iter()
            .filter(|(svc, msg)| !records.contains(&((*svc).to_owned(), (*msg).to_owned())))
            .collect();
        if missing.is_empty() {
            return records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log {missing:?} with trace {trace_id} after 30 s; with it: {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
