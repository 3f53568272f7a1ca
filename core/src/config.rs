//! The YAML configuration model and its loading.
//!
//! A [`Config`] is read from up to three layers, each overriding the one before it:
//!
//! 1. a YAML document (a file, or text given directly);
//! 2. `HYPERION_` environment variables, a double underscore separating the levels of the key
//!    (`HYPERION_TRACING__SAMPLE_RATE=0.1`, `HYPERION_METRICS__PORT=9100`, `HYPERION_ADAPTER=otel`);
//! 3. the standard OpenTelemetry variables (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
//!    `OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`, ...; see [`ConfigLoader`] for the full list).
//!
//! Every key is optional and has a default; [`Config::default()`] is what an empty file gives.
//! Unknown keys are errors (so a typo such as `sample_rat` does not go unnoticed), and so is every
//! invalid value: a [`ConfigError`] names the dotted key path, the value found, what is allowed and,
//! where known, the file or environment variable the value came from.
//!
//! ```
//! use hyperion::config::{Config, Exporter};
//!
//! let config = Config::from_yaml_str("tracing:\n  exporter: zipkin\n")?;
//! assert_eq!(config.tracing.exporter, Exporter::Zipkin);
//! assert_eq!(config.metrics.port, 9090); // a default
//! # Ok::<(), hyperion::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::error::{Actual, Kind};
use figment::providers::{Format, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::propagation::{self, InvalidEscape};

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// The whole configuration: one section per signal, plus the service identity and the limits of
/// context propagation.
///
/// Every field has a default (see [`Config::default()`]); a YAML document names only what it
/// changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The adapter module (registered by name in the registry, e.g. `"otel"`) used by every
    /// signal that does not name its own. `None`: such signals use the first module registered
    /// with the [`TelemetryBuilder`](crate::TelemetryBuilder), or the `noop` module (every call
    /// a no-op) when none was registered. Default: none.
    pub adapter: Option<String>,
    /// Who is reporting: service name, version, namespace and deployment environment.
    pub service: ServiceConfig,
    /// Spans: exporter, sampling, batching.
    pub tracing: TracingConfig,
    /// Metrics: Prometheus endpoint and/or OTLP export.
    pub metrics: MetricsConfig,
    /// Log lines: level, format, destination.
    pub logging: LoggingConfig,
    /// Limits applied to incoming and outgoing W3C `tracestate` and `baggage`.
    pub propagation: PropagationConfig,
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

/// The `tracing` section: how spans are sampled, batched and exported.
///
/// Its `Debug` output hides the values of [`headers`](Self::headers), which often carry
/// credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// Whether spans are recorded at all. Default: `true`.
    pub enabled: bool,
    /// The adapter for spans, overriding the top-level [`Config::adapter`]. Default: none.
    pub adapter: Option<String>,
    /// The service name reported with spans; `OTEL_SERVICE_NAME` overrides it. When unset,
    /// [`ServiceConfig::name`] is used (see [`Config::service_name`]). Default: none.
    pub service_name: Option<String>,
    /// Where spans go. Default: [`Exporter::Otlp`], as in the OpenTelemetry SDKs.
    pub exporter: Exporter,
    /// The collector endpoint, e.g. `"http://localhost:4317"`. For OTLP/HTTP it is a base URL,
    /// as `OTEL_EXPORTER_OTLP_ENDPOINT` is: `/v1/traces` (and `/v1/metrics`) is appended unless
    /// the path already ends with it. Default: none, the exporter's own default.
    pub endpoint: Option<String>,
    /// A PEM file with the CA certificate(s) that sign the collector's TLS certificate, trusted
    /// in addition to the system's roots for `https` endpoints. Default: none.
    pub certificate: Option<std::path::PathBuf>,
    /// The OTLP transport. Default: [`Protocol::Grpc`].
    pub protocol: Protocol,
    /// Extra headers (or gRPC metadata) sent with every export, e.g. an API key. Default: none.
    pub headers: BTreeMap<String, String>,
    /// How long one export request may take. Default: 10 s.
    #[serde(with = "duration_serde")]
    pub timeout: Duration,
    /// Compression of export requests. Default: [`Compression::None`].
    pub compression: Compression,
    /// The fraction of traces sampled, from 0.0 to 1.0, used by the `traceidratio` samplers.
    /// Default: `1.0`.
    #[serde(deserialize_with = "deserialize_rate")]
    pub sample_rate: f64,
    /// The sampler. Default: [`Sampler::ParentBasedTraceIdRatio`].
    pub sampler: Sampler,
    /// Resource attributes added to every span, e.g. `environment: production`. Default: none.
    pub attributes: BTreeMap<String, String>,
    /// The batch span processor.
    pub batch: BatchConfig,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            adapter: None,
            service_name: None,
            exporter: Exporter::Otlp,
            endpoint: None,
            certificate: None,
            protocol: Protocol::Grpc,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            compression: Compression::None,
            sample_rate: 1.0,
            sampler: Sampler::ParentBasedTraceIdRatio,
            attributes: BTreeMap::new(),
            batch: BatchConfig::default(),
        }
    }
}

impl fmt::Debug for TracingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("TracingConfig")
            .field("enabled", &self.enabled)
            .field("adapter", &self.adapter)
            .field("service_name", &self.service_name)
            .field("exporter", &self.exporter)
            .field("endpoint", &self.endpoint)
            .field("certificate", &self.certificate)
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("sample_rate", &self.sample_rate)
            .field("sampler", &self.sampler)
            .field("attributes", &self.attributes)
            .field("batch", &self.batch)
            .finish()
    }
}

/// The `tracing.batch` section: the batch span processor's queue and schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// The most spans sent in one export; from 1 to `max_queue_size`. Default: 512.
    pub max_batch_size: usize,
    /// How long to wait between two exports; more than zero. Default: 5 s.
    #[serde(with = "duration_serde")]
    pub scheduled_delay: Duration,
    /// The most spans waiting to be exported; more are dropped. At least 1. Default: 2048.
    pub max_queue_size: usize,
    /// How long one export may take; more than zero. Default: 30 s.
    #[serde(with = "duration_serde")]
    pub export_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_batch_size: 512,
            scheduled_delay: Duration::from_secs(5),
            max_queue_size: 2048,
            export_timeout: Duration::from_secs(30),
        }
    }
}

/// The `metrics` section: the Prometheus endpoint and OTLP export of metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether metrics are recorded at all. Default: `true`.
    pub enabled: bool,
    /// The adapter for metrics, overriding the top-level [`Config::adapter`]. Default: none.
    pub adapter: Option<String>,
    /// Where metrics go. Default: [`MetricsExporter::Prometheus`].
    pub exporter: MetricsExporter,
    /// The port of the Prometheus endpoint; 0 picks a free port. Default: 9090.
    pub port: u16,
    /// The address the Prometheus endpoint listens on (an IP address or host name).
    /// Default: `"0.0.0.0"`.
    pub bind_address: String,
    /// The HTTP path of the Prometheus endpoint; starts with `/`. Default: `"/metrics"`.
    pub path: String,
    /// A prefix for every metric name (Prometheus namespace). Default: none.
    pub namespace: Option<String>,
    /// A second prefix, after the namespace (Prometheus subsystem). Default: none.
    pub subsystem: Option<String>,
    /// Whether to collect process and runtime metrics. Default: `false`.
    pub collect_runtime: bool,
    /// How often metrics are pushed over OTLP; more than zero. Default: 60 s.
    #[serde(with = "duration_serde")]
    pub interval: Duration,
    /// Whether histograms and counters carry trace exemplars. Default: `true`.
    pub exemplars: bool,
    /// The most distinct attribute sets kept per instrument; at least 1. Default: 2000.
    pub cardinality_limit: usize,
    /// Attribute (label) values longer than this many bytes are truncated (at a character
    /// boundary); at least 1. Default: 256.
    pub max_label_value_length: usize,
    /// Histogram bucket boundaries for instruments that give none; ascending, finite. Default:
    /// none, which means second-scale buckets for instruments in `s` and OpenTelemetry's
    /// defaults otherwise.
    pub histogram_boundaries: Option<Vec<f64>>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            adapter: None,
            exporter: MetricsExporter::Prometheus,
            port: 9090,
            bind_address: "0.0.0.0".to_owned(),
            path: "/metrics".to_owned(),
            namespace: None,
            subsystem: None,
            collect_runtime: false,
            interval: Duration::from_secs(60),
            exemplars: true,
            cardinality_limit: 2000,
            max_label_value_length: 256,
            histogram_boundaries: None,
        }
    }
}

/// The `logging` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Whether log lines are emitted at all. Default: `true`.
    pub enabled: bool,
    /// The adapter for logs, overriding the top-level [`Config::adapter`]. Default: none.
    pub adapter: Option<String>,
    /// The least severe level emitted. Default: [`LogLevel::Info`].
    pub level: LogLevel,
    /// How a line is written. Default: [`LogFormat::Json`].
    pub format: LogFormat,
    /// Where lines are written. Default: [`LogOutput::Stdout`].
    pub output: LogOutput,
    /// Whether log records are also exported over OTLP. Default: `false`.
    pub otlp: bool,
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
            format: LogFormat::Json,
            output: LogOutput::Stdout,
            otlp: false,
            directives: None,
        }
    }
}

/// The `propagation` section: limits on the W3C `baggage` and `tracestate` headers. Values
/// beyond a limit are dropped, never an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PropagationConfig {
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
            max_baggage_members: 64,
            max_baggage_bytes: 8192,
            max_tracestate_members: 32,
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// Enumerations, spelled in YAML as lower-case strings
// ---------------------------------------------------------------------------------------------

/// Declares a fieldless enum read from and written as one of a fixed set of strings. Reading
/// ignores ASCII case; anything else (including a number) is an error listing the spellings.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling used in YAML and environment variables.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }

            /// The value spelled `text` (ASCII case ignored), if there is one.
            pub fn from_name(text: &str) -> Option<Self> {
                $( if text.eq_ignore_ascii_case($text) { return Some(Self::$variant); } )+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct NameVisitor;

                impl serde::de::Visitor<'_> for NameVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "one of: {}", $name::NAMES.join(", "))
                    }

                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::from_name(text.trim())
                            .ok_or_else(|| E::unknown_variant(text, $name::NAMES))
                    }
                }

                deserializer.deserialize_str(NameVisitor)
            }
        }
    };
}

string_enum! {
    /// Where spans are exported (`tracing.exporter`).
    pub enum Exporter {
        /// OpenTelemetry protocol, to a collector (`otlp`). The default.
        #[default]
        Otlp = "otlp",
        /// Jaeger (`jaeger`); Jaeger receives OTLP, so an adapter may send OTLP to it.
        Jaeger = "jaeger",
        /// Zipkin's JSON API (`zipkin`).
        Zipkin = "zipkin",
        /// Human-readable lines on standard output (`console`).
        Console = "console",
        /// Spans are recorded (so ids propagate) but not exported (`none`).
        None = "none",
    }
}

string_enum! {
    /// The OTLP transport (`tracing.protocol`, `OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub enum Protocol {
        /// gRPC (`grpc`), usually port 4317. The default.
        #[default]
        Grpc = "grpc",
        /// Protocol buffers over HTTP (`http/protobuf`), usually port 4318.
        HttpProtobuf = "http/protobuf",
        /// JSON over HTTP (`http/json`), usually port 4318.
        HttpJson = "http/json",
    }
}

string_enum! {
    /// Compression of export requests (`tracing.compression`).
    pub enum Compression {
        /// No compression (`none`). The default.
        #[default]
        None = "none",
        /// gzip (`gzip`).
        Gzip = "gzip",
    }
}

string_enum! {
    /// The span sampler (`tracing.sampler`), spelled as `OTEL_TRACES_SAMPLER` spells it.
    pub enum Sampler {
        /// Sample every trace (`always_on`).
        AlwaysOn = "always_on",
        /// Sample no trace (`always_off`).
        AlwaysOff = "always_off",
        /// Sample a fraction `sample_rate` of traces by trace id (`traceidratio`).
        TraceIdRatio = "traceidratio",
        /// Follow the parent's decision; sample every root (`parentbased_always_on`).
        ParentBasedAlwaysOn = "parentbased_always_on",
        /// Follow the parent's decision; sample no root (`parentbased_always_off`).
        ParentBasedAlwaysOff = "parentbased_always_off",
        /// Follow the parent's decision; sample a fraction `sample_rate` of roots
        /// (`parentbased_traceidratio`). The default.
        #[default]
        ParentBasedTraceIdRatio = "parentbased_traceidratio",
    }
}

string_enum! {
    /// Where metrics are exported (`metrics.exporter`).
    pub enum MetricsExporter {
        /// A Prometheus scrape endpoint (`prometheus`). The default.
        #[default]
        Prometheus = "prometheus",
        /// OTLP push to a collector (`otlp`).
        Otlp = "otlp",
        /// Both a Prometheus endpoint and OTLP push (`both`).
        Both = "both",
        /// Metrics are not exported (`none`).
        None = "none",
    }
}

string_enum! {
    /// The least severe log level emitted (`logging.level`).
    pub enum LogLevel {
        /// `trace`: everything.
        Trace = "trace",
        /// `debug`.
        Debug = "debug",
        /// `info`. The default.
        #[default]
        Info = "info",
        /// `warn`.
        Warn = "warn",
        /// `error`.
        Error = "error",
        /// `fatal`: only what stops the service.
        Fatal = "fatal",
    }
}

string_enum! {
    /// How a log line is written (`logging.format`).
    pub enum LogFormat {
        /// One JSON object per line (`json`). The default.
        #[default]
        Json = "json",
        /// Human-readable text (`pretty`).
        Pretty = "pretty",
    }
}

string_enum! {
    /// Where log lines are written (`logging.output`).
    pub enum LogOutput {
        /// Standard output (`stdout`). The default.
        #[default]
        Stdout = "stdout",
        /// Standard error (`stderr`).
        Stderr = "stderr",
    }
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// What a duration key accepts, as error messages say it.
const DURATION_EXPECTED: &str = "a non-negative duration such as \"5s\", \"250ms\", \"1.5s\", \
                                 \"1m\" or \"2h\", or an integer number of milliseconds";

/// Parses `"5s"`, `"250ms"`, `"1.5s"`, `"1m30s"`, ... (units `ns`, `us`, `µs`, `ms`, `s`, `m`,
/// `h`), or a bare integer as milliseconds. `None` for anything else, negatives included.
fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u128); 7] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().ok().map(Duration::from_millis);
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut rest = text;
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c| !is_number(c)).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after.find(is_number).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let (_, unit_nanos) = UNITS.iter().find(|(name, _)| *name == unit)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        nanos = nanos.checked_add(whole.checked_mul(*unit_nanos)?)?;
        // Digits past the 18th cannot matter at nanosecond precision for any unit here.
        let fraction = &fraction[..fraction.len().min(18)];
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().ok()?;
            let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
            nanos = nanos.checked_add(digits * unit_nanos / scale)?;
        }
        rest = next;
    }
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// Writes a duration in the largest unit that represents it exactly: `"5s"`, `"250ms"`,
/// `"1500ms"`, `"2h"`, `"0s"`.
fn format_duration(duration: Duration) -> String {
    const UNITS: [(&str, u128); 5] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ];
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in UNITS {
        if nanos / size * size == nanos {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// `serde(with)` support for `std::time::Duration` fields: see [`parse_duration`] and
/// [`format_duration`].
mod duration_serde {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Unexpected, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(super::DURATION_EXPECTED)
        }

        fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Duration, E> {
            Ok(Duration::from_millis(millis))
        }

        fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Duration, E> {
            u64::try_from(millis)
                .map(Duration::from_millis)
                .map_err(|_| E::invalid_value(Unexpected::Signed(millis), &self))
        }

        fn visit_u128<E: de::Error>(self, millis: u128) -> Result<Duration, E> {
            u64::try_from(millis)
                .map(Duration::from_millis)
                .map_err(|_| E::invalid_value(Unexpected::Other(&millis.to_string()), &self))
        }

        fn visit_i128<E: de::Error>(self, millis: i128) -> Result<Duration, E> {
            u64::try_from(millis)
                .map(Duration::from_millis)
                .map_err(|_| E::invalid_value(Unexpected::Other(&millis.to_string()), &self))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
            Err(E::invalid_value(Unexpected::Float(value), &self))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            super::parse_duration(text)
                .ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
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

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a configuration could not be loaded.
///
/// The message of an invalid value always names the dotted key path, the value found and what is
/// allowed, and, when it is known, where the value came from:
///
/// ```
/// use hyperion::config::Config;
///
/// let err = Config::from_yaml_str("tracing:\n  sample_rate: 1.5\n").unwrap_err();
/// assert_eq!(err.key(), Some("tracing.sample_rate"));
/// assert_eq!(err.found(), Some("1.5"));
/// assert!(err.to_string().starts_with(
///     "invalid value for `tracing.sample_rate`: found 1.5, expected a number from 0.0 to 1.0"
/// ));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a value of the wrong type, out of range, or not one of the allowed names.
    #[error("invalid value for `{key}`: found {found}, expected {expected}{}", OriginSuffix(.origin))]
    Invalid {
        /// The dotted key path, e.g. `tracing.sample_rate`.
        key: String,
        /// The value found, as written in YAML (strings quoted).
        found: String,
        /// What the key allows.
        expected: String,
        /// Where the value came from (a file, or an environment variable), when known.
        origin: Option<String>,
    },
    /// A key that the model does not have, such as a misspelling.
    #[error("unknown key `{key}`{}: expected one of: {expected}", OriginSuffix(.origin))]
    UnknownKey {
        /// The dotted key path of the unknown key, e.g. `tracing.sample_rat`.
        key: String,
        /// The keys allowed at that level, comma-separated.
        expected: String,
        /// Where the key came from (a file, or an environment variable), when known.
        origin: Option<String>,
    },
    /// The configuration file could not be read (it is missing, or unreadable).
    #[error("cannot read configuration file `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML is malformed; the message says where (line and column).
    #[error("malformed configuration{}: {message}", OriginSuffix(.origin))]
    Parse {
        /// The parser's message, with the line and column.
        message: String,
        /// The source of the YAML (the file, or YAML text), when known.
        origin: Option<String>,
    },
}

/// Displays `" (from ORIGIN)"`, or nothing.
struct OriginSuffix<'a>(&'a Option<String>);

impl fmt::Display for OriginSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(origin) => write!(f, " (from {origin})"),
            None => Ok(()),
        }
    }
}

impl ConfigError {
    /// The dotted key path the error is about, for [`Invalid`](Self::Invalid) and
    /// [`UnknownKey`](Self::UnknownKey).
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } | Self::UnknownKey { key, .. } => Some(key),
            Self::Io { .. } | Self::Parse { .. } => None,
        }
    }

    /// The value found, for [`Invalid`](Self::Invalid); the unknown key's own name for
    /// [`UnknownKey`](Self::UnknownKey).
    pub fn found(&self) -> Option<&str> {
        match self {
            Self::Invalid { found, .. } => Some(found),
            Self::UnknownKey { key, .. } => Some(key.rsplit('.').next().unwrap_or(key)),
            Self::Io { .. } | Self::Parse { .. } => None,
        }
    }

    /// What is allowed, for [`Invalid`](Self::Invalid) and [`UnknownKey`](Self::UnknownKey).
    pub fn expected(&self) -> Option<&str> {
        match self {
            Self::Invalid { expected, .. } | Self::UnknownKey { expected, .. } => Some(expected),
            Self::Io { .. } | Self::Parse { .. } => None,
        }
    }

    /// Where the offending value came from, e.g. ``YAML file `hyperion.yaml` `` or
    /// ``environment variable `HYPERION_METRICS__PORT` ``, when known.
    pub fn origin(&self) -> Option<&str> {
        match self {
            Self::Invalid { origin, .. }
            | Self::UnknownKey { origin, .. }
            | Self::Parse { origin, .. } => origin.as_deref(),
            Self::Io { .. } => None,
        }
    }

    fn invalid(key: &str, found: impl fmt::Display, expected: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            found: found.to_string(),
            expected: expected.into(),
            origin: None,
        }
    }

    /// Fills in the origin of an `Invalid` error from the figment that produced the value.
    fn with_origin_from(mut self, figment: &Figment) -> Self {
        if let Self::Invalid {
            key,
            origin: origin @ None,
            ..
        } = &mut self
        {
            let path: Vec<&str> = key.split('.').collect();
            *origin = figment
                .find_metadata(key)
                .map(|metadata| describe_origin(metadata, &path));
        }
        self
    }

    /// Turns figment's error (the first one, if it holds several) into one naming the key path,
    /// the value and what is allowed.
    fn from_figment(error: figment::Error, figment: &Figment) -> Self {
        let error = error
            .into_iter()
            .next()
            .unwrap_or_else(|| "unknown error".into());
        let origin = error
            .metadata
            .as_ref()
            .map(|metadata| describe_origin(metadata, &error.path));
        let key = if error.path.is_empty() {
            TOP_LEVEL.to_owned()
        } else {
            error.path.join(".")
        };
        match error.kind {
            Kind::UnknownField(field, allowed) => {
                // figment's path already ends with the unknown key itself.
                let key = if error.path.is_empty() { field } else { key };
                Self::UnknownKey {
                    key,
                    expected: allowed.join(", "),
                    origin,
                }
            }
            Kind::UnknownVariant(found, allowed) => Self::Invalid {
                key,
                found: format!("{found:?}"),
                expected: format!("one of: {}", allowed.join(", ")),
                origin,
            },
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                Self::Invalid {
                    expected: expected_for_key(&key)
                        .unwrap_or_else(|| humanize_expected(&expected)),
                    found: describe_actual(&actual),
                    key,
                    origin,
                }
            }
            Kind::Message(message) if error.path.is_empty() => Self::Parse { message, origin },
            other => Self::Invalid {
                found: figment
                    .find_value(&key)
                    .map(|value| describe_actual(&value.to_actual()))
                    .unwrap_or_else(|_| "an unusable value".to_owned()),
                expected: expected_for_key(&key).unwrap_or_else(|| other.to_string()),
                key,
                origin,
            },
        }
    }
}

/// How an error about the document as a whole names its key.
const TOP_LEVEL: &str = "(top level)";

/// What a key allows, where saying it by key is clearer than serde's type name.
fn expected_for_key(key: &str) -> Option<String> {
    let text = match key {
        TOP_LEVEL => "a mapping of sections (service, tracing, metrics, logging, propagation)",
        "service" | "tracing" | "metrics" | "logging" | "propagation" | "tracing.batch" => {
            return Some(format!("a mapping of `{key}` settings"));
        }
        "tracing.sample_rate" => "a number from 0.0 to 1.0",
        "metrics.port" => "an integer port number in 0..=65535 (0 picks a free port)",
        "tracing.headers" | "tracing.attributes" => "a mapping of names to string values",
        "tracing.enabled"
        | "metrics.enabled"
        | "logging.enabled"
        | "metrics.collect_runtime"
        | "metrics.exemplars"
        | "logging.otlp" => "true or false",
        _ => return None,
    };
    Some(text.to_owned())
}

/// Rewrites serde's expectation (a Rust type name, often) for a YAML author.
fn humanize_expected(expected: &str) -> String {
    let text = match expected {
        "u8" => "an integer in 0..=255",
        "u16" => "an integer in 0..=65535",
        "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "a string (quote values such as 1.0 or true)",
        "a map" => "a mapping",
        other if other.starts_with("struct ") => "a mapping",
        other => other,
    };
    text.to_owned()
}

/// Writes a value found in the configuration as YAML would: strings quoted, numbers bare.
fn describe_actual(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(x) => describe_float(*x),
        Actual::Char(c) => format!("{:?}", c.to_string()),
        Actual::Str(s) => format!("{s:?}"),
        Actual::Bytes(_) => "bytes".to_owned(),
        Actual::Unit | Actual::Option => "null".to_owned(),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a mapping".to_owned(),
        other => other.to_string(),
    }
}

/// `1.5` as `1.5`, `1.0` as `1.0` (not `1`), NaN as `NaN`.
fn describe_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

/// Says where a value came from: ``YAML file `path` ``, ``environment variable `NAME` ``, or the
/// provider's name.
fn describe_origin<K: AsRef<str>>(metadata: &Metadata, path: &[K]) -> String {
    if let Some(file) = metadata
        .source
        .as_ref()
        .and_then(|source| source.file_path())
    {
        return format!("{} `{}`", metadata.name, file.display());
    }
    if (metadata.name == HYPERION_ENV_NAME || metadata.name == OTEL_ENV_NAME) && !path.is_empty() {
        return format!(
            "environment variable `{}`",
            metadata.interpolate(&Profile::Default, path)
        );
    }
    metadata.name.to_string()
}

// ---------------------------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------------------------

const HYPERION_PREFIX: &str = "HYPERION_";
const HYPERION_ENV_NAME: &str = "HYPERION_ environment variables";
const OTEL_ENV_NAME: &str = "OpenTelemetry environment variables";

/// A YAML document with a name of our choosing (a file's path, or "YAML text").
struct YamlSource {
    text: String,
    metadata: Metadata,
}

impl Provider for YamlSource {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        // An empty document, or one holding only comments, is an empty mapping.
        let blank = self
            .text
            .lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
        if blank {
            return Ok(Map::new());
        }
        Yaml::string(&self.text).data()
    }
}

/// Puts `value` at `path` in `dict`, creating (or replacing scalars by) mappings on the way.
fn insert_at(dict: &mut Dict, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        dict.insert((*first).to_owned(), value);
        return;
    }
    let entry = dict
        .entry((*first).to_owned())
        .or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert_at(inner, rest, value);
    }
}

/// `HYPERION_A__B_C=v` as `a.b_c = "v"`.
///
/// Values stay strings: the loader extracts with figment's lossy interpretation, so a string
/// becomes a number or boolean exactly where the model wants one (`"9100"` for a port, `"0.1"`
/// for a rate, `"false"` for a flag), while a string field keeps `"1.0"` as written (figment's
/// `Env` would have made it the number 1). Empty values count as unset.
struct HyperionEnv {
    dict: Dict,
}

impl HyperionEnv {
    fn new(vars: &[(String, String)]) -> Self {
        let mut dict = Dict::new();
        for (name, raw) in vars {
            let Some(prefix) = name.get(..HYPERION_PREFIX.len()) else {
                continue;
            };
            if !prefix.eq_ignore_ascii_case(HYPERION_PREFIX) {
                continue;
            }
            let raw = raw.trim();
            let key = name[HYPERION_PREFIX.len()..].to_ascii_lowercase();
            let path: Vec<&str> = key.split("__").map(str::trim).collect();
            if raw.is_empty() || path.iter().any(|segment| segment.is_empty()) {
                continue;
            }
            insert_at(&mut dict, &path, Value::from(raw.to_owned()));
        }
        Self { dict }
    }
}

impl Provider for HyperionEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(HYPERION_ENV_NAME).interpolater(|_: &Profile, keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("{HYPERION_PREFIX}{}", keys.join("__"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// The standard OpenTelemetry variables, mapped onto the model (see [`ConfigLoader`]).
struct OtelEnv {
    dict: Dict,
    /// Which variable set each dotted key, for error messages.
    sources: BTreeMap<String, String>,
}

impl OtelEnv {
    fn new(vars: &[(String, String)]) -> Self {
        let mut env: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in vars {
            let value = value.trim();
            if (name.starts_with("OTEL_") || name == "RUST_LOG") && !value.is_empty() {
                env.insert(name, value);
            }
        }
        let mut this = Self {
            dict: Dict::new(),
            sources: BTreeMap::new(),
        };

        // Signal-specific variables win over general ones, so they are set last.
        let plain = [
            ("OTEL_SERVICE_NAME", "service.name"),
            ("OTEL_SERVICE_NAME", "tracing.service_name"),
            ("OTEL_TRACES_SAMPLER_ARG", "tracing.sample_rate"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "tracing.endpoint"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "tracing.endpoint"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "tracing.timeout"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "tracing.timeout"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "tracing.certificate"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "tracing.certificate",
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "tracing.batch.scheduled_delay"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "tracing.batch.export_timeout"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "tracing.batch.max_queue_size"),
            (
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                "tracing.batch.max_batch_size",
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "metrics.interval"),
            // Not an OpenTelemetry variable, but the one every Rust service already uses.
            ("RUST_LOG", "logging.directives"),
        ];
        for (var, key) in plain {
            if let Some(value) = env.get(var) {
                this.set(var, key, Value::from((*value).to_owned()));
            }
        }
        let lower_cased = [
            ("OTEL_TRACES_SAMPLER", "tracing.sampler"),
            ("OTEL_TRACES_EXPORTER", "tracing.exporter"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "tracing.protocol"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "tracing.protocol"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "tracing.compression"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                "tracing.compression",
            ),
        ];
        for (var, key) in lower_cased {
            if let Some(value) = env.get(var) {
                this.set(var, key, Value::from(value.to_ascii_lowercase()));
            }
        }
        if let Some(value) = env.get("OTEL_METRICS_EXPORTER") {
            let names: Vec<String> = value
                .split(',')
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect();
            let has = |wanted: &str| names.iter().any(|name| name == wanted);
            let exporter = if names.len() == 2 && has("prometheus") && has("otlp") {
                "both".to_owned()
            } else {
                value.to_ascii_lowercase()
            };
            this.set(
                "OTEL_METRICS_EXPORTER",
                "metrics.exporter",
                Value::from(exporter),
            );
        }
        let lists = [
            ("OTEL_RESOURCE_ATTRIBUTES", "tracing.attributes"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "tracing.headers"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "tracing.headers"),
        ];
        for (var, key) in lists {
            if let Some(value) = env.get(var) {
                for (name, member) in parse_key_value_list(value) {
                    let path: Vec<&str> = key.split('.').chain([name.as_str()]).collect();
                    insert_at(&mut this.dict, &path, Value::from(member));
                }
                this.sources.insert(key.to_owned(), var.to_owned());
            }
        }
        if env
            .get("OTEL_SDK_DISABLED")
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
        {
            for signal in Signal::ALL {
                let key = format!("{}.enabled", signal.as_str());
                this.set("OTEL_SDK_DISABLED", &key, Value::from(false));
            }
        }
        this
    }

    fn set(&mut self, var: &str, key: &str, value: Value) {
        let path: Vec<&str> = key.split('.').collect();
        insert_at(&mut self.dict, &path, value);
        self.sources.insert(key.to_owned(), var.to_owned());
    }
}

impl Provider for OtelEnv {
    fn metadata(&self) -> Metadata {
        let sources = self.sources.clone();
        Metadata::named(OTEL_ENV_NAME).interpolater(move |_: &Profile, keys: &[&str]| {
            // The variable that set the key, or the nearest enclosing key.
            (1..=keys.len())
                .rev()
                .find_map(|len| sources.get(&keys[..len].join(".")).cloned())
                .unwrap_or_else(|| keys.join("."))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Parses the W3C-baggage-like lists of `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_EXPORTER_OTLP_HEADERS`: `k=v,k2=v2`, whitespace trimmed, values percent-decoded.
/// Members without `=` or with an empty name are ignored.
fn parse_key_value_list(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .filter_map(|member| {
            let (name, value) = member.split_once('=')?;
            let name = name.trim();
            if name.is_empty() {
                return None;
            }
            Some((name.to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

/// Decodes `%XX` escapes with the baggage decoder, except that a `%` not followed by two hex
/// digits stays as it is (see [`InvalidEscape::Keep`] for why). Invalid UTF-8 becomes U+FFFD.
fn percent_decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Never false with `InvalidEscape::Keep`.
    propagation::percent_decode(text, InvalidEscape::Keep, &mut Vec::new(), &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Loads a [`Config`] from chosen sources, highest layer last: a YAML file, then YAML text, then
/// `HYPERION_` variables, then OpenTelemetry variables.
///
/// The environment is whatever [`env`](Self::env) and [`process_env`](Self::process_env) hand it,
/// so a test passes its own variables instead of changing the process's.
///
/// `HYPERION_` variables (prefix matched ignoring case) name a key path in upper case, levels
/// separated by `__`: `HYPERION_TRACING__SAMPLE_RATE=0.1`, `HYPERION_METRICS__PORT=9100`,
/// `HYPERION_TRACING__HEADERS__API_KEY=secret`. A `HYPERION_` variable that names no key is an
/// error, as an unknown YAML key is.
///
/// The OpenTelemetry variables honoured (empty values count as unset):
///
/// | variable | key |
/// | --- | --- |
/// | `OTEL_SERVICE_NAME` | `service.name` and `tracing.service_name` |
/// | `OTEL_RESOURCE_ATTRIBUTES` (`k=v,...`, percent-encoded) | merged into `tracing.attributes` |
/// | `OTEL_TRACES_SAMPLER` | `tracing.sampler` |
/// | `OTEL_TRACES_SAMPLER_ARG` | `tracing.sample_rate` |
/// | `OTEL_TRACES_EXPORTER` | `tracing.exporter` |
/// | `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` | `tracing.endpoint` |
/// | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | `tracing.protocol` |
/// | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` (`k=v,...`, percent-encoded) | merged into `tracing.headers` |
/// | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` (milliseconds) | `tracing.timeout` |
/// | `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION` | `tracing.compression` |
/// | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT` (ms) | `tracing.batch.scheduled_delay`, `.export_timeout` |
/// | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | `tracing.batch.max_queue_size`, `.max_batch_size` |
/// | `OTEL_METRICS_EXPORTER` (`prometheus,otlp` means `both`) | `metrics.exporter` |
/// | `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds) | `metrics.interval` |
/// | `OTEL_SDK_DISABLED=true` (any case) | `tracing.enabled`, `metrics.enabled`, `logging.enabled` set to `false` |
///
/// The `TRACES_` variant of a variable wins over the general one.
///
/// ```
/// use hyperion::config::{ConfigLoader, Sampler};
///
/// let config = ConfigLoader::new()
///     .yaml("tracing:\n  sample_rate: 0.5\n")
///     .env([
///         ("HYPERION_TRACING__SAMPLE_RATE", "0.25"),
///         ("OTEL_TRACES_SAMPLER", "always_on"),
///     ])
///     .load()?;
/// assert_eq!(config.tracing.sample_rate, 0.25);
/// assert_eq!(config.tracing.sampler, Sampler::AlwaysOn);
/// # Ok::<(), hyperion::config::ConfigError>(())
/// ```
#[derive(Clone, Default)]
#[must_use = "a ConfigLoader does nothing until `load` is called"]
pub struct ConfigLoader {
    file: Option<PathBuf>,
    yaml: Option<String>,
    env: Vec<(String, String)>,
}

/// Shows the variables' names only: their values may hold credentials.
impl fmt::Debug for ConfigLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ConfigLoader")
            .field("file", &self.file)
            .field("yaml", &self.yaml)
            .field("env", &names)
            .finish()
    }
}

impl ConfigLoader {
    /// A loader with no sources: [`load`](Self::load) gives [`Config::default()`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads this YAML file (which must exist) as the lowest layer.
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Adds this YAML text, above the file.
    pub fn yaml(mut self, text: impl Into<String>) -> Self {
        self.yaml = Some(text.into());
        self
    }

    /// Adds environment variables (name, value); of two with the same name, the later wins.
    /// Only `HYPERION_` and `OTEL_` variables are looked at.
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env.extend(
            vars.into_iter()
                .map(|(name, value)| (name.into(), value.into())),
        );
        self
    }

    /// Adds the process's `HYPERION_` and `OTEL_` environment variables (non-UTF-8 text is
    /// replaced by U+FFFD rather than panicking).
    pub fn process_env(self) -> Self {
        let vars = std::env::vars_os().filter_map(|(name, value)| {
            let name = name.to_string_lossy().into_owned();
            let wanted = name.starts_with("OTEL_")
                || name
                    .get(..HYPERION_PREFIX.len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(HYPERION_PREFIX));
            wanted.then(|| (name, value.to_string_lossy().into_owned()))
        });
        self.env(vars)
    }

    /// Merges the sources, extracts and [validates](Config::validate) the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Io`] if the file cannot be read, [`ConfigError::Parse`] if YAML is
    /// malformed, [`ConfigError::UnknownKey`] or [`ConfigError::Invalid`] for a bad key or value.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.clone(),
                source,
            })?;
            figment = figment.merge(YamlSource {
                text,
                metadata: Metadata::from("YAML file", path.as_path()),
            });
        }
        if let Some(text) = &self.yaml {
            figment = figment.merge(YamlSource {
                text: text.clone(),
                metadata: Metadata::named("YAML text"),
            });
        }
        figment = figment
            .merge(HyperionEnv::new(&self.env))
            .merge(OtelEnv::new(&self.env));
        let config: Config = figment
            .extract_lossy()
            .map_err(|error| ConfigError::from_figment(error, &figment))?;
        config
            .validate()
            .map_err(|error| error.with_origin_from(&figment))?;
        Ok(config)
    }
}

impl Config {
    /// Reads a configuration from YAML text alone (no environment variables).
    ///
    /// ```
    /// use hyperion::config::{Config, Exporter};
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
    /// assert_eq!(config.tracing.exporter, Exporter::Jaeger);
    /// assert_eq!(config.tracing.attributes["environment"], "production");
    /// assert_eq!(config.metrics.namespace.as_deref(), Some("hyperion"));
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

    /// Checks the values that their types alone do not constrain. Every loader calls it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for the first value out of bounds: `tracing.sample_rate` outside
    /// 0.0..=1.0, a zero duration, `tracing.batch.max_batch_size` of 0 or above
    /// `max_queue_size`, `metrics.path` not starting with `/`, `metrics.cardinality_limit` of 0,
    /// `metrics.bind_address` not an address or host name, `propagation.max_tracestate_members`
    /// outside 1..=32.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let tracing = &self.tracing;
        let rate = tracing.sample_rate;
        if !(0.0..=1.0).contains(&rate) {
            return Err(ConfigError::invalid(
                "tracing.sample_rate",
                describe_float(rate),
                "a number from 0.0 to 1.0",
            ));
        }
        non_zero_duration("tracing.timeout", tracing.timeout)?;
        let batch = &tracing.batch;
        if batch.max_queue_size == 0 {
            return Err(ConfigError::invalid(
                "tracing.batch.max_queue_size",
                0,
                "an integer of at least 1",
            ));
        }
        if batch.max_batch_size == 0 || batch.max_batch_size > batch.max_queue_size {
            return Err(ConfigError::invalid(
                "tracing.batch.max_batch_size",
                batch.max_batch_size,
                format!(
                    "an integer from 1 to tracing.batch.max_queue_size ({})",
                    batch.max_queue_size
                ),
            ));
        }
        non_zero_duration("tracing.batch.scheduled_delay", batch.scheduled_delay)?;
        non_zero_duration("tracing.batch.export_timeout", batch.export_timeout)?;

        let metrics = &self.metrics;
        if !is_host(&metrics.bind_address) {
            return Err(ConfigError::invalid(
                "metrics.bind_address",
                format!("{:?}", metrics.bind_address),
                "an IP address or host name, such as \"0.0.0.0\" or \"127.0.0.1\"",
            ));
        }
        // `{`, `}`, `:` and `*` would be route captures or wildcards to an HTTP router.
        if !metrics.path.starts_with('/') || metrics.path.contains(['{', '}', ':', '*']) {
            return Err(ConfigError::invalid(
                "metrics.path",
                format!("{:?}", metrics.path),
                "a path starting with '/' and without '{', '}', ':' or '*', such as \"/metrics\"",
            ));
        }
        non_zero_duration("metrics.interval", metrics.interval)?;
        if metrics.cardinality_limit == 0 {
            return Err(ConfigError::invalid(
                "metrics.cardinality_limit",
                0,
                "an integer of at least 1",
            ));
        }
        if metrics.max_label_value_length == 0 {
            return Err(ConfigError::invalid(
                "metrics.max_label_value_length",
                0,
                "an integer of at least 1",
            ));
        }
        if let Some(bounds) = &metrics.histogram_boundaries {
            let ascending = bounds.windows(2).all(|w| w[0] < w[1]);
            if bounds.is_empty() || !ascending || bounds.iter().any(|b| !b.is_finite()) {
                return Err(ConfigError::invalid(
                    "metrics.histogram_boundaries",
                    format!("{bounds:?}"),
                    "a non-empty list of finite numbers in ascending order",
                ));
            }
        }

        let members = self.propagation.max_tracestate_members;
        if !(1..=propagation::MAX_TRACESTATE_MEMBERS).contains(&members) {
            return Err(ConfigError::invalid(
                "propagation.max_tracestate_members",
                members,
                format!(
                    "an integer from 1 to {} (the W3C Trace Context limit)",
                    propagation::MAX_TRACESTATE_MEMBERS
                ),
            ));
        }
        Ok(())
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

    /// The service name: `tracing.service_name` if set, else `service.name`.
    pub fn service_name(&self) -> Option<&str> {
        self.tracing
            .service_name
            .as_deref()
            .or(self.service.name.as_deref())
    }
}

fn non_zero_duration(key: &str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::invalid(
            key,
            format!("{:?}", format_duration(value)),
            "a duration greater than zero, such as \"5s\" or \"250ms\"",
        ));
    }
    Ok(())
}

/// An IP address, or a DNS host name (letters, digits, `-` and `.`).
fn is_host(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
        || (!text.is_empty()
            && text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPIC: &str = "\
tracing:
  enabled: true
  service_name: my-service
  exporter: jaeger          # jaeger, zipkin, otlp (also: console, none)
  endpoint: localhost:14268
  sample_rate: 1.0          # 0.0 - 1.0
  attributes:
    environment: production
    version: v1.0.0
metrics:
  enabled: true
  port: 9090
  path: /metrics
  namespace: hyperion
  subsystem: api
  collect_runtime: true
";

    /// A file under the temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "hyperion-config-test-{}-{name}.yaml",
                std::process::id()
            ));
            std::fs::write(&path, text).expect("write temp file");
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        ConfigLoader::new()
            .yaml(yaml)
            .env(env.iter().copied())
            .load()
    }

    fn ok(yaml: &str, env: &[(&str, &str)]) -> Config {
        load(yaml, env).unwrap_or_else(|e| panic!("should load: {e}"))
    }

    fn env(vars: &[(&str, &str)]) -> Config {
        ok("", vars)
    }

    /// Loads, expects an error, and checks that its message names every part.
    fn fails(yaml: &str, env: &[(&str, &str)], parts: &[&str]) -> ConfigError {
        let error = match load(yaml, env) {
            Ok(config) => panic!("should fail, loaded {config:?}"),
            Err(error) => error,
        };
        assert_message(&error, parts);
        error
    }

    fn assert_message(error: &ConfigError, parts: &[&str]) {
        let message = error.to_string();
        for part in parts {
            assert!(
                message.contains(part),
                "{message:?} should contain {part:?}"
            );
        }
    }

    // --- defaults ---------------------------------------------------------------------------

    #[test]
    fn empty_and_comment_only_documents_give_the_defaults() {
        assert_eq!(ok("", &[]), Config::default());
        assert_eq!(ok("# nothing here\n\n", &[]), Config::default());
        assert_eq!(ok("{}", &[]), Config::default());
        assert_eq!(ConfigLoader::new().load().unwrap(), Config::default());
    }

    #[test]
    fn top_level_and_service_defaults() {
        let config = ok("", &[]);
        assert_eq!(config.adapter, None);
        assert_eq!(config.service.name, None);
        assert_eq!(config.service.version, None);
        assert_eq!(config.service.namespace, None);
        assert_eq!(config.service.environment, None);
    }

    #[test]
    fn tracing_defaults() {
        let t = ok("", &[]).tracing;
        assert!(t.enabled);
        assert_eq!(t.adapter, None);
        assert_eq!(t.service_name, None);
        assert_eq!(t.exporter, Exporter::Otlp);
        assert_eq!(t.endpoint, None);
        assert_eq!(t.protocol, Protocol::Grpc);
        assert!(t.headers.is_empty());
        assert_eq!(t.timeout, Duration::from_secs(10));
        assert_eq!(t.compression, Compression::None);
        assert_eq!(t.sample_rate, 1.0);
        assert_eq!(t.sampler, Sampler::ParentBasedTraceIdRatio);
        assert!(t.attributes.is_empty());
    }

    #[test]
    fn tracing_batch_defaults() {
        let b = ok("", &[]).tracing.batch;
        assert_eq!(b.max_batch_size, 512);
        assert_eq!(b.scheduled_delay, Duration::from_secs(5));
        assert_eq!(b.max_queue_size, 2048);
        assert_eq!(b.export_timeout, Duration::from_secs(30));
    }

    #[test]
    fn metrics_defaults() {
        let m = ok("", &[]).metrics;
        assert!(m.enabled);
        assert_eq!(m.adapter, None);
        assert_eq!(m.exporter, MetricsExporter::Prometheus);
        assert_eq!(m.port, 9090);
        assert_eq!(m.bind_address, "0.0.0.0");
        assert_eq!(m.path, "/metrics");
        assert_eq!(m.namespace, None);
        assert_eq!(m.subsystem, None);
        assert!(!m.collect_runtime);
        assert_eq!(m.interval, Duration::from_secs(60));
        assert!(m.exemplars);
        assert_eq!(m.cardinality_limit, 2000);
        assert_eq!(m.max_label_value_length, 256);
        assert_eq!(m.histogram_boundaries, None);
    }

    #[test]
    fn logging_defaults() {
        let l = ok("", &[]).logging;
        assert!(l.enabled);
        assert_eq!(l.adapter, None);
        assert_eq!(l.level, LogLevel::Info);
        assert_eq!(l.format, LogFormat::Json);
        assert_eq!(l.output, LogOutput::Stdout);
        assert!(!l.otlp);
    }

    #[test]
    fn propagation_defaults() {
        let p = ok("", &[]).propagation;
        assert_eq!(p.max_baggage_members, 64);
        assert_eq!(p.max_baggage_bytes, 8192);
        assert_eq!(p.max_tracestate_members, 32);
    }

    #[test]
    fn enum_defaults_match_the_section_defaults() {
        let t = TracingConfig::default();
        assert_eq!(Exporter::default(), t.exporter);
        assert_eq!(Protocol::default(), t.protocol);
        assert_eq!(Compression::default(), t.compression);
        assert_eq!(Sampler::default(), t.sampler);
        assert_eq!(
            MetricsExporter::default(),
            MetricsConfig::default().exporter
        );
        let l = LoggingConfig::default();
        assert_eq!(LogLevel::default(), l.level);
        assert_eq!(LogFormat::default(), l.format);
        assert_eq!(LogOutput::default(), l.output);
    }

    // --- the documents of the design --------------------------------------------------------

    fn check_epic_tracing(t: &TracingConfig) {
        assert!(t.enabled);
        assert_eq!(t.service_name.as_deref(), Some("my-service"));
        assert_eq!(t.exporter, Exporter::Jaeger);
        assert_eq!(t.endpoint.as_deref(), Some("localhost:14268"));
        assert_eq!(t.sample_rate, 1.0);
        let expected: BTreeMap<String, String> =
            [("environment", "production"), ("version", "v1.0.0")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        assert_eq!(t.attributes, expected);
        // The keys the document does not name keep their defaults.
        assert_eq!(t.protocol, Protocol::Grpc);
        assert_eq!(t.batch, BatchConfig::default());
    }

    fn check_epic_metrics(m: &MetricsConfig) {
        assert!(m.enabled);
        assert_eq!(m.port, 9090);
        assert_eq!(m.path, "/metrics");
        assert_eq!(m.namespace.as_deref(), Some("hyperion"));
        assert_eq!(m.subsystem.as_deref(), Some("api"));
        assert!(m.collect_runtime);
        assert_eq!(m.exporter, MetricsExporter::Prometheus);
        assert_eq!(m.interval, Duration::from_secs(60));
    }

    #[test]
    fn the_epic_example_loads_as_written() {
        let config = Config::from_yaml_str(EPIC).unwrap();
        check_epic_tracing(&config.tracing);
        check_epic_metrics(&config.metrics);
        assert_eq!(config.logging, LoggingConfig::default());
        assert_eq!(config.service, ServiceConfig::default());
        assert_eq!(config.propagation, PropagationConfig::default());
    }

    #[test]
    fn the_epic_tracing_section_loads_alone() {
        let (tracing, _) = EPIC.split_at(EPIC.find("metrics:").unwrap());
        let config = Config::from_yaml_str(tracing).unwrap();
        check_epic_tracing(&config.tracing);
        assert_eq!(config.metrics, MetricsConfig::default());
    }

    #[test]
    fn the_epic_metrics_section_loads_alone() {
        let (_, metrics) = EPIC.split_at(EPIC.find("metrics:").unwrap());
        let config = Config::from_yaml_str(metrics).unwrap();
        check_epic_metrics(&config.metrics);
        assert_eq!(config.tracing, TracingConfig::default());
    }

    #[test]
    fn the_epic_example_loads_from_a_file() {
        let file = TempFile::new("epic", EPIC);
        let config = ConfigLoader::new().file(&file.0).load().unwrap();
        check_epic_tracing(&config.tracing);
        check_epic_metrics(&config.metrics);
    }

    #[test]
    fn every_key_loads_from_yaml() {
        let config = ok(
            r#"
adapter: otel
service: {name: svc, version: "1.0", namespace: shop, environment: staging}
tracing:
  enabled: false
  adapter: zipkin-adapter
  service_name: traced
  exporter: zipkin
  endpoint: http://collector:4318
  protocol: http/protobuf
  headers: {x-api-key: secret}
  timeout: 2s
  compression: gzip
  sample_rate: 0.1
  sampler: traceidratio
  attributes: {region: eu}
  batch: {max_batch_size: 10, scheduled_delay: 250ms, max_queue_size: 20, export_timeout: 1m}
metrics:
  enabled: false
  adapter: prom
  exporter: both
  port: 0
  bind_address: 127.0.0.1
  path: /prom
  namespace: ns
  subsystem: sub
  collect_runtime: true
  interval: 1.5s
  exemplars: false
  cardinality_limit: 1
logging: {enabled: false, adapter: log, level: warn, format: pretty, output: stderr, otlp: true}
propagation: {max_baggage_members: 8, max_baggage_bytes: 100, max_tracestate_members: 4}
"#,
            &[],
        );
        assert_eq!(config.adapter.as_deref(), Some("otel"));
        let s = &config.service;
        assert_eq!(
            (
                s.name.as_deref(),
                s.version.as_deref(),
                s.namespace.as_deref(),
                s.environment.as_deref()
            ),
            (Some("svc"), Some("1.0"), Some("shop"), Some("staging"))
        );
        let t = &config.tracing;
        assert!(!t.enabled);
        assert_eq!(t.adapter.as_deref(), Some("zipkin-adapter"));
        assert_eq!(t.service_name.as_deref(), Some("traced"));
        assert_eq!(t.exporter, Exporter::Zipkin);
        assert_eq!(t.endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(t.protocol, Protocol::HttpProtobuf);
        assert_eq!(t.headers["x-api-key"], "secret");
        assert_eq!(t.timeout, Duration::from_secs(2));
        assert_eq!(t.compression, Compression::Gzip);
        assert_eq!(t.sample_rate, 0.1);
        assert_eq!(t.sampler, Sampler::TraceIdRatio);
        assert_eq!(t.attributes["region"], "eu");
        assert_eq!(
            t.batch,
            BatchConfig {
                max_batch_size: 10,
                scheduled_delay: Duration::from_millis(250),
                max_queue_size: 20,
                export_timeout: Duration::from_secs(60),
            }
        );
        let m = &config.metrics;
        assert!(!m.enabled);
        assert_eq!(m.adapter.as_deref(), Some("prom"));
        assert_eq!(m.exporter, MetricsExporter::Both);
        assert_eq!(m.port, 0);
        assert_eq!(m.bind_address, "127.0.0.1");
        assert_eq!(m.path, "/prom");
        assert_eq!(m.namespace.as_deref(), Some("ns"));
        assert_eq!(m.subsystem.as_deref(), Some("sub"));
        assert!(m.collect_runtime);
        assert_eq!(m.interval, Duration::from_millis(1500));
        assert!(!m.exemplars);
        assert_eq!(m.cardinality_limit, 1);
        let l = &config.logging;
        assert!(!l.enabled);
        assert_eq!(l.adapter.as_deref(), Some("log"));
        assert_eq!(l.level, LogLevel::Warn);
        assert_eq!(l.format, LogFormat::Pretty);
        assert_eq!(l.output, LogOutput::Stderr);
        assert!(l.otlp);
        assert_eq!(
            config.propagation,
            PropagationConfig {
                max_baggage_members: 8,
                max_baggage_bytes: 100,
                max_tracestate_members: 4,
            }
        );
    }

    #[test]
    fn enum_spellings_are_read_and_written_as_documented() {
        fn round_trip<T>(
            names: &[&str],
            parse: fn(&str) -> Option<T>,
            name: fn(T) -> &'static str,
        ) {
            for text in names {
                let value = parse(text).unwrap_or_else(|| panic!("{text} should parse"));
                assert_eq!(name(value), *text);
                assert!(
                    parse(&text.to_ascii_uppercase()).is_some(),
                    "case is ignored"
                );
            }
            assert!(parse("nonsense").is_none());
        }
        round_trip(Exporter::NAMES, Exporter::from_name, Exporter::as_str);
        round_trip(Protocol::NAMES, Protocol::from_name, Protocol::as_str);
        round_trip(
            Compression::NAMES,
            Compression::from_name,
            Compression::as_str,
        );
        round_trip(Sampler::NAMES, Sampler::from_name, Sampler::as_str);
        round_trip(
            MetricsExporter::NAMES,
            MetricsExporter::from_name,
            MetricsExporter::as_str,
        );
        round_trip(LogLevel::NAMES, LogLevel::from_name, LogLevel::as_str);
        round_trip(LogFormat::NAMES, LogFormat::from_name, LogFormat::as_str);
        round_trip(LogOutput::NAMES, LogOutput::from_name, LogOutput::as_str);
        assert_eq!(
            Sampler::NAMES,
            [
                "always_on",
                "always_off",
                "traceidratio",
                "parentbased_always_on",
                "parentbased_always_off",
                "parentbased_traceidratio"
            ]
        );
        assert_eq!(Protocol::NAMES, ["grpc", "http/protobuf", "http/json"]);
        assert_eq!(
            ok("tracing: {protocol: http/json}", &[]).tracing.protocol,
            Protocol::HttpJson
        );
        assert_eq!(
            ok("logging: {level: TRACE}", &[]).logging.level,
            LogLevel::Trace
        );
        assert_eq!(
            ok("logging: {level: fatal}", &[]).logging.level,
            LogLevel::Fatal
        );
    }

    // --- durations --------------------------------------------------------------------------

    #[test]
    fn durations_parse_from_strings_and_milliseconds() {
        let cases = [
            ("5s", Duration::from_secs(5)),
            ("250ms", Duration::from_millis(250)),
            ("1m", Duration::from_secs(60)),
            ("2h", Duration::from_secs(7200)),
            ("1.5s", Duration::from_millis(1500)),
            ("0s", Duration::ZERO),
            ("1m30s", Duration::from_secs(90)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("10ns", Duration::from_nanos(10)),
            (".5s", Duration::from_millis(500)),
            (" 3s ", Duration::from_secs(3)),
            ("1500", Duration::from_millis(1500)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Some(expected), "{text}");
        }
        for bad in [
            "",
            "-5s",
            "-5",
            "5 s",
            "5d",
            "s",
            "1.2.3s",
            "1.5",
            "soon",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let config = ok("metrics: {interval: 1500}\ntracing: {timeout: 2h}", &[]);
        assert_eq!(config.metrics.interval, Duration::from_millis(1500));
        assert_eq!(config.tracing.timeout, Duration::from_secs(7200));
    }

    #[test]
    fn durations_are_written_in_the_largest_exact_unit() {
        let cases = [
            (Duration::from_secs(5), "5s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_micros(3), "3us"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::ZERO, "0s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Some(duration));
        }
    }

    #[test]
    fn a_config_serializes_and_reads_back_unchanged() {
        let mut config = Config::from_yaml_str(EPIC).unwrap();
        config.tracing.timeout = Duration::from_millis(1500);
        config.tracing.protocol = Protocol::HttpJson;
        config.tracing.headers.insert("k".into(), "v".into());
        let value = Value::serialize(&config).unwrap();
        let timeout = value.find_ref("tracing.timeout").and_then(Value::as_str);
        assert_eq!(timeout, Some("1500ms"));
        let protocol = value.find_ref("tracing.protocol").and_then(Value::as_str);
        assert_eq!(protocol, Some("http/json"));
        let back: Config = Figment::from(figment::providers::Serialized::defaults(&config))
            .extract()
            .unwrap();
        assert_eq!(back, config);
    }

    // --- HYPERION_ variables ----------------------------------------------------------------

    #[test]
    fn hyperion_nested_variable_beats_the_file() {
        let file = TempFile::new(
            "nested",
            "tracing:\n  sample_rate: 0.5\n  exporter: zipkin\n",
        );
        let config = ConfigLoader::new()
            .file(&file.0)
            .env([("HYPERION_TRACING__SAMPLE_RATE", "0.1")])
            .load()
            .unwrap();
        assert_eq!(config.tracing.sample_rate, 0.1);
        assert_eq!(
            config.tracing.exporter,
            Exporter::Zipkin,
            "file keys not overridden stay"
        );
    }

    #[test]
    fn yaml_text_beats_the_file() {
        let file = TempFile::new("layers", "metrics: {port: 1000, path: /a}\n");
        let config = ConfigLoader::new()
            .file(&file.0)
            .yaml("metrics: {port: 2000}")
            .load()
            .unwrap();
        assert_eq!(
            (config.metrics.port, config.metrics.path.as_str()),
            (2000, "/a")
        );
    }

    #[test]
    fn hyperion_variables_are_typed_by_the_model() {
        let config = env(&[
            ("HYPERION_METRICS__PORT", "9100"),
            ("HYPERION_METRICS__ENABLED", "false"),
            ("HYPERION_METRICS__INTERVAL", "250ms"),
            ("HYPERION_TRACING__BATCH__MAX_QUEUE_SIZE", "4096"),
            ("HYPERION_TRACING__HEADERS__API_KEY", "k=1"),
            ("HYPERION_SERVICE__VERSION", "1.0"),
            ("HYPERION_SERVICE__NAME", "123"),
            ("HYPERION_LOGGING__LEVEL", "debug"),
            ("HYPERION_ADAPTER", "otel"),
        ]);
        assert_eq!(config.metrics.port, 9100);
        assert!(!config.metrics.enabled);
        assert_eq!(config.metrics.interval, Duration::from_millis(250));
        assert_eq!(config.tracing.batch.max_queue_size, 4096);
        assert_eq!(config.tracing.headers["api_key"], "k=1");
        assert_eq!(
            config.service.version.as_deref(),
            Some("1.0"),
            "kept as written"
        );
        assert_eq!(config.service.name.as_deref(), Some("123"));
        assert_eq!(config.logging.level, LogLevel::Debug);
        assert_eq!(config.adapter.as_deref(), Some("otel"));
    }

    #[test]
    fn hyperion_prefix_ignores_case_and_empty_values_and_other_variables() {
        let config = env(&[
            ("hyperion_metrics__port", "9200"),
            ("HYPERION_TRACING__ENDPOINT", "  "),
            ("HYPERIONX", "1"),
            ("PATH", "/bin"),
            ("OTEL", "x"),
        ]);
        assert_eq!(config.metrics.port, 9200);
        assert_eq!(config.tracing.endpoint, None);
    }

    #[test]
    fn later_variables_of_the_same_name_win() {
        let config = env(&[
            ("HYPERION_METRICS__PORT", "1"),
            ("HYPERION_METRICS__PORT", "2"),
        ]);
        assert_eq!(config.metrics.port, 2);
    }

    // --- OpenTelemetry variables ------------------------------------------------------------

    #[test]
    fn otel_service_name_sets_both_names() {
        let config = ok(
            "service: {name: file}\ntracing: {service_name: file}",
            &[("OTEL_SERVICE_NAME", "checkout")],
        );
        assert_eq!(config.service.name.as_deref(), Some("checkout"));
        assert_eq!(config.tracing.service_name.as_deref(), Some("checkout"));
        assert_eq!(config.service_name(), Some("checkout"));
    }

    #[test]
    fn otel_resource_attributes_merge_into_tracing_attributes() {
        let config = ok(
            "tracing:\n  attributes:\n    environment: production\n    team: core\n",
            &[(
                "OTEL_RESOURCE_ATTRIBUTES",
                " environment = staging , service.version=1.2%2C3,novalue,=x, note=a%20b%ZZ",
            )],
        );
        let attributes = &config.tracing.attributes;
        assert_eq!(
            attributes["environment"], "staging",
            "the variable wins per key"
        );
        assert_eq!(attributes["team"], "core", "file keys are kept");
        assert_eq!(attributes["service.version"], "1.2,3", "percent-decoded");
        assert_eq!(
            attributes["note"], "a b%ZZ",
            "a bad escape stays as written"
        );
        assert_eq!(
            attributes.len(),
            4,
            "malformed members are ignored: {attributes:?}"
        );
    }

    #[test]
    fn otel_traces_sampler_sets_the_sampler() {
        let config = env(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")]);
        assert_eq!(config.tracing.sampler, Sampler::ParentBasedAlwaysOff);
        let config = env(&[("OTEL_TRACES_SAMPLER", "AlwaYs_On")]);
        assert_eq!(config.tracing.sampler, Sampler::AlwaysOn);
    }

    #[test]
    fn otel_traces_sampler_arg_sets_the_rate_at_full_precision() {
        let config = env(&[("OTEL_TRACES_SAMPLER_ARG", "0.3")]);
        assert_eq!(config.tracing.sample_rate, 0.3);
        let config = env(&[("OTEL_TRACES_SAMPLER_ARG", "0")]);
        assert_eq!(config.tracing.sample_rate, 0.0);
    }

    #[test]
    fn otel_exporter_otlp_endpoint_sets_the_endpoint() {
        let config = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")]);
        assert_eq!(
            config.tracing.endpoint.as_deref(),
            Some("http://collector:4317")
        );
        let config = env(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ]);
        assert_eq!(
            config.tracing.endpoint.as_deref(),
            Some("http://traces:4318/v1/traces"),
            "the signal-specific variable wins"
        );
    }

    #[test]
    fn otel_exporter_otlp_protocol_sets_the_protocol() {
        let config = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
        assert_eq!(config.tracing.protocol, Protocol::HttpProtobuf);
        let config = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ]);
        assert_eq!(config.tracing.protocol, Protocol::HttpJson);
    }

    #[test]
    fn otel_exporter_otlp_headers_merge_into_headers() {
        let config = ok(
            "tracing: {headers: {x-file: kept, authorization: old}}",
            &[
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "authorization=Bearer%20abc, x-tenant = 7",
                ),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=8"),
            ],
        );
        let headers = &config.tracing.headers;
        assert_eq!(headers["authorization"], "Bearer abc");
        assert_eq!(headers["x-tenant"], "8");
        assert_eq!(headers["x-file"], "kept");
    }

    #[test]
    fn otel_sdk_disabled_disables_every_signal() {
        let config = env(&[("OTEL_SDK_DISABLED", "TRUE")]);
        for signal in Signal::ALL {
            assert!(!config.enabled(signal), "{signal}");
        }
        let config = env(&[("OTEL_SDK_DISABLED", "false")]);
        assert!(Signal::ALL.iter().all(|s| config.enabled(*s)));
        let config = ok("tracing: {enabled: false}", &[("OTEL_SDK_DISABLED", "no")]);
        assert!(!config.tracing.enabled, "only `true` has an effect");
    }

    #[test]
    fn otel_exporter_otlp_timeout_and_compression() {
        let config = env(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]);
        assert_eq!(config.tracing.timeout, Duration::from_millis(2500));
        assert_eq!(config.tracing.compression, Compression::Gzip);
        let config = env(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100"),
        ]);
        assert_eq!(config.tracing.timeout, Duration::from_millis(100));
    }

    #[test]
    fn otel_exporter_otlp_certificate_and_its_yaml_key() {
        assert_eq!(Config::default().tracing.certificate, None);
        let config = env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem")]);
        assert_eq!(
            config.tracing.certificate.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        let config = env(&[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "/etc/traces-ca.pem",
            ),
        ]);
        assert_eq!(
            config.tracing.certificate.as_deref(),
            Some(std::path::Path::new("/etc/traces-ca.pem"))
        );
        let config = ok("tracing: {certificate: ca.pem}", &[]);
        assert_eq!(
            config.tracing.certificate.as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
    }

    #[test]
    fn otel_bsp_variables_set_the_batch() {
        let config = env(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "2000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
        ]);
        let batch = config.tracing.batch;
        assert_eq!(batch.scheduled_delay, Duration::from_millis(100));
        assert_eq!(batch.export_timeout, Duration::from_secs(2));
        assert_eq!(batch.max_queue_size, 100);
        assert_eq!(batch.max_batch_size, 10);
    }

    #[test]
    fn otel_traces_and_metrics_exporters() {
        let config = env(&[
            ("OTEL_TRACES_EXPORTER", "zipkin"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ]);
        assert_eq!(config.tracing.exporter, Exporter::Zipkin);
        assert_eq!(config.metrics.exporter, MetricsExporter::Otlp);
        let config = env(&[("OTEL_METRICS_EXPORTER", "otlp, prometheus")]);
        assert_eq!(config.metrics.exporter, MetricsExporter::Both);
        let config = env(&[("OTEL_METRICS_EXPORTER", "none")]);
        assert_eq!(config.metrics.exporter, MetricsExporter::None);
    }

    #[test]
    fn otel_metric_export_interval_sets_the_interval() {
        let config = env(&[("OTEL_METRIC_EXPORT_INTERVAL", "15000")]);
        assert_eq!(config.metrics.interval, Duration::from_secs(15));
    }

    #[test]
    fn empty_otel_variables_count_as_unset() {
        let config = ok(
            "tracing: {endpoint: from-file}",
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")],
        );
        assert_eq!(config.tracing.endpoint.as_deref(), Some("from-file"));
    }

    #[test]
    fn otel_beats_hyperion_beats_file() {
        let file = TempFile::new(
            "precedence",
            "tracing:\n  sample_rate: 0.5\n  endpoint: file\n",
        );
        let config = ConfigLoader::new()
            .file(&file.0)
            .env([
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
                ("HYPERION_TRACING__SAMPLE_RATE", "0.75"),
                ("HYPERION_TRACING__ENDPOINT", "hyperion"),
            ])
            .load()
            .unwrap();
        assert_eq!(config.tracing.sample_rate, 0.25, "OTEL_ beats HYPERION_");
        assert_eq!(
            config.tracing.endpoint.as_deref(),
            Some("hyperion"),
            "HYPERION_ beats the file"
        );
    }

    // --- invalid values ---------------------------------------------------------------------

    #[test]
    fn sample_rate_above_one_is_an_error() {
        let error = fails(
            "tracing:\n  sample_rate: 1.5\n",
            &[],
            &[
                "`tracing.sample_rate`",
                "found 1.5",
                "expected a number from 0.0 to 1.0",
            ],
        );
        assert_eq!(error.key(), Some("tracing.sample_rate"));
        assert_eq!(error.found(), Some("1.5"));
        assert_eq!(error.expected(), Some("a number from 0.0 to 1.0"));
        assert_eq!(error.origin(), Some("YAML text"));
    }

    #[test]
    fn negative_sample_rate_is_an_error() {
        fails(
            "tracing:\n  sample_rate: -0.1\n",
            &[],
            &[
                "`tracing.sample_rate`",
                "found -0.1",
                "a number from 0.0 to 1.0",
            ],
        );
    }

    #[test]
    fn nan_sample_rate_is_an_error() {
        fails(
            "tracing:\n  sample_rate: .nan\n",
            &[],
            &[
                "`tracing.sample_rate`",
                "found NaN",
                "a number from 0.0 to 1.0",
            ],
        );
    }

    #[test]
    fn sample_rate_of_the_wrong_type_is_an_error() {
        fails(
            "tracing:\n  sample_rate: high\n",
            &[],
            &[
                "`tracing.sample_rate`",
                "found \"high\"",
                "a number from 0.0 to 1.0",
            ],
        );
    }

    #[test]
    fn unknown_exporter_is_an_error() {
        fails(
            "tracing:\n  exporter: kafka\n",
            &[],
            &["invalid value for `tracing.exporter`: found \"kafka\", \
                 expected one of: otlp, jaeger, zipkin, console, none"],
        );
    }

    #[test]
    fn exporter_given_as_a_number_is_an_error() {
        fails(
            "tracing:\n  exporter: 1\n",
            &[],
            &["`tracing.exporter`", "found 1", "one of: otlp, jaeger"],
        );
    }

    #[test]
    fn unknown_protocol_is_an_error() {
        fails(
            "tracing:\n  protocol: http\n",
            &[],
            &[
                "`tracing.protocol`",
                "found \"http\"",
                "one of: grpc, http/protobuf, http/json",
            ],
        );
    }

    #[test]
    fn unknown_sampler_is_an_error() {
        fails(
            "tracing:\n  sampler: sometimes\n",
            &[],
            &[
                "`tracing.sampler`",
                "found \"sometimes\"",
                "one of: always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off, parentbased_traceidratio",
            ],
        );
    }

    #[test]
    fn unknown_metrics_exporter_and_log_level_are_errors() {
        fails(
            "metrics:\n  exporter: statsd\n",
            &[],
            &[
                "`metrics.exporter`",
                "\"statsd\"",
                "one of: prometheus, otlp, both, none",
            ],
        );
        fails(
            "logging:\n  level: verbose\n",
            &[],
            &[
                "`logging.level`",
                "\"verbose\"",
                "one of: trace, debug, info, warn, error, fatal",
            ],
        );
        fails(
            "logging:\n  format: xml\n",
            &[],
            &["`logging.format`", "\"xml\"", "json, pretty"],
        );
        fails(
            "logging:\n  output: file\n",
            &[],
            &["`logging.output`", "\"file\"", "stdout, stderr"],
        );
        fails(
            "tracing:\n  compression: zstd\n",
            &[],
            &["`tracing.compression`", "\"zstd\"", "none, gzip"],
        );
    }

    #[test]
    fn port_above_65535_is_an_error() {
        fails(
            "metrics:\n  port: 70000\n",
            &[],
            &["`metrics.port`", "found 70000", "0..=65535"],
        );
    }

    #[test]
    fn port_that_is_not_a_number_is_an_error() {
        fails(
            "metrics:\n  port: \"abc\"\n",
            &[],
            &["`metrics.port`", "found \"abc\"", "0..=65535"],
        );
        fails(
            "metrics:\n  port: -1\n",
            &[],
            &["`metrics.port`", "found -1", "0..=65535"],
        );
    }

    #[test]
    fn negative_interval_is_an_error() {
        fails(
            "metrics:\n  interval: -5s\n",
            &[],
            &[
                "`metrics.interval`",
                "found \"-5s\"",
                "a non-negative duration such as \"5s\"",
            ],
        );
        fails(
            "metrics:\n  interval: -5\n",
            &[],
            &[
                "`metrics.interval`",
                "found -5",
                "a non-negative duration",
                "milliseconds",
            ],
        );
    }

    #[test]
    fn interval_that_is_not_a_duration_is_an_error() {
        fails(
            "metrics:\n  interval: soon\n",
            &[],
            &["`metrics.interval`", "found \"soon\"", "\"250ms\""],
        );
        fails(
            "tracing:\n  batch:\n    scheduled_delay: 1.5\n",
            &[],
            &[
                "`tracing.batch.scheduled_delay`",
                "found 1.5",
                "a non-negative duration",
            ],
        );
    }

    #[test]
    fn zero_durations_are_errors() {
        fails(
            "metrics:\n  interval: 0s\n",
            &[],
            &[
                "`metrics.interval`",
                "found \"0s\"",
                "a duration greater than zero",
            ],
        );
        for key in ["timeout", "batch.scheduled_delay", "batch.export_timeout"] {
            let (section, field) = key
                .rsplit_once('.')
                .map_or((None, key), |(s, f)| (Some(s), f));
            let yaml = match section {
                Some(section) => format!("tracing:\n  {section}:\n    {field}: 0ms\n"),
                None => format!("tracing:\n  {field}: 0\n"),
            };
            fails(
                &yaml,
                &[],
                &[
                    &format!("`tracing.{key}`"),
                    "found \"0s\"",
                    "greater than zero",
                ],
            );
        }
    }

    #[test]
    fn path_without_a_leading_slash_is_an_error() {
        fails(
            "metrics:\n  path: metrics\n",
            &[],
            &[
                "`metrics.path`",
                "found \"metrics\"",
                "a path starting with '/'",
            ],
        );
    }

    #[test]
    fn zero_max_batch_size_is_an_error() {
        fails(
            "tracing:\n  batch:\n    max_batch_size: 0\n",
            &[],
            &[
                "`tracing.batch.max_batch_size`",
                "found 0",
                "an integer from 1 to tracing.batch.max_queue_size (2048)",
            ],
        );
    }

    #[test]
    fn max_batch_size_above_the_queue_size_is_an_error() {
        fails(
            "tracing:\n  batch:\n    max_batch_size: 100\n    max_queue_size: 50\n",
            &[],
            &[
                "`tracing.batch.max_batch_size`",
                "found 100",
                "from 1 to tracing.batch.max_queue_size (50)",
            ],
        );
    }

    #[test]
    fn zero_max_queue_size_is_an_error() {
        fails(
            "tracing:\n  batch:\n    max_queue_size: 0\n",
            &[],
            &[
                "`tracing.batch.max_queue_size`",
                "found 0",
                "an integer of at least 1",
            ],
        );
        fails(
            "tracing:\n  batch:\n    max_queue_size: -3\n",
            &[],
            &[
                "`tracing.batch.max_queue_size`",
                "found -3",
                "a non-negative integer",
            ],
        );
    }

    #[test]
    fn max_tracestate_members_is_capped_at_the_w3c_limit() {
        let error = fails(
            "propagation:\n  max_tracestate_members: 33\n",
            &[],
            &[
                "`propagation.max_tracestate_members`",
                "found 33",
                "an integer from 1 to 32",
            ],
        );
        assert_eq!(error.key(), Some("propagation.max_tracestate_members"));
        assert_eq!(error.found(), Some("33"));
        assert_eq!(error.origin(), Some("YAML text"));
        let error = fails(
            "",
            &[("HYPERION_PROPAGATION__MAX_TRACESTATE_MEMBERS", "1000")],
            &["found 1000", "1 to 32"],
        );
        assert_eq!(
            error.origin(),
            Some("environment variable `HYPERION_PROPAGATION__MAX_TRACESTATE_MEMBERS`")
        );
        fails(
            "propagation: {max_tracestate_members: 0}",
            &[],
            &["found 0", "1 to 32"],
        );
        for members in [1, 32] {
            let yaml = format!("propagation: {{max_tracestate_members: {members}}}");
            assert_eq!(ok(&yaml, &[]).propagation.max_tracestate_members, members);
        }
    }

    #[test]
    fn adapter_for_names_the_key_that_chose_the_adapter() {
        let config = ok("adapter: otel\nmetrics: {adapter: memory}\n", &[]);
        assert_eq!(
            config.adapter_for(Signal::Tracing),
            Some(("adapter", "otel"))
        );
        assert_eq!(
            config.adapter_for(Signal::Metrics),
            Some(("metrics.adapter", "memory"))
        );
        assert_eq!(config.effective_adapter(Signal::Metrics), Some("memory"));
        let config = ok("tracing: {adapter: otel}\n", &[]);
        assert_eq!(
            config.adapter_for(Signal::Tracing),
            Some(("tracing.adapter", "otel"))
        );
        assert_eq!(config.adapter_for(Signal::Logging), None);
    }

    #[test]
    fn zero_cardinality_limit_is_an_error() {
        fails(
            "metrics:\n  cardinality_limit: 0\n",
            &[],
            &[
                "`metrics.cardinality_limit`",
                "found 0",
                "an integer of at least 1",
            ],
        );
    }

    #[test]
    fn rust_log_sets_the_logging_directives() {
        assert_eq!(Config::default().logging.directives, None);
        let config = env(&[("RUST_LOG", "warn,my_app=debug")]);
        assert_eq!(
            config.logging.directives.as_deref(),
            Some("warn,my_app=debug")
        );
        let config = ok("logging: {directives: \"sqlx=off\"}", &[]);
        assert_eq!(config.logging.directives.as_deref(), Some("sqlx=off"));
    }

    #[test]
    fn a_metrics_path_with_route_syntax_is_an_error() {
        for bad in ["/:id", "/{x}", "/m/*rest"] {
            fails(
                &format!("metrics:\n  path: \"{bad}\"\n"),
                &[],
                &["`metrics.path`", bad, "without '{', '}', ':' or '*'"],
            );
        }
        assert_eq!(
            ok("metrics: {path: /internal/metrics}", &[]).metrics.path,
            "/internal/metrics"
        );
    }

    #[test]
    fn label_length_and_histogram_boundaries_are_validated() {
        let m = ok(
            "metrics:\n  max_label_value_length: 64\n  histogram_boundaries: [0.1, 1, 10]\n",
            &[],
        )
        .metrics;
        assert_eq!(m.max_label_value_length, 64);
        assert_eq!(m.histogram_boundaries, Some(vec![0.1, 1.0, 10.0]));
        fails(
            "metrics:\n  max_label_value_length: 0\n",
            &[],
            &["`metrics.max_label_value_length`", "found 0", "at least 1"],
        );
        for bad in ["[]", "[1, 0.5]", "[1, 1]"] {
            fails(
                &format!("metrics:\n  histogram_boundaries: {bad}\n"),
                &[],
                &["`metrics.histogram_boundaries`", "ascending order"],
            );
        }
    }

    #[test]
    fn bad_bind_address_is_an_error() {
        fails(
            "metrics:\n  bind_address: \"not an address\"\n",
            &[],
            &[
                "`metrics.bind_address`",
                "found \"not an address\"",
                "an IP address or host name",
            ],
        );
        assert_eq!(
            ok("metrics: {bind_address: \"::1\"}", &[])
                .metrics
                .bind_address,
            "::1"
        );
        assert_eq!(
            ok("metrics: {bind_address: localhost}", &[])
                .metrics
                .bind_address,
            "localhost"
        );
    }

    #[test]
    fn a_flag_of_the_wrong_type_is_an_error() {
        fails(
            "metrics:\n  exemplars: maybe\n",
            &[],
            &["`metrics.exemplars`", "found \"maybe\"", "true or false"],
        );
    }

    #[test]
    fn an_unquoted_number_for_a_string_key_is_an_error() {
        fails(
            "service:\n  version: 1.0\n",
            &[],
            &[
                "`service.version`",
                "found 1.0",
                "a string (quote values such as 1.0 or true)",
            ],
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let error = fails(
            "tracing:\n  sample_rat: 0.5\n",
            &[],
            &[
                "unknown key `tracing.sample_rat`",
                "sample_rate",
                "expected one of: enabled",
            ],
        );
        assert_eq!(error.key(), Some("tracing.sample_rat"));
        assert_eq!(error.found(), Some("sample_rat"));
        fails(
            "tracng:\n  enabled: true\n",
            &[],
            &["unknown key `tracng`", "tracing"],
        );
        fails(
            "tracing:\n  batch:\n    size: 1\n",
            &[],
            &["unknown key `tracing.batch.size`", "max_batch_size"],
        );
    }

    #[test]
    fn unknown_hyperion_variable_is_an_error_naming_it() {
        let error = fails(
            "",
            &[("HYPERION_TRACING__SAMPLE_RAT", "0.5")],
            &[
                "unknown key `tracing.sample_rat`",
                "environment variable `HYPERION_TRACING__SAMPLE_RAT`",
                "sample_rate",
            ],
        );
        assert_eq!(
            error.origin(),
            Some("environment variable `HYPERION_TRACING__SAMPLE_RAT`")
        );
    }

    #[test]
    fn a_section_of_the_wrong_type_is_an_error() {
        fails(
            "tracing: 5\n",
            &[],
            &["`tracing`", "found 5", "a mapping of `tracing` settings"],
        );
        fails(
            "tracing:\n  attributes: [a, b]\n",
            &[],
            &[
                "`tracing.attributes`",
                "found a list",
                "a mapping of names to string values",
            ],
        );
    }

    #[test]
    fn malformed_yaml_says_where() {
        let error = fails(
            "tracing:\n  exporter: [otlp\nmetrics: {}\n",
            &[],
            &["malformed configuration", "line 3"],
        );
        assert!(matches!(error, ConfigError::Parse { .. }), "{error:?}");
        fails("5", &[], &["malformed configuration", "expected a map"]);
    }

    #[test]
    fn malformed_yaml_file_names_the_file() {
        let file = TempFile::new("malformed", "tracing:\n\tenabled: true\n");
        let error = ConfigLoader::new().file(&file.0).load().unwrap_err();
        assert_message(
            &error,
            &[
                "malformed configuration",
                "line 2",
                &file.0.display().to_string(),
            ],
        );
    }

    #[test]
    fn missing_file_is_an_error_naming_the_path() {
        let path = std::env::temp_dir().join("hyperion-config-test-does-not-exist.yaml");
        let error = Config::load(&path).unwrap_err();
        assert!(matches!(error, ConfigError::Io { .. }), "{error:?}");
        assert_message(
            &error,
            &[
                "cannot read configuration file",
                &path.display().to_string(),
            ],
        );
    }

    #[test]
    fn invalid_value_in_a_file_names_the_file() {
        let file = TempFile::new("bad-port", "metrics:\n  port: 70000\n");
        let error = ConfigLoader::new().file(&file.0).load().unwrap_err();
        assert_message(
            &error,
            &[
                "`metrics.port`",
                "70000",
                "0..=65535",
                &format!("YAML file `{}`", file.0.display()),
            ],
        );
        let file = TempFile::new("bad-rate", "tracing:\n  sample_rate: 2\n");
        let error = ConfigLoader::new().file(&file.0).load().unwrap_err();
        assert_eq!(
            error.origin(),
            Some(format!("YAML file `{}`", file.0.display()).as_str())
        );
    }

    #[test]
    fn invalid_variables_name_the_variable() {
        fails(
            "",
            &[("HYPERION_METRICS__PORT", "abc")],
            &[
                "`metrics.port`",
                "found \"abc\"",
                "0..=65535",
                "`HYPERION_METRICS__PORT`",
            ],
        );
        fails(
            "",
            &[("OTEL_TRACES_SAMPLER_ARG", "1.5")],
            &[
                "`tracing.sample_rate`",
                "found 1.5",
                "0.0 to 1.0",
                "`OTEL_TRACES_SAMPLER_ARG`",
            ],
        );
        fails(
            "",
            &[("OTEL_TRACES_SAMPLER_ARG", "half")],
            &[
                "`tracing.sample_rate`",
                "found \"half\"",
                "0.0 to 1.0",
                "`OTEL_TRACES_SAMPLER_ARG`",
            ],
        );
        fails(
            "",
            &[("OTEL_TRACES_SAMPLER", "sometimes")],
            &[
                "`tracing.sampler`",
                "\"sometimes\"",
                "always_on",
                "`OTEL_TRACES_SAMPLER`",
            ],
        );
        fails(
            "",
            &[("OTEL_TRACES_EXPORTER", "otlp,console")],
            &[
                "`tracing.exporter`",
                "\"otlp,console\"",
                "one of: otlp",
                "`OTEL_TRACES_EXPORTER`",
            ],
        );
    }

    // --- helpers ----------------------------------------------------------------------------

    #[test]
    fn effective_adapter_prefers_the_section() {
        let config = ok("adapter: otel\nmetrics: {adapter: prometheus}\n", &[]);
        assert_eq!(config.effective_adapter(Signal::Tracing), Some("otel"));
        assert_eq!(
            config.effective_adapter(Signal::Metrics),
            Some("prometheus")
        );
        assert_eq!(config.effective_adapter(Signal::Logging), Some("otel"));
        let config = ok("tracing: {adapter: a}", &[]);
        assert_eq!(config.effective_adapter(Signal::Tracing), Some("a"));
        assert_eq!(config.effective_adapter(Signal::Metrics), None);
    }

    #[test]
    fn enabled_reads_each_section() {
        let config = ok("metrics: {enabled: false}", &[]);
        assert!(config.enabled(Signal::Tracing));
        assert!(!config.enabled(Signal::Metrics));
        assert!(config.enabled(Signal::Logging));
    }

    #[test]
    fn signal_names_are_the_section_names() {
        let names: Vec<&str> = Signal::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["tracing", "metrics", "logging"]);
        assert_eq!(Signal::Metrics.to_string(), "metrics");
    }

    #[test]
    fn service_name_falls_back_to_the_service_section() {
        assert_eq!(ok("service: {name: a}", &[]).service_name(), Some("a"));
        assert_eq!(
            ok("service: {name: a}\ntracing: {service_name: b}", &[]).service_name(),
            Some("b")
        );
        assert_eq!(ok("", &[]).service_name(), None);
    }

    #[test]
    fn debug_output_hides_header_values() {
        let config = ok("tracing: {headers: {authorization: Bearer-secret}}", &[]);
        let debug = format!("{config:?}");
        assert!(debug.contains("authorization"), "{debug}");
        assert!(!debug.contains("Bearer-secret"), "{debug}");
    }

    #[test]
    fn loader_debug_output_hides_variable_values() {
        let loader = ConfigLoader::new().env([("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret")]);
        let debug = format!("{loader:?}");
        assert!(debug.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{debug}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2c%2C"), "a b,,");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        // Exactly two hex digits make an escape: no sign, no single digit.
        assert_eq!(percent_decode("%+f%-1%g0%4"), "%+f%-1%g0%4");
        assert_eq!(percent_decode("%E2%82%AC %"), "€ %");
    }
}
