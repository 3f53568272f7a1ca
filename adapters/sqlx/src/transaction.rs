//! [`TracedTransaction`]: a transaction with a span of its own, its statements as children.

use std::fmt;
use std::sync::Arc;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use hyperion::{Context, Span, SpanOptions, Status, kv};
use sqlx::{Either, Error, Execute, Executor, Pool, SqlStr, Transaction};

use crate::database::TracedDatabase;
use crate::execute::Captured;
use crate::instrument::{Operation, Shared};
use crate::pool::{execute_on, fetch_all_on, fetch_optional_on, finish, traced_stream};

/// The name of a transaction's span.
pub const TRANSACTION_SPAN_NAME: &str = "transaction";

database_generic! {
    /// A transaction begun by [`TracedPool::begin`](crate::TracedPool::begin).
    ///
    /// It gets an INTERNAL span named `transaction` (the conventions define none for
    /// transactions), with `db.system.name`, `db.namespace`, `server.address`, `server.port`
    /// (those the database has) and, when it ends, `hyperion.db.transaction.outcome`:
    /// `committed`, `rolled_back`, `failed` (the `COMMIT` or `ROLLBACK` itself failed), or
    /// `dropped` (dropped without either: sqlx rolls it back). Under it, the `BEGIN`, `COMMIT`
    /// and `ROLLBACK` statements and every statement run on `&mut tx` get CLIENT spans like any
    /// other. A failed commit sets the transaction's status to error.
    ///
    /// ```no_run
    /// # async fn run(pool: hyperion_sqlx::TracedPool, ctx: hyperion::Context) -> Result<(), sqlx::Error> {
    /// let mut tx = pool.begin(&ctx).await?;
    /// sqlx::query("INSERT INTO orders (user_id, total) VALUES ($1, $2)")
    ///     .bind(7_i64)
    ///     .bind(1999_i64)
    ///     .execute(&mut tx)
    ///     .await?;
    /// sqlx::query("UPDATE users SET orders = orders + 1 WHERE id = $1").bind(7_i64).execute(&mut tx).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub struct TracedTransaction<DB> {
        /// `None` only once committed or rolled back (both consume `self`).
        tx: Option<Transaction<'static, DB>>,
        shared: Arc<Shared>,
        /// The context under the transaction's span (the parent's when nothing records).
        ctx: Context,
        span: Span,
    }
}

/// `hyperion.db.transaction.outcome`.
pub const TRANSACTION_OUTCOME: &str = "hyperion.db.transaction.outcome";

impl<DB: TracedDatabase> TracedTransaction<DB> {
    pub(crate) async fn begin(
        pool: &Pool<DB>,
        shared: &Arc<Shared>,
        parent: Context,
    ) -> Result<TracedTransaction<DB>, Error> {
        if !shared.records() {
            let tx = pool.begin().await?;
            return Ok(TracedTransaction {
                tx: Some(tx),
                shared: Arc::clone(shared),
                ctx: parent,
                span: Span::noop(),
            });
        }
        let attributes = shared.server_attributes();
        let (ctx, mut span) = parent.start_span(
            TRANSACTION_SPAN_NAME,
            SpanOptions::new().attributes(&attributes),
        );
        let operation = shared.start_fixed(&ctx, "BEGIN");
        let result = pool.begin().await;
        finish(operation, result.as_ref().err());
        match result {
            Ok(tx) => Ok(TracedTransaction {
                tx: Some(tx),
                shared: Arc::clone(shared),
                ctx,
                span,
            }),
            Err(error) => {
                span.set_status(Status::error("BEGIN failed"));
                Err(error)
            }
        }
    }

    /// The context under the transaction's span: for spans of your own inside it.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The sqlx transaction, for what this type does not wrap. Statements run on it directly
    /// are not traced.
    pub fn inner_mut(&mut self) -> &mut Transaction<'static, DB> {
        self.tx
            .as_mut()
            .expect("a transaction is held until commit or rollback consume it")
    }

    /// Commits, with a `COMMIT` span; ends the transaction's span.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.end_with("COMMIT", "committed").await
    }

    /// Rolls back, with a `ROLLBACK` span; ends the transaction's span.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.end_with("ROLLBACK", "rolled_back").await
    }

    async fn end_with(&mut self, statement: &str, outcome: &'static str) -> Result<(), Error> {
        let tx = self
            .tx
            .take()
            .expect("a transaction is held until commit or rollback consume it");
        let operation = self.shared.start_fixed(&self.ctx, statement);
        let result = if statement == "COMMIT" {
            tx.commit().await
        } else {
            tx.rollback().await
        };
        finish(operation, result.as_ref().err());
        if self.span.is_recording() {
            // A failed COMMIT (a deferred constraint, a serialization failure, a lost
            // connection) did not commit: the server rolled back, or nothing is known.
            let outcome = if result.is_err() { "failed" } else { outcome };
            self.span.set_attribute(kv(TRANSACTION_OUTCOME, outcome));
            if result.is_err() {
                self.span
                    .set_status(Status::error(format!("{statement} failed")));
            }
        }
        self.span.end();
        result
    }

    fn connection(&mut self) -> &mut DB::Connection {
        self.inner_mut()
    }

    fn start<'q, E: Execute<'q, DB>>(&self, query: E) -> (Captured<DB>, Option<Operation>) {
        let query = Captured::new(query);
        let operation = self.shared.start(&self.ctx, query.text());
        (query, operation)
    }
}

impl<DB: TracedDatabase> Drop for TracedTransaction<DB> {
    fn drop(&mut self) {
        if self.tx.is_some() && self.span.is_recording() {
            self.span.set_attribute(kv(TRANSACTION_OUTCOME, "dropped"));
        }
    }
}

impl<DB: TracedDatabase> fmt::Debug for TracedTransaction<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedTransaction")
            .field("open", &self.tx.is_some())
            .field("context", &self.ctx)
            .finish()
    }
}

impl<'t, DB: TracedDatabase> Executor<'t> for &'t mut TracedTransaction<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        if !self.shared.records() {
            return self.connection().fetch_many(query);
        }
        let (query, operation) = self.start(query);
        traced_stream::<DB>(self.connection().fetch_many(query), operation)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        if !self.shared.records() {
            return self.connection().fetch_optional(query);
        }
        let (query, operation) = self.start(query);
        Box::pin(fetch_optional_on::<DB>(self.connection(), query, operation))
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<DB::Row>, Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        if !self.shared.records() {
            return self.connection().fetch_all(query);
        }
        let (query, operation) = self.start(query);
        Box::pin(fetch_all_on::<DB>(self.connection(), query, operation))
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<DB::QueryResult, Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        if !self.shared.records() {
            return self.connection().execute(query);
        }
        let (query, operation) = self.start(query);
        Box::pin(execute_on::<DB>(self.connection(), query, operation))
    }

    /// Prepares on the transaction's connection; not traced.
    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        't: 'e,
    {
        self.connection().prepare_with(sql, parameters)
    }

    #[doc(hidden)]
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, Error>>
    where
        't: 'e,
    {
        self.connection().describe(sql)
    }
}
