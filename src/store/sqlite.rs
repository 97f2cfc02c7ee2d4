//! The embedded default: one SQLite file, in WAL mode so readers never wait for
//! the writer, with a busy timeout so writers queue instead of failing, and
//! foreign keys enforced.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Pool, Sqlite};
use tokio::sync::mpsc;

use crate::config::DatabaseSettings;
use crate::store::dialect::Dialect;

mod pages;
mod readers;
pub(crate) use pages::PageReader;
use readers::Readers;

/// How often the WAL is checkpointed while writes go on. Small and frequent
/// checkpoints stall the writer least (the fsync is what it waits behind; the
/// measured p99s are in the README's performance figures).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(5);

/// Reader connections, for sqlx's pool and for list pages, unless
/// `--db-max-connections` says otherwise.
const READERS: u32 = 8;

/// How much of the database file readers map into memory.
const MMAP_BYTES: u64 = 1 << 30;

/// SQLite's own checkpoint (in the committing connection) only past this many
/// WAL pages (40 MiB), when the background checkpoints cannot keep up.
const BACKSTOP_CHECKPOINT_PAGES: u32 = 10_000;

pub struct SqliteStore {
    pool: Pool<Sqlite>,
    /// SQLite has one writer at a time. Funnelling writes through one connection
    /// makes them wait their turn in the pool's async queue, instead of failing
    /// over to SQLite's busy handler, which sleeps in steps of milliseconds.
    writer: Pool<Sqlite>,
    /// List pages, read without sqlx (see `pages`).
    pages: PageReader,
}

// Neither pool pings a connection before lending it (sqlx does by default): a
// SQLite connection is a thread of this process and cannot have hung up, and the
// ping is a round trip to that thread before every query.
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
            // Reads map the file instead of copying each page into the connection's
            // cache through a system call (and a process-wide mutex SQLite takes
            // for every page-cache allocation).
            .pragma("mmap_size", MMAP_BYTES.to_string())
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
            .pragma("journal_size_limit", (64 * 1024 * 1024).to_string())
            // Checkpoints run beside the writer (`checkpoint_after_writes`); this is
            // only the backstop should they fall behind.
            .pragma("wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES.to_string());
        let (wrote, writes) = mpsc::channel(1);
        let writer = settings
            .pool
            .apply(SqlitePoolOptions::new(), 1)
            .max_connections(1)
            .test_before_acquire(false)
            .after_release(move |_, _| {
                // A full channel already holds the news.
                let _ = wrote.try_send(());
                Box::pin(async { Ok(true) })
            })
            .connect_with(writer_options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let path = options.get_filename().to_owned();
        let pool = settings
            .pool
            .apply(SqlitePoolOptions::new(), READERS)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        tokio::spawn(Self::checkpoint_after_writes(writes, pool.clone()));
        let pages = PageReader::new(Readers::open(
            &path,
            settings.pool.max_connections.unwrap_or(READERS) as usize,
            settings.pool.busy_timeout,
            settings.pool.slow_query,
        )?);
        Ok(Self { pool, writer, pages })
    }

    /// Copies the WAL back into the database file after writes, at most every
    /// `CHECKPOINT_EVERY`, from a reader connection. Left to SQLite, the commit
    /// that crosses the threshold checkpoints inline, with an fsync, while holding
    /// the only write slot: every run waiting to write stalls behind it. A PASSIVE
    /// checkpoint on another connection runs beside the writer instead. No write,
    /// no checkpoint: an idle process sends no query. Ends when the store is gone
    /// (the writer pool, which holds the sender, is dropped).
    async fn checkpoint_after_writes(mut writes: mpsc::Receiver<()>, pool: Pool<Sqlite>) {
        while writes.recv().await.is_some() {
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                tracing::warn!(%error, "WAL checkpoint failed");
            }
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
    }

    pub fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }
}

impl Dialect for SqliteStore {
    type DB = Sqlite;

    const NAME: &'static str = "sqlite";

    /// SQLite has one writer: a claim is a single UPDATE, serialised with every
    /// other write, so no row locks are needed.
    const CLAIM_LOCK: &'static str = "";
    /// Node states need no lock on their execution either (see `CLAIM_LOCK`).
    const HOLD_LOCK: &'static str = "";

    fn reader(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    fn writer(&self) -> &Pool<Sqlite> {
        &self.writer
    }

    /// Frees up to 4,096 unused pages, so the file stays bounded as retention
    /// deletes rows. The vacuum writes, so it goes through the writer (and the
    /// WAL is checkpointed after it like after any write).
    async fn compact_storage(&self) -> Result<(), sqlx::Error> {
        sqlx::query("PRAGMA incremental_vacuum(4096)").execute(&self.writer).await?;
        Ok(())
    }

    /// SQLite serves list pages itself, without sqlx (see `pages`).
    fn page_reader(&self) -> Option<&PageReader> {
        Some(&self.pages)
    }

    /// Substring search on names through the FTS5 trigram index. Trigrams need
    /// three characters; shorter searches scan the caller's workflows instead.
    fn name_search(search: &str) -> (&'static str, String, &'static str) {
        if search.chars().count() >= 3 {
            let phrase = format!("\"{}\"", search.replace('"', "\"\""));
            (" AND w.id IN (SELECT rowid FROM workflow_names WHERE workflow_names MATCH ", phrase, ")")
        } else {
            // SQLite's LIKE already ignores ASCII case, and its lower() folds nothing
            // more: no lower() here, so the scan compares the name straight from
            // the list index (migration 0007), which SQLite reads before it seeks the
            // row (a deferred seek): 3.5× less CPU per request at 100,000 workflows.
            (" AND w.name LIKE ", crate::store::like_pattern(search), " ESCAPE '\\'")
        }
    }
}

/// The shared SQL (`store/sql/`), compiled for SQLite: each backend compiles
/// the same files against its own store and sqlx database (see `sql/mod.rs`).
type Backend = SqliteStore;
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)]
mod sql;

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    use crate::config::DatabaseSettings;

    /// Rows in the database file itself, ignoring the WAL: what a checkpoint has
    /// copied back. `None` while the file does not even hold the table yet.
    async fn users_in_main_file(path: &std::path::Path) -> Option<i64> {
        let mut connection =
            SqliteConnectOptions::new().filename(path).read_only(true).immutable(true).connect().await.ok()?;
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut connection).await.ok();
        let _ = connection.close().await;
        count
    }

    #[tokio::test]
    async fn writes_reach_the_database_file_without_waiting_for_the_wal_to_fill() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weft.db");
        let settings = DatabaseSettings::with_url(format!("sqlite://{}", path.display()));
        let store = super::SqliteStore::connect(&settings).await.unwrap();
        sqlx::query("INSERT INTO users (email, created_at) VALUES ('checkpoint@weft.test', 0)")
            .execute(&store.writer)
            .await
            .unwrap();
        let written = store.pool.clone();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&written).await.unwrap();

        // The WAL holds a few pages, far below SQLite's own checkpoint threshold:
        // only the background checkpoint copies them into the file.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if users_in_main_file(&path).await == Some(rows) {
                break;
            }
            assert!(Instant::now() < deadline, "the WAL was not checkpointed into the database file");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
