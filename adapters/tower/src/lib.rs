//! HTTP server telemetry for the hyperion facade: one tower layer, first-class with axum.
//!
//! [`HttpServerLayer`] turns every request into a SERVER span (named by its route, parented to
//! the caller's W3C `traceparent`), the stable HTTP semantic-convention attributes, an
//! `http.server.request.duration` histogram whose exemplars are those spans, an
//! `http.server.active_requests` up-down counter, and a `traceresponse` header. Handlers get the request's
//! [`hyperion::Context`] from the [`Ctx`] extractor (axum) or the request's extensions (any
//! tower service, see [`context_of`]) and pass it on to their own calls, logs and metrics.
//!
//! The crate speaks the facade only: the same layer records through whatever adapter the
//! application's YAML picks (`otel`, `memory`, or nothing at all, where it only propagates the caller's context).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use hyperion::{Config, Telemetry};
//! use hyperion_tower::{Ctx, HttpServerLayer};
//!
//! async fn get_user(Ctx(ctx): Ctx) -> &'static str {
//!     ctx.log().info("found the user", &[]);
//!     "ada"
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder().config(Config::load("hyperion.yaml")?).build().await?;
//! let app = Router::new()
//!     .route("/users/{id}", get(get_user))
//!     .layer(HttpServerLayer::new(&telemetry));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! What it records follows the conventions to the letter; see [`HttpServerLayer`] for the
//! options (filter, span names, public endpoints, baggage, `traceresponse`, `url.query`,
//! `http/dup`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum;
mod body;
mod flight;
mod layer;
mod request;
mod semconv;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use crate::axum::Ctx;
pub use body::ResponseBody;
pub use layer::{
    DEFAULT_UNTRACED_PATHS, HttpServer, HttpServerLayer, ResponseFuture, TRACERESPONSE_HEADER,
};

use http::request::Parts;
use hyperion::Context;

/// The request's [`Context`], as [`HttpServerLayer`] stored it in the extensions (the no-op
/// context without the layer). For tower services that are not axum handlers.
///
/// ```
/// let (parts, _) = http::Request::new(()).into_parts();
/// let ctx = hyperion_tower::context_of(&parts);
/// assert!(!ctx.span_context().is_valid());
/// ```
pub fn context_of(parts: &Parts) -> Context {
    parts
        .extensions
        .get::<Context>()
        .cloned()
        .unwrap_or_default()
}

/// The crate's README, whose example is compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "axum")]
fn matched_route(parts: &Parts) -> Option<&str> {
    crate::axum::matched_route(parts)
}

#[cfg(not(feature = "axum"))]
fn matched_route(_: &Parts) -> Option<&str> {
    None
}
