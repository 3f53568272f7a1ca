//! [`TelemetryBuilder`]: registers modules and interceptors, checks the configuration against
//! them, builds each module the configuration picks, and assembles the [`Telemetry`].

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::{self, Config, ConfigError, Settings, Signal};
use crate::context::Recorders;
use crate::intercept::{Interceptor, InterceptorChain};
use crate::metric::Meter;
use crate::registry::{BuildRequest, Module, ModuleError, Registry, Signals};
use crate::telemetry::{Built, Inner, Telemetry};

impl Telemetry {
    /// Starts building telemetry from modules and config.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }
}

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
    pub async fn build(mut self) -> Result<Telemetry, BuildError> {
        let config = self.config.take().unwrap_or_default();
        config.validate()?;
        let default = self
            .default_module
            .as_deref()
            .unwrap_or(crate::noop::NOOP_MODULE);

        // Which module serves which signal.
        let mut plan: Vec<(String, Signals)> = Vec::new();
        let mut chosen: [Option<String>; 3] = [None, None, None];
        // The module each signal would use, enabled or not: its keys are checked either way.
        let mut would_serve: [Option<String>; 3] = [None, None, None];
        for (slot, signal) in Signal::ALL.into_iter().enumerate() {
            let (key, name) = match config.adapter_for(signal) {
                Some((key, name)) => (key.to_owned(), name.to_owned()),
                None => (String::new(), default.to_owned()),
            };
            would_serve[slot] = Some(name.clone());
            if !config.enabled(signal) {
                continue;
            }
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

        self.check_keys(&config, &would_serve)?;

        let mut modules = Vec::with_capacity(plan.len());
        for (name, signals) in plan {
            let module = self
                .registry
                .get(&name)
                .expect("checked above: every planned module is registered");
            let request = BuildRequest {
                config: &config,
                signals,
                source: config.module_source(&name, &module.settings()),
                module: &name,
            };
            let instance = module.build(&request).await.map_err(config_or_module)?;
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

        let meter = Meter::new(meter_provider.clone(), Cow::Borrowed("hyperion"));
        let chain = InterceptorChain::new(
            tracer.is_some(),
            &meter,
            logger.is_some(),
            std::mem::take(&mut self.interceptors),
        );
        let recorders = Recorders {
            tracer,
            logger,
            limits: config.propagation.limits(),
            propagators: config.propagation.propagators,
            interceptors: chain.map(|chain| Box::new(chain) as _),
        };
        let telemetry = Telemetry {
            inner: Some(Arc::new(Inner {
                recorders: Arc::new(recorders),
                meter_provider,
                modules,
                config,
                shut_down: AtomicBool::new(false),
            })),
        };
        if let Some(inner) = &telemetry.inner {
            for m in &inner.modules {
                m.instance.started(&telemetry);
            }
            // Values read with a fallback go where the service's logs go (stderr without a
            // logger), once, at start.
            let ctx = telemetry.context();
            let log = ctx.log().target("hyperion::config");
            for warning in inner.config.warnings() {
                if telemetry.logger().is_some() {
                    log.warn(warning, &[]);
                } else {
                    eprintln!("hyperion: warning: {warning}");
                }
            }
        }
        Ok(telemetry)
    }
}

impl TelemetryBuilder {
    /// Checks every key of the configuration against the core's and the modules' settings.
    fn check_keys(
        &self,
        config: &Config,
        would_serve: &[Option<String>; 3],
    ) -> Result<(), ConfigError> {
        let names = self.registry.names();
        let registered: Vec<Settings> = names
            .iter()
            .filter_map(|name| self.registry.get(name))
            .map(|module| module.settings())
            .collect();
        let settings_of = |slot: usize| {
            let name = would_serve[slot].as_deref()?;
            let index = names.iter().position(|n| *n == name)?;
            registered.get(index)
        };
        let refs: Vec<&Settings> = registered.iter().collect();
        config::check_keys(
            config,
            [settings_of(0), settings_of(1), settings_of(2)],
            &refs,
        )
    }
}

/// A module's error, or the configuration error it carries (a bad value in its settings).
fn config_or_module(mut error: ModuleError) -> BuildError {
    match error
        .source
        .take()
        .map(|source| source.downcast::<ConfigError>())
    {
        Some(Ok(config)) => BuildError::Config(*config),
        Some(Err(other)) => {
            error.source = Some(other);
            BuildError::Module(error)
        }
        None => BuildError::Module(error),
    }
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("registry", &self.registry)
            .field("default_module", &self.default_module)
            .field("interceptors", &self.interceptors.len())
            .finish()
    }
}
