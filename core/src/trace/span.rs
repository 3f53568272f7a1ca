//! Spans: the [`SpanContext`] that crosses process boundaries, what a span is started with
//! ([`SpanKind`], [`SpanOptions`], [`Link`]), its [`Status`], and the [`Span`] handle over an
//! adapter's [`SpanRecorder`].

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use super::id::{SpanId, TraceFlags, TraceId};
use super::tracestate::TraceState;
use crate::attr::{KeyValue, kv};

/// The part of a span that crosses process boundaries: trace id, span id, flags and trace state.
///
/// ```
/// use hyperion::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// let sc = SpanContext::new(
///     TraceId::from_bytes([1; 16]),
///     SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED,
///     true,
///     TraceState::default(),
/// );
/// assert!(sc.is_valid() && sc.is_sampled() && sc.is_remote());
/// assert!(!SpanContext::INVALID.is_valid());
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    remote: bool,
    state: TraceState,
}

impl SpanContext {
    /// The invalid span context: no trace.
    pub const INVALID: SpanContext = SpanContext {
        trace_id: TraceId::INVALID,
        span_id: SpanId::INVALID,
        flags: TraceFlags::NOT_SAMPLED,
        remote: false,
        state: TraceState::EMPTY,
    };

    /// A span context from its parts; `remote` marks one that was extracted from a carrier.
    pub const fn new(
        trace_id: TraceId,
        span_id: SpanId,
        flags: TraceFlags,
        remote: bool,
        state: TraceState,
    ) -> Self {
        SpanContext {
            trace_id,
            span_id,
            flags,
            remote,
            state,
        }
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    pub fn trace_flags(&self) -> TraceFlags {
        self.flags
    }

    /// The W3C trace state.
    pub fn trace_state(&self) -> &TraceState {
        &self.state
    }

    /// Whether both ids are valid (not all zeros).
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// Whether the sampled flag is set.
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// Whether this context came from another process.
    pub fn is_remote(&self) -> bool {
        self.remote
    }
}

/// What a span describes, as OpenTelemetry defines it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum SpanKind {
    /// An operation inside the application (the default).
    #[default]
    Internal,
    /// The server side of a synchronous request.
    Server,
    /// The client side of a synchronous request.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// The lower-case name: `internal`, `server`, `client`, `producer` or `consumer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// The status of a span.
///
/// ```
/// use hyperion::Status;
/// let s = Status::error("connection refused");
/// assert!(s.is_error());
/// assert_eq!(s.description(), "connection refused");
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum Status {
    /// Not set (the default).
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed, with a description.
    Error {
        /// What went wrong.
        description: Cow<'static, str>,
    },
}

impl Status {
    /// An error status with a description.
    pub fn error(description: impl Into<Cow<'static, str>>) -> Self {
        Status::Error {
            description: description.into(),
        }
    }

    /// Whether this is an error status.
    pub fn is_error(&self) -> bool {
        matches!(self, Status::Error { .. })
    }

    /// The error description, or `""`.
    pub fn description(&self) -> &str {
        match self {
            Status::Error { description } => description,
            _ => "",
        }
    }
}

/// A link from a span to another span context, with attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Link<'a> {
    /// The linked span.
    pub context: SpanContext,
    /// Attributes of the link.
    pub attributes: &'a [KeyValue<'a>],
}

/// How to start a span: kind, attributes, links, start time, and whether to force a new root.
///
/// ```
/// use hyperion::{kv, SpanKind, SpanOptions};
/// let attrs = [kv("db.system", "postgresql")];
/// let opts = SpanOptions::client().attributes(&attrs);
/// assert_eq!(opts.kind, SpanKind::Client);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpanOptions<'a> {
    /// The span kind.
    pub kind: SpanKind,
    /// Attributes known at start (samplers can see them).
    pub attributes: &'a [KeyValue<'a>],
    /// Links to other spans.
    pub links: &'a [Link<'a>],
    /// An explicit start time; `None` means now.
    pub start_time: Option<SystemTime>,
    /// Start a new trace even if the context holds a span.
    pub new_root: bool,
    /// Allow the adapter to record this span cheaply and decide at its end whether it becomes a
    /// real span (it failed, was slow, had its context injected, has a child span or outlived
    /// its parent) or an event on its parent. Adapters without such a mode ignore it;
    /// `hyperion-otel` honours it when `tracing.promotion` is on (such a span then takes its
    /// parent's sampling decision without asking the sampler).
    /// [`Context::intercept`](crate::Context::intercept) sets it.
    pub promotable: bool,
}

impl<'a> SpanOptions<'a> {
    /// Options for an internal span.
    pub const fn new() -> Self {
        SpanOptions {
            kind: SpanKind::Internal,
            attributes: &[],
            links: &[],
            start_time: None,
            new_root: false,
            promotable: false,
        }
    }

    /// Options for a server span.
    pub const fn server() -> Self {
        Self::new().kind(SpanKind::Server)
    }

    /// Options for a client span.
    pub const fn client() -> Self {
        Self::new().kind(SpanKind::Client)
    }

    /// Options for a producer span.
    pub const fn producer() -> Self {
        Self::new().kind(SpanKind::Producer)
    }

    /// Options for a consumer span.
    pub const fn consumer() -> Self {
        Self::new().kind(SpanKind::Consumer)
    }

    /// Sets the kind.
    pub const fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the start attributes.
    pub const fn attributes(mut self, attributes: &'a [KeyValue<'a>]) -> Self {
        self.attributes = attributes;
        self
    }

    /// Sets the links.
    pub const fn links(mut self, links: &'a [Link<'a>]) -> Self {
        self.links = links;
        self
    }

    /// Sets an explicit start time.
    pub const fn start_time(mut self, at: SystemTime) -> Self {
        self.start_time = Some(at);
        self
    }

    /// Starts a new trace, ignoring the parent in the context.
    pub const fn new_root(mut self) -> Self {
        self.new_root = true;
        self
    }

    /// Lets the adapter record the span as an event on its parent when it ends fast and
    /// successfully (see [`SpanOptions::promotable`](SpanOptions#structfield.promotable)).
    pub const fn promotable(mut self) -> Self {
        self.promotable = true;
        self
    }
}

/// The recording side of a span, implemented by adapters. Application code uses [`Span`].
///
/// Every method is called at most until [`SpanRecorder::end`], and `end` exactly once.
pub trait SpanRecorder: Send + Sync + 'static {
    /// Sets (or replaces) one attribute.
    fn set_attribute(&mut self, attribute: &KeyValue<'_>);
    /// Adds an event with attributes at `timestamp` (now if `None`).
    fn add_event(
        &mut self,
        name: Cow<'static, str>,
        attributes: &[KeyValue<'_>],
        timestamp: Option<SystemTime>,
    );
    /// Sets the status. [`Span`] has already applied the precedence rules (`Ok` is final,
    /// `Unset` never overrides).
    fn set_status(&mut self, status: Status);
    /// Adds a link to another span.
    fn add_link(&mut self, context: SpanContext, attributes: &[KeyValue<'_>]);
    /// Renames the span.
    fn update_name(&mut self, name: Cow<'static, str>);
    /// Ends the span at `timestamp` (now if `None`).
    fn end(&mut self, timestamp: Option<SystemTime>);
}

/// A span. Ends when [`Span::end`] is called, or when dropped.
///
/// From a disabled tracer the span holds nothing and every call is a branch.
///
/// ```
/// use hyperion::{kv, Context, SpanOptions, Status};
/// let ctx = Context::noop();
/// let (child, mut span) = ctx.start_span("db.query", SpanOptions::client());
/// span.set_attribute(kv("db.system", "postgresql"));
/// span.set_status(Status::Ok);
/// span.end();
/// assert!(!span.is_recording());
/// assert!(!child.span_context().is_valid());
/// ```
pub struct Span(Option<Box<SpanState<dyn SpanRecorder>>>);

/// What a span from a tracer holds: its context, its status so far, and the adapter's recorder.
/// One allocation per span; the disabled span holds none.
struct SpanState<R: ?Sized> {
    context: SpanContext,
    status: Status,
    recording: bool,
    recorder: R,
}

/// The recorder of a span that records nothing but still has a context.
struct NonRecording;

impl SpanRecorder for NonRecording {
    fn set_attribute(&mut self, _: &KeyValue<'_>) {}
    fn add_event(&mut self, _: Cow<'static, str>, _: &[KeyValue<'_>], _: Option<SystemTime>) {}
    fn set_status(&mut self, _: Status) {}
    fn add_link(&mut self, _: SpanContext, _: &[KeyValue<'_>]) {}
    fn update_name(&mut self, _: Cow<'static, str>) {}
    fn end(&mut self, _: Option<SystemTime>) {}
}

static INVALID: SpanContext = SpanContext::INVALID;

impl Span {
    /// A span that records nothing and has no context: what a disabled tracer returns.
    pub const fn noop() -> Self {
        Span(None)
    }

    /// A span that records nothing but carries a context (an unsampled span, which still
    /// propagates its trace).
    pub fn non_recording(context: SpanContext) -> Self {
        Span(Some(Box::new(SpanState {
            context,
            status: Status::Unset,
            recording: false,
            recorder: NonRecording,
        })))
    }

    /// A recording span: for adapters. The recorder lives in the span's one allocation.
    pub fn new<R: SpanRecorder>(context: SpanContext, recorder: R) -> Self {
        Span(Some(Box::new(SpanState {
            context,
            status: Status::Unset,
            recording: true,
            recorder,
        })))
    }

    #[inline]
    fn recording(&mut self) -> Option<&mut SpanState<dyn SpanRecorder>> {
        match &mut self.0 {
            Some(state) if state.recording => Some(state),
            _ => None,
        }
    }

    /// The span's context (invalid for a no-op span).
    #[inline]
    pub fn span_context(&self) -> &SpanContext {
        match &self.0 {
            Some(state) => &state.context,
            None => &INVALID,
        }
    }

    /// Whether calls on this span are recorded (false once ended).
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.recording)
    }

    /// Sets one attribute.
    #[inline]
    pub fn set_attribute(&mut self, attribute: KeyValue<'_>) {
        if let Some(s) = self.recording() {
            s.recorder.set_attribute(&attribute);
        }
    }

    /// Sets several attributes.
    #[inline]
    pub fn set_attributes(&mut self, attributes: &[KeyValue<'_>]) {
        if let Some(s) = self.recording() {
            for a in attributes {
                s.recorder.set_attribute(a);
            }
        }
    }

    /// Adds an event with attributes.
    #[inline]
    pub fn add_event(&mut self, name: impl Into<Cow<'static, str>>, attributes: &[KeyValue<'_>]) {
        if let Some(s) = self.recording() {
            s.recorder.add_event(name.into(), attributes, None);
        }
    }

    /// Adds an event at an explicit time.
    pub fn add_event_at(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        attributes: &[KeyValue<'_>],
        at: SystemTime,
    ) {
        if let Some(s) = self.recording() {
            s.recorder.add_event(name.into(), attributes, Some(at));
        }
    }

    /// Records an error: an `exception` event with `exception.type` and `exception.message`,
    /// and the status set to error with the message.
    ///
    /// `exception.type` is [`std::any::type_name::<E>()`](std::any::type_name): the static
    /// type of `error`. For a trait object (a `&dyn Error`, or a `Box<dyn Error>` passed as
    /// `&*boxed`) that names the trait object (such as `dyn core::error::Error`), not the
    /// concrete error inside it; a caller who knows better can use
    /// [`record_exception(type_name, &error)`](Span::record_exception) instead.
    ///
    /// ```
    /// use hyperion::{Context, SpanOptions};
    /// let (_, mut span) = Context::noop().start_span("parse", SpanOptions::new());
    /// let err = "x".parse::<i32>().unwrap_err();
    /// span.record_error(&err);
    /// ```
    #[inline]
    pub fn record_error<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        if self.is_recording() {
            self.record_exception(std::any::type_name::<E>(), &format_args!("{error}"));
        }
    }

    /// Records a failure described by any `Display` (for error types that do not implement
    /// `std::error::Error`, such as `anyhow::Error`), naming its type.
    pub fn record_exception(&mut self, type_name: &str, message: &dyn fmt::Display) {
        self.exception(type_name, message, None);
    }

    /// [`Span::record_exception`] with the event stamped `at`, a time the caller read already
    /// (the intercept stamps a failed call's exception with the time its span ends).
    ///
    /// ```
    /// # let mut span = hyperion::Span::noop();
    /// span.record_exception_at("io::Error", &"disk full", std::time::SystemTime::now());
    /// ```
    pub fn record_exception_at(
        &mut self,
        type_name: &str,
        message: &dyn fmt::Display,
        at: SystemTime,
    ) {
        self.exception(type_name, message, Some(at));
    }

    fn exception(&mut self, type_name: &str, message: &dyn fmt::Display, at: Option<SystemTime>) {
        let Some(s) = self.recording() else {
            return;
        };
        let message = message.to_string();
        let attributes = [
            kv("exception.type", type_name),
            kv("exception.message", message.as_str()),
        ];
        s.recorder
            .add_event(Cow::Borrowed("exception"), &attributes, at);
        self.set_status(Status::error(message));
    }

    /// Sets the status. `Ok` is final; `Unset` never overrides a status already set.
    #[inline]
    pub fn set_status(&mut self, status: Status) {
        let Some(s) = self.recording() else {
            return;
        };
        if s.status == Status::Ok || matches!(status, Status::Unset) {
            return;
        }
        s.status = status.clone();
        s.recorder.set_status(status);
    }

    /// The status set so far.
    pub fn status(&self) -> &Status {
        static UNSET: Status = Status::Unset;
        match &self.0 {
            Some(s) => &s.status,
            None => &UNSET,
        }
    }

    /// Adds a link to another span.
    pub fn add_link(&mut self, context: SpanContext, attributes: &[KeyValue<'_>]) {
        if let Some(s) = self.recording() {
            s.recorder.add_link(context, attributes);
        }
    }

    /// Renames the span.
    pub fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
        if let Some(s) = self.recording() {
            s.recorder.update_name(name.into());
        }
    }

    /// Ends the span now. Later calls do nothing.
    #[inline]
    pub fn end(&mut self) {
        if let Some(s) = self.recording() {
            s.recording = false;
            s.recorder.end(None);
        }
    }

    /// Ends the span at an explicit time. Later calls do nothing.
    pub fn end_at(&mut self, at: SystemTime) {
        if let Some(s) = self.recording() {
            s.recording = false;
            s.recorder.end(Some(at));
        }
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        self.end();
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Span")
            .field("context", self.span_context())
            .field("recording", &self.is_recording())
            .field("status", self.status())
            .finish()
    }
}
