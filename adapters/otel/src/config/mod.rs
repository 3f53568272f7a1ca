//! The `otel` module's own settings: the keys it reads in the `tracing`, `metrics` and `logging`
//! sections beside the core's, and the OpenTelemetry variables that set them.
//!
//! | key | variable | default |
//! | --- | --- | --- |
//! | `tracing.exporter` | `OTEL_TRACES_EXPORTER` | `otlp` |
//! | `tracing.endpoint` (a base URL: `/v1/traces`, `/v1/metrics`, `/v1/logs` appended) | `OTEL_EXPORTER_OTLP_ENDPOINT` | the exporter's own |
//! | `tracing.traces_endpoint`, `.metrics_endpoint`, `.logs_endpoint` (full URLs, used as given) | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `_METRICS_ENDPOINT`, `_LOGS_ENDPOINT` | none |
//! | `tracing.protocol` | `OTEL_EXPORTER_OTLP_PROTOCOL` | `grpc` |
//! | `tracing.headers` (merged, `k=v,...` percent-encoded) | `OTEL_EXPORTER_OTLP_HEADERS` | none |
//! | `tracing.timeout` (milliseconds in the variable) | `OTEL_EXPORTER_OTLP_TIMEOUT` | 10 s |
//! | `tracing.compression` | `OTEL_EXPORTER_OTLP_COMPRESSION` | `none` |
//! | `tracing.certificate` | `OTEL_EXPORTER_OTLP_CERTIFICATE` | none |
//! | `tracing.{traces,metrics,logs}.{protocol,headers,timeout,compression,certificate}` | `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_{PROTOCOL,HEADERS,TIMEOUT,COMPRESSION,CERTIFICATE}` | the general one |
//! | `tracing.batch.scheduled_delay`, `.export_timeout` (ms) | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT` | 5 s, 30 s |
//! | `tracing.batch.max_queue_size`, `.max_batch_size` | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | 2048, 512 |
//! | `tracing.tail_sampling.{enabled, decision_wait, max_traces, max_spans_per_trace, policies, default}` ([`TailSamplingSettings`]) | none | off, 30 s, 10,000, 1,000, none, `drop` |
//! | `tracing.promotion.{enabled, threshold, fast_calls}` ([`PromotionSettings`]) | none | off, 50 ms, `event` |
//! | `metrics.exporter` (`prometheus,otlp` means `both`) | `OTEL_METRICS_EXPORTER` | `prometheus` |
//! | `metrics.interval`, `metrics.export_timeout` (ms) | `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_METRIC_EXPORT_TIMEOUT` | 60 s, 30 s |
//! | `metrics.temporality` (OTLP: `cumulative`, `delta`, `lowmemory`) | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative` |
//! | `metrics.port`, `metrics.bind_address` | `OTEL_EXPORTER_PROMETHEUS_PORT`, `OTEL_EXPORTER_PROMETHEUS_HOST` | 9464, `localhost` |
//! | `logging.otlp` (`otlp` is true; `none`, `console` false) | `OTEL_LOGS_EXPORTER` | false |
//! | `logging.batch.scheduled_delay`, `.export_timeout` (ms) | `OTEL_BLRP_SCHEDULE_DELAY`, `OTEL_BLRP_EXPORT_TIMEOUT` | 1 s, 30 s |
//! | `logging.batch.max_queue_size`, `.max_batch_size` | `OTEL_BLRP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` | 2048, 512 |
//!
//! The `tracing` section's collector settings are every signal's; a signal's own
//! (`tracing.traces`, `.metrics`, `.logs`, from the `TRACES_`, `METRICS_` and `LOGS_` variants)
//! replace them for that signal alone, and its headers are added to the general ones
//! ([`TracingSettings::for_signal`]). An export request's timeout is the smaller of the
//! signal's `timeout` and its export timeout (`tracing.batch.export_timeout`,
//! `metrics.export_timeout`, `logging.batch.export_timeout`): the SDK's periodic reader and
//! thread-based batch processors bound no export themselves. Without a variable:
//! `metrics.path`, `metrics.namespace`, `metrics.subsystem`, `metrics.collect_runtime`,
//! `metrics.exemplars`, `metrics.cardinality_limit`, `metrics.max_label_value_length`,
//! `metrics.histogram_boundaries`, `logging.format`, `logging.output`.
//!
//! ```
//! use hyperion::Config;
//! use hyperion_otel::config::{Exporter, OtelSettings};
//!
//! let config = Config::from_yaml_str("tracing:\n  exporter: zipkin\n")?;
//! let settings = OtelSettings::from_config(&config)?;
//! assert_eq!(settings.tracing.exporter, Exporter::Zipkin);
//! assert_eq!(settings.metrics.port, 9464); // a default
//! # Ok::<(), hyperion::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use hyperion::Config;
use hyperion::config::{ConfigError, EnvVar, ModuleSource, Settings, duration};
use hyperion::registry::Signals;
use serde::{Deserialize, Serialize};

mod sampling;
pub use sampling::{
    FastCalls, PromotionSettings, StatusCodeName, TailDefault, TailPolicy, TailSamplingSettings,
};

hyperion::config_enum! {
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

hyperion::config_enum! {
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

hyperion::config_enum! {
    /// Compression of export requests (`tracing.compression`).
    pub enum Compression {
        /// No compression (`none`). The default.
        #[default]
        None = "none",
        /// gzip (`gzip`).
        Gzip = "gzip",
    }
}

hyperion::config_enum! {
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

hyperion::config_enum! {
    /// The aggregation temporality of OTLP metrics (`metrics.temporality`), as
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` names it. Up-down counters and gauges
    /// are cumulative under every preference (the specification's table for synchronous
    /// instruments); the Prometheus endpoint is cumulative always.
    pub enum Temporality {
        /// Every point counts from the start (`cumulative`). The default.
        #[default]
        Cumulative = "cumulative",
        /// Counters and histograms count since the previous export (`delta`).
        Delta = "delta",
        /// The same as `delta` for hyperion's synchronous instruments (`lowmemory`).
        LowMemory = "lowmemory",
    }
}

hyperion::config_enum! {
    /// How a log line is written (`logging.format`).
    pub enum LogFormat {
        /// One JSON object per line (`json`). The default.
        #[default]
        Json = "json",
        /// Human-readable text (`pretty`).
        Pretty = "pretty",
    }
}

hyperion::config_enum! {
    /// Where log lines are written (`logging.output`).
    pub enum LogOutput {
        /// Standard output (`stdout`). The default.
        #[default]
        Stdout = "stdout",
        /// Standard error (`stderr`).
        Stderr = "stderr",
    }
}

/// Everything the `otel` module reads, section by section.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OtelSettings {
    /// The module's keys in `tracing`.
    pub tracing: TracingSettings,
    /// The module's keys in `metrics`.
    pub metrics: MetricsSettings,
    /// The module's keys in `logging`.
    pub logging: LoggingSettings,
}

impl OtelSettings {
    /// What the module declares to the core: its keys and variables.
    pub fn declaration() -> Settings {
        let mut settings = Settings::new()
            .section::<TracingSettings>("tracing")
            .section::<MetricsSettings>("metrics")
            .section::<LoggingSettings>("logging");
        for var in ENV {
            settings = settings.env(var.clone());
        }
        for (key, text) in HINTS {
            settings = settings.expected(key, text);
        }
        settings
    }

    /// The module's settings in `config`, with the OpenTelemetry variables of the environment
    /// `config` was loaded with, checked.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key, the value, what is allowed and where it came from.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let all = Signals {
            tracing: true,
            metrics: true,
            logging: true,
        };
        Self::from_source(
            &config.module_source(crate::MODULE_NAME, &Self::declaration()),
            all,
        )
    }

    /// The module's settings read from `source` for the signals it serves, checked. A section
    /// of a signal the module does not serve is not read (another module owns it, and may use
    /// the same key names differently), except `tracing`, which holds the collector settings that
    /// OTLP metrics and logs use too.
    pub(crate) fn from_source(
        source: &ModuleSource,
        signals: Signals,
    ) -> Result<Self, ConfigError> {
        let mut settings = OtelSettings::default();
        if signals.metrics {
            settings.metrics = source.extract("metrics")?;
        }
        if signals.logging {
            settings.logging = source.extract("logging")?;
        }
        let otlp_metrics = signals.metrics
            && matches!(
                settings.metrics.exporter,
                MetricsExporter::Otlp | MetricsExporter::Both
            );
        let otlp_logs = signals.logging && settings.logging.otlp;
        let read_tracing = signals.tracing || otlp_metrics || otlp_logs;
        if read_tracing {
            settings.tracing = source.extract("tracing")?;
        }
        settings.validate(source, read_tracing, signals.metrics)?;
        Ok(settings)
    }

    /// Checks the values that their types alone do not constrain: a zero duration,
    /// `tracing.batch.max_batch_size` of 0 or above `max_queue_size`, `metrics.path` not starting
    /// with `/`, `metrics.cardinality_limit` of 0, `metrics.bind_address` not an address or host
    /// name, ...
    fn validate(
        &self,
        source: &ModuleSource,
        tracing: bool,
        metrics: bool,
    ) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, found: String, expected: String| Err(source.invalid(key, found, expected));
        let non_zero = |key: &str, value: Duration| {
            if value.is_zero() {
                return invalid(
                    key,
                    format!("{:?}", duration::format(value)),
                    "a duration greater than zero, such as \"5s\" or \"250ms\"".to_owned(),
                );
            }
            Ok(())
        };
        if tracing {
            self.validate_tracing(&invalid, &non_zero)?;
        }
        if self.logging.otlp {
            validate_batch("logging.batch", &self.logging.batch, &invalid, &non_zero)?;
        }
        if metrics {
            self.validate_metrics(&invalid, &non_zero)?;
        }
        Ok(())
    }

    fn validate_tracing(
        &self,
        invalid: &dyn Fn(&str, String, String) -> Result<(), ConfigError>,
        non_zero: &dyn Fn(&str, Duration) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let tracing = &self.tracing;
        non_zero("tracing.timeout", tracing.timeout)?;
        for (name, own) in [
            ("traces", &tracing.traces),
            ("metrics", &tracing.metrics),
            ("logs", &tracing.logs),
        ] {
            if let Some(timeout) = own.timeout {
                non_zero(&format!("tracing.{name}.timeout"), timeout)?;
            }
        }
        validate_batch("tracing.batch", &tracing.batch, invalid, non_zero)?;
        sampling::validate(
            &tracing.tail_sampling,
            &tracing.promotion,
            invalid,
            non_zero,
        )
    }

    fn validate_metrics(
        &self,
        invalid: &dyn Fn(&str, String, String) -> Result<(), ConfigError>,
        non_zero: &dyn Fn(&str, Duration) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let metrics = &self.metrics;
        if !is_host(&metrics.bind_address) {
            return invalid(
                "metrics.bind_address",
                format!("{:?}", metrics.bind_address),
                "an IP address or host name, such as \"0.0.0.0\" or \"127.0.0.1\"".to_owned(),
            );
        }
        // `{`, `}`, `:` and `*` would be route captures or wildcards to an HTTP router.
        if !metrics.path.starts_with('/') || metrics.path.contains(['{', '}', ':', '*']) {
            return invalid(
                "metrics.path",
                format!("{:?}", metrics.path),
                "a path starting with '/' and without '{', '}', ':' or '*', such as \"/metrics\""
                    .to_owned(),
            );
        }
        non_zero("metrics.interval", metrics.interval)?;
        non_zero("metrics.export_timeout", metrics.export_timeout)?;
        if metrics.cardinality_limit == 0 {
            return invalid(
                "metrics.cardinality_limit",
                "0".to_owned(),
                "an integer of at least 1".to_owned(),
            );
        }
        if metrics.max_label_value_length == 0 {
            return invalid(
                "metrics.max_label_value_length",
                "0".to_owned(),
                "an integer of at least 1".to_owned(),
            );
        }
        if let Some(bounds) = &metrics.histogram_boundaries {
            let ascending = bounds.windows(2).all(|w| w[0] < w[1]);
            if bounds.is_empty() || !ascending || bounds.iter().any(|b| !b.is_finite()) {
                return invalid(
                    "metrics.histogram_boundaries",
                    format!("{bounds:?}"),
                    "a non-empty list of finite numbers in ascending order".to_owned(),
                );
            }
        }
        Ok(())
    }
}

/// The OpenTelemetry variables the module reads; of two that set one key, the later wins.
const ENV: &[EnvVar] = &[
    EnvVar::new("OTEL_TRACES_EXPORTER", "tracing.exporter").lowercase(),
    EnvVar::new("OTEL_EXPORTER_OTLP_ENDPOINT", "tracing.endpoint"),
    // Per-signal endpoints are full URLs, used as given (the specification: "the URL MUST be
    // used as-is without any modification").
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "tracing.traces_endpoint",
    ),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "tracing.metrics_endpoint",
    ),
    EnvVar::new("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "tracing.logs_endpoint"),
    EnvVar::new("OTEL_LOGS_EXPORTER", "logging.otlp").map_checked(logs_exporter),
    // The general collector settings, for every signal...
    EnvVar::new("OTEL_EXPORTER_OTLP_PROTOCOL", "tracing.protocol").lowercase(),
    EnvVar::new("OTEL_EXPORTER_OTLP_HEADERS", "tracing.headers").key_value_list_strict(),
    EnvVar::new("OTEL_EXPORTER_OTLP_TIMEOUT", "tracing.timeout"),
    EnvVar::new("OTEL_EXPORTER_OTLP_COMPRESSION", "tracing.compression").lowercase(),
    EnvVar::new("OTEL_EXPORTER_OTLP_CERTIFICATE", "tracing.certificate"),
    // ... and each signal's own, which win for that signal only.
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "tracing.traces.protocol",
    )
    .lowercase(),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "tracing.metrics.protocol",
    )
    .lowercase(),
    EnvVar::new("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "tracing.logs.protocol").lowercase(),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "tracing.traces.headers",
    )
    .key_value_list_strict(),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "tracing.metrics.headers",
    )
    .key_value_list_strict(),
    EnvVar::new("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "tracing.logs.headers").key_value_list_strict(),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "tracing.traces.timeout",
    ),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "tracing.metrics.timeout",
    ),
    EnvVar::new("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "tracing.logs.timeout"),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "tracing.traces.compression",
    )
    .lowercase(),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
        "tracing.metrics.compression",
    )
    .lowercase(),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
        "tracing.logs.compression",
    )
    .lowercase(),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "tracing.traces.certificate",
    ),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "tracing.metrics.certificate",
    ),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
        "tracing.logs.certificate",
    ),
    EnvVar::new("OTEL_BSP_SCHEDULE_DELAY", "tracing.batch.scheduled_delay"),
    EnvVar::new("OTEL_BSP_EXPORT_TIMEOUT", "tracing.batch.export_timeout"),
    EnvVar::new("OTEL_BSP_MAX_QUEUE_SIZE", "tracing.batch.max_queue_size"),
    EnvVar::new(
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "tracing.batch.max_batch_size",
    ),
    EnvVar::new("OTEL_METRICS_EXPORTER", "metrics.exporter").map(metrics_exporter),
    EnvVar::new("OTEL_METRIC_EXPORT_INTERVAL", "metrics.interval"),
    EnvVar::new("OTEL_METRIC_EXPORT_TIMEOUT", "metrics.export_timeout"),
    EnvVar::new(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        "metrics.temporality",
    )
    .lowercase(),
    EnvVar::new("OTEL_BLRP_SCHEDULE_DELAY", "logging.batch.scheduled_delay"),
    EnvVar::new("OTEL_BLRP_EXPORT_TIMEOUT", "logging.batch.export_timeout"),
    EnvVar::new("OTEL_BLRP_MAX_QUEUE_SIZE", "logging.batch.max_queue_size"),
    EnvVar::new(
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
        "logging.batch.max_batch_size",
    ),
    EnvVar::new("OTEL_EXPORTER_PROMETHEUS_HOST", "metrics.bind_address"),
    EnvVar::new("OTEL_EXPORTER_PROMETHEUS_PORT", "metrics.port"),
];

/// `OTEL_LOGS_EXPORTER`: `otlp` sends log records over OTLP (`logging.otlp`), `none` and
/// `console` do not (the lines on stdout are the adapter's console output either way); another
/// value is reported and ignored.
fn logs_exporter(value: &str) -> Result<Option<String>, String> {
    let names: Vec<String> = value
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    if names.iter().any(|n| n == "otlp") {
        Ok(Some("true".to_owned()))
    } else if names.iter().all(|n| n == "none" || n == "console") {
        Ok(Some("false".to_owned()))
    } else {
        Err("names no known exporter (otlp, console, none); ignored".to_owned())
    }
}

/// `OTEL_METRICS_EXPORTER` is a comma-separated list: `prometheus,otlp` (either order) is
/// `both`; a single name is itself.
fn metrics_exporter(value: &str) -> Option<String> {
    let names: Vec<String> = value
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    let has = |wanted: &str| names.iter().any(|name| name == wanted);
    if names.len() == 2 && has("prometheus") && has("otlp") {
        Some("both".to_owned())
    } else {
        Some(value.to_ascii_lowercase())
    }
}

/// What a key allows, where the type's own wording is not the clearest.
const HINTS: &[(&str, &str)] = &[
    ("tracing.batch", "a mapping of `tracing.batch` settings"),
    ("tracing.headers", "a mapping of names to string values"),
    (
        "metrics.port",
        "an integer port number in 0..=65535 (0 picks a free port)",
    ),
    ("metrics.collect_runtime", "true or false"),
    ("metrics.exemplars", "true or false"),
    ("logging.otlp", "true or false"),
];

/// The module's keys in the `tracing` section: where spans go and how they are batched.
///
/// Its `Debug` output hides the values of [`headers`](Self::headers), which often carry
/// credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TracingSettings {
    /// Where spans go. Default: [`Exporter::Otlp`], as in the OpenTelemetry SDKs.
    pub exporter: Exporter,
    /// The collector endpoint, e.g. `"http://localhost:4317"`. For OTLP/HTTP it is a base URL,
    /// as `OTEL_EXPORTER_OTLP_ENDPOINT` is: `/v1/traces` (and `/v1/metrics`) is appended unless
    /// the path already ends with it. Default: none, the exporter's own default.
    pub endpoint: Option<String>,
    /// The full URL spans go to, used as given (no `/v1/traces` appended), as
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is; wins over `endpoint` for spans only. Default:
    /// none.
    pub traces_endpoint: Option<String>,
    /// The full URL metrics go to over OTLP, used as given (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`);
    /// without it, `endpoint` with `/v1/metrics`. Default: none.
    pub metrics_endpoint: Option<String>,
    /// The full URL log records go to over OTLP, used as given
    /// (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`); without it, `endpoint` with `/v1/logs`. Default:
    /// none.
    pub logs_endpoint: Option<String>,
    /// A PEM file with the CA certificate(s) that sign the collector's TLS certificate, trusted
    /// in addition to the system's roots for `https` endpoints. Default: none.
    pub certificate: Option<PathBuf>,
    /// The OTLP transport. Default: [`Protocol::Grpc`].
    pub protocol: Protocol,
    /// Extra headers (or gRPC metadata) sent with every export, e.g. an API key. Default: none.
    pub headers: BTreeMap<String, String>,
    /// How long one export request may take. Default: 10 s.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Compression of export requests. Default: [`Compression::None`].
    pub compression: Compression,
    /// The batch span processor.
    pub batch: BatchSettings,
    /// The collector settings of spans alone (`OTEL_EXPORTER_OTLP_TRACES_*`), over the ones
    /// above.
    pub traces: SignalSettings,
    /// The collector settings of metrics alone (`OTEL_EXPORTER_OTLP_METRICS_*`), over the ones
    /// above.
    pub metrics: SignalSettings,
    /// The collector settings of log records alone (`OTEL_EXPORTER_OTLP_LOGS_*`), over the ones
    /// above.
    pub logs: SignalSettings,
    /// Tail sampling: whole traces kept or dropped by what happened in them. Off by default.
    pub tail_sampling: TailSamplingSettings,
    /// Span promotion: fast intercepted calls become events on their parent, slow or failed
    /// ones spans. Off by default.
    pub promotion: PromotionSettings,
}

/// A signal whose telemetry goes to the collector over OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpSignal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
    /// Log records.
    Logs,
}

impl TracingSettings {
    /// The collector settings `signal` is exported with: the general ones (`tracing.protocol`,
    /// `.headers`, `.timeout`, `.compression`, `.certificate`), each replaced by the signal's
    /// own when it has one (`tracing.traces`, `.metrics`, `.logs`); the signal's headers are
    /// added to the general ones (a name in both takes the signal's value).
    ///
    /// ```
    /// use hyperion::Config;
    /// use hyperion_otel::config::{OtelSettings, OtlpSignal, Protocol};
    ///
    /// let config = Config::from_yaml_str(
    ///     "tracing:\n  protocol: grpc\n  metrics: {protocol: http/protobuf}\n",
    /// )?;
    /// let tracing = OtelSettings::from_config(&config)?.tracing;
    /// assert_eq!(tracing.for_signal(OtlpSignal::Traces).protocol, Protocol::Grpc);
    /// assert_eq!(tracing.for_signal(OtlpSignal::Metrics).protocol, Protocol::HttpProtobuf);
    /// # Ok::<(), hyperion::ConfigError>(())
    /// ```
    pub fn for_signal(&self, signal: OtlpSignal) -> TracingSettings {
        let own = match signal {
            OtlpSignal::Traces => &self.traces,
            OtlpSignal::Metrics => &self.metrics,
            OtlpSignal::Logs => &self.logs,
        };
        let mut settings = self.clone();
        if let Some(protocol) = own.protocol {
            settings.protocol = protocol;
        }
        settings
            .headers
            .extend(own.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(timeout) = own.timeout {
            settings.timeout = timeout;
        }
        if let Some(compression) = own.compression {
            settings.compression = compression;
        }
        if let Some(certificate) = &own.certificate {
            settings.certificate = Some(certificate.clone());
        }
        settings
    }
}

/// One signal's own collector settings (`tracing.traces`, `tracing.metrics`, `tracing.logs`):
/// each one set replaces the general setting of the `tracing` section for that signal.
///
/// Its `Debug` output hides the values of [`headers`](Self::headers).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalSettings {
    /// The OTLP transport (`OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL`).
    pub protocol: Option<Protocol>,
    /// Headers added to `tracing.headers` (`OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS`).
    pub headers: BTreeMap<String, String>,
    /// How long one export request may take (`OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT`).
    #[serde(with = "optional_duration")]
    pub timeout: Option<Duration>,
    /// Compression of export requests (`OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION`).
    pub compression: Option<Compression>,
    /// The CA certificate(s) of the collector (`OTEL_EXPORTER_OTLP_{SIGNAL}_CERTIFICATE`).
    pub certificate: Option<PathBuf>,
}

impl fmt::Debug for SignalSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        f.debug_struct("SignalSettings")
            .field("protocol", &self.protocol)
            .field("headers (values redacted)", &headers)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("certificate", &self.certificate)
            .finish()
    }
}

/// An optional duration, in the forms [`duration`] reads.
pub(super) mod optional_duration {
    use std::time::Duration;

    use hyperion::config::duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(in crate::config) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => duration::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(in crate::config) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Given(#[serde(with = "duration")] Duration);
        Ok(Option::<Given>::deserialize(deserializer)?.map(|given| given.0))
    }
}

impl Default for TracingSettings {
    fn default() -> Self {
        Self {
            exporter: Exporter::Otlp,
            endpoint: None,
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            certificate: None,
            protocol: Protocol::Grpc,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            compression: Compression::None,
            batch: BatchSettings::default(),
            traces: SignalSettings::default(),
            metrics: SignalSettings::default(),
            logs: SignalSettings::default(),
            tail_sampling: TailSamplingSettings::default(),
            promotion: PromotionSettings::default(),
        }
    }
}

impl fmt::Debug for TracingSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("TracingSettings")
            .field("exporter", &self.exporter)
            .field("endpoint", &self.endpoint)
            .field("traces_endpoint", &self.traces_endpoint)
            .field("metrics_endpoint", &self.metrics_endpoint)
            .field("logs_endpoint", &self.logs_endpoint)
            .field("certificate", &self.certificate)
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("batch", &self.batch)
            .field("traces", &self.traces)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .field("tail_sampling", &self.tail_sampling)
            .field("promotion", &self.promotion)
            .finish()
    }
}

/// The `tracing.batch` section: the batch span processor's queue and schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchSettings {
    /// The most spans sent in one export; from 1 to `max_queue_size`. Default: 512.
    pub max_batch_size: usize,
    /// How long to wait between two exports; more than zero. Default: 5 s.
    #[serde(with = "duration")]
    pub scheduled_delay: Duration,
    /// The most spans waiting to be exported; more are dropped. At least 1. Default: 2048.
    pub max_queue_size: usize,
    /// How long one export may take; more than zero. Default: 30 s.
    #[serde(with = "duration")]
    pub export_timeout: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_batch_size: 512,
            scheduled_delay: Duration::from_secs(5),
            max_queue_size: 2048,
            export_timeout: Duration::from_secs(30),
        }
    }
}

impl BatchSettings {
    /// The batch log record processor's defaults (`logging.batch`): the same as spans' but a
    /// scheduled delay of 1 s, as `OTEL_BLRP_SCHEDULE_DELAY`'s default is.
    pub fn logs() -> Self {
        Self {
            scheduled_delay: Duration::from_secs(1),
            ..Self::default()
        }
    }
}

/// The module's keys in the `metrics` section: the Prometheus endpoint and OTLP export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// Where metrics go. Default: [`MetricsExporter::Prometheus`].
    pub exporter: MetricsExporter,
    /// The port of the Prometheus endpoint; 0 picks a free port. Default: 9464, the
    /// OpenTelemetry default for `OTEL_EXPORTER_PROMETHEUS_PORT` (9090 is Prometheus's own).
    pub port: u16,
    /// The address the Prometheus endpoint listens on (an IP address or host name).
    /// Default: `"localhost"`, the OpenTelemetry default for `OTEL_EXPORTER_PROMETHEUS_HOST`:
    /// a scraper on another host needs it set (`"0.0.0.0"` for every interface).
    pub bind_address: String,
    /// Whether the adapter serves the endpoint on a listener of its own. Default: `true`.
    /// `false` for an application that mounts
    /// [`PrometheusEndpoint::router`](crate::PrometheusEndpoint::router) in its own server:
    /// then no port is taken and `port` and `bind_address` are not used.
    pub listen: bool,
    /// The HTTP path of the Prometheus endpoint; starts with `/`. Default: `"/metrics"`.
    pub path: String,
    /// A prefix for every metric name (Prometheus namespace). Default: none.
    pub namespace: Option<String>,
    /// A second prefix, after the namespace (Prometheus subsystem). Default: none.
    pub subsystem: Option<String>,
    /// Whether to collect process and runtime metrics. Default: `false`.
    pub collect_runtime: bool,
    /// How often metrics are pushed over OTLP; more than zero. Default: 60 s.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// How long one push of metrics over OTLP may take (`OTEL_METRIC_EXPORT_TIMEOUT`; the
    /// export request's timeout is the smaller of this and the collector's); more than zero.
    /// Default: 30 s.
    #[serde(with = "duration")]
    pub export_timeout: Duration,
    /// The temporality of OTLP counters and histograms. Default: [`Temporality::Cumulative`].
    pub temporality: Temporality,
    /// Whether histograms and counters carry trace exemplars (in Prometheus and OTLP).
    /// Default: `true`.
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

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            exporter: MetricsExporter::Prometheus,
            port: 9464,
            bind_address: "localhost".to_owned(),
            listen: true,
            path: "/metrics".to_owned(),
            namespace: None,
            subsystem: None,
            collect_runtime: false,
            interval: Duration::from_secs(60),
            export_timeout: Duration::from_secs(30),
            temporality: Temporality::Cumulative,
            exemplars: true,
            cardinality_limit: 2000,
            max_label_value_length: 256,
            histogram_boundaries: None,
        }
    }
}

/// The module's keys in the `logging` section: how and where lines are written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingSettings {
    /// How a line is written. Default: [`LogFormat::Json`].
    pub format: LogFormat,
    /// Where lines are written. Default: [`LogOutput::Stdout`].
    pub output: LogOutput,
    /// Whether log records are also exported over OTLP. Default: `false`.
    pub otlp: bool,
    /// The batch log record processor of OTLP export (`OTEL_BLRP_*`). Default:
    /// [`BatchSettings::logs`].
    pub batch: BatchSettings,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            output: LogOutput::default(),
            otlp: false,
            batch: BatchSettings::logs(),
        }
    }
}

/// Checks a batch processor's settings (`tracing.batch`, `logging.batch`): both sizes at least
/// 1, the batch no larger than the queue, both durations more than zero.
fn validate_batch(
    key: &str,
    batch: &BatchSettings,
    invalid: &dyn Fn(&str, String, String) -> Result<(), ConfigError>,
    non_zero: &dyn Fn(&str, Duration) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    if batch.max_queue_size == 0 {
        return invalid(
            &format!("{key}.max_queue_size"),
            "0".to_owned(),
            "an integer of at least 1".to_owned(),
        );
    }
    if batch.max_batch_size == 0 || batch.max_batch_size > batch.max_queue_size {
        return invalid(
            &format!("{key}.max_batch_size"),
            batch.max_batch_size.to_string(),
            format!(
                "an integer from 1 to {key}.max_queue_size ({})",
                batch.max_queue_size
            ),
        );
    }
    non_zero(&format!("{key}.scheduled_delay"), batch.scheduled_delay)?;
    non_zero(&format!("{key}.export_timeout"), batch.export_timeout)
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
mod tests;
