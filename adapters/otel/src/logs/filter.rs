//! The level filter: a default level plus `RUST_LOG`-style per-target directives.
//!
//! `"warn,my_app=debug,my_app::db=trace,hyper=off"` reads: records from targets under `my_app::db`
//! at trace and above, the rest of `my_app` at debug and above, nothing from `hyper`, and warn
//! and above from everything else. A target directive covers the target itself and every target
//! below it on a `::` or `.` boundary (`hyper` covers `hyper::client` and `hyper.pool`, never
//! `hyperion`); when several cover a target, the longest wins.

use std::fmt;

use hyperion::Level;

/// The level names a directive accepts, as error messages list them.
const LEVELS: &str = "trace, debug, info, warn, error, fatal, off";

/// The least severe level a target keeps; `None` is `off`.
type Threshold = Option<Level>;

/// One `target=level` directive.
#[derive(Clone, PartialEq, Eq)]
struct Directive {
    target: Box<str>,
    threshold: Threshold,
}

/// Decides from a record's level and target whether it is kept, before anything is formatted.
///
/// Built once from the configuration; [`Filter::enabled`] allocates nothing.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    /// For targets no directive covers.
    default: Threshold,
    /// Longest target first, so the first match is the longest; one entry per target.
    directives: Box<[Directive]>,
    /// The least severe level any target keeps (`None`: nothing is kept): a quick `false`.
    most_verbose: Threshold,
}

impl Filter {
    /// A filter with `level` as the default and `directives` on top.
    ///
    /// `directives` is comma separated; each item is `target=level`, or a bare level that
    /// replaces the default. Levels are `trace`, `debug`, `info`, `warn`, `error`, `fatal` and
    /// `off`, in any case. Spaces around items are ignored, and so are empty items; when the
    /// same target (or a bare level) appears twice, the last one counts.
    ///
    /// The error says what is allowed and names the bad item and its problem, worded to follow
    /// "expected" in a configuration error.
    pub(crate) fn new(level: Level, directives: Option<&str>) -> Result<Filter, String> {
        let mut default = Some(level);
        let mut parsed: Vec<Directive> = Vec::new();
        for item in directives.unwrap_or_default().split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match item.split_once('=') {
                None => match parse_level(item) {
                    Some(threshold) => default = threshold,
                    None => {
                        return Err(expected(item, "no `=` and is not a level"));
                    }
                },
                Some((target, level)) => {
                    let target = target.trim();
                    let level = level.trim();
                    if let Some(problem) = target_problem(target) {
                        return Err(expected(item, problem));
                    }
                    let Some(threshold) = parse_level(level) else {
                        return Err(expected(item, &format!("the unknown level {level:?}")));
                    };
                    parsed.retain(|d| &*d.target != target);
                    parsed.push(Directive {
                        target: target.into(),
                        threshold,
                    });
                }
            }
        }
        // Stable: equal lengths keep their order (they cannot both match one target anyway).
        parsed.sort_by_key(|d| std::cmp::Reverse(d.target.len()));
        let most_verbose = parsed
            .iter()
            .map(|d| d.threshold)
            .chain([default])
            .flatten()
            .min();
        Ok(Filter {
            default,
            directives: parsed.into_boxed_slice(),
            most_verbose,
        })
    }

    /// Whether a record at `level` from `target` is kept. Allocates nothing.
    #[inline]
    pub(crate) fn enabled(&self, level: Level, target: &str) -> bool {
        match self.most_verbose {
            Some(most) if level >= most => {}
            _ => return false,
        }
        let threshold = self
            .directives
            .iter()
            .find(|d| covers(&d.target, target))
            .map_or(self.default, |d| d.threshold);
        threshold.is_some_and(|least| level >= least)
    }
}

/// Whether directive target `prefix` covers `target`: equal, or a prefix ending on a `::` or `.`
/// boundary.
fn covers(prefix: &str, target: &str) -> bool {
    match target.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with("::") || rest.starts_with('.'),
        None => false,
    }
}

/// A level name (any case), or `off` as `Some(None)`.
fn parse_level(name: &str) -> Option<Threshold> {
    if name.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    name.parse::<Level>().ok().map(Some)
}

/// The `expected` part of the error for a bad directive: what is allowed, then the item and its
/// problem.
fn expected(item: &str, problem: &str) -> String {
    format!(
        "comma-separated `target=level` directives (such as `my_app::db=debug`) or a bare level, \
         with levels {LEVELS}; the directive {item:?} has {problem}"
    )
}

/// What is wrong with a directive's target, if anything.
fn target_problem(target: &str) -> Option<&'static str> {
    if target.is_empty() {
        Some("an empty target")
    } else if target.chars().any(char::is_whitespace) {
        Some("a space in its target")
    } else if target.contains(['=', '[', ']', '{', '}', '/']) {
        // `=` twice, or `tracing-subscriber` span filters and `env_logger` regexes, which this
        // filter does not implement.
        Some("one of `=`, `[`, `]`, `{`, `}` or `/` in its target, which may not hold them")
    } else if target.ends_with(':') || target.ends_with('.') {
        Some("a target ending with a separator")
    } else {
        None
    }
}

/// The level name of a threshold, `OFF` for `None`.
fn threshold_name(threshold: Threshold) -> &'static str {
    match threshold {
        Some(level) => level.as_str(),
        None => "OFF",
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_map();
        list.entry(&"(default)", &threshold_name(self.default));
        for d in self.directives.iter() {
            list.entry(&&*d.target, &threshold_name(d.threshold));
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(level: Level, directives: &str) -> Filter {
        Filter::new(level, Some(directives)).unwrap()
    }

    #[test]
    fn default_level_without_directives() {
        let f = Filter::new(Level::Info, None).unwrap();
        assert!(!f.enabled(Level::Trace, "app"));
        assert!(!f.enabled(Level::Debug, "app"));
        assert!(f.enabled(Level::Info, "app"));
        assert!(f.enabled(Level::Fatal, ""));
        let f = Filter::new(Level::Trace, Some("")).unwrap();
        assert!(f.enabled(Level::Trace, "anything"));
    }

    #[test]
    fn bare_level_replaces_the_default_and_the_last_counts() {
        let f = filter(Level::Info, "warn");
        assert!(!f.enabled(Level::Info, "app"));
        assert!(f.enabled(Level::Warn, "app"));
        let f = filter(Level::Info, "error, DEBUG");
        assert!(f.enabled(Level::Debug, "app"));
        assert!(!f.enabled(Level::Trace, "app"));
        let f = filter(Level::Info, "Off");
        assert!(!f.enabled(Level::Fatal, "app"));
    }

    #[test]
    fn target_matches_on_path_and_dot_boundaries_only() {
        let f = filter(Level::Error, "hyper=debug");
        assert!(f.enabled(Level::Debug, "hyper"));
        assert!(f.enabled(Level::Debug, "hyper::client::pool"));
        assert!(f.enabled(Level::Debug, "hyper.client"));
        assert!(!f.enabled(Level::Debug, "hyperion"));
        assert!(!f.enabled(Level::Debug, "hyperion::log"));
        assert!(!f.enabled(Level::Debug, "hyper_util"));
        assert!(!f.enabled(Level::Debug, "hyper:x"));
        assert!(!f.enabled(Level::Debug, "my_hyper"));
        assert!(f.enabled(Level::Error, "hyperion"));
        let f = filter(Level::Error, "db.pool=trace");
        assert!(f.enabled(Level::Trace, "db.pool.conn"));
        assert!(!f.enabled(Level::Trace, "db.pooling"));
        assert!(!f.enabled(Level::Trace, "db"));
    }

    #[test]
    fn longest_match_wins_whatever_the_order() {
        for directives in [
            "warn,my_app=debug,my_app::db=trace,hyper=off",
            "my_app::db=trace,hyper=off,my_app=debug,warn",
        ] {
            let f = filter(Level::Info, directives);
            assert!(f.enabled(Level::Trace, "my_app::db"), "{directives}");
            assert!(f.enabled(Level::Trace, "my_app::db::pool"), "{directives}");
            assert!(!f.enabled(Level::Trace, "my_app::dbx"), "{directives}");
            assert!(f.enabled(Level::Debug, "my_app::http"), "{directives}");
            assert!(!f.enabled(Level::Trace, "my_app::http"), "{directives}");
            assert!(!f.enabled(Level::Info, "other"), "{directives}");
            assert!(f.enabled(Level::Warn, "other"), "{directives}");
        }
    }

    #[test]
    fn off_silences_a_target_even_at_fatal() {
        let f = filter(Level::Trace, "hyper=off,hyper::proto=ERROR");
        assert!(!f.enabled(Level::Fatal, "hyper"));
        assert!(!f.enabled(Level::Fatal, "hyper::client"));
        assert!(f.enabled(Level::Error, "hyper::proto::h1"));
        assert!(!f.enabled(Level::Warn, "hyper::proto::h1"));
        assert!(f.enabled(Level::Trace, "hyperion"));
        // Everything off except one target.
        let f = filter(Level::Info, "off,my_app=info");
        assert!(!f.enabled(Level::Fatal, "other"));
        assert!(f.enabled(Level::Info, "my_app"));
    }

    #[test]
    fn the_last_directive_for_a_target_counts() {
        let f = filter(Level::Info, "a=trace,a=error");
        assert!(!f.enabled(Level::Warn, "a"));
        assert!(f.enabled(Level::Error, "a::b"));
    }

    #[test]
    fn spaces_and_empty_items_are_ignored() {
        let f = filter(Level::Info, " warn , , my_app = debug ,");
        assert!(f.enabled(Level::Debug, "my_app"));
        assert!(!f.enabled(Level::Info, "x"));
    }

    #[test]
    fn bad_directives_are_named_with_what_is_allowed() {
        let cases = [
            (
                "warn,my_app=loud",
                "\"my_app=loud\"",
                "unknown level \"loud\"",
            ),
            ("wran", "\"wran\"", "has no `=` and is not a level"),
            ("=debug", "\"=debug\"", "an empty target"),
            ("a b=debug", "\"a b=debug\"", "a space in its target"),
            ("a=b=debug", "\"a=b=debug\"", "unknown level \"b=debug\""),
            (
                "my_app[span]=debug",
                "\"my_app[span]=debug\"",
                "which may not hold them",
            ),
            (
                "my_app::=debug",
                "\"my_app::=debug\"",
                "a target ending with a separator",
            ),
            ("my_app=", "\"my_app=\"", "unknown level \"\""),
        ];
        for (directives, named, problem) in cases {
            let err = Filter::new(Level::Info, Some(directives)).unwrap_err();
            assert!(err.contains(named), "{directives}: {err}");
            assert!(err.contains(problem), "{directives}: {err}");
            assert!(
                err.contains("trace, debug, info, warn, error, fatal, off"),
                "{directives}: {err}"
            );
        }
    }

    #[test]
    fn debug_lists_the_directives() {
        let f = filter(Level::Info, "a=off,a::b=debug");
        assert_eq!(
            format!("{f:?}"),
            r#"{"(default)": "INFO", "a::b": "DEBUG", "a": "OFF"}"#
        );
    }
}
