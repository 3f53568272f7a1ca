//! The explicit [`Context`]: what to record into, the current span context and the baggage.
//!
//! Every hot-path call takes `&Context`. A context is one pointer: the no-op context is `None`,
//! so cloning, dropping and asking it anything is a branch; any other context is a shared,
//! immutable `Arc` (cloning bumps a count; a child context is a new allocation). The context
//! travels as a value, so a context moved into an `async` block or a `tokio::spawn`ed task keeps
//! its parent. The one thread-local is for bridges ([`with_current_span_context`]): it is set only
//! while an intercepted call is polled and restored right after, never held across an `.await`.

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use crate::log::{Log, Logger};
use crate::propagation::{Baggage, Extractor, Injector, PropagationLimits, Propagators};
use crate::trace::{Span, SpanContext, SpanOptions};

/// What the contexts of one built telemetry record into: its tracer and logger, the propagation
/// limits, and the interceptor chain. The telemetry builds it once; every context of that
/// telemetry shares it.
///
/// The chain is opaque here (`dyn Any`): its type belongs to the intercept layer, which sits
/// above this one and downcasts it ([`Context::interceptors`]). So the context needs nothing
/// from the layers that build on it.
pub(crate) struct Recorders {
    pub(crate) tracer: Option<Arc<dyn crate::trace::Tracer>>,
    pub(crate) logger: Option<Arc<dyn Logger>>,
    pub(crate) limits: PropagationLimits,
    pub(crate) propagators: Propagators,
    pub(crate) interceptors: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Recorders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorders")
            .field("tracing", &self.tracer.is_some())
            .field("logging", &self.logger.is_some())
            .field("intercept", &self.interceptors.is_some())
            .finish()
    }
}

/// What a call runs with: where to record (the telemetry it came from), the current span and
/// the baggage. Get one from [`Telemetry::context`](crate::Telemetry::context) or
/// [`Telemetry::extract`](crate::Telemetry::extract); derive children with
/// [`start_span`](Self::start_span) and [`intercept`](Self::intercept).
///
/// ```
/// use hyperion::{kv, Context, SpanOptions};
/// let ctx = Context::noop();
/// let (ctx, mut span) = ctx.start_span("work", SpanOptions::new());
/// ctx.log().info("working", &[kv("items", 3)]);
/// span.end();
/// ```
#[derive(Clone, Default)]
pub struct Context(Option<Arc<Inner>>);

#[derive(Debug)]
struct Inner {
    recorders: Option<Arc<Recorders>>,
    span: SpanContext,
    baggage: Baggage,
    /// The B3 debug flag of the trace, as extracted: passed on to children and to B3 injection
    /// (the specification's "MUST preserve a debug trace flag").
    b3_debug: bool,
}

static DEFAULT_LIMITS: PropagationLimits = PropagationLimits::DEFAULT;
static NO_SPAN: SpanContext = SpanContext::INVALID;
static NO_BAGGAGE: Baggage = Baggage::EMPTY;

impl Context {
    /// A context that records nothing. Every call through it is a branch.
    pub const fn noop() -> Self {
        Context(None)
    }

    /// The root context of a built telemetry's recorders: no span, no baggage.
    pub(crate) fn root(recorders: Option<Arc<Recorders>>) -> Self {
        Self::from_parts(recorders, SpanContext::INVALID, Baggage::EMPTY, false)
    }

    /// A context from its parts; the all-empty one is the no-op context (no allocation).
    fn from_parts(
        recorders: Option<Arc<Recorders>>,
        span: SpanContext,
        baggage: Baggage,
        b3_debug: bool,
    ) -> Self {
        if recorders.is_none() && !span.is_valid() && baggage.is_empty() && !b3_debug {
            return Context(None);
        }
        Context(Some(Arc::new(Inner {
            recorders,
            span,
            baggage,
            b3_debug,
        })))
    }

    #[inline]
    fn recorders(&self) -> Option<&Recorders> {
        self.0.as_ref()?.recorders.as_deref()
    }

    /// Whether this context records into the same telemetry as `other` (two contexts without
    /// telemetry count as the same).
    pub fn same_telemetry(&self, other: &Context) -> bool {
        match (
            self.0.as_ref().and_then(|i| i.recorders.as_ref()),
            other.0.as_ref().and_then(|i| i.recorders.as_ref()),
        ) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The tracer spans start on, if tracing is on.
    #[inline]
    pub(crate) fn tracer(&self) -> Option<&dyn crate::trace::Tracer> {
        self.recorders()?.tracer.as_deref()
    }

    /// The logger, if logging is on.
    #[inline]
    pub(crate) fn logger(&self) -> Option<&dyn Logger> {
        self.recorders()?.logger.as_deref()
    }

    /// The propagation limits of this context's telemetry (the W3C minimums without one).
    pub(crate) fn propagation_limits(&self) -> &PropagationLimits {
        self.recorders().map_or(&DEFAULT_LIMITS, |r| &r.limits)
    }

    /// The propagators of this context's telemetry (`propagation.propagators`,
    /// `OTEL_PROPAGATORS`); W3C Trace Context and Baggage without one.
    pub fn propagators(&self) -> Propagators {
        self.recorders().map_or(Propagators::W3C, |r| r.propagators)
    }

    /// Whether the trace came in with B3's debug flag, which B3 injection passes on.
    pub fn is_b3_debug(&self) -> bool {
        self.0.as_ref().is_some_and(|inner| inner.b3_debug)
    }

    /// The interceptor chain the intercept layer stored, as its own type `T`.
    #[inline]
    pub(crate) fn interceptors<T: Any>(&self) -> Option<&T> {
        self.recorders()?
            .interceptors
            .as_deref()?
            .downcast_ref::<T>()
    }

    /// The current span's context (invalid when there is none).
    #[inline]
    pub fn span_context(&self) -> &SpanContext {
        match &self.0 {
            Some(inner) => &inner.span,
            None => &NO_SPAN,
        }
    }

    /// The baggage.
    #[inline]
    pub fn baggage(&self) -> &Baggage {
        match &self.0 {
            Some(inner) => &inner.baggage,
            None => &NO_BAGGAGE,
        }
    }

    /// This context with another current span context, e.g. a remote parent.
    pub fn with_span_context(&self, span: SpanContext) -> Context {
        Self::from_parts(
            self.shared_recorders(),
            span,
            self.baggage().clone(),
            self.is_b3_debug(),
        )
    }

    /// This context with other baggage.
    pub fn with_baggage(&self, baggage: Baggage) -> Context {
        Self::from_parts(
            self.shared_recorders(),
            self.span_context().clone(),
            baggage,
            self.is_b3_debug(),
        )
    }

    fn shared_recorders(&self) -> Option<Arc<Recorders>> {
        self.0.as_ref().and_then(|inner| inner.recorders.clone())
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
        match self.tracer() {
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
        let span = tracer.start_span(self.span_context(), name, options);
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
        Log::new(self.logger(), self.span_context())
    }

    /// Writes this context's span context and baggage into a carrier, with the propagators of
    /// its telemetry ([`propagators`](Self::propagators): `traceparent`, `tracestate` and
    /// `baggage` by default).
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
        if let Some(inner) = &self.0 {
            if let Some(tracer) = self.tracer() {
                tracer.injected(&inner.span);
            }
            self.propagators()
                .inject(&inner.span, &inner.baggage, inner.b3_debug, carrier);
        }
    }

    /// Writes `span` and `baggage` into a carrier with the propagators of this context's
    /// telemetry and its B3 debug flag: for integrations that send a span of their own (a
    /// CLIENT span's context) or only part of the baggage.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use hyperion::{Baggage, Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    /// let sc = SpanContext::new(TraceId::from_bytes([1; 16]), SpanId::from_bytes([2; 8]),
    ///     TraceFlags::SAMPLED, false, TraceState::default());
    /// let mut headers = HashMap::new();
    /// Context::noop().inject_parts(&sc, &Baggage::EMPTY.with("k", "v"), &mut headers);
    /// assert_eq!(headers["baggage"], "k=v");
    /// assert!(headers.contains_key("traceparent"));
    /// ```
    pub fn inject_parts(&self, span: &SpanContext, baggage: &Baggage, carrier: &mut dyn Injector) {
        if let Some(tracer) = self.tracer() {
            tracer.injected(span);
        }
        self.propagators()
            .inject(span, baggage, self.is_b3_debug(), carrier);
    }

    /// A context of the same telemetry whose span context and baggage come from a carrier,
    /// read with the telemetry's [`propagators`](Self::propagators). Malformed headers are
    /// ignored, as the specifications say.
    pub fn extract(&self, carrier: &dyn Extractor) -> Context {
        let (span, baggage, b3_debug) = self
            .propagators()
            .extract(carrier, self.propagation_limits());
        Self::from_parts(self.shared_recorders(), span, baggage, b3_debug)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Context(noop)"),
            Some(inner) => f
                .debug_struct("Context")
                .field("recorders", &inner.recorders)
                .field("span", &inner.span)
                .field("baggage", &inner.baggage)
                .finish(),
        }
    }
}

thread_local! {
    /// The span context of the call being run (or polled) on this thread, for bridges from
    /// instrumentation that cannot take a `&Context` (`tracing` events from libraries).
    static CURRENT: RefCell<SpanContext> = const { RefCell::new(SpanContext::INVALID) };
}

/// Calls `f` with the span context of the intercepted call running on this thread (invalid when
/// there is none). For bridges such as a `tracing` layer; application code passes `&Context`.
///
/// It is set only while [`Context::in_scope`] runs its closure or a [`Scoped`] future is being
/// polled, and restored afterwards: nothing is left on the thread across an `.await`.
///
/// ```
/// use hyperion::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use hyperion::context::with_current_span_context;
/// let sc = SpanContext::new(TraceId::from_bytes([1; 16]), SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED, false, TraceState::default());
/// let ctx = Context::noop().with_span_context(sc.clone());
/// assert!(!with_current_span_context(|c| c.is_valid()));
/// ctx.in_scope(|| assert_eq!(with_current_span_context(|c| c.clone()), sc));
/// assert!(!with_current_span_context(|c| c.is_valid()));
/// ```
pub fn with_current_span_context<R>(f: impl FnOnce(&SpanContext) -> R) -> R {
    // Cloned out first: `f` may itself enter a scope (a logger that polls), and a thread being
    // torn down has no current span any more.
    let current = CURRENT
        .try_with(|c| c.try_borrow().map(|sc| sc.clone()).unwrap_or_default())
        .unwrap_or_default();
    f(&current)
}

/// Puts a span context in place for its lifetime and restores the previous one on drop (also
/// when the code in between panics).
struct Enter {
    previous: SpanContext,
}

impl Enter {
    fn new(span: &SpanContext) -> Enter {
        let previous = CURRENT
            .try_with(|c| match c.try_borrow_mut() {
                Ok(mut current) => std::mem::replace(&mut *current, span.clone()),
                Err(_) => SpanContext::INVALID,
            })
            .unwrap_or_default();
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = std::mem::replace(&mut self.previous, SpanContext::INVALID);
        let _ = CURRENT.try_with(|c| {
            if let Ok(mut current) = c.try_borrow_mut() {
                *current = previous;
            }
        });
    }
}

impl Context {
    /// Runs `f` with this context's span as the thread's current one (see
    /// [`with_current_span_context`]).
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _enter = Enter::new(self.span_context());
        f()
    }

    /// Wraps a future so that this context's span is the thread's current one while it is
    /// polled (see [`with_current_span_context`]). `intercept` does this for the calls it runs.
    pub fn scope<F: Future>(&self, future: F) -> Scoped<F> {
        Scoped {
            span: self.span_context().clone(),
            future,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future that makes its span context current on the thread while it is polled. See
    /// [`Context::scope`].
    #[derive(Debug)]
    pub struct Scoped<F> {
        span: SpanContext,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _enter = Enter::new(this.span);
        this.future.poll(cx)
    }
}
