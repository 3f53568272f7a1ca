//! The `hyperion-viewer` binary: it prints where it listens, serves there, stops cleanly on
//! SIGTERM, and explains a port in use or a limit that cannot work.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_hyperion-viewer");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_where_it_listens_serves_there_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--ui-port",
            "0",
            "--max-traces",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    let ui = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let rest: Vec<String> = lines.by_ref().take(3).map(Result::unwrap).collect();
    assert!(rest[0].contains("OTLP/gRPC  http://127.0.0.1:"), "{rest:?}");
    assert!(rest[1].contains("OTLP/HTTP  http://127.0.0.1:"), "{rest:?}");
    assert!(rest[2].contains("newest 50 traces"), "{rest:?}");

    let text = support::http_client()
        .get(format!("{ui}/api/stats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["limits"]["max_traces"], 50);

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_port_in_use_and_a_zero_limit_are_explained() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(BIN)
        .args(["--grpc-port", "0", "--http-port", "0", "--ui-port", &port])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot listen for the web page on 127.0.0.1:{port}"
        )) && stderr.contains("--ui-port"),
        "{stderr}"
    );

    let output = Command::new(BIN)
        .args(["--grpc-port", "0", "--max-logs", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("limit `max_logs` is 0"), "{stderr}");

    let output = Command::new(BIN)
        .args(["--scrape", "ftp://x/metrics"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("only http:// URLs can be scraped"),
        "{stderr}"
    );
}
