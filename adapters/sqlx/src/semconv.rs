//! The attribute keys, metric names and bucket boundaries this crate records, from the stable
//! database semantic conventions (and the connection-pool metrics, still in development).

/// `db.system.name`.
pub const DB_SYSTEM_NAME: &str = "db.system.name";
/// The `db.system.name` of PostgreSQL.
pub const DB_SYSTEM_POSTGRESQL: &str = "postgresql";
/// The `db.system.name` of SQLite.
pub const DB_SYSTEM_SQLITE: &str = "sqlite";
/// The `db.system.name` of an SQL database the conventions do not list (through `sqlx::Any`).
pub const DB_SYSTEM_OTHER_SQL: &str = "other_sql";
/// `db.namespace`: the database name (see the crate docs).
pub const DB_NAMESPACE: &str = "db.namespace";
/// `db.query.text`.
pub const DB_QUERY_TEXT: &str = "db.query.text";
/// `db.query.summary`.
pub const DB_QUERY_SUMMARY: &str = "db.query.summary";
/// `db.operation.name` (only with [`operation_attributes`](crate::TracedPool::operation_attributes)).
pub const DB_OPERATION_NAME: &str = "db.operation.name";
/// `db.collection.name` (only with [`operation_attributes`](crate::TracedPool::operation_attributes)).
pub const DB_COLLECTION_NAME: &str = "db.collection.name";
/// `db.response.status_code`: the code of a failed statement (PostgreSQL's SQLSTATE, SQLite's
/// extended result code).
pub const DB_RESPONSE_STATUS_CODE: &str = "db.response.status_code";
/// `db.response.returned_rows`.
pub const DB_RESPONSE_RETURNED_ROWS: &str = "db.response.returned_rows";
/// The rows a statement affected, as the database reports them: PostgreSQL's command tag;
/// SQLite's change count, for statements that write only (SQLite keeps the last write's count
/// through the statements that follow it). The conventions have no key for it, so it lives
/// outside their namespaces.
pub const AFFECTED_ROWS: &str = "hyperion.db.affected_rows";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`.
pub const SERVER_PORT: &str = "server.port";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// `error.type` when nothing more specific is known.
pub const OTHER: &str = "_OTHER";
/// `db.client.connection.pool.name`.
pub const POOL_NAME: &str = "db.client.connection.pool.name";
/// `db.client.connection.state` (`idle` or `used`).
pub const CONNECTION_STATE: &str = "db.client.connection.state";

/// The histogram of statement durations, in seconds.
pub const OPERATION_DURATION_METRIC: &str = "db.client.operation.duration";
/// The histogram of the time taken to get a connection out of the pool, in seconds.
pub const CONNECTION_WAIT_TIME_METRIC: &str = "db.client.connection.wait_time";
/// The up-down counter of connections by state.
pub const CONNECTION_COUNT_METRIC: &str = "db.client.connection.count";
/// The up-down counter of the pool's maximum size.
pub const CONNECTION_MAX_METRIC: &str = "db.client.connection.max";
/// The counter of pool timeouts.
pub const CONNECTION_TIMEOUTS_METRIC: &str = "db.client.connection.timeouts";

/// The bucket boundaries the conventions advise for `db.client.operation.duration`, in seconds.
///
/// ```
/// assert_eq!(hyperion_sqlx::DURATION_BOUNDARIES, [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]);
/// ```
pub const DURATION_BOUNDARIES: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
