//! The names of the OpenTelemetry messaging semantic conventions (development status, as of the
//! `messaging-spans.md` and `messaging-metrics.md` texts) that this crate records, the NATS
//! choices where the conventions leave one open, and the `error.type` values it reports.

use std::borrow::Cow;

use hyperion::SpanKind;

/// The histogram of client operations (`send`, `request`, `ack`, ...), in seconds.
pub const OPERATION_DURATION_METRIC: &str = "messaging.client.operation.duration";

/// The histogram of message processing (the handler given to
/// [`Processor::process`](crate::Processor::process)), in seconds.
pub const PROCESS_DURATION_METRIC: &str = "messaging.process.duration";

/// The explicit bucket boundaries the conventions advise for both duration histograms, in
/// seconds.
pub const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How many times JetStream has delivered the message, redeliveries included (`1` the first
/// time), from the message's JetStream info. The conventions define no key for it; this one
/// lives in the `messaging.nats` namespace, as the conventions ask of system-specific keys.
pub const DELIVERED_COUNT: &str = "messaging.nats.message.delivered_count";

pub(crate) const MESSAGING_SYSTEM: &str = "messaging.system";
/// `messaging.system`: not among the well-known values; the conventions allow a custom one.
pub(crate) const NATS: &str = "nats";
pub(crate) const OPERATION_NAME: &str = "messaging.operation.name";
pub(crate) const OPERATION_TYPE: &str = "messaging.operation.type";
pub(crate) const DESTINATION_NAME: &str = "messaging.destination.name";
pub(crate) const DESTINATION_TEMPLATE: &str = "messaging.destination.template";
pub(crate) const DESTINATION_TEMPORARY: &str = "messaging.destination.temporary";
pub(crate) const SUBSCRIPTION_NAME: &str = "messaging.destination.subscription.name";
pub(crate) const CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
pub(crate) const BODY_SIZE: &str = "messaging.message.body.size";
pub(crate) const BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
pub(crate) const SERVER_ADDRESS: &str = "server.address";
pub(crate) const SERVER_PORT: &str = "server.port";
pub(crate) const ERROR_TYPE: &str = "error.type";

/// `error.type` when nothing more specific applies.
pub(crate) const OTHER: &str = "_OTHER";
/// `error.type` of an operation whose future was dropped before it completed.
pub(crate) const CANCELLED: &str = "cancelled";
/// `error.type` of a handler that panicked.
pub(crate) const PANIC: &str = "panic";

/// Which histogram an operation's duration goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Metric {
    /// `messaging.client.operation.duration`, with `messaging.operation.type`.
    Client,
    /// `messaging.process.duration` (whose attributes do not include the operation type).
    Process,
}

/// One kind of operation: its `messaging.operation.name` (the first word of the span name),
/// `messaging.operation.type`, span kind and histogram.
#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) name: &'static str,
    pub(crate) kind_type: &'static str,
    pub(crate) span_kind: SpanKind,
    pub(crate) metric: Metric,
}

/// A publish whose span's context is the message's creation context: a PRODUCER "send" span.
pub(crate) static SEND: Operation = Operation {
    name: "send",
    kind_type: "send",
    span_kind: SpanKind::Producer,
    metric: Metric::Client,
};

/// A request: the message is sent and the span waits for the reply. A synchronous call, so a
/// CLIENT span; its type is `send` (a message provided for sending), its name `request`.
pub(crate) static REQUEST: Operation = Operation {
    name: "request",
    kind_type: "send",
    span_kind: SpanKind::Client,
    metric: Metric::Client,
};

/// A handler run on one message or a batch: a CONSUMER "process" span.
pub(crate) static PROCESS: Operation = Operation {
    name: "process",
    kind_type: "process",
    span_kind: SpanKind::Consumer,
    metric: Metric::Process,
};

/// The settle operations of a JetStream message, named after async-nats' `AckKind`.
pub(crate) static ACK: Operation = settle("ack");
pub(crate) static NAK: Operation = settle("nak");
pub(crate) static PROGRESS: Operation = settle("progress");
pub(crate) static NEXT: Operation = settle("next");
pub(crate) static TERM: Operation = settle("term");

const fn settle(name: &'static str) -> Operation {
    Operation {
        name,
        kind_type: "settle",
        span_kind: SpanKind::Client,
        metric: Metric::Client,
    }
}

/// The settle operation of an `AckKind`.
pub(crate) fn settle_operation(kind: &async_nats::jetstream::AckKind) -> &'static Operation {
    use async_nats::jetstream::AckKind;
    match kind {
        AckKind::Ack => &ACK,
        AckKind::Nak(_) => &NAK,
        AckKind::Progress => &PROGRESS,
        AckKind::Next => &NEXT,
        AckKind::Term => &TERM,
    }
}

/// The span name: `{operation} {destination}`, the destination being the template when there
/// is one, else the subject, else nothing (a batch of several subjects).
pub(crate) fn span_name(operation: &Operation, destination: Option<&str>) -> Cow<'static, str> {
    match destination {
        Some(destination) => {
            // Not `format!`: this runs for every span, and the formatting machinery costs more
            // than the copy.
            let mut name = String::with_capacity(operation.name.len() + 1 + destination.len());
            name.push_str(operation.name);
            name.push(' ');
            name.push_str(destination);
            Cow::Owned(name)
        }
        None => Cow::Borrowed(operation.name),
    }
}

/// `error.type` of a core publish error.
pub(crate) fn publish_error_type(kind: async_nats::client::PublishErrorKind) -> &'static str {
    use async_nats::client::PublishErrorKind as K;
    match kind {
        K::MaxPayloadExceeded => "max_payload_exceeded",
        K::InvalidSubject => "invalid_subject",
        K::Send => "send",
    }
}

/// `error.type` of a core request error.
pub(crate) fn request_error_type(kind: async_nats::client::RequestErrorKind) -> &'static str {
    use async_nats::client::RequestErrorKind as K;
    match kind {
        K::TimedOut => "timed_out",
        K::NoResponders => "no_responders",
        K::InvalidSubject => "invalid_subject",
        K::MaxPayloadExceeded => "max_payload_exceeded",
        K::Other => OTHER,
    }
}

/// `error.type` of a JetStream publish error (sending, or the acknowledgement).
pub(crate) fn jetstream_publish_error_type(
    kind: async_nats::jetstream::context::PublishErrorKind,
) -> &'static str {
    use async_nats::jetstream::context::PublishErrorKind as K;
    match kind {
        K::StreamNotFound => "stream_not_found",
        K::WrongLastMessageId => "wrong_last_message_id",
        K::WrongLastSequence => "wrong_last_sequence",
        K::TimedOut => "timed_out",
        K::BrokenPipe => "broken_pipe",
        K::MaxAckPending => "max_ack_pending",
        K::MaxPayloadExceeded => "max_payload_exceeded",
        K::Other => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_follow_operation_and_destination() {
        assert_eq!(span_name(&SEND, Some("orders")), "send orders");
        assert_eq!(span_name(&REQUEST, Some("svc.echo")), "request svc.echo");
        assert_eq!(span_name(&PROCESS, None), "process");
    }

    #[test]
    fn settle_names_follow_ack_kinds() {
        use async_nats::jetstream::AckKind;
        let names: Vec<_> = [
            AckKind::Ack,
            AckKind::Nak(None),
            AckKind::Progress,
            AckKind::Next,
            AckKind::Term,
        ]
        .iter()
        .map(|k| settle_operation(k).name)
        .collect();
        assert_eq!(names, ["ack", "nak", "progress", "next", "term"]);
        assert!(
            [&ACK, &NAK, &TERM]
                .iter()
                .all(|o| o.kind_type == "settle" && o.span_kind == SpanKind::Client)
        );
    }

    #[test]
    fn error_types_are_snake_case_kinds() {
        use async_nats::client::{PublishErrorKind, RequestErrorKind};
        use async_nats::jetstream::context::PublishErrorKind as JsKind;
        assert_eq!(
            publish_error_type(PublishErrorKind::InvalidSubject),
            "invalid_subject"
        );
        assert_eq!(
            request_error_type(RequestErrorKind::NoResponders),
            "no_responders"
        );
        assert_eq!(request_error_type(RequestErrorKind::Other), "_OTHER");
        assert_eq!(
            jetstream_publish_error_type(JsKind::StreamNotFound),
            "stream_not_found"
        );
    }

    #[test]
    fn boundaries_are_the_advised_ones() {
        assert_eq!(DURATION_BOUNDARIES.len(), 14);
        assert!(DURATION_BOUNDARIES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(DURATION_BOUNDARIES[0], 0.005);
        assert_eq!(DURATION_BOUNDARIES[13], 10.0);
    }
}
