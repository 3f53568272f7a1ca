//! [`TracedPool`] and [`WithContext`]: the executors that trace statements run on the pool.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt;
use hyperion::context::with_current_span_context;
use hyperion::{Context, Telemetry};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Either, Error, Execute, Executor, Pool, SqlStr};
use sqlx_core::ext::async_stream::TryAsyncStream;

use crate::database::TracedDatabase;
use crate::execute::Captured;
use crate::instrument::{Operation, Options, QueryText, Shared};
use crate::transaction::TracedTransaction;

database_generic! {
    /// A pool whose statements are traced and measured. Made from a [`Pool`] in one line where
    /// the pool is made; the rest of the code passes it where it passed the pool.
    ///
    /// ```no_run
    /// use hyperion::Telemetry;
    /// use hyperion_sqlx::TracedPool;
    ///
    /// # async fn run(telemetry: Telemetry) -> Result<(), sqlx::Error> {
    /// let pool = TracedPool::new(sqlx::PgPool::connect("postgres://localhost/app").await?, &telemetry);
    ///
    /// let ctx = telemetry.context(); // in a handler: the request's context
    /// let (id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE email = $1")
    ///     .bind("ada@example.com")
    ///     .fetch_one(pool.with(&ctx)) // span `SELECT users`, child of ctx's span
    ///     .await?;
    /// # let _ = id;
    /// # Ok(()) }
    /// ```
    ///
    /// The database is the pool's, a [`TracedDatabase`]: PostgreSQL (`TracedPool` alone is
    /// `TracedPool<Postgres>`, with the default feature `postgres`), SQLite
    /// (`TracedPool<Sqlite>`, feature `sqlite`), or either chosen at run time by the URL
    /// (`TracedPool<Any>`, feature `any`; see [the crate docs](crate#one-type-either-database)).
    ///
    /// It is an [`Executor`] two ways:
    ///
    /// - [`pool.with(&ctx)`](Self::with): the statement's span is a child of `ctx`'s span. This
    ///   is the way to use: the parent is explicit, as everywhere in the facade.
    /// - `&pool`: the parent is the span the calling code runs under through the core's bridge
    ///   ([`with_current_span_context`]), read when the statement starts (that is, when the
    ///   query's future is first polled); a new trace when there is none. Convenient inside an
    ///   intercepted call or a handler behind `hyperion-tower`'s layer, whose futures are polled
    ///   in scope.
    ///
    /// Code generic over the database needs what sqlx's own pool needs to be an executor:
    /// `for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>`.
    ///
    /// Cloning is cheap (the pool and the telemetry are shared).
    pub struct TracedPool<DB> {
        pool: Pool<DB>,
        shared: Arc<Shared>,
    }
}

impl<DB: TracedDatabase> Clone for TracedPool<DB> {
    fn clone(&self) -> Self {
        TracedPool {
            pool: self.pool.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The body of the pool's calls that take a connection themselves (`fetch_optional`,
/// `fetch_all`, `execute`): straight to sqlx when nothing records; else the statement's
/// operation, a measured acquire, the call on the connection (`$on`), a measured release.
macro_rules! on_connection {
    ($this:ident, $ctx:ident, $query:ident, $plain:ident, $on:ident) => {{
        if !$this.shared.records() {
            return (&$this.pool).$plain($query);
        }
        let query = Captured::new($query);
        let operation = $this.shared.start(&$this.parent($ctx), query.text());
        let this = $this.clone();
        Box::pin(async move {
            let mut conn = match this.acquire().await {
                Ok(conn) => conn,
                Err(error) => {
                    finish(operation, Some(&error));
                    return Err(error);
                }
            };
            let result = $on::<DB>(&mut *conn, query, operation).await;
            this.release(conn);
            result
        })
    }};
}

impl<DB: TracedDatabase> TracedPool<DB> {
    /// Traces every statement run on `pool` into `telemetry`, with the default options:
    /// sanitized `db.query.text`, no `db.operation.name`/`db.collection.name`, and a warning
    /// log line for statements slower than one second (sqlx's own threshold). The database is
    /// the pool's: `TracedPool::new(pg_pool, ..)` is a `TracedPool<Postgres>`,
    /// `TracedPool::new(sqlite_pool, ..)` a `TracedPool<Sqlite>`.
    pub fn new(pool: Pool<DB>, telemetry: &Telemetry) -> Self {
        let shared = Arc::new(Shared::new(&pool, telemetry, Options::default()));
        TracedPool { pool, shared }
    }

    fn options_mut(&mut self) -> &mut Options {
        // Each option is set before the pool is shared, but a clone may exist: copy on write.
        if Arc::get_mut(&mut self.shared).is_none() {
            self.shared = Arc::new(self.shared.duplicate());
        }
        &mut Arc::get_mut(&mut self.shared)
            .expect("the shared state was just made unique")
            .options
    }

    /// How much of each statement's text `db.query.text` records: [`QueryText::Sanitized`] (the
    /// default), [`QueryText::Full`] or [`QueryText::Off`].
    ///
    /// ```
    /// # fn f(pool: hyperion_sqlx::TracedPool) {
    /// use hyperion_sqlx::QueryText;
    /// let pool = pool.query_text(QueryText::Full);
    /// # drop(pool); }
    /// ```
    #[must_use]
    pub fn query_text(mut self, text: QueryText) -> Self {
        self.options_mut().query_text = text;
        self
    }

    /// Also records `db.operation.name` and `db.collection.name`, read from the statement's text
    /// when it has exactly one operation (and, for the collection, one table). Off by default:
    /// the SQL conventions say these "SHOULD NOT be extracted from `db.query.text`"
    /// (one text can hold several operations); `db.query.summary` carries both in every case.
    /// Turn it on for dashboards that group by them.
    #[must_use]
    pub fn operation_attributes(mut self, on: bool) -> Self {
        self.options_mut().operation_attributes = on;
        self
    }

    /// Statements taking at least `threshold` also write a warning log line carrying the trace
    /// and span ids (`None`: never). The default is one second, as sqlx's.
    #[must_use]
    pub fn slow_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.options_mut().slow_threshold = threshold;
        self
    }

    /// An executor whose statements are children of `ctx`'s span.
    pub fn with<'a>(&'a self, ctx: &'a Context) -> WithContext<'a, DB> {
        WithContext { pool: self, ctx }
    }

    /// Begins a transaction whose span is a child of `ctx`'s span; the statements run on the
    /// transaction are its children. See [`TracedTransaction`].
    pub async fn begin(&self, ctx: &Context) -> Result<TracedTransaction<DB>, Error> {
        let parent = if self.shared.records() {
            self.parent(Some(ctx))
        } else {
            ctx.clone()
        };
        TracedTransaction::begin(&self.pool, &self.shared, parent).await
    }

    /// The pool, for what this type does not wrap (closing it, its options, `acquire`).
    /// Statements run on it directly are not traced.
    pub fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The parent of a statement's span in this pool's telemetry: `ctx` (a context of another
    /// telemetry keeps its trace and baggage), else the bridge's current span, else none.
    fn parent(&self, ctx: Option<&Context>) -> Context {
        let root = &self.shared.root;
        match ctx {
            Some(ctx) if ctx.same_telemetry(root) => ctx.clone(),
            Some(ctx) => root
                .with_span_context(ctx.span_context().clone())
                .with_baggage(ctx.baggage().clone()),
            None => with_current_span_context(|current| {
                if current.is_valid() {
                    root.with_span_context(current.clone())
                } else {
                    root.clone()
                }
            }),
        }
    }

    /// Takes a connection out of the pool, recording the wait (and a timeout) and the pool's
    /// counts.
    async fn acquire(&self) -> Result<PoolConnection<DB>, Error> {
        let measure = self.shared.measures_pool();
        let started = measure.then(Instant::now);
        let result = self.pool.acquire().await;
        if let Some(started) = started {
            let timed_out = matches!(result, Err(Error::PoolTimedOut));
            self.shared
                .record_acquire(&self.pool, started.elapsed(), timed_out);
        }
        result
    }

    /// Gives a connection back to the pool, recording the pool's counts with it returned.
    fn release(&self, conn: PoolConnection<DB>) {
        if self.shared.measures_pool() {
            self.shared.record_release(&self.pool);
        }
        drop(conn);
    }
}

/// The statements: where sqlx's own pool is an executor (its connections are executors).
impl<DB: TracedDatabase> TracedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn traced_fetch_many<'e, 'q: 'e, E>(&self, ctx: Option<&Context>, query: E) -> Results<'e, DB>
    where
        E: 'q + Execute<'q, DB>,
    {
        if !self.shared.records() {
            return (&self.pool).fetch_many(query);
        }
        let query = Captured::new(query);
        let operation = self.shared.start(&self.parent(ctx), query.text());
        let this = self.clone();
        // A stream that owns its connection: sqlx's own generator (`TryAsyncStream`, public in
        // sqlx-core and what `&Pool` uses for the same purpose), so that taking the connection
        // out of the pool is measured here as for the other calls.
        let rows = TryAsyncStream::new(move |yielder| async move {
            let mut conn = this.acquire().await?;
            let result = async {
                let mut rows = conn.fetch_many(query);
                while let Some(row) = rows.try_next().await? {
                    yielder.r#yield(row).await;
                }
                Ok(())
            }
            .await;
            this.release(conn);
            result
        });
        traced_stream::<DB>(Box::pin(rows), operation)
    }

    fn traced_fetch_optional<'e, 'q: 'e, E>(
        &self,
        ctx: Option<&Context>,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        on_connection!(self, ctx, query, fetch_optional, fetch_optional_on)
    }

    fn traced_fetch_all<'e, 'q: 'e, E>(
        &self,
        ctx: Option<&Context>,
        query: E,
    ) -> BoxFuture<'e, Result<Vec<DB::Row>, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        on_connection!(self, ctx, query, fetch_all, fetch_all_on)
    }

    fn traced_execute<'e, 'q: 'e, E>(
        &self,
        ctx: Option<&Context>,
        query: E,
    ) -> BoxFuture<'e, Result<DB::QueryResult, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        on_connection!(self, ctx, query, execute, execute_on)
    }
}

impl<DB: TracedDatabase> fmt::Debug for TracedPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedPool")
            .field("pool", &self.pool)
            .field("options", &self.shared.options)
            .finish()
    }
}

database_generic! {
    /// An executor that runs statements on a [`TracedPool`] as children of a given context's
    /// span; made by [`TracedPool::with`]. It is `Copy`: make one per request and pass it to
    /// every query.
    ///
    /// ```no_run
    /// # async fn run(pool: hyperion_sqlx::TracedPool, ctx: hyperion::Context) -> Result<(), sqlx::Error> {
    /// let db = pool.with(&ctx);
    /// sqlx::query("UPDATE users SET seen = now() WHERE id = $1").bind(7_i64).execute(db).await?;
    /// let rows = sqlx::query("SELECT id FROM orders WHERE user_id = $1").bind(7_i64).fetch_all(db).await?;
    /// # drop(rows); Ok(()) }
    /// ```
    #[derive(Debug)]
    pub struct WithContext<'a, DB> {
        pool: &'a TracedPool<DB>,
        ctx: &'a Context,
    }
}

impl<DB: TracedDatabase> Clone for WithContext<'_, DB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<DB: TracedDatabase> Copy for WithContext<'_, DB> {}

/// Implements [`Executor`] for a type whose `self.target()` gives `(&TracedPool, Option<&Context>)`.
macro_rules! pool_executor {
    ($lt:lifetime, $ty:ty, |$this:ident| $target:expr) => {
        impl<$lt, DB: TracedDatabase> Executor<$lt> for $ty
        where
            for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        {
            type Database = DB;

            fn fetch_many<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, Error>>
            where
                $lt: 'e,
                E: 'q + Execute<'q, DB>,
            {
                let $this = self;
                let (pool, ctx) = $target;
                pool.traced_fetch_many(ctx, query)
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
            where
                $lt: 'e,
                E: 'q + Execute<'q, DB>,
            {
                let $this = self;
                let (pool, ctx) = $target;
                pool.traced_fetch_optional(ctx, query)
            }

            fn fetch_all<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<Vec<DB::Row>, Error>>
            where
                $lt: 'e,
                E: 'q + Execute<'q, DB>,
            {
                let $this = self;
                let (pool, ctx) = $target;
                pool.traced_fetch_all(ctx, query)
            }

            fn execute<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<DB::QueryResult, Error>>
            where
                $lt: 'e,
                E: 'q + Execute<'q, DB>,
            {
                let $this = self;
                let (pool, ctx) = $target;
                pool.traced_execute(ctx, query)
            }

            /// Prepares on the pool; not traced (sqlx prepares statements by itself, inside
            /// the traced calls, and caches them per connection).
            fn prepare_with<'e>(
                self,
                sql: SqlStr,
                parameters: &'e [DB::TypeInfo],
            ) -> BoxFuture<'e, Result<DB::Statement, Error>>
            where
                $lt: 'e,
            {
                let $this = self;
                let (pool, _) = $target;
                (&pool.pool).prepare_with(sql, parameters)
            }

            #[doc(hidden)]
            fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<DB>, Error>>
            where
                $lt: 'e,
            {
                let $this = self;
                let (pool, _) = $target;
                (&pool.pool).describe(sql)
            }
        }
    };
}

pool_executor!('p, &'p TracedPool<DB>, |this| (this, None::<&Context>));
pool_executor!('p, WithContext<'p, DB>, |this| (this.pool, Some(this.ctx)));

/// A statement's rows or results, as sqlx streams them.
type Results<'e, DB> =
    BoxStream<'e, Result<Either<<DB as Database>::QueryResult, <DB as Database>::Row>, Error>>;

/// Wraps a statement's row stream: counts rows and affected rows, and finishes the operation
/// at the stream's end or first error (or ends its span, unfinished, if the stream is dropped
/// before).
pub(crate) fn traced_stream<DB: TracedDatabase>(
    inner: Results<'_, DB>,
    operation: Option<Operation>,
) -> Results<'_, DB> {
    match operation {
        None => inner,
        Some(operation) => Box::pin(TracedStream::<DB> {
            inner,
            operation: Some(operation),
        }),
    }
}

struct TracedStream<'e, DB: Database> {
    inner: Results<'e, DB>,
    operation: Option<Operation>,
}

impl<DB: TracedDatabase> Stream for TracedStream<'_, DB> {
    type Item = Result<Either<DB::QueryResult, DB::Row>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = std::task::ready!(this.inner.as_mut().poll_next(cx));
        match (&item, this.operation.as_mut()) {
            (Some(Ok(Either::Left(result))), Some(operation)) => {
                operation.add_affected(DB::rows_affected(result));
            }
            (Some(Ok(Either::Right(_))), Some(operation)) => operation.add_rows(1),
            (Some(Err(error)), Some(_)) => {
                if let Some(operation) = this.operation.take() {
                    operation.finish(Some(error));
                }
            }
            (None, Some(_)) => {
                if let Some(operation) = this.operation.take() {
                    operation.finish(None);
                }
            }
            (_, None) => {}
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// Finishes an operation, if there is one.
pub(crate) fn finish(operation: Option<Operation>, error: Option<&Error>) {
    if let Some(operation) = operation {
        operation.finish(error);
    }
}

/// `fetch_optional` on a connection, finishing the operation.
pub(crate) async fn fetch_optional_on<DB: TracedDatabase>(
    conn: &mut DB::Connection,
    query: Captured<DB>,
    operation: Option<Operation>,
) -> Result<Option<DB::Row>, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let result = conn.fetch_optional(query).await;
    if let Some(mut operation) = operation {
        match &result {
            Ok(row) => {
                operation.add_rows(u64::from(row.is_some()));
                operation.finish(None);
            }
            Err(error) => operation.finish(Some(error)),
        }
    }
    result
}

/// `fetch_all` on a connection, finishing the operation.
pub(crate) async fn fetch_all_on<DB: TracedDatabase>(
    conn: &mut DB::Connection,
    query: Captured<DB>,
    operation: Option<Operation>,
) -> Result<Vec<DB::Row>, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let result = conn.fetch_all(query).await;
    if let Some(mut operation) = operation {
        match &result {
            Ok(rows) => {
                operation.add_rows(rows.len() as u64);
                operation.finish(None);
            }
            Err(error) => operation.finish(Some(error)),
        }
    }
    result
}

/// `execute` on a connection, finishing the operation.
pub(crate) async fn execute_on<DB: TracedDatabase>(
    conn: &mut DB::Connection,
    query: Captured<DB>,
    operation: Option<Operation>,
) -> Result<DB::QueryResult, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let result = conn.execute(query).await;
    if let Some(mut operation) = operation {
        match &result {
            Ok(done) => {
                operation.add_affected(DB::rows_affected(done));
                operation.finish(None);
            }
            Err(error) => operation.finish(Some(error)),
        }
    }
    result
}
