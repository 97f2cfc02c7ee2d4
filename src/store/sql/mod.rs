//! The SQL both backends share, one module per feature of the `Store` port.
//! SQLite and PostgreSQL agree on `$n` parameters, `RETURNING`, `ON CONFLICT`
//! and row-value comparisons, so each query is written once, here.
//!
//! These modules are compiled once per backend, inside its module (`sqlite`,
//! `postgres`), where `Backend` names its store: the code reads as plain sqlx
//! on a concrete database, where generic code would need sqlx's bounds
//! (`Encode`/`Decode`/`Type` for every column type, executor lifetimes) on
//! every impl. What differs between backends comes from their `Dialect`.
//!
//! The list pages' SQL and the history's filters live in `lists`, shared with
//! the SQLite page reader.

mod api_keys;
mod chart;
mod credentials;
mod executions;
mod health;
mod queue;
mod retention;
mod sessions;
mod settings;
mod templates;
mod triggers;
mod usage;
mod users;
mod variables;
mod waits;
mod workflows;

use super::Backend;
use crate::store::dialect::Dialect;

/// The backend's sqlx database.
type Db = <Backend as Dialect>::DB;
