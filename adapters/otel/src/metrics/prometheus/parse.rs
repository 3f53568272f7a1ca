//! A strict parser of the two text formats, for tests: it checks the structure a scraper relies
//! on (metadata before samples, sample names that belong to their family, no repeated family or
//! series, `# EOF` last in OpenMetrics only, exemplars and `# UNIT` in OpenMetrics only) and
//! returns the samples with their labels, values and exemplars. It panics on anything else.

use std::collections::{BTreeMap, HashSet};

/// Labels of a sample or an exemplar.
pub(crate) type LabelMap = BTreeMap<String, String>;

/// One metric family's metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Family {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) help: String,
    pub(crate) unit: Option<String>,
}

/// An exemplar after a sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) labels: LabelMap,
    pub(crate) value: f64,
    pub(crate) timestamp: Option<f64>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) family: String,
    pub(crate) name: String,
    pub(crate) labels: LabelMap,
    pub(crate) value: f64,
    pub(crate) exemplar: Option<Exemplar>,
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    pub(crate) families: Vec<Family>,
    pub(crate) samples: Vec<Sample>,
}

impl Exposition {
    /// The family named `name` (its `# TYPE` name).
    pub(crate) fn family(&self, name: &str) -> &Family {
        self.families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name} in {:#?}", self.families))
    }

    /// The sample `name` with exactly `labels`.
    pub(crate) fn sample(&self, name: &str, labels: &[(&str, &str)]) -> &Sample {
        let want: LabelMap = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .unwrap_or_else(|| panic!("no sample {name}{want:?} in {:#?}", self.samples))
    }

    /// The value of the sample `name` with exactly `labels`.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sample(name, labels).value
    }

    /// The samples of one family.
    pub(crate) fn samples_of(&self, family: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.family == family).collect()
    }
}

/// Parses `text` as OpenMetrics (`openmetrics`) or as the classic 0.0.4 format.
pub(crate) fn parse(text: &str, openmetrics: bool) -> Exposition {
    let mut exposition = Exposition::default();
    if text.is_empty() {
        assert!(!openmetrics, "OpenMetrics needs # EOF");
        return exposition;
    }
    let body = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no final line feed: {text:?}"));
    let mut lines: Vec<&str> = body.split('\n').collect();
    if openmetrics {
        assert_eq!(lines.pop(), Some("# EOF"), "OpenMetrics ends with # EOF");
    }
    let mut help: Option<(String, String)> = None;
    let mut current: Option<usize> = None;
    let mut series = HashSet::new();
    for line in lines {
        assert!(!line.is_empty(), "empty line in {text}");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect("HELP name text");
            help = Some((name.to_owned(), unescape_help(text, openmetrics)));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(valid_metric_name(name), "bad name {name}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind}"
            );
            assert!(
                exposition.families.iter().all(|f| f.name != name),
                "family {name} repeated"
            );
            let (help_name, help_text) = help.take().expect("HELP before TYPE");
            assert_eq!(help_name, name, "HELP and TYPE name one family");
            exposition.families.push(Family {
                name: name.to_owned(),
                kind: kind.to_owned(),
                help: help_text,
                unit: None,
            });
            current = Some(exposition.families.len() - 1);
        } else if let Some(rest) = line.strip_prefix("# UNIT ") {
            assert!(openmetrics, "no # UNIT in the classic format");
            let (name, unit) = rest.split_once(' ').expect("UNIT name unit");
            let family = &mut exposition.families[current.expect("UNIT after TYPE")];
            assert_eq!(family.name, name);
            assert!(name.ends_with(&format!("_{unit}")), "unit suffix of {name}");
            family.unit = Some(unit.to_owned());
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line}");
            let family = &exposition.families[current.expect("sample after TYPE")];
            let sample = parse_sample(line, family, openmetrics);
            assert!(
                series.insert((sample.name.clone(), sample.labels.clone())),
                "series repeated: {line}"
            );
            exposition.samples.push(sample);
        }
    }
    assert!(help.is_none(), "HELP without TYPE");
    exposition
}

fn parse_sample(line: &str, family: &Family, openmetrics: bool) -> Sample {
    let name_end = line.find(['{', ' ']).expect("sample name");
    let name = &line[..name_end];
    let suffixes: &[&str] = match (family.kind.as_str(), openmetrics) {
        ("counter", true) => &["_total"],
        ("histogram", _) => &["_bucket", "_sum", "_count"],
        _ => &[""],
    };
    assert!(
        suffixes
            .iter()
            .any(|s| *name == format!("{}{s}", family.name)),
        "sample {name} outside family {}",
        family.name
    );
    let mut rest = &line[name_end..];
    let mut labels = LabelMap::new();
    if rest.starts_with('{') {
        let (parsed, after) = parse_labels(rest);
        labels = parsed;
        rest = after;
    }
    let rest = rest.strip_prefix(' ').expect("space before value");
    let (value, exemplar) = match rest.split_once(" # ") {
        Some((value, exemplar)) => (value, Some(exemplar)),
        None => (rest, None),
    };
    assert!(
        !value.contains(' '),
        "no sample timestamps expected: {line}"
    );
    let exemplar = exemplar.map(|e| {
        assert!(openmetrics, "no exemplars in the classic format: {line}");
        assert!(
            name.ends_with("_total") || name.ends_with("_bucket"),
            "exemplar on {name}"
        );
        let (labels, after) = parse_labels(e);
        let mut parts = after.trim_start().split(' ');
        let value = number(parts.next().expect("exemplar value"));
        let timestamp = parts.next().map(number);
        assert!(parts.next().is_none());
        Exemplar {
            labels,
            value,
            timestamp,
        }
    });
    Sample {
        family: family.name.clone(),
        name: name.to_owned(),
        labels,
        value: number(value),
        exemplar,
    }
}

/// Parses `{k="v",...}` at the start of `s`; returns the labels and the rest.
fn parse_labels(s: &str) -> (LabelMap, &str) {
    let mut labels = LabelMap::new();
    let mut rest = s.strip_prefix('{').expect("{");
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let eq = rest.find('=').expect("label =");
        let key = &rest[..eq];
        assert!(valid_label_name(key), "bad label name {key:?}");
        rest = rest[eq + 1..].strip_prefix('"').expect("quoted value");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("closing quote");
            match c {
                '"' => break i,
                '\\' => match chars.next().expect("escape").1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}"),
                },
                '\n' => panic!("raw line feed in a label value"),
                c => value.push(c),
            }
        };
        assert!(
            labels.insert(key.to_owned(), value).is_none(),
            "label {key} repeated"
        );
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn unescape_help(text: &str, openmetrics: bool) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next().expect("escape") {
                'n' => out.push('\n'),
                '\\' => out.push('\\'),
                '"' if openmetrics => out.push('"'),
                c => panic!("bad escape \\{c} in help"),
            },
            '"' => {
                assert!(!openmetrics, "raw quote in OpenMetrics help");
                out.push('"');
            }
            c => out.push(c),
        }
    }
    out
}

fn number(s: &str) -> f64 {
    match s {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap_or_else(|_| panic!("bad number {s:?}")),
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
