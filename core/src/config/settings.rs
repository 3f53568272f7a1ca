//! Modules' own settings: a module declares the keys it reads ([`Settings`]), and the core
//! extracts them, typed, from the same layered source as its own ([`ModuleSource`]), and checks
//! that every key of the document is claimed by the core or a module.

use std::fmt;

use figment::value::{Dict, Value};
use figment::{Figment, Profile, Provider};
use serde::de::{self, DeserializeOwned, Visitor};

use super::env::{EnvVar, StandardEnv};
use super::error::describe_origin;
use super::source::SetInCode;
use super::{Config, ConfigError, Signal};

/// What a module reads from the configuration: the keys it claims in each section, the standard
/// environment variables that set them, and how to say what a key allows.
///
/// A module returns it from `Module::settings`; the core then
///
/// - accepts those keys in those sections (a key that neither the core nor any registered module
///   claims is an [`UnknownKey`](ConfigError::UnknownKey) error, with a suggestion when one is
///   spelled close),
/// - reads the module's variables above YAML and `HYPERION_` variables, as it reads its own,
/// - and hands the module its typed settings with [`ModuleSource::extract`].
///
/// A section is a signal's (`tracing`, `metrics`, `logging`) or a top-level one of the module's
/// own (say `statsd`). Keys that another registered module claims are accepted in a section
/// whose signal a module does not serve, so that swapping adapters stays a one-line YAML change.
///
/// ```
/// use hyperion::config::{EnvVar, Settings};
///
/// #[derive(Default, serde::Deserialize)]
/// #[serde(default)]
/// struct StatsdMetrics {
///     host: String,
///     prefix: Option<String>,
/// }
///
/// let settings = Settings::new()
///     .section::<StatsdMetrics>("metrics")
///     .env(EnvVar::new("STATSD_HOST", "metrics.host"))
///     .expected("metrics.host", "a host name or IP address with a port");
/// assert_eq!(settings.claims("metrics"), ["host", "prefix"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Settings {
    sections: Vec<(&'static str, &'static [&'static str])>,
    env: Vec<EnvVar>,
    hints: Vec<(&'static str, &'static str)>,
}

impl Settings {
    /// Claims nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Claims the fields of `T` (its serde names, as `#[derive(Deserialize)]` declares them) as
    /// keys of `section`. `T` must be a struct deserialized field by field (no
    /// `#[serde(flatten)]`); otherwise claim its keys with [`keys`](Self::keys).
    pub fn section<T: DeserializeOwned>(self, section: &'static str) -> Self {
        self.keys(section, fields_of::<T>())
    }

    /// Claims `keys` in `section`.
    pub fn keys(mut self, section: &'static str, keys: &'static [&'static str]) -> Self {
        self.sections.push((section, keys));
        self
    }

    /// Declares a standard variable that sets one of the module's keys. Later declarations win
    /// over earlier ones for the same key.
    pub fn env(mut self, var: EnvVar) -> Self {
        self.env.push(var);
        self
    }

    /// Says what `key` (a dotted path) allows, for error messages, where the type's own wording
    /// (`an integer in 0..=65535`) is not the clearest.
    pub fn expected(mut self, key: &'static str, text: &'static str) -> Self {
        self.hints.push((key, text));
        self
    }

    /// The keys claimed in `section`, in declaration order.
    pub fn claims(&self, section: &str) -> Vec<&'static str> {
        self.sections
            .iter()
            .filter(|(name, _)| *name == section)
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect()
    }

    /// The sections in which keys are claimed.
    pub fn sections(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.sections.iter().map(|(name, _)| *name)
    }

    /// The standard variables declared.
    pub fn env_vars(&self) -> &[EnvVar] {
        &self.env
    }
}

/// A module's view of the configuration: the layered source with the module's own variables on
/// top. [`extract`](Self::extract) reads a section as the module's type;
/// [`invalid`](Self::invalid) reports a value the module rejects, naming where it came from.
pub struct ModuleSource {
    figment: Figment,
    hints: Vec<(&'static str, &'static str)>,
    /// The module's variables whose values are errors (strict lists), reported by `extract`.
    env_errors: Vec<super::env::EnvProblem>,
}

impl fmt::Debug for ModuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleSource").finish_non_exhaustive()
    }
}

impl ModuleSource {
    /// The source for the module `name` with `settings`.
    pub(crate) fn new(config: &Config, name: &str, settings: &Settings) -> Self {
        let source = &config.source;
        let standard = StandardEnv::new(&format!("module `{name}`"), &settings.env, &source.env);
        let env_errors = standard.errors.clone();
        let mut figment = source.figment.clone().merge(standard);
        // Values set in code stay the top layer, above the module's variables too.
        if !source.set_in_code.is_empty() {
            figment = figment.merge(SetInCode(source.set_in_code.clone()));
        }
        ModuleSource {
            figment,
            hints: settings.hints.clone(),
            env_errors,
        }
    }

    /// Reads `section` as `T`; an absent section gives `T::default()`. Values are read as the
    /// core reads its own: strings from environment variables become numbers or flags where `T`
    /// wants one.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] (or [`UnknownKey`](ConfigError::UnknownKey), for a `T` that
    /// denies unknown fields in a nested mapping) naming the full key path, the value found, what
    /// is allowed and where the value came from.
    pub fn extract<T: DeserializeOwned + Default>(&self, section: &str) -> Result<T, ConfigError> {
        let prefix = format!("{section}.");
        if let Some(problem) = self
            .env_errors
            .iter()
            .find(|p| p.key == section || p.key.starts_with(&prefix))
        {
            return Err(problem.to_error());
        }
        if self.figment.find_value(section).is_err() {
            return Ok(T::default());
        }
        self.figment
            .extract_inner_lossy::<T>(section)
            .map_err(|error| {
                // figment appends the section to the error's path: put it first.
                let error = error
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| "unknown error".into());
                let mut error = error;
                let depth = section.split('.').count();
                if error.path.len() >= depth {
                    let tail = error.path.split_off(error.path.len() - depth);
                    error.path.splice(0..0, tail);
                }
                ConfigError::from_figment(error, &self.figment, &self.hints)
            })
    }

    /// An [`Invalid`](ConfigError::Invalid) error for the value at `key` (a dotted path), which
    /// the module rejects: `found` as written in YAML (quote strings), `expected` what is allowed.
    /// The error names the file or variable the value came from.
    pub fn invalid(
        &self,
        key: &str,
        found: impl fmt::Display,
        expected: impl Into<String>,
    ) -> ConfigError {
        ConfigError::invalid(key, found, expected).with_origin_from(&self.figment)
    }
}

/// Checks that every key of the document is the core's or claimed by a module: `chosen` holds,
/// per signal, the settings of the module that serves it (if any); `registered` those of every
/// registered module.
pub(crate) fn check_keys(
    config: &Config,
    chosen: [Option<&Settings>; 3],
    registered: &[&Settings],
) -> Result<(), ConfigError> {
    let figment = &config.source.figment;
    let Ok(data) = figment.data() else {
        return Ok(()); // the load already reported a malformed source
    };
    let Some(document) = data.get(&Profile::Default) else {
        return Ok(());
    };
    let core_top = fields_of::<Config>();
    let module_sections: Vec<&str> = registered
        .iter()
        .flat_map(|s| s.sections())
        .filter(|section| !core_top.contains(section))
        .collect();
    for key in document.keys() {
        if core_top.contains(&key.as_str()) || module_sections.contains(&key.as_str()) {
            continue;
        }
        let mut allowed: Vec<&str> = core_top.to_vec();
        allowed.extend(module_sections.iter().copied());
        return Err(unknown(figment, &[key.as_str()], &allowed));
    }
    for signal in Signal::ALL {
        let section = signal.as_str();
        let core = core_keys(signal);
        let own = chosen[signal as usize]
            .map(|s| s.claims(section))
            .unwrap_or_default();
        check_section(document, section, |key| {
            core.contains(&key)
                || own.contains(&key)
                || registered.iter().any(|s| s.claims(section).contains(&key))
        })
        .map_err(|key| {
            // Every key accepted here: the core's, the serving module's, then other modules'.
            let mut allowed = core.to_vec();
            let others = registered.iter().flat_map(|s| s.claims(section));
            for claim in own.iter().copied().chain(others) {
                if !allowed.contains(&claim) {
                    allowed.push(claim);
                }
            }
            unknown(figment, &[section, key.as_str()], &allowed)
        })?;
    }
    for section in module_sections {
        let claims: Vec<&str> = registered.iter().flat_map(|s| s.claims(section)).collect();
        check_section(document, section, |key| claims.contains(&key))
            .map_err(|key| unknown(figment, &[section, key.as_str()], &claims))?;
    }
    Ok(())
}

/// The first key of `section` that `known` rejects.
fn check_section(
    document: &Dict,
    section: &str,
    known: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let Some(Value::Dict(_, keys)) = document.get(section) else {
        return Ok(());
    };
    match keys.keys().find(|key| !known(key)) {
        Some(key) => Err(key.clone()),
        None => Ok(()),
    }
}

/// The core's own keys in a signal's section.
fn core_keys(signal: Signal) -> &'static [&'static str] {
    match signal {
        Signal::Tracing => fields_of::<super::TracingConfig>(),
        Signal::Metrics => fields_of::<super::MetricsConfig>(),
        Signal::Logging => fields_of::<super::LoggingConfig>(),
    }
}

fn unknown(figment: &Figment, path: &[&str], allowed: &[&str]) -> ConfigError {
    let key = path.join(".");
    // An unknown mapping came from wherever its first value did (for a `HYPERION_` variable,
    // that names the variable, not a prefix of it).
    let mut origin_path: Vec<String> = path.iter().map(|p| (*p).to_owned()).collect();
    while let Ok(Value::Dict(_, dict)) = figment.find_value(&origin_path.join(".")) {
        match dict.keys().next() {
            Some(first) => origin_path.push(first.clone()),
            None => break,
        }
    }
    let origin_path: Vec<&str> = origin_path.iter().map(String::as_str).collect();
    let origin = figment
        .find_metadata(&origin_path.join("."))
        .map(|metadata| describe_origin(metadata, &origin_path));
    let name = path.last().copied().unwrap_or_default();
    ConfigError::UnknownKey {
        suggestion: closest(name, allowed.iter().copied()),
        expected: allowed.join(", "),
        key,
        origin,
    }
}

/// The candidate spelled closest to `name`, if it is close enough to be a likely typo (at most a
/// third of its letters, and at least one, edited away), or else the one it shortens or extends
/// (`max_batch` for `max_batch_size`; at least three letters).
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    let typo = candidates
        .clone()
        .map(|candidate| (strsim::damerau_levenshtein(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate);
    let shortened = || {
        candidates
            .filter(|candidate| {
                name.len() >= 3 && (candidate.starts_with(name) || name.starts_with(candidate))
            })
            .min_by_key(|candidate| candidate.len().abs_diff(name.len()))
    };
    typo.or_else(shortened).map(str::to_owned)
}

/// The field names serde's derive declares for `T`, read by asking `T` to deserialize itself from
/// a deserializer that only records them (serde has no reflection; derived structs name their
/// fields to `deserialize_struct`). Empty for anything that is not such a struct.
pub(crate) fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = FieldProbe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

struct FieldProbe(&'static [&'static str]);

#[derive(Debug)]
struct Probed;

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names probed")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Probed
    }
}

impl<'de> de::Deserializer<'de> for &mut FieldProbe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
        Err(Probed)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probed> {
        self.0 = fields;
        Err(Probed)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, serde::Deserialize)]
    #[allow(dead_code)]
    struct Two {
        host: String,
        #[serde(rename = "flush")]
        flush_every: u64,
    }

    #[test]
    fn fields_are_read_from_the_derive() {
        assert_eq!(fields_of::<Two>(), ["host", "flush"]);
        assert!(fields_of::<u32>().is_empty());
        assert!(fields_of::<std::collections::BTreeMap<String, String>>().is_empty());
    }

    #[test]
    fn closest_finds_likely_typos_only() {
        let keys = ["sample_rate", "sampler", "service_name", "enabled"];
        assert_eq!(
            closest("sampel_rate", keys.into_iter()).as_deref(),
            Some("sample_rate")
        );
        assert_eq!(
            closest("enabeld", keys.into_iter()).as_deref(),
            Some("enabled")
        );
        assert_eq!(
            closest("samplr", keys.into_iter()).as_deref(),
            Some("sampler")
        );
        assert_eq!(closest("exporter", keys.into_iter()), None);
        assert_eq!(closest("x", keys.into_iter()), None);
        assert_eq!(
            closest("service", keys.into_iter()).as_deref(),
            Some("service_name")
        );
        assert_eq!(
            closest(
                "max_batch",
                ["max_batch_size", "max_queue_size"].into_iter()
            )
            .as_deref(),
            Some("max_batch_size")
        );
        assert_eq!(closest("ex", ["exporter"].into_iter()), None);
    }
}
