//! Settings: JSON values by key.

use app::error::AppResult;
use app::ports::store::SettingStore;
use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;

use super::Backend;
use crate::store::dialect::Dialect;
use crate::store::error::db_error;

#[async_trait]
impl SettingStore for Backend {
    async fn setting(&self, key: &str) -> AppResult<Option<Value>> {
        let value: Option<Json<Value>> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?;
        Ok(value.map(|j| j.0))
    }

    async fn settings(&self) -> AppResult<Vec<(String, Value)>> {
        let rows: Vec<(String, Json<Value>)> = sqlx::query_as("SELECT key, value FROM settings ORDER BY key")
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|(key, value)| (key, value.0)).collect())
    }

    async fn put_setting(&self, key: &str, value: &Value) -> AppResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(Json(value))
        .execute(self.writer())
        .await
        .map(|_| ())
        .map_err(db_error)
    }
}
