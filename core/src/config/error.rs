//! [`ConfigError`]: what went wrong, at which key, with which value, from which source.

use std::fmt;
use std::path::PathBuf;

use figment::error::{Actual, Kind};
use figment::{Figment, Metadata, Profile};

use super::source::{HYPERION_ENV_NAME, STANDARD_ENV_NAME};

/// Why a configuration could not be loaded.
///
/// The message of an invalid value always names the dotted key path, the value found and what is
/// allowed, and, when it is known, where the value came from:
///
/// ```
/// use hyperion::config::Config;
///
/// let err = Config::from_yaml_str("tracing:\n  sample_rate: 1.5\n").unwrap_err();
/// assert_eq!(err.key(), Some("tracing.sample_rate"));
/// assert_eq!(err.found(), Some("1.5"));
/// assert!(err.to_string().starts_with(
///     "invalid value for `tracing.sample_rate`: found 1.5, expected a number from 0.0 to 1.0"
/// ));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a value of the wrong type, out of range, or not one of the allowed names.
    #[error("invalid value for `{key}`: found {found}, expected {expected}{}", OriginSuffix(.origin))]
    Invalid {
        /// The dotted key path, e.g. `tracing.sample_rate`.
        key: String,
        /// The value found, as written in YAML (strings quoted).
        found: String,
        /// What the key allows.
        expected: String,
        /// Where the value came from (a file, or an environment variable), when known.
        origin: Option<String>,
    },
    /// A key that the model does not have, such as a misspelling.
    #[error(
        "unknown key `{key}`{}{}: expected one of: {expected}",
        OriginSuffix(.origin),
        SuggestionSuffix(.suggestion)
    )]
    UnknownKey {
        /// The dotted key path of the unknown key, e.g. `tracing.sample_rat`.
        key: String,
        /// The keys allowed at that level, comma-separated.
        expected: String,
        /// An allowed key spelled close to the unknown one, e.g. `sample_rate`.
        suggestion: Option<String>,
        /// Where the key came from (a file, or an environment variable), when known.
        origin: Option<String>,
    },
    /// The configuration file could not be read (it is missing, or unreadable).
    #[error("cannot read configuration file `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key given twice in one YAML mapping (YAML requires unique keys; silently keeping the
    /// last one would hide a mistake).
    #[error(
        "duplicate key `{key}`{}: {}; a key may appear only once in a mapping",
        OriginSuffix(.origin),
        Lines(*.first_line, *.line)
    )]
    Duplicate {
        /// The dotted key path, e.g. `tracing.sample_rate`.
        key: String,
        /// The line (1-based) of the first occurrence, when known.
        first_line: Option<usize>,
        /// The line (1-based) of the second occurrence, when known.
        line: Option<usize>,
        /// The file or YAML text.
        origin: Option<String>,
    },
    /// The YAML is malformed; the message says where (line and column).
    #[error("malformed configuration{}: {message}", OriginSuffix(.origin))]
    Parse {
        /// The parser's message, with the line and column.
        message: String,
        /// The source of the YAML (the file, or YAML text), when known.
        origin: Option<String>,
    },
}

/// Displays `"; did you mean `KEY`?"`, or nothing.
struct SuggestionSuffix<'a>(&'a Option<String>);

impl fmt::Display for SuggestionSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, "; did you mean `{key}`?"),
            None => Ok(()),
        }
    }
}

/// Displays where a duplicate key's two occurrences are.
struct Lines(Option<usize>, Option<usize>);

impl fmt::Display for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(first), Some(second)) => write!(f, "at line {first} and again at line {second}"),
            (None, Some(second)) => write!(f, "again at line {second}"),
            _ => f.write_str("given twice"),
        }
    }
}

/// Displays `" (from ORIGIN)"`, or nothing.
struct OriginSuffix<'a>(&'a Option<String>);

impl fmt::Display for OriginSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(origin) => write!(f, " (from {origin})"),
            None => Ok(()),
        }
    }
}

impl ConfigError {
    /// The dotted key path the error is about, for [`Invalid`](Self::Invalid),
    /// [`UnknownKey`](Self::UnknownKey) and [`Duplicate`](Self::Duplicate).
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. }
            | Self::UnknownKey { key, .. }
            | Self::Duplicate { key, .. } => Some(key),
            Self::Io { .. } | Self::Parse { .. } => None,
        }
    }

    /// The value found, for [`Invalid`](Self::Invalid); the unknown key's own name for
    /// [`UnknownKey`](Self::UnknownKey).
    pub fn found(&self) -> Option<&str> {
        match self {
            Self::Invalid { found, .. } => Some(found),
            Self::UnknownKey { key, .. } => Some(key.rsplit('.').next().unwrap_or(key)),
            Self::Io { .. } | Self::Parse { .. } | Self::Duplicate { .. } => None,
        }
    }

    /// What is allowed, for [`Invalid`](Self::Invalid) and [`UnknownKey`](Self::UnknownKey).
    pub fn expected(&self) -> Option<&str> {
        match self {
            Self::Invalid { expected, .. } | Self::UnknownKey { expected, .. } => Some(expected),
            Self::Io { .. } | Self::Parse { .. } | Self::Duplicate { .. } => None,
        }
    }

    /// Where the offending value came from, e.g. ``YAML file `hyperion.yaml` `` or
    /// ``environment variable `HYPERION_METRICS__PORT` ``, when known.
    pub fn origin(&self) -> Option<&str> {
        match self {
            Self::Invalid { origin, .. }
            | Self::UnknownKey { origin, .. }
            | Self::Duplicate { origin, .. }
            | Self::Parse { origin, .. } => origin.as_deref(),
            Self::Io { .. } => None,
        }
    }

    pub(crate) fn invalid(
        key: &str,
        found: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            found: found.to_string(),
            expected: expected.into(),
            origin: None,
        }
    }

    /// Fills in the origin of an `Invalid` error from the figment that produced the value.
    pub(crate) fn with_origin_from(mut self, figment: &Figment) -> Self {
        if let Self::Invalid {
            key,
            origin: origin @ None,
            ..
        } = &mut self
        {
            let path: Vec<&str> = key.split('.').collect();
            *origin = figment
                .find_metadata(key)
                .map(|metadata| describe_origin(metadata, &path));
        }
        self
    }

    /// Turns figment's error (the first one, if it holds several) into one naming the key path,
    /// the value and what is allowed.
    ///
    /// `hints` are a module's own wordings of what a key allows ([`Settings::expected`]), tried
    /// before the core's.
    ///
    /// [`Settings::expected`]: super::Settings::expected
    pub(crate) fn from_figment(
        error: figment::Error,
        figment: &Figment,
        hints: &[(&str, &str)],
    ) -> Self {
        let error = error
            .into_iter()
            .next()
            .unwrap_or_else(|| "unknown error".into());
        let origin = error
            .metadata
            .as_ref()
            .map(|metadata| describe_origin(metadata, &error.path));
        let key = if error.path.is_empty() {
            TOP_LEVEL.to_owned()
        } else {
            error.path.join(".")
        };
        match error.kind {
            Kind::UnknownField(field, allowed) => {
                // figment's path already ends with the unknown key itself.
                let key = if error.path.is_empty() { field } else { key };
                let suggestion = super::settings::closest(
                    key.rsplit('.').next().unwrap_or(&key),
                    allowed.iter().copied(),
                );
                Self::UnknownKey {
                    key,
                    expected: allowed.join(", "),
                    suggestion,
                    origin,
                }
            }
            Kind::UnknownVariant(found, allowed) => Self::Invalid {
                key,
                found: format!("{found:?}"),
                expected: format!("one of: {}", allowed.join(", ")),
                origin,
            },
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                Self::Invalid {
                    expected: expected_for_key(&key, hints)
                        .unwrap_or_else(|| humanize_expected(&key, &expected)),
                    found: describe_actual(&actual),
                    key,
                    origin,
                }
            }
            Kind::Message(message) if error.path.is_empty() => Self::Parse { message, origin },
            other => Self::Invalid {
                found: figment
                    .find_value(&key)
                    .map(|value| describe_actual(&value.to_actual()))
                    .unwrap_or_else(|_| "an unusable value".to_owned()),
                expected: expected_for_key(&key, hints).unwrap_or_else(|| other.to_string()),
                key,
                origin,
            },
        }
    }
}

/// How an error about the document as a whole names its key.
const TOP_LEVEL: &str = "(top level)";

/// What a key allows, where saying it by key is clearer than serde's type name: a module's hint,
/// else the core's own.
fn expected_for_key(key: &str, hints: &[(&str, &str)]) -> Option<String> {
    if let Some((_, text)) = hints.iter().find(|(hinted, _)| *hinted == key) {
        return Some((*text).to_owned());
    }
    let text = match key {
        TOP_LEVEL => "a mapping of sections (service, tracing, metrics, logging, propagation)",
        "tracing.sample_rate" => "a number from 0.0 to 1.0",
        "tracing.attributes" => "a mapping of names to string values",
        "tracing.enabled" | "metrics.enabled" | "logging.enabled" => "true or false",
        _ => return None,
    };
    Some(text.to_owned())
}

/// Rewrites serde's expectation (a Rust type name, often) for a YAML author.
fn humanize_expected(key: &str, expected: &str) -> String {
    let text = match expected {
        "u8" => "an integer in 0..=255",
        "u16" => "an integer in 0..=65535",
        "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "a string (quote values such as 1.0 or true)",
        "a map" => "a mapping",
        other if other.starts_with("struct ") => return format!("a mapping of `{key}` settings"),
        other => other,
    };
    text.to_owned()
}

/// Writes a value found in the configuration as YAML would: strings quoted, numbers bare.
pub(crate) fn describe_actual(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(x) => describe_float(*x),
        Actual::Char(c) => format!("{:?}", c.to_string()),
        Actual::Str(s) => format!("{s:?}"),
        Actual::Bytes(_) => "bytes".to_owned(),
        Actual::Unit | Actual::Option => "null".to_owned(),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a mapping".to_owned(),
        other => other.to_string(),
    }
}

/// `1.5` as `1.5`, `1.0` as `1.0` (not `1`), NaN as `NaN`.
pub(crate) fn describe_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

/// Says where a value came from: ``YAML file `path` ``, ``environment variable `NAME` ``, or the
/// provider's name.
pub(crate) fn describe_origin<K: AsRef<str>>(metadata: &Metadata, path: &[K]) -> String {
    if let Some(file) = metadata
        .source
        .as_ref()
        .and_then(|source| source.file_path())
    {
        return format!("{} `{}`", metadata.name, file.display());
    }
    if (metadata.name == HYPERION_ENV_NAME || metadata.name.starts_with(STANDARD_ENV_NAME))
        && !path.is_empty()
    {
        return format!(
            "environment variable `{}`",
            metadata.interpolate(&Profile::Default, path)
        );
    }
    metadata.name.to_string()
}
