//! Core NATS against the real server, recorded by the `memory` module: publish → process,
//! request → reply, queue groups, wildcards, batches, inboxes, exemplars, errors, malformed
//! headers, the bridge fallback and the no-op path.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hyperion::metric::InstrumentKind;
use hyperion::{Baggage, Context, SpanContext, SpanId, SpanKind, SpanOptions, Telemetry, TraceId};
use hyperion_nats::{
    DURATION_BOUNDARIES, OPERATION_DURATION_METRIC, PROCESS_DURATION_METRIC, TracedClient,
};

type Done = Result<(), Infallible>;

/// What a handler saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Context>>>);

impl Seen {
    fn push(&self, ctx: &Context) {
        self.0.lock().unwrap().push(ctx.clone());
    }

    fn all(&self) -> Vec<Context> {
        self.0.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// publish → process
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn publish_then_process_is_a_producer_span_and_its_consumer_child() {
    let (telemetry, store) = memory().await;
    let client = connect().await;
    let traced = TracedClient::new(client.clone(), &telemetry);
    let subject = subject("publish");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();

    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let ctx = ctx.with_baggage(Baggage::EMPTY.with("tenant", "acme"));
    traced
        .publish(&ctx, subject.clone(), "hello".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let seen = Seen::default();
    let result: Done = sub
        .process(&message, |ctx| {
            seen.push(&ctx);
            async { Ok(()) }
        })
        .await;
    result.unwrap();
    handler.end();
    let snapshot = flushed(&telemetry, &store).await;

    let send_name = format!("send {subject}");
    let process_name = format!("process {subject}");
    let producer = snapshot
        .root("handler")
        .child(&send_name)
        .kind(SpanKind::Producer)
        .status_not_error();
    assert_eq!(
        texts(&producer.span().attributes),
        with_server(
            &client,
            &[
                ("messaging.system", "nats"),
                ("messaging.operation.name", "send"),
                ("messaging.operation.type", "send"),
                ("messaging.destination.name", &subject),
                ("messaging.message.body.size", "5"),
            ]
        )
    );
    let consumer = producer
        .child(&process_name)
        .kind(SpanKind::Consumer)
        .status_not_error();
    assert_eq!(
        texts(&consumer.span().attributes),
        with_server(
            &client,
            &[
                ("messaging.system", "nats"),
                ("messaging.operation.name", "process"),
                ("messaging.operation.type", "process"),
                ("messaging.destination.name", &subject),
                ("messaging.message.body.size", "5"),
            ]
        )
    );
    let (producer, consumer) = (producer.span(), consumer.span());
    assert!(consumer.parent_is_remote, "the parent came in the headers");
    assert_eq!(consumer.context.trace_id(), ctx.span_context().trace_id());
    assert_eq!(
        consumer.links.len(),
        1,
        "the process span links to its producer"
    );
    assert_eq!(
        consumer.links[0].context.span_id(),
        producer.context.span_id()
    );

    // What went over the wire: the producer span, the trace state and the baggage.
    let sent = hyperion::propagation::extract_trace_context(
        &hyperion_nats::HeaderExtractor(message.headers.as_ref().unwrap()),
        &hyperion::PropagationLimits::DEFAULT,
    )
    .expect("a valid traceparent");
    assert_eq!(
        (sent.trace_id(), sent.span_id(), sent.is_sampled()),
        (
            producer.context.trace_id(),
            producer.context.span_id(),
            true
        )
    );
    assert_eq!(header(&message, "baggage"), Some("tenant=acme"));

    // The handler ran with the process span's context and the message's baggage.
    let handler_ctx = &seen.all()[0];
    assert_eq!(handler_ctx.span_context(), &consumer.context);
    assert_eq!(handler_ctx.baggage().get("tenant"), Some("acme"));
}

#[tokio::test]
async fn both_histograms_have_their_attributes_buckets_and_span_as_exemplar() {
    let (telemetry, store) = memory().await;
    let client = connect().await;
    let traced = TracedClient::new(client.clone(), &telemetry);
    let subject = subject("metrics");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    traced
        .publish(&telemetry.context(), subject.clone(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let _: Done = sub.process(&message, |_| async { Ok(()) }).await;
    let snapshot = flushed(&telemetry, &store).await;

    let send = snapshot.span(&format!("send {subject}")).span();
    let process = snapshot.span(&format!("process {subject}")).span();

    let operation = snapshot.points(OPERATION_DURATION_METRIC);
    assert_eq!(operation.len(), 1);
    let point = operation[0];
    assert_eq!(point.instrument.kind, InstrumentKind::Histogram);
    assert_eq!(point.instrument.unit, "s");
    assert_eq!(point.instrument.scope, "hyperion-nats");
    assert_eq!(
        point.instrument.boundaries.as_deref(),
        Some(&DURATION_BOUNDARIES[..])
    );
    assert_eq!(
        DURATION_BOUNDARIES,
        [
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
        ]
    );
    assert_eq!(
        texts(&point.attributes),
        with_server(
            &client,
            &[
                ("messaging.system", "nats"),
                ("messaging.operation.name", "send"),
                ("messaging.operation.type", "send"),
                ("messaging.destination.name", &subject),
            ]
        )
    );
    let exemplar = point.exemplar.as_ref().expect("an exemplar");
    assert_eq!(
        (exemplar.trace_id(), exemplar.span_id()),
        (send.context.trace_id(), send.context.span_id())
    );
    assert!(point.value.as_f64() >= 0.0 && point.value.as_f64() < 5.0);

    let processed = snapshot.points(PROCESS_DURATION_METRIC);
    assert_eq!(processed.len(), 1);
    let point = processed[0];
    assert_eq!(point.instrument.unit, "s");
    assert_eq!(
        point.instrument.boundaries.as_deref(),
        Some(&DURATION_BOUNDARIES[..])
    );
    assert_eq!(
        texts(&point.attributes),
        with_server(
            &client,
            &[
                ("messaging.system", "nats"),
                ("messaging.operation.name", "process"),
                ("messaging.destination.name", &subject),
            ]
        )
    );
    let exemplar = point.exemplar.as_ref().expect("an exemplar");
    assert_eq!(
        (exemplar.trace_id(), exemplar.span_id()),
        (process.context.trace_id(), process.context.span_id())
    );
}

// ---------------------------------------------------------------------------------------------
// request → reply
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn request_is_a_client_span_whose_child_is_the_responders_process_span() {
    let (telemetry, store) = memory().await;
    let client = connect().await;
    let traced = TracedClient::new(client.clone(), &telemetry);
    let subject = subject("request");

    // The responder handles one request: process span, and the reply sent from within it.
    let mut requests = traced.subscribe(subject.clone()).await.unwrap();
    let responder = {
        let traced = traced.clone();
        tokio::spawn(async move {
            let request = next(&mut requests).await;
            let replied: Result<(), async_nats::client::PublishError> = requests
                .process(&request, |ctx| {
                    let traced = traced.clone();
                    let request = request.clone();
                    async move { traced.respond(&ctx, &request, "pong".into()).await }
                })
                .await;
            replied.unwrap();
            request.reply.unwrap().to_string()
        })
    };

    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let reply = traced
        .request(&ctx, subject.clone(), "ping".into())
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"pong");
    let inbox = responder.await.unwrap();
    handler.end();
    assert!(inbox.starts_with("_INBOX."), "{inbox}");
    let snapshot = flushed(&telemetry, &store).await;

    let request = snapshot
        .root("handler")
        .child(&format!("request {subject}"))
        .kind(SpanKind::Client)
        .status_not_error();
    assert_eq!(
        texts(&request.span().attributes),
        with_server(
            &client,
            &[
                ("messaging.system", "nats"),
                ("messaging.operation.name", "request"),
                ("messaging.operation.type", "send"),
                ("messaging.destination.name", &subject),
                ("messaging.message.body.size", "4"),
            ]
        )
    );
    let process = request
        .child(&format!("process {subject}"))
        .kind(SpanKind::Consumer);
    // The reply goes to a temporary inbox: named by its template, never by the inbox.
    let reply_span = process
        .child("send _INBOX.*")
        .kind(SpanKind::Producer)
        .attribute("messaging.destination.temporary", true)
        .attribute("messaging.destination.template", "_INBOX.*")
        .attribute("messaging.destination.name", inbox.as_str())
        .attribute("messaging.message.body.size", 4);
    assert!(reply_span.span().links.is_empty());

    // The metrics: the request by its subject, the reply by the inbox template only.
    let requests = points_with(
        &snapshot,
        OPERATION_DURATION_METRIC,
        "messaging.operation.name",
        "request",
    );
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].attribute("messaging.destination.name"),
        Some(&subject.as_str().into())
    );
    assert_eq!(
        requests[0].exemplar.as_ref().map(SpanContext::span_id),
        Some(request.span().context.span_id())
    );
    let replies = points_with(
        &snapshot,
        OPERATION_DURATION_METRIC,
        "messaging.destination.template",
        "_INBOX.*",
    );
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].attribute("messaging.destination.name"), None);
    assert_eq!(
        replies[0].attribute("messaging.operation.name"),
        Some(&"send".into())
    );
    for point in &snapshot.points {
        for attribute in &point.attributes {
            assert!(
                !attribute.value.to_string().starts_with("_INBOX.")
                    || attribute.value == "_INBOX.*".into(),
                "an inbox in a metric attribute: {point:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_request_nobody_answers_is_a_no_responders_error() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("nobody");
    let error = traced
        .request(&telemetry.context(), subject.clone(), "ping".into())
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        async_nats::client::RequestErrorKind::NoResponders
    );
    let snapshot = flushed(&telemetry, &store).await;
    let span = snapshot
        .span(&format!("request {subject}"))
        .status_error()
        .attribute("error.type", "no_responders")
        .event("exception");
    assert!(span.span().parent_span_id.is_none());
    let point = snapshot.points(OPERATION_DURATION_METRIC)[0];
    assert_eq!(point.attribute("error.type"), Some(&"no_responders".into()));
}

// ---------------------------------------------------------------------------------------------
// Groups, wildcards, inboxes, batches
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_queue_group_is_the_consumer_group_of_spans_and_metrics() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("queue");
    let mut sub = traced
        .queue_subscribe(subject.clone(), "workers".into())
        .await
        .unwrap();
    assert_eq!(sub.processor().group(), Some("workers"));
    traced
        .publish(&telemetry.context(), subject.clone(), "job".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let _: Done = sub.process(&message, |_| async { Ok(()) }).await;
    let snapshot = flushed(&telemetry, &store).await;

    snapshot
        .span(&format!("process {subject}"))
        .attribute("messaging.consumer.group.name", "workers");
    let send = snapshot.span(&format!("send {subject}")).span();
    assert_eq!(send.attribute("messaging.consumer.group.name"), None);
    let point = snapshot.points(PROCESS_DURATION_METRIC)[0];
    assert_eq!(
        point.attribute("messaging.consumer.group.name"),
        Some(&"workers".into())
    );
}

#[tokio::test]
async fn a_wildcard_subscription_names_spans_and_metrics_by_its_template() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let base = subject("wildcard");
    let template = format!("{base}.*");
    let concrete = format!("{base}.order-42");
    let mut sub = traced.subscribe(template.clone()).await.unwrap();
    traced
        .publish(&telemetry.context(), concrete.clone(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let _: Done = sub.process(&message, |_| async { Ok(()) }).await;
    let snapshot = flushed(&telemetry, &store).await;

    snapshot
        .span(&format!("process {template}"))
        .attribute("messaging.destination.name", concrete.as_str())
        .attribute("messaging.destination.template", template.as_str());
    let process = snapshot.points(PROCESS_DURATION_METRIC)[0];
    assert_eq!(
        process.attribute("messaging.destination.template"),
        Some(&template.as_str().into())
    );
    assert_eq!(process.attribute("messaging.destination.name"), None);
}

#[tokio::test]
async fn a_custom_inbox_prefix_is_temporary_too() {
    let (telemetry, store) = memory().await;
    let prefix = unique("hyp_inbox");
    let client = connect_with(async_nats::ConnectOptions::new().custom_inbox_prefix(&prefix)).await;
    let traced = TracedClient::new(client.clone(), &telemetry);
    let inbox = client.new_inbox();
    assert!(inbox.starts_with(&format!("{prefix}.")));
    let mut sub = traced.subscribe(inbox.clone()).await.unwrap();
    traced
        .publish(&telemetry.context(), inbox.clone(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let _: Done = sub.process(&message, |_| async { Ok(()) }).await;
    // `_INBOX.` stays an inbox for this client (replies to other clients' requests).
    traced
        .publish(&telemetry.context(), "_INBOX.someone.1", "x".into())
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    let template = format!("{prefix}.*");
    for name in [format!("send {template}"), format!("process {template}")] {
        snapshot
            .span(&name)
            .attribute("messaging.destination.temporary", true)
            .attribute("messaging.destination.template", template.as_str())
            .attribute("messaging.destination.name", inbox.as_str());
    }
    snapshot
        .span("send _INBOX.*")
        .attribute("messaging.destination.temporary", true);
    assert_eq!(snapshot.spans.len(), 3, "{}", snapshot.tree());
    for point in &snapshot.points {
        assert_eq!(
            point.attribute("messaging.destination.name"),
            None,
            "{point:?}"
        );
        assert!(point.attribute("messaging.destination.template").is_some());
    }
}

#[tokio::test]
async fn a_batch_is_one_consumer_span_linking_every_producer() {
    let (telemetry, store) = memory().await;
    let plain = connect().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("batch");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    // The subscription is on the server before another connection publishes.
    server_processed(traced.client()).await;
    let (first, mut a) = telemetry.context().start_span("a", SpanOptions::new());
    let (second, mut b) = telemetry.context().start_span("b", SpanOptions::new());
    traced
        .publish(&first, subject.clone(), "1".into())
        .await
        .unwrap();
    traced
        .publish(&second, subject.clone(), "22".into())
        .await
        .unwrap();
    plain.publish(subject.clone(), "333".into()).await.unwrap();
    let messages = vec![
        next(&mut sub).await,
        next(&mut sub).await,
        next(&mut sub).await,
    ];
    let seen = Seen::default();
    let _: Done = sub
        .process_batch(&messages, |ctx| {
            seen.push(&ctx);
            async { Ok(()) }
        })
        .await;
    a.end();
    b.end();
    let snapshot = flushed(&telemetry, &store).await;

    let batch = snapshot
        .root(&format!("process {subject}"))
        .kind(SpanKind::Consumer)
        .attribute("messaging.batch.message_count", 3)
        .attribute("messaging.destination.name", subject.as_str())
        .attribute("messaging.operation.type", "process")
        .span();
    assert!(
        batch.parent_span_id.is_none(),
        "a batch has no single parent"
    );
    assert_eq!(batch.attribute("messaging.message.body.size"), None);
    let sends: Vec<SpanId> = [first, second]
        .iter()
        .map(|ctx| {
            let parent = ctx.span_context().span_id();
            snapshot
                .spans
                .iter()
                .find(|s| s.parent_span_id == Some(parent))
                .unwrap()
                .context
                .span_id()
        })
        .collect();
    let mut linked: Vec<SpanId> = batch.links.iter().map(|l| l.context.span_id()).collect();
    let mut sends = sends;
    // Two connections: the messages may arrive in any order.
    linked.sort_by_key(|id| id.to_string());
    sends.sort_by_key(|id| id.to_string());
    assert_eq!(
        linked, sends,
        "one link per traced message, none for the plain one"
    );
    assert_eq!(seen.all()[0].span_context(), &batch.context);
    assert_eq!(snapshot.points(PROCESS_DURATION_METRIC).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Creation contexts, errors, malformed headers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn forwarded_propagation_headers_are_replaced_in_every_spelling() {
    // Headers forwarded from a message received: another trace's context, in two spellings.
    let stale = || {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Traceparent",
            "00-07070707070707070707070707070707-0808080808080808-01",
        );
        headers.insert("traceparent", "garbage");
        headers.insert("tracestate", "other=1");
        headers.insert("BAGGAGE", "stale=1");
        headers.insert("x-app", "1");
        headers
    };
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("forward");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let ctx = ctx.with_baggage(Baggage::EMPTY.with("tenant", "acme"));
    traced
        .publish_with_headers(&ctx, subject.clone(), stale(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let seen = Seen::default();
    let _: Done = sub
        .process(&message, |ctx| {
            seen.push(&ctx);
            async { Ok(()) }
        })
        .await;
    handler.end();

    let headers = message.headers.as_ref().unwrap();
    let names: Vec<String> = headers.iter().map(|(n, _)| n.to_string()).collect();
    for (name, expected) in [("traceparent", 1), ("tracestate", 0), ("baggage", 1)] {
        let count = names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(name))
            .count();
        assert_eq!(count, expected, "{name} in {names:?}");
    }
    assert_eq!(header(&message, "x-app"), Some("1"));
    assert_eq!(header(&message, "baggage"), Some("tenant=acme"));
    let snapshot = flushed(&telemetry, &store).await;
    // The consumer continues this trace, not the forwarded one.
    snapshot
        .root("handler")
        .child(&format!("send {subject}"))
        .kind(SpanKind::Producer)
        .child(&format!("process {subject}"));
    assert_eq!(seen.all()[0].baggage().get("tenant"), Some("acme"));
    assert_eq!(seen.all()[0].baggage().get("stale"), None);

    // With nothing recording, the same: the stale context does not travel on.
    let noop = TracedClient::new(connect().await, &Telemetry::noop());
    noop.publish_with_headers(&Context::noop(), subject.clone(), stale(), "y".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let names: Vec<String> = message
        .headers
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(names, ["x-app"]);
}

#[tokio::test]
async fn processing_under_a_span_links_to_it() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("ambient");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    let (producer_ctx, mut producer) = telemetry
        .context()
        .start_span("producer", SpanOptions::new());
    traced
        .publish(&producer_ctx, subject.clone(), "traced".into())
        .await
        .unwrap();
    producer.end();
    // A message without trace headers too, from a plain client (once the server has the
    // subscription).
    server_processed(traced.client()).await;
    let plain = connect().await;
    plain
        .publish(subject.clone(), "plain".into())
        .await
        .unwrap();
    plain.flush().await.unwrap();
    let traced_message = next(&mut sub).await;
    let plain_message = next(&mut sub).await;
    let (poll_ctx, mut poll) = telemetry.context().start_span("poll", SpanOptions::new());
    for message in [&traced_message, &plain_message] {
        let _: Done = poll_ctx
            .scope(sub.process(message, |_| async { Ok(()) }))
            .await;
    }
    poll.end();

    let snapshot = flushed(&telemetry, &store).await;
    let processed: Vec<_> = snapshot
        .spans
        .iter()
        .filter(|s| s.name == format!("process {subject}"))
        .collect();
    assert_eq!(processed.len(), 2, "{}", snapshot.tree());
    let send = snapshot.span(&format!("send {subject}")).span().clone();
    // The traced message: child of the send span, linked to it and to the poll span.
    let linked: Vec<SpanId> = processed[0]
        .links
        .iter()
        .map(|l| l.context.span_id())
        .collect();
    assert_eq!(processed[0].parent_span_id, Some(send.context.span_id()));
    assert_eq!(
        linked,
        [send.context.span_id(), poll.span_context().span_id()]
    );
    // The plain one: a new trace, linked to the poll span only.
    assert_eq!(processed[1].parent_span_id, None);
    let linked: Vec<SpanId> = processed[1]
        .links
        .iter()
        .map(|l| l.context.span_id())
        .collect();
    assert_eq!(linked, [poll.span_context().span_id()]);
}

#[tokio::test]
async fn a_reply_to_an_unknown_inbox_prefix_is_still_temporary() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("foreign");
    let mut requests = traced.subscribe(subject.clone()).await.unwrap();
    // The requester is another client, with a prefix the responder does not know.
    let prefix = unique("_INBOX_alice");
    let requester =
        connect_with(async_nats::ConnectOptions::new().custom_inbox_prefix(&prefix)).await;
    let request = tokio::spawn({
        let subject = subject.clone();
        async move { requester.request(subject, "q".into()).await }
    });
    let message = next(&mut requests).await;
    let responder = traced.clone();
    let _: Result<(), async_nats::client::PublishError> = requests
        .process(&message, |ctx| {
            let (responder, message) = (responder.clone(), message.clone());
            async move { responder.respond(&ctx, &message, "a".into()).await }
        })
        .await;
    assert_eq!(request.await.unwrap().unwrap().payload, "a");

    let snapshot = flushed(&telemetry, &store).await;
    let template = format!("{prefix}.*");
    let reply = snapshot
        .span(&format!("send {template}"))
        .attribute("messaging.destination.temporary", true)
        .attribute("messaging.destination.template", template.as_str())
        .span()
        .clone();
    assert!(
        str_attr(&reply, "messaging.destination.name")
            .unwrap()
            .starts_with(&prefix)
    );
    for point in snapshot.points(OPERATION_DURATION_METRIC) {
        assert_eq!(
            point.attribute("messaging.destination.name"),
            None,
            "{point:?}"
        );
    }
}

#[tokio::test]
async fn headers_of_the_caller_get_the_propagation_headers_added() {
    let (telemetry, _store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("headers");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("x-app", "1");
    let (ctx, _span) = telemetry.context().start_span("h", SpanOptions::new());
    traced
        .publish_with_headers(&ctx, subject.clone(), headers, "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    assert_eq!(header(&message, "x-app"), Some("1"));
    let traceparent = header(&message, "traceparent").unwrap();
    assert!(traceparent.contains(&ctx.span_context().trace_id().to_string()));
}

#[tokio::test]
async fn a_failing_handler_sets_error_type_status_and_the_exception() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("failing");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    traced
        .publish(&telemetry.context(), subject.clone(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let result: Result<(), std::io::Error> = sub
        .process(&message, |_| async {
            Err(std::io::Error::other("disk full"))
        })
        .await;
    assert!(result.is_err(), "the handler's result is returned as is");
    let snapshot = flushed(&telemetry, &store).await;

    let error_type = std::any::type_name::<std::io::Error>();
    let span = snapshot
        .span(&format!("process {subject}"))
        .status_error()
        .attribute("error.type", error_type)
        .event("exception")
        .span();
    assert_eq!(
        span.event("exception").unwrap().attributes[1].value,
        "disk full".into()
    );
    let point = snapshot.points(PROCESS_DURATION_METRIC)[0];
    assert_eq!(point.attribute("error.type"), Some(&error_type.into()));
}

#[tokio::test]
async fn a_process_future_dropped_early_is_cancelled() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("cancelled");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    traced
        .publish(&telemetry.context(), subject.clone(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let timed_out = tokio::time::timeout(
        Duration::from_millis(20),
        sub.process(&message, |_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Done::Ok(())
        }),
    )
    .await;
    assert!(timed_out.is_err());
    let snapshot = flushed(&telemetry, &store).await;
    snapshot
        .span(&format!("process {subject}"))
        .status_error()
        .attribute("error.type", "cancelled");
    let point = snapshot.points(PROCESS_DURATION_METRIC)[0];
    assert_eq!(point.attribute("error.type"), Some(&"cancelled".into()));
}

#[tokio::test]
async fn a_panicking_handler_is_recorded_as_panic() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("panic");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    traced
        .publish(&telemetry.context(), subject.clone(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    let processor = sub.processor().clone();
    let joined = tokio::spawn(async move {
        let _: Done = processor
            .process(&message, |_| async { panic!("the handler fails") })
            .await;
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    let snapshot = flushed(&telemetry, &store).await;
    snapshot
        .span(&format!("process {subject}"))
        .status_error()
        .attribute("error.type", "panic");
    let point = snapshot.points(PROCESS_DURATION_METRIC)[0];
    assert_eq!(point.attribute("error.type"), Some(&"panic".into()));
}

#[tokio::test]
async fn messages_without_or_with_garbage_trace_headers_are_processed_under_new_roots() {
    let (telemetry, store) = memory().await;
    let plain = connect().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("garbage");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    server_processed(traced.client()).await;

    // A plain async-nats client: no headers at all.
    plain
        .publish(subject.clone(), "plain".into())
        .await
        .unwrap();
    // Garbage, an all-zero trace id, two traceparents, a tracestate alone.
    let garbage: [&[(&str, &str)]; 4] = [
        &[("traceparent", "garbage"), ("baggage", "%%%;;;=")],
        &[(
            "traceparent",
            "00-00000000000000000000000000000000-0808080808080808-01",
        )],
        &[
            (
                "traceparent",
                "00-07070707070707070707070707070707-0808080808080808-01",
            ),
            (
                "traceparent",
                "00-09090909090909090909090909090909-0808080808080808-01",
            ),
        ],
        &[("tracestate", "vendor=1")],
    ];
    for pairs in garbage {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, *value);
        }
        plain
            .publish_with_headers(subject.clone(), headers, "bad".into())
            .await
            .unwrap();
    }
    let seen = Seen::default();
    for _ in 0..5 {
        let message = next(&mut sub).await;
        let _: Done = sub
            .process(&message, |ctx| {
                seen.push(&ctx);
                async { Ok(()) }
            })
            .await;
    }
    let snapshot = flushed(&telemetry, &store).await;

    assert_eq!(seen.all().len(), 5, "every message was handled");
    let processed: Vec<_> = snapshot
        .spans
        .iter()
        .filter(|s| s.name == format!("process {subject}"))
        .collect();
    assert_eq!(processed.len(), 5);
    for span in &processed {
        assert!(span.parent_span_id.is_none(), "{}", snapshot.tree());
        assert!(span.links.is_empty());
        assert!(!span.status.is_error());
    }
    let traces: std::collections::HashSet<TraceId> =
        processed.iter().map(|s| s.context.trace_id()).collect();
    assert_eq!(traces.len(), 5, "each under a new trace of its own");
    for ctx in seen.all() {
        assert!(ctx.span_context().is_valid());
        assert!(ctx.baggage().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Which parent, and the no-op path
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_a_span_in_ctx_the_bridges_current_span_is_the_parent() {
    let (telemetry, store) = memory().await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("bridge");
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    ctx.scope(async {
        traced
            .publish(&Context::noop(), subject.clone(), "in".into())
            .await
            .unwrap();
    })
    .await;
    handler.end();
    traced
        .publish(&telemetry.context(), subject.clone(), "out".into())
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;

    snapshot.root("handler").child(&format!("send {subject}"));
    let roots: Vec<_> = snapshot
        .roots()
        .into_iter()
        .filter(|s| s.name == format!("send {subject}"))
        .collect();
    assert_eq!(roots.len(), 1, "outside any scope: a new trace");
    assert_ne!(roots[0].context.trace_id(), ctx.span_context().trace_id());
}

/// The no-op path: nothing recorded; a message without a context goes out as async-nats sends
/// it; a context carried in is extracted, handed to the handler and sent on, unchanged.
async fn propagates_without_recording(traced: &TracedClient) {
    let subject = subject("noop");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();

    traced
        .publish(&Context::noop(), subject.clone(), "bare".into())
        .await
        .unwrap();
    let bare = next(&mut sub).await;
    assert!(
        bare.headers.is_none(),
        "no context, no headers: {:?}",
        bare.headers
    );

    let remote = remote_parent(3, 4, "vendor=abc");
    let ctx = Context::noop()
        .with_span_context(remote.clone())
        .with_baggage(Baggage::EMPTY.with("tenant", "acme"));
    traced
        .publish(&ctx, subject.clone(), "traced".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    assert_eq!(
        header(&message, "traceparent"),
        Some("00-03030303030303030303030303030303-0404040404040404-01")
    );
    assert_eq!(header(&message, "tracestate"), Some("vendor=abc"));
    assert_eq!(header(&message, "baggage"), Some("tenant=acme"));

    // The handler gets the extracted context (no span of its own) and sends it on.
    let seen = Seen::default();
    let forwarded: Result<(), async_nats::client::PublishError> = sub
        .process(&message, |ctx| {
            seen.push(&ctx);
            let traced = traced.clone();
            let subject = subject.clone();
            async move { traced.publish(&ctx, subject, "forwarded".into()).await }
        })
        .await;
    forwarded.unwrap();
    let handler_ctx = &seen.all()[0];
    assert_eq!(handler_ctx.span_context().trace_id(), remote.trace_id());
    assert_eq!(handler_ctx.span_context().span_id(), remote.span_id());
    assert_eq!(handler_ctx.baggage().get("tenant"), Some("acme"));
    let forwarded = next(&mut sub).await;
    assert_eq!(
        header(&forwarded, "traceparent"),
        header(&message, "traceparent")
    );
    assert_eq!(header(&forwarded, "baggage"), Some("tenant=acme"));

    // A message without a context: the handler gets an empty one.
    let _: Done = sub
        .process(&bare, |ctx| {
            assert!(!ctx.span_context().is_valid());
            async { Ok(()) }
        })
        .await;
}

#[tokio::test]
async fn noop_telemetry_records_nothing_and_still_propagates() {
    let traced = TracedClient::new(connect().await, &Telemetry::noop());
    propagates_without_recording(&traced).await;
}

#[tokio::test]
async fn telemetry_with_tracing_and_metrics_off_records_nothing_and_still_propagates() {
    let (telemetry, store) =
        memory_with("tracing:\n  enabled: false\nmetrics:\n  enabled: false\n").await;
    let traced = TracedClient::new(connect().await, &telemetry);
    propagates_without_recording(&traced).await;
    let snapshot = flushed(&telemetry, &store).await;
    assert!(snapshot.spans.is_empty() && snapshot.points.is_empty());
}

#[tokio::test]
async fn metrics_without_tracing_measure_with_the_callers_span_as_exemplar() {
    let (telemetry, store) = memory_with("tracing:\n  enabled: false\n").await;
    let traced = TracedClient::new(connect().await, &telemetry);
    let subject = subject("metrics_only");
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    let ctx = telemetry
        .context()
        .with_span_context(remote_parent(5, 6, ""));
    traced
        .publish(&ctx, subject.clone(), "x".into())
        .await
        .unwrap();
    let message = next(&mut sub).await;
    assert_eq!(
        header(&message, "traceparent"),
        Some("00-05050505050505050505050505050505-0606060606060606-01")
    );
    let _: Done = sub.process(&message, |_| async { Ok(()) }).await;
    // Without a context there is nothing to carry: no headers at all.
    traced
        .publish(&telemetry.context(), subject.clone(), "y".into())
        .await
        .unwrap();
    assert!(next(&mut sub).await.headers.is_none());
    let snapshot = flushed(&telemetry, &store).await;
    assert!(snapshot.spans.is_empty());
    assert_eq!(snapshot.points(OPERATION_DURATION_METRIC).len(), 2);
    let send = snapshot.points(OPERATION_DURATION_METRIC)[0];
    assert_eq!(send.exemplar.as_ref(), Some(ctx.span_context()));
    let process = snapshot.points(PROCESS_DURATION_METRIC)[0];
    assert_eq!(
        process.exemplar.as_ref().map(SpanContext::span_id),
        Some(SpanId::from_bytes([6; 8]))
    );
}

/// With `propagation.propagators: b3`, the message carries the single `b3` header (and no
/// `traceparent`), and the consumer is the producer's child through it.
#[tokio::test]
async fn b3_propagators_carry_the_trace_in_the_b3_header() {
    let yaml = "tracing: {sample_rate: 1.0}\npropagation: {propagators: b3}\n";
    let (telemetry, store) = common::memory_with(yaml).await;
    let client = connect().await;
    let traced = TracedClient::new(client.clone(), &telemetry);
    let subject = subject("b3");
    let mut raw = client.subscribe(subject.clone()).await.unwrap();
    let mut sub = traced.subscribe(subject.clone()).await.unwrap();
    traced
        .publish(&telemetry.context(), subject.clone(), "x".into())
        .await
        .unwrap();
    let seen_raw = next(&mut raw).await;
    let headers = seen_raw.headers.as_ref().expect("propagation headers");
    assert!(headers.get("traceparent").is_none());
    let b3 = headers
        .get("b3")
        .expect("the b3 header")
        .as_str()
        .to_owned();
    let message = next(&mut sub).await;
    let _: Done = sub.process(&message, |_| async { Ok(()) }).await;
    let snapshot = flushed(&telemetry, &store).await;

    let send = snapshot.span(&format!("send {subject}")).span();
    let process = snapshot.span(&format!("process {subject}")).span();
    assert_eq!(
        b3,
        format!("{}-{}-1", send.context.trace_id(), send.context.span_id())
    );
    assert_eq!(process.context.trace_id(), send.context.trace_id());
    assert_eq!(process.parent_span_id, Some(send.context.span_id()));
}
