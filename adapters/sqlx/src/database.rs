//! [`TracedDatabase`]: the databases a [`TracedPool`](crate::TracedPool) wraps, and what differs
//! from one to another (everything else is written once, against sqlx's generic traits).

use crate::semconv as sc;
use crate::sql::{Dialect, QueryInfo};

/// A database whose pools a [`TracedPool`](crate::TracedPool) can trace. Implemented for
/// `sqlx::Postgres` (feature `postgres`, on by default), `sqlx::Sqlite` (feature `sqlite`) and
/// `sqlx::Any` (feature `any`), and sealed: what differs from one database to another is this
/// crate's business, through a private supertrait, so that it can change without breaking
/// anyone.
///
/// What differs is read once, when the pool is wrapped, from its connect options:
///
/// | database | `db.system.name` | `db.namespace` | `server.address`, `server.port` |
/// |---|---|---|---|
/// | `Postgres` | `postgresql` | the database name (the user name when none is given, as PostgreSQL does) | the host (or the Unix socket's path) and the port, always |
/// | `Sqlite` | `sqlite` | the database file's name without its directories (`app.db`; sqlx's name for an in-memory database, `file:sqlx-in-memory-N`); none for a database named by no file (`sqlite://?mode=memory`) | none: no server |
/// | `Any` | from the URL's scheme: `postgresql` (`postgres:`, `postgresql:`), `sqlite` (`sqlite:`), the conventions' name for other systems they list (`mysql`, `mariadb`, `microsoft.sql_server` for `mssql:` and `sqlserver:`...), else `other_sql` | as the database's own driver reads its URL, where it is compiled in (so as `TracedPool<Postgres>` and `TracedPool<Sqlite>` do); for other schemes the URL's first path segment | as for the database named; for other schemes the URL's host and port (the system's default port when none is written and one is known: 3306 for MySQL and MariaDB, 1433 for SQL Server) |
///
/// The pool's `db.client.connection.pool.name` is made of the server, port and namespace; when
/// there are none, it is the `db.system.name`.
///
/// The text of its statements is read by the [`Dialect`](crate::sql::Dialect) of its
/// `db.system.name`: PostgreSQL's rules, SQLite's, or for any other system a conservative union
/// of readings.
///
/// Then for each statement: the rows a `QueryResult` says were affected (each driver has its
/// own `QueryResult`), and on failure the database's code as sqlx gives it
/// ([`DatabaseError::code`](sqlx::error::DatabaseError::code)): PostgreSQL's SQLSTATE (`23505`),
/// SQLite's extended result code (`2067`, `SQLITE_CONSTRAINT_UNIQUE`). SQLite's count (through
/// `Sqlite` or `Any`) is `sqlite3_changes()`, the rows of the connection's last INSERT, UPDATE or
/// DELETE, which sqlx reads after every statement, a SELECT or a CREATE TABLE included: it is
/// recorded only for statements that write ([`QueryInfo::writes`](crate::sql::QueryInfo::writes)).
///
/// The semantic conventions say nothing of SQLite's `db.namespace`; the file's name is what
/// names the database without leaking the directories of the machine it runs on.
pub trait TracedDatabase: sqlx::Database + sealed::Sealed {}

pub(crate) mod sealed {
    use super::Description;

    /// What [`TracedDatabase`](super::TracedDatabase) needs of each database, out of sight.
    pub trait Sealed: sqlx::Database {
        /// The pool's description, from its connect options.
        fn describe(options: &<Self::Connection as sqlx::Connection>::Options) -> Description;

        /// The rows a statement affected, from its result.
        fn rows_affected(result: &Self::QueryResult) -> u64;
    }
}

/// What a pool says about its database: the attributes every span and point of it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// `db.system.name`.
    pub(crate) system: &'static str,
    /// `db.namespace`.
    pub(crate) namespace: Option<String>,
    /// `server.address`.
    pub(crate) address: Option<String>,
    /// `server.port`.
    pub(crate) port: Option<u16>,
}

impl Description {
    /// The rules the pool's statements are read by.
    pub(crate) fn dialect(&self) -> Dialect {
        Dialect::of_system(self.system)
    }

    /// Whether a statement's count of affected rows, as its `QueryResult` gives it, is the
    /// statement's own. SQLite's is `sqlite3_changes()`, which only an INSERT, UPDATE or DELETE
    /// sets: after anything else it is still the last write's, so it is kept only for
    /// statements that write.
    pub(crate) fn affected_rows_hold(&self, info: &QueryInfo) -> bool {
        self.system != sc::DB_SYSTEM_SQLITE || info.writes
    }

    /// How an error's code is introduced in the `exception` event's message.
    pub(crate) fn code_label(&self) -> &'static str {
        match self.system {
            sc::DB_SYSTEM_POSTGRESQL => "SQLSTATE",
            sc::DB_SYSTEM_SQLITE => "SQLite result code",
            _ => "code",
        }
    }

    /// `db.client.connection.pool.name`: `{server.address}:{server.port}/{db.namespace}` as the
    /// conventions suggest for pools without a name, with the parts that are missing left out
    /// (an SQLite pool's is its `db.namespace`), and the `db.system.name` when all are (an
    /// SQLite database named by no file).
    pub(crate) fn pool_name(&self) -> String {
        let mut name = String::new();
        if let Some(address) = &self.address {
            name.push_str(address);
            if let Some(port) = self.port {
                name.push_str(&format!(":{port}"));
            }
        }
        if let Some(namespace) = &self.namespace {
            if !name.is_empty() {
                name.push('/');
            }
            name.push_str(namespace);
        }
        if name.is_empty() {
            name.push_str(self.system);
        }
        name
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::Postgres;
    use sqlx::postgres::{PgConnectOptions, PgQueryResult};

    use super::{Description, TracedDatabase, sealed::Sealed};
    use crate::semconv as sc;

    impl Sealed for Postgres {
        fn describe(options: &PgConnectOptions) -> Description {
            let address = match options.get_socket() {
                Some(socket) => socket.display().to_string(),
                None => options.get_host().to_owned(),
            };
            Description {
                system: sc::DB_SYSTEM_POSTGRESQL,
                // PostgreSQL connects to the database named like the user when none is given.
                namespace: Some(
                    options
                        .get_database()
                        .unwrap_or_else(|| options.get_username())
                        .to_owned(),
                ),
                address: Some(address),
                port: Some(options.get_port()),
            }
        }

        fn rows_affected(result: &PgQueryResult) -> u64 {
            result.rows_affected()
        }
    }

    impl TracedDatabase for Postgres {}
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use sqlx::Sqlite;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteQueryResult};

    use super::{Description, TracedDatabase, file_name, sealed::Sealed};
    use crate::semconv as sc;

    impl Sealed for Sqlite {
        fn describe(options: &SqliteConnectOptions) -> Description {
            Description {
                system: sc::DB_SYSTEM_SQLITE,
                namespace: file_name(&options.get_filename().to_string_lossy()),
                address: None,
                port: None,
            }
        }

        fn rows_affected(result: &SqliteQueryResult) -> u64 {
            result.rows_affected()
        }
    }

    impl TracedDatabase for Sqlite {}
}

#[cfg(feature = "any")]
mod any {
    use sqlx::Any;
    use sqlx::any::{AnyConnectOptions, AnyQueryResult};
    use sqlx_core::Url;
    use sqlx_core::percent_encoding::percent_decode_str;

    use super::{Description, TracedDatabase, file_name, sealed::Sealed};
    use crate::semconv as sc;

    impl Sealed for Any {
        fn describe(options: &AnyConnectOptions) -> Description {
            describe_url(&options.database_url)
        }

        fn rows_affected(result: &AnyQueryResult) -> u64 {
            result.rows_affected()
        }
    }

    impl TracedDatabase for Any {}

    /// The description of the database a URL names, as the driver its scheme picks reads it.
    pub(super) fn describe_url(url: &Url) -> Description {
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        match url.scheme() {
            "postgres" | "postgresql" => {
                // The PostgreSQL driver's own reading (a socket in the host, environment
                // defaults), where it is compiled in.
                #[cfg(feature = "postgres")]
                if let Ok(options) =
                    <sqlx::postgres::PgConnectOptions as sqlx::ConnectOptions>::from_url(url)
                {
                    return <sqlx::Postgres as Sealed>::describe(&options);
                }
                let mut description = from_host_and_path(url, Some(5432));
                description.system = sc::DB_SYSTEM_POSTGRESQL;
                if description.namespace.is_none() && !url.username().is_empty() {
                    description.namespace = Some(decode(url.username()));
                }
                description
            }
            "sqlite" => {
                // The SQLite driver's own reading (sqlx's name for each in-memory database),
                // where it is compiled in.
                #[cfg(feature = "sqlite")]
                if let Ok(options) =
                    <sqlx::sqlite::SqliteConnectOptions as sqlx::ConnectOptions>::from_url(url)
                {
                    return <sqlx::Sqlite as Sealed>::describe(&options);
                }
                // Else as that driver reads it: `sqlite:app.db` and `sqlite://app.db` alike (in
                // the second, the URL's host is the file), up to the parameters.
                let text = url.as_str();
                let rest = text
                    .strip_prefix("sqlite://")
                    .or_else(|| text.strip_prefix("sqlite:"))
                    .unwrap_or_default();
                let path = rest.split(['?', '#']).next().unwrap_or_default();
                Description {
                    system: sc::DB_SYSTEM_SQLITE,
                    namespace: file_name(&decode(path)),
                    address: None,
                    port: None,
                }
            }
            scheme => {
                let (system, default_port) = system_of_scheme(scheme);
                let mut description = from_host_and_path(url, default_port);
                description.system = system;
                description
            }
        }
    }

    /// The `db.system.name` the conventions give the system a URL scheme names (they list
    /// well-known values, to be used when they apply), `other_sql` for the rest; and the
    /// system's default port, where there is one.
    fn system_of_scheme(scheme: &str) -> (&'static str, Option<u16>) {
        match scheme {
            "mysql" => ("mysql", Some(3306)),
            "mariadb" => ("mariadb", Some(3306)),
            "mssql" | "sqlserver" => ("microsoft.sql_server", Some(1433)),
            "cockroachdb" | "cockroach" => ("cockroachdb", None),
            "clickhouse" => ("clickhouse", None),
            "oracle" => ("oracle.db", None),
            "db2" => ("ibm.db2", None),
            "informix" => ("ibm.informix", None),
            "redshift" => ("aws.redshift", None),
            "spanner" => ("gcp.spanner", None),
            "hana" => ("sap.hana", None),
            "trino" => ("trino", None),
            "teradata" => ("teradata", None),
            "h2" => ("h2database", None),
            "hsqldb" => ("hsqldb", None),
            "derby" => ("derby", None),
            "firebird" => ("firebirdsql", None),
            _ => (sc::DB_SYSTEM_OTHER_SQL, None),
        }
    }

    /// A server database's description from the URL: the host, the port (or `default_port`)
    /// and the first segment of the path as the database; the system is the caller's to set.
    fn from_host_and_path(url: &Url, default_port: Option<u16>) -> Description {
        let path = url.path().trim_start_matches('/');
        let database = path.split('/').next().unwrap_or_default();
        Description {
            system: sc::DB_SYSTEM_OTHER_SQL,
            namespace: (!database.is_empty()).then(|| {
                percent_decode_str(database)
                    .decode_utf8_lossy()
                    .into_owned()
            }),
            address: url.host_str().map(str::to_owned),
            port: url.port().or(default_port),
        }
    }
}

/// The last component of an SQLite database's path (`/var/lib/app/app.db` is `app.db`), or the
/// whole name when it has none (`:memory:`); `None` for no name at all (`sqlite://?mode=memory`
/// opens an in-memory database named by no file).
#[cfg(any(feature = "sqlite", feature = "any"))]
fn file_name(path: &str) -> Option<String> {
    let name = std::path::Path::new(path).file_name().map_or_else(
        || path.to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(
        system: &'static str,
        namespace: Option<&str>,
        address: Option<&str>,
        port: Option<u16>,
    ) -> Description {
        Description {
            system,
            namespace: namespace.map(str::to_owned),
            address: address.map(str::to_owned),
            port,
        }
    }

    #[test]
    fn pool_names_leave_out_what_is_missing() {
        let server = description("postgresql", Some("shop"), Some("db.local"), Some(5432));
        assert_eq!(server.pool_name(), "db.local:5432/shop");
        assert_eq!(server.code_label(), "SQLSTATE");
        let file = description("sqlite", Some("app.db"), None, None);
        assert_eq!(file.pool_name(), "app.db");
        assert_eq!(file.code_label(), "SQLite result code");
        assert_eq!(description("mysql", None, None, None).code_label(), "code");
        // An in-memory SQLite database named by no file: named by its system.
        let unnamed = description("sqlite", None, None, None);
        assert_eq!(unnamed.pool_name(), "sqlite");
    }

    #[test]
    fn the_dialect_and_the_change_count_follow_the_system() {
        use crate::sql::{Dialect, analyze};
        let select = analyze("SELECT * FROM t");
        let insert = analyze("INSERT INTO t VALUES (1)");
        let sqlite = description("sqlite", Some("app.db"), None, None);
        assert_eq!(sqlite.dialect(), Dialect::Sqlite);
        assert!(!sqlite.affected_rows_hold(&select));
        assert!(sqlite.affected_rows_hold(&insert));
        let postgres = description("postgresql", Some("shop"), Some("db"), Some(5432));
        assert_eq!(postgres.dialect(), Dialect::Postgres);
        assert!(postgres.affected_rows_hold(&select));
        let mysql = description("mysql", Some("shop"), Some("db"), Some(3306));
        assert_eq!(mysql.dialect(), Dialect::Other);
        assert!(mysql.affected_rows_hold(&select));
    }

    #[cfg(any(feature = "sqlite", feature = "any"))]
    #[test]
    fn an_sqlite_namespace_is_the_file_name_alone() {
        assert_eq!(file_name("/var/lib/app/app.db").as_deref(), Some("app.db"));
        assert_eq!(file_name("data/app.db").as_deref(), Some("app.db"));
        assert_eq!(file_name("app.db").as_deref(), Some("app.db"));
        assert_eq!(file_name(":memory:").as_deref(), Some(":memory:"));
        assert_eq!(file_name(""), None);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_options_describe_the_file() {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite:///tmp/dir/shop.db")
            .expect("a valid URL");
        assert_eq!(
            <sqlx::Sqlite as sealed::Sealed>::describe(&options),
            description("sqlite", Some("shop.db"), None, None)
        );
        for url in ["sqlite://?mode=memory", "sqlite:?mode=memory"] {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).expect("a valid URL");
            let unnamed = <sqlx::Sqlite as sealed::Sealed>::describe(&options);
            assert_eq!(unnamed, description("sqlite", None, None, None), "{url}");
            assert_eq!(unnamed.pool_name(), "sqlite");
        }
    }

    #[cfg(feature = "any")]
    #[test]
    fn any_urls_are_described_by_their_scheme() {
        let describe = |url: &str| any::describe_url(&url.parse().expect("a valid URL"));
        for url in [
            "postgres://ada@db.local:6543/shop?sslmode=disable",
            "postgresql://ada@db.local:6543/shop",
        ] {
            assert_eq!(
                describe(url),
                description("postgresql", Some("shop"), Some("db.local"), Some(6543)),
                "{url}"
            );
        }
        assert_eq!(
            describe("postgres://ada@db.local"),
            description("postgresql", Some("ada"), Some("db.local"), Some(5432))
        );
        for url in [
            "sqlite:data/shop.db",
            "sqlite://data/shop.db?mode=rwc",
            "sqlite:///tmp/data/shop.db",
            "sqlite://shop.db",
        ] {
            assert_eq!(
                describe(url),
                description("sqlite", Some("shop.db"), None, None),
                "{url}"
            );
        }
        // As SQLite's driver names in-memory databases (where it is compiled in): one name per
        // pool, as for `TracedPool<Sqlite>`.
        let memory = describe("sqlite::memory:").namespace.expect("a name");
        #[cfg(feature = "sqlite")]
        {
            assert!(memory.starts_with("file:sqlx-in-memory-"), "{memory}");
            assert_ne!(describe("sqlite::memory:").namespace, Some(memory));
        }
        #[cfg(not(feature = "sqlite"))]
        assert_eq!(memory, ":memory:");
        for url in ["sqlite://?mode=memory", "sqlite:?mode=memory"] {
            let unnamed = describe(url);
            assert_eq!(unnamed, description("sqlite", None, None, None), "{url}");
            assert_eq!(unnamed.pool_name(), "sqlite");
        }
        assert_eq!(
            describe("sqlite:my%20shop.db"),
            description("sqlite", Some("my shop.db"), None, None)
        );
        assert_eq!(
            describe("mysql://root@127.0.0.1/shop"),
            description("mysql", Some("shop"), Some("127.0.0.1"), Some(3306))
        );
        assert_eq!(
            describe("mariadb://root@db:3307/shop"),
            description("mariadb", Some("shop"), Some("db"), Some(3307))
        );
        for url in ["mssql://sa@db/shop", "sqlserver://sa@db:1433/shop"] {
            assert_eq!(
                describe(url),
                description("microsoft.sql_server", Some("shop"), Some("db"), Some(1433)),
                "{url}"
            );
        }
        // Not a scheme the conventions name: `other_sql`, never the scheme itself.
        assert_eq!(
            describe("snowflakedb://u@acct.example/shop"),
            description("other_sql", Some("shop"), Some("acct.example"), None)
        );
    }
}
