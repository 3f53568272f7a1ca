//! Reading a statement's text without losing the statement: sqlx's [`Execute::sql`] consumes
//! the query, so its parts are taken out first and handed on in a [`Captured`] query.

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgStatement};
use sqlx::{Execute, Postgres, SqlStr};

/// A query taken apart: its text (readable by the telemetry), its prepared statement, its
/// arguments, and whether sqlx should cache it; executed exactly as the original would be.
pub(crate) struct Captured {
    sql: SqlStr,
    statement: Option<PgStatement>,
    arguments: Option<Result<Option<PgArguments>, BoxDynError>>,
    persistent: bool,
}

impl Captured {
    pub(crate) fn new<'q, E: Execute<'q, Postgres>>(mut query: E) -> Self {
        let statement = query.statement().cloned();
        let persistent = query.persistent();
        let arguments = Some(query.take_arguments());
        Captured {
            sql: query.sql(),
            statement,
            arguments,
            persistent,
        }
    }

    pub(crate) fn text(&self) -> &str {
        self.sql.as_str()
    }
}

impl Execute<'_, Postgres> for Captured {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&PgStatement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}
