//! The services' databases: connected by URL, tables created and seeded at start.
//!
//! The SQL is written once for SQLite and PostgreSQL (`$1` placeholders, `BIGINT` and `TEXT`
//! columns, `ON CONFLICT DO NOTHING`), so that the same binary runs on an embedded SQLite file
//! or on a server.

use std::time::Duration;

use hyperion::Telemetry;
use hyperion_sqlx::TracedPool;
use sqlx::Executor;

use crate::runtime::BoxError;

/// A traced pool: every statement is a CLIENT span with a duration histogram. `Any`: SQLite or
/// PostgreSQL, by the URL.
pub type Pool = TracedPool<sqlx::Any>;

/// The seeded users: `(name, tier)`; user `n` is the `n`th (ids 1 to 50 repeat the list).
const PEOPLE: [(&str, &str); 10] = [
    ("Ada Lovelace", "gold"),
    ("Alan Turing", "standard"),
    ("Grace Hopper", "gold"),
    ("Edsger Dijkstra", "standard"),
    ("Barbara Liskov", "standard"),
    ("Donald Knuth", "gold"),
    ("Frances Allen", "standard"),
    ("Ken Thompson", "standard"),
    ("Margaret Hamilton", "gold"),
    ("John Backus", "standard"),
];

/// How many users are seeded (ids 1 to this).
pub const SEEDED_USERS: i64 = 50;

/// The catalog: `(item, price in cents)`.
pub const CATALOG: [(&str, i64); 5] = [
    ("book", 1_299),
    ("pen", 199),
    ("lamp", 4_599),
    ("chair", 8_999),
    ("mug", 899),
];

/// Connects to `url`.
///
/// # Errors
///
/// The URL is not `sqlite:` or `postgres://`, or the database cannot be reached; the message
/// names the URL without its password.
pub async fn connect(url: &str, telemetry: &Telemetry) -> Result<Pool, BoxError> {
    sqlx::any::install_default_drivers();
    // Connecting retries until the acquire timeout: long enough for a database that is still
    // starting, short enough that a wrong URL is reported promptly.
    let plain = sqlx::any::AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to the database at {}: {e}", redact(url)))?;
    if url.starts_with("sqlite:") {
        // Write-ahead logging (kept in the file): readers do not wait for the writer, and
        // writers wait for each other (sqlx's busy timeout) instead of failing.
        plain.execute("PRAGMA journal_mode = WAL").await?;
    }
    Ok(TracedPool::new(plain, telemetry))
}

/// A URL with its password replaced, for messages: the one after the user name (up to the
/// last `@`, which a password may contain) and a `password=` query parameter.
pub fn redact(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (url, None),
    };
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            // The authority ends at the first `/` after the last `@` of the credentials.
            let (authority, path) = match rest.rsplit_once('@') {
                Some((credentials, host)) => (Some(credentials), host),
                None => (None, rest),
            };
            match authority.and_then(|credentials| credentials.split_once(':')) {
                Some((user, _)) => format!("{scheme}://{user}:***@{path}"),
                None => format!("{scheme}://{}", rest),
            }
        }
        None => url.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Creates the user service's table and seeds it (untraced: start-up, not traffic).
///
/// # Errors
///
/// A statement fails.
pub async fn migrate_users(pool: &Pool) -> Result<(), BoxError> {
    let inner = pool.inner();
    inner
        .execute(
            "CREATE TABLE IF NOT EXISTS users (
                id BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                email TEXT NOT NULL,
                tier TEXT NOT NULL,
                order_count BIGINT NOT NULL DEFAULT 0
            )",
        )
        .await?;
    for id in 1..=SEEDED_USERS {
        let (name, tier) = PEOPLE[(id as usize - 1) % PEOPLE.len()];
        let email = format!(
            "{}.{id}@example.com",
            name.split(' ').next().unwrap_or("user").to_lowercase()
        );
        sqlx::query(
            "INSERT INTO users (id, name, email, tier) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(email)
        .bind(tier)
        .execute(inner)
        .await?;
    }
    Ok(())
}

/// Creates the order service's tables and seeds the catalog (untraced: start-up, not traffic).
///
/// # Errors
///
/// A statement fails.
pub async fn migrate_orders(pool: &Pool) -> Result<(), BoxError> {
    let inner = pool.inner();
    inner
        .execute(
            "CREATE TABLE IF NOT EXISTS items (
                name TEXT PRIMARY KEY,
                price_cents BIGINT NOT NULL
            )",
        )
        .await?;
    inner
        .execute(
            "CREATE TABLE IF NOT EXISTS orders (
                id TEXT PRIMARY KEY,
                user_id BIGINT NOT NULL,
                item TEXT NOT NULL,
                quantity BIGINT NOT NULL,
                amount_cents BIGINT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )",
        )
        .await?;
    inner
        .execute("CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, created_at_ms)")
        .await?;
    inner
        .execute(
            "CREATE TABLE IF NOT EXISTS order_events (
                order_id TEXT NOT NULL,
                event TEXT NOT NULL,
                at_ms BIGINT NOT NULL
            )",
        )
        .await?;
    for (name, price) in CATALOG {
        sqlx::query(
            "INSERT INTO items (name, price_cents) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(price)
        .execute(inner)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/users"),
            "postgres://app:***@db:5432/users"
        );
        assert_eq!(
            redact("postgres://app:p@ss@db/users?sslmode=require&password=x"),
            "postgres://app:***@db/users?sslmode=require&password=***"
        );
        assert_eq!(
            redact("nats://demo:secret@nats:4222"),
            "nats://demo:***@nats:4222"
        );
        assert_eq!(redact("postgres://app@db/users"), "postgres://app@db/users");
        assert_eq!(redact("sqlite:/tmp/users.db"), "sqlite:/tmp/users.db");
    }
}
