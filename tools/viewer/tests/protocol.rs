//! The OTLP receivers and the store, through the real servers: every transport stores the
//! same thing, traces assemble from pieces in any order, malformed bodies are refused without
//! losing anything, and the limits evict the oldest and count it.

mod support;

use std::time::Duration;

use hyperion_viewer::Limits;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::{Value as Json, json};
use support::*;

const WAIT: Duration = Duration::from_secs(10);

/// Sends the test trace, its logs and its metrics to a fresh viewer over `transport`; returns
/// the viewer's `/api/traces/{id}` and `/api/metrics`.
async fn stored_over(transport: Transport, id: &[u8]) -> (Json, Json) {
    let viewer = viewer().await;
    for request in three_service_trace(id, 0) {
        send_traces(&viewer, transport, request).await;
    }
    send_logs(&viewer, transport, trace_logs(id)).await;
    send_metrics(&viewer, transport, trace_metrics(id)).await;
    let trace = wait_for_trace(&viewer, &hex(id), 6, WAIT).await;
    let (_, metrics) = get_json(&viewer, "/api/metrics").await;
    viewer.shutdown().await.unwrap();
    (trace, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_trace_over_grpc_http_protobuf_and_http_json_is_stored_identically() {
    let id = trace_id(1);
    let (grpc, grpc_metrics) = stored_over(Transport::Grpc, &id).await;
    let (protobuf, protobuf_metrics) = stored_over(Transport::HttpProtobuf, &id).await;
    let (json_trace, json_metrics) = stored_over(Transport::HttpJson, &id).await;
    assert_eq!(grpc, protobuf, "gRPC and HTTP/protobuf differ");
    assert_eq!(grpc, json_trace, "gRPC and HTTP/JSON differ");
    assert_eq!(grpc_metrics, protobuf_metrics);
    assert_eq!(grpc_metrics, json_metrics);

    // What is stored is the whole trace, not just something equal three times.
    assert_eq!(grpc["trace_id"], hex(&id));
    assert_eq!(grpc["root_name"], "GET /orders/{id}");
    assert_eq!(
        grpc["services"],
        json!(["gateway", "user-service", "order-service"])
    );
    assert_eq!(grpc["duration_nanos"], 100 * MS);
    assert_eq!(grpc["error"], true);
    let spans = grpc["spans"].as_array().unwrap();
    let got: Vec<(&str, &str, u64, u64)> = spans
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["service"].as_str().unwrap(),
                s["depth"].as_u64().unwrap(),
                s["duration_nanos"].as_u64().unwrap() / MS,
            )
        })
        .collect();
    let want: Vec<(&str, &str, u64, u64)> = WATERFALL
        .iter()
        .map(|(n, s, d, ms)| (*n, *s, *d as u64, *ms))
        .collect();
    assert_eq!(got, want);
    let insert = &spans[5];
    assert_eq!(insert["kind"], "client");
    assert_eq!(
        insert["status"],
        json!({"code": "error", "message": "duplicate key value violates unique constraint"})
    );
    assert_eq!(
        insert["attributes"],
        json!({"http.route": "INSERT orders", "span.number": 6, "retry": false, "ratio": 0.25})
    );
    assert_eq!(insert["events"][0]["name"], "exception");
    assert_eq!(
        insert["events"][0]["attributes"]["exception.message"],
        "duplicate key"
    );
    assert_eq!(insert["resource"]["service.name"], "order-service");
    assert_eq!(insert["scope_name"], "hyperion");
    assert_eq!(spans[4]["links"][0]["trace_id"], hex(&trace_id(999)));
    let logs = grpc["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 4);
    assert_eq!(logs[0]["body"], "fetching user 42");
    assert_eq!(logs[0]["span_id"], hex(&span_id(3)));
    assert_eq!(logs[3]["span_id"], Json::Null);
    assert_eq!(logs[3]["severity"], "WARN");

    let series = grpc_metrics.as_array().unwrap();
    assert_eq!(series.len(), 2, "{grpc_metrics}");
    let histogram = &series[0];
    assert_eq!(histogram["name"], "http.server.request.duration");
    assert_eq!(histogram["kind"], "histogram");
    assert_eq!(histogram["service"], "order-service");
    assert_eq!(histogram["exemplars"][0]["trace_id"], hex(&id));
    assert_eq!(histogram["exemplars"][0]["span_id"], hex(&span_id(5)));
    assert_eq!(
        histogram["points"][0]["value"],
        json!({"histogram": {"count": 3, "sum": 0.125, "bounds": [0.025, 0.05], "counts": [1, 2, 0]}})
    );
    assert_eq!(series[1]["kind"], "counter");
    assert_eq!(series[1]["points"][0]["value"], json!({"number": 7.0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_otlp_json_decodes_as_the_specification_writes_it() {
    // OTLP/JSON as the specification shows it: hex ids, lowerCamelCase names, 64-bit integers
    // as strings, enums as numbers; written by hand, not by the serde code that decodes it.
    let viewer = viewer().await;
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},
      "scopeSpans":[{"scope":{"name":"manual"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
      "spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"checkout","kind":2,
      "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
      "attributes":[{"key":"items","value":{"intValue":"3"}},{"key":"paid","value":{"boolValue":true}}],
      "status":{"code":2,"message":"card declined"}}]}]}]}"#;
    let (status, answer) = post(
        &viewer,
        "/v1/traces",
        "application/json",
        false,
        body.into(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let (_, trace) = get_json(&viewer, "/api/traces/5b8efff798038103d269b633813fc60c").await;
    let span = &trace["spans"][0];
    assert_eq!(span["name"], "checkout");
    assert_eq!(span["kind"], "server");
    assert_eq!(span["service"], "json-svc");
    assert_eq!(span["duration_nanos"], 1_000_000_000u64);
    assert_eq!(span["attributes"], json!({"items": 3, "paid": true}));
    assert_eq!(span["status"]["code"], "error");
}

/// Every order of three things.
fn permutations() -> Vec<[usize; 3]> {
    vec![
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_whose_spans_arrive_from_three_processes_in_any_order_is_assembled() {
    let viewer = viewer().await;
    let transports = [
        Transport::Grpc,
        Transport::HttpProtobuf,
        Transport::HttpJson,
    ];
    for (seed, order) in permutations().into_iter().enumerate() {
        let id = trace_id(100 + seed as u64);
        let pieces = three_service_trace(&id, seed as u64 * 1000);
        // Each service sends its piece as its own process would: its own connection and
        // transport, in this order.
        for (k, &which) in order.iter().enumerate() {
            send_traces(&viewer, transports[(k + seed) % 3], pieces[which].clone()).await;
        }
        let trace = wait_for_trace(&viewer, &hex(&id), 6, WAIT).await;
        let names: Vec<&str> = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = WATERFALL.iter().map(|w| w.0).collect();
        assert_eq!(names, want, "order {order:?}");
        assert_eq!(trace["root_name"], "GET /orders/{id}", "order {order:?}");
        assert_eq!(trace["has_root"], true);
        let mut services: Vec<&str> = trace["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        services.sort_unstable();
        assert_eq!(services, ["gateway", "order-service", "user-service"]);
        assert!(
            trace["spans"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["parent_missing"] == false)
        );
    }
    // Before the root arrives, the trace is listed under its earliest span and says so.
    let id = trace_id(200);
    let pieces = three_service_trace(&id, 9000);
    send_traces(&viewer, Transport::Grpc, pieces[2].clone()).await;
    let partial = wait_for_trace(&viewer, &hex(&id), 2, WAIT).await;
    assert_eq!(partial["has_root"], false);
    assert_eq!(partial["root_name"], "GET /orders");
    assert_eq!(partial["spans"][0]["parent_missing"], true);

    let (_, list) = get_json(&viewer, "/api/traces").await;
    assert_eq!(list["stored"], 7);
    let rows = list["traces"].as_array().unwrap();
    // Newest first (by start): the partial trace started last.
    assert_eq!(rows[0]["trace_id"], hex(&id));
    assert!(rows[1..].iter().all(|r| r["span_count"] == 6), "{list}");
    viewer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_or_invalid_argument_and_nothing_stored_is_lost() {
    let viewer = viewer().await;
    let id = trace_id(7);
    for request in three_service_trace(&id, 0) {
        send_traces(&viewer, Transport::HttpProtobuf, request).await;
    }
    send_logs(&viewer, Transport::HttpProtobuf, trace_logs(&id)).await;
    let before = wait_for_trace(&viewer, &hex(&id), 6, WAIT).await;

    // Bytes that are not an ExportTraceServiceRequest: field 1 says "a message of 200 bytes"
    // and the body ends.
    let garbage = vec![0x0a, 0xc8, 0x01, 0x01, 0x02];
    let (status, body) = post(
        &viewer,
        "/v1/traces",
        "application/x-protobuf",
        false,
        garbage.clone(),
    )
    .await;
    assert_eq!(status, 400);
    let rpc = RpcStatus::decode(body.as_slice()).expect("a google.rpc.Status body");
    assert_eq!(rpc.code, 3);
    assert!(
        rpc.message.contains("malformed ExportTraceServiceRequest"),
        "{}",
        rpc.message
    );

    let (status, body) = post(
        &viewer,
        "/v1/logs",
        "application/json",
        false,
        b"{\"resourceLogs\": [".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let answer: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["code"], 3);
    assert!(
        answer["message"].as_str().unwrap().contains("OTLP/JSON"),
        "{answer}"
    );

    let (status, _) = post(
        &viewer,
        "/v1/metrics",
        "application/x-protobuf",
        true,
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = post(
        &viewer,
        "/v1/traces",
        "text/plain",
        false,
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));

    // gRPC: the same garbage through TraceService/Export.
    let code = grpc_raw(&viewer, garbage).await;
    assert_eq!(code, tonic::Code::InvalidArgument);

    // One span with a bad trace id: the others are kept and the sender told.
    let mut mixed = three_service_trace(&trace_id(8), 0).remove(0);
    mixed.resource_spans[0].scope_spans[0].spans[1].trace_id = vec![1, 2, 3];
    let (status, body) = post(
        &viewer,
        "/v1/traces",
        "application/x-protobuf",
        false,
        mixed.encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let answer =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            body.as_slice(),
        )
        .unwrap();
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("trace_id"),
        "{}",
        partial.error_message
    );

    let after = wait_for_trace(&viewer, &hex(&id), 6, WAIT).await;
    assert_eq!(before, after, "a refused request changed a stored trace");
    let (_, stats) = get_json(&viewer, "/api/stats").await;
    assert_eq!(stats["requests_rejected"], 5, "{stats}");
    assert_eq!(stats["spans_rejected"], 1, "{stats}");
    assert_eq!(stats["traces"], 2, "{stats}");
    assert_eq!(stats["logs"], 4, "{stats}");
    viewer.shutdown().await.unwrap();
}

/// `google.rpc.Status`, as a client decodes an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Sends `bytes` as the message of `TraceService/Export` and returns the gRPC status code.
async fn grpc_raw(viewer: &hyperion_viewer::Viewer, bytes: Vec<u8>) -> tonic::Code {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Clone, Copy, Default)]
    struct Raw;
    impl Encoder for Raw {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            bytes::BufMut::put_slice(dst, &item);
            Ok(())
        }
    }
    impl Decoder for Raw {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            use bytes::Buf;
            Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
        }
    }
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Raw;
        type Decoder = Raw;
        fn encoder(&mut self) -> Raw {
            Raw
        }
        fn decoder(&mut self) -> Raw {
            Raw
        }
    }

    let channel = tonic::transport::Endpoint::from_shared(viewer.otlp_grpc_endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    match grpc.unary(tonic::Request::new(bytes), path, Raw).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => {
            assert!(
                status
                    .message()
                    .contains("malformed ExportTraceServiceRequest"),
                "{status:?}"
            );
            status.code()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_evict_the_oldest_and_count_it() {
    let viewer = viewer_with(Limits {
        max_traces: 3,
        max_spans: 100,
        max_spans_per_trace: 4,
        max_logs: 5,
        max_metric_points: 3,
    })
    .await;
    let ids: Vec<Vec<u8>> = (0..5).map(|i| trace_id(300 + i)).collect();
    // Trace 0 arrives, then 1 and 2; then 0 gets one more span, so 1 is now the oldest.
    for (i, id) in ids[..3].iter().enumerate() {
        send_traces(
            &viewer,
            Transport::Grpc,
            three_service_trace(id, i as u64 * 1000).remove(0),
        )
        .await;
    }
    send_traces(
        &viewer,
        Transport::Grpc,
        three_service_trace(&ids[0], 0).remove(1),
    )
    .await;
    send_traces(
        &viewer,
        Transport::Grpc,
        three_service_trace(&ids[3], 3000).remove(0),
    )
    .await;
    send_traces(
        &viewer,
        Transport::Grpc,
        three_service_trace(&ids[4], 4000).remove(0),
    )
    .await;

    let (_, list) = get_json(&viewer, "/api/traces").await;
    let stored: Vec<&str> = list["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(stored, [hex(&ids[4]), hex(&ids[3]), hex(&ids[0])], "{list}");
    for gone in [&ids[1], &ids[2]] {
        let (status, body) = get_json(&viewer, &format!("/api/traces/{}", hex(gone))).await;
        assert_eq!(status, 404, "{body}");
        assert!(body["error"].as_str().unwrap().contains("not stored"));
    }
    let (_, stats) = get_json(&viewer, "/api/stats").await;
    assert_eq!(stats["traces_evicted"], 2, "{stats}");
    assert_eq!(stats["spans_evicted"], 6, "{stats}");
    assert_eq!(stats["limits"]["max_traces"], 3);

    // Per trace: trace 0 holds 4 spans (3 + 1); two more are dropped and counted.
    send_traces(
        &viewer,
        Transport::Grpc,
        three_service_trace(&ids[0], 0).remove(2),
    )
    .await;
    let (_, stats) = get_json(&viewer, "/api/stats").await;
    assert_eq!(stats["spans_dropped"], 2, "{stats}");
    assert_eq!(stats["spans"], 3 + 3 + 4, "{stats}");

    // Logs: 4 + 4 records, 5 kept, the three oldest evicted; trace 3's index stays right.
    send_logs(&viewer, Transport::HttpProtobuf, trace_logs(&ids[0])).await;
    send_logs(&viewer, Transport::HttpProtobuf, trace_logs(&ids[3])).await;
    let (_, stats) = get_json(&viewer, "/api/stats").await;
    assert_eq!(
        (stats["logs"].as_u64(), stats["logs_evicted"].as_u64()),
        (Some(5), Some(3)),
        "{stats}"
    );
    let (_, t0) = get_json(&viewer, &format!("/api/traces/{}", hex(&ids[0]))).await;
    assert_eq!(t0["logs"].as_array().unwrap().len(), 1, "{t0}");
    assert_eq!(t0["logs"][0]["body"], "slow request");
    let (_, t3) = get_json(&viewer, &format!("/api/traces/{}", hex(&ids[3]))).await;
    assert_eq!(t3["logs"].as_array().unwrap().len(), 4);

    // Metrics: 2 points a request, 3 kept.
    send_metrics(&viewer, Transport::HttpJson, trace_metrics(&ids[0])).await;
    send_metrics(&viewer, Transport::HttpJson, trace_metrics(&ids[3])).await;
    let (_, stats) = get_json(&viewer, "/api/stats").await;
    assert_eq!(stats["metric_points"], 3, "{stats}");
    assert_eq!(stats["metric_points_evicted"], 1, "{stats}");
    let (_, metrics) = get_json(&viewer, "/api/metrics").await;
    let histogram = &metrics[0];
    assert_eq!(histogram["point_count"], 1, "{metrics}");
    assert_eq!(histogram["exemplars"][0]["trace_id"], hex(&ids[3]));

    // The page shows the counts.
    let (_, page) = get_text(&viewer, "/").await;
    assert!(
        page.contains(r#"<span id="evicted-traces">2</span> traces"#),
        "{page}"
    );
    viewer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_by_service_duration_and_error_and_opens_pasted_ids() {
    let viewer = viewer().await;
    let full = trace_id(400);
    for request in three_service_trace(&full, 0) {
        send_traces(&viewer, Transport::Grpc, request).await;
    }
    // A short trace of the user service alone, without errors.
    let short = trace_id(401);
    send_traces(
        &viewer,
        Transport::Grpc,
        three_service_trace(&short, 5000).remove(1),
    )
    .await;
    wait_for_trace(&viewer, &hex(&short), 1, WAIT).await;

    let ids = |list: &Json| -> Vec<String> {
        list["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["trace_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = get_json(&viewer, "/api/traces").await;
    assert_eq!(ids(&all), [hex(&short), hex(&full)]);
    let row = &all["traces"][1];
    assert_eq!(row["span_count"], 6);
    assert_eq!(row["error"], true);
    for (query, want) in [
        ("?service=gateway", vec![hex(&full)]),
        ("?service=user-service", vec![hex(&short), hex(&full)]),
        ("?service=nobody", vec![]),
        ("?min_duration=50ms", vec![hex(&full)]),
        ("?min_duration=101ms", vec![]),
        ("?min_duration=0.02s", vec![hex(&short), hex(&full)]),
        ("?error=true", vec![hex(&full)]),
        ("?error=false", vec![hex(&short)]),
        (
            "?service=user-service&error=false&min_duration=1ms",
            vec![hex(&short)],
        ),
        ("?limit=1", vec![hex(&short)]),
    ] {
        let (status, list) = get_json(&viewer, &format!("/api/traces{query}")).await;
        assert_eq!(status, 200, "{query}: {list}");
        assert_eq!(ids(&list), want, "{query}");
    }
    let (status, body) = get_json(&viewer, "/api/traces?min_duration=soon").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("`min_duration`"),
        "{body}"
    );
    let (status, _) = get_json(&viewer, "/api/traces/not-an-id").await;
    assert_eq!(status, 400);
    let (_, services) = get_json(&viewer, "/api/services").await;
    assert_eq!(
        services,
        json!(["gateway", "order-service", "user-service"])
    );

    // The HTML list with a filter, and the search box with a pasted id and a traceparent.
    let (status, page) = get_text(&viewer, "/?service=gateway&min_duration=50ms").await;
    assert_eq!(status, 200);
    assert!(page.contains(&hex(&full)) && !page.contains(&hex(&short)));
    let response = http_client()
        .get(format!(
            "{}/search?q=%20{}%20",
            viewer.ui_url(),
            hex(&full).to_uppercase()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.url().path(), format!("/traces/{}", hex(&full)));
    let page = response.text().await.unwrap();
    assert!(page.contains("GET /orders/{id}"));
    let traceparent = format!("00-{}-{}-01", hex(&short), hex(&span_id(3)));
    let response = http_client()
        .get(format!("{}/search?q={traceparent}", viewer.ui_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.url().path(), format!("/traces/{}", hex(&short)));
    let (status, page) = get_text(&viewer, "/search?q=hello").await;
    assert_eq!(status, 400);
    assert!(page.contains("is not a trace id"), "{page}");
    let (status, page) = get_text(&viewer, &format!("/traces/{}", hex(&trace_id(999)))).await;
    assert_eq!(status, 404);
    assert!(page.contains("is not stored"));
    viewer.shutdown().await.unwrap();
}

#[test]
fn requests_are_what_the_tests_think() {
    // The test trace's three pieces hold 6 spans, and a request round-trips through JSON.
    let pieces = three_service_trace(&trace_id(1), 0);
    let spans: usize = pieces
        .iter()
        .map(|p| p.resource_spans[0].scope_spans[0].spans.len())
        .sum();
    assert_eq!(spans, 6);
    let json = serde_json::to_string(&pieces[0]).unwrap();
    let back: ExportTraceServiceRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pieces[0]);
}

/// Found by review: a span may claim any end time, and the trace page's axis must still draw
/// (it overflowed, and panicked in a debug build, for a trace longer than u64::MAX / 4 ns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_span_that_claims_to_end_at_the_end_of_time_still_draws() {
    let viewer = viewer().await;
    let id = trace_id(77);
    let mut requests = three_service_trace(&id, 0);
    requests[0].resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = u64::MAX;
    let spans: usize = requests
        .iter()
        .map(|r| r.resource_spans[0].scope_spans[0].spans.len())
        .sum();
    for request in requests {
        send_traces(&viewer, Transport::Grpc, request).await;
    }
    wait_for_trace(&viewer, &hex(&id), spans, Duration::from_secs(10)).await;
    let (status, page) = get_text(&viewer, &format!("/traces/{}", hex(&id))).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("GET /orders/{id}"));
}

/// A page elsewhere that rebinds its name to 127.0.0.1 (DNS rebinding) is refused: the viewer
/// on loopback answers only requests for localhost, on the page and on OTLP/HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_another_host_are_refused_on_loopback() {
    let viewer = viewer().await;
    let client = http_client();
    let ui = viewer.ui_url();
    let port = ui
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    for (host, expected) in [
        ("evil.example", 403),
        (&*format!("evil.example:{port}"), 403),
        (&*format!("localhost:{port}"), 200),
        (&*format!("127.0.0.1:{port}"), 200),
        (&*format!("[::1]:{port}"), 200),
    ] {
        let response = client
            .get(format!("{ui}/api/stats"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "Host {host}");
    }
    let otlp = client
        .post(format!("{}/v1/traces", viewer.otlp_http_endpoint()))
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(otlp.status().as_u16(), 403);
}

#[tokio::test]
async fn a_scrape_interval_too_short_is_refused() {
    let config = hyperion_viewer::ViewerConfig {
        scrape: vec!["svc=http://127.0.0.1:9/metrics".parse().unwrap()],
        scrape_interval: Duration::ZERO,
        ..hyperion_viewer::ViewerConfig::ephemeral()
    };
    let Err(error) = hyperion_viewer::Viewer::start(config).await else {
        panic!("a zero interval is refused");
    };
    assert!(error.to_string().contains("at least 100ms"), "{error}");
}
