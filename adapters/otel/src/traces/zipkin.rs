//! The `zipkin` exporter: Zipkin JSON v2 over HTTP.
//!
//! Hand-written, because the upstream `opentelemetry-zipkin` 0.33 is deprecated and, checked
//! here, sends every span with an empty `localEndpoint` (no `serviceName`, so Zipkin cannot group
//! spans by service) and an all-zero `parentId` on roots. The format is small: one JSON array of
//! spans per request. Runs on the SDK's batch thread with a blocking HTTP client.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Map, Value, json};

/// Exports spans as Zipkin JSON v2 to `POST {endpoint}` (usually `…:9411/api/v2/spans`).
#[derive(Debug)]
pub(crate) struct ZipkinExporter {
    client: reqwest::blocking::Client,
    endpoint: String,
    service_name: String,
    max_retries: u32,
}

impl ZipkinExporter {
    /// Builds the exporter. The blocking client must be built outside any async runtime.
    pub(crate) fn new(
        endpoint: String,
        config: &crate::config::TracingSettings,
    ) -> Result<Self, String> {
        let target = crate::exporter::Target {
            url: endpoint.clone(),
            base_url: endpoint.clone(),
            protocol: config.protocol,
            note: None,
            metrics_url: None,
            logs_url: None,
        };
        let client = crate::exporter::http_client(config, &target)?;
        Ok(ZipkinExporter {
            client,
            endpoint,
            service_name: "unknown_service".to_owned(),
            max_retries: 3,
        })
    }

    fn send(&self, body: &[u8]) -> OTelSdkResult {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let response = self
                .client
                .post(&self.endpoint)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send();
            let retryable = match &response {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => matches!(r.status().as_u16(), 429 | 502 | 503 | 504),
                Err(e) => e.is_connect() || e.is_timeout(),
            };
            if !retryable || attempt >= self.max_retries {
                let why = match response {
                    Ok(r) => format!("HTTP {}", r.status()),
                    Err(e) => e.to_string(),
                };
                return Err(OTelSdkError::InternalFailure(format!(
                    "zipkin export to {}: {why}",
                    self.endpoint
                )));
            }
            attempt += 1;
            std::thread::sleep(delay);
            delay *= 2;
        }
    }
}

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One span in Zipkin JSON v2.
pub(crate) fn span_json(span: &SpanData, service_name: &str) -> Value {
    let mut out = Map::new();
    out.insert(
        "traceId".into(),
        span.span_context.trace_id().to_string().into(),
    );
    out.insert("id".into(), span.span_context.span_id().to_string().into());
    if span.parent_span_id != SpanId::INVALID {
        out.insert("parentId".into(), span.parent_span_id.to_string().into());
    }
    out.insert("name".into(), span.name.as_ref().into());
    let kind = match span.span_kind {
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Server => Some("SERVER"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal => None,
    };
    if let Some(kind) = kind {
        out.insert("kind".into(), kind.into());
    }
    let start = micros(span.start_time);
    out.insert("timestamp".into(), start.into());
    // Zipkin treats a zero duration as "unknown"; a finished span lasted at least 1 µs.
    out.insert(
        "duration".into(),
        micros(span.end_time).saturating_sub(start).max(1).into(),
    );
    out.insert(
        "localEndpoint".into(),
        json!({ "serviceName": service_name }),
    );
    let mut tags = Map::new();
    for kv in &span.attributes {
        tags.insert(kv.key.to_string(), kv.value.to_string().into());
    }
    tags.insert(
        "otel.scope.name".into(),
        span.instrumentation_scope.name().into(),
    );
    match &span.status {
        Status::Unset => {}
        Status::Ok => {
            tags.insert("otel.status_code".into(), "OK".into());
        }
        Status::Error { description } => {
            tags.insert("otel.status_code".into(), "ERROR".into());
            tags.insert("error".into(), description.as_ref().into());
        }
    }
    out.insert("tags".into(), Value::Object(tags));
    let annotations: Vec<Value> = span
        .events
        .iter()
        .map(|e| {
            let value = if e.attributes.is_empty() {
                e.name.to_string()
            } else {
                let attrs: Map<String, Value> = e
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.to_string(), kv.value.to_string().into()))
                    .collect();
                format!("{} {}", e.name, Value::Object(attrs))
            };
            json!({ "timestamp": micros(e.timestamp), "value": value })
        })
        .collect();
    if !annotations.is_empty() {
        out.insert("annotations".into(), Value::Array(annotations));
    }
    Value::Object(out)
}

impl SpanExporter for ZipkinExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans: Vec<Value> = batch
            .iter()
            .map(|s| span_json(s, &self.service_name))
            .collect();
        let body =
            serde_json::to_vec(&spans).map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
        self.send(&body)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        if let Some(name) = resource.get(&opentelemetry::Key::from_static_str("service.name")) {
            self.service_name = name.to_string();
        }
    }
}
