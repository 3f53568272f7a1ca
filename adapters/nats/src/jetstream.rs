//! [`TracedJetStream`]: JetStream publishes in PRODUCER spans that end when the stream's
//! acknowledgement arrives ([`TracedAckFuture`]).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use async_nats::jetstream::context::{PublishAckFuture, PublishError};
use async_nats::jetstream::publish::PublishAck;
use async_nats::{HeaderMap, Subject, ToSubject};
use bytes::Bytes;
use hyperion::{Context, Telemetry};

use crate::process::Processor;
use crate::semconv::{self as sc, Metric};
use crate::shared::{OnDrop, Op, Shared, Start};

/// A JetStream [`Context`](async_nats::jetstream::Context) whose publishes carry the caller's
/// trace in their headers and are recorded as PRODUCER spans `send {subject}` that end when the
/// stream acknowledges the message, with `messaging.client.operation.duration`.
///
/// ```no_run
/// use hyperion::Telemetry;
/// use hyperion_nats::TracedClient;
///
/// # async fn run(telemetry: Telemetry) -> Result<(), Box<dyn std::error::Error>> {
/// let traced = TracedClient::new(async_nats::connect("nats://127.0.0.1:4222").await?, &telemetry);
/// let jetstream = traced.jetstream();
/// let ctx = telemetry.context();
/// // As with async-nats: the first await sends, the second waits for the acknowledgement.
/// let ack = jetstream.publish(&ctx, "orders.created", "42".into()).await?.await?;
/// println!("stored as {} #{}", ack.stream, ack.sequence);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TracedJetStream {
    context: async_nats::jetstream::Context,
    shared: Arc<Shared>,
}

impl TracedJetStream {
    /// Wraps a JetStream context (from `async_nats::jetstream::new` or a `ContextBuilder`),
    /// recording into `telemetry`; the server address and inbox prefixes come from its client
    /// as in [`TracedClient::new`](crate::TracedClient::new).
    pub fn new(context: async_nats::jetstream::Context, telemetry: &Telemetry) -> Self {
        let shared = Arc::new(Shared::new(&context.client(), telemetry));
        TracedJetStream { context, shared }
    }

    pub(crate) fn from_parts(context: async_nats::jetstream::Context, shared: Arc<Shared>) -> Self {
        TracedJetStream { context, shared }
    }

    /// The wrapped JetStream context: streams, consumers, key-value stores...
    pub fn context(&self) -> &async_nats::jetstream::Context {
        &self.context
    }

    /// The wrapped JetStream context.
    pub fn into_inner(self) -> async_nats::jetstream::Context {
        self.context
    }

    /// The core client of this context, traced into the same telemetry.
    pub fn client(&self) -> crate::TracedClient {
        crate::TracedClient::from_parts(self.context.client(), Arc::clone(&self.shared))
    }

    /// A processor for messages of JetStream consumers (pull or push): process spans carry the
    /// consumer's name (`messaging.destination.subscription.name`) and the delivery count
    /// ([`DELIVERED_COUNT`](crate::DELIVERED_COUNT)); [`Processor::ack`] settles them.
    pub fn processor(&self) -> Processor {
        Processor::new(Arc::clone(&self.shared))
    }

    /// Publishes `payload` to `subject` (a stream's subject) in a PRODUCER span `send {subject}`
    /// whose context goes in the message's headers. Like async-nats' `publish`, this resolves
    /// once the message is sent, to a [`TracedAckFuture`]: awaiting it waits for the stream's
    /// acknowledgement, and the span and the duration end then. A failed or negative
    /// acknowledgement (no stream for the subject, a wrong expected sequence, a timeout...) is an
    /// error on the span (`error.type`: `stream_not_found`, `wrong_last_sequence`, `timed_out`,
    /// ...). Same parent rule as [`TracedClient::publish`](crate::TracedClient::publish).
    pub async fn publish<S: ToSubject>(
        &self,
        ctx: &Context,
        subject: S,
        payload: Bytes,
    ) -> Result<TracedAckFuture, PublishError> {
        if !self.shared.records(Metric::Client) {
            let sent = match self.shared.propagation_headers(ctx) {
                Some(headers) => {
                    self.context
                        .publish_with_headers(subject, headers, payload)
                        .await
                }
                None => self.context.publish(subject, payload).await,
            };
            return sent.map(TracedAckFuture::unrecorded);
        }
        // Boxed: the recording path's state stays out of the future the no-op path builds.
        Box::pin(self.publish_recorded(ctx, subject.to_subject(), HeaderMap::new(), payload)).await
    }

    /// [`publish`](Self::publish) with headers of the caller's (`Nats-Msg-Id` for
    /// deduplication, `Nats-Expected-Last-Sequence`...); the propagation headers are added
    /// (replacing any `traceparent`, `tracestate` and `baggage` there).
    pub async fn publish_with_headers<S: ToSubject>(
        &self,
        ctx: &Context,
        subject: S,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<TracedAckFuture, PublishError> {
        if !self.shared.records(Metric::Client) {
            self.shared.propagate_into(ctx, &mut headers);
            return self
                .context
                .publish_with_headers(subject, headers, payload)
                .await
                .map(TracedAckFuture::unrecorded);
        }
        Box::pin(self.publish_recorded(ctx, subject.to_subject(), headers, payload)).await
    }

    async fn publish_recorded(
        &self,
        ctx: &Context,
        subject: Subject,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<TracedAckFuture, PublishError> {
        let mut start = Start::new(&sc::SEND, self.shared.destination(&subject));
        start.body_size = Some(payload.len());
        let op = self.shared.start(&self.shared.parent(ctx), &start, &[]);
        op.inject(&mut headers);
        let sent = if headers.is_empty() {
            self.context.publish(subject.clone(), payload).await
        } else {
            self.context
                .publish_with_headers(subject.clone(), headers, payload)
                .await
        };
        match sent {
            Ok(ack) => Ok(TracedAckFuture {
                ack,
                op: Some(op.into_static(OnDrop::Quiet)),
            }),
            Err(error) => {
                let failed = Err(error);
                op.finish_result(&failed, |e: &PublishError| {
                    sc::jetstream_publish_error_type(e.kind())
                });
                failed
            }
        }
    }
}

impl fmt::Debug for TracedJetStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedJetStream")
            .field("context", &self.context)
            .field("shared", &self.shared)
            .finish()
    }
}

/// The acknowledgement of a JetStream publish, still to come: `.await` it for the
/// [`PublishAck`]. The publish's span and duration end when it resolves; dropped without being
/// awaited (async-nats then waits for the acknowledgement in the background), the span ends at
/// the drop without a status and no duration is recorded.
#[must_use = "await it to wait for the stream's acknowledgement"]
pub struct TracedAckFuture {
    ack: PublishAckFuture,
    op: Option<Op<'static>>,
}

impl TracedAckFuture {
    fn unrecorded(ack: PublishAckFuture) -> Self {
        TracedAckFuture { ack, op: None }
    }
}

impl IntoFuture for TracedAckFuture {
    type Output = Result<PublishAck, PublishError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let TracedAckFuture { ack, op } = self;
        match op {
            // async-nats' own future, already boxed: nothing added.
            None => ack.into_future(),
            Some(mut op) => {
                let waiting = ack.into_future();
                // From now on a drop means the caller stopped waiting: `cancelled`.
                op.set_on_drop(OnDrop::Fail);
                Box::pin(async move {
                    let result = waiting.await;
                    match &result {
                        Ok(ack) if ack.duplicate => {
                            op.span_mut().add_event("duplicate", &[]);
                        }
                        _ => {}
                    }
                    op.finish_result(&result, |e| sc::jetstream_publish_error_type(e.kind()));
                    result
                })
            }
        }
    }
}

impl fmt::Debug for TracedAckFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedAckFuture")
            .field("ack", &self.ack)
            .field("recorded", &self.op.is_some())
            .finish()
    }
}
