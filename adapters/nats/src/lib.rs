//! # hyperion-nats
//!
//! NATS telemetry for the [`hyperion`] facade, over [async-nats](async_nats) 0.51: the caller's
//! trace travels in message headers (`traceparent`, `tracestate`, `baggage`), publishes and
//! requests become PRODUCER and CLIENT spans, handlers run in CONSUMER spans parented to the
//! producer, and the two messaging duration histograms are recorded with the span as exemplar —
//! for core NATS and JetStream, by the OpenTelemetry messaging semantic conventions. It speaks
//! the facade only, so it records through whatever module the configuration picks (`otel`,
//! `memory`, ...).
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use hyperion::Telemetry;
//! use hyperion_nats::TracedClient;
//!
//! # async fn run(telemetry: Telemetry) -> Result<(), Box<dyn std::error::Error>> {
//! let traced = TracedClient::new(async_nats::connect("nats://127.0.0.1:4222").await?, &telemetry);
//!
//! // Consumer: each message is handled in a CONSUMER span `process orders.*`, a child of the
//! // producer's span; the handler gets its context (with the message's baggage).
//! let mut orders = traced.queue_subscribe("orders.*", "billing".into()).await?;
//! let processor = orders.processor().clone();
//! tokio::spawn(async move {
//!     while let Some(message) = orders.next().await {
//!         let _: Result<(), std::io::Error> = processor
//!             .process(&message, |ctx| async move {
//!                 ctx.log().info("billing", &[]);
//!                 Ok(())
//!             })
//!             .await;
//!     }
//! });
//!
//! // Producer: a PRODUCER span `send orders.created` whose context goes in the headers.
//! let ctx = telemetry.context();
//! traced.publish(&ctx, "orders.created", "42".into()).await?;
//! # Ok(()) }
//! ```
//!
//! ## What is recorded
//!
//! | call | span | kind | `messaging.operation.name` / `.type` | histogram |
//! |---|---|---|---|---|
//! | [`TracedClient::publish`], [`respond`](TracedClient::respond) | `send {subject}` | PRODUCER | `send` / `send` | `messaging.client.operation.duration` |
//! | [`TracedClient::request`] | `request {subject}` | CLIENT | `request` / `send` | same |
//! | [`TracedJetStream::publish`] (ends at the acknowledgement) | `send {subject}` | PRODUCER | `send` / `send` | same |
//! | [`Processor::ack`] | `ack {subject}` (`nak`, `progress`, `next`, `term`) | CLIENT | `ack`... / `settle` | same |
//! | [`Processor::process`] | `process {subject}` | CONSUMER | `process` / `process` | `messaging.process.duration` |
//! | [`Processor::process_batch`] | `process {subject}` or `process` | CONSUMER | `process` / `process` | same |
//!
//! Spans start with `messaging.system = nats`, `messaging.operation.name`,
//! `messaging.operation.type`, `messaging.destination.name` (the subject),
//! `messaging.destination.template` and `messaging.destination.temporary` (see *Inboxes and
//! templates*), `messaging.consumer.group.name` (the queue group),
//! `messaging.destination.subscription.name` (the JetStream consumer), `server.address` and
//! `server.port` (when known), and `messaging.message.body.size` (single messages),
//! `messaging.batch.message_count` (batches) or [`messaging.nats.message.delivered_count`](DELIVERED_COUNT)
//! (JetStream messages). A failure sets `error.type`, an `exception` event and the error status.
//!
//! Both histograms are in seconds with the advised boundaries ([`DURATION_BOUNDARIES`]) and carry
//! `messaging.system`, `messaging.operation.name`, `messaging.operation.type` (client operations
//! only: the conventions do not list it for `messaging.process.duration`),
//! `messaging.destination.name` — or, for an inbox or a wildcard subscription, only
//! `messaging.destination.template` —, `messaging.consumer.group.name`,
//! `messaging.destination.subscription.name`, `server.address`, `server.port` and `error.type`,
//! as they apply. They are recorded with the span's context before the span ends, so the span is
//! the exemplar.
//!
//! ## Which parent
//!
//! - **Client operations** (send, request, JetStream publish, settle): the span of the `ctx`
//!   given; if it holds none (`Context::noop()`, the telemetry's root context), the span the
//!   calling code runs under, through the core's bridge
//!   ([`hyperion::context::with_current_span_context`], read synchronously when the call starts,
//!   never held across an `.await`; trace only, the bridge has no baggage); else a new trace.
//!   A `ctx` of another telemetry keeps its trace and baggage; the span is recorded here.
//! - **Process**: the message's creation context — the producer's span extracted from its
//!   headers — is the parent, and the span also links to it (the conventions allow the parent
//!   for single messages and recommend the link). The span the calling code runs under (the
//!   bridge's, read when `process` starts: a handler's, a poll loop's) is linked too, as the
//!   conventions ask when the creation context is the parent; a message without a creation
//!   context starts a new trace linked to it. A batch has no single parent: a new trace, with
//!   one link per message.
//! - **Headers of the caller's** (`*_with_headers`): the propagation headers replace any
//!   `traceparent`, `tracestate` and `baggage` there, in any letter case, so that headers
//!   forwarded from a received message do not carry its trace on. (A creation context of the
//!   caller's own, which the conventions say to leave unmodified, cannot be told apart from a
//!   forwarded one; it is replaced too.)
//! - **Request-reply**: the request's CLIENT span is injected, so the responder's process span is
//!   its child, and the reply's `send _INBOX.*` span a child of that.
//!
//! ## Inboxes and templates
//!
//! Reply subjects are unique per request, so they would make span names and metric series
//! unbounded. A subject under `_INBOX.` or under the client's own inbox prefix
//! (`ConnectOptions::custom_inbox_prefix`, read from the client; more with
//! [`TracedClient::inbox_prefix`]) is a temporary destination: the span is named
//! `send _INBOX.*` (`{prefix}.*` for a custom prefix), has `messaging.destination.template =
//! _INBOX.*` and `messaging.destination.temporary = true` (and the full subject in
//! `messaging.destination.name`), and the histograms get the template, never the subject.
//! JetStream's ack subjects (`$JS.ACK.…`) are inboxes too, and [`TracedClient::respond`] treats
//! any reply subject as one: of a prefix this client does not know, it is named by its first
//! token (`_INBOX_alice.*`). Other subjects are recorded as given: a publisher to per-entity
//! subjects (`orders.<id>`) or a JetStream consumer on `orders.>` should set a template
//! ([`Processor::destination_template`]) to keep the series bounded.
//! Likewise a subscription to a wildcard subject (`orders.*`, `orders.>`) makes the subject
//! the template of its processor ([`Processor::destination_template`]).
//!
//! ## Semantic-convention choices
//!
//! The messaging conventions are in development and say nothing of NATS; what this crate
//! chose:
//!
//! - `messaging.system` is `nats` (not among the well-known values; a custom value is allowed).
//! - The destination is the subject, for JetStream too (the subject the message was published
//!   to, not the stream): the publisher knows no stream before the acknowledgement.
//! - A queue group is `messaging.consumer.group.name`; a JetStream consumer (durable or not) is
//!   `messaging.destination.subscription.name`: server-side state with its own acknowledgements,
//!   filtering and redelivery, what the conventions call a subscription.
//! - A request is one CLIENT span `request {subject}` covering the send and the wait for the
//!   reply. The conventions define no request-reply operation; a call that waits for its answer
//!   is a synchronous call, which is what CLIENT means (a PRODUCER span would claim the reply
//!   is not awaited). Its type is `send` (a message provided for sending); its name `request`
//!   (async-nats' word) tells it apart from a fire-and-forget `send`. Its context is the
//!   request's creation context.
//! - The delivery count of a JetStream message (redeliveries included) has no key in the
//!   conventions: [`messaging.nats.message.delivered_count`](DELIVERED_COUNT), in the
//!   `messaging.{system}` namespace the conventions reserve for such keys.
//! - `messaging.message.body.size` is opt-in in the conventions; it is always recorded here (the
//!   payload's length is free to read).
//! - `error.type` values: for publishes `max_payload_exceeded`, `invalid_subject`, `send`; for
//!   requests `timed_out`, `no_responders`, `invalid_subject`, `max_payload_exceeded`,
//!   `_OTHER`; for JetStream publishes `stream_not_found`, `wrong_last_message_id`,
//!   `wrong_last_sequence`, `timed_out`, `broken_pipe`, `max_ack_pending`,
//!   `max_payload_exceeded`, `_OTHER`; for settling `_OTHER`; for handlers the error's type name
//!   (as `Context::intercept` reports it); `cancelled` for a future dropped before it completed
//!   and `panic` for a handler whose future is dropped while the thread unwinds (a panic
//!   elsewhere that drops the future reads as `panic` too).
//! - A JetStream publish's span and duration end when its acknowledgement is awaited, not when
//!   it arrives: awaiting acks later (publish N, then await N) adds that delay; an ack future
//!   dropped unawaited ends the span without a status or a duration.
//! - Not recorded: "create" spans (every API sends one message, so the send span is its creation
//!   context), "receive" spans (messages reach the application through async-nats' streams,
//!   already prefetched), `messaging.message.id` (core NATS has none), `messaging.client.id`,
//!   `network.peer.*`, and the `messaging.client.sent.messages` and
//!   `messaging.client.consumed.messages` counters.
//! - `server.address` and `server.port` are what the server announced when the client
//!   connected (its `INFO`), or [`TracedClient::server_address`]; a server announcing a wildcard
//!   address (`0.0.0.0`) gives none.
//!
//! ## Malformed headers
//!
//! A message without trace headers, or with malformed ones (a garbage `traceparent`, two of
//! them, an invalid `tracestate`), is processed normally under a new trace: the core's codec
//! ignores what it cannot read, as the W3C specifications say, and never panics. Nothing is
//! dropped (of the messages async-nats delivers: one whose header bytes it cannot parse never
//! reaches the application). Header names are matched without regard to ASCII case
//! ([`HeaderExtractor`]).
//!
//! ## Cost when nothing records
//!
//! With [`Telemetry::noop()`](hyperion::Telemetry::noop) (or tracing and metrics off) no span is
//! started, no attribute built and no clock read: a publish only injects the caller's context
//! (or the bridge's span) when there is one — a message without one goes out exactly as
//! async-nats would send it, without headers — and [`Processor::process`] only extracts the
//! message's context and hands it to the handler, so the trace keeps propagating through the
//! service.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod carrier;
mod client;
mod jetstream;
mod process;
mod semconv;
mod shared;

pub use carrier::{HeaderExtractor, HeaderInjector};
pub use client::{TracedClient, TracedSubscriber};
pub use jetstream::{TracedAckFuture, TracedJetStream};
pub use process::{Incoming, Processor};
pub use semconv::{
    DELIVERED_COUNT, DURATION_BOUNDARIES, OPERATION_DURATION_METRIC, PROCESS_DURATION_METRIC,
};

/// The crate's README, whose example is compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
