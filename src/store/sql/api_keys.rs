//! API keys: stored by prefix, with a hash of their secret.

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::store::ApiKeyStore;
use async_trait::async_trait;

use super::Backend;
use crate::store::dialect::Dialect;
use crate::store::error::db_error;
use crate::store::rows::{ApiKeyRow, API_KEY_COLUMNS};
use app::model::now_ms;

#[async_trait]
impl ApiKeyStore for Backend {
    async fn create_api_key(
        &self,
        user: UserId,
        name: &str,
        prefix: &str,
        secret_hash: &str,
        limits: ApiKeyLimits,
    ) -> AppResult<ApiKey> {
        let row: ApiKeyRow = sqlx::query_as(&format!(
            "INSERT INTO api_keys (user_id, name, prefix, secret_hash, created_at, expires_at, read_only)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(user)
        .bind(name)
        .bind(prefix)
        .bind(secret_hash)
        .bind(now_ms())
        .bind(limits.expires_at)
        .bind(limits.read_only)
        .fetch_one(self.writer())
        .await
        .map_err(db_error)?;
        Ok(row.into())
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> AppResult<Option<(ApiKey, String, User)>> {
        #[derive(sqlx::FromRow)]
        struct Found {
            #[sqlx(flatten)]
            key: ApiKeyRow,
            secret_hash: String,
            email: String,
            is_admin: bool,
            user_created_at: i64,
        }
        let found: Option<Found> = sqlx::query_as(
            "SELECT k.id, k.user_id, k.name, k.prefix, k.created_at, k.revoked_at, k.expires_at, k.read_only,
                    k.secret_hash, u.email, u.is_admin, u.created_at AS user_created_at
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.prefix = $1 AND k.revoked_at IS NULL AND u.disabled_at IS NULL",
        )
        .bind(prefix)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        Ok(found.map(|found| {
            let user = User {
                id: found.key.user_id,
                email: found.email,
                is_admin: found.is_admin,
                created_at: found.user_created_at,
                disabled_at: None,
            };
            (found.key.into(), found.secret_hash, user)
        }))
    }

    async fn list_api_keys(&self, user: UserId) -> AppResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn revoke_api_key(&self, user: UserId, id: i64) -> AppResult<()> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .bind(user)
                .execute(self.writer())
                .await
                .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(AppError::NotFound("API key".into()));
        }
        Ok(())
    }
}
