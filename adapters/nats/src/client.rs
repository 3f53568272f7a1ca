//! [`TracedClient`]: publish and request with the context in the headers, in PRODUCER and
//! CLIENT spans; [`TracedSubscriber`]: a subscription that knows its queue group and wildcard.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use async_nats::client::{PublishError, PublishErrorKind, RequestError};
use async_nats::{Client, HeaderMap, Message, Subject, SubscribeError, Subscriber, ToSubject};
use bytes::Bytes;
use futures_core::Stream;
use hyperion::{Context, Telemetry};

use crate::jetstream::TracedJetStream;
use crate::process::Processor;
use crate::semconv::{self as sc, Metric};
use crate::shared::{self, Destination, ServerAddress, Shared, Start};

/// An [`async_nats::Client`] whose publishes and requests carry the caller's trace in their
/// headers and are recorded as spans and `messaging.client.operation.duration`. Cheap to clone
/// (the client and one `Arc`). See the [crate documentation](crate) for what is recorded.
///
/// ```no_run
/// use hyperion::Telemetry;
/// use hyperion_nats::TracedClient;
///
/// # async fn run(telemetry: Telemetry) -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let traced = TracedClient::new(client, &telemetry);
/// let ctx = telemetry.context();
/// traced.publish(&ctx, "orders.created", "42".into()).await?;
/// let reply = traced.request(&ctx, "prices.quote", "42".into()).await?;
/// # drop(reply);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TracedClient {
    client: Client,
    shared: Arc<Shared>,
}

impl TracedClient {
    /// Wraps a connected client, recording into `telemetry` (the meter scope is
    /// `hyperion-nats`).
    ///
    /// `server.address` and `server.port` are the host and port the server announced when the
    /// client connected, unless it announced a wildcard address (`0.0.0.0`): then none, or what
    /// [`server_address`](Self::server_address) sets. Subjects under `_INBOX.` and under the
    /// client's own inbox prefix (`ConnectOptions::custom_inbox_prefix`) are temporary reply
    /// inboxes.
    pub fn new(client: Client, telemetry: &Telemetry) -> Self {
        let shared = Arc::new(Shared::new(&client, telemetry));
        TracedClient { client, shared }
    }

    pub(crate) fn from_parts(client: Client, shared: Arc<Shared>) -> Self {
        TracedClient { client, shared }
    }

    /// Sets `server.address` and `server.port` (for instance the host name the application
    /// connected to, when the server announces only an IP address or a wildcard).
    #[must_use]
    pub fn server_address(mut self, host: impl Into<String>, port: u16) -> Self {
        Arc::make_mut(&mut self.shared).server = Some(ServerAddress {
            host: host.into().into_boxed_str(),
            port,
        });
        self
    }

    /// Treats subjects under `prefix` as temporary reply inboxes too (a prefix other clients
    /// use, such as `_INBOX_billing`): spans are named and metrics grouped by `{prefix}.*`, with
    /// `messaging.destination.temporary`. Calls add up.
    #[must_use]
    pub fn inbox_prefix(mut self, prefix: &str) -> Self {
        Arc::make_mut(&mut self.shared)
            .inboxes
            .push(shared::Inbox::new(prefix));
        self
    }

    /// The wrapped client, for everything this type does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The wrapped client.
    pub fn into_inner(self) -> Client {
        self.client
    }

    /// A processor for messages received by this client (no queue group, no template).
    pub fn processor(&self) -> Processor {
        Processor::new(Arc::clone(&self.shared))
    }

    /// JetStream over this client (`async_nats::jetstream::new`), recording into the same
    /// telemetry. For a context built otherwise, use [`TracedJetStream::new`].
    pub fn jetstream(&self) -> TracedJetStream {
        TracedJetStream::from_parts(
            async_nats::jetstream::new(self.client.clone()),
            Arc::clone(&self.shared),
        )
    }

    /// Publishes `payload` to `subject` in a PRODUCER span `send {subject}`, a child of `ctx`,
    /// whose context goes in the message's `traceparent` and `tracestate` headers with `ctx`'s
    /// `baggage` (the message's creation context). The span ends when async-nats has queued the
    /// message (core NATS has no acknowledgement).
    ///
    /// Which parent: `ctx`'s span; if `ctx` has none (such as `Context::noop()` or the
    /// telemetry's root context), the span the calling code runs under (the core's bridge,
    /// read when the call starts); else a new trace.
    pub async fn publish<S: ToSubject>(
        &self,
        ctx: &Context,
        subject: S,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        if !self.shared.records(Metric::Client) {
            return match self.shared.propagation_headers(ctx) {
                Some(headers) => {
                    self.client
                        .publish_with_headers(subject, headers, payload)
                        .await
                }
                None => self.client.publish(subject, payload).await,
            };
        }
        // Boxed: the recording path's state stays out of the future the no-op path builds.
        let subject = subject.to_subject();
        let destination = self.shared.destination(&subject);
        Box::pin(self.publish_recorded(ctx, &subject, destination, HeaderMap::new(), payload)).await
    }

    /// [`publish`](Self::publish) with headers of the caller's. The propagation headers are
    /// put in them, replacing any `traceparent`, `tracestate` and `baggage` they hold (in any
    /// letter case): headers forwarded from a message received carry another span's context,
    /// which must not travel on as this message's.
    pub async fn publish_with_headers<S: ToSubject>(
        &self,
        ctx: &Context,
        subject: S,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        if !self.shared.records(Metric::Client) {
            self.shared.propagate_into(ctx, &mut headers);
            return self
                .client
                .publish_with_headers(subject, headers, payload)
                .await;
        }
        let subject = subject.to_subject();
        let destination = self.shared.destination(&subject);
        Box::pin(self.publish_recorded(ctx, &subject, destination, headers, payload)).await
    }

    async fn publish_recorded(
        &self,
        ctx: &Context,
        subject: &Subject,
        destination: Destination<'_>,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let mut start = Start::new(&sc::SEND, destination);
        start.body_size = Some(payload.len());
        let op = self.shared.start(&self.shared.parent(ctx), &start, &[]);
        op.inject(&mut headers);
        // Nothing to carry (no trace, tracing off): the message goes out without headers.
        let result = if headers.is_empty() {
            self.client.publish(subject.clone(), payload).await
        } else {
            self.client
                .publish_with_headers(subject.clone(), headers, payload)
                .await
        };
        op.finish_result(&result, |e| sc::publish_error_type(e.kind()));
        result
    }

    /// Publishes `payload` to the reply subject of `request` (a message received by a
    /// responder), as [`publish`](Self::publish) does: a PRODUCER span `send _INBOX.*` (the
    /// inbox is temporary), usually a child of the context the handler got. A reply subject is
    /// always temporary: one of a prefix this client does not know (another client's custom
    /// inbox prefix, `_INBOX_<user>.`) is named by its first token (`_INBOX_alice.*`), so that
    /// no reply subject reaches a span name or a metric attribute.
    ///
    /// Fails with `PublishErrorKind::InvalidSubject` if the message has no reply subject.
    pub async fn respond(
        &self,
        ctx: &Context,
        request: &Message,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        match &request.reply {
            Some(reply) if self.shared.records(Metric::Client) => {
                let known = self.shared.destination(reply);
                let template;
                let destination = if known.temporary {
                    known
                } else {
                    let first = reply.split('.').next().unwrap_or_default();
                    template = format!("{first}.*");
                    Destination {
                        name: Some(reply),
                        template: Some(&template),
                        temporary: true,
                    }
                };
                let headers = HeaderMap::new();
                Box::pin(self.publish_recorded(ctx, reply, destination, headers, payload)).await
            }
            Some(reply) => self.publish(ctx, reply.clone(), payload).await,
            None => Err(PublishError::with_source(
                PublishErrorKind::InvalidSubject,
                "the message has no reply subject",
            )),
        }
    }

    /// Sends a request and waits for the reply, in a CLIENT span `request {subject}`
    /// (`messaging.operation.type = send`, `messaging.operation.name = request`) whose context
    /// goes in the request's headers: the responder's process span is its child. The span ends
    /// when the reply arrives or the request fails (`error.type`: `timed_out`,
    /// `no_responders`, ...). Same parent rule as [`publish`](Self::publish).
    pub async fn request<S: ToSubject>(
        &self,
        ctx: &Context,
        subject: S,
        payload: Bytes,
    ) -> Result<Message, RequestError> {
        if !self.shared.records(Metric::Client) {
            return match self.shared.propagation_headers(ctx) {
                Some(headers) => {
                    self.client
                        .request_with_headers(subject, headers, payload)
                        .await
                }
                None => self.client.request(subject, payload).await,
            };
        }
        Box::pin(self.request_recorded(ctx, subject.to_subject(), HeaderMap::new(), payload)).await
    }

    /// [`request`](Self::request) with headers of the caller's; the propagation headers are
    /// added (replacing any `traceparent`, `tracestate` and `baggage` there).
    pub async fn request_with_headers<S: ToSubject>(
        &self,
        ctx: &Context,
        subject: S,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Message, RequestError> {
        if !self.shared.records(Metric::Client) {
            self.shared.propagate_into(ctx, &mut headers);
            return self
                .client
                .request_with_headers(subject, headers, payload)
                .await;
        }
        Box::pin(self.request_recorded(ctx, subject.to_subject(), headers, payload)).await
    }

    async fn request_recorded(
        &self,
        ctx: &Context,
        subject: Subject,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Message, RequestError> {
        let mut start = Start::new(&sc::REQUEST, self.shared.destination(&subject));
        start.body_size = Some(payload.len());
        let op = self.shared.start(&self.shared.parent(ctx), &start, &[]);
        op.inject(&mut headers);
        let result = if headers.is_empty() {
            self.client.request(subject.clone(), payload).await
        } else {
            self.client
                .request_with_headers(subject.clone(), headers, payload)
                .await
        };
        op.finish_result(&result, |e| sc::request_error_type(e.kind()));
        result
    }

    /// Subscribes to `subject`. The subscription is a stream of plain messages; process them
    /// with [`TracedSubscriber::process`] (or its [`processor`](TracedSubscriber::processor)).
    /// A subject with wildcards (`orders.*`, `orders.>`) becomes the processor's destination
    /// template.
    pub async fn subscribe<S: ToSubject>(
        &self,
        subject: S,
    ) -> Result<TracedSubscriber, SubscribeError> {
        let subject = subject.to_subject();
        let subscriber = self.client.subscribe(subject.clone()).await?;
        Ok(TracedSubscriber {
            subscriber,
            processor: self.subscription_processor(&subject, None),
        })
    }

    /// Subscribes to `subject` in the queue group `group`: the processor records
    /// `messaging.consumer.group.name = group`.
    pub async fn queue_subscribe<S: ToSubject>(
        &self,
        subject: S,
        group: String,
    ) -> Result<TracedSubscriber, SubscribeError> {
        let subject = subject.to_subject();
        let processor = self.subscription_processor(&subject, Some(&group));
        let subscriber = self.client.queue_subscribe(subject, group).await?;
        Ok(TracedSubscriber {
            subscriber,
            processor,
        })
    }

    fn subscription_processor(&self, subject: &str, group: Option<&str>) -> Processor {
        let mut processor = self.processor();
        if let Some(group) = group {
            processor = processor.consumer_group(group);
        }
        if subject.split('.').any(|token| token == "*" || token == ">") {
            processor = processor.destination_template(subject);
        }
        processor
    }
}

impl fmt::Debug for TracedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedClient")
            .field("client", &self.client)
            .field("shared", &self.shared)
            .finish()
    }
}

/// A subscription from [`TracedClient::subscribe`] or [`TracedClient::queue_subscribe`]: a
/// [`Stream`] of the messages async-nats delivers, unchanged, with a [`Processor`] that knows the
/// queue group and the wildcard template.
///
/// ```no_run
/// use futures_util::StreamExt;
/// # async fn run(traced: hyperion_nats::TracedClient) -> Result<(), Box<dyn std::error::Error>> {
/// let mut requests = traced.subscribe("prices.quote").await?;
/// while let Some(request) = requests.next().await {
///     let sent: Result<(), async_nats::client::PublishError> = requests
///         .process(&request, |ctx| {
///             let traced = traced.clone();
///             let request = request.clone();
///             async move { traced.respond(&ctx, &request, "9.99".into()).await }
///         })
///         .await;
///     sent?;
/// }
/// # Ok(()) }
/// ```
pub struct TracedSubscriber {
    subscriber: Subscriber,
    processor: Processor,
}

impl TracedSubscriber {
    /// The processor for this subscription's messages (clone it into spawned tasks).
    pub fn processor(&self) -> &Processor {
        &self.processor
    }

    /// [`Processor::process`] with this subscription's processor.
    pub async fn process<F, Fut, R>(&self, message: &Message, handler: F) -> R
    where
        F: FnOnce(Context) -> Fut,
        Fut: std::future::Future<Output = R>,
        R: hyperion::CallResult,
    {
        self.processor.process(message, handler).await
    }

    /// [`Processor::process_batch`] with this subscription's processor.
    pub async fn process_batch<F, Fut, R>(&self, messages: &[Message], handler: F) -> R
    where
        F: FnOnce(Context) -> Fut,
        Fut: std::future::Future<Output = R>,
        R: hyperion::CallResult,
    {
        self.processor.process_batch(messages, handler).await
    }

    /// The async-nats subscriber (to unsubscribe or drain it).
    pub fn subscriber_mut(&mut self) -> &mut Subscriber {
        &mut self.subscriber
    }

    /// The async-nats subscriber.
    pub fn into_inner(self) -> Subscriber {
        self.subscriber
    }
}

impl Stream for TracedSubscriber {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Message>> {
        Pin::new(&mut self.subscriber).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.subscriber.size_hint()
    }
}

impl fmt::Debug for TracedSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedSubscriber")
            .field("subscriber", &self.subscriber)
            .field("processor", &self.processor)
            .finish()
    }
}
