//! The traced pool on SQLite (feature `sqlite`), against a real database file in the temporary
//! directory, recorded by the `memory` module: spans named by their summary, `sqlite` as the
//! system and the file's name as the namespace, sanitized text with SQLite's parameters,
//! returned and affected rows, SQLite's extended result code on failure, transactions, and the
//! duration histogram.
//!
//! Run with `cargo test -p hyperion-sqlx --features sqlite` (or `--all-features`); without the
//! feature this file compiles to nothing.

#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use hyperion::testing::{MemoryModule, MemoryStore, RecordedSpan, Snapshot};
use hyperion::{Config, SpanKind, SpanOptions, Status, Telemetry, Value};
use hyperion_sqlx::{OPERATION_DURATION_METRIC, QueryText, TracedPool};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, Sqlite, SqlitePool};

/// A database file of this test's own, deleted (with SQLite's side files) when dropped.
struct TempDb {
    path: PathBuf,
    pool: SqlitePool,
}

impl TempDb {
    async fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "hyperion-sqlx-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .expect("an SQLite file in the temporary directory");
        sqlx::raw_sql(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT, \
             orders INTEGER NOT NULL DEFAULT 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        TempDb { path, pool }
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn memory() -> (Telemetry, MemoryStore) {
    let memory = MemoryModule::new();
    let store = memory.store();
    let telemetry = Telemetry::builder()
        .module(memory)
        .config(Config::from_yaml_str("").unwrap())
        .build()
        .await
        .unwrap();
    (telemetry, store)
}

async fn flushed(telemetry: &Telemetry, store: &MemoryStore) -> Snapshot {
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    store.snapshot()
}

fn str_attr<'s>(span: &'s RecordedSpan, key: &str) -> &'s str {
    match span.attribute(key) {
        Some(Value::Str(s)) => s.as_ref(),
        other => panic!("{key} is {other:?} on {span:#?}"),
    }
}

fn int_attr(span: &RecordedSpan, key: &str) -> i64 {
    match span.attribute(key) {
        Some(Value::I64(v)) => *v,
        other => panic!("{key} is {other:?} on {span:#?}"),
    }
}

/// Every string value of every attribute, event attribute, metric attribute and log field.
fn every_string(snapshot: &Snapshot) -> Vec<String> {
    fn push(all: &mut Vec<String>, attrs: &[hyperion::KeyValue<'static>]) {
        all.extend(attrs.iter().map(|a| format!("{:?}", a.value)));
    }
    let mut all = Vec::new();
    for span in &snapshot.spans {
        push(&mut all, &span.attributes);
        for event in &span.events {
            push(&mut all, &event.attributes);
        }
        all.push(span.name.clone());
    }
    for point in &snapshot.points {
        push(&mut all, &point.attributes);
    }
    all
}

#[tokio::test]
async fn statements_are_client_spans_named_by_their_summary_with_sqlite_attributes() {
    let db = TempDb::new().await;
    let (telemetry, store) = memory().await;
    let pool: TracedPool<Sqlite> = TracedPool::new(db.pool.clone(), &telemetry);

    let (ctx, mut parent) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let done = sqlx::query(
        "INSERT INTO users (id, email, name) VALUES (?1, ?2, 'Ada Lovelace'), (2, 'bob@example.com', 'Bob')",
    )
    .bind(1_i64)
    .bind("ada@example.com")
    .execute(pool.with(&ctx))
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 2);
    let rows = sqlx::query(
        "SELECT id, name FROM users WHERE email <> 'carol@example.com' AND id < ? ORDER BY id",
    )
    .bind(10_i64)
    .fetch_all(pool.with(&ctx))
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<String, _>("name"), "Ada Lovelace");
    parent.end();

    let snapshot = flushed(&telemetry, &store).await;
    let select = snapshot.span("SELECT users").span().clone();
    let insert = snapshot.span("INSERT users").span().clone();
    for span in [&select, &insert] {
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.context.trace_id(), parent.span_context().trace_id());
        assert_eq!(span.parent_span_id, Some(parent.span_context().span_id()));
        assert_eq!(str_attr(span, "db.system.name"), "sqlite");
        assert_eq!(str_attr(span, "db.namespace"), db.file_name());
        // A file, no server.
        assert!(span.attribute("server.address").is_none(), "{span:#?}");
        assert!(span.attribute("server.port").is_none(), "{span:#?}");
        assert_eq!(span.status, Status::Unset);
    }
    assert_eq!(str_attr(&select, "db.query.summary"), "SELECT users");
    assert_eq!(
        str_attr(&select, "db.query.text"),
        "SELECT id, name FROM users WHERE email <> ? AND id < ? ORDER BY id"
    );
    assert_eq!(int_attr(&select, "db.response.returned_rows"), 2);
    assert_eq!(
        str_attr(&insert, "db.query.text"),
        "INSERT INTO users (id, email, name) VALUES (?1, ?2, ?), (?, ?, ?)"
    );
    assert_eq!(int_attr(&insert, "hyperion.db.affected_rows"), 2);
    assert_eq!(int_attr(&insert, "db.response.returned_rows"), 0);
    for value in every_string(&snapshot) {
        for secret in ["Lovelace", "bob@", "carol@", "ada@", "Bob"] {
            assert!(!value.contains(secret), "{secret} leaked in {value}");
        }
    }

    // The duration histogram: one point per statement, the span as exemplar, the same
    // description of the database.
    let points = snapshot.points(OPERATION_DURATION_METRIC);
    assert_eq!(points.len(), 2, "{points:#?}");
    for (point, span) in points.iter().zip([&insert, &select]) {
        assert_eq!(point.instrument.unit, "s");
        let exemplar = point.exemplar.as_ref().expect("an exemplar");
        assert_eq!(exemplar.span_id(), span.context.span_id());
        assert_eq!(
            point.attribute("db.system.name"),
            Some(&Value::from("sqlite"))
        );
        assert_eq!(
            point.attribute("db.namespace"),
            Some(&Value::from(db.file_name()))
        );
        assert!(point.attribute("server.address").is_none());
        assert_eq!(
            point.attribute("db.query.summary"),
            span.attribute("db.query.summary")
        );
        assert!(point.value.as_f64() > 0.0);
    }
    // The pool's metrics are named by the file.
    let max = snapshot.points("db.client.connection.max");
    assert_eq!(max.len(), 1);
    assert_eq!(max[0].value.as_f64(), 2.0);
    assert_eq!(
        max[0].attribute("db.client.connection.pool.name"),
        Some(&Value::from(db.file_name()))
    );
    assert_eq!(snapshot.points("db.client.connection.wait_time").len(), 2);
}

#[tokio::test]
async fn a_unique_violation_records_sqlites_extended_result_code() {
    let db = TempDb::new().await;
    let (telemetry, store) = memory().await;
    let pool = TracedPool::new(db.pool.clone(), &telemetry);
    let ctx = telemetry.context();
    let insert =
        |id: i64| format!("INSERT INTO users (id, email) VALUES ({id}, 'dup@example.com')");
    sqlx::query(sqlx::AssertSqlSafe(insert(1)))
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    let error = sqlx::query(sqlx::AssertSqlSafe(insert(2)))
        .execute(pool.with(&ctx))
        .await
        .unwrap_err();
    // SQLITE_CONSTRAINT_UNIQUE.
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("2067")
    );

    let snapshot = flushed(&telemetry, &store).await;
    let failed = snapshot
        .spans
        .iter()
        .find(|s| s.status.is_error())
        .expect("a failed span");
    assert_eq!(failed.name, "INSERT users");
    assert_eq!(str_attr(failed, "db.system.name"), "sqlite");
    assert_eq!(str_attr(failed, "db.response.status_code"), "2067");
    assert_eq!(str_attr(failed, "error.type"), "2067");
    assert!(failed.attribute("db.response.returned_rows").is_none());
    let exception = failed.event("exception").expect("an exception event");
    let message = exception
        .attributes
        .iter()
        .find(|a| a.key.as_str() == "exception.message")
        .map(|a| format!("{:?}", a.value))
        .unwrap();
    assert!(message.contains("SQLite result code 2067"), "{message}");
    for value in every_string(&snapshot) {
        assert!(!value.contains("dup@"), "a literal leaked: {value}");
    }
    let point = snapshot
        .points(OPERATION_DURATION_METRIC)
        .into_iter()
        .find(|p| p.attribute("error.type").is_some())
        .expect("a failed point");
    assert_eq!(point.attribute("error.type"), Some(&Value::from("2067")));
    assert_eq!(
        point.attribute("db.response.status_code"),
        Some(&Value::from("2067"))
    );

    // With the full text, SQLite's own message is kept.
    store.clear();
    let full = TracedPool::new(db.pool.clone(), &telemetry).query_text(QueryText::Full);
    sqlx::query(sqlx::AssertSqlSafe(insert(3)))
        .execute(full.with(&ctx))
        .await
        .unwrap_err();
    let snapshot = flushed(&telemetry, &store).await;
    let failed = snapshot.spans.iter().find(|s| s.status.is_error()).unwrap();
    let exception = failed.event("exception").unwrap();
    let message = format!("{:?}", exception.attributes);
    assert!(message.contains("UNIQUE constraint failed"), "{message}");
}

#[tokio::test]
async fn a_transaction_is_a_span_with_begin_its_statements_and_commit_as_children() {
    let db = TempDb::new().await;
    let (telemetry, store) = memory().await;
    let pool = TracedPool::new(db.pool.clone(), &telemetry);
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("POST /orders", SpanOptions::server());

    let mut tx = pool.begin(&ctx).await.unwrap();
    sqlx::query("INSERT INTO users (id, email) VALUES (?, ?)")
        .bind(7_i64)
        .bind("t@example.com")
        .execute(&mut tx)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET orders = orders + 1 WHERE id = ?")
        .bind(7_i64)
        .execute(&mut tx)
        .await
        .unwrap();
    let orders: i64 = sqlx::query_scalar("SELECT orders FROM users WHERE id = 7")
        .fetch_one(&mut tx)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    tx.commit().await.unwrap();

    let mut tx = pool.begin(&ctx).await.unwrap();
    sqlx::query("DELETE FROM users")
        .execute(&mut tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    handler.end();

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "committed, then the delete rolled back");

    let snapshot = flushed(&telemetry, &store).await;
    let root = snapshot.root("POST /orders");
    let transactions = snapshot.children(root.span());
    assert_eq!(transactions.len(), 2, "{}", snapshot.tree());
    for t in &transactions {
        assert_eq!(t.name, "transaction");
        assert_eq!(t.kind, SpanKind::Internal);
        assert_eq!(str_attr(t, "db.system.name"), "sqlite");
        assert_eq!(str_attr(t, "db.namespace"), db.file_name());
        assert!(t.attribute("server.address").is_none());
    }
    let outcomes: Vec<_> = transactions
        .iter()
        .map(|t| str_attr(t, "hyperion.db.transaction.outcome"))
        .collect();
    assert_eq!(outcomes, ["committed", "rolled_back"]);
    let names = |t: &RecordedSpan| -> Vec<String> {
        let mut children: Vec<_> = snapshot.children(t);
        children.sort_by_key(|s| s.start_time);
        children.iter().map(|s| s.name.clone()).collect()
    };
    assert_eq!(
        names(transactions[0]),
        [
            "BEGIN",
            "INSERT users",
            "UPDATE users",
            "SELECT users",
            "COMMIT"
        ]
    );
    assert_eq!(
        names(transactions[1]),
        ["BEGIN", "DELETE users", "ROLLBACK"]
    );
    for child in snapshot.children(transactions[0]) {
        assert_eq!(child.kind, SpanKind::Client);
        assert_eq!(str_attr(child, "db.system.name"), "sqlite");
    }
    let update = snapshot.span("UPDATE users").span().clone();
    assert_eq!(int_attr(&update, "hyperion.db.affected_rows"), 1);
    assert_eq!(
        str_attr(&update, "db.query.text"),
        "UPDATE users SET orders = orders + ? WHERE id = ?"
    );
}

#[tokio::test]
async fn a_stream_on_the_plain_pool_reference_counts_its_rows() {
    let db = TempDb::new().await;
    let (telemetry, store) = memory().await;
    let pool = TracedPool::new(db.pool.clone(), &telemetry);
    for id in 1..=5_i64 {
        sqlx::query("INSERT INTO users (id, email) VALUES ($1, $2)")
            .bind(id)
            .bind(format!("user{id}@example.com"))
            .execute(&pool)
            .await
            .unwrap();
    }
    store.clear();
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let ids: Vec<i64> = ctx
        .scope(async {
            sqlx::query_scalar::<_, i64>("SELECT id FROM users ORDER BY id")
                .fetch(&pool)
                .try_collect()
                .await
        })
        .await
        .unwrap();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    handler.end();

    let snapshot = flushed(&telemetry, &store).await;
    let select = snapshot.span("SELECT users").span().clone();
    assert_eq!(int_attr(&select, "db.response.returned_rows"), 5);
    assert_eq!(
        select.parent_span_id,
        Some(handler.span_context().span_id())
    );
}

/// SQLite's change count is `sqlite3_changes()`, the rows of the connection's last INSERT,
/// UPDATE or DELETE, which sqlx reads for every statement: a SELECT or a CREATE TABLE run after
/// an INSERT on the same connection would report the INSERT's rows. Only writes record it.
#[tokio::test]
async fn statements_that_write_nothing_record_no_stale_change_count() {
    let db = TempDb::new().await;
    // One connection: every statement runs on the connection the INSERT ran on.
    let one = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&db.path))
        .await
        .unwrap();
    let (telemetry, store) = memory().await;
    let pool: TracedPool<Sqlite> = TracedPool::new(one.clone(), &telemetry);
    let ctx = telemetry.context();
    let done = sqlx::query(
        "INSERT INTO users (id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com'), (3, 'c@example.com')",
    )
    .execute(pool.with(&ctx))
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 3);
    // A stream (sqlx hands over the statement's result) and an execute.
    let ids: Vec<i64> = sqlx::query_scalar::<_, i64>("SELECT id FROM users ORDER BY id")
        .fetch(pool.with(&ctx))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, [1, 2, 3]);
    let created = sqlx::query("CREATE TABLE other (id INTEGER)")
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    // What sqlx itself says: the INSERT's count, still.
    assert_eq!(created.rows_affected(), 3);
    let deleted = sqlx::query("DELETE FROM users WHERE id > 1")
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 2);

    let snapshot = flushed(&telemetry, &store).await;
    let insert = snapshot.span("INSERT users").span().clone();
    assert_eq!(int_attr(&insert, "hyperion.db.affected_rows"), 3);
    let select = snapshot.span("SELECT users").span().clone();
    assert_eq!(int_attr(&select, "db.response.returned_rows"), 3);
    assert!(
        select.attribute("hyperion.db.affected_rows").is_none(),
        "{select:#?}"
    );
    let create = snapshot.span("CREATE other").span().clone();
    assert!(
        create.attribute("hyperion.db.affected_rows").is_none(),
        "{create:#?}"
    );
    let delete = snapshot.span("DELETE users").span().clone();
    assert_eq!(int_attr(&delete, "hyperion.db.affected_rows"), 2);
    one.close().await;
}

/// An in-memory database named by no file (`sqlite://?mode=memory`) has no `db.namespace`
/// rather than an empty one, and its pool is still named; `sqlite::memory:` is named as sqlx
/// names it, one name per pool.
#[tokio::test]
async fn in_memory_databases_have_no_empty_namespace_or_pool_name() {
    let (telemetry, store) = memory().await;
    for url in ["sqlite://?mode=memory", "sqlite:?mode=memory"] {
        store.clear();
        let plain = SqlitePool::connect(url).await.unwrap();
        let pool: TracedPool<Sqlite> = TracedPool::new(plain.clone(), &telemetry);
        sqlx::query("SELECT 1")
            .fetch_one(pool.with(&telemetry.context()))
            .await
            .unwrap();
        let snapshot = flushed(&telemetry, &store).await;
        let span = snapshot.span("SELECT").span().clone();
        assert!(span.attribute("db.namespace").is_none(), "{url}: {span:#?}");
        let max = snapshot.points("db.client.connection.max");
        assert_eq!(
            max[0].attribute("db.client.connection.pool.name"),
            Some(&Value::from("sqlite")),
            "{url}"
        );
        for point in snapshot.points(OPERATION_DURATION_METRIC) {
            assert!(point.attribute("db.namespace").is_none(), "{url}");
        }
        plain.close().await;
    }
    let mut names = Vec::new();
    for _ in 0..2 {
        store.clear();
        let plain = SqlitePool::connect("sqlite::memory:").await.unwrap();
        let pool: TracedPool<Sqlite> = TracedPool::new(plain.clone(), &telemetry);
        sqlx::query("SELECT 1")
            .fetch_one(pool.with(&telemetry.context()))
            .await
            .unwrap();
        let snapshot = flushed(&telemetry, &store).await;
        let span = snapshot.span("SELECT").span().clone();
        let name = str_attr(&span, "db.namespace").to_owned();
        assert!(name.starts_with("file:sqlx-in-memory-"), "{name}");
        names.push(name);
        plain.close().await;
    }
    assert_ne!(names[0], names[1]);
}

/// SQLite's text is read by SQLite's rules: a double-quoted word that names no column is a
/// string to SQLite (and is hidden), block comments do not nest, `[..]` and `` `..` `` are
/// names (the summary reads them), `$1` and `?1` are parameters.
#[tokio::test]
async fn sqlite_text_is_read_by_sqlites_rules() {
    let db = TempDb::new().await;
    let (telemetry, store) = memory().await;
    let pool: TracedPool<Sqlite> = TracedPool::new(db.pool.clone(), &telemetry);
    let ctx = telemetry.context();
    sqlx::query("INSERT INTO [users] (id, email, name) VALUES (1, 'x@example.com', 'SECRET-1')")
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    // SQLite takes "SECRET-1" for a string: the row is found.
    let found: Vec<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = \"SECRET-1\"")
        .fetch_all(pool.with(&ctx))
        .await
        .unwrap();
    assert_eq!(found, [1]);
    let found: Vec<String> =
        sqlx::query_scalar("SELECT /* /* */ '*/' || 'SECRET-2' FROM `users` WHERE id = $1")
            .bind(1_i64)
            .fetch_all(pool.with(&ctx))
            .await
            .unwrap();
    assert_eq!(found, ["*/SECRET-2"]);
    sqlx::query("UPDATE [users] SET orders = ?1 WHERE name = 'SECRET-3'")
        .bind(2_i64)
        .execute(pool.with(&ctx))
        .await
        .unwrap();

    let snapshot = flushed(&telemetry, &store).await;
    let names: Vec<_> = snapshot.spans.iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        names,
        [
            "INSERT users",
            "SELECT users",
            "SELECT users",
            "UPDATE users"
        ]
    );
    let texts: Vec<_> = snapshot
        .spans
        .iter()
        .map(|s| str_attr(s, "db.query.text").to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "INSERT INTO [users] (id, email, name) VALUES (?, ?, ?)",
            "SELECT id FROM users WHERE name = ?",
            "SELECT ? || ? FROM `users` WHERE id = $1",
            "UPDATE [users] SET orders = ?1 WHERE name = ?",
        ]
    );
    for value in every_string(&snapshot) {
        assert!(!value.contains("SECRET"), "a literal leaked: {value}");
    }
}
