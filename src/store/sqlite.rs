//! The embedded default: one SQLite file, in WAL mode so readers never wait for
//! the writer, with a busy timeout so writers queue instead of failing, and
//! foreign keys enforced.

use std::str::FromStr;

use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Pool, Sqlite};

use crate::config::DatabaseSettings;

pub struct SqliteStore {
    pool: Pool<Sqlite>,
    /// SQLite has one writer at a time. Funnelling writes through one connection
    /// makes them wait their turn in the pool's async queue, instead of failing
    /// over to SQLite's busy handler, which sleeps in steps of milliseconds.
    writer: Pool<Sqlite>,
}

impl SqliteStore {
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        // What every connection needs. WAL mode and auto-vacuum are properties of
        // the file, set by the writer; a reader that set them again would write
        // the file header as it connects, racing the writer ("database is locked").
        let options = SqliteConnectOptions::from_str(&settings.url)?
            // NORMAL is durable in WAL mode across application crashes; only a power
            // loss can drop the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(settings.pool.busy_timeout)
            .foreign_keys(true)
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(log::LevelFilter::Warn, settings.pool.slow_query);
        if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let writer_options = options
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Lets retention give pages back with `incremental_vacuum` (takes effect
            // when the file is created).
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            // SQLite reuses the WAL file at its largest size after a checkpoint
            // unless told otherwise: a burst of writes (a seed, a big import) would
            // leave hundreds of megabytes behind for good. Truncate it to 64 MiB.
            .pragma("journal_size_limit", (64 * 1024 * 1024).to_string());
        let writer =
            settings.pool.apply(SqlitePoolOptions::new(), 1).max_connections(1).connect_with(writer_options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let pool = settings.pool.apply(SqlitePoolOptions::new(), 8).connect_with(options).await?;
        Ok(Self { pool, writer })
    }

    /// SQLite has one writer: a claim is a single UPDATE, serialised with every
    /// other write, so no row locks are needed.
    const CLAIM_LOCK: &'static str = "";

    pub fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    /// Checkpoints the WAL into the main file and frees up to 4,096 unused pages,
    /// so the file stays bounded as retention deletes rows. The vacuum writes,
    /// so it goes through the writer.
    async fn compact_storage(pool: &Pool<Sqlite>, writer: &Pool<Sqlite>) -> Result<(), sqlx::Error> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await?;
        sqlx::query("PRAGMA incremental_vacuum(4096)").execute(writer).await?;
        Ok(())
    }

    /// Substring search on names through the FTS5 trigram index. Trigrams need
    /// three characters; shorter searches scan the caller's workflows instead.
    fn push_name_search(query: &mut sqlx::QueryBuilder<'_, Sqlite>, search: &str) {
        if search.chars().count() >= 3 {
            let phrase = format!("\"{}\"", search.replace('"', "\"\""));
            query
                .push(" AND w.id IN (SELECT rowid FROM workflow_names WHERE workflow_names MATCH ")
                .push_bind(phrase)
                .push(")");
        } else {
            query.push(" AND lower(w.name) LIKE ").push_bind(crate::store::like_pattern(search)).push(" ESCAPE '\\'");
        }
    }
}

impl_store!(SqliteStore, sqlx::Sqlite, "sqlite");
