//! The no-op: what every handle does when nothing is configured.
//!
//! There is no no-op *implementation* to call: [`crate::Telemetry::noop`], [`crate::Context::noop`],
//! [`crate::Span::noop`], [`crate::Counter::noop`] and friends hold `None`, and every call on them
//! is one branch. No heap allocation, no atomic read-modify-write, no clock read, no output.
//! The module registered as `noop` builds an instance that provides no signal at all, so a signal
//! whose config names `noop` ends up the same way.

/// The name of the always-registered module that records nothing.
pub const NOOP_MODULE: &str = "noop";
