//! Unknown configuration keys, found when the telemetry is built (the core only knows its own
//! keys; each registered module claims the rest), and a third-party module that adds keys and a
//! variable of its own through the public API alone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperion::config::{ConfigLoader, EnvVar, Settings};
use hyperion::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance, Signals};
use hyperion::testing::MemoryModule;
use hyperion::{BuildError, Config, ConfigError, Telemetry, TelemetryBuilder};

/// Registers a module with a builder.
type Add = Box<dyn FnOnce(TelemetryBuilder) -> TelemetryBuilder>;

fn config(yaml: &str, env: &[(&str, &str)]) -> Config {
    ConfigLoader::new()
        .yaml(yaml)
        .env(env.iter().copied())
        .load()
        .unwrap_or_else(|e| panic!("should load (unknown keys are found at build): {e}"))
}

/// Builds with `modules` (in order) and `config`, expecting a configuration error whose message
/// names every part.
async fn build_fails(modules: Vec<Add>, config: Config, parts: &[&str]) -> ConfigError {
    let mut builder = Telemetry::builder();
    for add in modules {
        builder = add(builder);
    }
    let error = match builder.config(config).build().await {
        Ok(telemetry) => panic!("should fail, built {telemetry:?}"),
        Err(error) => error,
    };
    let message = error.to_string();
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should contain {part:?}"
        );
    }
    match error {
        BuildError::Config(error) => error,
        other => panic!("a configuration error: {other:?}"),
    }
}

/// Registers the memory module, which claims no keys.
fn memory() -> Add {
    Box::new(|b| b.module(MemoryModule::new()))
}

/// Registers `module`.
fn with(module: impl Module) -> Add {
    Box::new(move |b| b.module(module))
}

/// Builds with `modules` (in order) and `config`, expecting success.
async fn builds(modules: Vec<Add>, config: Config) -> Telemetry {
    let mut builder = Telemetry::builder();
    for add in modules {
        builder = add(builder);
    }
    builder
        .config(config)
        .build()
        .await
        .unwrap_or_else(|e| panic!("should build: {e}"))
}

// --- unknown keys -----------------------------------------------------------------------

#[tokio::test]
async fn unknown_key_is_an_error_naming_it() {
    let error = build_fails(
        vec![],
        config("tracing:\n  sample_rat: 0.5\n", &[]),
        &[
            "unknown key `tracing.sample_rat`",
            "sample_rate",
            "expected one of: enabled",
        ],
    )
    .await;
    assert!(matches!(error, ConfigError::UnknownKey { .. }), "{error:?}");
    assert_eq!(error.key(), Some("tracing.sample_rat"));
    assert_eq!(error.found(), Some("sample_rat"));
    assert_eq!(error.origin(), Some("YAML text"));
    build_fails(
        vec![],
        config("tracng:\n  enabled: true\n", &[]),
        &["unknown key `tracng`", "tracing"],
    )
    .await;
    // `tracing.batch.size`, a key inside a module's own mapping, is the `otel` module's to deny
    // (hyperion-otel's config tests).
}

#[tokio::test]
async fn a_misspelt_key_is_named_with_a_suggestion() {
    let error = build_fails(
        vec![memory()],
        config("tracing:\n  sampel_rate: 0.5\n", &[]),
        &[
            "unknown key `tracing.sampel_rate` (from YAML text); did you mean `sample_rate`?: \
             expected one of: enabled, adapter, service_name, sample_rate, sampler, attributes",
        ],
    )
    .await;
    let ConfigError::UnknownKey {
        key,
        expected,
        suggestion,
        origin,
    } = error
    else {
        panic!("an unknown key: {error:?}");
    };
    assert_eq!(key, "tracing.sampel_rate");
    assert_eq!(suggestion.as_deref(), Some("sample_rate"));
    assert_eq!(origin.as_deref(), Some("YAML text"));
    assert!(expected.starts_with("enabled, adapter"), "{expected}");
    // No suggestion when nothing is spelled close.
    let error = build_fails(
        vec![memory()],
        config("logging:\n  colour: true\n", &[]),
        &["unknown key `logging.colour`"],
    )
    .await;
    assert!(!error.to_string().contains("did you mean"), "{error}");
}

#[tokio::test]
async fn unknown_hyperion_variable_is_an_error_naming_it() {
    let error = build_fails(
        vec![],
        config("", &[("HYPERION_TRACING__SAMPLE_RAT", "0.5")]),
        &[
            "unknown key `tracing.sample_rat`",
            "environment variable `HYPERION_TRACING__SAMPLE_RAT`",
            "sample_rate",
        ],
    )
    .await;
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_TRACING__SAMPLE_RAT`")
    );
}

#[tokio::test]
async fn an_unknown_key_from_a_hyperion_variable_names_the_variable() {
    let error = build_fails(
        vec![memory()],
        config("", &[("HYPERION_METRICS__PORT", "9100")]),
        &[
            "unknown key `metrics.port`",
            "(from environment variable `HYPERION_METRICS__PORT`)",
            "expected one of: enabled, adapter",
        ],
    )
    .await;
    assert_eq!(error.key(), Some("metrics.port"));
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_METRICS__PORT`")
    );
    let error = build_fails(
        vec![memory()],
        config("", &[("HYPERION_STATSD__HOST", "x")]),
        &["unknown key `statsd`"],
    )
    .await;
    // The origin is the variable as set, not a prefix of it.
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_STATSD__HOST`")
    );
}

#[tokio::test]
async fn an_unknown_top_level_key_is_an_error() {
    let error = build_fails(
        vec![memory()],
        config("exporter: otlp\n", &[]),
        &[
            "unknown key `exporter` (from YAML text)",
            "expected one of: adapter, service, tracing, metrics, logging, propagation",
        ],
    )
    .await;
    assert_eq!(error.key(), Some("exporter"));
    let error = build_fails(
        vec![memory()],
        config("adaptr: memory\n", &[]),
        &["unknown key `adaptr`", "did you mean `adapter`?"],
    )
    .await;
    assert!(matches!(error, ConfigError::UnknownKey { .. }), "{error:?}");
}

#[tokio::test]
async fn a_key_no_registered_module_claims_is_an_error_while_noop_serves() {
    // Nothing registered: the noop module serves every signal and claims nothing.
    let error = build_fails(
        vec![],
        config("metrics:\n  port: 9090\n", &[]),
        &[
            "unknown key `metrics.port`",
            "expected one of: enabled, adapter",
        ],
    )
    .await;
    assert_eq!(error.key(), Some("metrics.port"));
    // The same with a module registered, and noop chosen for the signal.
    build_fails(
        vec![memory()],
        config("metrics:\n  adapter: noop\n  port: 9090\n", &[]),
        &["unknown key `metrics.port`"],
    )
    .await;
    // The core's own keys are fine with noop.
    builds(
        vec![],
        config(
            "adapter: noop\ntracing:\n  sample_rate: 0.5\nlogging:\n  level: warn\n",
            &[],
        ),
    )
    .await;
}

#[tokio::test]
async fn with_only_the_memory_module_an_otel_key_is_unknown() {
    let error = build_fails(
        vec![memory()],
        config("tracing:\n  exporter: otlp\n", &[]),
        &[
            "unknown key `tracing.exporter`",
            "expected one of: enabled, adapter, service_name, sample_rate, sampler, attributes",
        ],
    )
    .await;
    assert_eq!(error.key(), Some("tracing.exporter"));
    // A disabled signal's keys are checked too.
    build_fails(
        vec![memory()],
        config("tracing:\n  enabled: false\n  exporter: otlp\n", &[]),
        &["unknown key `tracing.exporter`"],
    )
    .await;
    // And the same document builds once its keys are gone.
    builds(vec![memory()], config("tracing:\n  enabled: false\n", &[])).await;
}

// --- a third-party module ---------------------------------------------------------------

/// A StatsD module's keys in the `metrics` section, beside the core's.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(default)]
struct StatsdMetrics {
    /// `host:port` of the StatsD daemon.
    host: String,
    /// How often metrics are sent.
    #[serde(with = "hyperion::config::duration")]
    flush_interval: Duration,
}

impl Default for StatsdMetrics {
    fn default() -> Self {
        Self {
            host: "localhost:8125".to_owned(),
            flush_interval: Duration::from_secs(10),
        }
    }
}

const HOST_EXPECTED: &str = "a host and port, such as \"localhost:8125\"";

/// What a build saw: the settings and the signals it was asked for.
type Seen = Arc<Mutex<Option<(StatsdMetrics, Signals)>>>;

/// The third-party module: claims `metrics.host` and `metrics.flush_interval`, reads
/// `STATSD_HOST`, and checks the host itself.
#[derive(Clone, Default)]
struct Statsd {
    seen: Seen,
}

struct StatsdInstance;

impl ModuleInstance for StatsdInstance {}

impl Module for Statsd {
    fn name(&self) -> &str {
        "statsd"
    }

    fn settings(&self) -> Settings {
        Settings::new()
            .section::<StatsdMetrics>("metrics")
            .env(EnvVar::new("STATSD_HOST", "metrics.host"))
            .expected("metrics.host", HOST_EXPECTED)
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        Box::pin(async move {
            let settings: StatsdMetrics = request.settings("metrics")?;
            let valid = settings.host.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && !host.contains(char::is_whitespace)
                    && port.parse::<u16>().is_ok()
            });
            if !valid {
                return Err(request.invalid(
                    "metrics.host",
                    format!("{:?}", settings.host),
                    HOST_EXPECTED,
                ));
            }
            *self.seen.lock().unwrap() = Some((settings, request.signals));
            Ok(Box::new(StatsdInstance) as Box<dyn ModuleInstance>)
        })
    }
}

const STATSD_YAML: &str = "\
metrics:
  adapter: statsd
  host: statsd.local:8125
  flush_interval: 2s
";

/// Builds the memory module (the default) and `statsd` (serving metrics), and returns what
/// `statsd` read.
async fn statsd_reads(yaml: &str, env: &[(&str, &str)]) -> StatsdMetrics {
    let statsd = Statsd::default();
    let seen = statsd.seen.clone();
    let _telemetry = builds(vec![memory(), with(statsd)], config(yaml, env)).await;
    let (settings, signals) = seen.lock().unwrap().take().expect("statsd was built");
    assert_eq!(
        signals,
        Signals {
            tracing: false,
            metrics: true,
            logging: false
        }
    );
    settings
}

async fn statsd_fails(yaml: &str, env: &[(&str, &str)], parts: &[&str]) -> ConfigError {
    let statsd = Statsd::default();
    let seen = statsd.seen.clone();
    let error = build_fails(vec![memory(), with(statsd)], config(yaml, env), parts).await;
    assert!(
        seen.lock().unwrap().is_none(),
        "statsd must not have been built"
    );
    error
}

#[tokio::test]
async fn a_third_party_module_reads_its_keys_from_yaml() {
    let settings = statsd_reads(STATSD_YAML, &[]).await;
    assert_eq!(
        settings,
        StatsdMetrics {
            host: "statsd.local:8125".to_owned(),
            flush_interval: Duration::from_secs(2),
        }
    );
    // Absent keys keep the module's defaults.
    let settings = statsd_reads("metrics:\n  adapter: statsd\n", &[]).await;
    assert_eq!(settings, StatsdMetrics::default());
    let settings = statsd_reads("metrics:\n  adapter: statsd\n  flush_interval: 1500\n", &[]).await;
    assert_eq!(settings.flush_interval, Duration::from_millis(1500));
}

#[tokio::test]
async fn hyperion_variables_override_a_third_party_modules_yaml() {
    let settings = statsd_reads(
        STATSD_YAML,
        &[
            ("HYPERION_METRICS__HOST", "from-hyperion:1"),
            ("HYPERION_METRICS__FLUSH_INTERVAL", "250ms"),
        ],
    )
    .await;
    assert_eq!(settings.host, "from-hyperion:1");
    assert_eq!(settings.flush_interval, Duration::from_millis(250));
}

#[tokio::test]
async fn a_third_party_modules_own_variable_overrides_hyperion_variables() {
    let settings = statsd_reads(
        STATSD_YAML,
        &[
            ("HYPERION_METRICS__HOST", "from-hyperion:1"),
            ("STATSD_HOST", "from-statsd:2"),
        ],
    )
    .await;
    assert_eq!(settings.host, "from-statsd:2");
    assert_eq!(
        settings.flush_interval,
        Duration::from_secs(2),
        "YAML stays"
    );
    // An empty value counts as unset.
    let settings = statsd_reads(STATSD_YAML, &[("STATSD_HOST", " ")]).await;
    assert_eq!(settings.host, "statsd.local:8125");
}

#[tokio::test]
async fn a_bad_value_of_a_third_party_module_names_key_value_expectation_and_origin() {
    let error = statsd_fails(
        "metrics:\n  adapter: statsd\n  flush_interval: soon\n",
        &[],
        &[
            "invalid value for `metrics.flush_interval`: found \"soon\", expected a non-negative \
             duration",
            "(from YAML text)",
        ],
    )
    .await;
    let ConfigError::Invalid {
        key,
        found,
        expected,
        origin,
    } = error
    else {
        panic!("an invalid value: {error:?}");
    };
    assert_eq!(key, "metrics.flush_interval");
    assert_eq!(found, "\"soon\"");
    assert_eq!(expected, hyperion::config::duration::EXPECTED);
    assert_eq!(origin.as_deref(), Some("YAML text"));

    let error = statsd_fails(
        STATSD_YAML,
        &[("HYPERION_METRICS__FLUSH_INTERVAL", "-1s")],
        &["`metrics.flush_interval`", "found \"-1s\""],
    )
    .await;
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_METRICS__FLUSH_INTERVAL`")
    );
    // The module's own wording of what a key allows.
    let error = statsd_fails(
        "metrics:\n  adapter: statsd\n  host: [a, b]\n",
        &[],
        &["`metrics.host`", "found a list", HOST_EXPECTED],
    )
    .await;
    assert_eq!(error.expected(), Some(HOST_EXPECTED));
}

#[tokio::test]
async fn a_value_a_third_party_module_rejects_names_its_origin() {
    let error = statsd_fails(
        STATSD_YAML,
        &[("STATSD_HOST", "no port")],
        &[
            "invalid value for `metrics.host`: found \"no port\", expected a host and port",
            "(from environment variable `STATSD_HOST`)",
        ],
    )
    .await;
    assert!(matches!(error, ConfigError::Invalid { .. }), "{error:?}");
    assert_eq!(error.key(), Some("metrics.host"));
    assert_eq!(error.found(), Some("\"no port\""));
    assert_eq!(error.origin(), Some("environment variable `STATSD_HOST`"));
    let error = statsd_fails(
        "metrics:\n  adapter: statsd\n  host: nowhere\n",
        &[],
        &["`metrics.host`", "\"nowhere\""],
    )
    .await;
    assert_eq!(error.origin(), Some("YAML text"));
    let error = statsd_fails(
        STATSD_YAML,
        &[("HYPERION_METRICS__HOST", "nowhere")],
        &["`metrics.host`"],
    )
    .await;
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_METRICS__HOST`")
    );
}

#[tokio::test]
async fn a_misspelt_key_of_a_third_party_module_suggests_its_key() {
    let error = statsd_fails(
        "metrics:\n  adapter: statsd\n  hots: statsd.local:8125\n",
        &[],
        &[
            "unknown key `metrics.hots` (from YAML text); did you mean `host`?: \
             expected one of: enabled, adapter, host, flush_interval",
        ],
    )
    .await;
    let ConfigError::UnknownKey { suggestion, .. } = &error else {
        panic!("an unknown key: {error:?}");
    };
    assert_eq!(suggestion.as_deref(), Some("host"));
    let error = statsd_fails(
        "",
        &[
            ("HYPERION_METRICS__ADAPTER", "statsd"),
            ("HYPERION_METRICS__FLUSH_INTERVL", "1s"),
        ],
        &["did you mean `flush_interval`?"],
    )
    .await;
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_METRICS__FLUSH_INTERVL`")
    );
}

#[tokio::test]
async fn a_registered_modules_keys_are_accepted_where_another_module_serves() {
    // Swapping adapters stays a one-line change: statsd's keys stay valid while memory (or
    // noop) serves metrics, and statsd is not built.
    for adapter in ["memory", "noop"] {
        let statsd = Statsd::default();
        let seen = statsd.seen.clone();
        let yaml = format!("metrics:\n  adapter: {adapter}\n  host: statsd.local:8125\n");
        builds(vec![memory(), with(statsd)], config(&yaml, &[])).await;
        assert!(seen.lock().unwrap().is_none(), "{adapter}");
    }
    // Without statsd registered, they are unknown.
    build_fails(
        vec![memory()],
        config("metrics:\n  host: statsd.local:8125\n", &[]),
        &["unknown key `metrics.host`"],
    )
    .await;
}

#[test]
fn a_third_party_modules_settings_can_be_read_without_building() {
    let statsd = Statsd::default();
    let config = config(STATSD_YAML, &[("STATSD_HOST", "env:1")]);
    let settings: StatsdMetrics = config
        .module_source("statsd", &statsd.settings())
        .extract("metrics")
        .unwrap();
    assert_eq!(settings.host, "env:1");
    assert_eq!(settings.flush_interval, Duration::from_secs(2));
    assert_eq!(
        statsd.settings().claims("metrics"),
        ["host", "flush_interval"]
    );
}

#[tokio::test]
async fn values_read_with_a_fallback_are_logged_as_warnings_at_start() {
    let memory = hyperion::testing::MemoryModule::new();
    let store = memory.store();
    let config = hyperion::ConfigLoader::new()
        .env([
            ("OTEL_SDK_DISABLED", "nope"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken"),
        ])
        .load()
        .unwrap();
    assert_eq!(config.warnings().len(), 2, "{:?}", config.warnings());
    let telemetry = hyperion::Telemetry::builder()
        .module(memory)
        .config(config)
        .build()
        .await
        .unwrap();
    telemetry
        .flush(std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let logs = store.snapshot().logs;
    let warnings: Vec<&str> = logs
        .iter()
        .filter(|l| l.level == hyperion::Level::Warn && l.target == "hyperion::config")
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 2, "{logs:#?}");
    assert!(warnings[0].starts_with("OTEL_RESOURCE_ATTRIBUTES is malformed"));
    assert!(warnings[1].starts_with("OTEL_SDK_DISABLED=\"nope\" is neither true nor false"));
}
