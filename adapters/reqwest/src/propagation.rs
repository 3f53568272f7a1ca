//! Which destinations get the propagation headers (`traceparent`, `tracestate` and `baggage` by
//! default, whatever the telemetry's propagators are), and which baggage keys they may see.

use std::fmt;
use std::sync::Arc;

use hyperion::propagation::Propagators;
use hyperion::{Baggage, SpanContext};
use reqwest::Url;

use crate::redact;

/// A caller's rule for which URLs may receive propagation headers.
pub(crate) type Predicate = Arc<dyn Fn(&Url) -> bool + Send + Sync>;

/// The propagation rules of one middleware.
#[derive(Clone, Default)]
pub(crate) struct PropagationPolicy {
    /// Hosts that never receive propagation headers (compared without regard to ASCII case).
    excluded_hosts: Vec<String>,
    /// When set, only URLs it accepts receive propagation headers.
    predicate: Option<Predicate>,
    /// When set, the only baggage keys sent.
    baggage_allow: Option<Vec<String>>,
}

impl PropagationPolicy {
    pub(crate) fn exclude_hosts(&mut self, hosts: impl IntoIterator<Item = String>) {
        self.excluded_hosts.extend(hosts);
    }

    pub(crate) fn set_predicate(&mut self, predicate: Predicate) {
        self.predicate = Some(predicate);
    }

    pub(crate) fn allow_baggage(&mut self, keys: impl IntoIterator<Item = String>) {
        self.baggage_allow.get_or_insert_with(Vec::new).extend(keys);
    }

    /// Whether `url` may receive propagation headers.
    pub(crate) fn propagates_to(&self, url: &Url) -> bool {
        let excluded = redact::host(url).is_some_and(|host| {
            self.excluded_hosts
                .iter()
                .any(|excluded| excluded.eq_ignore_ascii_case(host))
        });
        !excluded && self.predicate.as_ref().is_none_or(|accepts| accepts(url))
    }

    /// Writes the trace context and the allowed baggage into `headers` with `propagators`. The
    /// caller has checked [`propagates_to`](Self::propagates_to).
    pub(crate) fn inject(
        &self,
        propagators: Propagators,
        span: &SpanContext,
        baggage: &Baggage,
        b3_debug: bool,
        headers: &mut http::HeaderMap,
    ) {
        match &self.baggage_allow {
            None => propagators.inject(span, baggage, b3_debug, headers),
            Some(allowed) => propagators.inject(span, &only(baggage, allowed), b3_debug, headers),
        }
    }
}

/// The members of `baggage` whose keys are in `allowed`, in their order, metadata kept.
fn only(baggage: &Baggage, allowed: &[String]) -> Baggage {
    baggage
        .iter()
        .filter(|(key, _, _)| allowed.iter().any(|a| a == key))
        .fold(Baggage::EMPTY, |kept, (key, value, metadata)| {
            kept.with_metadata(key, value, metadata)
        })
}

impl fmt::Debug for PropagationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropagationPolicy")
            .field("excluded_hosts", &self.excluded_hosts)
            .field("predicate", &self.predicate.is_some())
            .field("baggage_allow", &self.baggage_allow)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn excluded_hosts_and_predicate_both_apply() {
        let mut policy = PropagationPolicy::default();
        assert!(policy.propagates_to(&url("https://partner.example/")));
        policy.exclude_hosts(["Partner.Example".to_string(), "::1".to_string()]);
        assert!(!policy.propagates_to(&url("https://partner.example/")));
        assert!(!policy.propagates_to(&url("http://[::1]:8080/")));
        assert!(policy.propagates_to(&url("https://api.partner.example/")));
        policy.set_predicate(Arc::new(|u: &Url| u.scheme() == "https"));
        assert!(policy.propagates_to(&url("https://internal/")));
        assert!(!policy.propagates_to(&url("http://internal/")));
    }

    #[test]
    fn baggage_allow_list_keeps_order_and_metadata() {
        let baggage = Baggage::EMPTY
            .with("a", "1")
            .with_metadata("b", "2", "ttl=5")
            .with("c", "3");
        let kept = only(&baggage, &["c".to_string(), "b".to_string()]);
        assert_eq!(
            kept.iter().collect::<Vec<_>>(),
            [("b", "2", "ttl=5"), ("c", "3", "")]
        );
        assert!(only(&baggage, &[]).is_empty());
    }
}
