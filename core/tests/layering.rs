//! The core's layering, checked: every module of `core/src` may import only modules of lower
//! layers, so that data flows one way and there are no import circles. ARCHITECTURE.md draws
//! the same table; change both together.
//!
//! The check reads the sources as text: every `crate::module` path in code (comments and doc
//! comments are skipped, so intra-doc links may point anywhere) is an import of `module`, and a
//! root re-export such as `crate::Telemetry` counts as an import of the module it comes from.
//! `super::` paths that reach the crate root (from `context.rs`, `config/mod.rs`, or
//! `super::super::` from `config/env.rs`) are checked as `crate::` paths.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may import modules of strictly lower layers only.
const LAYERS: &[&[&str]] = &[
    &["attr", "noop", "semconv"],
    &["trace"],
    &["log", "propagation"],
    &["context"],
    &["metric"],
    &["intercept"],
    &["config"],
    &["telemetry"],
    &["registry"],
    &["builder"],
    &["testing"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read core/src") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `config/env.rs` → `config`, `log.rs` → `log`.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src_dir()).expect("under src");
    let first = relative.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The lines of code, without comments (line, doc and block comments) and without the text of
/// string literals (so that `"*/*"` or `"crate::x"` in a string counts for nothing).
fn code_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let mut code = String::new();
        let mut chars = line.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            if in_block {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    in_block = false;
                }
                continue;
            }
            if in_string {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => {
                        in_string = false;
                        code.push('"');
                    }
                    _ => {}
                }
                continue;
            }
            match c {
                '/' if chars.peek() == Some(&'/') => break,
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    in_block = true;
                }
                // A char literal holding a quote is not a string.
                '\'' if chars.peek() == Some(&'"') => {
                    code.push_str("'\"");
                    chars.next();
                }
                '"' => {
                    in_string = true;
                    code.push('"');
                }
                _ => code.push(c),
            }
        }
        lines.push(code);
    }
    lines
}

/// `super::` paths in the top-level `use` items (not indented, so not inside an inline `mod
/// tests`) of a file one level below `src` (`context.rs`, `config/mod.rs`) reach the crate
/// root: rewrite them as `crate::` so that they are checked too. In deeper files the same goes
/// for `super::super::`; a plain `super::` there stays inside the file's own module.
fn with_super_as_crate(code: &str, file: &Path) -> String {
    let relative = file.strip_prefix(src_dir()).expect("under src");
    let depth = relative.components().count();
    let is_mod = relative.file_name().is_some_and(|n| n == "mod.rs");
    let to_root = match (depth, is_mod) {
        (1, _) | (2, true) => "super::",
        (2, false) | (3, true) => "super::super::",
        _ => return code.to_owned(),
    };
    code.lines()
        .map(|line| {
            let top_level_use = ["use ", "pub use ", "pub(crate) use "]
                .iter()
                .any(|prefix| line.starts_with(prefix));
            if top_level_use {
                line.replace(to_root, "crate::")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names `lib.rs` re-exports at the root, by the module they come from.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = fs::read_to_string(src_dir().join("lib.rs")).expect("read lib.rs");
    let code = code_lines(&lib).join("\n");
    let mut names = BTreeMap::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(rest) = statement.strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.split_whitespace().last().unwrap_or_default();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// The modules a piece of code imports through `crate::` paths.
fn imports(code: &str, reexports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `$crate::` in macros and identifiers ending in `crate` are not paths of this crate.
        if before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_') {
            continue;
        }
        let group: Vec<&str> = if let Some(inner) = rest.strip_prefix('{') {
            // `crate::{a::X, b::{Y, Z}}`: the first segment of each top-level item.
            let mut depth = 0;
            let mut end = inner.len();
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = i;
                        break;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            let mut items = Vec::new();
            let mut depth = 0;
            let mut start = 0;
            let inner = &inner[..end];
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[start..]);
            items
        } else {
            vec![rest]
        };
        for item in group {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                if item.trim().starts_with('*') {
                    found.insert("*".to_owned());
                }
                continue;
            }
            if layer_of(&name).is_some() {
                found.insert(name);
            } else if let Some(module) = reexports.get(&name) {
                found.insert(module.clone());
            } else {
                found.insert(name);
            }
        }
    }
    found
}

/// Module → the modules it imports, read from the sources.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    // Exported macros live at the root too (`crate::config_enum!`): they belong to the module
    // that defines them.
    for file in &files {
        let text = fs::read_to_string(file).expect("read a source file");
        for line in code_lines(&text) {
            if let Some(rest) = line.trim().strip_prefix("macro_rules! ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                reexports.insert(name, module_of(file));
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&file);
        if module == "lib" {
            continue;
        }
        let text = fs::read_to_string(&file).expect("read a source file");
        let code = with_super_as_crate(&code_lines(&text).join("\n"), &file);
        let entry = graph.entry(module.clone()).or_default();
        for imported in imports(&code, &reexports) {
            if imported != module {
                entry.insert(imported);
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let graph = import_graph();
    let unplaced: Vec<&String> = graph.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules of core/src without a layer in tests/layering.rs (and ARCHITECTURE.md): {unplaced:?}"
    );
}

#[test]
fn no_module_imports_a_higher_or_equal_layer() {
    let graph = import_graph();
    let mut violations = Vec::new();
    for (module, imported) in &graph {
        let Some(own) = layer_of(module) else {
            continue;
        };
        for target in imported {
            match layer_of(target) {
                Some(layer) if layer < own => {}
                Some(layer) => violations.push(format!(
                    "{module} (layer {own}) imports {target} (layer {layer})"
                )),
                None => violations.push(format!("{module} imports {target}, which has no layer")),
            }
        }
    }
    let drawing: Vec<String> = graph
        .iter()
        .map(|(module, imported)| {
            let list: Vec<&str> = imported.iter().map(String::as_str).collect();
            format!("{module} -> {}", list.join(", "))
        })
        .collect();
    // `cargo test -p hyperion --test layering -- --nocapture` prints the graph.
    println!("the import graph of core/src:\n  {}", drawing.join("\n  "));
    assert!(
        violations.is_empty(),
        "layering violations:\n  {}\nthe import graph:\n  {}",
        violations.join("\n  "),
        drawing.join("\n  ")
    );
}

#[test]
fn the_checker_sees_imports_in_every_form() {
    let reexports: BTreeMap<String, String> =
        [("Telemetry".to_owned(), "telemetry".to_owned())].into();
    let code = code_lines(
        "use crate::trace::SpanContext;\n\
         use crate::{log::Level, propagation::{Baggage, Extractor}};\n\
         // use crate::config::Config;\n\
         /// [`crate::registry::Registry`]\n\
         fn f(t: &crate::Telemetry) -> $crate::x::Y { crate::context::Context::noop() }\n\
         /* crate::builder */ let a = 1; let b = /* c */ crate::log::Level::Info;\n\
         let accept = \"*/*\"; let s = \"crate::registry\"; let c = '\"'; crate::metric::X;\n",
    )
    .join("\n");
    let found = imports(&code, &reexports);
    let expected: BTreeSet<String> = [
        "trace",
        "log",
        "propagation",
        "telemetry",
        "context",
        "metric",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(found, expected);
    // A glob hides what it imports: it is reported, as a module without a layer.
    assert!(imports("use crate::*;", &reexports).contains("*"));
    // `super::` from a file right below `src` is the crate root.
    let file = src_dir().join("context.rs");
    let code = with_super_as_crate("use super::config::Config;", &file);
    assert_eq!(
        imports(&code, &reexports),
        BTreeSet::from(["config".to_owned()])
    );
    let file = src_dir().join("config").join("env.rs");
    let code = with_super_as_crate(
        "use super::source::X;\nuse super::super::log::Level;",
        &file,
    );
    assert_eq!(
        imports(&code, &reexports),
        BTreeSet::from(["log".to_owned()])
    );
}
