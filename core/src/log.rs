//! Logging: [`Level`], the [`Logger`] an adapter implements, and [`Log`], the context-bound handle
//! that application code gets from [`Context::log`](crate::Context::log).
//!
//! The level check runs before anything is formatted: a message is passed as
//! [`std::fmt::Arguments`] and only a logger that accepts the level turns it into text.

use std::fmt;

use crate::attr::KeyValue;
use crate::trace::SpanContext;

/// The severity of a log record, with the OpenTelemetry severity numbers.
///
/// ```
/// use hyperion::Level;
/// assert_eq!(Level::Info.severity_number(), 9);
/// assert!(Level::Error > Level::Warn);
/// assert_eq!("warn".parse::<Level>(), Ok(Level::Warn));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub enum Level {
    /// Severity 1: the finest detail.
    Trace,
    /// Severity 5: debugging detail.
    Debug,
    /// Severity 9: normal operation (the default).
    #[default]
    Info,
    /// Severity 13: something unexpected that the program handled.
    Warn,
    /// Severity 17: an operation failed.
    Error,
    /// Severity 21: the program cannot go on.
    Fatal,
}

impl Level {
    /// The OpenTelemetry severity number: 1, 5, 9, 13, 17 or 21.
    pub const fn severity_number(self) -> u8 {
        match self {
            Level::Trace => 1,
            Level::Debug => 5,
            Level::Info => 9,
            Level::Warn => 13,
            Level::Error => 17,
            Level::Fatal => 21,
        }
    }

    /// The OpenTelemetry severity text: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The error for a level name that is not one of trace, debug, info, warn, error, fatal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {0:?}: expected one of trace, debug, info, warn, error, fatal")]
pub struct ParseLevelError(pub String);

impl std::str::FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" | "warning" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            "fatal" => Ok(Level::Fatal),
            _ => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// One log record as a [`Logger`] receives it. Everything is borrowed for the call.
#[derive(Debug)]
pub struct Record<'a> {
    /// The severity.
    pub level: Level,
    /// Where the record comes from (a module path or a component name).
    pub target: &'a str,
    /// The message, not yet formatted (so only an enabled record pays for formatting).
    ///
    /// [`fmt::Arguments::as_str`] is `Some` only for a literal message with no arguments passed
    /// through the `*_args` methods (`log.info_args(format_args!("started"), &[])`); a `&str`
    /// given to [`Log::info`] and the like arrives as `format_args!("{message}")`, for which it
    /// is `None`. An adapter that wants a `&str` should try `as_str()` and otherwise format the
    /// message (`message.to_string()`, or `write!` into a reused buffer).
    pub message: fmt::Arguments<'a>,
    /// Structured fields.
    pub attributes: &'a [KeyValue<'a>],
    /// The span that was current (invalid when there was none).
    pub span_context: &'a SpanContext,
}

/// Receives log records. Implemented by adapters.
pub trait Logger: Send + Sync + 'static {
    /// Whether records at `level` from `target` would be kept. Called before any formatting.
    fn enabled(&self, level: Level, target: &str) -> bool;
    /// Writes one record (already checked with [`Logger::enabled`]).
    fn emit(&self, record: &Record<'_>);
}

/// The logger of a [`Context`](crate::Context): every record carries the context's trace and span
/// ids.
///
/// It holds what it uses: the telemetry's logger (`None` when logging is off, so every call is
/// one branch) and the context's span context.
///
/// ```
/// use hyperion::{kv, Context, Level};
/// let ctx = Context::noop();
/// let log = ctx.log();
/// log.info("fetching user", &[kv("user.id", "42")]);
/// if log.enabled(Level::Debug) {
///     log.debug_args(format_args!("{} items", 3), &[]);
/// }
/// ```
#[derive(Clone, Copy)]
pub struct Log<'c> {
    logger: Option<&'c dyn Logger>,
    span_context: &'c SpanContext,
    target: &'c str,
}

macro_rules! level_methods {
    ($($level:ident => $name:ident, $args:ident;)*) => {$(
        #[doc = concat!("Logs `message` at [`Level::", stringify!($level), "`] with fields.")]
        #[inline]
        pub fn $name(&self, message: &str, attributes: &[KeyValue<'_>]) {
            self.log(Level::$level, message, attributes);
        }

        #[doc = concat!("Logs preformatted arguments at [`Level::", stringify!($level), "`]; they are formatted only if the level is enabled.")]
        #[inline]
        pub fn $args<'a>(&self, message: fmt::Arguments<'a>, attributes: &'a [KeyValue<'a>])
        where
            'c: 'a,
        {
            self.log_args(Level::$level, message, attributes);
        }
    )*};
}

impl<'c> Log<'c> {
    /// A logger writing to `logger` (nothing when `None`), its records carrying `span_context`.
    pub(crate) fn new(logger: Option<&'c dyn Logger>, span_context: &'c SpanContext) -> Self {
        Log {
            logger,
            span_context,
            target: "hyperion",
        }
    }

    /// The same logger with another target (a module path or component name).
    pub fn target(self, target: &'c str) -> Self {
        Log { target, ..self }
    }

    /// Whether a record at `level` would be kept.
    #[inline]
    pub fn enabled(&self, level: Level) -> bool {
        match self.logger {
            None => false,
            Some(logger) => logger.enabled(level, self.target),
        }
    }

    /// Logs `message` at `level` with fields.
    #[inline]
    pub fn log(&self, level: Level, message: &str, attributes: &[KeyValue<'_>]) {
        if let Some(logger) = self.logger {
            self.emit(logger, level, format_args!("{message}"), attributes);
        }
    }

    /// Logs unformatted arguments at `level`; nothing is formatted unless the level is enabled.
    #[inline]
    pub fn log_args<'a>(
        &self,
        level: Level,
        message: fmt::Arguments<'a>,
        attributes: &'a [KeyValue<'a>],
    ) where
        'c: 'a,
    {
        if let Some(logger) = self.logger {
            self.emit(logger, level, message, attributes);
        }
    }

    #[inline(never)]
    fn emit<'a>(
        &self,
        logger: &dyn Logger,
        level: Level,
        message: fmt::Arguments<'a>,
        attributes: &'a [KeyValue<'a>],
    ) where
        'c: 'a,
    {
        if logger.enabled(level, self.target) {
            logger.emit(&Record {
                level,
                target: self.target,
                message,
                attributes,
                span_context: self.span_context,
            });
        }
    }

    level_methods! {
        Trace => trace, trace_args;
        Debug => debug, debug_args;
        Info => info, info_args;
        Warn => warn, warn_args;
        Error => error, error_args;
        Fatal => fatal, fatal_args;
    }
}

/// Logs through a context's logger at `level`, checking the level *before* building anything:
/// with logging off or the level filtered out, the fields' values are not even evaluated, so a
/// disabled log line is one branch. Field keys are dotted names, as in OpenTelemetry
/// (`user.id = id`); for other keys use [`Log`] directly.
///
/// ```
/// use hyperion::{Context, Level};
/// let ctx = Context::noop();
/// let user = 42;
/// hyperion::log!(ctx, Level::Info, "fetching user", user.id = user, cache.hit = true);
/// hyperion::info!(&ctx, "fetching user", user.id = user);
/// ```
#[macro_export]
macro_rules! log {
    ($ctx:expr, $level:expr, $message:expr $(, $($key:ident).+ = $value:expr)* $(,)?) => {
        match &$ctx {
            ctx => {
                let log = ctx.log();
                let level: $crate::Level = $level;
                if log.enabled(level) {
                    log.log(level, $message, &[$($crate::kv(stringify!($($key).+), $value)),*]);
                }
            }
        }
    };
}

/// [`log!`] at [`Level::Trace`].
#[macro_export]
macro_rules! trace {
    ($ctx:expr, $($rest:tt)+) => { $crate::log!($ctx, $crate::Level::Trace, $($rest)+) };
}

/// [`log!`] at [`Level::Debug`].
#[macro_export]
macro_rules! debug {
    ($ctx:expr, $($rest:tt)+) => { $crate::log!($ctx, $crate::Level::Debug, $($rest)+) };
}

/// [`log!`] at [`Level::Info`].
///
/// ```
/// let ctx = hyperion::Context::noop();
/// hyperion::info!(ctx, "order created", order.id = 7, order.items = 3);
/// ```
#[macro_export]
macro_rules! info {
    ($ctx:expr, $($rest:tt)+) => { $crate::log!($ctx, $crate::Level::Info, $($rest)+) };
}

/// [`log!`] at [`Level::Warn`].
#[macro_export]
macro_rules! warn {
    ($ctx:expr, $($rest:tt)+) => { $crate::log!($ctx, $crate::Level::Warn, $($rest)+) };
}

/// [`log!`] at [`Level::Error`].
#[macro_export]
macro_rules! error {
    ($ctx:expr, $($rest:tt)+) => { $crate::log!($ctx, $crate::Level::Error, $($rest)+) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_numbers_follow_opentelemetry() {
        let numbers: Vec<u8> = [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
            Level::Fatal,
        ]
        .iter()
        .map(|l| l.severity_number())
        .collect();
        assert_eq!(numbers, [1, 5, 9, 13, 17, 21]);
    }

    #[test]
    fn unknown_level_names_the_allowed_ones() {
        let err = "loud".parse::<Level>().unwrap_err();
        assert!(err.to_string().contains("\"loud\""));
        assert!(
            err.to_string()
                .contains("trace, debug, info, warn, error, fatal")
        );
    }
}
