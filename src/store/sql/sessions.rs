//! Browser sessions, and the sign-in attempts counted against a limit.

use app::error::AppResult;
use app::model::*;
use app::ports::store::SessionStore;
use async_trait::async_trait;

use super::Backend;
use crate::store::dialect::Dialect;
use crate::store::error::db_error;
use crate::store::rows::UserRow;
use app::model::now_ms;

#[async_trait]
impl SessionStore for Backend {
    async fn create_session(&self, token_hash: &str, user: UserId, expires_at: i64) -> AppResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user)
            .bind(now_ms())
            .bind(expires_at)
            .execute(self.writer())
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    async fn session_user(&self, token_hash: &str, now: i64) -> AppResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.is_admin, u.created_at, u.disabled_at FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        Ok(row.map(Into::into))
    }

    async fn delete_session(&self, token_hash: &str) -> AppResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writer())
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    async fn delete_user_sessions(&self, user: UserId, keep: Option<&str>) -> AppResult<u64> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user)
            // No token hashes to the empty text: without one to keep, every session ends.
            .bind(keep.unwrap_or(""))
            .execute(self.writer())
            .await
            .map(|done| done.rows_affected())
            .map_err(db_error)
    }

    async fn delete_expired_sessions(&self, now: i64) -> AppResult<u64> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.writer())
            .await
            .map(|done| done.rows_affected())
            .map_err(db_error)
    }

    async fn record_sign_in_attempt(&self, subject: &str, at: i64, since: i64) -> AppResult<i64> {
        sqlx::query("INSERT INTO sign_in_attempts (subject, at) VALUES ($1, $2)")
            .bind(subject)
            .bind(at)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        sqlx::query_scalar("SELECT COUNT(*) FROM sign_in_attempts WHERE subject = $1 AND at >= $2")
            .bind(subject)
            .bind(since)
            .fetch_one(self.writer())
            .await
            .map_err(db_error)
    }

    async fn delete_sign_in_attempts_before(&self, before: i64) -> AppResult<u64> {
        sqlx::query("DELETE FROM sign_in_attempts WHERE at < $1")
            .bind(before)
            .execute(self.writer())
            .await
            .map(|done| done.rows_affected())
            .map_err(db_error)
    }
}
