//! The store: Weft's persistence, behind the app's `Store` port.
//!
//! Both backends run the same SQL (written once in `sql/`, since SQLite and
//! PostgreSQL agree on `$n` parameters, `RETURNING`, `ON CONFLICT` and row-value
//! comparisons); each backend module adds its connection set-up, its migrations,
//! and the few pieces where the two differ (its `Dialect`: locks, name search,
//! compaction, the list pages' reader).

mod dialect;
mod error;
mod lists;
pub mod postgres;
mod rows;
pub mod seed;
pub mod sqlite;

use std::sync::Arc;

use anyhow::{bail, Context};
use app::ports::Store;

use crate::config::{Backend, DatabaseSettings};

/// Opens the configured database, applies pending migrations, and returns the store.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match settings.backend()? {
        Backend::Sqlite => {
            Arc::new(sqlite::SqliteStore::connect(settings).await.context("opening the SQLite database")?)
        }
        Backend::Postgres => {
            Arc::new(postgres::PostgresStore::connect(settings).await.context("connecting to PostgreSQL")?)
        }
    };
    if store.backend().is_empty() {
        bail!("store reported no backend");
    }
    Ok(store)
}

/// Refuses a search holding a NUL character with a clear 400: PostgreSQL's
/// text cannot hold one, and in SQLite's full-text query syntax it ends the string.
fn check_search(search: &str) -> app::error::AppResult<()> {
    if search.contains('\0') {
        return Err(app::error::AppError::BadRequest("a search cannot contain the NUL character".into()));
    }
    Ok(())
}

/// Escapes `%`, `_` and `\` so user text matches literally inside `LIKE … ESCAPE '\'`.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
    }
}
