//! The metric names that the demo's Grafana dashboards (`compose/grafana/dashboards/*.json`) query.
//!
//! Shared by the offline compose checks (`tests/compose.rs`) and the end-to-end test, which
//! compares these names with the samples the running services expose on `/metrics`.
//!
//! Names are reported as they appear in the queries, that is as Prometheus sample names:
//! `http_server_request_duration_seconds_bucket`, `hyperion_intercept_calls_total`. A scrape of
//! `/metrics` lists samples under the same names, so the two sets compare directly. [`family`]
//! maps a sample name to its OpenMetrics family (`_bucket`, `_count`, `_sum`, `_created` and
//! `_total` stripped), for a comparison with the `# TYPE` lines instead.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where the dashboards are, relative to the repository root.
pub const DASHBOARDS_DIR: &str = "compose/grafana/dashboards";

/// The repository root: `$HYPERION_REPO_ROOT` when set (to check another checkout), else the
/// directory two levels above this crate (`examples/demo`).
pub fn repo_root() -> PathBuf {
    match std::env::var_os("HYPERION_REPO_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    }
}

/// The dashboard files (`*.json` in [`DASHBOARDS_DIR`]), sorted. Panics when the directory cannot
/// be read or holds no dashboard.
pub fn dashboard_files(repo_root: &Path) -> Vec<PathBuf> {
    let dir = repo_root.join(DASHBOARDS_DIR);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the dashboards directory {}: {e}",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a dashboards directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.json dashboard in {}",
        dir.display()
    );
    files
}

/// Every dashboard, parsed, with its file. Panics naming the file that is not valid JSON.
pub fn load_dashboards(repo_root: &Path) -> Vec<(PathBuf, Value)> {
    dashboard_files(repo_root)
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            (path, json)
        })
        .collect()
}

/// The PromQL expressions of a dashboard: every `expr` string anywhere in it (panel targets,
/// targets of panels nested in rows, annotations), and the PromQL inside its query variables
/// (`label_values(<expr>, <label>)`, `query_result(<expr>)`, or a plain expression).
pub fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut queries = Vec::new();
    collect_exprs(dashboard, &mut queries);
    let variables = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for variable in variables {
        if variable.get("type").and_then(Value::as_str) != Some("query") {
            continue;
        }
        // The query is a string, or (newer Grafana) an object with a `query` string.
        let query = match variable.get("query") {
            Some(Value::String(query)) => Some(query.as_str()),
            Some(object @ Value::Object(_)) => object.get("query").and_then(Value::as_str),
            _ => None,
        };
        if let Some(expr) = query.and_then(variable_promql) {
            queries.push(expr.to_owned());
        }
    }
    queries
}

fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match child {
                    Value::String(expr) if key == "expr" => out.push(expr.clone()),
                    _ => collect_exprs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, out)),
        _ => {}
    }
}

/// The PromQL in a Grafana Prometheus query variable, if any.
fn variable_promql(query: &str) -> Option<&str> {
    let query = query.trim();
    let call = |name: &str| {
        query
            .strip_prefix(name)
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
    };
    if let Some(args) = call("label_values") {
        // `label_values(label)` names no metric; `label_values(expr, label)` does. The label is
        // the text after the last comma outside braces and strings; find it from the end.
        return split_last_argument(args).map(|(expr, _label)| expr.trim());
    }
    if let Some(expr) = call("query_result") {
        return Some(expr.trim());
    }
    if call("label_names").is_some() || call("metrics").is_some() {
        return None;
    }
    Some(query)
}

/// Splits `expr, label` at the last top-level comma; `None` without one.
fn split_last_argument(args: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut last = None;
    let mut escaped = false;
    for (i, c) in args.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    last.map(|i| (&args[..i], &args[i + 1..]))
}

/// Every metric name that any dashboard queries, as the queries spell it (sample names such as
/// `http_server_request_duration_seconds_bucket`). Panics when a dashboard cannot be read.
pub fn dashboard_metric_names(repo_root: &Path) -> BTreeSet<String> {
    load_dashboards(repo_root)
        .iter()
        .flat_map(|(_, dashboard)| dashboard_queries(dashboard))
        .flat_map(|expr| promql_metric_names(&expr))
        .collect()
}

/// The OpenMetrics families of [`dashboard_metric_names`] (see [`family`]).
pub fn dashboard_metric_families(repo_root: &Path) -> BTreeSet<String> {
    dashboard_metric_names(repo_root)
        .iter()
        .map(|name| family(name).to_owned())
        .collect()
}

/// The OpenMetrics family of a sample name: the name without a histogram or summary suffix
/// (`_bucket`, `_count`, `_sum`), a `_created` suffix, or a counter's `_total`. A name without
/// one of these suffixes is its own family. (A gauge whose name happens to end so is shortened
/// too: this reads names, not types.)
pub fn family(name: &str) -> &str {
    ["_bucket", "_count", "_sum", "_created", "_total"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix).filter(|base| !base.is_empty()))
        .unwrap_or(name)
}

/// Words that are never metric names where they stand (PromQL keywords and binary operators).
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregation operators, which may be followed by `by (...)`/`without (...)` before their
/// parenthesised arguments.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
    "limit_ratio",
];

/// The metric names in a PromQL expression (Grafana variables such as `$__rate_interval` or
/// `$job` allowed): the bare names of vector selectors (`rate(x_total[5m])` gives `x_total`),
/// the quoted names of Prometheus 3 selectors (`{"x.y", job="a"}`), and `__name__="x"`
/// matchers. Function and aggregation names, keywords, label names in `by`/`without`/`on`/
/// `ignoring`/`group_left`/`group_right` lists and in label matchers, strings, numbers and
/// durations are not names.
pub fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = read_string(&chars, i).1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' => {
                let (end, in_braces) = read_matchers(&chars, i);
                names.extend(in_braces);
                i = end;
            }
            '[' => {
                // A range or subquery: durations and Grafana variables only.
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                i += 1;
            }
            '$' => i = skip_variable(&chars, i),
            _ if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                i = skip_number(&chars, i);
            }
            _ if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = next_non_space(&chars, i);
                let next_char = next.map(|j| chars[j]);
                let lower = word.to_ascii_lowercase();
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if next_char == Some('(') {
                        i = skip_group(&chars, next.expect("an opening parenthesis"));
                    }
                } else if KEYWORDS.contains(&lower.as_str())
                    || next_char == Some('(')
                    || (AGGREGATIONS.contains(&lower.as_str())
                        && next.is_some_and(|j| starts_with_grouping(&chars, j)))
                {
                    // A keyword, a function or aggregation call: not a name.
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn next_non_space(chars: &[char], mut i: usize) -> Option<usize> {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    (i < chars.len()).then_some(i)
}

/// Whether `by` or `without` starts at `i` (as a whole word).
fn starts_with_grouping(chars: &[char], i: usize) -> bool {
    ["by", "without"].iter().any(|keyword| {
        let end = i + keyword.len();
        end <= chars.len()
            && chars[i..end].iter().copied().eq(keyword.chars())
            && !chars.get(end).copied().is_some_and(is_ident_char)
    })
}

/// Skips a parenthesised group starting at `open`, strings included; returns the index after it.
fn skip_group(chars: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = read_string(chars, i).1;
                continue;
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Reads the string literal starting at `start` (a quote); returns its unescaped text and the
/// index after the closing quote (or the end of the input).
fn read_string(chars: &[char], start: usize) -> (String, usize) {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == quote {
            return (text, i + 1);
        }
        if c == '\\' && quote != '`' && i + 1 < chars.len() {
            i += 1;
            text.push(chars[i]);
        } else {
            text.push(c);
        }
        i += 1;
    }
    (text, i)
}

/// Skips a Grafana variable (`$name`, `${name}`, `${name:format}`, `[[name]]` is not PromQL).
fn skip_variable(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    if chars.get(i) == Some(&'{') {
        while i < chars.len() && chars[i] != '}' {
            i += 1;
        }
        return i + 1;
    }
    while i < chars.len() && is_ident_char(chars[i]) {
        i += 1;
    }
    i
}

/// Skips a number or a duration (`0.99`, `1e-3`, `0x1f`, `5m`, `1h30m`).
fn skip_number(chars: &[char], start: usize) -> usize {
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        let exponent_sign = (c == '+' || c == '-')
            && matches!(chars.get(i.wrapping_sub(1)), Some('e' | 'E'))
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// A token inside a `{...}` selector.
enum Token {
    Word(String),
    Str(String),
    Op(String),
    Comma,
}

/// Reads the label matchers of the selector starting at `open` (`{`); returns the index after
/// the closing brace and the metric names the braces give: `__name__="x"`, or a lone quoted name.
fn read_matchers(chars: &[char], open: usize) -> (usize, Vec<String>) {
    let mut tokens = Vec::new();
    let mut i = open + 1;
    while i < chars.len() && chars[i] != '}' {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            let (text, end) = read_string(chars, i);
            tokens.push(Token::Str(text));
            i = end;
        } else if c == ',' {
            tokens.push(Token::Comma);
            i += 1;
        } else if c == '=' || c == '!' {
            let len = if matches!(chars.get(i + 1), Some('=' | '~')) {
                2
            } else {
                1
            };
            tokens.push(Token::Op(chars[i..i + len].iter().collect()));
            i += len;
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == '$' {
            // A Grafana variable standing for a value.
            i = skip_variable(chars, i);
            tokens.push(Token::Str(String::new()));
        } else {
            i += 1;
        }
    }
    let mut names = Vec::new();
    for matcher in tokens.split(|token| matches!(token, Token::Comma)) {
        match matcher {
            [Token::Str(name)] => names.push(name.clone()),
            [
                Token::Word(label) | Token::Str(label),
                Token::Op(op),
                Token::Str(value),
            ] if label == "__name__" && op == "=" => {
                names.push(value.clone());
            }
            _ => {}
        }
    }
    (i + 1, names)
}
