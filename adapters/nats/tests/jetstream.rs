//! JetStream against the real server, recorded by the `memory` module: the publish span ends at
//! the acknowledgement (and fails on a negative one), pull and push consumers' process spans
//! carry the delivery count and the consumer, settling is traced, batches link their producers.
//! Every test works on a stream of its own and deletes it.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::{self, AckPolicy};
use async_nats::jetstream::{self, AckKind};
use common::*;
use futures_util::StreamExt;
use hyperion::{SpanKind, SpanOptions, Telemetry};
use hyperion_nats::{
    DELIVERED_COUNT, OPERATION_DURATION_METRIC, PROCESS_DURATION_METRIC, TracedClient,
    TracedJetStream,
};

/// Runs `body` with a stream of its own capturing `subject`, then deletes the stream, also when
/// the body panics (the panic is then resumed).
async fn with_stream<F, Fut>(js: &TracedJetStream, subject: &str, body: F)
where
    F: FnOnce(jetstream::stream::Stream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = unique("HYPERION_TEST");
    let config = jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![subject.to_string()],
        max_age: Duration::from_secs(600),
        ..Default::default()
    };
    // The server removes an account's stream directory with its last stream: a stream created
    // while a parallel test deletes the last one can fail to find it (error 10049). Retried.
    let mut attempts = 0;
    let stream = loop {
        match js.context().create_stream(config.clone()).await {
            Ok(stream) => break stream,
            Err(error) if attempts < 5 => {
                attempts += 1;
                eprintln!("creating the test stream, attempt {attempts}: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("creating the test stream: {error}"),
        }
    };
    let outcome = tokio::spawn(body(stream)).await;
    js.context()
        .delete_stream(&name)
        .await
        .expect("deleting the test stream");
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

async fn setup() -> (
    Telemetry,
    hyperion::testing::MemoryStore,
    async_nats::Client,
    TracedJetStream,
) {
    let (telemetry, store) = memory().await;
    let client = connect().await;
    let js = TracedClient::new(client.clone(), &telemetry).jetstream();
    (telemetry, store, client, js)
}

/// One message of a pull consumer, waiting up to 5 s for it.
async fn pull_one(consumer: &consumer::Consumer<consumer::pull::Config>) -> jetstream::Message {
    let mut batch = consumer
        .batch()
        .max_messages(1)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    next(&mut batch).await.unwrap()
}

#[tokio::test]
async fn the_publish_span_ends_at_the_ack_and_a_pull_consumer_sees_the_redelivery() {
    let (telemetry, store, client, js) = setup().await;
    let subject = subject("js_pull");
    let consumer_name = unique("pull");
    let task = {
        let (telemetry, store, js, subject) = (
            telemetry.clone(),
            store.clone(),
            js.clone(),
            subject.clone(),
        );
        let consumer_name = consumer_name.clone();
        move |stream: jetstream::stream::Stream| async move {
            let (ctx, mut handler) = telemetry
                .context()
                .start_span("handler", SpanOptions::server());
            let ack = js
                .publish(&ctx, subject.clone(), "job".into())
                .await
                .unwrap();
            telemetry.flush(Duration::from_secs(1)).await.unwrap();
            assert!(
                store.snapshot().spans.is_empty(),
                "the publish span is still open until the acknowledgement"
            );
            let ack = ack.await.unwrap();
            assert_eq!(ack.sequence, 1);
            handler.end();

            let consumer = stream
                .create_consumer(consumer::pull::Config {
                    durable_name: Some(consumer_name.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ..Default::default()
                })
                .await
                .unwrap();
            let processor = js.processor();
            // First delivery: refused (nak), so JetStream delivers it again.
            let first = pull_one(&consumer).await;
            let nak: Result<(), async_nats::Error> = processor
                .process(&first, |ctx| {
                    let processor = processor.clone();
                    let first = first.clone();
                    async move { processor.ack(&ctx, &first, AckKind::Nak(None)).await }
                })
                .await;
            nak.unwrap();
            let second = pull_one(&consumer).await;
            assert_eq!(second.info().unwrap().delivered, 2);
            let acked: Result<(), async_nats::Error> = processor
                .process(&second, |ctx| {
                    let processor = processor.clone();
                    let second = second.clone();
                    async move { processor.ack(&ctx, &second, AckKind::Ack).await }
                })
                .await;
            acked.unwrap();
        }
    };
    with_stream(&js, &subject, task).await;
    let snapshot = flushed(&telemetry, &store).await;

    let send = snapshot
        .root("handler")
        .child(&format!("send {subject}"))
        .kind(SpanKind::Producer)
        .status_not_error();
    assert_eq!(
        texts(&send.span().attributes),
        with_server(
            &client,
            &[
                ("messaging.system", "nats"),
                ("messaging.operation.name", "send"),
                ("messaging.operation.type", "send"),
                ("messaging.destination.name", &subject),
                ("messaging.message.body.size", "3"),
            ]
        )
    );
    let processed: Vec<_> = snapshot
        .children(send.span())
        .into_iter()
        .filter(|s| s.name == format!("process {subject}"))
        .collect();
    assert_eq!(
        processed.len(),
        2,
        "both deliveries are children of the send span"
    );
    for (span, delivered) in processed.iter().zip([1, 2]) {
        assert_eq!(span.kind, SpanKind::Consumer);
        assert_eq!(
            span.attribute(DELIVERED_COUNT),
            Some(&delivered.into()),
            "{}",
            snapshot.tree()
        );
        assert_eq!(
            str_attr(span, "messaging.destination.subscription.name"),
            Some(consumer_name.as_str())
        );
        assert_eq!(
            str_attr(span, "messaging.destination.name"),
            Some(subject.as_str())
        );
        assert_eq!(span.links.len(), 1);
        assert_eq!(
            span.links[0].context.span_id(),
            send.span().context.span_id()
        );
    }
    // Settling: a CLIENT span under each process span.
    for (span, operation) in processed.iter().zip(["nak", "ack"]) {
        let settle = snapshot
            .children(span)
            .into_iter()
            .find(|s| s.name == format!("{operation} {subject}"))
            .unwrap_or_else(|| panic!("no {operation} span:\n{}", snapshot.tree()));
        assert_eq!(settle.kind, SpanKind::Client);
        assert_eq!(
            texts(&settle.attributes),
            with_server(
                &client,
                &[
                    ("messaging.system", "nats"),
                    ("messaging.operation.name", operation),
                    ("messaging.operation.type", "settle"),
                    ("messaging.destination.name", &subject),
                    ("messaging.destination.subscription.name", &consumer_name),
                ]
            )
        );
        let points = points_with(
            &snapshot,
            OPERATION_DURATION_METRIC,
            "messaging.operation.name",
            operation,
        );
        assert_eq!(points.len(), 1);
        assert_eq!(
            points[0].attribute("messaging.operation.type"),
            Some(&"settle".into())
        );
        assert_eq!(points[0].exemplar.as_ref(), Some(&settle.context));
    }
    // The send's duration covers the acknowledgement and has the send span as exemplar.
    let sends = points_with(
        &snapshot,
        OPERATION_DURATION_METRIC,
        "messaging.operation.name",
        "send",
    );
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].exemplar.as_ref(), Some(&send.span().context));
    let processed_points = snapshot.points(PROCESS_DURATION_METRIC);
    assert_eq!(processed_points.len(), 2);
    assert!(processed_points.iter().all(|p| {
        p.attribute("messaging.destination.subscription.name")
            == Some(&consumer_name.as_str().into())
    }));
}

#[tokio::test]
async fn a_push_consumer_is_processed_the_same_way() {
    let (telemetry, store, client, js) = setup().await;
    let subject = subject("js_push");
    let consumer_name = unique("push");
    let task = {
        let (telemetry, js, subject, client) = (
            telemetry.clone(),
            js.clone(),
            subject.clone(),
            client.clone(),
        );
        let consumer_name = consumer_name.clone();
        move |stream: jetstream::stream::Stream| async move {
            js.publish(&telemetry.context(), subject.clone(), "job".into())
                .await
                .unwrap()
                .await
                .unwrap();
            let consumer = stream
                .create_consumer(consumer::push::Config {
                    durable_name: Some(consumer_name.clone()),
                    deliver_subject: client.new_inbox(),
                    ack_policy: AckPolicy::Explicit,
                    ..Default::default()
                })
                .await
                .unwrap();
            let mut messages = consumer.messages().await.unwrap();
            let message = next(&mut messages).await.unwrap();
            let processor = js.processor();
            let _: Result<(), Infallible> = processor.process(&message, |_| async { Ok(()) }).await;
            processor
                .ack(&telemetry.context(), &message, AckKind::Ack)
                .await
                .unwrap();
        }
    };
    with_stream(&js, &subject, task).await;
    let snapshot = flushed(&telemetry, &store).await;

    let send = snapshot.root(&format!("send {subject}"));
    let process = send
        .child(&format!("process {subject}"))
        .kind(SpanKind::Consumer)
        .attribute(DELIVERED_COUNT, 1)
        .attribute(
            "messaging.destination.subscription.name",
            consumer_name.as_str(),
        )
        .attribute("messaging.destination.name", subject.as_str())
        .status_not_error()
        .span();
    // Delivered through an inbox, but the message keeps the subject it was published to.
    assert_eq!(process.attribute("messaging.destination.temporary"), None);
    snapshot
        .span(&format!("ack {subject}"))
        .kind(SpanKind::Client)
        .attribute("messaging.operation.type", "settle");
}

#[tokio::test]
async fn a_batch_of_jetstream_messages_links_each_with_its_delivery_count() {
    let (telemetry, store, _client, js) = setup().await;
    let subject = subject("js_batch");
    let task = {
        let (telemetry, js, subject) = (telemetry.clone(), js.clone(), subject.clone());
        move |stream: jetstream::stream::Stream| async move {
            for payload in ["a", "b"] {
                js.publish(&telemetry.context(), subject.clone(), payload.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            let consumer = stream
                .create_consumer(consumer::pull::Config {
                    durable_name: Some(unique("batch")),
                    ..Default::default()
                })
                .await
                .unwrap();
            let messages: Vec<jetstream::Message> = consumer
                .batch()
                .max_messages(2)
                .expires(Duration::from_secs(5))
                .messages()
                .await
                .unwrap()
                .map(Result::unwrap)
                .collect()
                .await;
            assert_eq!(messages.len(), 2);
            let _: Result<(), Infallible> = js
                .processor()
                .process_batch(&messages, |_| async { Ok(()) })
                .await;
        }
    };
    with_stream(&js, &subject, task).await;
    let snapshot = flushed(&telemetry, &store).await;

    let batch = snapshot
        .root(&format!("process {subject}"))
        .attribute("messaging.batch.message_count", 2)
        .span();
    assert_eq!(batch.links.len(), 2);
    for link in &batch.links {
        assert_eq!(texts(&link.attributes), expected(&[(DELIVERED_COUNT, "1")]));
    }
    let sends: Vec<_> = snapshot
        .spans
        .iter()
        .filter(|s| s.name == format!("send {subject}"))
        .map(|s| s.context.span_id())
        .collect();
    let linked: Vec<_> = batch.links.iter().map(|l| l.context.span_id()).collect();
    assert_eq!(linked, sends);
}

#[tokio::test]
async fn a_publish_no_stream_acknowledges_is_a_stream_not_found_error() {
    let (telemetry, store, _client, js) = setup().await;
    let subject = subject("js_nostream");
    let error = js
        .publish(&telemetry.context(), subject.clone(), "lost".into())
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        jetstream::context::PublishErrorKind::StreamNotFound
    );
    let snapshot = flushed(&telemetry, &store).await;
    snapshot
        .span(&format!("send {subject}"))
        .kind(SpanKind::Producer)
        .status_error()
        .attribute("error.type", "stream_not_found")
        .event("exception");
    let point = snapshot.points(OPERATION_DURATION_METRIC)[0];
    assert_eq!(
        point.attribute("error.type"),
        Some(&"stream_not_found".into())
    );
    assert!(point.exemplar.is_some());
}

#[tokio::test]
async fn an_acknowledgement_nobody_awaits_ends_the_span_without_a_status_or_duration() {
    let (telemetry, store, _client, js) = setup().await;
    let subject = subject("js_dropped");
    let ack = js
        .publish(&telemetry.context(), subject.clone(), "x".into())
        .await
        .unwrap();
    drop(ack);
    let snapshot = flushed(&telemetry, &store).await;
    let span = snapshot
        .span(&format!("send {subject}"))
        .status_not_error()
        .span();
    assert_eq!(span.attribute("error.type"), None);
    assert!(snapshot.points(OPERATION_DURATION_METRIC).is_empty());
}

#[tokio::test]
async fn noop_jetstream_publish_propagates_the_callers_trace() {
    let client = connect().await;
    let js = TracedClient::new(client.clone(), &Telemetry::noop()).jetstream();
    let subject = subject("js_noop");
    let task = {
        let js = js.clone();
        let subject = subject.clone();
        move |stream: jetstream::stream::Stream| async move {
            let ctx = hyperion::Context::noop().with_span_context(remote_parent(3, 4, ""));
            js.publish(&ctx, subject.clone(), "x".into())
                .await
                .unwrap()
                .await
                .unwrap();
            let consumer = stream
                .create_consumer(consumer::pull::Config::default())
                .await
                .unwrap();
            let message = pull_one(&consumer).await;
            let extracted = js.processor().context(&message);
            assert_eq!(
                extracted.span_context().span_id(),
                remote_parent(3, 4, "").span_id()
            );
            let seen = js
                .processor()
                .process(&message, |ctx| async move {
                    Ok::<_, Infallible>(ctx.span_context().clone())
                })
                .await
                .unwrap();
            assert_eq!(seen.trace_id(), remote_parent(3, 4, "").trace_id());
            assert_eq!(seen.span_id(), remote_parent(3, 4, "").span_id());
        }
    };
    with_stream(&js, &subject, task).await;
}
