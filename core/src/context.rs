//! The explicit [`Context`]: the telemetry bundle, the current span context and the baggage.
//!
//! Every hot-path call takes `&Context`. A context is a plain value: cloning it copies a few words
//! (and bumps reference counts when telemetry is configured). Nothing is kept in thread-local
//! state, so a context moved into an `async` block or a `tokio::spawn`ed task keeps its parent.

use std::borrow::Cow;

use crate::log::Log;
use crate::propagation::{self, Baggage, Extractor, Injector};
use crate::telemetry::Telemetry;
use crate::trace::{Span, SpanContext, SpanOptions};

/// What a call runs with: the telemetry to record into, the current span and the baggage.
///
/// ```
/// use hyperion::{kv, Context, SpanOptions};
/// let ctx = Context::noop();
/// let (ctx, mut span) = ctx.start_span("work", SpanOptions::new());
/// ctx.log().info("working", &[kv("items", 3)]);
/// span.end();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Context {
    telemetry: Telemetry,
    span: SpanContext,
    baggage: Baggage,
}

impl Context {
    /// A context that records nothing. Every call through it is a branch.
    pub const fn noop() -> Self {
        Context {
            telemetry: Telemetry::noop(),
            span: SpanContext::INVALID,
            baggage: Baggage::EMPTY,
        }
    }

    /// The root context of a telemetry bundle: no span, no baggage.
    pub fn new(telemetry: Telemetry) -> Self {
        Context {
            telemetry,
            span: SpanContext::INVALID,
            baggage: Baggage::EMPTY,
        }
    }

    /// The telemetry bundle this context records into.
    #[inline]
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The current span's context (invalid when there is none).
    #[inline]
    pub fn span_context(&self) -> &SpanContext {
        &self.span
    }

    /// The baggage.
    #[inline]
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// This context with another current span context, e.g. a remote parent.
    pub fn with_span_context(&self, span: SpanContext) -> Context {
        Context {
            telemetry: self.telemetry.clone(),
            span,
            baggage: self.baggage.clone(),
        }
    }

    /// This context with other baggage.
    pub fn with_baggage(&self, baggage: Baggage) -> Context {
        Context {
            telemetry: self.telemetry.clone(),
            span: self.span.clone(),
            baggage,
        }
    }

    /// This context recording into another telemetry bundle (keeps span and baggage).
    pub fn with_telemetry(&self, telemetry: Telemetry) -> Context {
        Context {
            telemetry,
            span: self.span.clone(),
            baggage: self.baggage.clone(),
        }
    }

    /// Starts a child span of this context's span and returns the child context with the span.
    ///
    /// With tracing disabled, the returned context keeps this context's span context, so a
    /// trace extracted from a request still propagates to outgoing calls.
    #[inline]
    pub fn start_span(
        &self,
        name: impl Into<Cow<'static, str>>,
        options: SpanOptions<'_>,
    ) -> (Context, Span) {
        match self.telemetry.tracer() {
            None => (self.clone(), Span::noop()),
            Some(tracer) => self.start_span_slow(tracer, name.into(), &options),
        }
    }

    #[inline(never)]
    fn start_span_slow(
        &self,
        tracer: &dyn crate::trace::Tracer,
        name: Cow<'static, str>,
        options: &SpanOptions<'_>,
    ) -> (Context, Span) {
        let span = tracer.start_span(self, name, options);
        let child = if span.span_context().is_valid() {
            self.with_span_context(span.span_context().clone())
        } else {
            self.clone()
        };
        (child, span)
    }

    /// The logger, bound to this context: records carry its trace and span ids.
    #[inline]
    pub fn log(&self) -> Log<'_> {
        Log::new(self)
    }

    /// Writes this context's span context (`traceparent`, `tracestate`) and baggage into a carrier.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use hyperion::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    /// let sc = SpanContext::new(TraceId::from_bytes([1; 16]), SpanId::from_bytes([2; 8]),
    ///     TraceFlags::SAMPLED, false, TraceState::default());
    /// let ctx = Context::noop().with_span_context(sc);
    /// let mut headers = HashMap::new();
    /// ctx.inject(&mut headers);
    /// assert_eq!(headers["traceparent"], "00-01010101010101010101010101010101-0202020202020202-01");
    /// ```
    pub fn inject(&self, carrier: &mut dyn Injector) {
        propagation::inject_trace_context(&self.span, carrier);
        propagation::inject_baggage(&self.baggage, carrier);
    }

    /// A context of the same telemetry whose span context and baggage come from a carrier.
    /// Malformed headers are ignored, as the W3C specifications say.
    pub fn extract(&self, carrier: &dyn Extractor) -> Context {
        let limits = self.telemetry.propagation_limits();
        Context {
            telemetry: self.telemetry.clone(),
            span: propagation::extract_trace_context(carrier, limits)
                .unwrap_or(SpanContext::INVALID),
            baggage: propagation::extract_baggage(carrier, limits),
        }
    }
}
