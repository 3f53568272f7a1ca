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
//! never leaks into the sanitized text, whatever the query.

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

/// Keywords that are operations, in upper case. Compared without regard to ASCII case, recorded
/// as written.
const OPERATIONS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "UPSERT",
    "CALL",
    "EXECUTE",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "COPY",
    "VALUES",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
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
];

/// Operations that are only such at the start of a statement (elsewhere they are clauses:
/// `UPDATE t SET`, `ON CONFLICT DO NOTHING`, `VALUES (..)` in an insert, `START TRANSACTION`...).
const STATEMENT_ONLY: &[&str] = &[
    "SET",
    "DO",
    "VALUES",
    "START",
    "RELEASE",
    "RESET",
    "COMMENT",
    "ANALYZE",
    "LOCK",
    "PREPARE",
    "SHOW",
    "GRANT",
    "REVOKE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
];

/// Keywords after which a name is a target.
/// (`UPDATE`, `CALL`, `TRUNCATE` and `COPY` introduce one only as operations: see `word`.)
const TARGET_INTRODUCERS: &[&str] = &["FROM", "JOIN", "INTO", "TABLE", "USING"];

/// Words skipped between an introducer and its target.
const TARGET_NOISE: &[&str] = &["ONLY", "IF", "NOT", "EXISTS", "LATERAL", "TABLE"];

/// Object kinds after `CREATE`/`ALTER`/`DROP` whose name is the target.
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
    "MATERIALIZED",
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
    /// A literal: string, escape string, bit string, dollar-quoted, number.
    Literal,
    /// A `$1` parameter.
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
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// Skips a `'…'` body from the opening quote; `''` is a quote inside, and with
    /// `backslash` (an `E'…'` string) so is `\'`. An unterminated string runs to the end.
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
        let b = self.bytes;
        if b[self.pos] == b'0'
            && matches!(self.peek(1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B'))
        {
            self.pos += 2;
            while self
                .peek(0)
                .is_some_and(|c| c.is_ascii_hexdigit() || c == b'_')
            {
                self.pos += 1;
            }
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
        // A number glued to letters (`123abc`) is one junk token in PostgreSQL 15+: take it all,
        // so that no digit is left to leak.
        while self.peek(0).is_some_and(is_ident_char) {
            self.pos += 1;
        }
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
                match self.text[start..].find('\n') {
                    Some(nl) => self.pos = start + nl + 1,
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
                self.skip_string(false);
                Token::Literal
            }
            // E'…', B'…', X'…', N'…' and U&'…' strings.
            b'e' | b'E' if self.peek(1) == Some(b'\'') => {
                self.pos += 1;
                self.skip_string(true);
                Token::Literal
            }
            b'b' | b'B' | b'x' | b'X' | b'n' | b'N' if self.peek(1) == Some(b'\'') => {
                self.pos += 1;
                self.skip_string(false);
                Token::Literal
            }
            b'u' | b'U' if self.peek(1) == Some(b'&') && self.peek(2) == Some(b'\'') => {
                self.pos += 2;
                self.skip_string(false);
                Token::Literal
            }
            b'"' => {
                self.pos += 1;
                while let Some(c) = self.peek(0) {
                    self.pos += 1;
                    if c == b'"' {
                        if self.peek(0) == Some(b'"') {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                Token::Quoted(start, self.pos)
            }
            b'$' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.pos += 1;
                while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                Token::Param(start, self.pos)
            }
            b'$' if self.try_dollar_string() => Token::Literal,
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
                // Keep to character boundaries (non-ASCII bytes are all identifier bytes).
                let word = &self.text[start..self.pos];
                if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") {
                    Token::Literal
                } else {
                    Token::Word(start, self.pos)
                }
            }
            _ => {
                // One character (which may be several bytes, though only ASCII gets here).
                let len = self.text[start..].chars().next().map_or(1, char::len_utf8);
                self.pos += len;
                Token::Punct(start, self.pos)
            }
        };
        Some(token)
    }
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
    /// At the start of a statement (the text's start, after `;`, after `(`).
    statement_start: bool,
    /// Expecting a target name next (after FROM, JOIN, INTO...).
    expect_target: bool,
    /// After a DDL verb: waiting for the object kind, then the name.
    ddl: bool,
    /// In a `FROM a, b` list at this parenthesis depth (a comma then introduces a target).
    from_list: Option<usize>,
    /// The previous word, upper-cased if a keyword matters (for `FOR UPDATE`, `DO UPDATE`...).
    previous: Option<(usize, usize)>,
    /// Parenthesis depth and, per level, whether it is a function call's (`extract(x FROM y)`).
    parens: Vec<bool>,
    /// A target being built from `a . b . c` parts.
    pending: Option<String>,
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
        if let Some(target) = self.pending.take() {
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

    fn token(&mut self, text: &str, token: Token) {
        // A pending qualified name continues only through `.`.
        if self.pending.is_some() {
            match token {
                Token::Space => return,
                Token::Punct(s, e) if &text[s..e] == "." => {
                    self.pending_dot = true;
                    return;
                }
                Token::Word(s, e) | Token::Quoted(s, e) if self.pending_dot => {
                    let pending = self.pending.as_mut().expect("checked");
                    pending.push('.');
                    pending.push_str(&text[s..e]);
                    self.pending_dot = false;
                    return;
                }
                _ => self.flush_target(),
            }
        }
        match token {
            Token::Space => {}
            Token::Word(s, e) => self.word(text, s, e),
            Token::Quoted(s, e) => {
                if self.expect_target {
                    self.expect_target = false;
                    self.ddl = false;
                    self.pending = Some(text[s..e].to_owned());
                }
                self.statement_start = false;
            }
            Token::Punct(s, e) => {
                match &text[s..e] {
                    "(" | "[" => {
                        let call = matches!(self.previous, Some((ps, pe)) if !is_keyword_like(&text[ps..pe]))
                            && !self.expect_target;
                        self.parens.push(call);
                        self.statement_start = true;
                    }
                    ")" | "]" => {
                        self.parens.pop();
                        if self.from_list.is_some_and(|d| d > self.parens.len()) {
                            self.from_list = None;
                        }
                        self.statement_start = false;
                    }
                    ";" => {
                        self.parens.clear();
                        self.from_list = None;
                        self.statement_start = true;
                    }
                    "," if self.from_list == Some(self.parens.len()) => {
                        self.expect_target = true;
                        self.statement_start = false;
                    }
                    _ => self.statement_start = false,
                }
                self.expect_target &= &text[s..e] == ",";
                self.previous = None;
            }
            Token::Literal | Token::Param(..) => {
                self.expect_target = false;
                self.statement_start = false;
                self.previous = None;
            }
        }
    }

    fn word(&mut self, text: &str, s: usize, e: usize) {
        let word = &text[s..e];
        let at_start = self.statement_start;
        self.statement_start = false;

        if self.expect_target {
            if is_one_of(word, TARGET_NOISE) {
                self.previous = Some((s, e));
                return;
            }
            if self.ddl {
                // `CREATE [UNIQUE] INDEX [CONCURRENTLY] name`, `CREATE OR REPLACE VIEW name`...
                if is_one_of(word, DDL_OBJECTS)
                    || is_one_of(
                        word,
                        &[
                            "UNIQUE",
                            "OR",
                            "REPLACE",
                            "CONCURRENTLY",
                            "TEMP",
                            "TEMPORARY",
                            "UNLOGGED",
                            "VIEW",
                        ],
                    )
                {
                    self.previous = Some((s, e));
                    return;
                }
                if !is_one_of(word, &["ON", "AS", "TO"]) && !self.ddl_object_seen(text) {
                    // Not a kind we name (`CREATE ROLE x`): no target.
                    self.expect_target = false;
                    self.ddl = false;
                    self.previous = Some((s, e));
                    return;
                }
            }
            if !is_one_of(word, OPERATIONS)
                && !is_one_of(word, CLAUSE_ENDS)
                && !word.eq_ignore_ascii_case("ON")
            {
                self.expect_target = false;
                self.ddl = false;
                self.pending = Some(word.to_owned());
                self.previous = Some((s, e));
                return;
            }
            self.expect_target = false;
            self.ddl = false;
        }

        let is_operation = is_one_of(word, OPERATIONS)
            && (at_start || !is_one_of(word, STATEMENT_ONLY))
            // `FOR UPDATE`, `DO UPDATE`, `ON DELETE`, `FOR NO KEY UPDATE`: clauses.
            && !self.previous_is(text, &["FOR", "DO", "ON", "KEY", "OF", "NO"]);
        if is_operation {
            self.operations += 1;
            if self.first_operation.is_none() {
                self.first_operation = Some((s, e));
            }
            self.push_word(word);
            self.from_list = None;
            if is_one_of(word, &["CREATE", "ALTER", "DROP"]) {
                self.expect_target = true;
                self.ddl = true;
            } else if is_one_of(word, &["UPDATE", "CALL", "TRUNCATE", "COPY"]) {
                self.expect_target = true;
            }
        } else if is_one_of(word, TARGET_INTRODUCERS)
            // `extract(year FROM ts)`, `substring(s FROM 2)`, `IS DISTINCT FROM`: not tables.
            && !(self.in_call() && word.eq_ignore_ascii_case("FROM"))
            && !self.previous_is(text, &["DISTINCT"])
        {
            self.expect_target = true;
            if word.eq_ignore_ascii_case("FROM") {
                self.from_list = Some(self.parens.len());
            }
        } else if is_one_of(word, CLAUSE_ENDS) {
            self.from_list = None;
        }
        self.previous = Some((s, e));
    }

    /// Whether a DDL object kind was the previous word (`CREATE TABLE` → expect the name).
    fn ddl_object_seen(&self, text: &str) -> bool {
        self.previous_is(text, DDL_OBJECTS)
            || self.previous_is(text, &["EXISTS", "CONCURRENTLY", "VIEW"])
    }
}

/// Words that are never a function name before `(`: `IN (`, `VALUES (`, `AS (`, `INTO t (`...
fn is_keyword_like(word: &str) -> bool {
    is_one_of(
        word,
        &[
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
        ],
    ) || is_one_of(word, OPERATIONS)
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
    let mut lexer = Lexer::new(sql);
    let mut sanitized = String::with_capacity(sql.len());
    let mut summarizer = Summarizer {
        statement_start: true,
        ..Summarizer::default()
    };
    let mut space = false;
    while let Some(token) = lexer.next() {
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

/// The statements already read, by text: an application runs the same few statements over and
/// over (sqlx caches their prepared forms for the same reason), and a lookup costs a fraction of
/// a read. Bounded: when full it starts over, so a stream of ever-different texts (literals
/// inlined by the application) costs a read each, never unbounded memory.
pub(crate) struct InfoCache {
    map: std::sync::Mutex<std::collections::HashMap<Box<str>, std::sync::Arc<QueryInfo>>>,
}

/// How many texts [`InfoCache`] keeps.
pub(crate) const CACHE_CAPACITY: usize = 1024;

impl InfoCache {
    pub(crate) fn new() -> Self {
        InfoCache {
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The [`analyze`] of `sql`, read once per text.
    pub(crate) fn get(&self, sql: &str) -> std::sync::Arc<QueryInfo> {
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
