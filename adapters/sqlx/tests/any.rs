//! One `TracedPool<Any>` type on both databases, chosen by the URL (features `any`, `sqlite` and
//! `postgres`): an SQLite file in the temporary directory, and the machine's real PostgreSQL
//! (`HYPERION_TEST_DATABASE_URL`, by default `postgres://postgres@127.0.0.1:5432/test`). The
//! same code runs on each; what the spans say of the database follows the URL.
//!
//! Run with `cargo test -p hyperion-sqlx --all-features`; without the features this file
//! compiles to nothing.

#![cfg(all(feature = "any", feature = "sqlite", feature = "postgres"))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyperion::testing::{MemoryModule, MemoryStore, RecordedSpan, Snapshot};
use hyperion::{Config, SpanKind, SpanOptions, Telemetry, Value};
use hyperion_sqlx::{OPERATION_DURATION_METRIC, TracedPool};
use sqlx::Any;
use sqlx::any::AnyPoolOptions;

fn postgres_url() -> String {
    std::env::var("HYPERION_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A name of this test's own (a table on PostgreSQL, a file on SQLite).
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The application's one pool type, whatever the URL: what a service would hold.
async fn connect(url: &str, telemetry: &Telemetry) -> TracedPool<Any> {
    // `Any` connects only through installed drivers (here PostgreSQL's and SQLite's).
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url} ({e})"));
    TracedPool::new(pool, telemetry)
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

fn str_attr<'s>(span: &'s RecordedSpan, key: &str) -> &'s str {
    match span.attribute(key) {
        Some(Value::Str(s)) => s.as_ref(),
        other => panic!("{key} is {other:?} on {span:#?}"),
    }
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// What the application does, the same on either database: a table, two rows, a count, a
/// transaction, a duplicate that fails. Returns the snapshot and the failure's code.
async fn run_the_same_code(
    pool: &TracedPool<Any>,
    telemetry: &Telemetry,
    store: &MemoryStore,
    table: &str,
) -> (Snapshot, String) {
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let db = pool.with(&ctx);
    sqlx::query(sql(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, email TEXT UNIQUE NOT NULL)"
    )))
    .execute(db)
    .await
    .unwrap();
    let done = sqlx::query(sql(format!(
        "INSERT INTO {table} (id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com')"
    )))
    .execute(db)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 2);
    let count: i64 = sqlx::query_scalar(sql(format!(
        "SELECT count(*) FROM {table} WHERE email <> 'c@example.com'"
    )))
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(count, 2);

    let mut tx = pool.begin(&ctx).await.unwrap();
    sqlx::query(sql(format!("DELETE FROM {table} WHERE id = 2")))
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let error = sqlx::query(sql(format!(
        "INSERT INTO {table} (id, email) VALUES (3, 'a@example.com')"
    )))
    .execute(db)
    .await
    .unwrap_err();
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .expect("a database error with a code")
        .into_owned();

    sqlx::query(sql(format!("DROP TABLE {table}")))
        .execute(db)
        .await
        .unwrap();
    handler.end();
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    (store.snapshot(), code)
}

/// The checks that do not depend on the database: names, kinds, text, rows, the transaction.
fn assert_the_same_shape(snapshot: &Snapshot, table: &str, system: &str, code: &str) {
    let select = snapshot.span(&format!("SELECT {table}")).span();
    assert_eq!(select.kind, SpanKind::Client);
    assert_eq!(
        str_attr(select, "db.query.text"),
        format!("SELECT count(*) FROM {table} WHERE email <> ?")
    );
    assert_eq!(
        select.attribute("db.response.returned_rows"),
        Some(&Value::I64(1))
    );
    let insert = snapshot
        .spans
        .iter()
        .find(|s| s.name == format!("INSERT {table}") && !s.status.is_error())
        .expect("the insert");
    assert_eq!(
        insert.attribute("hyperion.db.affected_rows"),
        Some(&Value::I64(2))
    );
    let transaction = snapshot.span("transaction").span();
    let mut children = snapshot.children(transaction);
    children.sort_by_key(|s| s.start_time);
    let names: Vec<_> = children.iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        names,
        [
            "BEGIN".to_owned(),
            format!("DELETE {table}"),
            "COMMIT".to_owned()
        ]
    );
    let failed = snapshot
        .spans
        .iter()
        .find(|s| s.status.is_error())
        .expect("the failed insert");
    assert_eq!(str_attr(failed, "error.type"), code);
    assert_eq!(str_attr(failed, "db.response.status_code"), code);
    for span in &snapshot.spans {
        if span.name != "handler" {
            assert_eq!(str_attr(span, "db.system.name"), system, "{span:#?}");
        }
        for attribute in &span.attributes {
            let value = format!("{:?}", attribute.value);
            assert!(!value.contains("@example.com"), "a literal leaked: {value}");
        }
    }
    let points = snapshot.points(OPERATION_DURATION_METRIC);
    assert!(points.len() >= 8, "{points:#?}");
    for point in points {
        assert_eq!(
            point.attribute("db.system.name"),
            Some(&Value::from(system))
        );
        assert!(point.exemplar.is_some());
    }
}

#[tokio::test]
async fn one_pool_type_on_sqlite_chosen_by_a_sqlite_url() {
    let file = std::env::temp_dir().join(format!("{}.db", unique("hyperion-any")));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let (telemetry, store) = memory().await;
    let pool = connect(&url, &telemetry).await;

    let (snapshot, code) = run_the_same_code(&pool, &telemetry, &store, "users").await;
    pool.inner().close().await;
    let _ = std::fs::remove_file(&file);

    // SQLITE_CONSTRAINT_UNIQUE, as SQLite's own driver gives it.
    assert_eq!(code, "2067");
    assert_the_same_shape(&snapshot, "users", "sqlite", &code);
    let namespace = file.file_name().unwrap().to_string_lossy().into_owned();
    for span in snapshot.spans.iter().filter(|s| s.name != "handler") {
        assert_eq!(str_attr(span, "db.namespace"), namespace, "{span:#?}");
        assert!(span.attribute("server.address").is_none(), "{span:#?}");
        assert!(span.attribute("server.port").is_none(), "{span:#?}");
    }
    let max = snapshot.points("db.client.connection.max");
    assert_eq!(
        max[0].attribute("db.client.connection.pool.name"),
        Some(&Value::from(namespace))
    );
}

#[tokio::test]
async fn one_pool_type_on_postgresql_chosen_by_a_postgres_url() {
    let url = postgres_url();
    let (telemetry, store) = memory().await;
    let pool = connect(&url, &telemetry).await;
    let table = unique("users");

    let (snapshot, code) = run_the_same_code(&pool, &telemetry, &store, &table).await;

    // unique_violation, as PostgreSQL's own driver gives it.
    assert_eq!(code, "23505");
    assert_the_same_shape(&snapshot, &table, "postgresql", &code);
    let url: sqlx_core::Url = url.parse().unwrap();
    let database = url.path().trim_start_matches('/');
    for span in snapshot.spans.iter().filter(|s| s.name != "handler") {
        assert_eq!(str_attr(span, "db.namespace"), database, "{span:#?}");
        assert_eq!(
            str_attr(span, "server.address"),
            url.host_str().unwrap(),
            "{span:#?}"
        );
        assert_eq!(
            span.attribute("server.port"),
            Some(&Value::I64(i64::from(url.port().unwrap_or(5432))))
        );
    }
    // Through `Any` the error is still PostgreSQL's: the constraint and table are named.
    let failed = snapshot.spans.iter().find(|s| s.status.is_error()).unwrap();
    let message = format!("{:?}", failed.event("exception").unwrap().attributes);
    assert!(message.contains("SQLSTATE 23505"), "{message}");
    assert!(message.contains(&format!("table {table}")), "{message}");
}

/// Through `Any`, an SQLite URL is read by SQLite's driver, as `TracedPool<Sqlite>` reads it: an
/// in-memory database named by no file has no `db.namespace` (its pool is named `sqlite`), and
/// each `sqlite::memory:` pool has sqlx's own name for its database. A statement that writes
/// nothing records no change count (SQLite's would be the last write's), and the text is read by
/// SQLite's rules (a double-quoted string is hidden, `[users]` is a name).
#[tokio::test]
async fn an_sqlite_url_is_described_and_read_as_sqlite_reads_it() {
    let (telemetry, store) = memory().await;
    for url in ["sqlite://?mode=memory", "sqlite:?mode=memory"] {
        store.clear();
        let pool = connect(url, &telemetry).await;
        sqlx::query("SELECT 1")
            .fetch_one(pool.with(&telemetry.context()))
            .await
            .unwrap();
        telemetry.flush(Duration::from_secs(1)).await.unwrap();
        let snapshot = store.snapshot();
        let span = snapshot.span("SELECT").span().clone();
        assert_eq!(str_attr(&span, "db.system.name"), "sqlite");
        assert!(span.attribute("db.namespace").is_none(), "{url}: {span:#?}");
        let max = snapshot.points("db.client.connection.max");
        assert_eq!(
            max[0].attribute("db.client.connection.pool.name"),
            Some(&Value::from("sqlite")),
            "{url}"
        );
        pool.inner().close().await;
    }

    let mut names = Vec::new();
    for _ in 0..2 {
        store.clear();
        let pool = connect("sqlite::memory:", &telemetry).await;
        sqlx::query("SELECT 1")
            .fetch_one(pool.with(&telemetry.context()))
            .await
            .unwrap();
        telemetry.flush(Duration::from_secs(1)).await.unwrap();
        let snapshot = store.snapshot();
        let span = snapshot.span("SELECT").span().clone();
        let name = str_attr(&span, "db.namespace").to_owned();
        assert!(name.starts_with("file:sqlx-in-memory-"), "{name}");
        names.push(name);
        pool.inner().close().await;
    }
    assert_ne!(names[0], names[1]);

    // One connection, so that every statement runs where the INSERT ran.
    store.clear();
    let file = std::env::temp_dir().join(format!("{}.db", unique("hyperion-any-changes")));
    sqlx::any::install_default_drivers();
    let plain = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .unwrap();
    let pool: TracedPool<Any> = TracedPool::new(plain, &telemetry);
    let ctx = telemetry.context();
    let db = pool.with(&ctx);
    sqlx::query("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT)")
        .execute(db)
        .await
        .unwrap();
    let done = sqlx::query("INSERT INTO [users] (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .execute(db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 3);
    let found: Vec<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = \"SECRET\"")
        .fetch_all(db)
        .await
        .unwrap();
    assert!(found.is_empty());
    let created = sqlx::query("CREATE TABLE other (id BIGINT)")
        .execute(db)
        .await
        .unwrap();
    assert_eq!(
        created.rows_affected(),
        3,
        "SQLite's count, still the INSERT's"
    );
    pool.inner().close().await;
    let _ = std::fs::remove_file(&file);

    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    let snapshot = store.snapshot();
    let insert = snapshot.span("INSERT users").span();
    assert_eq!(
        insert.attribute("hyperion.db.affected_rows"),
        Some(&Value::I64(3))
    );
    let create = snapshot.span("CREATE other").span();
    assert!(
        create.attribute("hyperion.db.affected_rows").is_none(),
        "{create:#?}"
    );
    let select = snapshot.span("SELECT users").span();
    assert_eq!(
        str_attr(select, "db.query.text"),
        "SELECT id FROM users WHERE name = ?"
    );
}
