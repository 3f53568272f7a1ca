//! Property tests of the statement reader: no text makes it panic, and a secret that appears
//! only inside literals (of every PostgreSQL kind, well formed or cut short) never reaches the
//! sanitized text or the summary.

use hyperion_sqlx::sql::analyze;
use proptest::prelude::*;

const SECRET: &str = "ZQXSECRET";

/// A literal holding the secret, in one of PostgreSQL's forms (quotes inside escaped as each
/// form requires).
fn literal() -> impl Strategy<Value = String> {
    let body = "[a-z '$\\\\]{0,6}".prop_map(|noise| format!("{noise}{SECRET}{noise}"));
    (body, 0..6usize).prop_map(|(body, form)| match form {
        0 => format!("'{}'", body.replace('\'', "''")),
        1 => format!("E'{}'", body.replace('\\', "\\\\").replace('\'', "\\'")),
        2 => format!("$${}$$", body.replace('$', "")),
        3 => format!("$tag${}$tag$", body.replace('$', "")),
        4 => format!("U&'{}'", body.replace('\'', "''")),
        _ => format!("/* {} */", body.replace("*/", "")),
    })
}

/// A literal cut short at the end of the text (an unterminated string, dollar quote or
/// comment), which hides the rest; PostgreSQL would reject the text, but it is still recorded.
fn cut_short() -> impl Strategy<Value = String> {
    (0..4usize).prop_map(|form| match form {
        0 => format!("'it''s {SECRET}"),
        1 => format!("$q$ {SECRET}"),
        2 => format!("/* {SECRET}"),
        _ => format!("E'\\' {SECRET}"),
    })
}

/// SQL-ish text around the literals: keywords, names (SQLite's bracketed and backquoted too),
/// punctuation, parameters, numbers.
fn filler() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("SELECT".to_owned()),
            Just("FROM".to_owned()),
            Just("WHERE".to_owned()),
            Just("INSERT INTO".to_owned()),
            Just("VALUES (".to_owned()),
            Just(")".to_owned()),
            Just(",".to_owned()),
            Just("=".to_owned()),
            Just("$1".to_owned()),
            Just("42".to_owned()),
            "[a-z_][a-z0-9_]{0,8}",
            Just("\"Quoted Name\"".to_owned()),
            // SQLite's parameters and quoted names, a quote inside some.
            Just("?1".to_owned()),
            Just("[it's]".to_owned()),
            Just("`it's`".to_owned()),
        ],
        0..6,
    )
    .prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_secret_inside_literals_never_leaks(
        parts in proptest::collection::vec((filler(), literal()), 1..5),
        tail in filler(),
        end in proptest::option::of(cut_short()),
    ) {
        let mut sql = String::new();
        for (words, literal) in &parts {
            sql.push_str(words);
            sql.push(' ');
            sql.push_str(literal);
            sql.push(' ');
        }
        sql.push_str(&tail);
        if let Some(end) = end {
            sql.push(' ');
            sql.push_str(&end);
        }
        let info = analyze(&sql);
        prop_assert!(!info.sanitized.contains(SECRET), "{sql:?} -> {:?}", info.sanitized);
        prop_assert!(!info.summary.contains(SECRET), "{sql:?} -> {:?}", info.summary);
        prop_assert!(info.summary.len() <= 255);
    }

    #[test]
    fn no_text_panics(sql in "\\PC{0,200}") {
        let info = analyze(&sql);
        prop_assert!(info.summary.len() <= 255);
    }
}
