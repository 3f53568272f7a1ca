//! Tracing: ids, [`SpanContext`], [`SpanKind`], [`Status`], the [`Tracer`] an adapter implements and
//! the [`Span`] handle application code holds.
//!
//! A [`Span`] is a handle in the style of metrics-rs: it holds an optional boxed recorder, so a
//! span from a disabled tracer is a branch on every call and never touches the heap or the clock.
//!
//! This module also owns the W3C Trace Context data: [`TraceId`], [`SpanId`] and [`TraceFlags`]
//! with their hex form, and the [`TraceState`]. The `traceparent`, `tracestate` and `baggage`
//! headers are read and written by [`crate::propagation`], on top of this module.
//!
//! - `id`: trace ids, span ids, trace flags and the ids' hex codec;
//! - `tracestate`: [`TraceState`], its grammar and its parser;
//! - `span`: [`SpanContext`], [`SpanOptions`], [`Status`], [`Span`] and [`SpanRecorder`].

use std::borrow::Cow;

mod id;
mod span;
mod tracestate;

pub use id::{SpanId, TraceFlags, TraceId};
pub(crate) use id::{decode_hex_id, encode_hex_id};
pub use span::{Link, Span, SpanContext, SpanKind, SpanOptions, SpanRecorder, Status};
pub(crate) use tracestate::{ListMembers, MAX_TRACESTATE_MEMBERS, SCAN_MARGIN, TraceStateParser};
pub use tracestate::{TraceState, TraceStateError};

/// Starts spans. Implemented by adapters; application code calls
/// [`Context::start_span`](crate::Context::start_span).
///
/// The tracer is object safe and shared as `Arc<dyn Tracer>`.
pub trait Tracer: Send + Sync + 'static {
    /// Starts a span named `name` as a child of the span `parent` describes, unless `parent` is
    /// invalid (no current span) or `options.new_root` is set: then the span starts a new trace.
    ///
    /// [`Context::start_span`](crate::Context::start_span) passes the context's current span
    /// context, which may be remote (extracted from a carrier); a child belongs to its parent's
    /// trace and carries its trace state.
    ///
    /// A span that is not sampled should still get a valid [`SpanContext`] (see
    /// [`Span::non_recording`]) so that the trace propagates.
    fn start_span(
        &self,
        parent: &SpanContext,
        name: Cow<'static, str>,
        options: &SpanOptions<'_>,
    ) -> Span;

    /// Called when `span` (a span context of this tracer's telemetry) is written into a carrier
    /// by [`Context::inject`](crate::Context::inject) or
    /// [`Context::inject_parts`](crate::Context::inject_parts): another process may now name
    /// it as its parent, so a tracer that defers spans must make sure this one is exported.
    /// The default does nothing.
    fn injected(&self, span: &SpanContext) {
        let _ = span;
    }
}
