//! The YAML configuration: loading any text is a configuration or an error, never a panic or a
//! hang (duplicate-key checking included).
#![no_main]

use hyperion::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_yaml_str(text);
    }
});
