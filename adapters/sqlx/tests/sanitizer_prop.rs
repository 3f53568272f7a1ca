//! Property tests of the statement reader: no text makes it panic, and a secret that appears
//! only inside literals and comments (of every kind the dialect has, well formed or cut short)
//! never reaches the sanitized text or the summary, in each [`Dialect`].

use hyperion_sqlx::sql::Dialect;
use proptest::prelude::*;

const SECRET: &str = "ZQXSECRET";

/// The secret with noise around it: characters that end or escape literals somewhere.
fn body() -> impl Strategy<Value = String> {
    "[a-z '\"$\\\\*/\r\n#`\\[\\]-]{0,6}".prop_map(|noise| format!("{noise}{SECRET}{noise}"))
}

/// `text` without any of `chars`.
fn without(text: &str, chars: &[char]) -> String {
    text.chars().filter(|c| !chars.contains(c)).collect()
}

/// A literal or comment holding the secret, in one of PostgreSQL's forms (quotes inside escaped
/// as each form requires).
fn postgres_literal() -> impl Strategy<Value = String> {
    (body(), 0..9usize).prop_map(|(body, form)| match form {
        0 => format!("'{}'", body.replace('\'', "''")),
        1 => format!("E'{}'", body.replace('\\', "\\\\").replace('\'', "\\'")),
        2 => format!("$${}$$", body.replace('$', "")),
        3 => format!("$tag${}$tag$", body.replace('$', "")),
        4 => format!("U&'{}'", body.replace('\'', "''")),
        // Nested comments are PostgreSQL's.
        5 => format!("/* /* {} */ */", without(&body, &['*', '/'])),
        // A line comment ends at `\r` or `\n`.
        6 => format!("-- {}\n", without(&body, &['\r', '\n'])),
        // Bit and hex strings.
        7 => format!("B'{}'", without(&body, &['\''])),
        _ => format!("X'' , '{}'", body.replace('\'', "''")),
    })
}

/// A literal or comment holding the secret, in one of SQLite's forms, and the texts that other
/// dialects' rules misread (a non-secret prefix, then the secret in a literal).
fn sqlite_literal() -> impl Strategy<Value = String> {
    (body(), 0..11usize).prop_map(|(body, form)| match form {
        0 => format!("'{}'", body.replace('\'', "''")),
        // A double-quoted word that names no column is a string to SQLite (where an expression
        // is: after a table introducer, it is a table's name).
        1 => format!("= \"{}\"", body.replace('"', "\"\"")),
        // A blob (an illegal one: SQLite still ends it at the next quote).
        2 => format!("x'{}'", without(&body, &['\''])),
        // Block comments do not nest: the first `*/` ends one, `/*` inside is nothing.
        3 => format!("/* /* {} */", without(&body, &['*'])),
        // A line comment ends at `\n` only.
        4 => format!("--{}\n", without(&body, &['\n'])),
        // A column `e`, then strings (not an escape string).
        5 => format!("e'\\', '{}'", body.replace('\'', "''")),
        // A parameter `$a$`, then a string (not a dollar quote).
        6 => format!("$a$, '$a$ {}'", body.replace('\'', "''")),
        // A parameter with a Tcl suffix holding a quote, then a string.
        7 => format!("$a('), '{}'", body.replace('\'', "''")),
        // A comment, then a string holding `*/`.
        8 => format!("/* /* */ '*/{}'", body.replace('\'', "''")),
        // An empty blob, then a string.
        9 => format!("x'', '{}'", body.replace('\'', "''")),
        _ => format!("-- \r'\n, '{}' --'\n", body.replace('\'', "''")),
    })
}

/// A literal or comment holding the secret in one of MySQL's forms, for [`Dialect::Other`].
fn mysql_literal() -> impl Strategy<Value = String> {
    (body(), 0..7usize).prop_map(|(body, form)| match form {
        0 => format!("'{}'", body.replace('\\', "\\\\").replace('\'', "\\'")),
        1 => format!("\"{}\"", body.replace('\\', "\\\\").replace('"', "\\\"")),
        2 => format!("# {}\n", without(&body, &['\n'])),
        3 => format!("/* {} */", without(&body, &['*'])),
        4 => format!("-- {}\n", without(&body, &['\n'])),
        // No backslash: MySQL rejects one in a hex string (hex digits only), so it ends none.
        5 => format!("x'{}'", without(&body, &['\'', '\\'])),
        _ => format!("'{}'", without(&body, &['\\']).replace('\'', "''")),
    })
}

/// A literal cut short at the end of the text (an unterminated string, quote or comment),
/// which hides the rest; the database would reject the text, but it is still recorded.
fn cut_short(dialect: Dialect) -> impl Strategy<Value = String> {
    (0..4usize).prop_map(move |form| match (dialect, form) {
        (_, 0) => format!("'it''s {SECRET}"),
        (_, 1) => format!("/* {SECRET}"),
        (Dialect::Postgres, 2) => format!("$q$ {SECRET}"),
        (Dialect::Postgres, _) => format!("E'\\' {SECRET}"),
        (_, 2) => format!("\"{SECRET}"),
        (_, _) => format!("x'{SECRET}"),
    })
}

/// SQL-ish text around the literals: keywords, names, punctuation, parameters, numbers; and
/// the dialect's quoted names and parameters, a quote inside some.
fn filler(dialect: Dialect) -> impl Strategy<Value = String> {
    let common = prop_oneof![
        Just("SELECT".to_owned()),
        Just("FROM".to_owned()),
        Just("WHERE".to_owned()),
        Just("INSERT INTO".to_owned()),
        Just("VALUES (".to_owned()),
        Just(")".to_owned()),
        Just(",".to_owned()),
        Just("=".to_owned()),
        Just("42".to_owned()),
        "[a-z_][a-z0-9_]{0,8}",
        Just("\"Quoted Name\"".to_owned()),
    ];
    let own = match dialect {
        Dialect::Postgres => prop_oneof![
            Just("$1".to_owned()),
            Just("data['key']".to_owned()),
            Just("?".to_owned()),
        ]
        .boxed(),
        Dialect::Sqlite => prop_oneof![
            Just("?1".to_owned()),
            Just("?".to_owned()),
            Just(":name".to_owned()),
            Just("@name".to_owned()),
            Just("#name".to_owned()),
            Just("$name".to_owned()),
            Just("$a::b".to_owned()),
            Just("$a(x)".to_owned()),
            Just("[it's]".to_owned()),
            Just("`it's`".to_owned()),
            Just("[odd name]".to_owned()),
        ]
        .boxed(),
        _ => prop_oneof![
            Just("?".to_owned()),
            Just("@name".to_owned()),
            Just("`it's`".to_owned()),
            Just("`odd name`".to_owned()),
        ]
        .boxed(),
    };
    proptest::collection::vec(prop_oneof![common, own], 0..6).prop_map(|words| words.join(" "))
}

/// A text of `filler`, `literal`, `filler`..., maybe ending cut short, as `dialect` writes
/// them.
fn text(dialect: Dialect, literal: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((filler(dialect), literal), 1..5),
        filler(dialect),
        proptest::option::of(cut_short(dialect)),
    )
        .prop_map(|(parts, tail, end)| {
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
            sql
        })
}

fn assert_no_secret(dialect: Dialect, sql: &str) -> Result<(), TestCaseError> {
    let info = dialect.analyze(sql);
    prop_assert!(
        !info.sanitized.contains(SECRET),
        "{dialect:?}: {sql:?} -> {:?}",
        info.sanitized
    );
    prop_assert!(
        !info.summary.contains(SECRET),
        "{dialect:?}: {sql:?} -> {:?}",
        info.summary
    );
    prop_assert!(info.summary.len() <= 255);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_secret_inside_postgresql_literals_never_leaks(
        sql in text(Dialect::Postgres, postgres_literal())
    ) {
        assert_no_secret(Dialect::Postgres, &sql)?;
    }

    #[test]
    fn a_secret_inside_sqlite_literals_never_leaks(
        sql in text(Dialect::Sqlite, sqlite_literal())
    ) {
        assert_no_secret(Dialect::Sqlite, &sql)?;
    }

    #[test]
    fn a_secret_inside_mysql_literals_never_leaks_in_the_fallback(
        sql in text(Dialect::Other, mysql_literal())
    ) {
        assert_no_secret(Dialect::Other, &sql)?;
    }

    /// The fallback reads conservatively: what is a literal to PostgreSQL or SQLite is hidden
    /// too.
    #[test]
    fn a_secret_inside_postgresql_or_sqlite_literals_never_leaks_in_the_fallback(
        sql in prop_oneof![
            text(Dialect::Postgres, postgres_literal()),
            text(Dialect::Sqlite, sqlite_literal()),
        ]
    ) {
        assert_no_secret(Dialect::Other, &sql)?;
    }

    #[test]
    fn no_text_panics(sql in "\\PC{0,200}") {
        for dialect in [Dialect::Postgres, Dialect::Sqlite, Dialect::Other] {
            let info = dialect.analyze(&sql);
            prop_assert!(info.summary.len() <= 255);
        }
    }
}
