//! The traced pool against the machine's real PostgreSQL (`HYPERION_TEST_DATABASE_URL`, by
//! default `postgres://postgres@127.0.0.1:5432/test`), recorded by the `memory` module: spans,
//! attributes, sanitized text, SQLSTATE errors, transactions, the bridge fallback, the duration
//! histogram's exemplars, pool metrics, the slow-statement log line and the no-op path.
//!
//! Each test works in tables of its own (a random suffix), dropped at the end, so tests run in
//! parallel and again without interfering. A missing server fails every test with the address.

#![cfg(feature = "postgres")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use hyperion::testing::{MemoryModule, MemoryStore, RecordedSpan, Snapshot};
use hyperion::{Config, Context, Level, SpanKind, SpanOptions, Status, Telemetry, Value};
use hyperion_sqlx::{OPERATION_DURATION_METRIC, QueryText, TracedPool};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

fn database_url() -> String {
    std::env::var("HYPERION_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn connect(max: u32) -> PgPool {
    let url = database_url();
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url} ({e}): these tests need a real server; \
                 start it (scripts/setup.sh does) or set HYPERION_TEST_DATABASE_URL"
            )
        })
}

async fn memory_with(yaml: &str) -> (Telemetry, MemoryStore) {
    let memory = MemoryModule::new();
    let store = memory.store();
    let telemetry = Telemetry::builder()
        .module(memory)
        .config(Config::from_yaml_str(yaml).unwrap())
        .build()
        .await
        .unwrap();
    (telemetry, store)
}

async fn flushed(telemetry: &Telemetry, store: &MemoryStore) -> Snapshot {
    telemetry.flush(Duration::from_secs(1)).await.unwrap();
    store.snapshot()
}

/// A table name of this test's own.
fn table(prefix: &str) -> String {
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

/// Creates `users_…` (id, email unique, name, orders) on the plain pool, untraced.
async fn users_table(pool: &PgPool) -> String {
    let name = table("users");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {name} (id bigint PRIMARY KEY, email text UNIQUE NOT NULL, name text, orders int NOT NULL DEFAULT 0)"
    )))
    .execute(pool)
    .await
    .unwrap();
    name
}

async fn drop_table(pool: &PgPool, name: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
        .execute(pool)
        .await
        .unwrap();
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
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
    for log in &snapshot.logs {
        push(&mut all, &log.attributes);
        all.push(log.message.clone());
    }
    all
}

#[tokio::test]
async fn a_select_is_a_client_span_named_by_its_summary_with_every_attribute_and_an_exemplar() {
    let plain = connect(2).await;
    let users = users_table(&plain).await;
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain.clone(), &telemetry);

    let (ctx, mut parent) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    sqlx::query(sql(format!(
        "INSERT INTO {users} (id, email, name) VALUES ($1, $2, 'Ada Lovelace'), (2, 'bob@example.com', 'Bob')"
    )))
    .bind(1_i64)
    .bind("ada@example.com")
    .execute(pool.with(&ctx))
    .await
    .unwrap();
    let rows = sqlx::query(sql(format!(
        "SELECT id, name FROM {users} WHERE email <> 'carol@example.com' AND id < $1 ORDER BY id"
    )))
    .bind(10_i64)
    .fetch_all(pool.with(&ctx))
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<String, _>("name"), "Ada Lovelace");
    parent.end();

    let snapshot = flushed(&telemetry, &store).await;
    let select = snapshot.span(&format!("SELECT {users}")).span().clone();
    let insert = snapshot.span(&format!("INSERT {users}")).span().clone();
    for span in [&select, &insert] {
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.context.trace_id(), parent.span_context().trace_id());
        assert_eq!(span.parent_span_id, Some(parent.span_context().span_id()));
        assert_eq!(str_attr(span, "db.system.name"), "postgresql");
        assert_eq!(str_attr(span, "db.namespace"), "test");
        assert_eq!(str_attr(span, "server.address"), "127.0.0.1");
        assert_eq!(int_attr(span, "server.port"), 5432);
        assert_eq!(span.status, Status::Unset);
        // Not extracted by default (the PostgreSQL conventions: SHOULD NOT).
        assert!(span.attribute("db.operation.name").is_none());
        assert!(span.attribute("db.collection.name").is_none());
    }
    assert_eq!(
        str_attr(&select, "db.query.summary"),
        format!("SELECT {users}")
    );
    assert_eq!(
        str_attr(&select, "db.query.text"),
        format!("SELECT id, name FROM {users} WHERE email <> ? AND id < $1 ORDER BY id")
    );
    assert_eq!(int_attr(&select, "db.response.returned_rows"), 2);
    assert_eq!(
        str_attr(&insert, "db.query.text"),
        format!("INSERT INTO {users} (id, email, name) VALUES ($1, $2, ?), (?, ?, ?)")
    );
    assert_eq!(int_attr(&insert, "hyperion.db.affected_rows"), 2);
    assert_eq!(int_attr(&insert, "db.response.returned_rows"), 0);

    // No literal of either statement, nor a bound parameter, anywhere.
    for value in every_string(&snapshot) {
        for secret in ["Lovelace", "bob@", "carol@", "ada@", "Bob"] {
            assert!(!value.contains(secret), "{secret} leaked in {value}");
        }
    }

    // The duration histogram: one point per statement, seconds, the span as exemplar.
    let points = snapshot.points(OPERATION_DURATION_METRIC);
    assert_eq!(points.len(), 2, "{points:#?}");
    for (point, span) in points.iter().zip([&insert, &select]) {
        assert_eq!(point.instrument.unit, "s");
        assert_eq!(
            point.instrument.boundaries.as_deref(),
            Some(&hyperion_sqlx::DURATION_BOUNDARIES[..])
        );
        let exemplar = point.exemplar.as_ref().expect("an exemplar");
        assert_eq!(exemplar.span_id(), span.context.span_id());
        assert_eq!(exemplar.trace_id(), span.context.trace_id());
        assert_eq!(
            point.attribute("db.query.summary"),
            span.attribute("db.query.summary")
        );
        assert_eq!(
            point.attribute("db.system.name"),
            Some(&Value::from("postgresql"))
        );
        assert!(point.attribute("db.query.text").is_none());
        let seconds = point.value.as_f64();
        let span_seconds = span
            .end_time
            .duration_since(span.start_time)
            .unwrap()
            .as_secs_f64();
        assert!(
            seconds > 0.0 && seconds <= span_seconds + 0.001,
            "{seconds} vs {span_seconds}"
        );
    }
    drop_table(&plain, &users).await;
}

#[tokio::test]
async fn operation_and_collection_are_recorded_only_when_asked_and_unambiguous() {
    let plain = connect(2).await;
    let users = users_table(&plain).await;
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain.clone(), &telemetry).operation_attributes(true);
    let ctx = telemetry.context();
    sqlx::query(sql(format!("select count(*) from {users}")))
        .fetch_one(pool.with(&ctx))
        .await
        .unwrap();
    sqlx::query(sql(format!(
        "SELECT a.id FROM {users} a JOIN {users} b ON a.id = b.id"
    )))
    .fetch_all(pool.with(&ctx))
    .await
    .unwrap();

    let snapshot = flushed(&telemetry, &store).await;
    let single = snapshot.span(&format!("select {users}")).span().clone();
    assert_eq!(str_attr(&single, "db.operation.name"), "select");
    assert_eq!(str_attr(&single, "db.collection.name"), users);
    let join = snapshot
        .span(&format!("SELECT {users} {users}"))
        .span()
        .clone();
    assert_eq!(str_attr(&join, "db.operation.name"), "SELECT");
    assert!(join.attribute("db.collection.name").is_none());
    // And on the histogram too.
    let point = snapshot
        .points(OPERATION_DURATION_METRIC)
        .into_iter()
        .find(|p| p.attribute("db.collection.name").is_some())
        .expect("a point with the collection");
    assert_eq!(
        point.attribute("db.operation.name"),
        Some(&Value::from("select"))
    );
    drop_table(&plain, &users).await;
}

#[tokio::test]
async fn a_constraint_violation_records_its_sqlstate_without_the_values() {
    let plain = connect(2).await;
    let users = users_table(&plain).await;
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain.clone(), &telemetry);
    let ctx = telemetry.context();
    let insert =
        |id: i64| format!("INSERT INTO {users} (id, email) VALUES ({id}, 'dup@example.com')");
    sqlx::query(sql(insert(1)))
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    // A second user with the same email: the unique constraint on email.
    let error = sqlx::query(sql(insert(2)))
        .execute(pool.with(&ctx))
        .await
        .unwrap_err();
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );

    let snapshot = flushed(&telemetry, &store).await;
    let failed = snapshot
        .spans
        .iter()
        .find(|s| s.status.is_error())
        .expect("a failed span");
    assert_eq!(failed.name, format!("INSERT {users}"));
    assert_eq!(str_attr(failed, "db.response.status_code"), "23505");
    assert_eq!(str_attr(failed, "error.type"), "23505");
    assert!(failed.attribute("db.response.returned_rows").is_none());
    let exception = failed.event("exception").expect("an exception event");
    let message = exception
        .attributes
        .iter()
        .find(|a| a.key.as_str() == "exception.message")
        .map(|a| format!("{:?}", a.value))
        .unwrap();
    assert!(message.contains("SQLSTATE 23505"), "{message}");
    assert!(message.contains(&format!("{users}_email_key")), "{message}");
    assert!(!message.contains("dup@"), "{message}");
    for value in every_string(&snapshot) {
        assert!(!value.contains("dup@"), "a literal leaked: {value}");
    }
    let point = snapshot
        .points(OPERATION_DURATION_METRIC)
        .into_iter()
        .find(|p| p.attribute("error.type").is_some())
        .expect("a failed point");
    assert_eq!(point.attribute("error.type"), Some(&Value::from("23505")));
    assert_eq!(
        point.attribute("db.response.status_code"),
        Some(&Value::from("23505"))
    );

    // With the full text, the server's own message (which quotes the value) is kept.
    store.clear();
    let full = TracedPool::new(plain.clone(), &telemetry).query_text(QueryText::Full);
    sqlx::query(sql(insert(3)))
        .execute(full.with(&ctx))
        .await
        .unwrap_err();
    let snapshot = flushed(&telemetry, &store).await;
    let failed = snapshot.spans.iter().find(|s| s.status.is_error()).unwrap();
    assert!(str_attr(failed, "db.query.text").contains("'dup@example.com'"));
    drop_table(&plain, &users).await;
}

#[tokio::test]
async fn a_transaction_is_a_span_with_its_statements_as_children() {
    let plain = connect(2).await;
    let users = users_table(&plain).await;
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain.clone(), &telemetry);
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("POST /orders", SpanOptions::server());

    let mut tx = pool.begin(&ctx).await.unwrap();
    sqlx::query(sql(format!(
        "INSERT INTO {users} (id, email) VALUES ($1, $2)"
    )))
    .bind(7_i64)
    .bind("t@example.com")
    .execute(&mut tx)
    .await
    .unwrap();
    sqlx::query(sql(format!(
        "UPDATE {users} SET orders = orders + 1 WHERE id = $1"
    )))
    .bind(7_i64)
    .execute(&mut tx)
    .await
    .unwrap();
    let orders: i32 = sqlx::query_scalar(sql(format!("SELECT orders FROM {users} WHERE id = 7")))
        .fetch_one(&mut tx)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    tx.commit().await.unwrap();

    // Rolled back, and dropped: both end their spans with the outcome.
    let tx = pool.begin(&ctx).await.unwrap();
    tx.rollback().await.unwrap();
    let mut tx = pool.begin(&ctx).await.unwrap();
    sqlx::query(sql(format!("DELETE FROM {users}")))
        .execute(&mut tx)
        .await
        .unwrap();
    drop(tx);
    handler.end();

    let count: i64 = sqlx::query_scalar(sql(format!("SELECT count(*) FROM {users}")))
        .fetch_one(&plain)
        .await
        .unwrap();
    assert_eq!(count, 1, "the dropped transaction was rolled back");

    let snapshot = flushed(&telemetry, &store).await;
    let root = snapshot.root("POST /orders");
    let transactions = snapshot.children(root.span());
    assert_eq!(transactions.len(), 3, "{}", snapshot.tree());
    let outcomes: Vec<_> = transactions
        .iter()
        .map(|t| {
            assert_eq!(t.name, "transaction");
            assert_eq!(t.kind, SpanKind::Internal);
            assert_eq!(str_attr(t, "db.system.name"), "postgresql");
            str_attr(t, "hyperion.db.transaction.outcome").to_owned()
        })
        .collect();
    assert_eq!(outcomes, ["committed", "rolled_back", "dropped"]);

    let names = |t: &RecordedSpan| -> Vec<String> {
        let mut children: Vec<_> = snapshot.children(t);
        children.sort_by_key(|s| s.start_time);
        children.iter().map(|s| s.name.clone()).collect()
    };
    assert_eq!(
        names(transactions[0]),
        [
            "BEGIN".to_owned(),
            format!("INSERT {users}"),
            format!("UPDATE {users}"),
            format!("SELECT {users}"),
            "COMMIT".to_owned()
        ]
    );
    assert_eq!(names(transactions[1]), ["BEGIN", "ROLLBACK"]);
    assert_eq!(
        names(transactions[2]),
        ["BEGIN".to_owned(), format!("DELETE {users}")]
    );
    for child in snapshot.children(transactions[0]) {
        assert_eq!(child.kind, SpanKind::Client);
    }
    drop_table(&plain, &users).await;
}

#[tokio::test]
async fn the_plain_pool_reference_takes_its_parent_from_the_bridge() {
    let plain = connect(2).await;
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain, &telemetry);
    let (ctx, mut handler) = telemetry
        .context()
        .start_span("handler", SpanOptions::server());
    let one: i32 = ctx
        .scope(async { sqlx::query_scalar("SELECT 1").fetch_one(&pool).await })
        .await
        .unwrap();
    assert_eq!(one, 1);
    handler.end();
    // Outside any scope: a new trace.
    sqlx::query("SELECT 2").execute(&pool).await.unwrap();

    let snapshot = flushed(&telemetry, &store).await;
    let selects: Vec<_> = snapshot
        .spans
        .iter()
        .filter(|s| s.name == "SELECT")
        .collect();
    assert_eq!(selects.len(), 2);
    assert_eq!(
        selects[0].parent_span_id,
        Some(handler.span_context().span_id())
    );
    assert_eq!(
        selects[0].context.trace_id(),
        handler.span_context().trace_id()
    );
    assert_eq!(selects[1].parent_span_id, None);
    assert_ne!(
        selects[1].context.trace_id(),
        handler.span_context().trace_id()
    );
}

#[tokio::test]
async fn a_stream_counts_its_rows_and_a_stream_dropped_early_still_ends_its_span() {
    let plain = connect(2).await;
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain, &telemetry);
    let ctx = telemetry.context();
    let all: Vec<i32> = sqlx::query_scalar::<_, i32>("SELECT generate_series(1, 5)")
        .fetch(pool.with(&ctx))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all, [1, 2, 3, 4, 5]);
    {
        let mut stream =
            sqlx::query_scalar::<_, i32>("SELECT generate_series(1, 1000)").fetch(pool.with(&ctx));
        assert_eq!(stream.try_next().await.unwrap(), Some(1));
    }
    let snapshot = flushed(&telemetry, &store).await;
    let spans: Vec<_> = snapshot
        .spans
        .iter()
        .filter(|s| s.name == "SELECT")
        .collect();
    assert_eq!(spans.len(), 2, "{}", snapshot.tree());
    assert_eq!(int_attr(spans[0], "db.response.returned_rows"), 5);
    assert_eq!(
        str_attr(spans[0], "db.query.text"),
        "SELECT generate_series(?, ?)"
    );
    // The dropped one: ended, no outcome, and no duration point.
    assert!(spans[1].attribute("db.response.returned_rows").is_none());
    assert_eq!(spans[1].status, Status::Unset);
    assert_eq!(snapshot.points(OPERATION_DURATION_METRIC).len(), 1);
}

#[tokio::test]
async fn a_slow_statement_logs_a_warning_carrying_its_trace() {
    let plain = connect(2).await;
    let (telemetry, store) = memory_with("logging:\n  level: info\n").await;
    let pool = TracedPool::new(plain, &telemetry).slow_threshold(Some(Duration::from_millis(50)));
    let ctx = telemetry.context();
    sqlx::query("SELECT pg_sleep(0.1), 'hidden'")
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    sqlx::query("SELECT 1")
        .execute(pool.with(&ctx))
        .await
        .unwrap();

    let snapshot = flushed(&telemetry, &store).await;
    assert_eq!(
        snapshot.logs.len(),
        1,
        "only the slow one: {:#?}",
        snapshot.logs
    );
    let log = &snapshot.logs[0];
    assert_eq!(log.level, Level::Warn);
    assert_eq!(log.target, "hyperion-sqlx");
    assert!(
        log.message.starts_with("slow statement: SELECT took 0."),
        "{}",
        log.message
    );
    let span = snapshot
        .spans
        .iter()
        .find(|s| str_attr(s, "db.query.text").contains("pg_sleep"))
        .unwrap();
    assert_eq!(log.trace_id, Some(span.context.trace_id()));
    assert_eq!(log.span_id, Some(span.context.span_id()));
    assert_eq!(
        log.attribute("db.query.text"),
        Some(&Value::from("SELECT pg_sleep(?), ?"))
    );
    assert!(!log.message.contains("hidden"));

    // Off: no line however slow.
    store.clear();
    let quiet = TracedPool::new(pool.inner().clone(), &telemetry).slow_threshold(None);
    sqlx::query("SELECT pg_sleep(0.06)")
        .execute(quiet.with(&ctx))
        .await
        .unwrap();
    assert!(flushed(&telemetry, &store).await.logs.is_empty());
}

#[tokio::test]
async fn pool_metrics_count_connections_waits_and_timeouts() {
    let plain = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200))
        .connect(&database_url())
        .await
        .expect("PostgreSQL at HYPERION_TEST_DATABASE_URL");
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain.clone(), &telemetry);
    let ctx = telemetry.context();
    sqlx::query("SELECT 1")
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    // The typed calls (`query_scalar`, `query_as`) go through sqlx's row stream: measured too.
    let rows: Vec<i32> = sqlx::query_scalar("SELECT generate_series(1, 3)")
        .fetch_all(pool.with(&ctx))
        .await
        .unwrap();
    assert_eq!(rows, [1, 2, 3]);

    // Hold the only connection: the next statement times out waiting for one.
    let held = plain.acquire().await.unwrap();
    let error = sqlx::query("SELECT 1")
        .execute(pool.with(&ctx))
        .await
        .unwrap_err();
    assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error}");
    drop(held);
    // The counts are read at each acquire and release: one more statement brings them up to date.
    sqlx::query("SELECT 1")
        .execute(pool.with(&ctx))
        .await
        .unwrap();

    let snapshot = flushed(&telemetry, &store).await;
    let pool_name = "127.0.0.1:5432/test";
    let waits = snapshot.points("db.client.connection.wait_time");
    assert_eq!(waits.len(), 4);
    assert!(waits[2].value.as_f64() >= 0.19, "{waits:#?}");
    for point in &waits {
        assert_eq!(
            point.attribute("db.client.connection.pool.name"),
            Some(&Value::from(pool_name))
        );
    }
    let timeouts = snapshot.points("db.client.connection.timeouts");
    assert_eq!(timeouts.len(), 1);
    let max = snapshot.points("db.client.connection.max");
    assert_eq!(max[0].value.as_f64(), 1.0);
    // The counts' changes add up to the pool's state: one connection, idle at the end.
    let sum = |snapshot: &Snapshot, state: &str| -> f64 {
        snapshot
            .points("db.client.connection.count")
            .iter()
            .filter(|p| p.attribute("db.client.connection.state") == Some(&Value::from(state)))
            .map(|p| p.value.as_f64())
            .sum()
    };
    assert_eq!(sum(&snapshot, "idle"), 1.0);
    assert_eq!(sum(&snapshot, "used"), 0.0);
    // The timed-out statement's span: error.type `timeout`, no SQLSTATE.
    let failed = snapshot.spans.iter().find(|s| s.status.is_error()).unwrap();
    assert_eq!(str_attr(failed, "error.type"), "timeout");
    assert!(failed.attribute("db.response.status_code").is_none());

    // The wrapper gone, what it reported is taken back: no connections, no maximum.
    store.clear();
    drop(pool);
    let snapshot = flushed(&telemetry, &store).await;
    assert_eq!(sum(&snapshot, "idle"), -1.0);
    assert_eq!(sum(&snapshot, "used"), 0.0);
    assert_eq!(
        snapshot.points("db.client.connection.max")[0]
            .value
            .as_f64(),
        -1.0
    );
}

#[tokio::test]
async fn with_noop_telemetry_statements_run_untouched() {
    let plain = connect(2).await;
    let telemetry = Telemetry::noop();
    let pool = TracedPool::new(plain, &telemetry);
    let ctx = Context::noop();
    let n: i64 = sqlx::query_scalar("SELECT $1::bigint + 1")
        .bind(41_i64)
        .fetch_one(pool.with(&ctx))
        .await
        .unwrap();
    assert_eq!(n, 42);
    let rows: Vec<i32> = sqlx::query_scalar("SELECT generate_series(1, 3)")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows, [1, 2, 3]);
    let mut tx = pool.begin(&ctx).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut tx).await.unwrap();
    tx.commit().await.unwrap();

    // And with a telemetry whose signals are all off, nothing is recorded.
    let (telemetry, store) = memory_with(
        "tracing:\n  enabled: false\nmetrics:\n  enabled: false\nlogging:\n  enabled: false\n",
    )
    .await;
    let pool = TracedPool::new(pool.inner().clone(), &telemetry);
    sqlx::query("SELECT 1")
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    let snapshot = flushed(&telemetry, &store).await;
    assert!(snapshot.spans.is_empty() && snapshot.points.is_empty() && snapshot.logs.is_empty());
}

#[tokio::test]
async fn a_failed_commit_is_an_error_and_not_committed() {
    let plain = connect(2).await;
    let name = table("deferred");
    sqlx::raw_sql(sql(format!(
        "CREATE TABLE {name} (id int, CONSTRAINT {name}_id UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
    )))
    .execute(&plain)
    .await
    .unwrap();
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain.clone(), &telemetry);
    let ctx = telemetry.context();
    let mut tx = pool.begin(&ctx).await.unwrap();
    // The constraint is checked at COMMIT: both inserts pass, the commit fails.
    for _ in 0..2 {
        sqlx::query(sql(format!("INSERT INTO {name} (id) VALUES (1)")))
            .execute(&mut tx)
            .await
            .unwrap();
    }
    let error = tx.commit().await.unwrap_err();
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );

    let snapshot = flushed(&telemetry, &store).await;
    let transaction = snapshot.span("transaction").span().clone();
    assert_eq!(
        str_attr(&transaction, "hyperion.db.transaction.outcome"),
        "failed"
    );
    assert!(transaction.status.is_error());
    let commit = snapshot.span("COMMIT").span().clone();
    assert!(commit.status.is_error());
    assert_eq!(str_attr(&commit, "db.response.status_code"), "23505");
    drop_table(&plain, &name).await;
}

#[tokio::test]
async fn rows_affected_are_recorded_only_where_the_command_tag_is_seen() {
    let plain = connect(2).await;
    let users = users_table(&plain).await;
    let (telemetry, store) = memory_with("").await;
    let pool = TracedPool::new(plain.clone(), &telemetry);
    let ctx = telemetry.context();
    let id: i64 = sqlx::query_scalar(sql(format!(
        "INSERT INTO {users} (id, email) VALUES ($1, $2) RETURNING id"
    )))
    .bind(5_i64)
    .bind("r@example.com")
    .fetch_one(pool.with(&ctx))
    .await
    .unwrap();
    assert_eq!(id, 5);
    let done = sqlx::query(sql(format!("UPDATE {users} SET orders = 1")))
        .execute(pool.with(&ctx))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);

    let snapshot = flushed(&telemetry, &store).await;
    let insert = snapshot.span(&format!("INSERT {users}")).span().clone();
    assert_eq!(int_attr(&insert, "db.response.returned_rows"), 1);
    assert!(insert.attribute("hyperion.db.affected_rows").is_none());
    let update = snapshot.span(&format!("UPDATE {users}")).span().clone();
    assert_eq!(int_attr(&update, "hyperion.db.affected_rows"), 1);
    assert_eq!(int_attr(&update, "db.response.returned_rows"), 0);
    drop_table(&plain, &users).await;
}
