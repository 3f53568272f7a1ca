//! Where a configuration comes from: YAML (a file, or text), `HYPERION_` variables, standard
//! variables and values set in code, merged by [`ConfigLoader`] into one layered source.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::providers::{Format, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::env::{CORE_VARS, StandardEnv};
use super::{Config, ConfigError};

pub(crate) const HYPERION_PREFIX: &str = "HYPERION_";
pub(crate) const HYPERION_ENV_NAME: &str = "HYPERION_ environment variables";
pub(crate) const STANDARD_ENV_NAME: &str = "standard environment variables";

/// A YAML document with a name of our choosing (a file's path, or "YAML text").
struct YamlSource {
    text: String,
    metadata: Metadata,
}

impl Provider for YamlSource {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        // An empty document, or one holding only comments, is an empty mapping.
        let blank = self
            .text
            .lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
        if blank {
            return Ok(Map::new());
        }
        Yaml::string(&self.text).data()
    }
}

/// Puts `value` at `path` in `dict`, creating (or replacing scalars by) mappings on the way.
pub(crate) fn insert_at(dict: &mut Dict, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        dict.insert((*first).to_owned(), value);
        return;
    }
    let entry = dict
        .entry((*first).to_owned())
        .or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert_at(inner, rest, value);
    }
}

/// `HYPERION_A__B_C=v` as `a.b_c = "v"`.
///
/// Values stay strings: the loader extracts with figment's lossy interpretation, so a string
/// becomes a number or boolean exactly where the model wants one (`"9100"` for a port, `"0.1"`
/// for a rate, `"false"` for a flag), while a string field keeps `"1.0"` as written (figment's
/// `Env` would have made it the number 1). Empty values count as unset.
struct HyperionEnv {
    dict: Dict,
}

impl HyperionEnv {
    fn new(vars: &[(String, String)]) -> Self {
        let mut dict = Dict::new();
        for (name, raw) in vars {
            let Some(prefix) = name.get(..HYPERION_PREFIX.len()) else {
                continue;
            };
            if !prefix.eq_ignore_ascii_case(HYPERION_PREFIX) {
                continue;
            }
            let raw = raw.trim();
            let key = name[HYPERION_PREFIX.len()..].to_ascii_lowercase();
            let path: Vec<&str> = key.split("__").map(str::trim).collect();
            if raw.is_empty() || path.iter().any(|segment| segment.is_empty()) {
                continue;
            }
            insert_at(&mut dict, &path, Value::from(raw.to_owned()));
        }
        Self { dict }
    }
}

impl Provider for HyperionEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(HYPERION_ENV_NAME).interpolater(|_: &Profile, keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("{HYPERION_PREFIX}{}", keys.join("__"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Loads a [`Config`] from chosen sources, highest layer last: a YAML file, then YAML text, then
/// `HYPERION_` variables, then the standard variables, then values [set](Self::set) in code.
///
/// The environment is whatever [`env`](Self::env) and [`process_env`](Self::process_env) hand it,
/// so a test passes its own variables instead of changing the process's.
///
/// `HYPERION_` variables (prefix matched ignoring case) name a key path in upper case, levels
/// separated by `__`: `HYPERION_TRACING__SAMPLE_RATE=0.1`, `HYPERION_METRICS__PORT=9100`,
/// `HYPERION_TRACING__HEADERS__API_KEY=secret`. A `HYPERION_` variable that names no key is an
/// error when the telemetry is built, as an unknown YAML key is.
///
/// The standard variables the core reads (empty values count as unset):
///
/// | variable | key |
/// | --- | --- |
/// | `OTEL_SERVICE_NAME` | `service.name` and `tracing.service_name` |
/// | `OTEL_RESOURCE_ATTRIBUTES` (`k=v,...`, percent-encoded) | merged into `tracing.attributes` |
/// | `OTEL_TRACES_SAMPLER` | `tracing.sampler` |
/// | `OTEL_TRACES_SAMPLER_ARG` | `tracing.sample_rate` |
/// | `OTEL_PROPAGATORS` (`tracecontext,baggage,b3,b3multi,none`) | `propagation.propagators` |
/// | `OTEL_SDK_DISABLED=true` (any case) | `tracing.enabled`, `metrics.enabled`, `logging.enabled` set to `false` |
/// | `RUST_LOG` | `logging.directives` |
///
/// Each module reads the variables of its own settings on top of these (for the `otel` module:
/// `OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`, `OTEL_METRICS_EXPORTER`, ...; see its docs), when the
/// telemetry is built ([`Settings::env`](super::Settings::env)).
///
/// ```
/// use hyperion::config::{ConfigLoader, Sampler};
///
/// let config = ConfigLoader::new()
///     .yaml("tracing:\n  sample_rate: 0.5\n")
///     .env([
///         ("HYPERION_TRACING__SAMPLE_RATE", "0.25"),
///         ("OTEL_TRACES_SAMPLER", "always_on"),
///     ])
///     .load()?;
/// assert_eq!(config.tracing.sample_rate, 0.25);
/// assert_eq!(config.tracing.sampler, Sampler::AlwaysOn);
/// # Ok::<(), hyperion::config::ConfigError>(())
/// ```
#[derive(Clone, Default)]
#[must_use = "a ConfigLoader does nothing until `load` is called"]
pub struct ConfigLoader {
    file: Option<PathBuf>,
    yaml: Option<String>,
    env: Vec<(String, String)>,
    overrides: Dict,
}

/// Shows the variables' names only: their values may hold credentials.
impl fmt::Debug for ConfigLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        let overrides: Vec<&str> = self.overrides.keys().map(String::as_str).collect();
        f.debug_struct("ConfigLoader")
            .field("file", &self.file)
            .field("yaml", &self.yaml)
            .field("env", &names)
            .field("overrides", &overrides)
            .finish()
    }
}

impl ConfigLoader {
    /// A loader with no sources: [`load`](Self::load) gives [`Config::default()`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads this YAML file (which must exist) as the lowest layer.
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Adds this YAML text, above the file.
    pub fn yaml(mut self, text: impl Into<String>) -> Self {
        self.yaml = Some(text.into());
        self
    }

    /// Adds environment variables (name, value); of two with the same name, the later wins.
    /// `HYPERION_` variables, the core's standard variables and those that the modules declare
    /// are looked at; the rest are ignored.
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env.extend(
            vars.into_iter()
                .map(|(name, value)| (name.into(), value.into())),
        );
        self
    }

    /// Adds the process's environment variables (non-UTF-8 text is replaced by U+FFFD rather
    /// than panicking). Only those that name a key are used, as with [`env`](Self::env); they
    /// are all kept (never printed: `Debug` shows names only) because the modules that read
    /// their own are known only when the telemetry is built.
    pub fn process_env(self) -> Self {
        let vars = std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        });
        self.env(vars)
    }

    /// Sets the key at the dotted path `key` in code, above every other source: for tests and
    /// tools that must override a file (`.set("metrics.port", 0)` for a free port). A value
    /// that cannot be represented (a map with non-string keys) is ignored.
    ///
    /// ```
    /// use hyperion::config::ConfigLoader;
    ///
    /// let config = ConfigLoader::new()
    ///     .yaml("tracing:\n  sample_rate: 0.5\n")
    ///     .set("tracing.sample_rate", 0.125)
    ///     .load()?;
    /// assert_eq!(config.tracing.sample_rate, 0.125);
    /// # Ok::<(), hyperion::config::ConfigError>(())
    /// ```
    pub fn set(mut self, key: &str, value: impl serde::Serialize) -> Self {
        if let Ok(value) = Value::serialize(value) {
            let path: Vec<&str> = key.split('.').collect();
            insert_at(&mut self.overrides, &path, value);
        }
        self
    }

    /// Merges the sources, extracts and [validates](Config::validate) the core's settings.
    ///
    /// The keys of the signal sections that the core does not know belong to modules: they are
    /// checked, with the modules' own settings, when the telemetry is built.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Io`] if the file cannot be read, [`ConfigError::Parse`] if YAML is
    /// malformed, [`ConfigError::Duplicate`] if a YAML mapping gives a key twice, [`ConfigError::UnknownKey`] (in `service` and `propagation`, which only the
    /// core reads) or [`ConfigError::Invalid`] for a bad key or value.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.clone(),
                source,
            })?;
            super::duplicates::check(&text, &format!("YAML file `{}`", path.display()))?;
            figment = figment.merge(YamlSource {
                text,
                metadata: Metadata::from("YAML file", path.as_path()),
            });
        }
        if let Some(text) = &self.yaml {
            super::duplicates::check(text, "YAML text")?;
            figment = figment.merge(YamlSource {
                text: text.clone(),
                metadata: Metadata::named("YAML text"),
            });
        }
        let standard = StandardEnv::new("core", CORE_VARS, &self.env);
        if let Some(problem) = standard.errors.first() {
            return Err(problem.to_error());
        }
        let warnings = standard.warnings.clone();
        figment = figment.merge(HyperionEnv::new(&self.env)).merge(standard);
        if !self.overrides.is_empty() {
            figment = figment.merge(SetInCode(self.overrides.clone()));
        }
        let mut config: Config = figment
            .extract_lossy()
            .map_err(|error| ConfigError::from_figment(error, &figment, &[]))?;
        config
            .validate()
            .map_err(|error| error.with_origin_from(&figment))?;
        config.source = Source {
            figment,
            env: self.env.clone().into(),
            set_in_code: self.overrides.clone(),
            warnings,
        };
        Ok(config)
    }
}

/// How values given to [`ConfigLoader::set`] are named in messages.
const SET_IN_CODE: &str = "a value set in code";

/// The values given to [`ConfigLoader::set`].
pub(crate) struct SetInCode(pub(crate) Dict);

impl Provider for SetInCode {
    fn metadata(&self) -> Metadata {
        Metadata::named(SET_IN_CODE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// The merged layers a [`Config`] was loaded from, and the environment it saw: modules extract
/// their own settings from it when the telemetry is built.
#[derive(Clone, Default)]
pub(crate) struct Source {
    pub(crate) figment: Figment,
    pub(crate) env: Arc<[(String, String)]>,
    /// The values set in code, merged again above a module's own variables.
    pub(crate) set_in_code: Dict,
    /// Values read with a fallback (a malformed `OTEL_RESOURCE_ATTRIBUTES` discarded, an
    /// `OTEL_SDK_DISABLED` that is neither true nor false), as warning lines.
    pub(crate) warnings: Vec<String>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may hold credentials: keys only.
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Source")
            .field("env", &names)
            .finish_non_exhaustive()
    }
}
