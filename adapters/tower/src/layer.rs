//! [`HttpServerLayer`] and the service it wraps around an application's: what happens when a
//! request comes in, and what the response future does when it is ready.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use hyperion::{
    Baggage, Context, Histogram, KeyValue, Link, Scoped, SpanContext, SpanOptions, Telemetry,
    UpDownCounter, Value, kv,
};

use crate::body::ResponseBody;
use crate::flight::InFlight;
use crate::request;
use crate::semconv;

/// The W3C Trace Context Level 2 response header that carries the server span's ids.
pub const TRACERESPONSE_HEADER: &str = "traceresponse";

/// Paths the layer does not trace unless told to (health checks and metric scrapes: frequent,
/// uninteresting, and they would drown the traces that matter).
pub const DEFAULT_UNTRACED_PATHS: &[&str] = &[
    "/health", "/healthz", "/ready", "/readyz", "/live", "/livez", "/metrics",
];

type Filter = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;
type Namer = Arc<dyn Fn(&Parts) -> String + Send + Sync>;

/// What every clone of the layer and its services shares.
#[derive(Clone)]
pub(crate) struct Shared {
    telemetry: Telemetry,
    tracing_on: bool,
    /// Whether anything records: spans or the layer's metrics.
    recording: bool,
    pub(crate) duration: Histogram,
    pub(crate) old_duration: Histogram,
    pub(crate) active: UpDownCounter,
    pub(crate) dup: bool,
    filter: Option<Filter>,
    namer: Option<Namer>,
    public: bool,
    trust_baggage: Option<bool>,
    trace_response: bool,
    record_query: bool,
}

impl Shared {
    /// The caller's context from the headers, with its baggage only if it is trusted.
    fn extract(&self, parts: &Parts) -> Context {
        let ctx = self.telemetry.extract(&parts.headers);
        if self.trust_baggage.unwrap_or(!self.public) || ctx.baggage().is_empty() {
            ctx
        } else {
            ctx.with_baggage(Baggage::default())
        }
    }
}

/// A tower [`Layer`](tower_layer::Layer) that traces, measures and propagates every HTTP request
/// of the service it wraps.
///
/// For each request it extracts the W3C `traceparent`, `tracestate` and `baggage` headers, starts
/// a SERVER span named `{method} {route}` with the stable HTTP semantic-convention attributes,
/// puts the request's [`Context`] into the request's extensions (axum handlers take it with
/// [`Ctx`](crate::Ctx)), records `http.server.request.duration` (seconds, the advised buckets,
/// with the span as exemplar) and `http.server.active_requests`, and answers with a
/// `traceresponse` header. The span ends when the response body has been sent; a client that
/// disconnects first ends it with `error.type = aborted`, and a handler that panics is answered
/// with a 500 and recorded as an error.
///
/// With axum, add it with [`Router::layer`](https://docs.rs/axum/0.8/axum/struct.Router.html#method.layer),
/// which runs it after routing, so the span is named by the matched route (`GET /users/{id}`),
/// never by the raw path.
///
/// ```
/// use axum::{Router, routing::get};
/// use hyperion::Telemetry;
/// use hyperion_tower::{Ctx, HttpServerLayer};
///
/// async fn user(Ctx(ctx): Ctx) -> &'static str {
///     ctx.log().info("looking the user up", &[]);
///     "ada"
/// }
///
/// let telemetry = Telemetry::noop();
/// let app: Router = Router::new()
///     .route("/users/{id}", get(user))
///     .layer(HttpServerLayer::new(&telemetry));
/// ```
#[derive(Clone)]
pub struct HttpServerLayer {
    shared: Arc<Shared>,
}

impl HttpServerLayer {
    /// A layer recording into `telemetry`, with the defaults: health checks and `/metrics`
    /// ([`DEFAULT_UNTRACED_PATHS`]) not traced, incoming baggage trusted, `traceresponse` sent,
    /// no `url.query`, and the old attribute keys only if `OTEL_SEMCONV_STABILITY_OPT_IN`
    /// contains `http/dup`.
    pub fn new(telemetry: &Telemetry) -> Self {
        let meter = telemetry.meter("hyperion-tower");
        let duration = meter
            .histogram(semconv::SERVER_DURATION)
            .description("Duration of HTTP server requests.")
            .unit("s")
            .boundaries(semconv::DURATION_BUCKETS)
            .build();
        let active = meter
            .up_down_counter(semconv::SERVER_ACTIVE)
            .description("Number of active HTTP server requests.")
            .unit("{request}")
            .build();
        let dup = hyperion::semconv::http::dup_from_env();
        let tracing_on = telemetry.tracer().is_some();
        let shared = Shared {
            telemetry: telemetry.clone(),
            tracing_on,
            recording: tracing_on || duration.is_enabled() || active.is_enabled(),
            duration,
            old_duration: Histogram::noop(),
            active,
            dup: false,
            filter: Some(Arc::new(|parts: &Parts| {
                !DEFAULT_UNTRACED_PATHS.contains(&parts.uri.path())
            })),
            namer: None,
            public: false,
            trust_baggage: None,
            trace_response: true,
            record_query: false,
        };
        HttpServerLayer {
            shared: Arc::new(shared),
        }
        .semconv_dup(dup)
    }

    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Traces only the requests for which `filter` returns `true` (replacing the default filter
    /// of health checks and `/metrics`). Requests filtered out still get their extracted
    /// [`Context`], so they propagate, but record no span and no metric.
    ///
    /// ```
    /// # let telemetry = hyperion::Telemetry::noop();
    /// let layer = hyperion_tower::HttpServerLayer::new(&telemetry)
    ///     .filter(|req| !req.uri.path().starts_with("/internal/"));
    /// ```
    pub fn filter(mut self, filter: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.shared_mut().filter = Some(Arc::new(filter));
        self
    }

    /// Traces every request, health checks and `/metrics` included.
    pub fn trace_all(mut self) -> Self {
        self.shared_mut().filter = None;
        self
    }

    /// Names spans with `namer` instead of `{method} {route}`. It sees the request head, whose
    /// extensions hold axum's `MatchedPath` when the layer runs after routing. Keep names low in
    /// cardinality: never put ids or raw paths in them.
    ///
    /// ```
    /// # let telemetry = hyperion::Telemetry::noop();
    /// let layer = hyperion_tower::HttpServerLayer::new(&telemetry)
    ///     .span_name(|req| format!("api {}", req.method));
    /// ```
    pub fn span_name(mut self, namer: impl Fn(&Parts) -> String + Send + Sync + 'static) -> Self {
        self.shared_mut().namer = Some(Arc::new(namer));
        self
    }

    /// Public-endpoint mode, for a trust boundary: an incoming trace context does not become the
    /// parent; each request starts a new trace whose SERVER span *links* to the caller's span.
    /// Incoming baggage is then dropped unless [`trust_baggage`](Self::trust_baggage) says
    /// otherwise.
    pub fn public_endpoint(mut self, public: bool) -> Self {
        self.shared_mut().public = public;
        self
    }

    /// Whether to keep the caller's `baggage` (default: yes, except in public-endpoint mode).
    pub fn trust_baggage(mut self, trust: bool) -> Self {
        self.shared_mut().trust_baggage = Some(trust);
        self
    }

    /// Whether responses carry the W3C `traceresponse` header with the server span's ids
    /// (default: yes).
    pub fn trace_response(mut self, on: bool) -> Self {
        self.shared_mut().trace_response = on;
        self
    }

    /// Records `url.query` (opt-in in the conventions; off by default), with the values of the
    /// sensitive keys the conventions name (`AWSAccessKeyId`, `Signature`, `sig`,
    /// `X-Goog-Signature`) replaced by `REDACTED`.
    pub fn record_query(mut self, on: bool) -> Self {
        self.shared_mut().record_query = on;
        self
    }

    /// Also emits the pre-stable attribute keys (`http.method`, `http.status_code`,
    /// `http.target`, …) and the `http.server.duration` histogram in milliseconds, for
    /// dashboards built on them: the conventions' `http/dup` migration mode. Default: whether
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` contains `http/dup` when the layer is made.
    pub fn semconv_dup(mut self, dup: bool) -> Self {
        let telemetry = self.shared.telemetry.clone();
        let shared = self.shared_mut();
        shared.dup = dup;
        shared.old_duration = if dup {
            telemetry
                .meter("hyperion-tower")
                .histogram(semconv::OLD_SERVER_DURATION)
                .description("Duration of HTTP server requests (pre-stable conventions).")
                .unit("ms")
                .boundaries(semconv::OLD_DURATION_BUCKETS_MS)
                .build()
        } else {
            Histogram::noop()
        };
        self
    }
}

impl fmt::Debug for HttpServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("HttpServerLayer")
            .field("filtered", &s.filter.is_some())
            .field("custom_names", &s.namer.is_some())
            .field("public_endpoint", &s.public)
            .field("trust_baggage", &s.trust_baggage)
            .field("trace_response", &s.trace_response)
            .field("record_query", &s.record_query)
            .field("semconv_dup", &s.dup)
            .finish()
    }
}

impl<S> tower_layer::Layer<S> for HttpServerLayer {
    type Service = HttpServer<S>;

    fn layer(&self, inner: S) -> HttpServer<S> {
        HttpServer {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`HttpServerLayer`] wraps around an application's service.
#[derive(Clone)]
pub struct HttpServer<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for HttpServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for HttpServer<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    ResBody: Body,
    ResBody::Error: fmt::Display,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let (mut parts, body) = request.into_parts();
        let incoming = shared.extract(&parts);
        // Nothing records (noop telemetry) or the request is filtered out: propagate only.
        if !shared.recording || !shared.filter.as_ref().is_none_or(|traced| traced(&parts)) {
            // An empty context is what `Ctx` and `context_of` give without one: skip the
            // extension's allocation.
            if incoming.span_context().is_valid() || !incoming.baggage().is_empty() {
                parts.extensions.insert(incoming.clone());
            }
            let future = self.inner.call(Request::from_parts(parts, body));
            return ResponseFuture::new(incoming.scope(future), None, None, false);
        }

        let start = Instant::now();
        let known = semconv::known_method(&parts.method);
        let method = known.unwrap_or(semconv::OTHER);
        let scheme = request::scheme(&parts);
        let version = semconv::protocol_version(parts.version);
        let route: Option<Box<str>> = crate::matched_route(&parts).map(Box::from);
        let route_ref = route.as_deref();
        let (ctx, span) = if shared.tracing_on {
            let name = match &shared.namer {
                Some(namer) => Cow::Owned(namer(&parts)),
                None => default_name(known, route_ref),
            };
            let mut attrs = Vec::with_capacity(16);
            start_attributes(
                shared, &parts, method, scheme, version, route_ref, &mut attrs,
            );
            let remote = incoming.span_context();
            if shared.public && remote.is_valid() {
                let links = [Link {
                    context: remote.clone(),
                    attributes: &[],
                }];
                let options = SpanOptions::server()
                    .attributes(&attrs)
                    .links(&links)
                    .new_root();
                incoming.start_span(name, options)
            } else {
                incoming.start_span(name, SpanOptions::server().attributes(&attrs))
            }
        } else {
            (incoming, hyperion::Span::noop())
        };
        shared.active.add(
            &ctx,
            1,
            &[
                KeyValue::from_static(semconv::METHOD, method),
                KeyValue::from_static(semconv::URL_SCHEME, scheme),
            ],
        );
        let trace_response = shared
            .trace_response
            .then(|| traceresponse(span.span_context()))
            .flatten();
        let bodiless = parts.method == Method::HEAD;
        parts.extensions.insert(ctx.clone());
        let flight = InFlight::new(
            ctx.clone(),
            span,
            start,
            shared.clone(),
            method,
            scheme,
            version,
            route,
        );
        let future = self.inner.call(Request::from_parts(parts, body));
        ResponseFuture::new(ctx.scope(future), Some(flight), trace_response, bodiless)
    }
}

/// `{method} {route}`, `{method}` without a route, `HTTP …` for a method outside the standard
/// set (the conventions' span name rule).
fn default_name(method: Option<&'static str>, route: Option<&str>) -> Cow<'static, str> {
    let method = method.unwrap_or("HTTP");
    match route {
        Some(route) => Cow::Owned(format!("{method} {route}")),
        None => Cow::Borrowed(method),
    }
}

fn start_attributes<'a>(
    shared: &Shared,
    parts: &'a Parts,
    method: &'static str,
    scheme: &'static str,
    version: &'static str,
    route: Option<&'a str>,
    attrs: &mut Vec<KeyValue<'a>>,
) {
    attrs.push(KeyValue::from_static(semconv::METHOD, method));
    if method == semconv::OTHER {
        attrs.push(kv(semconv::METHOD_ORIGINAL, parts.method.as_str()));
    }
    attrs.push(kv(semconv::URL_PATH, parts.uri.path()));
    attrs.push(KeyValue::from_static(semconv::URL_SCHEME, scheme));
    let query = parts
        .uri
        .query()
        .filter(|_| shared.record_query)
        .map(request::redact_query);
    if let Some(query) = &query {
        attrs.push(kv(semconv::URL_QUERY, query.clone()));
    }
    if let Some(route) = route {
        attrs.push(kv(semconv::ROUTE, route));
    }
    let server = request::server_address(parts);
    if let Some((host, port)) = server {
        attrs.push(kv(semconv::SERVER_ADDRESS, host));
        if let Some(port) = port {
            attrs.push(kv(semconv::SERVER_PORT, port));
        }
    }
    attrs.push(KeyValue::from_static(semconv::PROTOCOL_VERSION, version));
    let agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    if let Some(agent) = agent {
        attrs.push(kv(semconv::USER_AGENT, agent));
    }
    let peer = peer_address(parts);
    let forwarded = request::forwarded_client(&parts.headers);
    let peer_ip: Option<Value<'a>> = peer.map(|peer| Value::from(peer.ip().to_string()));
    let client: Option<Value<'a>> = match forwarded {
        Some(client) => Some(client.into()),
        None => peer_ip.clone(),
    };
    if let Some(client) = &client {
        attrs.push(kv(semconv::CLIENT_ADDRESS, client.clone()));
    }
    if let (Some(peer), Some(ip)) = (peer, &peer_ip) {
        attrs.push(kv(semconv::PEER_ADDRESS, ip.clone()));
        attrs.push(kv(semconv::PEER_PORT, peer.port()));
    }
    if shared.dup {
        attrs.push(kv(semconv::old::METHOD, parts.method.as_str()));
        attrs.push(KeyValue::from_static(semconv::old::SCHEME, scheme));
        let target = match &query {
            Some(query) => format!("{}?{query}", parts.uri.path()),
            None => parts.uri.path().to_owned(),
        };
        attrs.push(kv(semconv::old::TARGET, target));
        attrs.push(KeyValue::from_static(
            semconv::old::FLAVOR,
            semconv::old_flavor(version),
        ));
        if let Some((host, port)) = server {
            attrs.push(kv(semconv::old::HOST_NAME, host));
            if let Some(port) = port {
                attrs.push(kv(semconv::old::HOST_PORT, port));
            }
        }
        if let Some(agent) = agent {
            attrs.push(kv(semconv::old::USER_AGENT, agent));
        }
        if let Some(client) = client {
            attrs.push(kv(semconv::old::CLIENT_IP, client));
        }
        if let Some(ip) = peer_ip {
            attrs.push(kv(semconv::old::SOCK_PEER_ADDR, ip));
        }
    }
}

/// The peer's socket address, when the server recorded it: axum's `ConnectInfo<SocketAddr>`
/// (from `into_make_service_with_connect_info`) or a plain `SocketAddr` extension.
fn peer_address(parts: &Parts) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    parts.extensions.get::<SocketAddr>().copied()
}

/// `00-{trace-id}-{span-id}-{flags}`: W3C Trace Context Level 2's `traceresponse`.
fn traceresponse(span: &SpanContext) -> Option<HeaderValue> {
    if !span.is_valid() {
        return None;
    }
    let value = format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8()
    );
    HeaderValue::from_str(&value).ok()
}

pin_project_lite::pin_project! {
    /// The future of [`HttpServer`]: the application's future, polled with the request's span
    /// current, and turned into a 500 if it panics. (Fields drop in declaration order: the
    /// application's future before the request it belongs to.)
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Scoped<F>,
        flight: Option<InFlight>,
        trace_response: Option<HeaderValue>,
        bodiless: bool,
    }
}

impl<F> ResponseFuture<F> {
    fn new(
        inner: Scoped<F>,
        flight: Option<InFlight>,
        trace_response: Option<HeaderValue>,
        bodiless: bool,
    ) -> Self {
        ResponseFuture {
            inner,
            flight,
            trace_response,
            bodiless,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    E: fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)));
        let mut response = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(response))) => {
                let status = response.status();
                if let Some(flight) = this.flight.as_mut() {
                    flight.response(status.as_u16());
                }
                let bodiless = *this.bodiless
                    || status.is_informational()
                    || status == StatusCode::NO_CONTENT
                    || status == StatusCode::NOT_MODIFIED;
                let length = response
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                response.map(|body| ResponseBody::new(body, this.flight.take(), bodiless, length))
            }
            Ok(Poll::Ready(Err(error))) => {
                if let Some(mut flight) = this.flight.take() {
                    flight.service_error(error_class::<E>(), &error);
                }
                return Poll::Ready(Err(error));
            }
            Err(panic) => {
                let message = panic_message(&*panic);
                if let Some(flight) = this.flight.as_mut() {
                    flight.panicked(message);
                }
                let mut response = Response::new(ResponseBody::empty(this.flight.take()));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        };
        if let Some(value) = this.trace_response.take() {
            response.headers_mut().insert(TRACERESPONSE_HEADER, value);
        }
        Poll::Ready(Ok(response))
    }
}

/// `error.type` for a service's error: its type's name, or `_OTHER` for a boxed `dyn Error`,
/// whose name says nothing.
fn error_class<E>() -> &'static str {
    // `type_name` is the type's path (its form is not guaranteed); generic parameters are cut
    // so that one error type gives one value.
    let name = std::any::type_name::<E>();
    if name.contains("dyn ") {
        semconv::OTHER
    } else {
        name.split('<').next().unwrap_or(name)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic with a non-string payload")
}
