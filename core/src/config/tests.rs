//! Tests of the core's configuration: its sections, its variables, the layering of sources and
//! the errors. The `otel` module's keys are tested with its settings (hyperion-otel's
//! `config/tests.rs`); unknown keys, which are found when the telemetry is built, in
//! `tests/config_keys.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::value::Value;

use super::duration::{format as format_duration, parse as parse_duration};
use super::env::parse_key_value_list;
use super::*;
use crate::propagation::PropagationLimits;

/// The README's example: the core reads `enabled`, `service_name`, `sample_rate` and
/// `attributes`; the other keys are the `otel` module's.
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
    assert_eq!(t.sample_rate, 1.0);
    assert_eq!(t.sampler, Sampler::ParentBasedTraceIdRatio);
    assert!(t.attributes.is_empty());
}

#[test]
fn metrics_defaults() {
    let m = ok("", &[]).metrics;
    assert!(m.enabled);
    assert_eq!(m.adapter, None);
}

#[test]
fn logging_defaults() {
    let l = ok("", &[]).logging;
    assert!(l.enabled);
    assert_eq!(l.adapter, None);
    assert_eq!(l.level, LogLevel::Info);
    assert_eq!(l.directives, None);
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
    assert_eq!(Sampler::default(), TracingConfig::default().sampler);
    assert_eq!(LogLevel::default(), LoggingConfig::default().level);
}

#[test]
fn propagation_limits_come_from_the_section() {
    let config = PropagationConfig {
        max_baggage_members: 1,
        max_baggage_bytes: 2,
        max_tracestate_members: 3,
        ..PropagationConfig::default()
    };
    assert_eq!(
        config.limits(),
        PropagationLimits {
            max_baggage_members: 1,
            max_baggage_bytes: 2,
            max_tracestate_members: 3
        }
    );
    assert_eq!(
        PropagationConfig::default().limits(),
        PropagationLimits::DEFAULT
    );
}

// --- the documents of the design --------------------------------------------------------

fn check_epic_tracing(t: &TracingConfig) {
    assert!(t.enabled);
    assert_eq!(t.service_name.as_deref(), Some("my-service"));
    assert_eq!(t.sample_rate, 1.0);
    let expected: BTreeMap<String, String> = [("environment", "production"), ("version", "v1.0.0")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(t.attributes, expected);
    // The keys the document does not name keep their defaults.
    assert_eq!(t.sampler, Sampler::ParentBasedTraceIdRatio);
    assert_eq!(t.adapter, None);
}

fn check_epic_metrics(m: &MetricsConfig) {
    assert!(m.enabled);
    assert_eq!(m.adapter, None);
}

#[test]
fn the_epic_example_loads_as_written() {
    let config = Config::from_yaml_str(EPIC).unwrap();
    check_epic_tracing(&config.tracing);
    check_epic_metrics(&config.metrics);
    assert_eq!(config.logging, LoggingConfig::default());
    assert_eq!(config.service, ServiceConfig::default());
    assert_eq!(config.propagation, PropagationConfig::default());
    assert_eq!(config.service_name(), Some("my-service"));
}

#[test]
fn the_readme_shows_the_original_example_verbatim() {
    // The other crates' tests read the example from the README; this keeps it the original one.
    let readme = include_str!("../../../README.md");
    assert!(
        readme.contains(&format!("```yaml\n{EPIC}```")),
        "README.md changed the example"
    );
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
    // The module keys (exporter, port...) are kept for the modules, not rejected at load.
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
logging: {enabled: false, adapter: log, level: warn, directives: "a=debug", format: pretty, output: stderr, otlp: true}
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
    assert_eq!(t.sample_rate, 0.1);
    assert_eq!(t.sampler, Sampler::TraceIdRatio);
    assert_eq!(t.attributes["region"], "eu");
    let m = &config.metrics;
    assert!(!m.enabled);
    assert_eq!(m.adapter.as_deref(), Some("prom"));
    let l = &config.logging;
    assert!(!l.enabled);
    assert_eq!(l.adapter.as_deref(), Some("log"));
    assert_eq!(l.level, LogLevel::Warn);
    assert_eq!(l.directives.as_deref(), Some("a=debug"));
    assert_eq!(
        config.propagation,
        PropagationConfig {
            max_baggage_members: 8,
            max_baggage_bytes: 100,
            max_tracestate_members: 4,
            ..PropagationConfig::default()
        }
    );
}

#[test]
fn keys_of_the_signal_sections_and_the_top_level_are_left_to_the_modules_at_load() {
    // Unknown keys there are reported when the telemetry is built (tests/config_keys.rs).
    let config = ok(
        "statsd: {host: x}\ntracing: {sample_rat: 0.5}\nmetrics: {hots: x}\nlogging: {formt: x}",
        &[("HYPERION_TRACING__SAMPLE_RAT", "0.5")],
    );
    assert_eq!(config, Config::default());
}

#[test]
fn unknown_keys_of_the_core_sections_are_errors_at_load() {
    let error = fails(
        "service:\n  nme: x\n",
        &[],
        &["unknown key `service.nme`", "name"],
    );
    assert!(matches!(error, ConfigError::UnknownKey { .. }), "{error:?}");
    assert_eq!(error.key(), Some("service.nme"));
    assert_eq!(error.found(), Some("nme"));
    assert_eq!(error.origin(), Some("YAML text"));
    let error = fails(
        "",
        &[("HYPERION_PROPAGATION__MAX_BAGAGE_MEMBERS", "3")],
        &[
            "unknown key `propagation.max_bagage_members`",
            "did you mean `max_baggage_members`?",
        ],
    );
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_PROPAGATION__MAX_BAGAGE_MEMBERS`")
    );
}

#[test]
fn enum_spellings_are_read_and_written_as_documented() {
    fn round_trip<T>(names: &[&str], parse: fn(&str) -> Option<T>, name: fn(T) -> &'static str) {
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
    round_trip(Sampler::NAMES, Sampler::from_name, Sampler::as_str);
    round_trip(LogLevel::NAMES, LogLevel::from_name, LogLevel::as_str);
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
    assert_eq!(
        LogLevel::NAMES,
        ["trace", "debug", "info", "warn", "error", "fatal"]
    );
    assert_eq!(
        ok("tracing: {sampler: parentbased_always_on}", &[])
            .tracing
            .sampler,
        Sampler::ParentBasedAlwaysOn
    );
    assert_eq!(
        ok("logging: {level: TRACE}", &[]).logging.level,
        LogLevel::Trace
    );
    assert_eq!(
        ok("logging: {level: fatal}", &[]).logging.level,
        LogLevel::Fatal
    );
    assert_eq!(Sampler::AlwaysOff.to_string(), "always_off");
    assert_eq!(
        crate::log::Level::from(LogLevel::Warn),
        crate::log::Level::Warn
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
}

/// A module's settings with durations, read with `#[serde(with = "duration")]`.
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
struct Timings {
    #[serde(with = "duration")]
    interval: Duration,
    #[serde(with = "duration")]
    timeout: Duration,
}

#[test]
fn durations_read_through_a_module_source() {
    let settings = Settings::new().section::<Timings>("metrics");
    let config = ok("metrics: {interval: 1500, timeout: 2h}", &[]);
    let timings: Timings = config
        .module_source("timings", &settings)
        .extract("metrics")
        .unwrap();
    assert_eq!(timings.interval, Duration::from_millis(1500));
    assert_eq!(timings.timeout, Duration::from_secs(7200));
    let config = env(&[("HYPERION_METRICS__INTERVAL", "250ms")]);
    let timings: Timings = config
        .module_source("timings", &settings)
        .extract("metrics")
        .unwrap();
    assert_eq!(timings.interval, Duration::from_millis(250));
    let config = ok("metrics: {interval: soon}", &[]);
    let error = config
        .module_source("timings", &settings)
        .extract::<Timings>("metrics")
        .unwrap_err();
    assert_message(
        &error,
        &[
            "`metrics.interval`",
            "found \"soon\"",
            duration::EXPECTED,
            "YAML text",
        ],
    );
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
    config.tracing.sampler = Sampler::TraceIdRatio;
    config.logging.level = LogLevel::Warn;
    config.tracing.attributes.insert("k".into(), "v".into());
    let value = Value::serialize(&config).unwrap();
    let sampler = value.find_ref("tracing.sampler").and_then(Value::as_str);
    assert_eq!(sampler, Some("traceidratio"));
    let level = value.find_ref("logging.level").and_then(Value::as_str);
    assert_eq!(level, Some("warn"));
    // The core's model only: the modules' keys stay in the source.
    assert!(value.find_ref("tracing.exporter").is_none());
    let back: Config = Figment::from(figment::providers::Serialized::defaults(&config))
        .extract()
        .unwrap();
    assert_eq!(back, config);
}

// --- layers -----------------------------------------------------------------------------

#[test]
fn hyperion_nested_variable_beats_the_file() {
    let file = TempFile::new(
        "nested",
        "tracing:\n  sample_rate: 0.5\n  sampler: traceidratio\n",
    );
    let config = ConfigLoader::new()
        .file(&file.0)
        .env([("HYPERION_TRACING__SAMPLE_RATE", "0.1")])
        .load()
        .unwrap();
    assert_eq!(config.tracing.sample_rate, 0.1);
    assert_eq!(
        config.tracing.sampler,
        Sampler::TraceIdRatio,
        "file keys not overridden stay"
    );
}

#[test]
fn yaml_text_beats_the_file() {
    let file = TempFile::new("layers", "service: {name: file, version: \"1\"}\n");
    let config = ConfigLoader::new()
        .file(&file.0)
        .yaml("service: {name: text}")
        .load()
        .unwrap();
    assert_eq!(
        (
            config.service.name.as_deref(),
            config.service.version.as_deref()
        ),
        (Some("text"), Some("1"))
    );
}

#[test]
fn hyperion_variables_are_typed_by_the_model() {
    let config = env(&[
        ("HYPERION_METRICS__ENABLED", "false"),
        ("HYPERION_TRACING__SAMPLE_RATE", "0.3"),
        ("HYPERION_TRACING__ATTRIBUTES__REGION", "k=1"),
        ("HYPERION_PROPAGATION__MAX_BAGGAGE_MEMBERS", "4096"),
        ("HYPERION_SERVICE__VERSION", "1.0"),
        ("HYPERION_SERVICE__NAME", "123"),
        ("HYPERION_LOGGING__LEVEL", "debug"),
        ("HYPERION_ADAPTER", "otel"),
    ]);
    assert!(!config.metrics.enabled);
    assert_eq!(config.tracing.sample_rate, 0.3, "at full precision");
    assert_eq!(config.tracing.attributes["region"], "k=1");
    assert_eq!(config.propagation.max_baggage_members, 4096);
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
        ("hyperion_propagation__max_baggage_bytes", "9200"),
        ("HYPERION_SERVICE__NAME", "  "),
        ("HYPERION___", "x"),
        ("HYPERIONX", "1"),
        ("PATH", "/bin"),
        ("OTEL", "x"),
    ]);
    assert_eq!(config.propagation.max_baggage_bytes, 9200);
    assert_eq!(config.service.name, None);
}

#[test]
fn later_variables_of_the_same_name_win() {
    let config = env(&[
        ("HYPERION_TRACING__SAMPLE_RATE", "0.1"),
        ("HYPERION_TRACING__SAMPLE_RATE", "0.2"),
    ]);
    assert_eq!(config.tracing.sample_rate, 0.2);
    let config = env(&[("OTEL_SERVICE_NAME", "a"), ("OTEL_SERVICE_NAME", "b")]);
    assert_eq!(config.service_name(), Some("b"));
}

#[test]
fn otel_beats_hyperion_beats_file() {
    let file = TempFile::new(
        "precedence",
        "tracing:\n  sample_rate: 0.5\n  service_name: file\nlogging:\n  level: warn\n",
    );
    let config = ConfigLoader::new()
        .file(&file.0)
        .env([
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("HYPERION_TRACING__SAMPLE_RATE", "0.75"),
            ("HYPERION_TRACING__SERVICE_NAME", "hyperion"),
        ])
        .load()
        .unwrap();
    assert_eq!(config.tracing.sample_rate, 0.25, "OTEL_ beats HYPERION_");
    assert_eq!(
        config.tracing.service_name.as_deref(),
        Some("hyperion"),
        "HYPERION_ beats the file"
    );
    assert_eq!(config.logging.level, LogLevel::Warn, "the file stays");
}

#[test]
fn values_set_in_code_beat_every_other_source() {
    let file = TempFile::new("set", "tracing:\n  sample_rate: 0.5\n");
    let config = ConfigLoader::new()
        .file(&file.0)
        .yaml("tracing: {sample_rate: 0.6, sampler: always_on}")
        .env([
            ("HYPERION_TRACING__SAMPLE_RATE", "0.7"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.8"),
            ("OTEL_SERVICE_NAME", "from-env"),
        ])
        .set("tracing.sample_rate", 0.125)
        .set("service.name", "in-code")
        .set(
            "propagation",
            PropagationConfig {
                max_baggage_members: 1,
                ..PropagationConfig::default()
            },
        )
        .load()
        .unwrap();
    assert_eq!(config.tracing.sample_rate, 0.125);
    assert_eq!(config.service.name.as_deref(), Some("in-code"));
    assert_eq!(
        config.tracing.service_name.as_deref(),
        Some("from-env"),
        "keys not set stay"
    );
    assert_eq!(
        config.tracing.sampler,
        Sampler::AlwaysOn,
        "keys not set stay"
    );
    assert_eq!(config.propagation.max_baggage_members, 1);
    assert_eq!(config.propagation.max_tracestate_members, 32);

    let error = ConfigLoader::new()
        .env([("OTEL_TRACES_SAMPLER_ARG", "0.5")])
        .set("tracing.sample_rate", 2.0)
        .load()
        .unwrap_err();
    assert_message(
        &error,
        &[
            "`tracing.sample_rate`",
            "found 2.0",
            "0.0 to 1.0",
            "(from a value set in code)",
        ],
    );
    assert_eq!(error.origin(), Some("a value set in code"));
    let error = ConfigLoader::new()
        .set("logging.level", "loud")
        .load()
        .unwrap_err();
    assert_message(
        &error,
        &["`logging.level`", "\"loud\"", "a value set in code"],
    );
}

// --- the core's standard variables ------------------------------------------------------

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
            " environment = staging , service.version=1.2%2C3,, note=a%20b",
        )],
    );
    let attributes = &config.tracing.attributes;
    assert_eq!(
        attributes["environment"], "staging",
        "the variable wins per key"
    );
    assert_eq!(attributes["team"], "core", "file keys are kept");
    assert_eq!(attributes["service.version"], "1.2,3", "percent-decoded");
    assert_eq!(attributes["note"], "a b");
    assert_eq!(attributes.len(), 4, "{attributes:?}");
    assert!(config.warnings().is_empty());
}

#[test]
fn a_malformed_otel_resource_attributes_is_discarded_whole_and_reported() {
    for (value, problem) in [
        ("region=eu,novalue", "the member \"novalue\" has no `=`"),
        ("region=eu,=x", "the member \"=x\" has no name"),
        (
            "region=eu,note=a%ZZ",
            "the value of \"note\" has a `%` not followed by two hex digits",
        ),
    ] {
        let config = ok(
            "tracing:\n  attributes:\n    team: core\n",
            &[("OTEL_RESOURCE_ATTRIBUTES", value)],
        );
        // Not half-kept: `region` is not there; the file's keys are.
        assert_eq!(config.tracing.attributes.len(), 1, "{value}");
        assert_eq!(config.tracing.attributes["team"], "core");
        assert_eq!(
            config.warnings(),
            [format!(
                "OTEL_RESOURCE_ATTRIBUTES is malformed ({problem}): the whole value is \
                 discarded, as the OpenTelemetry specification says"
            )]
        );
    }
}

#[test]
fn otel_sdk_disabled_other_than_true_or_false_is_read_as_false_and_reported() {
    for value in ["true", "TRUE", "True"] {
        let config = env(&[("OTEL_SDK_DISABLED", value)]);
        assert!(!config.tracing.enabled && !config.metrics.enabled && !config.logging.enabled);
        assert!(config.warnings().is_empty());
    }
    for value in ["false", "FALSE"] {
        let config = env(&[("OTEL_SDK_DISABLED", value)]);
        assert!(config.tracing.enabled && config.metrics.enabled && config.logging.enabled);
        assert!(config.warnings().is_empty());
    }
    for value in ["yes", "1", "on"] {
        let config = env(&[("OTEL_SDK_DISABLED", value)]);
        assert!(config.tracing.enabled && config.metrics.enabled && config.logging.enabled);
        assert_eq!(
            config.warnings(),
            [format!(
                "OTEL_SDK_DISABLED={value:?} is neither true nor false (any case); read as \
                 false, so the SDK stays enabled"
            )],
            "one warning, not one per signal"
        );
    }
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
fn empty_otel_variables_count_as_unset() {
    let config = ok(
        "service: {name: from-file}\ntracing: {sampler: always_off}",
        &[("OTEL_SERVICE_NAME", ""), ("OTEL_TRACES_SAMPLER", "  ")],
    );
    assert_eq!(config.service.name.as_deref(), Some("from-file"));
    assert_eq!(config.tracing.sampler, Sampler::AlwaysOff);
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
fn module_variables_are_not_read_by_the_core() {
    // OTEL_EXPORTER_OTLP_ENDPOINT and the like are the `otel` module's: they appear in its
    // source, not in the core's configuration.
    let config = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
    ]);
    assert_eq!(config, Config::default());
    let source = config.module_source("none", &Settings::new());
    assert!(
        source
            .extract::<BTreeMap<String, String>>("tracing")
            .unwrap()
            .is_empty()
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
fn sampler_given_as_a_number_is_an_error() {
    fails(
        "tracing:\n  sampler: 1\n",
        &[],
        &[
            "`tracing.sampler`",
            "found 1",
            "one of: always_on, always_off",
        ],
    );
}

#[test]
fn unknown_log_level_is_an_error() {
    fails(
        "logging:\n  level: verbose\n",
        &[],
        &[
            "`logging.level`",
            "\"verbose\"",
            "one of: trace, debug, info, warn, error, fatal",
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
fn a_flag_of_the_wrong_type_is_an_error() {
    fails(
        "metrics:\n  enabled: maybe\n",
        &[],
        &["`metrics.enabled`", "found \"maybe\"", "true or false"],
    );
    fails(
        "",
        &[("HYPERION_LOGGING__ENABLED", "sometimes")],
        &[
            "`logging.enabled`",
            "true or false",
            "`HYPERION_LOGGING__ENABLED`",
        ],
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
    let file = TempFile::new("bad-level", "logging:\n  level: loud\n");
    let error = ConfigLoader::new().file(&file.0).load().unwrap_err();
    assert_message(
        &error,
        &[
            "`logging.level`",
            "\"loud\"",
            "one of: trace",
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
        &[("HYPERION_PROPAGATION__MAX_BAGGAGE_BYTES", "abc")],
        &[
            "`propagation.max_baggage_bytes`",
            "found \"abc\"",
            "a non-negative integer",
            "`HYPERION_PROPAGATION__MAX_BAGGAGE_BYTES`",
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
}

// --- helpers ----------------------------------------------------------------------------

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
fn debug_output_hides_module_values_and_variable_values() {
    // Header values (the `otel` module's) live in the source, which the Debug output of a
    // configuration does not show; nor does it show the values of variables.
    let config = ok(
        "tracing: {headers: {authorization: Bearer-secret}}",
        &[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=other-secret")],
    );
    let debug = format!("{config:?}");
    assert!(debug.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{debug}");
    assert!(!debug.contains("Bearer-secret"), "{debug}");
    assert!(!debug.contains("other-secret"), "{debug}");
}

#[test]
fn loader_debug_output_hides_variable_values() {
    let loader = ConfigLoader::new()
        .env([("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret")])
        .set("tracing.headers.api-key", "set-secret");
    let debug = format!("{loader:?}");
    assert!(debug.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{debug}");
    assert!(!debug.contains("secret"), "{debug}");
}

#[test]
fn key_value_lists_decode_or_are_malformed_whole() {
    let decoded = |list: &str| parse_key_value_list(list).unwrap();
    assert_eq!(decoded("a=a%20b%2c%2C"), [("a".into(), "a b,,".into())]);
    assert_eq!(
        decoded("e=%e2%82%ac, f=%ff"),
        [("e".into(), "€".into()), ("f".into(), "\u{fffd}".into())]
    );
    assert_eq!(
        decoded(" a = 1 ,, b=2,"),
        [("a".into(), "1".into()), ("b".into(), "2".into())]
    );
    // Exactly two hex digits make an escape: no sign, no single digit, no lone `%`.
    for bad in [
        "a=100%", "a=%+f", "a=%-1", "a=%g0", "a=%4", "novalue", "=x", "a=1,b",
    ] {
        assert!(parse_key_value_list(bad).is_err(), "{bad}");
    }
}

// --- propagators ------------------------------------------------------------------------

#[test]
fn otel_propagators_sets_the_propagators_in_order() {
    use crate::propagation::{Propagator, Propagators};
    assert_eq!(env(&[]).propagation.propagators, Propagators::W3C);
    let config = env(&[("OTEL_PROPAGATORS", "b3multi, TraceContext,b3multi")]);
    assert_eq!(
        config.propagation.propagators.iter().collect::<Vec<_>>(),
        [Propagator::B3Multi, Propagator::TraceContext]
    );
    assert!(
        env(&[("OTEL_PROPAGATORS", "none")])
            .propagation
            .propagators
            .is_empty()
    );
    let config = ok("propagation:\n  propagators: [b3, baggage]\n", &[]);
    assert_eq!(config.propagation.propagators.to_string(), "b3,baggage");
    let config = ok("propagation:\n  propagators: tracecontext\n", &[]);
    assert_eq!(config.propagation.propagators.to_string(), "tracecontext");
    // The variable wins over the file.
    let config = ok(
        "propagation:\n  propagators: [b3]\n",
        &[("OTEL_PROPAGATORS", "tracecontext")],
    );
    assert_eq!(config.propagation.propagators.to_string(), "tracecontext");
}

#[test]
fn an_unknown_propagator_is_an_error_naming_the_known_ones() {
    let error = fails(
        "",
        &[("OTEL_PROPAGATORS", "tracecontext,xray")],
        &[
            "`propagation.propagators`",
            "\"tracecontext,xray\"",
            "tracecontext, baggage, b3, b3multi, none",
            "`OTEL_PROPAGATORS`",
        ],
    );
    assert_eq!(error.key(), Some("propagation.propagators"));
    fails(
        "propagation:\n  propagators: [jaeger]\n",
        &[],
        &[
            "`propagation.propagators`",
            "\"jaeger\"",
            "b3multi",
            "YAML text",
        ],
    );
}
