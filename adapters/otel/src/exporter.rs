//! From `tracing.*` config to an OpenTelemetry span exporter: endpoint resolution (including the
//! mapping of Jaeger's legacy ports to OTLP), protocol, headers, timeout, compression and retry.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use hyperion::config::ConfigError;

use hyperion::registry::ModuleError;

use crate::adapter_runtime::{AdapterRuntime, off_runtime};
use crate::config::{Compression, Exporter, OtelSettings, OtlpSignal, Protocol, TracingSettings};
use crate::{config_error, module_error};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};

/// Where and how spans go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The full URL: for OTLP/HTTP including `/v1/traces`, for Zipkin `/api/v2/spans`.
    pub(crate) url: String,
    /// The traces URL `tracing.endpoint` gives (the same as `url` unless
    /// `tracing.traces_endpoint` is set): what the other signals' URLs derive from.
    pub(crate) base_url: String,
    /// `tracing.metrics_endpoint`, used as given.
    pub(crate) metrics_url: Option<String>,
    /// `tracing.logs_endpoint`, used as given.
    pub(crate) logs_url: Option<String>,
    /// The OTLP protocol (ignored for Zipkin).
    pub(crate) protocol: Protocol,
    /// A note for the operator when the configured endpoint was mapped.
    pub(crate) note: Option<String>,
}

fn invalid(found: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: "tracing.endpoint".to_owned(),
        found: format!("{found:?}"),
        expected: expected.to_owned(),
        origin: None,
    }
}

/// Parses an endpoint, adding `http://` when it has no scheme.
fn parse(endpoint: &str) -> Result<http::Uri, ConfigError> {
    const EXPECTED: &str = "a URL such as http://localhost:4317 or https://collector:4318";
    let text = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    };
    let uri = http::Uri::from_str(&text).map_err(|_| invalid(endpoint, EXPECTED))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(uri),
        _ => Err(invalid(endpoint, EXPECTED)),
    }
}

fn with_port(uri: &http::Uri, port: u16, path: &str) -> String {
    format!(
        "{}://{}:{port}{path}",
        uri.scheme_str().unwrap_or("http"),
        uri.host().unwrap_or("localhost")
    )
}

fn base(uri: &http::Uri) -> String {
    let mut s = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str()).unwrap_or("localhost")
    );
    let path = uri.path();
    if path != "/" {
        s.push_str(path.trim_end_matches('/'));
    }
    s
}

/// Resolves the configured exporter and endpoint; `None` for exporters with no endpoint.
pub(crate) fn resolve(config: &TracingSettings) -> Result<Option<Target>, ConfigError> {
    match config.exporter {
        Exporter::None | Exporter::Console => Ok(None),
        Exporter::Zipkin => {
            let endpoint = config
                .endpoint
                .as_deref()
                .unwrap_or("http://localhost:9411");
            let uri = parse(endpoint)?;
            let url = if uri.path() == "/" || uri.path().is_empty() {
                format!("{}/api/v2/spans", base(&uri))
            } else {
                base(&uri)
            };
            Ok(Some(Target {
                base_url: url.clone(),
                url,
                protocol: config.protocol,
                note: None,
                metrics_url: None,
                logs_url: None,
            }))
        }
        Exporter::Otlp | Exporter::Jaeger => {
            let mut protocol = config.protocol;
            let mut note = None;
            let url = match config.endpoint.as_deref() {
                None => match protocol {
                    Protocol::Grpc => "http://localhost:4317".to_owned(),
                    _ => "http://localhost:4318/v1/traces".to_owned(),
                },
                Some(endpoint) => {
                    let uri = parse(endpoint)?;
                    let jaeger_legacy = config.exporter == Exporter::Jaeger
                        && matches!(uri.port_u16(), Some(14268 | 14250 | 6831 | 6832));
                    if jaeger_legacy {
                        // Jaeger's Thrift/HTTP (14268), model gRPC (14250) and agent UDP
                        // (6831/6832) ports do not take OTLP; its OTLP ports are 4317 and 4318.
                        let (port, mapped) = if uri.port_u16() == Some(14268) {
                            protocol = Protocol::HttpProtobuf;
                            (4318, "/v1/traces")
                        } else {
                            protocol = Protocol::Grpc;
                            (4317, "")
                        };
                        let url = with_port(&uri, port, mapped);
                        note = Some(format!(
                            "tracing.endpoint {endpoint:?} is a legacy Jaeger port that does not \
                             accept OTLP; exporting to Jaeger's OTLP endpoint {url} instead \
                             (set tracing.endpoint to it to silence this note)"
                        ));
                        url
                    } else if protocol == Protocol::Grpc || uri.path().ends_with("/v1/traces") {
                        base(&uri)
                    } else {
                        // A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: the signal path is
                        // appended, also after a path of its own (`/otlp` -> `/otlp/v1/traces`).
                        format!("{}/v1/traces", base(&uri))
                    }
                }
            };
            // Per-signal endpoints are used as given; they are still checked to be URLs.
            let given = |endpoint: &Option<String>,
                         key: &str|
             -> Result<Option<String>, ConfigError> {
                match endpoint {
                    None => Ok(None),
                    Some(e) => {
                        parse(e).map_err(|_| ConfigError::Invalid {
                            key: format!("tracing.{key}"),
                            found: format!("{e:?}"),
                            expected: "a URL such as https://collector:4318/v1/traces".to_owned(),
                            origin: None,
                        })?;
                        Ok(Some(e.clone()))
                    }
                }
            };
            let traces = given(&config.traces_endpoint, "traces_endpoint")?;
            Ok(Some(Target {
                base_url: url.clone(),
                url: traces.unwrap_or(url),
                protocol,
                note,
                metrics_url: given(&config.metrics_endpoint, "metrics_endpoint")?,
                logs_url: given(&config.logs_endpoint, "logs_endpoint")?,
            }))
        }
    }
}

/// How long one export may take: `tracing.timeout`, bounded by `tracing.batch.export_timeout`
/// (the SDK's synchronous batch processor has no per-export timeout of its own).
pub(crate) fn export_timeout(config: &TracingSettings) -> Duration {
    config.timeout.min(config.batch.export_timeout)
}

/// The retry policy: exponential backoff on retryable failures (gRPC UNAVAILABLE and friends,
/// HTTP 429/502/503/504, connection errors), never on other 4xx. The OTLP exporter classifies
/// errors itself; the whole attempt stays within `tracing.timeout`.
fn retry_policy() -> opentelemetry_otlp::RetryPolicy {
    opentelemetry_otlp::RetryPolicy::recommended()
        .with_max_retries(3)
        .with_initial_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
}

/// The settings both OTLP transports share: endpoint, timeout, retry, compression.
fn common<B: WithExportConfig>(b: B, config: &TracingSettings, url: &str) -> B {
    b.with_endpoint(url.to_owned())
        .with_timeout(export_timeout(config))
}

/// gRPC: headers as metadata, gzip, TLS for `https` (rustls, webpki roots plus
/// `tracing.certificate`). Build on the runtime the connection should live on.
fn tonic_settings<B: WithExportConfig + WithTonicConfig>(
    b: B,
    config: &TracingSettings,
    url: &str,
) -> Result<B, String> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (k, v) in &config.headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("invalid header name {k:?} in tracing.headers"))?;
        let value = v
            .parse()
            .map_err(|_| format!("invalid value for header {k:?} in tracing.headers"))?;
        metadata.insert(key, value);
    }
    let mut b = common(b, config, url)
        .with_metadata(metadata)
        .with_retry_policy(retry_policy());
    if config.compression == Compression::Gzip {
        b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    if url.starts_with("https://") {
        let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
        if let Some(pem) = ca_certificate(config)? {
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        b = b.with_tls_config(tls);
    }
    Ok(b)
}

/// OTLP/HTTP: protobuf or JSON, headers, gzip, our blocking client (TLS with `http-tls`).
/// Build off the async runtime.
fn http_settings<B: WithExportConfig + WithHttpConfig>(
    b: B,
    config: &TracingSettings,
    target: &Target,
    url: &str,
) -> Result<B, String> {
    let protocol = if target.protocol == Protocol::HttpJson {
        opentelemetry_otlp::Protocol::HttpJson
    } else {
        opentelemetry_otlp::Protocol::HttpBinary
    };
    let headers: HashMap<String, String> = config.headers.clone().into_iter().collect();
    let mut b = common(
        b.with_http_client(http_client(config, target)?),
        config,
        url,
    )
    .with_protocol(protocol)
    .with_headers(headers)
    .with_retry_policy(retry_policy());
    if config.compression == Compression::Gzip {
        b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    Ok(b)
}

/// Builds the OTLP span exporter. gRPC must be built on the tokio runtime its connection should
/// live on; HTTP builds a blocking client, which must not be built on a runtime thread.
pub(crate) fn otlp(
    config: &TracingSettings,
    target: &Target,
) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let result = match target.protocol {
        Protocol::Grpc => tonic_settings(builder.with_tonic(), config, &target.url)?.build(),
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            http_settings(builder.with_http(), config, target, &target.url)?.build()
        }
    };
    result.map_err(|e| e.to_string())
}

/// The OTLP URL for metrics: `tracing.metrics_endpoint` as given, else beside the traces URL
/// of `tracing.endpoint` (`…/v1/traces` becomes `…/v1/metrics`).
pub(crate) fn metrics_url(target: &Target) -> String {
    signal_url(target, "metrics")
}

/// The OTLP URL of another signal: its own endpoint as given, else beside the traces URL that
/// `tracing.endpoint` gives (not a per-signal traces endpoint); gRPC URLs have no path.
fn signal_url(target: &Target, signal: &str) -> String {
    let own = match signal {
        "metrics" => target.metrics_url.as_ref(),
        "logs" => target.logs_url.as_ref(),
        _ => None,
    };
    if let Some(url) = own {
        return url.clone();
    }
    match target.base_url.strip_suffix("/v1/traces") {
        Some(base) if target.protocol != Protocol::Grpc => format!("{base}/v1/{signal}"),
        _ => target.base_url.clone(),
    }
}

/// Builds the OTLP log exporter to the same collector as traces (same rules as [`otlp`]).
pub(crate) fn otlp_logs(
    config: &TracingSettings,
    target: &Target,
) -> Result<opentelemetry_otlp::LogExporter, String> {
    let builder = opentelemetry_otlp::LogExporter::builder();
    let url = signal_url(target, "logs");
    let result = match target.protocol {
        Protocol::Grpc => tonic_settings(builder.with_tonic(), config, &url)?.build(),
        Protocol::HttpProtobuf | Protocol::HttpJson => {
            http_settings(builder.with_http(), config, target, &url)?.build()
        }
    };
    result.map_err(|e| e.to_string())
}

/// Builds the sender of OTLP metrics (the adapter's own, see [`crate::metrics::otlp`]) to the
/// same collector as traces, with the same headers, compression, TLS and timeout rules as
/// [`otlp`]. gRPC must be built on the adapter's runtime, HTTP off any runtime.
pub(crate) fn otlp_metrics(
    config: &TracingSettings,
    target: &Target,
) -> Result<crate::metrics::otlp::Sender, String> {
    use crate::metrics::otlp::{Sender, Transport};
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    let url = metrics_url(target);
    let timeout = export_timeout(config);
    let transport = match target.protocol {
        Protocol::Grpc => {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for (k, v) in &config.headers {
                let key =
                    tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("invalid header name {k:?} in tracing.headers"))?;
                let value = v
                    .parse()
                    .map_err(|_| format!("invalid value for header {k:?} in tracing.headers"))?;
                metadata.insert(key, value);
            }
            let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone())
                .map_err(|e| format!("invalid value for `tracing.endpoint` {url:?}: {e}"))?;
            if url.starts_with("https://") {
                let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
                if let Some(pem) = ca_certificate(config)? {
                    tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                }
                endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
            }
            let channel = endpoint.connect_lazy();
            Transport::Grpc {
                client: Box::new(MetricsServiceClient::new(channel)),
                metadata,
                runtime: tokio::runtime::Handle::current(),
            }
        }
        Protocol::HttpProtobuf | Protocol::HttpJson => Transport::Http {
            client: http_client(config, target)?,
            url,
            headers: config.headers.clone().into_iter().collect(),
            json: target.protocol == Protocol::HttpJson,
        },
    };
    Ok(Sender {
        transport,
        gzip: config.compression == Compression::Gzip,
        timeout,
    })
}

/// The PEM of `tracing.certificate`, the CA that signs the collector's certificate.
fn ca_certificate(config: &TracingSettings) -> Result<Option<Vec<u8>>, String> {
    let Some(path) = &config.certificate else {
        return Ok(None);
    };
    std::fs::read(path).map(Some).map_err(|e| {
        format!(
            "invalid value for `tracing.certificate`: cannot read {}: {e}",
            path.display()
        )
    })
}

/// The blocking HTTP client for OTLP/HTTP and Zipkin, with the export timeout; with the
/// `http-tls` feature, rustls (ring) trusting the system's roots plus `tracing.certificate`.
/// Build it off the async runtime.
pub(crate) fn http_client(
    config: &TracingSettings,
    target: &Target,
) -> Result<reqwest::blocking::Client, String> {
    let builder = reqwest::blocking::Client::builder().timeout(export_timeout(config));
    #[cfg(feature = "http-tls")]
    let builder = {
        // reqwest is built without a default crypto provider (to avoid a second TLS stack next
        // to tonic's ring); make ring the process default unless someone chose one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = builder;
        if let Some(pem) = ca_certificate(config)? {
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("invalid value for `tracing.certificate`: {e}"))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
    };
    #[cfg(not(feature = "http-tls"))]
    if target.url.starts_with("https://") {
        return Err(format!(
            "invalid value for `tracing.endpoint`: found {:?}, but hyperion-otel was built \
             without its `http-tls` cargo feature; enable it for https over OTLP/HTTP and \
             Zipkin, or use protocol grpc",
            target.url
        ));
    }
    let _ = target;
    builder.build().map_err(|e| e.to_string())
}

/// An OTLP exporter of metrics or logs to the traces' collector settings, whatever
/// `tracing.exporter` says (spans may go to `console` or nowhere while the rest goes to the
/// collector). gRPC is built on the adapter's runtime, HTTP off any runtime.
pub(crate) async fn collector_exporter<E: Send + 'static>(
    settings: &OtelSettings,
    signal: OtlpSignal,
    runtime: &mut Option<AdapterRuntime>,
    build: fn(&TracingSettings, &Target) -> Result<E, String>,
) -> Result<E, ModuleError> {
    // The general collector settings with the signal's own over them; the request timeout is
    // bounded by the signal's export timeout, as spans' is by `tracing.batch.export_timeout`
    // (neither the periodic reader nor the thread-based log processor bounds an export).
    let mut tracing = settings.tracing.for_signal(signal);
    tracing.exporter = Exporter::Otlp;
    tracing.batch.export_timeout = match signal {
        OtlpSignal::Metrics => settings.metrics.export_timeout,
        OtlpSignal::Logs => settings.logging.batch.export_timeout,
        OtlpSignal::Traces => tracing.batch.export_timeout,
    };
    let target = resolve(&tracing)
        .map_err(config_error)?
        .expect("OTLP always resolves to a target");
    if target.protocol == Protocol::Grpc {
        let handle = AdapterRuntime::get(runtime)?;
        let _entered = handle.enter();
        build(&tracing, &target).map_err(module_error)
    } else {
        off_runtime(move || build(&tracing, &target)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracing(yaml: &str) -> TracingSettings {
        let config = hyperion::Config::from_yaml_str(yaml).unwrap();
        crate::config::OtelSettings::from_config(&config)
            .unwrap()
            .tracing
    }

    #[test]
    fn per_signal_endpoints_are_used_as_given() {
        let t = resolve(&tracing(
            "tracing:\n  protocol: http/protobuf\n  endpoint: http://collector:4318\n  \
             traces_endpoint: http://traces:4318/custom\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "http://traces:4318/custom", "no /v1/traces appended");
        // The other signals keep deriving from the general endpoint, not from the traces URL.
        assert_eq!(metrics_url(&t), "http://collector:4318/v1/metrics");
        assert_eq!(signal_url(&t, "logs"), "http://collector:4318/v1/logs");
        let t = resolve(&tracing(
            "tracing:\n  protocol: http/protobuf\n  metrics_endpoint: http://m:9000/x\n  \
             logs_endpoint: http://l:9000/y\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "http://localhost:4318/v1/traces");
        assert_eq!(metrics_url(&t), "http://m:9000/x");
        assert_eq!(signal_url(&t, "logs"), "http://l:9000/y");
        let error = resolve(&tracing("tracing:\n  traces_endpoint: \"not a url\"\n")).unwrap_err();
        assert_eq!(error.key(), Some("tracing.traces_endpoint"));
    }

    #[test]
    fn otlp_defaults_follow_the_protocol() {
        let t = resolve(&tracing("")).unwrap().unwrap();
        assert_eq!(
            (t.url.as_str(), t.protocol),
            ("http://localhost:4317", Protocol::Grpc)
        );
        let t = resolve(&tracing("tracing:\n  protocol: http/json\n"))
            .unwrap()
            .unwrap();
        assert_eq!(t.url, "http://localhost:4318/v1/traces");
    }

    #[test]
    fn http_endpoints_get_the_signal_path_once() {
        let t = resolve(&tracing(
            "tracing:\n  protocol: http/protobuf\n  endpoint: collector:4318\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "http://collector:4318/v1/traces");
        let t = resolve(&tracing(
            "tracing:\n  protocol: http/protobuf\n  endpoint: https://c:443/custom/v1/traces\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "https://c:443/custom/v1/traces");
    }

    #[test]
    fn a_base_url_with_a_path_gets_the_signal_path_appended() {
        let t = resolve(&tracing(
            "tracing:\n  protocol: http/protobuf\n  endpoint: http://c:4318/otlp/\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "http://c:4318/otlp/v1/traces");
        assert_eq!(metrics_url(&t), "http://c:4318/otlp/v1/metrics");
    }

    #[test]
    fn jaegers_legacy_thrift_port_maps_to_otlp_http_with_a_note() {
        let t = resolve(&tracing(
            "tracing:\n  exporter: jaeger\n  endpoint: localhost:14268\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "http://localhost:4318/v1/traces");
        assert_eq!(t.protocol, Protocol::HttpProtobuf);
        let note = t.note.unwrap();
        assert!(note.contains("14268") && note.contains("4318"), "{note}");
        let t = resolve(&tracing(
            "tracing:\n  exporter: jaeger\n  endpoint: jaeger:14250\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            (t.url.as_str(), t.protocol),
            ("http://jaeger:4317", Protocol::Grpc)
        );
        // Jaeger's OTLP ports pass through unchanged, without a note.
        let t = resolve(&tracing(
            "tracing:\n  exporter: jaeger\n  endpoint: jaeger:4317\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!((t.url.as_str(), t.note), ("http://jaeger:4317", None));
    }

    #[test]
    fn zipkin_gets_its_api_path() {
        let t = resolve(&tracing(
            "tracing:\n  exporter: zipkin\n  endpoint: zipkin:9411\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "http://zipkin:9411/api/v2/spans");
    }

    #[test]
    fn a_malformed_endpoint_names_the_key() {
        for bad in [
            "http://",
            "ftp://collector:21",
            "http://exa mple:4317",
            "://x",
        ] {
            let yaml = format!("tracing:\n  endpoint: \"{bad}\"\n");
            let err = resolve(&tracing(&yaml)).unwrap_err().to_string();
            assert!(err.contains("`tracing.endpoint`"), "{err}");
            assert!(err.contains(bad), "{err}");
            assert!(err.contains("expected a URL"), "{err}");
        }
    }

    #[test]
    fn console_and_none_have_no_endpoint() {
        assert_eq!(
            resolve(&tracing("tracing:\n  exporter: console\n")).unwrap(),
            None
        );
        assert_eq!(
            resolve(&tracing("tracing:\n  exporter: none\n")).unwrap(),
            None
        );
    }
}
