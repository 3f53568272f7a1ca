//! `tracestate` alone: never a panic; a parsed state reads back from its own header unchanged.
#![no_main]

use hyperion::TraceState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(state) = TraceState::from_header(&text, 32) {
        let again = TraceState::from_header(state.header(), 32).expect("its own header parses");
        assert_eq!(again, state);
        assert!(state.len() <= 32);
    }
});
