//! The core's part of the configuration model: what every module shares.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::enums::{LogLevel, Sampler};
use super::source::Source;
use crate::propagation::{MAX_TRACESTATE_MEMBERS, PropagationLimits, Propagators};

/// The configuration: the core's settings, typed, and the layered source it was loaded from, from
/// which each module extracts its own settings when the telemetry is built.
///
/// The core reads the adapter choice, the service identity, sampling, the log level and the
/// limits of context propagation; everything else in a section (an exporter, an endpoint, a
/// port) belongs to the module that serves that signal, which declares it
/// ([`Settings`](super::Settings)). Every core field has a default (see [`Config::default()`]);
/// a YAML document names only what it changes.
///
/// Two configurations are equal when their core settings are.
///
/// Load it with [`ConfigLoader`](super::ConfigLoader), [`Config::load`] or
/// [`Config::from_yaml_str`]: they keep the layered source for the modules. Deserializing a
/// `Config` with serde directly (say, as a field of an application's own settings) reads the
/// core's keys only, and the modules then see their defaults; `Serialize` writes the core's keys
/// only.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The adapter module (registered by name in the registry, e.g. `"otel"`) used by every
    /// signal that does not name its own. `None`: such signals use the first module registered
    /// with the [`TelemetryBuilder`](crate::TelemetryBuilder), or the `noop` module (every call
    /// a no-op) when none was registered. Default: none.
    pub adapter: Option<String>,
    /// Who is reporting: service name, version, namespace and deployment environment.
    pub service: ServiceConfig,
    /// Spans: the adapter, sampling and the resource attributes.
    pub tracing: TracingConfig,
    /// Metrics: the adapter.
    pub metrics: MetricsConfig,
    /// Log lines: the adapter, level and per-target directives.
    pub logging: LoggingConfig,
    /// Limits applied to incoming and outgoing W3C `tracestate` and `baggage`.
    pub propagation: PropagationConfig,
    /// The merged sources, for the modules' settings.
    #[serde(skip)]
    pub(crate) source: Source,
}

impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        self.adapter == other.adapter
            && self.service == other.service
            && self.tracing == other.tracing
            && self.metrics == other.metrics
            && self.logging == other.logging
            && self.propagation == other.propagation
    }
}

/// The identity of the service, shared by every signal (OpenTelemetry resource attributes
/// `service.name`, `service.version`, `service.namespace`, `deployment.environment`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service name. `OTEL_SERVICE_NAME` overrides it. Default: none.
    pub name: Option<String>,
    /// The service version, e.g. `"1.4.2"` (quote it in YAML). Default: none.
    pub version: Option<String>,
    /// The service namespace, grouping related services. Default: none.
    pub namespace: Option<String>,
    /// The deployment environment, e.g. `"production"`. Default: none.
    pub environment: Option<String>,
}

/// The core's keys of the `tracing` section: whether spans are recorded, by which adapter, and
/// how they are sampled. The adapter's keys (exporter, endpoint, batching...) sit beside them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TracingConfig {
    /// Whether spans are recorded at all. Default: `true`.
    pub enabled: bool,
    /// The adapter for spans, overriding the top-level [`Config::adapter`]. Default: none.
    pub adapter: Option<String>,
    /// The service name reported with spans; `OTEL_SERVICE_NAME` overrides it. When unset,
    /// [`ServiceConfig::name`] is used (see [`Config::service_name`]). Default: none.
    pub service_name: Option<String>,
    /// The fraction of traces sampled, from 0.0 to 1.0, used by the `traceidratio` samplers.
    /// Default: `1.0`.
    #[serde(deserialize_with = "deserialize_rate")]
    pub sample_rate: f64,
    /// The sampler. Default: [`Sampler::ParentBasedTraceIdRatio`].
    pub sampler: Sampler,
    /// Resource attributes added to every span (and metric and log record), e.g.
    /// `environment: production`; `OTEL_RESOURCE_ATTRIBUTES` merges into it. Default: none.
    pub attributes: BTreeMap<String, String>,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            adapter: None,
            service_name: None,
            sample_rate: 1.0,
            sampler: Sampler::ParentBasedTraceIdRatio,
            attributes: BTreeMap::new(),
        }
    }
}

/// The core's keys of the `metrics` section. The adapter's keys (exporter, port...) sit beside
/// them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Whether metrics are recorded at all. Default: `true`.
    pub enabled: bool,
    /// The adapter for metrics, overriding the top-level [`Config::adapter`]. Default: none.
    pub adapter: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            adapter: None,
        }
    }
}

/// The core's keys of the `logging` section. The adapter's keys (format, output...) sit beside
/// them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// Whether log lines are emitted at all. Default: `true`.
    pub enabled: bool,
    /// The adapter for logs, overriding the top-level [`Config::adapter`]. Default: none.
    pub adapter: Option<String>,
    /// The least severe level emitted. Default: [`LogLevel::Info`].
    pub level: LogLevel,
    /// `RUST_LOG`-style per-target directives on top of `level`, e.g.
    /// `"warn,my_app=debug,sqlx=off"`; the `RUST_LOG` variable sets it too. Default: none.
    pub directives: Option<String>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            adapter: None,
            level: LogLevel::Info,
            directives: None,
        }
    }
}

/// The `propagation` section: which formats are injected and extracted, and limits on the W3C
/// `baggage` and `tracestate` headers. Values beyond a limit are dropped, never an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PropagationConfig {
    /// The propagators, in order (`OTEL_PROPAGATORS`): a list, or a comma-separated string, of
    /// `tracecontext`, `baggage`, `b3`, `b3multi` and `none`. Default: `tracecontext,baggage`.
    pub propagators: Propagators,
    /// The most baggage members kept; 0 drops all baggage. Default: 64 (the least the W3C
    /// Baggage specification asks an implementation to support).
    pub max_baggage_members: usize,
    /// The most bytes of a serialized `baggage` header; 0 drops all baggage. Default: 8192.
    pub max_baggage_bytes: usize,
    /// The most `tracestate` members accepted (a longer `tracestate` is dropped whole), from 1
    /// to 32. Default: 32 (the W3C Trace Context limit).
    pub max_tracestate_members: usize,
}

impl Default for PropagationConfig {
    fn default() -> Self {
        Self {
            propagators: Propagators::W3C,
            max_baggage_members: 64,
            max_baggage_bytes: 8192,
            max_tracestate_members: MAX_TRACESTATE_MEMBERS,
        }
    }
}

impl PropagationConfig {
    /// The limits these settings give the W3C codec.
    ///
    /// ```
    /// use hyperion::config::PropagationConfig;
    ///
    /// let limits = PropagationConfig { max_baggage_members: 8, ..Default::default() }.limits();
    /// assert_eq!(limits.max_baggage_members, 8);
    /// ```
    pub fn limits(&self) -> PropagationLimits {
        PropagationLimits {
            max_baggage_members: self.max_baggage_members,
            max_baggage_bytes: self.max_baggage_bytes,
            max_tracestate_members: self.max_tracestate_members,
        }
    }
}

/// Reads a number, or a string holding one (as environment variables do) at full `f64`
/// precision: figment's lossy reading of `"0.3"` goes through `f32` and gives 0.30000001.
fn deserialize_rate<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    use serde::de::{self, Unexpected, Visitor};

    struct RateVisitor;

    impl Visitor<'_> for RateVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number from 0.0 to 1.0")
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
            Ok(value as f64)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
            Ok(value as f64)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<f64, E> {
            text.trim()
                .parse()
                .map_err(|_| E::invalid_type(Unexpected::Str(text), &self))
        }
    }

    deserializer.deserialize_any(RateVisitor)
}
