//! Proves the [`support::Prometheus`] harness, and the exemplar storage of the Prometheus on
//! this machine, before the adapter is tested against it: a tiny in-test endpoint serves
//! hand-written OpenMetrics text with exemplars, a real Prometheus scrapes it, and the series
//! and the exemplars' trace ids come back through Prometheus's HTTP API.
//!
//! Needs `prometheus` on PATH (`scripts/setup.sh`); fails, never skips, without it.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use support::{Prometheus, Sample};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const COUNTER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const COUNTER_SPAN_ID: &str = "00f067aa0ba902b7";
const BUCKET_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const BUCKET_SPAN_ID: &str = "b7ad6b7169203331";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long any one wait of this test may take.
const WAIT: Duration = Duration::from_secs(20);

/// The OpenMetrics exposition, with exemplars stamped `now` (seconds since the epoch).
fn openmetrics_body(now: f64) -> String {
    format!(
        "# HELP hyperion_selftest_requests Requests handled.\n\
         # TYPE hyperion_selftest_requests counter\n\
         hyperion_selftest_requests_total{{route=\"/a\"}} 7 # {{trace_id=\"{COUNTER_TRACE_ID}\",span_id=\"{COUNTER_SPAN_ID}\"}} 1 {now:.3}\n\
         # HELP hyperion_selftest_duration_seconds Request duration.\n\
         # TYPE hyperion_selftest_duration_seconds histogram\n\
         # UNIT hyperion_selftest_duration_seconds seconds\n\
         hyperion_selftest_duration_seconds_bucket{{route=\"/a\",le=\"0.005\"}} 1\n\
         hyperion_selftest_duration_seconds_bucket{{route=\"/a\",le=\"0.01\"}} 2 # {{trace_id=\"{BUCKET_TRACE_ID}\",span_id=\"{BUCKET_SPAN_ID}\"}} 0.007 {now:.3}\n\
         hyperion_selftest_duration_seconds_bucket{{route=\"/a\",le=\"0.1\"}} 3\n\
         hyperion_selftest_duration_seconds_bucket{{route=\"/a\",le=\"+Inf\"}} 3\n\
         hyperion_selftest_duration_seconds_count{{route=\"/a\"}} 3\n\
         hyperion_selftest_duration_seconds_sum{{route=\"/a\"}} 0.062\n\
         # EOF\n"
    )
}

/// The same numbers in the classic text format, which has no exemplars.
fn classic_body() -> String {
    "# HELP hyperion_selftest_requests_total Requests handled.\n\
     # TYPE hyperion_selftest_requests_total counter\n\
     hyperion_selftest_requests_total{route=\"/a\"} 7\n\
     # HELP hyperion_selftest_duration_seconds Request duration.\n\
     # TYPE hyperion_selftest_duration_seconds histogram\n\
     hyperion_selftest_duration_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n\
     hyperion_selftest_duration_seconds_bucket{route=\"/a\",le=\"0.01\"} 2\n\
     hyperion_selftest_duration_seconds_bucket{route=\"/a\",le=\"0.1\"} 3\n\
     hyperion_selftest_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n\
     hyperion_selftest_duration_seconds_count{route=\"/a\"} 3\n\
     hyperion_selftest_duration_seconds_sum{route=\"/a\"} 0.062\n"
        .to_owned()
}

/// A metrics endpoint on 127.0.0.1 that answers OpenMetrics when asked for it and remembers
/// every scrape's `Accept` header. Stops when dropped.
struct Endpoint {
    addr: SocketAddr,
    accepts: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Endpoint {
    async fn start() -> Endpoint {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepts = Arc::new(Mutex::new(Vec::new()));
        let seen = accepts.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let seen = seen.clone();
                        async move { Ok::<_, Infallible>(respond(&request, &seen)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Endpoint {
            addr,
            accepts,
            task,
        }
    }

    fn accepts(&self) -> Vec<String> {
        self.accepts.lock().expect("accept log").clone()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(request: &Request<Incoming>, seen: &Mutex<Vec<String>>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"not found")))
            .expect("a valid response");
    }
    let accept = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let openmetrics = accept.contains("application/openmetrics-text");
    seen.lock().expect("accept log").push(accept);
    let (content_type, body) = if openmetrics {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs_f64();
        (OPENMETRICS, openmetrics_body(now))
    } else {
        (CLASSIC_TEXT, classic_body())
    };
    Response::builder()
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn one<'a>(samples: &'a [Sample], what: &str) -> &'a Sample {
    assert_eq!(
        samples.len(),
        1,
        "{what}: expected one series, got {samples:#?}"
    );
    &samples[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_openmetrics_and_stores_exemplars() {
    let endpoint = Endpoint::start().await;
    let started = Instant::now();
    let prometheus = tokio::task::block_in_place(|| {
        Prometheus::start(&[endpoint.addr], "/metrics", Duration::from_millis(500))
    });
    eprintln!(
        "Prometheus ready after {:?} on {}",
        started.elapsed(),
        prometheus.url()
    );

    let targets = prometheus.wait_for_targets_up(WAIT).await;
    assert_eq!(targets.len(), 1, "{targets:#?}");
    assert_eq!(
        targets[0].scrape_url,
        format!("http://{}/metrics", endpoint.addr)
    );
    let health = prometheus.target_health().await;
    assert_eq!(health[0].1, "up", "{health:#?}");
    eprintln!("first scrape up after {:?}", started.elapsed());

    // The counter, with the job's labels added.
    let counter = prometheus
        .wait_for("hyperion_selftest_requests_total", |s| !s.is_empty(), WAIT)
        .await;
    let counter = one(&counter, "counter");
    assert_eq!(counter.value, 7.0);
    assert_eq!(counter.label("route"), Some("/a"));
    assert_eq!(counter.label("job"), Some("hyperion"));
    assert_eq!(
        counter.label("instance"),
        Some(endpoint.addr.to_string().as_str())
    );

    // The histogram: every bucket, the count and the sum.
    let buckets = prometheus
        .query("hyperion_selftest_duration_seconds_bucket")
        .await;
    let mut by_le: Vec<(String, f64)> = buckets
        .iter()
        .map(|s| (s.label("le").unwrap_or_default().to_owned(), s.value))
        .collect();
    by_le.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_le,
        [
            ("+Inf".to_owned(), 3.0),
            ("0.005".to_owned(), 1.0),
            ("0.01".to_owned(), 2.0),
            ("0.1".to_owned(), 3.0),
        ],
        "{buckets:#?}"
    );
    let count = prometheus
        .query("hyperion_selftest_duration_seconds_count")
        .await;
    assert_eq!(one(&count, "count").value, 3.0);
    let sum = prometheus
        .query("hyperion_selftest_duration_seconds_sum")
        .await;
    assert!((one(&sum, "sum").value - 0.062).abs() < 1e-9, "{sum:#?}");
    // A scalar query comes back as one unlabelled sample.
    let scalar = prometheus.query("scalar(vector(2) + 0.5)").await;
    assert_eq!(
        scalar,
        [Sample {
            labels: Default::default(),
            value: 2.5
        }]
    );

    // The exemplars: the counter's and the bucket's trace ids come back.
    let exemplar = prometheus
        .wait_for_exemplar("hyperion_selftest_requests_total", COUNTER_TRACE_ID, WAIT)
        .await;
    assert_eq!(exemplar.span_id(), Some(COUNTER_SPAN_ID));
    assert_eq!(exemplar.value, 1.0);
    assert_eq!(
        exemplar.series_labels.get("__name__").map(String::as_str),
        Some("hyperion_selftest_requests_total")
    );
    let bucket = prometheus
        .wait_for_exemplar(
            "hyperion_selftest_duration_seconds_bucket",
            BUCKET_TRACE_ID,
            WAIT,
        )
        .await;
    assert_eq!(bucket.span_id(), Some(BUCKET_SPAN_ID));
    assert_eq!(bucket.value, 0.007);
    assert_eq!(
        bucket.series_labels.get("le").map(String::as_str),
        Some("0.01")
    );
    let start_secs = prometheus
        .started()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    assert!(
        bucket.timestamp >= start_secs - 1.0,
        "exemplar timestamp {} before Prometheus started ({start_secs})",
        bucket.timestamp
    );
    eprintln!("exemplars back after {:?}", started.elapsed());

    // The plain query over the whole range sees both, each with its own series.
    let all = prometheus
        .exemplars(
            "{__name__=~\"hyperion_selftest_.+\"}",
            prometheus.started() - Duration::from_secs(60),
            SystemTime::now() + Duration::from_secs(60),
        )
        .await;
    for trace_id in [COUNTER_TRACE_ID, BUCKET_TRACE_ID] {
        assert!(
            all.iter().any(|e| e.trace_id() == Some(trace_id)),
            "no exemplar with trace_id {trace_id} in {all:#?}"
        );
    }
    // A window before anything was scraped has none.
    let none = prometheus
        .exemplars(
            "hyperion_selftest_requests_total",
            UNIX_EPOCH + Duration::from_secs(1_000_000),
            UNIX_EPOCH + Duration::from_secs(1_000_100),
        )
        .await;
    assert!(none.is_empty(), "{none:#?}");

    // Prometheus asked for OpenMetrics on every scrape.
    let accepts = endpoint.accepts();
    assert!(!accepts.is_empty());
    for accept in &accepts {
        assert!(
            accept.starts_with("application/openmetrics-text"),
            "Prometheus asked for {accept:?}"
        );
    }
    eprintln!("Prometheus's Accept header: {}", accepts[0]);

    // A query Prometheus rejects is an error naming the query, not a hang.
    let error = prometheus
        .try_query("sum(")
        .await
        .expect_err("a syntax error");
    assert!(error.contains("bad_data"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_down_shows_its_error() {
    // A port nothing listens on.
    let addr: SocketAddr = ([127, 0, 0, 1], support::free_port()).into();
    let prometheus = tokio::task::block_in_place(|| {
        Prometheus::start(&[addr], "/metrics", Duration::from_millis(500))
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    let health = loop {
        let health = prometheus.target_health().await;
        if health.iter().any(|(_, h, _)| h == "down") || tokio::time::Instant::now() >= deadline {
            break health;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(health.len(), 1, "{health:#?}");
    let (url, state, error) = &health[0];
    assert_eq!(url, &format!("http://{addr}/metrics"));
    assert_eq!(state, "down", "{health:#?}");
    assert!(error.contains("connection refused"), "{error}");
    // `up` is 0 for it.
    let up = prometheus
        .wait_for("up", |s| s.iter().any(|s| s.value == 0.0), WAIT)
        .await;
    assert_eq!(one(&up, "up").value, 0.0);
}
