//! [`HttpClientMiddleware`]: its options and what it does with every request.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use http::Extensions;
use hyperion::context::with_current_span_context;
use hyperion::{Baggage, Context, Histogram, Meter, Span, SpanOptions, Status, Telemetry, kv};
use reqwest::{Request, Response, Url};
use reqwest_middleware::{Middleware, Next, Result};

use crate::ext::{self, CallerContext, UrlTemplate};
use crate::propagation::PropagationPolicy;
use crate::redact;
use crate::request::{Outcome, Target, error_message};
use crate::semconv as sc;

/// A `reqwest-middleware` middleware that traces, measures and propagates every request by the
/// stable HTTP semantic conventions. See the [crate documentation](crate) for what it records.
///
/// ```no_run
/// use hyperion::Telemetry;
/// use hyperion_reqwest::HttpClientMiddleware;
///
/// let telemetry = Telemetry::noop();
/// let middleware = HttpClientMiddleware::new(&telemetry)
///     .no_propagation_to(["api.partner.example"])
///     .baggage_allow(["tenant"])
///     .full_query(false);
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(middleware)
///     .build();
/// # drop(client);
/// ```
pub struct HttpClientMiddleware {
    /// The telemetry's root context: what spans start under when the caller gives no parent.
    root: Context,
    /// Whether the telemetry traces (otherwise no span is started nor any attribute built).
    tracing: bool,
    meter: Meter,
    duration: Histogram,
    /// `http.client.duration` in milliseconds; the no-op histogram unless `dup`.
    old_duration: Histogram,
    /// Whether the old (v1.20) keys are recorded next to the stable ones.
    dup: bool,
    full_query: bool,
    propagation: PropagationPolicy,
}

impl HttpClientMiddleware {
    /// A middleware that records into `telemetry`: a CLIENT span per attempt, the
    /// `http.client.request.duration` histogram, and `traceparent`, `tracestate` and `baggage`
    /// on every request.
    ///
    /// Whether the old semantic-convention keys are recorded too is read here, once, from
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list containing `http/dup`); see
    /// [`semconv_dup`](Self::semconv_dup).
    pub fn new(telemetry: &Telemetry) -> Self {
        let meter = telemetry.meter(env!("CARGO_PKG_NAME"));
        let duration = meter
            .histogram(sc::REQUEST_DURATION_METRIC)
            .description("Duration of HTTP client requests.")
            .unit("s")
            .boundaries(sc::DURATION_BOUNDARIES)
            .build();
        let dup = hyperion::semconv::http::dup_from_env();
        HttpClientMiddleware {
            root: telemetry.context(),
            tracing: telemetry.tracer().is_some(),
            meter,
            duration,
            old_duration: Histogram::noop(),
            dup: false,
            full_query: false,
            propagation: PropagationPolicy::default(),
        }
        .semconv_dup(dup)
    }

    /// Sends propagation headers only to URLs `predicate` accepts (it may look at the scheme,
    /// the host, the port...). Hosts given to [`no_propagation_to`](Self::no_propagation_to)
    /// stay excluded. A second call replaces the predicate.
    ///
    /// ```
    /// # let telemetry = hyperion::Telemetry::noop();
    /// use hyperion_reqwest::HttpClientMiddleware;
    /// let middleware = HttpClientMiddleware::new(&telemetry)
    ///     .propagate_to(|url| url.host_str().is_some_and(|h| h.ends_with(".internal")));
    /// # drop(middleware);
    /// ```
    #[must_use]
    pub fn propagate_to(
        mut self,
        predicate: impl Fn(&Url) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.propagation.set_predicate(Arc::new(predicate));
        self
    }

    /// Never sends `traceparent`, `tracestate` or `baggage` to these hosts (exact host names or
    /// IP addresses, compared without regard to ASCII case; IPv6 without brackets), so that
    /// trace ids and baggage do not leak to third parties. The requests are still traced and
    /// measured. Calls add up.
    #[must_use]
    pub fn no_propagation_to<I>(mut self, hosts: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.propagation
            .exclude_hosts(hosts.into_iter().map(Into::into));
        self
    }

    /// Sends only these baggage keys (other members are dropped from the `baggage` header; the
    /// caller's context is unchanged). Without a call every member is sent. Calls add up.
    #[must_use]
    pub fn baggage_allow<I>(mut self, keys: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.propagation
            .allow_baggage(keys.into_iter().map(Into::into));
        self
    }

    /// How much of the query string `url.full` keeps. `false` (the default): every value is
    /// replaced by `REDACTED`, keys kept. `true`: only the values the semantic conventions call
    /// sensitive (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`) are. Credentials in
    /// the URL always become `REDACTED:REDACTED@`.
    #[must_use]
    pub fn full_query(mut self, full: bool) -> Self {
        self.full_query = full;
        self
    }

    /// Also records the old (v1.20) keys — `http.method`, `http.url`, `http.status_code`,
    /// `net.peer.name`, `net.peer.port`, `http.resend_count` on the span, and the
    /// `http.client.duration` histogram in milliseconds — for dashboards that still use them.
    /// The default comes from `OTEL_SEMCONV_STABILITY_OPT_IN` containing `http/dup`.
    #[must_use]
    pub fn semconv_dup(mut self, dup: bool) -> Self {
        self.dup = dup;
        self.old_duration = if dup {
            self.meter
                .histogram(sc::OLD_DURATION_METRIC)
                .description("Measures the duration of outbound HTTP requests.")
                .unit("ms")
                .boundaries(sc::OLD_DURATION_BOUNDARIES)
                .build()
        } else {
            Histogram::noop()
        };
        self
    }

    /// Whether anything is recorded at all; if not, requests only get propagation headers.
    fn records(&self) -> bool {
        self.tracing || self.duration.is_enabled()
    }

    /// The parent of the request's span, in this middleware's telemetry: the caller's context if
    /// it gave one, else the span the calling code runs under (the core's bridge; trace only, no
    /// baggage), else none.
    fn parent(&self, extensions: &Extensions) -> Context {
        match extensions.get::<CallerContext>() {
            Some(CallerContext(ctx)) if ctx.same_telemetry(&self.root) => ctx.clone(),
            // A context of another telemetry (or none): keep its trace and baggage, record here.
            Some(CallerContext(ctx)) => self
                .root
                .with_span_context(ctx.span_context().clone())
                .with_baggage(ctx.baggage().clone()),
            // Read now, synchronously: the bridge is only set while the caller's future is polled.
            None => with_current_span_context(|current| {
                if current.is_valid() {
                    self.root.with_span_context(current.clone())
                } else {
                    self.root.clone()
                }
            }),
        }
    }

    /// Writes `ctx`'s trace context and allowed baggage into the request, unless its host is
    /// excluded.
    fn inject(&self, ctx: &Context, request: &mut Request) {
        self.inject_parts(
            ctx.span_context(),
            ctx.baggage(),
            ctx.is_b3_debug(),
            request,
        );
    }

    /// Writes with the middleware's telemetry's propagators (`OTEL_PROPAGATORS`).
    fn inject_parts(
        &self,
        span: &hyperion::SpanContext,
        baggage: &Baggage,
        b3_debug: bool,
        request: &mut Request,
    ) {
        if self.propagation.propagates_to(request.url()) {
            self.propagation.inject(
                self.root.propagators(),
                span,
                baggage,
                b3_debug,
                request.headers_mut(),
            );
        }
    }

    /// The path with nothing to record: propagate the caller's context (or the bridge's span)
    /// without building a span, an attribute or reading the clock.
    async fn propagate_only(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        match extensions.get::<CallerContext>() {
            Some(CallerContext(ctx)) => self.inject(ctx, &mut request),
            None => with_current_span_context(|current| {
                self.inject_parts(current, &Baggage::EMPTY, false, &mut request);
            }),
        }
        next.run(request, extensions).await
    }

    /// Sets the outcome's attributes and status on the span (and records the error).
    fn finish_span(&self, span: &mut Span, outcome: &Outcome, result: &mut Result<Response>) {
        if !span.is_recording() {
            return;
        }
        let mut attributes = Vec::with_capacity(4);
        outcome.push_attributes(&mut attributes);
        if self.dup {
            if let Outcome::Response { status, .. } = outcome {
                attributes.push(kv(sc::OLD_HTTP_STATUS_CODE, status.as_u16()));
            }
        }
        span.set_attributes(&attributes);
        match result {
            Ok(_) if outcome.error_type().is_some() => span.set_status(Status::error("")),
            Ok(_) => {}
            Err(reqwest_middleware::Error::Reqwest(error)) => {
                let message = error_message(error, self.full_query);
                span.record_exception(std::any::type_name::<reqwest::Error>(), &message);
            }
            Err(error @ reqwest_middleware::Error::Middleware(_)) => {
                // `{:#}` prints an anyhow error with its causes.
                let message = format!("{error:#}");
                span.record_exception(std::any::type_name::<reqwest_middleware::Error>(), &message);
            }
        }
    }

    /// Records the duration histograms with the CLIENT span's context, so that the span is the
    /// exemplar.
    fn record_duration(&self, ctx: &Context, target: &Target, outcome: &Outcome, seconds: f64) {
        self.duration
            .record(ctx, seconds, &target.metric_attributes(outcome));
        if self.old_duration.is_enabled() {
            self.old_duration.record(
                ctx,
                seconds * 1000.0,
                &target.old_metric_attributes(outcome),
            );
        }
    }
}

#[async_trait::async_trait]
impl Middleware for HttpClientMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        if !self.records() {
            return self.propagate_only(request, extensions, next).await;
        }
        // Everything the span and the histogram need is read before the request moves on.
        let resend_count = ext::count_attempt(extensions);
        let parent = self.parent(extensions);
        let template = extensions.get::<UrlTemplate>().map(|t| t.0.clone());
        let target = Target::new(request.method(), request.url(), template);

        let (ctx, mut span) = if self.tracing {
            let url_full = redact::redacted_url(request.url(), self.full_query);
            let attributes = target.span_attributes(url_full.as_str(), self.dup);
            parent.start_span(
                target.span_name(),
                SpanOptions::client().attributes(&attributes),
            )
        } else {
            (parent, Span::noop())
        };
        if resend_count > 0 {
            span.set_attribute(kv(sc::HTTP_REQUEST_RESEND_COUNT, resend_count));
            if self.dup {
                span.set_attribute(kv(sc::OLD_HTTP_RESEND_COUNT, resend_count));
            }
        }
        self.inject(&ctx, &mut request);

        let started = Instant::now();
        // The span is the thread's current one while the rest of the chain is polled, for
        // bridges (a `tracing` event from an inner middleware or from hyper).
        let mut result = ctx.scope(next.run(request, extensions)).await;
        let seconds = started.elapsed().as_secs_f64();

        let outcome = Outcome::of(&result);
        self.finish_span(&mut span, &outcome, &mut result);
        self.record_duration(&ctx, &target, &outcome, seconds);
        span.end();
        result
    }
}

impl fmt::Debug for HttpClientMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientMiddleware")
            .field("tracing", &self.tracing)
            .field("metrics", &self.duration.is_enabled())
            .field("semconv_dup", &self.dup)
            .field("full_query", &self.full_query)
            .field("propagation", &self.propagation)
            .finish()
    }
}
