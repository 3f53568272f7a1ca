//! The middleware against real axum servers on 127.0.0.1, recorded by the `memory` module: spans,
//! errors, redaction, propagation, retries, the duration histogram, `http/dup`, the bridge
//! fallback and the no-op path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response as AxumResponse};
use http::{Extensions, HeaderMap, Method, StatusCode};
use hyperion::metric::InstrumentKind;
use hyperion::propagation::{PropagationLimits, extract_trace_context};
use hyperion::testing::{MemoryModule, MemoryStore, RecordedSpan, Snapshot};
use hyperion::{
    Baggage, Config, Context, KeyValue, SpanContext, SpanId, SpanKind, SpanOptions, Telemetry,
    TraceFlags, TraceId, TraceState, Value,
};
use hyperion_reqwest::{
    DURATION_BOUNDARIES, HttpClientMiddleware, OLD_DURATION_METRIC, REQUEST_DURATION_METRIC,
    RequestBuilderExt,
};
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

// ---------------------------------------------------------------------------------------------
// The server: records what it receives; `/status/{code}` answers that code, `/slow` takes 3 s,
// `/flaky` answers 503 once then 200, anything else 200.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Received {
    uri: String,
    headers: HeaderMap,
}

#[derive(Clone, Default)]
struct Server {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    flaky_calls: Arc<AtomicUsize>,
}

impl Server {
    async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server {
            port: listener.local_addr().unwrap().port(),
            ..Server::default()
        };
        let app = Router::new().fallback(answer).with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn last(&self) -> Received {
        self.received().pop().expect("the server received nothing")
    }
}

async fn answer(State(server): State<Server>, request: axum::extract::Request) -> AxumResponse {
    let path = request.uri().path().to_owned();
    server.received.lock().unwrap().push(Received {
        uri: request.uri().to_string(),
        headers: request.headers().clone(),
    });
    if let Some(code) = path.strip_prefix("/status/") {
        return StatusCode::from_u16(code.parse().unwrap())
            .unwrap()
            .into_response();
    }
    match path.as_str() {
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late".into_response()
        }
        "/flaky" if server.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 => {
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        _ => "ok".into_response(),
    }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// Telemetry and client helpers
// ---------------------------------------------------------------------------------------------

async fn memory_with(yaml: &str) -> (Telemetry, MemoryStore) {
    let memory = MemoryModule::new();
    let store = memory.store();
    let telemetry = Telemetry::builder()
        .module(memory)
        .config(Config::from_yaml_str(yaml).unwrap())
        .build()
        .await
        .unwrap();
    (telemetry, store)
}

async fn memory() -> (Telemetry, MemoryStore) {
    memory_with("").await
}

async fn flushed(telemetry: &Telemetry, store: &MemoryStore) -> Snapshot {
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    store.snapshot()
}

/// Installs rustls' ring provider first: in a workspace build the otel adapter's `http-tls`
/// feature (on in its tests) turns on reqwest's `rustls-no-provider`, with which building any
/// client panics until a provider is installed.
fn reqwest_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A client with the middleware (the old keys off, whatever the environment says).
fn client(telemetry: &Telemetry) -> ClientWithMiddleware {
    client_with(HttpClientMiddleware::new(telemetry).semconv_dup(false))
}

fn client_with(middleware: HttpClientMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest_client())
        .with(middleware)
        .build()
}

/// The only CLIENT span.
fn client_span(snapshot: &Snapshot) -> &RecordedSpan {
    let spans: Vec<_> = snapshot
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(spans.len(), 1, "spans:\n{}", snapshot.tree());
    spans[0]
}

/// Attributes as text, by key.
fn texts(attributes: &[KeyValue<'static>]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|a| (a.key.as_str().to_owned(), a.value.to_string()))
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn str_attr<'a>(span: &'a RecordedSpan, key: &str) -> Option<&'a str> {
    span.attribute(key).and_then(Value::as_str)
}

fn remote_parent(trace: u8, span: u8, state: &str) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes([trace; 16]),
        SpanId::from_bytes([span; 8]),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_header(state, 32).unwrap(),
    )
}

fn traceparent_of(received: &Received) -> Option<SpanContext> {
    extract_trace_context(&received.headers, &PropagationLimits::DEFAULT)
}

fn header<'a>(received: &'a Received, name: &str) -> Option<&'a str> {
    received.headers.get(name).map(|v| v.to_str().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ok_response_gives_a_client_span_with_every_attribute() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let response = client(&telemetry)
        .get(server.url("/users/42"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let snapshot = flushed(&telemetry, &store).await;

    let span = client_span(&snapshot);
    assert_eq!(span.name, "GET");
    assert_eq!(span.kind, SpanKind::Client);
    assert!(!span.status.is_error());
    assert!(span.parent_span_id.is_none(), "no caller span: a new trace");
    let port = server.port.to_string();
    assert_eq!(
        texts(&span.attributes),
        expected(&[
            ("http.request.method", "GET"),
            ("server.address", "127.0.0.1"),
            ("server.port", &port),
            ("url.full", &server.url("/users/42")),
            ("url.scheme", "http"),
            ("http.response.status_code", "200"),
            ("network.protocol.version", "1.1"),
        ])
    );
    assert_eq!(
        span.attribute("server.port"),
        Some(&Value::I64(server.port.into()))
    );
    assert_eq!(
        span.attribute("http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert!(span.events.is_empty());
}

#[tokio::test]
async fn four_and_five_hundreds_are_errors_with_their_code_as_error_type() {
    let server = Server::start().await;
    for code in ["404", "500"] {
        let (telemetry, store) = memory().await;
        let response = client(&telemetry)
            .get(server.url(&format!("/status/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_str(), code);
        let snapshot = flushed(&telemetry, &store).await;

        let span = client_span(&snapshot);
        assert!(span.status.is_error(), "{code}: {:?}", span.status);
        assert_eq!(str_attr(span, "error.type"), Some(code));
        assert_eq!(
            span.attribute("http.response.status_code"),
            Some(&Value::I64(code.parse().unwrap()))
        );
        let point = snapshot.points(REQUEST_DURATION_METRIC)[0];
        assert_eq!(point.attribute("error.type"), Some(&Value::from(code)));
    }
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let port = closed_port().await;
    let (telemetry, store) = memory().await;
    let error = client(&telemetry)
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect());
    let snapshot = flushed(&telemetry, &store).await;

    let span = client_span(&snapshot);
    assert_eq!(str_attr(span, "error.type"), Some("connect"));
    assert!(span.attribute("http.response.status_code").is_none());
    assert!(span.status.is_error());
    // The description says why, not only reqwest's "error sending request".
    let description = span.status.description().to_lowercase();
    assert!(
        description.starts_with("error sending request"),
        "{description}"
    );
    assert!(description.contains("connect"), "{description}");
    let exception = span.event("exception").expect("an exception event");
    let exception = texts(&exception.attributes);
    assert_eq!(exception["exception.type"], "reqwest::error::Error");
    assert_eq!(exception["exception.message"], span.status.description());

    let point = snapshot.points(REQUEST_DURATION_METRIC)[0];
    assert_eq!(point.attribute("error.type"), Some(&Value::from("connect")));
    assert!(point.attribute("http.response.status_code").is_none());
}

#[tokio::test]
async fn a_slow_server_is_a_timeout() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let error = client(&telemetry)
        .get(server.url("/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    let snapshot = flushed(&telemetry, &store).await;

    let span = client_span(&snapshot);
    assert_eq!(str_attr(span, "error.type"), Some("timeout"));
    assert!(span.status.is_error());
    let point = snapshot.points(REQUEST_DURATION_METRIC)[0];
    assert_eq!(point.attribute("error.type"), Some(&Value::from("timeout")));
    assert!(point.value.as_f64() >= 0.2 && point.value.as_f64() < 3.0);
}

#[tokio::test]
async fn a_middleware_error_is_other() {
    struct Refuse;
    #[async_trait::async_trait]
    impl Middleware for Refuse {
        async fn handle(
            &self,
            _: Request,
            _: &mut Extensions,
            _: Next<'_>,
        ) -> reqwest_middleware::Result<Response> {
            Err(reqwest_middleware::Error::middleware(
                std::io::Error::other("refused by policy"),
            ))
        }
    }
    let (telemetry, store) = memory().await;
    let client = ClientBuilder::new(reqwest_client())
        .with(HttpClientMiddleware::new(&telemetry))
        .with(Refuse)
        .build();
    assert!(client.get("http://127.0.0.1:9/").send().await.is_err());
    let snapshot = flushed(&telemetry, &store).await;

    let span = client_span(&snapshot);
    assert_eq!(str_attr(span, "error.type"), Some("_OTHER"));
    assert_eq!(span.status.description(), "refused by policy");
    assert!(span.event("exception").is_some());
}

#[tokio::test]
async fn an_unknown_method_is_other_and_names_the_span_http() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let purge = Method::from_bytes(b"PURGE").unwrap();
    client(&telemetry)
        .request(purge, server.url("/cache"))
        .send()
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    let span = client_span(&snapshot);
    assert_eq!(span.name, "HTTP");
    assert_eq!(str_attr(span, "http.request.method"), Some("_OTHER"));
    assert_eq!(
        str_attr(span, "http.request.method_original"),
        Some("PURGE")
    );
    let point = snapshot.points(REQUEST_DURATION_METRIC)[0];
    assert_eq!(
        point.attribute("http.request.method"),
        Some(&Value::from("_OTHER"))
    );
}

// ---------------------------------------------------------------------------------------------
// url.full and url.template
// ---------------------------------------------------------------------------------------------

/// Sends a request whose URL keeps its credentials (reqwest's own builder moves them into an
/// `Authorization` header, so the request is built by hand).
async fn send_raw(
    client: &ClientWithMiddleware,
    url: &str,
) -> reqwest_middleware::Result<Response> {
    let request = Request::new(Method::GET, url.parse().unwrap());
    reqwest_middleware::RequestBuilder::from_parts(client.clone(), request)
        .send()
        .await
}

#[tokio::test]
async fn url_full_redacts_credentials_and_every_query_value_by_default() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let query = "?q=rust&token=abc&flag&sig=x";
    let url = format!("http://user:secret@127.0.0.1:{}/search{query}", server.port);
    send_raw(&client(&telemetry), &url).await.unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    assert_eq!(
        str_attr(client_span(&snapshot), "url.full"),
        Some(
            format!(
                "http://REDACTED:REDACTED@127.0.0.1:{}/search?q=REDACTED&token=REDACTED&flag&sig=REDACTED",
                server.port
            )
            .as_str()
        )
    );
    // The request itself is untouched.
    assert_eq!(server.last().uri, format!("/search{query}"));
}

#[tokio::test]
async fn full_query_keeps_values_but_signatures() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let client = client_with(HttpClientMiddleware::new(&telemetry).full_query(true));
    let url = server
        .url("/o?q=rust&AWSAccessKeyId=AK&Signature=s&sig=x&X-Goog-Signature=g&signature=kept");
    client.get(&url).send().await.unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    assert_eq!(
        str_attr(client_span(&snapshot), "url.full"),
        Some(server.url(
            "/o?q=rust&AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&signature=kept"
        ).as_str())
    );
}

#[tokio::test]
async fn an_error_message_does_not_leak_the_url_secrets() {
    let port = closed_port().await;
    let (telemetry, store) = memory().await;
    let url = format!("http://user:secret@127.0.0.1:{port}/?token=abc");
    let error = send_raw(&client(&telemetry), &url).await.unwrap_err();
    assert!(error.url().is_some(), "the caller's error keeps its URL");
    let snapshot = flushed(&telemetry, &store).await;

    let description = client_span(&snapshot).status.description();
    assert!(description.contains("token=REDACTED"), "{description}");
    assert!(!description.contains("secret"), "{description}");
    assert!(!description.contains("abc"), "{description}");
}

#[tokio::test]
async fn url_template_names_the_span_and_is_recorded() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    client(&telemetry)
        .post(server.url("/users/42"))
        .url_template("/users/{id}")
        .send()
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    let span = client_span(&snapshot);
    assert_eq!(span.name, "POST /users/{id}");
    assert_eq!(str_attr(span, "url.template"), Some("/users/{id}"));
    assert_eq!(
        str_attr(span, "url.full"),
        Some(server.url("/users/42").as_str())
    );
    let point = snapshot.points(REQUEST_DURATION_METRIC)[0];
    assert_eq!(
        point.attribute("url.template"),
        Some(&Value::from("/users/{id}"))
    );
}

// ---------------------------------------------------------------------------------------------
// Propagation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn traceparent_carries_the_callers_trace_and_the_client_span() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let (ctx, mut caller) = telemetry.context().start_span("caller", SpanOptions::new());
    client(&telemetry)
        .get(server.url("/"))
        .context(&ctx)
        .send()
        .await
        .unwrap();
    caller.end();
    let snapshot = flushed(&telemetry, &store).await;

    snapshot.root("caller").child("GET");
    let span = client_span(&snapshot);
    let sent = traceparent_of(&server.last()).expect("a traceparent");
    assert_eq!(sent.trace_id(), ctx.span_context().trace_id());
    assert_eq!(sent.span_id(), span.context.span_id());
    assert_ne!(sent.span_id(), ctx.span_context().span_id());
    assert!(sent.is_sampled());
}

#[tokio::test]
async fn tracestate_and_baggage_are_forwarded() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let ctx = telemetry
        .context()
        .with_span_context(remote_parent(1, 2, "vendor=abc,other=x"))
        .with_baggage(Baggage::EMPTY.with("tenant", "acme").with("user.id", "42"));
    client(&telemetry)
        .get(server.url("/"))
        .context(&ctx)
        .send()
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    let span = client_span(&snapshot);
    assert_eq!(span.parent_span_id, Some(SpanId::from_bytes([2; 8])));
    assert!(span.parent_is_remote);
    let received = server.last();
    let sent = traceparent_of(&received).unwrap();
    assert_eq!(sent.trace_id(), TraceId::from_bytes([1; 16]));
    assert_eq!(sent.span_id(), span.context.span_id());
    assert_eq!(header(&received, "tracestate"), Some("vendor=abc,other=x"));
    assert_eq!(header(&received, "baggage"), Some("tenant=acme,user.id=42"));
}

#[tokio::test]
async fn excluded_hosts_get_no_propagation_headers() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let ctx = telemetry
        .context()
        .with_span_context(remote_parent(1, 2, "vendor=abc"))
        .with_baggage(Baggage::EMPTY.with("tenant", "acme"));
    let by_host =
        client_with(HttpClientMiddleware::new(&telemetry).no_propagation_to(["LOCALHOST"]));
    let by_predicate = client_with(
        HttpClientMiddleware::new(&telemetry)
            .propagate_to(|url| url.host_str() != Some("localhost")),
    );
    let localhost = format!("http://localhost:{}/", server.port);
    for client in [&by_host, &by_predicate] {
        for url in [&localhost, &server.url("/")] {
            client.get(url).context(&ctx).send().await.unwrap();
            let received = server.last();
            let propagated = ["traceparent", "tracestate", "baggage"]
                .map(|name| received.headers.contains_key(name));
            if url == &localhost {
                assert_eq!(propagated, [false; 3], "{url}");
            } else {
                assert_eq!(propagated, [true; 3], "{url}");
            }
        }
    }
    // Excluded hosts are still traced.
    let snapshot = flushed(&telemetry, &store).await;
    let localhost_spans = snapshot
        .spans
        .iter()
        .filter(|s| str_attr(s, "server.address") == Some("localhost"))
        .count();
    assert_eq!((snapshot.spans.len(), localhost_spans), (4, 2));
}

#[tokio::test]
async fn only_allowed_baggage_keys_are_sent() {
    let server = Server::start().await;
    let (telemetry, _store) = memory().await;
    let ctx = telemetry.context().with_baggage(
        Baggage::EMPTY
            .with("tenant", "acme")
            .with("user.email", "ada@example.com")
            .with_metadata("region", "eu", "ttl=5"),
    );
    let client = client_with(
        HttpClientMiddleware::new(&telemetry)
            .baggage_allow(["region"])
            .baggage_allow(["tenant"]),
    );
    client
        .get(server.url("/"))
        .context(&ctx)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&server.last(), "baggage"),
        Some("tenant=acme,region=eu;ttl=5")
    );

    let client = client_with(HttpClientMiddleware::new(&telemetry).baggage_allow(["other"]));
    client
        .get(server.url("/"))
        .context(&ctx)
        .send()
        .await
        .unwrap();
    let received = server.last();
    assert_eq!(header(&received, "baggage"), None);
    assert!(traceparent_of(&received).is_some());
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

/// Retries a 503 up to twice, passing the same extensions to every attempt, as `reqwest-retry`
/// does.
struct RetryUnavailable;

#[async_trait::async_trait]
impl Middleware for RetryUnavailable {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let mut attempts = 0;
        loop {
            let attempt = request.try_clone().expect("a cloneable request");
            let response = next.clone().run(attempt, extensions).await?;
            attempts += 1;
            if response.status() != StatusCode::SERVICE_UNAVAILABLE || attempts == 3 {
                return Ok(response);
            }
        }
    }
}

#[tokio::test]
async fn each_attempt_is_a_span_and_resends_are_counted() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let client = ClientBuilder::new(reqwest_client())
        .with(RetryUnavailable)
        .with(HttpClientMiddleware::new(&telemetry).semconv_dup(false))
        .build();
    let (ctx, mut caller) = telemetry.context().start_span("caller", SpanOptions::new());
    let response = client
        .get(server.url("/flaky"))
        .context(&ctx)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    caller.end();
    let snapshot = flushed(&telemetry, &store).await;

    let attempts: Vec<_> = snapshot.spans.iter().filter(|s| s.name == "GET").collect();
    assert_eq!(attempts.len(), 2, "{}", snapshot.tree());
    let (first, second) = (attempts[0], attempts[1]);
    assert_eq!(str_attr(first, "error.type"), Some("503"));
    assert!(first.attribute("http.request.resend_count").is_none());
    assert!(second.attribute("error.type").is_none());
    assert_eq!(
        second.attribute("http.request.resend_count"),
        Some(&Value::I64(1))
    );
    let caller_id = ctx.span_context().span_id();
    assert_eq!(first.parent_span_id, Some(caller_id));
    assert_eq!(second.parent_span_id, Some(caller_id));
    // Each attempt told the server its own span.
    let sent: Vec<_> = server
        .received()
        .iter()
        .map(|r| traceparent_of(r).unwrap().span_id())
        .collect();
    assert_eq!(sent, [first.context.span_id(), second.context.span_id()]);
    assert_eq!(snapshot.points(REQUEST_DURATION_METRIC).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_duration_histogram_has_its_attributes_unit_boundaries_and_exemplar() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    client(&telemetry)
        .get(server.url("/users/42?id=1"))
        .send()
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    let points = snapshot.points(REQUEST_DURATION_METRIC);
    assert_eq!(points.len(), 1);
    let point = points[0];
    let instrument = &point.instrument;
    assert_eq!(instrument.kind, InstrumentKind::Histogram);
    assert_eq!(instrument.unit, "s");
    assert_eq!(instrument.scope, "hyperion-reqwest");
    assert!(!instrument.description.is_empty());
    assert_eq!(
        instrument.boundaries.as_deref(),
        Some(
            &[
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
            ][..]
        )
    );
    assert_eq!(
        instrument.boundaries.as_deref(),
        Some(&DURATION_BOUNDARIES[..])
    );
    let port = server.port.to_string();
    assert_eq!(
        texts(&point.attributes),
        expected(&[
            ("http.request.method", "GET"),
            ("server.address", "127.0.0.1"),
            ("server.port", &port),
            ("url.scheme", "http"),
            ("http.response.status_code", "200"),
            ("network.protocol.version", "1.1"),
        ])
    );
    let seconds = point.value.as_f64();
    assert!(seconds > 0.0 && seconds < 5.0, "{seconds}");
    assert_eq!(
        point.exemplar.as_ref(),
        Some(&client_span(&snapshot).context)
    );
    assert!(snapshot.points(OLD_DURATION_METRIC).is_empty());
}

#[tokio::test]
async fn http_dup_adds_the_old_keys_and_histogram() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let client = ClientBuilder::new(reqwest_client())
        .with(RetryUnavailable)
        .with(HttpClientMiddleware::new(&telemetry).semconv_dup(true))
        .build();
    client.get(server.url("/flaky")).send().await.unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    let spans: Vec<_> = snapshot.spans.iter().collect();
    assert_eq!(spans.len(), 2);
    let span = spans[1];
    let port = server.port.to_string();
    assert_eq!(
        texts(&span.attributes),
        expected(&[
            ("http.request.method", "GET"),
            ("server.address", "127.0.0.1"),
            ("server.port", &port),
            ("url.full", &server.url("/flaky")),
            ("url.scheme", "http"),
            ("http.response.status_code", "200"),
            ("network.protocol.version", "1.1"),
            ("http.request.resend_count", "1"),
            ("http.method", "GET"),
            ("http.url", &server.url("/flaky")),
            ("http.status_code", "200"),
            ("net.peer.name", "127.0.0.1"),
            ("net.peer.port", &port),
            ("http.resend_count", "1"),
        ])
    );

    let new = snapshot.points(REQUEST_DURATION_METRIC);
    let old = snapshot.points(OLD_DURATION_METRIC);
    assert_eq!((new.len(), old.len()), (2, 2));
    let (new, old) = (new[1], old[1]);
    assert_eq!(old.instrument.unit, "ms");
    assert!((old.value.as_f64() - new.value.as_f64() * 1000.0).abs() < 1e-6);
    assert_eq!(old.exemplar, new.exemplar);
    assert_eq!(
        texts(&old.attributes),
        expected(&[
            ("http.method", "GET"),
            ("http.status_code", "200"),
            ("net.peer.name", "127.0.0.1"),
            ("net.peer.port", &port),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// The parent without `.context`, and the no-op path
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_context_the_bridges_current_span_is_the_parent() {
    let server = Server::start().await;
    let (telemetry, store) = memory().await;
    let client = client(&telemetry);
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let ctx = ctx.with_baggage(Baggage::EMPTY.with("tenant", "acme"));
    ctx.scope(async { client.get(server.url("/in-scope")).send().await })
        .await
        .unwrap();
    handler.end();
    // Outside any scope: a new trace.
    client.get(server.url("/outside")).send().await.unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    let in_scope = snapshot.root("handler").child("GET").span();
    assert_eq!(in_scope.context.trace_id(), ctx.span_context().trace_id());
    let received = server.received();
    let sent = traceparent_of(&received[0]).unwrap();
    assert_eq!(sent.trace_id(), ctx.span_context().trace_id());
    assert_eq!(sent.span_id(), in_scope.context.span_id());
    assert_eq!(
        header(&received[0], "baggage"),
        None,
        "the bridge carries no baggage"
    );

    let outside = snapshot
        .spans
        .iter()
        .find(|s| str_attr(s, "url.full") == Some(server.url("/outside").as_str()))
        .unwrap();
    assert!(outside.parent_span_id.is_none());
    assert_ne!(outside.context.trace_id(), ctx.span_context().trace_id());
}

/// The header names the server received, sorted.
fn header_names(received: &Received) -> Vec<String> {
    let mut names: Vec<_> = received.headers.keys().map(|k| k.to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn noop_telemetry_sends_requests_unchanged() {
    let server = Server::start().await;
    let plain = reqwest_client();
    plain
        .get(server.url("/"))
        .header("x-custom", "1")
        .send()
        .await
        .unwrap();
    let through_plain = server.last();

    let client = client(&Telemetry::noop());
    client
        .get(server.url("/"))
        .header("x-custom", "1")
        .send()
        .await
        .unwrap();
    let through_middleware = server.last();
    assert_eq!(
        header_names(&through_middleware),
        header_names(&through_plain)
    );
    assert!(!through_middleware.headers.contains_key("traceparent"));

    // A caller's context still propagates as it is: no span of the middleware's own.
    let ctx = Context::noop()
        .with_span_context(remote_parent(3, 4, "vendor=abc"))
        .with_baggage(Baggage::EMPTY.with("tenant", "acme"));
    client
        .get(server.url("/"))
        .context(&ctx)
        .send()
        .await
        .unwrap();
    let received = server.last();
    let sent = traceparent_of(&received).unwrap();
    assert_eq!(
        (sent.trace_id(), sent.span_id()),
        (TraceId::from_bytes([3; 16]), SpanId::from_bytes([4; 8]))
    );
    assert_eq!(header(&received, "tracestate"), Some("vendor=abc"));
    assert_eq!(header(&received, "baggage"), Some("tenant=acme"));
}

#[tokio::test]
async fn telemetry_with_tracing_and_metrics_off_records_nothing() {
    let server = Server::start().await;
    let (telemetry, store) =
        memory_with("tracing:\n  enabled: false\nmetrics:\n  enabled: false\n").await;
    client(&telemetry)
        .get(server.url("/"))
        .send()
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;
    assert!(snapshot.spans.is_empty() && snapshot.points.is_empty());
    assert!(!server.last().headers.contains_key("traceparent"));
}

#[tokio::test]
async fn metrics_without_tracing_still_measure_and_propagate_the_callers_trace() {
    let server = Server::start().await;
    let (telemetry, store) = memory_with("tracing:\n  enabled: false\n").await;
    let ctx = telemetry
        .context()
        .with_span_context(remote_parent(5, 6, "vendor=abc"));
    client(&telemetry)
        .get(server.url("/"))
        .context(&ctx)
        .send()
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;
    assert!(snapshot.spans.is_empty());
    let point = snapshot.points(REQUEST_DURATION_METRIC)[0];
    assert_eq!(point.exemplar.as_ref(), Some(ctx.span_context()));
    let sent = traceparent_of(&server.last()).unwrap();
    assert_eq!(sent.span_id(), SpanId::from_bytes([6; 8]));
}
