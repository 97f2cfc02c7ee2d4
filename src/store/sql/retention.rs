//! Retention: deleting finished executions in short batches, and giving the
//! space back.

use app::error::AppResult;
use app::model::*;
use app::ports::store::RetentionStore;
use async_trait::async_trait;

use super::chart::Ended;
use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::db_error;

/// What a deletion returns for the chart's counts.
const DELETED: &str = "RETURNING owner_id, workflow_id, created_at, status";

impl Backend {
    /// Takes deleted runs off the chart's counts and commits: how many went.
    async fn uncount(mut tx: sqlx::Transaction<'_, Db>, gone: Vec<(i64, i64, i64, String)>) -> AppResult<u64> {
        let deleted = gone.len() as u64;
        let changes: Vec<Ended> = gone
            .into_iter()
            .map(|(owner, workflow, created_at, status)| Ended { owner, workflow, created_at, status, delta: -1 })
            .collect();
        Self::count_ended(&mut tx, &changes).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(deleted)
    }
}

#[async_trait]
impl RetentionStore for Backend {
    async fn delete_executions_before(&self, before: i64, batch: u32) -> AppResult<u64> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let gone: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "DELETE FROM executions WHERE id IN (
                 SELECT id FROM executions WHERE created_at < $1 AND status IN ('succeeded', 'failed', 'cancelled')
                 ORDER BY created_at LIMIT $2)
             {DELETED}"
        ))
        .bind(before)
        .bind(i64::from(batch))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        Self::uncount(tx, gone).await
    }

    async fn workflows_with_more_executions_than(&self, keep: u32) -> AppResult<Vec<WorkflowId>> {
        // Finished runs from the chart's per-workflow rollup (a few rows per
        // workflow and hour, not one per run), the rest counted one by one
        // (few: the status index holds them apart).
        sqlx::query_scalar(
            "SELECT workflow_id FROM (
                 SELECT workflow_id, SUM(count) AS runs FROM execution_hours WHERE workflow_id <> 0
                 GROUP BY workflow_id
                 UNION ALL
                 SELECT workflow_id, COUNT(*) FROM executions WHERE status IN ('queued', 'running', 'waiting')
                 GROUP BY workflow_id
             ) counted GROUP BY workflow_id HAVING SUM(runs) > $1",
        )
        .bind(i64::from(keep))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)
    }

    async fn delete_executions_beyond(&self, workflow: WorkflowId, keep: u32, batch: u32) -> AppResult<u64> {
        if keep == 0 {
            return Ok(0);
        }
        // The sort key of the `keep`-th newest execution: everything older goes.
        let cutoff: Option<(i64, i64)> = sqlx::query_as(
            "SELECT created_at, id FROM executions WHERE workflow_id = $1
             ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $2",
        )
        .bind(workflow)
        .bind(i64::from(keep) - 1)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        let Some((at, id)) = cutoff else { return Ok(0) };
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let gone: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "DELETE FROM executions WHERE id IN (
                 SELECT id FROM executions WHERE workflow_id = $1 AND (created_at, id) < ($2, $3)
                 AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY created_at LIMIT $4)
             {DELETED}"
        ))
        .bind(workflow)
        .bind(at)
        .bind(id)
        .bind(i64::from(batch))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        Self::uncount(tx, gone).await
    }

    async fn compact(&self) -> AppResult<()> {
        self.compact_storage().await.map_err(db_error)
    }
}
