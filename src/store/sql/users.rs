//! Users.

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::store::UserStore;
use async_trait::async_trait;
use sqlx::types::Json;

use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::{db_error, not_found};
use crate::store::rows::{UserRow, USER_COLUMNS};
use app::model::now_ms;

impl Backend {
    /// Inserts a user through `executor`: the writer, or a set-up's transaction.
    async fn insert_user<'e>(
        executor: impl sqlx::Executor<'e, Database = Db>,
        email: &str,
        password_hash: Option<&str>,
        is_admin: bool,
    ) -> AppResult<User> {
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4)
             RETURNING {USER_COLUMNS}"
        ))
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
}

#[async_trait]
impl UserStore for Backend {
    async fn create_user(&self, email: &str, password_hash: Option<&str>, is_admin: bool) -> AppResult<User> {
        Self::insert_user(self.writer(), email, password_hash, is_admin).await
    }

    async fn create_first_admin(&self, email: &str, password_hash: &str) -> AppResult<User> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // The `setup` setting is the lock: a set-up racing this one waits
        // for this transaction on PostgreSQL (SQLite has one writer) and
        // then finds the key taken.
        let claimed =
            sqlx::query("INSERT INTO settings (key, value) VALUES ('setup', $1) ON CONFLICT (key) DO NOTHING")
                .bind(Json(serde_json::json!({ "admin": email, "at": now_ms() })))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
        if claimed == 0 {
            tx.rollback().await.map_err(db_error)?;
            return Err(AppError::Conflict("Weft is already set up; sign in instead".into()));
        }
        let admin = Self::insert_user(&mut *tx, email, Some(password_hash), true).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(admin)
    }

    async fn user_by_email(&self, email: &str) -> AppResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?;
        Ok(row.map(Into::into))
    }

    async fn count_users(&self) -> AppResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.reader()).await.map_err(db_error)
    }

    async fn user(&self, id: UserId) -> AppResult<User> {
        let row: UserRow = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_one(self.reader())
            .await
            .map_err(not_found("user"))?;
        Ok(row.into())
    }

    async fn credentials(&self, email: &str) -> AppResult<Option<(User, String)>> {
        let row: Option<(i64, String, bool, i64, Option<i64>, String)> = sqlx::query_as(
            "SELECT id, email, is_admin, created_at, disabled_at, password_hash FROM users
             WHERE email = $1 AND password_hash IS NOT NULL",
        )
        .bind(email)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        Ok(row.map(|(id, email, is_admin, created_at, disabled_at, hash)| {
            (User { id, email, is_admin, created_at, disabled_at }, hash)
        }))
    }

    async fn set_password_hash(&self, user: UserId, password_hash: &str) -> AppResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        match done.rows_affected() {
            0 => Err(AppError::NotFound("user".into())),
            _ => Ok(()),
        }
    }

    async fn has_admin(&self) -> AppResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE is_admin AND password_hash IS NOT NULL)")
            .fetch_one(self.reader())
            .await
            .map_err(db_error)
    }

    async fn list_users(&self) -> AppResult<Vec<User>> {
        let rows: Vec<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE password_hash IS NOT NULL ORDER BY email"))
                .fetch_all(self.reader())
                .await
                .map_err(db_error)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn set_user_disabled(&self, user: UserId, disabled: bool) -> AppResult<()> {
        // Disabling keeps the first time: disabling twice does not move it.
        let done = sqlx::query(
            "UPDATE users SET disabled_at = CASE WHEN $1 THEN COALESCE(disabled_at, $2) ELSE NULL END WHERE id = $3",
        )
        .bind(disabled)
        .bind(now_ms())
        .bind(user)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        match done.rows_affected() {
            0 => Err(AppError::NotFound("user".into())),
            _ => Ok(()),
        }
    }

    async fn transfer_ownership(&self, from: UserId, to: UserId) -> AppResult<()> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
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
}
