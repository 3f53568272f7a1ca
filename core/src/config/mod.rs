//! The YAML configuration: the core's model, its loading, and the modules' own settings.
//!
//! A [`Config`] is read from up to four layers, each overriding the one before it:
//!
//! 1. a YAML document (a file, or text given directly);
//! 2. `HYPERION_` environment variables, a double underscore separating the levels of the key
//!    (`HYPERION_TRACING__SAMPLE_RATE=0.1`, `HYPERION_METRICS__PORT=9100`, `HYPERION_ADAPTER=otel`);
//! 3. the standard variables: the core's (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
//!    `OTEL_RESOURCE_ATTRIBUTES`, ...; see [`ConfigLoader`]) and each module's own
//!    (`OTEL_EXPORTER_OTLP_ENDPOINT` for the `otel` module, ...);
//! 4. values set in code ([`ConfigLoader::set`]).
//!
//! The core owns what every module shares — `adapter` (top level and per signal), `enabled` per
//! signal, the service identity, sampling, the log level and directives, propagation limits —
//! and each module owns the rest of the signal sections it serves: it declares its keys and
//! variables with [`Settings`] and reads them, typed, through a [`ModuleSource`]. When the
//! telemetry is built, a key that neither the core nor a registered module claims is an error
//! that names it and suggests the closest known key (``unknown key `tracing.sampel_rate`; did
//! you mean `sample_rate`?``). Every invalid value is an error too: a [`ConfigError`] names the
//! dotted key path, the value found, what is allowed and, where known, the file or environment
//! variable the value came from.
//!
//! ```
//! use hyperion::config::{Config, Sampler};
//!
//! let config = Config::from_yaml_str("tracing:\n  sampler: always_on\n")?;
//! assert_eq!(config.tracing.sampler, Sampler::AlwaysOn);
//! assert_eq!(config.tracing.sample_rate, 1.0); // a default
//! # Ok::<(), hyperion::config::ConfigError>(())
//! ```

mod duplicates;
pub mod duration;
mod enums;
mod env;
mod error;
mod model;
mod settings;
mod source;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

pub use enums::{LogLevel, Sampler};
pub use env::EnvVar;
pub use error::ConfigError;
pub use model::{
    Config, LoggingConfig, MetricsConfig, PropagationConfig, ServiceConfig, TracingConfig,
};
pub use settings::{ModuleSource, Settings};
pub use source::ConfigLoader;

pub(crate) use settings::check_keys;

use crate::propagation::MAX_TRACESTATE_MEMBERS;
use error::describe_float;

/// serde, for [`config_enum!`](crate::config_enum) expansions in other crates.
#[doc(hidden)]
pub use serde as __serde;

/// One of the three signals, to ask a [`Config`] about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans (the `tracing` section).
    Tracing,
    /// Metrics (the `metrics` section).
    Metrics,
    /// Log lines (the `logging` section).
    Logging,
}

impl Signal {
    /// All signals, in section order.
    pub const ALL: [Signal; 3] = [Signal::Tracing, Signal::Metrics, Signal::Logging];

    /// The name of the signal's YAML section: `"tracing"`, `"metrics"` or `"logging"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Tracing => "tracing",
            Signal::Metrics => "metrics",
            Signal::Logging => "logging",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Config {
    /// Reads a configuration from YAML text alone (no environment variables). Keys the core
    /// does not know (`exporter`, `port` below) are kept for the modules, which check them when
    /// the telemetry is built.
    ///
    /// ```
    /// use hyperion::config::{Config, Sampler};
    ///
    /// let config = Config::from_yaml_str(r#"
    /// tracing:
    ///   enabled: true
    ///   service_name: my-service
    ///   exporter: jaeger
    ///   endpoint: localhost:14268
    ///   sample_rate: 1.0
    ///   attributes:
    ///     environment: production
    /// metrics:
    ///   port: 9090
    ///   namespace: hyperion
    /// "#)?;
    /// assert_eq!(config.service_name(), Some("my-service"));
    /// assert_eq!(config.tracing.sampler, Sampler::ParentBasedTraceIdRatio);
    /// assert_eq!(config.tracing.attributes["environment"], "production");
    /// # Ok::<(), hyperion::config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ConfigLoader::load`].
    pub fn from_yaml_str(yaml: &str) -> Result<Config, ConfigError> {
        ConfigLoader::new().yaml(yaml).load()
    }

    /// Reads a YAML file, then the process's `HYPERION_` and OpenTelemetry variables.
    ///
    /// # Errors
    ///
    /// As [`ConfigLoader::load`]; a missing file is a [`ConfigError::Io`] naming the path.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        ConfigLoader::new().file(path).process_env().load()
    }

    /// The defaults, overridden by the process's `HYPERION_` and OpenTelemetry variables.
    ///
    /// # Errors
    ///
    /// As [`ConfigLoader::load`].
    pub fn from_env() -> Result<Config, ConfigError> {
        ConfigLoader::new().process_env().load()
    }

    /// Checks the core's values that their types alone do not constrain. Every loader calls it.
    /// Modules check their own settings when they are built.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for the first value out of bounds: `tracing.sample_rate` outside
    /// 0.0..=1.0, `propagation.max_tracestate_members` outside 1..=32.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rate = self.tracing.sample_rate;
        if !(0.0..=1.0).contains(&rate) {
            return Err(ConfigError::invalid(
                "tracing.sample_rate",
                describe_float(rate),
                "a number from 0.0 to 1.0",
            ));
        }
        let members = self.propagation.max_tracestate_members;
        if !(1..=MAX_TRACESTATE_MEMBERS).contains(&members) {
            return Err(ConfigError::invalid(
                "propagation.max_tracestate_members",
                members,
                format!(
                    "an integer from 1 to {MAX_TRACESTATE_MEMBERS} (the W3C Trace Context limit)"
                ),
            ));
        }
        Ok(())
    }

    /// A module's view of this configuration: the layered source with the module's own standard
    /// variables on top, from which it [extracts](ModuleSource::extract) its typed settings.
    /// The telemetry builder hands each module its own; tests and tools can ask for one too.
    ///
    /// ```
    /// use hyperion::config::{Config, ConfigLoader, Settings, EnvVar};
    ///
    /// #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    /// #[serde(default)]
    /// struct Statsd { host: Option<String>, port: u16 }
    ///
    /// let settings = Settings::new()
    ///     .section::<Statsd>("metrics")
    ///     .env(EnvVar::new("STATSD_PORT", "metrics.port"));
    /// let config = ConfigLoader::new()
    ///     .yaml("metrics:\n  host: localhost\n  port: 8125\n")
    ///     .env([("STATSD_PORT", "9125")])
    ///     .load()?;
    /// let statsd: Statsd = config.module_source("statsd", &settings).extract("metrics")?;
    /// assert_eq!(statsd, Statsd { host: Some("localhost".into()), port: 9125 });
    /// # Ok::<(), hyperion::config::ConfigError>(())
    /// ```
    pub fn module_source(&self, module: &str, settings: &Settings) -> ModuleSource {
        ModuleSource::new(self, module, settings)
    }

    /// Values that were read with a fallback rather than as given, one line each: a malformed
    /// `OTEL_RESOURCE_ATTRIBUTES` (discarded whole), an `OTEL_SDK_DISABLED` that is neither
    /// `true` nor `false` (read as false). [`TelemetryBuilder::build`](crate::TelemetryBuilder)
    /// logs them as warnings (on stderr when logging is off).
    ///
    /// ```
    /// use hyperion::ConfigLoader;
    ///
    /// let config = ConfigLoader::new().env([("OTEL_SDK_DISABLED", "yes")]).load()?;
    /// assert!(config.tracing.enabled);
    /// assert!(config.warnings()[0].starts_with("OTEL_SDK_DISABLED=\"yes\" is neither true nor false"));
    /// # Ok::<(), hyperion::ConfigError>(())
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.source.warnings
    }

    /// The adapter for `signal`: the section's own `adapter` if set, else the top-level
    /// [`adapter`](Self::adapter), else `None` (see [`Config::adapter`] for what `None` means).
    /// The name alone of [`adapter_for`](Self::adapter_for).
    ///
    /// ```
    /// use hyperion::config::{Config, Signal};
    ///
    /// let config = Config::from_yaml_str("adapter: otel\nlogging:\n  adapter: noop\n")?;
    /// assert_eq!(config.effective_adapter(Signal::Tracing), Some("otel"));
    /// assert_eq!(config.effective_adapter(Signal::Logging), Some("noop"));
    /// # Ok::<(), hyperion::config::ConfigError>(())
    /// ```
    pub fn effective_adapter(&self, signal: Signal) -> Option<&str> {
        self.adapter_for(signal).map(|(_, name)| name)
    }

    /// The adapter for `signal` with the key that names it: `("tracing.adapter", name)` (or
    /// `metrics.adapter`, `logging.adapter`) when the section names its own, else
    /// `("adapter", name)` from the top level, else `None`.
    ///
    /// ```
    /// use hyperion::config::{Config, Signal};
    ///
    /// let config = Config::from_yaml_str("adapter: otel\nlogging:\n  adapter: noop\n")?;
    /// assert_eq!(config.adapter_for(Signal::Tracing), Some(("adapter", "otel")));
    /// assert_eq!(config.adapter_for(Signal::Logging), Some(("logging.adapter", "noop")));
    /// assert_eq!(Config::default().adapter_for(Signal::Metrics), None);
    /// # Ok::<(), hyperion::config::ConfigError>(())
    /// ```
    pub fn adapter_for(&self, signal: Signal) -> Option<(&'static str, &str)> {
        let (key, own) = match signal {
            Signal::Tracing => ("tracing.adapter", &self.tracing.adapter),
            Signal::Metrics => ("metrics.adapter", &self.metrics.adapter),
            Signal::Logging => ("logging.adapter", &self.logging.adapter),
        };
        match (own, &self.adapter) {
            (Some(name), _) => Some((key, name)),
            (None, Some(name)) => Some(("adapter", name)),
            (None, None) => None,
        }
    }

    /// Whether `signal`'s section is enabled.
    pub fn enabled(&self, signal: Signal) -> bool {
        match signal {
            Signal::Tracing => self.tracing.enabled,
            Signal::Metrics => self.metrics.enabled,
            Signal::Logging => self.logging.enabled,
        }
    }

    /// The service name: `tracing.service_name` if set, else `service.name`, else the
    /// `service.name` resource attribute (`tracing.attributes`, which `OTEL_RESOURCE_ATTRIBUTES`
    /// fills), as the OpenTelemetry specification lets that attribute name the service when
    /// `OTEL_SERVICE_NAME` does not.
    ///
    /// ```
    /// use hyperion::config::ConfigLoader;
    ///
    /// let config = ConfigLoader::new()
    ///     .env([("OTEL_RESOURCE_ATTRIBUTES", "service.name=checkout")])
    ///     .load()?;
    /// assert_eq!(config.service_name(), Some("checkout"));
    /// # Ok::<(), hyperion::config::ConfigError>(())
    /// ```
    pub fn service_name(&self) -> Option<&str> {
        self.tracing
            .service_name
            .as_deref()
            .or(self.service.name.as_deref())
            .or_else(|| {
                self.tracing
                    .attributes
                    .get("service.name")
                    .map(String::as_str)
            })
    }
}
