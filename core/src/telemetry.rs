//! [`Telemetry`]: the bundle an application holds (tracer, meter provider, logger, interceptors),
//! built from config through the [`Registry`], and its shutdown.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::{Config, ConfigError, Signal};
use crate::context::Context;
use crate::intercept::{Interceptor, InterceptorChain};
use crate::log::Logger;
use crate::metric::{Meter, MeterProvider};
use crate::propagation::{Extractor, PropagationLimits};
use crate::registry::{BuildRequest, Module, ModuleError, ModuleInstance, Registry, Signals};
use crate::trace::Tracer;

/// Why [`TelemetryBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config names a module that is not registered.
    #[error(
        "invalid value for `{key}`: found {found:?}, expected one of the registered modules: {}",
        registered.join(", ")
    )]
    UnknownAdapter {
        /// The key that named it, e.g. `tracing.adapter`.
        key: String,
        /// The name found.
        found: String,
        /// The registered module names.
        registered: Vec<String>,
    },
    /// A module failed to build.
    #[error(transparent)]
    Module(#[from] ModuleError),
}

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

struct Built {
    name: String,
    instance: Box<dyn ModuleInstance>,
}

struct Inner {
    tracer: Option<Arc<dyn Tracer>>,
    meter_provider: Option<Arc<dyn MeterProvider>>,
    logger: Option<Arc<dyn Logger>>,
    chain: Option<InterceptorChain>,
    limits: PropagationLimits,
    modules: Vec<Built>,
    config: Config,
    shut_down: AtomicBool,
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
    inner: Option<Arc<Inner>>,
}

static DEFAULT_LIMITS: PropagationLimits = PropagationLimits::DEFAULT;

impl Telemetry {
    /// Telemetry that records nothing.
    pub const fn noop() -> Self {
        Telemetry { inner: None }
    }

    /// Starts building telemetry from modules and config.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
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
        Context::new(self.clone())
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
        self.inner.as_ref()?.tracer.as_deref()
    }

    /// The logger, if logging is on.
    #[inline]
    pub fn logger(&self) -> Option<&dyn Logger> {
        self.inner.as_ref()?.logger.as_deref()
    }

    /// The meter provider, if metrics are on.
    pub fn meter_provider(&self) -> Option<&Arc<dyn MeterProvider>> {
        self.inner.as_ref()?.meter_provider.as_ref()
    }

    #[inline]
    pub(crate) fn interceptors(&self) -> Option<&InterceptorChain> {
        self.inner.as_ref()?.chain.as_ref()
    }

    /// The limits that apply to extracted headers.
    pub fn propagation_limits(&self) -> &PropagationLimits {
        match &self.inner {
            Some(i) => &i.limits,
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
    op: impl Fn(&'a dyn ModuleInstance) -> crate::registry::BoxFuture<'a, Result<(), ModuleError>>,
) -> Result<(), ShutdownError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut error = ShutdownError {
        timed_out: Vec::new(),
        failed: Vec::new(),
    };
    for m in &inner.modules {
        match tokio::time::timeout_at(deadline, op(m.instance.as_ref())).await {
            Ok(Ok(())) => {}
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
                .field("tracing", &i.tracer.is_some())
                .field("metrics", &i.meter_provider.is_some())
                .field("logging", &i.logger.is_some())
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

/// Builds [`Telemetry`]: register modules and interceptors, give the config, then `build().await`.
#[derive(Default)]
pub struct TelemetryBuilder {
    registry: Registry,
    default_module: Option<String>,
    config: Option<Config>,
    interceptors: Vec<Arc<dyn Interceptor>>,
}

impl TelemetryBuilder {
    /// Registers a module. The first module registered is the default adapter for every signal
    /// whose config names none (neither `<signal>.adapter` nor the top-level `adapter`).
    pub fn module(mut self, module: impl Module) -> Self {
        let module: Arc<dyn Module> = Arc::new(module);
        if self.default_module.is_none() {
            self.default_module = Some(module.name().to_owned());
        }
        self.registry.register(module);
        self
    }

    /// Uses this configuration (default: [`Config::default`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Appends an interceptor that every intercepted call runs, after the built-in tracing,
    /// metrics and logging interceptors.
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// The registry as it stands.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Builds every module the config selects, once each.
    pub async fn build(self) -> Result<Telemetry, BuildError> {
        let config = self.config.unwrap_or_default();
        config.validate()?;
        let default = self
            .default_module
            .as_deref()
            .unwrap_or(crate::noop::NOOP_MODULE);

        // Which module serves which signal.
        let mut plan: Vec<(String, Signals)> = Vec::new();
        let mut chosen: [Option<String>; 3] = [None, None, None];
        for (slot, signal) in [Signal::Tracing, Signal::Metrics, Signal::Logging]
            .into_iter()
            .enumerate()
        {
            if !config.enabled(signal) {
                continue;
            }
            let (key, name) = match config.adapter_for(signal) {
                Some((key, name)) => (key.to_owned(), name.to_owned()),
                None => (String::new(), default.to_owned()),
            };
            if self.registry.get(&name).is_none() {
                return Err(BuildError::UnknownAdapter {
                    key,
                    found: name,
                    registered: self
                        .registry
                        .names()
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                });
            }
            if name == crate::noop::NOOP_MODULE {
                continue;
            }
            match plan.iter_mut().find(|(n, _)| *n == name) {
                Some((_, signals)) => signals.insert(signal),
                None => {
                    let mut signals = Signals::default();
                    signals.insert(signal);
                    plan.push((name.clone(), signals));
                }
            }
            chosen[slot] = Some(name);
        }

        let mut modules = Vec::with_capacity(plan.len());
        for (name, signals) in plan {
            let module = self
                .registry
                .get(&name)
                .expect("checked above: every planned module is registered");
            let request = BuildRequest {
                config: &config,
                signals,
            };
            let instance = module.build(&request).await?;
            modules.push(Built { name, instance });
        }
        let provider_of = |slot: usize| {
            chosen[slot]
                .as_ref()
                .and_then(|name| modules.iter().find(|m| &m.name == name))
        };
        let tracer = provider_of(0).and_then(|m| m.instance.tracer());
        let meter_provider = provider_of(1).and_then(|m| m.instance.meter_provider());
        let logger = provider_of(2).and_then(|m| m.instance.logger());

        let limits = PropagationLimits::from_config(&config.propagation);
        let meter = Meter::new(meter_provider.clone(), Cow::Borrowed("hyperion"));
        let chain = InterceptorChain::new(
            tracer.is_some(),
            &meter,
            logger.is_some(),
            self.interceptors,
        );
        let telemetry = Telemetry {
            inner: Some(Arc::new(Inner {
                tracer,
                meter_provider,
                logger,
                chain,
                limits,
                modules,
                config,
                shut_down: AtomicBool::new(false),
            })),
        };
        if let Some(inner) = &telemetry.inner {
            for m in &inner.modules {
                m.instance.started(&telemetry);
            }
        }
        Ok(telemetry)
    }
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("registry", &self.registry)
            .field("default_module", &self.default_module)
            .field("interceptors", &self.interceptors.len())
            .finish()
    }
}
