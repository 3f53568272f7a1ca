//! The tracing bridge installed globally at level trace, with OTLP logs on: exporting must not
//! produce log records that are exported in turn (h2, tonic and the SDK log while exporting).
//! Its own binary, because it installs a global subscriber.

mod support;

use std::time::Duration;

use hyperion::{Config, Telemetry};
use hyperion_otel::{OtelModule, TracingBridge};
use support::OtlpReceiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_logs_does_not_feed_itself_through_the_bridge() {
    let receiver = OtlpReceiver::start().await;
    let yaml = format!(
        "tracing:\n  exporter: none\n  endpoint: \"{}\"\nmetrics:\n  enabled: false\n\
         logging:\n  level: trace\n  otlp: true\n  output: stderr\n",
        receiver.grpc_endpoint()
    );
    let t = Telemetry::builder()
        .module(OtelModule::new().with_log_buffer(Default::default()))
        .config(Config::from_yaml_str(&yaml).unwrap())
        .build()
        .await
        .unwrap();
    use tracing_subscriber::layer::SubscriberExt as _;
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(NotOnTheReceiver(TracingBridge::new(&t))),
    )
    .expect("the only subscriber in this binary");

    tracing::info!(target: "app", "the one record");
    // Several batch periods (1 s each): a loop would export more and more records.
    for _ in 0..3 {
        t.flush(Duration::from_secs(5)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let records = receiver.log_records();
    assert_eq!(
        records.len(),
        1,
        "{:#?}",
        records
            .iter()
            .map(|(_, r)| r.body.clone())
            .collect::<Vec<_>>()
    );
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The in-test receiver is a gRPC server in this same process, and h2 logs there too: those
/// events are the test's, not the adapter's, so they are kept from the bridge.
struct NotOnTheReceiver(TracingBridge);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NotOnTheReceiver {
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if std::thread::current().name() != Some("otlp-receiver") {
            self.0.on_event(event, ctx);
        }
    }
}
