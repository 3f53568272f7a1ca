//! What every traced handle of one connection shares ([`Shared`]: the telemetry's root context,
//! the histograms, the server's address, the inbox prefixes), how a subject is described
//! ([`Destination`]), and one operation in flight ([`Op`]: its span, clock and metric
//! attributes, finished exactly once — by the caller, or in `Drop` when the future is dropped
//! or the handler panics).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_nats::{Client, HeaderMap};
use hyperion::context::with_current_span_context;
use hyperion::{
    Baggage, Context, Histogram, KeyValue, Link, PropagationLimits, Span, SpanContext, SpanOptions,
    Status, Telemetry, kv,
};

use crate::carrier::{HeaderExtractor, HeaderInjector};
use crate::semconv::{self as sc, Metric, Operation};

/// A subject prefix whose subjects are temporary reply inboxes, and their template.
#[derive(Clone, Debug)]
pub(crate) struct Inbox {
    /// The prefix with its trailing dot: `_INBOX.`.
    prefix: Box<str>,
    /// `_INBOX.*`.
    template: Box<str>,
}

impl Inbox {
    pub(crate) fn new(prefix: &str) -> Inbox {
        let prefix = prefix.trim_end_matches('.');
        Inbox {
            prefix: format!("{prefix}.").into_boxed_str(),
            template: format!("{prefix}.*").into_boxed_str(),
        }
    }
}

/// The broker's address as the spans and metrics report it.
#[derive(Clone, Debug)]
pub(crate) struct ServerAddress {
    pub(crate) host: Box<str>,
    pub(crate) port: u16,
}

impl ServerAddress {
    /// The address a connected client's server announced, unless it is a wildcard (a server
    /// listening on every interface announces `0.0.0.0`, which names no host).
    fn announced(client: &Client) -> Option<ServerAddress> {
        let info = client.try_server_info()?;
        let host = info.host.trim();
        let unspecified = host.is_empty()
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified());
        (!unspecified && info.port != 0).then(|| ServerAddress {
            host: host.into(),
            port: info.port,
        })
    }
}

/// What every traced handle of one connection shares.
#[derive(Clone)]
pub(crate) struct Shared {
    /// The telemetry's root context: where spans are recorded.
    pub(crate) root: Context,
    /// Whether the telemetry traces (otherwise no span is started and no span attribute built).
    pub(crate) tracing: bool,
    pub(crate) operation_duration: Histogram,
    pub(crate) process_duration: Histogram,
    pub(crate) limits: PropagationLimits,
    pub(crate) server: Option<ServerAddress>,
    pub(crate) inboxes: Vec<Inbox>,
}

impl Shared {
    pub(crate) fn new(client: &Client, telemetry: &Telemetry) -> Shared {
        let meter = telemetry.meter(env!("CARGO_PKG_NAME"));
        let operation_duration = meter
            .histogram(sc::OPERATION_DURATION_METRIC)
            .description(
                "Duration of messaging operation initiated by a producer or consumer client.",
            )
            .unit("s")
            .boundaries(sc::DURATION_BOUNDARIES)
            .build();
        let process_duration = meter
            .histogram(sc::PROCESS_DURATION_METRIC)
            .description("Duration of processing operation.")
            .unit("s")
            .boundaries(sc::DURATION_BOUNDARIES)
            .build();
        // JetStream's ack subjects are reply subjects too (`$JS.ACK.<stream>.<consumer>...`).
        let mut inboxes = vec![Inbox::new("_INBOX"), Inbox::new("$JS.ACK")];
        // The client's own prefix (`ConnectOptions::custom_inbox_prefix`): what its inboxes
        // start with, everything before the last token of a fresh one.
        let sample = client.new_inbox();
        if let Some((prefix, _)) = sample.rsplit_once('.')
            && prefix != "_INBOX"
        {
            inboxes.push(Inbox::new(prefix));
        }
        Shared {
            root: telemetry.context(),
            tracing: telemetry.tracer().is_some(),
            operation_duration,
            process_duration,
            limits: telemetry.propagation_limits().clone(),
            server: ServerAddress::announced(client),
            inboxes,
        }
    }

    /// Whether operations of this histogram record anything at all (a span or a duration).
    #[inline]
    pub(crate) fn records(&self, metric: Metric) -> bool {
        self.tracing || self.histogram(metric).is_enabled()
    }

    fn histogram(&self, metric: Metric) -> &Histogram {
        match metric {
            Metric::Client => &self.operation_duration,
            Metric::Process => &self.process_duration,
        }
    }

    /// How a subject is described: an inbox is temporary, with the inbox template.
    pub(crate) fn destination<'a>(&'a self, subject: &'a str) -> Destination<'a> {
        // Longest prefix first: a custom prefix may start with `_INBOX.` itself.
        let mut best: Option<&Inbox> = None;
        for inbox in &self.inboxes {
            if subject.starts_with(&*inbox.prefix)
                && best.is_none_or(|b| inbox.prefix.len() > b.prefix.len())
            {
                best = Some(inbox);
            }
        }
        if let Some(inbox) = best {
            return Destination {
                name: Some(subject),
                template: Some(&inbox.template),
                temporary: true,
            };
        }
        Destination {
            name: Some(subject),
            template: None,
            temporary: false,
        }
    }

    /// The parent of a client operation (send, request, settle), in this telemetry: the
    /// caller's context if it holds a span; else the span the calling code runs under (the
    /// core's bridge, read now; trace only, the caller's baggage kept); else none (a new trace).
    /// A context of another telemetry keeps its span context and baggage.
    pub(crate) fn parent(&self, ctx: &Context) -> Context {
        let base = if ctx.same_telemetry(&self.root) {
            ctx.clone()
        } else if !ctx.span_context().is_valid() && ctx.baggage().is_empty() {
            self.root.clone()
        } else {
            self.root
                .with_span_context(ctx.span_context().clone())
                .with_baggage(ctx.baggage().clone())
        };
        if base.span_context().is_valid() {
            return base;
        }
        with_current_span_context(|current| {
            if current.is_valid() {
                base.with_span_context(current.clone())
            } else {
                base
            }
        })
    }

    /// The message's creation context: its `traceparent`, `tracestate` and `baggage` in this
    /// telemetry, or the root context when it carries none (or garbage).
    pub(crate) fn extract(&self, headers: Option<&HeaderMap>) -> Context {
        match headers {
            Some(headers) if !headers.is_empty() => self.root.extract(&HeaderExtractor(headers)),
            _ => self.root.clone(),
        }
    }

    /// The trace context of a message's headers alone (for links), if valid, read with the
    /// telemetry's propagators.
    pub(crate) fn creation_span(&self, headers: Option<&HeaderMap>) -> Option<SpanContext> {
        let headers = headers.filter(|h| !h.is_empty())?;
        let (span, _, _) = self
            .root
            .propagators()
            .extract(&HeaderExtractor(headers), &self.limits);
        span.is_valid().then_some(span)
    }

    /// Starts an operation: its span (if tracing) with the attributes known now, its clock and
    /// its metric attributes (if its histogram is on).
    pub(crate) fn start<'a>(
        self: &'a Arc<Self>,
        parent: &Context,
        start: &Start<'a>,
        links: &[Link<'_>],
    ) -> Op<'a> {
        let operation = start.operation;
        let (ctx, span) = if self.tracing {
            let attributes = self.span_attributes(start);
            let shown = start.destination.template.or(start.destination.name);
            parent.start_span(
                sc::span_name(operation, shown),
                SpanOptions::new()
                    .kind(operation.span_kind)
                    .attributes(&attributes)
                    .links(links),
            )
        } else {
            (parent.clone(), Span::noop())
        };
        let metric_attributes = if self.histogram(operation.metric).is_enabled() {
            self.metric_attributes(start)
        } else {
            Vec::new()
        };
        Op {
            shared: Arc::clone(self),
            ctx,
            span,
            started: Instant::now(),
            operation,
            metric_attributes,
            done: false,
            on_drop: OnDrop::Fail,
        }
    }

    fn server_attributes<'a>(&'a self, into: &mut Vec<KeyValue<'a>>) {
        if let Some(server) = &self.server {
            into.push(kv(sc::SERVER_ADDRESS, &*server.host));
            into.push(kv(sc::SERVER_PORT, server.port));
        }
    }

    fn span_attributes<'a>(&'a self, start: &Start<'a>) -> Vec<KeyValue<'a>> {
        let operation = start.operation;
        let destination = &start.destination;
        let mut attributes = Vec::with_capacity(13);
        attributes.push(KeyValue::from_static(sc::MESSAGING_SYSTEM, sc::NATS));
        attributes.push(KeyValue::from_static(sc::OPERATION_NAME, operation.name));
        attributes.push(KeyValue::from_static(
            sc::OPERATION_TYPE,
            operation.kind_type,
        ));
        if let Some(name) = destination.name {
            attributes.push(kv(sc::DESTINATION_NAME, name));
        }
        if let Some(template) = destination.template {
            attributes.push(kv(sc::DESTINATION_TEMPLATE, template));
        }
        if destination.temporary {
            attributes.push(kv(sc::DESTINATION_TEMPORARY, true));
        }
        if let Some(group) = start.group {
            attributes.push(kv(sc::CONSUMER_GROUP_NAME, group));
        }
        if let Some(subscription) = start.subscription {
            attributes.push(kv(sc::SUBSCRIPTION_NAME, subscription));
        }
        self.server_attributes(&mut attributes);
        if let Some(size) = start.body_size {
            attributes.push(kv(sc::BODY_SIZE, size));
        }
        if let Some(count) = start.batch_count {
            attributes.push(kv(sc::BATCH_MESSAGE_COUNT, count));
        }
        if let Some(delivered) = start.delivered {
            attributes.push(kv(sc::DELIVERED_COUNT, delivered));
        }
        attributes
    }

    /// The attributes of the duration histograms. The subject goes in only when it is not a
    /// temporary inbox and no template stands for it (cardinality); `error.type` is added when
    /// the operation fails.
    fn metric_attributes<'a>(&'a self, start: &Start<'a>) -> Vec<KeyValue<'a>> {
        let operation = start.operation;
        let destination = &start.destination;
        let mut attributes = Vec::with_capacity(9);
        attributes.push(KeyValue::from_static(sc::MESSAGING_SYSTEM, sc::NATS));
        attributes.push(KeyValue::from_static(sc::OPERATION_NAME, operation.name));
        if operation.metric == Metric::Client {
            attributes.push(KeyValue::from_static(
                sc::OPERATION_TYPE,
                operation.kind_type,
            ));
        }
        match (destination.template, destination.name) {
            (Some(template), _) => attributes.push(kv(sc::DESTINATION_TEMPLATE, template)),
            (None, Some(name)) => attributes.push(kv(sc::DESTINATION_NAME, name)),
            (None, None) => {}
        }
        if let Some(group) = start.group {
            attributes.push(kv(sc::CONSUMER_GROUP_NAME, group));
        }
        if let Some(subscription) = start.subscription {
            attributes.push(kv(sc::SUBSCRIPTION_NAME, subscription));
        }
        self.server_attributes(&mut attributes);
        attributes
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("tracing", &self.tracing)
            .field("metrics", &self.operation_duration.is_enabled())
            .field("server", &self.server)
            .field("inboxes", &self.inboxes)
            .finish()
    }
}

/// How an operation's subject is described.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Destination<'a> {
    /// `messaging.destination.name`: the subject (none for a batch of several subjects).
    pub(crate) name: Option<&'a str>,
    /// `messaging.destination.template`: the inbox template, or a wildcard subscription's
    /// subject. Names the span and replaces the subject in metrics.
    pub(crate) template: Option<&'a str>,
    /// `messaging.destination.temporary`: a reply inbox.
    pub(crate) temporary: bool,
}

/// What an operation is started with.
#[derive(Debug)]
pub(crate) struct Start<'a> {
    pub(crate) operation: &'static Operation,
    pub(crate) destination: Destination<'a>,
    pub(crate) group: Option<&'a str>,
    pub(crate) subscription: Option<&'a str>,
    pub(crate) body_size: Option<usize>,
    pub(crate) batch_count: Option<usize>,
    pub(crate) delivered: Option<i64>,
}

impl<'a> Start<'a> {
    pub(crate) fn new(operation: &'static Operation, destination: Destination<'a>) -> Self {
        Start {
            operation,
            destination,
            group: None,
            subscription: None,
            body_size: None,
            batch_count: None,
            delivered: None,
        }
    }
}

/// What dropping an unfinished operation means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnDrop {
    /// The future was dropped (or the handler panicked) before the operation completed: an
    /// error (`cancelled` or `panic`), recorded on the span and in the histogram.
    Fail,
    /// Dropping is a legitimate end (a JetStream acknowledgement nobody awaits): the span ends
    /// without a status and no duration is recorded, the outcome being unknown.
    Quiet,
}

/// How an operation failed.
pub(crate) struct Failure<'e> {
    /// `error.type`: low cardinality.
    pub(crate) error_type: Cow<'static, str>,
    /// The `exception.type` of the `exception` event.
    pub(crate) exception_type: &'e str,
    /// The error's message.
    pub(crate) message: &'e dyn fmt::Display,
}

/// One operation in flight.
pub(crate) struct Op<'a> {
    shared: Arc<Shared>,
    /// The span's context (the parent's when not tracing): what handlers run with, what is
    /// injected, what the histogram is recorded with (so the span is the exemplar).
    pub(crate) ctx: Context,
    span: Span,
    started: Instant,
    operation: &'static Operation,
    metric_attributes: Vec<KeyValue<'a>>,
    done: bool,
    on_drop: OnDrop,
}

impl<'a> Op<'a> {
    /// Writes the operation's context into message headers.
    pub(crate) fn inject(&self, headers: &mut HeaderMap) {
        crate::carrier::strip_propagation(headers);
        self.ctx.inject(&mut HeaderInjector(headers));
    }

    /// Changes what dropping the operation unfinished means.
    pub(crate) fn set_on_drop(&mut self, on_drop: OnDrop) {
        self.on_drop = on_drop;
    }

    /// The span, to add attributes to.
    pub(crate) fn span_mut(&mut self) -> &mut Span {
        &mut self.span
    }

    /// The same operation, its metric attributes copied so that it borrows nothing.
    pub(crate) fn into_static(mut self, on_drop: OnDrop) -> Op<'static> {
        self.done = true; // `self` is emptied; its drop must do nothing.
        Op {
            shared: Arc::clone(&self.shared),
            ctx: std::mem::take(&mut self.ctx),
            span: std::mem::replace(&mut self.span, Span::noop()),
            started: self.started,
            operation: self.operation,
            metric_attributes: std::mem::take(&mut self.metric_attributes)
                .into_iter()
                .map(KeyValue::into_owned)
                .collect(),
            done: false,
            on_drop,
        }
    }

    /// Ends the operation: `error.type`, the exception and the error status on failure; the
    /// duration recorded with the span's context, before the span ends.
    pub(crate) fn finish(mut self, failure: Option<Failure<'_>>) {
        self.done = true;
        let seconds = self.started.elapsed().as_secs_f64();
        match failure {
            None => self.end(seconds, None),
            Some(failure) => {
                self.span
                    .record_exception(failure.exception_type, failure.message);
                self.end(seconds, Some(failure.error_type));
            }
        }
    }

    /// Ends the operation with the outcome of an async-nats result.
    pub(crate) fn finish_result<T, E: std::error::Error>(
        self,
        result: &Result<T, E>,
        error_type: impl FnOnce(&E) -> &'static str,
    ) {
        match result {
            Ok(_) => self.finish(None),
            Err(error) => self.finish(Some(Failure {
                error_type: Cow::Borrowed(error_type(error)),
                exception_type: std::any::type_name::<E>(),
                message: error,
            })),
        }
    }

    fn end(&mut self, seconds: f64, error_type: Option<Cow<'static, str>>) {
        if let Some(error_type) = &error_type {
            self.span
                .set_attribute(kv(sc::ERROR_TYPE, error_type.as_ref()));
            if !self.span.status().is_error() {
                self.span.set_status(Status::error(""));
            }
        }
        let histogram = self.shared.histogram(self.operation.metric);
        if histogram.is_enabled() {
            if let Some(error_type) = &error_type {
                self.metric_attributes
                    .push(kv(sc::ERROR_TYPE, error_type.clone()));
            }
            // With the span's context, before the span ends: the span is the exemplar.
            histogram.record(&self.ctx, seconds, &self.metric_attributes);
        }
        self.span.end();
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match self.on_drop {
            OnDrop::Quiet => self.span.end(),
            OnDrop::Fail => {
                let (error_type, message) = if std::thread::panicking() {
                    (sc::PANIC, "the handler panicked")
                } else {
                    (sc::CANCELLED, "dropped before completion")
                };
                self.span.add_event(error_type, &[]);
                self.span.set_status(Status::error(message));
                let seconds = self.started.elapsed().as_secs_f64();
                self.end(seconds, Some(Cow::Borrowed(error_type)));
            }
        }
    }
}

/// What is sent when nothing is recorded, by the same rule as [`Shared::parent`]: the
/// caller's span if it holds one, else the bridge's span (read now); the caller's baggage.
fn unrecorded<R>(ctx: &Context, f: impl FnOnce(&SpanContext, &Baggage) -> R) -> R {
    if ctx.span_context().is_valid() {
        f(ctx.span_context(), ctx.baggage())
    } else {
        with_current_span_context(|current| f(current, ctx.baggage()))
    }
}

impl Shared {
    /// The headers to send when nothing is recorded (see [`unrecorded`]); none when there is
    /// no span and no baggage (the message goes out unchanged).
    pub(crate) fn propagation_headers(&self, ctx: &Context) -> Option<HeaderMap> {
        unrecorded(ctx, |span, baggage| {
            (span.is_valid() || !baggage.is_empty()).then(|| {
                let mut headers = HeaderMap::new();
                self.inject_into(ctx, span, baggage, &mut headers);
                headers
            })
        })
    }

    /// Puts the context (see [`unrecorded`]) into headers the caller built, in place of any
    /// propagation headers they hold, when nothing is recorded.
    pub(crate) fn propagate_into(&self, ctx: &Context, headers: &mut HeaderMap) {
        unrecorded(ctx, |span, baggage| {
            self.inject_into(ctx, span, baggage, headers);
        });
    }

    /// Writes with the client's telemetry's propagators (`OTEL_PROPAGATORS`) and `ctx`'s B3
    /// debug flag.
    fn inject_into(
        &self,
        ctx: &Context,
        span: &SpanContext,
        baggage: &Baggage,
        headers: &mut HeaderMap,
    ) {
        crate::carrier::strip_propagation(headers);
        self.root.propagators().inject(
            span,
            baggage,
            ctx.is_b3_debug(),
            &mut HeaderInjector(headers),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            root: Context::noop(),
            tracing: false,
            operation_duration: Histogram::noop(),
            process_duration: Histogram::noop(),
            limits: PropagationLimits::DEFAULT,
            server: None,
            inboxes: vec![Inbox::new("_INBOX"), Inbox::new("svc.replies.")],
        }
    }

    #[test]
    fn inboxes_are_temporary_with_their_template() {
        let shared = shared();
        let d = shared.destination("_INBOX.abc.1");
        assert_eq!(
            (d.name, d.template, d.temporary),
            (Some("_INBOX.abc.1"), Some("_INBOX.*"), true)
        );
        let d = shared.destination("svc.replies.xyz");
        assert_eq!((d.template, d.temporary), (Some("svc.replies.*"), true));
        for subject in ["orders", "_INBOX", "_INBOXES.a", "svc.repliesx.a"] {
            let d = shared.destination(subject);
            assert_eq!((d.template, d.temporary), (None, false), "{subject}");
        }
    }

    #[test]
    fn nothing_is_propagated_without_a_span_or_baggage() {
        let shared = shared();
        assert!(shared.propagation_headers(&Context::noop()).is_none());
        let ctx = Context::noop().with_baggage(Baggage::EMPTY.with("tenant", "acme"));
        let headers = shared.propagation_headers(&ctx).unwrap();
        assert_eq!(headers.get("baggage").unwrap().as_str(), "tenant=acme");
        assert!(headers.get("traceparent").is_none());
    }
}
