//! Variables: a user's own and the instance's.

use std::collections::BTreeMap;

use app::error::{AppError, AppResult};
use app::model::variables::MAX_VARIABLES;
use app::model::*;
use app::ports::store::VariableStore;
use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::credentials::push_owner;
use super::{Backend, Db};
use crate::store::dialect::Dialect;
use crate::store::error::db_error;

#[async_trait]
impl VariableStore for Backend {
    async fn put_variable(&self, owner: Ownership, name: &str, value: &str) -> AppResult<()> {
        let now = now_ms();
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let mut update = QueryBuilder::<Db>::new("UPDATE variables SET value = ");
        update.push_bind(value).push(", updated_at = ").push_bind(now).push(" WHERE name = ").push_bind(name);
        push_owner(&mut update, "owner_id", owner);
        if update.build().execute(&mut *tx).await.map_err(db_error)?.rows_affected() == 0 {
            let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM variables WHERE 1 = 1");
            push_owner(&mut count, "owner_id", owner);
            let held: i64 = count.build_query_scalar().fetch_one(&mut *tx).await.map_err(db_error)?;
            if held >= MAX_VARIABLES {
                tx.rollback().await.map_err(db_error)?;
                return Err(AppError::BadRequest(format!(
                    "at most {MAX_VARIABLES} variables: delete one before adding `{name}`"
                )));
            }
            sqlx::query("INSERT INTO variables (owner_id, name, value, updated_at) VALUES ($1, $2, $3, $4)")
                .bind(owner.user())
                .bind(name)
                .bind(value)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn delete_variable(&self, owner: Ownership, name: &str) -> AppResult<()> {
        let mut delete = QueryBuilder::<Db>::new("DELETE FROM variables WHERE name = ");
        delete.push_bind(name);
        push_owner(&mut delete, "owner_id", owner);
        if delete.build().execute(self.writer()).await.map_err(db_error)?.rows_affected() == 0 {
            return Err(AppError::NotFound(format!("variable `{name}`")));
        }
        Ok(())
    }

    async fn list_variables(&self, user: UserId) -> AppResult<Vec<Variable>> {
        let rows: Vec<(String, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT name, value, owner_id, updated_at FROM variables
             WHERE owner_id = $1 OR owner_id IS NULL ORDER BY name, owner_id IS NULL",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(name, value, owner, updated_at)| Variable { name, value, shared: owner.is_none(), updated_at })
            .collect())
    }

    async fn variables_for_run(&self, user: UserId) -> AppResult<BTreeMap<String, String>> {
        // The instance's first, then the user's over them.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, value FROM variables WHERE owner_id = $1 OR owner_id IS NULL
             ORDER BY owner_id IS NOT NULL",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().collect())
    }
}
