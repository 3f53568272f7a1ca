//! # hyperion
//!
//! An observability facade for Rust services. Application code is written against small types —
//! [`Context`], [`Span`], [`Meter`] and its instruments, [`Log`] — and one helper,
//! [`Context::intercept`], that turns a call into a span, a call counter, a duration histogram and
//! correlated logs. With nothing configured every call is a branch: no allocation, no clock read,
//! no output. An adapter module, chosen by YAML through the [`Registry`], makes the same calls real.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hyperion::{kv, Config, Telemetry};
//!
//! let telemetry = Telemetry::builder()
//!     .config(Config::from_yaml_str("tracing:\n  service_name: users\n")?)
//!     .build()
//!     .await?;
//! let ctx = telemetry.context();
//! let user: Result<&str, std::io::Error> = ctx
//!     .intercept("UserService", "GetUser", |ctx| async move {
//!         ctx.log().info("fetching user", &[kv("user.id", "42")]);
//!         Ok("Ada")
//!     })
//!     .await;
//! assert_eq!(user?, "Ada");
//! telemetry.shutdown(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! The core names no OpenTelemetry type: adapters such as `hyperion-otel` do.
//!
//! ## Cargo features
//!
//! - `testing` (off by default): the [`testing`] module — the in-memory `memory`
//!   module whose store records spans, metric points and logs, span-tree assertions, and the
//!   adapter [`conformance`](crate::testing::conformance) suite. Enable it in
//!   `[dev-dependencies]`: `hyperion = { version = "0.1", features = ["testing"] }`.
//!
//! ## Writing an adapter
//!
//! An adapter is a [`Module`]: a name, the [settings](config::Settings) it reads from the
//! configuration, and a `build` that returns a [`ModuleInstance`] providing a [`Tracer`], a
//! [`MeterProvider`](metric::MeterProvider) and/or a [`Logger`]. Register it with
//! [`TelemetryBuilder::module`]; the YAML picks it by name. ARCHITECTURE.md in the repository
//! maps the crate's layers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod attr;
mod builder;
pub mod config;
pub mod context;
pub mod intercept;
pub mod log;
pub mod metric;
pub mod noop;
pub mod propagation;
pub mod registry;
pub mod semconv;
pub mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod trace;

pub use attr::{Array, Key, KeyValue, Value, kv};
pub use builder::{BuildError, TelemetryBuilder};
pub use config::{Config, ConfigError, ConfigLoader, Signal};
pub use context::{Context, Scoped};
pub use intercept::{CallGuard, CallResult, InterceptOptions, Interceptor, Outcome};
pub use log::{Level, Log, Logger, Record};
pub use metric::{Counter, Gauge, Histogram, Meter, UpDownCounter};
pub use propagation::{Baggage, Extractor, Injector, PropagationLimits};
pub use registry::{Module, ModuleInstance, Registry};
pub use telemetry::{ShutdownError, ShutdownGuard, Telemetry, TimedOut};
pub use trace::{
    Link, Span, SpanContext, SpanId, SpanKind, SpanOptions, Status, TraceFlags, TraceId,
    TraceState, TraceStateError, Tracer,
};
