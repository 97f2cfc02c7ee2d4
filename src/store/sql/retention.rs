//! Retention: deleting finished executions in short batches, and giving the
//! space back.

use app::error::AppResult;
use app::model::*;
use app::ports::store::RetentionStore;
use async_trait::async_trait;

use super::Backend;
use crate::store::dialect::Dialect;
use crate::store::error::db_error;

#[async_trait]
impl RetentionStore for Backend {
    async fn delete_executions_before(&self, before: i64, batch: u32) -> AppResult<u64> {
        let done = sqlx::query(
            "DELETE FROM executions WHERE id IN (
                 SELECT id FROM executions WHERE created_at < $1 AND status IN ('succeeded', 'failed', 'cancelled')
                 ORDER BY created_at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(batch))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
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
        let done = sqlx::query(
            "DELETE FROM executions WHERE id IN (
                 SELECT id FROM executions WHERE workflow_id = $1 AND (created_at, id) < ($2, $3)
                 AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY created_at LIMIT $4)",
        )
        .bind(workflow)
        .bind(at)
        .bind(id)
        .bind(i64::from(batch))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn compact(&self) -> AppResult<()> {
        self.compact_storage().await.map_err(db_error)
    }
}
