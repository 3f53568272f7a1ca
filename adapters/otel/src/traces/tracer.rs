//! The facade's [`hyperion::Tracer`] over an OpenTelemetry SDK tracer.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use hyperion::trace::SpanRecorder;
use hyperion::{KeyValue, Span, SpanContext, SpanOptions, Status};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;

use super::promotion::{Node, Promoter};
use super::tail::TailShared;
use crate::config::PromotionSettings;
use crate::convert;

/// Starts OpenTelemetry SDK spans for the facade.
#[derive(Debug)]
pub(crate) struct OtelTracer {
    tracer: SdkTracer,
    /// `tracing.promotion`, when on.
    promoter: Option<Arc<Promoter>>,
}

impl OtelTracer {
    pub(crate) fn new(
        tracer: SdkTracer,
        promotion: &PromotionSettings,
        tail: Option<Arc<TailShared>>,
    ) -> Self {
        let promoter = promotion
            .enabled
            .then(|| Arc::new(Promoter::new(tracer.clone(), promotion, tail)));
        OtelTracer { tracer, promoter }
    }
}

impl hyperion::Tracer for OtelTracer {
    fn start_span(
        &self,
        parent_sc: &SpanContext,
        name: Cow<'static, str>,
        options: &SpanOptions<'_>,
    ) -> Span {
        if let Some(promoter) = &self.promoter {
            return promoter.start(self, parent_sc, name, options);
        }
        self.build(parent_sc, name, options, |_| None)
    }

    fn injected(&self, span: &SpanContext) {
        if let Some(promoter) = &self.promoter {
            promoter.injected(span);
        }
    }
}

impl OtelTracer {
    /// Builds an SDK span under `parent_sc` and the facade's span over it, tracked by the node
    /// `track` gives (asked only for a recording span). The SDK span goes straight into the
    /// facade span's box: it is 300 bytes, and every move is a copy.
    #[inline]
    pub(crate) fn build(
        &self,
        parent_sc: &SpanContext,
        name: Cow<'static, str>,
        options: &SpanOptions<'_>,
        track: impl FnOnce(hyperion::SpanId) -> Option<(Arc<Promoter>, Arc<Node>)>,
    ) -> Span {
        let has_parent = parent_sc.is_valid() && !options.new_root;
        let parent_cx = if has_parent {
            opentelemetry::Context::new()
                .with_remote_span_context(convert::to_otel_span_context(parent_sc))
        } else {
            opentelemetry::Context::new()
        };
        let mut builder = self
            .tracer
            .span_builder(name)
            .with_kind(convert::span_kind(options.kind));
        if !options.attributes.is_empty() {
            builder = builder.with_attributes(convert::key_values(options.attributes));
        }
        if !options.links.is_empty() {
            builder = builder.with_links(
                options
                    .links
                    .iter()
                    .map(|l| {
                        opentelemetry::trace::Link::new(
                            convert::to_otel_span_context(&l.context),
                            convert::key_values(l.attributes),
                            0,
                        )
                    })
                    .collect(),
            );
        }
        if let Some(start) = options.start_time {
            builder = builder.with_start_time(start);
        }
        let span = self.tracer.build_with_context(builder, &parent_cx);
        let state = if has_parent {
            parent_sc.trace_state()
        } else {
            &hyperion::TraceState::EMPTY
        };
        // The SDK knows no `random-trace-id` flag: it follows the parent's trace id, and the
        // SDK's own trace ids are random (its default generator, which this adapter keeps).
        let random = if has_parent {
            parent_sc.trace_flags().is_random()
        } else {
            true
        };
        let context = convert::from_otel_span_context(span.span_context(), state, random);
        if !span.is_recording() {
            return Span::non_recording(context);
        }
        match track(context.span_id()) {
            None => Span::new(context, OtelSpan(span)),
            Some((promoter, node)) => Span::new(
                context,
                TrackedSpan {
                    span: OtelSpan(span),
                    promoter,
                    node,
                },
            ),
        }
    }
}

/// A recording SDK span behind the facade's [`Span`].
struct OtelSpan(opentelemetry_sdk::trace::Span);

impl SpanRecorder for OtelSpan {
    fn set_attribute(&mut self, attribute: &KeyValue<'_>) {
        self.0.set_attribute(convert::key_value(attribute));
    }

    fn add_event(
        &mut self,
        name: Cow<'static, str>,
        attributes: &[KeyValue<'_>],
        timestamp: Option<SystemTime>,
    ) {
        let attributes = convert::key_values(attributes);
        match timestamp {
            Some(at) => self.0.add_event_with_timestamp(name, at, attributes),
            None => self.0.add_event(name, attributes),
        }
    }

    fn set_status(&mut self, status: Status) {
        self.0.set_status(convert::status(status));
    }

    fn add_link(&mut self, context: SpanContext, attributes: &[KeyValue<'_>]) {
        self.0.add_link(
            convert::to_otel_span_context(&context),
            convert::key_values(attributes),
        );
    }

    fn update_name(&mut self, name: Cow<'static, str>) {
        self.0.update_name(name);
    }

    fn end(&mut self, timestamp: Option<SystemTime>) {
        match timestamp {
            Some(at) => self.0.end_with_timestamp(at),
            None => self.0.end(),
        }
    }
}

/// An SDK span started under promotion: its node collects the events of children that stayed
/// events, added to it when it ends. A type of its own, so that spans without promotion carry
/// nothing of it.
struct TrackedSpan {
    span: OtelSpan,
    promoter: Arc<Promoter>,
    node: Arc<Node>,
}

impl SpanRecorder for TrackedSpan {
    fn set_attribute(&mut self, attribute: &KeyValue<'_>) {
        self.span.set_attribute(attribute);
    }

    fn add_event(
        &mut self,
        name: Cow<'static, str>,
        attributes: &[KeyValue<'_>],
        timestamp: Option<SystemTime>,
    ) {
        self.span.add_event(name, attributes, timestamp);
    }

    fn set_status(&mut self, status: Status) {
        self.span.set_status(status);
    }

    fn add_link(&mut self, context: SpanContext, attributes: &[KeyValue<'_>]) {
        self.span.add_link(context, attributes);
    }

    fn update_name(&mut self, name: Cow<'static, str>) {
        self.span.update_name(name);
    }

    fn end(&mut self, timestamp: Option<SystemTime>) {
        for event in self.promoter.sdk_span_ended(&self.node) {
            self.span
                .0
                .add_event_with_timestamp(event.name, event.timestamp, event.attributes);
        }
        self.span.end(timestamp);
    }
}
