//! The core's conformance suite against module `otel`, through the real SDK pipeline (batch
//! processor and exporter as configured), on both runtime flavours.

use hyperion::testing::conformance;
use hyperion_otel::testing::OtelHarness;

/// Exporter `none` needs no backend; the harness reads the spans back from a capturing exporter
/// it adds to the same provider. (The exporters themselves are tested against rotel.)
const YAML: &str = "tracing:\n  exporter: none\n  service_name: conformance\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_conforms_on_a_multi_thread_runtime() {
    conformance::run(&OtelHarness::new(YAML))
        .await
        .assert_passed();
}

#[tokio::test(flavor = "current_thread")]
async fn otel_conforms_on_a_current_thread_runtime() {
    conformance::run(&OtelHarness::new(YAML))
        .await
        .assert_passed();
}
