//! The `otel` module's settings as the telemetry builder sees them: the README's YAML examples
//! build as written, and `otel` reads only the sections of the signals it serves, so another
//! module may serve a signal with keys of the same name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperion::Telemetry;
use hyperion::config::{ConfigLoader, Settings};
use hyperion::registry::{BoxFuture, BuildRequest, Module, ModuleError, ModuleInstance};
use hyperion_otel::OtelModule;

/// The README's ```yaml blocks: the original design's example, then the adapter's `tracing`,
/// `metrics` and `logging` sections, then tail sampling and span promotion.
fn readme_yaml() -> Vec<&'static str> {
    include_str!("../../../README.md")
        .split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .collect()
}

/// The README's three YAML examples: the original design's, the adapter's three sections as
/// one document, and tail sampling with promotion.
fn readme_examples() -> [String; 3] {
    let blocks = readme_yaml();
    assert_eq!(
        blocks.len(),
        5,
        "the README's yaml blocks changed: update this test"
    );
    [
        blocks[0].to_owned(),
        blocks[1..4].concat(),
        blocks[4].to_owned(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_yaml_examples_build_as_written() {
    for yaml in readme_examples() {
        let config = ConfigLoader::new()
            .yaml(yaml.as_str())
            // The examples' fixed ports may be taken on a test machine.
            .set("metrics.port", 0)
            .load()
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let otel = OtelModule::new();
        let telemetry = Telemetry::builder()
            .module(otel.clone())
            .config(config)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(telemetry.module_names(), vec!["otel"]);
        assert!(telemetry.tracer().is_some() && telemetry.meter_provider().is_some());
        let endpoint = otel.prometheus_endpoint().expect("a Prometheus endpoint");
        assert_eq!(endpoint.path(), "/metrics");
        // Nothing listens on the collector's ports here: a bounded shutdown is all we ask.
        let _ = telemetry.shutdown(Duration::from_secs(2)).await;
    }
}

/// A metrics module whose `exporter` key is a free-form string, unlike `otel`'s enumeration.
#[derive(Clone, Default)]
struct Statsd {
    read: Arc<Mutex<Option<StatsdMetrics>>>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
struct StatsdMetrics {
    exporter: String,
}

struct Quiet;
impl ModuleInstance for Quiet {}

impl Module for Statsd {
    fn name(&self) -> &str {
        "statsd"
    }

    fn settings(&self) -> Settings {
        Settings::new().section::<StatsdMetrics>("metrics")
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ModuleInstance>, ModuleError>> {
        Box::pin(async move {
            *self.read.lock().unwrap() = Some(request.settings("metrics")?);
            Ok(Box::new(Quiet) as Box<dyn ModuleInstance>)
        })
    }
}

#[tokio::test]
async fn otel_reads_no_section_of_a_signal_another_module_serves() {
    let statsd = Statsd::default();
    let config = ConfigLoader::new()
        .yaml("adapter: otel\ntracing:\n  exporter: none\nmetrics:\n  adapter: statsd\n  exporter: udp\n")
        .load()
        .unwrap();
    let telemetry = Telemetry::builder()
        .module(OtelModule::new())
        .module(statsd.clone())
        .config(config)
        .build()
        .await
        .unwrap_or_else(|e| panic!("otel must not read `metrics`, which statsd serves: {e}"));
    assert_eq!(telemetry.module_names(), vec!["otel", "statsd"]);
    assert_eq!(
        statsd.read.lock().unwrap().clone(),
        Some(StatsdMetrics {
            exporter: "udp".to_owned()
        })
    );
    // Served by otel, the same value is one of otel's names or an error.
    let config = ConfigLoader::new()
        .yaml("tracing:\n  exporter: none\nmetrics:\n  exporter: udp\n")
        .load()
        .unwrap();
    let error = Telemetry::builder()
        .module(OtelModule::new())
        .module(Statsd::default())
        .config(config)
        .build()
        .await
        .expect_err("`udp` is not an otel metrics exporter");
    assert!(
        error
            .to_string()
            .contains("invalid value for `metrics.exporter`: found \"udp\""),
        "{error}"
    );
    telemetry.shutdown(Duration::from_secs(2)).await.unwrap();
}
