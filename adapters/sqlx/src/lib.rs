//! # hyperion-sqlx
//!
//! SQL telemetry for the [`hyperion`] facade through [sqlx] 0.9, for PostgreSQL and SQLite:
//! [`TracedPool`] wraps a sqlx [`Pool`](sqlx::Pool) in one line, after which ordinary
//! `sqlx::query(..)` calls give a CLIENT span per statement named by its summary
//! (`SELECT users`), the `db.client.operation.duration` histogram with the span as exemplar,
//! pool metrics, and a warning log line, correlated with the trace, for slow statements. It
//! speaks the facade only, so it works with any hyperion adapter (`otel`, `memory`, ...).
//!
//! ```no_run
//! use hyperion::Telemetry;
//! use hyperion_sqlx::TracedPool;
//!
//! # async fn run(telemetry: Telemetry) -> Result<(), sqlx::Error> {
//! // The one changed line: where the pool is made.
//! let pool = TracedPool::new(sqlx::PgPool::connect("postgres://localhost/app").await?, &telemetry);
//!
//! let ctx = telemetry.context(); // a handler's request context
//! let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
//!     .bind(42_i64)
//!     .fetch_one(pool.with(&ctx))
//!     .await?;
//!
//! let mut tx = pool.begin(&ctx).await?;
//! sqlx::query("INSERT INTO orders (user_id) VALUES ($1)").bind(42_i64).execute(&mut tx).await?;
//! tx.commit().await?;
//! # drop(name); Ok(()) }
//! ```
//!
//! ## Databases
//!
//! | feature | pool | `TracedPool<…>` | `db.system.name` |
//! |---|---|---|---|
//! | `postgres` (default) | `sqlx::PgPool` | `TracedPool` (the default parameter) or `TracedPool<Postgres>` | `postgresql` |
//! | `sqlite` | `sqlx::SqlitePool` | `TracedPool<Sqlite>` | `sqlite` |
//! | `any` | `sqlx::AnyPool` | `TracedPool<Any>` | by the URL, at run time |
//!
//! [`TracedPool::new`] takes the database from the pool it is given; the types follow
//! (`WithContext<'_, DB>`, `TracedTransaction<DB>`), and every `DB` defaults to `Postgres`, so
//! code written for PostgreSQL alone names them without a parameter. What differs from one
//! database to another (the description of the database, the rows affected) is the sealed
//! [`TracedDatabase`] trait's; its docs have the values.
//!
//! ### One type, either database
//!
//! With the feature `any`, one `TracedPool<Any>` runs on whichever database the URL names, so
//! that an application can default to an SQLite file (nothing to install) and run on
//! PostgreSQL when `DATABASE_URL` says so. `db.system.name`, `db.namespace`, `server.address`
//! and `server.port` are read from the URL when the pool is wrapped: `postgres:` and
//! `postgresql:` as PostgreSQL's driver reads them, `sqlite:` as SQLite's (the file's name, no
//! server), any other scheme with the URL's host, port and first path segment and, as
//! `db.system.name`, the conventions' name for the system (`mysql`, `mariadb`,
//! `microsoft.sql_server`...) or `other_sql`. The statements' text is read by the rules of the
//! database the URL names (see [`sql::Dialect`]). sqlx's `Any` connects only through the drivers installed first: call
//! `sqlx::any::install_default_drivers()` once before the first connection (it installs the
//! drivers compiled in, through this crate's features `postgres` and `sqlite` or sqlx's own);
//! without it, connecting panics (`No drivers installed`).
//!
//! ```no_run
//! # #[cfg(all(feature = "any", feature = "sqlite"))]
//! # async fn run(telemetry: hyperion::Telemetry) -> Result<(), sqlx::Error> {
//! use hyperion_sqlx::TracedPool;
//! use sqlx::Any;
//!
//! sqlx::any::install_default_drivers();
//! let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:demo.db?mode=rwc".into());
//! let pool: TracedPool<Any> = TracedPool::new(sqlx::AnyPool::connect(&url).await?, &telemetry);
//!
//! let ctx = telemetry.context();
//! sqlx::query("CREATE TABLE IF NOT EXISTS users (id BIGINT PRIMARY KEY, name TEXT)")
//!     .execute(pool.with(&ctx))
//!     .await?;
//! let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
//!     .fetch_one(pool.with(&ctx))
//!     .await?;
//! # drop(count); Ok(()) }
//! ```
//!
//! The text of a statement is sent as written: the SQL (and its placeholders, `$1` for
//! PostgreSQL, `?` for SQLite) must suit the database the URL picks, as with sqlx's `Any`
//! itself.
//!
//! ## Which parent
//!
//! The caller says, explicitly: `pool.with(&ctx)` is an [`Executor`](sqlx::Executor) whose
//! statements are children of `ctx`'s span. That is the facade's rule (a `Context` is passed,
//! nothing thread-local is held across an `.await`), and it keeps the parent right whatever
//! the runtime does with the task. `&pool` is an executor too, for code that cannot pass a
//! context: its statements take the span the calling code runs under through the core's bridge
//! ([`hyperion::context::with_current_span_context`]: set while an intercepted call, a future
//! wrapped with [`Context::scope`](hyperion::Context::scope), or a handler behind
//! `hyperion-tower`'s layer is polled), read once, synchronously, when sqlx hands the statement
//! to the executor (for `fetch_one`, `fetch_all` and `execute`, when their future is first
//! polled; for `fetch` and `execute_many`, when they are called); a new trace when there is
//! none. A context of another telemetry keeps its trace.
//!
//! ## What is recorded
//!
//! Each statement gets a CLIENT span named by its `db.query.summary` (the operations and
//! tables in order: `SELECT users`, `INSERT orders`, `INSERT shipping_details SELECT orders`;
//! `db.system.name`, `postgresql` or `sqlite`, when the text names no operation), started with:
//!
//! | attribute | value |
//! |---|---|
//! | `db.system.name` | `postgresql`, `sqlite` (through `Any`, the URL's system) |
//! | `db.namespace` | PostgreSQL: the database name from the connect options (the user name when none is given, as PostgreSQL does); the schema is not added, as knowing it would take a query. SQLite: the database file's name without its directories (sqlx's `file:sqlx-in-memory-N` for `sqlite::memory:`; none for an in-memory database named by no file, `sqlite://?mode=memory`) |
//! | `server.address`, `server.port` | PostgreSQL: the host (or the Unix socket's path) and port of the connect options, always. SQLite: none |
//! | `db.query.summary` | as above, at most 255 bytes, cut between words |
//! | `db.query.text` | the text with every literal replaced by `?` and comments removed; see [`QueryText`] |
//! | `db.operation.name`, `db.collection.name` | only with [`operation_attributes`](TracedPool::operation_attributes) |
//!
//! and when it ends `db.response.returned_rows` (Opt-In in the conventions, still in
//! development there; recorded here because it costs a counter and says much) and, where sqlx
//! hands over the statement's result (on `execute`, `fetch`, `fetch_many`; not `fetch_one` or
//! `fetch_all`), `hyperion.db.affected_rows` (the conventions have no key for it): PostgreSQL's
//! command tag; SQLite's change count only for a statement that writes (`INSERT`, `UPDATE`,
//! `DELETE`, `REPLACE`), because SQLite's count is the connection's last write's
//! (`sqlite3_changes()`), which sqlx reads after every statement, so that a SELECT or a CREATE
//! TABLE would report an earlier statement's rows. (In a text of several statements with a
//! write among them, each statement's count is added, earlier ones' included.) The span covers the call from the executor's start to
//! its last row. A failure sets the status to error, `db.response.status_code` to the
//! database's code (PostgreSQL's SQLSTATE, `23505`; SQLite's extended result code, `2067` for a
//! UNIQUE violation), `error.type` to the same code (the conventions: it "SHOULD match
//! `db.response.status_code`"), or `timeout` when no connection came out of the pool in time,
//! or the sqlx error variant (`sqlx::Error::Io`...); and an `exception` event whose message is
//! `SQLSTATE 23505 constraint users_email_key table users` (`SQLite result code 2067`) for a
//! database error and the variant for another — the databases' messages can quote values from
//! the statement, and sqlx's encoding errors quote parameters, so they are only used with
//! [`QueryText::Full`].
//!
//! **Parameters are never recorded.** The sanitizer reads the text by the rules of the pool's
//! database ([`sql::Dialect`], from `db.system.name`), one lexer with what differs as data:
//!
//! - PostgreSQL: `''` and `E'\''` escapes, dollar quoting, nested comments, `--` comments ending
//!   at `\n` or `\r`, bit and Unicode strings, numbers, `TRUE` and `FALSE`, `$1` parameters;
//!   a backslash before a quote is read both ways (`standard_conforming_strings` on and off),
//!   and what is a literal or a comment in either is hidden. `[` and `` ` `` are characters of
//!   their own (`data['key']` is a subscript holding a string).
//! - SQLite: `''` escapes only (no `E'…'`, no dollar quotes), `X'…'` blobs, block comments that
//!   do not nest, `--` comments ending at `\n` only, names in `"…"`, `[…]` and `` `…` ``
//!   (written as they are; the summary writes `[users]` as `users`), parameters kept as written:
//!   `?`, `?NNN`, `:name`, `@name`, `$name`, `#name` (with SQLite's `::` parts; one with a `(…)`
//!   suffix, which may hold any character but a space, is hidden). SQLite takes a double-quoted
//!   word that names no column for a string, which the text alone cannot tell, so every `"…"`
//!   is written as `?` in `db.query.text` (the summary still names a table written so).
//! - Any other system (through `Any`): a conservative union of readings — PostgreSQL's,
//!   SQLite's and MySQL's (backslash escapes in `'…'` and `"…"` strings, `#` comments) — whose
//!   literals and comments are all hidden.
//!
//! An unterminated string, quoted name or comment hides the rest of the text. The placeholder
//! is `?`, as the conventions advise, even though PostgreSQL's jsonb has a `?` operator
//! (`data ? 'key'` becomes `data ? ?`). The conventions say parameterized text (with `$1`)
//! "SHOULD NOT be sanitized"; this crate sanitizes it anyway by default, because a
//! parameterized statement can still hold literals, and a default that can leak one is not a
//! safe default. `QueryText::Full` records the text as written.
//!
//! ## Metrics
//!
//! - `db.client.operation.duration` (s, the conventions' boundaries [`DURATION_BOUNDARIES`]):
//!   `db.system.name`, `db.namespace`, `server.address`, `server.port` (those the database
//!   has), `db.query.summary`,
//!   and on failure `db.response.status_code` and `error.type`. Recorded with the statement's
//!   span context before the span ends, so the span is its exemplar.
//! - `db.client.connection.wait_time` (s): time to get a connection out of the pool, for every
//!   statement run on the pool (not for [`TracedPool::begin`], where sqlx acquires inside).
//! - `db.client.connection.count` (`db.client.connection.state` = `used` or `idle`) and
//!   `db.client.connection.max`, both up-down counters; sqlx has no hook when a connection
//!   changes state, so the counts are read at every acquire and release (a release counts its
//!   connection as back in the pool, which sqlx does a moment later). When the last clone of a
//!   `TracedPool` is dropped, what it reported is taken back. Wrap a pool once and clone the
//!   `TracedPool`: two wrappers of one pool each report its connections.
//! - `db.client.connection.timeouts`: statements whose acquire timed out.
//!
//! The pool's metrics carry `db.client.connection.pool.name` =
//! `{server.address}:{server.port}/{db.namespace}`, as the conventions suggest for pools
//! without a name; an SQLite pool, with no server, is named by its `db.namespace` alone.
//!
//! ## Slow statements
//!
//! A statement taking at least [`slow_threshold`](TracedPool::slow_threshold) (one second by
//! default, as sqlx's own warning) also writes a `warn` log line through the statement's
//! context, so it carries the trace and span ids: `slow statement: SELECT users took 1.204 s`,
//! with `db.query.summary` and the sanitized `db.query.text` as fields.
//!
//! ## Cost
//!
//! With a telemetry that records nothing (`Telemetry::noop()` or an adapter without traces,
//! metrics or logs), every call goes straight to sqlx after a check of three flags: the text is
//! not read, no clock is read, nothing is allocated. Otherwise a statement's text is read once
//! by a small lexer (0.1 to 2 µs) and kept by text (up to 1024 texts of at most 2 KiB each), so
//! a statement run again costs a hash lookup; see the bench `sqlx_roundtrip`.
//!
//! ## Not covered
//!
//! PostgreSQL and SQLite only. A MySQL URL given to a `TracedPool<Any>` (with sqlx's `mysql`
//! driver) is described by its system (`mysql`), host, port and database, and its text read by
//! the conservative fallback, which hides MySQL's strings (backslash escapes, `"…"`) and
//! comments (`#`, `--`, `/*…*/`) but follows no MySQL rule exactly: where the readings disagree
//! it hides more than MySQL would. The SQLite `db.namespace` is the file's name, not its path,
//! so two files of one name in different directories look the same. `prepare` and `describe` are
//! passed through untraced. Statements run on [`TracedPool::inner`] or
//! [`TracedTransaction::inner_mut`] are not traced.

/// Declares a public type generic over its database, the last parameter, which defaults to
/// `sqlx::Postgres` where the `postgres` feature is on (and has no default without it: no other
/// database is in every build).
macro_rules! database_generic {
    ($(#[$meta:meta])* pub struct $name:ident<$($lt:lifetime,)? DB> $body:tt) => {
        #[cfg(feature = "postgres")]
        $(#[$meta])*
        pub struct $name<$($lt,)? DB: $crate::TracedDatabase = sqlx::Postgres> $body

        #[cfg(not(feature = "postgres"))]
        $(#[$meta])*
        pub struct $name<$($lt,)? DB: $crate::TracedDatabase> $body
    };
}

mod database;
mod execute;
mod instrument;
mod pool;
pub mod semconv;
pub mod sql;
mod transaction;

pub use database::TracedDatabase;
pub use instrument::QueryText;
pub use pool::{TracedPool, WithContext};
pub use semconv::{DURATION_BOUNDARIES, OPERATION_DURATION_METRIC};
pub use transaction::{TRANSACTION_OUTCOME, TRANSACTION_SPAN_NAME, TracedTransaction};

/// The crate's README, whose example is compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
