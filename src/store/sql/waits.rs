//! Runs paused at `wait` nodes: recording a wait, parking a run whose only
//! work left is waiting, and ending a wait once (resumed or timed out).

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::store::WaitStore;
use async_trait::async_trait;
use serde_json::json;
use sqlx::QueryBuilder;

use super::{Backend, Db};
use crate::store::dialect::{Dialect, NODE_RUN_COLUMNS};
use crate::store::error::db_error;
use crate::store::lists;
use crate::store::rows::NodeRunRow;
use app::model::node_config::OnTimeout;
use app::model::now_ms;

type WaitRow = (i64, String, i64, Option<i64>, String);

const WAIT_COLUMNS: &str = "execution_id, node_id, created_at, deadline, on_timeout";

fn wait_of(row: WaitRow) -> Wait {
    let (execution_id, node_id, created_at, deadline, on_timeout) = row;
    let on_timeout = if on_timeout == "continue" { OnTimeout::Continue } else { OnTimeout::Fail };
    Wait { execution_id, node_id, created_at, deadline, on_timeout }
}

fn on_timeout_text(on_timeout: OnTimeout) -> &'static str {
    match on_timeout {
        OnTimeout::Fail => "fail",
        OnTimeout::Continue => "continue",
    }
}

/// The node's state once its wait ended as `end` (`wait` holds what the
/// timeout was, for the message).
fn ended(mut run: NodeRun, end: &WaitEnd, wait: &Wait, at: i64) -> NodeRun {
    run.finished_at = Some(at);
    match end {
        WaitEnd::Resumed(payload) => {
            run.status = NodeStatus::Succeeded;
            run.output = Some(payload.clone());
            run.error = None;
        }
        WaitEnd::TimedOut => match wait.on_timeout {
            OnTimeout::Continue => {
                run.status = NodeStatus::Succeeded;
                run.output = Some(json!({ "timed_out": true }));
            }
            OnTimeout::Fail => {
                let waited = wait.deadline.unwrap_or(at) - wait.created_at;
                run.status = NodeStatus::Failed;
                run.error = Some(format!("nobody resumed it within {waited} ms"));
            }
        },
    }
    run
}

impl Backend {
    /// Deletes every wait of run `id` (it ended, or is ending in the caller's transaction).
    pub(super) async fn delete_waits<'e, E>(executor: E, id: ExecutionId) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        sqlx::query("DELETE FROM waits WHERE execution_id = $1").bind(id).execute(executor).await?;
        Ok(())
    }
}

#[async_trait]
impl WaitStore for Backend {
    async fn add_wait(&self, lease_owner: &str, wait: &Wait, run: &NodeRun) -> AppResult<bool> {
        if run.execution_id != wait.execution_id || run.node_id != wait.node_id {
            return Err(AppError::BadRequest("the state of another node".into()));
        }
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        if !Self::hold(&mut tx, wait.execution_id, lease_owner).await.map_err(db_error)? {
            return Ok(false);
        }
        sqlx::query(&format!(
            "INSERT INTO waits ({WAIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (execution_id, node_id) DO NOTHING"
        ))
        .bind(wait.execution_id)
        .bind(&wait.node_id)
        .bind(wait.created_at)
        .bind(wait.deadline)
        .bind(on_timeout_text(wait.on_timeout))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        Self::write_node_runs(&mut tx, std::slice::from_ref(run)).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn park_execution(
        &self,
        id: ExecutionId,
        lease_owner: &str,
        last_runs: &[NodeRun],
        waiting_nodes: usize,
    ) -> AppResult<Option<ExecutionStatus>> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // An UPDATE, for its row lock: `end_wait` takes the same one first, so
        // a wait ended while this parks is counted here, or finds the run parked.
        let held: Option<i64> = sqlx::query_scalar(
            "UPDATE executions SET lease_expires_at = lease_expires_at
             WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING id",
        )
        .bind(id)
        .bind(lease_owner)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if held.is_none() {
            return Ok(None);
        }
        Self::write_node_runs(&mut tx, last_runs).await.map_err(db_error)?;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM waits WHERE execution_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let status = if (left as usize) < waiting_nodes { ExecutionStatus::Queued } else { ExecutionStatus::Waiting };
        sqlx::query("UPDATE executions SET status = $1, lease_owner = NULL, lease_expires_at = 0 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(status))
    }

    async fn end_wait(&self, scope: Scope, id: ExecutionId, node: &str, end: &WaitEnd) -> AppResult<ExecutionStatus> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // The same row lock as `park_execution` takes.
        let mut query =
            QueryBuilder::<Db>::new("UPDATE executions SET lease_expires_at = lease_expires_at WHERE id = ");
        query.push_bind(id);
        lists::scope(&mut query, "owner_id", scope);
        query.push(" RETURNING status");
        let status: Option<String> = query.build_query_scalar().fetch_optional(&mut *tx).await.map_err(db_error)?;
        let status = status
            .and_then(|s| ExecutionStatus::parse(&s))
            .ok_or_else(|| AppError::NotFound(format!("execution {id}")))?;
        if status.is_finished() {
            // What is left of its waits goes (a timeout sweep would find it again).
            Self::delete_waits(&mut *tx, id).await.map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            return Err(AppError::Conflict(format!("run {id} already ended ({status}): nothing waits in it")));
        }
        let wait: Option<WaitRow> = sqlx::query_as(&format!(
            "DELETE FROM waits WHERE execution_id = $1 AND node_id = $2 RETURNING {WAIT_COLUMNS}"
        ))
        .bind(id)
        .bind(node)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(wait) = wait.map(wait_of) else {
            // Hand the row lock back now: a dropped transaction rolls back
            // only when its connection is next used, and until then a
            // claim (`SKIP LOCKED`) would pass over this run.
            tx.rollback().await.map_err(db_error)?;
            return Err(AppError::Conflict(format!(
                "node `{node}` of run {id} is not waiting: it was resumed already, timed out, or never waited"
            )));
        };
        let row: Option<NodeRunRow> = sqlx::query_as(&format!(
            "SELECT {NODE_RUN_COLUMNS} FROM node_runs WHERE execution_id = $1 AND node_id = $2"
        ))
        .bind(id)
        .bind(node)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let run = match row {
            Some(row) => NodeRun::try_from(row)?,
            None => NodeRun::queued(id, node),
        };
        let run = ended(run, end, &wait, now_ms());
        Self::write_node_runs(&mut tx, std::slice::from_ref(&run)).await.map_err(db_error)?;
        let status = if status == ExecutionStatus::Waiting {
            sqlx::query(
                "UPDATE executions SET status = 'queued', lease_owner = NULL, lease_expires_at = 0 WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            ExecutionStatus::Queued
        } else {
            status
        };
        tx.commit().await.map_err(db_error)?;
        Ok(status)
    }

    async fn waits_of(&self, id: ExecutionId) -> AppResult<Vec<Wait>> {
        let rows: Vec<WaitRow> =
            sqlx::query_as(&format!("SELECT {WAIT_COLUMNS} FROM waits WHERE execution_id = $1 ORDER BY node_id"))
                .bind(id)
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        Ok(rows.into_iter().map(wait_of).collect())
    }

    async fn waits_due(&self, now: i64, limit: u32) -> AppResult<Vec<Wait>> {
        let rows: Vec<WaitRow> = sqlx::query_as(&format!(
            "SELECT {WAIT_COLUMNS} FROM waits WHERE deadline IS NOT NULL AND deadline <= $1
             ORDER BY deadline LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(wait_of).collect())
    }

    async fn next_wait_deadline(&self) -> AppResult<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(deadline) FROM waits WHERE deadline IS NOT NULL")
            .fetch_one(self.reader())
            .await
            .map_err(db_error)
    }

    async fn forget_waits(&self, id: ExecutionId) -> AppResult<()> {
        Self::delete_waits(self.writer(), id).await.map_err(db_error)
    }
}
