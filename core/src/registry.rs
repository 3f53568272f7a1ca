//! Modules and the [`Registry`]: an adapter registers a [`Module`] under a name, and the config
//! picks a module for each signal by that name. `noop` is always registered.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::{Config, Signal};
use crate::log::Logger;
use crate::metric::MeterProvider;
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
}

/// Which signals a module is asked to provide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// Provide a [`Tracer`].
    pub tracing: bool,
    /// Provide a [`MeterProvider`].
    pub metrics: bool,
    /// Provide a [`Logger`].
    pub logging: bool,
}

impl Signals {
    /// Whether `signal` is requested.
    pub fn contains(&self, signal: Signal) -> bool {
        match signal {
            Signal::Tracing => self.tracing,
            Signal::Metrics => self.metrics,
            Signal::Logging => self.logging,
        }
    }

    pub(crate) fn insert(&mut self, signal: Signal) {
        match signal {
            Signal::Tracing => self.tracing = true,
            Signal::Metrics => self.metrics = true,
            Signal::Logging => self.logging = true,
        }
    }
}

/// What a module is asked to build.
#[derive(Debug)]
pub struct BuildRequest<'a> {
    /// The whole configuration.
    pub config: &'a Config,
    /// The signals this module serves.
    pub signals: Signals,
}

/// An adapter's entry point: a name and a way to build an instance from config.
///
/// ```
/// use std::sync::Arc;
/// use hyperion::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance};
///
/// /// A module that provides nothing (every signal stays a no-op).
/// struct Quiet;
/// struct QuietInstance;
/// impl ModuleInstance for QuietInstance {}
/// impl Module for Quiet {
///     fn name(&self) -> &str { "quiet" }
///     fn build<'a>(&'a self, _: &'a BuildRequest<'a>)
///         -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
///         Box::pin(async { Ok(Box::new(QuietInstance) as Box<dyn ModuleInstance>) })
///     }
/// }
/// ```
pub trait Module: Send + Sync + 'static {
    /// The name the config refers to, e.g. `otel` or `memory`.
    fn name(&self) -> &str;
    /// Builds an instance serving `request.signals`.
    fn build<'a>(
        &'a self,
        request: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>>;
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
    fn started(&self, telemetry: &crate::Telemetry) {
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

/// The module that provides nothing: every signal it serves is a no-op.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopModule;

struct NoopInstance;
impl ModuleInstance for NoopInstance {}

impl Module for NoopModule {
    fn name(&self) -> &str {
        crate::noop::NOOP_MODULE
    }

    fn build<'a>(
        &'a self,
        _: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        Box::pin(async { Ok(Box::new(NoopInstance) as Box<dyn ModuleInstance>) })
    }
}

/// Modules by name. `noop` is always there.
///
/// ```
/// use hyperion::Registry;
/// let registry = Registry::new();
/// assert_eq!(registry.names(), vec!["noop"]);
/// ```
#[derive(Clone)]
pub struct Registry {
    modules: BTreeMap<String, Arc<dyn Module>>,
}

impl Registry {
    /// A registry holding only `noop`.
    pub fn new() -> Self {
        let mut modules: BTreeMap<String, Arc<dyn Module>> = BTreeMap::new();
        modules.insert(crate::noop::NOOP_MODULE.to_owned(), Arc::new(NoopModule));
        Registry { modules }
    }

    /// Registers a module under its name, replacing one of the same name.
    pub fn register(&mut self, module: Arc<dyn Module>) {
        self.modules.insert(module.name().to_owned(), module);
    }

    /// The module of that name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Module>> {
        self.modules.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.modules.keys().map(String::as_str).collect()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("modules", &self.names())
            .finish()
    }
}
