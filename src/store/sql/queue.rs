//! The queue: claiming executions under a lease, renewing and handing leases
//! back, and cancelling.

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::store::{ExecutionStore, QueueStore};
use app::ports::{HeldExecution, Lease};
use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::chart::Ended;
use super::{Backend, Db};
use crate::store::dialect::{Dialect, NODE_RUN_COLUMNS};
use crate::store::error::db_error;
use crate::store::lists::{self, EXECUTION_COLUMNS};
use crate::store::rows::{ExecutionRow, NodeRunRow};
use app::model::now_ms;

impl Backend {
    /// Claims up to `limit` unfinished executions matching `condition`
    /// (which may use `$1`, the current time).
    async fn claim_where(&self, lease: &Lease, now: i64, condition: &str, limit: u32) -> AppResult<Vec<Execution>> {
        let rows: Vec<ExecutionRow> = sqlx::query_as(&format!(
            "UPDATE executions SET status = 'running', started_at = COALESCE(started_at, $1),
                 lease_owner = $2, lease_expires_at = $3
             WHERE id IN (
                 SELECT id FROM executions WHERE status IN ('queued', 'running') AND {condition}
                 LIMIT $4 {})
             RETURNING {EXECUTION_COLUMNS}",
            Self::CLAIM_LOCK
        ))
        .bind(now)
        .bind(&lease.owner)
        .bind(lease.expires_at)
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await
        .map_err(db_error)?;
        rows.into_iter().map(Execution::try_from).collect()
    }
}

/// ` AND owner_id NOT IN (…)` for the owners in `skip` (numbers, written
/// into the statement: the list changes with every claim, so a prepared
/// statement per length would be no better).
fn not_owned_by(skip: &[UserId]) -> String {
    if skip.is_empty() {
        return String::new();
    }
    let ids: Vec<String> = skip.iter().map(|id| id.to_string()).collect();
    format!(" AND owner_id NOT IN ({})", ids.join(", "))
}

#[async_trait]
impl QueueStore for Backend {
    async fn claim_executions(
        &self,
        lease: &Lease,
        now: i64,
        limit: u32,
        skip: &[UserId],
    ) -> AppResult<Vec<Execution>> {
        // Takeovers first (leases that expired, oldest expiry first), then
        // the queue in order (0: queued, or handed back): a long queue
        // must not delay the takeover of a dead process's executions.
        let mut claimed = self
            .claim_where(
                lease,
                now,
                "lease_expires_at > 0 AND lease_expires_at <= $1 ORDER BY lease_expires_at, id",
                limit,
            )
            .await?;
        let room = limit.saturating_sub(claimed.len() as u32);
        if room > 0 {
            let queued = format!("lease_expires_at = 0{} ORDER BY id", not_owned_by(skip));
            claimed.extend(self.claim_where(lease, now, &queued, room).await?);
        }
        Ok(claimed)
    }

    async fn node_runs_of(&self, ids: &[ExecutionId]) -> AppResult<Vec<NodeRun>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT {NODE_RUN_COLUMNS} FROM node_runs WHERE execution_id IN ("));
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
        let rows: Vec<NodeRunRow> = query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.into_iter().map(NodeRun::try_from).collect()
    }

    async fn renew_leases(&self, lease: &Lease) -> AppResult<Vec<HeldExecution>> {
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "UPDATE executions SET lease_expires_at = $1
             WHERE lease_owner = $2 AND status IN ('queued', 'running')
             RETURNING id, cancel_requested",
        )
        .bind(lease.expires_at)
        .bind(&lease.owner)
        .fetch_all(self.writer())
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(|(id, cancel_requested)| HeldExecution { id, cancel_requested }).collect())
    }

    async fn expire_leases(&self) -> AppResult<u64> {
        sqlx::query(
            "UPDATE executions SET lease_expires_at = 0 WHERE status IN ('queued', 'running') AND lease_expires_at > 0",
        )
        .execute(self.writer())
        .await
        .map(|done| done.rows_affected())
        .map_err(db_error)
    }

    async fn release_executions(&self, owner: &str, ids: &[ExecutionId]) -> AppResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut query = QueryBuilder::<Db>::new(
            "UPDATE executions SET lease_owner = NULL, lease_expires_at = 0
             WHERE status IN ('queued', 'running') AND lease_owner = ",
        );
        query.push_bind(owner).push(" AND id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
        query.build().execute(self.writer()).await.map(|_| ()).map_err(db_error)
    }

    async fn next_claimable_at(&self, owner: &str, skip: &[UserId]) -> AppResult<Option<i64>> {
        // A skipped owner's runs count while leased elsewhere (a takeover
        // claims them whoever owns them), not while queued.
        let skipped = match not_owned_by(skip) {
            none if none.is_empty() => none,
            not_owned => format!(" AND (lease_expires_at > 0 OR ({}))", not_owned.trim_start_matches(" AND ")),
        };
        sqlx::query_scalar(&format!(
            "SELECT MIN(lease_expires_at) FROM executions
             WHERE status IN ('queued', 'running') AND (lease_owner IS NULL OR lease_owner <> $1){skipped}"
        ))
        .bind(owner)
        .fetch_one(self.reader())
        .await
        .map_err(db_error)
    }

    async fn request_cancel(&self, scope: Scope, id: ExecutionId) -> AppResult<ExecutionStatus> {
        // Queued or parked at `wait` nodes: it runs nowhere, so it ends here;
        // its waiting nodes are cancelled and their waits go with them.
        let now = now_ms();
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let mut query = QueryBuilder::<Db>::new(
            "UPDATE executions SET status = 'cancelled', error = 'the run was cancelled', finished_at = ",
        );
        query
            .push_bind(now)
            .push(", lease_owner = NULL, lease_expires_at = 0 WHERE status IN ('queued', 'waiting') AND id = ")
            .push_bind(id);
        lists::scope(&mut query, "owner_id", scope);
        query.push(" RETURNING owner_id, workflow_id, created_at");
        let cancelled: Option<(i64, i64, i64)> =
            query.build_query_as().fetch_optional(&mut *tx).await.map_err(db_error)?;
        if let Some((owner, workflow, created_at)) = cancelled {
            let status = ExecutionStatus::Cancelled.as_str().to_owned();
            Self::count_ended(&mut tx, &[Ended { owner, workflow, created_at, status, delta: 1 }])
                .await
                .map_err(db_error)?;
            sqlx::query(
                "UPDATE node_runs SET status = 'cancelled', finished_at = $1
                 WHERE execution_id = $2 AND status = 'waiting'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            Self::delete_waits(&mut *tx, id).await.map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            return Ok(ExecutionStatus::Cancelled);
        }
        tx.commit().await.map_err(db_error)?;
        let mut query =
            QueryBuilder::<Db>::new("UPDATE executions SET cancel_requested = TRUE WHERE status = 'running' AND id = ");
        query.push_bind(id);
        lists::scope(&mut query, "owner_id", scope);
        if query.build().execute(self.writer()).await.map_err(db_error)?.rows_affected() == 1 {
            return Ok(ExecutionStatus::Running);
        }
        let execution = self.execution(scope, id).await?;
        Err(AppError::Conflict(format!("the execution already ended ({})", execution.status)))
    }
}
