//! Executions and their node runs: created, recorded and finished by the
//! process holding their lease, and read back for the run view and the history.

use std::collections::{HashMap, HashSet};

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::store::ExecutionStore;
use app::ports::{ExecutionStart, Finish, NewExecution};
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::QueryBuilder;

use super::chart::Ended;
use super::{Backend, Db};
use crate::store::dialect::{Dialect, CREATE_BATCH, FINISH_BATCH, NODE_RUN_BATCH, NODE_RUN_COLUMNS};
use crate::store::error::{db_error, not_found};
use crate::store::lists::{self, EXECUTION_COLUMNS};
use crate::store::rows::{page_of, ExecutionRow, NodeRunRow};
use app::model::now_ms;

impl Backend {
    /// Whether `lease_owner` holds the running execution, locking its row for
    /// the transaction: the lock keeps another process from claiming the
    /// execution until what is written here is in (a takeover then reads it).
    pub(super) async fn hold(
        tx: &mut sqlx::Transaction<'_, Db>,
        execution: ExecutionId,
        lease_owner: &str,
    ) -> Result<bool, sqlx::Error> {
        let held: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM executions WHERE id = $1 AND lease_owner = $2 AND status = 'running' {}",
            Self::HOLD_LOCK
        ))
        .bind(execution)
        .bind(lease_owner)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(held.is_some())
    }

    /// Upserts node states, `NODE_RUN_BATCH` rows per INSERT, in the caller's transaction.
    pub(super) async fn write_node_runs(
        tx: &mut sqlx::Transaction<'_, Db>,
        runs: &[NodeRun],
    ) -> Result<(), sqlx::Error> {
        for chunk in runs.chunks(NODE_RUN_BATCH) {
            let mut query = QueryBuilder::<Db>::new(format!("INSERT INTO node_runs ({NODE_RUN_COLUMNS}) "));
            query.push_values(chunk, |mut row, run| {
                row.push_bind(run.execution_id)
                    .push_bind(run.node_id.clone())
                    .push_bind(run.status.as_str())
                    .push_bind(run.attempt)
                    .push_bind(run.input.clone().map(Json))
                    .push_bind(run.output.clone().map(Json))
                    .push_bind(run.error.clone())
                    .push_bind(run.started_at)
                    .push_bind(run.finished_at);
            });
            query.push(
                " ON CONFLICT (execution_id, node_id) DO UPDATE SET status = excluded.status, \
                 attempt = excluded.attempt, input = excluded.input, output = excluded.output, \
                 error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at",
            );
            query.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ExecutionStore for Backend {
    async fn create_executions(&self, new: &[NewExecution]) -> AppResult<Vec<Execution>> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut created = Vec::with_capacity(new.len());
        for chunk in new.chunks(CREATE_BATCH) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO executions (workflow_id, version, owner_id, trigger, input, status, created_at,
                                         started_at, lease_owner, lease_expires_at,
                                         parent_execution_id, parent_node, parent_item, depth) ",
            );
            query.push_values(chunk, |mut row, new| {
                let (status, started_at, lease_owner, lease_expires_at) = match &new.start {
                    ExecutionStart::Queued => (ExecutionStatus::Queued, None, None, 0),
                    ExecutionStart::Running { lease, started_at } => {
                        (ExecutionStatus::Running, Some(*started_at), Some(lease.owner.clone()), lease.expires_at)
                    }
                };
                row.push_bind(new.workflow_id)
                    .push_bind(new.version)
                    .push_bind(new.owner_id)
                    .push_bind(new.trigger.as_str())
                    .push_bind(Json(new.input.clone()))
                    .push_bind(status.as_str())
                    .push_bind(started_at.unwrap_or(now))
                    .push_bind(started_at)
                    .push_bind(lease_owner)
                    .push_bind(lease_expires_at)
                    .push_bind(new.parent.as_ref().map(|p| p.execution))
                    .push_bind(new.parent.as_ref().map(|p| p.node.clone()))
                    .push_bind(new.parent.as_ref().map(|p| p.item))
                    .push_bind(new.parent.as_ref().map_or(0, |p| p.depth));
            });
            query.push(format!(" RETURNING {EXECUTION_COLUMNS}"));
            let rows: Vec<ExecutionRow> =
                query.build_query_as().fetch_all(self.writer()).await.map_err(|e| match db_error(e) {
                    AppError::BadRequest(_) => AppError::NotFound("workflow version".into()),
                    other => other,
                })?;
            // Both backends number the rows of one INSERT in the order of its
            // VALUES; RETURNING need not list them in that order, so sort by
            // id, and check that each row is the one asked for.
            let mut rows = rows.into_iter().map(Execution::try_from).collect::<AppResult<Vec<_>>>()?;
            rows.sort_by_key(|e| e.id);
            for (asked, row) in chunk.iter().zip(&rows) {
                if (asked.workflow_id, asked.version, asked.trigger) != (row.workflow_id, row.version, row.trigger)
                    || RawJson::from_value(&asked.input) != row.input
                {
                    tracing::error!(execution = row.id, "created executions came back in an unexpected order");
                    return Err(AppError::Internal);
                }
            }
            if rows.len() != chunk.len() {
                return Err(AppError::Internal);
            }
            created.extend(rows);
        }
        Ok(created)
    }

    async fn record_node_runs(&self, execution: ExecutionId, lease_owner: &str, runs: &[NodeRun]) -> AppResult<bool> {
        if runs.iter().any(|run| run.execution_id != execution) {
            return Err(AppError::BadRequest("node states of another execution".into()));
        }
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        if !Self::hold(&mut tx, execution, lease_owner).await.map_err(db_error)? {
            return Ok(false);
        }
        Self::write_node_runs(&mut tx, runs).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn record_node_items(
        &self,
        execution: ExecutionId,
        lease_owner: &str,
        items: &[NodeItem],
    ) -> AppResult<bool> {
        if items.iter().any(|item| item.execution_id != execution) {
            return Err(AppError::BadRequest("items of another execution".into()));
        }
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        if !Self::hold(&mut tx, execution, lease_owner).await.map_err(db_error)? {
            return Ok(false);
        }
        for chunk in items.chunks(NODE_RUN_BATCH) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO node_items (execution_id, node_id, item_index, output, failed, attempt) ",
            );
            query.push_values(chunk, |mut row, item| {
                row.push_bind(item.execution_id)
                    .push_bind(item.node_id.clone())
                    .push_bind(item.index as i64)
                    .push_bind(Json(item.output.clone()))
                    .push_bind(item.failed)
                    .push_bind(item.attempt);
            });
            query.push(
                " ON CONFLICT (execution_id, node_id, item_index) DO UPDATE SET output = excluded.output, \
                 failed = excluded.failed, attempt = excluded.attempt",
            );
            query.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn node_items_of(&self, execution: ExecutionId) -> AppResult<Vec<NodeItem>> {
        let rows: Vec<(String, i64, Json<serde_json::Value>, bool, i32)> = sqlx::query_as(
            "SELECT node_id, item_index, output, failed, attempt FROM node_items WHERE execution_id = $1
             ORDER BY node_id, item_index",
        )
        .bind(execution)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(node_id, index, output, failed, attempt)| NodeItem {
                execution_id: execution,
                node_id,
                index: usize::try_from(index).unwrap_or(usize::MAX),
                output: output.0,
                failed,
                attempt,
            })
            .collect())
    }

    async fn forget_node_items(&self, execution: ExecutionId, nodes: &[String]) -> AppResult<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        let mut query = QueryBuilder::<Db>::new("DELETE FROM node_items WHERE execution_id = ");
        query.push_bind(execution).push(" AND node_id IN (");
        let mut separated = query.separated(", ");
        for node in nodes {
            separated.push_bind(node.clone());
        }
        query.push(")");
        query.build().execute(self.writer()).await.map_err(db_error)?;
        Ok(())
    }

    async fn finish_executions(&self, finishes: &[Finish]) -> AppResult<Vec<bool>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let mut held = HashSet::new();
        let mut ended = Vec::new();
        for chunk in finishes.chunks(FINISH_BATCH) {
            // One fenced UPDATE for the whole batch: a process that lost a
            // lease must not overwrite the states of the one that took over.
            // (CAST rather than `::`, so that SQLite reads it too.)
            let mut query =
                QueryBuilder::<Db>::new("WITH ends (execution_id, owner, new_status, new_error, new_finished_at) AS (");
            query.push_values(chunk, |mut row, finish| {
                row.push("CAST(")
                    .push_bind_unseparated(finish.id)
                    .push_unseparated(" AS BIGINT)")
                    .push("CAST(")
                    .push_bind_unseparated(finish.lease_owner.clone())
                    .push_unseparated(" AS TEXT)")
                    .push("CAST(")
                    .push_bind_unseparated(finish.outcome.status.as_str())
                    .push_unseparated(" AS TEXT)")
                    .push("CAST(")
                    .push_bind_unseparated(finish.outcome.error.clone())
                    .push_unseparated(" AS TEXT)")
                    .push("CAST(")
                    .push_bind_unseparated(finish.outcome.finished_at)
                    .push_unseparated(" AS BIGINT)");
            });
            query.push(
                ") UPDATE executions SET status = ends.new_status, error = ends.new_error,
                     finished_at = ends.new_finished_at
                 FROM ends
                 WHERE executions.id = ends.execution_id AND executions.lease_owner = ends.owner
                   AND executions.status = 'running'
                 RETURNING id, owner_id, workflow_id, created_at",
            );
            let written: Vec<(i64, i64, i64, i64)> =
                query.build_query_as().fetch_all(&mut *tx).await.map_err(db_error)?;
            let status_of: HashMap<ExecutionId, ExecutionStatus> =
                chunk.iter().map(|finish| (finish.id, finish.outcome.status)).collect();
            for (id, owner, workflow, created_at) in written {
                held.insert(id);
                let status = status_of[&id];
                if status.is_finished() {
                    let status = status.as_str().to_owned();
                    ended.push(Ended { owner, workflow, created_at, status, delta: 1 });
                }
            }
        }

        let runs: Vec<NodeRun> = finishes
            .iter()
            .filter(|finish| held.contains(&finish.id))
            .flat_map(|finish| finish.last_runs.iter().cloned())
            .collect();
        Self::write_node_runs(&mut tx, &runs).await.map_err(db_error)?;
        // The chart's counts, in the same transaction as the ends and last
        // (on PostgreSQL its rows stay locked until the commit).
        Self::count_ended(&mut tx, &ended).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(finishes.iter().map(|finish| held.contains(&finish.id)).collect())
    }

    async fn execution(&self, scope: Scope, id: ExecutionId) -> AppResult<Execution> {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = "));
        query.push_bind(id);
        lists::scope(&mut query, "owner_id", scope);
        let row: ExecutionRow =
            query.build_query_as().fetch_one(self.reader()).await.map_err(not_found("execution"))?;
        row.try_into()
    }

    async fn node_runs(&self, scope: Scope, id: ExecutionId) -> AppResult<Vec<NodeRun>> {
        self.execution(scope, id).await?;
        let rows: Vec<NodeRunRow> = sqlx::query_as(&format!(
            "SELECT {NODE_RUN_COLUMNS} FROM node_runs WHERE execution_id = $1
             ORDER BY started_at IS NULL, started_at, node_id"
        ))
        .bind(id)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        rows.into_iter().map(NodeRun::try_from).collect()
    }

    async fn list_executions(
        &self,
        scope: Scope,
        filter: &ExecutionFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> AppResult<Page<Execution>> {
        if let Some(pages) = self.page_reader() {
            return pages.executions(scope, filter, after, limit).await;
        }
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut query = QueryBuilder::<Db>::new("");
        lists::executions_page(&mut query, scope, filter, after, limit);
        let rows: Vec<ExecutionRow> = query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        let items = rows.into_iter().map(Execution::try_from).collect::<AppResult<Vec<_>>>()?;
        Ok(page_of(items, limit, |e| Cursor { at: e.created_at, id: e.id }))
    }

    async fn child_execution(&self, parent: ExecutionId, node: &str, item: i64) -> AppResult<Option<Execution>> {
        let row: Option<ExecutionRow> = sqlx::query_as(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions
             WHERE parent_execution_id = $1 AND parent_node = $2 AND parent_item = $3
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(parent)
        .bind(node)
        .bind(item)
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?;
        row.map(Execution::try_from).transpose()
    }

    async fn child_executions(&self, parent: ExecutionId, active_only: bool, limit: u32) -> AppResult<Vec<Execution>> {
        let active = if active_only { " AND status IN ('queued', 'running', 'waiting')" } else { "" };
        let rows: Vec<ExecutionRow> = sqlx::query_as(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE parent_execution_id = $1{active} ORDER BY id LIMIT $2"
        ))
        .bind(parent)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        rows.into_iter().map(Execution::try_from).collect()
    }

    async fn count_executions_up_to(&self, scope: Scope, filter: &ExecutionFilter, cap: u32) -> AppResult<i64> {
        // Counting stops at the cap: a million-row history costs no more than `cap` index entries.
        let mut query = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE 1 = 1");
        lists::execution_filter(&mut query, scope, filter);
        query.push(" LIMIT ").push_bind(i64::from(cap)).push(") capped");
        query.build_query_scalar().fetch_one(self.reader()).await.map_err(db_error)
    }

    async fn executions_per_hour(&self, scope: Scope, filter: &ExecutionFilter) -> AppResult<Vec<HourCount>> {
        self.chart(scope, filter).await
    }
}
