//! The OpenTelemetry resource every signal reports: the service identity and attributes.

use hyperion::config::Config;
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

/// The resource: service name, version, namespace and environment, the SDK's own attributes,
/// and `tracing.attributes` (which already holds `OTEL_RESOURCE_ATTRIBUTES`).
///
/// The original design's attributes `environment` and `version` are kept under their own keys
/// and also given under the semantic-convention keys dashboards query,
/// `deployment.environment.name` and `service.version`, unless those are set otherwise
/// (`service.environment`, `service.version`, or the attributes themselves).
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
    for (raw, conventional) in [
        ("environment", "deployment.environment.name"),
        ("version", "service.version"),
    ] {
        let set = |key: &str| attributes.iter().any(|a| a.key.as_str() == key);
        if let Some(value) = config.tracing.attributes.get(raw)
            && !set(conventional)
        {
            attributes.push(KeyValue::new(conventional, value.clone()));
        }
    }
    Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attributes(attributes)
        .with_service_name(service_name)
        .build()
}

#[cfg(test)]
mod tests {
    use opentelemetry::{Key, Value};

    use super::*;

    fn get(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&Key::from_static_str(key))
            .map(|v: Value| v.to_string())
    }

    #[test]
    fn the_designs_environment_and_version_also_reach_the_conventional_keys() {
        let config = Config::from_yaml_str(
            "service:\n  name: api\ntracing:\n  attributes:\n    environment: production\n    version: 1.2.3\n",
        )
        .unwrap();
        let r = resource(&config);
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some("production")
        );
        assert_eq!(get(&r, "service.version").as_deref(), Some("1.2.3"));
        assert_eq!(get(&r, "environment").as_deref(), Some("production"));
        assert_eq!(get(&r, "version").as_deref(), Some("1.2.3"));
    }

    #[test]
    fn keys_set_otherwise_are_not_overridden() {
        let config = Config::from_yaml_str(
            "service:\n  name: api\n  version: 2.0.0\n  environment: staging\ntracing:\n  attributes:\n    environment: production\n    version: 1.2.3\n",
        )
        .unwrap();
        let r = resource(&config);
        assert_eq!(get(&r, "service.version").as_deref(), Some("2.0.0"));
        assert_eq!(
            get(&r, "deployment.environment.name").as_deref(),
            Some("staging")
        );
    }
}
