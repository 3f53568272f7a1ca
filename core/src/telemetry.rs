//! [`Telemetry`]: the bundle an application holds (the modules built for it, its meters, the
//! recorders its contexts share), and its flush and shutdown; [`ModuleInstance`], what a built
//! module is to it. Building one is the [builder](crate::TelemetryBuilder)'s work.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::Config;
use crate::context::{Context, Recorders};
use crate::log::Logger;
use crate::metric::{Meter, MeterProvider};
use crate::propagation::{Extractor, PropagationLimits};
use crate::trace::Tracer;

/// A boxed, `Send` future, as module methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An error from a module: building, flushing or shutting down.
#[derive(Debug, thiserror::Error)]
#[error("module `{module}`: {message}")]
pub struct ModuleError {
    /// The module's name.
    pub module: String,
    /// What went wrong.
    pub message: String,
    /// The underlying error, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ModuleError {
    /// An error with a message.
    pub fn new(module: impl Into<String>, message: impl Into<String>) -> Self {
        ModuleError {
            module: module.into(),
            message: message.into(),
            source: None,
        }
    }

    /// The same error with an underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// An error for an operation that ran out of time (an exporter that did not answer before
    /// a flush or shutdown gave up): [`Telemetry::shutdown`] and [`Telemetry::flush`] report it
    /// under [`ShutdownError::timed_out`], not `failed`.
    pub fn timed_out(module: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(module, message).with_source(TimedOut)
    }

    /// Whether this error is a [`timed_out`](Self::timed_out) one.
    pub fn is_timed_out(&self) -> bool {
        self.source
            .as_deref()
            .is_some_and(|source| source.is::<TimedOut>())
    }
}

/// The cause of a [`ModuleError::timed_out`] error.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("timed out")]
pub struct TimedOut;

/// Why a flush or shutdown did not complete.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ShutdownError {
    /// Modules that did not finish within the timeout.
    pub timed_out: Vec<String>,
    /// Modules that reported an error.
    pub failed: Vec<ModuleError>,
}

impl ShutdownError {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.timed_out.is_empty() {
            parts.push(format!("timed out: {}", self.timed_out.join(", ")));
        }
        for f in &self.failed {
            parts.push(f.to_string());
        }
        format!("telemetry shutdown incomplete ({})", parts.join("; "))
    }
}

/// A built module: the providers it serves, and flush and shutdown.
///
/// Every method has a default that provides nothing and does nothing.
pub trait ModuleInstance: Send + Sync + 'static {
    /// The tracer, if this instance serves tracing.
    fn tracer(&self) -> Option<Arc<dyn Tracer>> {
        None
    }
    /// The meter provider, if this instance serves metrics.
    fn meter_provider(&self) -> Option<Arc<dyn MeterProvider>> {
        None
    }
    /// The logger, if this instance serves logging.
    fn logger(&self) -> Option<Arc<dyn Logger>> {
        None
    }
    /// Called once the telemetry is built, e.g. to create instruments that report on the
    /// module itself through the telemetry's meter. Must not keep the telemetry (it owns this
    /// instance): keep the instruments.
    fn started(&self, telemetry: &Telemetry) {
        let _ = telemetry;
    }
    /// Exports everything buffered so far. Hyperion bounds the wait with a timeout.
    fn flush(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async { Ok(()) })
    }
    /// Flushes and releases everything. Called once. Hyperion bounds the wait with a timeout.
    fn shutdown(&self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A module built for a telemetry, by name.
pub(crate) struct Built {
    pub(crate) name: String,
    pub(crate) instance: Box<dyn ModuleInstance>,
}

pub(crate) struct Inner {
    pub(crate) recorders: Arc<Recorders>,
    pub(crate) meter_provider: Option<Arc<dyn MeterProvider>>,
    pub(crate) modules: Vec<Built>,
    pub(crate) config: Config,
    pub(crate) shut_down: AtomicBool,
}

/// The telemetry an application records into. Cheap to clone; [`Telemetry::noop`] needs no setup.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use hyperion::{Config, Telemetry};
/// let config = Config::from_yaml_str("tracing:\n  service_name: my-service\n")?;
/// let telemetry = Telemetry::builder().config(config).build().await?;
/// let ctx = telemetry.context();
/// ctx.log().info("started", &[]);
/// telemetry.shutdown(std::time::Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Telemetry {
    pub(crate) inner: Option<Arc<Inner>>,
}

static DEFAULT_LIMITS: PropagationLimits = PropagationLimits::DEFAULT;

impl Telemetry {
    /// Telemetry that records nothing.
    pub const fn noop() -> Self {
        Telemetry { inner: None }
    }

    /// Whether this is the no-op telemetry (built telemetry is never no-op, even if every
    /// signal it serves is).
    #[inline]
    pub fn is_noop(&self) -> bool {
        self.inner.is_none()
    }

    /// Whether two handles refer to the same built telemetry (both no-op counts as the same).
    pub fn same_as(&self, other: &Telemetry) -> bool {
        match (&self.inner, &other.inner) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The root context: no span, no baggage.
    pub fn context(&self) -> Context {
        Context::root(self.inner.as_ref().map(|i| i.recorders.clone()))
    }

    /// A root context whose span context and baggage come from a carrier (e.g. request headers).
    pub fn extract(&self, carrier: &dyn Extractor) -> Context {
        self.context().extract(carrier)
    }

    /// A meter for a scope (a crate or component name).
    pub fn meter(&self, scope: impl Into<Cow<'static, str>>) -> Meter {
        Meter::new(
            self.inner.as_ref().and_then(|i| i.meter_provider.clone()),
            scope.into(),
        )
    }

    /// The tracer, if tracing is on.
    #[inline]
    pub fn tracer(&self) -> Option<&dyn Tracer> {
        self.inner.as_ref()?.recorders.tracer.as_deref()
    }

    /// The logger, if logging is on.
    #[inline]
    pub fn logger(&self) -> Option<&dyn Logger> {
        self.inner.as_ref()?.recorders.logger.as_deref()
    }

    /// The meter provider, if metrics are on.
    pub fn meter_provider(&self) -> Option<&Arc<dyn MeterProvider>> {
        self.inner.as_ref()?.meter_provider.as_ref()
    }

    /// The limits that apply to extracted headers.
    pub fn propagation_limits(&self) -> &PropagationLimits {
        match &self.inner {
            Some(i) => &i.recorders.limits,
            None => &DEFAULT_LIMITS,
        }
    }

    /// The configuration this telemetry was built from (`None` for [`Telemetry::noop`]).
    pub fn config(&self) -> Option<&Config> {
        self.inner.as_ref().map(|i| &i.config)
    }

    /// The names of the modules built, in the order they were built.
    pub fn module_names(&self) -> Vec<&str> {
        match &self.inner {
            Some(i) => i.modules.iter().map(|m| m.name.as_str()).collect(),
            None => Vec::new(),
        }
    }

    /// Exports everything buffered so far, waiting at most `timeout`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use hyperion::Telemetry;
    /// use hyperion::testing::MemoryModule;
    ///
    /// let memory = MemoryModule::new();
    /// let store = memory.store();
    /// let telemetry = Telemetry::builder().module(memory).build().await?;
    /// telemetry.context().log().info("started", &[]);
    /// assert!(store.snapshot().logs.is_empty()); // still buffered
    /// telemetry.flush(Duration::from_secs(1)).await?;
    /// assert_eq!(store.snapshot().logs[0].message, "started");
    /// # Ok(()) }
    /// ```
    pub async fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        run_all(inner, timeout, |m| m.flush()).await
    }

    /// Flushes and shuts down every module, waiting at most `timeout` in all. Later calls (and
    /// the drop of a [`ShutdownGuard`]) do nothing.
    ///
    /// Awaiting this on a current-thread runtime is safe: modules run their work on this task.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use hyperion::Telemetry;
    /// use hyperion::testing::MemoryModule;
    ///
    /// let memory = MemoryModule::new();
    /// let store = memory.store();
    /// let telemetry = Telemetry::builder().module(memory).build().await?;
    /// telemetry.context().log().info("stopping", &[]);
    /// telemetry.shutdown(Duration::from_secs(5)).await?;
    /// telemetry.shutdown(Duration::from_secs(5)).await?; // does nothing
    /// assert_eq!(store.shutdown_count(), 1);
    /// assert_eq!(store.snapshot().logs.len(), 1); // flushed on the way
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        if inner.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        run_all(inner, timeout, |m| m.shutdown()).await
    }

    /// A guard that shuts this telemetry down when dropped (or when
    /// [`ShutdownGuard::shutdown`] is awaited), waiting at most `timeout`.
    pub fn shutdown_guard(&self, timeout: Duration) -> ShutdownGuard {
        ShutdownGuard {
            telemetry: self.clone(),
            timeout,
        }
    }
}

async fn run_all<'a>(
    inner: &'a Inner,
    timeout: Duration,
    op: impl Fn(&'a dyn ModuleInstance) -> BoxFuture<'a, Result<(), ModuleError>>,
) -> Result<(), ShutdownError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut error = ShutdownError {
        timed_out: Vec::new(),
        failed: Vec::new(),
    };
    for m in &inner.modules {
        match tokio::time::timeout_at(deadline, op(m.instance.as_ref())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_timed_out() => error.timed_out.push(m.name.clone()),
            Ok(Err(e)) => error.failed.push(e),
            Err(_) => error.timed_out.push(m.name.clone()),
        }
    }
    if error.timed_out.is_empty() && error.failed.is_empty() {
        Ok(())
    } else {
        Err(error)
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Telemetry(noop)"),
            Some(i) => f
                .debug_struct("Telemetry")
                .field("modules", &self.module_names())
                .field("tracing", &i.recorders.tracer.is_some())
                .field("metrics", &i.meter_provider.is_some())
                .field("logging", &i.recorders.logger.is_some())
                .finish(),
        }
    }
}

/// Shuts telemetry down when dropped, so that buffered spans, points and logs are not lost.
///
/// Prefer awaiting [`ShutdownGuard::shutdown`] at the end of `main`. On drop, the guard runs the
/// shutdown on a helper thread with its own runtime and waits at most the timeout, so it cannot
/// deadlock a current-thread runtime (a module whose work lives on the blocked runtime just
/// times out).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use hyperion::Telemetry;
/// use hyperion::testing::MemoryModule;
///
/// let memory = MemoryModule::new();
/// let store = memory.store();
/// let telemetry = Telemetry::builder().module(memory).build().await?;
/// {
///     let _guard = telemetry.shutdown_guard(Duration::from_secs(5));
///     telemetry.context().log().info("working", &[]);
/// } // the guard is dropped here: telemetry is flushed and shut down
/// assert_eq!(store.shutdown_count(), 1);
/// assert_eq!(store.snapshot().logs.len(), 1);
///
/// // At the end of `main`, prefer awaiting it:
/// let guard = Telemetry::builder().module(MemoryModule::new()).build().await?
///     .shutdown_guard(Duration::from_secs(5));
/// guard.shutdown().await?;
/// # Ok(()) }
/// ```
#[must_use = "dropping the guard at once shuts telemetry down"]
#[derive(Debug)]
pub struct ShutdownGuard {
    telemetry: Telemetry,
    timeout: Duration,
}

impl ShutdownGuard {
    /// Shuts down now, awaiting the modules on this task.
    pub async fn shutdown(self) -> Result<(), ShutdownError> {
        self.telemetry.shutdown(self.timeout).await
    }
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        let Some(inner) = &self.telemetry.inner else {
            return;
        };
        if inner.shut_down.load(Ordering::Acquire) {
            return;
        }
        let telemetry = self.telemetry.clone();
        let timeout = self.timeout;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("hyperion-shutdown".into())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|rt| {
                        rt.block_on(telemetry.shutdown(timeout))
                            .map_err(|e| e.to_string())
                    });
                let _ = done_tx.send(result);
            });
        if spawned.is_ok() {
            // A little slack beyond the modules' own timeout for the thread to start and report.
            let _ = done_rx.recv_timeout(timeout + Duration::from_millis(250));
        }
    }
}
