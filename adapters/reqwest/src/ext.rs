//! What a caller attaches to a request for the middleware ([`RequestBuilderExt`]), and what the
//! middleware keeps in the request's extensions between attempts.

use std::borrow::Cow;

use http::Extensions;
use hyperion::Context;

/// The caller's context, as [`RequestBuilderExt::context`] stored it. A private type, so that no
/// other `Context` a caller or another middleware puts into the extensions is taken for it.
#[derive(Clone)]
pub(crate) struct CallerContext(pub(crate) Context);

/// The URL template [`RequestBuilderExt::url_template`] stored.
#[derive(Clone)]
pub(crate) struct UrlTemplate(pub(crate) Cow<'static, str>);

/// How many times the middleware has already seen this request. A retry middleware placed
/// before this one passes the same extensions to every attempt, so the count survives them.
#[derive(Clone, Copy)]
struct Attempts(u32);

/// Counts one more attempt and returns how many came before it: `http.request.resend_count`.
pub(crate) fn count_attempt(extensions: &mut Extensions) -> u32 {
    match extensions.get_mut::<Attempts>() {
        Some(attempts) => {
            let earlier = attempts.0;
            attempts.0 = earlier.saturating_add(1);
            earlier
        }
        None => {
            extensions.insert(Attempts(1));
            0
        }
    }
}

/// Telemetry options for one request built with `reqwest_middleware`.
///
/// ```no_run
/// use hyperion::Context;
/// use hyperion_reqwest::RequestBuilderExt;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
/// let ctx = Context::noop();
/// let request = client
///     .get("http://users.internal/users/42")
///     .url_template("/users/{id}")
///     .context(&ctx);
/// # drop(request);
/// ```
pub trait RequestBuilderExt {
    /// Makes `ctx` the parent of the request's CLIENT span and the source of the propagated
    /// trace and baggage. Without it the middleware falls back to the span the calling code runs
    /// under (see the crate documentation).
    #[must_use]
    fn context(self, ctx: &Context) -> Self;

    /// Names the request's route with a low-cardinality template such as `/users/{id}`: the span
    /// is named `{method} {template}` and the span and the duration histogram get `url.template`.
    #[must_use]
    fn url_template(self, template: impl Into<Cow<'static, str>>) -> Self;
}

impl RequestBuilderExt for reqwest_middleware::RequestBuilder {
    fn context(self, ctx: &Context) -> Self {
        self.with_extension(CallerContext(ctx.clone()))
    }

    fn url_template(self, template: impl Into<Cow<'static, str>>) -> Self {
        self.with_extension(UrlTemplate(template.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_count_from_zero() {
        let mut extensions = Extensions::new();
        assert_eq!(count_attempt(&mut extensions), 0);
        assert_eq!(count_attempt(&mut extensions), 1);
        assert_eq!(count_attempt(&mut extensions), 2);
    }
}
