//! `demo up` as the README's first command runs it: the three services on embedded defaults
//! (SQLite files, no NATS), and one Ctrl-C that stops them all with their telemetry flushed.

#[path = "../../../adapters/otel/tests/support/mod.rs"]
mod support;

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{Process, client, free_addr, trace_id, unique};
use support::{ForwardProtocol, OtlpReceiver, Rotel};

fn service_of(span: &support::ReceivedSpan) -> String {
    span.resource_attr("service.name")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `demo up` on free ports, its SQLite files and output in `dir`, with the viewer on `viewer`'s
/// address (web page; its OTLP ports free ones) or none; returns it and the gateway's address.
fn demo_up(
    dir: &Path,
    env: &[(&str, String)],
    viewer: Option<SocketAddr>,
) -> (Process, SocketAddr) {
    let (gateway, users, orders) = (free_addr(), free_addr(), free_addr());
    let ports = [gateway, users, orders].map(|addr| addr.port().to_string());
    let mut args: Vec<String> = [
        "up",
        "--gateway-port",
        &ports[0],
        "--user-port",
        &ports[1],
        "--order-port",
        &ports[2],
        "--data-dir",
        dir.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    match viewer {
        None => args.push("--no-viewer".to_owned()),
        Some(ui) => args.extend([
            "--viewer-port".to_owned(),
            ui.port().to_string(),
            "--viewer-grpc-port".to_owned(),
            free_addr().port().to_string(),
            "--viewer-http-port".to_owned(),
            free_addr().port().to_string(),
        ]),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Process::start("demo-up", &args, env, dir), gateway)
}

/// Waits until `demo up` says the three services answer.
async fn wait_ready(up: &Process) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !up.output().contains("demo: the three services are up") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "demo up is not ready after 60 s:\n{}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The README's first command as it runs by default: every signal reaches the local viewer
/// (spans and logs over OTLP, metrics and their exemplars by scraping), and its JSON API finds
/// the trace, its logs and the exemplar that leads to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_up_sends_every_signal_to_the_viewer_by_default() {
    let dir = std::env::temp_dir().join(unique("demo_viewer"));
    std::fs::create_dir_all(&dir).unwrap();
    let ui = free_addr();
    let (mut up, gateway) = demo_up(&dir, &[], Some(ui));
    wait_ready(&up).await;
    let output = up.output();
    assert!(output.contains(&format!("open http://{ui}")), "{output}");

    let http = client();
    let response = http
        .post(format!("http://{gateway}/orders"))
        .json(&serde_json::json!({"user_id": 5, "item": "pen", "quantity": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", up.output());
    let created = trace_id(&response);

    // Spans come within the YAML's 1 s batch delay; the scrape every 5 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let get = |path: String| {
            let http = http.clone();
            async move { http.get(path).send().await.unwrap().text().await.unwrap() }
        };
        let trace = get(format!("http://{ui}/api/traces?service=order-service")).await;
        let logs = get(format!("http://{ui}/api/logs")).await;
        let metrics = get(format!("http://{ui}/api/metrics")).await;
        let list: serde_json::Value = serde_json::from_str(&trace).unwrap();
        let row = list["traces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["trace_id"] == created.as_str());
        let whole = row.is_some_and(|row| {
            row["span_count"].as_u64() == Some(15) && row["services"].as_array().unwrap().len() == 3
        });
        if whole && logs.contains(&created) && metrics.contains(&created) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 30 s the viewer has: trace {row:?}, logs with it: {}, an exemplar to it: {}",
            logs.contains(&created),
            metrics.contains(&created)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let status = up.stop("-INT", Duration::from_secs(60));
    assert!(status.success(), "{}", up.output());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_up_runs_on_sqlite_and_ctrl_c_flushes_every_service() {
    let receiver = OtlpReceiver::start().await;
    let rotel = Rotel::start(&receiver.http_endpoint(), ForwardProtocol::Http);
    let dir = std::env::temp_dir().join(unique("demo_up"));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut up, gateway) = demo_up(
        &dir,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", rotel.grpc_endpoint()),
            ("HYPERION_TRACING__EXPORTER", "otlp".into()),
            // Nothing is exported before shutdown: what arrives, the flush delivered.
            ("HYPERION_TRACING__BATCH__SCHEDULED_DELAY", "10m".into()),
        ],
        None,
    );
    let base = format!("http://{gateway}");
    wait_ready(&up).await;

    let http = client();
    let response = http
        .post(format!("{base}/orders"))
        .json(&serde_json::json!({"user_id": 2, "item": "mug", "quantity": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", up.output());
    let created = trace_id(&response);
    let response = http
        .get(format!("{base}/users/2/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["orders"][0]["amount_cents"], 3 * 899, "{body}");
    assert_eq!(body["user"]["name"], "Alan Turing");
    for file in ["users.db", "orders.db"] {
        assert!(
            dir.join(file).is_file(),
            "no SQLite file {file} in {}",
            dir.display()
        );
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.spans().iter().all(|s| s.trace_id != created),
        "spans arrived before shutdown: the test would not show the flush"
    );

    // Ctrl-C: the launcher passes it on, every service flushes and exits 0.
    let status = up.stop("-INT", Duration::from_secs(60));
    let output = up.output();
    assert!(status.success(), "demo up exited with {status}:\n{output}");
    assert!(output.contains("every service stopped cleanly"), "{output}");
    assert!(output.contains("SQLite files in"), "{output}");
    // The services' own output came through the launcher, the lines written on the way out
    // included: each one's JSON log lines, prefixed with its name.
    for (service, message) in [
        ("gateway", "placing order"),
        ("order-service", "order created"),
        ("user-service", "user found"),
    ] {
        let line = output
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{service} |")) && l.contains(message))
            .unwrap_or_else(|| panic!("no {message:?} line from {service}:\n{output}"));
        assert!(
            line.contains(&format!("\"trace_id\":\"{created}\"")),
            "{line}"
        );
        assert!(
            output
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{service} |"))
                    && l.contains("\"message\":\"stopping\"")),
            "the last line {service} wrote is missing:\n{output}"
        );
    }

    // rotel forwards on its own schedule: wait for all three services' spans.
    let everyone = BTreeSet::from([
        "gateway".into(),
        "order-service".into(),
        "user-service".into(),
    ]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans: Vec<_> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == created)
            .collect();
        let services: BTreeSet<String> = spans.iter().map(service_of).collect();
        // The whole trace: the gateway's 4, the user lookup's 3, the order's 8 (no NATS here).
        if services == everyone && spans.len() >= 15 {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the flush, trace {created} has {} spans of {services:?} only",
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let insert = spans
        .iter()
        .find(|s| s.name == "INSERT orders")
        .expect("the INSERT's span");
    assert_eq!(
        insert.attr("db.system.name").unwrap().as_str(),
        Some("sqlite")
    );
    drop(rotel);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_setting_is_named_and_the_service_exits_with_an_error() {
    let dir = std::env::temp_dir().join(unique("demo_bad"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut service = Process::start(
        "user-service",
        &["user-service"],
        &[("DEMO_ERROR_RATE", "often".into())],
        &dir,
    );
    let status = service.wait(Duration::from_secs(30));
    assert!(!status.success());
    let output = service.output();
    assert!(
        output.contains(r#"DEMO_ERROR_RATE="often" is not valid: expected a fraction from 0 to 1"#),
        "{output}"
    );

    let mut service = Process::start(
        "gateway",
        &["gateway"],
        &[("HYPERION_TRACING__SAMPLE_RATE", "2".into())],
        &dir,
    );
    let status = service.wait(Duration::from_secs(30));
    assert!(!status.success());
    let output = service.output();
    assert!(output.contains("tracing.sample_rate"), "{output}");
    assert!(output.contains("HYPERION_TRACING__SAMPLE_RATE"), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_up_stops_when_a_service_cannot_start() {
    let dir = std::env::temp_dir().join(unique("demo_broken"));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut up, _) = demo_up(
        &dir,
        // Nothing listens on port 1.
        &[(
            "DATABASE_URL",
            "postgres://demo:secret@127.0.0.1:1/users".into(),
        )],
        None,
    );
    let status = up.wait(Duration::from_secs(60));
    let output = up.output();
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("user-service exited while starting"),
        "{output}"
    );
    assert!(
        output.contains("cannot connect to the database at postgres://demo:***@127.0.0.1:1/users"),
        "{output}"
    );
    assert!(
        !output.contains("secret"),
        "the password was printed:\n{output}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
