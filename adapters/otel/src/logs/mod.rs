//! Log lines: the level [`Filter`] that runs before any formatting, and the [`LineWriter`] that
//! turns one [`hyperion::Record`] into one JSON or pretty line on stdout, stderr or a test sink.
//!
//! The pieces are plain building blocks for the module's `Logger`: it asks
//! [`Filter::enabled`] from `Logger::enabled` (no allocation) and calls [`LineWriter::write`]
//! from `Logger::emit`.
//!
//! - [`filter`]: the default level plus `RUST_LOG`-style per-target directives.
//! - [`line`]: the writer, its [`Output`]s and the count of failed writes.
//! - `json`: hand-written JSON escaping and value encoding.
//! - `time`: RFC 3339 UTC timestamps computed from [`std::time::SystemTime`].

pub(crate) mod filter;
mod json;
pub(crate) mod line;
mod pretty;
mod time;

pub(crate) use filter::Filter;
pub(crate) use line::{LineWriter, Output};
