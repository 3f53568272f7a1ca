//! Duplicate keys in a YAML mapping: an error naming the key and both lines, instead of the last
//! one silently winning (YAML 1.2 requires "the content of a mapping node is an unordered set of
//! key/value node pairs, with the restriction that each of the keys is unique").
//!
//! figment reads YAML into maps where a later key replaces an earlier one, so the text is read
//! once more, first, by serde_yaml (the parser figment itself uses) into a visitor that only
//! tracks keys: the duplicate's position comes from the parser; the first occurrence's line is
//! found by going up from there through the lines of the same mapping (block style; in flow style
//! both are on the line the parser names, or the first is unknown).

use std::collections::HashSet;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::error::ConfigError;

/// Checks `text` for a key given twice in one mapping; `origin` names the text in the error.
pub(crate) fn check(text: &str, origin: &str) -> Result<(), ConfigError> {
    let mut found = None;
    for document in serde_yaml::Deserializer::from_str(text) {
        let node = Node {
            path: String::new(),
            found: &mut found,
        };
        let Err(error) = document.deserialize_any(NodeVisitor(node)) else {
            continue;
        };
        // A syntax error is left to figment, which reports it with its position (and the
        // documents after it cannot be read).
        let Some(Duplicate { path, key, .. }) = found.take() else {
            return Ok(());
        };
        // The parser's position is where the mapping holding the duplicate starts.
        let mapping = error.location().map(|location| location.line());
        let (first_line, line) = mapping.map_or((None, None), |m| occurrences(text, m, &key));
        return Err(ConfigError::Duplicate {
            key: path,
            first_line,
            line,
            origin: Some(origin.to_owned()),
        });
    }
    Ok(())
}

/// The first duplicate found: its dotted path and its own key.
struct Duplicate {
    path: String,
    key: String,
}

/// The error a visitor stops with; its message is never shown (`found` carries the details).
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("duplicate key")
    }
}

struct Node<'a> {
    path: String,
    found: &'a mut Option<Duplicate>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(NodeVisitor(self))
    }
}

struct NodeVisitor<'a>(Node<'a>);

impl NodeVisitor<'_> {
    fn child(&mut self, key: &str) -> Node<'_> {
        let path = if self.0.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.0.path)
        };
        Node {
            path,
            found: self.0.found,
        }
    }
}

impl<'de> Visitor<'de> for NodeVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            if !keys.insert(key.0.clone()) {
                let path = self.child(&key.0).path;
                *self.0.found = Some(Duplicate { path, key: key.0 });
                return Err(de::Error::custom(Stop));
            }
            let child = self.child(&key.0);
            map.next_value_seed(child)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq
            .next_element_seed(self.child(&index.to_string()))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged node (`!tag value`): its content is not looked into.
        let (_, variant): (de::IgnoredAny, _) = data.variant()?;
        de::VariantAccess::newtype_variant::<de::IgnoredAny>(variant).map(|_| ())
    }
}

/// A mapping key as text (`port`, `8080`, `true`).
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText("~".to_owned()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// The lines (1-based) of the first two `key:` entries of the block mapping that starts on line
/// `mapping`: the lines indented like its first entry, up to one indented less. In flow style
/// (`{port: 1, port: 2}`) the keys are not at the start of a line: both are said to be on the
/// mapping's line.
fn occurrences(text: &str, mapping: usize, key: &str) -> (Option<usize>, Option<usize>) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(first) = lines.get(mapping.saturating_sub(1)) else {
        return (None, None);
    };
    let indent = indentation(first);
    let mut found = Vec::with_capacity(2);
    for (i, line) in lines.iter().enumerate().skip(mapping - 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // A list item's dash counts as indentation only on the mapping's first line.
        let own = if i + 1 == mapping {
            indent
        } else {
            indentation(line)
        };
        if own < indent || (i + 1 > mapping && line.trim_start().starts_with('-') && own <= indent)
        {
            break;
        }
        if own == indent && starts_with_key(trimmed, key) {
            found.push(i + 1);
            if found.len() == 2 {
                break;
            }
        }
    }
    match found[..] {
        [first, second] => (Some(first), Some(second)),
        _ => (Some(mapping), Some(mapping)),
    }
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '-']).len()
}

/// Whether a line (without its indentation) starts with `key:` (the key plain or quoted).
fn starts_with_key(line: &str, key: &str) -> bool {
    let line = line.trim_start_matches(['-', ' ']);
    [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            line.strip_prefix(k.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(text: &str) -> Option<(String, Option<usize>, Option<usize>)> {
        match check(text, "YAML text") {
            Ok(()) => None,
            Err(ConfigError::Duplicate {
                key,
                first_line,
                line,
                ..
            }) => Some((key, first_line, line)),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn a_key_given_twice_names_the_key_and_both_lines() {
        let text = "tracing:\n  sample_rate: 0.5\n  exporter: otlp\n  sample_rate: 1.0\n";
        assert_eq!(
            duplicate(text),
            Some(("tracing.sample_rate".to_owned(), Some(2), Some(4)))
        );
        let text = "service:\n  name: a\nmetrics:\n  port: 1\nservice:\n  name: b\n";
        assert_eq!(
            duplicate(text),
            Some(("service".to_owned(), Some(1), Some(5)))
        );
    }

    #[test]
    fn the_same_key_in_different_mappings_is_fine() {
        assert_eq!(
            duplicate("a:\n  x: 1\nb:\n  x: 2\nlist:\n  - x: 1\n  - x: 2\n"),
            None
        );
        assert_eq!(duplicate(""), None);
        assert_eq!(duplicate("just a scalar"), None);
    }

    #[test]
    fn duplicates_inside_lists_and_flow_mappings() {
        let text = "items:\n  - name: a\n    size: 1\n    name: b\n";
        assert_eq!(
            duplicate(text),
            Some(("items.0.name".to_owned(), Some(2), Some(4)))
        );
        let (key, first, line) = duplicate("metrics: {port: 1, port: 2}\n").unwrap();
        assert_eq!(key, "metrics.port");
        assert_eq!((first, line), (Some(1), Some(1)));
    }

    #[test]
    fn loading_fails_with_the_key_both_lines_and_the_file() {
        let error =
            crate::Config::from_yaml_str("tracing:\n  sample_rate: 0.5\n  sample_rate: 1.0\n")
                .unwrap_err();
        assert_eq!(error.key(), Some("tracing.sample_rate"));
        assert_eq!(
            error.to_string(),
            "duplicate key `tracing.sample_rate` (from YAML text): at line 2 and again at line 3; \
             a key may appear only once in a mapping"
        );
        let path = std::env::temp_dir().join(format!("hyperion-dup-{}.yaml", std::process::id()));
        std::fs::write(&path, "# comment\nservice:\n  name: a\n\n  name: b\n").unwrap();
        let error = crate::Config::load(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(
            error.starts_with("duplicate key `service.name` (from YAML file `"),
            "{error}"
        );
        assert!(error.contains("at line 3 and again at line 5"), "{error}");
    }

    #[test]
    fn malformed_yaml_is_left_to_the_loader() {
        assert_eq!(duplicate("a: [1, 2\n"), None);
    }
}
