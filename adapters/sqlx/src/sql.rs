//! Reading a PostgreSQL query's text: the sanitized `db.query.text` (every literal replaced by
//! `?`) and the `db.query.summary` (its operations and targets in order), in one pass of a small
//! lexer.
//!
//! Hand-written because no maintained crate does this cheaply: a full SQL parser (`sqlparser`)
//! costs a heavy dependency and tens of microseconds per query, rejects dialect it does not know
//! (and a failed parse would lose the summary), while what the conventions ask for only needs
//! tokens: where literals, comments and quoted names begin and end, and which keywords name
//! operations and targets. The lexer knows PostgreSQL's lexical rules (`''` and `E'\''` escapes,
//! dollar quoting, nested block comments, `$1` parameters, quoted identifiers) so that a literal
//! never leaks into the sanitized text, whatever the query. SQLite's common syntax is the same
//! (its strings, blobs, numbers, quoted names and comments), and its parameters (`?`, `?NNN`,
//! `:name`, `@name`, `$name`) are kept as written.

/// What the query text tells: the values of `db.query.text` (sanitized), `db.query.summary`,
/// and the single operation and collection when there is exactly one of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryInfo {
    /// The text with every literal (string, number, boolean, bit string, dollar-quoted) replaced
    /// by `?` and comments removed. Parameters (`$1`) are kept.
    pub sanitized: String,
    /// `{operation} {target} …` in order of appearance, at most [`SUMMARY_MAX`] bytes, cut
    /// between words. Empty when the text names no operation this lexer knows.
    pub summary: String,
    /// The operation when the query has exactly one (`SELECT`, `INSERT`...), as written.
    pub operation: Option<String>,
    /// The target when the query has exactly one operation and exactly one target, as written.
    pub collection: Option<String>,
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
/// called `start`, `comment` or `notify`).
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
    /// A `"quoted"` name.
    Quoted(usize, usize),
    /// A literal: string, escape string, bit string, dollar-quoted, number; or anything
    /// unterminated, which hides the rest of the text.
    Literal,
    /// A `$1` (or SQLite's `?1`) parameter.
    Param(usize, usize),
    /// Any other character (operators, punctuation), one at a time.
    Punct(usize, usize),
    /// Whitespace or a comment: output as one space.
    Space,
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Whether `\` escapes a quote in plain `'…'` strings too (`standard_conforming_strings`
    /// off), not only in `E'…'` ones.
    backslash: bool,
    /// Whether `[…]` and `` `…` `` quote names (SQLite's and MySQL's readings), as `"…"` does.
    brackets: bool,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str, backslash: bool, brackets: bool) -> Self {
        Lexer {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            backslash,
            brackets,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// Skips a `'…'` body from the opening quote; `''` is a quote inside, and with `backslash`
    /// (an `E'…'` string, or any string when the lexer reads backslashes as escapes) so is
    /// `\'`. An unterminated string runs to the end.
    fn skip_string(&mut self, backslash: bool) {
        self.pos += 1; // the opening quote
        while let Some(b) = self.peek(0) {
            self.pos += 1;
            match b {
                b'\\' if backslash => self.pos = (self.pos + 1).min(self.bytes.len()),
                b'\'' if self.peek(0) == Some(b'\'') => self.pos += 1,
                b'\'' => return,
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

    /// A number glued to letters (`123abc`, `0x1fg2`) is one junk token in PostgreSQL 15+: take
    /// it all, so that no digit is left to leak. Not a `$`: `1$$…$$` is a number, then a string.
    fn skip_junk(&mut self) {
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
        {
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

    fn next(&mut self) -> Option<Token> {
        let b = self.bytes;
        let start = self.pos;
        let c = *b.get(start)?;
        let token = match c {
            c if c.is_ascii_whitespace() => {
                while self.peek(0).is_some_and(|c| c.is_ascii_whitespace()) {
                    self.pos += 1;
                }
                Token::Space
            }
            b'-' if self.peek(1) == Some(b'-') => {
                // A line comment ends at a newline or a carriage return.
                match self.text[start..].find(['\n', '\r']) {
                    Some(end) => self.pos = start + end + 1,
                    None => self.pos = b.len(),
                }
                Token::Space
            }
            b'/' if self.peek(1) == Some(b'*') => {
                // Block comments nest in PostgreSQL.
                self.pos += 2;
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
            b'\'' => {
                self.skip_string(self.backslash);
                Token::Literal
            }
            // E'…' strings, where a backslash always escapes.
            b'e' | b'E' if self.peek(1) == Some(b'\'') => {
                self.pos += 1;
                self.skip_string(true);
                Token::Literal
            }
            // B'…', X'…', N'…' and U&'…' strings.
            b'b' | b'B' | b'x' | b'X' | b'n' | b'N' if self.peek(1) == Some(b'\'') => {
                self.pos += 1;
                self.skip_string(self.backslash);
                Token::Literal
            }
            b'u' | b'U' if self.peek(1) == Some(b'&') && self.peek(2) == Some(b'\'') => {
                self.pos += 2;
                self.skip_string(self.backslash);
                Token::Literal
            }
            b'"' => self.quoted_name(start, b'"', true),
            b'`' if self.brackets => self.quoted_name(start, b'`', true),
            // SQLite's `[name]`, where nothing is escaped.
            b'[' if self.brackets => self.quoted_name(start, b']', false),
            b'$' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.pos += 1;
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                Token::Param(start, self.pos)
            }
            b'$' if self.try_dollar_string() => Token::Literal,
            // SQLite's `?NNN` parameters. (A bare `?`, SQLite's and MySQL's parameter and
            // PostgreSQL's jsonb operator, is one character like any other.)
            b'?' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.pos += 1;
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                Token::Param(start, self.pos)
            }
            c if c.is_ascii_digit() => {
                self.skip_number();
                Token::Literal
            }
            b'.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
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
    summary: String,
    full: bool,
    operations: usize,
    targets: usize,
    first_operation: Option<(usize, usize)>,
    first_target: Option<String>,
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
                        pending.push_str(&text[s..e]);
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
                        text[s..e].to_owned(),
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
            if is_one_of(word, TARGET_NOISE) {
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
        let is_operation = !after_dot
            && ((self.statement_start && is_one_of(word, STATEMENT_OPERATIONS)) || nested)
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

/// Reads `sql` once: its sanitized text, summary, and single operation and collection.
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
    let other_readings = other_literals(sql);
    let mut hidden = other_readings.iter().peekable();
    let mut lexer = Lexer::new(sql, false, false);
    let mut sanitized = String::with_capacity(sql.len());
    let mut summarizer = Summarizer {
        statement_start: true,
        ..Summarizer::default()
    };
    let mut space = false;
    loop {
        let start = lexer.pos;
        let Some(mut token) = lexer.next() else {
            break;
        };
        // Inside a literal of another reading: hidden too.
        while hidden.next_if(|&&(_, end)| end <= start).is_some() {}
        if token != Token::Space && hidden.peek().is_some_and(|&&(s, _)| s < lexer.pos) {
            token = Token::Literal;
        }
        match token {
            Token::Space => space = !sanitized.is_empty(),
            Token::Literal => {
                if space {
                    sanitized.push(' ');
                    space = false;
                }
                sanitized.push('?');
            }
            Token::Word(s, e) | Token::Quoted(s, e) | Token::Param(s, e) | Token::Punct(s, e) => {
                if space {
                    sanitized.push(' ');
                    space = false;
                }
                sanitized.push_str(&sql[s..e]);
            }
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
    }
}

/// The byte ranges, ordered by their start, that are literals or comments in the other
/// readings of the text: where a backslash escapes a quote in every string (PostgreSQL with
/// `standard_conforming_strings` off, MySQL), where `[…]` and `` `…` `` quote names (SQLite,
/// MySQL), and both; empty when the text has no backslash, bracket or backquote.
///
/// The text is read the standard way (a backslash is a plain character in `'…'`, a bracket or a
/// backquote a character of its own), and whatever is a literal or a comment in any reading is
/// hidden: `'it\'s SECRET'` is one string in the old reading and `'C:\', 'SECRET'` two in the
/// standard one, `[it's] = 'SECRET'` a name and a string in SQLite's reading and a string then a
/// word in PostgreSQL's (where `data['key']` is a string in brackets), and none of them leaks.
fn other_literals(sql: &str) -> Vec<(usize, usize)> {
    let backslash = sql.contains('\\');
    let brackets = sql.contains(['[', '`']);
    let mut ranges = Vec::new();
    for (with_backslash, with_brackets) in [(true, false), (false, true), (true, true)] {
        if (with_backslash && !backslash) || (with_brackets && !brackets) {
            continue;
        }
        let mut lexer = Lexer::new(sql, with_backslash, with_brackets);
        loop {
            let start = lexer.pos;
            match lexer.next() {
                None => break,
                Some(Token::Literal) => ranges.push((start, lexer.pos)),
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
/// inlined by the application) costs a read each, never unbounded memory.
pub(crate) struct InfoCache {
    map: std::sync::Mutex<std::collections::HashMap<Box<str>, std::sync::Arc<QueryInfo>>>,
}

/// How many texts [`InfoCache`] keeps.
pub(crate) const CACHE_CAPACITY: usize = 1024;

/// The longest text [`InfoCache`] keeps, in bytes: at most a few MiB in all.
pub(crate) const CACHE_MAX_TEXT: usize = 2048;

impl InfoCache {
    pub(crate) fn new() -> Self {
        InfoCache {
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The [`analyze`] of `sql`, read once per text. Texts longer than [`CACHE_MAX_TEXT`] are
    /// read each time and not kept (generated batches would otherwise fill the memory).
    pub(crate) fn get(&self, sql: &str) -> std::sync::Arc<QueryInfo> {
        if sql.len() > CACHE_MAX_TEXT {
            return std::sync::Arc::new(analyze(sql));
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
        let info = std::sync::Arc::new(analyze(sql));
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
        let cache = InfoCache::new();
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

    #[test]
    fn sqlite_parameters_and_syntax() {
        let cases = [
            (
                "SELECT * FROM t WHERE a = ? AND b = ?2 AND c = ?13 AND d <> 'x'",
                "SELECT * FROM t WHERE a = ? AND b = ?2 AND c = ?13 AND d <> ?",
            ),
            (
                "INSERT INTO t (a, b, c) VALUES (:a, @b, $c)",
                "INSERT INTO t (a, b, c) VALUES (:a, @b, $c)",
            ),
            (
                "INSERT INTO t VALUES (X'53454352', 'it''s', 1.5e3, ?1)",
                "INSERT INTO t VALUES (?, ?, ?, ?1)",
            ),
            (
                "SELECT [odd name], `other` FROM t",
                "SELECT [odd name], `other` FROM t",
            ),
            ("SELECT data ? 'key' FROM t", "SELECT data ? ? FROM t"),
        ];
        for (sql, expected) in cases {
            assert_eq!(sanitized(sql), expected, "{sql}");
        }
        // A quote inside a bracketed or backquoted name: SQLite's reading (a name, then a
        // string) and PostgreSQL's (a string, then words) are both hidden.
        for sql in [
            "SELECT [it's] FROM t WHERE a = 'SECRET' AND b = 1",
            "SELECT `it's` FROM t WHERE a = 'SECRET' AND b = 1",
            "SELECT `it``s` FROM t WHERE a = 'it\\'s SECRET'",
            "SELECT [it's] /* 'SECRET' */ FROM t",
            "SELECT [it's] -- 'SECRET'\n FROM t",
        ] {
            let info = analyze(sql);
            assert!(
                !info.sanitized.contains("SECRET"),
                "{sql} -> {}",
                info.sanitized
            );
            assert!(info.sanitized.starts_with("SELECT "), "{}", info.sanitized);
        }
        // PostgreSQL's subscripts: a string in brackets is still a string.
        assert_eq!(
            sanitized("SELECT data['SECRET'], arr[1] FROM t"),
            "SELECT data[?], arr[?] FROM t"
        );
        assert_eq!(
            summary("INSERT INTO users (id, email) VALUES (?1, ?2)"),
            "INSERT users"
        );
        assert_eq!(
            summary("SELECT name FROM users WHERE id = ? LIMIT 1"),
            "SELECT users"
        );
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
