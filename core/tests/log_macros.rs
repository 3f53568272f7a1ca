//! The log macros: what they record through the in-memory module, and that a disabled level
//! evaluates none of the fields.

use std::cell::Cell;
use std::time::Duration;

use hyperion::testing::MemoryModule;
use hyperion::{Config, Level, SpanOptions, Telemetry, Value};

#[tokio::test]
async fn the_macros_record_level_message_dotted_fields_and_the_span() {
    let module = MemoryModule::new();
    let store = module.store();
    let t = Telemetry::builder()
        .module(module)
        .config(Config::from_yaml_str("logging:\n  level: info\n").unwrap())
        .build()
        .await
        .unwrap();
    let (ctx, span) = t.context().start_span("work", SpanOptions::new());
    let id = 42;
    hyperion::info!(ctx, "fetching user", user.id = id, cache.hit = true);
    hyperion::warn!(&ctx, "slow", http.response.status_code = 503);
    hyperion::log!(ctx, Level::Error, "failed");
    // Filtered out: its field is never evaluated.
    let evaluated = Cell::new(false);
    hyperion::debug!(
        ctx,
        "detail",
        value = {
            evaluated.set(true);
            1
        }
    );
    assert!(!evaluated.get());
    drop(span);
    t.flush(Duration::from_secs(1)).await.unwrap();
    let logs = store.snapshot().logs;
    assert_eq!(logs.len(), 3, "{logs:#?}");
    let info = &logs[0];
    assert_eq!(
        (info.level, info.message.as_str()),
        (Level::Info, "fetching user")
    );
    let field = |k: &str| {
        info.attributes
            .iter()
            .find(|a| a.key.as_str() == k)
            .map(|a| &a.value)
    };
    assert_eq!(field("user.id"), Some(&Value::I64(42)));
    assert_eq!(field("cache.hit"), Some(&Value::Bool(true)));
    assert_eq!(info.span_id, Some(ctx.span_context().span_id()));
    assert_eq!(logs[1].level, Level::Warn);
    assert_eq!(
        logs[1].attributes[0].key.as_str(),
        "http.response.status_code"
    );
    assert_eq!(
        (logs[2].level, logs[2].message.as_str()),
        (Level::Error, "failed")
    );
}

#[test]
fn with_logging_off_nothing_is_evaluated() {
    let ctx = hyperion::Context::noop();
    let evaluated = Cell::new(false);
    hyperion::error!(
        ctx,
        "never",
        value = {
            evaluated.set(true);
            1
        }
    );
    assert!(!evaluated.get());
}
