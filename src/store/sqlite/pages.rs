//! The list pages on SQLite — workflows and the execution history — read with
//! rusqlite from a pool of read-only connections (`readers`) instead of through sqlx.
//!
//! sqlx runs each SQLite connection on its own thread: every row of a result is
//! copied value by value there (one allocation per column) and handed to the
//! async side through a channel, and columns are then looked up by name. For a
//! page of 50 rows that machinery cost more than SQLite's own work. Here a page
//! is read where it is asked for (see `readers`), and columns are read by
//! position straight into the records. Everything else (writes, single-row
//! reads) stays on sqlx; the SQL and its filters are written once for both
//! (`lists.rs`), and the store suite checks both backends give the same pages.

use app::error::{AppError, AppResult};
use app::model::{Cursor, Execution, ExecutionFilter, Page, RawJson, Scope, WorkflowSummary, MAX_PAGE_SIZE};
use rusqlite::Row;
use sqlx::types::Json;

use super::readers::{Readers, Sql};
use crate::store::dialect::Dialect;
use crate::store::lists;
use crate::store::rows::{page_of, ExecutionRow, WorkflowRow};

/// Reads list pages from a pool of read-only connections.
pub(crate) struct PageReader {
    readers: Readers,
}

impl PageReader {
    pub(crate) fn new(readers: Readers) -> Self {
        Self { readers }
    }

    /// The caller's workflows, newest change first, with each one's last execution.
    pub(crate) async fn workflows(
        &self,
        scope: Scope,
        search: Option<&str>,
        after: Option<Cursor>,
        limit: u32,
    ) -> AppResult<Page<WorkflowSummary>> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut query = Sql::default();
        lists::workflows_page(&mut query, scope, search, super::SqliteStore::name_search, after, limit)?;
        self.page(query, limit, workflow_row, |w: &WorkflowSummary| Cursor { at: w.updated_at, id: w.id }).await
    }

    /// A page of the execution history, newest first.
    pub(crate) async fn executions(
        &self,
        scope: Scope,
        filter: &ExecutionFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> AppResult<Page<Execution>> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut query = Sql::default();
        lists::executions_page(&mut query, scope, filter, after, limit);
        self.page(query, limit, execution_row, |e: &Execution| Cursor { at: e.created_at, id: e.id }).await
    }

    /// Reads a page's query (one row more than the page, to know whether
    /// another follows) and turns the rows into a page of records.
    async fn page<R: Send + 'static, T: TryFrom<R, Error = AppError>>(
        &self,
        query: Sql,
        limit: u32,
        map: fn(&Row<'_>) -> rusqlite::Result<R>,
        key: impl Fn(&T) -> Cursor,
    ) -> AppResult<Page<T>> {
        let rows = self.readers.read(query, map).await?;
        let items = rows.into_iter().map(T::try_from).collect::<AppResult<Vec<_>>>()?;
        Ok(page_of(items, limit, key))
    }
}

/// Columns in `WORKFLOW_COLUMNS` order.
fn workflow_row(row: &Row<'_>) -> rusqlite::Result<WorkflowRow> {
    Ok(WorkflowRow {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        current_version: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        last_id: row.get(7)?,
        last_status: row.get(8)?,
        last_created_at: row.get(9)?,
    })
}

/// Columns in `EXECUTION_COLUMNS` order; `input` is JSON text, kept as text.
fn execution_row(row: &Row<'_>) -> rusqlite::Result<ExecutionRow> {
    let input = RawJson::from_text(row.get(5)?)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(error)))?;
    Ok(ExecutionRow {
        id: row.get(0)?,
        workflow_id: row.get(1)?,
        version: row.get(2)?,
        owner_id: row.get(3)?,
        trigger: row.get(4)?,
        input: Json(input),
        status: row.get(6)?,
        created_at: row.get(7)?,
        started_at: row.get(8)?,
        finished_at: row.get(9)?,
        error: row.get(10)?,
        parent_execution_id: row.get(11)?,
        parent_node: row.get(12)?,
        depth: row.get(13)?,
    })
}
