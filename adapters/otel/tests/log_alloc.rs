//! A log call the filter rejects costs nothing: no allocation (this test binary installs a
//! counting allocator, which counts per thread), and nothing is formatted or written.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperion::{Config, Telemetry, kv};
use hyperion_otel::OtelModule;

/// Fails every write, as a closed stdout or a full disk would.
struct Broken;

impl std::io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_filtered_call_allocates_nothing_and_a_failed_write_is_counted() {
    let broken: Arc<Mutex<dyn std::io::Write + Send>> = Arc::new(Mutex::new(Broken));
    let otel = OtelModule::new().with_log_writer(broken);
    let config = Config::from_yaml_str(
        "tracing:\n  exporter: none\nmetrics:\n  enabled: false\n\
         logging:\n  level: warn\n  directives: \"noisy=off\"\n",
    )
    .unwrap();
    let t = Telemetry::builder()
        .module(otel.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    let ctx = t.context();
    let id = String::from("42");
    let info = allocation_counter::measure(|| {
        ctx.log()
            .debug("fetching user", &[kv("user.id", id.as_str())]);
        ctx.log()
            .info_args(format_args!("{} rows", 3), &[kv("table", "users")]);
        ctx.log().target("noisy").error("muted target", &[]);
    });
    assert_eq!(info.count_total, 0, "{} allocations", info.count_total);
    assert_eq!(otel.failed_log_writes(), 0, "nothing was written");

    ctx.log().warn("this one passes the filter", &[]);
    ctx.log().error("and this one", &[]);
    assert_eq!(otel.failed_log_writes(), 2);
    t.shutdown(Duration::from_secs(5)).await.unwrap();
}
