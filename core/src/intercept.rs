//! Intercept: one call becomes a span, a call counter, a duration histogram and correlated logs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use hyperion::{kv, Context};
//! # struct User;
//! async fn get_user(ctx: &Context, id: &str) -> Result<User, std::io::Error> {
//!     ctx.intercept("UserService", "GetUser", |ctx| async move {
//!         ctx.log().info("fetching user", &[kv("user.id", id)]);
//!         Ok(User)
//!     })
//!     .await
//! }
//! assert!(get_user(&Context::noop(), "42").await.is_ok());
//! # }
//! ```
//!
//! The built-in interceptors run in this order when a call starts, and in reverse when it ends:
//! `tracing` (a span named `Component.Method`, error recorded on failure), `metrics` (the counter
//! `hyperion.intercept.calls` and the histogram `hyperion.intercept.duration` in seconds, with
//! attributes `component`, `method`, `outcome`), `logging` (debug on start and success, error on
//! failure). Registered interceptors follow them. Metrics are recorded before the span ends and
//! with the span's context, so an adapter can attach the span as an exemplar.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::attr::{KeyValue, Value, kv};
use crate::context::Context;
use crate::metric::{Counter, Histogram, Meter};
use crate::trace::{Span, SpanOptions};

/// The name of the built-in tracing interceptor.
pub const TRACING: &str = "tracing";
/// The name of the built-in metrics interceptor.
pub const METRICS: &str = "metrics";
/// The name of the built-in logging interceptor.
pub const LOGGING: &str = "logging";

/// The intercepted call's counter.
pub const CALLS_METRIC: &str = "hyperion.intercept.calls";
/// The intercepted call's duration histogram, in seconds.
pub const DURATION_METRIC: &str = "hyperion.intercept.duration";

/// Which call is being intercepted.
#[derive(Clone, Debug)]
pub struct CallInfo<'a> {
    /// The component, e.g. `UserService`.
    pub component: &'a str,
    /// The method, e.g. `GetUser`.
    pub method: &'a str,
    /// When the call started.
    pub started: Instant,
}

/// How a call ended.
///
/// ```
/// use hyperion::Outcome;
/// assert_eq!(Outcome::Ok.as_str(), "ok");
/// assert_eq!(Outcome::Cancelled.as_str(), "cancelled");
/// let failed = Outcome::Error { type_name: "MyError", error: &"disk full" };
/// assert_eq!(failed.as_str(), "error");
/// assert_eq!(format!("{failed:?}"), r#"Error { type_name: "MyError", error: disk full }"#);
/// ```
#[derive(Clone, Copy)]
pub enum Outcome<'a> {
    /// It returned successfully.
    Ok,
    /// It returned an error.
    Error {
        /// The error's type name.
        type_name: &'a str,
        /// The error, to be formatted only by those who need the text.
        error: &'a dyn fmt::Display,
    },
    /// It never returned: the future or the guard was dropped first.
    Cancelled,
}

impl Outcome<'_> {
    /// `ok`, `error` or `cancelled`: the value of the `outcome` attribute.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error { .. } => "error",
            Outcome::Cancelled => "cancelled",
        }
    }
}

impl fmt::Debug for Outcome<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Error { type_name, error } => f
                .debug_struct("Error")
                .field("type_name", type_name)
                .field("error", &format_args!("{error}"))
                .finish(),
            other => f.write_str(other.as_str()),
        }
    }
}

/// What an intercepted call returns, seen as an [`Outcome`]. Implemented for `Result<T, E>` with
/// any displayable `E` (so `std::io::Error`, `anyhow::Error` and `String` errors all work).
///
/// ```
/// use hyperion::{CallResult, Outcome};
/// let ok: Result<u8, String> = Ok(1);
/// assert_eq!(ok.outcome().as_str(), "ok");
/// let failed = "x".parse::<u8>();
/// match failed.outcome() {
///     Outcome::Error { type_name, error } => {
///         assert!(type_name.ends_with("ParseIntError"));
///         assert_eq!(error.to_string(), "invalid digit found in string");
///     }
///     other => panic!("expected an error, got {other:?}"),
/// }
/// ```
pub trait CallResult {
    /// The outcome of this result.
    fn outcome(&self) -> Outcome<'_>;
}

impl<T, E: fmt::Display> CallResult for Result<T, E> {
    fn outcome(&self) -> Outcome<'_> {
        match self {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Error {
                type_name: std::any::type_name::<E>(),
                error,
            },
        }
    }
}

/// A pluggable step that runs around every intercepted call.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use hyperion::{intercept::{CallInfo, Interceptor, Outcome}, Context};
///
/// #[derive(Default)]
/// struct CountFailures(AtomicUsize);
/// impl Interceptor for CountFailures {
///     fn name(&self) -> &str { "count-failures" }
///     fn on_end(&self, _: &Context, _: &CallInfo<'_>, outcome: &Outcome<'_>, _: Duration) {
///         if matches!(outcome, Outcome::Error { .. }) { self.0.fetch_add(1, Ordering::Relaxed); }
///     }
/// }
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// The name used by [`InterceptOptions::only`] and [`InterceptOptions::exclude`].
    fn name(&self) -> &str;
    /// Runs when the call starts; may replace the context the call runs with.
    fn on_start(&self, ctx: &mut Context, call: &CallInfo<'_>) {
        let _ = (ctx, call);
    }
    /// Runs when the call ends, with the call's context.
    fn on_end(&self, ctx: &Context, call: &CallInfo<'_>, outcome: &Outcome<'_>, elapsed: Duration) {
        let _ = (ctx, call, outcome, elapsed);
    }
}

/// Per-call choice of interceptors, like hyperion's `WithOnly`, `WithExclude`, `WithAdditional`.
///
/// ```
/// use hyperion::intercept::InterceptOptions;
/// // Only a span, no metrics or logs, for a hot inner call:
/// let opts = InterceptOptions::new().only(&["tracing"]);
/// // Everything but logs:
/// let quiet = InterceptOptions::new().exclude(&["logging"]);
/// # let _ = (opts, quiet);
/// ```
#[derive(Clone, Copy, Default)]
pub struct InterceptOptions<'a> {
    only: Option<&'a [&'a str]>,
    exclude: &'a [&'a str],
    additional: &'a [Arc<dyn Interceptor>],
}

impl<'a> InterceptOptions<'a> {
    /// All registered interceptors.
    pub const fn new() -> Self {
        InterceptOptions {
            only: None,
            exclude: &[],
            additional: &[],
        }
    }

    /// Runs only the interceptors with these names.
    pub const fn only(mut self, names: &'a [&'a str]) -> Self {
        self.only = Some(names);
        self
    }

    /// Skips the interceptors with these names.
    pub const fn exclude(mut self, names: &'a [&'a str]) -> Self {
        self.exclude = names;
        self
    }

    /// Also runs these interceptors for this call, after the registered ones (even on a context
    /// whose telemetry has none).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use hyperion::intercept::{CallInfo, InterceptOptions, Interceptor};
    /// use hyperion::Context;
    ///
    /// #[derive(Default)]
    /// struct CountStarts(AtomicUsize);
    /// impl Interceptor for CountStarts {
    ///     fn name(&self) -> &str { "count-starts" }
    ///     fn on_start(&self, _: &mut Context, _: &CallInfo<'_>) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let starts = Arc::new(CountStarts::default());
    /// let extra: [Arc<dyn Interceptor>; 1] = [starts.clone()];
    /// let options = InterceptOptions::new().additional(&extra);
    /// let (_ctx, call) = Context::noop().start_call_with("Repo", "Save", &options);
    /// call.finish(&Ok::<(), std::io::Error>(()));
    /// assert_eq!(starts.0.load(Ordering::Relaxed), 1);
    /// ```
    pub const fn additional(mut self, interceptors: &'a [Arc<dyn Interceptor>]) -> Self {
        self.additional = interceptors;
        self
    }

    fn selects(&self, name: &str) -> bool {
        self.only.is_none_or(|only| only.contains(&name)) && !self.exclude.contains(&name)
    }

    /// Whether these are [`InterceptOptions::new`]'s: every registered interceptor, no more.
    fn selects_all(&self) -> bool {
        self.only.is_none() && self.exclude.is_empty() && self.additional.is_empty()
    }
}

impl fmt::Debug for InterceptOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterceptOptions")
            .field("only", &self.only)
            .field("exclude", &self.exclude)
            .field(
                "additional",
                &self.additional.iter().map(|i| i.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The span name `{component}.{method}`. For the usual call with both parts `'static` it is
/// built once per pair and reused (a `'static` name, no allocation per call); other calls, and
/// pairs past [`MAX_INTERNED_NAMES`], get a fresh string.
// A `&Cow`, not a `&str`: whether each part is borrowed `'static` is the point.
#[allow(clippy::ptr_arg)]
fn span_name(component: &Cow<'static, str>, method: &Cow<'static, str>) -> Cow<'static, str> {
    match (component, method) {
        (Cow::Borrowed(component), Cow::Borrowed(method)) => {
            match interned_span_name(component, method) {
                Some(name) => Cow::Borrowed(name),
                None => Cow::Owned(format!("{component}.{method}")),
            }
        }
        _ => Cow::Owned(format!("{component}.{method}")),
    }
}

/// How many `'static` (component, method) pairs get a reused span name. The pairs come from the
/// program's own string literals, so they are few; the bound keeps the leak bounded whatever
/// a program does.
const MAX_INTERNED_NAMES: usize = 4096;

/// The span name of a `'static` pair, built (and leaked) the first time. Keyed by the parts'
/// addresses and lengths: hashing four words is cheaper than hashing the text, and two copies
/// of one literal at different addresses only cost one more entry. (A library unloaded and
/// another loaded at its addresses could meet a stale name: a wrong name, never a memory
/// error.)
fn interned_span_name(component: &'static str, method: &'static str) -> Option<&'static str> {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};

    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    struct ByAddress(usize, usize, usize, usize);

    /// Mixes the four words with a multiply (the FxHash step): the keys are addresses, not
    /// input an attacker picks, and SipHash would cost more than the lookup saves.
    #[derive(Default)]
    struct AddressHasher(u64);

    impl std::hash::Hasher for AddressHasher {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.write_usize(b as usize);
            }
        }

        fn write_usize(&mut self, n: usize) {
            self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }

        fn finish(&self) -> u64 {
            self.0
        }
    }

    type Names = HashMap<ByAddress, &'static str, std::hash::BuildHasherDefault<AddressHasher>>;
    // Each thread looks in its own copy first: no shared cache line is written per call, so
    // threads do not slow each other down; the shared map is read once per pair and thread.
    thread_local! {
        static LOCAL: std::cell::RefCell<Names> = std::cell::RefCell::default();
    }
    static NAMES: OnceLock<RwLock<Names>> = OnceLock::new();

    let key = ByAddress(
        component.as_ptr() as usize,
        component.len(),
        method.as_ptr() as usize,
        method.len(),
    );
    let local = LOCAL
        .try_with(|local| local.try_borrow().ok()?.get(&key).copied())
        .ok()
        .flatten();
    if local.is_some() {
        return local;
    }
    let names = NAMES.get_or_init(Default::default);
    let shared = {
        let read = names.read().unwrap_or_else(|p| p.into_inner());
        match read.get(&key) {
            Some(name) => Some(*name),
            // Full: no write lock for pairs that will never get in.
            None if read.len() >= MAX_INTERNED_NAMES => return None,
            None => None,
        }
    };
    let name = match shared {
        Some(name) => name,
        None => {
            let mut names = names.write().unwrap_or_else(|p| p.into_inner());
            match names.get(&key) {
                Some(name) => name,
                None if names.len() >= MAX_INTERNED_NAMES => return None,
                None => {
                    let name: &'static str =
                        Box::leak(format!("{component}.{method}").into_boxed_str());
                    names.insert(key, name);
                    name
                }
            }
        }
    };
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            local.insert(key, name);
        }
    });
    Some(name)
}

const BUILTIN_TRACING: u8 = 1;
const BUILTIN_METRICS: u8 = 2;
const BUILTIN_LOGGING: u8 = 4;

/// The interceptors of a [`crate::Telemetry`], resolved at build time.
pub(crate) struct InterceptorChain {
    builtins: u8,
    calls: Counter,
    duration: Histogram,
    custom: Vec<Arc<dyn Interceptor>>,
}

impl InterceptorChain {
    /// `None` when nothing would run: intercept is then free.
    pub(crate) fn new(
        tracing: bool,
        meter: &Meter,
        logging: bool,
        custom: Vec<Arc<dyn Interceptor>>,
    ) -> Option<Self> {
        let mut builtins = 0;
        if tracing {
            builtins |= BUILTIN_TRACING;
        }
        if meter.is_enabled() {
            builtins |= BUILTIN_METRICS;
        }
        if logging {
            builtins |= BUILTIN_LOGGING;
        }
        if builtins == 0 && custom.is_empty() {
            return None;
        }
        Some(InterceptorChain {
            builtins,
            calls: meter
                .counter(CALLS_METRIC)
                .description("Intercepted calls, by component, method and outcome")
                .unit("{call}")
                .build(),
            duration: meter
                .histogram(DURATION_METRIC)
                .description("Duration of intercepted calls")
                .unit("s")
                .build(),
            custom,
        })
    }
}

/// A call in progress: the guard form of intercept, for code that cannot take a closure.
///
/// Finish it with [`CallGuard::finish`]; a guard dropped without finishing records the outcome
/// `cancelled` (as happens when an intercepted future is dropped mid-way).
///
/// ```
/// use hyperion::Context;
/// let ctx = Context::noop();
/// let (ctx, call) = ctx.start_call("Repo", "Save");
/// let result: Result<(), std::io::Error> = Ok(());
/// call.finish(&result);
/// # let _ = ctx;
/// ```
#[must_use = "finish the call with .finish(&result); dropping it records `cancelled`"]
pub struct CallGuard {
    state: Option<CallState>,
}

struct CallState {
    ctx: Context,
    span: Span,
    builtins: u8,
    custom: Vec<Arc<dyn Interceptor>>,
    component: Cow<'static, str>,
    method: Cow<'static, str>,
    started: Instant,
}

impl CallGuard {
    /// The call's context (with its span, when tracing is on).
    pub fn context(&self) -> Option<&Context> {
        self.state.as_ref().map(|s| &s.ctx)
    }

    /// Ends the call with the outcome of `result`.
    #[inline]
    pub fn finish<R: CallResult + ?Sized>(mut self, result: &R) {
        if let Some(state) = self.state.take() {
            state.end(&result.outcome());
        }
    }

    /// Ends the call with an explicit outcome.
    pub fn finish_with(mut self, outcome: &Outcome<'_>) {
        if let Some(state) = self.state.take() {
            state.end(outcome);
        }
    }
}

impl Drop for CallGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.end(&Outcome::Cancelled);
        }
    }
}

impl fmt::Debug for CallGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            None => f.write_str("CallGuard(inactive)"),
            Some(s) => f
                .debug_struct("CallGuard")
                .field("component", &s.component)
                .field("method", &s.method)
                .field("span", &s.span)
                .finish(),
        }
    }
}

impl CallState {
    #[inline(never)]
    fn start(
        ctx: &Context,
        chain: &InterceptorChain,
        component: Cow<'static, str>,
        method: Cow<'static, str>,
        options: &InterceptOptions<'_>,
    ) -> CallState {
        let (builtins, custom) = if options.selects_all() {
            // The usual call: every registered interceptor, nothing to filter.
            (chain.builtins, chain.custom.clone())
        } else {
            let mut builtins = 0;
            for (bit, name) in [
                (BUILTIN_TRACING, TRACING),
                (BUILTIN_METRICS, METRICS),
                (BUILTIN_LOGGING, LOGGING),
            ] {
                if chain.builtins & bit != 0 && options.selects(name) {
                    builtins |= bit;
                }
            }
            let custom: Vec<Arc<dyn Interceptor>> = chain
                .custom
                .iter()
                .filter(|i| options.selects(i.name()))
                .chain(options.additional.iter())
                .cloned()
                .collect();
            (builtins, custom)
        };
        let started = Instant::now();

        let (mut call_ctx, span) = if builtins & BUILTIN_TRACING != 0 {
            ctx.start_span(
                span_name(&component, &method),
                SpanOptions::new().promotable(),
            )
        } else {
            (ctx.clone(), Span::noop())
        };
        let info = CallInfo {
            component: &component,
            method: &method,
            started,
        };
        if builtins & BUILTIN_LOGGING != 0 {
            let attrs = call_attributes(&component, &method);
            call_ctx
                .log()
                .target("hyperion.intercept")
                .debug("call started", &attrs);
        }
        for i in &custom {
            i.on_start(&mut call_ctx, &info);
        }
        CallState {
            ctx: call_ctx,
            span,
            builtins,
            custom,
            component,
            method,
            started,
        }
    }

    #[inline(never)]
    fn end(self, outcome: &Outcome<'_>) {
        let CallState {
            ctx,
            mut span,
            builtins,
            custom,
            component,
            method,
            started,
        } = self;
        let elapsed = started.elapsed();
        // One wall-clock read at the end, shared by the span's end, its exception event and the
        // exemplars (the duration comes from the monotonic clock); none when nothing would be
        // stamped (no recording span, no sampled span to be an exemplar).
        let stamped = (builtins & BUILTIN_TRACING != 0 && span.is_recording())
            || (builtins & BUILTIN_METRICS != 0 && ctx.span_context().is_sampled());
        let ended = stamped.then(SystemTime::now);
        let info = CallInfo {
            component: &component,
            method: &method,
            started,
        };
        for i in custom.iter().rev() {
            i.on_end(&ctx, &info, outcome, elapsed);
        }
        if builtins & BUILTIN_LOGGING != 0 {
            log_end(&ctx, call_attributes(&component, &method), outcome, elapsed);
        }
        if builtins & BUILTIN_METRICS != 0 {
            if let Some(chain) = ctx.interceptors::<InterceptorChain>() {
                let [component, method] = call_attributes(&component, &method);
                let attrs = [
                    component,
                    method,
                    kv("outcome", Value::from_static_str(outcome.as_str())),
                ];
                let seconds = elapsed.as_secs_f64();
                match ended {
                    Some(at) => {
                        chain.calls.add_at(&ctx, 1, &attrs, at);
                        chain.duration.record_at(&ctx, seconds, &attrs, at);
                    }
                    None => {
                        chain.calls.add(&ctx, 1, &attrs);
                        chain.duration.record(&ctx, seconds, &attrs);
                    }
                }
            }
        }
        if builtins & BUILTIN_TRACING != 0 {
            if let Outcome::Error { type_name, error } = outcome {
                match ended {
                    Some(at) => span.record_exception_at(type_name, error, at),
                    None => span.record_exception(type_name, error),
                }
            }
            match ended {
                Some(at) => span.end_at(at),
                None => span.end(),
            }
        }
    }
}

/// The `component` and `method` attributes; names known at compile time stay `'static`, so an
/// adapter need not copy them on every record.
#[allow(clippy::ptr_arg)] // not `&str`: whether the Cow is borrowed ('static) is the point
fn call_attributes<'a>(
    component: &'a Cow<'static, str>,
    method: &'a Cow<'static, str>,
) -> [KeyValue<'a>; 2] {
    let value = |name: &'a Cow<'static, str>| match name {
        Cow::Borrowed(s) => Value::StaticStr(s),
        Cow::Owned(s) => Value::from(s.as_str()),
    };
    [
        kv("component", value(component)),
        kv("method", value(method)),
    ]
}

fn log_end(ctx: &Context, attrs: [KeyValue<'_>; 2], outcome: &Outcome<'_>, elapsed: Duration) {
    let log = ctx.log().target("hyperion.intercept");
    let [component, method] = attrs;
    let duration = kv("duration_ms", Value::F64(elapsed.as_secs_f64() * 1e3));
    match outcome {
        Outcome::Ok => log.debug("call succeeded", &[component, method, duration]),
        Outcome::Error { error, .. } => {
            if log.enabled(crate::log::Level::Error) {
                let text = error.to_string();
                let error = kv("error", text.as_str());
                log.error("call failed", &[component, method, duration, error]);
            }
        }
        Outcome::Cancelled => log.warn("call cancelled", &[component, method, duration]),
    }
}

impl Context {
    /// Starts an intercepted call and returns its context and a guard that ends it.
    #[inline]
    pub fn start_call(
        &self,
        component: impl Into<Cow<'static, str>>,
        method: impl Into<Cow<'static, str>>,
    ) -> (Context, CallGuard) {
        self.start_call_with(component, method, &InterceptOptions::new())
    }

    /// [`Context::start_call`] with per-call options.
    #[inline]
    pub fn start_call_with(
        &self,
        component: impl Into<Cow<'static, str>>,
        method: impl Into<Cow<'static, str>>,
        options: &InterceptOptions<'_>,
    ) -> (Context, CallGuard) {
        match self.interceptors::<InterceptorChain>() {
            None if options.additional.is_empty() => (self.clone(), CallGuard { state: None }),
            chain => {
                let empty;
                let chain = match chain {
                    Some(c) => c,
                    None => {
                        empty = InterceptorChain {
                            builtins: 0,
                            calls: Counter::noop(),
                            duration: Histogram::noop(),
                            custom: Vec::new(),
                        };
                        &empty
                    }
                };
                let state = CallState::start(self, chain, component.into(), method.into(), options);
                (state.ctx.clone(), CallGuard { state: Some(state) })
            }
        }
    }

    /// Runs `f` as an intercepted call: a span, the call counter, the duration histogram and
    /// logs, all with the call's context. If the returned future is dropped before it completes,
    /// the call is recorded as `cancelled`.
    #[inline]
    pub async fn intercept<F, Fut, R>(
        &self,
        component: impl Into<Cow<'static, str>>,
        method: impl Into<Cow<'static, str>>,
        f: F,
    ) -> R
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = R>,
        R: CallResult,
    {
        self.intercept_with(component, method, &InterceptOptions::new(), f)
            .await
    }

    /// [`Context::intercept`] with per-call options.
    pub async fn intercept_with<F, Fut, R>(
        &self,
        component: impl Into<Cow<'static, str>>,
        method: impl Into<Cow<'static, str>>,
        options: &InterceptOptions<'_>,
        f: F,
    ) -> R
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = R>,
        R: CallResult,
    {
        let (ctx, call) = self.start_call_with(component, method, options);
        // With a span, it is the thread's current one while the call is polled, so that bridges
        // (a `tracing` layer) can correlate what libraries log; without one, nothing to do.
        let result = if ctx.span_context().is_valid() {
            let scope = ctx.clone();
            // Building the future runs code too (up to its first await, for some): in scope.
            let future = scope.in_scope(|| f(ctx));
            scope.scope(future).await
        } else {
            f(ctx).await
        };
        call.finish(&result);
        result
    }

    /// The synchronous form of [`Context::intercept`].
    ///
    /// ```
    /// use hyperion::Context;
    /// let n: Result<i32, std::num::ParseIntError> =
    ///     Context::noop().intercept_sync("Parser", "Parse", |_ctx| "42".parse());
    /// assert_eq!(n, Ok(42));
    /// ```
    #[inline]
    pub fn intercept_sync<F, R>(
        &self,
        component: impl Into<Cow<'static, str>>,
        method: impl Into<Cow<'static, str>>,
        f: F,
    ) -> R
    where
        F: FnOnce(Context) -> R,
        R: CallResult,
    {
        let (ctx, call) = self.start_call(component, method);
        let result = if ctx.span_context().is_valid() {
            let scope = ctx.clone();
            scope.in_scope(|| f(ctx))
        } else {
            f(ctx)
        };
        call.finish(&result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_pairs_reuse_one_span_name_and_others_are_built() {
        let (c, m) = (Cow::Borrowed("UserService"), Cow::Borrowed("GetUser"));
        let first = span_name(&c, &m);
        let second = span_name(&c, &m);
        assert_eq!(first, "UserService.GetUser");
        match (&first, &second) {
            (Cow::Borrowed(a), Cow::Borrowed(b)) => assert!(std::ptr::eq(*a, *b)),
            other => panic!("a static pair should reuse its name: {other:?}"),
        }
        let owned = span_name(&Cow::Owned("Orders".to_owned()), &m);
        assert_eq!(owned, "Orders.GetUser");
        assert!(matches!(owned, Cow::Owned(_)));
    }
}
