//! Reading a statement's text: the sanitized `db.query.text` (every literal replaced by `?`,
//! comments removed) and the `db.query.summary` (its operations and targets in order), in one
//! pass of a small lexer, by the rules of the pool's database ([`Dialect`]).
//!
//! Hand-written because no maintained crate does this cheaply: a full SQL parser (`sqlparser`)
//! costs a heavy dependency and tens of microseconds per query, rejects dialect it does not know
//! (and a failed parse would lose the summary), while what the conventions ask for only needs
//! tokens: where literals, comments and quoted names begin and end, and which keywords name
//! operations and targets.
//!
//! The lexer is one, with what differs between databases as data: PostgreSQL's rules (`''` and
//! `E'\''` escapes, dollar quoting, nested block comments, `--` comments ending at `\n` or `\r`,
//! `$1` parameters, `"…"` names) and SQLite's (`''` escapes only, `X'…'` blobs, flat block
//! comments, `--` comments ending at `\n` only, `"…"`, `[…]` and `` `…` `` names, `?NNN`,
//! `:name`, `@name`, `$name` and `#name` parameters) are each followed exactly, and where the
//! text alone cannot say how the database reads it (PostgreSQL's `standard_conforming_strings`,
//! SQLite's double-quoted strings, the systems this crate does not know), whatever is a literal
//! or a comment in any plausible reading is hidden. Parameters are kept as written.

/// What the query text tells: the values of `db.query.text` (sanitized), `db.query.summary`,
/// and the single operation and collection when there is exactly one of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryInfo {
    /// The text with every literal (string, number, boolean, bit string, blob, dollar-quoted)
    /// replaced by `?` and comments removed. Parameters (`$1`, `?1`, `:name`) are kept.
    pub sanitized: String,
    /// `{operation} {target} …` in order of appearance, at most [`SUMMARY_MAX`] bytes, cut
    /// between words. Empty when the text names no operation this lexer knows.
    pub summary: String,
    /// The operation when the query has exactly one (`SELECT`, `INSERT`...), as written.
    pub operation: Option<String>,
    /// The target when the query has exactly one operation and exactly one target, as written
    /// (SQLite's `[users]` and `` `users` `` as `users`).
    pub collection: Option<String>,
    /// Whether an operation of the text writes rows: `INSERT`, `UPDATE`, `DELETE`, `MERGE`, or
    /// (outside PostgreSQL) `REPLACE`. SQLite's change count means something only then.
    pub writes: bool,
}

/// The longest `db.query.summary`, in bytes, as the conventions say (255 characters; the words
/// kept are ASCII keywords and names, so bytes and characters agree except for non-ASCII names,
/// which are then cut earlier, never inside a character).
pub const SUMMARY_MAX: usize = 255;

/// Operations that can appear inside a statement as well as at its start: `SELECT` anywhere (a
/// reserved word: a subquery, `INSERT … SELECT`, `UNION SELECT`), the others only right after
/// `(` or `)` (a CTE's body, the statement after a `WITH` list), where they cannot be a column.
/// Compared without regard to ASCII case, recorded as written.
const NESTED_OPERATIONS: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"];

/// Operations at the start of a statement (the text's start or after `;`). Elsewhere these words
/// are clauses (`UPDATE t SET`, `ON CONFLICT DO NOTHING`, `VALUES (..)`) or names (columns
/// called `start`, `comment` or `notify`). (SQLite's and MySQL's `REPLACE` is one too, outside
/// PostgreSQL, where `replace` is a name like any other.)
const STATEMENT_OPERATIONS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "VALUES",
    "TABLE",
    "CALL",
    "EXECUTE",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "COPY",
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "SET",
    "SHOW",
    "RESET",
    "LOCK",
    "GRANT",
    "REVOKE",
    "VACUUM",
    "ANALYZE",
    "EXPLAIN",
    "LISTEN",
    "NOTIFY",
    "UNLISTEN",
    "PREPARE",
    "DEALLOCATE",
    "REFRESH",
    "COMMENT",
    "DO",
    "DECLARE",
    "FETCH",
    "MOVE",
    "CLOSE",
    "DISCARD",
    "CLUSTER",
    "REINDEX",
];

/// Operations that write rows (see [`QueryInfo::writes`]).
const WRITE_OPERATIONS: &[&str] = &["INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE"];

/// Operations whose next name is their target (`UPDATE users`, `CALL proc`, `TABLE users`).
const TARGETING_OPERATIONS: &[&str] = &["UPDATE", "CALL", "TRUNCATE", "COPY", "TABLE", "LOCK"];

/// Keywords after which a name is a target. (`USING` is one only in `MERGE` and `DELETE`.)
const TARGET_INTRODUCERS: &[&str] = &["FROM", "JOIN", "INTO"];

/// Words skipped between an introducer and its target.
const TARGET_NOISE: &[&str] = &["ONLY", "IF", "NOT", "EXISTS", "LATERAL", "TABLE"];

/// Words where a target is expected that are not tables (`COPY t FROM STDIN`).
const NOT_TARGETS: &[&str] = &["STDIN", "STDOUT"];

/// Object kinds after `CREATE`/`ALTER`/`DROP` whose name is the target, and the words that may
/// come between the verb and the name.
const DDL_OBJECTS: &[&str] = &[
    "TABLE",
    "INDEX",
    "VIEW",
    "SEQUENCE",
    "SCHEMA",
    "DATABASE",
    "FUNCTION",
    "PROCEDURE",
    "TRIGGER",
    "TYPE",
    "EXTENSION",
];
const DDL_MODIFIERS: &[&str] = &[
    "UNIQUE",
    "OR",
    "REPLACE",
    "CONCURRENTLY",
    "TEMP",
    "TEMPORARY",
    "UNLOGGED",
    "MATERIALIZED",
    "IF",
    "NOT",
    "EXISTS",
    "ONLY",
];

/// Keywords that end a `FROM a, b` list (after them a comma no longer introduces a table).
/// `ON` does not: `FROM a JOIN b ON a.id = b.id, c` lists `c` too.
const CLAUSE_ENDS: &[&str] = &[
    "WHERE",
    "GROUP",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "WINDOW",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "RETURNING",
    "SET",
    "VALUES",
    "FETCH",
    "FOR",
    "SELECT",
    "DEFAULT",
];

/// Words that are never a function's name before `(`: `IN (`, `VALUES (`, `AS (`...
const NOT_FUNCTIONS: &[&str] = &[
    "IN",
    "VALUES",
    "AS",
    "EXISTS",
    "ANY",
    "ALL",
    "SOME",
    "ON",
    "USING",
    "FROM",
    "JOIN",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "SELECT",
    "WITH",
    "LATERAL",
    "OVER",
    "FILTER",
    "WITHIN",
    "CONFLICT",
    "RETURNING",
    "SET",
    "BY",
    "WHEN",
    "THEN",
    "ELSE",
    "CASE",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "MATERIALIZED",
];

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// One lexical token, as byte offsets into the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// A keyword or an unquoted name (possibly with `.`-separated parts glued later).
    Word(usize, usize),
    /// A quoted name: `"…"`, and SQLite's `[…]` and `` `…` ``.
    Quoted(usize, usize),
    /// A literal: string, escape string, bit string, blob, dollar-quoted, number; SQLite's
    /// parameter with a `(…)` suffix; or anything unterminated, which hides the rest of the
    /// text.
    Literal,
    /// A parameter: PostgreSQL's `$1`; SQLite's `?1`, `:name`, `@name`, `$name`, `#name`.
    Param(usize, usize),
    /// Any other character (operators, punctuation), one at a time.
    Punct(usize, usize),
    /// Whitespace or a comment: output as one space.
    Space,
}

/// The lexical rules of one reading of a text, as data for the one [`Lexer`]: what differs
/// from one dialect to another, and between the readings of one dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Syntax {
    /// Block comments nest (PostgreSQL); otherwise the first `*/` ends one (SQLite, MySQL).
    nested_comments: bool,
    /// A `--` comment ends at `\r` as well as at `\n` (PostgreSQL); otherwise at `\n` only.
    cr_ends_comments: bool,
    /// `#` starts a comment to the end of the line (MySQL).
    hash_comments: bool,
    /// PostgreSQL's prefixed strings: `E'…'` (where a backslash escapes), `B'…'`, `N'…'`,
    /// `U&'…'`. (`X'…'` is read in every dialect.)
    prefixed_strings: bool,
    /// PostgreSQL's dollar quotes (`$$…$$`, `$tag$…$tag$`) and `$1` parameters.
    dollar_quotes: bool,
    /// A backslash escapes the next character in every `'…'` string (PostgreSQL with
    /// `standard_conforming_strings` off, MySQL), and in `"…"` strings where those are strings.
    backslash: bool,
    /// `"…"` is a string (MySQL), not a name.
    double_quoted_strings: bool,
    /// `` `…` `` quotes a name (SQLite, MySQL).
    backquoted_names: bool,
    /// `[…]` quotes a name, with nothing escaped inside (SQLite).
    bracketed_names: bool,
    /// SQLite's parameters: `?NNN`, and `$`, `:`, `@` or `#` before a name.
    sqlite_parameters: bool,
}

impl Syntax {
    /// PostgreSQL with `standard_conforming_strings` on (the default since 9.1).
    const POSTGRES: Syntax = Syntax {
        nested_comments: true,
        cr_ends_comments: true,
        hash_comments: false,
        prefixed_strings: true,
        dollar_quotes: true,
        backslash: false,
        double_quoted_strings: false,
        backquoted_names: false,
        bracketed_names: false,
        sqlite_parameters: false,
    };

    /// PostgreSQL with `standard_conforming_strings` off: a backslash escapes in every string.
    const POSTGRES_BACKSLASH: Syntax = Syntax {
        backslash: true,
        ..Syntax::POSTGRES
    };

    /// SQLite's tokenizer (`tokenize.c`).
    const SQLITE: Syntax = Syntax {
        nested_comments: false,
        cr_ends_comments: false,
        hash_comments: false,
        prefixed_strings: false,
        dollar_quotes: false,
        backslash: false,
        double_quoted_strings: false,
        backquoted_names: true,
        bracketed_names: true,
        sqlite_parameters: true,
    };

    /// MySQL's and MariaDB's defaults: backslash escapes, `"…"` strings, `#` comments.
    const MYSQL: Syntax = Syntax {
        nested_comments: false,
        cr_ends_comments: false,
        hash_comments: true,
        prefixed_strings: false,
        dollar_quotes: false,
        backslash: true,
        double_quoted_strings: true,
        backquoted_names: true,
        bracketed_names: false,
        sqlite_parameters: false,
    };

    /// The fallback's written reading: PostgreSQL's tokens, with `[…]` and `` `…` `` as names.
    const GENERIC: Syntax = Syntax {
        backquoted_names: true,
        bracketed_names: true,
        ..Syntax::POSTGRES
    };
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    syntax: Syntax,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str, syntax: Syntax) -> Self {
        Lexer {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            syntax,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// Skips a quoted body from the opening `quote`; a doubled quote is a quote inside, and with
    /// `backslash` a backslash escapes the next character. Unterminated, it runs to the end.
    fn skip_quoted(&mut self, quote: u8, backslash: bool) {
        self.pos += 1; // the opening quote
        while let Some(b) = self.peek(0) {
            self.pos += 1;
            match b {
                b'\\' if backslash => self.pos = (self.pos + 1).min(self.bytes.len()),
                b if b == quote && self.peek(0) == Some(quote) => self.pos += 1,
                b if b == quote => return,
                _ => {}
            }
        }
    }

    /// At a `$`: a dollar-quoted string (`$$…$$`, `$tag$…$tag$`) if the tag is well formed,
    /// consumed whole (to the end if unterminated). `false` if this `$` starts no such string.
    fn try_dollar_string(&mut self) -> bool {
        let start = self.pos;
        let mut end = start + 1;
        if self.bytes.get(end).is_some_and(|&b| is_ident_start(b)) {
            while self
                .bytes
                .get(end)
                .is_some_and(|&b| is_ident_char(b) && b != b'$')
            {
                end += 1;
            }
        }
        if self.bytes.get(end) != Some(&b'$') {
            return false;
        }
        let tag = &self.text[start..=end];
        match self.text[end + 1..].find(tag) {
            Some(close) => self.pos = end + 1 + close + tag.len(),
            None => self.pos = self.bytes.len(),
        }
        true
    }

    /// At SQLite's `$`, `:`, `@` or `#`: a parameter named by identifier characters (`$` among
    /// them), with `::` between parts (`$a::b`), and an optional `(…)` suffix that runs to the
    /// first `)` before any space (Tcl's `$a(key)`), as SQLite's tokenizer reads them. The suffix
    /// may hold anything but spaces, quotes included: a parameter with one is hidden as a literal
    /// is, and an unclosed suffix (an illegal token, the statement fails) hides the rest. A sign
    /// followed by no name is a character of its own.
    fn sqlite_parameter(&mut self, start: usize) -> Token {
        let mut end = start + 1;
        let mut named = false;
        while let Some(&c) = self.bytes.get(end) {
            if is_ident_char(c) {
                named = true;
                end += 1;
            } else if c == b'(' && named {
                let close = self.bytes[end..]
                    .iter()
                    .position(|&c| c == b')' || is_sqlite_space(c));
                self.pos = match close {
                    Some(at) if self.bytes[end + at] == b')' => end + at + 1,
                    _ => self.bytes.len(),
                };
                return Token::Literal;
            } else if c == b':' && self.bytes.get(end + 1) == Some(&b':') {
                end += 2;
            } else {
                break;
            }
        }
        if !named {
            self.pos = start + 1;
            return Token::Punct(start, self.pos);
        }
        self.pos = end;
        Token::Param(start, end)
    }

    fn skip_number(&mut self) {
        if self.bytes[self.pos] == b'0'
            && matches!(self.peek(1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B'))
        {
            self.pos += 2;
            self.skip_junk();
            return;
        }
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_digit() || c == b'_' || c == b'.')
        {
            self.pos += 1;
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek(1), Some(b'+' | b'-')));
            if self.peek(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1 + sign;
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
        }
        self.skip_junk();
    }

    /// A number glued to letters (`123abc`, `0x1fg2`) is one junk token in PostgreSQL 15+ (and
    /// an illegal one in SQLite): take it all, so that no digit is left to leak. A `$` is taken
    /// too where there are no dollar quotes (SQLite's `1$a` is one token); in PostgreSQL,
    /// `1$$…$$` is a number, then a string.
    fn skip_junk(&mut self) {
        let dollar = !self.syntax.dollar_quotes;
        while self.peek(0).is_some_and(|c| {
            c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 || (dollar && c == b'$')
        }) {
            self.pos += 1;
        }
    }

    /// At a quoted name's opening character: the name up to `close` (doubled, with `doubling`,
    /// it is a character of the name). An unclosed name hides the rest, as an unclosed string
    /// does: it is no name.
    fn quoted_name(&mut self, start: usize, close: u8, doubling: bool) -> Token {
        self.pos += 1;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            if c == close {
                if doubling && self.peek(0) == Some(close) {
                    self.pos += 1;
                } else {
                    return Token::Quoted(start, self.pos);
                }
            }
        }
        Token::Literal
    }

    /// A comment from `start` to the end of its line: `\n` ends it, and `\r` too with
    /// `cr_ends`.
    fn line_comment(&mut self, start: usize, cr_ends: bool) -> Token {
        let end = if cr_ends {
            self.text[start..].find(['\n', '\r'])
        } else {
            self.text[start..].find('\n')
        };
        self.pos = end.map_or(self.bytes.len(), |end| start + end + 1);
        Token::Space
    }

    /// A block comment from its `/*`: nested ones count where they nest, and an unterminated
    /// one runs to the end.
    fn block_comment(&mut self) -> Token {
        let b = self.bytes;
        self.pos += 2;
        if !self.syntax.nested_comments {
            self.pos = match self.text[self.pos..].find("*/") {
                Some(end) => self.pos + end + 2,
                None => b.len(),
            };
            return Token::Space;
        }
        let mut depth = 1usize;
        while depth > 0 && self.pos < b.len() {
            if b[self.pos] == b'/' && self.peek(1) == Some(b'*') {
                depth += 1;
                self.pos += 2;
            } else if b[self.pos] == b'*' && self.peek(1) == Some(b'/') {
                depth -= 1;
                self.pos += 2;
            } else {
                self.pos += 1;
            }
        }
        Token::Space
    }

    fn next(&mut self) -> Option<Token> {
        let start = self.pos;
        let c = *self.bytes.get(start)?;
        let syntax = self.syntax;
        let next = self.peek(1);
        let token = match c {
            c if c.is_ascii_whitespace() => {
                while self.peek(0).is_some_and(|c| c.is_ascii_whitespace()) {
                    self.pos += 1;
                }
                Token::Space
            }
            b'-' if next == Some(b'-') => self.line_comment(start, syntax.cr_ends_comments),
            b'#' if syntax.hash_comments => self.line_comment(start, false),
            b'/' if next == Some(b'*') => self.block_comment(),
            b'\'' => {
                self.skip_quoted(b'\'', syntax.backslash);
                Token::Literal
            }
            b'"' if syntax.double_quoted_strings => {
                self.skip_quoted(b'"', syntax.backslash);
                Token::Literal
            }
            b'"' => self.quoted_name(start, b'"', true),
            b'`' if syntax.backquoted_names => self.quoted_name(start, b'`', true),
            b'[' if syntax.bracketed_names => self.quoted_name(start, b']', false),
            // X'…' (PostgreSQL's and MySQL's hex strings, SQLite's blobs). Read as a string:
            // where the database ends one at the next quote (`X'1F''2'`), a string starts
            // there, which this one covers.
            b'x' | b'X' if next == Some(b'\'') => {
                self.pos += 1;
                self.skip_quoted(b'\'', syntax.backslash);
                Token::Literal
            }
            // PostgreSQL's B'…', N'…'.
            b'b' | b'B' | b'n' | b'N' if syntax.prefixed_strings && next == Some(b'\'') => {
                self.pos += 1;
                self.skip_quoted(b'\'', syntax.backslash);
                Token::Literal
            }
            // E'…' strings, where a backslash always escapes.
            b'e' | b'E' if syntax.prefixed_strings && next == Some(b'\'') => {
                self.pos += 1;
                self.skip_quoted(b'\'', true);
                Token::Literal
            }
            b'u' | b'U'
                if syntax.prefixed_strings && next == Some(b'&') && self.peek(2) == Some(b'\'') =>
            {
                self.pos += 2;
                self.skip_quoted(b'\'', syntax.backslash);
                Token::Literal
            }
            b'$' if syntax.dollar_quotes && next.is_some_and(|c| c.is_ascii_digit()) => {
                self.pos += 1;
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                Token::Param(start, self.pos)
            }
            b'$' if syntax.dollar_quotes && self.try_dollar_string() => Token::Literal,
            // SQLite's `?NNN` parameters. (A bare `?`, SQLite's and MySQL's parameter and
            // PostgreSQL's jsonb operator, is one character like any other.)
            b'?' if syntax.sqlite_parameters && next.is_some_and(|c| c.is_ascii_digit()) => {
                self.pos += 1;
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                Token::Param(start, self.pos)
            }
            b'$' | b':' | b'@' | b'#' if syntax.sqlite_parameters => self.sqlite_parameter(start),
            c if c.is_ascii_digit() => {
                self.skip_number();
                Token::Literal
            }
            b'.' if next.is_some_and(|c| c.is_ascii_digit()) => {
                self.skip_number();
                Token::Literal
            }
            c if is_ident_start(c) => {
                while self.peek(0).is_some_and(is_ident_char) {
                    self.pos += 1;
                }
                let word = &self.text[start..self.pos];
                if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") {
                    Token::Literal
                } else {
                    Token::Word(start, self.pos)
                }
            }
            _ => {
                // One character; only ASCII gets here (non-ASCII bytes start names).
                let len = self.text[start..].chars().next().map_or(1, char::len_utf8);
                self.pos += len;
                Token::Punct(start, self.pos)
            }
        };
        Some(token)
    }
}

/// SQLite's spaces where a `$a(…)` suffix stops: `sqlite3Isspace`, which has `\v` too.
fn is_sqlite_space(c: u8) -> bool {
    c.is_ascii_whitespace() || c == 0x0b
}

/// A quoted name as the summary writes it: SQLite's and MySQL's `[users]` and `` `users` `` as
/// `users` when what they quote is a plain name; anything else as written (`"song list"`, as the
/// conventions' examples keep standard quotes).
fn summary_name(quoted: &str) -> &str {
    let inner = match quoted.as_bytes().first() {
        Some(b'[' | b'`') if quoted.len() >= 2 => &quoted[1..quoted.len() - 1],
        _ => return quoted,
    };
    let mut bytes = inner.bytes();
    if bytes.next().is_some_and(is_ident_start) && bytes.all(is_ident_char) {
        inner
    } else {
        quoted
    }
}

/// What introduced the target the summarizer is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Introducer {
    /// `FROM`, `JOIN`, a comma in a `FROM` list, `USING`: a name followed by `(` is a function.
    From,
    /// `INTO`, `UPDATE`, `CALL`...: a name followed by `(` is still the target (`INTO t (a, b)`).
    Other,
    /// `CREATE`/`ALTER`/`DROP`: the object kind comes first (`TABLE`, `INDEX`...).
    Ddl,
}

/// Builds the summary while tokens go by.
#[derive(Default)]
struct Summarizer {
    /// Whose statements: outside PostgreSQL, `REPLACE INTO t` and `UPDATE OR IGNORE t` too.
    dialect: Dialect,
    summary: String,
    full: bool,
    operations: usize,
    targets: usize,
    first_operation: Option<(usize, usize)>,
    first_target: Option<String>,
    /// Whether an operation writes rows.
    writes: bool,
    /// At the start of a statement (the text's start, after `;`).
    statement_start: bool,
    /// The first operation of the current statement, upper-cased (`USING` depends on it).
    statement_operation: Option<String>,
    /// The previous significant token was `(` (or `[`).
    after_open: bool,
    /// The previous significant token was `)` (or `]`).
    after_close: bool,
    /// The previous significant token was `.`.
    after_dot: bool,
    /// Waiting for a target name, and what asked for it.
    expect: Option<Introducer>,
    /// The depths of the `FROM` lists open (a comma at such a depth introduces a table).
    from_lists: Vec<usize>,
    /// The previous word, if the previous significant token was a word.
    previous: Option<(usize, usize)>,
    /// Per open parenthesis, whether it is a function call's (`extract(x FROM y)`).
    parens: Vec<bool>,
    /// A target being built from `a . b . c` parts, and whether `FROM` introduced it.
    pending: Option<(String, Introducer)>,
    pending_dot: bool,
}

impl Summarizer {
    fn push_word(&mut self, word: &str) {
        if self.full {
            return;
        }
        let extra = usize::from(!self.summary.is_empty());
        if self.summary.len() + extra + word.len() > SUMMARY_MAX {
            self.full = true;
            return;
        }
        if extra == 1 {
            self.summary.push(' ');
        }
        self.summary.push_str(word);
    }

    fn flush_target(&mut self) {
        if let Some((target, _)) = self.pending.take() {
            self.targets += 1;
            if self.first_target.is_none() {
                self.first_target = Some(target.clone());
            }
            self.push_word(&target);
        }
        self.pending_dot = false;
    }

    fn in_call(&self) -> bool {
        self.parens.last().copied().unwrap_or(false)
    }

    fn previous_is(&self, text: &str, words: &[&str]) -> bool {
        self.previous
            .is_some_and(|(s, e)| is_one_of(&text[s..e], words))
    }

    /// Closes the `FROM` lists at this depth and deeper.
    fn close_from_lists(&mut self) {
        let depth = self.parens.len();
        self.from_lists.retain(|&d| d < depth);
    }

    fn token(&mut self, text: &str, token: Token) {
        // A pending qualified name continues only through `.`; a `FROM` name followed by `(` is
        // a function, not a table.
        if self.pending.is_some() {
            match token {
                Token::Space => return,
                Token::Punct(s, e) if &text[s..e] == "." => {
                    self.pending_dot = true;
                    return;
                }
                Token::Word(s, e) | Token::Quoted(s, e) if self.pending_dot => {
                    if let Some((pending, _)) = self.pending.as_mut() {
                        pending.push('.');
                        pending.push_str(summary_name(&text[s..e]));
                    }
                    self.pending_dot = false;
                    return;
                }
                Token::Punct(s, e)
                    if &text[s..e] == "("
                        && matches!(self.pending, Some((_, Introducer::From))) =>
                {
                    self.pending = None;
                    self.pending_dot = false;
                }
                _ => self.flush_target(),
            }
        }
        if token == Token::Space {
            return;
        }
        let (after_open, after_close, after_dot) =
            (self.after_open, self.after_close, self.after_dot);
        self.after_open = false;
        self.after_close = false;
        self.after_dot = false;
        match token {
            Token::Space => {}
            Token::Word(s, e) => {
                self.word(text, s, e, after_open, after_close, after_dot);
                self.statement_start = false;
            }
            Token::Quoted(s, e) => {
                if self.expect.is_some() && self.expect != Some(Introducer::Ddl)
                    || self.ddl_name_next(text)
                {
                    self.pending = Some((
                        summary_name(&text[s..e]).to_owned(),
                        self.expect.unwrap_or(Introducer::Other),
                    ));
                }
                self.expect = None;
                self.statement_start = false;
                self.previous = None;
            }
            Token::Punct(s, e) => {
                let punct = &text[s..e];
                let mut expect = None;
                match punct {
                    "(" | "[" => {
                        let call = self.expect.is_none()
                            && matches!(self.previous, Some((ps, pe))
                                if !is_one_of(&text[ps..pe], NOT_FUNCTIONS)
                                    && !is_one_of(&text[ps..pe], STATEMENT_OPERATIONS));
                        self.parens.push(call);
                        self.after_open = true;
                    }
                    ")" | "]" => {
                        self.parens.pop();
                        let depth = self.parens.len();
                        self.from_lists.retain(|&d| d <= depth);
                        self.after_close = true;
                    }
                    ";" => {
                        self.parens.clear();
                        self.from_lists.clear();
                        self.statement_start = true;
                        self.statement_operation = None;
                    }
                    "," if self.from_lists.last() == Some(&self.parens.len()) => {
                        expect = Some(Introducer::From);
                    }
                    "." => self.after_dot = true,
                    _ => {}
                }
                if punct != ";" {
                    self.statement_start = false;
                }
                self.expect = expect;
                self.previous = None;
            }
            Token::Literal | Token::Param(..) => {
                self.expect = None;
                self.statement_start = false;
                self.previous = None;
            }
        }
    }

    /// Whether, after a DDL verb, the next name is the object's (the previous word was its kind
    /// or a word that comes right before the name).
    fn ddl_name_next(&self, text: &str) -> bool {
        self.expect == Some(Introducer::Ddl)
            && (self.previous_is(text, DDL_OBJECTS)
                || self.previous_is(text, &["EXISTS", "CONCURRENTLY", "VIEW", "ONLY"]))
    }

    fn word(
        &mut self,
        text: &str,
        s: usize,
        e: usize,
        after_open: bool,
        after_close: bool,
        after_dot: bool,
    ) {
        let word = &text[s..e];
        if let Some(introducer) = self.expect {
            if introducer == Introducer::Ddl {
                if is_one_of(word, DDL_OBJECTS) || is_one_of(word, DDL_MODIFIERS) {
                    self.previous = Some((s, e));
                    return;
                }
                let name_next = self.ddl_name_next(text);
                self.expect = None;
                if name_next && !is_one_of(word, CLAUSE_ENDS) && !is_one_of(word, &["ON", "AS"]) {
                    self.pending = Some((word.to_owned(), Introducer::Other));
                }
                // Not a kind we name (`CREATE ROLE x`): no target.
                self.previous = Some((s, e));
                return;
            }
            // SQLite's `UPDATE OR IGNORE t`: the conflict clause comes before the target.
            let conflict = self.dialect != Dialect::Postgres
                && introducer == Introducer::Other
                && ((word.eq_ignore_ascii_case("OR") && self.previous_is(text, &["UPDATE"]))
                    || self.previous_is(text, &["OR"]));
            if conflict || is_one_of(word, TARGET_NOISE) {
                self.previous = Some((s, e));
                return;
            }
            self.expect = None;
            if is_one_of(word, NOT_TARGETS) {
                self.previous = Some((s, e));
                return;
            }
            if !is_one_of(word, STATEMENT_OPERATIONS)
                && !is_one_of(word, CLAUSE_ENDS)
                && !word.eq_ignore_ascii_case("ON")
            {
                self.pending = Some((word.to_owned(), introducer));
                self.previous = Some((s, e));
                return;
            }
        }

        let nested = word.eq_ignore_ascii_case("SELECT")
            || ((after_open || after_close) && is_one_of(word, NESTED_OPERATIONS));
        let statement = is_one_of(word, STATEMENT_OPERATIONS)
            || (self.dialect != Dialect::Postgres && word.eq_ignore_ascii_case("REPLACE"));
        let is_operation = !after_dot
            && ((self.statement_start && statement) || nested)
            // `FOR UPDATE`, `DO UPDATE`, `ON DELETE`, `FOR NO KEY UPDATE`: clauses.
            && !self.previous_is(text, &["FOR", "DO", "ON", "KEY", "OF", "NO"]);
        if is_operation {
            self.operations += 1;
            if self.first_operation.is_none() {
                self.first_operation = Some((s, e));
            }
            if self.statement_operation.is_none() {
                self.statement_operation = Some(word.to_ascii_uppercase());
            }
            self.writes |= is_one_of(word, WRITE_OPERATIONS);
            self.push_word(word);
            self.close_from_lists();
            if after_open {
                // `ARRAY(SELECT …)`, `EXISTS(SELECT …)`: a subquery, not a call's arguments.
                if let Some(call) = self.parens.last_mut() {
                    *call = false;
                }
            }
            if is_one_of(word, &["CREATE", "ALTER", "DROP"]) {
                self.expect = Some(Introducer::Ddl);
            } else if is_one_of(word, TARGETING_OPERATIONS) {
                self.expect = Some(Introducer::Other);
            }
        } else if is_one_of(word, TARGET_INTRODUCERS)
            // `extract(year FROM ts)`, `substring(s FROM 2)`, `IS DISTINCT FROM`: not tables.
            && !(self.in_call() && word.eq_ignore_ascii_case("FROM"))
            && !self.previous_is(text, &["DISTINCT"])
        {
            if word.eq_ignore_ascii_case("FROM") {
                self.close_from_lists();
                self.from_lists.push(self.parens.len());
                self.expect = Some(Introducer::From);
            } else if word.eq_ignore_ascii_case("JOIN") {
                self.expect = Some(Introducer::From);
            } else {
                self.expect = Some(Introducer::Other);
            }
        } else if word.eq_ignore_ascii_case("USING")
            && matches!(
                self.statement_operation.as_deref(),
                Some("MERGE" | "DELETE")
            )
        {
            self.expect = Some(Introducer::From);
        } else if is_one_of(word, CLAUSE_ENDS) {
            self.close_from_lists();
        }
        self.previous = Some((s, e));
    }
}

/// The lexical rules a statement's text is read by: where its literals, comments, quoted names
/// and parameters begin and end. A [`TracedPool`](crate::TracedPool) picks its pool's from its
/// `db.system.name` ([`Dialect::of_system`]).
///
/// Whatever the dialect, the principle is the same: the text is read the way the database reads
/// it, and where that way is not certain (a server setting, a word SQLite decides about only
/// when it knows the columns, a system this crate does not know), every plausible reading is
/// made, and what is a literal or a comment in any of them is hidden.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// PostgreSQL's lexical rules: `''` and `E'\''` escapes, `B'…'`, `X'…'`, `N'…'` and
    /// `U&'…'` strings, dollar quoting, nested block comments, `--` comments ending at `\n` or
    /// `\r`, `$1` parameters, `"…"` names. A backslash before a quote is read both ways
    /// (`standard_conforming_strings` on and off). `[` and `` ` `` are characters of their own
    /// (`data['key']` is a subscript holding a string).
    #[default]
    Postgres,
    /// SQLite's tokenizer: `''` escapes only, `X'…'` blobs, block comments that do not nest,
    /// `--` comments ending at `\n` only, names in `"…"`, `[…]` and `` `…` `` (the summary writes
    /// `[users]` and `` `users` `` as `users`), parameters `?`, `?NNN`, `:name`, `@name`,
    /// `$name`, `#name` (with SQLite's `::` parts and `(…)` suffix). SQLite takes a
    /// double-quoted word that names no column for a string, which cannot be told from the text
    /// alone, so every `"…"` is written as `?` in the sanitized text (the summary still reads
    /// one as a name where a table is named).
    Sqlite,
    /// Any other system (MySQL, MariaDB... through `sqlx::Any`), read conservatively: what is a
    /// literal or a comment in PostgreSQL's readings, SQLite's, or MySQL's (backslash escapes
    /// in `'…'` and `"…"` strings, `#` comments to the end of the line) is hidden. The text is
    /// written as PostgreSQL's rules tokenize it, with `[…]` and `` `…` `` as names; `"…"` is
    /// written as `?`, as for SQLite.
    Other,
}

impl Dialect {
    /// The dialect of a `db.system.name`: `postgresql` and `sqlite` are read by their rules,
    /// anything else by the conservative [`Dialect::Other`].
    ///
    /// ```
    /// # use hyperion_sqlx::sql::Dialect;
    /// assert_eq!(Dialect::of_system("sqlite"), Dialect::Sqlite);
    /// assert_eq!(Dialect::of_system("mysql"), Dialect::Other);
    /// ```
    pub fn of_system(system: &str) -> Dialect {
        match system {
            crate::semconv::DB_SYSTEM_POSTGRESQL => Dialect::Postgres,
            crate::semconv::DB_SYSTEM_SQLITE => Dialect::Sqlite,
            _ => Dialect::Other,
        }
    }

    /// Reads `sql` once by this dialect's rules: its sanitized text, summary, and single
    /// operation and collection.
    ///
    /// ```
    /// # use hyperion_sqlx::sql::Dialect;
    /// let info = Dialect::Sqlite.analyze("UPDATE [users] SET name = ?1 WHERE note = \"x\"");
    /// assert_eq!(info.sanitized, "UPDATE [users] SET name = ?1 WHERE note = ?");
    /// assert_eq!(info.summary, "UPDATE users");
    /// ```
    pub fn analyze(self, sql: &str) -> QueryInfo {
        analyze_with(sql, self)
    }

    /// The reading whose tokens are written out and summarized.
    fn main_syntax(self) -> Syntax {
        match self {
            Dialect::Postgres => Syntax::POSTGRES,
            Dialect::Sqlite => Syntax::SQLITE,
            Dialect::Other => Syntax::GENERIC,
        }
    }

    /// The other readings of `sql`, whose literals and comments are hidden too. For PostgreSQL
    /// only the backslash reading, and only when the text has a backslash; SQLite's reading
    /// is exact (its one ambiguity, `"…"`, is settled token by token).
    fn other_syntaxes(self, sql: &str) -> &'static [Syntax] {
        match self {
            Dialect::Postgres if sql.contains('\\') => &[Syntax::POSTGRES_BACKSLASH],
            Dialect::Postgres | Dialect::Sqlite => &[],
            Dialect::Other => &[
                Syntax::POSTGRES,
                Syntax::POSTGRES_BACKSLASH,
                Syntax::MYSQL,
                Syntax::SQLITE,
            ],
        }
    }

    /// Whether a `"…"` token, read as a name, is written as `?` all the same: it may be a
    /// string (SQLite's leniency, MySQL's strings).
    fn hides_double_quoted(self) -> bool {
        self != Dialect::Postgres
    }
}

/// Reads a PostgreSQL statement's text once: its sanitized text, summary, and single operation
/// and collection ([`Dialect::Postgres`]'s [`analyze`](Dialect::analyze)).
///
/// ```
/// # use hyperion_sqlx::sql::analyze;
/// let info = analyze("SELECT name FROM users WHERE email = 'a@b.example' AND age > 42");
/// assert_eq!(info.sanitized, "SELECT name FROM users WHERE email = ? AND age > ?");
/// assert_eq!(info.summary, "SELECT users");
/// assert_eq!(info.operation.as_deref(), Some("SELECT"));
/// assert_eq!(info.collection.as_deref(), Some("users"));
/// ```
pub fn analyze(sql: &str) -> QueryInfo {
    analyze_with(sql, Dialect::Postgres)
}

fn analyze_with(sql: &str, dialect: Dialect) -> QueryInfo {
    let other_readings = other_literals(
        sql,
        dialect.other_syntaxes(sql),
        dialect.hides_double_quoted(),
    );
    let mut hidden = other_readings.iter().peekable();
    let mut lexer = Lexer::new(sql, dialect.main_syntax());
    let mut sanitized = String::with_capacity(sql.len());
    let mut summarizer = Summarizer {
        dialect,
        statement_start: true,
        ..Summarizer::default()
    };
    let mut space = false;
    loop {
        let start = lexer.pos;
        let Some(mut token) = lexer.next() else {
            break;
        };
        // Inside a literal or comment of another reading: hidden too.
        while hidden.next_if(|&&(_, end)| end <= start).is_some() {}
        if token != Token::Space && hidden.peek().is_some_and(|&&(s, _)| s < lexer.pos) {
            token = Token::Literal;
        }
        let written = match token {
            Token::Space => {
                space = !sanitized.is_empty();
                None
            }
            Token::Literal => Some("?"),
            Token::Quoted(s, _) if sql.as_bytes()[s] == b'"' && dialect.hides_double_quoted() => {
                Some("?")
            }
            Token::Word(s, e) | Token::Quoted(s, e) | Token::Param(s, e) | Token::Punct(s, e) => {
                Some(&sql[s..e])
            }
        };
        if let Some(written) = written {
            if space {
                sanitized.push(' ');
                space = false;
            }
            sanitized.push_str(written);
        }
        summarizer.token(sql, token);
    }
    summarizer.flush_target();
    let single = summarizer.operations == 1;
    let operation = summarizer
        .first_operation
        .filter(|_| single)
        .map(|(s, e)| sql[s..e].to_owned());
    let collection = summarizer
        .first_target
        .filter(|_| single && summarizer.targets == 1);
    QueryInfo {
        sanitized,
        summary: summarizer.summary,
        operation,
        collection,
        writes: summarizer.writes,
    }
}

/// The byte ranges, ordered by their start, that are literals or comments in the other
/// `readings` of the text (see [`Dialect`]), and with `double_quoted` their `"…"` names too
/// (which may be strings).
///
/// The text is written as the dialect's main reading tokenizes it, and whatever is a literal or
/// a comment in any other reading is hidden: in PostgreSQL, `'it\'s SECRET'` is one string
/// where a backslash escapes and `'C:\', 'SECRET'` two where it does not, and neither leaks;
/// for another system, MySQL's `"SECRET"` and `# SECRET` are hidden as well.
fn other_literals(sql: &str, readings: &[Syntax], double_quoted: bool) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    for &syntax in readings {
        let mut lexer = Lexer::new(sql, syntax);
        loop {
            let start = lexer.pos;
            match lexer.next() {
                None => break,
                Some(Token::Literal) => ranges.push((start, lexer.pos)),
                Some(Token::Quoted(s, e)) if double_quoted && sql.as_bytes()[s] == b'"' => {
                    ranges.push((s, e));
                }
                // A comment: what it holds is hidden as a literal's content is.
                Some(Token::Space) if !sql.as_bytes()[start].is_ascii_whitespace() => {
                    ranges.push((start, lexer.pos));
                }
                Some(_) => {}
            }
        }
    }
    // Several readings: in order of their start (which is all the caller relies on).
    ranges.sort_unstable();
    ranges
}

/// The statements already read, by text: an application runs the same few statements over and
/// over (sqlx caches their prepared forms for the same reason), and a lookup costs a fraction of
/// a read. Bounded: when full it starts over, so a stream of ever-different texts (literals
/// inlined by the application) costs a read each, never unbounded memory. One per pool, so that
/// it reads by the pool's [`Dialect`].
pub(crate) struct InfoCache {
    dialect: Dialect,
    map: std::sync::Mutex<std::collections::HashMap<Box<str>, std::sync::Arc<QueryInfo>>>,
}

/// How many texts [`InfoCache`] keeps.
pub(crate) const CACHE_CAPACITY: usize = 1024;

/// The longest text [`InfoCache`] keeps, in bytes: at most a few MiB in all.
pub(crate) const CACHE_MAX_TEXT: usize = 2048;

impl InfoCache {
    pub(crate) fn new(dialect: Dialect) -> Self {
        InfoCache {
            dialect,
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The [`Dialect::analyze`] of `sql`, read once per text. Texts longer than
    /// [`CACHE_MAX_TEXT`] are read each time and not kept (generated batches would otherwise
    /// fill the memory).
    pub(crate) fn get(&self, sql: &str) -> std::sync::Arc<QueryInfo> {
        if sql.len() > CACHE_MAX_TEXT {
            return std::sync::Arc::new(self.dialect.analyze(sql));
        }
        let lock = || {
            self.map
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(info) = lock().get(sql) {
            return std::sync::Arc::clone(info);
        }
        // Read outside the lock: other threads keep hitting the cache meanwhile.
        let info = std::sync::Arc::new(self.dialect.analyze(sql));
        let mut map = lock();
        if map.len() >= CACHE_CAPACITY {
            map.clear();
        }
        map.insert(sql.into(), std::sync::Arc::clone(&info));
        info
    }
}

/// What `analyze` would give for a statement the API sends by itself (`BEGIN`, `COMMIT`,
/// `ROLLBACK`): the operation is known, not parsed.
pub(crate) fn fixed(operation: &str) -> QueryInfo {
    QueryInfo {
        sanitized: operation.to_owned(),
        summary: operation.to_owned(),
        operation: Some(operation.to_owned()),
        collection: None,
        writes: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(sql: &str) -> String {
        analyze(sql).summary
    }

    fn sanitized(sql: &str) -> String {
        analyze(sql).sanitized
    }

    #[test]
    fn the_cache_reads_each_text_once_and_stays_bounded() {
        let cache = InfoCache::new(Dialect::Postgres);
        let a = cache.get("SELECT 1");
        let b = cache.get("SELECT 1");
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_eq!(*a, analyze("SELECT 1"));
        for i in 0..CACHE_CAPACITY + 10 {
            cache.get(&format!("SELECT {i}"));
        }
        assert!(cache.map.lock().unwrap().len() <= CACHE_CAPACITY);
        assert_eq!(cache.get("SELECT 'x'").sanitized, "SELECT ?");
    }

    #[test]
    fn the_conventions_examples() {
        assert_eq!(
            summary("SELECT *\nFROM   wuser_table\nWHERE  username = ?"),
            "SELECT wuser_table"
        );
        assert_eq!(
            summary(
                "INSERT INTO shipping_details (order_id, address) \
                 SELECT order_id, address FROM orders WHERE order_id = ?"
            ),
            "INSERT shipping_details SELECT orders"
        );
        assert_eq!(
            summary("SELECT * FROM songs, artists WHERE songs.artist_id == artists.id"),
            "SELECT songs artists"
        );
        assert_eq!(
            summary(
                "SELECT order_date FROM (SELECT * FROM orders o \
                 JOIN customers c ON o.customer_id = c.customer_id)"
            ),
            "SELECT SELECT orders customers"
        );
        assert_eq!(
            summary(r#"SELECT * FROM "song list", artists"#),
            r#"SELECT "song list" artists"#
        );
    }

    #[test]
    fn every_kind_of_literal_becomes_a_question_mark() {
        let cases = [
            ("SELECT 'it''s'", "SELECT ?"),
            (r"SELECT E'a\'b' || 'c'", "SELECT ? || ?"),
            ("SELECT $$secret$$, $tag$x$y$tag$", "SELECT ?, ?"),
            (
                "SELECT 42, -3.5e+10, .5, 0xFF, 1_000",
                "SELECT ?, -?, ?, ?, ?",
            ),
            (
                "SELECT B'1010', X'1F', N'nat', U&'d\\0061t'",
                "SELECT ?, ?, ?, ?",
            ),
            ("SELECT TRUE, false", "SELECT ?, ?"),
            (
                "SELECT DATE '2024-01-01', INTERVAL '1 day'",
                "SELECT DATE ?, INTERVAL ?",
            ),
            (
                "SELECT * FROM t WHERE id = $1 AND n > $22",
                "SELECT * FROM t WHERE id = $1 AND n > $22",
            ),
            ("SELECT a1, t2.b3 FROM t2", "SELECT a1, t2.b3 FROM t2"),
            (
                "SELECT 1 -- password 'x'\n, 2 /* a /* nested */ 'b' */ FROM t",
                "SELECT ? , ? FROM t",
            ),
            (r#"SELECT "we""ird" FROM t"#, r#"SELECT "we""ird" FROM t"#),
        ];
        for (sql, expected) in cases {
            assert_eq!(sanitized(sql), expected, "{sql}");
        }
    }

    #[test]
    fn unterminated_literals_hide_the_rest() {
        assert_eq!(sanitized("SELECT 'open secret"), "SELECT ?");
        assert_eq!(sanitized("SELECT $a$ open secret"), "SELECT ?");
        assert_eq!(sanitized(r"SELECT E'x\"), "SELECT ?");
        assert_eq!(sanitized("SELECT /* open 'secret'"), "SELECT");
    }

    fn sqlite(sql: &str) -> QueryInfo {
        Dialect::Sqlite.analyze(sql)
    }

    fn other(sql: &str) -> QueryInfo {
        Dialect::Other.analyze(sql)
    }

    /// Fails unless no field of `info` holds `secret`.
    fn assert_hidden(sql: &str, info: &QueryInfo, secret: &str) {
        for field in [&info.sanitized, &info.summary] {
            assert!(!field.contains(secret), "{sql:?} -> {field:?}");
        }
    }

    #[test]
    fn sqlite_parameters_and_syntax() {
        let cases = [
            (
                "SELECT * FROM t WHERE a = ? AND b = ?2 AND c = ?13 AND d <> 'x'",
                "SELECT * FROM t WHERE a = ? AND b = ?2 AND c = ?13 AND d <> ?",
            ),
            (
                "INSERT INTO t (a, b, c, d) VALUES (:a, @b, $c, #d)",
                "INSERT INTO t (a, b, c, d) VALUES (:a, @b, $c, #d)",
            ),
            (
                "INSERT INTO t VALUES (X'53454352', 'it''s', 1.5e3, ?1, $1)",
                "INSERT INTO t VALUES (?, ?, ?, ?1, $1)",
            ),
            (
                "SELECT [odd name], `other` FROM t",
                "SELECT [odd name], `other` FROM t",
            ),
            ("SELECT a ? 'key' FROM t", "SELECT a ? ? FROM t"),
            // A quote inside a bracketed or backquoted name is part of the name.
            (
                "SELECT [it's], `it``s` FROM t WHERE a = 'SECRET' AND b = 1",
                "SELECT [it's], `it``s` FROM t WHERE a = ? AND b = ?",
            ),
            (
                "SELECT [it's] /* 'SECRET' */ FROM t",
                "SELECT [it's] FROM t",
            ),
            ("SELECT [it's] -- 'SECRET'\n FROM t", "SELECT [it's] FROM t"),
            // No backslash escapes in SQLite: `'it\'` is a string.
            ("SELECT 'C:\\', 'SECRET' FROM t", "SELECT ?, ? FROM t"),
        ];
        for (sql, expected) in cases {
            assert_eq!(sqlite(sql).sanitized, expected, "{sql}");
        }
        assert_eq!(
            sqlite("INSERT INTO users (id, email) VALUES (?1, ?2)").summary,
            "INSERT users"
        );
        assert_eq!(
            sqlite("SELECT name FROM users WHERE id = ? LIMIT 1").summary,
            "SELECT users"
        );
    }

    /// The readings added for SQLite are SQLite's: PostgreSQL's text is read as before they
    /// were, where `[` is a subscript and a string inside it is a string.
    #[test]
    fn postgresql_brackets_are_subscripts_holding_strings() {
        let cases = [
            (
                "SELECT data['a]'] FROM users",
                "SELECT data[?] FROM users",
                "SELECT users",
            ),
            (
                "UPDATE users SET tags = ARRAY['a]', 'b'] WHERE org_id IN (SELECT id FROM orgs)",
                "UPDATE users SET tags = ARRAY[?, ?] WHERE org_id IN (SELECT id FROM orgs)",
                "UPDATE users SELECT orgs",
            ),
            (
                "SELECT data['SECRET'], arr[1] FROM t",
                "SELECT data[?], arr[?] FROM t",
                "SELECT t",
            ),
            ("SELECT `a` FROM t", "SELECT `a` FROM t", "SELECT t"),
        ];
        for (sql, text, summary) in cases {
            let info = analyze(sql);
            assert_eq!(info.sanitized, text, "{sql}");
            assert_eq!(info.summary, summary, "{sql}");
        }
    }

    #[test]
    fn sqlite_block_comments_do_not_nest_and_line_comments_end_at_newlines() {
        let cases = [
            (
                "SELECT name FROM files /* skip /tmp/* */ WHERE path GLOB '*/cache' AND owner = 'SECRET'",
                "SELECT name FROM files WHERE path GLOB ? AND owner = ?",
            ),
            ("SELECT /* /* */ '*/' || 'SECRET'", "SELECT ? || ?"),
            ("SELECT 1 --\r'\n, 'SECRET' --'", "SELECT ? , ?"),
            ("SELECT 1 -- a\r SECRET\n, 2", "SELECT ? , ?"),
            ("SELECT /* open 'SECRET'", "SELECT"),
        ];
        for (sql, expected) in cases {
            assert_eq!(sqlite(sql).sanitized, expected, "{sql:?}");
        }
        // PostgreSQL's own rules stay: its comments nest, and `\r` ends a line comment.
        assert_eq!(sanitized("SELECT 1 -- x\r, 'SE\nCRET'"), "SELECT ? , ?",);
        assert_eq!(sanitized("SELECT /* a /* b */ 'c' */ 1"), "SELECT ?",);
    }

    #[test]
    fn sqlite_has_no_escape_strings_or_dollar_quotes() {
        let cases = [
            // A column `e`, then a string alias.
            ("SELECT e'\\', 'SECRET' FROM t", "SELECT e?, ? FROM t"),
            // A parameter `$a$`, then a string.
            ("SELECT $a$, '$a$ SECRET' FROM t", "SELECT $a$, ? FROM t"),
            // A parameter with a Tcl suffix holding a quote: hidden whole.
            ("SELECT $a('), 'SECRET' --", "SELECT ?, ?"),
            ("SELECT $a::b::c, $a(x y), 'SECRET'", "SELECT $a::b::c, ?"),
            ("SELECT $$, 'SECRET' FROM t", "SELECT $$, ? FROM t"),
            ("SELECT 1$a, 'SECRET'", "SELECT ?, ?"),
            (
                "SELECT n'SECRET', b'SECRET', u&'SECRET'",
                "SELECT n?, b?, u&?",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(sqlite(sql).sanitized, expected, "{sql:?}");
        }
        // The same texts in PostgreSQL are PostgreSQL's escape strings and dollar quotes.
        assert_eq!(sanitized("SELECT e'\\', 'z' FROM t"), "SELECT ?z?");
        assert_eq!(sanitized("SELECT $a$, '$a$ z' FROM t"), "SELECT ? z?");
    }

    #[test]
    fn blobs_and_bit_strings_are_literals() {
        for sql in ["SELECT X'' , 'SECRET'", "SELECT B'1' , 'SECRET'"] {
            assert_eq!(sanitized(sql), "SELECT ? , ?", "{sql}");
        }
        assert_eq!(sqlite("SELECT x'' , 'SECRET'").sanitized, "SELECT ? , ?");
        // A malformed blob is an error to SQLite, which still ends it at the next quote.
        assert_eq!(sqlite("SELECT x'5', 'SECRET'").sanitized, "SELECT ?, ?");
        // SQLite ends a blob at the next quote and starts a string there; both are hidden.
        assert_hidden("x'1F''SECRET'", &sqlite("SELECT x'1F''SECRET'"), "SECRET");
        assert_eq!(other("SELECT x'' , 'SECRET'").sanitized, "SELECT ? , ?");
    }

    /// SQLite takes a double-quoted word that names no column for a string: every `"…"` is
    /// hidden in the text, and still read as a name by the summary.
    #[test]
    fn sqlite_double_quoted_words_are_hidden_but_name_tables() {
        let info = sqlite("SELECT \"id\" FROM \"users\" WHERE name = \"SECRET\"");
        assert_eq!(info.sanitized, "SELECT ? FROM ? WHERE name = ?");
        assert_eq!(info.summary, "SELECT \"users\"");
        assert_eq!(info.collection.as_deref(), Some("\"users\""));
        // PostgreSQL's are names, always.
        assert_eq!(
            sanitized("SELECT \"id\" FROM \"users\""),
            "SELECT \"id\" FROM \"users\""
        );
    }

    #[test]
    fn sqlite_bracketed_and_backquoted_tables_are_summarized_by_name() {
        let cases = [
            ("UPDATE [users] SET a = ?1", "UPDATE users"),
            ("INSERT INTO `users` (a) VALUES (?)", "INSERT users"),
            (
                "SELECT * FROM [main].[users] JOIN `orders` o",
                "SELECT main.users orders",
            ),
            ("SELECT * FROM [odd name]", "SELECT [odd name]"),
            ("DELETE FROM `we``ird`", "DELETE `we``ird`"),
            ("CREATE TABLE [t] (a)", "CREATE t"),
            ("UPDATE OR IGNORE [users] SET a = 1", "UPDATE users"),
            ("INSERT OR REPLACE INTO users VALUES (1)", "INSERT users"),
            ("REPLACE INTO users VALUES (1)", "REPLACE users"),
        ];
        for (sql, expected) in cases {
            assert_eq!(sqlite(sql).summary, expected, "{sql}");
        }
        assert_eq!(
            sqlite("UPDATE [users] SET a = ?1").collection.as_deref(),
            Some("users")
        );
    }

    #[test]
    fn writes_are_known_from_the_operations() {
        for (sql, writes) in [
            ("INSERT INTO t VALUES (1)", true),
            ("UPDATE t SET a = 1", true),
            ("DELETE FROM t", true),
            ("REPLACE INTO t VALUES (1)", true),
            ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", true),
            ("SELECT * FROM t", false),
            ("SELECT * FROM t FOR UPDATE", false),
            ("CREATE TABLE t (a)", false),
            ("DROP TABLE t", false),
            ("PRAGMA user_version", false),
        ] {
            assert_eq!(sqlite(sql).writes, writes, "{sql}");
            if !sql.starts_with("REPLACE") {
                assert_eq!(analyze(sql).writes, writes, "{sql}");
            }
        }
        assert!(!fixed("COMMIT").writes);
        // `REPLACE` is SQLite's and MySQL's statement; in PostgreSQL a name like any other.
        assert_eq!(other("REPLACE INTO t VALUES (1)").summary, "REPLACE t");
        assert_eq!(summary("SELECT * FROM replace"), "SELECT replace");
        assert_eq!(sqlite("SELECT * FROM replace").summary, "SELECT replace");
    }

    /// Another system (MySQL through `Any`): MySQL's strings and comments are hidden too.
    #[test]
    fn other_systems_are_read_conservatively() {
        for sql in [
            "SELECT * FROM t WHERE a = \"SECRET\"",
            "SELECT * FROM t WHERE a = \"it\\\" SECRET\"",
            "SELECT * FROM t WHERE a = 'it\\' SECRET'",
            "SELECT * FROM t # SECRET\nWHERE a = 1",
            "SELECT * FROM t WHERE a = 'C:\\', b = 'SECRET'",
            "SELECT /* /* */ '*/' || 'SECRET'",
            "SELECT 1 --\r'\n, 'SECRET' --'",
            "SELECT [it's], 'SECRET' FROM t",
            "SELECT data['a]'], 'SECRET' FROM t",
            "SELECT $a$, '$a$ SECRET' FROM t",
        ] {
            assert_hidden(sql, &other(sql), "SECRET");
        }
        let info = other("INSERT INTO `users` (a) VALUES (?)");
        assert_eq!(info.summary, "INSERT users");
        assert_eq!(info.sanitized, "INSERT INTO `users` (a) VALUES (?)");
    }

    #[test]
    fn the_dialect_follows_the_system_name() {
        assert_eq!(Dialect::of_system("postgresql"), Dialect::Postgres);
        assert_eq!(Dialect::of_system("sqlite"), Dialect::Sqlite);
        for system in ["mysql", "mariadb", "other_sql", "microsoft.sql_server"] {
            assert_eq!(Dialect::of_system(system), Dialect::Other, "{system}");
        }
        assert_eq!(Dialect::default(), Dialect::Postgres);
    }

    #[test]
    fn a_lone_dollar_is_not_a_string() {
        assert_eq!(sanitized("SELECT a$b, $ FROM t"), "SELECT a$b, $ FROM t");
    }

    #[test]
    fn operations_and_targets() {
        let cases = [
            (
                "insert into orders (user_id, total) values ($1, $2) returning id",
                "insert orders",
            ),
            ("UPDATE users SET name = $1 WHERE id = $2", "UPDATE users"),
            (
                "DELETE FROM public.sessions WHERE expires < now()",
                "DELETE public.sessions",
            ),
            (
                "SELECT * FROM users u JOIN orders o ON o.user_id = u.id",
                "SELECT users orders",
            ),
            (
                "SELECT * FROM a LEFT OUTER JOIN b ON true, c",
                "SELECT a b c",
            ),
            ("SELECT 1", "SELECT"),
            (
                "SELECT extract(year FROM created) FROM orders",
                "SELECT orders",
            ),
            ("SELECT a IS DISTINCT FROM b FROM t", "SELECT t"),
            ("SELECT * FROM t FOR UPDATE", "SELECT t"),
            ("SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", "SELECT t"),
            (
                "INSERT INTO t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET n = t.n + 1",
                "INSERT t",
            ),
            (
                "INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING",
                "INSERT t",
            ),
            (
                "CREATE TABLE IF NOT EXISTS users (id int primary key)",
                "CREATE users",
            ),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email)",
                "CREATE users_email",
            ),
            ("DROP TABLE IF EXISTS a.b", "DROP a.b"),
            ("TRUNCATE TABLE users", "TRUNCATE users"),
            ("CALL refresh_totals($1)", "CALL refresh_totals"),
            (
                "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent",
                "SELECT orders SELECT recent",
            ),
            ("BEGIN", "BEGIN"),
            ("SET search_path TO app", "SET"),
            (
                "SELECT * FROM a WHERE id IN (SELECT id FROM b)",
                "SELECT a SELECT b",
            ),
            ("SELECT * FROM ONLY measurements", "SELECT measurements"),
            ("SELECT count(*) FROM t; DELETE FROM u", "SELECT t DELETE u"),
            (
                "MERGE INTO stock s USING delivery d ON s.id = d.id",
                "MERGE stock delivery",
            ),
            ("   ", ""),
            ("", ""),
        ];
        for (sql, expected) in cases {
            assert_eq!(summary(sql), expected, "{sql}");
        }
    }

    #[test]
    fn unclosed_and_unusual_constructs_hide_what_follows() {
        let cases = [
            (r#"SELECT "a FROM t WHERE pw = 'hunter2'"#, "SELECT ?"),
            (r#"SELECT * FROM "users WHERE pw = 'x'"#, "SELECT * FROM ?"),
            ("SELECT 1$$ SECRET $$", "SELECT ??"),
            ("SELECT 0x1fg23, 12abc", "SELECT ?, ?"),
            ("SELECT 1 -- x\r, 'SE\nCRET'", "SELECT ? , ?"),
        ];
        for (sql, expected) in cases {
            assert_eq!(sanitized(sql), expected, "{sql}");
        }
        // Read both ways: what is a literal in either reading of `\'` is hidden.
        for sql in [r"SELECT 'it\'s SECRET'", r"SELECT 'C:\', 'SECRET'"] {
            let info = analyze(sql);
            assert!(
                !info.sanitized.contains("SECRET"),
                "{sql} -> {}",
                info.sanitized
            );
            assert!(info.sanitized.starts_with("SELECT ?"), "{}", info.sanitized);
        }
        assert_eq!(summary(r#"SELECT * FROM "users WHERE pw = 'x'"#), "SELECT");
    }

    #[test]
    fn keywords_used_as_names_are_not_operations() {
        let cases = [
            (
                "INSERT INTO bookings (start, finish) VALUES ($1, $2)",
                "INSERT bookings",
            ),
            ("SELECT max(start) FROM bookings", "SELECT bookings"),
            ("CREATE TABLE t (comment text, notify bool)", "CREATE t"),
            ("SELECT notify, comment, b.set FROM prefs b", "SELECT prefs"),
            ("UPDATE t SET start = now() WHERE id = $1", "UPDATE t"),
        ];
        for (sql, expected) in cases {
            assert_eq!(summary(sql), expected, "{sql}");
        }
        let info = analyze("INSERT INTO bookings (start, finish) VALUES ($1, $2)");
        assert_eq!(info.operation.as_deref(), Some("INSERT"));
        assert_eq!(info.collection.as_deref(), Some("bookings"));
    }

    #[test]
    fn subqueries_lists_and_statement_specific_clauses() {
        let cases = [
            ("SELECT ARRAY(SELECT id FROM u)", "SELECT SELECT u"),
            (
                "(SELECT a FROM x) UNION (SELECT b FROM y)",
                "SELECT x SELECT y",
            ),
            (
                "WITH c AS MATERIALIZED (SELECT * FROM t) SELECT * FROM c",
                "SELECT t SELECT c",
            ),
            ("SELECT * FROM (SELECT * FROM a) x, b", "SELECT SELECT a b"),
            ("COPY t (a, b) FROM STDIN", "COPY t"),
            ("CREATE INDEX idx ON t USING btree (email)", "CREATE idx"),
            ("ALTER TABLE ONLY users ADD COLUMN x int", "ALTER users"),
            (
                "ALTER TABLE t ALTER COLUMN c TYPE bigint USING c::bigint",
                "ALTER t",
            ),
            ("TABLE users", "TABLE users"),
            ("SELECT * FROM generate_series(1, 3) g", "SELECT"),
            ("SELECT * FROM t, unnest($1::int[]) u", "SELECT t"),
            ("DELETE FROM a USING b, c WHERE a.id = b.id", "DELETE a b c"),
            (
                "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
                "DELETE t SELECT x",
            ),
            (
                "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u)",
                "SELECT t SELECT u",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(summary(sql), expected, "{sql}");
        }
    }

    #[test]
    fn single_operation_and_collection_only_when_unambiguous() {
        let one = analyze("select * from Users where id = $1");
        assert_eq!(one.operation.as_deref(), Some("select"));
        assert_eq!(one.collection.as_deref(), Some("Users"));
        let join = analyze("SELECT * FROM a JOIN b ON a.id = b.id");
        assert_eq!(join.operation.as_deref(), Some("SELECT"));
        assert_eq!(join.collection, None);
        let nested = analyze("INSERT INTO a SELECT * FROM b");
        assert_eq!(nested.operation, None);
        assert_eq!(nested.collection, None);
        let none = analyze("SELECT 1");
        assert_eq!(none.operation.as_deref(), Some("SELECT"));
        assert_eq!(none.collection, None);
    }

    #[test]
    fn the_summary_is_cut_between_words_at_255_bytes() {
        let tables: Vec<String> = (0..100).map(|i| format!("table_number_{i}")).collect();
        let sql = format!("SELECT * FROM {}", tables.join(", "));
        let s = summary(&sql);
        assert!(s.len() <= SUMMARY_MAX, "{}", s.len());
        assert!(s.len() > SUMMARY_MAX - 20);
        assert!(s.starts_with("SELECT table_number_0 table_number_1 "));
        assert!(
            s.split(' ').skip(1).all(|w| tables.contains(&w.to_owned())),
            "{s}"
        );
    }

    #[test]
    fn no_literal_survives_whatever_the_input() {
        // Every prefix of every case (cut anywhere, on a character boundary): no panic, and the
        // secret, which only ever appears inside a literal, never appears in the output.
        let cases = [
            "SELECT * FROM t WHERE a = 'SECRET' AND b = E'SE\\'CRET' AND c = $x$SECRET$x$",
            "INSERT INTO t VALUES ('SECRET', $$SECRET$$, U&'SECRET', X'5EC7E7')",
            "SELECT /* 'SECRET' */ 1 -- SECRET\n",
            "UPDATE t SET a = 'SEC''RET' WHERE b = 'ü SECRET ü'",
            "SELECT \"col\" FROM \"tab\" WHERE a = 'SECRET' -- SECRET\r'SECRET'",
            "SELECT 'it\\'s SECRET', 1$$SECRET$$, \"SECRET",
        ];
        for case in cases {
            for end in (0..=case.len()).filter(|&i| case.is_char_boundary(i)) {
                let info = analyze(&case[..end]);
                for field in [&info.sanitized, &info.summary] {
                    assert!(!field.contains("SECRET"), "{:?} -> {field:?}", &case[..end]);
                    assert!(!field.contains("5EC7"), "{:?} -> {field:?}", &case[..end]);
                }
            }
        }
    }
}
