//! What a backend adds to the SQL both share (`sql/`): its sqlx database, its
//! locks, and the few statements where SQLite and PostgreSQL differ. Each
//! backend's store implements [`Dialect`], so a piece it lacks is a compile
//! error that names it.

use std::future::Future;

use sqlx::Pool;

use super::sqlite::PageReader;

pub(crate) const NODE_RUN_COLUMNS: &str =
    "execution_id, node_id, status, attempt, input, output, error, started_at, finished_at";

/// Rows per multi-row INSERT: 9 columns × 500 rows stays far below both
/// backends' limits on bound parameters.
pub(crate) const NODE_RUN_BATCH: usize = 500;

/// Executions per INSERT of a group of new executions: 10 parameters × 100 rows.
pub(crate) const CREATE_BATCH: usize = 100;

/// Executions per fenced UPDATE of a group commit: 5 parameters × 200 rows.
pub(crate) const FINISH_BATCH: usize = 200;

/// A backend's store, as the shared SQL uses it.
pub(crate) trait Dialect: Send + Sync + 'static {
    type DB: sqlx::Database;

    /// The pool reads go through.
    fn reader(&self) -> &Pool<Self::DB>;

    /// The pool writes go through: on SQLite a one-connection pool, so writers
    /// queue in the pool instead of sleeping in SQLite's busy handler; on
    /// PostgreSQL the reads' pool.
    fn writer(&self) -> &Pool<Self::DB>;

    /// The backend's name (`sqlite` or `postgres`), for logs and health checks.
    const NAME: &'static str;

    /// What a claim's subquery adds to lock the rows it picks.
    const CLAIM_LOCK: &'static str;

    /// The lock node states are written under, on their execution's row.
    const HOLD_LOCK: &'static str;

    /// Gives freed space back to the system, after retention deleted rows.
    fn compact_storage(&self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// The backend's own reader of list pages, if it has one (else they are
    /// read through sqlx like every other query).
    fn page_reader(&self) -> Option<&PageReader>;

    /// A condition on `w.name` for a search, served by the backend's search
    /// index (`lists::NameSearch`): the clause before its one parameter, the
    /// parameter, and the clause after it.
    fn name_search(search: &str) -> (&'static str, String, &'static str);
}
