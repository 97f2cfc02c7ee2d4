//! The SQL both backends share, as one `Store` implementation stamped out per
//! backend by `impl_store!`. A macro rather than generics because sqlx's generic
//! bounds (`Encode`/`Decode`/`Type` for every column type, executor lifetimes)
//! would drown the queries; the macro keeps each query readable, in one place.
//!
//! A backend type using the macro provides:
//! - fields `pool: sqlx::Pool<DB>` for reads and `writer: sqlx::Pool<DB>` for
//!   writes (on SQLite a one-connection pool, so writers queue in the pool
//!   instead of sleeping in SQLite's busy handler; on PostgreSQL the same pool);
//! - and, in its module, a function `name_search(search: &str) -> (&str, String, &str)`:
//!   a condition on `w.name` served by that backend's search index
//!   (`lists::NameSearch`).
//!
//! The list pages' SQL and the history's filters live in `lists`, shared with
//! the SQLite page reader.

pub(crate) const NODE_RUN_COLUMNS: &str =
    "execution_id, node_id, status, attempt, input, output, error, started_at, finished_at";

/// Rows per multi-row INSERT: 9 columns × 500 rows stays far below both
/// backends' limits on bound parameters.
pub(crate) const NODE_RUN_BATCH: usize = 500;

/// Executions per INSERT of a group of new executions: 10 parameters × 100 rows.
pub(crate) const CREATE_BATCH: usize = 100;

/// Executions per fenced UPDATE of a group commit: 5 parameters × 200 rows.
pub(crate) const FINISH_BATCH: usize = 200;

/// The largest page a list may ask for.
pub(crate) const MAX_PAGE: u32 = 500;

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal) => {
        use app::error::{AppError, AppResult};
        use app::model::*;
        use app::ports::{ExecutionStart, Finish, HeldExecution, Lease, NewExecution, Store};
        use serde_json::Value;
        use sqlx::types::Json;
        use sqlx::QueryBuilder;

        use crate::store::error::{db_error, not_found};
        use crate::store::lists;
        use crate::store::like_pattern;
        use crate::store::now_ms;
        use crate::store::rows::*;
        use crate::store::lists::{EXECUTION_COLUMNS, WORKFLOW_COLUMNS};
        use crate::store::sql::{CREATE_BATCH, FINISH_BATCH, MAX_PAGE, NODE_RUN_BATCH, NODE_RUN_COLUMNS};

        impl $store {
            async fn insert_user<'e>(
                executor: impl sqlx::Executor<'e, Database = $db>,
                email: &str,
                password_hash: Option<&str>,
                is_admin: bool,
            ) -> AppResult<User> {
                let row: UserRow = sqlx::query_as(
                    "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4)
                     RETURNING id, email, is_admin, created_at",
                )
                .bind(email)
                .bind(password_hash)
                .bind(is_admin)
                .bind(now_ms())
                .fetch_one(executor)
                .await
                .map_err(|e| match db_error(e) {
                    AppError::Conflict(_) => AppError::Conflict(format!("a user with email {email} already exists")),
                    other => other,
                })?;
                Ok(row.into())
            }

            async fn summary(&self, scope: Scope, id: WorkflowId) -> AppResult<WorkflowSummary> {
                let mut query = QueryBuilder::<$db>::new(WORKFLOW_COLUMNS);
                query.push(" AND w.id = ").push_bind(id);
                lists::scope(&mut query, "w.owner_id", scope);
                let row: WorkflowRow =
                    query.build_query_as().fetch_one(&self.pool).await.map_err(not_found("workflow"))?;
                row.try_into()
            }

            /// Replaces a workflow's webhook and schedule rows with those of `definition`.
            async fn write_triggers(
                tx: &mut sqlx::Transaction<'_, $db>,
                workflow_id: WorkflowId,
                definition: &WorkflowDefinition,
            ) -> AppResult<()> {
                sqlx::query("DELETE FROM webhooks WHERE workflow_id = $1").bind(workflow_id).execute(&mut **tx).await.map_err(db_error)?;
                sqlx::query("DELETE FROM schedules WHERE workflow_id = $1").bind(workflow_id).execute(&mut **tx).await.map_err(db_error)?;
                for trigger in definition.typed_triggers() {
                    match trigger {
                        TriggerDefinition::Webhook(hook) => {
                            let mode = match hook.mode { WebhookMode::Sync => "sync", WebhookMode::Async => "async" };
                            sqlx::query("INSERT INTO webhooks (path, workflow_id, method, mode, respond_with) VALUES ($1, $2, $3, $4, $5)")
                                .bind(&hook.path)
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
                .fetch_all(&self.writer)
                .await
                .map_err(db_error)?;
                rows.into_iter().map(Execution::try_from).collect()
            }

            async fn write_node_runs(
                tx: &mut sqlx::Transaction<'_, $db>,
                runs: &[NodeRun],
            ) -> Result<(), sqlx::Error> {
                for chunk in runs.chunks(NODE_RUN_BATCH) {
                    let mut query = QueryBuilder::<$db>::new(format!("INSERT INTO node_runs ({NODE_RUN_COLUMNS}) "));
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

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn pool_stats(&self) -> (u32, usize) {
                (self.pool.size(), self.pool.num_idle())
            }

            async fn ping(&self) -> AppResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(db_error)
            }

            async fn create_user(&self, email: &str, password_hash: Option<&str>, is_admin: bool) -> AppResult<User> {
                Self::insert_user(&self.writer, email, password_hash, is_admin).await
            }

            async fn create_first_admin(&self, email: &str, password_hash: &str) -> AppResult<User> {
                let mut tx = self.writer.begin().await.map_err(db_error)?;
                // The `setup` setting is the lock: a set-up racing this one waits
                // for this transaction on PostgreSQL (SQLite has one writer) and
                // then finds the key taken.
                let claimed = sqlx::query("INSERT INTO settings (key, value) VALUES ('setup', $1) ON CONFLICT (key) DO NOTHING")
                    .bind(Json(serde_json::json!({ "admin": email, "at": now_ms() })))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                if claimed == 0 {
                    return Err(AppError::Conflict("Weft is already set up; sign in instead".into()));
                }
                let admin = Self::insert_user(&mut *tx, email, Some(password_hash), true).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(admin)
            }

            async fn user_by_email(&self, email: &str) -> AppResult<Option<User>> {
                let row: Option<UserRow> =
                    sqlx::query_as("SELECT id, email, is_admin, created_at FROM users WHERE email = $1")
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?;
                Ok(row.map(Into::into))
            }

            async fn count_users(&self) -> AppResult<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn user(&self, id: UserId) -> AppResult<User> {
                let row: UserRow = sqlx::query_as("SELECT id, email, is_admin, created_at FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(not_found("user"))?;
                Ok(row.into())
            }

            async fn credentials(&self, email: &str) -> AppResult<Option<(User, String)>> {
                let row: Option<(i64, String, bool, i64, String)> = sqlx::query_as(
                    "SELECT id, email, is_admin, created_at, password_hash FROM users
                     WHERE email = $1 AND password_hash IS NOT NULL",
                )
                .bind(email)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(row.map(|(id, email, is_admin, created_at, hash)| (User { id, email, is_admin, created_at }, hash)))
            }

            async fn has_admin(&self) -> AppResult<bool> {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE is_admin AND password_hash IS NOT NULL)")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn list_users(&self) -> AppResult<Vec<User>> {
                let rows: Vec<UserRow> = sqlx::query_as(
                    "SELECT id, email, is_admin, created_at FROM users WHERE password_hash IS NOT NULL ORDER BY email",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn transfer_ownership(&self, from: UserId, to: UserId) -> AppResult<()> {
                let mut tx = self.writer.begin().await.map_err(db_error)?;
                for table in ["workflows", "executions"] {
                    sqlx::query(&format!("UPDATE {table} SET owner_id = $1 WHERE owner_id = $2"))
                        .bind(to)
                        .bind(from)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn create_session(&self, token_hash: &str, user: UserId, expires_at: i64) -> AppResult<()> {
                sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(token_hash)
                    .bind(user)
                    .bind(now_ms())
                    .bind(expires_at)
                    .execute(&self.writer)
                    .await
                    .map(|_| ())
                    .map_err(db_error)
            }

            async fn session_user(&self, token_hash: &str, now: i64) -> AppResult<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(
                    "SELECT u.id, u.email, u.is_admin, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(row.map(Into::into))
            }

            async fn delete_session(&self, token_hash: &str) -> AppResult<()> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.writer)
                    .await
                    .map(|_| ())
                    .map_err(db_error)
            }

            async fn delete_expired_sessions(&self, now: i64) -> AppResult<u64> {
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(db_error)
            }

            async fn record_sign_in_attempt(&self, subject: &str, at: i64, since: i64) -> AppResult<i64> {
                sqlx::query("INSERT INTO sign_in_attempts (subject, at) VALUES ($1, $2)")
                    .bind(subject)
                    .bind(at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                sqlx::query_scalar("SELECT COUNT(*) FROM sign_in_attempts WHERE subject = $1 AND at >= $2")
                    .bind(subject)
                    .bind(since)
                    .fetch_one(&self.writer)
                    .await
                    .map_err(db_error)
            }

            async fn delete_sign_in_attempts_before(&self, before: i64) -> AppResult<u64> {
                sqlx::query("DELETE FROM sign_in_attempts WHERE at < $1")
                    .bind(before)
                    .execute(&self.writer)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(db_error)
            }

            async fn create_api_key(&self, user: UserId, name: &str, prefix: &str, secret_hash: &str) -> AppResult<ApiKey> {
                let row: ApiKeyRow = sqlx::query_as(
                    "INSERT INTO api_keys (user_id, name, prefix, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)
                     RETURNING id, user_id, name, prefix, created_at, revoked_at",
                )
                .bind(user)
                .bind(name)
                .bind(prefix)
                .bind(secret_hash)
                .bind(now_ms())
                .fetch_one(&self.writer)
                .await
                .map_err(db_error)?;
                Ok(row.into())
            }

            async fn api_key_by_prefix(&self, prefix: &str) -> AppResult<Option<(ApiKey, String, User)>> {
                let row: Option<(i64, i64, String, String, i64, String, String, bool, i64)> = sqlx::query_as(
                    "SELECT k.id, k.user_id, k.name, k.prefix, k.created_at, k.secret_hash, u.email, u.is_admin, u.created_at
                     FROM api_keys k JOIN users u ON u.id = k.user_id
                     WHERE k.prefix = $1 AND k.revoked_at IS NULL",
                )
                .bind(prefix)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(row.map(|(id, user_id, name, prefix, created_at, hash, email, is_admin, user_created_at)| {
                    (
                        ApiKey { id, user_id, name, prefix, created_at, revoked_at: None },
                        hash,
                        User { id: user_id, email, is_admin, created_at: user_created_at },
                    )
                }))
            }

            async fn list_api_keys(&self, user: UserId) -> AppResult<Vec<ApiKey>> {
                let rows: Vec<ApiKeyRow> = sqlx::query_as(
                    "SELECT id, user_id, name, prefix, created_at, revoked_at FROM api_keys
                     WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
                )
                .bind(user)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke_api_key(&self, user: UserId, id: i64) -> AppResult<()> {
                let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                    .bind(now_ms())
                    .bind(id)
                    .bind(user)
                    .execute(&self.writer)
                    .await
                    .map_err(db_error)?;
                if done.rows_affected() == 0 {
                    return Err(AppError::NotFound("API key".into()));
                }
                Ok(())
            }

            async fn create_workflow(&self, owner: UserId, definition: &WorkflowDefinition) -> AppResult<WorkflowSummary> {
                let now = now_ms();
                let mut tx = self.writer.begin().await.map_err(db_error)?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO workflows (owner_id, name, description, current_version, created_at, updated_at)
                     VALUES ($1, $2, $3, 1, $4, $4) RETURNING id",
                )
                .bind(owner)
                .bind(&definition.name)
                .bind(&definition.description)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query("INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES ($1, 1, $2, $3)")
                    .bind(id)
                    .bind(Json(definition))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                Self::write_triggers(&mut tx, id, definition).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(WorkflowSummary {
                    id,
                    owner_id: owner,
                    name: definition.name.clone(),
                    description: definition.description.clone(),
                    current_version: 1,
                    created_at: now,
                    updated_at: now,
                    last_execution: None,
                })
            }

            async fn save_workflow_version(
                &self,
                scope: Scope,
                id: WorkflowId,
                definition: &WorkflowDefinition,
            ) -> AppResult<WorkflowVersion> {
                let now = now_ms();
                let mut tx = self.writer.begin().await.map_err(db_error)?;
                // The increment takes the row lock (PostgreSQL) or the write lock
                // (SQLite), so two concurrent saves get distinct version numbers.
                let mut query = QueryBuilder::<$db>::new("UPDATE workflows SET current_version = current_version + 1, name = ");
                query
                    .push_bind(&definition.name)
                    .push(", description = ")
                    .push_bind(&definition.description)
                    .push(", updated_at = ")
                    .push_bind(now)
                    .push(" WHERE id = ")
                    .push_bind(id);
                if let Scope::Owner(owner) = scope {
                    query.push(" AND owner_id = ").push_bind(owner);
                }
                query.push(" RETURNING current_version");
                let version: i32 = query
                    .build_query_scalar()
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(not_found("workflow"))?;
                sqlx::query("INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(version)
                    .bind(Json(definition))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                Self::write_triggers(&mut tx, id, definition).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(WorkflowVersion { workflow_id: id, version, definition: definition.clone(), created_at: now })
            }

            async fn workflow(&self, scope: Scope, id: WorkflowId) -> AppResult<Workflow> {
                let summary = self.summary(scope, id).await?;
                let version = self.workflow_version(Scope::Everyone, id, summary.current_version).await?;
                Ok(Workflow { summary, definition: version.definition })
            }

            async fn workflows(&self, scope: Scope, ids: &[WorkflowId]) -> AppResult<Vec<Workflow>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut summaries = QueryBuilder::<$db>::new(WORKFLOW_COLUMNS);
                summaries.push(" AND w.id IN (");
                let mut list = summaries.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                summaries.push(")");
                lists::scope(&mut summaries, "w.owner_id", scope);
                let rows: Vec<WorkflowRow> = summaries.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
                let mut found: std::collections::HashMap<WorkflowId, WorkflowSummary> = std::collections::HashMap::new();
                for row in rows {
                    let summary: WorkflowSummary = row.try_into()?;
                    found.insert(summary.id, summary);
                }
                if found.is_empty() {
                    return Ok(Vec::new());
                }
                let mut versions = QueryBuilder::<$db>::new(
                    "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v
                     JOIN workflows w ON w.id = v.workflow_id AND v.version = w.current_version WHERE w.id IN (",
                );
                let mut list = versions.separated(", ");
                for id in found.keys() {
                    list.push_bind(*id);
                }
                versions.push(")");
                let rows: Vec<VersionRow> = versions.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
                let mut definitions: std::collections::HashMap<WorkflowId, WorkflowDefinition> =
                    rows.into_iter().map(|r| { let v: WorkflowVersion = r.into(); (v.workflow_id, v.definition) }).collect();
                Ok(ids
                    .iter()
                    .filter_map(|id| {
                        let summary = found.remove(id)?;
                        let definition = definitions.remove(id)?;
                        Some(Workflow { summary, definition })
                    })
                    .collect())
            }

            async fn workflow_version(&self, scope: Scope, id: WorkflowId, version: i32) -> AppResult<WorkflowVersion> {
                let mut query = QueryBuilder::<$db>::new(
                    "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v
                     JOIN workflows w ON w.id = v.workflow_id WHERE v.workflow_id = ",
                );
                query.push_bind(id).push(" AND v.version = ").push_bind(version);
                lists::scope(&mut query, "w.owner_id", scope);
                let row: VersionRow =
                    query.build_query_as().fetch_one(&self.pool).await.map_err(not_found("workflow version"))?;
                Ok(row.into())
            }

            async fn workflow_versions(&self, scope: Scope, id: WorkflowId) -> AppResult<Vec<WorkflowVersion>> {
                self.summary(scope, id).await?;
                let rows: Vec<VersionRow> = sqlx::query_as(
                    "SELECT workflow_id, version, definition, created_at FROM workflow_versions
                     WHERE workflow_id = $1 ORDER BY version DESC",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn list_workflows(
                &self,
                scope: Scope,
                search: Option<&str>,
                after: Option<Cursor>,
                limit: u32,
            ) -> AppResult<Page<WorkflowSummary>> {
                if let Some(pages) = self.page_reader() {
                    return pages.workflows(scope, search, after, limit).await;
                }
                let limit = limit.clamp(1, MAX_PAGE);
                let mut query = QueryBuilder::<$db>::new("");
                lists::workflows_page(&mut query, scope, search, name_search, after, limit)?;
                let rows: Vec<WorkflowRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
                let items = rows.into_iter().map(WorkflowSummary::try_from).collect::<AppResult<Vec<_>>>()?;
                Ok(page_of(items, limit, |w| Cursor { at: w.updated_at, id: w.id }))
            }

            async fn delete_workflow(&self, scope: Scope, id: WorkflowId) -> AppResult<()> {
                let mut query = QueryBuilder::<$db>::new("DELETE FROM workflows WHERE id = ");
                query.push_bind(id);
                lists::scope(&mut query, "owner_id", scope);
                let done = query.build().execute(&self.writer).await.map_err(db_error)?;
                if done.rows_affected() == 0 {
                    return Err(AppError::NotFound("workflow".into()));
                }
                Ok(())
            }

            async fn create_executions(&self, new: &[NewExecution]) -> AppResult<Vec<Execution>> {
                if new.is_empty() {
                    return Ok(Vec::new());
                }
                let now = now_ms();
                let mut created = Vec::with_capacity(new.len());
                for chunk in new.chunks(CREATE_BATCH) {
                    let mut query = QueryBuilder::<$db>::new(
                        "INSERT INTO executions (workflow_id, version, owner_id, trigger, input, status, created_at,
                                                 started_at, lease_owner, lease_expires_at) ",
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
                            .push_bind(lease_expires_at);
                    });
                    query.push(format!(" RETURNING {EXECUTION_COLUMNS}"));
                    let rows: Vec<ExecutionRow> =
                        query.build_query_as().fetch_all(&self.writer).await.map_err(|e| match db_error(e) {
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
                let mut tx = self.writer.begin().await.map_err(db_error)?;
                // The lock keeps another process from claiming the execution
                // until these states are in: a takeover then reads them.
                let held: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT id FROM executions WHERE id = $1 AND lease_owner = $2 AND status = 'running' {}",
                    Self::HOLD_LOCK
                ))
                .bind(execution)
                .bind(lease_owner)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                if held.is_none() {
                    return Ok(false);
                }
                Self::write_node_runs(&mut tx, runs).await.map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(true)
            }

            async fn finish_executions(&self, finishes: &[Finish]) -> AppResult<Vec<bool>> {
                if finishes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.writer.begin().await.map_err(db_error)?;
                let mut held = std::collections::HashSet::new();
                for chunk in finishes.chunks(FINISH_BATCH) {
                    // One fenced UPDATE for the whole batch: a process that lost a
                    // lease must not overwrite the states of the one that took over.
                    // (CAST rather than `::`, so that SQLite reads it too.)
                    let mut query = QueryBuilder::<$db>::new(
                        "WITH ends (execution_id, owner, new_status, new_error, new_finished_at) AS (",
                    );
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
                         RETURNING id",
                    );
                    let written: Vec<i64> = query.build_query_scalar().fetch_all(&mut *tx).await.map_err(db_error)?;
                    held.extend(written);
                }
                let runs: Vec<NodeRun> = finishes
                    .iter()
                    .filter(|finish| held.contains(&finish.id))
                    .flat_map(|finish| finish.last_runs.iter().cloned())
                    .collect();
                Self::write_node_runs(&mut tx, &runs).await.map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(finishes.iter().map(|finish| held.contains(&finish.id)).collect())
            }

            async fn claim_executions(&self, lease: &Lease, now: i64, limit: u32) -> AppResult<Vec<Execution>> {
                // Takeovers first (leases that expired, oldest expiry first), then
                // the queue in order (0: queued, or handed back): a long queue
                // must not delay the takeover of a dead process's executions.
                let mut claimed = self
                    .claim_where(lease, now, "lease_expires_at > 0 AND lease_expires_at <= $1 ORDER BY lease_expires_at, id", limit)
                    .await?;
                let room = limit.saturating_sub(claimed.len() as u32);
                if room > 0 {
                    claimed.extend(self.claim_where(lease, now, "lease_expires_at = 0 ORDER BY id", room).await?);
                }
                Ok(claimed)
            }

            async fn node_runs_of(&self, ids: &[ExecutionId]) -> AppResult<Vec<NodeRun>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query =
                    QueryBuilder::<$db>::new(format!("SELECT {NODE_RUN_COLUMNS} FROM node_runs WHERE execution_id IN ("));
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                query.push(")");
                let rows: Vec<NodeRunRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
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
                .fetch_all(&self.writer)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(|(id, cancel_requested)| HeldExecution { id, cancel_requested }).collect())
            }

            async fn expire_leases(&self) -> AppResult<u64> {
                sqlx::query("UPDATE executions SET lease_expires_at = 0 WHERE status IN ('queued', 'running') AND lease_expires_at > 0")
                    .execute(&self.writer)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(db_error)
            }

            async fn release_executions(&self, owner: &str, ids: &[ExecutionId]) -> AppResult<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                let mut query = QueryBuilder::<$db>::new(
                    "UPDATE executions SET lease_owner = NULL, lease_expires_at = 0
                     WHERE status IN ('queued', 'running') AND lease_owner = ",
                );
                query.push_bind(owner).push(" AND id IN (");
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                query.push(")");
                query.build().execute(&self.writer).await.map(|_| ()).map_err(db_error)
            }

            async fn next_claimable_at(&self, owner: &str) -> AppResult<Option<i64>> {
                sqlx::query_scalar(
                    "SELECT MIN(lease_expires_at) FROM executions
                     WHERE status IN ('queued', 'running') AND (lease_owner IS NULL OR lease_owner <> $1)",
                )
                .bind(owner)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn request_cancel(&self, scope: Scope, id: ExecutionId) -> AppResult<ExecutionStatus> {
                let mut query = QueryBuilder::<$db>::new(
                    "UPDATE executions SET status = 'cancelled', error = 'the run was cancelled', finished_at = ",
                );
                query.push_bind(now_ms()).push(", lease_expires_at = 0 WHERE status = 'queued' AND id = ").push_bind(id);
                lists::scope(&mut query, "owner_id", scope);
                if query.build().execute(&self.writer).await.map_err(db_error)?.rows_affected() == 1 {
                    return Ok(ExecutionStatus::Cancelled);
                }
                let mut query = QueryBuilder::<$db>::new(
                    "UPDATE executions SET cancel_requested = TRUE WHERE status = 'running' AND id = ",
                );
                query.push_bind(id);
                lists::scope(&mut query, "owner_id", scope);
                if query.build().execute(&self.writer).await.map_err(db_error)?.rows_affected() == 1 {
                    return Ok(ExecutionStatus::Running);
                }
                let execution = self.execution(scope, id).await?;
                Err(AppError::Conflict(format!("the execution already ended ({})", execution.status)))
            }

            async fn execution(&self, scope: Scope, id: ExecutionId) -> AppResult<Execution> {
                let mut query = QueryBuilder::<$db>::new(format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = "));
                query.push_bind(id);
                lists::scope(&mut query, "owner_id", scope);
                let row: ExecutionRow =
                    query.build_query_as().fetch_one(&self.pool).await.map_err(not_found("execution"))?;
                row.try_into()
            }

            async fn node_runs(&self, scope: Scope, id: ExecutionId) -> AppResult<Vec<NodeRun>> {
                self.execution(scope, id).await?;
                let rows: Vec<NodeRunRow> = sqlx::query_as(&format!(
                    "SELECT {NODE_RUN_COLUMNS} FROM node_runs WHERE execution_id = $1
                     ORDER BY started_at IS NULL, started_at, node_id"
                ))
                .bind(id)
                .fetch_all(&self.pool)
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
                let limit = limit.clamp(1, MAX_PAGE);
                let mut query = QueryBuilder::<$db>::new("");
                lists::executions_page(&mut query, scope, filter, after, limit);
                let rows: Vec<ExecutionRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
                let items = rows.into_iter().map(Execution::try_from).collect::<AppResult<Vec<_>>>()?;
                Ok(page_of(items, limit, |e| Cursor { at: e.created_at, id: e.id }))
            }

            async fn count_executions_up_to(&self, scope: Scope, filter: &ExecutionFilter, cap: u32) -> AppResult<i64> {
                // Counting stops at the cap: a million-row history costs no more than `cap` index entries.
                let mut query = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE 1 = 1");
                lists::execution_filter(&mut query, scope, filter);
                query.push(" LIMIT ").push_bind(i64::from(cap)).push(") capped");
                query.build_query_scalar().fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn executions_per_hour(&self, scope: Scope, filter: &ExecutionFilter) -> AppResult<Vec<HourCount>> {
                let mut query = QueryBuilder::<$db>::new(
                    "SELECT (created_at / 3600000) * 3600000 AS hour, status, COUNT(*) FROM executions WHERE 1 = 1",
                );
                lists::execution_filter(&mut query, scope, filter);
                query.push(" GROUP BY hour, status ORDER BY hour, status");
                let rows: Vec<(i64, String, i64)> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
                rows.into_iter()
                    .map(|(hour, status, count)| {
                        let status = ExecutionStatus::parse(&status).ok_or(AppError::Internal)?;
                        Ok(HourCount { hour, status, count })
                    })
                    .collect()
            }

            async fn workflow_names(&self, scope: Scope, ids: &[WorkflowId]) -> AppResult<Vec<(WorkflowId, String)>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query = QueryBuilder::<$db>::new("SELECT id, name FROM workflows WHERE id IN (");
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                query.push(")");
                lists::scope(&mut query, "owner_id", scope);
                query.build_query_as().fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn webhook(&self, path: &str) -> AppResult<Option<WebhookTarget>> {
                let row: Option<(String, i64, i64, i32, String, String, Option<String>)> = sqlx::query_as(
                    "SELECT h.path, h.workflow_id, w.owner_id, w.current_version, h.method, h.mode, h.respond_with
                     FROM webhooks h JOIN workflows w ON w.id = h.workflow_id WHERE h.path = $1",
                )
                .bind(path)
                .fetch_optional(&self.pool)
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
                     WHERE s.next_fire_at IS NULL OR s.next_fire_at <= $1
                     ORDER BY s.next_fire_at LIMIT $2",
                )
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(schedule_from_row).collect())
            }

            async fn claim_schedule(&self, id: i64, expected: Option<i64>, next: i64) -> AppResult<bool> {
                let done = match expected {
                    Some(expected) => sqlx::query("UPDATE schedules SET next_fire_at = $1 WHERE id = $2 AND next_fire_at = $3")
                        .bind(next)
                        .bind(id)
                        .bind(expected)
                        .execute(&self.writer)
                        .await,
                    None => sqlx::query("UPDATE schedules SET next_fire_at = $1 WHERE id = $2 AND next_fire_at IS NULL")
                        .bind(next)
                        .bind(id)
                        .execute(&self.writer)
                        .await,
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
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(schedule_from_row).collect())
            }

            async fn next_schedule_time(&self) -> AppResult<Option<i64>> {
                sqlx::query_scalar("SELECT MIN(COALESCE(next_fire_at, 0)) FROM schedules")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn delete_executions_before(&self, before: i64, batch: u32) -> AppResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM executions WHERE id IN (
                         SELECT id FROM executions WHERE created_at < $1 AND status IN ('succeeded', 'failed', 'cancelled')
                         ORDER BY created_at LIMIT $2)",
                )
                .bind(before)
                .bind(i64::from(batch))
                .execute(&self.writer)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected())
            }

            async fn workflows_with_more_executions_than(&self, keep: u32) -> AppResult<Vec<WorkflowId>> {
                sqlx::query_scalar("SELECT workflow_id FROM executions GROUP BY workflow_id HAVING COUNT(*) > $1")
                    .bind(i64::from(keep))
                    .fetch_all(&self.pool)
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
                .fetch_optional(&self.pool)
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
                .execute(&self.writer)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected())
            }

            async fn compact(&self) -> AppResult<()> {
                Self::compact_storage(&self.pool, &self.writer).await.map_err(db_error)
            }

            async fn setting(&self, key: &str) -> AppResult<Option<Value>> {
                let value: Option<Json<Value>> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(value.map(|j| j.0))
            }

            async fn put_setting(&self, key: &str, value: &Value) -> AppResult<()> {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(Json(value))
                .execute(&self.writer)
                .await
                .map(|_| ())
                .map_err(db_error)
            }

            async fn upsert_template(
                &self,
                slug: &str,
                description: &str,
                definition: &WorkflowDefinition,
                author: Option<UserId>,
            ) -> AppResult<MarketplaceTemplate> {
                let row: TemplateRow = sqlx::query_as(
                    "INSERT INTO templates (slug, name, description, definition, author_id, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (slug) DO UPDATE SET name = excluded.name, description = excluded.description,
                         definition = excluded.definition, author_id = excluded.author_id
                     RETURNING id, slug, name, description, definition, author_id, created_at",
                )
                .bind(slug)
                .bind(&definition.name)
                .bind(description)
                .bind(Json(definition))
                .bind(author)
                .bind(now_ms())
                .fetch_one(&self.writer)
                .await
                .map_err(db_error)?;
                Ok(row.into())
            }

            async fn list_templates(&self, search: Option<&str>) -> AppResult<Vec<MarketplaceTemplate>> {
                // The marketplace holds tens of templates, not millions: a scan is fine.
                let mut query = QueryBuilder::<$db>::new(
                    "SELECT id, slug, name, description, definition, author_id, created_at FROM templates WHERE 1 = 1",
                );
                if let Some(search) = search.filter(|s| !s.is_empty()) {
                    crate::store::check_search(search)?;
                    let pattern = like_pattern(search);
                    query
                        .push(" AND (lower(name) LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR lower(description) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\')");
                }
                query.push(" ORDER BY name, id");
                let rows: Vec<TemplateRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn template(&self, slug: &str) -> AppResult<MarketplaceTemplate> {
                let row: TemplateRow = sqlx::query_as(
                    "SELECT id, slug, name, description, definition, author_id, created_at FROM templates WHERE slug = $1",
                )
                .bind(slug)
                .fetch_one(&self.pool)
                .await
                .map_err(not_found("template"))?;
                Ok(row.into())
            }
        }
    };
}
