//! Workflows and their immutable versions.

use std::collections::HashMap;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::store::WorkflowStore;
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::QueryBuilder;

use super::chart::Ended;
use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::{db_error, not_found};
use crate::store::lists::{self, WORKFLOW_COLUMNS};
use crate::store::rows::{page_of, VersionRow, WorkflowRow};
use app::model::now_ms;

impl Backend {
    /// A workflow's list row, within the scope: its details, or `NotFound`.
    pub(super) async fn summary(&self, scope: Scope, id: WorkflowId) -> AppResult<WorkflowSummary> {
        let mut query = QueryBuilder::<Db>::new(WORKFLOW_COLUMNS);
        query.push(" AND w.id = ").push_bind(id);
        lists::scope(&mut query, "w.owner_id", scope);
        let row: WorkflowRow = query.build_query_as().fetch_one(self.reader()).await.map_err(not_found("workflow"))?;
        row.try_into()
    }

    /// Stores a workflow's new version with its triggers, and commits.
    async fn commit_version(
        mut tx: sqlx::Transaction<'_, Db>,
        id: WorkflowId,
        version: i32,
        definition: &WorkflowDefinition,
        now: i64,
    ) -> AppResult<()> {
        sqlx::query(
            "INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(version)
        .bind(Json(definition))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        Self::write_triggers(&mut tx, id, definition).await?;
        Self::write_credential_uses(&mut tx, id, definition).await?;
        tx.commit().await.map_err(db_error)
    }
}

#[async_trait]
impl WorkflowStore for Backend {
    async fn create_workflow(&self, owner: UserId, definition: &WorkflowDefinition) -> AppResult<WorkflowSummary> {
        let now = now_ms();
        let mut tx = self.writer().begin().await.map_err(db_error)?;
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
        Self::commit_version(tx, id, 1, definition, now).await?;
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
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // The increment takes the row lock (PostgreSQL) or the write lock
        // (SQLite), so two concurrent saves get distinct version numbers.
        let mut query = QueryBuilder::<Db>::new("UPDATE workflows SET current_version = current_version + 1, name = ");
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
        let version: i32 = query.build_query_scalar().fetch_one(&mut *tx).await.map_err(not_found("workflow"))?;
        Self::commit_version(tx, id, version, definition, now).await?;
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
        let mut summaries = QueryBuilder::<Db>::new(WORKFLOW_COLUMNS);
        summaries.push(" AND w.id IN (");
        let mut list = summaries.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        summaries.push(")");
        lists::scope(&mut summaries, "w.owner_id", scope);
        let rows: Vec<WorkflowRow> = summaries.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        let mut found: HashMap<WorkflowId, WorkflowSummary> = HashMap::new();
        for row in rows {
            let summary: WorkflowSummary = row.try_into()?;
            found.insert(summary.id, summary);
        }
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let mut versions = QueryBuilder::<Db>::new(
            "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v
             JOIN workflows w ON w.id = v.workflow_id AND v.version = w.current_version WHERE w.id IN (",
        );
        let mut list = versions.separated(", ");
        for id in found.keys() {
            list.push_bind(*id);
        }
        versions.push(")");
        let rows: Vec<VersionRow> = versions.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        let mut definitions: HashMap<WorkflowId, WorkflowDefinition> = rows
            .into_iter()
            .map(|r| {
                let v: WorkflowVersion = r.into();
                (v.workflow_id, v.definition)
            })
            .collect();
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
        let mut query = QueryBuilder::<Db>::new(
            "SELECT v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v
             JOIN workflows w ON w.id = v.workflow_id WHERE v.workflow_id = ",
        );
        query.push_bind(id).push(" AND v.version = ").push_bind(version);
        lists::scope(&mut query, "w.owner_id", scope);
        let row: VersionRow =
            query.build_query_as().fetch_one(self.reader()).await.map_err(not_found("workflow version"))?;
        Ok(row.into())
    }

    async fn workflow_versions(&self, scope: Scope, id: WorkflowId) -> AppResult<Vec<WorkflowVersion>> {
        self.summary(scope, id).await?;
        let rows: Vec<VersionRow> = sqlx::query_as(
            "SELECT workflow_id, version, definition, created_at FROM workflow_versions
             WHERE workflow_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(self.reader())
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
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut query = QueryBuilder::<Db>::new("");
        lists::workflows_page(&mut query, scope, search, Self::name_search, after, limit)?;
        let rows: Vec<WorkflowRow> = query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        let items = rows.into_iter().map(WorkflowSummary::try_from).collect::<AppResult<Vec<_>>>()?;
        Ok(page_of(items, limit, |w| Cursor { at: w.updated_at, id: w.id }))
    }

    async fn delete_workflow(&self, scope: Scope, id: WorkflowId) -> AppResult<()> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let mut query = QueryBuilder::<Db>::new("DELETE FROM workflows WHERE id = ");
        query.push_bind(id);
        lists::scope(&mut query, "owner_id", scope);
        query.push(" RETURNING owner_id");
        let owner: Option<i64> = query.build_query_scalar().fetch_optional(&mut *tx).await.map_err(db_error)?;
        let Some(owner) = owner else {
            tx.rollback().await.map_err(db_error)?;
            return Err(AppError::NotFound("workflow".into()));
        };
        // Its runs went with it: their hours come off the chart's counts
        // (its own rows, and its share of its owner's and everyone's).
        let hours: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT hour, status, count FROM execution_hours WHERE owner_id = $1 AND workflow_id = $2")
                .bind(owner)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
        let changes: Vec<Ended> = hours
            .into_iter()
            .map(|(hour, status, count)| Ended { owner, workflow: id, created_at: hour, status, delta: -count })
            .collect();
        Self::count_ended(&mut tx, &changes).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn workflow_names(&self, scope: Scope, ids: &[WorkflowId]) -> AppResult<Vec<(WorkflowId, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Db>::new("SELECT id, name FROM workflows WHERE id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
        lists::scope(&mut query, "owner_id", scope);
        query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)
    }
}
