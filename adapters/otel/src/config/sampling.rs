//! The `tracing.tail_sampling` and `tracing.promotion` sections: keeping whole traces by what
//! happened in them, and recording fast calls as events instead of spans. Both are off by
//! default; the `traces` module documents what they guarantee.

use std::time::Duration;

use hyperion::config::duration;
use serde::{Deserialize, Serialize};

/// `tracing.tail_sampling`: buffer each trace's spans in the process until its local root and
/// every span started under it have ended, then keep or drop them all by the first policy that
/// matches.
///
/// ```yaml
/// tracing:
///   tail_sampling:
///     enabled: true
///     decision_wait: 30s
///     policies:
///       - type: status_code          # keep traces with an ERROR span
///       - type: latency              # keep traces whose local root took 300 ms or more
///         threshold: 300ms
///       - type: probabilistic        # and 10 % of the rest, the same in every hyperion service
///         rate: 0.1
///     default: drop
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TailSamplingSettings {
    /// Turns tail sampling on. Default: false.
    pub enabled: bool,
    /// How long after its first span started a trace that is not complete (its local root or a
    /// span under it still open) is decided on what it has, as the collector's `decision_wait`.
    /// More than zero. Default: 30 s.
    #[serde(with = "duration")]
    pub decision_wait: Duration,
    /// The most traces buffered at once; past it the oldest is decided early. At least 1.
    /// Default: 10,000.
    pub max_traces: usize,
    /// The most spans buffered for one trace; past it the trace is decided early and its later
    /// spans follow that decision. At least 1. Default: 1,000.
    pub max_spans_per_trace: usize,
    /// The policies, in order: the first that matches decides. Default: none, so `default`
    /// decides every trace.
    pub policies: Vec<TailPolicy>,
    /// What happens to a trace no policy matches. Default: [`TailDefault::Drop`].
    pub default: TailDefault,
}

impl Default for TailSamplingSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            decision_wait: Duration::from_secs(30),
            max_traces: 10_000,
            max_spans_per_trace: 1_000,
            policies: Vec::new(),
            default: TailDefault::Drop,
        }
    }
}

hyperion::config_enum! {
    /// What happens to a trace that no tail-sampling policy matched (`tracing.tail_sampling.default`).
    pub enum TailDefault {
        /// It is dropped (`drop`), as the collector's `tail_sampling` does. The default.
        #[default]
        Drop = "drop",
        /// It is kept (`keep`).
        Keep = "keep",
    }
}

hyperion::config_enum! {
    /// A span status a `status_code` policy matches.
    pub enum StatusCodeName {
        /// `error`.
        #[default]
        Error = "error",
        /// `ok`.
        Ok = "ok",
        /// `unset`.
        Unset = "unset",
    }
}

/// One tail-sampling policy (`tracing.tail_sampling.policies[]`), named by its `type`, as the
/// OpenTelemetry Collector's `tail_sampling` processor names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TailPolicy {
    /// Keeps a trace with a span whose status is one of `status_codes` (default `[error]`).
    StatusCode {
        /// The statuses that match. Default: `[error]`.
        #[serde(default = "default_status_codes")]
        status_codes: Vec<StatusCodeName>,
    },
    /// Keeps a trace whose local root took at least `threshold` (and, with `upper_threshold`,
    /// less than it). A trace decided before its root ended is measured from its first span's
    /// start to its last span's end.
    Latency {
        /// The shortest duration kept.
        #[serde(with = "duration")]
        threshold: Duration,
        /// The duration from which traces are no longer matched. Default: none.
        #[serde(default, with = "super::optional_duration")]
        upper_threshold: Option<Duration>,
    },
    /// Keeps a trace with a span that has attribute `key` with one of `values` (compared as
    /// text: `true`, `42` and `gold` all match their YAML spelling), on the span or on one of
    /// its events (where span promotion leaves a fast call's attributes).
    Attribute {
        /// The attribute key, e.g. `user.tier`.
        key: String,
        /// The values that match.
        values: Vec<String>,
    },
    /// Keeps `rate` (0 to 1) of the traces, chosen by the trace id's random bits with the
    /// OpenTelemetry specification's threshold rule, so that every hyperion service using the
    /// same rate keeps the same traces (the collector's `probabilistic` policy hashes the trace
    /// id instead: its choice differs).
    Probabilistic {
        /// The fraction kept, from 0 to 1.
        rate: f64,
    },
    /// Keeps traces while this policy has kept fewer than `spans_per_second` spans in the
    /// current second; past it, the trace goes on to the next policy.
    RateLimiting {
        /// The most spans this policy keeps a second. At least 1.
        spans_per_second: u64,
    },
    /// Drops a trace with a span (or span event) that has attribute `key` with one of `values`
    /// (e.g. health checks), when it comes before the policies that would keep it.
    Drop {
        /// The attribute key, e.g. `http.route`.
        key: String,
        /// The values that match.
        values: Vec<String>,
    },
}

fn default_status_codes() -> Vec<StatusCodeName> {
    vec![StatusCodeName::Error]
}

impl TailPolicy {
    /// The policy's `type`, as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            TailPolicy::StatusCode { .. } => "status_code",
            TailPolicy::Latency { .. } => "latency",
            TailPolicy::Attribute { .. } => "attribute",
            TailPolicy::Probabilistic { .. } => "probabilistic",
            TailPolicy::RateLimiting { .. } => "rate_limiting",
            TailPolicy::Drop { .. } => "drop",
        }
    }
}

/// `tracing.promotion`: intercepted calls (and spans started with
/// [`SpanOptions::promotable`](hyperion::SpanOptions::promotable)) are recorded without an SDK
/// span; one that failed, took `threshold` or longer, injected its context or has a child that
/// became a span becomes a span with its original ids and start time, the others an event on
/// their parent span.
///
/// ```yaml
/// tracing:
///   promotion:
///     enabled: true
///     threshold: 50ms
///     fast_calls: event   # or `none`
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionSettings {
    /// Turns promotion on. Default: false.
    pub enabled: bool,
    /// A call that took this long or longer becomes a span. Default: 50 ms.
    #[serde(with = "duration")]
    pub threshold: Duration,
    /// What a fast, successful call leaves behind. Default: [`FastCalls::Event`].
    pub fast_calls: FastCalls,
}

impl Default for PromotionSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            threshold: Duration::from_millis(50),
            fast_calls: FastCalls::Event,
        }
    }
}

hyperion::config_enum! {
    /// What a fast call that stays unpromoted leaves behind (`tracing.promotion.fast_calls`).
    pub enum FastCalls {
        /// An event on its parent span: the call's name, duration, outcome and span id
        /// (`event`). The default.
        #[default]
        Event = "event",
        /// Nothing (`none`); the metrics still count it.
        None = "none",
    }
}

/// Checks what the types alone do not: counts of at least 1, rates within 0..=1, thresholds
/// greater than zero and in order.
pub(super) fn validate(
    tail: &TailSamplingSettings,
    promotion: &PromotionSettings,
    invalid: &dyn Fn(&str, String, String) -> Result<(), hyperion::ConfigError>,
    non_zero: &dyn Fn(&str, Duration) -> Result<(), hyperion::ConfigError>,
) -> Result<(), hyperion::ConfigError> {
    let at_least_one = |key: &str, n: u64| {
        if n == 0 {
            return invalid(key, "0".to_owned(), "an integer of at least 1".to_owned());
        }
        Ok(())
    };
    non_zero("tracing.tail_sampling.decision_wait", tail.decision_wait)?;
    at_least_one("tracing.tail_sampling.max_traces", tail.max_traces as u64)?;
    at_least_one(
        "tracing.tail_sampling.max_spans_per_trace",
        tail.max_spans_per_trace as u64,
    )?;
    for (i, policy) in tail.policies.iter().enumerate() {
        let key = |field: &str| format!("tracing.tail_sampling.policies[{i}].{field}");
        match policy {
            TailPolicy::StatusCode { status_codes } if status_codes.is_empty() => {
                return invalid(
                    &key("status_codes"),
                    "[]".to_owned(),
                    format!("a non-empty list of {:?}", StatusCodeName::NAMES),
                );
            }
            TailPolicy::Latency {
                threshold,
                upper_threshold,
            } => {
                non_zero(&key("threshold"), *threshold)?;
                if let Some(upper) = upper_threshold
                    && upper <= threshold
                {
                    return invalid(
                        &key("upper_threshold"),
                        duration::format(*upper),
                        format!(
                            "a duration greater than `threshold` ({})",
                            duration::format(*threshold)
                        ),
                    );
                }
            }
            TailPolicy::Attribute { key: k, values } | TailPolicy::Drop { key: k, values } => {
                if k.is_empty() {
                    return invalid(
                        &key("key"),
                        "\"\"".to_owned(),
                        "an attribute key, such as \"user.tier\"".to_owned(),
                    );
                }
                if values.is_empty() {
                    return invalid(
                        &key("values"),
                        "[]".to_owned(),
                        "a non-empty list of values".to_owned(),
                    );
                }
            }
            TailPolicy::Probabilistic { rate } if !(0.0..=1.0).contains(rate) => {
                return invalid(
                    &key("rate"),
                    rate.to_string(),
                    "a number from 0 to 1, such as 0.1".to_owned(),
                );
            }
            TailPolicy::RateLimiting { spans_per_second } => {
                at_least_one(&key("spans_per_second"), *spans_per_second)?;
            }
            _ => {}
        }
    }
    non_zero("tracing.promotion.threshold", promotion.threshold)
}
