//! PostgreSQL: for teams that outgrow one machine. Several Weft processes can
//! share one database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Pool, Postgres};

use crate::config::DatabaseSettings;
use crate::store::dialect::Dialect;
use crate::store::sqlite::PageReader;

pub struct PostgresStore {
    pool: Pool<Postgres>,
    /// The same pool: PostgreSQL runs concurrent writers itself.
    writer: Pool<Postgres>,
}

impl PostgresStore {
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let options: PgConnectOptions = settings.url.parse()?;
        let options = options
            .application_name("weft")
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(log::LevelFilter::Warn, settings.pool.slow_query);
        let pool = settings.pool.apply(PgPoolOptions::new(), 20).connect_with(options).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { writer: pool.clone(), pool })
    }

    pub fn pool(&self) -> &Pool<Postgres> {
        &self.pool
    }
}

impl Dialect for PostgresStore {
    type DB = Postgres;

    const NAME: &'static str = "postgres";

    /// Several processes claim at once: each skips rows another is claiming
    /// instead of waiting for them.
    const CLAIM_LOCK: &'static str = "FOR UPDATE SKIP LOCKED";
    /// Node states are written under this lock on their execution: it holds off
    /// a claim (`FOR UPDATE`) but not the holder's own lease renewal.
    const HOLD_LOCK: &'static str = "FOR KEY SHARE";

    fn reader(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn writer(&self) -> &Pool<Postgres> {
        &self.writer
    }

    /// PostgreSQL's autovacuum reclaims space; nothing to do here.
    async fn compact_storage(&self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// List pages go through sqlx like every other query (SQLite reads them itself).
    fn page_reader(&self) -> Option<&PageReader> {
        None
    }

    /// Case-insensitive substring search, served by the `workflows_name_trgm` index.
    fn name_search(search: &str) -> (&'static str, String, &'static str) {
        (" AND lower(w.name) LIKE ", crate::store::like_pattern(search), " ESCAPE '\\'")
    }
}

/// The shared SQL (`store/sql/`), compiled for PostgreSQL: each backend compiles
/// the same files against its own store and sqlx database (see `sql/mod.rs`).
type Backend = PostgresStore;
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod sql;
