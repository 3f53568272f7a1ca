//! `baggage`: never a panic, within the limits; what extracts injects and extracts back
//! unchanged.
#![no_main]

use std::collections::HashMap;

use hyperion::propagation::{PropagationLimits, extract_baggage, inject_baggage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let carrier: HashMap<String, String> = [("baggage".to_owned(), text.into_owned())].into();
    let limits = PropagationLimits::DEFAULT;
    let baggage = extract_baggage(&carrier, &limits);
    assert!(baggage.len() <= limits.max_baggage_members);
    let mut out = HashMap::new();
    inject_baggage(&baggage, &mut out);
    let again = extract_baggage(&out, &limits);
    assert_eq!(again.len(), baggage.len());
    for (key, value, _) in baggage.iter() {
        assert_eq!(again.get(key), Some(value));
    }
});
