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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::error::{AppError, AppResult};
use app::model::{Cursor, Scope};
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool::Runtime;
use deadpool_sync::SyncWrapper;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, Row};

/// SQL text with its positional parameters, built clause by clause.
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

impl Sql {
    pub(crate) fn new(select: &str) -> Self {
        Self { text: select.to_owned(), params: Vec::new() }
    }

    /// Appends `clause` followed by a placeholder for `value`.
    pub(crate) fn push(&mut self, clause: &str, value: impl Into<SqlValue>) {
        self.text.push_str(clause);
        self.text.push('?');
        self.params.push(value.into());
    }

    pub(crate) fn scope(&mut self, column: &str, scope: Scope) {
        if let Scope::Owner(owner) = scope {
            self.push(&format!(" AND {column} = "), owner);
        }
    }

    /// Rows strictly after the cursor in (time, id) descending order.
    pub(crate) fn after(&mut self, at_column: &str, id_column: &str, after: Cursor) {
        self.push(&format!(" AND ({at_column}, {id_column}) < ("), after.at);
        self.push(", ", after.id);
        self.text.push(')');
    }
}

/// A pool of read-only connections.
pub(crate) struct Readers {
    pool: managed::Pool<Manager>,
    slow_query: Duration,
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
        Ok(Self { pool, slow_query })
    }

    /// Runs one statement on a pooled connection on the blocking pool, mapping
    /// each row with `map`. Logged like sqlx's statements when slower than the
    /// configured threshold.
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
        let rows =
            connection.interact(move |connection| run(connection, &query, map, slow_query)).await.map_err(|error| {
                tracing::error!(%error, "a page read did not complete");
                AppError::Internal
            })?;
        rows.map_err(|error| {
            tracing::error!(%error, "database error");
            AppError::Internal
        })
    }
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
    Ok(())
}
