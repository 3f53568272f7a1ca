//! Tests of the `otel` module's settings: its keys beside the core's, the OpenTelemetry variables
//! that set them, and their validation. The configuration is loaded as an application loads it
//! (`ConfigLoader`), then read as the module reads it when built (`OtelSettings::from_config`).

use hyperion::config::{ConfigLoader, Sampler};

use super::*;

/// The README's first YAML example, the original design's (the core's tests check that the README
/// shows it verbatim): `exporter`, `endpoint` and every `metrics` key but `enabled` are the
/// module's.
fn epic() -> &'static str {
    readme_yaml(0)
}

/// The `n`th ```yaml block of the README.
fn readme_yaml(n: usize) -> &'static str {
    include_str!("../../../../README.md")
        .split("```yaml\n")
        .nth(n + 1)
        .and_then(|block| block.split("```").next())
        .expect("the README has that many yaml blocks")
}

/// A file under the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "hyperion-otel-config-test-{}-{name}.yaml",
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

/// Loads the configuration, then the module's settings from it.
fn load(yaml: &str, env: &[(&str, &str)]) -> Result<OtelSettings, ConfigError> {
    from_loader(ConfigLoader::new().yaml(yaml).env(env.iter().copied()))
}

fn from_loader(loader: ConfigLoader) -> Result<OtelSettings, ConfigError> {
    OtelSettings::from_config(&loader.load()?)
}

fn ok(yaml: &str, env: &[(&str, &str)]) -> OtelSettings {
    load(yaml, env).unwrap_or_else(|e| panic!("should load: {e}"))
}

fn env(vars: &[(&str, &str)]) -> OtelSettings {
    ok("", vars)
}

/// Loads, expects an error, and checks that its message names every part.
fn fails(yaml: &str, env: &[(&str, &str)], parts: &[&str]) -> ConfigError {
    let error = match load(yaml, env) {
        Ok(settings) => panic!("should fail, loaded {settings:?}"),
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
    assert_eq!(ok("", &[]), OtelSettings::default());
    assert_eq!(ok("# nothing here\n\n", &[]), OtelSettings::default());
    assert_eq!(ok("{}", &[]), OtelSettings::default());
    assert_eq!(
        OtelSettings::from_config(&Config::default()).unwrap(),
        OtelSettings::default()
    );
}

#[test]
fn tracing_defaults() {
    let t = ok("", &[]).tracing;
    assert_eq!(t.exporter, Exporter::Otlp);
    assert_eq!(t.endpoint, None);
    assert_eq!(t.certificate, None);
    assert_eq!(t.protocol, Protocol::Grpc);
    assert!(t.headers.is_empty());
    assert_eq!(t.timeout, Duration::from_secs(10));
    assert_eq!(t.compression, Compression::None);
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
    assert_eq!(m.exporter, MetricsExporter::Prometheus);
    // The OpenTelemetry defaults for OTEL_EXPORTER_PROMETHEUS_{PORT,HOST}: not Prometheus's own
    // port, and not every interface.
    assert_eq!(m.port, 9464);
    assert_eq!(m.bind_address, "localhost");
    assert!(m.listen);
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
    assert_eq!(l.format, LogFormat::Json);
    assert_eq!(l.output, LogOutput::Stdout);
    assert!(!l.otlp);
}

#[test]
fn enum_defaults_match_the_section_defaults() {
    let t = TracingSettings::default();
    assert_eq!(Exporter::default(), t.exporter);
    assert_eq!(Protocol::default(), t.protocol);
    assert_eq!(Compression::default(), t.compression);
    assert_eq!(
        MetricsExporter::default(),
        MetricsSettings::default().exporter
    );
    let l = LoggingSettings::default();
    assert_eq!(LogFormat::default(), l.format);
    assert_eq!(LogOutput::default(), l.output);
}

#[test]
fn the_module_claims_its_keys_and_not_the_cores() {
    let declaration = OtelSettings::declaration();
    assert_eq!(
        declaration.claims("tracing"),
        [
            "exporter",
            "endpoint",
            "traces_endpoint",
            "metrics_endpoint",
            "logs_endpoint",
            "certificate",
            "protocol",
            "headers",
            "timeout",
            "compression",
            "batch",
            "traces",
            "metrics",
            "logs",
            "tail_sampling",
            "promotion"
        ]
    );
    assert!(declaration.claims("metrics").contains(&"port"));
    assert!(!declaration.claims("metrics").contains(&"enabled"));
    assert_eq!(
        declaration.claims("logging"),
        ["format", "output", "otlp", "batch"]
    );
    let names: Vec<&str> = declaration.env_vars().iter().map(EnvVar::name).collect();
    assert!(
        names.contains(&"OTEL_EXPORTER_PROMETHEUS_PORT"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"OTEL_SERVICE_NAME"),
        "the core's: {names:?}"
    );
}

// --- the documents of the design --------------------------------------------------------

fn check_epic_tracing(t: &TracingSettings) {
    assert_eq!(t.exporter, Exporter::Jaeger);
    assert_eq!(t.endpoint.as_deref(), Some("localhost:14268"));
    // The keys the document does not name keep their defaults.
    assert_eq!(t.protocol, Protocol::Grpc);
    assert_eq!(t.batch, BatchSettings::default());
}

fn check_epic_metrics(m: &MetricsSettings) {
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
    let config = Config::from_yaml_str(epic()).unwrap();
    let settings = OtelSettings::from_config(&config).unwrap();
    check_epic_tracing(&settings.tracing);
    check_epic_metrics(&settings.metrics);
    assert_eq!(settings.logging, LoggingSettings::default());
}

#[test]
fn the_epic_tracing_section_loads_alone() {
    let (tracing, _) = epic().split_at(epic().find("metrics:").unwrap());
    let settings = ok(tracing, &[]);
    check_epic_tracing(&settings.tracing);
    assert_eq!(settings.metrics, MetricsSettings::default());
}

#[test]
fn the_epic_metrics_section_loads_alone() {
    let (_, metrics) = epic().split_at(epic().find("metrics:").unwrap());
    let settings = ok(metrics, &[]);
    check_epic_metrics(&settings.metrics);
    assert_eq!(settings.tracing, TracingSettings::default());
}

#[test]
fn the_epic_example_loads_from_a_file() {
    let file = TempFile::new("epic", epic());
    let settings = from_loader(ConfigLoader::new().file(&file.0)).unwrap();
    check_epic_tracing(&settings.tracing);
    check_epic_metrics(&settings.metrics);
}

#[test]
fn every_key_loads_from_yaml() {
    let settings = ok(
        r#"
adapter: otel
service: {name: svc, version: "1.0", namespace: shop, environment: staging}
tracing:
  enabled: false
  adapter: zipkin-adapter
  service_name: traced
  exporter: zipkin
  endpoint: http://collector:4318
  certificate: /etc/ca.pem
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
  max_label_value_length: 8
  histogram_boundaries: [1, 2]
logging: {enabled: false, adapter: log, level: warn, format: pretty, output: stderr, otlp: true}
propagation: {max_baggage_members: 8, max_baggage_bytes: 100, max_tracestate_members: 4}
"#,
        &[],
    );
    let t = &settings.tracing;
    assert_eq!(t.exporter, Exporter::Zipkin);
    assert_eq!(t.endpoint.as_deref(), Some("http://collector:4318"));
    assert_eq!(
        t.certificate.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(t.protocol, Protocol::HttpProtobuf);
    assert_eq!(t.headers["x-api-key"], "secret");
    assert_eq!(t.timeout, Duration::from_secs(2));
    assert_eq!(t.compression, Compression::Gzip);
    assert_eq!(
        t.batch,
        BatchSettings {
            max_batch_size: 10,
            scheduled_delay: Duration::from_millis(250),
            max_queue_size: 20,
            export_timeout: Duration::from_secs(60),
        }
    );
    let m = &settings.metrics;
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
    assert_eq!(m.max_label_value_length, 8);
    assert_eq!(m.histogram_boundaries, Some(vec![1.0, 2.0]));
    let l = &settings.logging;
    assert_eq!(l.format, LogFormat::Pretty);
    assert_eq!(l.output, LogOutput::Stderr);
    assert!(l.otlp);
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
    round_trip(Exporter::NAMES, Exporter::from_name, Exporter::as_str);
    round_trip(Protocol::NAMES, Protocol::from_name, Protocol::as_str);
    round_trip(
        Compression::NAMES,
        Compression::from_name,
        Compression::as_str,
    );
    round_trip(
        MetricsExporter::NAMES,
        MetricsExporter::from_name,
        MetricsExporter::as_str,
    );
    round_trip(LogFormat::NAMES, LogFormat::from_name, LogFormat::as_str);
    round_trip(LogOutput::NAMES, LogOutput::from_name, LogOutput::as_str);
    assert_eq!(
        Exporter::NAMES,
        ["otlp", "jaeger", "zipkin", "console", "none"]
    );
    assert_eq!(Protocol::NAMES, ["grpc", "http/protobuf", "http/json"]);
    assert_eq!(
        ok("tracing: {protocol: http/json}", &[]).tracing.protocol,
        Protocol::HttpJson
    );
    assert_eq!(
        ok("tracing: {exporter: ' Console '}", &[]).tracing.exporter,
        Exporter::Console
    );
    assert_eq!(
        ok("logging: {format: PRETTY}", &[]).logging.format,
        LogFormat::Pretty
    );
}

// --- durations --------------------------------------------------------------------------

#[test]
fn durations_read_as_strings_and_milliseconds() {
    let settings = ok("metrics: {interval: 1500}\ntracing: {timeout: 2h}", &[]);
    assert_eq!(settings.metrics.interval, Duration::from_millis(1500));
    assert_eq!(settings.tracing.timeout, Duration::from_secs(7200));
}

#[test]
fn settings_serialize_and_read_back_unchanged() {
    let mut settings = ok(epic(), &[]);
    settings.tracing.timeout = Duration::from_millis(1500);
    settings.tracing.protocol = Protocol::HttpJson;
    settings.tracing.headers.insert("k".into(), "v".into());
    settings.metrics.histogram_boundaries = Some(vec![0.5, 1.0]);
    let value = serde_json::to_value(&settings).unwrap();
    assert_eq!(value["tracing"]["timeout"], "1500ms");
    assert_eq!(value["tracing"]["protocol"], "http/json");
    assert_eq!(value["tracing"]["batch"]["scheduled_delay"], "5s");
    assert_eq!(value["metrics"]["exporter"], "prometheus");
    // Read back from values set in code, over the document they came from.
    let config = ConfigLoader::new()
        .yaml(epic())
        .set("tracing", &settings.tracing)
        .set("metrics", &settings.metrics)
        .set("logging", &settings.logging)
        .load()
        .unwrap();
    assert_eq!(OtelSettings::from_config(&config).unwrap(), settings);
    assert_eq!(
        config.tracing.service_name.as_deref(),
        Some("my-service"),
        "the core's keys beside them stay"
    );
}

// --- layers -----------------------------------------------------------------------------

#[test]
fn hyperion_nested_variable_beats_the_file() {
    let file = TempFile::new(
        "nested",
        "tracing:\n  batch:\n    max_queue_size: 100\n  exporter: zipkin\n",
    );
    let settings = from_loader(
        ConfigLoader::new()
            .file(&file.0)
            .env([("HYPERION_TRACING__BATCH__MAX_QUEUE_SIZE", "4096")]),
    )
    .unwrap();
    assert_eq!(settings.tracing.batch.max_queue_size, 4096);
    assert_eq!(
        settings.tracing.exporter,
        Exporter::Zipkin,
        "file keys not overridden stay"
    );
}

#[test]
fn yaml_text_beats_the_file() {
    let file = TempFile::new("layers", "metrics: {port: 1000, path: /a}\n");
    let settings = from_loader(
        ConfigLoader::new()
            .file(&file.0)
            .yaml("metrics: {port: 2000}"),
    )
    .unwrap();
    assert_eq!(
        (settings.metrics.port, settings.metrics.path.as_str()),
        (2000, "/a")
    );
}

#[test]
fn hyperion_variables_are_typed_by_the_settings() {
    let settings = env(&[
        ("HYPERION_METRICS__PORT", "9100"),
        ("HYPERION_METRICS__INTERVAL", "250ms"),
        ("HYPERION_METRICS__EXEMPLARS", "false"),
        ("HYPERION_METRICS__NAMESPACE", "1.0"),
        ("HYPERION_TRACING__BATCH__MAX_QUEUE_SIZE", "4096"),
        ("HYPERION_TRACING__HEADERS__API_KEY", "k=1"),
        ("HYPERION_LOGGING__OTLP", "true"),
    ]);
    assert_eq!(settings.metrics.port, 9100);
    assert_eq!(settings.metrics.interval, Duration::from_millis(250));
    assert!(!settings.metrics.exemplars);
    assert_eq!(
        settings.metrics.namespace.as_deref(),
        Some("1.0"),
        "kept as written"
    );
    assert_eq!(settings.tracing.batch.max_queue_size, 4096);
    assert_eq!(settings.tracing.headers["api_key"], "k=1");
    assert!(settings.logging.otlp);
}

#[test]
fn hyperion_prefix_ignores_case_and_empty_values_and_other_variables() {
    let settings = env(&[
        ("hyperion_metrics__port", "9200"),
        ("HYPERION_TRACING__ENDPOINT", "  "),
        ("HYPERIONX", "1"),
        ("PATH", "/bin"),
        ("OTEL", "x"),
    ]);
    assert_eq!(settings.metrics.port, 9200);
    assert_eq!(settings.tracing.endpoint, None);
}

#[test]
fn later_variables_of_the_same_name_win() {
    let settings = env(&[
        ("HYPERION_METRICS__PORT", "1"),
        ("HYPERION_METRICS__PORT", "2"),
    ]);
    assert_eq!(settings.metrics.port, 2);
    let settings = env(&[
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "3"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "4"),
    ]);
    assert_eq!(settings.metrics.port, 4);
}

#[test]
fn otel_beats_hyperion_beats_file() {
    let file = TempFile::new(
        "precedence",
        "tracing:\n  endpoint: file\n  compression: none\n  exporter: zipkin\n",
    );
    let settings = from_loader(ConfigLoader::new().file(&file.0).env([
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("HYPERION_TRACING__COMPRESSION", "none"),
        ("HYPERION_TRACING__ENDPOINT", "hyperion"),
    ]))
    .unwrap();
    assert_eq!(
        settings.tracing.compression,
        Compression::Gzip,
        "OTEL_ beats HYPERION_"
    );
    assert_eq!(
        settings.tracing.endpoint.as_deref(),
        Some("hyperion"),
        "HYPERION_ beats the file"
    );
    assert_eq!(
        settings.tracing.exporter,
        Exporter::Zipkin,
        "the file stays"
    );
}

/// `ConfigLoader::set` is the highest layer, above the module's own variables too: a test's
/// `.set("metrics.port", 0)` must win over `OTEL_EXPORTER_PROMETHEUS_PORT`.
#[test]
fn values_set_in_code_beat_the_modules_variables() {
    let settings = from_loader(
        ConfigLoader::new()
            .yaml("metrics: {port: 1}")
            .env([("OTEL_EXPORTER_PROMETHEUS_PORT", "2")])
            .set("metrics.port", 0),
    )
    .unwrap();
    assert_eq!(settings.metrics.port, 0);
}

// --- OpenTelemetry variables ------------------------------------------------------------

#[test]
fn otel_exporter_otlp_endpoint_sets_the_endpoint() {
    let settings = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")]);
    assert_eq!(
        settings.tracing.endpoint.as_deref(),
        Some("http://collector:4317")
    );
    let settings = env(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:4318/custom",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://metrics:4318/m",
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/l"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
    ]);
    // The per-signal variables are kept apart: they are full URLs, used as given.
    let t = &settings.tracing;
    assert_eq!(t.endpoint.as_deref(), Some("http://collector:4317"));
    assert_eq!(
        t.traces_endpoint.as_deref(),
        Some("http://traces:4318/custom")
    );
    assert_eq!(t.metrics_endpoint.as_deref(), Some("http://metrics:4318/m"));
    assert_eq!(t.logs_endpoint.as_deref(), Some("http://logs:4318/l"));
}

#[test]
fn otel_logs_exporter_turns_otlp_logs_on_or_off() {
    assert!(env(&[("OTEL_LOGS_EXPORTER", "otlp")]).logging.otlp);
    assert!(env(&[("OTEL_LOGS_EXPORTER", "console,otlp")]).logging.otlp);
    assert!(!env(&[("OTEL_LOGS_EXPORTER", "none")]).logging.otlp);
    let config = hyperion::ConfigLoader::new()
        .yaml("logging:\n  otlp: true\n")
        .env([("OTEL_LOGS_EXPORTER", "kafka")])
        .load()
        .unwrap();
    let settings = config
        .module_source("otel", &OtelSettings::declaration())
        .extract::<LoggingSettings>("logging")
        .unwrap();
    assert!(settings.otlp, "an unknown exporter is ignored");
}

#[test]
fn otel_exporter_otlp_protocol_sets_the_protocol() {
    let settings = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
    assert_eq!(settings.tracing.protocol, Protocol::HttpProtobuf);
    let settings = env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ]);
    let traces = settings.tracing.for_signal(OtlpSignal::Traces);
    assert_eq!(traces.protocol, Protocol::HttpJson);
    // The spans' own protocol is theirs alone: the other signals keep the general one.
    for signal in [OtlpSignal::Metrics, OtlpSignal::Logs] {
        let other = settings.tracing.for_signal(signal);
        assert_eq!(other.protocol, Protocol::HttpProtobuf, "{signal:?}");
    }
    let settings = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/Protobuf")]);
    assert_eq!(settings.tracing.protocol, Protocol::HttpProtobuf);
}

#[test]
fn otel_exporter_otlp_headers_merge_into_headers() {
    let settings = ok(
        "tracing: {headers: {x-file: kept, authorization: old}}",
        &[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20abc, x-tenant = 7",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=8"),
        ],
    );
    let headers = &settings.tracing.for_signal(OtlpSignal::Traces).headers;
    assert_eq!(headers["authorization"], "Bearer abc");
    assert_eq!(headers["x-tenant"], "8");
    assert_eq!(headers["x-file"], "kept");
    let metrics = settings.tracing.for_signal(OtlpSignal::Metrics).headers;
    assert_eq!(
        metrics["x-tenant"], "7",
        "the spans' own header is theirs alone"
    );
}

#[test]
fn a_malformed_otel_exporter_otlp_headers_is_an_error_naming_the_variable() {
    for (name, value) in [
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer abc,x-tenant",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=%zz"),
    ] {
        let error = hyperion::ConfigLoader::new()
            .env([(name, value)])
            .load()
            .unwrap()
            .module_source("otel", &OtelSettings::declaration())
            .extract::<TracingSettings>("tracing")
            .unwrap_err()
            .to_string();
        let key = if name.contains("TRACES") {
            "tracing.traces.headers"
        } else {
            "tracing.headers"
        };
        assert!(
            error.starts_with(&format!("invalid value for `{key}`")),
            "{error}"
        );
        assert!(
            error.contains(&format!("(from environment variable `{name}`)")),
            "{error}"
        );
        assert!(
            error.contains("a comma-separated list of `key=value` pairs"),
            "{error}"
        );
    }
}

#[test]
fn otel_exporter_otlp_timeout_and_compression() {
    let settings = env(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ]);
    assert_eq!(settings.tracing.timeout, Duration::from_millis(2500));
    assert_eq!(settings.tracing.compression, Compression::Gzip);
    let settings = env(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100"),
    ]);
    let traces = settings.tracing.for_signal(OtlpSignal::Traces);
    assert_eq!(traces.timeout, Duration::from_millis(100));
    let settings = env(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
    ]);
    let traces = settings.tracing.for_signal(OtlpSignal::Traces);
    assert_eq!(traces.compression, Compression::Gzip);
    assert_eq!(
        settings.tracing.for_signal(OtlpSignal::Logs).compression,
        Compression::None
    );
}

#[test]
fn otel_exporter_otlp_certificate_and_its_yaml_key() {
    assert_eq!(TracingSettings::default().certificate, None);
    let settings = env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem")]);
    assert_eq!(
        settings.tracing.certificate.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    let settings = env(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "/etc/traces-ca.pem",
        ),
    ]);
    assert_eq!(
        settings
            .tracing
            .for_signal(OtlpSignal::Traces)
            .certificate
            .as_deref(),
        Some(std::path::Path::new("/etc/traces-ca.pem"))
    );
    assert_eq!(
        settings.tracing.certificate.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    let settings = ok("tracing: {certificate: ca.pem}", &[]);
    assert_eq!(
        settings.tracing.certificate.as_deref(),
        Some(std::path::Path::new("ca.pem"))
    );
}

#[test]
fn otel_bsp_variables_set_the_batch() {
    let settings = env(&[
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "2000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
    ]);
    let batch = settings.tracing.batch;
    assert_eq!(batch.scheduled_delay, Duration::from_millis(100));
    assert_eq!(batch.export_timeout, Duration::from_secs(2));
    assert_eq!(batch.max_queue_size, 100);
    assert_eq!(batch.max_batch_size, 10);
}

#[test]
fn otel_traces_and_metrics_exporters() {
    let settings = env(&[
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
    ]);
    assert_eq!(settings.tracing.exporter, Exporter::Zipkin);
    assert_eq!(settings.metrics.exporter, MetricsExporter::Otlp);
    let settings = env(&[("OTEL_METRICS_EXPORTER", "otlp, prometheus")]);
    assert_eq!(settings.metrics.exporter, MetricsExporter::Both);
    let settings = env(&[("OTEL_METRICS_EXPORTER", "Prometheus,OTLP")]);
    assert_eq!(settings.metrics.exporter, MetricsExporter::Both);
    let settings = env(&[("OTEL_METRICS_EXPORTER", "none")]);
    assert_eq!(settings.metrics.exporter, MetricsExporter::None);
    let settings = env(&[("OTEL_TRACES_EXPORTER", "Console")]);
    assert_eq!(settings.tracing.exporter, Exporter::Console);
}

#[test]
fn otel_metric_export_interval_sets_the_interval() {
    let settings = env(&[("OTEL_METRIC_EXPORT_INTERVAL", "15000")]);
    assert_eq!(settings.metrics.interval, Duration::from_secs(15));
}

#[test]
fn otel_exporter_prometheus_host_and_port_set_the_endpoint() {
    let settings = ok(
        "metrics: {bind_address: 0.0.0.0, port: 9090}",
        &[
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "9464"),
        ],
    );
    assert_eq!(settings.metrics.bind_address, "127.0.0.1");
    assert_eq!(settings.metrics.port, 9464);
    let settings = env(&[
        ("HYPERION_METRICS__PORT", "1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "2"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "localhost"),
    ]);
    assert_eq!(settings.metrics.port, 2, "the variable beats HYPERION_");
    assert_eq!(settings.metrics.bind_address, "localhost");
    let error = fails(
        "",
        &[("OTEL_EXPORTER_PROMETHEUS_PORT", "99999")],
        &[
            "`metrics.port`",
            "found 99999",
            "0..=65535",
            "`OTEL_EXPORTER_PROMETHEUS_PORT`",
        ],
    );
    assert_eq!(
        error.origin(),
        Some("environment variable `OTEL_EXPORTER_PROMETHEUS_PORT`")
    );
    let error = fails(
        "",
        &[("OTEL_EXPORTER_PROMETHEUS_HOST", "not a host")],
        &[
            "`metrics.bind_address`",
            "found \"not a host\"",
            "an IP address or host name",
        ],
    );
    assert_eq!(
        error.origin(),
        Some("environment variable `OTEL_EXPORTER_PROMETHEUS_HOST`")
    );
}

#[test]
fn empty_otel_variables_count_as_unset() {
    let settings = ok(
        "tracing: {endpoint: from-file}",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")],
    );
    assert_eq!(settings.tracing.endpoint.as_deref(), Some("from-file"));
}

#[test]
fn the_environment_is_the_one_the_config_was_loaded_with() {
    let config = ConfigLoader::new()
        .env([("OTEL_TRACES_EXPORTER", "console")])
        .load()
        .unwrap();
    let settings = OtelSettings::from_config(&config).unwrap();
    assert_eq!(settings.tracing.exporter, Exporter::Console);
    let cloned = config.clone();
    assert_eq!(OtelSettings::from_config(&cloned).unwrap(), settings);
    // The core's variables are not the module's business, and vice versa.
    let config = ConfigLoader::new()
        .env([("OTEL_TRACES_SAMPLER", "always_on")])
        .load()
        .unwrap();
    assert_eq!(config.tracing.sampler, Sampler::AlwaysOn);
    assert_eq!(
        OtelSettings::from_config(&config).unwrap(),
        OtelSettings::default()
    );
}

// --- invalid values ---------------------------------------------------------------------

#[test]
fn unknown_exporter_is_an_error() {
    let error = fails(
        "tracing:\n  exporter: kafka\n",
        &[],
        &["invalid value for `tracing.exporter`: found \"kafka\", \
             expected one of: otlp, jaeger, zipkin, console, none"],
    );
    assert_eq!(error.key(), Some("tracing.exporter"));
    assert_eq!(error.origin(), Some("YAML text"));
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
fn unknown_metrics_exporter_format_output_and_compression_are_errors() {
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
    let error = fails(
        "",
        &[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0")],
        &[
            "`tracing.traces.timeout`",
            "found \"0s\"",
            "greater than zero",
        ],
    );
    assert_eq!(
        error.origin(),
        Some("environment variable `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`")
    );
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
    let error = fails(
        "",
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20"),
        ],
        &["`tracing.batch.max_batch_size`", "found 20", "(10)"],
    );
    assert_eq!(
        error.origin(),
        Some("environment variable `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`")
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
    for bad in ["[]", "[1, 0.5]", "[1, 1]", "[1, .inf]"] {
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
    fails(
        "logging:\n  otlp: 2\n",
        &[],
        &["`logging.otlp`", "found 2", "true or false"],
    );
}

#[test]
fn a_section_of_the_wrong_type_is_an_error() {
    fails(
        "tracing:\n  batch: 5\n",
        &[],
        &[
            "`tracing.batch`",
            "found 5",
            "a mapping of `tracing.batch` settings",
        ],
    );
    fails(
        "tracing:\n  headers: [a, b]\n",
        &[],
        &[
            "`tracing.headers`",
            "found a list",
            "a mapping of names to string values",
        ],
    );
}

#[test]
fn unknown_batch_key_is_an_error_naming_it() {
    // The core checks the keys of a section; `tracing.batch` is the module's own mapping, which
    // denies unknown keys itself.
    let error = fails(
        "tracing:\n  batch:\n    size: 1\n",
        &[],
        &["unknown key `tracing.batch.size`", "max_batch_size"],
    );
    assert!(matches!(error, ConfigError::UnknownKey { .. }), "{error:?}");
    assert_eq!(error.key(), Some("tracing.batch.size"));
    assert_eq!(error.found(), Some("size"));
    assert_eq!(error.origin(), Some("YAML text"));
    let error = fails(
        "",
        &[("HYPERION_TRACING__BATCH__MAX_BACH_SIZE", "1")],
        &[
            "unknown key `tracing.batch.max_bach_size`",
            "did you mean `max_batch_size`?",
        ],
    );
    assert_eq!(
        error.origin(),
        Some("environment variable `HYPERION_TRACING__BATCH__MAX_BACH_SIZE`")
    );
}

#[test]
fn invalid_value_in_a_file_names_the_file() {
    let file = TempFile::new("bad-port", "metrics:\n  port: 70000\n");
    let error = from_loader(ConfigLoader::new().file(&file.0)).unwrap_err();
    assert_message(
        &error,
        &[
            "`metrics.port`",
            "70000",
            "0..=65535",
            &format!("YAML file `{}`", file.0.display()),
        ],
    );
    let file = TempFile::new("bad-path", "metrics:\n  path: nope\n");
    let error = from_loader(ConfigLoader::new().file(&file.0)).unwrap_err();
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
        &[("OTEL_TRACES_EXPORTER", "otlp,console")],
        &[
            "`tracing.exporter`",
            "\"otlp,console\"",
            "one of: otlp",
            "`OTEL_TRACES_EXPORTER`",
        ],
    );
    fails(
        "",
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http")],
        &[
            "`tracing.protocol`",
            "\"http\"",
            "grpc",
            "`OTEL_EXPORTER_OTLP_PROTOCOL`",
        ],
    );
    fails(
        "",
        &[("OTEL_METRICS_EXPORTER", "statsd")],
        &[
            "`metrics.exporter`",
            "\"statsd\"",
            "prometheus",
            "`OTEL_METRICS_EXPORTER`",
        ],
    );
    fails(
        "",
        &[("OTEL_BSP_SCHEDULE_DELAY", "soon")],
        &[
            "`tracing.batch.scheduled_delay`",
            "\"soon\"",
            "a non-negative duration",
            "`OTEL_BSP_SCHEDULE_DELAY`",
        ],
    );
    fails(
        "",
        &[("OTEL_METRIC_EXPORT_INTERVAL", "0")],
        &[
            "`metrics.interval`",
            "greater than zero",
            "`OTEL_METRIC_EXPORT_INTERVAL`",
        ],
    );
}

#[test]
fn unknown_keys_are_found_when_the_otel_module_is_built() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let build = |yaml: &str| {
        let config = Config::from_yaml_str(yaml).unwrap();
        runtime.block_on(async {
            match hyperion::Telemetry::builder()
                .module(crate::OtelModule::new())
                .config(config)
                .build()
                .await
            {
                Ok(telemetry) => panic!("should fail, built {telemetry:?}"),
                Err(error) => error,
            }
        })
    };
    let error = build("tracing:\n  exportr: zipkin\n");
    let message = error.to_string();
    let hyperion::BuildError::Config(error) = error else {
        panic!("a configuration error: {error:?}");
    };
    assert!(matches!(error, ConfigError::UnknownKey { .. }), "{error:?}");
    assert_eq!(error.key(), Some("tracing.exportr"));
    assert!(message.contains("did you mean `exporter`?"), "{message}");
    assert!(
        message.contains("endpoint"),
        "the module's keys are listed: {message}"
    );
    let error = build("metrics:\n  prot: 0\n").to_string();
    assert!(error.contains("unknown key `metrics.prot`"), "{error}");
    assert!(error.contains("did you mean `port`?"), "{error}");
}

#[test]
fn debug_output_hides_header_values() {
    let settings = ok("tracing: {headers: {authorization: Bearer-secret}}", &[]);
    let debug = format!("{settings:?}");
    assert!(debug.contains("authorization"), "{debug}");
    assert!(!debug.contains("Bearer-secret"), "{debug}");
    let debug = format!("{:?}", settings.tracing);
    assert!(debug.contains("authorization"), "{debug}");
    assert!(!debug.contains("Bearer-secret"), "{debug}");
}

#[test]
fn each_signal_reads_its_own_otlp_variables() {
    let settings = env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "api-key=metrics,x-m=1",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1500"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            "/etc/metrics-ca.pem",
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "HTTP/JSON"),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-l=2"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "700"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/etc/logs-ca.pem"),
    ]);
    let traces = settings.tracing.for_signal(OtlpSignal::Traces);
    assert_eq!(
        (traces.protocol, traces.timeout, traces.compression),
        (
            Protocol::HttpProtobuf,
            Duration::from_secs(10),
            Compression::None
        )
    );
    assert_eq!(traces.headers.len(), 1);
    let metrics = settings.tracing.for_signal(OtlpSignal::Metrics);
    assert_eq!(
        (metrics.protocol, metrics.timeout, metrics.compression),
        (
            Protocol::Grpc,
            Duration::from_millis(1500),
            Compression::Gzip
        )
    );
    assert_eq!(metrics.headers["api-key"], "metrics");
    assert_eq!(metrics.headers["x-m"], "1");
    assert_eq!(
        metrics.certificate.as_deref(),
        Some(std::path::Path::new("/etc/metrics-ca.pem"))
    );
    let logs = settings.tracing.for_signal(OtlpSignal::Logs);
    assert_eq!(
        (logs.protocol, logs.timeout, logs.compression),
        (
            Protocol::HttpJson,
            Duration::from_millis(700),
            Compression::Gzip
        )
    );
    assert_eq!(logs.headers["api-key"], "general");
    assert_eq!(logs.headers["x-l"], "2");
    assert_eq!(
        logs.certificate.as_deref(),
        Some(std::path::Path::new("/etc/logs-ca.pem"))
    );
    // The same keys in YAML.
    let settings = ok(
        "tracing:\n  metrics: {protocol: http/json, timeout: 2s, headers: {a: b}}\n  logs: {compression: gzip}\n",
        &[],
    );
    let metrics = settings.tracing.for_signal(OtlpSignal::Metrics);
    assert_eq!(metrics.protocol, Protocol::HttpJson);
    assert_eq!(metrics.timeout, Duration::from_secs(2));
    assert_eq!(metrics.headers["a"], "b");
    assert_eq!(
        settings.tracing.for_signal(OtlpSignal::Logs).compression,
        Compression::Gzip
    );
    fails(
        "",
        &[("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "carrier-pigeon")],
        &[
            "`tracing.logs.protocol`",
            "carrier-pigeon",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        ],
    );
    fails(
        "tracing:\n  metrics: {protcol: grpc}\n",
        &[],
        &["tracing.metrics", "protcol"],
    );
}

#[test]
fn otel_blrp_variables_set_the_log_batch_and_metric_export_timeout_is_read() {
    let settings = ok("", &[]);
    assert_eq!(settings.logging.batch, BatchSettings::logs());
    assert_eq!(
        settings.logging.batch.scheduled_delay,
        Duration::from_secs(1)
    );
    assert_eq!(settings.metrics.export_timeout, Duration::from_secs(30));
    let settings = env(&[
        ("OTEL_BLRP_SCHEDULE_DELAY", "250"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "4000"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "10"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "3000"),
    ]);
    let batch = &settings.logging.batch;
    assert_eq!(batch.scheduled_delay, Duration::from_millis(250));
    assert_eq!(batch.export_timeout, Duration::from_secs(4));
    assert_eq!((batch.max_queue_size, batch.max_batch_size), (100, 10));
    assert_eq!(settings.metrics.export_timeout, Duration::from_secs(3));
    // The log batch is checked as the span batch is, when logs go over OTLP.
    let error = fails(
        "logging: {otlp: true}\n",
        &[
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "10"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "20"),
        ],
        &[
            "`logging.batch.max_batch_size`",
            "found 20",
            "from 1 to logging.batch.max_queue_size (10)",
        ],
    );
    assert_eq!(
        error.origin(),
        Some("environment variable `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`")
    );
    fails(
        "metrics: {exporter: otlp}\n",
        &[("OTEL_METRIC_EXPORT_TIMEOUT", "0")],
        &["`metrics.export_timeout`", "greater than zero"],
    );
}

// --- tail sampling and promotion ----------------------------------------------------------

#[test]
fn tail_sampling_and_promotion_read_from_yaml() {
    let s = ok(
        "tracing:\n  tail_sampling:\n    enabled: true\n    decision_wait: 5s\n    \
         max_traces: 50\n    max_spans_per_trace: 20\n    policies:\n      \
         - type: status_code\n      - type: latency\n        threshold: 300ms\n        \
         upper_threshold: 10s\n      - type: attribute\n        key: user.tier\n        \
         values: [gold, \"true\"]\n      - type: probabilistic\n        rate: 0.25\n      \
         - type: rate_limiting\n        spans_per_second: 100\n      - type: drop\n        \
         key: http.route\n        values: [/health]\n    default: keep\n  \
         promotion:\n    enabled: true\n    threshold: 20ms\n    fast_calls: none\n",
        &[],
    );
    let t = &s.tracing.tail_sampling;
    assert!(t.enabled);
    assert_eq!(t.decision_wait, Duration::from_secs(5));
    assert_eq!((t.max_traces, t.max_spans_per_trace), (50, 20));
    assert_eq!(t.default, TailDefault::Keep);
    assert_eq!(
        t.policies,
        vec![
            TailPolicy::StatusCode {
                status_codes: vec![StatusCodeName::Error]
            },
            TailPolicy::Latency {
                threshold: Duration::from_millis(300),
                upper_threshold: Some(Duration::from_secs(10)),
            },
            TailPolicy::Attribute {
                key: "user.tier".into(),
                values: vec!["gold".into(), "true".into()],
            },
            TailPolicy::Probabilistic { rate: 0.25 },
            TailPolicy::RateLimiting {
                spans_per_second: 100
            },
            TailPolicy::Drop {
                key: "http.route".into(),
                values: vec!["/health".into()],
            },
        ]
    );
    let kinds: Vec<&str> = t.policies.iter().map(TailPolicy::kind).collect();
    assert_eq!(
        kinds,
        [
            "status_code",
            "latency",
            "attribute",
            "probabilistic",
            "rate_limiting",
            "drop"
        ]
    );
    let p = &s.tracing.promotion;
    assert!(p.enabled);
    assert_eq!(p.threshold, Duration::from_millis(20));
    assert_eq!(p.fast_calls, FastCalls::None);
    // Off by default.
    let d = ok("", &[]);
    assert!(!d.tracing.tail_sampling.enabled && !d.tracing.promotion.enabled);
}

#[test]
fn bad_tail_sampling_and_promotion_values_are_named() {
    let policy =
        |body: &str| format!("tracing:\n  tail_sampling:\n    policies:\n      - type: {body}\n");
    fails(
        &policy("probabilistic\n        rate: -0.1"),
        &[],
        &[
            "tracing.tail_sampling.policies[0].rate",
            "-0.1",
            "from 0 to 1",
        ],
    );
    fails(
        &policy("rate_limiting\n        spans_per_second: 0"),
        &[],
        &["policies[0].spans_per_second", "at least 1"],
    );
    fails(
        &policy("attribute\n        key: user.tier\n        values: []"),
        &[],
        &["policies[0].values", "non-empty"],
    );
    fails(
        &policy("status_code\n        status_codes: []"),
        &[],
        &["policies[0].status_codes"],
    );
    fails(
        &policy("latency\n        threshold: 0s"),
        &[],
        &["policies[0].threshold"],
    );
    fails(
        "tracing:\n  tail_sampling:\n    decision_wait: 0s\n",
        &[],
        &["tracing.tail_sampling.decision_wait"],
    );
    fails(
        "tracing:\n  tail_sampling:\n    max_spans_per_trace: 0\n",
        &[],
        &["tracing.tail_sampling.max_spans_per_trace", "at least 1"],
    );
    fails(
        "tracing:\n  tail_sampling:\n    enabled: true\n    policy: []\n",
        &[],
        &["policy"],
    );
    fails(
        "tracing:\n  promotion:\n    threshold: 0ms\n",
        &[],
        &["tracing.promotion.threshold"],
    );
}
