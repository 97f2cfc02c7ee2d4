//! The list pages on SQLite — workflows and the execution history — read with
//! rusqlite on tokio's blocking pool instead of through sqlx.
//!
//! sqlx runs each SQLite connection on its own thread: every row of a result is
//! copied value by value there (one allocation per column) and handed to the
//! async side through a channel, and columns are then looked up by name. For a
//! page of 50 rows that machinery cost more than SQLite's own work. Here a page
//! is one hand-off to a pooled connection (`readers`) and one back, and columns
//! are read by position straight into the records. Everything else (writes,
//! single-row reads) stays on sqlx; the SQL and its filters are the same as PostgreSQL's
//! (`sql.rs`), and the store suite checks both backends give the same pages.

use app::error::{AppError, AppResult};
use app::model::{Cursor, Execution, ExecutionFilter, Page, RawJson, Scope, WorkflowSummary};
use rusqlite::Row;
use sqlx::types::Json;

use super::readers::{Readers, Sql};
use crate::store::rows::{page_of, ExecutionRow, WorkflowRow};
use crate::store::sql::{EXECUTION_COLUMNS, MAX_PAGE, WORKFLOW_COLUMNS};

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
        let limit = limit.clamp(1, MAX_PAGE);
        let mut query = Sql::new(WORKFLOW_COLUMNS);
        query.scope("w.owner_id", scope);
        if let Some(search) = search.filter(|s| !s.is_empty()) {
            let (before, pattern, after) = super::name_search(search);
            query.push(before, pattern);
            query.text.push_str(after);
        }
        if let Some(after) = after {
            query.after("w.updated_at", "w.id", after);
        }
        self.page(query, " ORDER BY w.updated_at DESC, w.id DESC", limit, workflow_row, |w: &WorkflowSummary| Cursor {
            at: w.updated_at,
            id: w.id,
        })
        .await
    }

    /// A page of the execution history, newest first.
    pub(crate) async fn executions(
        &self,
        scope: Scope,
        filter: &ExecutionFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> AppResult<Page<Execution>> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut query = Sql::new(&format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE 1 = 1"));
        query.scope("owner_id", scope);
        if let Some(owner) = filter.owner_id {
            query.push(" AND owner_id = ", owner);
        }
        if let Some(workflow) = filter.workflow_id {
            query.push(" AND workflow_id = ", workflow);
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ", status.as_str().to_owned());
        }
        if let Some(from) = filter.from {
            query.push(" AND created_at >= ", from);
        }
        if let Some(to) = filter.to {
            query.push(" AND created_at < ", to);
        }
        if let Some(after) = after {
            query.after("created_at", "id", after);
        }
        self.page(query, " ORDER BY created_at DESC, id DESC", limit, execution_row, |e: &Execution| Cursor {
            at: e.created_at,
            id: e.id,
        })
        .await
    }

    /// Orders and limits `query` (one row more than the page, to know whether
    /// another follows), reads it, and turns the rows into a page of records.
    async fn page<R: Send + 'static, T: TryFrom<R, Error = AppError>>(
        &self,
        mut query: Sql,
        order_by: &str,
        limit: u32,
        map: fn(&Row<'_>) -> rusqlite::Result<R>,
        key: impl Fn(&T) -> Cursor,
    ) -> AppResult<Page<T>> {
        query.text.push_str(order_by);
        query.push(" LIMIT ", i64::from(limit) + 1);
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
    })
}
