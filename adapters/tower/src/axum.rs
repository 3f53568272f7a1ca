//! axum support: the [`Ctx`] extractor and the route from `MatchedPath`.

use std::convert::Infallible;
use std::ops::Deref;

use axum::extract::{FromRequestParts, MatchedPath};
use http::request::Parts;
use hyperion::Context;

/// An axum extractor for the request's [`Context`], as [`HttpServerLayer`](crate::HttpServerLayer)
/// left it: the SERVER span of this request, the caller's baggage.
///
/// Without the layer it yields the no-op context (never a rejection: a handler must not fail
/// because telemetry is missing).
///
/// ```
/// use hyperion_tower::Ctx;
///
/// async fn handler(Ctx(ctx): Ctx) -> String {
///     ctx.log().info("handling", &[]);
///     ctx.span_context().trace_id().to_string()
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ctx(pub Context);

impl Deref for Ctx {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Ctx(crate::context_of(parts)))
    }
}

/// The route template axum matched (`/users/{id}`), present when the layer runs after routing
/// (`Router::layer` or `route_layer`).
pub(crate) fn matched_route(parts: &Parts) -> Option<&str> {
    parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
}
