//! Triggers: the webhooks and schedules of each workflow's current version.

use app::error::{AppError, AppResult};
use app::model::triggers::hook_address_matches;
use app::model::*;
use app::ports::store::TriggerStore;
use async_trait::async_trait;

use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::db_error;
use crate::store::rows::schedule_from_row;

/// A new webhook id: random letters and digits (see `HOOK_ID_LEN`).
fn new_hook_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), app::model::triggers::HOOK_ID_LEN)
}

impl Backend {
    /// Replaces a workflow's webhook and schedule rows with those of `definition`.
    pub(super) async fn write_triggers(
        tx: &mut sqlx::Transaction<'_, Db>,
        workflow_id: WorkflowId,
        definition: &WorkflowDefinition,
    ) -> AppResult<()> {
        // A webhook keeps its address across versions: callers keep their URL.
        let kept: Vec<String> = sqlx::query_scalar("SELECT path FROM webhooks WHERE workflow_id = $1")
            .bind(workflow_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
        sqlx::query("DELETE FROM webhooks WHERE workflow_id = $1")
            .bind(workflow_id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        sqlx::query("DELETE FROM schedules WHERE workflow_id = $1")
            .bind(workflow_id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        for trigger in definition.typed_triggers() {
            match trigger {
                TriggerDefinition::Webhook(hook) => {
                    let address = kept
                        .iter()
                        .find(|address| hook_address_matches(address, &hook.path))
                        .cloned()
                        .unwrap_or_else(|| format!("{}/{}", new_hook_id(), hook.path));
                    let mode = match hook.mode {
                        WebhookMode::Sync => "sync",
                        WebhookMode::Async => "async",
                    };
                    sqlx::query("INSERT INTO webhooks (path, workflow_id, method, mode, respond_with) VALUES ($1, $2, $3, $4, $5)")
                        .bind(&address)
                        .bind(workflow_id)
                        .bind(&hook.method)
                        .bind(mode)
                        .bind(&hook.respond_with)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| match db_error(e) {
                            AppError::Conflict(_) => AppError::Conflict(format!("webhook path `{}` is already used by another workflow", hook.path)),
                            other => other,
                        })?;
                }
                TriggerDefinition::Cron(cron) => {
                    sqlx::query("INSERT INTO schedules (workflow_id, schedule, timezone) VALUES ($1, $2, $3)")
                        .bind(workflow_id)
                        .bind(&cron.schedule)
                        .bind(&cron.timezone)
                        .execute(&mut **tx)
                        .await
                        .map_err(db_error)?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TriggerStore for Backend {
    async fn webhook_addresses(&self, workflow: WorkflowId) -> AppResult<Vec<(String, String)>> {
        sqlx::query_as("SELECT method, path FROM webhooks WHERE workflow_id = $1 ORDER BY path")
            .bind(workflow)
            .fetch_all(self.reader())
            .await
            .map_err(db_error)
    }

    async fn webhook(&self, path: &str) -> AppResult<Option<WebhookTarget>> {
        let row: Option<(String, i64, i64, i32, String, String, Option<String>)> = sqlx::query_as(
            "SELECT h.path, h.workflow_id, w.owner_id, w.current_version, h.method, h.mode, h.respond_with
             FROM webhooks h JOIN workflows w ON w.id = h.workflow_id
             JOIN users u ON u.id = w.owner_id AND u.disabled_at IS NULL
             WHERE h.path = $1",
        )
        .bind(path)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        Ok(row.map(|(path, workflow_id, owner_id, version, method, mode, respond_with)| WebhookTarget {
            path,
            workflow_id,
            owner_id,
            version,
            method,
            mode: if mode == "async" { WebhookMode::Async } else { WebhookMode::Sync },
            respond_with,
        }))
    }

    async fn schedules_to_plan(&self, now: i64, limit: u32) -> AppResult<Vec<Schedule>> {
        let rows: Vec<(i64, i64, i64, i32, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT s.id, s.workflow_id, w.owner_id, w.current_version, s.schedule, s.timezone, s.next_fire_at
             FROM schedules s JOIN workflows w ON w.id = s.workflow_id
             JOIN users u ON u.id = w.owner_id AND u.disabled_at IS NULL
             WHERE (s.next_fire_at IS NULL OR s.next_fire_at <= $1)
             ORDER BY s.next_fire_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(schedule_from_row).collect())
    }

    async fn claim_schedule(&self, id: i64, expected: Option<i64>, next: i64) -> AppResult<bool> {
        let done = match expected {
            Some(expected) => {
                sqlx::query("UPDATE schedules SET next_fire_at = $1 WHERE id = $2 AND next_fire_at = $3")
                    .bind(next)
                    .bind(id)
                    .bind(expected)
                    .execute(self.writer())
                    .await
            }
            None => {
                sqlx::query("UPDATE schedules SET next_fire_at = $1 WHERE id = $2 AND next_fire_at IS NULL")
                    .bind(next)
                    .bind(id)
                    .execute(self.writer())
                    .await
            }
        }
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn workflow_schedules(&self, scope: Scope, id: WorkflowId) -> AppResult<Vec<Schedule>> {
        self.summary(scope, id).await?;
        let rows: Vec<(i64, i64, i64, i32, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT s.id, s.workflow_id, w.owner_id, w.current_version, s.schedule, s.timezone, s.next_fire_at
             FROM schedules s JOIN workflows w ON w.id = s.workflow_id WHERE s.workflow_id = $1 ORDER BY s.id",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(schedule_from_row).collect())
    }

    async fn next_schedule_time(&self) -> AppResult<Option<i64>> {
        // A disabled user's schedules wait until they are enabled again.
        sqlx::query_scalar(
            "SELECT MIN(COALESCE(s.next_fire_at, 0)) FROM schedules s JOIN workflows w ON w.id = s.workflow_id
             JOIN users u ON u.id = w.owner_id AND u.disabled_at IS NULL",
        )
        .fetch_one(self.reader())
        .await
        .map_err(db_error)
    }
}
