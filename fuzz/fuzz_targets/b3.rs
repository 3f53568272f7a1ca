//! B3, single and multiple headers: never a panic; what extracts injects (in both encodings)
//! and extracts back unchanged, debug flag included.
#![no_main]

use std::collections::HashMap;

use hyperion::propagation::{extract_b3, inject_b3, inject_b3_multi};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut carrier: HashMap<String, String> = HashMap::new();
    for name in ["b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "x-b3-parentspanid"] {
        if let Some(value) = lines.next().filter(|v| !v.is_empty()) {
            carrier.insert(name.to_owned(), value.to_owned());
        }
    }
    if let Some(received) = extract_b3(&carrier) {
        assert!(received.span.is_valid() && received.span.is_remote());
        assert!(!received.debug || received.span.is_sampled(), "debug implies sampled");
        for multi in [false, true] {
            let mut out = HashMap::new();
            if multi {
                inject_b3_multi(&received.span, received.debug, &mut out);
            } else {
                inject_b3(&received.span, received.debug, &mut out);
            }
            assert!(!out.contains_key("x-b3-parentspanid"));
            let again = extract_b3(&out).expect("an injected context extracts");
            assert_eq!(again, received);
        }
    }
});
