//! Credentials, sealed, and the credential names each workflow uses.

use std::collections::HashMap;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::store::CredentialStore;
use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::QueryBuilder;

use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::db_error;

#[derive(sqlx::FromRow)]
struct CredentialRow {
    id: i64,
    owner_id: Option<i64>,
    name: String,
    kind: String,
    created_by: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    connected_at: Option<i64>,
}

impl From<CredentialRow> for Credential {
    fn from(row: CredentialRow) -> Self {
        Credential {
            id: row.id,
            name: row.name,
            kind: row.kind,
            shared: row.owner_id.is_none(),
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_used_at: row.last_used_at,
            connected_at: row.connected_at,
            used_by: Vec::new(),
        }
    }
}

/// `id, name, sealed, tokens_sealed`.
type SealedRow = (i64, String, String, Option<String>);

fn sealed_credential((id, name, sealed, tokens): SealedRow) -> SealedCredential {
    SealedCredential { id, name, sealed, tokens }
}

const CREDENTIAL_COLUMNS: &str = "SELECT c.id, c.owner_id, c.name, c.kind, u.email AS created_by, c.created_at,
        c.updated_at, c.last_used_at, c.connected_at FROM credentials c LEFT JOIN users u ON u.id = c.created_by";

/// `AND <column> = owner` for a user's credential, `AND <column> IS NULL` for a shared one.
pub(super) fn push_owner(query: &mut QueryBuilder<'_, Db>, column: &str, owner: Ownership) {
    match owner {
        Ownership::User(user) => {
            query.push(format!(" AND {column} = ")).push_bind(user);
        }
        Ownership::Shared => {
            query.push(format!(" AND {column} IS NULL"));
        }
    }
}

impl Backend {
    /// Replaces the credential names a workflow uses with those of `definition`.
    pub(super) async fn write_credential_uses(
        tx: &mut sqlx::Transaction<'_, Db>,
        workflow_id: WorkflowId,
        definition: &WorkflowDefinition,
    ) -> AppResult<()> {
        sqlx::query("DELETE FROM workflow_credentials WHERE workflow_id = $1")
            .bind(workflow_id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        let names = credentials_used(definition);
        if names.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::<Db>::new("INSERT INTO workflow_credentials (workflow_id, name) ");
        insert.push_values(&names, |mut row, name| {
            row.push_bind(workflow_id).push_bind(name);
        });
        insert.build().execute(&mut **tx).await.map_err(db_error)?;
        Ok(())
    }
}

#[async_trait]
impl CredentialStore for Backend {
    async fn create_credential(
        &self,
        owner: Ownership,
        created_by: UserId,
        name: &str,
        kind: &str,
        sealed: &str,
    ) -> AppResult<Credential> {
        let now = now_ms();
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM credentials WHERE 1 = 1");
        push_owner(&mut count, "owner_id", owner);
        let held: i64 = count.build_query_scalar().fetch_one(&mut *tx).await.map_err(db_error)?;
        if held >= app::model::credentials::MAX_CREDENTIALS {
            let max = app::model::credentials::MAX_CREDENTIALS;
            tx.rollback().await.map_err(db_error)?;
            return Err(AppError::BadRequest(format!("at most {max} credentials: delete one before adding `{name}`")));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO credentials (owner_id, name, kind, sealed, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(owner.user())
        .bind(name)
        .bind(kind)
        .bind(sealed)
        .bind(created_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_error(e) {
            AppError::Conflict(_) => AppError::Conflict(format!("a credential named `{name}` already exists")),
            other => other,
        })?;
        let mut query = QueryBuilder::<Db>::new(CREDENTIAL_COLUMNS);
        query.push(" WHERE c.id = ").push_bind(id);
        let row: CredentialRow = query.build_query_as().fetch_one(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(row.into())
    }

    async fn list_credentials(&self, user: UserId) -> AppResult<Vec<Credential>> {
        let mut query = QueryBuilder::<Db>::new(CREDENTIAL_COLUMNS);
        query.push(" WHERE c.owner_id = ").push_bind(user).push(" OR c.owner_id IS NULL ORDER BY c.name, c.owner_id");
        let rows: Vec<CredentialRow> = query.build_query_as().fetch_all(self.reader()).await.map_err(db_error)?;
        // A user's own credential hides a shared one of the same name (theirs is used).
        let mut credentials: Vec<Credential> = Vec::with_capacity(rows.len());
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for row in rows {
            let own = row.owner_id.is_some();
            match by_name.get(&row.name) {
                Some(&at) if own => credentials[at] = row.into(),
                Some(_) => {}
                None => {
                    by_name.insert(row.name.clone(), credentials.len());
                    credentials.push(row.into());
                }
            }
        }
        let uses: Vec<(String, WorkflowId, String)> = sqlx::query_as(
            "SELECT wc.name, w.id, w.name FROM workflow_credentials wc JOIN workflows w ON w.id = wc.workflow_id
             WHERE w.owner_id = $1 ORDER BY w.name, w.id",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        for (credential, id, name) in uses {
            if let Some(&at) = by_name.get(&credential) {
                credentials[at].used_by.push(WorkflowRef { id, name });
            }
        }
        Ok(credentials)
    }

    async fn replace_credential(&self, owner: Ownership, name: &str, kind: &str, sealed: &str) -> AppResult<()> {
        let mut query = QueryBuilder::<Db>::new("UPDATE credentials SET kind = ");
        query.push_bind(kind).push(", sealed = ").push_bind(sealed).push(", updated_at = ").push_bind(now_ms());
        // Tokens belong to the value they were obtained with.
        query.push(", tokens_sealed = NULL, connected_at = NULL");
        query.push(" WHERE name = ").push_bind(name);
        push_owner(&mut query, "owner_id", owner);
        let done = query.build().execute(self.writer()).await.map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(AppError::NotFound(format!("credential `{name}`")));
        }
        Ok(())
    }

    async fn delete_credential(&self, owner: Ownership, name: &str) -> AppResult<()> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // The workflows that would lose it: the owner's that name it (for a
        // shared one, every user's that name it and have no own credential of that name).
        let mut users = QueryBuilder::<Db>::new(
            "SELECT w.id, w.name FROM workflow_credentials wc JOIN workflows w ON w.id = wc.workflow_id
             WHERE wc.name = ",
        );
        users.push_bind(name);
        match owner {
            Ownership::User(user) => {
                users.push(" AND w.owner_id = ").push_bind(user);
            }
            Ownership::Shared => {
                users.push(
                    " AND NOT EXISTS (SELECT 1 FROM credentials own
                       WHERE own.owner_id = w.owner_id AND own.name = wc.name)",
                );
            }
        }
        users.push(" ORDER BY w.name, w.id LIMIT 20");
        let using: Vec<(WorkflowId, String)> = users.build_query_as().fetch_all(&mut *tx).await.map_err(db_error)?;
        if !using.is_empty() {
            let names: Vec<String> = using.iter().map(|(id, name)| format!("{name} (#{id})")).collect();
            tx.rollback().await.map_err(db_error)?;
            return Err(AppError::Conflict(format!(
                "credential `{name}` is used by {}: remove it from {} first",
                names.join(", "),
                if using.len() == 1 { "that workflow" } else { "those workflows" }
            )));
        }
        let mut delete = QueryBuilder::<Db>::new("DELETE FROM credentials WHERE name = ");
        delete.push_bind(name);
        push_owner(&mut delete, "owner_id", owner);
        let done = delete.build().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_error)?;
            return Err(AppError::NotFound(format!("credential `{name}`")));
        }
        tx.commit().await.map_err(db_error)
    }

    async fn credential_for_run(&self, user: UserId, name: &str) -> AppResult<Option<SealedCredential>> {
        sqlx::query_as(
            "SELECT id, name, sealed, tokens_sealed FROM credentials WHERE name = $1 AND (owner_id = $2 OR owner_id IS NULL)
             ORDER BY owner_id IS NULL LIMIT 1",
        )
        .bind(name)
        .bind(user)
        .fetch_optional(self.reader())
        .await
        .map(|found| found.map(sealed_credential))
        .map_err(db_error)
    }

    async fn owned_credential(&self, owner: Ownership, name: &str) -> AppResult<Option<SealedCredential>> {
        let mut query =
            QueryBuilder::<Db>::new("SELECT id, name, sealed, tokens_sealed FROM credentials WHERE name = ");
        query.push_bind(name);
        push_owner(&mut query, "owner_id", owner);
        let found = query.build_query_as().fetch_optional(self.reader()).await.map_err(db_error)?;
        Ok(found.map(sealed_credential))
    }

    async fn credential_by_id(&self, id: i64) -> AppResult<Option<SealedCredential>> {
        sqlx::query_as("SELECT id, name, sealed, tokens_sealed FROM credentials WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map(|found| found.map(sealed_credential))
            .map_err(db_error)
    }

    async fn save_credential_tokens(&self, id: i64, previous: Option<&str>, tokens: &str) -> AppResult<bool> {
        let mut query = QueryBuilder::<Db>::new("UPDATE credentials SET tokens_sealed = ");
        query.push_bind(tokens).push(", connected_at = ").push_bind(now_ms());
        query.push(" WHERE id = ").push_bind(id);
        match previous {
            Some(previous) => query.push(" AND tokens_sealed = ").push_bind(previous),
            None => query.push(" AND tokens_sealed IS NULL"),
        };
        let done = query.build().execute(self.writer()).await.map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sealed_credentials(&self) -> AppResult<Vec<SealedCredential>> {
        let rows: Vec<SealedRow> =
            sqlx::query_as("SELECT id, name, sealed, tokens_sealed FROM credentials ORDER BY id")
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        Ok(rows.into_iter().map(sealed_credential).collect())
    }

    async fn reseal(&self, credentials: &[SealedCredential], settings: &[(String, Value)]) -> AppResult<()> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        for credential in credentials {
            sqlx::query("UPDATE credentials SET sealed = $1, tokens_sealed = $2 WHERE id = $3")
                .bind(&credential.sealed)
                .bind(&credential.tokens)
                .bind(credential.id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        for (key, value) in settings {
            sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
                .bind(Json(value))
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn mark_credential_used(&self, id: i64, at: i64) -> AppResult<()> {
        // At most one write per credential a minute: a busy workflow does not
        // turn every request into a write.
        sqlx::query(
            "UPDATE credentials SET last_used_at = $1 WHERE id = $2
             AND (last_used_at IS NULL OR last_used_at < $1 - 60000)",
        )
        .bind(at)
        .bind(id)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
