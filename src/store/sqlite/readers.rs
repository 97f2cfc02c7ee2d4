//! The read-only rusqlite connections behind the list pages, and how one read
//! runs on them.
//!
//! A deadpool pool of connections, each used by one read at a time. The pool's
//! manager is ours rather than `deadpool-sqlite`'s: that one checks every
//! connection on its way out of the pool with a `SELECT` of its own, prepared
//! afresh and run through a second hand-off to the blocking pool — as much
//! work again as the page it was fetched for. A local SQLite file does not go
//! stale the way a network connection does (a broken file fails the read
//! itself), so a connection goes back into use unless a panic poisoned it.
//!
//! A read first runs right where it is asked for, on the async worker, within
//! a time budget: a list page is a short walk down an index (tens of
//! microseconds), less than handing it to another thread and waking the worker
//! again costs. A read that outruns the budget, or finds the database busy, is
//! interrupted and run again from the start on tokio's blocking pool, where it
//! may take as long as it needs (a name search that scans, a filter few rows
//! match). So a page read never holds a worker much longer than the budget,
//! whatever the query. The budget is time, not SQLite instructions: one
//! instruction of a scan can be a whole B-tree seek (on the benchmark's file, a
//! name search over 100,000 workflows ran about 150 µs per 1,000 instructions;
//! a first page of 50 workflows is about 1,800 instructions in all).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::error::{AppError, AppResult};
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool::Runtime;
use deadpool_sync::SyncWrapper;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, ErrorCode, Row};

use crate::store::lists::SqlWriter;

/// SQLite virtual-machine instructions between two looks at the clock (the
/// progress handler). A page of 50 workflows with each one's last execution
/// runs about 1,800: a handful of looks, each a few nanoseconds.
const PROGRESS_PERIOD: i32 = 250;

/// How long a read may run on an async worker before it is moved. The largest
/// page (200 rows) takes a few hundred microseconds on a busy machine.
const INLINE_BUDGET: Duration = Duration::from_micros(500);

thread_local! {
    /// When the read running inline on this thread must give up; `None` when
    /// none is (reads on the blocking pool run unbounded).
    static INLINE_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQL text with its positional parameters, built clause by clause
/// (`lists` writes the pages' queries into it).
#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

impl SqlWriter for Sql {
    fn sql(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn int(&mut self, value: i64) {
        self.text.push('?');
        self.params.push(SqlValue::Integer(value));
    }

    fn text(&mut self, value: String) {
        self.text.push('?');
        self.params.push(SqlValue::Text(value));
    }
}

/// A pool of read-only connections.
pub(crate) struct Readers {
    pool: managed::Pool<Manager>,
    busy_timeout: Duration,
    slow_query: Duration,
    /// Reads that outran the inline budget and were run on the blocking pool.
    moved: AtomicU64,
}

impl Readers {
    pub(crate) fn open(
        path: &Path,
        connections: usize,
        busy_timeout: Duration,
        slow_query: Duration,
    ) -> anyhow::Result<Self> {
        let manager = Manager { path: path.to_owned(), busy_timeout };
        let pool = managed::Pool::builder(manager).max_size(connections.max(1)).runtime(Runtime::Tokio1).build()?;
        Ok(Self { pool, busy_timeout, slow_query, moved: AtomicU64::new(0) })
    }

    /// Runs one statement on a pooled connection, mapping each row with
    /// `map`: here within the inline budget, else on the blocking pool (see
    /// the module's comment). Logged like sqlx's statements when slower than
    /// the configured threshold.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        query: Sql,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> AppResult<Vec<T>> {
        let connection = self.pool.get().await.map_err(|error| {
            tracing::error!(%error, "no SQLite connection for a page read");
            AppError::Internal
        })?;
        let slow_query = self.slow_query;
        let inline = match connection.lock() {
            Ok(connection) => run_inline(&connection, &query, map, slow_query),
            Err(_) => return Err(AppError::Internal),
        };
        let rows = match inline {
            Err(error) if must_move(&error) => {
                self.moved.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("weft_db_page_reads_moved_total").increment(1);
                let busy_timeout = self.busy_timeout;
                connection
                    .interact(move |connection| {
                        connection.busy_timeout(busy_timeout)?;
                        run(connection, &query, map, slow_query)
                    })
                    .await
                    .map_err(|error| {
                        tracing::error!(%error, "a page read did not complete");
                        AppError::Internal
                    })?
            }
            inline => inline,
        };
        rows.map_err(|error| {
            tracing::error!(%error, "database error");
            AppError::Internal
        })
    }

    /// How many reads outran the inline budget since the pool opened.
    #[cfg(test)]
    pub(crate) fn moved_to_blocking_pool(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }
}

/// Runs `query` on this thread within the inline budget, without waiting for
/// a busy database: either means an error `must_move` recognises.
fn run_inline<T>(
    connection: &Connection,
    query: &Sql,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
    slow_query: Duration,
) -> rusqlite::Result<Vec<T>> {
    connection.busy_timeout(Duration::ZERO)?;
    /// Clears the deadline however the read ends.
    struct Deadline;
    impl Drop for Deadline {
        fn drop(&mut self) {
            INLINE_DEADLINE.set(None);
        }
    }
    INLINE_DEADLINE.set(Some(Instant::now() + INLINE_BUDGET));
    let _deadline = Deadline;
    run(connection, query, map, slow_query)
}

/// The inline attempt gave up: out of budget, or the database was busy.
fn must_move(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(ErrorCode::OperationInterrupted | ErrorCode::DatabaseBusy))
}

/// SQLite's progress handler: interrupts the statement once an inline read is
/// past its deadline; reads off the async workers have none and never stop.
fn past_deadline() -> bool {
    INLINE_DEADLINE.get().is_some_and(|deadline| Instant::now() >= deadline)
}

fn run<T>(
    connection: &Connection,
    query: &Sql,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
    slow_query: Duration,
) -> rusqlite::Result<Vec<T>> {
    let started = Instant::now();
    let rows = connection.prepare_cached(&query.text).and_then(|mut statement| {
        statement.query_map(params_from_iter(query.params.iter()), map)?.collect::<Result<Vec<T>, _>>()
    });
    let elapsed = started.elapsed();
    if elapsed >= slow_query {
        tracing::warn!(sql = %query.text, elapsed_ms = elapsed.as_millis() as u64, "slow statement");
    }
    rows
}

/// Opens and configures connections; takes them back as they are.
struct Manager {
    path: PathBuf,
    busy_timeout: Duration,
}

impl managed::Manager for Manager {
    type Type = SyncWrapper<Connection>;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let (path, busy_timeout) = (self.path.clone(), self.busy_timeout);
        SyncWrapper::new(Runtime::Tokio1, move || {
            let mut connection = Connection::open(path)?;
            configure(&mut connection, busy_timeout)?;
            Ok(connection)
        })
        .await
    }

    async fn recycle(&self, connection: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if connection.is_mutex_poisoned() {
            return Err(RecycleError::message("a read panicked while holding this connection"));
        }
        Ok(())
    }
}

/// Each connection only reads; it maps the file like sqlx's readers do.
fn configure(connection: &mut Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    connection.busy_timeout(busy_timeout)?;
    connection.pragma_update(None, "query_only", true)?;
    connection.pragma_update(None, "mmap_size", super::MMAP_BYTES)?;
    // Room for every list statement (filters combine into a handful of shapes).
    connection.set_prepared_statement_cache_capacity(64);
    connection.progress_handler(PROGRESS_PERIOD, Some(past_deadline));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement whose cost grows with `n`: SQLite counts to it.
    fn count_to(n: i64) -> Sql {
        let mut query = Sql::default();
        query.sql("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ");
        query.int(n);
        query.sql(") SELECT count(*) FROM c");
        query
    }

    fn first_column(row: &Row<'_>) -> rusqlite::Result<i64> {
        row.get(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_reads_run_inline_and_long_ones_finish_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("readers.db");
        Connection::open(&path).unwrap().execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)").unwrap();
        let readers = Readers::open(&path, 1, Duration::from_secs(1), Duration::from_secs(60)).unwrap();

        assert_eq!(readers.read(count_to(10), first_column).await.unwrap(), vec![10]);
        // Fewer instructions than one progress period: never even looks at the clock.
        assert_eq!(readers.moved_to_blocking_pool(), 0, "a ten-row count fits the budget");

        // Far beyond the budget: interrupted here, then read in full elsewhere.
        assert_eq!(readers.read(count_to(1_000_000), first_column).await.unwrap(), vec![1_000_000]);
        assert_eq!(readers.moved_to_blocking_pool(), 1);

        // The same (only) connection reads inline again: the budget and the
        // busy timeout it left behind do not stick to it.
        assert_eq!(readers.read(count_to(10), first_column).await.unwrap(), vec![10]);
        assert_eq!(readers.moved_to_blocking_pool(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_finds_the_database_locked_waits_for_it_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("readers.db");
        Connection::open(&path).unwrap().execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)").unwrap();
        let readers =
            std::sync::Arc::new(Readers::open(&path, 1, Duration::from_secs(10), Duration::from_secs(60)).unwrap());

        // A writer in exclusive locking mode keeps every other connection out,
        // readers included, until it closes (it can only take that lock while
        // no reader has the file open: the pool opens its connection on the
        // first read). The inline attempt (no busy timeout) finds the
        // database busy at once; the lock goes only once the read has moved.
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("PRAGMA locking_mode = EXCLUSIVE; INSERT INTO t VALUES (1)").unwrap();
        let watched = readers.clone();
        let release = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while watched.moved_to_blocking_pool() == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(holder);
        });

        let mut count = Sql::default();
        count.sql("SELECT count(*) FROM t");
        assert_eq!(readers.read(count, first_column).await.unwrap(), vec![1], "read once the lock was released");
        assert_eq!(readers.moved_to_blocking_pool(), 1, "the inline attempt found the file locked");
        release.join().unwrap();
    }

    #[test]
    fn only_an_inline_read_past_its_deadline_is_interrupted() {
        assert!(!past_deadline(), "no read is inline on this thread: unbounded");
        INLINE_DEADLINE.set(Some(Instant::now() + Duration::from_secs(60)));
        assert!(!past_deadline());
        INLINE_DEADLINE.set(Some(Instant::now()));
        assert!(past_deadline());
        INLINE_DEADLINE.set(None);
    }
}
