//! Another OTLP implementation than ours: the OpenTelemetry Python SDK's exporters (installed
//! into `.tools/venv` by `scripts/setup.sh`) send a trace, a log record and a histogram with an
//! exemplar over gRPC and over HTTP/protobuf (`tests/python/send.py`), and the viewer stores
//! them.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;
use support::*;

fn python() -> PathBuf {
    let python = workspace_root().join(".tools/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh, which installs the OpenTelemetry Python SDK into \
         the project's venv; this test never skips",
        python.display()
    );
    let check = std::process::Command::new(&python)
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc.trace_exporter, \
             opentelemetry.exporter.otlp.proto.http.trace_exporter",
        ])
        .output()
        .expect("the venv's python runs");
    assert!(
        check.status.success(),
        "the OpenTelemetry Python SDK or its OTLP exporters are not installed in .tools/venv: \
         run scripts/setup.sh\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_sends_traces_logs_and_exemplars_over_grpc_and_http() {
    let python = python();
    let viewer = viewer().await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/send.py");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&python)
            .arg(&script)
            .arg(viewer.otlp_grpc_endpoint())
            .arg(viewer.otlp_http_endpoint())
            .output(),
    )
    .await
    .expect("send.py finishes within 2 minutes")
    .expect("send.py runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "send.py failed:\n{stderr}");
    let sent: Json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "send.py printed no JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    // The exporters log failures instead of raising them: any such line is a failure here.
    assert!(!stderr.contains("Failed to export"), "{stderr}");

    let (_, metrics) = get_json(&viewer, "/api/metrics").await;
    for transport in ["grpc", "http"] {
        let sent = &sent[transport];
        let trace_id = sent["trace_id"].as_str().unwrap();
        let trace = wait_for_trace(&viewer, trace_id, 2, Duration::from_secs(10)).await;
        let service = sent["service"].as_str().unwrap();
        assert_eq!(trace["root_name"], "POST /checkout", "{transport}: {trace}");
        assert_eq!(trace["services"], serde_json::json!([service]));
        assert_eq!(trace["error"], true);
        let spans = trace["spans"].as_array().unwrap();
        assert_eq!(spans[0]["span_id"], sent["root"]);
        assert_eq!(spans[0]["kind"], "server");
        assert_eq!(spans[0]["attributes"]["http.route"], "/checkout");
        assert_eq!(spans[0]["resource"]["service.version"], "1.2.3");
        assert_eq!(spans[0]["resource"]["telemetry.sdk.language"], "python");
        let child = &spans[1];
        assert_eq!(child["span_id"], sent["child"]);
        assert_eq!(child["depth"], 1);
        assert_eq!(child["attributes"]["payment.amount"], 12.5);
        assert_eq!(child["events"][0]["name"], "retry");
        assert_eq!(child["events"][0]["attributes"]["attempt"], 2);
        assert_eq!(child["status"]["message"], "card declined");
        // The log record, matched to the span it was written in.
        let logs = trace["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 1, "{transport}: {trace}");
        assert_eq!(logs[0]["body"], "card declined, retrying");
        assert_eq!(logs[0]["span_id"], sent["child"]);
        assert_eq!(logs[0]["severity"], "WARN");
        // The histogram, with the root span as its exemplar.
        let series = metrics
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "checkout.duration" && s["service"] == service)
            .unwrap_or_else(|| panic!("no checkout.duration from {service}: {metrics}"));
        assert_eq!(series["kind"], "histogram");
        assert_eq!(series["exemplars"][0]["trace_id"], trace_id, "{series}");
        assert_eq!(series["exemplars"][0]["span_id"], sent["root"]);
        assert_eq!(series["exemplars"][0]["value"], 0.25);
    }
    viewer.shutdown().await.unwrap();
}
