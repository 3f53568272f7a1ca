//! The consumer side: [`Processor`] runs a handler on a received message (core NATS or
//! JetStream) or a batch of them in a CONSUMER span, and settles JetStream messages.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream::{self, AckKind};
use hyperion::context::with_current_span_context;
use hyperion::{CallResult, Context, KeyValue, Link, Outcome, SpanContext, kv};

use crate::semconv::{self as sc, Metric};
use crate::shared::{Destination, Failure, Shared, Start};
use sealed::JetStreamInfo;

mod sealed {
    /// JetStream's view of a delivered message.
    #[derive(Clone, Copy, Debug)]
    pub struct JetStreamInfo<'a> {
        /// The consumer that delivered it.
        pub consumer: &'a str,
        /// How many times it was delivered (1 the first time).
        pub delivered: i64,
    }

    /// What the processor reads from a received message.
    pub trait Sealed {
        /// The core message: subject, headers, payload.
        fn message(&self) -> &async_nats::Message;
        /// The JetStream delivery info, for a JetStream message.
        fn jetstream(&self) -> Option<JetStreamInfo<'_>>;
    }
}

/// A received message a [`Processor`] can process: a core NATS [`async_nats::Message`] or a
/// JetStream [`jetstream::Message`] (from a pull or push consumer). Sealed.
pub trait Incoming: sealed::Sealed {}

impl sealed::Sealed for async_nats::Message {
    fn message(&self) -> &async_nats::Message {
        self
    }

    fn jetstream(&self) -> Option<JetStreamInfo<'_>> {
        None
    }
}

impl Incoming for async_nats::Message {}

impl sealed::Sealed for jetstream::Message {
    fn message(&self) -> &async_nats::Message {
        &self.message
    }

    fn jetstream(&self) -> Option<JetStreamInfo<'_>> {
        self.info().ok().map(|info| JetStreamInfo {
            consumer: info.consumer,
            delivered: info.delivered,
        })
    }
}

impl Incoming for jetstream::Message {}

/// Runs message handlers in CONSUMER spans and settles JetStream messages. Cheap to clone (one
/// `Arc` and two optional strings), so that each spawned handler task can hold one.
///
/// Get one from [`TracedClient::processor`](crate::TracedClient::processor),
/// [`TracedSubscriber::processor`](crate::TracedSubscriber::processor) (which knows the queue
/// group and the subscription's wildcard) or
/// [`TracedJetStream::processor`](crate::TracedJetStream::processor).
///
/// ```no_run
/// use futures_util::StreamExt;
/// use hyperion::Telemetry;
/// use hyperion_nats::TracedClient;
///
/// # async fn run(telemetry: Telemetry) -> Result<(), Box<dyn std::error::Error>> {
/// let traced = TracedClient::new(async_nats::connect("nats://127.0.0.1:4222").await?, &telemetry);
/// let mut orders = traced.queue_subscribe("orders.*", "billing".into()).await?;
/// let processor = orders.processor().clone(); // knows the group `billing`, the template `orders.*`
/// while let Some(message) = orders.next().await {
///     let processor = processor.clone();
///     tokio::spawn(async move {
///         let _: Result<(), std::io::Error> = processor
///             .process(&message, |ctx| async move {
///                 ctx.log().info("billing an order", &[]);
///                 Ok(())
///             })
///             .await;
///     });
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Processor {
    shared: Arc<Shared>,
    group: Option<Arc<str>>,
    template: Option<Arc<str>>,
}

impl Processor {
    pub(crate) fn new(shared: Arc<Shared>) -> Processor {
        Processor {
            shared,
            group: None,
            template: None,
        }
    }

    /// Records `messaging.consumer.group.name` on the spans and histograms of this processor:
    /// the NATS queue group the messages come from (set by
    /// [`TracedClient::queue_subscribe`](crate::TracedClient::queue_subscribe); set it by hand
    /// for a JetStream push consumer with a deliver group).
    #[must_use]
    pub fn consumer_group(mut self, group: impl Into<Arc<str>>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// A low-cardinality template for the subjects this processor sees, such as `orders.*`:
    /// spans are named `process orders.*` and carry `messaging.destination.template`, and the
    /// histograms carry the template instead of the subject. Set by
    /// [`TracedClient::subscribe`](crate::TracedClient::subscribe) for a wildcard subject.
    /// Reply inboxes keep their own template (`_INBOX.*`).
    #[must_use]
    pub fn destination_template(mut self, template: impl Into<Arc<str>>) -> Self {
        self.template = Some(template.into());
        self
    }

    /// The consumer group set with [`consumer_group`](Self::consumer_group), if any.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// The message's creation context — its `traceparent`, `tracestate` and `baggage` — in the
    /// processor's telemetry; the root context when the message carries none or only malformed
    /// ones. No span is started: for handlers that start their own.
    pub fn context<M: Incoming>(&self, message: &M) -> Context {
        self.shared.extract(message.message().headers.as_ref())
    }

    /// A subject's destination: an inbox keeps its template, others take the processor's.
    fn destination<'a>(&'a self, subject: &'a str) -> Destination<'a> {
        let mut destination = self.shared.destination(subject);
        if destination.template.is_none() {
            destination.template = self.template.as_deref();
        }
        destination
    }

    /// Runs `handler` on one message in a CONSUMER span `process {subject}` (`process
    /// {template}` for an inbox or a wildcard subscription) whose parent is the message's
    /// creation context (the producer's span) and which also links to it, as the messaging
    /// conventions describe for single messages. The handler gets the span's context, with the
    /// message's baggage; it runs as the thread's current span while polled (for bridges).
    ///
    /// A message without trace headers, or with malformed ones, is processed the same way under
    /// a new trace. An `Err` result sets `error.type` (the error's type name), an `exception`
    /// event and the error status; a handler that panics or whose future is dropped first is
    /// recorded as `panic` or `cancelled`. `messaging.process.duration` is recorded with the
    /// span's context before the span ends (the span is its exemplar).
    ///
    /// With nothing recording, this extracts the message's context (no span, no clock) and runs
    /// the handler with it, so the trace still propagates to what the handler sends.
    pub async fn process<M, F, Fut, R>(&self, message: &M, handler: F) -> R
    where
        M: Incoming,
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = R>,
        R: CallResult,
    {
        let creation = self.shared.extract(message.message().headers.as_ref());
        if !self.shared.records(Metric::Process) {
            return run(creation, handler).await;
        }
        // Boxed: the recording path's state stays out of the future the no-op path builds.
        Box::pin(self.process_recorded(message, creation, handler)).await
    }

    async fn process_recorded<M, F, Fut, R>(&self, message: &M, creation: Context, handler: F) -> R
    where
        M: Incoming,
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = R>,
        R: CallResult,
    {
        let shared = &self.shared;
        let msg = message.message();
        let info = message.jetstream();
        let mut start = Start::new(&sc::PROCESS, self.destination(&msg.subject));
        start.group = self.group.as_deref();
        start.subscription = info.map(|i| i.consumer);
        start.delivered = info.map(|i| i.delivered);
        start.body_size = Some(msg.payload.len());
        // The producer's span is the parent and a link; the span the calling code runs under
        // (an HTTP handler, a poll loop's span: the core's bridge, read now) a link too, as the
        // conventions ask when the creation context is the parent.
        let mut links = Vec::with_capacity(2);
        if shared.tracing {
            let created = creation.span_context();
            if created.is_valid() {
                links.push(Link {
                    context: created.clone(),
                    attributes: &[],
                });
            }
            with_current_span_context(|ambient| {
                if ambient.is_valid() && ambient.span_id() != created.span_id() {
                    links.push(Link {
                        context: ambient.clone(),
                        attributes: &[],
                    });
                }
            });
        }
        let op = shared.start(&creation, &start, &links);
        let result = run(op.ctx.clone(), handler).await;
        op.finish(failure(&result.outcome()));
        result
    }

    /// Runs `handler` once on a batch of messages in one CONSUMER span, `process {subject}`
    /// when they share a subject (or the processor's template), else `process`, with
    /// `messaging.batch.message_count`. A batch has no single parent: the span starts a new
    /// trace and links to each message's creation context (for a JetStream message the link
    /// carries its delivery count). The handler gets the span's context (no baggage).
    pub async fn process_batch<M, F, Fut, R>(&self, messages: &[M], handler: F) -> R
    where
        M: Incoming,
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = R>,
        R: CallResult,
    {
        let shared = &self.shared;
        if !shared.records(Metric::Process) {
            return run(shared.root.clone(), handler).await;
        }
        let first = messages.first().map(|m| m.message());
        let same_subject = first.filter(|first| {
            messages
                .iter()
                .all(|m| m.message().subject == first.subject)
        });
        let destination = match same_subject {
            Some(first) => self.destination(&first.subject),
            None => Destination {
                template: self.template.as_deref(),
                ..Destination::default()
            },
        };
        let infos: Vec<Option<JetStreamInfo<'_>>> =
            messages.iter().map(|m| m.jetstream()).collect();
        let mut start = Start::new(&sc::PROCESS, destination);
        start.group = self.group.as_deref();
        start.batch_count = Some(messages.len());
        if let Some(Some(first)) = infos.first()
            && infos
                .iter()
                .all(|i| i.is_some_and(|i| i.consumer == first.consumer))
        {
            start.subscription = Some(first.consumer);
        }

        // One link per message that carries a creation context.
        let mut contexts: Vec<(SpanContext, [KeyValue<'static>; 1], bool)> = Vec::new();
        if shared.tracing {
            for (message, info) in messages.iter().zip(&infos) {
                if let Some(sc) = shared.creation_span(message.message().headers.as_ref()) {
                    let delivered = info.map_or(0, |i| i.delivered);
                    contexts.push((sc, [kv(sc::DELIVERED_COUNT, delivered)], info.is_some()));
                }
            }
        }
        let links: Vec<Link<'_>> = contexts
            .iter()
            .map(|(context, attributes, jetstream)| Link {
                context: context.clone(),
                attributes: if *jetstream { attributes } else { &[] },
            })
            .collect();

        let op = shared.start(&shared.root, &start, &links);
        let result = run(op.ctx.clone(), handler).await;
        op.finish(failure(&result.outcome()));
        result
    }

    /// Settles a JetStream message (`ack_with(kind)`) in a CLIENT span `{ack|nak|progress|next|term}
    /// {subject}` (`messaging.operation.type = settle`), a child of `ctx` (usually the context
    /// the handler got), recording `messaging.client.operation.duration`.
    ///
    /// `ctx` follows the same rule as the client's calls: a context without a span falls back to
    /// the span the calling code runs under, else a new trace. A failure is `error.type =
    /// _OTHER` (async-nats reports it as a boxed error).
    pub async fn ack(
        &self,
        ctx: &Context,
        message: &jetstream::Message,
        kind: AckKind,
    ) -> Result<(), async_nats::Error> {
        let shared = &self.shared;
        if !shared.records(Metric::Client) {
            return message.ack_with(kind).await;
        }
        let info = sealed::Sealed::jetstream(message);
        let mut start = Start::new(
            sc::settle_operation(&kind),
            self.destination(&message.subject),
        );
        start.group = self.group.as_deref();
        start.subscription = info.map(|i| i.consumer);
        let op = shared.start(&shared.parent(ctx), &start, &[]);
        let result = message.ack_with(kind).await;
        match &result {
            Ok(()) => op.finish(None),
            Err(error) => op.finish(Some(Failure {
                error_type: Cow::Borrowed(sc::OTHER),
                exception_type: std::any::type_name::<async_nats::Error>(),
                message: error,
            })),
        }
        result
    }
}

impl fmt::Debug for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Processor")
            .field("group", &self.group)
            .field("template", &self.template)
            .field("shared", &self.shared)
            .finish()
    }
}

/// A handler's failure: `error.type` is the error's type name, as `Context::intercept` reports.
fn failure<'e>(outcome: &'e Outcome<'e>) -> Option<Failure<'e>> {
    match outcome {
        Outcome::Ok => None,
        Outcome::Error { type_name, error } => Some(Failure {
            error_type: Cow::Owned((*type_name).to_owned()),
            exception_type: type_name,
            message: *error,
        }),
        Outcome::Cancelled => Some(Failure {
            error_type: Cow::Borrowed(sc::CANCELLED),
            exception_type: sc::CANCELLED,
            message: &sc::CANCELLED,
        }),
    }
}

/// Runs a handler with its context, as the thread's current span while it is built and polled
/// (when the context has one), as `Context::intercept` does.
async fn run<F, Fut, R>(ctx: Context, handler: F) -> R
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = R>,
{
    if ctx.span_context().is_valid() {
        let scope = ctx.clone();
        let future = scope.in_scope(|| handler(ctx));
        scope.scope(future).await
    } else {
        handler(ctx).await
    }
}
