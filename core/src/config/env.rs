//! Standard environment variables (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`, ...) mapped
//! onto configuration keys: [`EnvVar`] says how one variable sets one key; the core declares its
//! own and each module declares those of its settings ([`Settings::env`](super::Settings::env)).

use std::collections::BTreeMap;
use std::fmt;

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::source::{STANDARD_ENV_NAME, insert_at};
use crate::propagation;

/// How one standard environment variable sets one configuration key.
///
/// Empty values (after trimming) count as unset. When several variables set the same key, the
/// one declared later wins: declare the general variable first, the signal-specific one after
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`, then `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
///
/// ```
/// use hyperion::config::EnvVar;
///
/// let endpoint = EnvVar::new("STATSD_HOST", "metrics.host");
/// let protocol = EnvVar::new("STATSD_PROTOCOL", "metrics.protocol").lowercase();
/// let tags = EnvVar::new("STATSD_TAGS", "metrics.tags").key_value_list();
/// let off = EnvVar::new("STATSD_DISABLED", "metrics.enabled")
///     .map(|value| value.eq_ignore_ascii_case("true").then(|| "false".to_owned()));
/// assert_eq!(endpoint.name(), "STATSD_HOST");
/// assert_eq!(tags.key(), "metrics.tags");
/// # let _ = (protocol, off);
/// ```
#[derive(Clone)]
pub struct EnvVar {
    name: &'static str,
    key: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    /// The value as it is.
    Plain,
    /// The value in lower case (enumerations, which the OpenTelemetry spec spells in any case).
    Lowercase,
    /// `k=v,k2=v2` (percent-encoded values) merged into the mapping at the key; a malformed
    /// list is discarded whole, with a warning (`OTEL_RESOURCE_ATTRIBUTES`).
    KeyValueList,
    /// The same, but a malformed list is an error (`OTEL_EXPORTER_OTLP_HEADERS`).
    KeyValueListStrict,
    /// The value rewritten; `None` leaves the key unset.
    Map(fn(&str) -> Option<String>),
    /// The value rewritten, or read as a fallback with a warning (`Err` holds what is wrong).
    MapChecked(fn(&str) -> Result<Option<String>, String>),
}

impl EnvVar {
    /// The variable `name` sets the key at the dotted path `key` to its value, a string that
    /// the key's type reads as it reads YAML (`"9100"` for a port, `"false"` for a flag).
    pub const fn new(name: &'static str, key: &'static str) -> Self {
        EnvVar {
            name,
            key,
            kind: Kind::Plain,
        }
    }

    /// The value is lower-cased first (for enumerations: `OTEL_TRACES_SAMPLER=AlwaysOn`).
    pub const fn lowercase(mut self) -> Self {
        self.kind = Kind::Lowercase;
        self
    }

    /// The value is a list `k=v,k2=v2` (whitespace trimmed, values percent-decoded), merged
    /// into the mapping at the key, as `OTEL_RESOURCE_ATTRIBUTES` is. A malformed list (a
    /// member without `=`, an empty name, a `%` not followed by two hex digits) is discarded
    /// whole and reported as a warning ([`Config::warnings`](crate::Config::warnings)), as the
    /// OpenTelemetry specification says of `OTEL_RESOURCE_ATTRIBUTES`.
    pub const fn key_value_list(mut self) -> Self {
        self.kind = Kind::KeyValueList;
        self
    }

    /// As [`key_value_list`](Self::key_value_list), but a malformed list is an error naming the
    /// variable, for lists where a dropped member would fail quietly later (the credentials in
    /// `OTEL_EXPORTER_OTLP_HEADERS`).
    pub const fn key_value_list_strict(mut self) -> Self {
        self.kind = Kind::KeyValueListStrict;
        self
    }

    /// The value is rewritten by `map` (given the trimmed value); `None` leaves the key unset.
    pub const fn map(mut self, map: fn(&str) -> Option<String>) -> Self {
        self.kind = Kind::Map(map);
        self
    }

    /// As [`map`](Self::map), for values with a documented fallback: `Err(problem)` leaves the
    /// key unset (the fallback) and reports `problem` as a warning
    /// ([`Config::warnings`](crate::Config::warnings)).
    pub const fn map_checked(mut self, map: fn(&str) -> Result<Option<String>, String>) -> Self {
        self.kind = Kind::MapChecked(map);
        self
    }

    /// The variable's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The dotted key path it sets.
    pub const fn key(&self) -> &'static str {
        self.key
    }
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Plain => "plain",
            Kind::Lowercase => "lowercase",
            Kind::KeyValueList => "key_value_list",
            Kind::KeyValueListStrict => "key_value_list_strict",
            Kind::Map(_) | Kind::MapChecked(_) => "map",
        };
        f.debug_struct("EnvVar")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("kind", &kind)
            .finish()
    }
}

/// The standard variables the core itself reads: the service identity, sampling, the
/// propagators, logging directives and `OTEL_SDK_DISABLED`. Modules declare the rest.
pub(crate) const CORE_VARS: &[EnvVar] = &[
    EnvVar::new("OTEL_SERVICE_NAME", "service.name"),
    EnvVar::new("OTEL_SERVICE_NAME", "tracing.service_name"),
    EnvVar::new("OTEL_RESOURCE_ATTRIBUTES", "tracing.attributes").key_value_list(),
    EnvVar::new("OTEL_TRACES_SAMPLER", "tracing.sampler").lowercase(),
    EnvVar::new("OTEL_TRACES_SAMPLER_ARG", "tracing.sample_rate"),
    EnvVar::new("OTEL_PROPAGATORS", "propagation.propagators"),
    // Not an OpenTelemetry variable, but the one every Rust service already uses.
    EnvVar::new("RUST_LOG", "logging.directives"),
    EnvVar::new("OTEL_SDK_DISABLED", "tracing.enabled").map_checked(sdk_disabled),
    EnvVar::new("OTEL_SDK_DISABLED", "metrics.enabled").map_checked(sdk_disabled),
    EnvVar::new("OTEL_SDK_DISABLED", "logging.enabled").map_checked(sdk_disabled),
];

/// `OTEL_SDK_DISABLED=true` (any case) turns a signal off and `false` leaves it alone. The
/// specification: any other value "MUST be interpreted as false" and "a warning SHOULD be
/// logged to inform users about the fallback to false being applied".
fn sdk_disabled(value: &str) -> Result<Option<String>, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(Some("false".to_owned()))
    } else if value.eq_ignore_ascii_case("false") {
        Ok(None)
    } else {
        Err(
            "is neither true nor false (any case); read as false, so the SDK stays enabled"
                .to_owned(),
        )
    }
}

/// A figment provider of the keys that standard variables set, remembering which variable set
/// each key for error messages.
pub(crate) struct StandardEnv {
    name: String,
    dict: Dict,
    sources: BTreeMap<String, String>,
    /// Values read with a fallback, as warning lines.
    pub(crate) warnings: Vec<String>,
    /// Values that are errors (strict lists): the key, the value, what is wrong, the variable.
    pub(crate) errors: Vec<EnvProblem>,
}

/// A variable whose value is an error.
#[derive(Clone, Debug)]
pub(crate) struct EnvProblem {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) problem: String,
    pub(crate) variable: String,
}

impl EnvProblem {
    pub(crate) fn to_error(&self) -> super::ConfigError {
        super::ConfigError::Invalid {
            key: self.key.clone(),
            found: format!("{:?}", self.value),
            expected: format!(
                "a comma-separated list of `key=value` pairs with percent-encoded values; {}",
                self.problem
            ),
            origin: Some(format!("environment variable `{}`", self.variable)),
        }
    }
}

impl StandardEnv {
    /// The keys `specs` set from `vars` (the later of two variables of one name wins). `owner`
    /// names the provider in messages: the core, or a module.
    pub(crate) fn new(owner: &str, specs: &[EnvVar], vars: &[(String, String)]) -> Self {
        let mut this = StandardEnv {
            name: format!("{STANDARD_ENV_NAME} ({owner})"),
            dict: Dict::new(),
            sources: BTreeMap::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
        };
        for spec in specs {
            let Some((_, value)) = vars.iter().rev().find(|(name, _)| name == spec.name) else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let path: Vec<&str> = spec.key.split('.').collect();
            match spec.kind {
                Kind::Plain => insert_at(&mut this.dict, &path, Value::from(value.to_owned())),
                Kind::Lowercase => insert_at(
                    &mut this.dict,
                    &path,
                    Value::from(value.to_ascii_lowercase()),
                ),
                Kind::Map(map) => match map(value) {
                    Some(mapped) => insert_at(&mut this.dict, &path, Value::from(mapped)),
                    None => continue,
                },
                Kind::MapChecked(map) => match map(value) {
                    Ok(Some(mapped)) => insert_at(&mut this.dict, &path, Value::from(mapped)),
                    Ok(None) => continue,
                    Err(problem) => {
                        let warning = format!("{}={value:?} {problem}", spec.name);
                        if !this.warnings.contains(&warning) {
                            this.warnings.push(warning);
                        }
                        continue;
                    }
                },
                Kind::KeyValueList | Kind::KeyValueListStrict => {
                    let members = match parse_key_value_list(value) {
                        Ok(members) => members,
                        Err(problem) if matches!(spec.kind, Kind::KeyValueList) => {
                            let warning = format!(
                                "{} is malformed ({problem}): the whole value is discarded, as \
                                 the OpenTelemetry specification says",
                                spec.name
                            );
                            if !this.warnings.contains(&warning) {
                                this.warnings.push(warning);
                            }
                            continue;
                        }
                        Err(problem) => {
                            this.errors.push(EnvProblem {
                                key: spec.key.to_owned(),
                                value: value.to_owned(),
                                problem,
                                variable: spec.name.to_owned(),
                            });
                            continue;
                        }
                    };
                    for (name, member) in members {
                        let mut member_path = path.clone();
                        member_path.push(&name);
                        insert_at(&mut this.dict, &member_path, Value::from(member));
                    }
                }
            }
            this.sources
                .insert(spec.key.to_owned(), spec.name.to_owned());
        }
        this
    }
}

impl Provider for StandardEnv {
    fn metadata(&self) -> Metadata {
        let sources = self.sources.clone();
        Metadata::named(self.name.clone()).interpolater(move |_: &Profile, keys: &[&str]| {
            // The variable that set the key, or the nearest enclosing key.
            (1..=keys.len())
                .rev()
                .find_map(|len| sources.get(&keys[..len].join(".")).cloned())
                .unwrap_or_else(|| keys.join("."))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Parses the W3C-baggage-like lists of `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_EXPORTER_OTLP_HEADERS`: `k=v,k2=v2`, whitespace trimmed, values percent-decoded. Empty
/// members (`a=1,,b=2`) are skipped; a member without `=`, with an empty name, or with a `%`
/// not followed by two hex digits makes the whole list malformed (`Err` says which member).
pub(crate) fn parse_key_value_list(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut members = Vec::new();
    for member in list.split(',') {
        let trimmed = member.trim();
        if trimmed.is_empty() {
            continue;
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            return Err(format!("the member {trimmed:?} has no `=`"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("the member {trimmed:?} has no name"));
        }
        let mut decoded = String::with_capacity(value.len());
        if !propagation::percent_decode(value.trim(), &mut Vec::new(), &mut decoded) {
            return Err(format!(
                "the value of {name:?} has a `%` not followed by two hex digits"
            ));
        }
        members.push((name.to_owned(), decoded));
    }
    Ok(members)
}
