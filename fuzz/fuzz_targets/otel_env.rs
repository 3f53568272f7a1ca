//! The standard variables' values (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`,
//! `OTEL_SERVICE_NAME`, `RUST_LOG`): loading never panics, and a malformed list is discarded,
//! never an error.
#![no_main]

use hyperion::ConfigLoader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let attributes = parts.next().unwrap_or_default().to_owned();
    let disabled = parts.next().unwrap_or_default().to_owned();
    let rest = parts.next().unwrap_or_default().to_owned();
    let loaded = ConfigLoader::new()
        .env([
            ("OTEL_RESOURCE_ATTRIBUTES", attributes),
            ("OTEL_SDK_DISABLED", disabled),
            ("RUST_LOG", rest),
        ])
        .load();
    assert!(loaded.is_ok(), "{loaded:?}");
});
