//! What `llm` nodes spent: calls recorded in batches, summed per run,
//! workflow or user, and per day.

use app::error::AppResult;
use app::model::usage::DAY_MS;
use app::model::*;
use app::ports::store::UsageStore;
use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::db_error;

/// Rows per INSERT: well under both databases' bind limits (11 binds a row).
const ROWS_PER_INSERT: usize = 500;

/// PostgreSQL sums BIGINTs as NUMERIC: cast back.
const SUMS: &str = "COUNT(*), CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), \
     CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT)";

type SumRow = (i64, i64, i64, i64, i64);

fn totals((calls, prompt_tokens, completion_tokens, cost_micros, unpriced_calls): SumRow) -> UsageTotals {
    UsageTotals { calls, prompt_tokens, completion_tokens, cost_micros, unpriced_calls }
}

#[async_trait]
impl UsageStore for Backend {
    async fn record_llm_calls(&self, calls: &[LlmCall]) -> AppResult<()> {
        if calls.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        for chunk in calls.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Db>::new(
                "INSERT INTO llm_calls (execution_id, workflow_id, user_id, node_id, provider, model, \
                 prompt_tokens, completion_tokens, cost_micros, at) ",
            );
            // The workflow is the run's, read in the same statement.
            insert.push_values(chunk, |mut row, call| {
                row.push_bind(call.execution_id)
                    .push("(SELECT workflow_id FROM executions WHERE id = ")
                    .push_bind_unseparated(call.execution_id)
                    .push_unseparated(")")
                    .push_bind(call.user_id)
                    .push_bind(&call.node_id)
                    .push_bind(&call.provider)
                    .push_bind(&call.model)
                    .push_bind(call.prompt_tokens)
                    .push_bind(call.completion_tokens)
                    .push_bind(call.cost_micros)
                    .push_bind(call.at);
            });
            insert.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn llm_usage(&self, of: UsageOf, since: i64) -> AppResult<UsageTotals> {
        let mut query = QueryBuilder::<Db>::new(format!("SELECT {SUMS} FROM llm_calls WHERE "));
        match of {
            UsageOf::Execution(id) => query.push("execution_id = ").push_bind(id),
            UsageOf::Workflow(id) => query.push("workflow_id = ").push_bind(id),
            UsageOf::User(id) => query.push("user_id = ").push_bind(id),
        };
        query.push(" AND at >= ").push_bind(since);
        let row: SumRow = query.build_query_as().fetch_one(self.reader()).await.map_err(db_error)?;
        Ok(totals(row))
    }

    async fn llm_usage_by_day(&self, user: UserId, since: i64) -> AppResult<Vec<(i64, UsageTotals)>> {
        let mut query = QueryBuilder::<Db>::new("SELECT (at / ");
        query.push(DAY_MS.to_string()).push(format!(") * {DAY_MS} AS day, {SUMS} FROM llm_calls WHERE user_id = "));
        query.push_bind(user).push(" AND at >= ").push_bind(since).push(" GROUP BY day ORDER BY day");
        let rows: Vec<(i64, i64, i64, i64, i64, i64)> =
            query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        Ok(rows.into_iter().map(|(day, a, b, c, d, e)| (day, totals((a, b, c, d, e)))).collect())
    }
}
