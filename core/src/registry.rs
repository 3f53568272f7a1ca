//! Modules and the [`Registry`]: an adapter registers a [`Module`] under a name, and the config
//! picks a module for each signal by that name. `noop` is always registered.
//!
//! A module declares the settings it reads ([`Module::settings`]): the keys it claims in the
//! signal sections it serves and the standard variables that set them. When it is built, its
//! [`BuildRequest`] hands it those settings, typed, from the same layered source as the core's.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::config::{Config, ModuleSource, Settings, Signal};
pub use crate::telemetry::{BoxFuture, ModuleError, ModuleInstance};

/// Which signals a module is asked to provide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// Provide a [`Tracer`](crate::Tracer).
    pub tracing: bool,
    /// Provide a [`MeterProvider`](crate::metric::MeterProvider).
    pub metrics: bool,
    /// Provide a [`Logger`](crate::Logger).
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

/// What a module is asked to build: the signals it serves, the core's configuration, and its
/// own settings.
#[derive(Debug)]
pub struct BuildRequest<'a> {
    /// The whole configuration (the core's settings, typed).
    pub config: &'a Config,
    /// The signals this module serves.
    pub signals: Signals,
    /// The configuration as this module sees it: the layered source with its own standard
    /// variables on top.
    pub source: ModuleSource,
    pub(crate) module: &'a str,
}

impl BuildRequest<'_> {
    /// Reads this module's settings in `section` (e.g. `"tracing"`) as `T`; an absent section
    /// gives `T::default()`. See [`ModuleSource::extract`].
    ///
    /// # Errors
    ///
    /// A [`ModuleError`] whose source is the [`ConfigError`](crate::ConfigError), which the
    /// builder reports as [`BuildError::Config`](crate::BuildError::Config).
    pub fn settings<T: serde::de::DeserializeOwned + Default>(
        &self,
        section: &str,
    ) -> Result<T, ModuleError> {
        self.source
            .extract(section)
            .map_err(|error| self.config_error(error))
    }

    /// A [`ModuleError`] for a value this module rejects: the key (a dotted path), the value as
    /// written in YAML and what is allowed, with the file or variable it came from. The builder
    /// reports it as [`BuildError::Config`](crate::BuildError::Config).
    pub fn invalid(
        &self,
        key: &str,
        found: impl fmt::Display,
        expected: impl Into<String>,
    ) -> ModuleError {
        self.config_error(self.source.invalid(key, found, expected))
    }

    /// Wraps a configuration error as this module's.
    pub fn config_error(&self, error: crate::ConfigError) -> ModuleError {
        ModuleError::new(self.module, error.to_string()).with_source(error)
    }
}

/// An adapter's entry point: a name, the settings it reads, and a way to build an instance.
///
/// ```
/// use std::sync::Arc;
/// use hyperion::config::Settings;
/// use hyperion::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance};
///
/// #[derive(Default, serde::Deserialize)]
/// #[serde(default)]
/// struct QuietSettings {
///     /// How quiet.
///     level: u8,
/// }
///
/// /// A module that provides nothing (every signal stays a no-op).
/// struct Quiet;
/// struct QuietInstance;
/// impl ModuleInstance for QuietInstance {}
/// impl Module for Quiet {
///     fn name(&self) -> &str { "quiet" }
///     fn settings(&self) -> Settings {
///         Settings::new().section::<QuietSettings>("tracing")
///     }
///     fn build<'a>(&'a self, request: &'a BuildRequest<'a>)
///         -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
///         Box::pin(async move {
///             let settings: QuietSettings = request.settings("tracing")?;
///             let _ = settings.level;
///             Ok(Box::new(QuietInstance) as Box<dyn ModuleInstance>)
///         })
///     }
/// }
/// ```
pub trait Module: Send + Sync + 'static {
    /// The name the config refers to, e.g. `otel` or `memory`.
    fn name(&self) -> &str;
    /// The keys this module reads and the standard variables that set them. Default: none.
    fn settings(&self) -> Settings {
        Settings::new()
    }
    /// Builds an instance serving `request.signals`.
    fn build<'a>(
        &'a self,
        request: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>>;
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
