//! # hyperion-reqwest
//!
//! HTTP client telemetry for the [`hyperion`] facade: [`HttpClientMiddleware`], a
//! [`reqwest-middleware`](reqwest_middleware) middleware that gives every request a CLIENT span,
//! records the `http.client.request.duration` histogram and sends `traceparent`, `tracestate` and
//! `baggage`, by the stable OpenTelemetry HTTP semantic conventions. It speaks the facade only, so
//! it works with any hyperion adapter (`otel`, `memory`, ...).
//!
//! ```no_run
//! use hyperion::Telemetry;
//! use hyperion_reqwest::{HttpClientMiddleware, RequestBuilderExt};
//!
//! # async fn run(telemetry: Telemetry) -> Result<(), Box<dyn std::error::Error>> {
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(HttpClientMiddleware::new(&telemetry).no_propagation_to(["api.partner.example"]))
//!     .build();
//!
//! let ctx = telemetry.context();
//! let response = client
//!     .get("http://users.internal/users/42")
//!     .url_template("/users/{id}") // span `GET /users/{id}`, attribute `url.template`
//!     .context(&ctx) // the span's parent, and the trace and baggage sent
//!     .send()
//!     .await?;
//! # drop(response);
//! # Ok(()) }
//! ```
//!
//! ## What is recorded
//!
//! Each attempt gets a CLIENT span named `{method}`, or `{method} {template}` with
//! [`url_template`](RequestBuilderExt::url_template) (`HTTP` for a method outside the nine
//! standard ones), started with `http.request.method` (`_OTHER` and
//! `http.request.method_original` for other methods), `server.address`, `server.port` (also when
//! it is the scheme's default), `url.full`, `url.scheme` and `url.template`; after the response
//! headers arrive it gets `http.response.status_code` and `network.protocol.version`.
//!
//! A 4xx or 5xx response sets `error.type` to the status code and the span status to error (both
//! are errors for a client). A transport error sets `error.type` to `timeout`, `connect`,
//! `redirect`, `body`, `decode` or `request` (else `_OTHER`) and records an `exception` event
//! whose message is reqwest's, with its causes and the URL redacted; an error of a middleware
//! further down the chain is `_OTHER`.
//!
//! `url.full` never holds credentials (`REDACTED:REDACTED@`) and by default no query value
//! (`?q=REDACTED`); see [`full_query`](HttpClientMiddleware::full_query).
//!
//! The histogram `http.client.request.duration` (seconds, the conventions' boundaries
//! [`DURATION_BOUNDARIES`]) has `http.request.method`, `server.address`, `server.port`,
//! `url.scheme`, `http.response.status_code`, `network.protocol.version`, `error.type` and
//! `url.template` as they apply. It is recorded with the CLIENT span's context before the span
//! ends, so the span is its exemplar.
//!
//! With `OTEL_SEMCONV_STABILITY_OPT_IN=http/dup` (or
//! [`semconv_dup(true)`](HttpClientMiddleware::semconv_dup)) the old keys are recorded too.
//!
//! Durations and spans end when the response headers arrive: reading the body is the caller's.
//! A request future dropped before it completes (a caller's own timeout) ends its span without a
//! status and records no duration.
//!
//! ## Retries
//!
//! Put a retry middleware (such as `reqwest-retry`) *before* this one:
//! `.with(retry).with(HttpClientMiddleware::new(&telemetry))`. Each attempt then gets its own
//! CLIENT span, and the second and later ones `http.request.resend_count`, as the conventions
//! ask. (Redirects that reqwest follows by itself happen inside one attempt and one span.)
//!
//! ## Which parent
//!
//! 1. The context given with [`RequestBuilderExt::context`]: its span is the parent and its
//!    trace state and baggage are sent. A context of another telemetry keeps its trace and
//!    baggage, and the span is recorded into the middleware's telemetry.
//! 2. Otherwise, the span the calling code runs under through the core's bridge
//!    ([`hyperion::context::with_current_span_context`]): set while an intercepted call, or a
//!    future wrapped with [`Context::scope`](hyperion::Context::scope), is polled. It is read
//!    when the middleware starts handling the request (the request future is polled by the
//!    caller's `.await`) and never held across an `.await`. The bridge carries a span context
//!    only, so **no baggage is sent in this fallback**: pass `.context(&ctx)` for baggage.
//! 3. Otherwise the span starts a new trace.
//!
//! ## Propagation
//!
//! The CLIENT span's context is injected, so the server's parent is the CLIENT span. Hosts given
//! to [`no_propagation_to`](HttpClientMiddleware::no_propagation_to), or refused by
//! [`propagate_to`](HttpClientMiddleware::propagate_to), get no propagation header at all; with
//! [`baggage_allow`](HttpClientMiddleware::baggage_allow) only those baggage keys are sent.
//!
//! ## Cost when nothing records
//!
//! With no-op telemetry (or tracing and metrics both off) the middleware builds no span, no
//! attribute and reads no clock: it only injects the caller's context (`.context(&ctx)`) or the
//! bridge's span, if there is one.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ext;
mod middleware;
mod propagation;
mod redact;
mod request;
mod semconv;

pub use ext::RequestBuilderExt;
pub use middleware::HttpClientMiddleware;
pub use semconv::{DURATION_BOUNDARIES, OLD_DURATION_METRIC, REQUEST_DURATION_METRIC};

/// The crate's README, whose example is compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
