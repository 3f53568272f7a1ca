//! What every traced statement shares: the pool's description, the instruments, and the
//! [`Operation`] that one statement records from start to end.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyperion::{
    Context, Counter, Histogram, KeyValue, Span, SpanOptions, Telemetry, UpDownCounter, kv,
};
use sqlx::Pool;

use crate::database::{Description, TracedDatabase};
use crate::semconv as sc;
use crate::sql::{self, InfoCache, QueryInfo};

/// How much of a statement's text `db.query.text` records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryText {
    /// Every literal replaced by `?` and comments removed; `$1` parameters kept (the default).
    #[default]
    Sanitized,
    /// The text as sent, literals included. Parameter values are never recorded either way.
    Full,
    /// No `db.query.text` at all (the summary is still recorded).
    Off,
}

/// The options of a [`TracedPool`](crate::TracedPool), set through its builder methods.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) query_text: QueryText,
    pub(crate) operation_attributes: bool,
    pub(crate) slow_threshold: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            query_text: QueryText::Sanitized,
            operation_attributes: false,
            // sqlx's own default for its "slow statement" log line.
            slow_threshold: Some(Duration::from_secs(1)),
        }
    }
}

/// The pool's telemetry: where it records, what it says about the server, its instruments.
pub(crate) struct Shared {
    /// The telemetry's root context: spans start under it when the caller gives no parent.
    pub(crate) root: Context,
    tracing: bool,
    logging: bool,
    pub(crate) options: Options,
    /// `db.system.name`, `db.namespace`, `server.address`, `server.port`.
    description: Description,
    duration: Histogram,
    wait_time: Histogram,
    timeouts: Counter,
    /// The pool's connection counts as reported (shared by the copies
    /// [`duplicate`](Self::duplicate) makes).
    counts: Arc<PoolCounts>,
    /// The statements' texts already read (shared by the copies too).
    cache: Arc<InfoCache>,
}

impl Shared {
    pub(crate) fn new<DB: TracedDatabase>(
        pool: &Pool<DB>,
        telemetry: &Telemetry,
        options: Options,
    ) -> Self {
        let description = DB::describe(&pool.connect_options());
        // Read by the rules of the pool's database.
        let cache = Arc::new(InfoCache::new(description.dialect()));
        let meter = telemetry.meter(env!("CARGO_PKG_NAME"));
        let duration = meter
            .histogram(sc::OPERATION_DURATION_METRIC)
            .description("Duration of database client operations.")
            .unit("s")
            .boundaries(sc::DURATION_BOUNDARIES)
            .build();
        let wait_time = meter
            .histogram(sc::CONNECTION_WAIT_TIME_METRIC)
            .description("The time it took to obtain an open connection from the pool.")
            .unit("s")
            .boundaries(sc::DURATION_BOUNDARIES)
            .build();
        let timeouts = meter
            .counter(sc::CONNECTION_TIMEOUTS_METRIC)
            .description("The number of connection timeouts that have occurred trying to obtain a connection from the pool.")
            .unit("{timeout}")
            .build();
        let counts = Arc::new(PoolCounts::new(
            telemetry,
            &meter,
            description.pool_name(),
            i64::from(pool.options().get_max_connections()),
        ));
        Shared {
            root: telemetry.context(),
            tracing: telemetry.tracer().is_some(),
            logging: telemetry.logger().is_some(),
            options,
            description,
            duration,
            wait_time,
            timeouts,
            counts,
            cache,
        }
    }

    /// A copy with the same description and instruments, for changing the options of a pool that was already cloned.
    pub(crate) fn duplicate(&self) -> Shared {
        Shared {
            root: self.root.clone(),
            tracing: self.tracing,
            logging: self.logging,
            options: self.options.clone(),
            description: self.description.clone(),
            duration: self.duration.clone(),
            wait_time: self.wait_time.clone(),
            timeouts: self.timeouts.clone(),
            counts: Arc::clone(&self.counts),
            cache: Arc::clone(&self.cache),
        }
    }

    /// Whether anything is recorded at all; if not, statements go straight to sqlx.
    #[inline]
    pub(crate) fn records(&self) -> bool {
        self.tracing
            || self.duration.is_enabled()
            || (self.logging && self.options.slow_threshold.is_some())
    }

    /// Whether pool metrics are recorded (the meter is on).
    #[inline]
    pub(crate) fn measures_pool(&self) -> bool {
        self.wait_time.is_enabled()
    }

    /// Starts the operation of one statement under `parent`; `None` when nothing records.
    pub(crate) fn start(self: &Arc<Self>, parent: &Context, sql: &str) -> Option<Operation> {
        if !self.records() {
            return None;
        }
        Some(self.start_with(parent, self.cache.get(sql), sql))
    }

    /// Starts the operation of a statement the API sends by itself (`BEGIN`, `COMMIT`...).
    pub(crate) fn start_fixed(
        self: &Arc<Self>,
        parent: &Context,
        operation: &str,
    ) -> Option<Operation> {
        if !self.records() {
            return None;
        }
        Some(self.start_with(parent, Arc::new(sql::fixed(operation)), operation))
    }

    fn start_with(
        self: &Arc<Self>,
        parent: &Context,
        info: Arc<QueryInfo>,
        sql: &str,
    ) -> Operation {
        let mut attributes = Vec::with_capacity(9);
        self.push_common(&mut attributes, &info);
        match self.options.query_text {
            QueryText::Sanitized => attributes.push(kv(sc::DB_QUERY_TEXT, info.sanitized.as_str())),
            QueryText::Full => attributes.push(kv(sc::DB_QUERY_TEXT, sql)),
            QueryText::Off => {}
        }
        let name = self.span_name(&info);
        let (ctx, span) = parent.start_span(name, SpanOptions::client().attributes(&attributes));
        Operation {
            shared: Arc::clone(self),
            ctx,
            span,
            info,
            started: Instant::now(),
            rows: 0,
            affected: None,
            finished: false,
        }
    }

    /// `{db.query.summary}`, or `db.system.name` (`postgresql`, the conventions' last resort)
    /// when the text names no operation the summary knows (and so no target either).
    fn span_name(&self, info: &QueryInfo) -> String {
        if info.summary.is_empty() {
            self.description.system.to_owned()
        } else {
            info.summary.clone()
        }
    }

    /// What every span of this pool carries about the database: `db.system.name`, and
    /// `db.namespace`, `server.address`, `server.port` where the database has them.
    pub(crate) fn server_attributes(&self) -> Vec<KeyValue<'_>> {
        let mut attributes = Vec::with_capacity(4);
        self.push_server_attributes(&mut attributes);
        attributes
    }

    fn push_server_attributes<'a>(&'a self, attributes: &mut Vec<KeyValue<'a>>) {
        let description = &self.description;
        attributes.push(kv(sc::DB_SYSTEM_NAME, description.system));
        if let Some(namespace) = &description.namespace {
            attributes.push(kv(sc::DB_NAMESPACE, namespace.as_str()));
        }
        if let Some(address) = &description.address {
            attributes.push(kv(sc::SERVER_ADDRESS, address.as_str()));
        }
        if let Some(port) = description.port {
            attributes.push(kv(sc::SERVER_PORT, i64::from(port)));
        }
    }

    /// The attributes of both the span and the duration histogram.
    fn push_common<'a>(&'a self, attributes: &mut Vec<KeyValue<'a>>, info: &'a QueryInfo) {
        self.push_server_attributes(attributes);
        if !info.summary.is_empty() {
            attributes.push(kv(sc::DB_QUERY_SUMMARY, info.summary.as_str()));
        }
        if self.options.operation_attributes {
            if let Some(operation) = &info.operation {
                attributes.push(kv(sc::DB_OPERATION_NAME, operation.as_str()));
            }
            if let Some(collection) = &info.collection {
                attributes.push(kv(sc::DB_COLLECTION_NAME, collection.as_str()));
            }
        }
    }

    /// Records the time a connection took to come out of the pool, a timeout, and the pool's
    /// connection counts now.
    pub(crate) fn record_acquire<DB: sqlx::Database>(
        &self,
        pool: &Pool<DB>,
        waited: Duration,
        timed_out: bool,
    ) {
        let attributes = [kv(sc::POOL_NAME, self.counts.pool_name.as_str())];
        self.wait_time
            .record(&self.root, waited.as_secs_f64(), &attributes);
        if timed_out {
            self.timeouts.add(&self.root, 1, &attributes);
        }
        self.counts.record(pool, 0);
    }

    /// Records the pool's connection counts as they will be once the connection about to be
    /// released is back in the pool (sqlx returns it from a task of its own, after the drop).
    pub(crate) fn record_release<DB: sqlx::Database>(&self, pool: &Pool<DB>) {
        self.counts.record(pool, 1);
    }
}

/// `db.client.connection.count` (by state) and `db.client.connection.max` for one pool.
///
/// sqlx has no hook when a connection changes state, so the counts are read from the pool at
/// each acquire and release and the up-down counter gets the difference from what was reported
/// before. When the last copy of the traced pool goes, what it reported is taken back, so a
/// dropped wrapper leaves no connections behind in the metric.
struct PoolCounts {
    root: Context,
    pool_name: String,
    connections: UpDownCounter,
    max_counter: UpDownCounter,
    max: i64,
    /// `(used, idle)` as last reported; one lock so that the pair stays consistent.
    reported: Mutex<(i64, i64)>,
}

impl PoolCounts {
    fn new(telemetry: &Telemetry, meter: &hyperion::Meter, pool_name: String, max: i64) -> Self {
        let connections = meter
            .up_down_counter(sc::CONNECTION_COUNT_METRIC)
            .description(
                "The number of connections that are currently in state described by the state attribute.",
            )
            .unit("{connection}")
            .build();
        let max_counter = meter
            .up_down_counter(sc::CONNECTION_MAX_METRIC)
            .description("The maximum number of open connections allowed.")
            .unit("{connection}")
            .build();
        let root = telemetry.context();
        max_counter.add(&root, max, &[kv(sc::POOL_NAME, pool_name.as_str())]);
        PoolCounts {
            root,
            pool_name,
            connections,
            max_counter,
            max,
            reported: Mutex::new((0, 0)),
        }
    }

    /// Reports the pool's counts, with `returning` connections about to go back to it counted
    /// as idle already.
    fn record<DB: sqlx::Database>(&self, pool: &Pool<DB>, returning: i64) {
        if !self.connections.is_enabled() {
            return;
        }
        let size = i64::from(pool.size());
        let idle = (i64::try_from(pool.num_idle()).unwrap_or(i64::MAX) + returning).min(size);
        let used = (size - idle).max(0);
        let (used_delta, idle_delta) = {
            let mut reported = self
                .reported
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let deltas = (used - reported.0, idle - reported.1);
            *reported = (used, idle);
            deltas
        };
        self.add(used_delta, idle_delta);
    }

    fn add(&self, used_delta: i64, idle_delta: i64) {
        for (state, delta) in [("used", used_delta), ("idle", idle_delta)] {
            if delta != 0 {
                self.connections.add(
                    &self.root,
                    delta,
                    &[
                        kv(sc::POOL_NAME, self.pool_name.as_str()),
                        kv(sc::CONNECTION_STATE, state),
                    ],
                );
            }
        }
    }
}

impl Drop for PoolCounts {
    fn drop(&mut self) {
        let (used, idle) = *self
            .reported
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.add(-used, -idle);
        self.max_counter.add(
            &self.root,
            -self.max,
            &[kv(sc::POOL_NAME, self.pool_name.as_str())],
        );
    }
}

/// One statement being recorded: its span, the context under it and the clock. Ends the span
/// when dropped without [`finish`](Operation::finish) (the caller dropped the future or the
/// stream): no status and no duration then, as nothing is known of how it went.
pub(crate) struct Operation {
    shared: Arc<Shared>,
    ctx: Context,
    span: Span,
    info: Arc<QueryInfo>,
    started: Instant,
    rows: u64,
    /// From the `QueryResult`s seen (not on `fetch_optional`/`fetch_all`, where sqlx keeps them);
    /// recorded where they hold ([`Description::affected_rows_hold`]).
    affected: Option<u64>,
    finished: bool,
}

impl Operation {
    /// Counts rows returned.
    pub(crate) fn add_rows(&mut self, rows: u64) {
        self.rows += rows;
    }

    /// Counts rows affected (from a statement's `QueryResult`).
    pub(crate) fn add_affected(&mut self, rows: u64) {
        *self.affected.get_or_insert(0) += rows;
    }

    /// Records how the statement ended: attributes, status, the duration histogram (with the
    /// span's context, so that the span is its exemplar), the slow-statement log line, and ends
    /// the span.
    pub(crate) fn finish(mut self, error: Option<&sqlx::Error>) {
        self.finished = true;
        let elapsed = self.started.elapsed();
        let shared = Arc::clone(&self.shared);
        let code = error
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code());
        let error_type = error.map(|e| error_type(e, code.as_deref()));

        if self.span.is_recording() {
            let mut attributes = Vec::with_capacity(4);
            if error.is_none() {
                attributes.push(kv(sc::DB_RESPONSE_RETURNED_ROWS, self.rows as i64));
                if let Some(affected) = self
                    .affected
                    .filter(|_| shared.description.affected_rows_hold(&self.info))
                {
                    attributes.push(kv(sc::AFFECTED_ROWS, affected as i64));
                }
            }
            if let Some(code) = &code {
                attributes.push(kv(sc::DB_RESPONSE_STATUS_CODE, code.as_ref()));
            }
            if let Some(error_type) = &error_type {
                attributes.push(kv(sc::ERROR_TYPE, error_type.as_str()));
            }
            self.span.set_attributes(&attributes);
            if let Some(error) = error {
                self.span.record_exception(
                    error_type.as_deref().unwrap_or(sc::OTHER),
                    &message(
                        error,
                        code.as_deref(),
                        shared.description.code_label(),
                        &shared.options,
                    ),
                );
            }
        }

        if shared.duration.is_enabled() {
            let mut attributes = Vec::with_capacity(10);
            shared.push_common(&mut attributes, &self.info);
            if let Some(code) = &code {
                attributes.push(kv(sc::DB_RESPONSE_STATUS_CODE, code.as_ref()));
            }
            if let Some(error_type) = &error_type {
                attributes.push(kv(sc::ERROR_TYPE, error_type.as_str()));
            }
            shared
                .duration
                .record(&self.ctx, elapsed.as_secs_f64(), &attributes);
        }

        if let Some(threshold) = shared.options.slow_threshold
            && elapsed >= threshold
        {
            let log = self.ctx.log().target(env!("CARGO_PKG_NAME"));
            if log.enabled(hyperion::Level::Warn) {
                // The sanitized text even with `QueryText::Full`: log lines travel further.
                let text = match shared.options.query_text {
                    QueryText::Off => "",
                    _ => self.info.sanitized.as_str(),
                };
                let mut fields = Vec::with_capacity(3);
                if !self.info.summary.is_empty() {
                    fields.push(kv(sc::DB_QUERY_SUMMARY, self.info.summary.as_str()));
                }
                if !text.is_empty() {
                    fields.push(kv(sc::DB_QUERY_TEXT, text));
                }
                fields.push(kv("duration_s", elapsed.as_secs_f64()));
                log.warn_args(
                    format_args!(
                        "slow statement: {} took {:.3} s (threshold {:.3} s)",
                        self.span_label(),
                        elapsed.as_secs_f64(),
                        threshold.as_secs_f64()
                    ),
                    &fields,
                );
            }
        }
        self.span.end();
    }

    fn span_label(&self) -> &str {
        if self.info.summary.is_empty() {
            self.shared.description.system
        } else {
            &self.info.summary
        }
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if !self.finished {
            self.span.end();
        }
    }
}

/// `error.type`: the database's code when it answered with one (PostgreSQL's SQLSTATE, SQLite's
/// extended result code) (the conventions: it "SHOULD
/// match `db.response.status_code`"), `timeout` when no connection came out of the pool in
/// time, else the sqlx error's variant (`sqlx::Error::Io`...).
fn error_type(error: &sqlx::Error, code: Option<&str>) -> String {
    if let Some(code) = code {
        return code.to_owned();
    }
    let variant = match error {
        sqlx::Error::PoolTimedOut => return "timeout".to_owned(),
        sqlx::Error::Configuration(_) => "Configuration",
        sqlx::Error::InvalidArgument(_) => "InvalidArgument",
        sqlx::Error::InvalidSavePointStatement => "InvalidSavePointStatement",
        sqlx::Error::BeginFailed => "BeginFailed",
        sqlx::Error::Database(_) => "Database",
        sqlx::Error::Io(_) => "Io",
        sqlx::Error::Tls(_) => "Tls",
        sqlx::Error::Protocol(_) => "Protocol",
        sqlx::Error::RowNotFound => "RowNotFound",
        sqlx::Error::TypeNotFound { .. } => "TypeNotFound",
        sqlx::Error::ColumnIndexOutOfBounds { .. } => "ColumnIndexOutOfBounds",
        sqlx::Error::ColumnNotFound(_) => "ColumnNotFound",
        sqlx::Error::ColumnDecode { .. } => "ColumnDecode",
        sqlx::Error::Encode(_) => "Encode",
        sqlx::Error::Decode(_) => "Decode",
        sqlx::Error::AnyDriverError(_) => "AnyDriverError",
        sqlx::Error::PoolClosed => "PoolClosed",
        sqlx::Error::WorkerCrashed => "WorkerCrashed",
        _ => return sc::OTHER.to_owned(),
    };
    format!("sqlx::Error::{variant}")
}

/// The `exception` event's message. A database's message can quote values from the statement
/// (`invalid input syntax for type integer: "abc"`), and sqlx's encoding and decoding errors
/// quote parameter and column values (`value +300000-01-01 would overflow`), so unless the full
/// text is recorded a database error becomes its code (`SQLSTATE 23505`, `SQLite result code
/// 2067`, introduced by `label`) and the constraint, table and column the server names (only
/// PostgreSQL names them), and another error its kind (the `error.type`).
fn message(error: &sqlx::Error, code: Option<&str>, label: &str, options: &Options) -> String {
    match (error.as_database_error(), options.query_text) {
        (_, QueryText::Full) => error.to_string(),
        (Some(db), _) => {
            let mut message = format!("{label} {}", code.unwrap_or("?"));
            for (what, value) in [
                ("constraint", db.constraint()),
                ("table", db.table()),
                ("column", column(db)),
            ] {
                if let Some(value) = value {
                    message.push_str(&format!(" {what} {value}"));
                }
            }
            message
        }
        (None, _) => error_type(error, None),
    }
}

/// The column a database error names: only PostgreSQL's errors do, and sqlx's generic
/// [`DatabaseError`](sqlx::error::DatabaseError) has no method for it. (Through `sqlx::Any` the
/// error is still the driver's own, so this finds it there too.)
fn column(error: &dyn sqlx::error::DatabaseError) -> Option<&str> {
    #[cfg(feature = "postgres")]
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return pg.column();
    }
    let _ = error;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_errors_that_may_quote_values_are_their_kind_unless_the_text_is_full() {
        let quoting = [
            sqlx::Error::Protocol("value 4242-secret would overflow".into()),
            sqlx::Error::Encode("value 4242-secret would overflow".into()),
            sqlx::Error::ColumnNotFound("4242-secret".into()),
        ];
        for error in &quoting {
            let text = message(error, None, "SQLSTATE", &Options::default());
            assert!(!text.contains("4242-secret"), "{text}");
            assert!(text.starts_with("sqlx::Error::"), "{text}");
            let full = Options {
                query_text: QueryText::Full,
                ..Options::default()
            };
            assert!(message(error, None, "SQLSTATE", &full).contains("4242-secret"));
        }
        assert_eq!(error_type(&sqlx::Error::PoolTimedOut, None), "timeout");
        assert_eq!(
            error_type(&sqlx::Error::PoolClosed, None),
            "sqlx::Error::PoolClosed"
        );
        assert_eq!(
            error_type(&sqlx::Error::RowNotFound, Some("23505")),
            "23505"
        );
    }
}
