//! Reading a statement's text without losing the statement: sqlx's [`Execute::sql`] consumes
//! the query, so its parts are taken out first and handed on in a [`Captured`] query.

use sqlx::error::BoxDynError;
use sqlx::{Database, Execute, SqlStr};

/// A query taken apart: its text (readable by the telemetry), its prepared statement, its
/// arguments, and whether sqlx should cache it; executed exactly as the original would be.
pub(crate) struct Captured<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> Captured<DB> {
    pub(crate) fn new<'q, E: Execute<'q, DB>>(mut query: E) -> Self {
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

impl<DB: Database> Execute<'_, DB> for Captured<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}
