//! Which backend this is, and whether it answers.

use app::error::AppResult;
use app::ports::store::HealthStore;
use async_trait::async_trait;

use super::Backend;
use crate::store::dialect::Dialect;
use crate::store::error::db_error;

#[async_trait]
impl HealthStore for Backend {
    fn backend(&self) -> &'static str {
        Self::NAME
    }

    fn pool_stats(&self) -> (u32, usize) {
        (self.reader().size(), self.reader().num_idle())
    }

    async fn ping(&self) -> AppResult<()> {
        sqlx::query("SELECT 1").execute(self.reader()).await.map(|_| ()).map_err(db_error)
    }
}
