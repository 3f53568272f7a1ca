//! The OpenTelemetry resource every signal reports: the service identity and attributes.

use hyperion::config::Config;
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

/// The resource: service name, version, namespace and environment, the SDK's own attributes,
/// and `tracing.attributes` (which already holds `OTEL_RESOURCE_ATTRIBUTES`).
pub(crate) fn resource(config: &Config) -> Resource {
    // `Config::service_name` falls back on `service.name` in the attributes (e.g. from
    // OTEL_RESOURCE_ATTRIBUTES), as the OpenTelemetry spec says.
    let service_name = config
        .service_name()
        .unwrap_or("unknown_service")
        .to_owned();
    let mut attributes = Vec::new();
    let service = &config.service;
    if let Some(v) = &service.version {
        attributes.push(KeyValue::new("service.version", v.clone()));
    }
    if let Some(v) = &service.namespace {
        attributes.push(KeyValue::new("service.namespace", v.clone()));
    }
    if let Some(v) = &service.environment {
        attributes.push(KeyValue::new("deployment.environment", v.clone()));
        attributes.push(KeyValue::new("deployment.environment.name", v.clone()));
    }
    for (k, v) in &config.tracing.attributes {
        attributes.push(KeyValue::new(k.clone(), v.clone()));
    }
    Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attributes(attributes)
        .with_service_name(service_name)
        .build()
}
